package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
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
	// behind is how many offsets the partition's high watermark is past
	// next.
	behind func(next int64) int64
	// ensure makes a staging table.
	ensure func(ctx context.Context, st *pgwrite.Backlog) error
	// stage copies each change's rows into its staging table in one
	// transaction, moving no offset.
	stage func(ctx context.Context, changes []pgwrite.Change, stages []*pgwrite.Backlog) error
	// merge copies changes' rows into their staging tables and merges
	// every staging table in stages into its table, in one transaction
	// that moves the partition to next (from is the first offset merged,
	// for errors); it returns the rows written.
	merge func(ctx context.Context, changes []pgwrite.Change, stages []*pgwrite.Backlog, from, next int64) (int64, error)
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
	// records and rows staged; from is the first staged record's offset
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

// flushBacklog is flush with a backlog merge: a batch that leaves the
// partition behind by more than batch.max_rows records is staged, unless
// the staged rows reached batch.backlog_max_rows or backlog_max_age; a
// batch that catches up is merged with what is staged, in one transaction;
// a batch that cannot be staged (deletes, dead letters, other columns) is
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
		if !final && !full && bl.deps.behind(b.lastOff+1) > int64(w.policy.MaxRows) {
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

// stage copies b into the staging tables; no offset moves and b's budget
// is released (its records are not needed again unless the merge fails:
// then they are read again from Kafka).
func (w *worker) stage(b *pending) bool {
	bl := w.bl
	stages := make([]*pgwrite.Backlog, len(b.changes))
	var err error
	for i, c := range b.changes {
		if stages[i], err = w.stageFor(c); err != nil {
			break
		}
	}
	if err == nil {
		err = bl.deps.stage(w.ctx, b.changes, stages)
	}
	if err != nil {
		if !w.giveUpBacklog(err) {
			return w.failed(err)
		}
		return w.flushBacklog(b, true)
	}
	for i, c := range b.changes {
		st := stages[i]
		if st.Staged == 0 {
			bl.order = append(bl.order, st)
		}
		st.Staged += int64(len(c.Rows))
	}
	if bl.records == 0 {
		bl.from, bl.since = b.firstOff, time.Now()
	}
	bl.records += b.records
	bl.rows += b.rows
	bl.last, bl.lastEpoch = b.lastOff, b.lastEpoch
	w.m.BacklogStaged.Add(float64(b.rows))
	w.stats.staged.Add(int64(b.rows))
	w.budget.Release(b.bytes)
	b.reset()
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
			"partition", w.tp.Partition, "err", err.Error())
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
	var changes []pgwrite.Change
	stages := bl.order
	if b != nil {
		next, epoch = b.lastOff+1, b.lastEpoch
		changes = b.changes
		for _, c := range changes {
			st, err := w.stageFor(c)
			if err != nil {
				if !w.giveUpBacklog(err) {
					return w.failed(err)
				}
				return w.merge(nil) && w.writeBatch(b)
			}
			if st.Staged == 0 {
				stages = append(stages, st)
			}
		}
	}
	start := time.Now()
	from := bl.from
	if bl.records == 0 {
		from = b.firstOff
	}
	written, err := bl.deps.merge(w.ctx, changes, stages, from, next)
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
		w.clearBacklog()
		if !w.replay(from, to) {
			return false
		}
		if b == nil {
			return true
		}
		return w.writeBatch(b)
	}
	took := time.Since(start)
	records, rows := bl.records, bl.rows
	if b != nil {
		records += b.records
		rows += b.rows
	}
	w.stats.observeBatch(rows, took)
	for _, st := range stages {
		name := st.Writer().Table().String()
		w.m.Batches.WithLabelValues(name).Inc()
		w.m.BatchSeconds.WithLabelValues(name).Observe(took.Seconds())
	}
	w.m.BacklogMerged.Add(float64(written))
	for _, st := range stages {
		w.m.Rows.WithLabelValues(st.Writer().Table().String()).Add(float64(st.Staged))
	}
	if b != nil {
		for _, c := range b.changes {
			w.m.Rows.WithLabelValues(c.W.Table().String()).Add(float64(len(c.Rows)))
		}
	}
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

// clearBacklog forgets what was staged (merged, or to be read again).
func (w *worker) clearBacklog() {
	bl := w.bl
	for _, st := range bl.stages {
		st.Staged = 0
	}
	bl.order = bl.order[:0]
	bl.records, bl.rows = 0, 0
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
