package protobuf

import (
	"encoding/base64"
	"math"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// The wire path converts a message straight from its wire format into the
// canonical value, walking the bytes against a plan derived once from the
// message descriptor, without building a dynamicpb message first (which
// costs a map entry and an interface value per field, and a reflective
// unmarshal).
//
// It handles what records commonly hold: scalars, strings, bytes, enums,
// nested messages, repeated fields (packed or not), oneofs, Timestamp,
// Duration and the wrappers. Whatever else it meets in a record (a map
// entry, a Struct, Value, ListValue or Any, a group, a message field that
// occurs twice and would be merged, a field with an unexpected wire type,
// which protobuf keeps as an unknown field, a field number in an extension
// range, malformed bytes, invalid UTF-8, a value without a canonical form)
// makes it give up, and the record is decoded by the reflective path
// (unmarshal into a dynamicpb message, then converter.record), which also
// words every error. So the wire path only ever returns what the
// reflective path would for the same bytes; TestWirePathMatches and
// FuzzWirePath hold it to that.

// msgPlan is what the wire path needs to know about one message type.
// Plans are built under schema.mu and never change after.
type msgPlan struct {
	wkt    wkt
	fields []fieldPlan // declaration order, as converter.record emits them
	// byNum maps a field number below len(byNum) to its index in fields
	// plus one (0: no such field); larger numbers are looked up in
	// bigNums.
	byNum   []int32
	bigNums map[protowire.Number]int
	ext     protoreflect.FieldRanges // extension ranges: the reflective path decides
}

// fieldPlan is one field of a msgPlan.
type fieldPlan struct {
	fd   protoreflect.FieldDescriptor
	name string
	kind protoreflect.Kind
	list bool
	// presence: unset is null; otherwise unset is the default value.
	presence bool
	// handled is false for fields the wire path does not convert (maps,
	// groups, Struct, Value, ListValue, Any): the record goes to the
	// reflective path when one occurs in it.
	handled bool
	// wire is the wire type of one value; packable lists also accept a
	// packed run (BytesType).
	wire     protowire.Type
	packable bool
	oneof    []int        // indexes of the other members of its oneof
	msg      *msgPlan     // MessageKind
	defValue defaultValue // how to emit the field when absent
	// The text mode's (text.go): the field's key with its colon, and the
	// text of its value when absent (nil: the text mode declines).
	key, absent []byte
}

type defaultValue uint8

const (
	defNull   defaultValue = iota // a field with presence
	defList                       // []
	defMap                        // {}
	defScalar                     // converter.single of the descriptor's default
)

// planner builds the plans of one top-level message and every message it
// contains, sharing one plan per message type (recursive types included).
type planner struct {
	plans map[protoreflect.FullName]*msgPlan
}

// newPlan returns the wire-path plan for md, or nil when records of md
// always take the reflective path (a message set).
func newPlan(md protoreflect.MessageDescriptor) *msgPlan {
	p := planner{plans: map[protoreflect.FullName]*msgPlan{}}
	return p.message(md, wktNone)
}

func (p *planner) message(md protoreflect.MessageDescriptor, w wkt) *msgPlan {
	if mp, ok := p.plans[md.FullName()]; ok {
		return mp
	}
	if opts, ok := md.Options().(*descriptorpb.MessageOptions); ok && opts.GetMessageSetWireFormat() {
		return nil
	}
	mp := &msgPlan{wkt: w, ext: md.ExtensionRanges()}
	p.plans[md.FullName()] = mp
	fds := md.Fields()
	mp.fields = make([]fieldPlan, fds.Len())
	maxSmall := protowire.Number(0)
	for i := range fds.Len() {
		if n := fds.Get(i).Number(); n < 256 && n > maxSmall {
			maxSmall = n
		}
	}
	mp.byNum = make([]int32, maxSmall+1)
	for i := range fds.Len() {
		fd := fds.Get(i)
		mp.fields[i] = p.field(fd)
		mp.fields[i].fieldText()
		if n := fd.Number(); n < protowire.Number(len(mp.byNum)) {
			mp.byNum[n] = int32(i + 1)
		} else {
			if mp.bigNums == nil {
				mp.bigNums = map[protowire.Number]int{}
			}
			mp.bigNums[n] = i
		}
	}
	for i := range fds.Len() {
		od := fds.Get(i).ContainingOneof()
		if od == nil {
			continue
		}
		for j := range od.Fields().Len() {
			if k := od.Fields().Get(j).Index(); k != i {
				mp.fields[i].oneof = append(mp.fields[i].oneof, k)
			}
		}
	}
	return mp
}

func (p *planner) field(fd protoreflect.FieldDescriptor) fieldPlan {
	f := fieldPlan{fd: fd, name: string(fd.Name()), kind: fd.Kind(), list: fd.IsList(), handled: true}
	switch {
	case fd.IsMap():
		f.defValue, f.handled = defMap, false
		return f
	case fd.IsList():
		f.defValue = defList
	case fd.HasPresence():
		f.defValue, f.presence = defNull, true
	default:
		f.defValue = defScalar
	}
	switch f.kind {
	case protoreflect.BoolKind, protoreflect.EnumKind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		f.wire, f.packable = protowire.VarintType, f.list
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		f.wire, f.packable = protowire.Fixed32Type, f.list
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		f.wire, f.packable = protowire.Fixed64Type, f.list
	case protoreflect.StringKind, protoreflect.BytesKind:
		f.wire = protowire.BytesType
	case protoreflect.MessageKind:
		f.wire = protowire.BytesType
		switch w := wktOf(fd.Message()); w {
		case wktNone, wktTimestamp, wktDuration, wktWrapper:
			f.msg = p.message(fd.Message(), w)
			f.handled = f.msg != nil
		default:
			f.handled = false
		}
	default: // GroupKind
		f.handled = false
	}
	return f
}

// index returns the index of field num in fields, or -1.
func (mp *msgPlan) index(num protowire.Number) int {
	if num < protowire.Number(len(mp.byNum)) {
		return int(mp.byNum[num]) - 1
	}
	if i, ok := mp.bigNums[num]; ok {
		return i
	}
	return -1
}

// wireState is a converter's scratch memory on the wire path, pooled so
// that a record allocates nothing outside the caller's arena.
type wireState struct {
	buf   []byte
	slots []*fastjson.Value // a stack of field values, one frame a message being read
}

var wirePool = sync.Pool{New: func() any {
	return &wireState{buf: make([]byte, 0, 64), slots: make([]*fastjson.Value, 0, 64)}
}}

// wireRecord converts body, a message of plan mp, or reports false when the
// reflective path must decode it. c.slots must be set.
func (c *converter) wireRecord(mp *msgPlan, body []byte) (*fastjson.Value, bool) {
	if c.enter() != nil {
		return nil, false
	}
	defer c.leave()
	base := len(c.slots)
	for range mp.fields {
		c.slots = append(c.slots, nil)
	}
	defer func() { c.slots = c.slots[:base] }()
	if !c.wireFields(mp, body, base) {
		return nil, false
	}
	o := c.a.NewObject()
	for i := range mp.fields {
		f := &mp.fields[i]
		v := c.slots[base+i]
		if v == nil {
			var ok bool
			if v, ok = c.absent(f); !ok {
				return nil, false
			}
		}
		o.Set(f.name, v)
	}
	return o, true
}

// absent is the value of a field the record does not hold.
func (c *converter) absent(f *fieldPlan) (*fastjson.Value, bool) {
	switch f.defValue {
	case defNull:
		return c.a.NewNull(), true
	case defList:
		if c.enter() != nil {
			return nil, false
		}
		c.leave()
		return c.a.NewArray(), true
	case defMap:
		if c.enter() != nil {
			return nil, false
		}
		c.leave()
		return c.a.NewObject(), true
	}
	v, err := c.single(f.fd, f.fd.Default())
	return v, err == nil
}

// nextField reads body up to the next field mp plans, skipping the others:
// it returns that field's index, its wire type and body after its tag, or
// i < 0 at the end of body. known is false for a malformed tag or skipped
// value, and for a field of an extension (the reflective path decides).
// The walks of both paths (wireFields; inOrder, fields and wrapper) read
// their tags with it.
func (mp *msgPlan) nextField(body []byte) (i int, typ protowire.Type, rest []byte, known bool) {
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 || num > protowire.MaxValidNumber {
			return -1, 0, nil, false
		}
		body = body[n:]
		if i := mp.index(num); i >= 0 {
			return i, typ, body, true
		}
		if mp.ext.Has(num) {
			return -1, 0, nil, false
		}
		if n = protowire.ConsumeFieldValue(num, typ, body); n < 0 {
			return -1, 0, nil, false
		}
		body = body[n:]
	}
	return -1, 0, body, true
}

