package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Kafka Connect JSON (JsonConverter with schemas.enable=true): decimals
// (base64 unscaled bytes with a scale), dates and timestamps land exactly in
// typed columns; a null payload deletes; a value without the envelope stops
// the pipeline with a decode error naming the record.
func TestConnectJSON(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE products (id bigint PRIMARY KEY, price numeric(12,2) NOT NULL, since date, updated timestamptz)`)
	schema := `{"type": "struct", "name": "product", "fields": [
		{"field": "id", "type": "int64"},
		{"field": "price", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}},
		{"field": "since", "type": "int32", "optional": true, "name": "org.apache.kafka.connect.data.Date"},
		{"field": "updated", "type": "int64", "optional": true, "name": "org.apache.kafka.connect.data.Timestamp"}]}`
	dec := func(b ...byte) string { return base64.StdEncoding.EncodeToString(b) }
	rec := func(id int, payload string) *kgo.Record {
		return &kgo.Record{Topic: e.topic, Key: fmt.Appendf(nil, "%d", id), Value: []byte(`{"schema": ` + schema + `, "payload": ` + payload + `}`)}
	}
	testenv.Produce(t, testenv.Client(t),
		rec(1, `{"id": 1, "price": "`+dec(0x30, 0x39)+`", "since": 19723, "updated": 1700000000123}`), // 123.45
		rec(2, `{"id": 2, "price": "`+dec(0xff, 0x85)+`", "since": null, "updated": null}`),           // -1.23
		rec(3, `{"id": 3, "price": "`+dec(0x01)+`"}`),
		rec(3, `null`), // a null payload: delete
	)
	cfg := e.config(`routes:
  - topic: {{topic}}
    table: products
    value: {format: json-connect}
    mode: upsert
    delete_on_tombstone: true
`)
	runToEnd(t, cfg)
	rows, err := e.pool.Query(context.Background(), `SELECT concat_ws('|', id, price, coalesce(since::text, 'NULL'), coalesce((updated AT TIME ZONE 'UTC')::text, 'NULL')) FROM products ORDER BY id`)
	mustNoErr(t, err)
	var got []string
	for rows.Next() {
		var s string
		mustNoErr(t, rows.Scan(&s))
		got = append(got, s)
	}
	want := []string{"1|123.45|2024-01-01|2023-11-14 22:13:20.123", "2|-1.23|NULL|NULL"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("products = %q, want %q", got, want)
	}

	// A plain JSON value on a json-connect route is a decode error.
	testenv.Produce(t, testenv.Client(t), &kgo.Record{Topic: e.topic, Key: []byte("4"), Value: []byte(`{"id": 4, "price": 1}`)})
	p := start(t, "run", "--config", cfg)
	if code := p.wait(t, 60*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if want := fmt.Sprintf("topic %s partition 0 offset 4: decode", e.topic); !strings.Contains(p.out.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, tail(p.out.String(), 5))
	}
}
