// Command shapes is the Kafka side of three figures of the benchmark
// (scripts/bench.sh):
//
//	shapes steady -brokers B -topic T [-rate 5000] [-seconds 30] [-first 1]
//	shapes wide   -brokers B -topic T -count N -csv rows.csv [-columns 60]
//	shapes jsonb  -brokers B -topic T -count N -csv rows.csv [-kib 10]
//
// steady produces small JSON records ({"id", "note"}) at a steady rate,
// spread over the topic's partitions, each sent as soon as it is made (no
// linger), for the produce → row latency probe; the table computes the
// latency from the record's Kafka timestamp. It prints "produced=N".
//
// wide writes N JSON records of -columns fields (c1 … cN: bigint, text,
// numeric and boolean in turn, about 20 bytes each) and the same rows as CSV
// for psql's \copy; jsonb writes N records {"id", "doc"} whose doc is a JSON
// object of about -kib KiB, and the same rows as CSV. Both (re)create the
// topic with 8 partitions and print "events=N bytes=B" (B: value bytes).
package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: shapes steady|wide|jsonb [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "bootstrap brokers")
	topic := fs.String("topic", "", "topic")
	rate := fs.Int("rate", 5000, "steady: records per second")
	seconds := fs.Int("seconds", 30, "steady: how long")
	first := fs.Int("first", 1, "steady: the first record's id")
	count := fs.Int("count", 100000, "wide, jsonb: records")
	csvPath := fs.String("csv", "", "wide, jsonb: where the rows go as CSV")
	columns := fs.Int("columns", 60, "wide: fields per record")
	kib := fs.Int("kib", 10, "jsonb: size of each document in KiB")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "steady":
		err = steady(*brokers, *topic, *rate, *seconds, *first)
	case "wide":
		err = rows(*brokers, *topic, *count, *csvPath, wideRow(*columns))
	case "jsonb":
		err = rows(*brokers, *topic, *count, *csvPath, jsonbRow(*kib))
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "shapes:", err)
		os.Exit(1)
	}
}

func client(brokers, topic string) (*kgo.Client, error) {
	return kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MaxBufferedRecords(100000))
}

func recreate(ctx context.Context, cl *kgo.Client, topic string) error {
	adm := kadm.NewClient(cl)
	if _, err := adm.DeleteTopics(ctx, topic); err != nil {
		return err
	}
	time.Sleep(time.Second) // deletion is asynchronous
	for attempt := 0; ; attempt++ {
		resp, err := adm.CreateTopic(ctx, 8, 1, nil, topic)
		if err == nil && resp.Err == nil {
			return nil
		}
		if attempt > 30 {
			return fmt.Errorf("creating topic %s: %v %v", topic, err, resp.Err)
		}
		if errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			time.Sleep(500 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// steady produces rate records per second for seconds seconds, in ticks of
// a millisecond, each record timestamped when it is handed to the client.
func steady(brokers, topic string, rate, seconds, first int) error {
	ctx := context.Background()
	cl, err := client(brokers, topic)
	if err != nil {
		return err
	}
	defer cl.Close()
	var failed atomic.Value
	total := rate * seconds
	start := time.Now()
	sent := 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for sent < total {
		<-tick.C
		due := min(int(time.Since(start).Seconds()*float64(rate)), total)
		for ; sent < due; sent++ {
			v := fmt.Appendf(nil, `{"id": %d, "note": "steady record %d"}`, first+sent, first+sent)
			cl.Produce(ctx, &kgo.Record{Value: v, Timestamp: time.Now()}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Store(err)
				}
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	fmt.Printf("produced=%d seconds=%.1f\n", sent, time.Since(start).Seconds())
	return nil
}

// A row maker returns record i's JSON value and its CSV fields.
type rowMaker func(rng *rand.Rand, i int) ([]byte, []string)

// wideRow: id then columns-1 fields c2…cN cycling bigint, text, numeric,
// boolean.
func wideRow(columns int) rowMaker {
	return func(rng *rand.Rand, i int) ([]byte, []string) {
		var b strings.Builder
		fields := make([]string, 0, columns)
		b.WriteString(`{"id":`)
		b.WriteString(strconv.Itoa(i + 1))
		fields = append(fields, strconv.Itoa(i+1))
		for c := 2; c <= columns; c++ {
			var text, js string
			switch c % 4 {
			case 0:
				text = strconv.Itoa(rng.IntN(1_000_000_000))
				js = text
			case 1:
				text = fmt.Sprintf("value-%06d", rng.IntN(1_000_000))
				js = `"` + text + `"`
			case 2:
				text = fmt.Sprintf("%d.%02d", rng.IntN(100000), rng.IntN(100))
				js = text
			default:
				text = strconv.FormatBool(rng.IntN(2) == 0)
				js = text
			}
			fmt.Fprintf(&b, `,"c%d":%s`, c, js)
			fields = append(fields, text)
		}
		b.WriteString("}")
		return []byte(b.String()), fields
	}
}

// jsonbRow: id and a document of about kib KiB (an object of short
// records), stored by both sides as jsonb.
func jsonbRow(kib int) rowMaker {
	return func(rng *rand.Rand, i int) ([]byte, []string) {
		type item struct {
			SKU   string  `json:"sku"`
			Qty   int     `json:"qty"`
			Price float64 `json:"price"`
			Note  string  `json:"note"`
		}
		var items []item
		size := 0
		for size < kib*1024 {
			it := item{SKU: fmt.Sprintf("SKU-%06d", rng.IntN(1_000_000)), Qty: rng.IntN(9) + 1,
				Price: float64(rng.IntN(100000)) / 100, Note: "line note " + strconv.Itoa(rng.IntN(1000))}
			items = append(items, it)
			size += 75
		}
		doc, _ := json.Marshal(map[string]any{"order": i + 1, "items": items})
		v, _ := json.Marshal(map[string]any{"id": i + 1, "doc": json.RawMessage(doc)})
		return v, []string{strconv.Itoa(i + 1), string(doc)}
	}
}

// rows writes count records to a recreated topic and the same rows to a CSV
// file.
func rows(brokers, topic string, count int, csvPath string, mk rowMaker) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl, err := client(brokers, topic)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := recreate(ctx, cl, topic); err != nil {
		return err
	}
	f, err := os.Create(csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	rng := rand.New(rand.NewPCG(7, 11))
	var failed atomic.Value
	bytes := 0
	for i := range count {
		v, fields := mk(rng, i)
		bytes += len(v)
		if err := w.Write(fields); err != nil {
			return err
		}
		cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i + 1)), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	fmt.Printf("events=%d bytes=%d\n", count, bytes)
	return f.Close()
}
