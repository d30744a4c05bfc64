package protobuf

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// Limits of the well-known types, as protojson checks them.
const (
	minTimestampSeconds = -62135596800 // 0001-01-01T00:00:00Z
	maxTimestampSeconds = 253402300799 // 9999-12-31T23:59:59Z
	maxDurationSeconds  = 315576000000 // 10000 years
)

// bigObject is the entry count above which an object is built by parsing
// its text: fastjson's Object.Set looks for an existing key first, so
// building with Set costs time quadratic in the number of keys.
const bigObject = 64

// converter builds the canonical value of a decoded message in a.
type converter struct {
	a     *fastjson.Arena
	buf   []byte            // scratch for text that a copies (NewStringBytes)
	depth int               // objects and arrays open
	slots []*fastjson.Value // the wire path's field values, a stack (see wire.go)
}

// maxDepth is the deepest nesting of objects and arrays that fastjson
// parses back (it counts the values inside the innermost one, too), so
// that a value can be marshalled and parsed again anywhere downstream.
const maxDepth = fastjson.MaxDepth - 1

var tooDeep = fmt.Sprintf("objects and arrays nest deeper than %d levels", maxDepth)

// enter opens an object or array; the caller calls leave when it is done.
func (c *converter) enter() error {
	c.depth++
	if c.depth > maxDepth {
		return &fieldError{reason: tooDeep}
	}
	return nil
}

func (c *converter) leave() { c.depth-- }

// fieldError is a value that has no canonical form, with the path to it.
type fieldError struct {
	path   []string // innermost first
	reason string
}

// maxPathShown bounds the path in an error message: the outermost
// elements name the field; a deep path only makes the reason long.
const maxPathShown = 8

