package pipeline

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/batch"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/route"
	"github.com/kafka2pg/kafka2pg/internal/source"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// mergeCall is one merge: the rows staged and buffered, and the offset it
// moves the partition to.
type mergeCall struct{ rows, next int64 }

// fakeBacklog stands in for the staging and merging transactions.
type fakeBacklog struct {
	behind   atomic.Int64
	end      atomic.Int64 // the run's end offset; 0: none
	mu       sync.Mutex
	staged   int64 // rows staged (sent) and not merged
	merges   []mergeCall
	failNext error // the next merge fails with it
	reads    [][2]int64
}

func (f *fakeBacklog) deps() *backlogDeps {
	return &backlogDeps{
		maxRows: 1000, maxAge: time.Hour,
		behind:     func(int64) int64 { return f.behind.Load() },
		end:        func() (int64, bool) { e := f.end.Load(); return e, e > 0 },
		ensure:     func(context.Context, *pgwrite.Backlog) error { return nil },
		stageBytes: func() int64 { return 1 }, // every staged batch is sent
		stage: func(_ context.Context, stages []*pgwrite.Backlog, _, _ int64) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, st := range stages {
				n, _ := st.Buffered()
				f.staged += n
			}
			return nil
		},
		discard: func(context.Context, []*pgwrite.Backlog) {},
		merge: func(_ context.Context, stages []*pgwrite.Backlog, _, next int64) (int64, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if err := f.failNext; err != nil {
				f.failNext = nil
				return 0, err
			}
			c := mergeCall{rows: f.staged, next: next}
			for _, st := range stages {
				n, _ := st.Buffered()
				c.rows += n
			}
			f.staged = 0
			f.merges = append(f.merges, c)
			return c.rows, nil
		},
		read: func(_ context.Context, from, to int64, fn func([]*kgo.Record) bool) error {
			f.mu.Lock()
			f.reads = append(f.reads, [2]int64{from, to})
			f.staged = 0 // what the merge found lost
			f.mu.Unlock()
			recs := records(from, to+1)
			for len(recs) > 0 { // in fetches of 7
				n := min(7, len(recs))
				if !fn(recs[:n]) {
					return nil
				}
				recs = recs[n:]
			}
			return nil
		},
	}
}

func (f *fakeBacklog) stagedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return int(f.staged)
}

// newBacklogHarness is a worker whose rows suit a backlog merge (upsert on
// a bigint key), behind by a lot until the test says otherwise.
func newBacklogHarness(t *testing.T, tolerate bool) (*harness, *fakeBacklog) {
	t.Helper()
	tbl := table.NewTable("", "t", []table.Column{{Name: "id", Type: &coerce.Type{Kind: coerce.KindInt8, OID: 20}}}, []string{"id"})
	wr, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBacklog{}
	fb.behind.Store(1 << 20)
	h := newHarnessWith(t, batch.Policy{MaxRows: 10, MaxBytes: 1 << 30, MaxWait: time.Hour}, tolerate, func(d *workerDeps) {
		d.backlog = fb.deps()
		m := d.mapper.(*fakeMapper)
		m.b = &route.Binding{Route: &route.Route{}, Writer: wr}
		m.set = table.NewBitset(1)
		m.set.Add(0)
	})
	return h, fb
}

