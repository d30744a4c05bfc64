package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/pipeline"
	"github.com/kafka2pg/kafka2pg/internal/source"
)

// offsetsTimeout bounds one `kafka2pg offsets` invocation.
const offsetsTimeout = 30 * time.Second

// resetOwner is the owner written into the offset table by a reset.
const resetOwner = "kafka2pg offsets reset"

// cmdOffsets is `kafka2pg offsets [flags]` (list) and
// `kafka2pg offsets reset [flags]`.
func cmdOffsets(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "reset" {
		return cmdOffsetsReset(args[1:], stdout, stderr)
	}
	var c commonFlags
	fs := newFlagSet("offsets", stderr, &c)
	cfg, code := loadConfig(fs, &c, args, stderr)
	if cfg == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), offsetsTimeout)
	defer cancel()

	s, err := openOffsetsSession(ctx, cfg)
	if err != nil {
		return s.fail(stderr, "kafka2pg offsets", err)
	}
	defer s.close()
	parts, err := s.partitions(ctx, configTopics(cfg), nil)
	if err != nil {
		return s.fail(stderr, "kafka2pg offsets", err)
	}
	if err := s.load(ctx, parts); err != nil {
		return s.fail(stderr, "kafka2pg offsets", err)
	}

	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tSTORED\tCOMMITTED\tHIGH_WATERMARK\tLAG")
	var total int64
	for _, p := range parts {
		lag := p.lag(cfg.Kafka.Start)
		total += lag
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\n", p.topic, p.partition,
			optOffset(p.stored, p.hasStored), optOffset(p.committed, p.hasCommitted), p.end, lag)
	}
	if err := tw.Flush(); err != nil {
		return s.fail(stderr, "kafka2pg offsets", err)
	}
	fmt.Fprintf(stdout, "total lag: %d\n", total)
	if s.exactlyOnce() && s.tableMissing {
		fmt.Fprintf(stderr, "kafka2pg offsets: offset table %s does not exist yet: no offset is stored in PostgreSQL\n", s.store.Table())
	}
	return exitOK
}

// resetTarget is a parsed --to.
type resetTarget struct {
	kind   string // "earliest", "latest", "offset" or "time"
	offset int64  // kind "offset"
	at     time.Time
}

func parseResetTarget(s string) (resetTarget, error) {
	switch strings.ToLower(s) {
	case "earliest":
		return resetTarget{kind: "earliest"}, nil
	case "latest":
		return resetTarget{kind: "latest"}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return resetTarget{}, fmt.Errorf("--to %s: an offset must not be negative", s)
		}
		return resetTarget{kind: "offset", offset: n}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return resetTarget{kind: "time", at: t}, nil
	}
	return resetTarget{}, fmt.Errorf("--to %q: want earliest, latest, an offset (a non-negative integer) or an RFC 3339 time such as 2024-05-01T12:00:00Z", s)
}

