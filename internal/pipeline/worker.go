package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/batch"
	"github.com/kafka2pg/kafka2pg/internal/dlq"
	"github.com/kafka2pg/kafka2pg/internal/eos"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/retry"
	"github.com/kafka2pg/kafka2pg/internal/route"
	"github.com/kafka2pg/kafka2pg/internal/source"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// stop modes, in increasing severity.
const (
	running  = iota
	draining // write everything received, then exit
	aborting // exit as soon as possible, writing nothing more
)

// rowMapper is the route stage: it turns one record into rows (see
// route.Mapper.Map for the errors).
type rowMapper interface {
	Map(ctx context.Context, r *kgo.Record, rest []*kgo.Record) ([]route.Row, error)
	Flushed()
	// Filtered reports that the last record mapped made no row because a
	// route's filter excluded it.
	Filtered() bool
	// Prefetch runs Go transforms for recs ahead of Map, at most
	// PrefetchWindow records at a time (0: none to run).
	Prefetch(ctx context.Context, recs []*kgo.Record)
	PrefetchWindow() int
	// Tables names the routes' tables, for messages and metrics.
	Tables() string
}

// workerDeps are a worker's collaborators.
type workerDeps struct {
	mapper rowMapper
	// commit is the transaction stage: it makes changes, the dead letters
	// (dead-letter table) and the partition's move to next durable in one
	// transaction, retrying transient failures; a *pgwrite.WriteError of
	// class Data means the database rejected the rows.
	commit func(ctx context.Context, changes []pgwrite.Change, letters []dlq.Letter, next int64) error
	// produce writes dead letters to the dead-letter topic and waits for
	// the acknowledgement; nil without one.
	produce func(ctx context.Context, letters []dlq.Letter) error
	// durable reports that every record below off.Offset is durable.
	durable func(off kgo.EpochOffset)
	// fail stops the pipeline with err; fenced gives the partition up.
	fail   func(err error)
	fenced func(err error)
	budget *source.Budget
	policy batch.Policy
	retry  retry.Policy
	// tolerate is errors.tolerance: all: bad records become dead letters.
	tolerate bool
	// always writes a transaction for every batch, rows or not
	// (exactly-once: the offset moves in it).
	always bool
	log    *slog.Logger
	m      *telemetry.Metrics
	stats  *stats
	// backlog is batch.backlog_merge's collaborators; nil when it is off.
	backlog *backlogDeps
}

// worker owns one assigned partition: it maps that partition's records to
// rows, batches them and writes each batch in one transaction, strictly in
// offset order. Only after a batch commits does it report the next offset as
// durable. The poll loop feeds it with push; the pipeline stops it with stop
// and waits on done.
type worker struct {
	workerDeps
	tp     source.TP
	ctx    context.Context // cancelled on abort: in-flight writes roll back
	cancel context.CancelFunc
	notify chan struct{} // capacity 1: "the queue or the mode changed"
	done   chan struct{} // closed when run returns

	mRecords, mSkipped prometheus.Counter

	bl *backlog // what is staged for a backlog merge; nil when it is off
	// rest is how many records the worker has taken beyond the batch it
	// is flushing (records at hand: a backlog keeps staging).
	rest int

	mu     sync.Mutex
	queue  []*kgo.Record
	held   int64 // budget bytes of queued records
	mode   int
	exited bool
}

func newWorker(ctx context.Context, tp source.TP, deps workerDeps) *worker {
	ctx, cancel := context.WithCancel(ctx)
	w := &worker{workerDeps: deps, tp: tp, ctx: ctx, cancel: cancel,
		notify: make(chan struct{}, 1), done: make(chan struct{}),
		mRecords: deps.m.Records.WithLabelValues(tp.Topic), mSkipped: deps.m.Skipped.WithLabelValues(tp.Topic)}
	if deps.backlog != nil {
		w.bl = newBacklog(deps.backlog)
	}
	return w
}

