package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/batch"
	"github.com/kafka2pg/kafka2pg/internal/dlq"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/retry"
	"github.com/kafka2pg/kafka2pg/internal/route"
	"github.com/kafka2pg/kafka2pg/internal/source"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// The worker's unit tests give it fake collaborators: a mapper that turns
// each record into one row (or fails as told), and a transaction stage that
// records what it is asked to commit (or fails as told). What the worker
// must get right on its own is asserted here: batches in offset order,
// durable offsets only after a commit, isolation of rejected records,
// record errors, retry classification, drain and abort.

// fakeMapper maps record i to one row with offset i.
type fakeMapper struct {
	b     *route.Binding
	mu    sync.Mutex
	fails map[int64][]error // errors to return, in turn, for an offset
	maps  []int64           // offsets mapped successfully, in order
	flush int               // Flushed calls
	set   table.Bitset      // when not nil, rows carry their offset in column 0
}

func (m *fakeMapper) Map(_ context.Context, r *kgo.Record, _ []*kgo.Record) ([]route.Row, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if errs := m.fails[r.Offset]; len(errs) > 0 {
		m.fails[r.Offset] = errs[1:]
		return nil, errs[0]
	}
	m.maps = append(m.maps, r.Offset)
	row := table.Row{Op: table.OpWrite, Offset: r.Offset}
	if m.set != nil {
		row.Vals, row.Set = []any{r.Offset}, m.set
	}
	return []route.Row{{B: m.b, Row: row}}, nil
}

func (m *fakeMapper) Flushed()                                { m.mu.Lock(); m.flush++; m.mu.Unlock() }
func (m *fakeMapper) Tables() string                          { return "t" }
func (m *fakeMapper) Filtered() bool                          { return false }
func (m *fakeMapper) Prefetch(context.Context, []*kgo.Record) {}
func (m *fakeMapper) PrefetchWindow() int                     { return 0 }

// commitCall is one call of the transaction stage.
type commitCall struct {
	offsets []int64
	letters []int64
	next    int64
}

type fakeTx struct {
	mu    sync.Mutex
	calls []commitCall // successful commits
	// fail decides an attempt's outcome from the offsets it holds.
	fail func(offsets []int64) error
}

func (f *fakeTx) commit(ctx context.Context, changes []pgwrite.Change, letters []dlq.Letter, next int64) error {
	var c commitCall
	for _, ch := range changes {
		for _, r := range ch.Rows {
			c.offsets = append(c.offsets, r.Offset)
		}
	}
	for _, l := range letters {
		c.letters = append(c.letters, l.Rec.Offset)
	}
	c.next = next
	if f.fail != nil {
		if err := f.fail(c.offsets); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	return nil
}

func (f *fakeTx) committed() []commitCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// harness is one worker with fakes around it.
type harness struct {
	w       *worker
	m       *fakeMapper
	tx      *fakeTx
	mu      sync.Mutex
	durable []int64
	failed  error
	fenced  error
	budget  *source.Budget
	metrics *telemetry.Metrics
}

func newHarness(t *testing.T, policy batch.Policy, tolerate bool) *harness {
	t.Helper()
	return newHarnessWith(t, policy, tolerate, nil)
}

// newHarnessWith is newHarness with edit changing the worker's
// collaborators before it starts.
func newHarnessWith(t *testing.T, policy batch.Policy, tolerate bool, edit func(*workerDeps)) *harness {
	t.Helper()
	tbl := table.NewTable("", "t", []table.Column{{Name: "id"}}, nil)
	wr, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Insert})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{m: &fakeMapper{b: &route.Binding{Route: &route.Route{}, Writer: wr}, fails: map[int64][]error{}},
		tx: &fakeTx{}, metrics: telemetry.NewMetrics()}
	h.budget = source.NewBudget(1<<30, h.metrics)
	deps := workerDeps{
		mapper:   h.m,
		commit:   h.tx.commit,
		durable:  func(off kgo.EpochOffset) { h.mu.Lock(); h.durable = append(h.durable, off.Offset); h.mu.Unlock() },
		fail:     func(err error) { h.mu.Lock(); h.failed = err; h.mu.Unlock() },
		fenced:   func(err error) { h.mu.Lock(); h.fenced = err; h.mu.Unlock() },
		budget:   h.budget,
		policy:   policy,
		retry:    retry.Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond},
		tolerate: tolerate,
		log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		m:        h.metrics,
		stats:    &stats{},
	}
	if edit != nil {
		edit(&deps)
	}
	h.w = newWorker(context.Background(), source.TP{Topic: "t"}, deps)
	go h.w.run()
	t.Cleanup(func() { h.w.stop(aborting); <-h.w.done })
	return h
}

