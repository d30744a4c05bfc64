package e2e

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// debeziumKeySchema and debeziumEnvelopeSchema are what Debezium's
// PostgreSQL connector registers with the AvroConverter for a table
// customers(id int primary key, email text not null, bio text, balance
// numeric(10,2), updated_at timestamptz, photo bytea).
const debeziumKeySchema = `{"type": "record", "name": "Key", "namespace": "dbserver1.inventory.customers",
  "fields": [{"name": "id", "type": "int"}], "connect.name": "dbserver1.inventory.customers.Key"}`

const debeziumEnvelopeSchema = `{"type": "record", "name": "Envelope", "namespace": "dbserver1.inventory.customers", "fields": [
  {"name": "before", "type": ["null", {"type": "record", "name": "Value", "fields": [
    {"name": "id", "type": "int"},
    {"name": "email", "type": "string"},
    {"name": "bio", "type": ["null", "string"], "default": null},
    {"name": "balance", "type": ["null", {"type": "bytes", "scale": 2, "precision": 10, "connect.version": 1,
      "connect.parameters": {"scale": "2", "connect.decimal.precision": "10"},
      "connect.name": "org.apache.kafka.connect.data.Decimal", "logicalType": "decimal"}], "default": null},
    {"name": "updated_at", "type": ["null", {"type": "string", "connect.version": 1, "connect.name": "io.debezium.time.ZonedTimestamp"}], "default": null},
    {"name": "photo", "type": ["null", "bytes"], "default": null}
  ], "connect.name": "dbserver1.inventory.customers.Value"}], "default": null},
  {"name": "after", "type": ["null", "Value"], "default": null},
  {"name": "source", "type": {"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "fields": [
    {"name": "version", "type": "string"},
    {"name": "connector", "type": "string"},
    {"name": "name", "type": "string"},
    {"name": "ts_ms", "type": "long"},
    {"name": "snapshot", "type": [{"type": "string", "connect.version": 1, "connect.parameters": {"allowed": "true,last,false,incremental"},
      "connect.default": "false", "connect.name": "io.debezium.data.Enum"}, "null"], "default": "false"},
    {"name": "db", "type": "string"},
    {"name": "sequence", "type": ["null", "string"], "default": null},
    {"name": "schema", "type": "string"},
    {"name": "table", "type": "string"},
    {"name": "txId", "type": ["null", "long"], "default": null},
    {"name": "lsn", "type": ["null", "long"], "default": null},
    {"name": "xmin", "type": ["null", "long"], "default": null}
  ], "connect.name": "io.debezium.connector.postgresql.Source"}},
  {"name": "op", "type": "string"},
  {"name": "ts_ms", "type": ["null", "long"], "default": null},
  {"name": "transaction", "type": ["null", {"type": "record", "name": "block", "namespace": "event", "fields": [
    {"name": "id", "type": "string"}, {"name": "total_order", "type": "long"}, {"name": "data_collection_order", "type": "long"}
  ]}], "default": null}
], "connect.name": "dbserver1.inventory.customers.Envelope"}`

const debeziumUnavailable = "__debezium_unavailable_value"

// debeziumColumns is the table both halves of TestFormatsDebezium write,
// with every metadata pseudo-field as a column.
const debeziumColumns = `(id integer PRIMARY KEY, email text NOT NULL, bio text, balance numeric(10,2),
	updated_at timestamptz, photo bytea, __op text, __lsn bigint, __source_ts_ms bigint, __table text, __ts_ms bigint)`

