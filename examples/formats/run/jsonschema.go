package main

import (
	"encoding/json"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

// jsonSchemaOrder is an order as the JSON Schema in order.schema.json
// describes it. The amount is a JSON number written with its exact digits.
type jsonSchemaOrder struct {
	OrderID      int64       `json:"order_id"`
	Customer     string      `json:"customer"`
	Amount       json.Number `json:"amount"`
	Currency     string      `json:"currency"`
	Status       string      `json:"status"`
	CreatedAt    string      `json:"created_at"`
	DeliveryDate *string     `json:"delivery_date"` // null when unknown
	Note         *string     `json:"note"`
}

// jsonSchemaRecords registers order.schema.json as "<topic>-value" and
// writes each order as JSON text behind the wire header.
func jsonSchemaRecords(p *producer) ([]*kgo.Record, expectation, error) {
	orders, want := sampleOrders(p.count)
	text, err := p.file("order.schema.json")
	if err != nil {
		return nil, want, err
	}
	id, err := p.register(p.topic+"-value", registry.TypeJSON, text)
	if err != nil {
		return nil, want, err
	}
	recs := make([]*kgo.Record, len(orders))
	for i, o := range orders {
		js, err := json.Marshal(jsonSchemaOrder{
			OrderID:      o.ID,
			Customer:     o.Customer,
			Amount:       json.Number(o.amountText()),
			Currency:     o.Currency,
			Status:       o.Status,
			CreatedAt:    o.CreatedAt.Format("2006-01-02T15:04:05.000Z07:00"),
			DeliveryDate: o.dateText(),
			Note:         o.Note,
		})
		if err != nil {
			return nil, want, err
		}
		recs[i] = &kgo.Record{Key: []byte(strconv.FormatInt(o.ID, 10)), Value: append(codec.AppendWire(nil, id), js...)}
	}
	return recs, want, nil
}
