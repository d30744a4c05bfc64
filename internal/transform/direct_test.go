package transform

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/codec/jsonschema"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// directTable has a column of every kind the direct path meets.
func directTable(tb testing.TB) *table.Table {
	ty := func(typname string, typtype byte, typmod int32, formatted string, elem *coerce.Type, labels []string) *coerce.Type {
		ty, err := coerce.TypeFor(typname, typtype, typmod, formatted, 0, elem, labels)
		if err != nil {
			tb.Fatal(err)
		}
		return ty
	}
	text := ty("text", 'b', -1, "text", nil, nil)
	c := func(name, typname string, typmod int32, formatted string, notNull bool) table.Column {
		typtype, labels := byte('b'), []string(nil)
		if typname == "status" {
			typtype, labels = 'e', []string{"new", "paid", "abc"}
		}
		ty, err := coerce.TypeFor(typname, typtype, typmod, formatted, 0, text, labels)
		if err != nil {
			tb.Fatal(err)
		}
		return table.Column{Name: name, Type: ty, TypeName: formatted, NotNull: notNull}
	}
	return table.NewTable("public", "d", []table.Column{
		c("id", "int8", -1, "bigint", true),
		c("n4", "int4", -1, "integer", false),
		c("n2", "int2", -1, "smallint", false),
		c("txt", "text", -1, "text", false),
		c("vc", "varchar", 5+4, "character varying(5)", false),
		c("num", "numeric", -1, "numeric", false),
		c("amount", "numeric", (12<<16|2)+4, "numeric(12,2)", false),
		c("f8", "float8", -1, "double precision", false),
		c("ok", "bool", -1, "boolean", false),
		c("ts", "timestamptz", -1, "timestamp with time zone", false),
		c("lts", "timestamp", -1, "timestamp without time zone", false),
		c("day", "date", -1, "date", false),
		c("u", "uuid", -1, "uuid", false),
		c("doc", "jsonb", -1, "jsonb", false),
		c("js", "json", -1, "json", false),
		c("bin", "bytea", -1, "bytea", false),
		c("tags", "_text", -1, "text[]", false),
		c("req", "text", -1, "text", true),
		c("st", "status", -1, "status", false),
		{Name: "gen", TypeName: "bigint", Generated: true},
	}, []string{"id"})
}

// directValues are values for fields, valid and not, for every kind.
var directValues = []string{
	`1`, `-7`, `0`, `12.5`, `-0.25`, `1e3`, `1E-2`, `2.50e+1`, `9223372036854775807`, `9223372036854775808`,
	`-9223372036854775809`, `99999999999999999999999.5`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `0x10`, `NaN`, `Infinity`,
	`"12.5"`, `"abc"`, `"toolongtext"`, `"2024-05-01T10:00:00Z"`, `"2024-05-01T10:00:00.123456+02:00"`, `"2024-05-01"`,
	`"2024-13-01"`, `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`, `"aGVsbG8="`, `"not base64!"`, `"\u00e9"`, `"a\"b"`,
	`"a\\b"`, "\"tab\there\"", `"é"`, "\"\xff\xfe\"", `""`, `"true"`, `"1"`, `"{\"a\":1}"`,
	`true`, `false`, `null`, `tru`, `nul`, `falsey`,
	`{}`, `[]`, `{"a":1}`, `{ "a" : [ 1 , 2.5 , "x" , true , null , { } ] }`, `[1,2,3]`, `["a","b"]`, `[["a"]]`,
	`{"a":"\u0000"}`, "{\"a\":\"tab\there\"}", "[\"\x01\"]", `{"a":"é"}`, "{\"a\":\"\xff\"}", `{"a":01}`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `[1 2]`, `{1:2}`,
	`{"a":{"b":{"c":{"d":[[[[1]]]]}}}}`, `{"a":1,"a":2}`, `[` + strings.Repeat(`[`, 70) + strings.Repeat(`]`, 70) + `]`,
	// json-connect's logical types: Decimals (base64), Dates, Times,
	// Timestamps, and nested structs and arrays holding them.
	`"AeJA"`, `"/w=="`, `"AA=="`, `"gAAAAAAAAAAA"`, `"AQ\u003d\u003d"`, `"A"`, `"AeJA "`, `19876`, `-719528`, `86399999`,
	`86400000`, `1714557600000`, `1714557600000.0`, `123456789012345678`, `1234567890123456789`,
	`{"k":"v","n":["AeJA",null,"/w=="]}`, `{"n":[1]}`, `{"k":"a","n":[],"k":"b"}`, `{"deep":[1,-1,19876,null]}`,
	`{"deep":"x"}`, `{ "deep" : [ 2 , 3 ] }`, `{"a":1}`, `[1]`, `{"a":1,"a":"x"}`,
}