// push queues records; it never blocks. Records pushed after the worker
// exited are dropped and take no budget.
func (w *worker) push(recs []*kgo.Record) {
	var n int64
	for _, r := range recs {
		n += source.RecordSize(r)
	}
	w.mu.Lock()
	if w.exited {
		w.mu.Unlock()
		return
	}
	w.queue = append(w.queue, recs...)
	w.held += n
	w.mu.Unlock()
	w.budget.Add(n)
	w.wake()
}

// queued reports whether records wait in the queue.
func (w *worker) queued() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue) > 0
}

func (w *worker) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// stop asks the worker to drain or abort; it does not wait (see done).
func (w *worker) stop(mode int) {
	w.mu.Lock()
	if mode > w.mode {
		w.mode = mode
	}
	w.mu.Unlock()
	if mode == aborting {
		w.cancel()
	}
	w.wake()
}

// take hands the queued records to the worker; their budget bytes move to
// the batch, which releases them when it is durable.
func (w *worker) take() ([]*kgo.Record, int64, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q, n := w.queue, w.held
	w.queue, w.held = nil, 0
	return q, n, w.mode
}

// pending is the records taken but not yet durable.
type pending struct {
	changes  []pgwrite.Change // rows per table version, tables in route order
	bindings []*route.Binding // bindings[i] is the version changes[i] writes
	offs     []int64          // offsets of the records that became rows, in order
	epochs   []int32          // their leader epochs (a split batch marks a part durable)
	// recs are those records, kept only with errors.tolerance: all (to
	// dead-letter the ones the database rejects). Otherwise a record is
	// not referenced once mapped, so that the fetched memory it shares
	// with its neighbours is freed before the batch is written.
	recs     []*kgo.Record
	keepRecs bool
	spare    [][]table.Row // emptied row slices of earlier batches, reused
	dead     []dlq.Letter  // records that could not become rows (errors.tolerance: all)
	rows     int
	records  int // records taken into the batch: with rows, skipped or dead
	bytes    int64
	// firstOff and firstTime are the first record taken's offset and
	// Kafka timestamp, lastOff and lastEpoch the last one's offset and
	// leader epoch (valid when records > 0).
	firstOff  int64
	firstTime time.Time
	lastOff   int64
	lastEpoch int32
	started   time.Time
}

// add appends one record's rows.
func (b *pending) add(r *kgo.Record, rows []route.Row) {
	if len(rows) == 0 {
		return
	}
	for _, row := range rows {
		i := slices.Index(b.bindings, row.B)
		if i < 0 {
			// Tables in the order of their routes (parents before
			// children); a route's tables in the order they appear.
			i = len(b.bindings)
			for i > 0 && b.bindings[i-1].Route.Index > row.B.Route.Index {
				i--
			}
			b.bindings = slices.Insert(b.bindings, i, row.B)
			var rows []table.Row
			if n := len(b.spare); n > 0 {
				rows, b.spare = b.spare[n-1], b.spare[:n-1]
			}
			b.changes = slices.Insert(b.changes, i, pgwrite.Change{W: row.B.Writer, Rows: rows})
		}
		b.changes[i].Rows = append(b.changes[i].Rows, row.Row)
	}
	b.offs = append(b.offs, r.Offset)
	b.epochs = append(b.epochs, r.LeaderEpoch)
	if b.keepRecs {
		b.recs = append(b.recs, r)
	}
	b.rows += len(rows)
}

// part returns the changes of recs[lo:hi] (rows are in offset order in
// every change).
func (b *pending) part(lo, hi int) []pgwrite.Change {
	if lo == 0 && hi == len(b.offs) {
		return b.changes
	}
	if lo >= hi {
		return nil
	}
	first, last := b.offs[lo], b.offs[hi-1]
	out := make([]pgwrite.Change, 0, len(b.changes))
	for _, c := range b.changes {
		i := sort.Search(len(c.Rows), func(i int) bool { return c.Rows[i].Offset >= first })
		j := sort.Search(len(c.Rows), func(j int) bool { return c.Rows[j].Offset > last })
		if i < j {
			out = append(out, pgwrite.Change{W: c.W, Rows: c.Rows[i:j]})
		}
	}
	return out
}

