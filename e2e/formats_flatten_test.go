package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

const flattenAvroSchema = `{"type": "record", "name": "Customer", "namespace": "e2e.flat", "fields": [
	{"name": "id", "type": "long"},
	{"name": "name", "type": {"type": "record", "name": "Name", "fields": [
		{"name": "first", "type": "string"}, {"name": "last", "type": "string"}]}},
	{"name": "addr", "type": ["null", {"type": "record", "name": "Addr", "fields": [
		{"name": "city", "type": "string"},
		{"name": "geo", "type": {"type": "record", "name": "Geo", "fields": [{"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}]}},
		{"name": "lines", "type": {"type": "array", "items": "string"}}]}], "default": null},
	{"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [{"name": "sku", "type": "string"}]}}},
	{"name": "attrs", "type": {"type": "map", "values": "string"}}
]}`

const flattenProto = `syntax = "proto3";
package e2e.flat;

import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";

message Order {
  message Money {
    int64 units = 1;
    string currency = 2;
  }
  message Line {
    string sku = 1;
  }
  int64 id = 1;
  Money total = 2;
  google.protobuf.Struct doc = 3;
  map<string, int32> counts = 4;
  google.protobuf.Timestamp at = 5;
  repeated Line lines = 6;
}
`

// flatten: true maps nested records to columns named by their path (a.b →
// a_b, a.b.c → a_b_c), for Avro and Protobuf (auto_create makes those
// columns) and schemaless JSON; a null nested record leaves its columns
// NULL. Arrays, maps and free-form JSON (a Protobuf Struct) are not records:
// each stays one jsonb column holding the value.
func TestFormatsFlatten(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	e.utc()
	sr := srtest.New(t)
	topicPB, topicJSON := testenv.Name("flatpb"), testenv.Name("flatjson")
	testenv.CreateTopic(t, topicPB, 1)
	testenv.CreateTopic(t, topicJSON, 1)
	avroID := register(t, sr, e.topic+"-value", "", flattenAvroSchema)
	pbID := register(t, sr, topicPB+"-value", registry.TypeProtobuf, flattenProto)
	pbFile := protoFile(t, "flat.proto", flattenProto)
	testenv.Exec(t, e.pool, `CREATE TABLE people (id bigint PRIMARY KEY, user_name text, user_address_city text,
		user_address_zip text, tags jsonb)`)

	testenv.Produce(t, testenv.Client(t),
		e.rec([]byte("1"), avroWire(t, avroID, flattenAvroSchema, map[string]any{"id": int64(1),
			"name": map[string]any{"first": "Ada", "last": "Lovelace"},
			"addr": map[string]any{"e2e.flat.Addr": map[string]any{"city": "London",
				"geo": map[string]any{"lat": 51.5, "lon": -0.125}, "lines": []string{"12 St James's Sq"}}},
			"items": []map[string]any{{"sku": "A"}}, "attrs": map[string]string{"tier": "gold"}})),
		e.rec([]byte("2"), avroWire(t, avroID, flattenAvroSchema, map[string]any{"id": int64(2),
			"name": map[string]any{"first": "Alan", "last": "Turing"}, "addr": nil,
			"items": []map[string]any{}, "attrs": map[string]string{}})),
		&kgo.Record{Topic: topicPB, Key: []byte("1"), Value: protoWire(t, pbID, []int{0}, protoMessage(t, pbFile, "e2e.flat.Order", `{
			"id": "1", "total": {"units": "42", "currency": "EUR"}, "doc": {"a": {"b": 1}}, "counts": {"x": 2},
			"at": "2024-05-01T12:00:00Z", "lines": [{"sku": "S"}]}`))},
		&kgo.Record{Topic: topicPB, Key: []byte("2"), Value: protoWire(t, pbID, []int{0}, protoMessage(t, pbFile, "e2e.flat.Order", `{"id": "2"}`))},
		&kgo.Record{Topic: topicJSON, Key: []byte("1"), Value: []byte(`{"id": 1, "user": {"name": "x", "address": {"city": "Oslo", "zip": "0150"}}, "tags": ["a", {"b": 1}]}`)},
		&kgo.Record{Topic: topicJSON, Key: []byte("2"), Value: []byte(`{"id": 2, "user": {"name": "y", "address": null}}`)},
	)
	// One run per route, so that each format's outcome shows on its own.
	run := func(topic, route string) {
		t.Helper()
		cfg := e.config(registryYAML(sr) + "routes:\n  - topic: " + topic + "\n" + route)
		cfg = rewrite(t, cfg, "topics: ["+e.topic+"]", "topics: ["+topic+"]")
		p := start(t, "run", "--config", cfg, "--stop-at-end")
		if code := p.wait(t, 60*time.Second); code != 0 {
			t.Errorf("route for %s exited %d: %s", topic, code, lastError(p.out.String()))
		}
	}
	run(e.topic, `    table: customers
    value: {format: avro}
    mode: upsert
    conflict_key: [id]
    flatten: true
    auto_create: true
`)
	run(topicPB, `    table: orders
    value: {format: protobuf}
    mode: upsert
    conflict_key: [id]
    flatten: true
    auto_create: true
`)
	run(topicJSON, `    table: people
    mode: upsert
    flatten: true
`)

	checkLines(t, "customers columns", e.columns("customers"), []string{
		"id bigint NOT NULL", "name_first text NOT NULL", "name_last text NOT NULL", "addr_city text",
		"addr_geo_lat double precision", "addr_geo_lon double precision", "addr_lines jsonb",
		"items jsonb NOT NULL", "attrs jsonb NOT NULL", "PRIMARY KEY (id)",
	})
	checkLines(t, "orders columns", e.columns("orders"), []string{
		"id bigint NOT NULL", "total_units bigint", "total_currency text", "doc jsonb", "counts jsonb NOT NULL",
		"at timestamp with time zone", "lines jsonb NOT NULL", "PRIMARY KEY (id)",
	})
	checkLines(t, "customers", e.rowTexts("customers", "id", "id", "name_first", "name_last", "addr_city", "addr_geo_lat",
		"addr_geo_lon", "addr_lines", "items", "attrs"), []string{
		`1 | Ada | Lovelace | London | 51.5 | -0.125 | ["12 St James's Sq"] | [{"sku": "A"}] | {"tier": "gold"}`,
		`2 | Alan | Turing | NULL | NULL | NULL | NULL | [] | {}`,
	})
	checkLines(t, "orders", e.rowTexts("orders", "id", "id", "total_units", "total_currency", "doc", "counts", "at", "lines"), []string{
		`1 | 42 | EUR | {"a": {"b": 1}} | {"x": 2} | 2024-05-01 12:00:00+00 | [{"sku": "S"}]`,
		`2 | NULL | NULL | NULL | {} | NULL | []`,
	})
	checkLines(t, "people", e.rowTexts("people", "id", "id", "user_name", "user_address_city", "user_address_zip", "tags"), []string{
		`1 | x | Oslo | 0150 | ["a", {"b": 1}]`,
		`2 | y | NULL | NULL | NULL`,
	})
}

// lastError returns the err of the last "stopped on error" log line, or the
// output's tail when there is none.
func lastError(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if _, err, ok := strings.Cut(lines[i], "err="); ok && strings.Contains(lines[i], "stopped on error") {
			return err
		}
	}
	return tail(out, 5)
}
