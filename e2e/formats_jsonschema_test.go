package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

const formatsOrderSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Order",
  "type": "object",
  "properties": {
    "id": {"type": "integer", "minimum": 1},
    "sku": {"type": "string", "maxLength": 8, "pattern": "^[A-Z0-9-]+$"},
    "qty": {"type": "integer", "minimum": 0, "maximum": 1000},
    "price": {"type": "number"},
    "placed": {"type": "string", "format": "date-time"},
    "ship_on": {"type": "string", "format": "date"},
    "status": {"enum": ["new", "paid", "shipped"]},
    "meta": {"type": "object"},
    "note": {"type": ["string", "null"]}
  },
  "required": ["id", "sku", "qty"],
  "additionalProperties": false
}`

// JSON Schema through the registry: valid values land value by value
// (numbers exactly as written); a value that fails its schema is a decode
// record error. With tolerance none it stops the pipeline at that record,
// naming it, after writing and committing what came before; with a
// dead-letter table every failure is there with stage decode and the
// schema's complaint, and the table has exactly the valid records.
func TestFormatsJSONSchema(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	e.utc()
	sr := srtest.New(t)
	id := register(t, sr, e.topic+"-value", registry.TypeJSON, formatsOrderSchema)
	testenv.Exec(t, e.pool, `CREATE TABLE orders (id bigint PRIMARY KEY, sku varchar(8) NOT NULL, qty integer NOT NULL,
		price numeric, placed timestamptz, ship_on date, status text, meta jsonb, note text)`)
	values := []struct {
		json string
		bad  string // what the dead letter's reason must say; "" for a valid value
	}{
		{`{"id": 1, "sku": "A-1", "qty": 2, "price": 19.99, "placed": "2024-05-01T12:00:00.5+02:00", "ship_on": "2024-05-03", "status": "new", "meta": {"gift": true, "n": [1, 2]}, "note": "leave at door"}`, ""},
		{`{"id": 2, "sku": "B-2", "qty": 0, "price": 0.1, "status": "paid", "note": null}`, ""},
		{`{"id": 3, "sku": "C-3"}`, "/qty: required: missing"},
		{`{"id": 4, "sku": "C-4", "qty": 1000, "price": 123456789012345678901234567890.123456789}`, ""},
		{`{"id": 5, "sku": "TOO-LONG-1", "qty": 1}`, "/sku: maxLength: got 10 characters, want <= 8"},
		{`{"id": 6, "sku": "D-6", "qty": -1}`, "/qty: minimum: got -1, want >= 0"},
		{`{"id": "7", "sku": "D-7", "qty": 1}`, "/id: type: got string, want integer"},
		{`{"id": 8, "sku": "D-8", "qty": 1, "status": "lost"}`, "/status: enum"},
		{`{"id": 9, "sku": "D-9", "qty": 1, "colour": "red"}`, `/: additionalProperties: unexpected property "colour"`},
		{`{"id": 10, "sku": "D-10", "qty": 1, "placed": "yesterday"}`, "/placed: format"},
		{`{"id": 11, "sku": "lower", "qty": 1}`, "/sku: pattern"},
		{`{"id": 12, "sku": "ABCDEFGH", "qty": 5}`, ""},
	}
	cl := testenv.Client(t)
	for _, v := range values {
		testenv.Produce(t, cl, e.rec(nil, jsonWire(id, v.json)))
	}
	cfg := e.config(registryYAML(sr) + `routes:
  - topic: {{topic}}
    table: orders
    value: {format: json-schema}
`)

	// Tolerance none: stops at offset 2, the first invalid value.
	p := start(t, "run", "--config", cfg)
	if code := p.wait(t, 60*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if want := fmt.Sprintf("topic %s partition 0 offset 2: decode", e.topic); !strings.Contains(p.out.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, tail(p.out.String(), 10))
	}
	if !strings.Contains(p.out.String(), "/qty: required: missing") {
		t.Fatalf("output does not say what failed validation:\n%s", tail(p.out.String(), 10))
	}
	equalLines(t, "orders after the stop", e.texts(`SELECT id::text FROM orders ORDER BY id`), []string{"1", "2"})
	if n := e.committedTotal(); n != 2 {
		t.Fatalf("committed offsets add up to %d after the stop, want 2", n)
	}

	// Tolerance all with a dead-letter table: the rest goes through.
	cfg = rewrite(t, cfg, "routes:", "errors:\n  tolerance: all\n  dlq: {table: formats_dlq}\nroutes:")
	runToEnd(t, cfg)
	got := e.rowTexts("orders", "id", "id", "sku", "qty", "price", "placed", "ship_on", "status", "meta", "note")
	want := []string{
		`1 | A-1 | 2 | 19.99 | 2024-05-01 10:00:00.5+00 | 2024-05-03 | new | {"n": [1, 2], "gift": true} | leave at door`,
		`2 | B-2 | 0 | 0.1 | NULL | NULL | paid | NULL | NULL`,
		`4 | C-4 | 1000 | 123456789012345678901234567890.123456789 | NULL | NULL | NULL | NULL | NULL`,
		`12 | ABCDEFGH | 5 | NULL | NULL | NULL | NULL | NULL | NULL`,
	}
	equalLines(t, "orders", got, want)
	var wantDead []string
	bad := 0
	for off, v := range values {
		if v.bad != "" {
			bad++
			wantDead = append(wantDead, fmt.Sprint(off))
		}
	}
	rows, err := e.pool.Query(context.Background(), `SELECT "offset", stage, error_class, error, value, value_json IS NULL
		FROM formats_dlq WHERE topic = $1 ORDER BY "offset"`, e.topic)
	mustNoErr(t, err)
	defer rows.Close()
	var gotDead []string
	for rows.Next() {
		var off int64
		var stage, class, reason string
		var value []byte
		var noJSON bool
		mustNoErr(t, rows.Scan(&off, &stage, &class, &reason, &value, &noJSON))
		gotDead = append(gotDead, fmt.Sprint(off))
		v := values[off]
		if stage != "decode" || class != "record" {
			t.Errorf("dead letter at offset %d: stage %s, class %s; want decode, record", off, stage, class)
		}
		if prefix := fmt.Sprintf("topic %s partition 0 offset %d: decode: ", e.topic, off); !strings.HasPrefix(reason, prefix) || !strings.Contains(reason, v.bad) {
			t.Errorf("dead letter at offset %d: error %q; want it to start with %q and say %q", off, reason, prefix, v.bad)
		}
		if !bytes.Equal(value, jsonWire(id, v.json)) {
			t.Errorf("dead letter at offset %d: value %q, want the record's bytes", off, value)
		}
		if !noJSON {
			t.Errorf("dead letter at offset %d: value_json is set for a wire-format value", off)
		}
	}
	mustNoErr(t, rows.Err())
	equalLines(t, "dead-lettered offsets", gotDead, wantDead)
	if rowsN, dead := e.count("orders"), int64(bad); rowsN+dead != int64(len(values)) {
		t.Fatalf("%d rows + %d dead letters != %d records", rowsN, dead, len(values))
	}
	if n := e.committedTotal(); n != int64(len(values)) {
		t.Fatalf("committed offsets add up to %d, want %d", n, len(values))
	}
}
