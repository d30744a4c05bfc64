package transform

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkPlainEnd holds plainEnd to nestedEnd for text, an object or array
// followed by more bytes: on a payload the direct path calls plain (valid
// JSON, valid UTF-8, no backslash), both must find the same end and the
// same whitespace, and decline the same depths.
func checkPlainEnd(t testing.TB, text string) {
	t.Helper()
	data := []byte(text + `,"next":1}`)
	pe, pws := plainEnd(data, 0)
	ne, nws := nestedEnd(data, 0, 0)
	if pe != ne || pe >= 0 && pws != nws {
		t.Fatalf("%.200q: plainEnd %d %v, nestedEnd %d %v", text, pe, pws, ne, nws)
	}
}

// plainValue writes a random JSON value without backslashes, nested at
// most depth deep, with whitespace between tokens when ws.
func plainValue(r *rand.Rand, b *strings.Builder, depth int, ws bool) {
	sp := func() {
		if ws && r.IntN(3) == 0 {
			b.WriteString([]string{" ", "\n", "\t", "\r\n  "}[r.IntN(4)])
		}
	}
	k := r.IntN(8)
	if depth <= 0 {
		k = r.IntN(4)
	}
	switch k {
	case 0:
		b.WriteString([]string{`""`, `"a"`, `"x}]y"`, `"é ü {["`, `"日本"`, `"[1,2]"`}[r.IntN(6)])
	case 1:
		b.WriteString([]string{"0", "-1", "12.5e3", "1E-2", "123456789012345678901"}[r.IntN(5)])
	case 2:
		b.WriteString([]string{"true", "false", "null"}[r.IntN(3)])
	case 3:
		b.WriteString(`"s"`)
	case 4, 5:
		items(r, b, '{', '}', sp, func() {
			b.WriteString([]string{`"k"`, `"}"`, `"a b"`, `""`}[r.IntN(4)])
			sp()
			b.WriteByte(':')
			sp()
			plainValue(r, b, depth-1, ws)
		})
	default:
		items(r, b, '[', ']', sp, func() { plainValue(r, b, depth-1, ws) })
	}
}

// items writes up to three items (item writes one) between open and
// closing, sp between tokens.
func items(r *rand.Rand, b *strings.Builder, open, closing byte, sp, item func()) {
	b.WriteByte(open)
	n := r.IntN(4)
	for i := range n {
		sp()
		item()
		sp()
		if i < n-1 {
			b.WriteByte(',')
		}
	}
	sp()
	b.WriteByte(closing)
}

// TestPlainEndAgrees: plainEnd, which the direct path uses on proved and
// written payloads, finds what nestedEnd finds, for random values with and
// without whitespace and for nesting around maxDirectDepth.
func TestPlainEndAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	n := 0
	for range 20000 {
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteByte('{')
			b.WriteString(`"v":`)
			plainValue(r, &b, 1+r.IntN(5), r.IntN(2) == 0)
			b.WriteByte('}')
		} else {
			b.WriteByte('[')
			plainValue(r, &b, 1+r.IntN(5), r.IntN(2) == 0)
			b.WriteByte(']')
		}
		text := b.String()
		if !json.Valid([]byte(text)) || strings.Contains(text, `\`) {
			t.Fatalf("the generator wrote %q", text)
		}
		checkPlainEnd(t, text)
		n++
	}
	for depth := maxDirectDepth - 2; depth <= maxDirectDepth+2; depth++ {
		for _, open := range []string{"[", `{"a":`} {
			closing := "]"
			if open != "[" {
				closing = "}"
			}
			text := strings.Repeat(open, depth) + "1" + strings.Repeat(closing, depth)
			checkPlainEnd(t, text)
			if _, ws := nestedEnd([]byte(text), 0, 0); ws {
				t.Fatal("unexpected whitespace")
			}
		}
	}
	if e, _ := plainEnd([]byte(strings.Repeat("[", maxDirectDepth+1)+strings.Repeat("]", maxDirectDepth+1)), 0); e >= 0 {
		t.Fatalf("plainEnd took %d levels", maxDirectDepth+1)
	}
	if e, _ := plainEnd([]byte(strings.Repeat("[", maxDirectDepth)+strings.Repeat("]", maxDirectDepth)), 0); e < 0 {
		t.Fatalf("plainEnd declined %d levels", maxDirectDepth)
	}
	t.Logf("%d values", n)
}

// FuzzPlainEnd holds plainEnd to nestedEnd on any object or array that is
// JSON, valid UTF-8 and has no backslash (what the direct path calls
// plain).
func FuzzPlainEnd(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,{"b":"}"}]}`, "[ 1 ,\n2 ]", `{"é":"[{"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || s[0] != '{' && s[0] != '[' || !utf8.ValidString(s) || strings.Contains(s, `\`) || !json.Valid([]byte(s)) {
			return
		}
		checkPlainEnd(t, s)
	})
}
