package expr

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// Vars are the variables of one evaluation: the record (set once per
// record) and, for each, the element. A Vars is used by one goroutine; its
// values are read in place, so they must outlive the evaluations.
type Vars struct {
	Key     *fastjson.Value // the decoded key; nil: null
	Value   *fastjson.Value // the decoded value; nil: null
	Headers []kgo.RecordHeader
	Kafka   Kafka
	Item    *fastjson.Value
	Index   int

	headers  map[string]string // built on first use
	key, val ref.Val           // Key and Value wrapped, on first use
	scratch  []byte            // fast nodes' strings, kept from record to record
	esc      []byte            // codec.StringValue's scratch
	// raw: the value is given as the JSON texts of fields (ResetRaw).
	raw      bool
	rawNames []string
	rawVals  [][]byte
}

// ErrRaw is the answer of a program on Vars set by ResetRaw whenever its
// fast nodes cannot answer: the caller then evaluates the record on its
// decoded value (package route maps it the usual way).
var ErrRaw = errors.New("expr: no fast answer on raw fields")

// ResetRaw starts a new record whose value is given only by the JSON texts
// of some of its top-level fields (names[i]'s is vals[i]), for programs
// whose fast nodes read value only by those fields (Program.RawOK).
func (v *Vars) ResetRaw(key *fastjson.Value, names []string, vals [][]byte, r *kgo.Record) {
	v.Reset(key, nil, r)
	v.raw, v.rawNames, v.rawVals = true, names, vals
}

// Reset starts a new record.
func (v *Vars) Reset(key, value *fastjson.Value, r *kgo.Record) {
	*v = Vars{Key: key, Value: value, Headers: r.Headers,
		Kafka:   Kafka{Topic: r.Topic, Partition: int64(r.Partition), Offset: r.Offset, Timestamp: r.Timestamp},
		scratch: v.scratch[:0], esc: v.esc}
}

// ResolveName implements interpreter.Activation.
func (v *Vars) ResolveName(name string) (any, bool) {
	switch name {
	case "key":
		if v.key == nil {
			v.key = wrap(v.Key)
		}
		return v.key, true
	case "value":
		if v.val == nil {
			v.val = wrap(v.Value)
		}
		return v.val, true
	case "headers":
		if v.headers == nil {
			v.headers = make(map[string]string, len(v.Headers))
			for _, h := range v.Headers {
				if utf8.Valid(h.Value) {
					v.headers[h.Key] = string(h.Value)
				} else {
					v.headers[h.Key] = base64.StdEncoding.EncodeToString(h.Value)
				}
			}
		}
		return v.headers, true
	case "kafka":
		return v.Kafka, true
	case "item":
		return wrap(v.Item), true
	case "index":
		return types.Int(v.Index), true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (v *Vars) Parent() interpreter.Activation { return nil }

// wrap is a decoded value as a CEL value: scalars become CEL scalars
// (integers that fit an int64 are ints, other numbers doubles); objects and
// arrays are read in place.
func wrap(v *fastjson.Value) ref.Val {
	if v == nil {
		return types.NullValue
	}
	switch v.Type() {
	case fastjson.TypeTrue:
		return types.True
	case fastjson.TypeFalse:
		return types.False
	case fastjson.TypeString:
		return types.String(v.GetStringBytes())
	case fastjson.TypeNumber:
		// Int64 takes only an optional minus and digits: an integer.
		if i, err := v.Int64(); err == nil {
			return types.Int(i)
		}
		f, err := v.Float64()
		if err != nil {
			return types.NewErr("number %s is out of range", v)
		}
		return types.Double(f)
	case fastjson.TypeObject:
		o, _ := v.Object()
		return &object{o: o, v: v}
	case fastjson.TypeArray:
		return &array{a: v.GetArray(), v: v}
	}
	return types.NullValue
}

// object is a JSON object read in place: a CEL map of string keys.
type object struct {
	o *fastjson.Object
	v *fastjson.Value
}

var (
	_ traits.Mapper = (*object)(nil)
	_ traits.Lister = (*array)(nil)
)

func (j *object) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("a JSON object does not convert to %v", t)
}

func (j *object) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return types.MapType
	case types.MapType:
		return j
	case types.StringType:
		return types.String(j.v.MarshalTo(nil))
	}
	return types.NewErr("type conversion error from map to %s", t.TypeName())
}

func (j *object) Equal(other ref.Val) ref.Val {
	o, ok := other.(*object)
	if !ok {
		return types.False
	}
	return types.Bool(string(j.v.MarshalTo(nil)) == string(o.v.MarshalTo(nil)))
}

func (j *object) Type() ref.Type { return types.MapType }
func (j *object) Value() any     { return j.v }

func (j *object) Contains(k ref.Val) ref.Val {
	_, ok := j.Find(k)
	return types.Bool(ok)
}

