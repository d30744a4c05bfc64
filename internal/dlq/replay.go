package dlq

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
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/batch"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/pgdial"
	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/retry"
	"github.com/kafka2pg/kafka2pg/internal/route"
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
	rp := &replayer{cfg: cfg, opts: opts, log: opts.Logger, res: &res, mappers: map[string]*route.Mapper{},
		batch: min(ReplayBatchRows, max(cfg.Batch.MaxRows, 1)), policy: retry.FromConfig(cfg.Errors.Retry)}
	defer rp.close()
	if err := rp.open(ctx); err != nil {
		return res, cfg.RedactError(err)
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
	return res, cfg.RedactError(err)
}

// replayer is one replay's state. It is used by one goroutine.
type replayer struct {
	cfg     *config.Config
	opts    ReplayOptions
	log     *slog.Logger
	res     *ReplayResult
	batch   int
	policy  retry.Policy
	conn    *pgx.Conn     // prepares the routes; reads in a dry run
	unlock  func()        // releases the replay lock
	pool    *pgxpool.Pool // writes and reads (nil in a dry run)
	routes  *route.Set
	mappers map[string]*route.Mapper // by source topic
	table   *Table                   // table mode
}

// replayItem is one dead letter rebuilt as the record it was.
type replayItem struct {
	id   int64 // dead-letter table id (table mode)
	rec  *kgo.Record
	rows []route.Row // what it maps to
}

// replayFailure is a dead letter that failed again, with the new reason.
type replayFailure struct {
	id int64 // dead-letter table id (table mode)
	dl Letter
}

// tally counts one batch.
type tally struct{ replayed, failed int64 }

// replayAppName is the application_name of the replay's connections.
const replayAppName = "kafka2pg dlq replay"

// open connects to PostgreSQL, checks the dead-letter table, takes the
// replay lock and prepares every route, as run does.
func (rp *replayer) open(ctx context.Context) error {
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var err error
	if rp.conn, err = pgdial.Connect(startCtx, rp.cfg.Postgres, replayAppName); err != nil {
		return err
	}
	if err := rp.prepare(startCtx); err != nil {
		return err
	}
	if rp.opts.DryRun {
		return nil
	}
	rp.pool, err = pgdial.NewPool(ctx, rp.cfg.Postgres, replayAppName, 2, rp.routes.Tables)
	return err
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

func (rp *replayer) prepare(ctx context.Context) error {
	if t := rp.cfg.Errors.DLQ.Table; t != "" {
		rp.table = NewTable(t, rp.cfg.Kafka.Group)
		var exists bool
		if err := rp.conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, rp.table.Name()).Scan(&exists); err != nil {
			return fmt.Errorf("looking up the dead-letter table: %w", err)
		}
		if !exists {
			return fmt.Errorf("dead-letter table %s does not exist (kafka2pg run creates it with errors.tolerance: all)", rp.table.Name())
		}
	}
	if !rp.opts.DryRun {
		// One replay of a queue at a time: two would replay the same dead
		// letters. The lock is held until close.
		key := "kafka2pg dlq replay|" + rp.res.DLQ + "|" + rp.cfg.Kafka.Group
		release, got, err := pgdial.TryLock(ctx, rp.cfg.Postgres, replayAppName, key)
		if err != nil {
			return fmt.Errorf("taking the replay lock: %w", err)
		}
		if !got {
			return fmt.Errorf("another kafka2pg dlq replay of the %s for group %s is running", rp.res.DLQ, rp.cfg.Kafka.Group)
		}
		rp.unlock = release
	}
	progs, err := route.Compile(rp.cfg)
	if err != nil {
		return err
	}
	formats := format.NewSet(rp.cfg.SchemaRegistry)
	var routes []*route.Route
	for i := range rp.cfg.Routes {
		r, err := route.Prepare(ctx, rp.conn, i, &rp.cfg.Routes[i], progs[i], formats, !rp.opts.DryRun)
		if err == nil && r.Static() != nil && r.Binding() == nil {
			err = errors.New("the table does not exist yet (kafka2pg run creates it with auto_create)")
		}
		if err != nil {
			return fmt.Errorf("routes[%d] (table %s): %w", i, r.TableName, err)
		}
		routes = append(routes, r)
	}
	rp.routes = route.NewSet(routes)
	return nil
}