// wireFields reads the fields of one message into c.slots[base:].
func (c *converter) wireFields(mp *msgPlan, b []byte, base int) bool {
	for {
		i, typ, rest, known := mp.nextField(b)
		if !known {
			return false
		}
		if i < 0 {
			break
		}
		b = rest
		f := &mp.fields[i]
		if !f.handled {
			return false
		}
		slot := &c.slots[base+i]
		if f.list {
			n := c.wireList(f, typ, b, slot)
			if n < 0 {
				return false
			}
			b = b[n:]
			continue
		}
		if typ != f.wire || (f.kind == protoreflect.MessageKind && *slot != nil) {
			// Another wire type is an unknown field to protobuf; a
			// message that occurs twice is merged.
			return false
		}
		v, n := c.wireValue(f, b)
		if n < 0 {
			return false
		}
		b = b[n:]
		*slot = v
		for _, k := range f.oneof {
			c.slots[base+k] = nil
		}
	}
	return true
}

// wireList appends the values of one occurrence of a repeated field to the
// array in *slot (created on first use) and returns the bytes it read, or
// -1.
func (c *converter) wireList(f *fieldPlan, typ protowire.Type, b []byte, slot **fastjson.Value) int {
	if c.enter() != nil {
		return -1
	}
	defer c.leave()
	arr := *slot
	if arr == nil {
		arr = c.a.NewArray()
		*slot = arr
	}
	add := func(v *fastjson.Value) {
		vs, _ := arr.Array()
		arr.SetArrayItem(len(vs), v)
	}
	if typ == protowire.BytesType && f.packable {
		run, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return -1
		}
		for len(run) > 0 {
			v, k := c.wireValue(f, run)
			if k < 0 {
				return -1
			}
			add(v)
			run = run[k:]
		}
		return n
	}
	if typ != f.wire {
		return -1
	}
	v, n := c.wireValue(f, b)
	if n < 0 {
		return -1
	}
	add(v)
	return n
}

