package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/eos"
	"github.com/kafka2pg/kafka2pg/internal/pgdial"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/source"
)

// UsageError is a request that this configuration or these options do not
// allow (bad usage, exit 2 on the command line).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// PartitionOffsets are one partition's positions: Kafka's (start, end,
// the group's committed offset) and, in exactly-once mode, the offset table's.
type PartitionOffsets struct {
	source.Offsets
	Stored    int64
	HasStored bool
}

// Position is the authoritative next offset: the offset table's in
// exactly-once mode when it has one, else Kafka's committed offset.
func (p *PartitionOffsets) Position() (int64, bool) {
	if p.HasStored {
		return p.Stored, true
	}
	return p.Committed, p.HasCommitted
}

// Lag is the end offset minus the position; without a position, what a
// consumer starting with kafka.start would have to read.
func (p *PartitionOffsets) Lag(start string) int64 {
	pos, ok := p.Position()
	if !ok {
		pos = p.End
		if start == config.StartEarliest {
			pos = p.Start
		}
	}
	return max(p.End-pos, 0)
}

// OffsetsReport is what `kafka2pg offsets` shows.
type OffsetsReport struct {
	Partitions []PartitionOffsets
	// OffsetTable is the quoted offset table (exactly-once), and
	// OffsetTableMissing says it does not exist yet.
	OffsetTable        string
	OffsetTableMissing bool
}

