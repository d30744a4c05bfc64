// Package pipeline is kafka2pg's engine, orchestration only: it wires the
// stages (source → route → transaction → offsets), starts one worker per
// assigned partition and runs the lifecycle — start, soft stop (drain,
// commit, leave the group) and hard stop.
//
// Concurrency: one poll loop (source.Consumer.Poll), one worker goroutine
// per assigned partition (at most postgres.max_conns write at once, bounded
// by the pool), one committer loop, one progress logger. Run owns and waits
// for all of them. Rebalance callbacks run on kgo's goroutine between polls.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/batch"
	"github.com/kafka2pg/kafka2pg/internal/dlq"
	"github.com/kafka2pg/kafka2pg/internal/eos"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/pgdial"
	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/retry"
	"github.com/kafka2pg/kafka2pg/internal/route"
	"github.com/kafka2pg/kafka2pg/internal/source"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
)

// Options are the parts of a run that do not come from the config file.
type Options struct {
	Logger *slog.Logger
	// StopAtEnd makes Run return nil once every partition of the topics has
	// been written and committed up to the end offsets seen at start. Meant
	// for demos, benchmarks and one-off loads with a single instance.
	StopAtEnd bool
	// ProgressInterval is how often a progress line is logged; 0 = 10s.
	ProgressInterval time.Duration
	// CommitInterval is how often durable offsets are committed to Kafka; 0 = 1s.
	CommitInterval time.Duration
	// Metrics receives the pipeline's metrics; nil = a fresh set. It is
	// served on http.listen when that is configured.
	Metrics *telemetry.Metrics
	// Transforms are Go transforms by route name; TransformConcurrency
	// (default 1) is how many records of a partition each may run at once.
	Transforms           map[string]route.Func
	TransformConcurrency int
}

// ErrAborted is returned by Run after Abort.
var ErrAborted = errors.New("aborted: stopped without draining")

// appName is the application_name of the pipeline's connections.
const appName = "kafka2pg"

// Pipeline is one running kafka2pg instance. Create it with New, run it with
// Run; Abort may be called from any goroutine.
type Pipeline struct {
	cfg      *config.Config
	opts     Options
	merging  config.MergeMode // batch.backlog_merge in this run (config.Batch.Merging)
	log      *slog.Logger
	m        *telemetry.Metrics
	pool     *pgxpool.Pool
	group    *pgwrite.Group // small batches of several partitions in one transaction
	consumer *source.Consumer
	routes   *route.Set
	programs []*route.Programs // the routes' compiled expressions
	claims   *eos.Claims       // exactly-once only
	dlqTable *dlq.Table        // errors.tolerance: all with a table
	dlqTopic *dlq.Topic        // errors.tolerance: all with a topic
	budget   *source.Budget
	stats    stats
	missing  []*route.Route // routes whose table does not exist yet (no auto_create): Run waits

	hardCtx   context.Context // cancelled by Abort
	hardStop  context.CancelFunc
	fatalOnce sync.Once
	fatalErr  error
	fatalCh   chan struct{}

	wg      sync.WaitGroup // workers
	mu      sync.Mutex
	workers map[source.TP]*worker
}

// New connects to PostgreSQL, reads every route's table from the catalog
// (creating raw tables, the dead-letter table and the offset table), checks
// the routes against the tables and creates the Kafka client. Nothing is
// consumed until Run.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Pipeline, error) {
	p, err := newPipeline(ctx, cfg, opts)
	return p, cfg.RedactError(err)
}

