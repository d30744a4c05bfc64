// Package pipeline is kafka2pg's engine: it consumes the configured topics
// with a Kafka consumer group, hands each assigned partition to a worker
// that maps, batches and writes its records in offset order, and commits a
// partition's offset to Kafka only after the transaction holding every
// record below it has committed in PostgreSQL.
//
// Concurrency: one poll loop, one worker goroutine per assigned partition
// (at most postgres.max_conns write at once, bounded by the pool), one
// committer, one progress logger. Run owns and waits for all of them.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
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
}

// ErrAborted is returned by Run after Abort.
var ErrAborted = errors.New("aborted: stopped without draining")

// Pipeline is one running kafka2pg instance. Create it with New, run it with
// Run; Abort may be called from any goroutine.
type Pipeline struct {
	cfg    *config.Config
	opts   Options
	log    *slog.Logger
	pool   *pgxpool.Pool
	client *kgo.Client
	routes map[string]*route
	budget *budget
	stats  stats
	m      *telemetry.Metrics

	hardCtx   context.Context // cancelled by Abort
	hardStop  context.CancelFunc
	fatalOnce sync.Once
	fatalErr  error
	fatalCh   chan struct{}
	endCh     chan struct{} // closed when StopAtEnd is satisfied
	endOnce   sync.Once
	commitNow chan struct{} // capacity 1: commit without waiting for the tick

	wg       sync.WaitGroup // workers
	mu       sync.Mutex
	workers  map[tp]*worker
	durable  map[tp]kgo.EpochOffset // next offset whose predecessors are all durable
	commited map[tp]int64           // last offset committed to Kafka
	hwm      map[tp]int64           // high watermarks seen in fetches
	ends     map[tp]int64           // StopAtEnd targets
	commitMu sync.Mutex             // serialises snapshot+commit so commits never go backwards

	// Exactly-once only (store is nil otherwise).
	store     *pgwrite.OffsetStore
	owner     string               // names this instance in the offset table
	claims    map[tp]pgwrite.Claim // epoch and stored offset of each claimed partition
	fenced    map[tp]bool          // partitions another consumer took from us
	failpoint float64              // test-only: SIGKILL after a PostgreSQL commit with this probability

	formats *format.Set // the routes' formats; registry decoders are shared

	// errors.tolerance: all — bad records go to one of these.
	tolerateAll bool
	dlqTable    *dlqTable
	dlqTopic    *dlqTopic
}

// New connects to PostgreSQL, reads every route's table from the catalog
// (creating raw tables), checks the routes against the tables and creates
// the Kafka client. Nothing is consumed until Run.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Pipeline, error) {
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
	p := &Pipeline{
		cfg: cfg, opts: opts, log: opts.Logger,
		routes:    map[string]*route{},
		m:         opts.Metrics,
		budget:    newBudget(int64(cfg.Batch.MaxInflightBytes), opts.Metrics),
		fatalCh:   make(chan struct{}),
		endCh:     make(chan struct{}),
		commitNow: make(chan struct{}, 1),
		workers:   map[tp]*worker{},
		durable:   map[tp]kgo.EpochOffset{},
		commited:  map[tp]int64{},
		hwm:       map[tp]int64{},
		claims:    map[tp]pgwrite.Claim{},
		fenced:    map[tp]bool{},
	}
	p.failpoint = failpointFromEnv()
	p.formats = format.NewSet(cfg.SchemaRegistry)
	if cfg.Errors.Tolerance == config.ToleranceAll {
		p.tolerateAll = true
		if cfg.Errors.DLQ.Table != "" {
			p.dlqTable = newDLQTable(cfg.Errors.DLQ.Table, cfg.Kafka.Group)
		} else {
			p.dlqTopic = &dlqTopic{topic: cfg.Errors.DLQ.Topic}
		}
	}
	if cfg.Delivery == config.DeliveryExactlyOnce {
		schema, table := cfg.Postgres.OffsetsTableName()
		p.store = pgwrite.NewOffsetStore(schema, table, cfg.Kafka.Group)
		host, _ := os.Hostname()
		p.owner = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	p.hardCtx, p.hardStop = context.WithCancel(context.Background())

	tables, err := p.prepareRoutes(ctx)
	if err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.Postgres.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres.url: %w", p.redactErr(err))
	}
	pcfg.MaxConns = int32(cfg.Postgres.MaxConns)
	if _, ok := pcfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		pcfg.ConnConfig.RuntimeParams["application_name"] = "kafka2pg"
	}
	pcfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		table.RegisterTypes(c.TypeMap(), tables)
		return nil
	}
	if p.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", p.redactErr(err))
	}

	kopts, err := source.ClientOpts(cfg.Kafka)
	if err != nil {
		p.pool.Close()
		return nil, err
	}
	reset := kgo.NewOffset().AtStart()
	if cfg.Kafka.Start == "latest" {
		reset = kgo.NewOffset().AtEnd()
	}
	kopts = append(kopts,
		kgo.ConsumerGroup(cfg.Kafka.Group),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(reset),
		kgo.SessionTimeout(time.Duration(cfg.Kafka.SessionTimeout)),
		kgo.FetchMaxBytes(int32(cfg.Kafka.FetchMaxBytes)),
		// A partition's share of one fetch is a quarter of it (at most 1 MiB),
		// so a backlog in one partition cannot fill every fetch and, with
		// it, the whole in-flight budget while the others wait.
		kgo.FetchMaxPartitionBytes(int32(max(min(int64(cfg.Kafka.FetchMaxBytes)/4, 1<<20), 1))),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.OnPartitionsRevoked(p.onRevoked),
		kgo.OnPartitionsLost(p.onLost),
	)
	if p.store != nil {
		kopts = append(kopts, kgo.AdjustFetchOffsetsFn(p.claim))
	}
	if cfg.Kafka.TopicPattern != "" {
		kopts = append(kopts, kgo.ConsumeRegex(), kgo.ConsumeTopics(cfg.Kafka.TopicPattern))
	} else {
		kopts = append(kopts, kgo.ConsumeTopics(cfg.Kafka.Topics...))
	}
	if p.client, err = kgo.NewClient(kopts...); err != nil {
		p.pool.Close()
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return p, nil
}