// directRecords are whole records: fields of every column with every value,
// and records that are not what the direct path takes.
func directRecords() []string {
	cols := []string{"id", "n4", "n2", "txt", "vc", "num", "amount", "f8", "ok", "ts", "lts", "day", "u", "doc", "js", "bin", "tags", "st", "gen", "extra", "plain", "list", "ID", "Txt"}
	var out []string
	for _, c := range cols {
		for _, v := range directValues {
			out = append(out, fmt.Sprintf(`{"id":3,"req":"r",%q:%s}`, c, v))
			out = append(out, fmt.Sprintf(` { %q : %s , "req" : "r" , "id" : 4 } `, c, v))
		}
	}
	return append(out,
		`{"id":1,"req":"r"}`, `{"req":"r"}`, `{"id":1}`, `{"id":null,"req":"r"}`, `{"id":1,"req":null}`,
		`{"id":1,"req":"r","txt":"a","txt":"b"}`, `{"id":1,"req":"r","txt":"a","txt":7}`, `{"id":1,"req":"r","doc":{"x":1},"doc":[2]}`,
		`{}`, `[]`, `null`, `1`, `"x"`, ``, ` `, `{`, `{"id":1,"req":"r"`, `{"id":1,"req":"r"}x`, `{"id":1,"req":"r"} {}`,
		`{"id":1 "req":"r"}`, `{"id":1,,"req":"r"}`, `{,"id":1}`, `{"id":1,"req":"r",}`, `{"i\u0064":1,"req":"r"}`,
		"{\"id\":1,\"req\":\"r\"}\n", "\t{\"id\":1,\r\n\"req\":\"r\"}", `{"id":1,"req":"r","extra":{"deep":[1,{"x":"\n"}]}}`,
		`{"id":1,"req":"r","doc":{"k":"v","n":[1.5e10,-0,true,false,null]},"js":[ {"a" : 1} ]}`,
		`{"id":1,"req":"r","ts":"2024-05-01T10:00:00Z","amount":"19.99","ok":true,"tags":["a","b"],"u":null}`,
	)
}

// directSame maps value both ways under spec and reports how the direct
// path answered; it fails the test when the direct path took the record
// and the usual one disagrees.
func directSame(t testing.TB, spec Spec, key, value string) (took, usualOK bool) {
	t.Helper()
	usual, err := NewMapper(spec)
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := NewMapper(spec)
	if !direct.Direct() {
		t.Fatalf("spec %+v does not take the direct path", spec)
	}
	r := rec(key, directValue(spec, value))
	var want, got table.Row
	usual.direct = false // Map tries the direct path first
	werr := usual.Map(context.Background(), r, &want)
	if !direct.MapDirect(r, &got) {
		return false, werr == nil
	}
	if werr != nil {
		t.Fatalf("value %q (evolve %v): the direct path took it, the usual one said %v", value, spec.Evolve, werr)
	}
	if got.Op != want.Op || got.Key != want.Key || got.Offset != want.Offset || !got.Timestamp.Equal(want.Timestamp) ||
		!reflect.DeepEqual([]uint64(got.Set), []uint64(want.Set)) {
		t.Fatalf("value %q (evolve %v): direct row %+v, usual %+v", value, spec.Evolve, got, want)
	}
	for _, i := range want.Set.Indexes() {
		if !reflect.DeepEqual(got.Vals[i], want.Vals[i]) {
			t.Fatalf("value %q (evolve %v): column %s: direct %#v, usual %#v", value, spec.Evolve,
				spec.Table.Columns[i].Name, got.Vals[i], want.Vals[i])
		}
	}
	return true, true
}

func directSpecs(t testing.TB) []Spec {
	tbl := directTable(t)
	return []Spec{
		{Table: tbl, Mode: table.Upsert, Key: format.String, Value: format.JSON, KeyCols: []string{"id"}},
		{Table: tbl, Mode: table.Insert, Key: format.String, Value: format.JSON, Evolve: true},
		{Table: tbl, Mode: table.Upsert, Key: format.String, Value: directJSONSchema(), KeyCols: []string{"id"}},
		{Table: tbl, Mode: table.Upsert, Key: format.String, Value: format.Connect, KeyCols: []string{"id"}},
	}
}