func newPipeline(ctx context.Context, cfg *config.Config, opts Options) (*Pipeline, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ProgressInterval == 0 {
		opts.ProgressInterval = 10 * time.Second
	}
	if opts.CommitInterval == 0 {
		opts.CommitInterval = time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = telemetry.NewMetrics()
	}
	p := &Pipeline{cfg: cfg, opts: opts, merging: cfg.Batch.Merging(opts.StopAtEnd), log: opts.Logger, m: opts.Metrics,
		budget:  source.NewBudget(int64(cfg.Batch.MaxInflightBytes), opts.Metrics),
		fatalCh: make(chan struct{}), workers: map[source.TP]*worker{}}
	p.hardCtx, p.hardStop = context.WithCancel(context.Background())
	// Expressions first: a compile error is a configuration error, found
	// before anything connects.
	var err error
	if p.programs, err = route.Compile(cfg); err != nil {
		return nil, err
	}
	if cfg.Errors.Tolerance == config.ToleranceAll && cfg.Errors.DLQ.Table != "" {
		p.dlqTable = dlq.NewTable(cfg.Errors.DLQ.Table, cfg.Kafka.Group)
	}
	if err := p.prepare(ctx); err != nil {
		return nil, err
	}
	if p.pool, err = pgdial.NewPool(ctx, cfg.Postgres, appName, cfg.Postgres.MaxConns, p.routes.Tables); err != nil {
		return nil, err
	}
	p.group = &pgwrite.Group{Pool: p.pool, MaxRows: cfg.Batch.GroupRows}
	var claimer source.Claimer
	if cfg.Delivery == config.DeliveryExactlyOnce {
		p.claims = eos.New(cfg, p.pool, p.log, func(tp source.TP, off kgo.EpochOffset) { p.consumer.Committer().MarkDurable(tp, off) })
		claimer = p.claims
	}
	if p.consumer, err = source.NewConsumer(cfg, p, claimer, p.budget, p.log, p.m); err != nil {
		p.pool.Close()
		return nil, err
	}
	if cfg.Errors.Tolerance == config.ToleranceAll && cfg.Errors.DLQ.Topic != "" {
		p.dlqTopic = dlq.NewTopic(cfg.Errors.DLQ.Topic, p.consumer.Client(), retry.FromConfig(cfg.Errors.Retry), p.log, p.m)
	}
	return p, nil
}

// prepare reads (or, in raw mode, creates) each route's table on one
// connection, and creates the offset and dead-letter tables.
func (p *Pipeline) prepare(ctx context.Context) error {
	conn, err := pgdial.Connect(ctx, p.cfg.Postgres, appName)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if p.cfg.Delivery == config.DeliveryExactlyOnce {
		schema, table := p.cfg.Postgres.OffsetsTableName()
		if err := eos.NewOffsetStore(schema, table, p.cfg.Kafka.Group).Ensure(ctx, conn); err != nil {
			return err
		}
	}
	if p.dlqTable != nil {
		if err := p.dlqTable.Ensure(ctx, conn); err != nil {
			return err
		}
	}
	formats := format.NewSet(p.cfg.SchemaRegistry)
	routes := make([]*route.Route, len(p.cfg.Routes))
	for i := range p.cfg.Routes {
		r, err := route.Prepare(ctx, conn, i, &p.cfg.Routes[i], p.programs[i], formats, true)
		if errors.Is(err, table.ErrTableNotFound) {
			p.missing = append(p.missing, r) // Run waits for it, saying so
			err = nil
		}
		if err != nil {
			return fmt.Errorf("routes[%d] (table %s): %w", i, r.TableName, err)
		}
		routes[i] = r
	}
	p.routes = route.NewSet(routes)
	return p.attachTransforms()
}

// attachTransforms gives the named routes their Go transforms.
func (p *Pipeline) attachTransforms() error {
	for name, fn := range p.opts.Transforms {
		var r *route.Route
		for _, rt := range p.routes.Routes {
			if rt.Name == name {
				r = rt
			}
		}
		switch {
		case r == nil:
			var names []string
			for _, rt := range p.routes.Routes {
				names = append(names, rt.Name)
			}
			return fmt.Errorf("WithTransform(%q): no route has that name (routes: %s)", name, strings.Join(names, ", "))
		case r.Cfg.Mode == config.ModeRaw || len(r.Cfg.Columns) > 0 || r.Cfg.Each != "" || r.Cfg.TableExpr != "":
			return fmt.Errorf("WithTransform(%q): routes[%d] has mode raw, columns, each or table_expr; a Go transform makes the rows itself", name, r.Index)
		}
		r.Func, r.Concurrency = fn, max(p.opts.TransformConcurrency, 1)
	}
	return nil
}

// Run consumes until ctx is cancelled (a soft stop: fetching stops, every
// worker writes what it holds, offsets are committed and the group is left,
// within cfg.ShutdownTimeout), until a record or write fails for good (the
// same soft stop, then the error is returned), until StopAtEnd is satisfied,
// or until Abort. Run closes the pipeline's connections before it returns.
func (p *Pipeline) Run(ctx context.Context) error {
	err := p.run(ctx)
	return p.cfg.RedactError(err)
}