// prepareRoutes reads (or, in raw mode, creates) each route's table on one
// connection and builds its writer and mapper spec.
func (p *Pipeline) prepareRoutes(ctx context.Context) ([]*table.Table, error) {
	conn, err := pgx.Connect(ctx, p.cfg.Postgres.URL)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", p.redactErr(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if p.store != nil {
		if err := p.store.Ensure(ctx, conn); err != nil {
			return nil, err
		}
	}
	if p.dlqTable != nil {
		if err := p.dlqTable.ensure(ctx, conn); err != nil {
			return nil, err
		}
	}
	var tables []*table.Table
	for i := range p.cfg.Routes {
		rc := &p.cfg.Routes[i]
		r, err := PrepareRoute(ctx, conn, rc, true, p.formats)
		if err != nil {
			return nil, fmt.Errorf("routes[%d] (table %s): %w", i, r.tableName, err)
		}
		if b := r.bound(); b != nil {
			tables = append(tables, b.table)
		}
		for _, t := range rc.AllTopics() {
			p.routes[t] = r
		}
	}
	return tables, nil
}

// Run consumes until ctx is cancelled (a soft stop: fetching stops, every
// worker writes what it holds, offsets are committed and the group is left,
// within cfg.ShutdownTimeout), until a record or write fails for good (the
// same soft stop, then the error is returned), until StopAtEnd is satisfied,
// or until Abort. Run closes the pipeline's connections before it returns.
func (p *Pipeline) Run(ctx context.Context) error {
	defer p.pool.Close()
	p.log.Info("kafka2pg starting", "config", p.cfg.Redacted())
	if p.opts.StopAtEnd {
		if err := p.loadEnds(ctx); err != nil {
			p.client.Close()
			return err
		}
	}

	if p.cfg.HTTP.Listen != "" {
		srv, err := telemetry.Listen(p.cfg.HTTP.Listen, p.m)
		if err != nil {
			p.client.Close()
			return fmt.Errorf("http.listen: %w", err)
		}
		defer srv.Close() //nolint:errcheck // best effort at exit
		p.log.Info("serving /metrics, /healthz and /readyz", "addr", srv.Addr())
	}
	p.m.SetRunning(true)
	defer p.m.SetRunning(false)

	pollCtx, stopPolling := context.WithCancel(p.hardCtx)
	defer stopPolling()
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		p.pollLoop(pollCtx)
	}()
	bgCtx, stopBg := context.WithCancel(p.hardCtx)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); p.commitLoop(bgCtx) }()
	go func() { defer bg.Done(); p.progressLoop(bgCtx) }()

	reason := "stop requested"
	select {
	case <-ctx.Done():
	case <-p.fatalCh:
		reason = "error"
	case <-p.endCh:
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
		if err := p.commit(cctx, nil); err != nil {
			p.log.Warn("final offset commit failed; the next run replays from the last committed offsets", "err", err)
		}
		cancel()
		p.client.CloseAllowingRebalance()
	} else {
		p.client.Close()
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

func (p *Pipeline) pollLoop(ctx context.Context) {
	// Polls take at most as many records as fit the budget's free room at
	// the average record cost seen so far, so one poll overshoots the limit
	// by little; what a poll does not take stays in kgo's buffer (at most one
	// fetch per broker, not refetched until consumed).
	avg := int64(4096) // a cautious first guess; polls refine it
	for {
		free, err := p.budget.wait(ctx)
		if err != nil {
			return
		}
		fetches := p.client.PollRecords(ctx, int(min(max(free/avg, 16), 50000)))
		if fetches.IsClientClosed() || ctx.Err() != nil {
			p.client.AllowRebalance()
			return
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			p.log.Warn("fetch error; the client retries", "topic", topic, "partition", partition, "err", err)
		})
		var polled, n int64
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			for _, r := range fp.Records {
				polled += recordSize(r)
			}
			n += int64(len(fp.Records))
			key := tp{fp.Topic, fp.Partition}
			w, err := p.worker(key)
			if err != nil {
				p.fail(err)
				return
			}
			if w == nil {
				return // fenced: another consumer owns it; its records are not ours to write
			}
			p.mu.Lock()
			p.hwm[key] = fp.HighWatermark
			p.mu.Unlock()
			w.push(fp.Records)
		})
		if n > 0 {
			avg = max((avg*3+polled/n)/4, 64)
		}
		p.client.AllowRebalance()
	}
}

