package pipeline

// Replaying the dead-letter queue (`kafka2pg dlq replay`): once the cause of
// the dead letters is fixed (a column widened, a constraint relaxed), their
// records go through the same route mapping and writer as in `run`, straight
// into the tables. They are not produced to the source topic again, which
// would put them behind newer events.
//
// Dead-letter table: each batch is one transaction that writes the rows and
// deletes the replayed dead letters by id; the dead letters that fail again
// are updated with the new reason instead. The replay is exactly-once with
// respect to the table: killed at any moment, no row is written twice and no
// dead letter is lost.
//
// Dead-letter topic: the topic is read with a direct consumer; the replay
// position is committed to the consumer group <kafka.group>.dlq-replay after
// each batch's rows have committed and the dead letters that failed again
// have been produced to the topic again and acknowledged. A replay killed
// between the two writes its last batch again next time (at-least-once).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/source"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// ReplayBatchRows is the most dead letters a replay batch holds (fewer when
// batch.max_rows is smaller).
const ReplayBatchRows = 1000

// ReplayGroupSuffix names the consumer group that keeps the replay position
// of a dead-letter topic: <kafka.group> + ReplayGroupSuffix.
const ReplayGroupSuffix = ".dlq-replay"

// ReplayBound is one end of a replay range: an integer (a dead-letter table
// id, or an offset in each partition of the dead-letter topic) or a time
// (the dead letter's dead_at in a table, its Kafka timestamp in a topic).
// Both ends are inclusive. The zero value is unbounded.
type ReplayBound struct {
	Set    bool
	IsTime bool
	N      int64     // when !IsTime
	Time   time.Time // when IsTime
}

// ParseReplayBound parses the value of --from or --to (flag names it in the
// error). An empty value is unbounded.
func ParseReplayBound(flag, s string) (ReplayBound, error) {
	if s == "" {
		return ReplayBound{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return ReplayBound{}, fmt.Errorf("%s %s: must not be negative", flag, s)
		}
		return ReplayBound{Set: true, N: n}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return ReplayBound{Set: true, IsTime: true, Time: t}, nil
	}
	return ReplayBound{}, fmt.Errorf("%s %q: want an integer (a dead-letter table id, or an offset of the dead-letter topic's partitions) or an RFC 3339 time such as 2024-05-01T12:00:00Z", flag, s)
}

func (b ReplayBound) String() string {
	switch {
	case !b.Set:
		return "unbounded"
	case b.IsTime:
		return b.Time.Format(time.RFC3339Nano)
	}
	return strconv.FormatInt(b.N, 10)
}

// ReplayOptions are the parts of a replay that do not come from the config.
type ReplayOptions struct {
	From, To ReplayBound
	// DryRun maps the dead letters and reports what would happen; nothing
	// is written, deleted, produced or committed.
	DryRun bool
	// Out receives one line per batch (and a line per topic without a
	// route); nil discards them.
	Out    io.Writer
	Logger *slog.Logger
}

// ReplayResult counts what a replay did (or, in a dry run, would do).
type ReplayResult struct {
	DLQ    string // "dead-letter table x" or "dead-letter topic y"
	DryRun bool
	// Replayed dead letters are written (or, for tombstones the route now
	// skips, accounted for) and gone from the dead-letter queue.
	Replayed int64
	// FailedAgain dead letters are back in the dead-letter queue with the
	// new reason.
	FailedAgain int64
	// NoRoute dead letters name a topic no route of the configuration has;
	// they are left where they are.
	NoRoute int64
}

// Summary is the final line of `kafka2pg dlq replay`.
func (r ReplayResult) Summary() string {
	if r.DryRun {
		return fmt.Sprintf("dry run: would replay %d record(s) from %s; %d would fail again (decode or map; rows the database would reject are only found by a real replay); %d have no route; nothing was written",
			r.Replayed, r.DLQ, r.FailedAgain, r.NoRoute)
	}
	return fmt.Sprintf("replayed %d record(s) from %s; %d failed again and are back in the dead-letter queue; %d had no route",
		r.Replayed, r.DLQ, r.FailedAgain, r.NoRoute)
}

// ReplayUsageError is a replay that this configuration or these options do
// not allow (bad usage, exit 2 on the command line).
type ReplayUsageError struct{ Msg string }

func (e *ReplayUsageError) Error() string { return e.Msg }

