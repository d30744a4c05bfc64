package coerce_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// orderRow is a typical order record and the column types it maps to.
const orderRow = `{
	"order_id": 9007199254740993,
	"customer": "Zoë O'Brien",
	"sku": "SKU-2024-000123",
	"total": "1234.56",
	"created_at": "2024-05-17T13:45:12.123456Z",
	"paid": true,
	"request_id": "123e4567-e89b-12d3-a456-426614174000",
	"attrs": {"channel": "web", "items": [{"sku": "SKU-2024-000123", "qty": 2}], "gift": false}
}`

func orderColumns(tb testing.TB) ([]string, []*coerce.Type) {
	return []string{"order_id", "customer", "sku", "total", "created_at", "paid", "request_id", "attrs"},
		[]*coerce.Type{
			base(tb, "int8", -1, "bigint", pgtype.Int8OID),
			base(tb, "text", -1, "text", pgtype.TextOID),
			base(tb, "varchar", varcharMod(32), "character varying(32)", pgtype.VarcharOID),
			base(tb, "numeric", numericMod(12, 2), "numeric(12,2)", pgtype.NumericOID),
			base(tb, "timestamptz", -1, "timestamp with time zone", pgtype.TimestamptzOID),
			base(tb, "bool", -1, "boolean", pgtype.BoolOID),
			base(tb, "uuid", -1, "uuid", pgtype.UUIDOID),
			base(tb, "jsonb", -1, "jsonb", pgtype.JSONBOID),
		}
}

// BenchmarkFromJSON converts the 8 columns of one order row per op; the JSON
// is parsed once, outside the loop.
func BenchmarkFromJSON(b *testing.B) {
	names, types := orderColumns(b)
	var p fastjson.Parser
	row, err := p.Parse(orderRow)
	if err != nil {
		b.Fatal(err)
	}
	values := make([]*fastjson.Value, len(names))
	for i, n := range names {
		values[i] = row.Get(n)
	}
	out := make([]any, len(types))
	b.ReportAllocs()
	for b.Loop() {
		for i, typ := range types {
			v, err := typ.FromJSON(values[i])
			if err != nil {
				b.Fatal(err)
			}
			out[i] = v
		}
	}
}

// BenchmarkFromJSONKind is the same row, one column per sub-benchmark.
func BenchmarkFromJSONKind(b *testing.B) {
	names, types := orderColumns(b)
	var p fastjson.Parser
	row, err := p.Parse(orderRow)
	if err != nil {
		b.Fatal(err)
	}
	for i, typ := range types {
		v := row.Get(names[i])
		b.Run(typ.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := typ.FromJSON(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The allocation budget of the order row: the result values only.
func TestFromJSONAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not stable under the race detector")
	}
	names, types := orderColumns(t)
	var p fastjson.Parser
	row, err := p.Parse(orderRow)
	if err != nil {
		t.Fatal(err)
	}
	budget := map[string]float64{
		"order_id":   1, // int64 in an interface
		"customer":   2, // string bytes, string in an interface
		"sku":        2,
		"total":      2, // numeric box, Numeric in an interface
		"created_at": 1, // time.Time in an interface
		"paid":       0,
		"request_id": 1, // [16]byte in an interface
		"attrs":      2, // JSON bytes, slice in an interface
	}
	for i, typ := range types {
		v := row.Get(names[i])
		got := testing.AllocsPerRun(200, func() {
			if _, err := typ.FromJSON(v); err != nil {
				t.Fatal(err)
			}
		})
		if got > budget[names[i]] {
			t.Errorf("%s (%s): %v allocations per value, budget %v", names[i], typ.Name, got, budget[names[i]])
		}
	}
}
