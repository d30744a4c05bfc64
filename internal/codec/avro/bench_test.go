package avro

import (
	"context"
	"testing"

	"github.com/valyala/fastjson"
)

// BenchmarkDecode decodes an order record of 11 fields (decimal, timestamp,
// date, enum, nullable uuid, nested record, map, and an array of three
// records with fixed decimals) with a warm schema cache.
func BenchmarkDecode(b *testing.B) {
	src := newFake()
	src.add(7, orderSchema)
	d := New(src)
	data := encode(b, 7, orderSchema, orderRecord(3))
	var a fastjson.Arena
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		a.Reset()
		if _, _, err := d.Decode(ctx, data, &a); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
