package jsonschema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

// FuzzDecode decodes arbitrary bytes against an arbitrary schema, served
// for the record's id with two registered references. It must never panic;
// every failure must be a *codec.DecodeError with a short reason; a decoded
// value must be the JSON the record holds, and DecodeParsed must agree.
func FuzzDecode(f *testing.F) {
	f.Add(orderSchema, wire(7, `{"id":1,"price":2.50,"ts":"2024-05-01T12:00:00Z","lines":[{"qty":1}]}`))
	f.Add(orderSchema, wire(7, `{"id":"x"}`))
	f.Add(richSchema, wire(1, `{"id":1,"customer":{"name":"a","address":{"country":"NL"}}}`))
	f.Add(`{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":{"a":{"type":"string","format":"uuid"}},"items":{"$ref":"#/$defs/a"}}`,
		wire(2, `["123e4567-e89b-12d3-a456-426614174000"]`))
	f.Add(`{"oneOf":[{"type":"null"},{"type":"object","properties":{"a":{"$ref":"#"}}}]}`, wire(3, `{"a":{"a":null}}`))
	f.Add(`true`, wire(4, `"\u0001\"\\"`))
	f.Add(`{}`, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, schema string, data []byte) {
		reg := newFake()
		reg.add(30, "address", addressSchema)
		reg.add(31, "customer", customerSchema, registry.Reference{Name: "address.schema.json", Subject: "address", Version: 1})
		if len(data) >= 5 {
			if id, _, _ := codec.ParseWire(data); id != 30 && id != 31 {
				reg.add(id, "", schema, registry.Reference{Name: "customer.schema.json", Subject: "customer", Version: 1})
			}
		}
		d := New(reg)
		var a fastjson.Arena
		v, typ, err := d.Decode(context.Background(), data, &a)
		// DecodeParsed accepts and rejects the same records, with the same
		// value and type (messages may differ where several things fail:
		// the validator's choice depends on Go's map order).
		var p fastjson.Parser
		pv, ptyp, perr := d.DecodeParsed(context.Background(), data, &p)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Decode err = %v, DecodeParsed err = %v", err, perr)
		}
		if err == nil && (ptyp != typ || string(pv.MarshalTo(nil)) != string(v.MarshalTo(nil))) {
			t.Fatalf("Decode %s, DecodeParsed %s", v.MarshalTo(nil), pv.MarshalTo(nil))
		}
		if err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want a DecodeError", err, err)
			}
			if len(de.Reason) > 250 {
				t.Fatalf("reason is %d bytes: %s", len(de.Reason), de.Reason)
			}
			return
		}
		if v == nil || typ == nil {
			t.Fatalf("Decode returned value %v, type %v", v, typ)
		}
		// The value is the payload's JSON as encoding/json reads it,
		// except for lone UTF-16 surrogates, which encoding/json replaces
		// and fastjson keeps as text.
		payload := data[5:]
		if bytes.Contains(bytes.ToLower(payload), []byte(`\ud`)) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("decoded a payload encoding/json rejects: %v", err)
		}
		if got := plain(v); !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded value\n got %#v\nwant %#v", got, want)
		}
	})
}

// plain converts a fastjson value to what encoding/json decodes with
// UseNumber.
func plain(v *fastjson.Value) any {
	switch v.Type() {
	case fastjson.TypeObject:
		m := map[string]any{}
		v.GetObject().Visit(func(k []byte, vv *fastjson.Value) { m[string(k)] = plain(vv) })
		return m
	case fastjson.TypeArray:
		vs := v.GetArray()
		a := make([]any, len(vs))
		for i, vv := range vs {
			a[i] = plain(vv)
		}
		return a
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
