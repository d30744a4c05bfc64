package codec

import (
	"encoding/binary"
	"unicode/utf8"
)

// PlainStringEnd returns the index of the quote closing the string whose
// first byte is data[i], or -1 when the string has an escape or a control
// character, or does not end.
func PlainStringEnd(data []byte, i int) int {
	// Eight bytes at a time while none is a quote, a backslash or a
	// control character (the tests on whole words are exact for "any").
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(data); i += 8 {
		x := binary.LittleEndian.Uint64(data[i:])
		q, b := x^(lo*'"'), x^(lo*'\\')
		if ((q-lo)&^q|(b-lo)&^b|(x-lo*0x20)&^x)&hi != 0 {
			break
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
