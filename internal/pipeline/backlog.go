package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/retry"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// backlogDeps are the collaborators of a worker's backlog merge
// (batch.backlog_merge; pgwrite.Backlog says what it does on the server).
type backlogDeps struct {
	schema, group string
	maxRows       int
	maxAge        time.Duration
	// lateOnly stages a backlog only when it is late: its first record is
	// at least maxAge old (config.MergeLate).
	lateOnly bool
	// behind is how many offsets the partition's high watermark is past
	// next.
	behind func(next int64) int64
	// end is the offset the run stops at (--stop-at-end); false when it
	// runs on.
	end func() (int64, bool)
	// ensure makes a staging table.
	ensure func(ctx context.Context, st *pgwrite.Backlog) error
	// stage sends the rows buffered for stages (pgwrite.Backlog.Flush) in
	// one transaction, moving no offset; from and last are the offsets
	// staged so far (for errors).
	stage func(ctx context.Context, stages []*pgwrite.Backlog, from, last int64) error
	// merge sends what is buffered for stages and merges every staging
	// table in stages into its table, in one transaction that moves the
	// partition to next (from is the first offset merged, for errors); it
	// returns the rows written.
	merge func(ctx context.Context, stages []*pgwrite.Backlog, from, next int64) (int64, error)
	// stageBytes is how many bytes a worker buffers before it sends them:
	// the constant stageBytes, less when many partitions share the
	// in-flight budget (buffers take at most half of it).
	stageBytes func() int64
	// discard empties staging tables whose merge failed.
	discard func(ctx context.Context, stages []*pgwrite.Backlog)
	// read reads the partition's records from offset from through to
	// again (source.ReadRange).
	read func(ctx context.Context, from, to int64, fn func([]*kgo.Record) bool) error
}

// backlog is what a worker has staged and not merged.
type backlog struct {
	deps   *backlogDeps
	owner  int64
	stages map[*pgwrite.Writer]*pgwrite.Backlog
	order  []*pgwrite.Backlog // the staging tables holding rows, in the order first staged
	// held is the budget taken by the stages' buffers (worker.buffer).
	held int64
	// records and rows staged or buffered; from is the first one's offset
	// (the partition's durable offset while anything is staged), last and
	// lastEpoch the last one's; since is when the first was staged.
	records   int
	rows      int
	from      int64
	last      int64
	lastEpoch int32
	since     time.Time
	// off: staging failed for a reason that would fail again (no right to
	// create the table, say); this worker writes batch by batch from then
	// on.
	off bool
}

func newBacklog(deps *backlogDeps) *backlog {
	return &backlog{deps: deps, owner: rand.Int64(), stages: map[*pgwrite.Writer]*pgwrite.Backlog{}}
}

// stageable reports whether b's rows can be staged: it has rows and no
// dead letters, and every table's rows suit a backlog merge
// (pgwrite.Writer.Backloggable) and the rows staged for it before.
func (w *worker) stageable(b *pending) bool {
	if w.bl.off || b.rows == 0 || len(b.dead) > 0 {
		return false
	}
	for _, c := range b.changes {
		var set table.Bitset // the columns staged for c's table so far
		if st := w.bl.stages[c.W]; st != nil {
			set = st.Set()
		}
		if !c.W.Backloggable(c.Rows, set) {
			return false
		}
	}
	return true
}

// flushBacklog is flush with a backlog merge: a batch before the end of
// the backlog (worker.before) is staged, unless the staged rows reached
// batch.backlog_max_rows or backlog_max_age; a batch that catches up is
// merged with what is staged, in one transaction;
// a batch that cannot be staged (dead letters, other columns) is
// written after the staged rows are merged.
func (w *worker) flushBacklog(b *pending, final bool) bool {
	bl := w.bl
	if b.records == 0 {
		if final && bl.records > 0 {
			return w.merge(nil)
		}
		return true
	}
	if w.stageable(b) {
		full := bl.records > 0 && (bl.rows+b.rows > bl.deps.maxRows || time.Since(bl.since) >= bl.deps.maxAge)
		if !final && !full && w.before(b) {
			return w.stage(b)
		}
		if bl.records > 0 {
			return w.merge(b)
		}
	} else if bl.records > 0 && b.rows == 0 && len(b.dead) == 0 {
		return w.merge(b) // nothing to write: the merge moves the offset past b
	} else if bl.records > 0 && !w.merge(nil) {
		return false
	}
	return w.writeBatch(b)
}

