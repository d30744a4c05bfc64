package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

type tp struct {
	topic     string
	partition int32
}

// stop modes, in increasing severity.
const (
	running  = iota
	draining // write everything received, then exit
	aborting // exit as soon as possible, writing nothing more
)

// worker owns one assigned partition: it maps that partition's records to
// rows, batches them and writes each batch in one transaction, strictly in
// offset order. Only after a batch commits does it report the next offset as
// durable. The poll loop feeds it with push; the pipeline stops it with stop
// and waits on done.
type worker struct {
	p      *Pipeline
	tp     tp
	route  *route
	bound  *bound // the table version mapper maps for; nil until the first record
	mapper *transform.Mapper
	ctx    context.Context // cancelled on abort: in-flight writes roll back
	cancel context.CancelFunc
	notify chan struct{} // capacity 1: "the queue or the mode changed"
	done   chan struct{} // closed when run returns

	// Exactly-once: the epoch this instance claimed the partition with and
	// the offset stored for it (pgwrite.NoOffset before the first batch).
	epoch, stored int64

	mRecords, mSkipped, mRows, mBatches prometheus.Counter
	mSeconds, mBatchRows                prometheus.Observer

	mu     sync.Mutex
	queue  []*kgo.Record
	held   int64 // budget bytes of queued records
	mode   int
	exited bool
}

// push queues records; it never blocks. Records pushed after the worker
// exited are dropped and take no budget.
func (w *worker) push(recs []*kgo.Record) {
	var n int64
	for _, r := range recs {
		n += recordSize(r)
	}
	w.mu.Lock()
	if w.exited {
		w.mu.Unlock()
		return
	}
	w.queue = append(w.queue, recs...)
	w.held += n
	w.mu.Unlock()
	w.p.budget.add(n)
	w.wake()
}

func (w *worker) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

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

// batch is the records taken but not yet durable.
type batch struct {
	rows    []table.Row
	recs    []*kgo.Record // recs[i] became rows[i]: kept to dead-letter a row the database rejects
	dead    []deadLetter  // records that could not become rows (errors.tolerance: all)
	records int           // rows plus skipped records
	bytes   int64
	first   int64
	last    *kgo.Record
	started time.Time
}

func (b *batch) reset() {
	b.rows = b.rows[:0]
	clear(b.recs)
	b.recs = b.recs[:0]
	b.dead = nil
	b.records, b.bytes, b.last = 0, 0, nil
}