func records(from, to int64) []*kgo.Record {
	var out []*kgo.Record
	for i := from; i < to; i++ {
		out = append(out, &kgo.Record{Topic: "t", Offset: i, Value: []byte(fmt.Sprint(i))})
	}
	return out
}

// drain stops the worker softly and waits for it.
func (h *harness) drain(t *testing.T) {
	t.Helper()
	h.w.stop(draining)
	select {
	case <-h.w.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not drain")
	}
}

func (h *harness) durableOffsets() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.durable)
}

func (h *harness) written() []int64 {
	var out []int64
	for _, c := range h.tx.committed() {
		out = append(out, c.offsets...)
	}
	return out
}

func seq(from, to int64, skip ...int64) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		if !slices.Contains(skip, i) {
			out = append(out, i)
		}
	}
	return out
}

// Batches are cut at max_rows, written in offset order, and each one's end
// is marked durable only after it committed; the budget comes back whole.
func TestWorkerBatchesInOrder(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 10, MaxBytes: 1 << 30, MaxWait: time.Hour}, false)
	h.w.push(records(0, 12))
	h.w.push(records(12, 25))
	h.drain(t)
	calls := h.tx.committed()
	if len(calls) != 3 || len(calls[0].offsets) != 10 || len(calls[1].offsets) != 10 || len(calls[2].offsets) != 5 {
		t.Fatalf("commits %+v, want 10, 10 and 5 rows", calls)
	}
	if got := h.written(); !slices.Equal(got, seq(0, 25)) {
		t.Fatalf("written %v", got)
	}
	if !slices.Equal(h.durable, []int64{10, 20, 25}) {
		t.Fatalf("durable %v, want [10 20 25]", h.durable)
	}
	for i, c := range calls {
		if c.next != h.durable[i] {
			t.Errorf("commit %d moved to %d, durable %d", i, c.next, h.durable[i])
		}
	}
	if n := h.budget.InUse(); n != 0 {
		t.Fatalf("%d budget bytes still held", n)
	}
}

// max_wait writes a partial batch without a drain.
func TestWorkerMaxWait(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 1000, MaxBytes: 1 << 30, MaxWait: 20 * time.Millisecond}, false)
	h.w.push(records(0, 3))
	deadline := time.Now().Add(5 * time.Second)
	for len(h.tx.committed()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := h.written(); !slices.Equal(got, seq(0, 3)) {
		t.Fatalf("written %v after max_wait", got)
	}
}

// A database that rejects one record's rows (tolerance all): the batch is
// split until that record is alone; it becomes a dead letter carried by the
// next transaction, every other row is written once, in order, and the
// partition moves to the end.
func TestWorkerIsolatesRejectedRows(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 100, MaxBytes: 1 << 30, MaxWait: time.Hour}, true)
	bad := []int64{3, 13, 14}
	h.tx.fail = func(offsets []int64) error {
		for _, o := range offsets {
			if slices.Contains(bad, o) {
				return &pgwrite.WriteError{Class: pgwrite.Data, Err: &pgconn.PgError{Code: "23514", Message: "check violation"}}
			}
		}
		return nil
	}
	h.w.push(records(0, 20))
	h.drain(t)
	if got := h.written(); !slices.Equal(got, seq(0, 20, bad...)) {
		t.Fatalf("written %v", got)
	}
	var letters []int64
	for _, c := range h.tx.committed() {
		letters = append(letters, c.letters...)
	}
	if !slices.Equal(letters, bad) {
		t.Fatalf("dead letters %v, want %v", letters, bad)
	}
	if h.durable[len(h.durable)-1] != 20 || h.failed != nil {
		t.Fatalf("durable %v, failed %v", h.durable, h.failed)
	}
	// Every commit moves the partition forward from where the last one
	// ended: no gap, no overlap.
	prev := int64(-1)
	for _, c := range h.tx.committed() {
		if len(c.offsets) > 0 && c.offsets[0] <= prev {
			t.Fatalf("commit %+v overlaps the previous one ending at %d", c, prev)
		}
		if c.next <= prev {
			t.Fatalf("commit %+v moves backwards from %d", c, prev)
		}
		prev = c.next - 1
	}
}