func (p *Pipeline) run(ctx context.Context) error {
	defer p.pool.Close()
	p.log.Info("kafka2pg starting", "config", p.cfg.Redacted(), "backlog_merge", p.merging.String())
	if l := source.ApplyMemoryLimit(p.cfg); l != math.MaxInt64 {
		p.log.Debug("go runtime soft memory limit", "mib", l>>20)
	}
	committer := p.consumer.Committer()
	if p.cfg.HTTP.Listen != "" {
		srv, err := telemetry.Listen(p.cfg.HTTP.Listen, p.m)
		if err != nil {
			p.consumer.Close(false)
			return fmt.Errorf("http.listen: %w", err)
		}
		defer srv.Close() //nolint:errcheck // best effort at exit
		p.log.Info("serving /metrics, /healthz and /readyz", "addr", srv.Addr())
	}
	// From here /readyz tells why the instance is not ready yet.
	healthCtx, stopHealth := context.WithCancel(p.hardCtx)
	healthDone := make(chan struct{})
	go func() { defer close(healthDone); p.monitor().Run(healthCtx) }()
	defer func() { stopHealth(); <-healthDone }()
	if err := p.awaitTables(ctx); err != nil {
		p.consumer.Close(false)
		if ctx.Err() != nil || p.hardCtx.Err() != nil {
			return nil // stopped before anything started
		}
		return err
	}
	// Until a broker answers, nothing else can start; a refused login or an
	// untrusted certificate ends the run here.
	connectCtx, stopConnect := context.WithCancel(ctx)
	go func() {
		select {
		case <-p.hardCtx.Done():
		case <-connectCtx.Done():
		}
		stopConnect()
	}()
	err := p.consumer.Connect(connectCtx, retry.FromConfig(p.cfg.Errors.Retry), func(reason string) { p.m.Unready("kafka", reason) })
	stopConnect()
	if err != nil {
		p.consumer.Close(false)
		switch {
		case p.hardCtx.Err() != nil:
			return ErrAborted
		case ctx.Err() != nil:
			return nil // stopped before anything started
		}
		return err
	}
	atEnd := make(<-chan struct{})
	if p.opts.StopAtEnd {
		if err := p.consumer.StopAtEnd(ctx); err != nil {
			p.consumer.Close(false)
			return err
		}
		atEnd = committer.AtEnd()
	}
	p.m.SetRunning(true)
	defer p.m.SetRunning(false)

	pollCtx, stopPolling := context.WithCancel(p.hardCtx)
	defer stopPolling()
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		p.consumer.Poll(pollCtx)
	}()
	bgCtx, stopBg := context.WithCancel(p.hardCtx)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); committer.Loop(bgCtx, p.opts.CommitInterval) }()
	go func() { defer bg.Done(); p.progressLoop(bgCtx) }()

	reason := "stop requested"
	select {
	case <-ctx.Done():
	case <-p.fatalCh:
		reason = "error"
	case <-atEnd:
		reason = "caught up with the end offsets seen at start"
	case <-p.hardCtx.Done():
	}
	p.m.SetRunning(false)
	p.log.Info("kafka2pg stopping: draining and committing", "reason", reason)
	stopPolling()
	<-pollDone

	// Soft stop: every worker writes what it holds, bounded by the timeout.
	deadline := time.Duration(p.cfg.ShutdownTimeout)
	drained := make(chan struct{})
	go func() {
		p.mu.Lock()
		for _, w := range p.workers {
			w.stop(draining)
		}
		p.mu.Unlock()
		p.wg.Wait()
		close(drained)
	}()
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	var runErr error
	select {
	case <-drained:
	case <-timeout.C:
		runErr = fmt.Errorf("shutdown_timeout (%s) passed before every batch was written; offsets of unwritten batches were not committed", deadline)
		p.Abort()
		<-drained
	case <-p.hardCtx.Done():
		<-drained
	}
	stopBg()
	bg.Wait()
	if p.hardCtx.Err() == nil {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := committer.Commit(cctx, nil); err != nil {
			p.log.Warn("final offset commit failed; the next run replays from the last committed offsets", "err", err)
		}
		cancel()
		p.consumer.Close(true)
	} else {
		p.consumer.Close(false)
	}
	p.logProgress(true, time.Now(), 0, 0)
	if p.fatalErr != nil {
		return p.fatalErr
	}
	if runErr != nil {
		return runErr
	}
	if p.hardCtx.Err() != nil {
		return ErrAborted
	}
	return nil
}

