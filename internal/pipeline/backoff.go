package pipeline

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/kafka2pg/kafka2pg/config"
)

// backoff paces retries of transient failures (errors.retry): each wait is
// drawn between half and all of the current step (jitter, so that instances
// hit by the same outage do not retry in lockstep), and the step doubles up
// to Max. With MaxElapsed set, exhausted reports when one more wait would
// pass the budget. A backoff is used by one goroutine.
type backoff struct {
	step, max, budget time.Duration
	start             time.Time
}

func newBackoff(r config.Retry) *backoff {
	return &backoff{step: time.Duration(r.Initial), max: time.Duration(r.Max), budget: time.Duration(r.MaxElapsed), start: time.Now()}
}

// exhausted reports whether waiting once more would pass errors.retry.max_elapsed.
func (b *backoff) exhausted() bool {
	return b.budget > 0 && time.Since(b.start)+b.step > b.budget
}

// elapsed is the time since the first attempt.
func (b *backoff) elapsed() time.Duration { return time.Since(b.start).Round(time.Millisecond) }

// next returns the jittered wait before the next attempt and doubles the step.
func (b *backoff) next() time.Duration {
	d := b.step/2 + rand.N(b.step/2+1)
	b.step = min(b.step*2, b.max)
	return d
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
