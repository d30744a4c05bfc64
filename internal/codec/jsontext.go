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
