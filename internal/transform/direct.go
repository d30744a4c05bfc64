package transform

import (
	"unicode/utf8"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// The direct path: a plain JSON record mapped to columns by name in one
// pass over its bytes, without building a parse tree. Each top-level field
// with a column becomes one scalar value in the arena (coerced by the same
// FromJSONIn as the tree's), and a nested object or array bound for a json
// or jsonb column is copied as the compact text the tree path would have
// written for it.
//
// The direct path only answers the plain cases. A record it does not take
// goes the usual way (Reader.Read, MapRecord), from scratch, which also
// reports every error: whatever the direct path answers, the usual path
// would have answered the same (TestDirectAgrees, FuzzDirect). It declines
// a record that is not an object; that has a string with an escape or a
// control character, or a nested one with invalid UTF-8; a number outside
// JSON's grammar; a nested value for a column that is not json or jsonb;
// nesting deeper than maxDirectDepth; a field without a column under
// auto_evolve; anything malformed; and any record the usual path would
// refuse (a value a column does not take, a missing key or NOT NULL value).

// maxDirectDepth is how deep a nested value the direct path copies.
const maxDirectDepth = 64

// directOK reports whether a route's records may take the direct path: a
// plain JSON value mapped by name into one row, with a key that is not
// structured.
func directOK(spec *Spec) bool {
	return spec.Value != nil && spec.Value.Name == config.FormatJSON && spec.Value.Structured() &&
		spec.Key != nil && !spec.Key.Structured() &&
		!spec.Debezium && !spec.Flatten && !spec.Each && len(spec.ReplaceBy) == 0 &&
		spec.Mode != table.Raw
}

// Direct reports whether MapDirect may take this route's records.
func (m *Mapper) Direct() bool { return m.direct }

// MapDirect fills row from r by the direct path, as MapRecord would from
// the decoded record with no Input. It reports false when the direct path
// does not take r (row is then undefined): the caller maps r the usual way.
func (m *Mapper) MapDirect(r *kgo.Record, row *table.Row) bool {
	data := r.Value
	if !m.direct || data == nil {
		return false
	}
	m.initRow(r, row)
	m.rd.value.Reset()
	m.arena = &m.rd.value.Arena
	m.d = decoded{op: table.OpWrite}
	m.computed = m.computed[:0]
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for pos := 0; ; pos++ {
			if i >= len(data) || data[i] != '"' {
				return false
			}
			ke := plainStringEnd(data, i+1)
			if ke < 0 {
				return false
			}
			key := data[i+1 : ke]
			i = skipWS(data, ke+1)
			if i >= len(data) || data[i] != ':' {
				return false
			}
			i = skipWS(data, i+1)
			col, ok := m.topColumn(pos, key)
			if i = m.directField(r, row, data, i, key, col, ok); i < 0 {
				return false
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return false
			}
			if data[i] == '}' {
				i++
				break
			}
			if data[i] != ',' {
				return false
			}
			i = skipWS(data, i+1)
		}
	}
	if skipWS(data, i) != len(data) {
		return false
	}
	row.Op = table.OpWrite
	if m.applyKey(r, row) != nil || m.encodeKey(r, row) != nil {
		return false
	}
	for _, c := range m.required {
		if !row.Set.Has(c) {
			return false
		}
	}
	return true
}