// Abort stops at once: in-flight transactions are rolled back, nothing more
// is committed. Safe to call from any goroutine, more than once.
func (p *Pipeline) Abort() { p.hardStop() }

// fail records the first unrecoverable error and starts the soft stop.
func (p *Pipeline) fail(err error) {
	p.fatalOnce.Do(func() {
		p.fatalErr = err
		close(p.fatalCh)
	})
}

// Records implements source.Handler: it queues a partition's records on
// its worker, starting the worker on first use. It is called only from the
// poll loop between a poll and the rebalance it allows, so it never races
// with a revoke of the same partition.
func (p *Pipeline) Records(tp source.TP, recs []*kgo.Record) bool {
	w, err := p.worker(tp)
	if err != nil {
		p.fail(err)
		return false
	}
	if w == nil {
		return false // fenced: another consumer owns it; its records are not ours to write
	}
	w.push(recs)
	return true
}

func (p *Pipeline) worker(tp source.TP) (*worker, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.workers[tp]; ok {
		return w, nil
	}
	var part *eos.Partition
	if p.claims != nil {
		if p.claims.Fenced(tp) {
			return nil, nil
		}
		var ok bool
		if part, ok = p.claims.Partition(tp); !ok {
			// Records of a partition this instance did not claim cannot be
			// written (kgo hands out only assigned partitions, and every
			// assignment is claimed first: this is the second lock).
			return nil, nil
		}
	}
	routes := p.routes.ForTopic(tp.Topic)
	if len(routes) == 0 {
		return nil, fmt.Errorf("topic %s matches kafka.topic_pattern but no route names it", tp.Topic)
	}
	mapper, err := route.NewMapper(routes, p.pool, p.pool, p.log, p.m)
	if err != nil {
		return nil, err
	}
	deps := workerDeps{
		mapper:   mapper,
		durable:  func(off kgo.EpochOffset) { p.consumer.Committer().MarkDurable(tp, off) },
		fail:     p.fail,
		budget:   p.budget,
		policy:   batch.FromConfig(p.cfg.Batch),
		retry:    retry.FromConfig(p.cfg.Errors.Retry),
		tolerate: p.cfg.Errors.Tolerance == config.ToleranceAll,
		always:   part != nil,
		log:      p.log,
		m:        p.m,
		stats:    &p.stats,
	}
	if p.dlqTopic != nil {
		deps.produce = p.dlqTopic.Produce
	}
	if p.merging != config.MergeNone {
		deps.backlog = p.backlogDeps(tp, part)
	}
	w := newWorker(p.hardCtx, tp, deps)
	w.commit = p.transaction(tp, part)
	w.fenced = func(err error) { p.dropFenced(w, err) }
	p.workers[tp] = w
	p.m.Assigned.Set(float64(len(p.workers)))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer w.cancel()
		w.run()
	}()
	return w, nil
}

