// Command produce writes sample order events to a Kafka topic for the demo
// and the benchmark: JSON values of about 200 bytes, string keys (the order
// id), repeated keys (later versions of an order) and some tombstones.
//
//	go run ./examples/orders/produce -brokers 127.0.0.1:9092 -topic orders -count 100000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	topic := flag.String("topic", "orders", "topic to write")
	partitions := flag.Int("partitions", 8, "partitions when the topic is created")
	count := flag.Int("count", 100000, "events to produce")
	keys := flag.Int("keys", 0, "distinct order ids (0 = count*6/10: repeated keys)")
	tombstones := flag.Float64("tombstones", 0.01, "fraction of events that are tombstones (deletes)")
	recreate := flag.Bool("recreate", false, "delete and create the topic first")
	seed := flag.Uint64("seed", 1, "random seed (the same seed gives the same events)")
	flag.Parse()
	if *keys <= 0 {
		*keys = max(*count*6/10, 1)
	}
	if err := run(*brokers, *topic, *partitions, *count, *keys, *tombstones, *recreate, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "produce:", err)
		os.Exit(1)
	}
}

// Order is one event's value.
type Order struct {
	OrderID    int64           `json:"order_id"`
	CustomerID int64           `json:"customer_id"`
	Status     string          `json:"status"`
	Amount     string          `json:"amount"`
	Currency   string          `json:"currency"`
	Items      []Item          `json:"items"`
	Express    bool            `json:"express"`
	CreatedAt  string          `json:"created_at"`
	Version    int64           `json:"version"`
	Extra      json.RawMessage `json:"extra,omitempty"`
}

// Item is one line of an order.
type Item struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

var statuses = []string{"new", "paid", "shipped", "delivered", "cancelled"}

func run(brokers, topic string, partitions, count, keys int, tombstones float64, recreate bool, seed uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(brokers, ",")...),
		kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(100000),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if recreate {
		if _, err := adm.DeleteTopics(ctx, topic); err != nil {
			return fmt.Errorf("deleting topic %s: %w", topic, err)
		}
		// Topic deletion is asynchronous; wait until creation succeeds.
		time.Sleep(time.Second)
	}
	for attempt := 0; ; attempt++ {
		resp, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, topic)
		if err == nil && resp.Err == nil || errors.Is(resp.Err, kerr.TopicAlreadyExists) && !recreate {
			break
		}
		if attempt > 30 {
			return fmt.Errorf("creating topic %s: %v %v", topic, err, resp.Err)
		}
		time.Sleep(500 * time.Millisecond)
	}

	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	versions := make(map[int64]int64)
	alive := make(map[int64]bool) // the model: which orders exist after the last event
	start := time.Now()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	errs := make(chan error, 1)
	for i := 0; i < count; i++ {
		id := int64(rng.IntN(keys)) + 1
		versions[id]++
		rec := &kgo.Record{Key: []byte(strconv.FormatInt(id, 10))}
		alive[id] = false
		if rng.Float64() >= tombstones {
			alive[id] = true
			o := Order{
				OrderID:    id,
				CustomerID: int64(rng.IntN(50000)) + 1,
				Status:     statuses[rng.IntN(len(statuses))],
				Amount:     fmt.Sprintf("%d.%02d", rng.IntN(100000), rng.IntN(100)),
				Currency:   "EUR",
				Items:      []Item{{SKU: fmt.Sprintf("SKU-%05d", rng.IntN(99999)), Qty: rng.IntN(5) + 1}},
				Express:    rng.IntN(4) == 0,
				CreatedAt:  base.Add(time.Duration(id) * time.Second).Format(time.RFC3339),
				Version:    versions[id],
			}
			if rec.Value, err = json.Marshal(o); err != nil {
				return err
			}
		}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
		select {
		case err := <-errs:
			return fmt.Errorf("producing: %w", err)
		default:
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return fmt.Errorf("producing: %w", err)
	default:
	}
	el := time.Since(start)
	n := 0
	for _, ok := range alive {
		if ok {
			n++
		}
	}
	fmt.Fprintf(os.Stderr, "produced %d events (%d distinct keys) to %s in %s (%.0f/s)\n",
		count, len(versions), topic, el.Round(time.Millisecond), float64(count)/el.Seconds())
	// The last line is the expected row count of an upsert sink with
	// delete_on_tombstone, for scripts to compare with.
	fmt.Printf("expected_rows=%d\n", n)
	return nil
}