// oneMerge requires the backlog to have merged once, n rows moving the
// partition to n, with no batch committed besides.
func oneMerge(t *testing.T, h *harness, fb *fakeBacklog, n int64) {
	t.Helper()
	if len(fb.merges) != 1 || fb.merges[0].rows != n || fb.merges[0].next != n {
		t.Fatalf("merges %+v, want one of %d rows (0..%d) moving to %d", fb.merges, n, n-1, n)
	}
	if len(h.tx.committed()) > 0 {
		t.Errorf("batch commits %+v besides the merge", h.tx.committed())
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Behind, full batches are staged: nothing is committed or durable, and
// their budget comes back. The batch that catches up is merged with them in
// one transaction, which moves the partition past it.
func TestBacklogStagesThenMerges(t *testing.T) {
	h, fb := newBacklogHarness(t, false)
	h.w.push(records(0, 30))
	waitUntil(t, "30 rows staged", func() bool { return fb.stagedCount() == 30 })
	if len(h.tx.committed()) > 0 || len(h.durableOffsets()) > 0 {
		t.Fatalf("staged batches committed %v, durable %v", h.tx.committed(), h.durableOffsets())
	}
	waitUntil(t, "the staged budget released", func() bool { return h.budget.InUse() == 0 })
	fb.behind.Store(0)
	h.w.push(records(30, 35))
	h.drain(t)
	oneMerge(t, h, fb, 35)
	if got := h.durableOffsets(); !slices.Equal(got, []int64{35}) {
		t.Errorf("durable %v, want [35]", got)
	}
	if h.budget.InUse() != 0 {
		t.Errorf("budget in use %d after the merge", h.budget.InUse())
	}
}

// Once rows are staged, a batch caught up with the high watermark is
// staged too while more records are at hand (here: taken in the same
// push), so the backlog merges once, with its last batch.
func TestBacklogStagesWhatIsAtHand(t *testing.T) {
	h, fb := newBacklogHarness(t, false)
	h.w.push(records(0, 10))
	waitUntil(t, "10 rows staged", func() bool { return fb.stagedCount() == 10 })
	fb.behind.Store(0)
	h.w.push(records(10, 35))
	h.drain(t)
	oneMerge(t, h, fb, 35)
}

// A run to an end offset (--stop-at-end) stages every batch before the end,
// however close to the high watermark, and merges with the batch that
// reaches it.
func TestBacklogStagesToTheEnd(t *testing.T) {
	h, fb := newBacklogHarness(t, false)
	fb.behind.Store(0)
	fb.end.Store(30)
	h.w.push(records(0, 10))
	waitUntil(t, "0..9 staged", func() bool { return fb.stagedCount() == 10 })
	h.w.push(records(10, 20))
	waitUntil(t, "10..19 staged", func() bool { return fb.stagedCount() == 20 })
	h.w.push(records(20, 30))
	waitUntil(t, "the merge", func() bool { fb.mu.Lock(); defer fb.mu.Unlock(); return len(fb.merges) == 1 })
	h.drain(t)
	oneMerge(t, h, fb, 30)
	if !slices.Equal(h.durableOffsets(), []int64{30}) {
		t.Errorf("durable %v, want [30]", h.durableOffsets())
	}
}

// Staged batches are buffered until stageBytes: no staging transaction, the
// records' budget released and the buffer's held instead; the merge sends
// them all. A worker that aborts gives the buffer's budget back.
func TestBacklogBuffers(t *testing.T) {
	h, fb := newBacklogHarness(t, false)
	h.w.bl.deps.stageBytes = func() int64 { return 1 << 30 }
	h.w.push(records(0, 30))
	waitUntil(t, "30 records buffered", func() bool { return h.w.stats.staged.Load() == 30 })
	if fb.stagedCount() != 0 {
		t.Fatalf("%d rows sent below stageBytes", fb.stagedCount())
	}
	held := h.budget.InUse()
	if held <= 0 || held >= 30*source.RecordSize(records(0, 1)[0]) {
		t.Fatalf("budget in use %d while 30 rows are buffered: want the buffer's bytes, less than the records'", held)
	}
	fb.behind.Store(0)
	h.w.push(records(30, 35))
	h.drain(t)
	oneMerge(t, h, fb, 35)
	if n := h.budget.InUse(); n != 0 {
		t.Errorf("budget in use %d after the merge", n)
	}

	h, _ = newBacklogHarness(t, false)
	h.w.bl.deps.stageBytes = func() int64 { return 1 << 30 }
	h.w.push(records(0, 30))
	waitUntil(t, "30 records buffered", func() bool { return h.w.stats.staged.Load() == 30 })
	h.w.stop(aborting)
	<-h.w.done
	if n := h.budget.InUse(); n != 0 {
		t.Errorf("budget in use %d after an abort with rows buffered", n)
	}
}

// A stop merges what is staged; so does a batch that cannot be staged (one
// with a dead letter), before it is written on its own.
func TestBacklogMergesBeforeOtherWrites(t *testing.T) {
	t.Run("drain", func(t *testing.T) {
		h, fb := newBacklogHarness(t, false)
		h.w.push(records(0, 20))
		waitUntil(t, "20 rows staged", func() bool { return fb.stagedCount() == 20 })
		h.drain(t)
		if len(fb.merges) != 1 || fb.merges[0].next != 20 || !slices.Equal(h.durableOffsets(), []int64{20}) {
			t.Fatalf("merges %+v durable %v, want one merge to 20", fb.merges, h.durableOffsets())
		}
	})
	t.Run("dead letter", func(t *testing.T) {
		h, fb := newBacklogHarness(t, true)
		h.m.fails[24] = []error{&transform.RecordError{Topic: "t", Offset: 24, Stage: transform.StageDecode, Reason: "bad"}}
		h.w.push(records(0, 20))
		waitUntil(t, "20 rows staged", func() bool { return fb.stagedCount() == 20 })
		h.w.push(records(20, 30))
		h.drain(t)
		calls := h.tx.committed()
		if len(fb.merges) != 1 || fb.merges[0].next != 20 {
			t.Fatalf("merges %+v, want the staged 0..19 merged to 20 first", fb.merges)
		}
		if len(calls) != 1 || !slices.Equal(calls[0].offsets, seq(20, 30, 24)) || !slices.Equal(calls[0].letters, []int64{24}) {
			t.Fatalf("batch commits %+v, want 20..29 without 24, with 24 a dead letter", calls)
		}
		if got := h.durableOffsets(); !slices.Equal(got, []int64{20, 30}) {
			t.Errorf("durable %v, want [20 30]", got)
		}
	})
}

// A merge that finds its rows lost (or a row rejected) reads the staged
// records again and writes them batch by batch, in order, then the batch
// that was to be merged with them; every offset is written once after the
// failure and the partition ends past all of them.
func TestBacklogLostIsReadAgain(t *testing.T) {
	h, fb := newBacklogHarness(t, false)
	fb.failNext = pgwrite.ErrBacklogLost
	h.w.push(records(0, 20))
	waitUntil(t, "20 rows staged", func() bool { return fb.stagedCount() == 20 })
	fb.behind.Store(0)
	h.w.push(records(20, 33))
	h.drain(t)
	if !slices.Equal(fb.reads, [][2]int64{{0, 29}}) { // 20..29 staged: 30..32 were at hand
		t.Fatalf("read again %v, want [0 29]", fb.reads)
	}
	if got := h.written(); !slices.Equal(got, seq(0, 33)) {
		t.Fatalf("written after the failed merge %v, want 0..32 in order", got)
	}
	for _, c := range h.tx.committed() {
		if len(c.offsets) > 10 {
			t.Errorf("a batch of %d rows, over max_rows", len(c.offsets))
		}
	}
	if d := h.durableOffsets(); len(d) == 0 || d[len(d)-1] != 33 || !slices.IsSorted(d) {
		t.Errorf("durable %v, want rising to 33", d)
	}
	if h.w.stats.replays.Load() != 1 {
		t.Errorf("replays %d, want 1", h.w.stats.replays.Load())
	}
	if h.budget.InUse() != 0 {
		t.Errorf("budget in use %d", h.budget.InUse())
	}
}

// A rejected row found by the batch-by-batch rewrite is a dead letter
// (errors.tolerance: all), as without a backlog merge.
func TestBacklogRejectedRowIsolated(t *testing.T) {
	h, fb := newBacklogHarness(t, true)
	fb.failNext = &pgwrite.WriteError{Class: pgwrite.Data, Err: errors.New("check violation")}
	h.tx.fail = func(offsets []int64) error {
		if slices.Contains(offsets, 7) {
			return &pgwrite.WriteError{Class: pgwrite.Data, Err: errors.New("check violation")}
		}
		return nil
	}
	h.w.push(records(0, 20))
	waitUntil(t, "20 rows staged", func() bool { return fb.stagedCount() == 20 })
	h.drain(t)
	if got := h.written(); !slices.Equal(got, seq(0, 20, 7)) {
		t.Fatalf("written %v, want 0..19 without 7", got)
	}
	var letters []int64
	for _, c := range h.tx.committed() {
		letters = append(letters, c.letters...)
	}
	if !slices.Equal(letters, []int64{7}) {
		t.Errorf("dead letters %v, want [7]", letters)
	}
}

// A merge the server cancelled (statement_timeout) is written batch by batch
// and turns the backlog merge off for the partition: the next merge would be
// cancelled too.
func TestBacklogCanceledMergeTurnsItOff(t *testing.T) {
	h, fb := newBacklogHarness(t, false)
	fb.failNext = &pgwrite.WriteError{Class: pgwrite.Systemic, Err: pgwrite.ErrMergeCanceled}
	h.w.push(records(0, 20))
	waitUntil(t, "20 rows staged", func() bool { return fb.stagedCount() == 20 })
	fb.behind.Store(0)
	h.w.push(records(20, 30)) // a full batch that catches up: the merge, cancelled
	waitUntil(t, "the staged records written again", func() bool { return len(h.written()) == 30 })
	fb.behind.Store(1 << 20)
	h.w.push(records(30, 45)) // behind again: not staged any more
	h.drain(t)
	if n := fb.stagedCount(); n != 0 {
		t.Errorf("%d rows staged after a cancelled merge", n)
	}
	if got := h.written(); !slices.Equal(got, seq(0, 45)) {
		t.Errorf("written %v, want 0..44 in order", got)
	}
	if len(fb.merges) != 0 {
		t.Errorf("merges %+v after the cancelled one", fb.merges)
	}
	if !slices.Equal(fb.reads, [][2]int64{{0, 19}}) {
		t.Errorf("read again %v, want [0 19]", fb.reads)
	}
}

// A staging table that cannot be made (no CREATE right on the schema, say)
// turns the backlog merge off for the partition: every batch is written
// batch by batch, nothing is lost.
func TestBacklogEnsureFails(t *testing.T) {
	h, fb := newBacklogHarness(t, false)
	h.w.bl.deps.ensure = func(context.Context, *pgwrite.Backlog) error {
		return &pgwrite.WriteError{Class: pgwrite.Systemic, Err: errors.New("permission denied for schema public")}
	}
	h.w.push(records(0, 25))
	h.drain(t)
	if n := fb.stagedCount(); n != 0 || len(fb.merges) != 0 {
		t.Errorf("staged %d, merges %+v", n, fb.merges)
	}
	if got := h.written(); !slices.Equal(got, seq(0, 25)) {
		t.Errorf("written %v, want 0..24", got)
	}
	if !h.w.bl.off {
		t.Error("the backlog merge is still on")
	}
}

// Staging buffers take at most half of the in-flight budget, however many
// partitions a worker has.
func TestStageLimit(t *testing.T) {
	for _, c := range []struct {
		budget  int64
		workers int
		want    int64
	}{
		{64 << 20, 8, stageBytes}, // 8 × 2 MiB = 16 MiB of 64
		{64 << 20, 0, stageBytes}, // before the first assignment
		{64 << 20, 64, 512 << 10}, // 64 × 512 KiB = 32 MiB
		{64 << 20, 1000, 33554},   // 1000 × 33,554 B < 32 MiB
		{1 << 20, 1, 512 << 10},   // a small budget: half of it
	} {
		got := stageLimit(c.budget, c.workers)
		if got != c.want || int64(max(c.workers, 1))*got > c.budget/2 {
			t.Errorf("stageLimit(%d, %d) = %d, want %d (at most half the budget in all)", c.budget, c.workers, got, c.want)
		}
	}
}

// A run that goes on with backlog_merge: auto (lateOnly) stages a backlog
// only when the first record of its batch is at least backlog_max_age old
// by its Kafka timestamp: younger records, and records without a
// timestamp, are written batch by batch however far behind the partition
// is. Once staging, later batches are staged while the partition is
// behind, whatever their age, and merge with the batch that catches up.
func TestBacklogLateOnly(t *testing.T) {
	h, fb := newBacklogHarness(t, false)
	h.w.bl.deps.lateOnly = true
	h.w.bl.deps.maxAge = time.Minute
	stamp := func(recs []*kgo.Record, ts time.Time) []*kgo.Record {
		for _, r := range recs {
			r.Timestamp = ts
		}
		return recs
	}
	h.w.push(stamp(records(0, 10), time.Now().Add(-50*time.Second)))
	h.w.push(records(10, 20))
	h.w.push(stamp(records(20, 30), time.UnixMilli(-1))) // Kafka's "no timestamp"
	waitUntil(t, "three batches durable", func() bool { return slices.Equal(h.durableOffsets(), []int64{10, 20, 30}) })
	if n := fb.stagedCount(); n != 0 {
		t.Fatalf("%d rows staged of records younger than backlog_max_age or without a timestamp", n)
	}
	h.w.push(stamp(records(30, 40), time.Now().Add(-2*time.Minute)))
	waitUntil(t, "30..39 staged", func() bool { return fb.stagedCount() == 10 })
	h.w.push(stamp(records(40, 50), time.Now()))
	waitUntil(t, "40..49 staged", func() bool { return fb.stagedCount() == 20 })
	fb.behind.Store(0)
	h.w.push(stamp(records(50, 55), time.Now()))
	h.drain(t)
	if len(fb.merges) != 1 || fb.merges[0].rows != 25 || fb.merges[0].next != 55 {
		t.Fatalf("merges %+v, want one of 25 rows (30..54) moving to 55", fb.merges)
	}
	if got := h.durableOffsets(); !slices.Equal(got, []int64{10, 20, 30, 55}) {
		t.Errorf("durable %v, want [10 20 30 55]", got)
	}
}