// directField maps the value at data[i:] of field key (column col when ok)
// and returns the index after it, or -1 when the direct path declines.
func (m *Mapper) directField(r *kgo.Record, row *table.Row, data []byte, i int, key []byte, col int, ok bool) int {
	if i >= len(data) {
		return -1
	}
	a, start := m.arena, i
	var fv *fastjson.Value
	switch c := data[i]; {
	case c == '"':
		e := plainStringEnd(data, i+1)
		if e < 0 {
			return -1
		}
		if ok {
			fv = a.NewStringBytes(data[i+1 : e])
		}
		i = e + 1
	case c == '-' || c >= '0' && c <= '9':
		e := numberEnd(data, i)
		if e < 0 {
			return -1
		}
		if ok {
			fv = a.NewNumberString(unsafe.String(&data[i], e-i))
		}
		i = e
	case c == 't' || c == 'f' || c == 'n':
		lit, v := "null", a.NewNull()
		switch c {
		case 't':
			lit, v = "true", a.NewTrue()
		case 'f':
			lit, v = "false", a.NewFalse()
		}
		if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
			return -1
		}
		fv, i = v, i+len(lit)
	case c == '{' || c == '[':
		buf, e := compactValue(m.jbuf[:0], data, i, 0)
		m.jbuf = buf
		if e < 0 {
			return -1
		}
		if !ok {
			if m.spec.Evolve {
				return -1
			}
			return e
		}
		t := m.spec.Table.Columns[col].Type
		if t == nil {
			return -1
		}
		val, isJSON := t.JSONTextIn(buf, &m.boxes)
		if !isJSON {
			return -1 // an array or object for another type: the tree path converts it
		}
		row.Vals[col] = val
		row.Set.Add(col)
		return e
	default:
		return -1
	}
	if !ok {
		if m.spec.Evolve && data[start] != 'n' {
			return -1 // a field without a column: auto_evolve may add one
		}
		return i
	}
	if setColumn(m, r, row, key, col, fv) != nil {
		return -1
	}
	return i
}

// skipWS returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipWS(data []byte, i int) int {
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

// plainStringEnd returns the index of the quote closing the string whose
// first byte is data[i], or -1 when the string has an escape or a control
// character, or does not end.
func plainStringEnd(data []byte, i int) int {
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

// numberEnd returns the index after the JSON number starting at data[i]
// (RFC 8259's grammar), or -1 when it is not one.
func numberEnd(data []byte, i int) int {
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

// compactValue appends the JSON value at data[i:] to dst as appendJSON
// writes it (no whitespace between tokens; strings, numbers and literals
// as they are) and returns the index after it, or -1 when the direct path
// declines it (see the package comment above).
func compactValue(dst, data []byte, i, depth int) ([]byte, int) {
	if i >= len(data) {
		return dst, -1
	}
	switch c := data[i]; {
	case c == '"':
		e := plainStringEnd(data, i+1)
		if e < 0 || !validUTF8(data[i+1:e]) {
			return dst, -1
		}
		return append(dst, data[i:e+1]...), e + 1
	case c == '-' || c >= '0' && c <= '9':
		e := numberEnd(data, i)
		if e < 0 {
			return dst, -1
		}
		return append(dst, data[i:e]...), e
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if len(data)-i >= len(lit) && string(data[i:i+len(lit)]) == lit {
				return append(dst, lit...), i + len(lit)
			}
		}
		return dst, -1
	case c == '{' || c == '[':
		if depth >= maxDirectDepth {
			return dst, -1
		}
		obj := c == '{'
		end := byte(']')
		if obj {
			end = '}'
		}
		dst = append(dst, c)
		i = skipWS(data, i+1)
		if i < len(data) && data[i] == end {
			return append(dst, end), i + 1
		}
		for {
			if obj {
				if i >= len(data) || data[i] != '"' {
					return dst, -1
				}
				if dst, i = compactValue(dst, data, i, depth+1); i < 0 {
					return dst, -1
				}
				i = skipWS(data, i)
				if i >= len(data) || data[i] != ':' {
					return dst, -1
				}
				dst = append(dst, ':')
				i = skipWS(data, i+1)
			}
			if dst, i = compactValue(dst, data, i, depth+1); i < 0 {
				return dst, -1
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return dst, -1
			}
			if data[i] == end {
				return append(dst, end), i + 1
			}
			if data[i] != ',' {
				return dst, -1
			}
			dst = append(dst, ',')
			i = skipWS(data, i+1)
		}
	}
	return dst, -1
}

// validUTF8 is utf8.Valid with a fast path for ASCII.
func validUTF8(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.Valid(b)
		}
	}
	return true
}
