package avro

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

// fakeSource is a map-backed registry.Source that counts lookups.
type fakeSource struct {
	mu       sync.Mutex
	byID     map[int]*registry.Schema
	byRef    map[string]*registry.Schema // "subject/version"
	idErr    error                       // returned by SchemaByID when set
	idCalls  map[int]int
	refCalls int
}

func newFake() *fakeSource {
	return &fakeSource{byID: map[int]*registry.Schema{}, byRef: map[string]*registry.Schema{}, idCalls: map[int]int{}}
}

func (f *fakeSource) add(id int, schema string, refs ...registry.Reference) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byID[id] = &registry.Schema{ID: id, Type: registry.TypeAvro, Schema: schema, References: refs}
}

func (f *fakeSource) addRef(subject string, version, id int, schema string, refs ...registry.Reference) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byRef[fmt.Sprintf("%s/%d", subject, version)] = &registry.Schema{ID: id, Type: registry.TypeAvro, Schema: schema, References: refs}
}

func (f *fakeSource) SchemaByID(_ context.Context, id int) (*registry.Schema, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idCalls[id]++
	if f.idErr != nil {
		return nil, f.idErr
	}
	s, ok := f.byID[id]
	if !ok {
		return nil, &registry.NotFoundError{What: fmt.Sprintf("schema id %d", id)}
	}
	return s, nil
}

func (f *fakeSource) SchemaByReference(_ context.Context, ref registry.Reference) (*registry.Schema, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refCalls++
	s, ok := f.byRef[fmt.Sprintf("%s/%d", ref.Subject, ref.Version)]
	if !ok {
		return nil, &registry.NotFoundError{What: fmt.Sprintf("subject %s version %d", ref.Subject, ref.Version)}
	}
	return s, nil
}

func (f *fakeSource) calls(id int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.idCalls[id]
}

