package health

import (
	"strings"
	"testing"
	"time"
)

func TestWarnerBacksOff(t *testing.T) {
	var w Warner
	t0 := time.Unix(1000, 0)
	var warned []time.Duration
	for s := 0; s <= 200; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		if w.Hold(now, 10*time.Second) {
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
	w.Clear()
	if !w.Hold(t0.Add(time.Hour), 0) {
		t.Error("after clear, a condition with no delay warns at once")
	}
}

func TestStallReason(t *testing.T) {
	long := FetchStallAfter + time.Second
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
		{"recent progress", true, 10, false, FetchStallAfter / 2, false},
		{"budget full: writes are slower", true, 10, true, long, false},
		{"owns nothing", false, 10, false, long, false},
	} {
		got := StallReason(tc.owning, tc.lag, tc.full, tc.idle)
		if (got != "") != tc.stall {
			t.Errorf("%s: %q, want stalled %v", tc.name, got, tc.stall)
		}
		if tc.stall && !strings.Contains(got, "10 are waiting") {
			t.Errorf("%s: %q does not say how many records wait", tc.name, got)
		}
	}
}

// A member silent past the bound is cut off; the bound follows the session
// timeout within 6–15 s; before joining the group, membership says it.
func TestSilence(t *testing.T) {
	for _, tc := range []struct{ session, want time.Duration }{
		{4 * time.Second, 6 * time.Second},
		{10 * time.Second, 10 * time.Second},
		{45 * time.Second, 15 * time.Second},
	} {
		if got := SilenceBound(tc.session); got != tc.want {
			t.Errorf("SilenceBound(%s) = %s, want %s", tc.session, got, tc.want)
		}
	}
	bound := 6 * time.Second
	for _, tc := range []struct {
		joined bool
		silent time.Duration
		want   string
	}{
		{true, 3 * time.Second, ""},
		{true, 6 * time.Second, ""},
		{true, 7 * time.Second, "kafka: no answer from any broker for 7s"},
		{false, time.Minute, ""},
	} {
		if got := SilenceReason(tc.joined, tc.silent, bound); got != tc.want {
			t.Errorf("SilenceReason(%v, %s) = %q, want %q", tc.joined, tc.silent, got, tc.want)
		}
	}
}
