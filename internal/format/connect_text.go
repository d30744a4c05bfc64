package format

import (
	"encoding/base64"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// The Connect envelope's text mode: the payload written as the JSON text of
// the value decodeConnect returns, for the direct path (JSONPayload). The
// payload is JSON already; only its logical-type values are rewritten, as
// convert rewrites them (a Decimal's base64 becomes its decimal number, a
// Date's day count "YYYY-MM-DD", a Time's milliseconds "HH:MM:SS.mmm"),
// and every other value is copied as it stands, for the direct path to
// read and check as it reads plain json. Whatever convert would refuse, or
// this writer is not sure of (an escape in a key or a Decimal, a Json
// document in a string, a number that is not a plain integer where one is
// read), is declined: the record is then decoded as usual, which decides
// and words the error.

// connectText returns the text of the value envelope data, written into
// *buf (when anything is rewritten). The schema is found as decodeConnect
// finds it: the last value's schema when the envelope has the common
// layout, else compiled or looked up by its text.
func (s *Scratch) connectText(data []byte, buf *[]byte) ([]byte, bool) {
	var payload []byte
	e := s.lastConnect[1]
	ok := false
	if e != nil {
		payload, ok = sameSchema(data, e.key)
	}
	if !ok {
		var schema []byte
		if schema, payload, ok = envelopeSpans(data); !ok {
			return nil, false
		}
		var err error
		if e, err = s.connectEntry(schema, "value"); err != nil {
			return nil, false
		}
		s.lastConnect[1] = e
	}
	c := e.conv
	if !c.deep {
		// Nothing to rewrite: convert only checks that a struct's payload
		// is an object (the direct path takes nothing else), and the span
		// runs to the envelope's closing brace, so anything after the
		// payload makes the direct path decline.
		if c.kind != convNone && c.kind != convStruct {
			return nil, false
		}
		return payload, true
	}
	if c.kind != convStruct {
		return nil, false
	}
	i := codec.SkipSpace(payload, 0)
	if i >= len(payload) || payload[i] != '{' {
		return nil, false // null (a tombstone) or not a struct
	}
	out, i, ok := c.appendText((*buf)[:0], payload, i, 0)
	*buf = out
	if !ok || codec.SkipSpace(payload, i) != len(payload) {
		return nil, false
	}
	return out, true
}

// appendText appends the converted text of the payload value at data[i]
// and returns the index after it. ok is false when convert would refuse the
// value or the writer is not sure.
func (c *connectConv) appendText(dst, data []byte, i, depth int) ([]byte, int, bool) {
	if depth > maxConnectDepth || i >= len(data) {
		return dst, i, false
	}
	if data[i] == 'n' {
		// null stays null whatever the schema (as in convert).
		if e := codec.LiteralEnd(data, i); e == i+4 {
			return append(dst, "null"...), e, true
		}
		return dst, i, false
	}
	switch c.kind {
	case convNone:
		return copyValue(dst, data, i)
	case convStruct:
		if data[i] != '{' {
			return dst, i, false
		}
		if !c.deep {
			return copyValue(dst, data, i)
		}
		return c.appendStruct(dst, data, i, depth)
	case convArray:
		if data[i] != '[' {
			return dst, i, false
		}
		if !c.elem.deep && c.elem.kind == convNone {
			return copyValue(dst, data, i)
		}
		dst = append(dst, '[')
		i = codec.SkipSpace(data, i+1)
		if i < len(data) && data[i] == ']' {
			return append(dst, ']'), i + 1, true
		}
		for n := 0; ; n++ {
			if n > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, i, ok = c.elem.appendText(dst, data, i, depth+1); !ok {
				return dst, i, false
			}
			i = codec.SkipSpace(data, i)
			if i >= len(data) {
				return dst, i, false
			}
			if data[i] == ']' {
				return append(dst, ']'), i + 1, true
			}
			if data[i] != ',' {
				return dst, i, false
			}
			i = codec.SkipSpace(data, i+1)
		}
	case convDecimal:
		return c.appendDecimalText(dst, data, i)
	case convDate, convTime, convTimestamp:
		n, e, ok := plainInt64(data, i)
		if !ok {
			return dst, i, false
		}
		switch c.kind {
		case convDate:
			dst = append(dst, '"')
			dst = time.Unix(0, 0).UTC().AddDate(0, 0, int(n)).AppendFormat(dst, "2006-01-02")
			return append(dst, '"'), e, true
		case convTime:
			if n < 0 || n >= 24*3600*1000 {
				return dst, i, false
			}
			dst = append(dst, '"')
			dst = time.UnixMilli(n).UTC().AppendFormat(dst, "15:04:05.000")
			return append(dst, '"'), e, true
		}
		return append(dst, data[i:e]...), e, true // Timestamp: kept
	}
	// convJSON: a document in a string, almost always with escaped quotes;
	// the usual path parses it.
	return dst, i, false
}

// appendStruct appends the object at data[i] ('{') with each field
// converted by its schema, found as convert finds it (by position first,
// then by name); a key with an escape is declined.
func (c *connectConv) appendStruct(dst, data []byte, i, depth int) ([]byte, int, bool) {
	dst = append(dst, '{')
	i = codec.SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return append(dst, '}'), i + 1, true
	}
	for j, n := 0, 0; ; n++ {
		if i >= len(data) || data[i] != '"' {
			return dst, i, false
		}
		// The key is almost always the next field's name: compared in
		// place when the name needs no escape (so that no other key's
		// text can equal it), else scanned.
		var fc *connectConv
		ke := -1
		if j < len(c.names) && c.plain[j] {
			name := c.names[j]
			if e := i + 1 + len(name); e < len(data) && data[e] == '"' && string(data[i+1:e]) == name {
				ke, fc = e, c.fields[j]
				j++
			}
		}
		if ke < 0 {
			if ke = codec.PlainStringEnd(data, i+1); ke < 0 {
				return dst, i, false
			}
			if key := data[i+1 : ke]; j < len(c.names) && c.names[j] == string(key) {
				fc = c.fields[j]
				j++
			} else {
				fc = c.byName[string(key)]
			}
		}
		key := data[i+1 : ke]
		i = codec.SkipSpace(data, ke+1)
		if i >= len(data) || data[i] != ':' {
			return dst, i, false
		}
		i = codec.SkipSpace(data, i+1)
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, key...)
		dst = append(dst, '"', ':')
		var ok bool
		if fc == nil || !fc.deep && fc.kind == convNone {
			dst, i, ok = copyValue(dst, data, i)
		} else {
			dst, i, ok = fc.appendText(dst, data, i, depth+1)
		}
		if !ok {
			return dst, i, false
		}
		i = codec.SkipSpace(data, i)
		if i >= len(data) {
			return dst, i, false
		}
		if data[i] == '}' {
			return append(dst, '}'), i + 1, true
		}
		if data[i] != ',' {
			return dst, i, false
		}
		i = codec.SkipSpace(data, i+1)
	}
}

