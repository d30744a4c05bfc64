package transform

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	hamba "github.com/hamba/avro/v2"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/codec/avro"
	"github.com/kafka2pg/kafka2pg/internal/codec/jsonschema"
	"github.com/kafka2pg/kafka2pg/internal/codec/protobuf"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// BenchmarkMapFormats measures what a worker does per record, Mapper.Map
// (decode, then coerce every field into its column's Go value), for the
// same order encoded in each value format. Run it with -cpu 1 so that
// records/s is per core; scripts/bench-decode.sh (make bench-decode) does,
// and writes the figures to docs/benchmarks.md.
//
// Every format carries the same ten fields and must map to the same row
// (checked before timing). The choices where formats differ:
//   - amount numeric(12,2): JSON and JSON Schema a JSON number (1234.50),
//     Connect a Decimal (base64 of the unscaled integer, scale 2), Avro bytes
//     with logicalType decimal(12,2), Protobuf a string ("1234.50"): proto3
//     has no decimal, a string is what producers commonly use, and a nested
//     message such as google.type.Decimal would map to an object, not a
//     numeric;
//   - created_at timestamptz: RFC 3339 text in JSON and JSON Schema
//     ("format": "date-time"), Connect Timestamp (epoch ms), Avro long
//     timestamp-millis, Protobuf google.protobuf.Timestamp;
//   - items jsonb: three {sku, qty, price} objects with price a double in
//     every format, so that the jsonb text is the same.
//
// The registry formats have their schema compiled and cached before timing
// (the steady state); the Kafka key is null and the table has no key, as in
// the insert mode of make bench.
func BenchmarkMapFormats(b *testing.B) {
	cases := formatsCases(b)
	ctx := context.Background()

	rows := make([]table.Row, len(cases))
	for i, c := range cases {
		if err := c.mapper.Map(ctx, c.rec, &rows[i]); err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
	}
	want := formatsRowText(b, cases[0].mapper.spec.Table, &rows[0])
	for i, c := range cases[1:] {
		if got := formatsRowText(b, c.mapper.spec.Table, &rows[i+1]); got != want {
			b.Fatalf("%s maps to a different row than %s:\n got %s\nwant %s", c.name, cases[0].name, got, want)
		}
	}

	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var row table.Row
			b.ReportAllocs()
			for b.Loop() {
				if err := c.mapper.Map(ctx, c.rec, &row); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(len(c.rec.Value)), "value-bytes")
		})
	}
}

type formatsCase struct {
	name   string
	mapper *Mapper
	rec    *kgo.Record
}

// The order, field by field, in every format below.
var (
	formatsCreated = time.Date(2024, 5, 1, 12, 0, 0, 123_000_000, time.UTC)
	formatsItems   = []struct {
		sku   string
		qty   int32
		price float64
	}{{"SKU-0001", 2, 19.99}, {"SKU-0002", 1, 5.25}, {"SKU-0003", 3, 100.5}}
)

const (
	formatsOrderID    = 1234567890123
	formatsCustomerID = 42
	formatsAmount     = "1234.50"
	formatsAmountUnsc = 123450 // formatsAmount × 10^2
	formatsVersion    = 7
)

// formatsJSON is the order as plain JSON (also the JSON Schema payload).
func formatsJSON() string {
	items := make([]string, len(formatsItems))
	for i, it := range formatsItems {
		items[i] = fmt.Sprintf(`{"sku":%q,"qty":%d,"price":%v}`, it.sku, it.qty, it.price)
	}
	return fmt.Sprintf(`{"order_id":%d,"customer_id":%d,"status":"paid","amount":%s,"currency":"EUR","express":true,`+
		`"created_at":%q,"note":null,"items":[%s],"version":%d}`,
		formatsOrderID, formatsCustomerID, formatsAmount, formatsCreated.Format(time.RFC3339Nano),
		strings.Join(items, ","), formatsVersion)
}