func (e *fieldError) Error() string {
	var b strings.Builder
	b.WriteString("field ")
	for i := len(e.path) - 1; i >= 0; i-- {
		if len(e.path)-i > maxPathShown {
			b.WriteString("...")
			break
		}
		p := e.path[i]
		if i < len(e.path)-1 && p[0] != '[' {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	b.WriteString(": ")
	b.WriteString(e.reason)
	return b.String()
}

func within(err error, elem string) error {
	if fe, ok := err.(*fieldError); ok {
		fe.path = append(fe.path, elem)
	}
	return err
}

// record converts m as an object of all its fields, in declaration order.
func (c *converter) record(m protoreflect.Message) (*fastjson.Value, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.leave()
	fds := m.Descriptor().Fields()
	o := c.a.NewObject()
	for i := range fds.Len() {
		fd := fds.Get(i)
		v, err := c.field(m, fd)
		if err != nil {
			return nil, within(err, string(fd.Name()))
		}
		o.Set(string(fd.Name()), v)
	}
	return o, nil
}

// field converts fd of m. Fields with presence that are not set are null;
// fields without presence are always there, at their zero value when the
// writer left them out.
func (c *converter) field(m protoreflect.Message, fd protoreflect.FieldDescriptor) (*fastjson.Value, error) {
	switch {
	case fd.IsMap():
		return c.mapValue(m.Get(fd).Map(), fd)
	case fd.IsList():
		if err := c.enter(); err != nil {
			return nil, err
		}
		defer c.leave()
		l := m.Get(fd).List()
		arr := c.a.NewArray()
		for i := range l.Len() {
			v, err := c.single(fd, l.Get(i))
			if err != nil {
				return nil, within(err, "["+strconv.Itoa(i)+"]")
			}
			arr.SetArrayItem(i, v)
		}
		return arr, nil
	case fd.HasPresence() && !m.Has(fd):
		return c.a.NewNull(), nil
	default:
		return c.single(fd, m.Get(fd))
	}
}

// single converts one value of fd (an element, for repeated fields).
func (c *converter) single(fd protoreflect.FieldDescriptor, v protoreflect.Value) (*fastjson.Value, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if v.Bool() {
			return c.a.NewTrue(), nil
		}
		return c.a.NewFalse(), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return c.int(v.Int()), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return c.uint(v.Uint()), nil
	case protoreflect.FloatKind:
		return c.float(v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return c.float(v.Float(), 64), nil
	case protoreflect.StringKind:
		return codec.StringValue(c.a, []byte(v.String()), &c.buf), nil
	case protoreflect.BytesKind:
		c.buf = base64.StdEncoding.AppendEncode(c.buf[:0], v.Bytes())
		return c.a.NewStringBytes(c.buf), nil
	case protoreflect.EnumKind:
		n := v.Enum()
		if ev := fd.Enum().Values().ByNumber(n); ev != nil {
			return c.a.NewString(string(ev.Name())), nil
		}
		return c.int(int64(n)), nil
	default: // MessageKind, GroupKind
		return c.message(v.Message())
	}
}

func (c *converter) int(n int64) *fastjson.Value {
	if strconv.IntSize == 64 || (n >= math.MinInt32 && n <= math.MaxInt32) {
		return c.a.NewNumberInt(int(n))
	}
	return c.a.NewNumberString(strconv.FormatInt(n, 10))
}

func (c *converter) uint(n uint64) *fastjson.Value {
	if n <= math.MaxInt32 || (strconv.IntSize == 64 && n <= math.MaxInt64) {
		return c.a.NewNumberInt(int(n))
	}
	return c.a.NewNumberString(strconv.FormatUint(n, 10))
}

// float formats f as the shortest number that reads back as the same
// float32 or float64; NaN and the infinities become their protojson words.
func (c *converter) float(f float64, bits int) *fastjson.Value {
	switch {
	case math.IsNaN(f):
		return c.a.NewString("NaN")
	case math.IsInf(f, 1):
		return c.a.NewString("Infinity")
	case math.IsInf(f, -1):
		return c.a.NewString("-Infinity")
	case bits == 64:
		return c.a.NewNumberFloat64(f)
	}
	return c.a.NewNumberString(strconv.FormatFloat(f, 'g', -1, 32))
}

// message converts a message value: a well-known type to its own form, any
// other message to an object.
func (c *converter) message(m protoreflect.Message) (*fastjson.Value, error) {
	md := m.Descriptor()
	switch wktOf(md) {
	case wktTimestamp:
		return c.timestamp(m)
	case wktDuration:
		return c.duration(m)
	case wktWrapper:
		fd := md.Fields().ByNumber(1)
		return c.single(fd, m.Get(fd))
	case wktStruct:
		fd := md.Fields().ByNumber(1)
		return c.mapValue(m.Get(fd).Map(), fd)
	case wktValue:
		return c.jsonValue(m)
	case wktListValue:
		fd := md.Fields().ByNumber(1)
		return c.field(m, fd)
	case wktAny:
		if err := c.enter(); err != nil {
			return nil, err
		}
		defer c.leave()
		url, value := md.Fields().ByNumber(1), md.Fields().ByNumber(2)
		o := c.a.NewObject()
		o.Set("@type", codec.StringValue(c.a, []byte(m.Get(url).String()), &c.buf))
		v, _ := c.single(value, m.Get(value))
		o.Set("value", v)
		return o, nil
	}
	return c.record(m)
}

func (c *converter) timestamp(m protoreflect.Message) (*fastjson.Value, error) {
	fds := m.Descriptor().Fields()
	return c.timestampOf(m.Get(fds.ByNumber(1)).Int(), m.Get(fds.ByNumber(2)).Int())
}

func (c *converter) timestampOf(secs, nanos int64) (*fastjson.Value, error) {
	b, err := appendTimestamp(c.buf[:0], secs, nanos)
	if err != nil {
		return nil, err
	}
	c.buf = b
	return c.a.NewStringBytes(b), nil
}

// appendTimestamp appends a Timestamp's RFC 3339 text.
func appendTimestamp(dst []byte, secs, nanos int64) ([]byte, error) {
	if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos >= 1e9 {
		return dst, &fieldError{reason: fmt.Sprintf("Timestamp{seconds: %d, nanos: %d} is outside 0001-01-01..9999-12-31 or not normalized", secs, nanos)}
	}
	return codec.AppendTimestamp(dst, secs, nanos), nil
}

func (c *converter) duration(m protoreflect.Message) (*fastjson.Value, error) {
	fds := m.Descriptor().Fields()
	return c.durationOf(m.Get(fds.ByNumber(1)).Int(), m.Get(fds.ByNumber(2)).Int())
}

func (c *converter) durationOf(secs, nanos int64) (*fastjson.Value, error) {
	b, err := appendDuration(c.buf[:0], secs, nanos)
	if err != nil {
		return nil, err
	}
	c.buf = b
	return c.a.NewStringBytes(b), nil
}

// appendDuration appends a Duration's text ("-1.5s").
func appendDuration(b []byte, secs, nanos int64) ([]byte, error) {
	if secs < -maxDurationSeconds || secs > maxDurationSeconds || nanos <= -1e9 || nanos >= 1e9 ||
		(secs > 0 && nanos < 0) || (secs < 0 && nanos > 0) {
		return b, &fieldError{reason: fmt.Sprintf("Duration{seconds: %d, nanos: %d} is out of range or its signs differ", secs, nanos)}
	}
	if secs < 0 || nanos < 0 {
		b = append(b, '-')
		secs, nanos = -secs, -nanos
	}
	b = strconv.AppendInt(b, secs, 10)
	if nanos != 0 {
		b = append(b, '.')
		start := len(b)
		b = strconv.AppendInt(b, nanos+1e9, 10)
		copy(b[start:], b[start+1:]) // drop the leading 1: nine digits
		b = b[:len(b)-1]
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return append(b, 's'), nil
}

// jsonValue converts a google.protobuf.Value to the JSON value it holds; a
// Value with no kind set is null.
func (c *converter) jsonValue(m protoreflect.Message) (*fastjson.Value, error) {
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("kind"))
	if fd == nil || fd.Number() == 1 { // unset or null_value
		return c.a.NewNull(), nil
	}
	return c.single(fd, m.Get(fd))
}

// mapValue converts a map field to an object whose keys are the map's keys
// as text, in sorted order so that the same record always gives the same
// JSON.
func (c *converter) mapValue(mp protoreflect.Map, fd protoreflect.FieldDescriptor) (*fastjson.Value, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.leave()
	if mp.Len() == 0 {
		return c.a.NewObject(), nil
	}
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	switch fd.MapKey().Kind() {
	case protoreflect.StringKind:
		slices.SortFunc(keys, func(x, y protoreflect.MapKey) int { return strings.Compare(x.String(), y.String()) })
	case protoreflect.BoolKind:
		slices.SortFunc(keys, func(x, y protoreflect.MapKey) int {
			return cmp.Compare(b2i(x.Bool()), b2i(y.Bool()))
		})
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		slices.SortFunc(keys, func(x, y protoreflect.MapKey) int { return cmp.Compare(x.Uint(), y.Uint()) })
	default:
		slices.SortFunc(keys, func(x, y protoreflect.MapKey) int { return cmp.Compare(x.Int(), y.Int()) })
	}
	vfd := fd.MapValue()
	names := make([]string, len(keys))
	vals := make([]*fastjson.Value, len(keys))
	for i, k := range keys {
		names[i] = k.String() // decimal text for integer keys, "true"/"false"
		v, err := c.single(vfd, mp.Get(k))
		if err != nil {
			return nil, within(err, "["+strconv.Quote(names[i])+"]")
		}
		vals[i] = v
	}
	return c.object(names, vals)
}

// object builds an object of distinct keys.
func (c *converter) object(keys []string, vals []*fastjson.Value) (*fastjson.Value, error) {
	if len(keys) <= bigObject {
		o := c.a.NewObject()
		for i, k := range keys {
			o.Set(k, vals[i])
		}
		return o, nil
	}
	// Parsing appends entries without looking for duplicates. The parser's
	// values stay alive as long as the caller's value refers to them.
	b := append(c.buf[:0], '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = codec.AppendJSONString(b, k)
		b = append(b, ':')
		b = vals[i].MarshalTo(b)
	}
	b = append(b, '}')
	c.buf = b
	var p fastjson.Parser
	v, err := p.ParseBytes(b)
	if err != nil {
		return nil, &fieldError{reason: "building a map: " + err.Error()}
	}
	return v, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
