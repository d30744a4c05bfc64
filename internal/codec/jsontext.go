package codec

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// PlainStringEnd returns the index of the quote closing the string whose
// first byte is data[i], or -1 when the string has an escape or a control
// character, or does not end.
func PlainStringEnd(data []byte, i int) int {
	// Eight bytes at a time until one is a quote, a backslash or a
	// control character: the lowest byte the word tests mark is the first
	// such byte (a byte above one that is can be marked too, never one
	// below).
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(data); i += 8 {
		x := binary.LittleEndian.Uint64(data[i:])
		q, b := x^(lo*'"'), x^(lo*'\\')
		if m := ((q-lo)&^q | (b-lo)&^b | (x-lo*0x20)&^x) & hi; m != 0 {
			if j := i + bits.TrailingZeros64(m)>>3; data[j] == '"' {
				return j
			}
			return -1
		}
	}
	for ; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i
		case c == '\\' || c < 0x20:
			return -1
		}
	}
	return -1
}

// ValidUTF8 is utf8.Valid with a fast path for the short ASCII strings of
// JSON records.
func ValidUTF8(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.Valid(b)
		}
	}
	return true
}

// LiteralEnd returns the index after the true, false or null at data[i],
// or -1 when there is none.
func LiteralEnd(data []byte, i int) int {
	for _, lit := range [...]string{"true", "false", "null"} {
		if len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit {
			return i + len(lit)
		}
	}
	return -1
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\n', '\t', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// NumberEnd returns the index after the JSON number starting at data[i]
// (RFC 8259's grammar), or -1 when it is not one.
func NumberEnd(data []byte, i int) int {
	if data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return -1
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		i = digitsEnd(data, i)
	default:
		return -1
	}
	if i < len(data) && data[i] == '.' {
		j := digitsEnd(data, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digitsEnd(data, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digitsEnd(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

// AppendJSONString appends s as a JSON string literal: '"', '\\' and
// control characters escaped, everything else as it is (s is valid UTF-8).
func AppendJSONString[S string | []byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// StringValue returns a string value holding b, built in a (or parsed on
// its own: see below). Invalid UTF-8 is kept as it is, for the column's
// coercion to refuse.
//
// fastjson's arena escapes strings with strconv.AppendQuote, whose escapes
// for most control characters (\x01, \a, \v), DEL and some non-printable
// runes (\U000e0001) are not JSON, and fastjson's own unescaping leaves
// them as literal text: the value would change. Such strings are escaped
// here as JSON (into *scratch) and parsed into a value of their own.
func StringValue(a *fastjson.Arena, b []byte, scratch *[]byte) *fastjson.Value {
	if quoteSafe(b) {
		return a.NewStringBytes(b)
	}
	*scratch = AppendJSONString((*scratch)[:0], b)
	v, err := fastjson.ParseBytes(*scratch)
	if err != nil {
		panic("codec: bug: escaped string does not parse: " + err.Error())
	}
	return v
}

// quoteSafe reports whether strconv.AppendQuote escapes b the way JSON
// does, or b needs no escaping at all. Not for invalid UTF-8, which
// AppendQuote writes as \xNN.
func quoteSafe(b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c < 0x20:
			if c != '\b' && c != '\f' && c != '\n' && c != '\r' && c != '\t' {
				return false
			}
		case c == 0x7f:
			return false
		case c >= 0x80:
			r, size := utf8.DecodeRune(b[i:])
			// A rune beyond the BMP gets a \U escape when not printable.
			if r == utf8.RuneError && size == 1 || size == 4 && !strconv.IsPrint(r) {
				return false
			}
			i += size - 1
		}
	}
	return true
}