func (w *worker) run() {
	defer close(w.done)
	var b batch
	var spare int64 // budget of records taken but not in the batch yet
	defer func() {
		w.mu.Lock()
		w.exited = true
		held := w.held
		w.queue, w.held = nil, 0
		w.mu.Unlock()
		w.p.budget.release(held + b.bytes + spare)
	}()
	cfg := w.p.cfg.Batch
	maxWait := time.Duration(cfg.MaxWait)
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
				w.flush(&b)
				return
			}
			if b.records == 0 {
				select {
				case <-w.notify:
				case <-w.ctx.Done():
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
		for i, r := range recs {
			size := recordSize(r)
			if err, ok := w.mapRecord(&b, r, recs[i:]); !ok {
				return // the pipeline was told, or the worker is aborting
			} else if err != nil {
				var rerr *transform.RecordError
				if errors.As(err, &rerr) {
					w.p.m.RecordErrors.WithLabelValues(w.tp.topic, string(rerr.Stage)).Inc()
				}
				if !w.p.tolerateAll {
					// Write what came before the bad record, then stop:
					// nothing at or after it is written or committed. Its
					// budget and the rest's stay in spare, released on exit.
					if w.flush(&b) {
						w.p.fail(err)
					}
					return
				}
				b.dead = append(b.dead, deadFromError(r, err))
			}
			spare -= size
			if b.records == 0 {
				b.first, b.started = r.Offset, time.Now()
			}
			b.records++
			b.bytes += size
			b.last = r
			if len(b.rows) >= cfg.MaxRows || b.bytes >= int64(cfg.MaxBytes) {
				if !w.flush(&b) {
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

// mapRecord maps r into b (rest is r and the records after it, for
// auto_create to learn the table from). It returns (nil, true) when r
// became a row or was skipped, (record error, true) for a bad record, and
// (_, false) when the worker must exit: the pipeline was told, or it is
// aborting. Between records it moves to a new version of the table
// (auto_create, auto_evolve), writing the batch mapped for the old one
// first; a schema registry that cannot be reached is retried like a
// database outage.
func (w *worker) mapRecord(b *batch, r *kgo.Record, rest []*kgo.Record) (error, bool) {
	var bo *backoff
	stalled, evolves := false, 0
	defer func() {
		if stalled {
			w.p.m.Stalled(-1)
		}
	}()
	retry := func(err error) bool {
		if bo == nil {
			bo = newBackoff(w.p.cfg.Errors.Retry)
		}
		if bo.exhausted() {
			w.failed(fmt.Errorf("gave up after %s (errors.retry.max_elapsed): %w", bo.elapsed(), err))
			return false
		}
		if !stalled {
			stalled = true
			w.p.m.Stalled(1)
		}
		var ue *registry.UnavailableError
		if errors.As(err, &ue) {
			w.p.m.RegistryErrors.Inc()
		} else {
			w.p.m.Retries.WithLabelValues(w.route.tableName).Inc() // DDL of auto_create/auto_evolve
		}
		wait := bo.next()
		w.p.log.Warn("retrying", "topic", w.tp.topic, "partition", w.tp.partition, "offset", r.Offset,
			"backoff", wait.Round(time.Millisecond), "err", err.Error())
		return sleep(w.ctx, wait) == nil
	}
	skip := func() (error, bool) {
		w.p.stats.skipped.Add(1)
		w.mSkipped.Inc()
		return nil, true
	}
	// settle says what an error of creating, evolving or mapping means: a
	// record error is returned for the caller to route; a transient one is
	// waited out (again: try r once more); anything else stops the worker.
	settle := func(err error, stage string) (rerr error, ok, again bool) {
		var se *table.SchemaError
		switch {
		case errors.As(err, &se):
			return &transform.RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Stage: transform.StageMap,
				Field: se.Field, Column: se.Column, Reason: stage + ": " + se.Reason}, true, false
		case isRecordError(err):
			return err, true, false
		case transient(err):
			return nil, retry(err), true
		}
		w.failed(err)
		return nil, false, false
	}
	for {
		cur := w.route.bound()
		if cur == nil {
			err := w.p.createTable(w.ctx, w.route, rest)
			if err == nil {
				continue
			}
			if errors.Is(err, errNoShape) {
				// Nothing from r on says what the table looks like: r is a
				// tombstone, a delete or a bad record.
				if _, err := transform.Describe(w.ctx, w.route.base, []*kgo.Record{r}); isRecordError(err) {
					return err, true
				}
				return skip()
			}
			rerr, ok, again := settle(err, "auto_create")
			if ok && again {
				continue
			}
			return rerr, ok
		}
		if cur != w.bound {
			if w.bound != nil && len(b.rows) > 0 && !w.flush(b) {
				return nil, false
			}
			m, err := transform.NewMapper(cur.spec)
			if err != nil {
				w.failed(err)
				return nil, false
			}
			w.bound, w.mapper = cur, m
		}
		if w.mapper.Skip(r) {
			return skip()
		}
		b.rows = append(b.rows, table.Row{})
		err := w.mapper.Map(w.ctx, r, &b.rows[len(b.rows)-1])
		if err == nil {
			b.recs = append(b.recs, r)
			return nil, true
		}
		b.rows = b.rows[:len(b.rows)-1]
		if errors.Is(err, transform.ErrSkip) {
			return skip()
		}
		var change *transform.SchemaChange
		if errors.As(err, &change) {
			if evolves++; evolves > 3 {
				w.failed(fmt.Errorf("topic %s partition %d offset %d: auto_evolve changed %s three times and the record still does not fit",
					r.Topic, r.Partition, r.Offset, w.route.tableName))
				return nil, false
			}
			if err = w.p.evolve(w.ctx, w.route, change.Fields); err == nil {
				continue
			}
			var se *table.SchemaError
			if errors.As(err, &se) {
				w.mapper.Reject(change.Type, se)
			}
		}
		rerr, ok, again := settle(err, "auto_evolve")
		if ok && again {
			continue
		}
		return rerr, ok
	}
}

// isRecordError reports an error that belongs to one record (it goes to
// the dead-letter queue or stops the pipeline, and is never retried).
func isRecordError(err error) bool {
	var re *transform.RecordError
	var se *table.SchemaError
	return errors.As(err, &re) || errors.As(err, &se)
}

// transient reports an error worth retrying: the schema registry or
// PostgreSQL could not be reached, or a lock wait timed out.
func transient(err error) bool {
	var ue *registry.UnavailableError
	return errors.As(err, &ue) || pgwrite.Classify(err) == pgwrite.Transient
}

// flush writes the batch (retrying transient failures) and marks its last
// offset durable. It returns false when the worker must exit: the write
// failed for good (the pipeline is told) or the worker is aborting.
func (w *worker) flush(b *batch) bool {
	if b.records == 0 {
		return true
	}
	next := b.last.Offset + 1
	start := time.Now()
	if err := w.p.produceDead(w.ctx, b.dead); err != nil {
		return w.failed(err)
	}
	var tableDead []deadLetter
	if w.p.dlqTable != nil {
		tableDead = b.dead
	}
	// Exactly-once writes even a batch without rows: its offset moves in
	// a transaction, as it would with rows.
	if len(b.rows) > 0 || len(tableDead) > 0 || w.p.store != nil {
		if err := w.write(b.rows, b.recs, tableDead, next); err != nil {
			return w.failed(err)
		}
	}
	w.p.maybeCrash()
	if len(b.rows) > 0 {
		took := time.Since(start)
		w.p.stats.observeBatch(len(b.rows), took)
		w.mRows.Add(float64(len(b.rows)))
		w.mBatches.Inc()
		w.mSeconds.Observe(took.Seconds())
		w.mBatchRows.Observe(float64(len(b.rows)))
	}
	w.p.stats.records.Add(int64(b.records))
	w.p.stats.dead.Add(int64(len(b.dead)))
	w.mRecords.Add(float64(b.records))
	w.p.markDurable(w.tp, kgo.EpochOffset{Epoch: b.last.LeaderEpoch, Offset: next})
	w.p.budget.release(b.bytes)
	b.reset()
	return true
}

// failed handles a batch that could not be written; it returns false (the
// worker exits). A fenced partition is given up quietly; an abort is not
// an error; anything else stops the pipeline.
func (w *worker) failed(err error) bool {
	switch {
	case errors.Is(err, pgwrite.ErrFenced):
		w.p.log.Warn("partition fenced: another consumer owns it; dropping it",
			"topic", w.tp.topic, "partition", w.tp.partition, "epoch", w.epoch, "err", err)
		w.p.dropFenced(w)
	case w.ctx.Err() == nil && !errors.Is(err, context.Canceled):
		w.p.fail(err)
	}
	return false
}

// write writes rows and dead letters in one transaction and moves the
// partition to next. With errors.tolerance: all, when the database rejects
// the rows (SQLSTATE class 22 or 23), the batch is split until the rows at
// fault are isolated: they go to the dead-letter queue, and every other row
// is written, in order, as if they had not been there.
func (w *worker) write(rows []table.Row, recs []*kgo.Record, dead []deadLetter, next int64) error {
	first, last := next-1, next-1
	if len(rows) > 0 {
		first, last = rows[0].Offset, rows[len(rows)-1].Offset
	}
	err := w.p.write(w.ctx, w, rows, dead, first, last, next)
	if err == nil {
		w.stored = next
		return nil
	}
	var werr *pgwrite.WriteError
	if !w.p.tolerateAll || len(rows) == 0 || !errors.As(err, &werr) || werr.Class != pgwrite.Data {
		return err
	}
	if len(rows) == 1 {
		dl := deadLetter{rec: recs[0], stage: transform.StageWrite, class: "data", reason: werr.Reason()}
		w.p.m.RecordErrors.WithLabelValues(w.tp.topic, string(transform.StageWrite)).Inc()
		w.p.stats.dead.Add(1)
		if err := w.p.produceDead(w.ctx, []deadLetter{dl}); err != nil {
			return err
		}
		if w.p.dlqTable != nil {
			dead = append(dead, dl)
		}
		if len(dead) == 0 && w.p.store == nil {
			return nil
		}
		return w.write(nil, nil, dead, next)
	}
	mid := len(rows) / 2
	// The first half carries the dead letters and ends where the second
	// half begins (records between them were skipped or dead).
	if err := w.write(rows[:mid], recs[:mid], dead, rows[mid].Offset); err != nil {
		return err
	}
	return w.write(rows[mid:], recs[mid:], nil, next)
}

// recordSize is what a record costs the in-flight budget: an estimate of
// the memory it holds from fetch to commit — the payload, the decoded row
// (about as large again: strings, numerics, JSON copies) and the fixed cost
// of the kgo.Record and the row's slots (measured at about 700 bytes for a
// ten-column row).
func recordSize(r *kgo.Record) int64 {
	n := int64(len(r.Key)+len(r.Value))*2 + 768
	for _, h := range r.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}
