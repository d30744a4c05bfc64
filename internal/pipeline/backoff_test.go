package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/kafka2pg/kafka2pg/config"
)

func TestBackoff(t *testing.T) {
	b := newBackoff(config.Retry{Initial: config.Duration(100 * time.Millisecond), Max: config.Duration(400 * time.Millisecond)})
	for i, step := range []time.Duration{100, 200, 400, 400} {
		step *= time.Millisecond
		if d := b.next(); d < step/2 || d > step {
			t.Fatalf("wait %d = %s, want within [%s, %s]", i, d, step/2, step)
		}
	}
	if b.exhausted() {
		t.Fatal("no max_elapsed: never exhausted")
	}
	b = newBackoff(config.Retry{Initial: config.Duration(time.Second), Max: config.Duration(time.Second), MaxElapsed: config.Duration(500 * time.Millisecond)})
	if !b.exhausted() {
		t.Fatal("a 1s wait cannot fit a 500ms budget")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); err == nil {
		t.Fatal("sleep ignores a cancelled context")
	}
}