// errDLQChanged: the dead letters of a batch were deleted or changed by
// someone else between reading and replaying them.
var errDLQChanged = errors.New("the dead letters of this batch were changed or deleted by someone else while replaying (is another replay or a manual cleanup running?); nothing of this batch was written")

// Replay re-reads the dead-letter queue of cfg (errors.dlq.table or
// errors.dlq.topic) and writes its records through their routes. The result
// counts what was done, also when an error stopped the replay part-way.
func Replay(ctx context.Context, cfg *config.Config, opts ReplayOptions) (ReplayResult, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	res := ReplayResult{DryRun: opts.DryRun}
	if cfg.Errors.Tolerance != config.ToleranceAll || (cfg.Errors.DLQ.Table == "" && cfg.Errors.DLQ.Topic == "") {
		return res, &ReplayUsageError{Msg: fmt.Sprintf("errors.tolerance is %s: this configuration has no dead-letter queue to replay (replay reads the queue of errors.tolerance: all, errors.dlq.table or errors.dlq.topic)", cfg.Errors.Tolerance)}
	}
	if f, t := opts.From, opts.To; f.Set && t.Set && f.IsTime == t.IsTime &&
		((f.IsTime && f.Time.After(t.Time)) || (!f.IsTime && f.N > t.N)) {
		return res, &ReplayUsageError{Msg: fmt.Sprintf("--from %s is after --to %s", f, t)}
	}
	if cfg.Errors.DLQ.Table != "" {
		res.DLQ = "dead-letter table " + cfg.Errors.DLQ.Table
	} else {
		res.DLQ = "dead-letter topic " + cfg.Errors.DLQ.Topic
	}
	rp := &replayer{cfg: cfg, opts: opts, log: opts.Logger, res: &res, routes: map[string]*replayRoute{},
		batch: min(ReplayBatchRows, max(cfg.Batch.MaxRows, 1))}
	defer rp.close()
	if err := rp.open(ctx); err != nil {
		return res, RedactPassword(err, cfg.Postgres.URL)
	}
	var err error
	if cfg.Errors.DLQ.Table != "" {
		err = rp.replayTable(ctx)
	} else {
		err = rp.replayTopic(ctx)
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("interrupted; the batches finished before stay replayed: %w", err)
	}
	return res, RedactPassword(err, cfg.Postgres.URL)
}

// replayer is one replay's state. It is used by one goroutine.
type replayer struct {
	cfg    *config.Config
	opts   ReplayOptions
	log    *slog.Logger
	res    *ReplayResult
	batch  int
	conn   *pgx.Conn     // holds the replay lock; reads in a dry run
	pool   *pgxpool.Pool // writes and reads (nil in a dry run)
	routes map[string]*replayRoute
	dlq    *dlqTable // table mode
}

type replayRoute struct {
	r      *route
	mapper *transform.Mapper
}

// replayItem is one dead letter rebuilt as the record it was.
type replayItem struct {
	id  int64 // dead-letter table id (table mode)
	rec *kgo.Record
}

// replayFailure is a dead letter that failed again, with the new reason.
type replayFailure struct {
	id int64 // dead-letter table id (table mode)
	dl deadLetter
}

// tally counts one batch.
type tally struct{ replayed, failed int64 }

// replayAppName is the application_name of the replay's connections.
const replayAppName = "kafka2pg dlq replay"

// open connects to PostgreSQL, checks the dead-letter table, takes the
// replay lock and prepares every route, as run does.
func (rp *replayer) open(ctx context.Context) error {
	url := rp.cfg.Postgres.URL
	ccfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("postgres.url: %w", err)
	}
	if _, ok := ccfg.RuntimeParams["application_name"]; !ok {
		ccfg.RuntimeParams["application_name"] = replayAppName
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if rp.conn, err = pgx.ConnectConfig(startCtx, ccfg); err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if err := rp.prepare(startCtx); err != nil {
		return err
	}
	if rp.opts.DryRun {
		return nil
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("postgres.url: %w", err)
	}
	pcfg.MaxConns = 2
	if _, ok := pcfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		pcfg.ConnConfig.RuntimeParams["application_name"] = replayAppName
	}
	tables := rp.tables()
	pcfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		table.RegisterTypes(c.TypeMap(), tables)
		return nil
	}
	if rp.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	return nil
}