// backlogDeps are the collaborators of tp's backlog merge
// (batch.backlog_merge): its transactions are the partition's, with the
// staging and merging in their hook.
func (p *Pipeline) backlogDeps(tp source.TP, part *eos.Partition) *backlogDeps {
	t := p.txn(tp, part)
	schema, _ := p.cfg.Postgres.OffsetsTableName()
	policy := retry.FromConfig(p.cfg.Errors.Retry)
	return &backlogDeps{
		schema: schema, group: p.cfg.Kafka.Group,
		maxRows: p.cfg.Batch.BacklogMaxRows, maxAge: time.Duration(p.cfg.Batch.BacklogMaxAge),
		lateOnly: p.merging == config.MergeLate,
		behind:   func(next int64) int64 { return p.consumer.Committer().Behind(tp, next) },
		end:      func() (int64, bool) { return p.consumer.Committer().End(tp) },
		stageBytes: func() int64 {
			p.mu.Lock()
			n := len(p.workers)
			p.mu.Unlock()
			return stageLimit(int64(p.cfg.Batch.MaxInflightBytes), n)
		},
		ensure: func(ctx context.Context, st *pgwrite.Backlog) error {
			hooks := p.m.RetryHooks(func(attempt int, wait time.Duration, err error) {
				p.log.Warn("making a backlog staging table failed, retrying", "table", st.Table(), "attempt", attempt,
					"backoff", wait.Round(time.Millisecond), "err", p.cfg.RedactError(err).Error())
			})
			return retry.Do(ctx, policy, pgwrite.IsTransient, hooks, func(int) error { return st.Ensure(ctx, p.pool) })
		},
		stage: func(ctx context.Context, stages []*pgwrite.Backlog, from, last int64) error {
			return t(ctx, nil, nil, -1, &extraTx{tables: backlogTables(stages), first: from, last: last, fn: func(ctx context.Context, tx *pgtx.Tx) error {
				for _, st := range stages {
					if _, err := st.Flush(ctx, tx); err != nil {
						return fmt.Errorf("staging rows of %s in %s: %w", st.Writer().Table(), st.Table(), err)
					}
				}
				return nil
			}})
		},
		discard: func(ctx context.Context, stages []*pgwrite.Backlog) {
			for _, st := range stages {
				if err := st.Discard(ctx, p.pool); err != nil {
					p.log.Warn("emptying a backlog staging table failed (the next staging empties it)", "table", st.Table(),
						"err", p.cfg.RedactError(err).Error())
				}
			}
		},
		merge: func(ctx context.Context, stages []*pgwrite.Backlog, from, next int64) (int64, error) {
			var written int64
			x := &extraTx{tables: backlogTables(stages), first: from, last: next - 1}
			x.fn = func(ctx context.Context, tx *pgtx.Tx) error {
				var err error
				written, err = pgwrite.MergeAll(ctx, tx, stages)
				return err
			}
			err := t(ctx, nil, nil, next, x)
			return written, err
		},
		read: func(ctx context.Context, from, to int64, fn func([]*kgo.Record) bool) error {
			return source.ReadRange(ctx, p.cfg.Kafka, tp, from, to, fn)
		},
	}
}

// backlogTables names the tables of stages, for errors.
func backlogTables(stages []*pgwrite.Backlog) string {
	names := make([]string, len(stages))
	for i, st := range stages {
		names[i] = st.Writer().Table().String()
	}
	return strings.Join(names, ", ")
}

// transaction is the transaction stage of one partition: one batch part's
// rows, dead letters (dead-letter table) and, in exactly-once mode, the
// partition's stored offset, in one transaction, retrying transient
// failures with backoff until it succeeds, the worker's context ends, or
// errors.retry.max_elapsed passes. An attempt after a failure first reads
// the offset row (exactly-once): a COMMIT whose acknowledgement was lost may
// have succeeded.
func (p *Pipeline) transaction(tp source.TP, part *eos.Partition) func(context.Context, []pgwrite.Change, []dlq.Letter, int64) error {
	t := p.txn(tp, part)
	return func(ctx context.Context, changes []pgwrite.Change, letters []dlq.Letter, next int64) error {
		return t(ctx, changes, letters, next, nil)
	}
}

// extraTx is more work in a partition's transaction (txn): fn runs first in
// its hook; tables and first..last say what it writes, for errors.
type extraTx struct {
	fn          func(context.Context, *pgtx.Tx) error
	tables      string
	first, last int64
}

