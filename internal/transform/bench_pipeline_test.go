package transform

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/kafka2pg/kafka2pg/internal/table"
)

// BenchmarkDecodeCoerceEncode is a record's whole CPU path in kafka2pg
// before the wire, per value format: Mapper.Map (decode, then coerce every
// field into its column's Go value) and the row's binary COPY tuple, as
// pgwrite's copyReader encodes it (coerce.Type.AppendBinary per column,
// into a reused buffer). allocs/op and B/op are per record: rows take their
// slots from slabs shared by 128 rows, so a few allocations are amortised.
//
//	go test -run '^$' -bench BenchmarkDecodeCoerceEncode -benchmem -cpu 1 ./internal/transform/
func BenchmarkDecodeCoerceEncode(b *testing.B) {
	cases := formatsCases(b)
	ctx := context.Background()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			cols := c.mapper.spec.Table.Columns
			buf := make([]byte, 0, 4096)
			var row table.Row
			b.ReportAllocs()
			for b.Loop() {
				if err := c.mapper.Map(ctx, c.rec, &row); err != nil {
					b.Fatal(err)
				}
				buf = binary.BigEndian.AppendUint16(buf[:0], uint16(len(cols)))
				for i, col := range cols {
					v := row.Vals[i]
					if v == nil || !row.Set.Has(i) {
						buf = binary.BigEndian.AppendUint32(buf, 0xffffffff)
						continue
					}
					at := len(buf)
					buf = append(buf, 0, 0, 0, 0)
					var ok bool
					if buf, ok = col.Type.AppendBinary(buf, v); !ok {
						b.Fatalf("%s: no binary encoder for column %s (%T)", c.name, col.Name, v)
					}
					binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
