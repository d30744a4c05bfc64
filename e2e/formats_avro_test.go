package e2e

import (
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// formatsAvroSchema has one field of every Avro type and logical type that
// maps to a typed column.
const formatsAvroSchema = `{"type": "record", "name": "Reading", "namespace": "e2e.avro", "fields": [
	{"name": "id", "type": "long"},
	{"name": "n", "type": "int"},
	{"name": "ok", "type": "boolean"},
	{"name": "ratio", "type": "float"},
	{"name": "score", "type": "double"},
	{"name": "name", "type": "string"},
	{"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}},
	{"name": "blob", "type": "bytes"},
	{"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 4}},
	{"name": "big", "type": {"type": "fixed", "name": "Big", "size": 16, "logicalType": "decimal", "precision": 38, "scale": 10}},
	{"name": "day", "type": {"type": "int", "logicalType": "date"}},
	{"name": "t_ms", "type": {"type": "int", "logicalType": "time-millis"}},
	{"name": "t_us", "type": {"type": "long", "logicalType": "time-micros"}},
	{"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
	{"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
	{"name": "local_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
	{"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
	{"name": "wait", "type": {"type": "fixed", "name": "Dur", "size": 12, "logicalType": "duration"}},
	{"name": "note", "type": ["null", "string"], "default": null},
	{"name": "paid", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}], "default": null},
	{"name": "discount", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 4}], "default": null},
	{"name": "tags", "type": {"type": "array", "items": "string"}},
	{"name": "attrs", "type": {"type": "map", "values": "long"}},
	{"name": "addr", "type": {"type": "record", "name": "Addr", "fields": [
		{"name": "city", "type": "string"},
		{"name": "zip", "type": ["null", "string"], "default": null}]}}
]}`

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// Avro through the registry: every logical type lands exactly in its typed
// column (decimal as exact numeric, date, time, timestamptz, local
// timestamp, uuid), nullable unions as NULL or the value, arrays, maps and
// nested records as text[] and jsonb, and a duration (months, days and
// millis have no exact interval) as a jsonb object. Compared value by value as text.
func TestFormatsAvro(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	e.utc()
	sr := srtest.New(t)
	id := register(t, sr, e.topic+"-value", "", formatsAvroSchema)
	testenv.Exec(t, e.pool, `CREATE TABLE readings (
		id bigint PRIMARY KEY, n integer, ok boolean, ratio real, score double precision, name text, color text,
		blob bytea, price numeric(12,4), big numeric(38,10), day date, t_ms time, t_us time,
		ts_ms timestamptz, ts_us timestamptz, local_us timestamp, uid uuid, wait jsonb, note text, paid timestamptz,
		discount numeric(12,4), tags text[], attrs jsonb, addr jsonb)`)

	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	full := map[string]any{
		"id": int64(1), "n": int32(-7), "ok": true, "ratio": float32(0.5), "score": 3.141592653589793,
		"name": "zoë 🚀", "color": "GREEN", "blob": []byte{0, 1, 2, 0xff},
		"price": rat("12345.6789"), "big": rat("12345678901234567890.0123456789"),
		"day":      utc(2024, 2, 29, 0, 0, 0, 0),
		"t_ms":     13*time.Hour + 45*time.Minute + 30*time.Second + 123*time.Millisecond,
		"t_us":     24*time.Hour - time.Microsecond,
		"ts_ms":    utc(2024, 5, 1, 12, 0, 0, 123_000_000),
		"ts_us":    utc(1969, 12, 31, 23, 59, 59, 999_999_000), // before the epoch
		"local_us": utc(2024, 5, 1, 12, 0, 0, 654_321_000),
		"uid":      "6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
		"wait":     avro.LogicalDuration{Months: 1, Days: 2, Milliseconds: 3},
		"note":     map[string]any{"string": "hello"},
		"paid":     map[string]any{"long.timestamp-micros": utc(2024, 5, 2, 0, 0, 0, 1000)},
		"discount": map[string]any{"bytes.decimal": rat("-0.01")},
		"tags":     []string{"a", "b,c"},
		"attrs":    map[string]int64{"x": 1, "y": -2},
		"addr":     map[string]any{"city": "Oslo", "zip": nil},
	}
	sparse := map[string]any{
		"id": int64(2), "n": int32(2147483647), "ok": false, "ratio": float32(-1.25), "score": -1e-300,
		"name": "", "color": "RED", "blob": []byte{},
		"price": rat("-0.0001"), "big": rat("-99999999999999999999999999.9999999999"),
		"day":      utc(1970, 1, 1, 0, 0, 0, 0),
		"t_ms":     time.Duration(0),
		"t_us":     time.Microsecond,
		"ts_ms":    utc(1970, 1, 1, 0, 0, 0, 0),
		"ts_us":    utc(2262, 4, 11, 23, 47, 16, 854_775_000),
		"local_us": utc(1900, 1, 1, 0, 0, 0, 0),
		"uid":      "00000000-0000-0000-0000-000000000000",
		"wait":     avro.LogicalDuration{},
		"note":     nil, "paid": nil, "discount": nil,
		"tags":  []string{},
		"attrs": map[string]int64{},
		"addr":  map[string]any{"city": "", "zip": map[string]any{"string": "0150"}},
	}
	testenv.Produce(t, testenv.Client(t),
		e.rec([]byte("1"), avroWire(t, id, formatsAvroSchema, full)),
		e.rec([]byte("2"), avroWire(t, id, formatsAvroSchema, sparse)),
	)
	cfg := e.config(registryYAML(sr) + `routes:
  - topic: {{topic}}
    table: readings
    value: {format: avro}
`)
	runToEnd(t, cfg)

	got := e.rowTexts("readings", "id", "id", "n", "ok", "ratio", "score", "name", "color", "blob", "price", "big",
		"day", "t_ms", "t_us", "ts_ms", "ts_us", "local_us", "uid", "wait", "note", "paid", "discount", "tags", "attrs", "addr")
	want := []string{
		`1 | -7 | true | 0.5 | 3.141592653589793 | zoë 🚀 | GREEN | \x000102ff | 12345.6789 | 12345678901234567890.0123456789 | ` +
			`2024-02-29 | 13:45:30.123 | 23:59:59.999999 | 2024-05-01 12:00:00.123+00 | 1969-12-31 23:59:59.999999+00 | ` +
			`2024-05-01 12:00:00.654321 | 6ba7b810-9dad-11d1-80b4-00c04fd430c8 | {"days": 2, "millis": 3, "months": 1} | hello | 2024-05-02 00:00:00.000001+00 | -0.0100 | ` +
			`{a,"b,c"} | {"x": 1, "y": -2} | {"zip": null, "city": "Oslo"}`,
		`2 | 2147483647 | false | -1.25 | -1e-300 |  | RED | \x | -0.0001 | -99999999999999999999999999.9999999999 | ` +
			`1970-01-01 | 00:00:00 | 00:00:00.000001 | 1970-01-01 00:00:00+00 | 2262-04-11 23:47:16.854775+00 | ` +
			`1900-01-01 00:00:00 | 00000000-0000-0000-0000-000000000000 | {"days": 0, "millis": 0, "months": 0} | NULL | NULL | NULL | ` +
			`{} | {} | {"zip": "0150", "city": ""}`,
	}
	equalLines(t, "readings", got, want)
	if n := e.committedTotal(); n != 2 {
		t.Fatalf("committed offsets add up to %d, want 2", n)
	}
}

// The schema of an id is fetched once per process, whatever the number of
// records and of partitions decoding it at the same time; a registry that
// answers 503 is retried (the records wait, none is dead-lettered) and a
// new id costs one more lookup.
func TestFormatsRegistryOneRequestPerID(t *testing.T) {
	parallel(t)
	const parts, perPart = 4, 500
	e := newEnv(t, parts)
	sr := srtest.New(t)
	schema := `{"type": "record", "name": "Tick", "fields": [{"name": "id", "type": "long"}, {"name": "p", "type": "int"}]}`
	id := register(t, sr, e.topic+"-value", "", schema)
	testenv.Exec(t, e.pool, `CREATE TABLE ticks (id bigint PRIMARY KEY, p integer NOT NULL)`)
	var recs []*kgo.Record
	for p := range parts {
		for i := range perPart {
			n := int64(p*perPart + i)
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(p),
				Value: avroWire(t, id, schema, map[string]any{"id": n, "p": int32(p)})})
		}
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	cfg := e.config(registryYAML(sr) + `batch:
  max_rows: 100
errors:
  tolerance: all
  dlq: {table: formats_dlq}
routes:
  - topic: {{topic}}
    table: ticks
    value: {format: avro}
`)
	runToEnd(t, cfg)
	if n := e.count("ticks"); n != parts*perPart {
		t.Fatalf("ticks has %d rows, want %d", n, parts*perPart)
	}
	if got := e.texts(`SELECT p || ':' || count(*) || ':' || min(id) || '-' || max(id) FROM ticks GROUP BY p ORDER BY p`); fmt.Sprint(got) != "[0:500:0-499 1:500:500-999 2:500:1000-1499 3:500:1500-1999]" {
		t.Fatalf("rows by partition = %v", got)
	}
	if n := e.count("formats_dlq"); n != 0 {
		t.Fatalf("%d dead letters, want 0: %v", n, e.deadLetters("formats_dlq"))
	}
	if n := sr.Requests("/schemas/ids/"); n != 1 {
		t.Fatalf("the registry saw %d schema lookups for %d records of one id, want 1", n, parts*perPart)
	}

	// A second schema id, and a registry that fails the first two lookups
	// of it: retried, not dead-lettered, then one lookup more.
	schema2 := `{"type": "record", "name": "Tick", "fields": [{"name": "id", "type": "long"}, {"name": "p", "type": "int"}, {"name": "x", "type": ["null", "string"], "default": null}]}`
	id2 := register(t, sr, e.topic+"-value", "", schema2)
	var more []*kgo.Record
	for i := range 10 {
		more = append(more, &kgo.Record{Topic: e.topic, Partition: int32(i % parts),
			Value: avroWire(t, id2, schema2, map[string]any{"id": int64(10000 + i), "p": int32(9), "x": nil})})
	}
	testenv.Produce(t, testenv.Client(t), more...)
	sr.FailNext(2, 503)
	runToEnd(t, cfg)
	if n := e.count("ticks WHERE p = 9"); n != 10 {
		t.Fatalf("%d rows of the second schema, want 10", n)
	}
	if n := e.count("formats_dlq"); n != 0 {
		t.Fatalf("a registry outage dead-lettered %d records: %v", n, e.deadLetters("formats_dlq"))
	}
	if n := sr.Requests(fmt.Sprintf("/schemas/ids/%d", id2)); n != 3 {
		t.Fatalf("the registry saw %d lookups of id %d (2 failed with 503), want 3", n, id2)
	}
	if n := sr.Requests(fmt.Sprintf("/schemas/ids/%d", id)); n != 1 {
		t.Fatalf("the registry saw %d lookups of id %d, want 1 (the second run read none of its records)", n, id)
	}
}