// replayQuerier is what reading dead letters needs: a pool or a connection.
type replayQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// db is where dead letters are read: the pool (it reconnects after a lost
// connection), or in a dry run the one connection.
func (rp *replayer) db() replayQuerier {
	if rp.pool != nil {
		return rp.pool
	}
	return rp.conn
}

// tables are the routes' tables.
func (rp *replayer) tables() []*table.Table {
	var out []*table.Table
	for _, rr := range rp.routes {
		if t := rr.r.bound().table; !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (rp *replayer) prepare(ctx context.Context) error {
	if t := rp.cfg.Errors.DLQ.Table; t != "" {
		rp.dlq = newDLQTable(t, rp.cfg.Kafka.Group)
		var exists bool
		if err := rp.conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, rp.dlq.ident.Sanitize()).Scan(&exists); err != nil {
			return fmt.Errorf("looking up the dead-letter table: %w", err)
		}
		if !exists {
			return fmt.Errorf("dead-letter table %s does not exist (kafka2pg run creates it with errors.tolerance: all)", rp.dlq.ident.Sanitize())
		}
	}
	if !rp.opts.DryRun {
		// One replay of a queue at a time: two would replay the same dead
		// letters. The lock is the session's, released when conn closes.
		var got bool
		key := "kafka2pg dlq replay|" + rp.res.DLQ + "|" + rp.cfg.Kafka.Group
		if err := rp.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&got); err != nil {
			return fmt.Errorf("taking the replay lock: %w", err)
		}
		if !got {
			return fmt.Errorf("another kafka2pg dlq replay of the %s for group %s is running", rp.res.DLQ, rp.cfg.Kafka.Group)
		}
	}
	formats := format.NewSet(rp.cfg.SchemaRegistry)
	for i := range rp.cfg.Routes {
		rc := &rp.cfg.Routes[i]
		r, err := PrepareRoute(ctx, rp.conn, rc, !rp.opts.DryRun, formats)
		if err == nil && r.bound() == nil {
			err = errors.New("the table does not exist yet (kafka2pg run creates it with auto_create)")
		}
		if err != nil {
			return fmt.Errorf("routes[%d] (table %s): %w", i, r.tableName, err)
		}
		spec := r.bound().spec
		spec.Evolve = false // replay writes into the table as it is
		m, err := transform.NewMapper(spec)
		if err != nil {
			return fmt.Errorf("routes[%d] (table %s): %w", i, r.tableName, err)
		}
		rr := &replayRoute{r: r, mapper: m}
		for _, t := range rc.AllTopics() {
			rp.routes[t] = rr
		}
	}
	return nil
}

func (rp *replayer) close() {
	if rp.pool != nil {
		rp.pool.Close()
	}
	if rp.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = rp.conn.Close(ctx)
		cancel()
	}
}

// route returns the route of a source topic, nil when none names it.
func (rp *replayer) route(topic string) *replayRoute {
	if rp.cfg.RouteFor(topic) == nil {
		return nil
	}
	return rp.routes[topic]
}

// mapItems maps one route's dead letters, as the worker does: rows for the
// ones that map, "gone" for tombstones the route skips (they have no effect
// to write), failures for the ones that do not decode or map.
func (rp *replayer) mapItems(ctx context.Context, rr *replayRoute, items []replayItem) (rows []table.Row, mapped, gone []replayItem, failed []replayFailure, err error) {
	for _, it := range items {
		if rr.mapper.Skip(it.rec) {
			gone = append(gone, it)
			continue
		}
		var row table.Row
		if err := rr.mapper.Map(ctx, it.rec, &row); errors.Is(err, transform.ErrSkip) {
			gone = append(gone, it)
			continue
		} else if err != nil {
			if !isRecordError(err) {
				return nil, nil, nil, nil, err // the registry is unreachable, ...: stop, replay later
			}
			failed = append(failed, replayFailure{id: it.id, dl: deadFromError(it.rec, err)})
			continue
		}
		rows = append(rows, row)
		mapped = append(mapped, it)
	}
	return rows, mapped, gone, failed, nil
}