func (b *pending) reset() {
	// The row slices are kept for the next batches (emptied, so that the
	// rows' values can be collected): the batch is durable and nothing
	// else holds them.
	for _, c := range b.changes {
		if cap(c.Rows) > 0 && len(b.spare) < 16 {
			clear(c.Rows)
			b.spare = append(b.spare, c.Rows[:0])
		}
	}
	clear(b.changes)
	b.changes = b.changes[:0]
	clear(b.bindings)
	b.bindings = b.bindings[:0]
	b.offs = b.offs[:0]
	b.epochs = b.epochs[:0]
	clear(b.recs)
	b.recs = b.recs[:0]
	b.dead = nil
	b.rows, b.records, b.bytes = 0, 0, 0
}

func (w *worker) run() {
	defer close(w.done)
	b := pending{keepRecs: w.tolerate}
	var spare int64 // budget of records taken but not in the batch yet
	defer func() {
		w.mu.Lock()
		w.exited = true
		held := w.held
		w.queue, w.held = nil, 0
		w.mu.Unlock()
		if w.bl != nil {
			held += w.bl.held // rows buffered for staging and not sent
			w.bl.held = 0
		}
		w.budget.Release(held + b.bytes + spare)
	}()
	maxWait := w.policy.MaxWait
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		recs, n, mode := w.take()
		if mode == aborting {
			spare += n
			return
		}
		if len(recs) == 0 {
			if mode == draining {
				w.flushAs(&b, true)
				return
			}
			if b.records == 0 {
				// Idle. Rows staged for a backlog merge wait at most
				// batch.backlog_max_age for the records the partition is
				// still behind by.
				var due <-chan time.Time
				if w.bl != nil && w.bl.records > 0 {
					timer.Reset(max(time.Until(w.bl.since.Add(w.bl.deps.maxAge)), 0))
					due = timer.C
				}
				select {
				case <-w.notify:
				case <-due:
					if !w.flushAs(&b, true) {
						return
					}
				case <-w.ctx.Done():
					return
				}
				timer.Stop()
				continue
			}
			if w.policy.Adaptive {
				// Group commit: nothing more is queued, so write now;
				// what arrives meanwhile makes the next batch.
				if !w.flush(&b) {
					return
				}
				continue
			}
			timer.Reset(max(time.Until(b.started.Add(maxWait)), 0))
			select {
			case <-w.notify:
				timer.Stop()
				continue
			case <-timer.C:
				if !w.flush(&b) {
					return
				}
			case <-w.ctx.Done():
				return
			}
			continue
		}
		spare += n
		window := w.mapper.PrefetchWindow()
		for i, r := range recs {
			if window > 0 && i%window == 0 {
				w.mapper.Prefetch(w.ctx, recs[i:min(i+window, len(recs))])
			}
			size := source.RecordSize(r)
			if !w.takeRecord(&b, r, recs[i:], size) {
				return // the pipeline was told, or the worker is aborting
			}
			spare -= size
			if w.policy.Full(b.rows, b.bytes) {
				w.rest = len(recs) - i - 1
				ok := w.flush(&b)
				w.rest = 0
				if !ok {
					return
				}
			}
		}
		if maxWait == 0 || (b.records > 0 && time.Since(b.started) >= maxWait) {
			if !w.flush(&b) {
				return
			}
		}
	}
}

