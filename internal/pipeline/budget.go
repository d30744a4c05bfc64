package pipeline

import (
	"context"
	"sync"

	"github.com/kafka2pg/kafka2pg/internal/telemetry"
)

// budget bounds the memory of records fetched but not yet durable, as
// estimated by recordSize. The poll loop waits for room before each poll;
// workers give bytes back when their batch commits (or when they drop
// records).
type budget struct {
	mu    sync.Mutex
	cond  chan struct{} // closed and replaced whenever bytes are released
	used  int64
	limit int64
	m     *telemetry.Metrics
}

func newBudget(limit int64, m *telemetry.Metrics) *budget {
	m.InflightLimit.Set(float64(limit))
	return &budget{limit: limit, cond: make(chan struct{}), m: m}
}

// wait blocks until fewer than limit bytes are in flight or ctx ends, and
// returns the free room.
func (b *budget) wait(ctx context.Context) (int64, error) {
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

func (b *budget) add(n int64) {
	b.mu.Lock()
	b.used += n
	b.m.InflightBytes.Set(float64(b.used))
	b.mu.Unlock()
}

func (b *budget) release(n int64) {
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

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