// replayItems writes one route's share of a batch. In a dry run it only
// counts. Otherwise the rows are written; when the database rejects them
// (SQLSTATE class 22 or 23) the batch is split until the rows at fault are
// isolated, as the worker does, and those fail again with stage write.
// Failures go to sink (topic mode), or are updated in the dead-letter table
// in the transaction that writes the rows (table mode).
func (rp *replayer) replayItems(ctx context.Context, rr *replayRoute, items []replayItem, t *tally, sink *[]replayFailure) error {
	rows, mapped, gone, failed, err := rp.mapItems(ctx, rr, items)
	if err != nil {
		return err
	}
	if rp.opts.DryRun {
		t.replayed += int64(len(mapped) + len(gone))
		t.failed += int64(len(failed))
		return nil
	}
	return rp.part(ctx, rr, rows, mapped, gone, failed, t, sink)
}

func (rp *replayer) part(ctx context.Context, rr *replayRoute, rows []table.Row, items, gone []replayItem, failed []replayFailure, t *tally, sink *[]replayFailure) error {
	err := rp.commitPart(ctx, rr, rows, items, gone, failed)
	if err == nil {
		t.replayed += int64(len(items) + len(gone))
		t.failed += int64(len(failed))
		if rp.dlq != nil {
			// Table mode: durable now.
			rp.res.Replayed += int64(len(items) + len(gone))
			rp.res.FailedAgain += int64(len(failed))
		} else {
			*sink = append(*sink, failed...)
		}
		return nil
	}
	var de *replayDataError
	if !errors.As(err, &de) || len(rows) == 0 {
		return err
	}
	if len(rows) == 1 {
		f := replayFailure{id: items[0].id, dl: deadLetter{rec: items[0].rec, stage: transform.StageWrite, class: "data", reason: de.reason}}
		return rp.part(ctx, rr, nil, nil, gone, slices.Concat(failed, []replayFailure{f}), t, sink)
	}
	mid := len(rows) / 2
	// The first half carries the dead letters that need no row.
	if err := rp.part(ctx, rr, rows[:mid], items[:mid], gone, failed, t, sink); err != nil {
		return err
	}
	return rp.part(ctx, rr, rows[mid:], items[mid:], nil, nil, t, sink)
}

// replayDataError is a write the database rejected for its data.
type replayDataError struct {
	reason string
	err    error
}

func (e *replayDataError) Error() string { return e.err.Error() }
func (e *replayDataError) Unwrap() error { return e.err }

// commitPart writes rows in one transaction. In table mode the same
// transaction deletes the dead letters of items and gone and updates those
// of failed with their new reason.
func (rp *replayer) commitPart(ctx context.Context, rr *replayRoute, rows []table.Row, items, gone []replayItem, failed []replayFailure) error {
	if rp.dlq == nil {
		if len(rows) == 0 {
			return nil
		}
		return rp.writeTx(ctx, rr, rows, nil, nil)
	}
	var del []int64
	for _, it := range slices.Concat(items, gone) {
		del = append(del, it.id)
	}
	if len(rows) == 0 && len(del) == 0 && len(failed) == 0 {
		return nil
	}
	tbl := rp.dlq.ident.Sanitize()
	group := rp.dlq.group
	hook := func(ctx context.Context, tx pgx.Tx) error {
		if len(del) > 0 {
			tag, err := tx.Exec(ctx, `DELETE FROM `+tbl+` WHERE "group" = $1 AND "id" = ANY($2)`, group, del)
			if err != nil {
				return fmt.Errorf("deleting replayed dead letters: %w", err)
			}
			if tag.RowsAffected() != int64(len(del)) {
				return errDLQChanged
			}
		}
		if len(failed) > 0 {
			ids := make([]int64, len(failed))
			stages, classes, reasons := make([]string, len(failed)), make([]string, len(failed)), make([]string, len(failed))
			for i, f := range failed {
				ids[i], stages[i], classes[i], reasons[i] = f.id, string(f.dl.stage), f.dl.class, f.dl.reason
			}
			tag, err := tx.Exec(ctx, `UPDATE `+tbl+` AS d SET "stage" = u.stage, "error_class" = u.class, "error" = u.reason, "dead_at" = now()
FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS u(id, stage, class, reason)
WHERE d."group" = $1 AND d."id" = u.id`, group, ids, stages, classes, reasons)
			if err != nil {
				return fmt.Errorf("updating dead letters that failed again: %w", err)
			}
			if tag.RowsAffected() != int64(len(failed)) {
				return errDLQChanged
			}
		}
		return nil
	}
	// After a failure that may hide a committed transaction (the connection
	// dropped during COMMIT), the dead letters say whether it committed:
	// gone, it did.
	var done func(context.Context) (bool, error)
	if len(del) > 0 {
		done = func(ctx context.Context) (bool, error) {
			var n int64
			err := rp.db().QueryRow(ctx, `SELECT count(*) FROM `+tbl+` WHERE "group" = $1 AND "id" = ANY($2)`, group, del).Scan(&n)
			return err == nil && n == 0, err
		}
	}
	return rp.writeTx(ctx, rr, rows, hook, done)
}

