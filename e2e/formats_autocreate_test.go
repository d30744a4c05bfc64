package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// acAvroV1 is the first version of the auto_create test's Avro schema; v2
// makes name optional, widens n to long and amount to decimal(12,2), and
// adds an optional email; v3 turns n into a string.
const acAvroV1 = `{"type": "record", "name": "Event", "namespace": "e2e.ac", "fields": [
	{"name": "id", "type": "long"},
	{"name": "name", "type": "string"},
	{"name": "n", "type": "int"},
	{"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
	{"name": "ratio", "type": "float"},
	{"name": "score", "type": "double"},
	{"name": "ok", "type": "boolean"},
	{"name": "blob", "type": "bytes"},
	{"name": "day", "type": {"type": "int", "logicalType": "date"}},
	{"name": "at", "type": {"type": "long", "logicalType": "time-micros"}},
	{"name": "created", "type": {"type": "long", "logicalType": "timestamp-millis"}},
	{"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
	{"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
	{"name": "tags", "type": {"type": "array", "items": "string"}},
	{"name": "attrs", "type": {"type": "map", "values": "string"}},
	{"name": "addr", "type": {"type": "record", "name": "Addr", "fields": [{"name": "city", "type": "string"}]}},
	{"name": "note", "type": ["null", "string"], "default": null}
]}`

var (
	acAvroV2 = strings.NewReplacer(
		`{"name": "name", "type": "string"}`, `{"name": "name", "type": ["null", "string"], "default": null}`,
		`{"name": "n", "type": "int"}`, `{"name": "n", "type": "long"}`,
		`"precision": 10, "scale": 2`, `"precision": 12, "scale": 2`,
		`{"name": "note", "type": ["null", "string"], "default": null}`,
		`{"name": "note", "type": ["null", "string"], "default": null}, {"name": "email", "type": ["null", "string"], "default": null}`,
	).Replace(acAvroV1)
	acAvroV3 = strings.Replace(acAvroV2, `{"name": "n", "type": "long"}`, `{"name": "n", "type": "string"}`, 1)
)

const acKeySchema = `{"type": "record", "name": "EventKey", "namespace": "e2e.ac", "fields": [{"name": "id", "type": "long"}]}`

const acJSONSchema = `{"$schema": "http://json-schema.org/draft-07/schema#", "title": "Item", "type": "object",
  "properties": {
    "id": {"type": "integer"},
    "code": {"type": "string", "maxLength": 12},
    "label": {"type": "string"},
    "at": {"type": "string", "format": "date-time"},
    "day": {"type": "string", "format": "date"},
    "amount": {"type": "number"},
    "flags": {"type": "array", "items": {"type": "boolean"}},
    "ok": {"type": "boolean"}
  },
  "required": ["id", "code"]}`

const acProto = `syntax = "proto3";
package e2e.ac;

import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";

enum Kind {
  KIND_UNKNOWN = 0;
  BIG = 1;
}

message Row {
  message Inner {
    string x = 1;
  }
  int64 id = 1;
  string name = 2;
  google.protobuf.Timestamp at = 3;
  google.protobuf.Duration took = 4;
  google.protobuf.Int64Value maybe = 5;
  Kind kind = 6;
  google.protobuf.Struct doc = 7;
  Inner inner = 8;
  uint64 big = 9;
  int32 small = 10;
  double d = 11;
  float f = 12;
  bool b = 13;
  bytes raw = 14;
  repeated int32 nums = 15;
  optional string opt = 16;
}
`