// directConnectSchema is the json-connect spec's schema: logical types for
// several columns (rewritten by the text mode), nested ones in doc and
// extra, a Json document in js (which the text mode declines).
const directConnectSchema = `{"type":"struct","name":"d","optional":false,"fields":[` +
	`{"field":"id","type":"int64"},{"field":"n4","type":"int32","optional":true},{"field":"n2","type":"int16","optional":true},` +
	`{"field":"txt","type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Time"},` +
	`{"field":"vc","type":"string","optional":true},` +
	`{"field":"num","type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"3"}},` +
	`{"field":"amount","type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}},` +
	`{"field":"f8","type":"double","optional":true},{"field":"ok","type":"boolean","optional":true},` +
	`{"field":"ts","type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp"},` +
	`{"field":"lts","type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp"},` +
	`{"field":"day","type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Date"},` +
	`{"field":"u","type":"string","optional":true},` +
	`{"field":"doc","type":"struct","optional":true,"fields":[{"field":"k","type":"string"},` +
	`{"field":"n","type":"array","items":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"1"}}}]},` +
	`{"field":"js","type":"string","optional":true,"name":"io.debezium.data.Json"},` +
	`{"field":"bin","type":"bytes","optional":true},{"field":"tags","type":"array","optional":true,"items":{"type":"string"}},` +
	`{"field":"req","type":"string"},{"field":"st","type":"string","optional":true},` +
	`{"field":"extra","type":"struct","optional":true,"fields":[{"field":"deep","type":"array","items":{"type":"int32","name":"org.apache.kafka.connect.data.Date"}}]},` +
	`{"field":"plain","type":"struct","optional":true,"fields":[{"field":"a","type":"int32"}]},` +
	`{"field":"list","type":"array","optional":true,"items":{"type":"int32"}}]}`

