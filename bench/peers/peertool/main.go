// Command peertool is the Kafka side of the peer benchmark
// (scripts/bench-peers.sh) and of the scaling benchmark
// (scripts/bench-scaling.sh). It has three subcommands:
//
//	peertool envelope -brokers B -from T -to T2 [-items struct|json-string]
//	peertool wait     -brokers B -group G -topic T [-timeout 10m]
//	peertool cleanup  -brokers B -prefix P
//
// envelope reads every event of an orders topic (examples/orders/produce,
// plain JSON, no tombstones) from its start to the end offsets seen when it
// starts, and writes each one to the same partition of T2 (recreated with the
// same partition count), with the same key, as Kafka Connect's JsonConverter
// with schemas.enable=true would have serialized it: {"schema": …,
// "payload": …}. amount becomes a Connect Decimal (scale 2), created_at a
// Connect Timestamp, status carries Debezium's io.debezium.data.Enum name.
// items is an array of structs (-items struct, what kafka2pg and a Python
// consumer read) or, for Debezium's JDBC sink 3.6, which cannot bind an array
// of structs to a jsonb column, its JSON text in a string named
// io.debezium.data.Json (-items json-string). Both variants hold the same
// orders in the same partitions and order. On success it prints
// "events=N bytes=B" (B: total value bytes).
//
// wait polls, every 100 ms, the group's committed offsets on T until every
// partition's equals the partition's end offset (read once, at start), and
// prints "waited=S done_at=T": the seconds it waited and the Unix time at
// which it saw the last offset. It is how the benchmark knows that a Kafka
// Connect worker, which never exits by itself, is done. Exit status 1 on
// timeout.
//
// cleanup deletes the topics and consumer groups whose names start with P
// (which must be at least 6 characters long and end with "_").
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "envelope":
		err = envelopeCmd(os.Args[2:])
	case "wait":
		err = waitCmd(os.Args[2:])
	case "cleanup":
		err = cleanupCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peertool:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: peertool envelope|wait|cleanup [flags] (see the package comment)")
	os.Exit(2)
}

func newAdmin(brokers string) (*kgo.Client, *kadm.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return nil, nil, err
	}
	return cl, kadm.NewClient(cl), nil
}

// ---- envelope -------------------------------------------------------------------

// order is one event's value, as examples/orders/produce writes it.
type order struct {
	OrderID    int64           `json:"order_id"`
	CustomerID int64           `json:"customer_id"`
	Status     string          `json:"status"`
	Amount     string          `json:"amount"`
	Currency   string          `json:"currency"`
	Items      json.RawMessage `json:"items"`
	Express    bool            `json:"express"`
	CreatedAt  string          `json:"created_at"`
	Version    int64           `json:"version"`
}

// The Connect schemas of the two variants; they differ only in items.
const (
	schemaHead = `{"type":"struct","name":"kafka2pg.peers.Order","optional":false,"fields":[` +
		`{"field":"order_id","type":"int64","optional":false},` +
		`{"field":"customer_id","type":"int64","optional":false},` +
		`{"field":"status","type":"string","optional":false,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"new,paid,shipped,delivered,cancelled"}},` +
		`{"field":"amount","type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"12"}},` +
		`{"field":"currency","type":"string","optional":false},`
	itemsStruct = `{"field":"items","type":"array","optional":true,"items":{"type":"struct","optional":false,"fields":[` +
		`{"field":"sku","type":"string","optional":false},{"field":"qty","type":"int32","optional":false}]}},`
	itemsJSONString = `{"field":"items","type":"string","optional":true,"name":"io.debezium.data.Json","version":1},`
	schemaTail      = `{"field":"express","type":"boolean","optional":false},` +
		`{"field":"created_at","type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},` +
		`{"field":"version","type":"int64","optional":false}]}`
)