func (j *object) Get(k ref.Val) ref.Val {
	if v, ok := j.Find(k); ok {
		return v
	}
	return types.NewErr("no such key: %v", k)
}

func (j *object) Find(k ref.Val) (ref.Val, bool) {
	s, ok := k.(types.String)
	if !ok {
		return nil, false
	}
	v := j.o.Get(string(s))
	if v == nil {
		return nil, false
	}
	return wrap(v), true
}

func (j *object) Size() ref.Val { return types.Int(j.o.Len()) }

func (j *object) Iterator() traits.Iterator {
	var keys []ref.Val
	j.o.Visit(func(k []byte, _ *fastjson.Value) { keys = append(keys, types.String(k)) })
	return &iterator{next: func(i int) (ref.Val, bool) {
		if i < len(keys) {
			return keys[i], true
		}
		return nil, false
	}}
}

// array is a JSON array read in place: a CEL list.
type array struct {
	a []*fastjson.Value
	v *fastjson.Value
}

func (j *array) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("a JSON array does not convert to %v", t)
}

func (j *array) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return types.ListType
	case types.ListType:
		return j
	}
	return types.NewErr("type conversion error from list to %s", t.TypeName())
}

func (j *array) Equal(other ref.Val) ref.Val {
	o, ok := other.(*array)
	if !ok {
		return types.False
	}
	return types.Bool(string(j.v.MarshalTo(nil)) == string(o.v.MarshalTo(nil)))
}

func (j *array) Type() ref.Type { return types.ListType }
func (j *array) Value() any     { return j.v }

func (j *array) Contains(v ref.Val) ref.Val {
	for _, e := range j.a {
		if wrap(e).Equal(v) == types.True {
			return types.True
		}
	}
	return types.False
}

func (j *array) Get(k ref.Val) ref.Val {
	i, ok := k.(types.Int)
	if !ok {
		return types.NewErr("a list index must be an int, not %s", k.Type().TypeName())
	}
	if i < 0 || int(i) >= len(j.a) {
		return types.NewErr("index %d out of range [0, %d)", i, len(j.a))
	}
	return wrap(j.a[i])
}

func (j *array) Size() ref.Val { return types.Int(len(j.a)) }

func (j *array) Add(other ref.Val) ref.Val {
	l, ok := other.(traits.Lister)
	if !ok {
		return types.NewErr("no such overload: list + %s", other.Type().TypeName())
	}
	out := make([]ref.Val, 0, len(j.a))
	for _, e := range j.a {
		out = append(out, wrap(e))
	}
	for it := l.Iterator(); it.HasNext() == types.True; {
		out = append(out, it.Next())
	}
	return types.NewRefValList(types.DefaultTypeAdapter, out)
}

func (j *array) Iterator() traits.Iterator {
	return &iterator{next: func(i int) (ref.Val, bool) {
		if i < len(j.a) {
			return wrap(j.a[i]), true
		}
		return nil, false
	}}
}

type iterator struct {
	i    int
	next func(int) (ref.Val, bool)
}

func (it *iterator) ConvertToNative(reflect.Type) (any, error) { return nil, fmt.Errorf("iterator") }
func (it *iterator) ConvertToType(ref.Type) ref.Val            { return types.NewErr("iterator") }
func (it *iterator) Equal(ref.Val) ref.Val                     { return types.False }
func (it *iterator) Type() ref.Type                            { return types.IteratorType }
func (it *iterator) Value() any                                { return nil }
func (it *iterator) HasNext() ref.Val {
	_, ok := it.next(it.i)
	return types.Bool(ok)
}
func (it *iterator) Next() ref.Val {
	v, ok := it.next(it.i)
	if !ok {
		return types.NewErr("iterator past its end")
	}
	it.i++
	return v
}

// Value evaluates a computed column into the canonical decoded form, built
// in a.
func (p *Program) Value(v *Vars, a *fastjson.Arena) (*fastjson.Value, error) {
	if p.path != nil {
		if jv, ok := p.path.read(v); ok {
			return jv, nil
		}
	}
	if p.fast != nil {
		if x, ok := p.fast.eval(v); ok {
			return fastJSON(x, v, a), nil
		}
	}
	out, err := p.eval(v)
	if err != nil {
		return nil, err
	}
	jv, err := toJSON(out, a, 0)
	if err != nil {
		return nil, &EvalError{Source: p.Source, Err: err}
	}
	return jv, nil
}

// List evaluates the list of each.
func (p *Program) List(v *Vars, a *fastjson.Arena) ([]*fastjson.Value, error) {
	out, err := p.eval(v)
	if err != nil {
		return nil, err
	}
	switch l := out.(type) {
	case *array:
		return l.a, nil
	case traits.Lister:
		var items []*fastjson.Value
		for it := l.Iterator(); it.HasNext() == types.True; {
			jv, err := toJSON(it.Next(), a, 0)
			if err != nil {
				return nil, &EvalError{Source: p.Source, Err: err}
			}
			items = append(items, jv)
		}
		return items, nil
	case types.Null:
		return nil, nil // no list: no rows
	}
	return nil, &EvalError{Source: p.Source, Err: fmt.Errorf("%w: gave a %s", errNotList, out.Type().TypeName())}
}

