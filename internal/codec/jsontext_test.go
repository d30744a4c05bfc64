package codec

import (
	"strings"
	"testing"
)

// PlainStringEnd finds the closing quote, or -1 for an escape, a control
// character or no end, wherever they fall in its eight-byte steps.
func TestPlainStringEnd(t *testing.T) {
	for n := 0; n < 40; n++ {
		body := []byte(strings.Repeat("aé~", 14))[:n]
		for _, tc := range []struct {
			stop byte
			want func(at int) int
		}{
			{'"', func(at int) int { return at }},
			{'\\', func(int) int { return -1 }},
			{0x1f, func(int) int { return -1 }},
			{0x00, func(int) int { return -1 }},
		} {
			for at := 0; at <= n; at++ {
				s := append(append(append([]byte{}, body[:at]...), tc.stop), body[at:]...)
				s = append(s, '"')
				if got, want := PlainStringEnd(s, 0), tc.want(at); got != want {
					t.Fatalf("%q: PlainStringEnd = %d, want %d", s, got, want)
				}
			}
		}
		if got := PlainStringEnd(body, 0); got != -1 {
			t.Fatalf("%q without a quote: %d", body, got)
		}
	}
}
