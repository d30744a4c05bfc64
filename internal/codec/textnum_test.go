package codec

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// TestAppendFloat64 compares AppendFloat64 with strconv on decimals of
// every scale near the fast path's bounds and on random bit patterns.
func TestAppendFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	check := func(f float64) {
		t.Helper()
		got, want := string(AppendFloat64([]byte("x"), f)), "x"+strconv.FormatFloat(f, 'g', -1, 64)
		if got != want {
			t.Fatalf("%v (%#x): got %s, want %s", f, math.Float64bits(f), got, want)
		}
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 0.2, 0.3, 19.99, 5.25, 100.5, 1e-4, 9.9999e-5, 1e6, 999999.999999,
		999999.9999999, 123456789012345, 0.000123456, 1.0000000000000002, math.Inf(1), math.NaN(), math.MaxFloat64,
		math.SmallestNonzeroFloat64, 1e15, 1e14 + 0.5, 0.1 + 0.2} {
		check(f)
		check(-f)
	}
	for range 300_000 {
		// decimals of up to 15 digits at every scale, and their neighbours
		d := r.IntN(8)
		k := r.Int64N(int64(math.Pow10(1 + r.IntN(15))))
		f := float64(k) / math.Pow10(d)
		check(f)
		check(math.Nextafter(f, math.Inf(1)))
		check(math.Nextafter(f, math.Inf(-1)))
		check(math.Float64frombits(r.Uint64()))
		check(r.Float64() * math.Pow10(r.IntN(12)-5))
	}
}

// TestAppendTimestamp compares AppendTimestamp with time's RFC 3339 text
// over the whole range of years 1 to 9999.
func TestAppendTimestamp(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	lo, hi := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	check := func(secs, nanos int64) {
		t.Helper()
		got := string(AppendTimestamp([]byte("x"), secs, nanos))
		want := "x" + time.Unix(secs, nanos).UTC().Format(time.RFC3339Nano)
		if got != want {
			t.Fatalf("%d.%09d: got %s, want %s", secs, nanos, got, want)
		}
	}
	for _, s := range []int64{lo, hi, 0, -1, 1, 86399, 86400, -86400, -86401, 951782400, 951868800, 4107542400, -62135596800 + 86400*59} {
		for _, ns := range []int64{0, 1, 500000000, 999999999, 120000000, 100} {
			check(s, ns)
		}
	}
	for range 300_000 {
		secs := lo + r.Int64N(hi-lo+1)
		var nanos int64
		switch r.IntN(3) {
		case 1:
			nanos = r.Int64N(1e9)
		case 2:
			nanos = r.Int64N(1000) * 1e6
		}
		check(secs, nanos)
	}
}