func formatsConnect() string {
	const schema = `{"type":"struct","name":"shop.Order","optional":false,"fields":[` +
		`{"field":"order_id","type":"int64","optional":false},` +
		`{"field":"customer_id","type":"int64","optional":false},` +
		`{"field":"status","type":"string","optional":false},` +
		`{"field":"amount","type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,` +
		`"parameters":{"scale":"2","connect.decimal.precision":"12"}},` +
		`{"field":"currency","type":"string","optional":false},` +
		`{"field":"express","type":"boolean","optional":false},` +
		`{"field":"created_at","type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},` +
		`{"field":"note","type":"string","optional":true},` +
		`{"field":"items","type":"array","optional":false,"items":{"type":"struct","optional":false,"fields":[` +
		`{"field":"sku","type":"string","optional":false},` +
		`{"field":"qty","type":"int32","optional":false},` +
		`{"field":"price","type":"double","optional":false}]}},` +
		`{"field":"version","type":"int64","optional":false}]}`
	unscaled := base64.StdEncoding.EncodeToString(big.NewInt(formatsAmountUnsc).Bytes())
	items := make([]string, len(formatsItems))
	for i, it := range formatsItems {
		items[i] = fmt.Sprintf(`{"sku":%q,"qty":%d,"price":%v}`, it.sku, it.qty, it.price)
	}
	payload := fmt.Sprintf(`{"order_id":%d,"customer_id":%d,"status":"paid","amount":%q,"currency":"EUR","express":true,`+
		`"created_at":%d,"note":null,"items":[%s],"version":%d}`,
		formatsOrderID, formatsCustomerID, unscaled, formatsCreated.UnixMilli(), strings.Join(items, ","), formatsVersion)
	return `{"schema":` + schema + `,"payload":` + payload + `}`
}

const formatsAvroSchema = `{"type":"record","name":"Order","namespace":"shop","fields":[
	{"name":"order_id","type":"long"},
	{"name":"customer_id","type":"long"},
	{"name":"status","type":"string"},
	{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
	{"name":"currency","type":"string"},
	{"name":"express","type":"boolean"},
	{"name":"created_at","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"note","type":["null","string"],"default":null},
	{"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
		{"name":"sku","type":"string"},{"name":"qty","type":"int"},{"name":"price","type":"double"}]}}},
	{"name":"version","type":"long"}
]}`

func formatsAvro(tb testing.TB) []byte {
	s, err := hamba.Parse(formatsAvroSchema)
	if err != nil {
		tb.Fatal(err)
	}
	amount, ok := new(big.Rat).SetString(formatsAmount)
	if !ok {
		tb.Fatal("bad amount")
	}
	items := make([]any, len(formatsItems))
	for i, it := range formatsItems {
		items[i] = map[string]any{"sku": it.sku, "qty": it.qty, "price": it.price}
	}
	v := map[string]any{"order_id": int64(formatsOrderID), "customer_id": int64(formatsCustomerID), "status": "paid",
		"amount": amount, "currency": "EUR", "express": true, "created_at": formatsCreated, "note": nil,
		"items": items, "version": int64(formatsVersion)}
	raw, err := hamba.Marshal(s, v)
	if err != nil {
		tb.Fatal(err)
	}
	return append(codec.AppendWire(nil, 1), raw...)
}

// Order is the first message of the file, so its message-index list is the
// single byte 0x00.
const formatsProto = `syntax = "proto3";
package shop.bench;

import "google/protobuf/timestamp.proto";

message Order {
  int64 order_id = 1;
  int64 customer_id = 2;
  string status = 3;
  string amount = 4; // decimal as text: proto3 has no decimal type
  string currency = 5;
  bool express = 6;
  google.protobuf.Timestamp created_at = 7;
  optional string note = 8;
  repeated Item items = 9;
  int64 version = 10;
}

message Item {
  string sku = 1;
  int32 qty = 2;
  double price = 3;
}
`

func formatsProtobuf(tb testing.TB) []byte {
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"order.proto": formatsProto}),
	})}
	fs, err := c.Compile(context.Background(), "order.proto")
	if err != nil {
		tb.Fatal(err)
	}
	md := fs[0].FindDescriptorByName("shop.bench.Order").(protoreflect.MessageDescriptor)
	m := dynamicpb.NewMessage(md)
	// protojson reads the plain JSON order: proto field names, an RFC 3339
	// Timestamp, null for the unset optional note; the amount is a string.
	in := strings.Replace(formatsJSON(), `"amount":`+formatsAmount, `"amount":"`+formatsAmount+`"`, 1)
	if err := protojson.Unmarshal([]byte(in), m); err != nil {
		tb.Fatal(err)
	}
	// Deterministic: fields in number order, as generated code and the
	// Java serializer write them (dynamicpb's plain Marshal takes any
	// order, which the text mode reads more slowly).
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return append(append(codec.AppendWire(nil, 2), 0x00), raw...)
}

const formatsJSONSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "order_id": {"type": "integer"},
    "customer_id": {"type": "integer", "minimum": 1},
    "status": {"type": "string", "enum": ["new", "paid", "shipped"]},
    "amount": {"type": "number", "minimum": 0},
    "currency": {"type": "string", "maxLength": 3},
    "express": {"type": "boolean"},
    "created_at": {"type": "string", "format": "date-time"},
    "note": {"type": ["string", "null"]},
    "items": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}, "price": {"type": "number"}},
        "required": ["sku", "qty", "price"]
      }
    },
    "version": {"type": "integer"}
  },
  "required": ["order_id", "customer_id", "status", "amount", "currency", "express", "created_at", "items", "version"]
}`

// formatsSource is a read-only, map-backed registry.Source.
type formatsSource map[int]*registry.Schema

func (s formatsSource) SchemaByID(_ context.Context, id int) (*registry.Schema, error) {
	if sc, ok := s[id]; ok {
		return sc, nil
	}
	return nil, &registry.NotFoundError{What: fmt.Sprintf("schema id %d", id)}
}

func (s formatsSource) SchemaByReference(_ context.Context, ref registry.Reference) (*registry.Schema, error) {
	return nil, &registry.NotFoundError{What: fmt.Sprintf("subject %s version %d", ref.Subject, ref.Version)}
}

func formatsTable(tb testing.TB) *table.Table {
	col := func(name, typname string, typmod int32, formatted string, oid uint32, notNull bool) table.Column {
		ty, err := coerce.TypeFor(typname, 'b', typmod, formatted, oid, nil, nil)
		if err != nil {
			tb.Fatal(err)
		}
		return table.Column{Name: name, Type: ty, TypeName: formatted, NotNull: notNull}
	}
	return table.NewTable("public", "orders", []table.Column{
		col("order_id", "int8", -1, "bigint", 20, true),
		col("customer_id", "int8", -1, "bigint", 20, true),
		col("status", "text", -1, "text", 25, true),
		col("amount", "numeric", (12<<16|2)+4, "numeric(12,2)", 1700, true),
		col("currency", "text", -1, "text", 25, true),
		col("express", "bool", -1, "boolean", 16, true),
		col("created_at", "timestamptz", -1, "timestamp with time zone", 1184, true),
		col("note", "text", -1, "text", 25, false),
		col("items", "jsonb", -1, "jsonb", 3802, true),
		col("version", "int8", -1, "bigint", 20, true),
	}, nil)
}

// formatsCases builds one Mapper and record per format; plain JSON first,
// the reference of the comparison.
func formatsCases(tb testing.TB) []formatsCase {
	src := formatsSource{
		1: {ID: 1, Type: registry.TypeAvro, Schema: formatsAvroSchema},
		2: {ID: 2, Type: registry.TypeProtobuf, Schema: formatsProto},
		3: {ID: 3, Type: registry.TypeJSON, Schema: formatsJSONSchema},
	}
	tbl := formatsTable(tb)
	mk := func(name string, f *format.Format, value []byte) formatsCase {
		m, err := NewMapper(Spec{Table: tbl, Mode: table.Insert, Value: f, Key: format.String})
		if err != nil {
			tb.Fatal(err)
		}
		return formatsCase{name: name, mapper: m, rec: &kgo.Record{Topic: "orders", Value: value, Timestamp: formatsCreated}}
	}
	return []formatsCase{
		mk("json", format.JSON, []byte(formatsJSON())),
		mk("json-connect", format.Connect, []byte(formatsConnect())),
		mk("avro", format.WithDecoder(config.FormatAvro, avro.New(src)), formatsAvro(tb)),
		mk("protobuf", format.WithDecoder(config.FormatProtobuf, protobuf.New(src)), formatsProtobuf(tb)),
		mk("json-schema", format.WithDecoder(config.FormatJSONSchema, jsonschema.New(src)), append(codec.AppendWire(nil, 3), formatsJSON()...)),
	}
}

// formatsRowText renders a mapped row column by column, each value with its
// Go type, so that rows from different formats compare as text. Every
// column must be set.
func formatsRowText(tb testing.TB, t *table.Table, row *table.Row) string {
	var sb strings.Builder
	for i, c := range t.Columns {
		if !row.Set.Has(i) {
			tb.Fatalf("column %s not set", c.Name)
		}
		fmt.Fprintf(&sb, "%s=", c.Name)
		v := row.Vals[i]
		if d, ok := v.(coerce.Decimal); ok {
			v = d.Numeric() // as the formats whose decoders give pgtype.Numeric
		}
		switch v := v.(type) {
		case pgtype.Numeric:
			s, err := v.MarshalJSON()
			if err != nil {
				tb.Fatal(err)
			}
			fmt.Fprintf(&sb, "numeric(%s)", s)
		case time.Time:
			fmt.Fprintf(&sb, "time(%s)", v.UTC().Format(time.RFC3339Nano))
		case []byte:
			fmt.Fprintf(&sb, "bytes(%s)", v)
		default:
			fmt.Fprintf(&sb, "%T(%#v)", v, v)
		}
		sb.WriteString(" ")
	}
	return sb.String()
}