// encode marshals v with schema (parsed after refs, in order) and frames it
// for id.
func encode(t testing.TB, id int, schema string, v any, refs ...string) []byte {
	t.Helper()
	cache := &hamba.SchemaCache{}
	for _, r := range refs {
		if _, err := hamba.ParseWithCache(r, "", cache); err != nil {
			t.Fatalf("parse reference: %v", err)
		}
	}
	s, err := hamba.ParseWithCache(schema, "", cache)
	if err != nil {
		t.Fatalf("parse schema: %v", err)
	}
	b, err := hamba.Marshal(s, v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	return append(codec.AppendWire(nil, id), b...)
}

func decode(t testing.TB, d *Decoder, data []byte) (string, *codec.Type) {
	t.Helper()
	var a fastjson.Arena
	v, typ, err := d.Decode(context.Background(), data, &a)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	text := string(v.MarshalTo(nil))
	checkText(t, d, data, v)
	return text, typ
}

func fieldRecord(fieldType string) string {
	return `{"type":"record","name":"R","namespace":"t","fields":[{"name":"v","type":` + fieldType + `}]}`
}

func mustRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// TestDecodeValues is the golden table: one field of each Avro type and
// logical type, the canonical JSON text it decodes to, and its derived Kind.
func TestDecodeValues(t *testing.T) {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	pre := time.Date(1969, 12, 31, 23, 59, 59, 999000000, time.UTC)
	cases := []struct {
		name   string
		schema string
		value  any
		want   string
		kind   codec.Kind
		opt    bool
	}{
		{"boolean true", `"boolean"`, true, `true`, codec.KindBool, false},
		{"boolean false", `"boolean"`, false, `false`, codec.KindBool, false},
		{"int", `"int"`, int32(-42), `-42`, codec.KindInt32, false},
		{"int max", `"int"`, int32(math.MaxInt32), `2147483647`, codec.KindInt32, false},
		{"int min", `"int"`, int32(math.MinInt32), `-2147483648`, codec.KindInt32, false},
		{"long beyond 2^53", `"long"`, int64(9007199254740993), `9007199254740993`, codec.KindInt64, false},
		{"long min", `"long"`, int64(math.MinInt64), `-9223372036854775808`, codec.KindInt64, false},
		{"float shortest", `"float"`, float32(0.1), `0.1`, codec.KindFloat32, false},
		{"float big", `"float"`, float32(3.4028235e38), `3.4028235e+38`, codec.KindFloat32, false},
		{"float NaN", `"float"`, float32(math.NaN()), `"NaN"`, codec.KindFloat32, false},
		{"float +Inf", `"float"`, float32(math.Inf(1)), `"Infinity"`, codec.KindFloat32, false},
		{"double", `"double"`, 1.5, `1.5`, codec.KindFloat64, false},
		{"double exponent", `"double"`, 1e21, `1e+21`, codec.KindFloat64, false},
		{"double -Inf", `"double"`, math.Inf(-1), `"-Infinity"`, codec.KindFloat64, false},
		{"string", `"string"`, "héllo wörld ✓", `"héllo wörld ✓"`, codec.KindString, false},
		{"string empty", `"string"`, "", `""`, codec.KindString, false},
		{"string quote newline", `"string"`, "a\"b\n", `"a\"b\n"`, codec.KindString, false},
		{"string control", `"string"`, "a\x01b\x7f", `"a\u0001b` + "\x7f" + `"`, codec.KindString, false},
		{"bytes", `"bytes"`, []byte{0, 1, 2, 0xff}, `"AAEC/w=="`, codec.KindBytes, false},
		{"bytes empty", `"bytes"`, []byte{}, `""`, codec.KindBytes, false},
		{"fixed", `{"type":"fixed","name":"F4","size":4}`, [4]byte{'a', 'b', 'c', 'd'}, `"YWJjZA=="`, codec.KindBytes, false},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B","C"]}`, "B", `"B"`, codec.KindString, false},
		{"decimal bytes negative", `{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`, mustRat("-12.3"), `"-12.30"`, codec.KindDecimal, false},
		{"decimal bytes zero", `{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`, mustRat("0"), `"0.00"`, codec.KindDecimal, false},
		{"decimal bytes small", `{"type":"bytes","logicalType":"decimal","precision":10,"scale":4}`, mustRat("-0.0005"), `"-0.0005"`, codec.KindDecimal, false},
		{"decimal scale 0", `{"type":"bytes","logicalType":"decimal","precision":5}`, mustRat("-128"), `"-128"`, codec.KindDecimal, false},
		{"decimal 38 digits", `{"type":"bytes","logicalType":"decimal","precision":38,"scale":4}`,
			mustRat("-1234567890123456789012345678901234.5678"), `"-1234567890123456789012345678901234.5678"`, codec.KindDecimal, false},
		{"decimal fixed", `{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":18,"scale":3}`,
			mustRat("123456789012345.678"), `"123456789012345.678"`, codec.KindDecimal, false},
		{"decimal fixed negative", `{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":18,"scale":3}`,
			mustRat("-1"), `"-1.000"`, codec.KindDecimal, false},
		{"date", `{"type":"int","logicalType":"date"}`, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), `"2024-05-01"`, codec.KindDate, false},
		{"date before epoch", `{"type":"int","logicalType":"date"}`, time.Date(1900, 2, 28, 0, 0, 0, 0, time.UTC), `"1900-02-28"`, codec.KindDate, false},
		{"date leap day", `{"type":"int","logicalType":"date"}`, time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC), `"2000-02-29"`, codec.KindDate, false},
		{"time-millis", `{"type":"int","logicalType":"time-millis"}`, 12*time.Hour + 34*time.Minute + 56*time.Second + 789*time.Millisecond, `"12:34:56.789000"`, codec.KindTime, false},
		{"time-micros", `{"type":"long","logicalType":"time-micros"}`, 23*time.Hour + 59*time.Minute + 59*time.Second + 999999*time.Microsecond, `"23:59:59.999999"`, codec.KindTime, false},
		{"time-micros midnight", `{"type":"long","logicalType":"time-micros"}`, time.Duration(0), `"00:00:00.000000"`, codec.KindTime, false},
		{"timestamp-millis", `{"type":"long","logicalType":"timestamp-millis"}`, ts, `"2024-05-01T12:00:00.123Z"`, codec.KindTimestamp, false},
		{"timestamp-millis before epoch", `{"type":"long","logicalType":"timestamp-millis"}`, pre, `"1969-12-31T23:59:59.999Z"`, codec.KindTimestamp, false},
		{"timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`, ts, `"2024-05-01T12:00:00.123456Z"`, codec.KindTimestamp, false},
		{"timestamp-micros whole second", `{"type":"long","logicalType":"timestamp-micros"}`, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC), `"2024-05-01T12:00:00Z"`, codec.KindTimestamp, false},
		{"timestamp-nanos", `{"type":"long","logicalType":"timestamp-nanos"}`, ts.UnixNano(), `"2024-05-01T12:00:00.123456789Z"`, codec.KindTimestamp, false},
		{"timestamp-nanos before epoch", `{"type":"long","logicalType":"timestamp-nanos"}`, int64(-1), `"1969-12-31T23:59:59.999999999Z"`, codec.KindTimestamp, false},
		{"local-timestamp-millis", `{"type":"long","logicalType":"local-timestamp-millis"}`, ts, `"2024-05-01T12:00:00.123"`, codec.KindLocalTimestamp, false},
		{"local-timestamp-micros", `{"type":"long","logicalType":"local-timestamp-micros"}`, ts, `"2024-05-01T12:00:00.123456"`, codec.KindLocalTimestamp, false},
		{"local-timestamp-nanos", `{"type":"long","logicalType":"local-timestamp-nanos"}`, ts.UnixNano(), `"2024-05-01T12:00:00.123456789"`, codec.KindLocalTimestamp, false},
		{"uuid string", `{"type":"string","logicalType":"uuid"}`, "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`, codec.KindUUID, false},
		{"uuid string no dashes", `{"type":"string","logicalType":"uuid"}`, "6ba7b8109dad11d180b400c04fd430c8", `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`, codec.KindUUID, false},
		{"uuid fixed", `{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}`,
			[16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}, `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`, codec.KindUUID, false},
		{"duration", `{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}`,
			hamba.LogicalDuration{Months: 1, Days: 2, Milliseconds: 3004}, `{"months":1,"days":2,"millis":3004}`, codec.KindJSON, false},
		{"logical type on wrong base", `{"type":"string","logicalType":"date"}`, "x", `"x"`, codec.KindString, false},
		{"unknown logical type", `{"type":"long","logicalType":"mystery"}`, int64(7), `7`, codec.KindInt64, false},
		{"nullable null", `["null","string"]`, nil, `null`, codec.KindString, true},
		{"nullable value", `["null","string"]`, "x", `"x"`, codec.KindString, true},
		{"nullable null second", `["string","null"]`, nil, `null`, codec.KindString, true},
		{"nullable logical", `["null",{"type":"long","logicalType":"timestamp-millis"}]`, ts, `"2024-05-01T12:00:00.123Z"`, codec.KindTimestamp, true},
		{"single-branch union", `["long"]`, int64(5), `5`, codec.KindInt64, false},
		{"multi union string", `["null","string","long"]`, "x", `"x"`, codec.KindJSON, true},
		{"multi union long", `["null","string","long"]`, int64(5), `5`, codec.KindJSON, true},
		{"multi union no null", `["string","long"]`, int64(-5), `-5`, codec.KindJSON, false},
		{"array", `{"type":"array","items":"int"}`, []int32{1, 2, 3}, `[1,2,3]`, codec.KindArray, false},
		{"array empty", `{"type":"array","items":"int"}`, []int32{}, `[]`, codec.KindArray, false},
		{"array nullable", `{"type":"array","items":["null","string"]}`, []any{"a", nil}, `["a",null]`, codec.KindArray, false},
		{"array of arrays", `{"type":"array","items":{"type":"array","items":"long"}}`, [][]int64{{1}, {}, {2, 3}}, `[[1],[],[2,3]]`, codec.KindArray, false},
		{"map", `{"type":"map","values":"long"}`, map[string]int64{"k": 1}, `{"k":1}`, codec.KindMap, false},
		{"map empty", `{"type":"map","values":"long"}`, map[string]int64{}, `{}`, codec.KindMap, false},
		{"map of decimals", `{"type":"map","values":{"type":"bytes","logicalType":"decimal","precision":4,"scale":1}}`, map[string]*big.Rat{"p": mustRat("12.5")}, `{"p":"12.5"}`, codec.KindMap, false},
		{"nested record", `{"type":"record","name":"In","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"]}]}`,
			map[string]any{"a": int32(1), "b": "x"}, `{"a":1,"b":"x"}`, codec.KindRecord, false},
		{"nullable record", `["null",{"type":"record","name":"In","fields":[{"name":"a","type":"int"}]}]`,
			map[string]any{"t.In": map[string]any{"a": int32(1)}}, `{"a":1}`, codec.KindRecord, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := newFake()
			schema := fieldRecord(tc.schema)
			src.add(100+i, schema)
			d := New(src)
			data := encode(t, 100+i, schema, map[string]any{"v": tc.value})
			got, typ := decode(t, d, data)
			want := `{"v":` + tc.want + `}`
			if got != want {
				t.Errorf("value\n got %s\nwant %s", got, want)
			}
			f := typ.Field("v")
			if typ.Kind != codec.KindRecord || typ.Name != "t.R" || f == nil {
				t.Fatalf("type %+v", typ)
			}
			if f.Type.Kind != tc.kind || f.Optional != tc.opt {
				t.Errorf("field type %v optional %v, want %v optional %v", f.Type.Kind, f.Optional, tc.kind, tc.opt)
			}
		})
	}
}