// wireValue converts one value of f of its own wire type at the start of b
// and returns the bytes it read, or -1.
func (c *converter) wireValue(f *fieldPlan, b []byte) (*fastjson.Value, int) {
	if f.wire == protowire.BytesType {
		raw, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, -1
		}
		v, ok := c.wireBytes(f, raw)
		if !ok {
			return nil, -1
		}
		return v, n
	}
	pv, n := scalarOf(f, b)
	if n < 0 {
		return nil, -1
	}
	v, err := c.single(f.fd, pv)
	if err != nil {
		return nil, -1
	}
	return v, n
}

// scalarOf reads one value of f, of a varint or fixed wire type, at the
// start of b, and returns it and the bytes it read, or -1.
func scalarOf(f *fieldPlan, b []byte) (protoreflect.Value, int) {
	var pv protoreflect.Value
	var n int
	switch f.wire {
	case protowire.VarintType:
		var x uint64
		if x, n = protowire.ConsumeVarint(b); n < 0 {
			return pv, -1
		}
		switch f.kind {
		case protoreflect.BoolKind:
			pv = protoreflect.ValueOfBool(protowire.DecodeBool(x))
		case protoreflect.EnumKind:
			pv = protoreflect.ValueOfEnum(protoreflect.EnumNumber(x))
		case protoreflect.Int32Kind:
			pv = protoreflect.ValueOfInt32(int32(x))
		case protoreflect.Sint32Kind:
			pv = protoreflect.ValueOfInt32(int32(protowire.DecodeZigZag(x & math.MaxUint32)))
		case protoreflect.Uint32Kind:
			pv = protoreflect.ValueOfUint32(uint32(x))
		case protoreflect.Int64Kind:
			pv = protoreflect.ValueOfInt64(int64(x))
		case protoreflect.Sint64Kind:
			pv = protoreflect.ValueOfInt64(protowire.DecodeZigZag(x))
		default: // Uint64Kind
			pv = protoreflect.ValueOfUint64(x)
		}
	case protowire.Fixed32Type:
		var x uint32
		if x, n = protowire.ConsumeFixed32(b); n < 0 {
			return pv, -1
		}
		switch f.kind {
		case protoreflect.Fixed32Kind:
			pv = protoreflect.ValueOfUint32(x)
		case protoreflect.Sfixed32Kind:
			pv = protoreflect.ValueOfInt32(int32(x))
		default: // FloatKind
			pv = protoreflect.ValueOfFloat32(math.Float32frombits(x))
		}
	case protowire.Fixed64Type:
		var x uint64
		if x, n = protowire.ConsumeFixed64(b); n < 0 {
			return pv, -1
		}
		switch f.kind {
		case protoreflect.Fixed64Kind:
			pv = protoreflect.ValueOfUint64(x)
		case protoreflect.Sfixed64Kind:
			pv = protoreflect.ValueOfInt64(int64(x))
		default: // DoubleKind
			pv = protoreflect.ValueOfFloat64(math.Float64frombits(x))
		}
	default:
		return pv, -1
	}
	return pv, n
}