// takeRecord maps r (rest is r and the records after it) into b, which
// takes its size in budget bytes (the caller writes b when it is full). It returns
// false when the worker must exit: the pipeline was told, or it is
// aborting. A bad record stops the pipeline after the records before it
// are written (errors.tolerance: none) or becomes a dead letter.
func (w *worker) takeRecord(b *pending, r *kgo.Record, rest []*kgo.Record, size int64) bool {
	if err, ok := w.mapRecord(b, r, rest); !ok {
		return false
	} else if err != nil {
		var rerr *transform.RecordError
		if errors.As(err, &rerr) {
			w.m.RecordErrors.WithLabelValues(w.tp.Topic, string(rerr.Stage)).Inc()
		}
		if !w.tolerate {
			// Write what came before the bad record, then stop: nothing
			// at or after it is written or committed. Its budget and the
			// rest's stay with the caller, released on exit.
			if w.flushAs(b, true) {
				w.fail(err)
			}
			return false
		}
		b.dead = append(b.dead, dlq.FromError(r, err))
	}
	if b.records == 0 {
		b.started = time.Now()
		b.firstOff, b.firstTime = r.Offset, r.Timestamp
	}
	b.records++
	b.bytes += size
	b.lastOff, b.lastEpoch = r.Offset, r.LeaderEpoch
	return true
}