// toJSON converts a CEL value to the canonical decoded form: numbers,
// strings, booleans and null as such; timestamps as RFC 3339 in UTC;
// durations as seconds ("3600.5s"); bytes as base64; lists and maps as
// JSON; an optional as its value or null.
func toJSON(v ref.Val, a *fastjson.Arena, depth int) (*fastjson.Value, error) {
	if depth > 64 {
		return nil, fmt.Errorf("value nested deeper than 64 levels")
	}
	switch x := v.(type) {
	case *object:
		return x.v, nil
	case *array:
		return x.v, nil
	case types.Null:
		return a.NewNull(), nil
	case types.Bool:
		if x {
			return a.NewTrue(), nil
		}
		return a.NewFalse(), nil
	case types.Int:
		return a.NewNumberString(strconv.FormatInt(int64(x), 10)), nil
	case types.Uint:
		return a.NewNumberString(strconv.FormatUint(uint64(x), 10)), nil
	case types.Double:
		f := float64(x)
		switch {
		case math.IsNaN(f):
			return a.NewString("NaN"), nil
		case math.IsInf(f, 1):
			return a.NewString("Infinity"), nil
		case math.IsInf(f, -1):
			return a.NewString("-Infinity"), nil
		}
		return a.NewNumberString(strconv.FormatFloat(f, 'g', -1, 64)), nil
	case types.String:
		var esc []byte
		return codec.StringValue(a, unsafe.Slice(unsafe.StringData(string(x)), len(x)), &esc), nil
	case types.Bytes:
		return a.NewString(base64.StdEncoding.EncodeToString(x)), nil
	case types.Timestamp:
		return a.NewString(x.Time.UTC().Format(time.RFC3339Nano)), nil
	case types.Duration:
		return a.NewString(strconv.FormatFloat(x.Duration.Seconds(), 'f', -1, 64) + "s"), nil
	case *types.Err:
		return nil, x
	}
	if o, ok := v.(*types.Optional); ok {
		if !o.HasValue() {
			return a.NewNull(), nil
		}
		return toJSON(o.GetValue(), a, depth+1)
	}
	if m, ok := v.(traits.Mapper); ok {
		// A JSON object read in place keeps its field order; any other map
		// (a CEL map literal, a Go map) has none, so its keys are sorted:
		// the same record always gives the same document.
		var keys []types.String
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("a map key must be a string for a column, not %s", k.Type().TypeName())
			}
			keys = append(keys, ks)
		}
		if _, ordered := v.(*object); !ordered {
			slices.Sort(keys)
		}
		obj := a.NewObject()
		for _, k := range keys {
			ev, err := toJSON(m.Get(k), a, depth+1)
			if err != nil {
				return nil, err
			}
			obj.Set(string(k), ev)
		}
		return obj, nil
	}
	if l, ok := v.(traits.Lister); ok {
		arr := a.NewArray()
		i := 0
		for it := l.Iterator(); it.HasNext() == types.True; i++ {
			ev, err := toJSON(it.Next(), a, depth+1)
			if err != nil {
				return nil, err
			}
			arr.SetArrayItem(i, ev)
		}
		return arr, nil
	}
	return nil, fmt.Errorf("a %s cannot be a column value", v.Type().TypeName())
}

// read reads the field in place. ok is false when the program must run
// instead: a variable or field that is null, not an object or missing (the
// program gives the error or null it gives), or a number the program would
// write differently (a fraction, an exponent, beyond int64: CEL makes a
// double of it).
func (f *fieldPath) read(v *Vars) (jv *fastjson.Value, ok bool) {
	if jv = f.lookup(v); jv == nil {
		return nil, false
	}
	if jv.Type() == fastjson.TypeNumber {
		var buf [32]byte
		text := jv.MarshalTo(buf[:0])
		i, err := jv.Int64()
		if err != nil || string(strconv.AppendInt(buf[len(text):len(text)], i, 10)) != string(text) {
			return nil, false
		}
	}
	return jv, true
}

// lookup is the field, or nil when a variable or field on the way is null,
// not an object or missing, or the field is null.
func (f *fieldPath) lookup(v *Vars) (jv *fastjson.Value) {
	switch f.root {
	case "value":
		jv = v.Value
	case "key":
		jv = v.Key
	default:
		jv = v.Item
	}
	for i := len(f.fields) - 1; i >= 0; i-- {
		if jv == nil || jv.Type() != fastjson.TypeObject {
			return nil
		}
		o, _ := jv.Object()
		if jv = o.Get(f.fields[i]); jv == nil {
			return nil
		}
	}
	if jv.Type() == fastjson.TypeNull {
		return nil
	}
	return jv
}
