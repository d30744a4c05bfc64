package main

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// debeziumRecords plays the part of Debezium's PostgreSQL connector with the
// AvroConverter capturing a table public.orders: it registers key.avsc as
// "<topic>-key" and envelope.avsc as "<topic>-value", then writes count
// change events: a snapshot (op r) of the first quarter of the orders, then
// inserts (c), updates (u) and deletes (d, each followed by the tombstone
// Debezium sends for log compaction), in that order at first so that every
// kind occurs, then at random. The source's LSN grows with every
// transaction. The expectation is the table as the source has it after the
// last event.
func debeziumRecords(p *producer) ([]*kgo.Record, expectation, error) {
	var keyID, valueID int
	var keySchema, valueSchema avro.Schema
	for _, s := range []struct {
		file, subject string
		id            *int
		schema        *avro.Schema
	}{
		{"key.avsc", p.topic + "-key", &keyID, &keySchema},
		{"envelope.avsc", p.topic + "-value", &valueID, &valueSchema},
	} {
		text, err := p.file(s.file)
		if err != nil {
			return nil, nil, err
		}
		if *s.id, err = p.register(s.subject, "", text); err != nil {
			return nil, nil, err
		}
		if *s.schema, err = avro.ParseWithCache(text, "", &avro.SchemaCache{}); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s.file, err)
		}
	}

	rng := rand.New(rand.NewPCG(7, 11))
	source := map[int64]order{} // the captured table
	var recs []*kgo.Record
	snapshot := max(1, p.count/4)
	lsn := int64(24_023_128)
	tx := int64(771)
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	nextID := int64(1)
	ops := map[string]int{}
	for i := range p.count {
		op := "c"
		switch {
		case i < snapshot:
			op = "r"
		case i == snapshot:
			op = "c"
		case i == snapshot+1:
			op = "u"
		case i == snapshot+2:
			op = "d"
		default:
			switch x := rng.IntN(10); {
			case len(source) == 0 || x < 4:
				op = "c"
			case x < 8:
				op = "u"
			default:
				op = "d"
			}
		}
		ops[op]++
		at = at.Add(time.Duration(250+rng.IntN(5000)) * time.Millisecond)
		if op != "r" { // a snapshot reads at one LSN; every change is a new transaction
			lsn += int64(64 + rng.IntN(4096))
			tx++
		}
		var before, after *order
		var id int64
		switch op {
		case "r", "c":
			id = nextID
			nextID++
			o := sampleOrder(id)
			after = &o
			source[id] = o
		case "u":
			id = pick(rng, source)
			b := source[id]
			a := update(rng, b)
			before, after = &b, &a
			source[id] = a
		case "d":
			id = pick(rng, source)
			b := source[id]
			before = &b
			delete(source, id)
		}
		src := map[string]any{
			"version": "2.7.3.Final", "connector": "postgresql", "name": "shop",
			"ts_ms": at.UnixMilli(), "snapshot": map[string]any{"string": "false"},
			"db": "shop", "sequence": nil, "schema": "public", "table": "orders",
			"txId": map[string]any{"long": tx}, "lsn": map[string]any{"long": lsn}, "xmin": nil,
		}
		if op == "r" {
			src["snapshot"] = map[string]any{"string": "true"}
			if i == snapshot-1 {
				src["snapshot"] = map[string]any{"string": "last"}
			}
		} else {
			src["sequence"] = map[string]any{"string": fmt.Sprintf(`["%d","%d"]`, lsn-64, lsn)}
		}
		envelope := map[string]any{
			"before": debeziumRow(before), "after": debeziumRow(after), "source": src, "op": op,
			"ts_ms":       map[string]any{"long": at.Add(42 * time.Millisecond).UnixMilli()},
			"transaction": nil,
		}
		key, err := avro.Marshal(keySchema, map[string]any{"id": id})
		if err != nil {
			return nil, nil, err
		}
		value, err := avro.Marshal(valueSchema, envelope)
		if err != nil {
			return nil, nil, fmt.Errorf("event %d (op %s, id %d): %w", i, op, id, err)
		}
		k := append(codec.AppendWire(nil, keyID), key...)
		recs = append(recs, &kgo.Record{Key: k, Value: append(codec.AppendWire(nil, valueID), value...)})
		if op == "d" {
			recs = append(recs, &kgo.Record{Key: k}) // the tombstone after a delete
		}
	}
	fmt.Printf("change events: %d r, %d c, %d u, %d d (each d followed by a tombstone)\n", ops["r"], ops["c"], ops["u"], ops["d"])
	return recs, expectation(source), nil
}

// pick returns one of the ids in source, at random but reproducibly.
func pick(rng *rand.Rand, source map[int64]order) int64 {
	ids := make([]int64, 0, len(source))
	for id := range source {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids[rng.IntN(len(ids))]
}

// update is an UPDATE of the source row: the order moves on, and its
// amount or note may change.
func update(rng *rand.Rand, o order) order {
	switch o.Status {
	case "NEW":
		o.Status = "PAID"
	case "PAID":
		o.Status = "SHIPPED"
		d := o.CreatedAt.Truncate(24*time.Hour).AddDate(0, 0, 3)
		o.DeliveryDate = &d
	default:
		o.Status = "CANCELLED"
	}
	if rng.IntN(2) == 0 && o.ID > 3 { // orders 1-3 keep their edge-case amounts
		o.Amount = new(big.Rat).Add(o.Amount, big.NewRat(int64(rng.IntN(2000))-1000, 100))
	}
	if rng.IntN(3) == 0 {
		o.Note = ptr("updated by support")
	} else if rng.IntN(3) == 0 {
		o.Note = nil
	}
	return o
}

// debeziumRow is the union ["null", Value] of before and after.
func debeziumRow(o *order) any {
	if o == nil {
		return nil
	}
	row := map[string]any{
		"id": o.ID, "customer": o.Customer, "amount": o.Amount, "currency": o.Currency, "status": o.Status,
		// timestamptz columns are io.debezium.time.ZonedTimestamp: ISO 8601 text.
		"created_at":    o.CreatedAt.Format("2006-01-02T15:04:05.000Z07:00"),
		"delivery_date": nil, "note": nil,
	}
	if o.DeliveryDate != nil {
		row["delivery_date"] = map[string]any{"int.date": *o.DeliveryDate}
	}
	if o.Note != nil {
		row["note"] = map[string]any{"string": *o.Note}
	}
	return map[string]any{"shop.public.orders.Value": row}
}
