// Package retry is kafka2pg's one retry loop: every transient failure (a
// write, a dead-letter produce, a partition claim, a schema registry or DDL
// call, a replay batch) is retried through Do with the errors.retry policy.
//
// A wait is drawn between half and all of the current step (jitter, so that
// instances hit by the same outage do not retry in lockstep) and the step
// doubles up to Max. With MaxElapsed set, Do gives up when one more wait would
// pass it.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kafka2pg/kafka2pg/config"
)

// Policy is errors.retry.
type Policy struct {
	Initial, Max time.Duration
	// MaxElapsed bounds the time spent retrying; 0 retries until the
	// context ends.
	MaxElapsed time.Duration
}

// FromConfig is the policy of errors.retry.
func FromConfig(r config.Retry) Policy {
	return Policy{Initial: time.Duration(r.Initial), Max: time.Duration(r.Max), MaxElapsed: time.Duration(r.MaxElapsed)}
}

// Forever is p without MaxElapsed: retried until the context ends.
func (p Policy) Forever() Policy { p.MaxElapsed = 0; return p }

// Backoff paces the attempts of one retry loop. It is used by one goroutine.
type Backoff struct {
	step, max, budget time.Duration
	start             time.Time
}

// Backoff starts a backoff now.
func (p Policy) Backoff() *Backoff {
	step := max(p.Initial, time.Millisecond)
	return &Backoff{step: step, max: max(p.Max, step), budget: p.MaxElapsed, start: time.Now()}
}

// Exhausted reports whether waiting once more would pass MaxElapsed.
func (b *Backoff) Exhausted() bool {
	return b.budget > 0 && time.Since(b.start)+b.step > b.budget
}

// Elapsed is the time since the backoff started.
func (b *Backoff) Elapsed() time.Duration { return time.Since(b.start).Round(time.Millisecond) }

// Next returns the jittered wait before the next attempt and doubles the step.
func (b *Backoff) Next() time.Duration {
	d := b.step/2 + rand.N(b.step/2+1)
	b.step = min(b.step*2, b.max)
	return d
}

// GiveUpError is returned by Do when MaxElapsed passed; Err is the last
// failure.
type GiveUpError struct {
	Attempts int
	Elapsed  time.Duration
	Err      error
}

func (e *GiveUpError) Error() string {
	return fmt.Sprintf("gave up after %d attempts over %s (errors.retry.max_elapsed): %v", e.Attempts, e.Elapsed, e.Err)
}

func (e *GiveUpError) Unwrap() error { return e.Err }

// Hooks observe a retry loop. Both are optional.
type Hooks struct {
	// Retrying is called after a transient failure, before the wait.
	// The first call (attempt 1) marks the start of a stall.
	Retrying func(attempt int, wait time.Duration, err error)
	// Recovered is called once when an attempt succeeds, or the loop
	// ends, after at least one call of Retrying.
	Recovered func(attempts int)
}

// Do calls op (attempt counts from 1) until it returns nil, returns an error
// that transient rejects (returned as is), ctx ends (ctx.Err()), or
// MaxElapsed passes since the first failure (a *GiveUpError wrapping the
// last error). transient is asked about every failure; nil treats every
// failure as transient. An op that succeeds at once costs no clock read and
// no allocation: Do runs once per record.
func Do(ctx context.Context, p Policy, transient func(error) bool, h Hooks, op func(attempt int) error) error {
	var bo *Backoff // started by the first failure
	attempt := 1
	retried := false // Retrying was called: Recovered is owed, however the loop ends
	defer func() {
		if retried && h.Recovered != nil {
			h.Recovered(attempt)
		}
	}()
	for ; ; attempt++ {
		err := op(attempt)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if transient != nil && !transient(err) {
			return err
		}
		if bo == nil {
			bo = p.Backoff()
		}
		if bo.Exhausted() {
			return &GiveUpError{Attempts: attempt, Elapsed: bo.Elapsed(), Err: err}
		}
		wait := bo.Next()
		if h.Retrying != nil {
			h.Retrying(attempt, wait, err)
		}
		retried = true
		if err := Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsGiveUp reports whether err is a *GiveUpError.
func IsGiveUp(err error) bool {
	var g *GiveUpError
	return errors.As(err, &g)
}