// before reports whether b is staged rather than merged: the partition's
// high watermark is more than batch.max_rows records past b (a backlog);
// or the run stops at an end offset past b (a run to the end merges once,
// at the end); or rows are staged and more records are at hand (taken or
// queued). With lateOnly, nothing staged and b's first record less than
// batch.backlog_max_age old by its Kafka timestamp (or without one: none
// was set, or -1 from an old message format), b is
// written as it comes: a merge would hold its rows back for up to that
// long, which is worth it only to a backlog already late by as much.
func (w *worker) before(b *pending) bool {
	d, next := w.bl.deps, b.lastOff+1
	if d.lateOnly && w.bl.records == 0 && (b.firstTime.UnixMilli() <= 0 || time.Since(b.firstTime) < d.maxAge) {
		return false
	}
	if d.behind(next) > int64(w.policy.MaxRows) {
		return true
	}
	if end, ok := d.end(); ok && next < end {
		return true
	}
	return w.bl.records > 0 && (w.rest > 0 || w.queued())
}

// stageFor returns the staging table of c's writer, made if need be.
func (w *worker) stageFor(c pgwrite.Change) (*pgwrite.Backlog, error) {
	st := w.bl.stages[c.W]
	if st == nil {
		d := w.bl.deps
		st = c.W.NewBacklog(d.schema, d.group, w.tp.Topic, w.tp.Partition, w.bl.owner)
		w.bl.stages[c.W] = st
	}
	return st, w.bl.deps.ensure(w.ctx, st)
}

// stageBytes is how many bytes of COPY tuples a worker buffers before it
// sends them to its staging tables in one COPY (pgwrite.Backlog): about
// 14,000 rows of the benchmark's orders, held in the in-flight budget.
// Measured on the peers' upsert run (1M events, 8 partitions): 1 MiB and 4
// MiB were both slower than 2 MiB, and 8 MiB doubled kafka2pg's CPU (a
// bigger heap under the same memory limit).
const stageBytes = 2 << 20

// stageLimit is how many bytes each of workers buffers before it sends
// them: stageBytes, less when that would let the buffers of all workers
// take more than half of the in-flight budget (budget bytes).
func stageLimit(budget int64, workers int) int64 {
	return min(stageBytes, budget/(2*int64(max(workers, 1))))
}

// buffer encodes b's rows for their staging tables (made if need be); on
// an error nothing of b stays buffered. The encoded bytes take budget
// until they are sent (the records' own budget is the caller's to
// release).
func (w *worker) buffer(b *pending) error {
	bl := w.bl
	type done struct {
		st   *pgwrite.Backlog
		mark pgwrite.Mark
	}
	var did []done
	var err error
	for _, c := range b.changes {
		var st *pgwrite.Backlog
		if st, err = w.stageFor(c); err != nil {
			break
		}
		did = append(did, done{st, st.Mark()})
		if err = st.Buffer(c.Rows); err != nil {
			break
		}
	}
	if err != nil {
		for i := len(did) - 1; i >= 0; i-- {
			did[i].st.Rollback(did[i].mark)
		}
		return err
	}
	w.m.BacklogStaged.Add(float64(b.rows))
	w.stats.staged.Add(int64(b.rows))
	for _, d := range did {
		if !slices.Contains(bl.order, d.st) {
			bl.order = append(bl.order, d.st)
		}
		n := int64(d.st.Since(d.mark))
		bl.held += n
		w.budget.Add(n)
	}
	return nil
}

// stage buffers b for the staging tables and sends what is buffered once
// it reaches stageBytes; no offset moves and b's budget is released (its
// records are not needed again unless the merge fails: then they are read
// again from Kafka).
func (w *worker) stage(b *pending) bool {
	bl := w.bl
	if err := w.buffer(b); err != nil {
		if !w.giveUpBacklog(err) {
			return w.failed(err)
		}
		return w.flushBacklog(b, true)
	}
	if bl.records == 0 {
		bl.from, bl.since = b.firstOff, time.Now()
	}
	bl.records += b.records
	bl.rows += b.rows
	bl.last, bl.lastEpoch = b.lastOff, b.lastEpoch
	w.budget.Release(b.bytes)
	b.reset()
	if bl.held < bl.deps.stageBytes() {
		return true
	}
	if err := bl.deps.stage(w.ctx, bl.order, bl.from, bl.last); err != nil {
		if !w.giveUpBacklog(err) {
			return w.failed(err)
		}
		return w.merge(nil) // which sends the buffered rows again, or reads them again
	}
	for _, st := range bl.order {
		st.Flushed()
	}
	w.budget.Release(bl.held)
	bl.held = 0
	return true
}

