package codec

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fastjson"
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
			{0x7f, func(int) int { return n + 1 }}, // DEL is plain
		} {
			for at := 0; at <= n; at++ {
				s := append(append(append([]byte{}, body[:at]...), tc.stop), body[at:]...)
				s = append(s, '"')
				if got, want := PlainStringEnd(s, 0), tc.want(at); got != want {
					t.Fatalf("%q: PlainStringEnd = %d, want %d", s, got, want)
				}
			}
		}
		// A quote before an escape or a control character in the same
		// word, and after one.
		for at := 0; at+1 <= n; at++ {
			for _, stop := range []byte{'\\', 0x01} {
				s := append(append(append([]byte{}, body[:at]...), '"', stop), body[at:]...)
				if got := PlainStringEnd(s, 0); got != at {
					t.Fatalf("%q: PlainStringEnd = %d, want %d", s, got, at)
				}
				s = append(append(append([]byte{}, body[:at]...), stop, '"'), body[at:]...)
				if got := PlainStringEnd(s, 0); got != -1 {
					t.Fatalf("%q: PlainStringEnd = %d, want -1", s, got)
				}
			}
		}
		if got := PlainStringEnd(body, 0); got != -1 {
			t.Fatalf("%q without a quote: %d", body, got)
		}
	}
}

// ValidUTF8 answers as utf8.Valid, on ASCII and on every kind of
// multi-byte and broken sequence at every position.
func TestValidUTF8(t *testing.T) {
	for _, mid := range []string{"", "é", "€", "𝄞", "\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80"} {
		for n := 0; n < 20; n++ {
			s := []byte(strings.Repeat("a", n) + mid + strings.Repeat("b", 19-n))
			if got, want := ValidUTF8(s), utf8.Valid(s); got != want {
				t.Fatalf("%q: ValidUTF8 %v, utf8.Valid %v", s, got, want)
			}
		}
	}
}

// NumberEnd takes a whole text exactly when encoding/json reads it as one
// JSON number, and LiteralEnd exactly true, false and null.
func TestNumberEndLiteralEnd(t *testing.T) {
	for _, s := range []string{"0", "-0", "7", "-12", "10.5", "0.25", "1e3", "1E+2", "2.5e-3", "123456789012345678901234",
		"01", "-", "1.", ".5", "+1", "1e", "1e+", "0x10", "NaN", "1.5.2", "--1", "1ee2", "-01"} {
		want := json.Valid([]byte(s)) && (s[0] == '-' || s[0] >= '0' && s[0] <= '9')
		if got := NumberEnd([]byte(s), 0) == len(s); got != want {
			t.Errorf("%q: NumberEnd takes it whole: %v, want %v", s, got, want)
		}
	}
	for _, s := range []string{"true", "false", "null", "tru", "nul", "fals", "True"} {
		want := s == "true" || s == "false" || s == "null"
		if got := LiteralEnd([]byte(s), 0) == len(s); got != want {
			t.Errorf("%q: LiteralEnd takes it whole: %v, want %v", s, got, want)
		}
	}
}

// TestStringValue: the value holds the string's own bytes, whatever
// characters Go's quoting would escape differently from JSON, invalid
// UTF-8 included (for the column's coercion to refuse), and marshals as
// valid JSON when the bytes are valid UTF-8.
func TestStringValue(t *testing.T) {
	var a fastjson.Arena
	var esc []byte
	for _, s := range []string{"", "plain", "é", "a\"b\\c", "tab\there\n", "\x00\x01\x1f", "del\x7f", "\U0001fffe", "\U000e0001",
		"\u2028\u00a0", "bad \xff", "bad \xff with \"quote\"", "\xed\xa0\x80", "mixed \x01 \xff \""} {
		v := StringValue(&a, []byte(s), &esc)
		text := v.MarshalTo(nil)
		if got := string(v.GetStringBytes()); got != s {
			t.Errorf("%q: value %q", s, got)
		}
		if !utf8.ValidString(s) {
			continue
		}
		back, err := fastjson.ParseBytes(text)
		if err != nil || string(back.GetStringBytes()) != s {
			t.Errorf("%q: marshals as %s (%v)", s, text, err)
		}
	}
}

// BenchmarkPlainStringEnd scans the strings of make bench's order record
// (keys and values), each from after its opening quote.
func BenchmarkPlainStringEnd(b *testing.B) {
	rec := []byte(`{"order_id":1234567890123,"customer_id":42,"status":"paid","amount":"1234.50","currency":"EUR","express":true,"created_at":"2024-05-01T12:00:00.123Z","note":null,"items":[{"sku":"SKU-0001","qty":2,"price":19.99}],"version":7}`)
	var starts []int
	in := false
	for i, c := range rec {
		if c == '"' {
			if !in {
				starts = append(starts, i+1)
			}
			in = !in
		}
	}
	for b.Loop() {
		for _, s := range starts {
			if PlainStringEnd(rec, s) < 0 {
				b.Fatal("declined")
			}
		}
	}
}
