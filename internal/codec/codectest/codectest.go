// Package codectest holds what the decoders' tests share.
package codectest

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// SameValue reports whether a and b are the same JSON value: numbers
// compared as text, strings and keys by their (unescaped) bytes, keys in
// the same order. Reading a value's strings changes how fastjson marshals
// it afterwards (it then escapes the Go way): marshal before comparing.
func SameValue(a, b *fastjson.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	switch a.Type() {
	case fastjson.TypeNumber:
		return string(a.MarshalTo(nil)) == string(b.MarshalTo(nil))
	case fastjson.TypeString:
		return string(a.GetStringBytes()) == string(b.GetStringBytes())
	case fastjson.TypeArray:
		x, y := a.GetArray(), b.GetArray()
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !SameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case fastjson.TypeObject:
		type kv struct {
			k string
			v *fastjson.Value
		}
		var x, y []kv
		a.GetObject().Visit(func(k []byte, v *fastjson.Value) { x = append(x, kv{string(k), v}) })
		b.GetObject().Visit(func(k []byte, v *fastjson.Value) { y = append(y, kv{string(k), v}) })
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i].k != y[i].k || !SameValue(x[i].v, y[i].v) {
				return false
			}
		}
		return true
	}
	return true
}

// WrittenJSON reports what is wrong with text as the output of a
// codec.JSONWriter, or "": it must be valid UTF-8, JSON by RFC 8259
// (encoding/json's strict grammar), with no whitespace between tokens.
func WrittenJSON(text []byte) string {
	switch {
	case !utf8.Valid(text):
		return "not valid UTF-8"
	case !json.Valid(text):
		return "not JSON by RFC 8259"
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, text); err != nil || !bytes.Equal(compact.Bytes(), text) {
		return "whitespace between tokens"
	}
	return ""
}