func (rp *replayer) close() {
	if rp.unlock != nil {
		defer rp.unlock() // last: nothing of this replay writes after it
	}
	if rp.pool != nil {
		rp.pool.Close()
	}
	if rp.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = rp.conn.Close(ctx)
		cancel()
	}
}

// mapper returns the mapper of a source topic's routes, nil when no route
// names the topic. Replay writes into the tables as they are: no
// auto_create, no auto_evolve.
func (rp *replayer) mapper(topic string) (*route.Mapper, error) {
	if m, ok := rp.mappers[topic]; ok {
		return m, nil
	}
	routes := rp.routes.ForTopic(topic)
	if len(routes) == 0 {
		return nil, nil
	}
	m, err := route.NewMapper(routes, rp.db(), nil, rp.log, telemetry.NewMetrics())
	if err != nil {
		return nil, err
	}
	rp.mappers[topic] = m
	return m, nil
}

// mapItems maps one topic's dead letters, as the worker does: rows for the
// ones that map, "gone" for those with no effect (tombstones the route
// skips), failures for the ones that do not decode or map.
func (rp *replayer) mapItems(ctx context.Context, m *route.Mapper, items []replayItem) (mapped, gone []replayItem, failed []replayFailure, err error) {
	for _, it := range items {
		rows, err := m.Map(ctx, it.rec, []*kgo.Record{it.rec})
		switch {
		case err != nil && !route.IsRecordError(err):
			return nil, nil, nil, err // the registry is unreachable, ...: stop, replay later
		case err != nil:
			failed = append(failed, replayFailure{id: it.id, dl: FromError(it.rec, err)})
		case len(rows) == 0:
			gone = append(gone, it)
		default:
			it.rows = slices.Clone(rows)
			mapped = append(mapped, it)
		}
		m.Flushed() // rows are kept per item; the tables are never evolved
	}
	return mapped, gone, failed, nil
}

// replayItems writes one topic's share of a batch. In a dry run it only
// counts. Otherwise the rows are written; when the database rejects them
// (SQLSTATE class 22 or 23) the batch is split until the records at fault
// are isolated, as the worker does, and those fail again with stage write.
// Failures go to sink (topic mode), or are updated in the dead-letter table
// in the transaction that writes the rows (table mode).
func (rp *replayer) replayItems(ctx context.Context, m *route.Mapper, items []replayItem, t *tally, sink *[]replayFailure) error {
	mapped, gone, failed, err := rp.mapItems(ctx, m, items)
	if err != nil {
		return err
	}
	if rp.opts.DryRun {
		t.replayed += int64(len(mapped) + len(gone))
		t.failed += int64(len(failed))
		return nil
	}
	// What a write carries besides its items: the dead letters that need no
	// row, and those isolated as failing again.
	write := func(lo, hi int) error {
		part := mapped[lo:hi]
		if err := rp.commitPart(ctx, part, gone, failed); err != nil {
			return err
		}
		t.replayed += int64(len(part) + len(gone))
		t.failed += int64(len(failed))
		if rp.table != nil {
			// Table mode: durable now.
			rp.res.Replayed += int64(len(part) + len(gone))
			rp.res.FailedAgain += int64(len(failed))
		} else {
			*sink = append(*sink, failed...)
		}
		gone, failed = nil, nil
		return nil
	}
	isData := func(err error) bool {
		var de *replayDataError
		return errors.As(err, &de)
	}
	reject := func(i int, err error) error {
		var de *replayDataError
		errors.As(err, &de)
		failed = append(failed, replayFailure{id: mapped[i].id, dl: Letter{Rec: mapped[i].rec, Stage: transform.StageWrite, Class: "data", Reason: de.reason}})
		return nil
	}
	return batch.Isolate(len(mapped), write, isData, reject)
}

