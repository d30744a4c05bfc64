package coerce

import (
	"encoding/base64"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"
)

// b2s returns a string that shares b's memory. The result must not be
// retained beyond the call it is passed to, nor outlive b.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// s2b is the bytes of s, which must not be written.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// checkText applies the rules of PostgreSQL's text input to s and returns the
// length of s to store: valid UTF-8, no NUL, at most 63 bytes for name, and
// for varchar(n)/bpchar(n) at most n characters, where characters beyond n
// are accepted and cut off when they are all spaces (PostgreSQL does the same
// for both types when a value is stored).
func (t *Type) checkText(s string) (int, error) {
	if !utf8.ValidString(s) {
		return 0, errorf("string is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return 0, errorf("string contains U+0000 (NUL), which " + t.name() + " cannot store")
	}
	if (t.maxBytes > 0 || t.OID == nameOID) && len(s) > pgNameMaxBytes {
		return 0, errorf("string of " + strconv.Itoa(len(s)) + " bytes exceeds " + t.name() + " (at most 63 bytes)")
	}
	if t.MaxLen > 0 && len(s) > t.MaxLen {
		// len(s) bytes ≥ characters: only count when it may matter.
		n := utf8.RuneCountInString(s)
		if n > t.MaxLen {
			end := 0
			for range t.MaxLen {
				_, size := utf8.DecodeRuneInString(s[end:])
				end += size
			}
			if strings.Trim(s[end:], " ") != "" {
				return 0, errorf("string of " + strconv.Itoa(n) + " characters exceeds " + t.name())
			}
			return end, nil
		}
	}
	return len(s), nil
}

// boolWord recognises PostgreSQL's words for a boolean, ignoring case:
// true/false, t/f, yes/no, y/n, on/off, 1/0.
func boolWord(s string) (value, ok bool) {
	if len(s) > 5 {
		return false, false
	}
	switch {
	case strings.EqualFold(s, "true"), strings.EqualFold(s, "t"), strings.EqualFold(s, "yes"),
		strings.EqualFold(s, "y"), strings.EqualFold(s, "on"), s == "1":
		return true, true
	case strings.EqualFold(s, "false"), strings.EqualFold(s, "f"), strings.EqualFold(s, "no"),
		strings.EqualFold(s, "n"), strings.EqualFold(s, "off"), s == "0":
		return false, true
	}
	return false, false
}

func (t *Type) parseBool(s string) (bool, error) {
	b, ok := boolWord(s)
	if !ok {
		return false, errorf(quote(s) + " is not a valid " + t.name())
	}
	return b, nil
}

// hexVal maps an ASCII hex digit to its value and anything else to -1.
var hexVal = func() (tab [256]int8) {
	for i := range tab {
		tab[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		tab[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		tab[c] = int8(c - 'a' + 10)
		tab[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	return tab
}()

// parseUUID accepts the canonical 8-4-4-4-12 form, 32 hex digits without
// dashes, and either of them in braces; hex digits in either case.
func (t *Type) parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	h := s
	if len(h) >= 2 && h[0] == '{' && h[len(h)-1] == '}' {
		h = h[1 : len(h)-1]
	}
	dashed := len(h) == 36
	if !dashed && len(h) != 32 {
		return u, errorf(quote(s) + " is not a valid uuid")
	}
	j := 0
	for i := range 16 {
		if dashed && (i == 4 || i == 6 || i == 8 || i == 10) {
			if h[j] != '-' {
				return u, errorf(quote(s) + " is not a valid uuid")
			}
			j++
		}
		hi, lo := hexVal[h[j]], hexVal[h[j+1]]
		if hi < 0 || lo < 0 {
			return u, errorf(quote(s) + " is not a valid uuid")
		}
		u[i] = byte(hi<<4 | lo)
		j += 2
	}
	return u, nil
}

// decodeBase64 decodes standard or URL-safe base64, padded or not. The
// result is never nil, so that an empty string gives an empty bytea and not
// NULL.
func (t *Type) decodeBase64(b []byte) ([]byte, error) {
	src := b
	pad := 0
	for pad < 2 && len(src) > 0 && src[len(src)-1] == '=' {
		src = src[:len(src)-1]
		pad++
	}
	enc := base64.RawStdEncoding
	std, url := false, false
	for _, c := range src {
		switch c {
		case '+', '/':
			std = true
		case '-', '_':
			url = true
		case '\r', '\n', '=':
			// The decoder would skip line breaks; refuse them and any '=' that
			// is not trailing padding.
			return nil, t.notBase64(b)
		}
	}
	if url {
		enc = base64.RawURLEncoding
	}
	if (std && url) || (pad > 0 && len(b)%4 != 0) {
		return nil, t.notBase64(b)
	}
	out := make([]byte, enc.DecodedLen(len(src)))
	n, err := enc.Decode(out, src)
	if err != nil {
		return nil, t.notBase64(b)
	}
	return out[:n], nil
}

func (t *Type) notBase64(b []byte) *Error {
	return errorf(quote(string(b)) + " is not valid base64 for " + t.name())
}

// enumIndex returns the index of label s in t.Labels.
func (t *Type) enumIndex(s string) (int, error) {
	if t.labelIndex != nil {
		if i, ok := t.labelIndex[s]; ok {
			return i, nil
		}
	} else {
		for i, l := range t.Labels {
			if l == s {
				return i, nil
			}
		}
	}
	return 0, t.notLabel(s)
}

// maxListedLabels is how many labels an error reason lists.
const maxListedLabels = 10

func (t *Type) notLabel(s string) *Error {
	var sb strings.Builder
	sb.WriteString(quote(s))
	sb.WriteString(" is not a label of enum ")
	sb.WriteString(t.name())
	sb.WriteString(" (one of: ")
	for i, l := range t.Labels {
		if i == maxListedLabels {
			sb.WriteString(", ...")
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(l)
	}
	sb.WriteString(")")
	return errorf(sb.String())
}

// label returns label i stored in an interface, without allocating when t was
// built by TypeFor.
func (t *Type) label(i int) any {
	if i < len(t.boxed) {
		return t.boxed[i]
	}
	return t.Labels[i]
}

// fastjsonValue mirrors the layout of fastjson.Value (v1.6): a number's
// raw text is its s. numberText reads it there, without a copy, when
// rawNumbers — checked once, on a parsed document — says the layout is
// still that one; otherwise it copies the text out with MarshalTo.
type fastjsonValue struct {
	o fastjson.Object
	a []*fastjson.Value
	s string
	t fastjson.Type
}

var rawNumbers = func() bool {
	if unsafe.Sizeof(fastjsonValue{}) != unsafe.Sizeof(fastjson.Value{}) {
		return false
	}
	var p fastjson.Parser
	v, err := p.Parse(`[-12.50e3, 7, "x"]`)
	if err != nil {
		return false
	}
	for i, want := range []string{"-12.50e3", "7"} {
		n := v.GetArray()[i]
		if n.Type() != fastjson.TypeNumber || (*fastjsonValue)(unsafe.Pointer(n)).s != want {
			return false
		}
	}
	return true
}()
