package transform

import (
	"bytes"
	"context"
	"slices"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// The direct path: a plain JSON record mapped to columns by name in one
// pass over its bytes, without building a parse tree. The record is a json
// value, a json-schema value whose decoder proves it valid from its bytes,
// an avro or protobuf value its decoder writes as JSON text, or a json-connect
// envelope's payload with its logical types rewritten
// (format.Format.JSONPayload): the direct path then maps that JSON, the
// value the usual path would have decoded. Each top-level field with a
// column becomes one scalar value in the arena, coerced by the same
// FromJSONIn as the tree's (a plain string for a text, timestamp, enum,
// bigint or numeric column and a number for a bigint or numeric one go to
// the row by coerce.Type.StringIn and NumberIn, FromJSONIn's answers for
// them, without the arena), and
// a nested object or array bound for a json or jsonb column is copied as
// the compact text the tree path would have written for it. With a
// DirectInput (a route with expressions), the fields the expressions read
// are gathered into an object for them (DirectScan, DirectFinish).
//
// The direct path only answers the plain cases. A record it does not take
// goes the usual way (Reader.Read, MapRecord), from scratch, which also
// reports every error: whatever the direct path answers, the usual path
// would have answered the same (TestDirectAgrees, FuzzDirect). A value the
// direct path does not read itself (a string with escapes, an object or
// array for a column that is not json or jsonb, or one whose strings have
// escapes) is parsed alone by fastjson and coerced as in the usual path.
// The direct path declines a record that is not an object; a field name
// with an escape; a number outside JSON's grammar (fastjson takes NaN,
// "01"); a control character in a string; nesting deeper than
// maxDirectDepth; a field without a column under auto_evolve; anything
// malformed; and any record the usual path would refuse (a value a column
// does not take, a missing key or NOT NULL value).

// maxDirectDepth is how deep a nested value the direct path copies.
const maxDirectDepth = 64

// maxKeptBuffer is the largest buffer the direct path keeps from one record
// to the next (its json text buffer, its parsers'): a rare large value
// must not hold its memory in every worker for good, against the in-flight
// budget.
const maxKeptBuffer = 64 << 10

// directOK reports whether a route's records may take the direct path: a
// plain JSON value (json, or json-schema, avro, protobuf or json-connect
// without auto_evolve, which checks each record's schema) mapped by name into one
// row, with a key that is not structured.
func directOK(spec *Spec) bool {
	v := spec.Value
	return v != nil && (v.Name == config.FormatJSON ||
		(v.Name == config.FormatJSONSchema || v.Name == config.FormatAvro || v.Name == config.FormatProtobuf ||
			v.Name == config.FormatJSONConnect) && !spec.Evolve) &&
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
	return m.DirectScan(r, row, nil) && m.DirectFinish(r, row, nil)
}

// DirectInput is what a route with expressions asks of the direct path.
type DirectInput struct {
	// NoByName is columns_only: no field maps to a column by name.
	NoByName bool
	// Computed names the columns the route's expressions compute, in the
	// order of the Computed values DirectFinish will get: their fields are
	// not mapped by name.
	Computed []string
	// Fields are the top-level fields the expressions read (see
	// expr.Program.ValueFields).
	Fields map[string]bool
	// Value is set by DirectScan: an object of the record's Fields, each as
	// the record's parse would have it; valid until the next record.
	Value *fastjson.Value
	// Raw: the expressions read fields only through their fast nodes
	// (expr.Program.RawOK), so DirectScan gives the Fields as their JSON
	// texts (RawNames[i]'s is RawVals[i]) instead of building Value.
	Raw      bool
	RawNames []string
	RawVals  [][]byte
	// Ops are computed columns whose value the direct path writes from one
	// field's JSON text (expr.FieldOp: value.a, int(value.a),
	// value.a.lowerAscii(), value.a + 1, ...), at most one per field. Their
	// names are in Computed too, and the Computed values DirectFinish gets
	// are the other columns', in the same order.
	Ops []DirectOp
}

// DirectOp is a computed column the direct path writes from a field.
type DirectOp struct {
	Column, Field string
	Text          FieldText
}

// FieldText gives a computed column's value as JSON text from the JSON
// text of the field it reads (expr.FieldOp), or false when it is not sure.
type FieldText interface {
	Text(dst, raw []byte) ([]byte, bool)
}

// DirectScan is the first half of the direct path: it maps r's fields to
// row by name (unless in.NoByName) and, with in, collects in.Value. The
// caller evaluates its expressions on in.Value, then calls DirectFinish.
// It reports false when the direct path does not take r.
func (m *Mapper) DirectScan(r *kgo.Record, row *table.Row, in *DirectInput) bool {
	if !m.direct || r.Value == nil {
		return false
	}
	if cap(m.vbuf) > maxKeptBuffer {
		m.vbuf = nil // the last record's text was large: let it go
	}
	data, ok := m.spec.Value.JSONPayload(r.Value, &m.rd.value, &m.vbuf)
	if !ok {
		return false
	}
	m.plainNow = m.plain || m.written && bytes.IndexByte(data, '\\') < 0
	m.initRow(r, row)
	m.rd.value.Reset()
	m.arena = &m.rd.value.Arena
	m.d = decoded{op: table.OpWrite}
	m.computed = m.computed[:0]
	m.din, m.parsed = in, 0
	if m.bigParse {
		// The last record parsed a large value: let its buffers go.
		m.parsers, m.spanParser, m.bigParse = nil, fastjson.Parser{}, false
	}
	if in != nil {
		for k, name := range in.Computed {
			if i := m.computedColumn(k, name); i >= 0 {
				m.computed = append(m.computed, i)
			}
		}
		if in.Raw {
			in.Value, in.RawNames, in.RawVals = nil, in.RawNames[:0], in.RawVals[:0]
		} else {
			in.Value = m.arena.NewObject()
		}
		m.opSpans = m.opSpans[:0]
		for range in.Ops {
			m.opSpans = append(m.opSpans, [2]int{-1, -1})
		}
		m.scanned = data
	}
	i := codec.SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = codec.SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for pos := 0; ; pos++ {
			if i >= len(data) || data[i] != '"' {
				return false
			}
			ke := codec.PlainStringEnd(data, i+1)
			if ke < 0 {
				return false
			}
			key := data[i+1 : ke]
			i = codec.SkipSpace(data, ke+1)
			if i >= len(data) || data[i] != ':' {
				return false
			}
			i = codec.SkipSpace(data, i+1)
			sl := m.topSlot(pos, key)
			col, ok, read := sl.col, sl.ok, false
			if in != nil {
				if sl.read == 0 {
					sl.read = 1
					if in.Fields[string(key)] {
						sl.read = 2
					}
					for k := range in.Ops {
						if in.Ops[k].Field == string(key) {
							sl.op = k + 1
						}
					}
				}
				read = sl.read == 2
				if sl.op > 0 {
					// An op's field: its text is kept for DirectFinish.
					e := valueEnd(data, i, 0)
					if sp := &m.opSpans[sl.op-1]; e < 0 || sp[0] >= 0 {
						return false // malformed, or the field twice
					} else {
						*sp = [2]int{i, e}
					}
				}
			}
			// columns_only maps no field by name, and a computed column is
			// not mapped from its field: such a field is only read (as in
			// the usual path, where it is no reason for auto_evolve either).
			skip := in != nil && in.NoByName || ok && len(m.computed) > 0 && slices.Contains(m.computed, col)
			e := -1
			if read || skip {
				if e = valueEnd(data, i, 0); e < 0 || read && !m.keep(sl.name, data[i:e]) {
					return false
				}
			}
			if skip {
				i = e
			} else if i = m.directField(r, row, data, i, key, col, ok); i < 0 {
				return false
			}
			i = codec.SkipSpace(data, i)
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
			i = codec.SkipSpace(data, i+1)
		}
	}
	return codec.SkipSpace(data, i) == len(data)
}