// worker returns the partition's worker, starting it on first use. Called
// only from the poll loop between a poll and AllowRebalance, so it never
// races with a revoke of the same partition.
func (p *Pipeline) worker(key tp) (*worker, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.workers[key]; ok {
		return w, nil
	}
	if p.fenced[key] {
		return nil, nil
	}
	r, ok := p.routes[key.topic]
	if !ok {
		return nil, fmt.Errorf("topic %s matches kafka.topic_pattern but no route names it", key.topic)
	}
	ctx, cancel := context.WithCancel(p.hardCtx)
	claim, claimed := p.claims[key]
	if p.store != nil && !claimed {
		// Exactly-once: records of a partition this instance did not claim
		// cannot be written (kgo hands out only assigned partitions, and
		// every assignment is claimed first; this is the second lock).
		cancel()
		p.fenced[key] = true
		return nil, nil
	}
	w := &worker{p: p, tp: key, route: r, ctx: ctx, cancel: cancel,
		epoch: claim.Epoch, stored: claim.Next,
		notify: make(chan struct{}, 1), done: make(chan struct{}),
		mRecords: p.m.Records.WithLabelValues(key.topic), mSkipped: p.m.Skipped.WithLabelValues(key.topic),
		mRows: p.m.Rows.WithLabelValues(r.tableName), mBatches: p.m.Batches.WithLabelValues(r.tableName),
		mSeconds: p.m.BatchSeconds.WithLabelValues(r.tableName), mBatchRows: p.m.BatchRows.WithLabelValues(r.tableName)}
	p.workers[key] = w
	p.m.Assigned.Set(float64(len(p.workers)))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		w.run()
	}()
	return w, nil
}

