package protobuf

import (
	"encoding/base64"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// The text mode: the wire path writing the JSON text of the value it
// builds, for callers that read JSON themselves (package transform's
// direct path). It reads the same bytes with the same plan and the same
// checks, and writes each value as the text of the value wireValue makes
// (the same formatting: scalarOf, appendTimestamp, appendDuration), each
// message's fields in declaration order as wireRecord sets them, an absent
// field as absent() makes it. It declines (the caller decodes as usual)
// whatever the wire path declines, and also a repeated field whose values
// are split by other fields (the values of a field are gathered while the
// message is read, and only a run at the end of the text can grow), and
// nesting deeper than maxTextDepth. TestWirePathMatches, TestWirePathRandom
// and FuzzWirePath hold the text to the wire path's value.

var _ codec.JSONWriter = (*Decoder)(nil)

// maxTextDepth is the deepest nesting of messages and lists the text mode
// writes (the direct path copies no deeper).
const maxTextDepth = 64

// AppendJSON appends the JSON text of the value Decode would return for
// data, a record in the wire format, and reports true; or reports false
// when the text mode does not take the record. It only uses a schema an
// earlier Decode loaded: it never asks the registry.
func (d *Decoder) AppendJSON(dst, data []byte) ([]byte, bool) {
	id, payload, err := codec.ParseWire(data)
	if err != nil {
		return dst, false
	}
	s, ok := d.schemas.Load(id)
	if !ok {
		return dst, false
	}
	var path [maxIndexes]int
	n, body, reason := parseIndexes(payload, path[:])
	if reason != "" {
		return dst, false
	}
	msg, err := s.message(path[:n])
	if err != nil {
		return dst, false
	}
	return msg.appendJSON(dst, body)
}

// appendJSON appends the text of body, a message of msg (see AppendJSON).
func (msg *message) appendJSON(dst, body []byte) ([]byte, bool) {
	if msg.plan == nil {
		return dst, false
	}
	st := textPool.Get().(*textState)
	start := len(dst)
	out, ok := st.message(dst, msg.plan, body)
	st.spans, st.depth = st.spans[:0], 0
	textPool.Put(st)
	if !ok {
		return dst[:start], false
	}
	return out, true
}

// span is a value's text in the buffer being written: b[s:e]; s < 0 is a
// field the message has not held (yet).
type span struct{ s, e int }

// textState is the text mode's memory, pooled: a stack of field spans,
// one frame a message being read.
type textState struct {
	spans []span
	depth int
}

var textPool = sync.Pool{New: func() any { return &textState{spans: make([]span, 0, 64)} }}

// message appends the object text of body, a message of plan mp, to b.
// Each field's value text is written at the end of b as it is read; then
// the object is assembled after them in declaration order and moved down
// to where the message's text began.
func (st *textState) message(b []byte, mp *msgPlan, body []byte) ([]byte, bool) {
	if st.depth >= maxTextDepth {
		return b, false
	}
	st.depth++
	start := len(b)
	b, ok, retry := st.inOrder(b, mp, body)
	if !retry {
		st.depth--
		return b, ok
	}
	b = b[:start]
	base := len(st.spans)
	for range mp.fields {
		st.spans = append(st.spans, span{-1, -1})
	}
	b, ok = st.fields(b, mp, body, base)
	st.spans = st.spans[:base]
	st.depth--
	return b, ok
}

// inOrder writes the message straight as its object, for the common
// record whose fields come in declaration order, each once (a repeated
// field's values together): a field that comes before one already
// written, or a second member of a oneof, asks for a retry by fields.
func (st *textState) inOrder(b []byte, mp *msgPlan, body []byte) (_ []byte, ok, retry bool) {
	if len(mp.fields) > 64 {
		return b, false, true
	}
	var set uint64 // the fields written with a value
	next := 0      // the next field to write
	open := -1     // the repeated field whose array is open
	b = append(b, '{')
	for {
		i, typ, rest, known := mp.nextField(body)
		if !known {
			return b, false, false
		}
		if i < 0 {
			break
		}
		body = rest
		f := &mp.fields[i]
		var n int // the length of the field's value
		if !f.handled {
			return b, false, false
		}
		if i == open {
			if b, n, ok = st.listValues(b, f, typ, body, b[len(b)-1] != '['); !ok {
				return b, false, false
			}
			body = body[n:]
			continue
		}
		if open >= 0 {
			b, open = append(b, ']'), -1
		}
		if i < next {
			return b, false, true
		}
		for _, k := range f.oneof {
			if set&(1<<k) != 0 {
				return b, false, true
			}
		}
		if b, ok = st.absentUpTo(b, mp, next, i); !ok {
			return b, false, true
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		if f.list {
			b = append(b, '[')
			if b, n, ok = st.listValues(b, f, typ, body, false); !ok {
				return b, false, false
			}
			open = i
		} else {
			if typ != f.wire {
				return b, false, false // an unknown field to protobuf
			}
			if b, n, ok = st.value(b, f, body); !ok {
				return b, false, false
			}
		}
		body = body[n:]
		set |= 1 << i
		next = i + 1
	}
	if open >= 0 {
		b = append(b, ']')
	}
	if b, ok = st.absentUpTo(b, mp, next, len(mp.fields)); !ok {
		return b, false, true
	}
	return append(b, '}'), true, false
}

// absentUpTo writes fields from to to (exclusive) as absent.
func (st *textState) absentUpTo(b []byte, mp *msgPlan, from, to int) ([]byte, bool) {
	for j := from; j < to; j++ {
		f := &mp.fields[j]
		if f.absent == nil {
			return b, false
		}
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		b = append(b, f.absent...)
	}
	return b, true
}

// fields is message's walk, with the message's spans at st.spans[base:].
func (st *textState) fields(b []byte, mp *msgPlan, body []byte, base int) ([]byte, bool) {
	start := len(b)
	open := -1 // the repeated field whose values end b
	for {
		i, typ, rest, known := mp.nextField(body)
		if !known {
			return b, false
		}
		if i < 0 {
			break
		}
		body = rest
		f := &mp.fields[i]
		var n int // the length of the field's value
		if !f.handled {
			return b, false
		}
		sp := &st.spans[base+i]
		var ok bool
		if f.list {
			if sp.s >= 0 && (open != i || sp.e != len(b)) {
				return b, false // its values are split by another field's
			}
			if sp.s < 0 {
				sp.s = len(b)
				b = append(b, '[')
			}
			if b, n, ok = st.listValues(b, f, typ, body, sp.e > sp.s+1); !ok {
				return b, false
			}
			body = body[n:]
			sp.e, open = len(b), i
			continue
		}
		if typ != f.wire || (f.kind == protoreflect.MessageKind && sp.s >= 0) {
			return b, false // an unknown field to protobuf; a merge
		}
		at := len(b)
		if b, n, ok = st.value(b, f, body); !ok {
			return b, false
		}
		body = body[n:]
		*sp, open = span{at, len(b)}, -1
		for _, k := range f.oneof {
			st.spans[base+k] = span{-1, -1}
		}
	}
	at := len(b)
	b = append(b, '{')
	for i := range mp.fields {
		f := &mp.fields[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		switch sp := st.spans[base+i]; {
		case sp.s >= 0:
			b = append(b, b[sp.s:sp.e]...)
			if f.list {
				b = append(b, ']')
			}
		case f.absent == nil:
			return b, false
		default:
			b = append(b, f.absent...)
		}
	}
	b = append(b, '}')
	n := copy(b[start:], b[at:])
	return b[:start+n], true
}

// listValues appends the values of one occurrence of a repeated field
// (one value, or a packed run), each after a comma when more is set or
// after the first.
func (st *textState) listValues(b []byte, f *fieldPlan, typ protowire.Type, body []byte, more bool) ([]byte, int, bool) {
	if st.depth+1 > maxTextDepth {
		return b, 0, false
	}
	if typ == protowire.BytesType && f.packable {
		run, n := protowire.ConsumeBytes(body)
		if n < 0 {
			return b, 0, false
		}
		for len(run) > 0 {
			if more {
				b = append(b, ',')
			}
			pv, k := scalarOf(f, run)
			if k < 0 {
				return b, 0, false
			}
			var ok bool
			if b, ok = appendScalar(b, f, pv); !ok {
				return b, 0, false
			}
			run, more = run[k:], true
		}
		return b, n, true
	}
	if typ != f.wire {
		return b, 0, false
	}
	if more {
		b = append(b, ',')
	}
	st.depth++
	b, n, ok := st.value(b, f, body)
	st.depth--
	return b, n, ok
}

// value appends the text of one value of f of its own wire type at the
// start of body and returns the bytes it read.
func (st *textState) value(b []byte, f *fieldPlan, body []byte) ([]byte, int, bool) {
	if f.wire != protowire.BytesType {
		pv, n := scalarOf(f, body)
		if n < 0 {
			return b, 0, false
		}
		b, ok := appendScalar(b, f, pv)
		return b, n, ok
	}
	raw, n := protowire.ConsumeBytes(body)
	if n < 0 {
		return b, 0, false
	}
	switch f.kind {
	case protoreflect.StringKind:
		// Invalid UTF-8: the reflective path knows whether it is an error.
		if !utf8.Valid(raw) {
			return b, 0, false
		}
		return codec.AppendJSONString(b, raw), n, true
	case protoreflect.BytesKind:
		return append(base64.StdEncoding.AppendEncode(append(b, '"'), raw), '"'), n, true
	}
	switch f.msg.wkt {
	case wktTimestamp, wktDuration:
		secs, nanos, ok := secondsNanos(raw)
		if !ok {
			return b, 0, false
		}
		b = append(b, '"')
		var err error
		if f.msg.wkt == wktTimestamp {
			b, err = appendTimestamp(b, secs, nanos)
		} else {
			b, err = appendDuration(b, secs, nanos)
		}
		return append(b, '"'), n, err == nil
	case wktWrapper:
		b, ok := st.wrapper(b, f.msg, raw)
		return b, n, ok
	}
	b, ok := st.message(b, f.msg, raw)
	return b, n, ok
}

// wrapper appends the value a wrapper message holds (its field 1, the last
// occurrence), or its default.
func (st *textState) wrapper(b []byte, mp *msgPlan, raw []byte) ([]byte, bool) {
	inner := &mp.fields[0]
	start, set := len(b), false
	for {
		i, typ, rest, known := mp.nextField(raw)
		if !known {
			return b, false
		}
		if i < 0 {
			break
		}
		raw = rest
		if typ != inner.wire {
			return b, false
		}
		var n int
		var ok bool
		if b, n, ok = st.value(b[:start], inner, raw); !ok {
			return b, false
		}
		raw, set = raw[n:], true
	}
	if !set {
		if inner.absent == nil {
			return b, false
		}
		b = append(b, inner.absent...)
	}
	return b, true
}

// appendScalar appends the text of pv, a value of the scalar field f, as
// converter.single makes it.
func appendScalar(b []byte, f *fieldPlan, pv protoreflect.Value) ([]byte, bool) {
	switch f.kind {
	case protoreflect.BoolKind:
		if pv.Bool() {
			return append(b, "true"...), true
		}
		return append(b, "false"...), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, pv.Int(), 10), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, pv.Uint(), 10), true
	case protoreflect.FloatKind:
		return appendFloat(b, pv.Float(), 32), true
	case protoreflect.DoubleKind:
		return appendFloat(b, pv.Float(), 64), true
	case protoreflect.StringKind:
		s := pv.String()
		if !utf8.ValidString(s) {
			return b, false
		}
		return codec.AppendJSONString(b, s), true
	case protoreflect.BytesKind:
		return append(base64.StdEncoding.AppendEncode(append(b, '"'), pv.Bytes()), '"'), true
	case protoreflect.EnumKind:
		n := pv.Enum()
		if ev := f.fd.Enum().Values().ByNumber(n); ev != nil {
			return codec.AppendJSONString(b, string(ev.Name())), true
		}
		return strconv.AppendInt(b, int64(n), 10), true
	}
	return b, false
}

// appendFloat is converter.float's text.
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	if bits == 64 {
		return codec.AppendFloat64(b, f)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 32)
}

// fieldText sets f's key and absent texts (see fieldPlan).
func (f *fieldPlan) fieldText() {
	f.key = append(codec.AppendJSONString(nil, f.name), ':')
	switch f.defValue {
	case defNull:
		f.absent = []byte("null")
	case defList:
		f.absent = []byte("[]")
	case defMap:
		f.absent = []byte("{}")
	default:
		if t, ok := appendScalar(nil, f, f.fd.Default()); ok {
			f.absent = t
		}
	}
}
