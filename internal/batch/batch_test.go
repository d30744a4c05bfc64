package batch

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

var errData = errors.New("data")

// Isolate writes every good item once, in order, rejects exactly the bad
// ones, and calls write with an empty range right after each rejection.
func TestIsolate(t *testing.T) {
	for _, tc := range []struct {
		n   int
		bad []int
	}{
		{0, nil}, {1, nil}, {1, []int{0}}, {5, nil}, {8, []int{3}}, {8, []int{0, 7}},
		{9, []int{1, 2, 3}}, {16, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
	} {
		t.Run(fmt.Sprintf("n=%d bad=%v", tc.n, tc.bad), func(t *testing.T) {
			var written, rejected []int
			var calls []string
			write := func(lo, hi int) error {
				calls = append(calls, fmt.Sprintf("%d-%d", lo, hi))
				for i := lo; i < hi; i++ {
					if slices.Contains(tc.bad, i) {
						return errData
					}
				}
				for i := lo; i < hi; i++ {
					written = append(written, i)
				}
				return nil
			}
			reject := func(i int, err error) error {
				if !errors.Is(err, errData) {
					t.Fatalf("reject(%d) with %v", i, err)
				}
				rejected = append(rejected, i)
				return nil
			}
			if err := Isolate(tc.n, write, func(err error) bool { return errors.Is(err, errData) }, reject); err != nil {
				t.Fatal(err)
			}
			var good []int
			for i := range tc.n {
				if !slices.Contains(tc.bad, i) {
					good = append(good, i)
				}
			}
			if !slices.Equal(written, good) {
				t.Fatalf("written %v, want %v (calls %v)", written, good, calls)
			}
			if !slices.Equal(rejected, tc.bad) {
				t.Fatalf("rejected %v, want %v", rejected, tc.bad)
			}
			for _, b := range tc.bad {
				if !slices.Contains(calls, fmt.Sprintf("%d-%d", b+1, b+1)) {
					t.Fatalf("no empty write after rejecting %d: %v", b, calls)
				}
			}
		})
	}
}

// An error that is not split, or an error of reject, ends Isolate at once.
func TestIsolateStops(t *testing.T) {
	other := errors.New("systemic")
	n := 0
	err := Isolate(4, func(lo, hi int) error { n++; return other }, func(err error) bool { return errors.Is(err, errData) }, nil)
	if !errors.Is(err, other) || n != 1 {
		t.Fatalf("err %v after %d writes, want systemic after 1", err, n)
	}
	stop := errors.New("reject failed")
	err = Isolate(2, func(lo, hi int) error {
		if lo == 0 && hi > 0 {
			return errData
		}
		return nil
	}, func(err error) bool { return errors.Is(err, errData) }, func(int, error) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err %v, want the reject error", err)
	}
}

func TestPolicyFull(t *testing.T) {
	p := Policy{MaxRows: 10, MaxBytes: 100}
	if p.Full(9, 99) || !p.Full(10, 0) || !p.Full(0, 100) {
		t.Fatal("Full disagrees with MaxRows/MaxBytes")
	}
}