// TestDecodeRecord decodes a record of nested records, arrays of records and
// a map with several keys, and checks the derived Type in full.
func TestDecodeRecord(t *testing.T) {
	const schema = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"id","type":"long"},
		{"name":"note","type":["null","string"],"default":null},
		{"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID"]},"default":"NEW"},
		{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
		{"name":"customer","type":{"type":"record","name":"Customer","fields":[
			{"name":"name","type":"string"},
			{"name":"email","type":["null","string"]}]}},
		{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
			{"name":"sku","type":"string"},
			{"name":"price","type":"double"}]}}},
		{"name":"attrs","type":{"type":"map","values":["null","long"]}},
		{"name":"any","type":["null","string","long"]}
	]}`
	src := newFake()
	src.add(7, schema)
	d := New(src)
	rec := map[string]any{
		"id": int64(1), "note": nil, "status": "PAID", "amount": mustRat("99.95"),
		"customer": map[string]any{"name": "Ann", "email": "ann@example.com"},
		"items":    []any{map[string]any{"sku": "a", "price": 1.25}, map[string]any{"sku": "b", "price": 2.0}},
		"attrs":    map[string]any{"x": int64(1), "y": nil, "z": int64(-3)},
		"any":      int64(4),
	}
	var a fastjson.Arena
	v, typ, err := d.Decode(context.Background(), encode(t, 7, schema, rec), &a)
	if err != nil {
		t.Fatal(err)
	}
	// The map's key order follows the writer's (Go map) order: compare it
	// on its own, the rest as text.
	attrs := v.Get("attrs")
	if got := attrs.GetObject().Len(); got != 3 || attrs.GetInt("x") != 1 || attrs.Get("y").Type() != fastjson.TypeNull || attrs.GetInt("z") != -3 {
		t.Errorf("attrs = %s", attrs)
	}
	v.Del("attrs")
	const want = `{"id":1,"note":null,"status":"PAID","amount":"99.95","customer":{"name":"Ann","email":"ann@example.com"},` +
		`"items":[{"sku":"a","price":1.25},{"sku":"b","price":2}],"any":4}`
	if got := v.String(); got != want {
		t.Errorf("value\n got %s\nwant %s", got, want)
	}

	if got := typeString(typ); got != "record shop.Order{id int64, note string?=, status string=, amount decimal(12,2), "+
		"customer record shop.Customer{name string, email string?}, items array[record shop.Item{sku string, price double}], "+
		"attrs map[int64], any json?}" {
		t.Errorf("type %s", got)
	}
}

// typeString renders a Type compactly: "?" marks Optional, "=" HasDefault.
func typeString(t *codec.Type) string {
	var b strings.Builder
	var walk func(t *codec.Type)
	walk = func(t *codec.Type) {
		b.WriteString(t.Kind.String())
		switch t.Kind {
		case codec.KindDecimal:
			fmt.Fprintf(&b, "(%d,%d)", t.Precision, t.Scale)
		case codec.KindRecord:
			b.WriteString(" " + t.Name + "{")
			for i, f := range t.Fields {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(f.Name + " ")
				walk(f.Type)
				if f.Optional {
					b.WriteString("?")
				}
				if f.HasDefault {
					b.WriteString("=")
				}
			}
			b.WriteString("}")
		case codec.KindArray, codec.KindMap:
			b.WriteString("[")
			walk(t.Elem)
			b.WriteString("]")
		}
	}
	walk(t)
	return b.String()
}

func TestReferences(t *testing.T) {
	const zip = `{"type":"fixed","name":"Zip","namespace":"com.acme","size":5}`
	const address = `{"type":"record","name":"Address","namespace":"com.acme","fields":[
		{"name":"city","type":"string"},{"name":"zip","type":"com.acme.Zip"}]}`
	const order = `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"ship","type":"com.acme.Address"},
		{"name":"bill","type":["null","com.acme.Address"]},
		{"name":"zips","type":{"type":"array","items":"com.acme.Zip"}}]}`
	src := newFake()
	src.addRef("zip", 1, 31, zip)
	src.addRef("address", 2, 32, address, registry.Reference{Name: "com.acme.Zip", Subject: "zip", Version: 1})
	// Zip is named twice (directly and through Address): fetched once.
	src.add(33, order,
		registry.Reference{Name: "com.acme.Address", Subject: "address", Version: 2},
		registry.Reference{Name: "com.acme.Zip", Subject: "zip", Version: 1})
	d := New(src)
	rec := map[string]any{
		"ship": map[string]any{"city": "Oslo", "zip": [5]byte{'0', '1', '5', '0', '0'}},
		"bill": nil,
		"zips": [][5]byte{{'1', '2', '3', '4', '5'}},
	}
	got, typ := decode(t, d, encode(t, 33, order, rec, zip, address))
	const want = `{"ship":{"city":"Oslo","zip":"MDE1MDA="},"bill":null,"zips":["MTIzNDU="]}`
	if got != want {
		t.Errorf("value\n got %s\nwant %s", got, want)
	}
	if s := typeString(typ); s != "record shop.Order{ship record com.acme.Address{city string, zip bytes}, "+
		"bill record com.acme.Address{city string, zip bytes}?, zips array[bytes]}" {
		t.Errorf("type %s", s)
	}
	if src.refCalls != 2 {
		t.Errorf("SchemaByReference called %d times, want 2", src.refCalls)
	}
}

func TestReferenceErrors(t *testing.T) {
	t.Run("missing reference is a decode error", func(t *testing.T) {
		src := newFake()
		src.add(1, fieldRecord(`"com.acme.X"`), registry.Reference{Name: "com.acme.X", Subject: "x", Version: 1})
		_, _, err := New(src).Decode(context.Background(), codec.AppendWire(nil, 1), &fastjson.Arena{})
		if !codec.IsDecodeError(err) || !strings.Contains(err.Error(), "unknown schema id 1: reference com.acme.X") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cycle", func(t *testing.T) {
		src := newFake()
		src.addRef("a", 1, 2, `"int"`, registry.Reference{Name: "B", Subject: "b", Version: 1})
		src.addRef("b", 1, 3, `"int"`, registry.Reference{Name: "A", Subject: "a", Version: 1})
		src.add(1, `"int"`, registry.Reference{Name: "A", Subject: "a", Version: 1})
		_, _, err := New(src).Decode(context.Background(), codec.AppendWire(nil, 1), &fastjson.Arena{})
		if !codec.IsDecodeError(err) || !strings.Contains(err.Error(), "reference cycle") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unresolvable name", func(t *testing.T) {
		src := newFake()
		src.add(1, fieldRecord(`"com.acme.Missing"`))
		_, _, err := New(src).Decode(context.Background(), codec.AppendWire(nil, 1), &fastjson.Arena{})
		if !codec.IsDecodeError(err) || !strings.Contains(err.Error(), "schema id 1: invalid Avro schema") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRecursiveSchema(t *testing.T) {
	const schema = `{"type":"record","name":"Node","fields":[
		{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}`
	src := newFake()
	src.add(1, schema)
	d := New(src)
	rec := map[string]any{"v": int32(1), "next": map[string]any{"Node": map[string]any{"v": int32(2), "next": nil}}}
	got, typ := decode(t, d, encode(t, 1, schema, rec))
	if got != `{"v":1,"next":{"v":2,"next":null}}` {
		t.Errorf("value %s", got)
	}
	if s := typeString(typ); s != "record Node{v int32, next json?}" {
		t.Errorf("type %s", s)
	}

	// A chain deeper than maxDepth is refused, not a stack overflow.
	var deep []byte
	deep = codec.AppendWire(deep, 1)
	for range maxDepth + 1 {
		deep = append(deep, 2, 2) // v=1, branch 1 (Node)
	}
	_, _, err := d.Decode(context.Background(), deep, &fastjson.Arena{})
	const want = "schema id 1: field next.next.next.next.next...next.next.next.next.next: values nest deeper than 64"
	if !codec.IsDecodeError(err) || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestTopLevelNonRecord(t *testing.T) {
	src := newFake()
	src.add(1, `{"type":"array","items":"string"}`)
	src.add(2, `{"type":"long","logicalType":"timestamp-millis"}`)
	d := New(src)
	got, typ := decode(t, d, encode(t, 1, `{"type":"array","items":"string"}`, []string{"a", "b"}))
	if got != `["a","b"]` || typeString(typ) != "array[string]" {
		t.Errorf("got %s %s", got, typeString(typ))
	}
	got, typ = decode(t, d, encode(t, 2, `{"type":"long","logicalType":"timestamp-millis"}`, time.UnixMilli(0)))
	if got != `"1970-01-01T00:00:00Z"` || typ.Kind != codec.KindTimestamp {
		t.Errorf("got %s %v", got, typ.Kind)
	}
}

// TestStrings checks that every string decodes to exactly its bytes, both
// read back through fastjson and as the marshaled JSON text.
func TestStrings(t *testing.T) {
	schema := fieldRecord(`"string"`)
	src := newFake()
	src.add(1, schema)
	d := New(src)
	for _, s := range []string{"plain", `q"uote`, `back\slash`, "tab\tnl\n", "\x00\x01\a\v\x1b\x7f", "ctl\x01 and \"", "é✓🙂",
		"tag\U000E0001\"", "nel\u0085\"", "\u2028\"", strings.Repeat("x", 1000) + "\x01"} {
		var a fastjson.Arena
		v, _, err := d.Decode(context.Background(), encode(t, 1, schema, map[string]any{"v": s}), &a)
		if err != nil {
			t.Fatal(err)
		}
		// Marshal first: once fastjson has unescaped a string in place,
		// its MarshalTo writes Go escapes (package coerce re-encodes).
		text := v.MarshalTo(nil)
		var back struct{ V string }
		if err := json.Unmarshal(text, &back); err != nil || back.V != s {
			t.Errorf("%q marshals to %s (%v)", s, text, err)
		}
		if got := string(v.GetStringBytes("v")); got != s {
			t.Errorf("%q decoded as %q", s, got)
		}
	}
}