// write writes one batch, retrying transient failures with exponential
// backoff and jitter until it succeeds, ctx ends, or errors.retry.max_elapsed
// passes.
func (p *Pipeline) write(ctx context.Context, w *worker, rows []table.Row, dead []deadLetter, first, last, next int64) error {
	r, key := w.route, w.tp
	var before func(context.Context, pgx.Tx) error
	if p.store != nil || (p.dlqTable != nil && len(dead) > 0) {
		before = func(ctx context.Context, tx pgx.Tx) error {
			if p.dlqTable != nil {
				if err := p.dlqTable.write(ctx, tx, dead); err != nil {
					return fmt.Errorf("writing the dead-letter table: %w", err)
				}
			}
			if p.store != nil {
				return p.store.Advance(ctx, tx, key.topic, key.partition, w.epoch, w.stored, next)
			}
			return nil
		}
	}
	bo := newBackoff(p.cfg.Errors.Retry)
	stalled := false
	defer func() {
		if stalled {
			p.m.Stalled(-1)
		}
	}()
	for attempt := 1; ; attempt++ {
		if attempt > 1 && p.store != nil {
			// The previous attempt may have committed although its COMMIT
			// was not acknowledged: the offset row says which.
			done, err := p.committedBefore(ctx, w, next)
			if err == nil && done {
				p.log.Info("an unacknowledged commit had succeeded", "topic", key.topic, "partition", key.partition, "next_offset", next)
				return nil
			}
			if errors.Is(err, pgwrite.ErrFenced) {
				return err
			}
		}
		var wr *pgwrite.Writer // nil before an auto_create table exists: no rows then
		if w.bound != nil {
			wr = w.bound.writer
		}
		err := wr.Write(ctx, p.pool, rows, before)
		if err == nil {
			if p.dlqTable != nil {
				p.m.DeadLetters.Add(float64(len(dead)))
			}
			if attempt > 1 {
				p.log.Info("write succeeded after retries", "table", r.tableName, "topic", key.topic, "partition", key.partition, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		werr := &pgwrite.WriteError{Table: r.tableName, Class: pgwrite.Classify(err), Topic: key.topic,
			Partition: key.partition, FirstOffset: first, LastOffset: last, Err: err}
		if werr.Class == pgwrite.Fenced {
			return err
		}
		if werr.Class != pgwrite.Transient {
			return werr
		}
		if bo.exhausted() {
			return fmt.Errorf("gave up after %d attempts over %s (errors.retry.max_elapsed): %w", attempt, bo.elapsed(), werr)
		}
		p.stats.retries.Add(1)
		p.m.Retries.WithLabelValues(r.tableName).Inc()
		if !stalled {
			stalled = true
			p.m.Stalled(1)
		}
		wait := bo.next()
		p.log.Warn("write failed, retrying", "table", r.tableName, "topic", key.topic, "partition", key.partition,
			"attempt", attempt, "backoff", wait.Round(time.Millisecond), "err", werr.Err.Error())
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// markDurable records that every record of the partition below off.Offset
// has its effect committed in PostgreSQL.
func (p *Pipeline) markDurable(key tp, off kgo.EpochOffset) {
	p.mu.Lock()
	p.durable[key] = off
	end, atEnd := p.ends[key]
	p.mu.Unlock()
	if atEnd && off.Offset >= end {
		// StopAtEnd: a partition reached its end; commit now rather than
		// at the next tick, so the run ends as soon as it is done.
		select {
		case p.commitNow <- struct{}{}:
		default:
		}
	}
}

func (p *Pipeline) commitLoop(ctx context.Context) {
	t := time.NewTicker(p.opts.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.commitNow:
		case <-t.C:
		}
		if err := p.commit(ctx, nil); err != nil && ctx.Err() == nil {
			p.log.Warn("offset commit failed; retried at the next interval", "err", err)
		}
	}
}

// commit commits the durable offsets that are ahead of Kafka's (only those
// of the given partitions when only is non-nil).
func (p *Pipeline) commit(ctx context.Context, only map[tp]bool) error {
	p.commitMu.Lock()
	defer p.commitMu.Unlock()
	p.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	n := 0
	for k, off := range p.durable {
		if only != nil && !only[k] {
			continue
		}
		if c, ok := p.commited[k]; ok && c >= off.Offset {
			continue
		}
		if offsets[k.topic] == nil {
			offsets[k.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[k.topic][k.partition] = off
		n++
	}
	p.mu.Unlock()
	if n == 0 {
		return nil
	}
	var cerr error
	p.client.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, t := range resp.Topics {
			for _, part := range t.Partitions {
				if err := kerr.ErrorForCode(part.ErrorCode); err != nil {
					cerr = fmt.Errorf("topic %s partition %d: %w", t.Topic, part.Partition, err)
					continue
				}
				k := tp{t.Topic, part.Partition}
				p.commited[k] = offsets[t.Topic][part.Partition].Offset
			}
		}
	})
	if cerr == nil {
		p.m.OffsetCommits.WithLabelValues("ok").Inc()
		p.checkEnd()
	} else {
		p.m.OffsetCommits.WithLabelValues("error").Inc()
	}
	return cerr
}

// onRevoked runs (from kgo, between polls) when partitions are taken away in
// a rebalance or when leaving the group: their workers write what they hold,
// their offsets are committed, then they are given up.
func (p *Pipeline) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	ws, keys := p.detach(revoked)
	if len(keys) == 0 {
		return
	}
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
	if err := p.commit(ctx, keys); err != nil {
		p.log.Warn("commit on revoke failed; the new owner replays from the last committed offset", "err", err)
	}
	p.forget(keys)
	p.log.Info("partitions revoked", "partitions", revoked)
}

// onLost runs when partitions were lost without a clean revoke (session
// expired, fenced): their workers stop at once and nothing is committed for
// them; the new owner replays from the last committed offset.
func (p *Pipeline) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	ws, keys := p.detach(lost)
	for _, w := range ws {
		w.stop(aborting)
	}
	for _, w := range ws {
		<-w.done
	}
	p.forget(keys)
	if len(keys) > 0 {
		p.log.Warn("partitions lost", "partitions", lost)
	}
}

func (p *Pipeline) detach(parts map[string][]int32) ([]*worker, map[tp]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ws []*worker
	keys := map[tp]bool{}
	for topic, ps := range parts {
		for _, part := range ps {
			k := tp{topic, part}
			keys[k] = true
			if w, ok := p.workers[k]; ok {
				ws = append(ws, w)
				delete(p.workers, k)
			}
			p.m.Lag.DeleteLabelValues(k.topic, strconv.Itoa(int(k.partition)))
		}
	}
	p.m.Assigned.Set(float64(len(p.workers)))
	return ws, keys
}

func (p *Pipeline) forget(keys map[tp]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range keys {
		delete(p.claims, k)
		delete(p.durable, k)
		delete(p.commited, k)
		delete(p.hwm, k)
	}
}

// loadEnds records, for StopAtEnd, each partition's end offset now and the
// group's committed offsets, so that partitions already done count as done.
func (p *Pipeline) loadEnds(ctx context.Context) error {
	adm := kadm.NewClient(p.client)
	topics := p.cfg.Kafka.Topics
	if p.cfg.Kafka.TopicPattern != "" {
		return errors.New("stopping at the end offsets needs kafka.topics, not kafka.topic_pattern")
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("listing end offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("listing start offsets: %w", err)
	}
	// A group's coordinator may not be ready yet (a new group, a broker that
	// just started): retry what Kafka says is retriable.
	var committed kadm.OffsetResponses
	for attempt := 0; ; attempt++ {
		committed, err = adm.FetchOffsets(ctx, p.cfg.Kafka.Group)
		if err == nil || !kerr.IsRetriable(err) || attempt >= 60 || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("fetching committed offsets of group %s: %w", p.cfg.Kafka.Group, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ends = map[tp]int64{}
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = fmt.Errorf("end offset of topic %s partition %d: %w", o.Topic, o.Partition, o.Err)
			return
		}
		k := tp{o.Topic, o.Partition}
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && s.Offset >= o.Offset {
			return // empty partition
		}
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.At >= o.Offset {
			return // already done
		}
		p.ends[k] = o.Offset
	})
	if lerr != nil {
		return lerr
	}
	if len(p.ends) == 0 {
		p.endOnce.Do(func() { close(p.endCh) })
	}
	return nil
}

func (p *Pipeline) checkEnd() {
	if p.ends == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, end := range p.ends {
		if p.commited[k] < end {
			return
		}
	}
	p.endOnce.Do(func() { close(p.endCh) })
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
	var lag int64
	known := false
	p.mu.Lock()
	for k, h := range p.hwm {
		if d, ok := p.durable[k]; ok {
			l := max(h-d.Offset, 0)
			lag += l
			known = true
			p.m.Lag.WithLabelValues(k.topic, strconv.Itoa(int(k.partition))).Set(float64(l))
		}
	}
	p.mu.Unlock()
	attrs := []any{"records", records, "rows", rows, "skipped", p.stats.skipped.Load(), "dead_letters", p.stats.dead.Load(),
		"batches", p.stats.batches.Load(), "retries", p.stats.retries.Load(),
		"inflight_bytes", p.budget.inUse()}
	if !final && secs > 0 {
		attrs = append(attrs, "records_per_s", int64(float64(records-prevRecords)/secs), "rows_per_s", int64(float64(rows-prevRows)/secs))
	}
	if known {
		attrs = append(attrs, "lag", lag)
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

// Stats are running totals, for tests and the embedding API.
type Stats struct {
	Records, Rows, Skipped, DeadLetters, Batches, Retries int64
}

// Stats returns the running totals.
func (p *Pipeline) Stats() Stats {
	return Stats{Records: p.stats.records.Load(), Rows: p.stats.rows.Load(), Skipped: p.stats.skipped.Load(), DeadLetters: p.stats.dead.Load(),
		Batches: p.stats.batches.Load(), Retries: p.stats.retries.Load()}
}

// redactErr hides the connection string's password should a connection
// error quote it (pgx redacts it itself; this is the second lock). The
// wrapped error stays reachable for errors.As.
func (p *Pipeline) redactErr(err error) error {
	return RedactPassword(err, p.cfg.Postgres.URL)
}
