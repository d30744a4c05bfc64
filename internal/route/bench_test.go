package route

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// The per-record cost of a route's mapping: by name, and with the five CEL
// columns and the filter of make bench's transform runs. ns/op and
// allocs/op are per record.
func BenchmarkMapper(b *testing.B) {
	for _, tc := range []struct {
		name string
		rc   config.Route
	}{
		{"by-name", config.Route{Topic: "orders", Table: "orders", Mode: config.ModeInsert}},
		{"cel", config.Route{Topic: "orders", Table: "orders", Mode: config.ModeInsert,
			Filter: `value.order_id > 0 && value.status != 'test'`,
			Columns: map[string]string{"order_id": "value.order_id", "customer_id": "int(value.customer_id)",
				"status": "value.status.lowerAscii()", "currency": "value.currency.upperAscii()", "version": "value.version + 0"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m := benchMapper(b, tc.rc)
			recs := benchRecords(1024)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r := recs[i%len(recs)]
				rows, err := m.Map(ctx, r, nil)
				if err != nil || len(rows) != 1 {
					b.Fatalf("%v %d", err, len(rows))
				}
				m.Flushed()
			}
		})
	}
}

func benchMapper(tb testing.TB, rc config.Route) *Mapper {
	tb.Helper()
	cfg := &config.Config{Routes: []config.Route{rc}}
	progs, err := Compile(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	r := &Route{Name: "orders", Cfg: &cfg.Routes[0], Programs: progs[0], mode: table.Insert,
		base: transform.Spec{Key: format.String, Value: format.JSON, Mode: table.Insert}}
	r.static = &Target{Route: r, name: "orders", TableName: `"orders"`}
	b, err := r.static.bind(benchTable(tb))
	if err != nil {
		tb.Fatal(err)
	}
	r.static.cur.Store(b)
	m, err := NewMapper([]*Route{r}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), telemetry.NewMetrics())
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// benchTable is examples/orders/schema.sql.
func benchTable(tb testing.TB) *table.Table {
	col := func(name, typname string, typmod int32, formatted string, oid uint32) table.Column {
		ty, err := coerce.TypeFor(typname, 'b', typmod, formatted, oid, nil, nil)
		if err != nil {
			tb.Fatal(err)
		}
		return table.Column{Name: name, Type: ty, TypeName: formatted}
	}
	return table.NewTable("public", "orders", []table.Column{
		col("order_id", "int8", -1, "bigint", 20),
		col("customer_id", "int8", -1, "bigint", 20),
		col("status", "text", -1, "text", 25),
		col("amount", "numeric", (12<<16|2)+4, "numeric(12,2)", 1700),
		col("currency", "text", -1, "text", 25),
		col("items", "jsonb", -1, "jsonb", 3802),
		col("express", "bool", -1, "boolean", 16),
		col("created_at", "timestamptz", -1, "timestamp with time zone", 1184),
		col("version", "int8", -1, "bigint", 20),
	}, nil)
}

func benchRecords(n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range recs {
		v := fmt.Sprintf(`{"order_id":%d,"customer_id":%d,"status":"paid","amount":"%d.25","currency":"EUR","items":[{"sku":"SKU-%05d","qty":2}],"express":false,"created_at":%q,"version":%d}`,
			i+1, 1000+i, i, i, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), 1+i%7)
		recs[i] = &kgo.Record{Topic: "orders", Offset: int64(i), Key: []byte(fmt.Sprint(i + 1)), Value: []byte(v), Timestamp: base}
	}
	return recs
}