func TestSameTypeAndOneFetchPerID(t *testing.T) {
	src := newFake()
	schemaA := fieldRecord(`"long"`)
	schemaB := fieldRecord(`"string"`)
	src.add(1, schemaA)
	src.add(2, schemaB)
	d := New(src)
	recA := encode(t, 1, schemaA, map[string]any{"v": int64(5)})
	recB := encode(t, 2, schemaB, map[string]any{"v": "x"})

	const goroutines, perG = 16, 200
	types := make([][2]*codec.Type, goroutines)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			<-start
			var a fastjson.Arena
			for range perG {
				a.Reset()
				for j, rec := range [][]byte{recA, recB} {
					v, typ, err := d.Decode(context.Background(), rec, &a)
					if err != nil {
						errs <- err
						return
					}
					if types[g][j] == nil {
						types[g][j] = typ
					} else if types[g][j] != typ {
						errs <- fmt.Errorf("schema id %d: Type pointer changed", j+1)
						return
					}
					if want := []string{`{"v":5}`, `{"v":"x"}`}[j]; v.String() != want {
						errs <- fmt.Errorf("got %s, want %s", v, want)
						return
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for g := range goroutines {
		if types[g] != types[0] {
			t.Fatalf("goroutine %d saw other Type pointers", g)
		}
	}
	if types[0][0] == types[0][1] {
		t.Fatal("two schema ids share a Type")
	}
	for id := 1; id <= 2; id++ {
		if n := src.calls(id); n != 1 {
			t.Errorf("SchemaByID(%d) called %d times, want 1", id, n)
		}
	}
}

func TestRegistryErrors(t *testing.T) {
	schema := fieldRecord(`"long"`)
	rec := encode(t, 1, schema, map[string]any{"v": int64(5)})

	t.Run("unavailable is transient and not cached", func(t *testing.T) {
		src := newFake()
		src.add(1, schema)
		unavailable := &registry.UnavailableError{URL: "http://registry", Err: errors.New("connection refused")}
		src.idErr = unavailable
		d := New(src)
		_, _, err := d.Decode(context.Background(), rec, &fastjson.Arena{})
		var ue *registry.UnavailableError
		if err == nil || codec.IsDecodeError(err) || !errors.As(err, &ue) || ue != unavailable {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), "schema id 1") {
			t.Errorf("err %q does not name the schema id", err)
		}
		src.mu.Lock()
		src.idErr = nil
		src.mu.Unlock()
		if got, _ := decode(t, d, rec); got != `{"v":5}` {
			t.Errorf("after recovery: %s", got)
		}
		if n := src.calls(1); n != 2 {
			t.Errorf("SchemaByID called %d times, want 2 (failure not cached)", n)
		}
	})
	t.Run("request error is wrapped", func(t *testing.T) {
		src := newFake()
		src.idErr = &registry.RequestError{URL: "http://registry", Status: 401, Msg: "unauthorized"}
		_, _, err := New(src).Decode(context.Background(), rec, &fastjson.Arena{})
		var re *registry.RequestError
		if codec.IsDecodeError(err) || !errors.As(err, &re) || re.Status != 401 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not found is a decode error", func(t *testing.T) {
		_, _, err := New(newFake()).Decode(context.Background(), codec.AppendWire(nil, 7), &fastjson.Arena{})
		if !codec.IsDecodeError(err) || !strings.HasPrefix(err.Error(), "unknown schema id 7: ") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not avro", func(t *testing.T) {
		src := newFake()
		src.byID[3] = &registry.Schema{ID: 3, Type: registry.TypeProtobuf, Schema: `syntax = "proto3";`}
		_, _, err := New(src).Decode(context.Background(), codec.AppendWire(nil, 3), &fastjson.Arena{})
		if !codec.IsDecodeError(err) || err.Error() != "schema id 3 is a PROTOBUF schema, not Avro" {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestDecodeErrors(t *testing.T) {
	src := newFake()
	src.add(1, fieldRecord(`"string"`))
	src.add(2, fieldRecord(`{"type":"enum","name":"E","symbols":["A","B"]}`))
	src.add(3, fieldRecord(`["null","long"]`))
	src.add(4, fieldRecord(`"boolean"`))
	src.add(5, fieldRecord(`{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}`))
	src.add(6, fieldRecord(`{"type":"string","logicalType":"uuid"}`))
	src.add(7, fieldRecord(`{"type":"int","logicalType":"time-millis"}`))
	src.add(8, fieldRecord(`"int"`))
	src.add(9, fieldRecord(`{"type":"array","items":"null"}`))
	src.add(10, fieldRecord(`{"type":"map","values":"string"}`))
	src.add(11, fieldRecord(`"long"`))
	wire := func(id int, payload ...byte) []byte { return append(codec.AppendWire(nil, id), payload...) }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "0 bytes is too short"},
		{"bad magic", []byte{1, 0, 0, 0, 1, 0}, "first byte is 0x01"},
		{"trailing bytes", wire(1, 2, 'a', 9, 9), "schema id 1: 2 trailing bytes after the datum"},
		{"invalid utf8", wire(1, 4, 0xff, 0xfe), "schema id 1: field v: string is not valid UTF-8"},
		{"negative length", wire(1, 1), "schema id 1: field v: negative length"},
		{"huge length", wire(1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20), "schema id 1: field v: unexpected end of input"},
		{"varint too long", wire(11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), "schema id 11: field v: varint longer than 10 bytes"},
		{"enum out of range", wire(2, 4), "schema id 2: field v: enum index 2 out of range for 2 symbols"},
		{"union out of range", wire(3, 4), "schema id 3: field v: union branch 2 out of range for 2 branches"},
		{"union negative", wire(3, 1), "schema id 3: field v: union branch -1 out of range"},
		{"bad boolean", wire(4, 2), "schema id 4: field v: invalid boolean byte 0x02"},
		{"decimal over precision", wire(5, 4, 0x27, 0x10), "schema id 5: field v: decimal has 5 digits, more than its precision 4"},
		{"decimal empty", wire(5, 0), "schema id 5: field v: decimal has no bytes"},
		{"bad uuid", wire(6, 6, 'a', 'b', 'c'), `schema id 6: field v: invalid uuid "abc"`},
		{"time out of day", wire(7, binary.AppendVarint(nil, 86400001)...), "schema id 7: field v: time-millis 86400001 is outside the day"},
		{"int overflow", wire(8, 0x80, 0x80, 0x80, 0x80, 0x10), "schema id 8: field v: int value out of 32-bit range"},
		{"many empty items", wire(9, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0), "schema id 9: field v: more than 65536 array items"},
		{"negative block min", wire(9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "schema id 9: field v: invalid negative block count"},
		{"huge map", wire(10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20), "schema id 10: field v: unexpected end of input"},
		{"map key utf8", wire(10, 2, 4, 0xc3, 0, 0), `schema id 10: field v: map key "\xc3\x00": string is not valid UTF-8`},
		{"map value path", wire(10, 2, 2, 'k', 0xff), `schema id 10: field v["k"]: unexpected end of input`},
	}
	d := New(src)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := d.Decode(context.Background(), tc.data, &fastjson.Arena{})
			if !codec.IsDecodeError(err) {
				t.Fatalf("err = %v, want a DecodeError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want %q", err, tc.want)
			}
		})
	}
}

// orderSchema is a record with most types, used by the truncation test, the
// fuzz target and the benchmark.
const orderSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[
	{"name":"id","type":"long"},
	{"name":"customer","type":"string"},
	{"name":"created","type":{"type":"long","logicalType":"timestamp-micros"}},
	{"name":"day","type":{"type":"int","logicalType":"date"}},
	{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
	{"name":"currency","type":{"type":"enum","name":"Currency","symbols":["EUR","USD","NOK"]}},
	{"name":"paid","type":"boolean"},
	{"name":"ref","type":["null",{"type":"string","logicalType":"uuid"}]},
	{"name":"shipping","type":{"type":"record","name":"Address","fields":[
		{"name":"street","type":"string"},{"name":"city","type":"string"},{"name":"zip","type":["null","string"]}]}},
	{"name":"tags","type":{"type":"map","values":"string"}},
	{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
		{"name":"sku","type":"string"},
		{"name":"qty","type":"int"},
		{"name":"weight","type":"float"},
		{"name":"price","type":{"type":"fixed","name":"Money","size":8,"logicalType":"decimal","precision":18,"scale":2}}]}}}
]}`

func orderRecord(items int) map[string]any {
	its := make([]any, items)
	for i := range its {
		its[i] = map[string]any{"sku": fmt.Sprintf("SKU-%04d", i), "qty": int32(i + 1), "weight": float32(0.25), "price": mustRat("19.99")}
	}
	return map[string]any{
		"id": int64(1234567890), "customer": "Ann Example", "created": time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC),
		"day": time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), "amount": mustRat("79.96"), "currency": "NOK", "paid": true,
		"ref":      "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		"shipping": map[string]any{"street": "Storgata 1", "city": "Oslo", "zip": "0155"},
		"tags":     map[string]any{"channel": "web"},
		"items":    its,
	}
}

func TestOrderGolden(t *testing.T) {
	src := newFake()
	src.add(7, orderSchema)
	got, typ := decode(t, New(src), encode(t, 7, orderSchema, orderRecord(2)))
	const want = `{"id":1234567890,"customer":"Ann Example","created":"2024-05-01T12:00:00.123456Z","day":"2024-05-01",` +
		`"amount":"79.96","currency":"NOK","paid":true,"ref":"6ba7b810-9dad-11d1-80b4-00c04fd430c8",` +
		`"shipping":{"street":"Storgata 1","city":"Oslo","zip":"0155"},"tags":{"channel":"web"},` +
		`"items":[{"sku":"SKU-0000","qty":1,"weight":0.25,"price":"19.99"},{"sku":"SKU-0001","qty":2,"weight":0.25,"price":"19.99"}]}`
	if got != want {
		t.Errorf("value\n got %s\nwant %s", got, want)
	}
	const wantType = "record shop.Order{id int64, customer string, created timestamp, day date, amount decimal(12,2), " +
		"currency string, paid boolean, ref uuid?, shipping record shop.Address{street string, city string, zip string?}, " +
		"tags map[string], items array[record shop.Item{sku string, qty int32, weight float, price decimal(18,2)}]}"
	if s := typeString(typ); s != wantType {
		t.Errorf("type\n got %s\nwant %s", s, wantType)
	}
}

// TestTruncated decodes every proper prefix of a valid record: each must be
// a DecodeError naming the schema id, never a panic or a success.
func TestTruncated(t *testing.T) {
	src := newFake()
	src.add(7, orderSchema)
	d := New(src)
	data := encode(t, 7, orderSchema, orderRecord(4))
	var a fastjson.Arena
	for n := range len(data) {
		a.Reset()
		v, _, err := d.Decode(context.Background(), data[:n], &a)
		if err == nil || !codec.IsDecodeError(err) {
			t.Fatalf("prefix of %d/%d bytes: value %v, err %v", n, len(data), v, err)
		}
		if n >= 5 && !strings.HasPrefix(err.Error(), "schema id 7: ") {
			t.Fatalf("prefix of %d bytes: %q does not name the schema id", n, err)
		}
	}
	// The last item's price is the last 8 bytes before the array's end
	// marker: cut into it.
	_, _, err := d.Decode(context.Background(), data[:len(data)-5], &a)
	if want := "schema id 7: field items[3].price: unexpected end of input"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// TestHugeLengthsFailFast: declared lengths and counts far beyond the input
// fail before anything is allocated for them.
func TestHugeLengthsFailFast(t *testing.T) {
	src := newFake()
	src.add(1, fieldRecord(`"string"`))
	src.add(2, fieldRecord(`{"type":"array","items":"long"}`))
	src.add(3, fieldRecord(`{"type":"array","items":{"type":"record","name":"E","fields":[]}}`))
	src.add(4, fieldRecord(`"bytes"`))
	d := New(src)
	// zigzag(2^40) = 2^41, as a varint.
	huge := []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40}
	for id := 1; id <= 4; id++ {
		data := append(codec.AppendWire(nil, id), huge...)
		data = append(data, 1, 2, 3)
		var a fastjson.Arena
		if _, _, err := d.Decode(context.Background(), data, &a); !codec.IsDecodeError(err) {
			t.Fatalf("id %d: err = %v", id, err)
		}
		allocs := leastAllocs(func() {
			a.Reset()
			_, _, _ = d.Decode(context.Background(), data, &a)
		})
		// The error value itself and its path: a handful of small objects.
		if allocs > 8 {
			t.Errorf("id %d: %v allocations for a 2^40 length", id, allocs)
		}
	}
}

// leastAllocs is the least of three testing.AllocsPerRun(100, f): it counts
// the whole process's allocations, so another goroutine still running (a
// finished test's, the runtime's) can only add to one measurement. Under
// make test's load a single measurement read 9 where f makes 8.
func leastAllocs(f func()) float64 {
	n := testing.AllocsPerRun(100, f)
	for range 2 {
		n = min(n, testing.AllocsPerRun(100, f))
	}
	return n
}

func TestDecodeAllocations(t *testing.T) {
	src := newFake()
	src.add(7, orderSchema)
	d := New(src)
	data := encode(t, 7, orderSchema, orderRecord(4))
	var a fastjson.Arena
	if _, _, err := d.Decode(context.Background(), data, &a); err != nil {
		t.Fatal(err)
	}
	allocs := leastAllocs(func() {
		a.Reset()
		if _, _, err := d.Decode(context.Background(), data, &a); err != nil {
			t.Fatal(err)
		}
	})
	// Map keys are copied out of the input; everything else lives in the
	// arena once it has grown.
	if allocs > 2 {
		t.Errorf("%v allocations per record", allocs)
	}
}

// blockingSource fails its first SchemaByID when that caller's context is
// canceled, and answers every later call.
type blockingSource struct {
	*fakeSource
	first   sync.Once
	started chan struct{}
}

func (b *blockingSource) SchemaByID(ctx context.Context, id int) (*registry.Schema, error) {
	blocked := false
	b.first.Do(func() { blocked = true })
	if blocked {
		close(b.started)
		<-ctx.Done()
		return nil, &registry.UnavailableError{URL: "http://registry", Err: ctx.Err()}
	}
	return b.fakeSource.SchemaByID(ctx, id)
}

// TestCanceledFetchDoesNotFailOthers: a caller waiting on another caller's
// registry fetch retries with its own context when that one is canceled.
func TestCanceledFetchDoesNotFailOthers(t *testing.T) {
	schema := fieldRecord(`"long"`)
	src := &blockingSource{fakeSource: newFake(), started: make(chan struct{})}
	src.add(1, schema)
	d := New(src)
	rec := encode(t, 1, schema, map[string]any{"v": int64(1)})

	ctx, cancel := context.WithCancel(context.Background())
	var errA error
	var wg sync.WaitGroup
	wg.Go(func() { _, _, errA = d.Decode(ctx, rec, &fastjson.Arena{}) })
	<-src.started
	var got string
	var errB error
	wg.Go(func() {
		var a fastjson.Arena
		v, _, err := d.Decode(context.Background(), rec, &a)
		if errB = err; err == nil {
			got = v.String()
		}
	})
	time.Sleep(20 * time.Millisecond) // let B join A's fetch
	cancel()
	wg.Wait()
	if !errors.Is(errA, context.Canceled) || codec.IsDecodeError(errA) {
		t.Errorf("canceled caller: err = %v", errA)
	}
	if errB != nil || got != `{"v":1}` {
		t.Errorf("other caller: %s, %v", got, errB)
	}
}

func TestDecimalFormatting(t *testing.T) {
	n := &node{op: opDecimalBytes, precision: 40, scale: 3, maxBytes: maxDecimalBytes}
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{[]byte{0}, "0.000"},
		{[]byte{1}, "0.001"},
		{[]byte{0xff}, "-0.001"},
		{[]byte{0xff, 0xff, 0xff}, "-0.001"}, // redundant sign bytes
		{[]byte{0x00, 0x80}, "0.128"},
		{[]byte{0x80}, "-0.128"},
		{[]byte{0x80, 0, 0, 0, 0, 0, 0, 0}, "-9223372036854775.808"},
		{[]byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "9223372036854775.807"},
		{[]byte{0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "-9223372036854775.809"},
		{[]byte{0x01, 0, 0, 0, 0, 0, 0, 0, 0}, "18446744073709551.616"},
	} {
		r := &reader{a: &fastjson.Arena{}}
		v, err := r.decimal(n, tc.in)
		if err != nil {
			t.Errorf("% x: %v", tc.in, err)
			continue
		}
		if got := string(v.GetStringBytes()); got != tc.want {
			t.Errorf("% x = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestDates(t *testing.T) {
	// civil agrees with the time package far outside the usual range.
	for _, days := range []int64{0, -1, 59, 60, -719528, -719529, 2932896, 2932897, 106751991167, -106751991167, 11016, -25567} {
		want := time.Unix(days*86400, 0).UTC().Format("2006-01-02")
		if got := string(appendDate(nil, days)); got != want {
			t.Errorf("days %d = %s, want %s", days, got, want)
		}
	}
	for d := int64(-800000); d < 3000000; d += 97 {
		want := time.Unix(d*86400, 0).UTC().Format("2006-01-02")
		if got := string(appendDate(nil, d)); got != want && !strings.HasPrefix(want, "-") {
			t.Fatalf("days %d = %s, want %s", d, got, want)
		}
	}
	if got := string(appendDate(nil, -719529)); got != "-0001-12-31" {
		t.Errorf("year before 0: %s", got)
	}
}

func TestStringIsCopied(t *testing.T) {
	schema := fieldRecord(`{"type":"map","values":"string"}`)
	src := newFake()
	src.add(1, schema)
	data := encode(t, 1, schema, map[string]any{"v": map[string]any{"key": "value"}})
	var a fastjson.Arena
	v, _, err := New(src).Decode(context.Background(), data, &a)
	if err != nil {
		t.Fatal(err)
	}
	for i := 5; i < len(data); i++ {
		data[i] = 'X'
	}
	if got := v.String(); got != `{"v":{"key":"value"}}` {
		t.Errorf("value changed with the input: %s", got)
	}
}

// TestLargeMap: maps past linearSetLimit are built in linear time, keep the
// writer's key order, and let the last of duplicate keys win, as small maps
// do.
func TestLargeMap(t *testing.T) {
	src := newFake()
	src.add(1, fieldRecord(`{"type":"map","values":{"type":"map","values":"long"}}`))
	d := New(src)
	appendStr := func(b []byte, s string) []byte { return append(binary.AppendVarint(b, int64(len(s))), s...) }
	sizes := []int{linearSetLimit - 1, linearSetLimit, linearSetLimit + 1, 100_000}
	if raceEnabled {
		sizes[3] = 5_000
	}
	for _, n := range sizes {
		data := codec.AppendWire(nil, 1)
		data = binary.AppendVarint(data, int64(n+1))
		for i := range n {
			data = appendStr(data, fmt.Sprintf("k\"é%d", i))
			data = append(data, 2) // inner map: one entry
			data = appendStr(data, "x")
			data = binary.AppendVarint(data, int64(i))
			data = append(data, 0)
		}
		// The block's last entry repeats the first key.
		data = appendStr(data, "k\"é0")
		data = append(data, 2)
		data = appendStr(data, "x")
		data = binary.AppendVarint(data, -1)
		data = append(data, 0, 0)

		start := time.Now()
		var a fastjson.Arena
		v, _, err := d.Decode(context.Background(), data, &a)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		// Linear: well under a second; quadratic: 5·10⁹ key comparisons.
		if el := time.Since(start); el > 10*time.Second && !raceEnabled {
			t.Errorf("n=%d: %v", n, el)
		}
		var back struct{ V map[string]map[string]int64 }
		if err := json.Unmarshal(v.MarshalTo(nil), &back); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		o := v.Get("v").GetObject()
		if o.Len() != n || len(back.V) != n || back.V["k\"é0"]["x"] != -1 || back.V[fmt.Sprintf("k\"é%d", n-1)]["x"] != int64(n-1) {
			t.Fatalf("n=%d: %d entries, %v", n, o.Len(), back.V["k\"é0"])
		}
		i := 0
		o.Visit(func(k []byte, _ *fastjson.Value) {
			if want := fmt.Sprintf("k\"é%d", i); string(k) != want {
				t.Errorf("n=%d: key %d is %q, want %q", n, i, k, want)
			}
			i++
		})
	}
}

// TestMapKeys: keys needing JSON escapes read back exactly, in small and
// large maps.
func TestMapKeys(t *testing.T) {
	src := newFake()
	schema := fieldRecord(`{"type":"map","values":"int"}`)
	src.add(1, schema)
	d := New(src)
	for _, n := range []int{2, linearSetLimit + 2} {
		m := map[string]any{"a\x01\"\\b": int32(-1), "\U000E0001": int32(-2)}
		for i := range n - 2 {
			m[fmt.Sprint(i)] = int32(i)
		}
		var a fastjson.Arena
		v, _, err := d.Decode(context.Background(), encode(t, 1, schema, map[string]any{"v": m}), &a)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]any{}
		v.GetObject("v").Visit(func(k []byte, v *fastjson.Value) { got[string(k)] = int32(v.GetInt()) })
		if fmt.Sprint(got) != fmt.Sprint(m) {
			t.Errorf("n=%d: got %v, want %v", n, got, m)
		}
	}
}