// envelopeValue is the Connect payload; Items holds either the array itself
// or its JSON text as a JSON string.
type envelopeValue struct {
	OrderID    int64           `json:"order_id"`
	CustomerID int64           `json:"customer_id"`
	Status     string          `json:"status"`
	Amount     string          `json:"amount"` // base64 of the unscaled two's-complement integer
	Currency   string          `json:"currency"`
	Items      json.RawMessage `json:"items"`
	Express    bool            `json:"express"`
	CreatedAt  int64           `json:"created_at"` // epoch milliseconds
	Version    int64           `json:"version"`
}

func envelopeCmd(args []string) error {
	fs := flag.NewFlagSet("envelope", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	from := fs.String("from", "", "plain JSON orders topic to read")
	to := fs.String("to", "", "topic to (re)create and write")
	items := fs.String("items", "struct", "struct | json-string")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	_ = fs.Parse(args)
	if *from == "" || *to == "" || *from == *to {
		return errors.New("envelope: -from and -to are required and must differ")
	}
	var schema string
	switch *items {
	case "struct":
		schema = schemaHead + itemsStruct + schemaTail
	case "json-string":
		schema = schemaHead + itemsJSONString + schemaTail
	default:
		return fmt.Errorf("envelope: -items %q: want struct or json-string", *items)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	admCl, adm, err := newAdmin(*brokers)
	if err != nil {
		return err
	}
	defer admCl.Close()
	starts, err := adm.ListStartOffsets(ctx, *from)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("listing start offsets of %s: %w", *from, err)
	}
	ends, err := adm.ListEndOffsets(ctx, *from)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing end offsets of %s: %w", *from, err)
	}
	partitions := len(ends[*from])
	if partitions == 0 {
		return fmt.Errorf("topic %s does not exist", *from)
	}
	if err := recreateTopic(ctx, adm, *to, partitions); err != nil {
		return err
	}

	want := map[int32]kgo.Offset{}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		if o.Offset > s.Offset {
			want[o.Partition] = kgo.NewOffset().At(s.Offset)
			remaining[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{*from: want}),
		kgo.FetchMaxBytes(64<<20),
		kgo.DefaultProduceTopic(*to),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(100000),
	)
	if err != nil {
		return err
	}
	defer cl.Close()

	var events, total int64
	errs := make(chan error, 1)
	for len(remaining) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("%d partitions of %s not read to their end: %w", len(remaining), *from, ctx.Err())
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
			v, err := envelope(r.Value, schema, *items == "json-string")
			if err != nil {
				rerr = fmt.Errorf("%s[%d]@%d: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			events++
			total += int64(len(v))
			out := &kgo.Record{Key: r.Key, Value: v, Partition: r.Partition}
			cl.Produce(ctx, out, func(_ *kgo.Record, err error) {
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			})
		})
		if rerr != nil {
			return rerr
		}
		select {
		case err := <-errs:
			return fmt.Errorf("producing to %s: %w", *to, err)
		default:
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return fmt.Errorf("producing to %s: %w", *to, err)
	default:
	}
	fmt.Printf("events=%d bytes=%d\n", events, total)
	return nil
}

// envelope turns one plain JSON order into a Connect JSON envelope.
func envelope(value []byte, schema string, itemsAsString bool) ([]byte, error) {
	if value == nil {
		return nil, errors.New("a tombstone; produce with -tombstones 0")
	}
	var o order
	if err := json.Unmarshal(value, &o); err != nil {
		return nil, err
	}
	amount, err := decimalBase64(o.Amount, 2)
	if err != nil {
		return nil, fmt.Errorf("amount: %w", err)
	}
	created, err := time.Parse(time.RFC3339, o.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("created_at: %w", err)
	}
	items := o.Items
	if len(items) == 0 {
		items = json.RawMessage("null")
	}
	if itemsAsString && string(items) != "null" {
		if items, err = json.Marshal(string(items)); err != nil {
			return nil, err
		}
	}
	payload, err := json.Marshal(envelopeValue{
		OrderID: o.OrderID, CustomerID: o.CustomerID, Status: o.Status, Amount: amount,
		Currency: o.Currency, Items: items, Express: o.Express, CreatedAt: created.UnixMilli(), Version: o.Version,
	})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(schema)+len(payload)+24)
	out = append(out, `{"schema":`...)
	out = append(out, schema...)
	out = append(out, `,"payload":`...)
	out = append(out, payload...)
	return append(out, '}'), nil
}

