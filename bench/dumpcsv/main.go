// Command dumpcsv reads every event of an orders topic (examples/orders/produce)
// from the start offsets to the end offsets seen when it starts, and writes the
// rows kafka2pg would write for them as a CSV file that psql's \copy loads
// into the orders table. It is the untimed preparation step of the
// PostgreSQL ingest ceiling in scripts/bench.sh.
//
//	go run ./bench/dumpcsv -brokers 127.0.0.1:9092 -topic bench_orders -out rows.csv
//
// The columns are, in this order, those of examples/orders/schema.sql minus
// ingested_at (left to its default, as kafka2pg leaves it):
//
//	order_id,customer_id,status,amount,currency,items,express,created_at,version
//
// One line per event, in partition order. Tombstones are refused: the
// benchmark produces none, so that row counts are exact. On success it prints
// one line to stdout: "events=N distinct_keys=K bytes=B".
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// order is one event's value, as examples/orders/produce writes it.
type order struct {
	OrderID    *int64          `json:"order_id"`
	CustomerID *int64          `json:"customer_id"`
	Status     string          `json:"status"`
	Amount     string          `json:"amount"`
	Currency   string          `json:"currency"`
	Items      json.RawMessage `json:"items"`
	Express    bool            `json:"express"`
	CreatedAt  string          `json:"created_at"`
	Version    *int64          `json:"version"`
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	topic := flag.String("topic", "bench_orders", "topic to read")
	out := flag.String("out", "", "CSV file to write (required)")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "dumpcsv: -out is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, strings.Split(*brokers, ","), *topic, *out); err != nil {
		fmt.Fprintln(os.Stderr, "dumpcsv:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, brokers []string, topic, out string) error {
	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	adm := kadm.NewClient(admCl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		admCl.Close()
		return fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	admCl.Close()
	if err != nil {
		return fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	if len(ends) == 0 {
		return fmt.Errorf("topic %s does not exist", topic)
	}

	// Consume each non-empty partition from its start offset up to its end.
	want := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition → end offset
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		if o.Offset > s.Offset {
			want[o.Partition] = kgo.NewOffset().At(s.Offset)
			remaining[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}),
		kgo.FetchMaxBytes(64<<20),
	)
	if err != nil {
		return err
	}
	defer cl.Close()

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)

	var events int64
	keys := map[int64]struct{}{}
	rec := make([]string, 9)
	var compact bytes.Buffer
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("%d partitions not read to their end: %w", len(remaining), ctx.Err())
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("fetching %s[%d]: %w", t, p, err))
		})
		if ferr != nil {
			return ferr
		}
		var rerr error
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Partition]
			if rerr != nil || !ok || r.Offset >= end {
				return
			}
			if r.Offset == end-1 {
				delete(remaining, r.Partition)
			}
			if r.Value == nil {
				rerr = fmt.Errorf("%s[%d]@%d is a tombstone; produce with -tombstones 0", r.Topic, r.Partition, r.Offset)
				return
			}
			var o order
			if err := json.Unmarshal(r.Value, &o); err != nil {
				rerr = fmt.Errorf("%s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			if o.OrderID == nil || o.CustomerID == nil || o.Version == nil {
				rerr = fmt.Errorf("%s[%d]@%d: order_id, customer_id or version missing", r.Topic, r.Partition, r.Offset)
				return
			}
			compact.Reset()
			items := ""
			if len(o.Items) > 0 && string(o.Items) != "null" {
				if err := json.Compact(&compact, o.Items); err != nil {
					rerr = fmt.Errorf("%s[%d]@%d: items: %w", r.Topic, r.Partition, r.Offset, err)
					return
				}
				items = compact.String()
			}
			rec[0] = strconv.FormatInt(*o.OrderID, 10)
			rec[1] = strconv.FormatInt(*o.CustomerID, 10)
			rec[2] = o.Status
			rec[3] = o.Amount
			rec[4] = o.Currency
			rec[5] = items // "" is written unquoted: NULL in COPY's CSV format
			rec[6] = strconv.FormatBool(o.Express)
			rec[7] = o.CreatedAt
			rec[8] = strconv.FormatInt(*o.Version, 10)
			if err := w.Write(rec); err != nil {
				rerr = err
				return
			}
			keys[*o.OrderID] = struct{}{}
			events++
		})
		if rerr != nil {
			return rerr
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("events=%d distinct_keys=%d bytes=%d\n", events, len(keys), st.Size())
	return nil
}