// writeTx writes one transaction with the route's writer, retrying
// transient failures with backoff (errors.retry). A data error is returned
// as a *replayDataError; anything else ends the replay.
func (rp *replayer) writeTx(ctx context.Context, rr *replayRoute, rows []table.Row, hook func(context.Context, pgx.Tx) error, done func(context.Context) (bool, error)) error {
	bo := newBackoff(rp.cfg.Errors.Retry)
	for attempt := 1; ; attempt++ {
		if attempt > 1 && done != nil {
			if ok, err := done(ctx); err == nil && ok {
				rp.log.Info("an unacknowledged commit had succeeded", "table", rr.r.tableName)
				return nil
			}
		}
		err := rr.r.bound().writer.Write(ctx, rp.pool, rows, hook)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errDLQChanged) {
			return err
		}
		class := pgwrite.Classify(err)
		switch class {
		case pgwrite.Data:
			return &replayDataError{reason: (&pgwrite.WriteError{Err: err}).Reason(), err: err}
		case pgwrite.Transient:
		default:
			return fmt.Errorf("writing %s: %s error replaying dead letters: %w", rr.r.tableName, class, err)
		}
		if bo.exhausted() {
			return fmt.Errorf("writing %s: gave up after %d attempts over %s (errors.retry.max_elapsed): %w",
				rr.r.tableName, attempt, bo.elapsed(), err)
		}
		wait := bo.next()
		rp.log.Warn("write failed, retrying", "table", rr.r.tableName, "attempt", attempt,
			"backoff", wait.Round(time.Millisecond), "err", RedactPassword(err, rp.cfg.Postgres.URL).Error())
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// printBatch prints the line of one batch.
func (rp *replayer) printBatch(t tally, where string) {
	if rp.opts.DryRun {
		fmt.Fprintf(rp.opts.Out, "would replay %d, would fail again %d (%s)\n", t.replayed, t.failed, where)
		return
	}
	fmt.Fprintf(rp.opts.Out, "replayed %d, failed again %d (%s)\n", t.replayed, t.failed, where)
}

// --- dead-letter table ---

// replayTable replays the group's dead letters of the table, topic by topic
// (a batch writes one route's table), in (partition, offset) order. Only
// the dead letters present at start are read: by default every id up to the
// largest one of the group at start.
func (rp *replayer) replayTable(ctx context.Context) error {
	tbl := rp.dlq.ident.Sanitize()
	group := rp.dlq.group
	var maxID int64
	if err := rp.db().QueryRow(ctx, `SELECT coalesce(max("id"), 0) FROM `+tbl+` WHERE "group" = $1`, group).Scan(&maxID); err != nil {
		return fmt.Errorf("reading the dead-letter table: %w", err)
	}
	lo, hi := int64(math.MinInt64), maxID
	var fromT, toT *time.Time
	if f := rp.opts.From; f.Set {
		if f.IsTime {
			fromT = &f.Time
		} else {
			lo = f.N
		}
	}
	if t := rp.opts.To; t.Set {
		if t.IsTime {
			toT = &t.Time
		} else {
			hi = min(hi, t.N)
		}
	}
	const filter = `"group" = $1 AND "id" >= $2 AND "id" <= $3 AND ($4::timestamptz IS NULL OR "dead_at" >= $4) AND ($5::timestamptz IS NULL OR "dead_at" <= $5)`
	args := []any{group, lo, hi, fromT, toT}

	type topicCount struct {
		topic string
		n     int64
	}
	var topics []topicCount
	rows, err := rp.db().Query(ctx, `SELECT "topic", count(*) FROM `+tbl+` WHERE `+filter+` GROUP BY "topic" ORDER BY "topic"`, args...)
	if err != nil {
		return fmt.Errorf("reading the dead-letter table: %w", err)
	}
	for rows.Next() {
		var tc topicCount
		if err := rows.Scan(&tc.topic, &tc.n); err != nil {
			rows.Close()
			return fmt.Errorf("reading the dead-letter table: %w", err)
		}
		topics = append(topics, tc)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the dead-letter table: %w", err)
	}

	for _, tc := range topics {
		rr := rp.route(tc.topic)
		if rr == nil {
			rp.res.NoRoute += tc.n
			fmt.Fprintf(rp.opts.Out, "topic %s: %d dead letter(s) with no route in this configuration; left in place\n", tc.topic, tc.n)
			continue
		}
		lastPart, lastOff := int32(math.MinInt32), int64(math.MinInt64)
		for {
			items, err := rp.readTable(ctx, filter, args, tc.topic, lastPart, lastOff)
			if err != nil {
				return err
			}
			if len(items) == 0 {
				break
			}
			last := items[len(items)-1].rec
			lastPart, lastOff = last.Partition, last.Offset
			var t tally
			if err := rp.replayItems(ctx, rr, items, &t, nil); err != nil {
				return err
			}
			if rp.opts.DryRun {
				rp.res.Replayed += t.replayed
				rp.res.FailedAgain += t.failed
			}
			first := items[0].rec
			rp.printBatch(t, fmt.Sprintf("topic %s partition %d offset %d to partition %d offset %d → %s",
				tc.topic, first.Partition, first.Offset, last.Partition, last.Offset, rr.r.tableName))
			if len(items) < rp.batch {
				break
			}
		}
	}
	return nil
}

// readTable reads the next batch of a topic's dead letters after (part, off).
func (rp *replayer) readTable(ctx context.Context, filter string, args []any, topic string, part int32, off int64) ([]replayItem, error) {
	q := `SELECT "id", "partition", "offset", "key", "value", "headers", "timestamp" FROM ` + rp.dlq.ident.Sanitize() +
		` WHERE ` + filter + ` AND "topic" = $6 AND ("partition", "offset") > ($7, $8) ORDER BY "partition", "offset" LIMIT $9`
	rows, err := rp.db().Query(ctx, q, append(slices.Clone(args), topic, part, off, rp.batch)...)
	if err != nil {
		return nil, fmt.Errorf("reading the dead-letter table: %w", err)
	}
	defer rows.Close()
	var items []replayItem
	for rows.Next() {
		r := &kgo.Record{Topic: topic}
		var id int64
		var headers []byte
		if err := rows.Scan(&id, &r.Partition, &r.Offset, &r.Key, &r.Value, &headers, &r.Timestamp); err != nil {
			return nil, fmt.Errorf("reading the dead-letter table: %w", err)
		}
		if r.Headers, err = headersFromJSON(headers); err != nil {
			return nil, fmt.Errorf("dead letter id %d: headers: %w", id, err)
		}
		items = append(items, replayItem{id: id, rec: r})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the dead-letter table: %w", err)
	}
	return items, nil
}

// headersFromJSON reverses transform.HeadersJSON, leaving out kafka2pg's
// own headers.
func headersFromJSON(b []byte) ([]kgo.RecordHeader, error) {
	var hs []struct {
		Key    string  `json:"key"`
		Value  *string `json:"value"`
		Base64 *string `json:"value_base64"`
	}
	if err := json.Unmarshal(b, &hs); err != nil {
		return nil, err
	}
	var out []kgo.RecordHeader
	for _, h := range hs {
		if isOwnHeader(h.Key) {
			continue
		}
		rh := kgo.RecordHeader{Key: h.Key}
		switch {
		case h.Base64 != nil:
			v, err := base64.StdEncoding.DecodeString(*h.Base64)
			if err != nil {
				return nil, fmt.Errorf("header %q: %w", h.Key, err)
			}
			rh.Value = v
		case h.Value != nil:
			rh.Value = []byte(*h.Value)
		}
		out = append(out, rh)
	}
	return out, nil
}

func isOwnHeader(key string) bool { return strings.HasPrefix(key, "kafka2pg.") }

// --- dead-letter topic ---

// replayPart is one partition of the dead-letter topic being replayed.
type replayPart struct {
	next, stop int64 // next offset to replay; the end (exclusive)
	done       bool
}

// replayTopic replays the dead-letter topic from the replay group's position
// (or --from) to the end offsets seen at start (or --to).
func (rp *replayer) replayTopic(ctx context.Context) error {
	dlq := rp.cfg.Errors.DLQ.Topic
	group := rp.cfg.Kafka.Group + ReplayGroupSuffix
	kopts, err := source.ClientOpts(rp.cfg.Kafka)
	if err != nil {
		return err
	}
	admCl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	parts, err := rp.topicRange(ctx, adm, dlq, group)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return nil
	}
	offsets := map[int32]kgo.Offset{}
	pending := 0
	for p, st := range parts {
		if !st.done {
			offsets[p] = kgo.NewOffset().At(st.next)
			pending++
		}
	}
	if pending == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(kopts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{dlq: offsets}),
		kgo.FetchMaxBytes(int32(rp.cfg.Kafka.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(min(int64(rp.cfg.Kafka.FetchMaxBytes), 8<<20))),
	)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	// The pipeline's dead-letter producer, on this client.
	producer := &Pipeline{cfg: rp.cfg, log: rp.log, client: cl, dlqTopic: &dlqTopic{topic: dlq}, m: telemetry.NewMetrics()}

	for pending > 0 {
		fetches := cl.PollRecords(ctx, rp.batch)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			rp.log.Warn("fetch error; the client retries", "topic", topic, "partition", partition, "err", err)
		})
		var recs []*kgo.Record
		moved := map[int32]bool{}
		fetches.EachRecord(func(r *kgo.Record) {
			st, ok := parts[r.Partition]
			if r.Topic != dlq || !ok || st.done || r.Offset < st.next || r.Offset >= st.stop {
				return
			}
			recs = append(recs, r)
			st.next = r.Offset + 1
			moved[r.Partition] = true
			if st.next >= st.stop {
				st.done = true
				pending--
				cl.PauseFetchPartitions(map[string][]int32{dlq: {r.Partition}})
			}
		})
		if len(recs) == 0 {
			continue
		}
		if err := rp.topicBatch(ctx, recs, producer); err != nil {
			return err
		}
		if rp.opts.DryRun {
			continue
		}
		commits := kadm.Offsets{}
		for p := range moved {
			commits.Add(kadm.Offset{Topic: dlq, Partition: p, At: parts[p].next, LeaderEpoch: -1})
		}
		resp, err := adm.CommitOffsets(ctx, group, commits)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("committing the replay position to group %s (the last batch was written; the next replay writes it again): %w", group, err)
		}
	}
	return nil
}