// Topics are the topics the configuration consumes: kafka.topics, or with
// kafka.topic_pattern the routes' topics. No duplicates, config order.
func Topics(cfg *config.Config) []string {
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

// offsetsSession holds the connections of one offsets command.
type offsetsSession struct {
	cfg   *config.Config
	cl    *kgo.Client
	adm   *kadm.Client
	conn  *pgx.Conn        // exactly-once only
	store *eos.OffsetStore // exactly-once only
}

const offsetsApp = "kafka2pg offsets"

// openOffsets creates a Kafka admin client (it joins no group) and, in
// exactly-once mode, connects to PostgreSQL.
func openOffsets(ctx context.Context, cfg *config.Config) (*offsetsSession, error) {
	s := &offsetsSession{cfg: cfg}
	kopts, err := source.ClientOpts(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	if s.cl, err = kgo.NewClient(kopts...); err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	s.adm = kadm.NewClient(s.cl)
	if cfg.Delivery == config.DeliveryExactlyOnce {
		schema, table := cfg.Postgres.OffsetsTableName()
		s.store = eos.NewOffsetStore(schema, table, cfg.Kafka.Group)
		if s.conn, err = pgdial.Connect(ctx, cfg.Postgres, offsetsApp); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *offsetsSession) close() {
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.conn.Close(ctx)
		cancel()
	}
	s.cl.Close()
}

// load lists the partitions of topics (only one when only is set) with
// their Kafka offsets and stored offsets.
func (s *offsetsSession) load(ctx context.Context, topics []string, only *int32) (*OffsetsReport, error) {
	offs, err := source.ListOffsets(ctx, s.adm, s.cfg.Kafka.Group, topics...)
	if err != nil {
		return nil, err
	}
	rep := &OffsetsReport{}
	stored := map[source.TP]int64{}
	if s.store != nil {
		rep.OffsetTable = s.store.Table()
		rows, err := s.store.List(ctx, s.conn)
		switch {
		case pgwrite.IsUndefinedTable(err):
			rep.OffsetTableMissing = true
		case err != nil:
			return nil, err
		}
		for _, r := range rows {
			stored[source.TP{Topic: r.Topic, Partition: r.Partition}] = r.Next
		}
	}
	if only != nil {
		n := len(offs)
		offs = slices.DeleteFunc(offs, func(o source.Offsets) bool { return o.Partition != *only })
		if len(offs) == 0 {
			return nil, &UsageError{Msg: fmt.Sprintf("--partition %d: topic %s has %d partition(s), 0 to %d", *only, topics[0], n, n-1)}
		}
	}
	for _, o := range offs {
		p := PartitionOffsets{Offsets: o}
		if next, ok := stored[source.TP{Topic: o.Topic, Partition: o.Partition}]; ok && next != eos.NoOffset {
			p.Stored, p.HasStored = next, true
		}
		rep.Partitions = append(rep.Partitions, p)
	}
	return rep, nil
}

// ListOffsets reports every partition of the configuration's topics.
func ListOffsets(ctx context.Context, cfg *config.Config) (*OffsetsReport, error) {
	s, err := openOffsets(ctx, cfg)
	if err != nil {
		return nil, cfg.RedactError(err)
	}
	defer s.close()
	rep, err := s.load(ctx, Topics(cfg), nil)
	return rep, cfg.RedactError(err)
}

// ResetTarget is where offsets reset moves partitions.
type ResetTarget struct {
	Kind   string // "earliest", "latest", "offset" or "time"
	Offset int64  // Kind "offset"
	At     time.Time
}

// ParseResetTarget parses the value of --to.
func ParseResetTarget(s string) (ResetTarget, error) {
	switch strings.ToLower(s) {
	case "earliest":
		return ResetTarget{Kind: "earliest"}, nil
	case "latest":
		return ResetTarget{Kind: "latest"}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return ResetTarget{}, fmt.Errorf("--to %s: an offset must not be negative", s)
		}
		return ResetTarget{Kind: "offset", Offset: n}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return ResetTarget{Kind: "time", At: t}, nil
	}
	return ResetTarget{}, fmt.Errorf("--to %q: want earliest, latest, an offset (a non-negative integer) or an RFC 3339 time such as 2024-05-01T12:00:00Z", s)
}

// ResetOptions select what offsets reset moves.
type ResetOptions struct {
	To ResetTarget
	// Topic limits the reset to one of the configuration's topics, and
	// Partition (with Topic) to one partition of it.
	Topic     string
	Partition *int32
	// DryRun resolves and reports every move and changes nothing; a group
	// with active members is then a warning instead of a refusal.
	DryRun bool

	// afterKafka, in tests, runs between the Kafka half and the PostgreSQL
	// half of the reset; an error stands for a crash there.
	afterKafka func() error
}

// ResetMove is one partition's move.
type ResetMove struct {
	Topic     string
	Partition int32
	Old       int64 // the position before; HasOld false when there was none
	HasOld    bool
	New       int64
	Note      string // why New differs from what was asked (clamped, no record that recent)
}

// ResetResult is what a reset did, or in a dry run would do.
type ResetResult struct {
	Group string
	Moves []ResetMove
	// Warning is set in a dry run when a real reset would be refused.
	Warning string
}

// errMembers: the group has active members.
var errMembers = errors.New("active members")

// ResetOffsets moves the group's positions. Nobody may consume meanwhile: a
// running instance would overwrite Kafka's offsets with its own at its next
// commit, so a group with active members is refused.
//
// In exactly-once mode the offset table is written first, in a transaction
// left open until Kafka has accepted the commit, then committed: a failure
// before that changes nothing in PostgreSQL, and a crash between the two
// leaves the offset table — the authoritative position — as it was (the
// next run starts there, and Kafka's committed offsets, which are only for
// monitoring, follow it again). Setting a stored offset bumps the
// partition's owner epoch, so an instance that joined meanwhile is fenced.
func ResetOffsets(ctx context.Context, cfg *config.Config, opts ResetOptions) (ResetResult, error) {
	res, err := resetOffsets(ctx, cfg, opts)
	return res, cfg.RedactError(err)
}

func resetOffsets(ctx context.Context, cfg *config.Config, opts ResetOptions) (ResetResult, error) {
	res := ResetResult{Group: cfg.Kafka.Group}
	topics := Topics(cfg)
	if opts.Topic != "" {
		if !slices.Contains(topics, opts.Topic) {
			return res, &UsageError{Msg: fmt.Sprintf("--topic %s is not a topic of the configuration (its topics: %s)", opts.Topic, strings.Join(topics, ", "))}
		}
		topics = []string{opts.Topic}
	}
	if opts.Partition != nil && opts.Topic == "" {
		return res, &UsageError{Msg: "--partition requires --topic"}
	}
	s, err := openOffsets(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer s.close()

	members, state, err := s.activeMembers(ctx)
	if err != nil {
		return res, err
	}
	if members >= 0 {
		msg := fmt.Sprintf("group %s has %d active member(s); stop every kafka2pg instance of this group first", cfg.Kafka.Group, members)
		if members == 0 {
			msg += " (group state " + state + ")"
		}
		if !opts.DryRun {
			return res, fmt.Errorf("%s: %w", msg, errMembers)
		}
		res.Warning = msg + "; a real reset would be refused now"
	}
	rep, err := s.load(ctx, topics, opts.Partition)
	if err != nil {
		return res, err
	}
	var byTime kadm.ListedOffsets
	if opts.To.Kind == "time" {
		byTime, err = s.adm.ListOffsetsAfterMilli(ctx, opts.To.At.UnixMilli(), topics...)
		if err == nil {
			err = byTime.Error()
		}
		if err != nil {
			return res, fmt.Errorf("listing offsets at %s: %w", opts.To.At.Format(time.RFC3339Nano), err)
		}
	}
	commits := make(kadm.Offsets)
	for _, p := range rep.Partitions {
		mv := ResetMove{Topic: p.Topic, Partition: p.Partition}
		mv.Old, mv.HasOld = p.Position()
		switch opts.To.Kind {
		case "earliest":
			mv.New = p.Start
		case "latest":
			mv.New = p.End
		case "offset":
			mv.New = min(max(opts.To.Offset, p.Start), p.End)
			switch {
			case opts.To.Offset < p.Start:
				mv.Note = fmt.Sprintf("offset %d clamped to the log start offset", opts.To.Offset)
			case opts.To.Offset > p.End:
				mv.Note = fmt.Sprintf("offset %d clamped to the end offset", opts.To.Offset)
			}
		case "time":
			// Kafka answers the end offset when no record is that recent.
			mv.New = p.End
			if lo, ok := byTime.Lookup(p.Topic, p.Partition); ok && lo.Offset >= 0 {
				mv.New = min(max(lo.Offset, p.Start), p.End)
			}
			if mv.New == p.End {
				mv.Note = "no record at or after that time: end offset"
			}
		}
		res.Moves = append(res.Moves, mv)
		commits.Add(kadm.Offset{Topic: p.Topic, Partition: p.Partition, At: mv.New, LeaderEpoch: -1})
	}
	if opts.DryRun {
		return res, nil
	}

	// The offset table first, in a transaction left open until Kafka has
	// accepted the commit.
	var tx pgx.Tx
	if s.store != nil {
		if tx, err = s.conn.Begin(ctx); err != nil {
			return res, err
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
		if err := s.store.Ensure(ctx, tx); err != nil {
			return res, err
		}
		for _, mv := range res.Moves {
			if err := s.store.Set(ctx, tx, mv.Topic, mv.Partition, mv.New, resetOwner); err != nil {
				return res, err
			}
		}
	}
	resp, err := s.adm.CommitOffsets(ctx, cfg.Kafka.Group, commits)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return res, fmt.Errorf("committing offsets of group %s to Kafka: %w (nothing was changed in PostgreSQL)", cfg.Kafka.Group, err)
	}
	if opts.afterKafka != nil {
		if err := opts.afterKafka(); err != nil {
			return res, err
		}
	}
	if tx != nil {
		if err := tx.Commit(ctx); err != nil {
			return res, fmt.Errorf("the offset table %s was not reset, although Kafka's committed offsets were: %w; run the same reset again", s.store.Table(), err)
		}
	}
	return res, nil
}

// resetOwner is the owner written into the offset table by a reset.
const resetOwner = "kafka2pg offsets reset"

// IsActiveMembers reports a reset refused because the group has members.
func IsActiveMembers(err error) bool { return errors.Is(err, errMembers) }

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