// giveUpBacklog decides after a staging or merging error: false when the
// worker must stop (the error ends the pipeline, or the worker is
// aborting or fenced); true when it goes on batch by batch (the error is
// logged, and backlog merging is off for this worker unless the database
// rejected a row, which writing batch by batch isolates).
func (w *worker) giveUpBacklog(err error) bool {
	var give *retry.GiveUpError
	if w.ctx.Err() != nil || errors.Is(err, pgwrite.ErrFenced) || errors.As(err, &give) {
		return false
	}
	var werr *pgwrite.WriteError
	data := errors.As(err, &werr) && werr.Class == pgwrite.Data
	if !data && !errors.Is(err, pgwrite.ErrBacklogLost) {
		w.bl.off = true
		w.log.Warn("backlog merge is off for this partition: writing batch by batch", "topic", w.tp.Topic,
			"partition", w.tp.Partition, "err", err.Error(),
			"hint", "batch.backlog_merge: false writes batch by batch without trying (docs/operations.md, \"Backlog merge\")")
	}
	return true
}

// merge merges the staged rows, with b's (nil: none) staged in the same
// transaction, and moves the partition past them. When the merge fails
// for anything but an outage (a row the database rejects, a staging table
// emptied by a restart of PostgreSQL), the staged records are read again
// from Kafka and written batch by batch, which isolates a rejected row as
// a batch write does; then b is.
func (w *worker) merge(b *pending) bool {
	bl := w.bl
	next, epoch := bl.last+1, bl.lastEpoch
	if b != nil {
		next, epoch = b.lastOff+1, b.lastEpoch
		if err := w.buffer(b); err != nil {
			if !w.giveUpBacklog(err) {
				return w.failed(err)
			}
			return w.merge(nil) && w.writeBatch(b)
		}
	}
	stages := slices.Clone(bl.order)
	rows := make([]int64, len(stages)) // per staging table, for the metrics
	for i, st := range stages {
		n, _ := st.Buffered()
		rows[i] = st.Staged + n
	}
	start := time.Now()
	from := bl.from
	if bl.records == 0 {
		from = b.firstOff
	}
	written, err := bl.deps.merge(w.ctx, stages, from, next)
	if err != nil {
		if !w.giveUpBacklog(err) {
			return w.failed(err)
		}
		from, to := bl.from, bl.last
		w.log.Warn("backlog merge failed: writing its records again batch by batch", "topic", w.tp.Topic,
			"partition", w.tp.Partition, "from_offset", from, "to_offset", to, "err", err.Error())
		w.m.BacklogReplays.Inc()
		w.stats.replays.Add(1)
		bl.deps.discard(w.ctx, stages)
		empty := bl.records == 0
		w.clearBacklog() // b's rows too: b is written on its own below
		if !empty && !w.replay(from, to) {
			return false
		}
		if b == nil {
			return true
		}
		return w.writeBatch(b)
	}
	took := time.Since(start)
	records, all := bl.records, bl.rows
	if b != nil {
		records += b.records
		all += b.rows
	}
	w.stats.observeBatch(all, took)
	for i, st := range stages {
		name := st.Writer().Table().String()
		w.m.Batches.WithLabelValues(name).Inc()
		w.m.BatchSeconds.WithLabelValues(name).Observe(took.Seconds())
		w.m.Rows.WithLabelValues(name).Add(float64(rows[i]))
	}
	w.m.BacklogMerged.Add(float64(written))
	w.stats.records.Add(int64(records))
	w.mRecords.Add(float64(records))
	w.clearBacklog()
	w.durable(kgo.EpochOffset{Epoch: epoch, Offset: next})
	if b != nil {
		w.budget.Release(b.bytes)
		b.reset()
	}
	return true
}

// clearBacklog forgets what was staged and buffered (merged, or to be read
// again) and gives the buffers' budget back.
func (w *worker) clearBacklog() {
	bl := w.bl
	for _, st := range bl.stages {
		st.Reset()
	}
	bl.order = bl.order[:0]
	bl.records, bl.rows = 0, 0
	w.budget.Release(bl.held)
	bl.held = 0
}

// replay reads the records from offset from through to again and writes
// them batch by batch (nothing is staged meanwhile), as if they had just
// been fetched: each batch commits and becomes durable, a rejected row is
// isolated, a bad record stops the pipeline or becomes a dead letter. It
// returns false when the worker must exit.
func (w *worker) replay(from, to int64) bool {
	off := w.bl.off
	w.bl.off = true
	defer func() { w.bl.off = off }()
	b := pending{keepRecs: w.tolerate}
	ok := true
	err := w.bl.deps.read(w.ctx, from, to, func(recs []*kgo.Record) bool {
		for i, r := range recs {
			// Replayed records take no budget: they were released when
			// staged, and the reading client holds one fetch at a time.
			if ok = w.takeRecord(&b, r, recs[i:], 0); !ok {
				return false
			}
			if w.policy.Full(b.rows, b.bytes) {
				if ok = w.flush(&b); !ok {
					return false
				}
			}
		}
		return true
	})
	if !ok {
		return false
	}
	if err != nil {
		return w.failed(err)
	}
	return w.writeBatch(&b)
}
