package kafka2pg_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"

	"github.com/kafka2pg/kafka2pg"
	"github.com/kafka2pg/kafka2pg/config"
)

// A Go transform turns an order into a row of the route's table and one
// row per item in another table, and rejects orders that break a rule: the
// error makes the record a dead letter (or stops the pipeline).
func ExampleTransformFunc() {
	fn := func(ctx context.Context, r *kafka2pg.Record) ([]kafka2pg.Row, error) {
		order := r.Decoded.(map[string]any)
		items := order["items"].([]any)
		if len(items) == 0 {
			return nil, errors.New("an order without items")
		}
		rows := []kafka2pg.Row{{Values: map[string]any{"id": order["id"], "lines": len(items)}}}
		for i, it := range items {
			rows = append(rows, kafka2pg.Row{Table: "order_items", Op: kafka2pg.Upsert,
				Values: map[string]any{"order_id": order["id"], "line": i, "sku": it.(map[string]any)["sku"]}})
		}
		return rows, nil
	}

	// What the engine hands the function for {"id": 7, "items": [{"sku": "a"}, {"sku": "b"}]}:
	rec := &kafka2pg.Record{Topic: "orders", Offset: 42, Decoded: map[string]any{
		"id": json.Number("7"), "items": []any{map[string]any{"sku": "a"}, map[string]any{"sku": "b"}}}}
	rows, _ := fn(context.Background(), rec)
	for _, row := range rows {
		fmt.Printf("%q %v %v\n", row.Table, row.Op, row.Values)
	}
	_, err := fn(context.Background(), &kafka2pg.Record{Decoded: map[string]any{"id": json.Number("8"), "items": []any{}}})
	fmt.Println(err)
	// Output:
	// "" 0 map[id:7 lines:2]
	// "order_items" 1 map[line:0 order_id:7 sku:a]
	// "order_items" 1 map[line:1 order_id:7 sku:b]
	// an order without items
}

// A pipeline whose route named "orders" gets its rows from a Go transform,
// four records of a partition at a time.
func ExampleWithTransform() {
	cfg, err := config.Load("pipeline.yaml")
	if err != nil {
		log.Fatal(err) // a *config.ValidationError lists every problem
	}
	enrich := func(ctx context.Context, r *kafka2pg.Record) ([]kafka2pg.Row, error) {
		// … look something up; return kafka2pg.Retryable(err) when the
		// service is down, so that the record is retried, not dead-lettered.
		return []kafka2pg.Row{{Values: map[string]any{"id": r.Decoded.(map[string]any)["id"]}}}, nil
	}
	p, err := kafka2pg.New(context.Background(), cfg,
		kafka2pg.WithTransform("orders", enrich),
		kafka2pg.WithTransformConcurrency(4))
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