// appendDecimalText appends a Decimal's base64 string at data[i] as its
// decimal number, the text connectDecimalValue makes.
func (c *connectConv) appendDecimalText(dst, data []byte, i int) ([]byte, int, bool) {
	if c.scaleErr != "" || data[i] != '"' {
		return dst, i, false
	}
	end := codec.PlainStringEnd(data, i+1)
	if end < 0 {
		return dst, i, false
	}
	b64 := data[i+1 : end]
	// Up to 12 bytes (16 base64 characters): larger ones take the usual
	// path, which bounds them and uses big.Int.
	if n := base64.StdEncoding.DecodedLen(len(b64)); n > 12 {
		return dst, i, false
	}
	var small [12]byte
	raw, err := base64.StdEncoding.AppendDecode(small[:0], b64)
	if err != nil || len(raw) == 0 || len(raw) > 8 {
		return dst, i, false
	}
	var digits [20]byte
	return appendDecimal(dst, appendUnscaled(digits[:0], raw), c.scale), end + 1, true
}

// copyValue appends the value at data[i] as it stands. It is found by
// skipValue, which checks its structure but not its scalars: the direct
// path reads and checks every byte it is given.
func copyValue(dst, data []byte, i int) ([]byte, int, bool) {
	e := skipValue(data, i, 0)
	if e < 0 {
		return dst, i, false
	}
	return append(dst, data[i:e]...), e, true
}

// plainInt64 reads the integer at data[i] in JSON's grammar with at most 18
// digits (fastjson's Int64 reads such a text exactly) and returns it and
// the index after it.
func plainInt64(data []byte, i int) (int64, int, bool) {
	e := codec.NumberEnd(data, i)
	if e < 0 {
		return 0, i, false
	}
	neg := data[i] == '-'
	d := i
	if neg {
		d++
	}
	if e-d > 18 {
		return 0, i, false
	}
	var n int64
	for _, ch := range data[d:e] {
		if ch < '0' || ch > '9' {
			return 0, i, false // a fraction or an exponent
		}
		n = n*10 + int64(ch-'0')
	}
	if neg {
		n = -n
	}
	return n, e, true
}