// Without tolerance, a rejected batch stops the pipeline: nothing of it is
// marked durable.
func TestWorkerRejectedRowsStop(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 100, MaxBytes: 1 << 30, MaxWait: time.Hour}, false)
	h.tx.fail = func(offsets []int64) error {
		return &pgwrite.WriteError{Class: pgwrite.Data, Err: &pgconn.PgError{Code: "23514"}}
	}
	h.w.push(records(0, 5))
	h.drain(t)
	var werr *pgwrite.WriteError
	if !errors.As(h.failed, &werr) || len(h.durable) != 0 || len(h.tx.committed()) != 0 {
		t.Fatalf("failed %v, durable %v, commits %v", h.failed, h.durable, h.tx.committed())
	}
}

// Without tolerance, a batch the database rejects is split until the
// refused record is alone: the records before it are written and marked
// durable, the pipeline is told with an error about that record alone, and
// nothing at or after it is written.
func TestWorkerRejectedRowStopsAtTheRecord(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 100, MaxBytes: 1 << 30, MaxWait: time.Hour}, false)
	h.tx.fail = func(offsets []int64) error {
		if slices.Contains(offsets, 6) {
			return &pgwrite.WriteError{Class: pgwrite.Data, FirstOffset: offsets[0], LastOffset: offsets[len(offsets)-1],
				Err: &pgconn.PgError{Code: "23514"}}
		}
		return nil
	}
	h.w.push(records(0, 10))
	h.drain(t)
	var werr *pgwrite.WriteError
	if !errors.As(h.failed, &werr) || werr.FirstOffset != 6 || werr.LastOffset != 6 {
		t.Fatalf("failed %v, want the write error of offset 6 alone", h.failed)
	}
	if got := h.written(); !slices.Equal(got, seq(0, 6)) {
		t.Fatalf("written %v, want 0..5", got)
	}
	if len(h.durable) == 0 || h.durable[len(h.durable)-1] != 6 {
		t.Fatalf("durable %v, want it to end at 6", h.durable)
	}
}

// A record error without tolerance: what came before is written and
// durable, the pipeline is told, nothing at or after the bad record is
// written or marked durable.
func TestWorkerRecordErrorStops(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 100, MaxBytes: 1 << 30, MaxWait: time.Hour}, false)
	rerr := &transform.RecordError{Topic: "t", Offset: 7, Stage: transform.StageMap, Reason: "bad"}
	h.m.fails[7] = []error{rerr}
	h.w.push(records(0, 20))
	select {
	case <-h.w.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop on a record error")
	}
	if !errors.Is(h.failed, rerr) {
		t.Fatalf("failed %v", h.failed)
	}
	if got := h.written(); !slices.Equal(got, seq(0, 7)) || !slices.Equal(h.durable, []int64{7}) {
		t.Fatalf("written %v, durable %v; want 0..6 and [7]", got, h.durable)
	}
}

// With tolerance, a record error is a dead letter in the same transaction
// as the batch's rows.
func TestWorkerRecordErrorDeadLetter(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 100, MaxBytes: 1 << 30, MaxWait: time.Hour}, true)
	h.m.fails[7] = []error{&transform.RecordError{Topic: "t", Offset: 7, Stage: transform.StageDecode, Reason: "bad"}}
	h.w.push(records(0, 10))
	h.drain(t)
	calls := h.tx.committed()
	if len(calls) != 1 || !slices.Equal(calls[0].offsets, seq(0, 10, 7)) || !slices.Equal(calls[0].letters, []int64{7}) || calls[0].next != 10 {
		t.Fatalf("commits %+v", calls)
	}
}

// A schema registry that cannot be reached is retried, not dead-lettered;
// an error that is neither a record error nor transient stops the pipeline.
func TestWorkerMapRetryClassification(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 100, MaxBytes: 1 << 30, MaxWait: time.Hour}, true)
	unavailable := &registry.UnavailableError{URL: "http://sr", Err: errors.New("refused")}
	h.m.fails[3] = []error{unavailable, unavailable}
	h.w.push(records(0, 6))
	h.drain(t)
	if got := h.written(); !slices.Equal(got, seq(0, 6)) || h.failed != nil {
		t.Fatalf("written %v, failed %v", got, h.failed)
	}
	if n := testCounter(h.metrics.RegistryErrors); n != 2 {
		t.Fatalf("%v registry retries counted, want 2", n)
	}

	h = newHarness(t, batch.Policy{MaxRows: 100, MaxBytes: 1 << 30, MaxWait: time.Hour}, true)
	fatal := errors.New("401 unauthorized")
	h.m.fails[2] = []error{fatal}
	h.w.push(records(0, 6))
	<-h.w.done
	if !errors.Is(h.failed, fatal) || !slices.Equal(h.written(), []int64(nil)) {
		t.Fatalf("failed %v, written %v: a fatal error must stop without writing the batch", h.failed, h.written())
	}
}