// DirectKey is the record's key for expressions, as Record.Key gives it.
func (m *Mapper) DirectKey(ctx context.Context, r *kgo.Record) *fastjson.Value {
	if r.Key == nil {
		return nil
	}
	m.rd.key.Reset()
	v, _, err := m.spec.Key.Decode(ctx, r.Key, &m.rd.key, "key")
	if err != nil {
		return nil
	}
	return v
}

// DirectArena is where values built for the record being mapped by the
// direct path live (computed columns), until its next record.
func (m *Mapper) DirectArena() *fastjson.Arena { return &m.rd.value.Arena }

// DirectFinish is the second half of the direct path: the computed columns
// (in the order DirectInput.Computed named them), the Kafka key, the row
// key and the NOT NULL checks, as MapRecord does them. It reports false
// when the usual path must map the record (it would report an error).
func (m *Mapper) DirectFinish(r *kgo.Record, row *table.Row, computed []Computed) bool {
	t := m.spec.Table
	if m.applyKey(r, row) != nil {
		return false
	}
	// Column lookups are cached by position (computedColumn): DirectScan's
	// computed columns first, then the ops', then the computed values'.
	base := 0
	if in := m.din; in != nil {
		base = len(in.Computed)
		for k := range in.Ops {
			if !m.directOp(r, row, base+k, &in.Ops[k]) {
				return false
			}
		}
		base += len(in.Ops)
	}
	for k, c := range computed {
		i := m.computedColumn(base+k, c.Column)
		if i < 0 || t.Columns[i].Generated || setColumn(m, r, row, "", i, c.Value) != nil {
			return false
		}
	}
	if m.encodeKey(r, row) != nil {
		return false
	}
	for _, c := range m.required {
		if !row.Set.Has(c) {
			return false
		}
	}
	return true
}