// directSchema is the json-schema spec's schema: it constrains a few
// fields, so that records are refused by the schema as well as by the
// columns, and leaves the others to the columns.
const directSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
 "properties":{"req":{"type":"string","maxLength":3},"n2":{"type":["integer","string","null"],"minimum":-100,"maximum":100},
  "vc":{"type":"string"},"st":{"enum":["new","paid","abc",1]},"doc":{"type":["object","array","null"],"items":{"type":"number"}},
  "ts":{"type":["string","null"],"format":"date-time"},"extra":true},
 "required":["req"]}`

// directSchemaID frames json-schema values (directValue).
const directSchemaID = 5

// directJSONSchema is a json-schema format whose registry serves
// directSchema.
func directJSONSchema() *format.Format {
	src := formatsSource{directSchemaID: &registry.Schema{ID: directSchemaID, Type: registry.TypeJSON, Schema: directSchema}}
	return format.WithDecoder(config.FormatJSONSchema, jsonschema.New(src))
}

// directValue is value as a record of spec's value format: json as it is,
// json-schema framed for directSchemaID, json-connect in an envelope with
// directConnectSchema (laid out one of two ways, by the value's length).
func directValue(spec Spec, value string) string {
	if value == "\x00nil" {
		return value
	}
	switch spec.Value.Name {
	case config.FormatJSONSchema:
		return string(codec.AppendWire(nil, directSchemaID)) + value
	case config.FormatJSONConnect:
		if len(value)%5 == 0 {
			return `{ "payload" : ` + value + ` , "schema" : ` + directConnectSchema + " }"
		}
		return `{"schema":` + directConnectSchema + `,"payload":` + value + `}`
	}
	return value
}

// TestDirectAgrees maps every record both ways: whatever the direct path
// answers is the usual path's answer, and the direct path takes the plain
// records (so that the test cannot pass by declining everything).
func TestDirectAgrees(t *testing.T) {
	recs := directRecords()
	for _, spec := range directSpecs(t) {
		took, ok := 0, 0
		for _, v := range recs {
			for _, key := range []string{"9", "\x00nil", "x"} {
				d, u := directSame(t, spec, key, v)
				if d {
					took++
				}
				if u {
					ok++
				}
			}
		}
		t.Logf("%s, evolve %v: of %d records the usual path mapped %d, the direct path took %d", spec.Value.Name, spec.Evolve, 3*len(recs), ok, took)
		if took < ok*3/4 {
			t.Fatalf("%s, evolve %v: the direct path took only %d of the %d records the usual path mapped", spec.Value.Name, spec.Evolve, took, ok)
		}
	}
	for _, v := range []string{
		`{"id":1,"req":"r"}`, ` { "id" : 1 , "req" : "r" , "extra" : { "a" : [ 1 , "b" ] } } `,
		`{"id":1,"req":"r","doc":{"k":[1,2.5,"x",true,null]},"js":[],"txt":"é","amount":12.5,"ts":"2024-05-01T10:00:00Z","ok":false}`,
	} {
		for _, spec := range []Spec{directSpecs(t)[0], directSpecs(t)[2]} {
			if took, _ := directSame(t, spec, "5", v); !took {
				t.Errorf("%s: the direct path declined %s", spec.Value.Name, v)
			}
		}
	}
	// Routes it must not take.
	tbl := directTable(t)
	for _, spec := range []Spec{
		{Table: tbl, Mode: table.Insert, Value: format.JSON, Flatten: true},
		{Table: tbl, Mode: table.Insert, Value: format.JSON, Debezium: true},
		{Table: tbl, Mode: table.Insert, Value: format.JSON, Each: true},
		{Table: tbl, Mode: table.Insert, Value: format.String},
		{Table: tbl, Mode: table.Insert, Value: directJSONSchema(), Evolve: true}, // checks each record's schema
		{Table: tbl, Mode: table.Insert, Value: format.Connect, Evolve: true},
	} {
		m, err := NewMapper(spec)
		if err == nil && m.Direct() {
			t.Errorf("spec %+v takes the direct path", spec)
		}
	}
}

// FuzzDirect compares the two paths on fuzzed record values, with and
// without computed columns.
func FuzzDirect(f *testing.F) {
	for _, v := range directRecords() {
		f.Add(v)
	}
	specs := directSpecs(f)
	f.Fuzz(func(t *testing.T, v string) {
		for _, spec := range specs {
			directSame(t, spec, "9", v)
			directSameIn(t, spec, false, "9", v)
			directSameIn(t, spec, true, "9", v)
		}
	})
}

// directSameIn is directSame for a route with expressions: column txt is
// computed from field n4, f8 from field num, and req and id from their
// fields (when the record has them all), with columns_only or not. The usual path gets the computed values
// from the record's parse, the direct path from DirectInput.Value.
func directSameIn(t testing.TB, spec Spec, noByName bool, key, value string) (took bool) {
	t.Helper()
	usual, err := NewMapper(spec)
	if err != nil {
		t.Fatal(err)
	}
	usual.direct = false
	direct, _ := NewMapper(spec)
	r := rec(key, directValue(spec, value))
	computed := func(v interface {
		Get(keys ...string) *fastjson.Value
	}) []Computed {
		var out []Computed
		if x := v.Get("n4"); x != nil {
			out = append(out, Computed{Column: "txt", Value: x})
		}
		if x := v.Get("num"); x != nil {
			out = append(out, Computed{Column: "f8", Value: x})
		}
		if x := v.Get("req"); x != nil {
			out = append(out, Computed{Column: "req", Value: x})
		}
		if x := v.Get("id"); x != nil {
			out = append(out, Computed{Column: "id", Value: x})
		}
		return out
	}
	var want, got table.Row
	var werr error
	rd := NewReader(spec, spec.Evolve)
	rc, werr := rd.Read(context.Background(), r)
	if werr == nil {
		in := &Input{NoByName: noByName}
		if v := rc.Value(); v != nil && v.Type() == fastjson.TypeObject {
			in.Computed = computed(v)
		}
		werr = usual.MapRecord(rc, in, &want)
	}
	in := &DirectInput{NoByName: noByName, Computed: []string{"txt", "f8", "req", "id"}, Fields: map[string]bool{"n4": true, "num": true, "req": true, "id": true}}
	if !direct.DirectScan(r, &got, in) {
		return false
	}
	c := computed(in.Value)
	if len(c) != len(in.Computed) {
		return false // DirectFinish takes the values in the order of in.Computed: records with all
	}
	if !direct.DirectFinish(r, &got, c) {
		return false
	}
	if werr != nil {
		t.Fatalf("value %q (evolve %v, columns_only %v): the direct path took it, the usual one said %v", value, spec.Evolve, noByName, werr)
	}
	if got.Key != want.Key || !reflect.DeepEqual([]uint64(got.Set), []uint64(want.Set)) {
		t.Fatalf("value %q (evolve %v, columns_only %v): direct row %+v, usual %+v", value, spec.Evolve, noByName, got, want)
	}
	for _, i := range want.Set.Indexes() {
		if !reflect.DeepEqual(got.Vals[i], want.Vals[i]) {
			t.Fatalf("value %q: column %s: direct %#v, usual %#v", value, spec.Table.Columns[i].Name, got.Vals[i], want.Vals[i])
		}
	}
	return true
}

// TestDirectInputAgrees is TestDirectAgrees for routes with computed
// columns and columns_only.
func TestDirectInputAgrees(t *testing.T) {
	recs := directRecords()
	for _, spec := range directSpecs(t) {
		for _, noByName := range []bool{false, true} {
			took := 0
			extras := []string{`"n4":12,"num":"1.5",`, `"num":2.5e1,"n4":"\u0041",`, `"n4":{"a":[1]},"num":null,`}
			if spec.Value.Name == config.FormatJSONConnect { // num is a Decimal
				extras = []string{`"n4":12,"num":"AeJA",`, `"num":null,"n4":"\u0041",`, `"n4":-3,"num":"/w==",`}
			}
			for _, v := range recs {
				for _, extra := range extras {
					w := v
					if len(v) > 1 && v[0] == '{' && v[1] == '"' {
						w = "{" + extra + v[1:]
					}
					if directSameIn(t, spec, noByName, "9", w) {
						took++
					}
				}
			}
			t.Logf("%s, evolve %v, columns_only %v: the direct path took %d of %d records", spec.Value.Name, spec.Evolve, noByName, took, 3*len(recs))
			if took < len(recs)/10 {
				t.Fatalf("evolve %v, columns_only %v: the direct path took only %d records", spec.Evolve, noByName, took)
			}
		}
	}
}

// A large nested value does not leave its buffers in the mapper: the json
// text buffer is let go at once, the parsers at the next record.
func TestDirectDropsLargeBuffers(t *testing.T) {
	m, err := NewMapper(directSpecs(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	items := strings.Repeat(`"aaaaaaaaaaaaaaaa",`, 8000) + `"x"`
	var row table.Row
	if !m.MapDirect(rec("9", `{"id":1,"req":"r","doc":[`+items+`],"tags":[`+items+`]}`), &row) {
		t.Fatal("the direct path declined the large record")
	}
	if len(row.Vals[13].([]byte)) < maxKeptBuffer || cap(m.jbuf) > maxKeptBuffer || !m.bigParse {
		t.Fatalf("after the large record: doc %d bytes, json buffer cap %d, bigParse %v", len(row.Vals[13].([]byte)), cap(m.jbuf), m.bigParse)
	}
	if !m.MapDirect(rec("9", `{"id":2,"req":"r","tags":["a"],"doc":{"k":1}}`), &row) {
		t.Fatal("the direct path declined the small record")
	}
	if m.bigParse || cap(m.jbuf) > maxKeptBuffer || string(row.Vals[13].([]byte)) != `{"k":1}` {
		t.Fatalf("after the small record: bigParse %v, json buffer cap %d, doc %s", m.bigParse, cap(m.jbuf), row.Vals[13])
	}
}

// TestDirectFormats maps make bench-decode's order in every value format
// with the direct path and without: the same row; and the direct path
// takes every format (once a first record has loaded the schema).
func TestDirectFormats(t *testing.T) {
	direct := map[string]bool{"json": true, "json-connect": true, "json-schema": true, "avro": true, "protobuf": true}
	for _, c := range formatsCases(t) {
		usual, err := NewMapper(c.mapper.spec)
		if err != nil {
			t.Fatal(err)
		}
		usual.direct = false // Map tries the direct path first
		var want, got table.Row
		for range 2 { // the first record of a registry format loads its schema
			if err := usual.Map(context.Background(), c.rec, &want); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if err := c.mapper.Map(context.Background(), c.rec, &got); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		tbl := c.mapper.spec.Table
		if w, g := formatsRowText(t, tbl, &want), formatsRowText(t, tbl, &got); w != g {
			t.Errorf("%s: with the direct path\n%s\nwithout\n%s", c.name, g, w)
		}
		if took := c.mapper.MapDirect(c.rec, &got); took != direct[c.name] {
			t.Errorf("%s: the direct path took it: %v, want %v", c.name, took, direct[c.name])
		}
	}
}