// Debezium change events, Avro (key and envelope through the registry) and
// plain JSON: c, r and u upsert "after"; d deletes by the Kafka key, or by
// "before" when the record has no key; the tombstone after a delete and t
// are skipped; a "__debezium_unavailable_value" string or bytes leaves the
// stored column as it is; __op, __lsn, __source_ts_ms, __table and __ts_ms
// fill the columns of those names; with version_column __lsn an event older
// than the row does not overwrite it. With debezium.on_truncate fail, t
// stops the pipeline with a record error naming the record.
func TestFormatsDebezium(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	e.utc()
	sr := srtest.New(t)
	topicJSON := testenv.Name("dbzjson")
	testenv.CreateTopic(t, topicJSON, 1)
	keyID := register(t, sr, e.topic+"-key", "", debeziumKeySchema)
	valID := register(t, sr, e.topic+"-value", "", debeziumEnvelopeSchema)
	testenv.Exec(t, e.pool, "CREATE TABLE customers "+debeziumColumns)
	testenv.Exec(t, e.pool, "CREATE TABLE customers_json "+debeziumColumns)

	// Avro events.
	key := func(id int32) []byte { return avroWire(t, keyID, debeziumKeySchema, map[string]any{"id": id}) }
	type row struct {
		id               int32
		email, bio       string // bio "" is null
		balance, updated string // "" is null
		photo            []byte
	}
	value := func(r *row) any {
		if r == nil {
			return nil
		}
		v := map[string]any{"id": r.id, "email": r.email, "bio": nil, "balance": nil, "updated_at": nil, "photo": nil}
		if r.bio != "" {
			v["bio"] = map[string]any{"string": r.bio}
		}
		if r.balance != "" {
			v["balance"] = map[string]any{"bytes.decimal": rat(r.balance)}
		}
		if r.updated != "" {
			v["updated_at"] = map[string]any{"string": r.updated}
		}
		if r.photo != nil {
			v["photo"] = map[string]any{"bytes": r.photo}
		}
		return map[string]any{"dbserver1.inventory.customers.Value": v}
	}
	event := func(op string, lsn int64, before, after *row) []byte {
		return avroWire(t, valID, debeziumEnvelopeSchema, map[string]any{
			"before": value(before), "after": value(after),
			"source": map[string]any{"version": "2.7.0.Final", "connector": "postgresql", "name": "dbserver1",
				"ts_ms": lsn * 10, "snapshot": map[string]any{"string": "false"}, "db": "inventory", "sequence": nil,
				"schema": "public", "table": "customers", "txId": map[string]any{"long": lsn + 1},
				"lsn": map[string]any{"long": lsn}, "xmin": nil},
			"op": op, "ts_ms": map[string]any{"long": lsn*10 + 1}, "transaction": nil,
		})
	}
	full1 := &row{1, "a@example.com", "a long biography", "10.50", "2024-05-01T12:00:00Z", []byte{1, 2}}
	full3 := &row{3, "c@example.com", "", "0.01", "", nil}
	full4 := &row{4, "d@example.com", "gone", "", "", nil}
	cl := testenv.Client(t)
	testenv.Produce(t, cl,
		e.rec(key(1), event("r", 100, nil, full1)),
		e.rec(key(2), event("c", 200, nil, &row{2, "b@example.com", "bio 2", "-3.00", "", []byte{}})),
		// TOASTed bio and photo unchanged: placeholders.
		e.rec(key(1), event("u", 300, full1, &row{1, "a2@example.com", debeziumUnavailable, "11.00", "2024-05-01T12:30:00+02:00", []byte(debeziumUnavailable)})),
		// Older than the row (lsn 150 < 200): does not overwrite it.
		e.rec(key(2), event("u", 150, nil, &row{2, "stale@example.com", "stale", "99.99", "", nil})),
		e.rec(key(3), event("c", 400, nil, full3)),
		e.rec(key(3), event("d", 500, full3, nil)),
		e.rec(key(3), nil), // the tombstone Debezium writes after a delete
		e.rec(nil, avroWire(t, valID, debeziumEnvelopeSchema, map[string]any{"before": nil, "after": nil,
			"source": map[string]any{"version": "2.7.0.Final", "connector": "postgresql", "name": "dbserver1", "ts_ms": int64(6000),
				"snapshot": map[string]any{"string": "false"}, "db": "inventory", "sequence": nil, "schema": "public",
				"table": "customers", "txId": nil, "lsn": map[string]any{"long": int64(600)}, "xmin": nil},
			"op": "t", "ts_ms": map[string]any{"long": int64(6001)}, "transaction": nil})),
		e.rec(key(4), event("c", 700, nil, full4)),
		e.rec(nil, event("d", 800, full4, nil)), // no Kafka key: deleted by "before"
	)

	// The same story in plain JSON.
	js := func(key, value string) *kgo.Record {
		r := &kgo.Record{Topic: topicJSON, Value: []byte(value)}
		if key != "" {
			r.Key = []byte(key)
		}
		if value == "" {
			r.Value = nil
		}
		return r
	}
	src := func(lsn int) string {
		return fmt.Sprintf(`{"version": "2.7.0.Final", "connector": "postgresql", "name": "dbserver1", "ts_ms": %d, "snapshot": "false", "db": "inventory", "schema": "public", "table": "customers", "txId": %d, "lsn": %d}`, lsn*10, lsn+1, lsn)
	}
	jsEvent := func(op string, lsn int, before, after string) string {
		return fmt.Sprintf(`{"before": %s, "after": %s, "source": %s, "op": %q, "ts_ms": %d, "transaction": null}`, before, after, src(lsn), op, lsn*10+1)
	}
	photo := `"AQI="` // base64 of 01 02, as Debezium's JSON converter writes bytes
	testenv.Produce(t, cl,
		js(`{"id": 10}`, jsEvent("r", 100, "null", `{"id": 10, "email": "a@example.com", "bio": "a long biography", "balance": 10.5, "updated_at": "2024-05-01T12:00:00Z", "photo": `+photo+`}`)),
		js(`{"id": 11}`, jsEvent("c", 200, "null", `{"id": 11, "email": "b@example.com", "bio": "bio 2", "balance": -3, "updated_at": null, "photo": null}`)),
		js(`{"id": 10}`, jsEvent("u", 300, "null", `{"id": 10, "email": "a2@example.com", "bio": "`+debeziumUnavailable+`", "balance": "11.00", "updated_at": "2024-05-01T12:30:00+02:00", "photo": "`+base64.StdEncoding.EncodeToString([]byte(debeziumUnavailable))+`"}`)),
		js(`{"id": 11}`, jsEvent("u", 150, "null", `{"id": 11, "email": "stale@example.com", "bio": "stale", "balance": 99.99}`)),
		js(`{"id": 12}`, jsEvent("c", 400, "null", `{"id": 12, "email": "c@example.com", "balance": 0.01}`)),
		js(`{"id": 12}`, jsEvent("d", 500, `{"id": 12, "email": "c@example.com"}`, "null")),
		js(`{"id": 12}`, ""),
		js("", jsEvent("t", 600, "null", "null")),
		js(`{"id": 13}`, jsEvent("c", 700, "null", `{"id": 13, "email": "d@example.com", "bio": "gone"}`)),
		js("", jsEvent("d", 800, `{"id": 13, "email": "d@example.com", "bio": "gone"}`, "null")),
	)

	cfg := e.config(registryYAML(sr) + `routes:
  - topic: {{topic}}
    table: customers
    key: {format: avro}
    value: {format: avro}
    mode: upsert
    unwrap: debezium
    version_column: __lsn
  - topic: ` + topicJSON + `
    table: customers_json
    key: {format: json}
    value: {format: json}
    mode: upsert
    unwrap: debezium
    version_column: __lsn
`)
	cfg = rewrite(t, cfg, "topics: ["+e.topic+"]", "topics: ["+e.topic+", "+topicJSON+"]")
	runToEnd(t, cfg)

	// One batch holds every event of a topic: r, then u with placeholders,
	// of the same key, are applied together.
	cols := []string{"id", "email", "bio", "balance", "updated_at", "photo", "__op", "__lsn", "__source_ts_ms", "__table", "__ts_ms"}
	checkLines(t, "customers (Avro)", e.rowTexts("customers", "id", cols...), []string{
		`1 | a2@example.com | a long biography | 11.00 | 2024-05-01 10:30:00+00 | \x0102 | u | 300 | 3000 | customers | 3001`,
		`2 | b@example.com | bio 2 | -3.00 | NULL | \x | c | 200 | 2000 | customers | 2001`,
	})
	checkLines(t, "customers_json", e.rowTexts("customers_json", "id", cols...), []string{
		`10 | a2@example.com | a long biography | 11.00 | 2024-05-01 10:30:00+00 | \x0102 | u | 300 | 3000 | customers | 3001`,
		`11 | b@example.com | bio 2 | -3.00 | NULL | NULL | c | 200 | 2000 | customers | 2001`,
	})
	if n := e.committedTotal(); n != 10 {
		t.Fatalf("committed offsets of the Avro topic add up to %d, want 10", n)
	}

	// A second run, so that the events meet rows already stored: a
	// placeholder leaves the stored value, an older event loses to the
	// stored __lsn. Then debezium.on_truncate: fail makes a truncate a
	// record error: the run stops there, after writing what came before.
	cfg = rewrite(t, cfg, "    unwrap: debezium\n", "    unwrap: debezium\n    debezium: {on_truncate: fail}\n")
	testenv.Produce(t, cl,
		e.rec(key(2), event("u", 900, nil, &row{2, "b2@example.com", debeziumUnavailable, "-4.00", "", []byte(debeziumUnavailable)})),
		e.rec(key(1), event("u", 250, nil, &row{1, "stale@example.com", "stale", "0.00", "", nil})),
		e.rec(key(5), event("c", 950, nil, &row{5, "e@example.com", "", "", "", nil})),
		e.rec(nil, avroWire(t, valID, debeziumEnvelopeSchema, map[string]any{"before": nil, "after": nil,
			"source": map[string]any{"version": "2.7.0.Final", "connector": "postgresql", "name": "dbserver1", "ts_ms": int64(10000),
				"snapshot": map[string]any{"string": "false"}, "db": "inventory", "sequence": nil, "schema": "public",
				"table": "customers", "txId": nil, "lsn": map[string]any{"long": int64(1000)}, "xmin": nil},
			"op": "t", "ts_ms": nil, "transaction": nil})),
		e.rec(key(6), event("c", 1100, nil, &row{6, "f@example.com", "", "", "", nil})),
	)
	p := start(t, "run", "--config", cfg)
	if code := p.wait(t, 60*time.Second); code != 1 {
		t.Fatalf("exit %d with on_truncate fail, want 1", code)
	}
	if want := fmt.Sprintf("topic %s partition 0 offset 13: ", e.topic); !strings.Contains(p.out.String(), want) || !strings.Contains(p.out.String(), "truncate") {
		t.Fatalf("output lacks %q and the word truncate:\n%s", want, tail(p.out.String(), 10))
	}
	checkLines(t, "customers after the truncate stop", e.rowTexts("customers", "id", "id", "email", "bio", "balance", "photo", "__lsn"), []string{
		`1 | a2@example.com | ` + e.texts(`SELECT coalesce(bio, 'NULL') FROM customers WHERE id = 1`)[0] + ` | 11.00 | ` +
			e.texts(`SELECT coalesce(photo::text, 'NULL') FROM customers WHERE id = 1`)[0] + ` | 300`, // as the first run left it
		`2 | b2@example.com | bio 2 | -4.00 | \x | 900`,
		`5 | e@example.com | NULL | NULL | NULL | 950`,
	})
	if n := e.committedTotal(); n != 13 {
		t.Fatalf("committed offsets of the Avro topic add up to %d after the stop, want 13 (up to the truncate)", n)
	}
}
