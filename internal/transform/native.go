package transform

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// Native converts a decoded value to plain Go values for a Go transform:
// objects to map[string]any, arrays to []any, numbers to json.Number (exact),
// strings, booleans and nil.
func Native(v *fastjson.Value) any {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		out := make(map[string]any, o.Len())
		o.Visit(func(k []byte, fv *fastjson.Value) { out[string(k)] = Native(fv) })
		return out
	case fastjson.TypeArray:
		a := v.GetArray()
		out := make([]any, len(a))
		for i, e := range a {
			out[i] = Native(e)
		}
		return out
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeNumber:
		return json.Number(v.MarshalTo(nil))
	case fastjson.TypeTrue:
		return true
	case fastjson.TypeFalse:
		return false
	}
	return nil
}

// FromNative converts a Go value from a Go transform to the canonical
// decoded form, built in a, so that it is coerced to its column like a
// field: strings, booleans, integers, floats (NaN and ±Inf as strings),
// json.Number, time.Time (RFC 3339), time.Duration (seconds), []byte
// (base64), nil, maps with string keys and slices (JSON); anything else goes
// through encoding/json.
func FromNative(a *fastjson.Arena, v any) (*fastjson.Value, error) {
	return fromNative(a, v, 0)
}

func fromNative(a *fastjson.Arena, v any, depth int) (*fastjson.Value, error) {
	if depth > 64 {
		return nil, fmt.Errorf("value nested deeper than 64 levels")
	}
	switch x := v.(type) {
	case nil:
		return a.NewNull(), nil
	case string:
		return codec.StringValue(a, unsafe.Slice(unsafe.StringData(x), len(x)), new([]byte)), nil
	case bool:
		if x {
			return a.NewTrue(), nil
		}
		return a.NewFalse(), nil
	case int:
		return a.NewNumberString(strconv.FormatInt(int64(x), 10)), nil
	case int8, int16, int32, int64:
		return a.NewNumberString(strconv.FormatInt(reflect.ValueOf(x).Int(), 10)), nil
	case uint, uint8, uint16, uint32, uint64:
		return a.NewNumberString(strconv.FormatUint(reflect.ValueOf(x).Uint(), 10)), nil
	case float32:
		return floatValue(a, float64(x)), nil
	case float64:
		return floatValue(a, x), nil
	case json.Number:
		if _, err := strconv.ParseFloat(string(x), 64); err != nil {
			return nil, fmt.Errorf("json.Number %q is not a number", x)
		}
		return a.NewNumberString(string(x)), nil
	case time.Time:
		return a.NewString(x.UTC().Format(time.RFC3339Nano)), nil
	case time.Duration:
		return a.NewString(strconv.FormatFloat(x.Seconds(), 'f', -1, 64) + "s"), nil
	case []byte:
		return a.NewString(base64.StdEncoding.EncodeToString(x)), nil
	case map[string]any:
		o := a.NewObject()
		for k, e := range x {
			ev, err := fromNative(a, e, depth+1)
			if err != nil {
				return nil, err
			}
			o.Set(k, ev)
		}
		return o, nil
	case []any:
		arr := a.NewArray()
		for i, e := range x {
			ev, err := fromNative(a, e, depth+1)
			if err != nil {
				return nil, err
			}
			arr.SetArrayItem(i, ev)
		}
		return arr, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("a %T cannot be a column value: %v", v, err)
	}
	var p fastjson.Parser
	pv, err := p.ParseBytes(b)
	if err != nil {
		return nil, err
	}
	return copyValue(a, pv, depth), nil
}

func floatValue(a *fastjson.Arena, f float64) *fastjson.Value {
	switch {
	case math.IsNaN(f):
		return a.NewString("NaN")
	case math.IsInf(f, 1):
		return a.NewString("Infinity")
	case math.IsInf(f, -1):
		return a.NewString("-Infinity")
	}
	return a.NewNumberString(strconv.FormatFloat(f, 'g', -1, 64))
}

// copyValue copies v (from a parser that is reused) into a.
func copyValue(a *fastjson.Arena, v *fastjson.Value, depth int) *fastjson.Value {
	switch v.Type() {
	case fastjson.TypeObject:
		o := a.NewObject()
		obj, _ := v.Object()
		obj.Visit(func(k []byte, fv *fastjson.Value) { o.Set(string(k), copyValue(a, fv, depth+1)) })
		return o
	case fastjson.TypeArray:
		arr := a.NewArray()
		for i, e := range v.GetArray() {
			arr.SetArrayItem(i, copyValue(a, e, depth+1))
		}
		return arr
	case fastjson.TypeString:
		return codec.StringValue(a, v.GetStringBytes(), new([]byte))
	case fastjson.TypeNumber:
		return a.NewNumberString(string(v.MarshalTo(nil)))
	case fastjson.TypeTrue:
		return a.NewTrue()
	case fastjson.TypeFalse:
		return a.NewFalse()
	}
	return a.NewNull()
}