// decimalBase64 encodes a decimal string with at most scale fractional
// digits as Connect's Decimal does: the base64 of the big-endian two's
// complement of the unscaled integer, in as few bytes as possible.
func decimalBase64(s string, scale int) (string, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > scale {
		return "", fmt.Errorf("%q has more than %d fractional digits", s, scale)
	}
	frac += strings.Repeat("0", scale-len(frac))
	n, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return "", fmt.Errorf("%q is not a decimal number", s)
	}
	return base64.StdEncoding.EncodeToString(twosComplement(n)), nil
}

func twosComplement(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -n = 2^(8k) - |n| for the smallest k whose top bit comes out set.
	for k := 1; ; k++ {
		m := new(big.Int).Lsh(big.NewInt(1), uint(8*k))
		m.Add(m, n)
		b := m.Bytes()
		if len(b) == k && b[0]&0x80 != 0 {
			return b
		}
	}
}

func recreateTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	if _, err := adm.DeleteTopics(ctx, topic); err != nil {
		return fmt.Errorf("deleting topic %s: %w", topic, err)
	}
	for attempt := 0; ; attempt++ {
		resp, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err == nil {
			return nil
		}
		// Deletion is asynchronous: creation fails until it is done.
		if attempt > 60 || !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", topic, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ---- wait ---------------------------------------------------------------------

func waitCmd(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	group := fs.String("group", "", "consumer group")
	topic := fs.String("topic", "", "topic")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	_ = fs.Parse(args)
	if *group == "" || *topic == "" {
		return errors.New("wait: -group and -topic are required")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cl, adm, err := newAdmin(*brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	ends, err := adm.ListEndOffsets(ctx, *topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing end offsets of %s: %w", *topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return fmt.Errorf("topic %s is empty or missing", *topic)
	}
	for {
		offs, err := adm.FetchOffsets(ctx, *group)
		done := err == nil
		if done {
			for p, end := range want {
				o, ok := offs.Lookup(*topic, p)
				if !ok || o.Err != nil || o.At < end {
					done = false
					break
				}
			}
		}
		if done {
			now := time.Now()
			fmt.Printf("waited=%.3f done_at=%.6f\n", now.Sub(start).Seconds(), float64(now.UnixMicro())/1e6)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group %s did not commit the end offsets of %s within %s (last error: %v)", *group, *topic, *timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ---- cleanup --------------------------------------------------------------------

func cleanupCmd(args []string) error {
	fs := flag.NewFlagSet("cleanup", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
	prefix := fs.String("prefix", "", "delete topics and groups whose names start with this")
	_ = fs.Parse(args)
	if len(*prefix) < 6 || !strings.HasSuffix(*prefix, "_") {
		return fmt.Errorf("cleanup: -prefix %q must be at least 6 characters long and end with _", *prefix)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, adm, err := newAdmin(*brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	var errs []error
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("listing topics: %w", err)
	}
	var mine []string
	for _, t := range topics.Names() {
		if strings.HasPrefix(t, *prefix) {
			mine = append(mine, t)
		}
	}
	if len(mine) > 0 {
		if _, err := adm.DeleteTopics(ctx, mine...); err != nil {
			errs = append(errs, fmt.Errorf("deleting topics: %w", err))
		}
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("listing groups: %w", err))...)
	}
	var gs []string
	for _, g := range groups.Groups() {
		// Kafka Connect names a sink's group connect-<connector name>.
		if strings.HasPrefix(g, *prefix) || strings.HasPrefix(g, "connect-"+*prefix) {
			gs = append(gs, g)
		}
	}
	if len(gs) > 0 {
		if _, err := adm.DeleteGroups(ctx, gs...); err != nil {
			errs = append(errs, fmt.Errorf("deleting groups: %w", err))
		}
	}
	fmt.Fprintf(os.Stderr, "peertool: deleted %d topics and %d groups starting with %s\n", len(mine), len(gs), *prefix)
	return errors.Join(errs...)
}