// replayDataError is a write the database rejected for its data.
type replayDataError struct {
	reason string
	err    error
}

func (e *replayDataError) Error() string { return e.err.Error() }
func (e *replayDataError) Unwrap() error { return e.err }

// commitPart writes the rows of items in one transaction. In table mode the
// same transaction deletes the dead letters of items and gone and updates
// those of failed with their new reason.
func (rp *replayer) commitPart(ctx context.Context, items, gone []replayItem, failed []replayFailure) error {
	var rows []route.Row
	for _, it := range items {
		rows = append(rows, it.rows...)
	}
	changes := route.Changes(rows)
	if rp.table == nil {
		if len(rows) == 0 {
			return nil
		}
		return rp.writeTx(ctx, changes, nil, nil)
	}
	var del []int64
	for _, it := range slices.Concat(items, gone) {
		del = append(del, it.id)
	}
	if len(rows) == 0 && len(del) == 0 && len(failed) == 0 {
		return nil
	}
	tbl := rp.table.Name()
	group := rp.table.group
	hook := func(ctx context.Context, tx *pgtx.Tx) error {
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
				ids[i], stages[i], classes[i], reasons[i] = f.id, string(f.dl.Stage), f.dl.Class, f.dl.Reason
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
	return rp.writeTx(ctx, changes, hook, done)
}

// writeTx writes one transaction, retrying transient failures with backoff
// (errors.retry). A data error is returned as a *replayDataError; anything
// else ends the replay.
func (rp *replayer) writeTx(ctx context.Context, changes []pgwrite.Change, hook func(context.Context, *pgtx.Tx) error, done func(context.Context) (bool, error)) error {
	tables := changeTables(changes)
	hooks := retry.Hooks{Retrying: func(attempt int, wait time.Duration, err error) {
		rp.log.Warn("write failed, retrying", "table", tables, "attempt", attempt,
			"backoff", wait.Round(time.Millisecond), "err", rp.cfg.RedactError(err).Error())
	}}
	err := retry.Do(ctx, rp.policy, pgwrite.IsTransient, hooks, func(attempt int) error {
		if attempt > 1 && done != nil {
			if ok, err := done(ctx); err == nil && ok {
				rp.log.Info("an unacknowledged commit had succeeded", "table", tables)
				return nil
			}
		}
		return pgwrite.Commit(ctx, rp.pool, changes, hook)
	})
	switch {
	case err == nil, ctx.Err() != nil, errors.Is(err, errDLQChanged):
		return err
	case retry.IsGiveUp(err):
		return fmt.Errorf("writing %s: %w", tables, err)
	}
	if class := pgwrite.Classify(err); class == pgwrite.Data {
		return &replayDataError{reason: (&pgwrite.WriteError{Err: err}).Reason(), err: err}
	} else {
		return fmt.Errorf("writing %s: %s error replaying dead letters: %w", tables, class, err)
	}
}

// changeTables names the tables of changes, for messages.
func changeTables(changes []pgwrite.Change) string {
	names := make([]string, len(changes))
	for i, c := range changes {
		names[i] = c.W.Table().String()
	}
	return strings.Join(names, ", ")
}

// printBatch prints the line of one batch.
func (rp *replayer) printBatch(t tally, where string) {
	if rp.opts.DryRun {
		fmt.Fprintf(rp.opts.Out, "would replay %d, would fail again %d (%s)\n", t.replayed, t.failed, where)
		return
	}
	fmt.Fprintf(rp.opts.Out, "replayed %d, failed again %d (%s)\n", t.replayed, t.failed, where)
}
