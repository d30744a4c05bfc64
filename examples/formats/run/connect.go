package main

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// connectSchema is the Connect schema Kafka Connect's JsonConverter
// (schemas.enable=true) writes in front of every order: a Decimal is bytes
// with parameters.scale, a Timestamp epoch milliseconds, a Date days since
// 1970-01-01; optional fields may be null.
const connectSchema = `{"type": "struct", "name": "com.example.shop.Order", "optional": false, "fields": [
  {"field": "order_id", "type": "int64", "optional": false},
  {"field": "customer", "type": "string", "optional": false},
  {"field": "amount", "type": "bytes", "optional": false, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
   "parameters": {"scale": "2", "connect.decimal.precision": "12"}},
  {"field": "currency", "type": "string", "optional": false},
  {"field": "status", "type": "string", "optional": false},
  {"field": "created_at", "type": "int64", "optional": false, "name": "org.apache.kafka.connect.data.Timestamp", "version": 1},
  {"field": "delivery_date", "type": "int32", "optional": true, "name": "org.apache.kafka.connect.data.Date", "version": 1},
  {"field": "note", "type": "string", "optional": true}]}`

type connectPayload struct {
	OrderID      int64   `json:"order_id"`
	Customer     string  `json:"customer"`
	Amount       string  `json:"amount"` // base64 of the unscaled two's-complement integer
	Currency     string  `json:"currency"`
	Status       string  `json:"status"`
	CreatedAt    int64   `json:"created_at"` // epoch milliseconds
	DeliveryDate *int32  `json:"delivery_date"`
	Note         *string `json:"note"`
}

// connectRecords writes each order as the envelope {"schema", "payload"},
// then a tombstone (a null value, as JsonConverter writes for a delete)
// for the last order, which the route's delete_on_tombstone turns into a
// DELETE.
func connectRecords(p *producer) ([]*kgo.Record, expectation, error) {
	orders, want := sampleOrders(p.count)
	recs := make([]*kgo.Record, 0, len(orders)+1)
	for _, o := range orders {
		payload, err := json.Marshal(connectPayload{
			OrderID:      o.ID,
			Customer:     o.Customer,
			Amount:       base64.StdEncoding.EncodeToString(twosComplement(o.unscaled())),
			Currency:     o.Currency,
			Status:       o.Status,
			CreatedAt:    o.CreatedAt.UnixMilli(),
			DeliveryDate: o.epochDays(),
			Note:         o.Note,
		})
		if err != nil {
			return nil, want, err
		}
		v := []byte(`{"schema": ` + connectSchema + `, "payload": ` + string(payload) + `}`)
		recs = append(recs, &kgo.Record{Key: []byte(strconv.FormatInt(o.ID, 10)), Value: v})
	}
	last := orders[len(orders)-1]
	recs = append(recs, &kgo.Record{Key: []byte(strconv.FormatInt(last.ID, 10))})
	delete(want, last.ID)
	return recs, want, nil
}