func cmdOffsetsReset(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("offsets reset", stderr, &c)
	to := fs.String("to", "", "new position: earliest, latest, an offset, or an RFC 3339 time (first record at or after it)")
	topic := fs.String("topic", "", "reset only this topic (one of the configuration's topics)")
	partition := fs.Int("partition", -1, "reset only this partition of --topic")
	dryRun := fs.Bool("dry-run", false, "print what would change and change nothing")
	cfg, code := loadConfig(fs, &c, args, stderr)
	if cfg == nil {
		return code
	}
	const name = "kafka2pg offsets reset"
	partitionSet := false
	fs.Visit(func(f *flag.Flag) { partitionSet = partitionSet || f.Name == "partition" })
	if *to == "" {
		fmt.Fprintf(stderr, "%s: --to is required: earliest, latest, an offset or an RFC 3339 time\n", name)
		return exitUsage
	}
	target, err := parseResetTarget(*to)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	topics := configTopics(cfg)
	if *topic != "" {
		if !slices.Contains(topics, *topic) {
			fmt.Fprintf(stderr, "%s: --topic %s is not a topic of the configuration (its topics: %s)\n", name, *topic, strings.Join(topics, ", "))
			return exitUsage
		}
		topics = []string{*topic}
	}
	var only *int32
	if partitionSet {
		if *topic == "" {
			fmt.Fprintf(stderr, "%s: --partition requires --topic\n", name)
			return exitUsage
		}
		if *partition < 0 || *partition > 1<<31-1 {
			fmt.Fprintf(stderr, "%s: --partition %d: must be a non-negative partition number\n", name, *partition)
			return exitUsage
		}
		p := int32(*partition)
		only = &p
	}

	ctx, cancel := context.WithTimeout(context.Background(), offsetsTimeout)
	defer cancel()
	s, err := openOffsetsSession(ctx, cfg)
	if err != nil {
		return s.fail(stderr, name, err)
	}
	defer s.close()
	group := cfg.Kafka.Group

	// Nobody may consume while the offsets move: a running instance would
	// overwrite Kafka's offsets with its own at its next commit.
	members, state, err := s.activeMembers(ctx)
	if err != nil {
		return s.fail(stderr, name, err)
	}
	if members >= 0 {
		msg := fmt.Sprintf("group %s has %d active member(s); stop every kafka2pg instance of this group first", group, members)
		if members == 0 {
			msg += " (group state " + state + ")"
		}
		if !*dryRun {
			fmt.Fprintf(stderr, "%s: %s\n", name, msg)
			return exitRuntime
		}
		fmt.Fprintf(stderr, "%s: warning: %s; a real reset would be refused now\n", name, msg)
	}

	parts, err := s.partitions(ctx, topics, only)
	if err != nil {
		var bad *badPartitionError
		if errors.As(err, &bad) {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitUsage
		}
		return s.fail(stderr, name, err)
	}
	if err := s.load(ctx, parts); err != nil {
		return s.fail(stderr, name, err)
	}
	var byTime kadm.ListedOffsets
	if target.kind == "time" {
		byTime, err = s.adm.ListOffsetsAfterMilli(ctx, target.at.UnixMilli(), topics...)
		if err == nil {
			err = byTime.Error()
		}
		if err != nil {
			return s.fail(stderr, name, fmt.Errorf("listing offsets at %s: %w", target.at.Format(time.RFC3339Nano), err))
		}
	}

	// Resolve and print every partition's new position.
	news := make([]int64, len(parts))
	commits := make(kadm.Offsets)
	for i := range parts {
		p := &parts[i]
		var next int64
		var note string
		switch target.kind {
		case "earliest":
			next = p.start
		case "latest":
			next = p.end
		case "offset":
			next = min(max(target.offset, p.start), p.end)
			switch {
			case target.offset < p.start:
				note = fmt.Sprintf(" (offset %d clamped to the log start offset)", target.offset)
			case target.offset > p.end:
				note = fmt.Sprintf(" (offset %d clamped to the end offset)", target.offset)
			}
		case "time":
			// Kafka answers the end offset when no record is that recent.
			next = p.end
			if lo, ok := byTime.Lookup(p.topic, p.partition); ok && lo.Offset >= 0 {
				next = min(max(lo.Offset, p.start), p.end)
			}
			if next == p.end {
				note = " (no record at or after that time: end offset)"
			}
		}
		news[i] = next
		commits.Add(kadm.Offset{Topic: p.topic, Partition: p.partition, At: next, LeaderEpoch: -1})
		old := "-"
		if pos, ok := p.position(); ok {
			old = strconv.FormatInt(pos, 10)
		}
		fmt.Fprintf(stdout, "topic %s partition %d: %s -> %d%s\n", p.topic, p.partition, old, next, note)
	}
	if *dryRun {
		fmt.Fprintf(stdout, "dry run: would reset %d partition(s) of group %s; nothing changed\n", len(parts), group)
		return exitOK
	}

	// The offset table first, in a transaction left open until Kafka has
	// accepted the commit: a failure on either side then changes nothing in
	// PostgreSQL.
	var tx pgx.Tx
	if s.exactlyOnce() {
		if tx, err = s.conn.Begin(ctx); err != nil {
			return s.fail(stderr, name, err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
		if err := s.store.Ensure(ctx, tx); err != nil {
			return s.fail(stderr, name, err)
		}
		for i, p := range parts {
			if err := s.store.Set(ctx, tx, p.topic, p.partition, news[i], resetOwner); err != nil {
				return s.fail(stderr, name, err)
			}
		}
	}
	resp, err := s.adm.CommitOffsets(ctx, group, commits)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return s.fail(stderr, name, fmt.Errorf("committing offsets of group %s to Kafka: %w (nothing was changed in PostgreSQL)", group, err))
	}
	if tx != nil {
		if err := tx.Commit(ctx); err != nil {
			return s.fail(stderr, name, fmt.Errorf("Kafka's committed offsets were reset, but the offset table %s was not: %w; run the same reset again", s.store.Table(), err))
		}
	}
	fmt.Fprintf(stdout, "reset %d partition(s) of group %s\n", len(parts), group)
	return exitOK
}

// configTopics are the topics the configuration consumes: kafka.topics, or
// with kafka.topic_pattern the routes' topics. No duplicates, config order.
func configTopics(cfg *config.Config) []string {
	var out []string
	add := func(ts ...string) {
		for _, t := range ts {
			if t != "" && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	if cfg.Kafka.TopicPattern != "" {
		for i := range cfg.Routes {
			add(cfg.Routes[i].AllTopics()...)
		}
	} else {
		add(cfg.Kafka.Topics...)
	}
	return out
}

// offsetsSession holds the connections of one `kafka2pg offsets` command.
type offsetsSession struct {
	cfg   *config.Config
	cl    *kgo.Client
	adm   *kadm.Client
	conn  *pgx.Conn            // exactly-once only
	store *pgwrite.OffsetStore // exactly-once only
	// tableMissing is set by load when the offset table does not exist.
	tableMissing bool
}

// openOffsetsSession creates the Kafka admin client (it joins no group) and,
// in exactly-once mode, connects to PostgreSQL. The returned session is never
// nil, so that fail can redact with it.
func openOffsetsSession(ctx context.Context, cfg *config.Config) (*offsetsSession, error) {
	s := &offsetsSession{cfg: cfg}
	kopts, err := source.ClientOpts(cfg.Kafka)
	if err != nil {
		return s, err
	}
	if s.cl, err = kgo.NewClient(kopts...); err != nil {
		return s, fmt.Errorf("kafka client: %w", err)
	}
	s.adm = kadm.NewClient(s.cl)
	if s.exactlyOnce() {
		schema, table := cfg.Postgres.OffsetsTableName()
		s.store = pgwrite.NewOffsetStore(schema, table, cfg.Kafka.Group)
		if s.conn, err = pgx.Connect(ctx, cfg.Postgres.URL); err != nil {
			s.close()
			return s, fmt.Errorf("connecting to PostgreSQL: %w", err)
		}
	}
	return s, nil
}

func (s *offsetsSession) exactlyOnce() bool { return s.cfg.Delivery == config.DeliveryExactlyOnce }

func (s *offsetsSession) close() {
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.conn.Close(ctx)
		cancel()
		s.conn = nil
	}
	if s.cl != nil {
		s.cl.Close()
		s.cl = nil
	}
}

// fail prints err, with the PostgreSQL password redacted, and returns the
// runtime-failure exit code.
func (s *offsetsSession) fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", name, pipeline.RedactPassword(err, s.cfg.Postgres.URL))
	return exitRuntime
}

// activeMembers returns -1 when nobody consumes in the group (state Empty or
// Dead, or no such group), else the number of members and the group state.
func (s *offsetsSession) activeMembers(ctx context.Context) (int, string, error) {
	group := s.cfg.Kafka.Group
	described, err := s.adm.DescribeGroups(ctx, group)
	if err != nil {
		return 0, "", fmt.Errorf("describing group %s: %w", group, err)
	}
	g, ok := described[group]
	if !ok {
		return -1, "", nil
	}
	if g.Err != nil {
		if errors.Is(g.Err, kerr.GroupIDNotFound) {
			return -1, "", nil
		}
		return 0, "", fmt.Errorf("describing group %s: %w", group, g.Err)
	}
	switch g.State {
	case "Empty", "Dead", "":
		if len(g.Members) == 0 {
			return -1, g.State, nil
		}
	}
	return len(g.Members), g.State, nil
}

// partState is one partition's positions.
type partState struct {
	topic        string
	partition    int32
	stored       int64 // offset table's next offset (exactly-once)
	hasStored    bool
	committed    int64 // Kafka's committed offset of the group
	hasCommitted bool
	start, end   int64 // log start offset and high watermark
}

// position is the authoritative next offset: the offset table's in
// exactly-once mode when it has one, else Kafka's committed offset.
func (p *partState) position() (int64, bool) {
	if p.hasStored {
		return p.stored, true
	}
	return p.committed, p.hasCommitted
}

// lag is the high watermark minus the position; without a position, what
// a consumer starting with kafka.start would have to read.
func (p *partState) lag(start string) int64 {
	pos, ok := p.position()
	if !ok {
		pos = p.end
		if start == config.StartEarliest {
			pos = p.start
		}
	}
	return max(p.end-pos, 0)
}

// badPartitionError is a --partition the topic does not have (bad usage).
type badPartitionError struct {
	topic      string
	partition  int32
	partitions int
}

func (e *badPartitionError) Error() string {
	return fmt.Sprintf("--partition %d: topic %s has %d partition(s), 0 to %d", e.partition, e.topic, e.partitions, e.partitions-1)
}

// partitions lists the partitions of topics (only one when only is set),
// sorted by topic and partition. A topic missing from Kafka is an error.
func (s *offsetsSession) partitions(ctx context.Context, topics []string, only *int32) ([]partState, error) {
	details, err := s.adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	var out []partState
	for _, t := range topics {
		d, ok := details[t]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			return nil, fmt.Errorf("topic %s does not exist in Kafka", t)
		case d.Err != nil:
			return nil, fmt.Errorf("topic %s: %w", t, d.Err)
		}
		if only != nil {
			if _, ok := d.Partitions[*only]; !ok {
				return nil, &badPartitionError{topic: t, partition: *only, partitions: len(d.Partitions)}
			}
			out = append(out, partState{topic: t, partition: *only})
			continue
		}
		for p := range d.Partitions {
			out = append(out, partState{topic: t, partition: p})
		}
	}
	slices.SortFunc(out, func(a, b partState) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	return out, nil
}

// load fills in the start and end offsets, the committed offsets and, in
// exactly-once mode, the stored offsets of parts.
func (s *offsetsSession) load(ctx context.Context, parts []partState) error {
	var topics []string
	for _, p := range parts {
		if !slices.Contains(topics, p.topic) {
			topics = append(topics, p.topic)
		}
	}
	starts, err := s.adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("listing log start offsets: %w", err)
	}
	ends, err := s.adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing end offsets: %w", err)
	}
	committed, err := s.adm.FetchOffsets(ctx, s.cfg.Kafka.Group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("fetching the committed offsets of group %s: %w", s.cfg.Kafka.Group, err)
	}
	stored := map[string]map[int32]int64{}
	if s.exactlyOnce() {
		rows, err := s.store.List(ctx, s.conn)
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000"): // undefined table or schema
			s.tableMissing = true
		case err != nil:
			return err
		}
		for _, r := range rows {
			if stored[r.Topic] == nil {
				stored[r.Topic] = map[int32]int64{}
			}
			stored[r.Topic][r.Partition] = r.Next
		}
	}
	for i := range parts {
		p := &parts[i]
		st, ok := starts.Lookup(p.topic, p.partition)
		en, ok2 := ends.Lookup(p.topic, p.partition)
		if !ok || !ok2 {
			return fmt.Errorf("topic %s partition %d: no offsets listed by Kafka", p.topic, p.partition)
		}
		p.start, p.end = st.Offset, en.Offset
		if c, ok := committed.Lookup(p.topic, p.partition); ok {
			if c.Err != nil {
				return fmt.Errorf("committed offset of topic %s partition %d: %w", p.topic, p.partition, c.Err)
			}
			if c.At >= 0 {
				p.committed, p.hasCommitted = c.At, true
			}
		}
		if next, ok := stored[p.topic][p.partition]; ok && next != pgwrite.NoOffset {
			p.stored, p.hasStored = next, true
		}
	}
	return nil
}

// optOffset prints an offset, or "-" when there is none.
func optOffset(off int64, ok bool) string {
	if !ok || off < 0 {
		return "-"
	}
	return strconv.FormatInt(off, 10)
}