// columns describes table as PostgreSQL has it: one "name type [NOT NULL]"
// line a column, in order, then its primary key.
func (e *env) columns(table string) []string {
	e.t.Helper()
	cols := e.texts(`SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
		FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, table)
	pk := e.texts(`SELECT 'PRIMARY KEY (' || string_agg(a.attname, ', ' ORDER BY k.ord) || ')'
		FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1::regclass AND i.indisprimary`, table)
	if len(pk) == 1 && pk[0] != "NULL" {
		cols = append(cols, pk[0])
	}
	return cols
}

// logSays reports whether the log output holds s, as is or with its quotes
// escaped by the text log format.
func logSays(out, s string) bool {
	return strings.Contains(out, s) || strings.Contains(out, strings.ReplaceAll(s, `"`, `\"`))
}

// checkOutput runs `kafka2pg check` and returns its output with every line
// trimmed of surrounding blanks.
func checkOutput(t *testing.T, cfg string) string {
	t.Helper()
	p := start(t, "check", "--config", cfg)
	code := p.wait(t, 60*time.Second)
	out := p.out.String()
	if code != 0 {
		t.Fatalf("kafka2pg check exited %d:\n%s", code, out)
	}
	lines := strings.Split(out, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "\n")
}

// auto_create makes each missing table from the record schema (Avro,
// Protobuf, JSON Schema) or, for schemaless JSON, from the first records,
// with the documented type mapping, NOT NULL for required fields and the
// primary key from the key schema or conflict_key (Protobuf: only fields
// with presence are optional; scalars, which decode to their zero value
// when absent, are nullable as they have a default; a repeated field is
// always present: NOT NULL); `check` prints those
// statements before. auto_evolve then follows Avro v2 (a new optional
// field, int → long, a wider decimal, a field becoming optional) and a new
// JSON field: columns added or widened, old rows NULL in the new column,
// new rows with their values, and `check` prints the ALTERs first. An
// incompatible v3 (long → string) stops the pipeline naming the column,
// with the table untouched, or goes to the dead-letter table.
func TestFormatsAutoCreateEvolve(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	e.utc()
	sr := srtest.New(t)
	topicJSON, topicJS, topicPB := testenv.Name("acjson"), testenv.Name("acjs"), testenv.Name("acpb")
	for _, topic := range []string{topicJSON, topicJS, topicPB} {
		testenv.CreateTopic(t, topic, 1)
	}
	keyID := register(t, sr, e.topic+"-key", "", acKeySchema)
	v1 := register(t, sr, e.topic+"-value", "", acAvroV1)
	jsID := register(t, sr, topicJS+"-value", registry.TypeJSON, acJSONSchema)
	pbID := register(t, sr, topicPB+"-value", registry.TypeProtobuf, acProto)
	pbFile := protoFile(t, "ac.proto", acProto)

	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	avroEvent := func(id, schema int, text string, name any, n any, amount string, extra map[string]any) *kgo.Record {
		v := map[string]any{"id": id, "name": name, "n": n, "amount": rat(amount), "ratio": float32(0.5), "score": 1.25,
			"ok": true, "blob": []byte{1}, "day": day(2024, 1, 2), "at": 12*time.Hour + 34*time.Minute + 56789012*time.Microsecond,
			"created": time.Date(2024, 5, 1, 12, 0, 0, 123_000_000, time.UTC), "local": time.Date(2024, 5, 1, 12, 0, 0, 500_000_000, time.UTC),
			"uid": "0c5a7ad7-9a0b-4b7e-8f65-7a9b0e4c3d21", "tags": []string{"a"}, "attrs": map[string]string{"k": "v"},
			"addr": map[string]any{"city": "Oslo"}, "note": nil}
		for k, x := range extra {
			v[k] = x
		}
		return e.rec(avroWire(t, keyID, acKeySchema, map[string]any{"id": v["id"]}), avroWire(t, schema, text, v))
	}
	cl := testenv.Client(t)
	testenv.Produce(t, cl,
		avroEvent(1, v1, acAvroV1, "one", int32(1), "12.34", nil),
		avroEvent(2, v1, acAvroV1, "two", int32(2), "-0.01", map[string]any{"note": map[string]any{"string": "n2"}}),
		&kgo.Record{Topic: topicJSON, Key: []byte("1"), Value: []byte(`{"id": 1, "name": "a", "price": 1.5, "qty": 3, "at": "2024-05-01T12:00:00Z",
			"at2": "2024-05-01 12:00:00.5+02:00", "local": "2024-05-01 12:00:00", "tags": ["x"], "meta": {"k": 1}, "ok": true, "none": null}`)},
		&kgo.Record{Topic: topicJSON, Key: []byte("2"), Value: []byte(`{"id": 2, "name": "b", "price": 2, "qty": 4, "big": 12345678901234567890}`)},
		&kgo.Record{Topic: topicJS, Value: jsonWire(jsID, `{"id": 1, "code": "C-1", "label": "first", "at": "2024-05-01T12:00:00Z", "day": "2024-05-01", "amount": 0.1, "flags": [true, false], "ok": true}`)},
		&kgo.Record{Topic: topicJS, Value: jsonWire(jsID, `{"id": 2, "code": "C-2"}`)},
		&kgo.Record{Topic: topicPB, Key: []byte("1"), Value: protoWire(t, pbID, []int{0}, protoMessage(t, pbFile, "e2e.ac.Row", `{
			"id": "1", "name": "r", "at": "2024-05-01T12:00:00.25Z", "took": "90061.5s", "maybe": "-5", "kind": "BIG",
			"doc": {"a": [1, "b"]}, "inner": {"x": "y"}, "big": "18446744073709551615", "small": -3, "d": 2.5, "f": 0.25,
			"b": true, "raw": "AAE=", "nums": [1, 2], "opt": "o"}`))},
		&kgo.Record{Topic: topicPB, Key: []byte("2"), Value: protoWire(t, pbID, []int{0}, protoMessage(t, pbFile, "e2e.ac.Row", `{"id": "2"}`))},
	)
	cfg := e.config(registryYAML(sr) + `routes:
  - topic: {{topic}}
    table: events_avro
    key: {format: avro}
    value: {format: avro}
    mode: upsert
    auto_create: true
    auto_evolve: true
  - topic: ` + topicJSON + `
    table: events_json
    value: {format: json}
    mode: upsert
    conflict_key: [id]
    auto_create: true
    auto_evolve: true
  - topic: ` + topicJS + `
    table: events_js
    value: {format: json-schema}
    auto_create: true
  - topic: ` + topicPB + `
    table: events_pb
    value: {format: protobuf}
    mode: upsert
    conflict_key: [id]
    auto_create: true
`)
	cfg = rewrite(t, cfg, "topics: ["+e.topic+"]", "topics: ["+strings.Join([]string{e.topic, topicJSON, topicJS, topicPB}, ", ")+"]")

	// check: what run will create.
	out := checkOutput(t, cfg)
	for _, ddl := range []string{
		`run creates it (from the record schema) with:
CREATE TABLE IF NOT EXISTS "events_avro" (
"id" bigint NOT NULL,
"name" text NOT NULL,
"n" integer NOT NULL,
"amount" numeric(10,2) NOT NULL,
"ratio" real NOT NULL,
"score" double precision NOT NULL,
"ok" boolean NOT NULL,
"blob" bytea NOT NULL,
"day" date NOT NULL,
"at" time NOT NULL,
"created" timestamptz NOT NULL,
"local" timestamp NOT NULL,
"uid" uuid NOT NULL,
"tags" jsonb NOT NULL,
"attrs" jsonb NOT NULL,
"addr" jsonb NOT NULL,
"note" text,
PRIMARY KEY ("id")
);`,
		`run creates it (from 2 schemaless records sampled) with:
CREATE TABLE IF NOT EXISTS "events_json" (
"id" bigint NOT NULL,
"name" text,
"price" numeric,
"qty" bigint,
"at" timestamptz,
"at2" timestamptz,
"local" text,
"tags" jsonb,
"meta" jsonb,
"ok" boolean,
"big" numeric,
PRIMARY KEY ("id")
);`,
		`run creates it (from the record schema) with:
CREATE TABLE IF NOT EXISTS "events_js" (
"id" bigint NOT NULL,
"code" varchar(12) NOT NULL,
"label" text,
"at" timestamptz,
"day" date,
"amount" numeric,
"flags" jsonb,
"ok" boolean
);`,
		`run creates it (from the record schema) with:
CREATE TABLE IF NOT EXISTS "events_pb" (
"id" bigint NOT NULL,
"name" text,
"at" timestamptz,
"took" interval,
"maybe" bigint,
"kind" text,
"doc" jsonb,
"inner" jsonb,
"big" numeric(20,0),
"small" integer,
"d" double precision,
"f" real,
"b" boolean,
"raw" bytea,
"nums" jsonb NOT NULL,
"opt" text,
PRIMARY KEY ("id")
);`,
	} {
		if !strings.Contains(out, ddl) {
			t.Errorf("check output lacks\n%s\n--- output:\n%s", ddl, out)
		}
	}
	for _, table := range []string{"events_avro", "events_json", "events_js", "events_pb"} {
		if n := e.texts(`SELECT count(*)::text FROM pg_class WHERE relname = $1`, table); n[0] != "0" {
			t.Fatalf("check created %s", table)
		}
	}

	runToEnd(t, cfg)
	equalLines(t, "events_avro columns", e.columns("events_avro"), []string{
		"id bigint NOT NULL", "name text NOT NULL", "n integer NOT NULL", "amount numeric(10,2) NOT NULL",
		"ratio real NOT NULL", "score double precision NOT NULL", "ok boolean NOT NULL", "blob bytea NOT NULL",
		"day date NOT NULL", "at time without time zone NOT NULL", "created timestamp with time zone NOT NULL",
		"local timestamp without time zone NOT NULL", "uid uuid NOT NULL", "tags jsonb NOT NULL", "attrs jsonb NOT NULL",
		"addr jsonb NOT NULL", "note text", "PRIMARY KEY (id)",
	})
	equalLines(t, "events_avro rows", e.rowTexts("events_avro", "id", "id", "name", "n", "amount", "ratio", "score", "ok", "blob",
		"day", "at", "created", "local", "uid", "tags", "attrs", "addr", "note"), []string{
		`1 | one | 1 | 12.34 | 0.5 | 1.25 | true | \x01 | 2024-01-02 | 12:34:56.789012 | 2024-05-01 12:00:00.123+00 | 2024-05-01 12:00:00.5 | 0c5a7ad7-9a0b-4b7e-8f65-7a9b0e4c3d21 | ["a"] | {"k": "v"} | {"city": "Oslo"} | NULL`,
		`2 | two | 2 | -0.01 | 0.5 | 1.25 | true | \x01 | 2024-01-02 | 12:34:56.789012 | 2024-05-01 12:00:00.123+00 | 2024-05-01 12:00:00.5 | 0c5a7ad7-9a0b-4b7e-8f65-7a9b0e4c3d21 | ["a"] | {"k": "v"} | {"city": "Oslo"} | n2`,
	})
	equalLines(t, "events_json columns", e.columns("events_json"), []string{
		"id bigint NOT NULL", "name text", "price numeric", "qty bigint", "at timestamp with time zone",
		"at2 timestamp with time zone", "local text", "tags jsonb", "meta jsonb", "ok boolean", "big numeric", "PRIMARY KEY (id)",
	})
	equalLines(t, "events_json rows", e.rowTexts("events_json", "id", "id", "name", "price", "qty", "at", "at2", "local", "tags", "meta", "ok", "big"), []string{
		`1 | a | 1.5 | 3 | 2024-05-01 12:00:00+00 | 2024-05-01 10:00:00.5+00 | 2024-05-01 12:00:00 | ["x"] | {"k": 1} | true | NULL`,
		`2 | b | 2 | 4 | NULL | NULL | NULL | NULL | NULL | NULL | 12345678901234567890`,
	})
	equalLines(t, "events_js columns", e.columns("events_js"), []string{
		"id bigint NOT NULL", "code character varying(12) NOT NULL", "label text", "at timestamp with time zone",
		"day date", "amount numeric", "flags jsonb", "ok boolean",
	})
	equalLines(t, "events_js rows", e.rowTexts("events_js", "id", "id", "code", "label", "at", "day", "amount", "flags", "ok"), []string{
		`1 | C-1 | first | 2024-05-01 12:00:00+00 | 2024-05-01 | 0.1 | [true, false] | true`,
		`2 | C-2 | NULL | NULL | NULL | NULL | NULL | NULL`,
	})
	equalLines(t, "events_pb columns", e.columns("events_pb"), []string{
		"id bigint NOT NULL", "name text", "at timestamp with time zone", "took interval", "maybe bigint", "kind text",
		"doc jsonb", "inner jsonb", "big numeric(20,0)", "small integer", "d double precision", "f real", "b boolean",
		"raw bytea", "nums jsonb NOT NULL", "opt text", "PRIMARY KEY (id)",
	})
	equalLines(t, "events_pb rows", e.rowTexts("events_pb", "id", "id", "name", "at", "took", "maybe", "kind", "doc", `"inner"`, "big",
		"small", "d", "f", "b", "raw", "nums", "opt"), []string{
		`1 | r | 2024-05-01 12:00:00.25+00 | 25:01:01.5 | -5 | BIG | {"a": [1, "b"]} | {"x": "y"} | 18446744073709551615 | -3 | 2.5 | 0.25 | true | \x0001 | [1, 2] | o`,
		`2 |  | NULL | NULL | NULL | KIND_UNKNOWN | NULL | NULL | 0 | 0 | 0 | 0 | false | \x | [] | NULL`,
	})

	// v2 and a JSON record with a new field: check shows the ALTERs, run
	// applies them.
	v2 := register(t, sr, e.topic+"-value", "", acAvroV2)
	testenv.Produce(t, cl,
		avroEvent(3, v2, acAvroV2, nil, int64(5_000_000_000), "1234567890.12", map[string]any{"email": map[string]any{"string": "c@example.com"}}),
		avroEvent(4, v2, acAvroV2, map[string]any{"string": "four"}, int64(4), "0", map[string]any{"email": nil}),
		&kgo.Record{Topic: topicJSON, Key: []byte("3"), Value: []byte(`{"id": 3, "name": "c", "extra": "new"}`)},
	)
	out = checkOutput(t, cfg)
	for _, stmt := range []string{
		`ALTER COLUMN "name" DROP NOT NULL;`,
		`ALTER COLUMN "n" TYPE bigint;`,
		`ALTER COLUMN "amount" TYPE numeric(12,2);`,
		`ADD COLUMN IF NOT EXISTS "email" text;`,
		`ADD COLUMN IF NOT EXISTS "extra" text;`,
	} {
		if !strings.Contains(out, stmt) {
			t.Errorf("check output lacks %q:\n%s", stmt, out)
		}
	}
	if !strings.Contains(out, "would make run change the table with:") {
		t.Errorf("check output does not announce the ALTERs:\n%s", out)
	}
	if cols := e.columns("events_avro"); len(cols) != 18 || cols[2] != "n integer NOT NULL" {
		t.Fatalf("check changed events_avro: %v", cols)
	}

	runToEnd(t, cfg)
	equalLines(t, "events_avro columns after v2", e.columns("events_avro"), []string{
		"id bigint NOT NULL", "name text", "n bigint NOT NULL", "amount numeric(12,2) NOT NULL",
		"ratio real NOT NULL", "score double precision NOT NULL", "ok boolean NOT NULL", "blob bytea NOT NULL",
		"day date NOT NULL", "at time without time zone NOT NULL", "created timestamp with time zone NOT NULL",
		"local timestamp without time zone NOT NULL", "uid uuid NOT NULL", "tags jsonb NOT NULL", "attrs jsonb NOT NULL",
		"addr jsonb NOT NULL", "note text", "email text", "PRIMARY KEY (id)",
	})
	avroRows := []string{
		`1 | one | 1 | 12.34 | NULL | NULL`,
		`2 | two | 2 | -0.01 | n2 | NULL`,
		`3 | NULL | 5000000000 | 1234567890.12 | NULL | c@example.com`,
		`4 | four | 4 | 0.00 | NULL | NULL`,
	}
	equalLines(t, "events_avro rows after v2", e.rowTexts("events_avro", "id", "id", "name", "n", "amount", "note", "email"), avroRows)
	equalLines(t, "events_json rows after the new field", e.rowTexts("events_json", "id", "id", "name", "extra"), []string{
		"1 | a | NULL", "2 | b | NULL", "3 | c | new",
	})
	if cols := e.columns("events_json"); cols[len(cols)-2] != "extra text" {
		t.Fatalf("events_json columns = %v, want extra text added last", cols)
	}

	// v3: n becomes a string while the column is bigint. Not a safe change:
	// a record error naming the column, the table as it was.
	v3 := register(t, sr, e.topic+"-value", "", acAvroV3)
	testenv.Produce(t, cl,
		avroEvent(5, v3, acAvroV3, nil, "many", "1", nil),
		avroEvent(6, v2, acAvroV2, map[string]any{"string": "six"}, int64(6), "6", map[string]any{"email": nil}),
	)
	p := start(t, "run", "--config", cfg)
	if code := p.wait(t, 60*time.Second); code != 1 {
		t.Fatalf("exit %d on an incompatible schema, want 1", code)
	}
	if want := fmt.Sprintf(`topic %s partition 0 offset 4: map: column "n"`, e.topic); !logSays(p.out.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, tail(p.out.String(), 10))
	}
	if cols := e.columns("events_avro"); cols[2] != "n bigint NOT NULL" {
		t.Fatalf("column n is now %q after an incompatible schema", cols[2])
	}
	equalLines(t, "events_avro rows after v3 stopped the pipeline", e.rowTexts("events_avro", "id", "id", "name", "n", "amount", "note", "email"), avroRows)

	// The same with a dead-letter table: v3 is dead-lettered, the v2
	// record after it lands.
	cfg = rewrite(t, cfg, "routes:", "errors:\n  tolerance: all\n  dlq: {table: formats_dlq}\nroutes:")
	runToEnd(t, cfg)
	dead := e.texts(`SELECT topic || ' ' || "offset" || ' ' || stage || ' ' || error FROM formats_dlq ORDER BY id`)
	if len(dead) != 1 || !strings.HasPrefix(dead[0], e.topic+" 4 map topic "+e.topic+" partition 0 offset 4: map: column \"n\"") {
		t.Fatalf("dead letters = %q, want the v3 record, stage map, naming column n", dead)
	}
	equalLines(t, "events_avro rows after the dead-letter run", e.rowTexts("events_avro", "id", "id", "name", "n", "amount", "note", "email"),
		append(avroRows, `6 | six | 6 | 6.00 | NULL | NULL`))
	if cols := e.columns("events_avro"); cols[2] != "n bigint NOT NULL" {
		t.Fatalf("column n is now %q after an incompatible schema", cols[2])
	}
}
