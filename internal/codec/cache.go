package codec

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"golang.org/x/sync/singleflight"
)

// Cache holds what a decoder built for each schema id (a compiled schema and
// its *Type). A schema id never changes meaning, so entries are kept for the
// life of the decoder; failures are not kept, so a registry that was down is
// asked again. Concurrent first lookups of one id share one load: one
// registry request per new id, never per record. The zero Cache is ready;
// it is safe for concurrent use.
type Cache[T any] struct {
	m      sync.Map // int → T
	flight singleflight.Group
}

// loadAttempts bounds how often a caller whose context is live retries a
// shared load that failed only because the caller that started it gave up.
const loadAttempts = 3

// Load returns the entry for id if there is one. It does not allocate: a
// decoder calls it first, and Get (whose load func value may allocate) only
// on a miss.
func (c *Cache[T]) Load(id int) (T, bool) {
	if v, ok := c.m.Load(id); ok {
		return v.(T), true
	}
	var zero T
	return zero, false
}

// Get returns the entry for id, calling load once to build it when there is
// none. The load runs under the context of the caller that starts it; a
// caller stops waiting when its own ctx ends and gets ctx.Err().
func (c *Cache[T]) Get(ctx context.Context, id int, load func(ctx context.Context, id int) (T, error)) (T, error) {
	if v, ok := c.m.Load(id); ok {
		return v.(T), nil
	}
	var zero T
	key := strconv.Itoa(id)
	for attempt := 1; ; attempt++ {
		ch := c.flight.DoChan(key, func() (any, error) {
			// A caller that missed the map just before the previous load
			// stored its result lands here: do not load again.
			if v, ok := c.m.Load(id); ok {
				return v, nil
			}
			v, err := load(ctx, id)
			if err != nil {
				return nil, err
			}
			c.m.Store(id, v)
			return v, nil
		})
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case r := <-ch:
			if r.Err == nil {
				return r.Val.(T), nil
			}
			if r.Shared && attempt < loadAttempts && ctx.Err() == nil &&
				(errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
				continue
			}
			return zero, r.Err
		}
	}
}