// wireBytes converts a length-delimited value of f.
func (c *converter) wireBytes(f *fieldPlan, raw []byte) (*fastjson.Value, bool) {
	switch f.kind {
	case protoreflect.StringKind:
		// Invalid UTF-8 is an error in proto3 and kept in proto2: the
		// reflective path knows which.
		if !utf8.Valid(raw) {
			return nil, false
		}
		return codec.StringValue(c.a, raw, &c.buf), true
	case protoreflect.BytesKind:
		c.buf = base64.StdEncoding.AppendEncode(c.buf[:0], raw)
		return c.a.NewStringBytes(c.buf), true
	}
	switch f.msg.wkt {
	case wktTimestamp, wktDuration:
		secs, nanos, ok := secondsNanos(raw)
		if !ok {
			return nil, false
		}
		var v *fastjson.Value
		var err error
		if f.msg.wkt == wktTimestamp {
			v, err = c.timestampOf(secs, nanos)
		} else {
			v, err = c.durationOf(secs, nanos)
		}
		return v, err == nil
	case wktWrapper:
		inner := &f.msg.fields[0]
		base := len(c.slots)
		c.slots = append(c.slots, nil)
		defer func() { c.slots = c.slots[:base] }()
		if !c.wireFields(f.msg, raw, base) {
			return nil, false
		}
		if v := c.slots[base]; v != nil {
			return v, true
		}
		return c.absent(inner)
	}
	return c.wireRecord(f.msg, raw)
}

// secondsNanos reads a Timestamp or Duration: int64 seconds = 1, int32
// nanos = 2; the last occurrence wins and other fields are skipped.
func secondsNanos(b []byte) (secs, nanos int64, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num > protowire.MaxValidNumber {
			return 0, 0, false
		}
		b = b[n:]
		if num == 1 || num == 2 {
			if typ != protowire.VarintType {
				return 0, 0, false
			}
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, 0, false
			}
			if num == 1 {
				secs = int64(x)
			} else {
				nanos = int64(int32(x))
			}
			b = b[n:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return 0, 0, false
		}
		b = b[n:]
	}
	return secs, nanos, true
}
