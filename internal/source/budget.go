package source

import (
	"context"
	"sync"

	"github.com/kafka2pg/kafka2pg/internal/telemetry"
)

// Budget bounds the memory of records fetched but not yet durable, as
// estimated by RecordSize. The poll loop waits for room before each poll;
// whoever holds records gives their bytes back when they are durable or
// dropped. A Budget is safe for concurrent use.
type Budget struct {
	mu    sync.Mutex
	cond  chan struct{} // closed and replaced whenever bytes are released
	used  int64
	limit int64
	m     *telemetry.Metrics
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64, m *telemetry.Metrics) *Budget {
	m.InflightLimit.Set(float64(limit))
	return &Budget{limit: limit, cond: make(chan struct{}), m: m}
}

// Wait blocks until fewer than limit bytes are in flight or ctx ends, and
// returns the free room.
func (b *Budget) Wait(ctx context.Context) (int64, error) {
	for {
		b.mu.Lock()
		if b.used < b.limit {
			free := b.limit - b.used
			b.mu.Unlock()
			b.m.FetchPaused.Set(0)
			return free, nil
		}
		ch := b.cond
		b.mu.Unlock()
		b.m.FetchPaused.Set(1)
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Add takes n bytes.
func (b *Budget) Add(n int64) {
	b.mu.Lock()
	b.used += n
	b.m.InflightBytes.Set(float64(b.used))
	b.mu.Unlock()
}

// Release gives n bytes back.
func (b *Budget) Release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.m.InflightBytes.Set(float64(b.used))
	close(b.cond)
	b.cond = make(chan struct{})
	b.mu.Unlock()
}

// InUse is the bytes in flight now.
func (b *Budget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Full reports whether the budget has no room: fetching waits for writes.
func (b *Budget) Full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used >= b.limit
}