// A route that moved to a new table version: the rows mapped for the old
// one are written before the record is mapped again.
func TestWorkerFlushBeforeNewTableVersion(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 100, MaxBytes: 1 << 30, MaxWait: time.Hour}, false)
	h.m.fails[5] = []error{route.ErrFlush}
	h.w.push(records(0, 8))
	h.drain(t)
	calls := h.tx.committed()
	if len(calls) != 2 || !slices.Equal(calls[0].offsets, seq(0, 5)) || calls[0].next != 5 || !slices.Equal(calls[1].offsets, seq(5, 8)) {
		t.Fatalf("commits %+v, want 0..4 then 5..7", calls)
	}
	if h.m.flush == 0 {
		t.Fatal("the mapper was not told of the flush")
	}
}

// Abort while a write is in flight: it rolls back, nothing is marked
// durable and the pipeline is not told of an error.
func TestWorkerAbortInFlight(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 5, MaxBytes: 1 << 30, MaxWait: time.Hour}, false)
	started := make(chan struct{})
	var once sync.Once
	h.tx.fail = func([]int64) error {
		once.Do(func() { close(started) })
		<-h.w.ctx.Done()
		return h.w.ctx.Err()
	}
	h.w.push(records(0, 5))
	<-started
	h.w.stop(aborting)
	<-h.w.done
	if len(h.durable) != 0 || h.failed != nil || len(h.tx.committed()) != 0 {
		t.Fatalf("durable %v, failed %v, commits %v", h.durable, h.failed, h.tx.committed())
	}
	if n := h.budget.InUse(); n != 0 {
		t.Fatalf("%d budget bytes still held after abort", n)
	}
}

// A fenced write gives the partition up quietly.
func TestWorkerFenced(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 5, MaxBytes: 1 << 30, MaxWait: time.Hour}, false)
	h.tx.fail = func([]int64) error { return fmt.Errorf("advance: %w", pgwrite.ErrFenced) }
	h.w.push(records(0, 5))
	<-h.w.done
	if !errors.Is(h.fenced, pgwrite.ErrFenced) || h.failed != nil || len(h.durable) != 0 {
		t.Fatalf("fenced %v, failed %v, durable %v", h.fenced, h.failed, h.durable)
	}
}

// Records pushed after the worker exited are dropped and take no budget.
func TestWorkerPushAfterExit(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 5, MaxBytes: 1 << 30, MaxWait: time.Hour}, false)
	h.drain(t)
	h.w.push(records(0, 3))
	if n := h.budget.InUse(); n != 0 {
		t.Fatalf("%d budget bytes held by records pushed after exit", n)
	}
}

// Adaptive batching (group commit): a batch is written as soon as nothing
// more is queued, without waiting for max_wait; records that arrive while a
// write is in flight make the next batch, whole; max_rows still cuts.
func TestWorkerAdaptive(t *testing.T) {
	h := newHarness(t, batch.Policy{MaxRows: 10, MaxBytes: 1 << 30, MaxWait: time.Hour, Adaptive: true}, false)
	inWrite, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	h.tx.fail = func(offsets []int64) error {
		if calls.Add(1) == 1 {
			close(inWrite)
			<-release
		}
		return nil
	}
	h.w.push(records(0, 3))
	select {
	case <-inWrite:
	case <-time.After(5 * time.Second):
		t.Fatal("a partial batch was not written at once (max_wait is an hour)")
	}
	h.w.push(records(3, 5))
	h.w.push(records(5, 8))
	h.w.push(records(8, 30))
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for len(h.written()) < 30 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var sizes []int
	for _, c := range h.tx.committed() {
		sizes = append(sizes, len(c.offsets))
	}
	// 3 alone; then the 27 queued during that write, cut at 10 rows.
	if !slices.Equal(sizes, []int{3, 10, 10, 7}) {
		t.Fatalf("batch sizes %v, want [3 10 10 7]", sizes)
	}
	if got := h.written(); !slices.Equal(got, seq(0, 30)) {
		t.Fatalf("written %v", got)
	}
}