// topicRange resolves where each partition of the dead-letter topic starts
// and stops: from the later of the log start, --from and the replay group's
// committed position, to the end offset now or --to, whichever is first.
func (rp *replayer) topicRange(ctx context.Context, adm *kadm.Client, dlq, group string) (map[int32]*replayPart, error) {
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	details, err := adm.ListTopics(actx, dlq)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	d, ok := details[dlq]
	switch {
	case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		return nil, fmt.Errorf("dead-letter topic %s does not exist in Kafka", dlq)
	case d.Err != nil:
		return nil, fmt.Errorf("dead-letter topic %s: %w", dlq, d.Err)
	}
	starts, err := adm.ListStartOffsets(actx, dlq)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the log start offsets of %s: %w", dlq, err)
	}
	ends, err := adm.ListEndOffsets(actx, dlq)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the end offsets of %s: %w", dlq, err)
	}
	committed, err := adm.FetchOffsets(actx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("fetching the replay position (group %s): %w", group, err)
	}
	byTime := func(b ReplayBound, milli int64) (kadm.ListedOffsets, error) {
		if !b.Set || !b.IsTime {
			return nil, nil
		}
		lo, err := adm.ListOffsetsAfterMilli(actx, milli, dlq)
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("listing offsets of %s at %s: %w", dlq, b, err)
		}
		return lo, nil
	}
	fromT, err := byTime(rp.opts.From, rp.opts.From.Time.UnixMilli())
	if err != nil {
		return nil, err
	}
	// The first record after --to ends the range.
	toT, err := byTime(rp.opts.To, rp.opts.To.Time.UnixMilli()+1)
	if err != nil {
		return nil, err
	}
	parts := map[int32]*replayPart{}
	for p := range d.Partitions {
		st, ok1 := starts.Lookup(dlq, p)
		en, ok2 := ends.Lookup(dlq, p)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("dead-letter topic %s partition %d: no offsets listed by Kafka", dlq, p)
		}
		next, stop := st.Offset, en.Offset
		if f := rp.opts.From; f.Set {
			if f.IsTime {
				if lo, ok := fromT.Lookup(dlq, p); ok && lo.Offset >= 0 {
					next = max(next, lo.Offset)
				} else {
					next = stop
				}
			} else {
				next = max(next, f.N)
			}
		}
		if c, ok := committed.Lookup(dlq, p); ok && c.Err == nil && c.At > next {
			level := slog.LevelDebug
			if rp.opts.From.Set {
				level = slog.LevelInfo // --from asked for earlier records
			}
			rp.log.Log(ctx, level, "starting at the replay group's committed position: the records before it were replayed already",
				"group", group, "partition", p, "offset", c.At)
			next = c.At
		}
		if t := rp.opts.To; t.Set {
			if t.IsTime {
				if lo, ok := toT.Lookup(dlq, p); ok && lo.Offset >= 0 {
					stop = min(stop, lo.Offset)
				}
			} else if t.N < math.MaxInt64 {
				stop = min(stop, t.N+1)
			}
		}
		parts[p] = &replayPart{next: next, stop: stop, done: next >= stop}
	}
	return parts, nil
}

