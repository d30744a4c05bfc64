package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := Policy{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond}.Backoff()
	for i, step := range []time.Duration{100, 200, 400, 400} {
		step *= time.Millisecond
		if d := b.Next(); d < step/2 || d > step {
			t.Fatalf("wait %d = %s, want within [%s, %s]", i, d, step/2, step)
		}
	}
	if b.Exhausted() {
		t.Fatal("no max_elapsed: never exhausted")
	}
	b = Policy{Initial: time.Second, Max: time.Second, MaxElapsed: 500 * time.Millisecond}.Backoff()
	if !b.Exhausted() {
		t.Fatal("a 1s wait cannot fit a 500ms budget")
	}
}

var errTransient = errors.New("transient")

func TestDo(t *testing.T) {
	ctx := context.Background()
	p := Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond}
	isTransient := func(err error) bool { return errors.Is(err, errTransient) }

	// Succeeds on the third attempt; the hooks see two retries and one recovery.
	var retried, recovered int
	h := Hooks{Retrying: func(int, time.Duration, error) { retried++ }, Recovered: func(n int) { recovered = n }}
	err := Do(ctx, p, isTransient, h, func(attempt int) error {
		if attempt < 3 {
			return errTransient
		}
		return nil
	})
	if err != nil || retried != 2 || recovered != 3 {
		t.Fatalf("err %v, retried %d, recovered after %d; want nil, 2, 3", err, retried, recovered)
	}

	// Cancelled while waiting after the first failure (a worker stopped
	// because its partitions were lost): Recovered is still called, once,
	// so that a stall counted by Retrying ends (readiness).
	wctx, cancelWait := context.WithCancel(ctx)
	retried, recovered = 0, 0
	calls := 0
	h = Hooks{Retrying: func(int, time.Duration, error) { retried++; cancelWait() }, Recovered: func(n int) { calls++; recovered = n }}
	err = Do(wctx, Policy{Initial: time.Hour, Max: time.Hour}, isTransient, h, func(int) error { return errTransient })
	if !errors.Is(err, context.Canceled) || retried != 1 || calls != 1 || recovered != 1 {
		t.Fatalf("cancelled in the wait: err %v, retried %d, recovered %d time(s) after %d; want context.Canceled, 1, 1, 1", err, retried, calls, recovered)
	}

	// A permanent error is returned at once, unwrapped.
	perm := errors.New("permanent")
	n := 0
	if err := Do(ctx, p, isTransient, Hooks{}, func(int) error { n++; return perm }); err != perm || n != 1 {
		t.Fatalf("permanent: %v after %d attempts", err, n)
	}

	// MaxElapsed: a GiveUpError wrapping the last error.
	p.MaxElapsed = 20 * time.Millisecond
	err = Do(ctx, p, nil, Hooks{}, func(int) error { return errTransient })
	var g *GiveUpError
	if !errors.As(err, &g) || !errors.Is(err, errTransient) || g.Attempts < 2 {
		t.Fatalf("max_elapsed: %v", err)
	}

	// A cancelled context ends the loop with its error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Do(cctx, p.Forever(), nil, Hooks{}, func(int) error { return errTransient }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if err := Sleep(cctx, time.Hour); err == nil {
		t.Fatal("Sleep ignores a cancelled context")
	}
}

// Do runs once per record: an op that succeeds at once must not start a
// backoff (an allocation and a clock read), and MaxElapsed counts from the
// first failure, not from the first attempt.
func TestDoFirstAttempt(t *testing.T) {
	ctx := context.Background()
	p := Policy{Initial: time.Millisecond, Max: time.Millisecond, MaxElapsed: 30 * time.Millisecond}
	once := func() {
		if err := Do(ctx, p, nil, Hooks{}, func(int) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// The least of three: AllocsPerRun counts the whole process's
	// allocations, and another goroutine can only add to one measurement.
	n := testing.AllocsPerRun(100, once)
	for range 2 {
		n = min(n, testing.AllocsPerRun(100, once))
	}
	if n != 0 {
		t.Fatalf("a first attempt that succeeds allocates %v times", n)
	}
	// A first attempt longer than MaxElapsed still gets its retries.
	attempts := 0
	err := Do(ctx, p, nil, Hooks{}, func(a int) error {
		attempts = a
		if a == 1 {
			time.Sleep(50 * time.Millisecond)
			return errors.New("slow failure")
		}
		if a < 3 {
			return errors.New("fast failure")
		}
		return nil
	})
	if err != nil || attempts != 3 {
		t.Fatalf("err %v after %d attempts, want success at the third", err, attempts)
	}
}
