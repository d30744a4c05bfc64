package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Two instances with exactly-once, auto_create and auto_evolve start
// together on a topic whose records move from schema v1 to v2 (a new
// optional field, a wider decimal) halfway through every partition. They
// race to create the table and to evolve it: the advisory lock serialises
// them, the table ends with the v2 shape, and every record is in it exactly
// once, with its stored offset.
func TestFormatsEvolveConcurrentExactlyOnce(t *testing.T) {
	parallel(t)
	const parts, perPart = 6, 200
	e := newEnv(t, parts)
	sr := srtest.New(t)
	v1 := `{"type": "record", "name": "Payment", "fields": [
		{"name": "id", "type": "long"},
		{"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}}]}`
	v2 := `{"type": "record", "name": "Payment", "fields": [
		{"name": "id", "type": "long"},
		{"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 14, "scale": 2}},
		{"name": "coupon", "type": ["null", "string"], "default": null}]}`
	id1 := register(t, sr, e.topic+"-value", "AVRO", v1)
	id2 := register(t, sr, e.topic+"-value", "AVRO", v2)
	var recs []*kgo.Record
	for p := range parts {
		for i := range perPart {
			n := int64(p*perPart + i)
			var value []byte
			if i < perPart/2 {
				value = avroWire(t, id1, v1, map[string]any{"id": n, "amount": rat(fmt.Sprintf("%d.25", n))})
			} else {
				value = avroWire(t, id2, v2, map[string]any{"id": n, "amount": rat(fmt.Sprintf("%d.75", n+100_000_000)),
					"coupon": map[string]any{"string": fmt.Sprint("C", n)}})
			}
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(p), Value: value})
		}
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	cfg := e.config(registryYAML(sr) + `delivery: exactly-once
batch: {max_rows: 50}
routes:
  - topic: {{topic}}
    table: payments
    value: {format: avro}
    auto_create: true
    auto_evolve: true
`)
	a := start(t, "run", "--config", cfg)
	b := start(t, "run", "--config", cfg)
	total := parts * perPart
	eventually(t, 90*time.Second, "every record in the table", func() bool {
		if e.texts(`SELECT (to_regclass('payments') IS NOT NULL)::text`)[0] != "true" {
			return false
		}
		return e.count("payments") == int64(total)
	})
	a.signal(syscall.SIGTERM)
	b.signal(syscall.SIGTERM)
	for _, p := range []*proc{a, b} {
		if code := p.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("exit %d:\n%s", code, tail(p.out.String(), 20))
		}
	}
	// Exactly once: as many rows as records, each id once, offsets stored.
	got := e.texts(`SELECT concat_ws(' ', count(*), count(DISTINCT id), count(coupon), min(amount), max(amount)) FROM payments`)
	want := fmt.Sprintf("%d %d %d 0.25 %d.75", total, total, total/2, 100_000_000+total-1)
	if got[0] != want {
		t.Fatalf("payments: %s, want %s", got[0], want)
	}
	var stored int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT sum(next_offset) FROM kafka2pg_offsets WHERE "group" = $1`, e.group).Scan(&stored))
	if stored != int64(total) {
		t.Fatalf("stored offsets sum to %d, want %d", stored, total)
	}
	// The v2 shape: the decimal widened, the new field a nullable column.
	cols := e.texts(`SELECT concat_ws(' ', attname, format_type(atttypid, atttypmod), attnotnull) FROM pg_attribute
		WHERE attrelid = 'payments'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)
	equalLines(t, "payments columns", cols, []string{"id bigint t", "amount numeric(14,2) t", "coupon text f"})
	// v1 rows have no coupon; every v2 row has its own.
	if bad := e.texts(`SELECT count(*)::text FROM payments WHERE (amount < 100000000) <> (coupon IS NULL) OR coupon <> 'C' || id`); bad[0] != "0" {
		t.Fatalf("%s rows with the wrong coupon", bad[0])
	}
	// The table was created once and evolved once across both instances
	// (the loser of each race found the change made and ran nothing).
	out := a.out.String() + b.out.String()
	if c, v := strings.Count(out, "auto_create: table created"), strings.Count(out, "auto_evolve: table changed"); c != 1 || v != 1 {
		t.Fatalf("%d creates and %d evolutions logged, want 1 and 1", c, v)
	}
}