// mapRecord maps r into b (rest is r and the records after it, for
// auto_create to learn the table from). It returns (nil, true) when r
// became rows or was skipped, (record error, true) for a bad record, and
// (_, false) when the worker must exit: the pipeline was told, or it is
// aborting. A route that moved to a newer table version has the batch
// mapped for the older one written first; a schema registry or DDL that
// cannot reach its server is retried like a database outage.
func (w *worker) mapRecord(b *pending, r *kgo.Record, rest []*kgo.Record) (error, bool) {
	var rows []route.Row
	exit := false
	hooks := w.m.RetryHooks(func(attempt int, wait time.Duration, err error) {
		var ue *registry.UnavailableError
		if errors.As(err, &ue) {
			w.m.RegistryErrors.Inc()
		} else {
			w.m.Retries.WithLabelValues(w.mapper.Tables()).Inc() // DDL of auto_create/auto_evolve
		}
		w.log.Warn("retrying", "topic", w.tp.Topic, "partition", w.tp.Partition, "offset", r.Offset,
			"backoff", wait.Round(time.Millisecond), "err", err.Error())
	})
	err := retry.Do(w.ctx, w.retry, transient, hooks, func(int) error {
		for {
			var err error
			rows, err = w.mapper.Map(w.ctx, r, rest)
			if !errors.Is(err, route.ErrFlush) {
				return err
			}
			if !w.flushAs(b, true) {
				exit = true
				return nil
			}
		}
	})
	switch {
	case exit:
		return nil, false
	case err == nil:
		switch {
		case len(rows) > 0:
		case w.mapper.Filtered():
			w.stats.filtered.Add(1)
		default:
			w.stats.skipped.Add(1)
			w.mSkipped.Inc()
		}
		b.add(r, rows)
		return nil, true
	case route.IsRecordError(err):
		return err, true
	}
	if retry.IsGiveUp(err) {
		err = fmt.Errorf("topic %s partition %d offset %d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	w.failed(err)
	return nil, false
}

// transient reports an error worth retrying: the schema registry or
// PostgreSQL could not be reached, a lock wait timed out, or a Go transform
// said so (kafka2pg.Retryable).
func transient(err error) bool {
	var ue *registry.UnavailableError
	return errors.As(err, &ue) || pgwrite.IsTransient(err) || route.IsRetryable(err)
}

// flush writes the batch and marks its last offset durable. It returns
// false when the worker must exit: the write failed for good (the pipeline
// is told) or the worker is aborting.
func (w *worker) flush(b *pending) bool { return w.flushAs(b, false) }

// flushAs is flush; final (a stop, a bad record, a table version change)
// stages nothing and merges what is staged (batch.backlog_merge).
func (w *worker) flushAs(b *pending, final bool) bool {
	defer w.mapper.Flushed()
	if w.bl != nil {
		return w.flushBacklog(b, final)
	}
	return w.writeBatch(b)
}

// writeBatch writes b batch by batch, as flush.
func (w *worker) writeBatch(b *pending) bool {
	if b.records == 0 {
		return true
	}
	next := b.lastOff + 1
	start := time.Now()
	if w.produce != nil {
		if err := w.produce(w.ctx, b.dead); err != nil {
			return w.failed(err)
		}
	}
	if b.rows > 0 || (len(b.dead) > 0 && w.produce == nil) || w.always {
		if err := w.write(b, next); err != nil {
			return w.failed(err)
		}
	}
	eos.AfterCommit(w.log)
	if b.rows > 0 {
		took := time.Since(start)
		w.stats.observeBatch(b.rows, took)
		for _, c := range b.changes {
			name := c.W.Table().String()
			w.m.Rows.WithLabelValues(name).Add(float64(len(c.Rows)))
			w.m.Batches.WithLabelValues(name).Inc()
			w.m.BatchSeconds.WithLabelValues(name).Observe(took.Seconds())
			w.m.BatchRows.WithLabelValues(name).Observe(float64(len(c.Rows)))
		}
	}
	w.stats.records.Add(int64(b.records))
	w.stats.dead.Add(int64(len(b.dead)))
	w.mRecords.Add(float64(b.records))
	w.durable(kgo.EpochOffset{Epoch: b.lastEpoch, Offset: next})
	w.budget.Release(b.bytes)
	b.reset()
	return true
}

// failed handles a batch that could not be written; it returns false (the
// worker exits). A fenced partition is given up quietly; an abort is not
// an error; anything else stops the pipeline.
func (w *worker) failed(err error) bool {
	switch {
	case errors.Is(err, pgwrite.ErrFenced):
		w.fenced(err)
	case w.ctx.Err() == nil && !errors.Is(err, context.Canceled):
		w.fail(err)
	}
	return false
}

// write writes the batch's rows and dead letters and moves the partition
// to next. When the database rejects the rows (SQLSTATE class 22 or 23),
// the batch is split until the records at fault are isolated: with
// errors.tolerance: all they go to the dead-letter queue, and every other
// record's rows are written, in order, as if they had not been there; with
// tolerance none the records before the first of them are written and the
// error names it alone.
func (w *worker) write(b *pending, next int64) error {
	var dead []dlq.Letter // the next part written carries these (dead-letter table)
	if w.produce == nil {
		dead = b.dead
	}
	nextOf := func(hi int) int64 {
		if hi < len(b.offs) {
			return b.offs[hi]
		}
		return next
	}
	part := func(lo, hi int) error {
		if lo == hi && len(dead) == 0 && !w.always {
			return nil // nothing to write, nothing to move
		}
		if err := w.commit(w.ctx, b.part(lo, hi), dead, nextOf(hi)); err != nil {
			return err
		}
		dead = nil
		if hi > 0 && hi < len(b.offs) {
			// A part of a split batch: what it covers is durable now, so a
			// stop at a later record (tolerance none) commits it and a
			// restart does not write it again.
			w.durable(kgo.EpochOffset{Epoch: b.epochs[hi-1], Offset: nextOf(hi)})
		}
		return nil
	}
	isData := func(err error) bool {
		var werr *pgwrite.WriteError
		return errors.As(err, &werr) && werr.Class == pgwrite.Data
	}
	reject := func(i int, err error) error {
		if !w.tolerate {
			// errors.tolerance: none stops here, at the record the database
			// refused (its part's error names its offset alone); the
			// records before it are written and committed, as when a record
			// fails to decode.
			return err
		}
		var werr *pgwrite.WriteError
		errors.As(err, &werr)
		dl := dlq.Rejected(b.recs[i], werr)
		w.m.RecordErrors.WithLabelValues(w.tp.Topic, string(transform.StageWrite)).Inc()
		w.stats.dead.Add(1)
		if w.produce != nil {
			return w.produce(w.ctx, []dlq.Letter{dl})
		}
		dead = append(dead, dl)
		return nil
	}
	return batch.Isolate(len(b.offs), part, isData, reject)
}
