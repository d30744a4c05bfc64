package pipeline

import (
	"context"
	"sync"
)

// budget bounds the bytes of records fetched but not yet durable. The poll
// loop waits for room before each poll; workers give bytes back when their
// batch commits (or when they drop records). One poll may overshoot the
// limit by at most what it returned, which kgo bounds by fetch_max_bytes.
type budget struct {
	mu    sync.Mutex
	cond  chan struct{} // closed and replaced whenever bytes are released
	used  int64
	limit int64
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, cond: make(chan struct{})}
}

// wait blocks until fewer than limit bytes are in flight or ctx ends.
func (b *budget) wait(ctx context.Context) error {
	for {
		b.mu.Lock()
		if b.used < b.limit {
			b.mu.Unlock()
			return nil
		}
		ch := b.cond
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) add(n int64) {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.cond)
	b.cond = make(chan struct{})
	b.mu.Unlock()
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