// directOp writes the computed column of op from its field's text; pos is
// the column's cache position (computedColumn).
func (m *Mapper) directOp(r *kgo.Record, row *table.Row, pos int, op *DirectOp) bool {
	sp := m.opSpans[pos-len(m.din.Computed)]
	if sp[0] < 0 {
		return false // no such field: the program says what that gives
	}
	text, ok := op.Text.Text(m.opBuf[:0], m.scanned[sp[0]:sp[1]])
	if m.opBuf = text; cap(text) > maxKeptBuffer {
		m.opBuf = nil
	}
	if !ok {
		return false
	}
	i := m.computedColumn(pos, op.Column)
	if i < 0 || m.spec.Table.Columns[i].Generated {
		return false
	}
	return m.directField(r, row, text, 0, unsafe.Slice(unsafe.StringData(op.Field), len(op.Field)), i, true) == len(text)
}

// keep adds the field key with the value text raw to the expressions'
// object. It reports false for a field the record has twice (the object
// would not be the record's).
func (m *Mapper) keep(name string, raw []byte) bool {
	if in := m.din; in.Raw {
		if slices.Contains(in.RawNames, name) {
			return false
		}
		in.RawNames, in.RawVals = append(in.RawNames, name), append(in.RawVals, raw)
		return true
	}
	o := m.din.Value
	if o.Get(name) != nil {
		return false
	}
	var v *fastjson.Value
	switch c := raw[0]; {
	case c == '"' && codec.PlainStringEnd(raw, 1) == len(raw)-1:
		v = m.arena.NewStringBytes(raw[1 : len(raw)-1])
	case c == '-' || c >= '0' && c <= '9':
		v = m.arena.NewNumberString(unsafe.String(&raw[0], len(raw)))
	case c == 't':
		v = m.arena.NewTrue()
	case c == 'f':
		v = m.arena.NewFalse()
	case c == 'n':
		v = m.arena.NewNull()
	default:
		if m.parsed == len(m.parsers) {
			m.parsers = append(m.parsers, &fastjson.Parser{})
		}
		p := m.parsers[m.parsed]
		m.parsed++
		m.bigParse = m.bigParse || len(raw) > maxKeptBuffer
		pv, err := p.ParseBytes(raw)
		if err != nil {
			return false
		}
		v = pv
	}
	o.Set(name, v)
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
		e := codec.PlainStringEnd(data, i+1)
		if e < 0 {
			return m.directParsed(r, row, data, i, key, col, ok)
		}
		if ok {
			// A text, timestamp, enum, bigint or numeric column takes
			// the string as it is: no arena value.
			c := &m.spec.Table.Columns[col]
			if val, handled, err := c.Type.StringIn(data[i+1:e], &m.boxes); handled {
				if err != nil { // StringIn never gives nil: NOT NULL holds
					return -1
				}
				row.Vals[col] = val
				row.Set.Add(col)
				return e + 1
			}
			fv = a.NewStringBytes(data[i+1 : e])
		}
		i = e + 1
	case c == '-' || c >= '0' && c <= '9':
		e := codec.NumberEnd(data, i)
		if e < 0 {
			return -1
		}
		if ok {
			// A bigint or numeric column takes the text as it is.
			c := &m.spec.Table.Columns[col]
			if val, handled, err := c.Type.NumberIn(data[i:e], &m.boxes); handled {
				if err != nil {
					return -1
				}
				row.Vals[col] = val
				row.Set.Add(col)
				return e
			}
			fv = a.NewNumberString(unsafe.String(&data[i], e-i))
		}
		i = e
	case c == 't' || c == 'f' || c == 'n':
		e := codec.LiteralEnd(data, i)
		if e < 0 {
			return -1
		}
		fv, i = a.NewNull(), e
		switch c {
		case 't':
			fv = a.NewTrue()
		case 'f':
			fv = a.NewFalse()
		}
	case c == '{' || c == '[':
		if !ok || !m.spec.Table.Columns[col].Type.IsJSON() {
			return m.directParsed(r, row, data, i, key, col, ok)
		}
		var e int
		var ws bool
		if m.plainNow {
			e, ws = plainEnd(data, i)
		} else {
			e, ws = nestedEnd(data, i, 0)
		}
		if e < 0 {
			return m.directParsed(r, row, data, i, key, col, ok)
		}
		text := data[i:e]
		if ws {
			text = compact(m.jbuf[:0], text)
			if m.jbuf = text; cap(text) > maxKeptBuffer {
				m.jbuf = nil // text is still valid below: JSONTextIn copies it
			}
		}
		val, _ := m.spec.Table.Columns[col].Type.JSONTextIn(text, &m.boxes)
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

// directParsed maps the value at data[i:] that the direct path does not
// read itself (a string with escapes, an object or array for a column that
// is not json or jsonb, a nested value with escapes): fastjson parses that
// value alone, which gives the node the record's parse would have had,
// and it is coerced as in the usual path. It returns the index after the
// value, or -1.
func (m *Mapper) directParsed(r *kgo.Record, row *table.Row, data []byte, i int, key []byte, col int, ok bool) int {
	e := valueEnd(data, i, 0)
	if e < 0 {
		return -1
	}
	if !ok {
		if m.spec.Evolve {
			return -1 // a field without a column: auto_evolve may add one
		}
		return e
	}
	m.bigParse = m.bigParse || e-i > maxKeptBuffer
	v, err := m.spanParser.ParseBytes(data[i:e])
	if err != nil || setColumn(m, r, row, key, col, v) != nil {
		return -1
	}
	return e
}

// valueEnd returns the index after the JSON value at data[i:], or -1 when
// it is not one by RFC 8259 (or nests deeper than maxDirectDepth, or has
// a control character in a string, which fastjson would let through).
func valueEnd(data []byte, i, depth int) int {
	if i >= len(data) {
		return -1
	}
	switch c := data[i]; {
	case c == '"':
		return stringEnd(data, i+1)
	case c == '-' || c >= '0' && c <= '9':
		return codec.NumberEnd(data, i)
	case c == 't' || c == 'f' || c == 'n':
		return codec.LiteralEnd(data, i)
	case c == '{' || c == '[':
		if depth >= maxDirectDepth {
			return -1
		}
		obj := c == '{'
		end := byte(']')
		if obj {
			end = '}'
		}
		i = codec.SkipSpace(data, i+1)
		if i < len(data) && data[i] == end {
			return i + 1
		}
		for {
			if obj {
				if i >= len(data) || data[i] != '"' {
					return -1
				}
				if i = stringEnd(data, i+1); i < 0 {
					return -1
				}
				i = codec.SkipSpace(data, i)
				if i >= len(data) || data[i] != ':' {
					return -1
				}
				i = codec.SkipSpace(data, i+1)
			}
			if i = valueEnd(data, i, depth+1); i < 0 {
				return -1
			}
			i = codec.SkipSpace(data, i)
			if i >= len(data) {
				return -1
			}
			if data[i] == end {
				return i + 1
			}
			if data[i] != ',' {
				return -1
			}
			i = codec.SkipSpace(data, i+1)
		}
	}
	return -1
}

// stringEnd returns the index after the string whose first byte (after
// the opening quote) is data[i], or -1 when it does not end, has a
// control character or an escape JSON does not have.
func stringEnd(data []byte, i int) int {
	for ; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(data) {
				return -1
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(data)-i < 5 {
					return -1
				}
				for _, h := range data[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// nestedEnd returns the index after the JSON value at data[i:], or -1 when
// the direct path declines it (see the package comment above), and
// whether there is whitespace between its tokens. Without whitespace, the
// value's bytes are the text appendJSON writes for it (strings without
// escapes, numbers and literals as they are); with some, compact gives
// that text.
func nestedEnd(data []byte, i, depth int) (end int, ws bool) {
	if i >= len(data) {
		return -1, false
	}
	switch c := data[i]; {
	case c == '"':
		e := codec.PlainStringEnd(data, i+1)
		if e < 0 || !codec.ValidUTF8(data[i+1:e]) {
			return -1, false
		}
		return e + 1, false
	case c == '-' || c >= '0' && c <= '9':
		return codec.NumberEnd(data, i), false
	case c == 't' || c == 'f' || c == 'n':
		return codec.LiteralEnd(data, i), false
	case c == '{' || c == '[':
		if depth >= maxDirectDepth {
			return -1, false
		}
		obj := c == '{'
		closing := byte(']')
		if obj {
			closing = '}'
		}
		// skip skips whitespace, noting it.
		skip := func(i int) int {
			j := codec.SkipSpace(data, i)
			ws = ws || j != i
			return j
		}
		i = skip(i + 1)
		if i < len(data) && data[i] == closing {
			return i + 1, ws
		}
		for {
			var w bool
			if obj {
				if i >= len(data) || data[i] != '"' {
					return -1, false
				}
				if i, _ = nestedEnd(data, i, depth+1); i < 0 { // a string: no whitespace
					return -1, false
				}
				i = skip(i)
				if i >= len(data) || data[i] != ':' {
					return -1, false
				}
				i = skip(i + 1)
			}
			if i, w = nestedEnd(data, i, depth+1); i < 0 {
				return -1, false
			}
			ws = ws || w
			i = skip(i)
			switch {
			case i >= len(data):
				return -1, false
			case data[i] == closing:
				return i + 1, ws
			case data[i] != ',':
				return -1, false
			}
			i = skip(i + 1)
		}
	}
	return -1, false
}

// plainEnd is nestedEnd for the object or array at data[i] in a payload
// known to be valid JSON without backslashes (a plain or a written one, see
// Mapper.plainNow): a string ends at the next quote, and only brackets need
// counting. Like nestedEnd, it declines a value nested deeper than
// maxDirectDepth; unlike it, it does not check UTF-8 (both kinds of
// payload are valid UTF-8).
func plainEnd(data []byte, i int) (end int, ws bool) {
	depth := 0
	for ; i < len(data); i++ {
		switch data[i] {
		case '"':
			j := bytes.IndexByte(data[i+1:], '"')
			if j < 0 {
				return -1, false
			}
			i += j + 1
		case '{', '[':
			if depth++; depth > maxDirectDepth {
				return -1, false
			}
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1, ws
			}
		case ' ', '\t', '\n', '\r':
			ws = true
		}
	}
	return -1, false
}

// compact appends v, a value nestedEnd accepted, to dst without the
// whitespace between its tokens (its strings have no escapes: a quote
// always opens or closes one).
func compact(dst, v []byte) []byte {
	in := false
	for len(v) > 0 {
		if in {
			j := bytes.IndexByte(v, '"')
			dst = append(dst, v[:j+1]...)
			v, in = v[j+1:], false
			continue
		}
		switch c := v[0]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			dst, in = append(dst, c), true
		default:
			dst = append(dst, c)
		}
		v = v[1:]
	}
	return dst
}