// topicBatch replays records read from the dead-letter topic: each route's
// share in its own transaction(s), then the ones that failed again are
// produced to the topic again, acknowledged before the caller commits the
// position past them.
func (rp *replayer) topicBatch(ctx context.Context, recs []*kgo.Record, producer *Pipeline) error {
	var order []*replayRoute
	byRoute := map[*replayRoute][]replayItem{}
	var noRoute int64
	for _, dr := range recs {
		rec, ok := recordFromTopicDead(dr)
		rr := rp.route(rec.Topic)
		if !ok || rr == nil {
			noRoute++
			rp.log.Warn("dead letter with no route in this configuration; left in the topic",
				"dlq_partition", dr.Partition, "dlq_offset", dr.Offset, "source_topic", rec.Topic)
			continue
		}
		if _, seen := byRoute[rr]; !seen {
			order = append(order, rr)
		}
		byRoute[rr] = append(byRoute[rr], replayItem{rec: rec})
	}
	var t tally
	var failed []replayFailure
	for _, rr := range order {
		if err := rp.replayItems(ctx, rr, byRoute[rr], &t, &failed); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		dead := make([]deadLetter, len(failed))
		for i, f := range failed {
			dead[i] = f.dl
		}
		if err := producer.produceDead(ctx, dead); err != nil {
			return fmt.Errorf("producing the dead letters that failed again (the rows of this batch were written; the next replay writes them again): %w", err)
		}
	}
	rp.res.Replayed += t.replayed
	rp.res.FailedAgain += t.failed
	rp.res.NoRoute += noRoute
	if t.replayed+t.failed > 0 {
		first, last := recs[0], recs[len(recs)-1]
		where := fmt.Sprintf("%d record(s) of %s", len(recs), first.Topic)
		if first.Partition == last.Partition {
			where = fmt.Sprintf("%s partition %d offsets %d..%d", first.Topic, first.Partition, first.Offset, last.Offset)
		}
		rp.printBatch(t, where)
	}
	return nil
}

// recordFromTopicDead rebuilds the record a dead letter of the topic came
// from: its source coordinates and timestamp come from kafka2pg's headers,
// which are left out. ok is false when the source topic is unknown.
func recordFromTopicDead(d *kgo.Record) (*kgo.Record, bool) {
	r := &kgo.Record{Key: d.Key, Value: d.Value, Timestamp: d.Timestamp, Partition: -1, Offset: -1}
	for _, h := range d.Headers {
		v := string(h.Value)
		switch h.Key {
		case hdrTopic:
			r.Topic = v
		case hdrPartition:
			if n, err := strconv.ParseInt(v, 10, 32); err == nil {
				r.Partition = int32(n)
			}
		case hdrOffset:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				r.Offset = n
			}
		case hdrTimestamp:
			if ts, err := time.Parse(time.RFC3339Nano, v); err == nil {
				r.Timestamp = ts
			}
		}
		if !isOwnHeader(h.Key) {
			r.Headers = append(r.Headers, h)
		}
	}
	return r, r.Topic != ""
}