// txn is transaction with more: extra (when not nil) runs first in the
// hook, and the transaction is committed on its own, never grouped; next <
// 0 moves no offset (a backlog's staging).
func (p *Pipeline) txn(tp source.TP, part *eos.Partition) func(context.Context, []pgwrite.Change, []dlq.Letter, int64, *extraTx) error {
	policy := retry.FromConfig(p.cfg.Errors.Retry)
	return func(ctx context.Context, changes []pgwrite.Change, letters []dlq.Letter, next int64, extra *extraTx) error {
		var hook func(context.Context, *pgtx.Tx) error
		advance := part != nil && next >= 0
		if advance || len(letters) > 0 || extra != nil {
			hook = func(ctx context.Context, tx *pgtx.Tx) error {
				if extra != nil {
					if err := extra.fn(ctx, tx); err != nil {
						return err
					}
				}
				p.dlqTable.Insert(tx, letters)
				if advance {
					part.Advance(tx, next)
				}
				return nil
			}
		}
		tables := changeTables(changes)
		first, last := offsetRange(changes, next)
		if extra != nil {
			tables, first, last = extra.tables, extra.first, extra.last
		}
		hooks := p.m.RetryHooks(func(attempt int, wait time.Duration, err error) {
			p.stats.retries.Add(1)
			p.m.Retries.WithLabelValues(tables).Inc()
			p.log.Warn("write failed, retrying", "table", tables, "topic", tp.Topic, "partition", tp.Partition,
				"attempt", attempt, "backoff", wait.Round(time.Millisecond), "err", p.cfg.RedactError(err).Error())
		})
		resolved := false
		// An earlier attempt may have committed without the acknowledgement
		// reaching us: exactly-once reads the offset row before writing
		// again, and writes only once it knows.
		resolve := func() (bool, error) {
			done, err := part.Resolve(ctx, next)
			if err == nil && done {
				p.log.Info("an unacknowledged commit had succeeded", "topic", tp.Topic, "partition", tp.Partition, "next_offset", next)
				resolved = true
			}
			return done, err
		}
		err := retry.Do(ctx, policy, pgwrite.IsTransient, hooks, func(attempt int) error {
			if attempt > 1 && advance {
				// A failed read (the connection still broken) is retried:
				// writing without knowing would find the offset moved by
				// that commit and take it for another owner's.
				if done, err := resolve(); err != nil || done {
					return err
				}
			}
			var err error
			if extra != nil {
				err = pgwrite.Commit(ctx, p.pool, changes, hook)
			} else {
				err = p.group.Commit(ctx, changes, hook)
			}
			if attempt > 1 && advance && errors.Is(err, pgwrite.ErrFenced) {
				// The offset row moved under this worker's epoch after the
				// read above: the earlier COMMIT landed late (its
				// transaction held the row until then).
				if done, rerr := resolve(); rerr != nil || done {
					return rerr
				}
			}
			return err
		})
		if err == nil {
			if advance {
				part.Committed(next)
			}
			for _, c := range changes {
				if c.Superseded > 0 && !resolved {
					p.stats.superseded.Add(int64(c.Superseded))
					p.m.Superseded.WithLabelValues(c.W.Table().Ident().Sanitize()).Add(float64(c.Superseded))
				}
			}
			if p.dlqTable != nil && !resolved {
				p.m.DeadLetters.Add(float64(len(letters)))
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, pgwrite.ErrFenced) {
			return err
		}
		werr := &pgwrite.WriteError{Table: tables, Class: pgwrite.Classify(err), Topic: tp.Topic,
			Partition: tp.Partition, FirstOffset: first, LastOffset: last, Err: err}
		var giveUp *retry.GiveUpError
		if errors.As(err, &giveUp) {
			werr.Class, werr.Err = pgwrite.Classify(giveUp.Err), giveUp.Err
			return fmt.Errorf("gave up after %d attempts over %s (errors.retry.max_elapsed): %w", giveUp.Attempts, giveUp.Elapsed, werr)
		}
		return werr
	}
}

// offsetRange bounds the offsets of changes' rows (next-1 when there are
// none).
func offsetRange(changes []pgwrite.Change, next int64) (first, last int64) {
	first, last = next-1, next-1
	seen := false
	for _, c := range changes {
		if len(c.Rows) == 0 {
			continue
		}
		f, l := c.Rows[0].Offset, c.Rows[len(c.Rows)-1].Offset
		if !seen || f < first {
			first = f
		}
		if !seen || l > last {
			last = l
		}
		seen = true
	}
	return first, last
}

// changeTables names the tables of changes, for messages and metrics.
func changeTables(changes []pgwrite.Change) string {
	s := ""
	for i, c := range changes {
		if i > 0 {
			s += ","
		}
		s += c.W.Table().String()
	}
	return s
}

// Revoked implements source.Handler: the partitions' workers write what
// they hold and stop.
func (p *Pipeline) Revoked(_ context.Context, tps []source.TP) {
	ws := p.detach(tps)
	for _, w := range ws {
		w.stop(draining)
	}
	for _, w := range ws {
		select {
		case <-w.done:
		case <-p.hardCtx.Done():
			return
		}
	}
	if p.claims != nil {
		p.claims.Forget(tps)
	}
}

// Lost implements source.Handler: the partitions' workers stop at once and
// nothing is committed for them; the new owner replays from the last
// committed offset.
func (p *Pipeline) Lost(tps []source.TP) {
	ws := p.detach(tps)
	for _, w := range ws {
		w.stop(aborting)
	}
	for _, w := range ws {
		<-w.done
	}
	if p.claims != nil {
		p.claims.Forget(tps)
	}
}

func (p *Pipeline) detach(tps []source.TP) []*worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ws []*worker
	for _, tp := range tps {
		if w, ok := p.workers[tp]; ok {
			ws = append(ws, w)
			delete(p.workers, tp)
		}
	}
	p.m.Assigned.Set(float64(len(p.workers)))
	return ws
}

