package main

import (
	"fmt"
	"strconv"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// avroRecords registers order.avsc and order-v2.avsc (which adds the
// optional field coupon) as versions 1 and 2 of "<topic>-value" and encodes
// the first half of the orders with version 1, the rest with version 2, as
// a producer does that is upgraded while the topic is being written.
func avroRecords(p *producer) ([]*kgo.Record, expectation, error) {
	orders, want := sampleOrders(p.count)
	var versions [2]struct {
		id     int
		schema avro.Schema
	}
	for i, file := range []string{"order.avsc", "order-v2.avsc"} {
		text, err := p.file(file)
		if err != nil {
			return nil, want, err
		}
		if versions[i].id, err = p.register(p.topic+"-value", "", text); err != nil {
			return nil, want, err
		}
		if versions[i].schema, err = avro.ParseWithCache(text, "", &avro.SchemaCache{}); err != nil {
			return nil, want, fmt.Errorf("%s: %w", file, err)
		}
	}
	recs := make([]*kgo.Record, len(orders))
	for i, o := range orders {
		v := map[string]any{
			"order_id":      o.ID,
			"customer":      o.Customer,
			"amount":        o.Amount,
			"currency":      o.Currency,
			"status":        o.Status,
			"created_at":    o.CreatedAt,
			"delivery_date": nil,
			"note":          nil,
		}
		// A union branch is named by its type ("int.date" for a logical
		// type); nil is the null branch.
		if o.DeliveryDate != nil {
			v["delivery_date"] = map[string]any{"int.date": *o.DeliveryDate}
		}
		if o.Note != nil {
			v["note"] = map[string]any{"string": *o.Note}
		}
		ver := versions[0]
		if i >= len(orders)/2 {
			ver = versions[1]
			v["coupon"] = nil
			if o.ID%3 == 0 {
				v["coupon"] = map[string]any{"string": "SPRING26"}
			}
		}
		datum, err := avro.Marshal(ver.schema, v)
		if err != nil {
			return nil, want, fmt.Errorf("order %d: %w", o.ID, err)
		}
		recs[i] = &kgo.Record{
			Key:   []byte(strconv.FormatInt(o.ID, 10)),
			Value: append(codec.AppendWire(nil, ver.id), datum...),
		}
	}
	return recs, want, nil
}
