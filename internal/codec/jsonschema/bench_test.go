package jsonschema

import (
	"context"
	"testing"

	"github.com/valyala/fastjson"
)

const benchSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "order_id": {"type": "string", "format": "uuid"},
    "customer_id": {"type": "integer", "minimum": 1},
    "status": {"enum": ["NEW", "PAID", "SHIPPED"]},
    "total": {"type": "number", "minimum": 0},
    "currency": {"type": "string", "maxLength": 3},
    "created_at": {"type": "string", "format": "date-time"},
    "paid": {"type": "boolean"},
    "note": {"type": ["string", "null"]},
    "shipping": {
      "type": "object",
      "properties": {"street": {"type": "string"}, "city": {"type": "string"}, "zip": {"type": "string", "maxLength": 10}},
      "required": ["city"]
    },
    "lines": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}, "price": {"type": "number"}},
        "required": ["sku", "qty"]
      }
    }
  },
  "required": ["order_id", "customer_id", "status", "total", "created_at"]
}`

const benchRecord = `{"order_id":"3f0b8c0e-6a5e-4d7b-9a51-1c2f4e7d9b10","customer_id":42,"status":"PAID","total":129.95,` +
	`"currency":"EUR","created_at":"2024-05-01T12:00:00.123456Z","paid":true,"note":null,` +
	`"shipping":{"street":"Main St 1","city":"Amsterdam","zip":"1011AB"},` +
	`"lines":[{"sku":"A-1","qty":2,"price":49.99},{"sku":"B-7","qty":1,"price":29.97}]}`

// BenchmarkDecode decodes one ~10-field order record with validation, on
// all CPUs, and reports records per second.
func BenchmarkDecode(b *testing.B) {
	reg := newFake()
	reg.add(1, "", benchSchema)
	d := New(reg)
	data := wire(1, benchRecord)
	var a fastjson.Arena
	if _, _, err := d.Decode(context.Background(), data, &a); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var a fastjson.Arena
		for pb.Next() {
			a.Reset()
			if _, _, err := d.Decode(context.Background(), data, &a); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