// dropFenced gives up a partition whose write was fenced: nothing more is
// written or committed for it until it is claimed again.
func (p *Pipeline) dropFenced(w *worker, err error) {
	p.log.Warn("partition fenced: another consumer owns it; dropping it",
		"topic", w.tp.Topic, "partition", w.tp.Partition, "err", err)
	p.m.Fenced.WithLabelValues(w.tp.Topic).Inc()
	p.claims.Fence(w.tp)
	p.consumer.Committer().Forget([]source.TP{w.tp})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.workers[w.tp] == w {
		delete(p.workers, w.tp)
	}
	p.m.Assigned.Set(float64(len(p.workers)))
}

func (p *Pipeline) progressLoop(ctx context.Context) {
	t := time.NewTicker(p.opts.ProgressInterval)
	defer t.Stop()
	last, lastRecords, lastRows := time.Now(), int64(0), int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			lastRecords, lastRows = p.logProgress(false, last, lastRecords, lastRows)
			last = now
		}
	}
}

// logProgress logs one progress line with rates since the previous one.
func (p *Pipeline) logProgress(final bool, since time.Time, prevRecords, prevRows int64) (int64, int64) {
	records, rows := p.stats.records.Load(), p.stats.rows.Load()
	secs := time.Since(since).Seconds()
	lag, known := p.consumer.Committer().Lag()
	attrs := []any{"records", records, "rows", rows, "skipped", p.stats.skipped.Load(), "filtered", p.stats.filtered.Load(), "dead_letters", p.stats.dead.Load(),
		"superseded", p.stats.superseded.Load(), "batches", p.stats.batches.Load(), "retries", p.stats.retries.Load(),
		"inflight_bytes", p.budget.InUse()}
	if !final && secs > 0 {
		attrs = append(attrs, "records_per_s", int64(float64(records-prevRecords)/secs), "rows_per_s", int64(float64(rows-prevRows)/secs))
	}
	if known {
		attrs = append(attrs, "lag", lag)
	}
	if p.merging != config.MergeNone {
		attrs = append(attrs, "backlog_staged", p.stats.staged.Load(), "backlog_replays", p.stats.replays.Load())
	}
	msg := "progress"
	if final {
		msg = "totals"
		var ru syscall.Rusage
		if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
			attrs = append(attrs, "peak_rss_mib", ru.Maxrss/1024) // Linux reports KiB
		}
	}
	p.log.Info(msg, attrs...)
	return records, rows
}

// Stats are running totals, for tests and the embedding API. Records =
// records with rows + Skipped + Filtered + DeadLetters.
type Stats struct {
	Records, Rows, Skipped, Filtered, DeadLetters, Batches, Retries int64
	// Superseded counts upsert changes folded into a later change of the
	// same key in the same batch.
	Superseded int64
	// BacklogStaged counts rows staged for a backlog merge, BacklogReplays
	// merges that failed and whose records were written again batch by
	// batch (batch.backlog_merge).
	BacklogStaged, BacklogReplays int64
}

// Stats returns the running totals.
func (p *Pipeline) Stats() Stats {
	return Stats{Records: p.stats.records.Load(), Rows: p.stats.rows.Load(), Skipped: p.stats.skipped.Load(), Filtered: p.stats.filtered.Load(), DeadLetters: p.stats.dead.Load(),
		Batches: p.stats.batches.Load(), Retries: p.stats.retries.Load(), Superseded: p.stats.superseded.Load(),
		BacklogStaged: p.stats.staged.Load(), BacklogReplays: p.stats.replays.Load()}
}
