package pipeline

import (
	"strings"
	"testing"
	"time"
)

func TestWarnerBacksOff(t *testing.T) {
	var w warner
	t0 := time.Unix(1000, 0)
	var warned []time.Duration
	for s := 0; s <= 200; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		if w.hold(now, 10*time.Second) {
			warned = append(warned, now.Sub(t0))
		}
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second}
	if len(warned) != len(want) {
		t.Fatalf("warnings at %v, want %v", warned, want)
	}
	for i := range want {
		if warned[i] != want[i] {
			t.Fatalf("warnings at %v, want %v", warned, want)
		}
	}
	w.clear()
	if !w.hold(t0.Add(time.Hour), 0) {
		t.Error("after clear, a condition with no delay warns at once")
	}
}

func TestStallReason(t *testing.T) {
	long := fetchStallAfter + time.Second
	for _, tc := range []struct {
		name   string
		owning bool
		lag    int64
		full   bool
		idle   time.Duration
		stall  bool
	}{
		{"stalled", true, 10, false, long, true},
		{"caught up", true, 0, false, long, false},
		{"recent progress", true, 10, false, fetchStallAfter / 2, false},
		{"budget full: writes are slower", true, 10, true, long, false},
		{"owns nothing", false, 10, false, long, false},
	} {
		got := stallReason(tc.owning, tc.lag, tc.full, tc.idle)
		if (got != "") != tc.stall {
			t.Errorf("%s: %q, want stalled %v", tc.name, got, tc.stall)
		}
		if tc.stall && !strings.Contains(got, "10 are waiting") {
			t.Errorf("%s: %q does not say how many records wait", tc.name, got)
		}
	}
}
