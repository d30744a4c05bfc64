package kafka2pg_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg"
	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

type goEnv struct {
	pool  *pgxpool.Pool
	cfg   *config.Config
	topic string
}

func newGoEnv(t *testing.T, ddl, routes string, partitions int, values ...string) *goEnv {
	t.Helper()
	dbURL, pool := testenv.NewDatabase(t)
	testenv.Exec(t, pool, ddl)
	topic, group := testenv.Name("t"), testenv.Name("g")
	testenv.CreateTopic(t, topic, partitions)
	cl := testenv.Client(t)
	var recs []*kgo.Record
	for i, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Key: fmt.Appendf(nil, "%d", i), Value: []byte(v)})
	}
	testenv.Produce(t, cl, recs...)
	doc := fmt.Sprintf(`kafka: {brokers: [%q], group: %s, topics: [%s]}
postgres: {url: %q}
%s`, testenv.Brokers(t), group, topic, dbURL, strings.ReplaceAll(routes, "{{topic}}", topic))
	cfg, err := config.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &goEnv{pool: pool, cfg: cfg, topic: topic}
}

func (e *goEnv) run(t *testing.T, opts ...kafka2pg.Option) (kafka2pg.Stats, error) {
	t.Helper()
	opts = append(opts, kafka2pg.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), kafka2pg.WithStopAtEnd())
	p, err := kafka2pg.New(context.Background(), e.cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = p.Run(ctx)
	return p.Stats(), err
}

func (e *goEnv) rows(t *testing.T, sql string) string {
	t.Helper()
	var s string
	if err := e.pool.QueryRow(context.Background(), sql).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A Go transform turns each order into a row of orders (upsert, the
// route's table) and one row per item in another table (insert), and
// deletes a cancelled order; it sees the decoded value and the record's
// coordinates.
func TestGoTransformTwoTables(t *testing.T) {
	e := newGoEnv(t, `CREATE TABLE orders (id bigint PRIMARY KEY, total numeric(10,2), src text);
CREATE TABLE items (order_id bigint, sku text, at timestamptz)`,
		`routes: [{name: orders, topic: {{topic}}, table: orders, mode: upsert}]`, 1,
		`{"id": 1, "items": [{"sku": "a", "price": 1.25}, {"sku": "b", "price": 2}]}`,
		`{"id": 2, "items": [{"sku": "c", "price": 10.5}]}`,
		`{"id": 3, "items": []}`,
		`{"id": 3, "cancelled": true}`,
	)
	fn := func(ctx context.Context, r *kafka2pg.Record) ([]kafka2pg.Row, error) {
		v := r.Decoded.(map[string]any)
		id := v["id"].(json.Number)
		if v["cancelled"] == true {
			return []kafka2pg.Row{{Op: kafka2pg.Delete, Values: map[string]any{"id": id}}}, nil
		}
		var total float64
		var rows []kafka2pg.Row
		for _, it := range v["items"].([]any) {
			item := it.(map[string]any)
			p, _ := item["price"].(json.Number).Float64()
			total += p
			rows = append(rows, kafka2pg.Row{Table: "items", Op: kafka2pg.Insert,
				Values: map[string]any{"order_id": id, "sku": item["sku"], "at": r.Timestamp}})
		}
		return append([]kafka2pg.Row{{Values: map[string]any{"id": id, "total": total,
			"src": fmt.Sprintf("%s/%d@%d", r.Topic[:2], r.Partition, r.Offset)}}}, rows...), nil
	}
	st, err := e.run(t, kafka2pg.WithTransform("orders", fn))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.rows(t, `SELECT string_agg(id || ':' || total || ':' || src, ',' ORDER BY id) FROM orders`); got != "1:3.25:t_/0@0,2:10.50:t_/0@1" {
		t.Errorf("orders %s", got)
	}
	if got := e.rows(t, `SELECT string_agg(order_id || sku, ',' ORDER BY sku) FROM items WHERE at IS NOT NULL`); got != "1a,1b,2c" {
		t.Errorf("items %s", got)
	}
	if st.Records != 4 {
		t.Errorf("stats %+v", st)
	}
}

// An error or a panic in the transform is a record error: with a
// dead-letter table the record goes there (the panic with its stack) and
// none of its rows are written; without one the run stops naming it.
func TestGoTransformErrorsAndPanics(t *testing.T) {
	ddl := `CREATE TABLE ev (id bigint PRIMARY KEY)`
	values := []string{`{"id": 0}`, `{"id": 1}`, `{"id": 2}`, `{"id": 3}`, `{"id": 4}`}
	fn := func(ctx context.Context, r *kafka2pg.Record) ([]kafka2pg.Row, error) {
		switch r.Offset {
		case 1:
			return nil, errors.New("customer 1 is blocked")
		case 3:
			panic(fmt.Sprintf("no price list for record %d", r.Offset))
		}
		return []kafka2pg.Row{{Values: map[string]any{"id": r.Decoded.(map[string]any)["id"]}}}, nil
	}
	e := newGoEnv(t, ddl, `errors: {tolerance: all, dlq: {table: dead}}
routes: [{name: ev, topic: {{topic}}, table: ev, mode: upsert}]`, 1, values...)
	st, err := e.run(t, kafka2pg.WithTransform("ev", fn))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.rows(t, `SELECT string_agg(id::text, ',' ORDER BY id) FROM ev`); got != "0,2,4" || st.DeadLetters != 2 {
		t.Fatalf("rows %s, stats %+v", got, st)
	}
	dead := e.rows(t, `SELECT string_agg("offset" || ' ' || stage || ' ' || error, E'\n' ORDER BY "offset") FROM dead`)
	if !strings.Contains(dead, "1 transform topic") || !strings.Contains(dead, "customer 1 is blocked") ||
		!strings.Contains(dead, "3 transform") || !strings.Contains(dead, "the Go transform panicked: no price list for record 3") ||
		!strings.Contains(dead, "goroutine") {
		t.Fatalf("dead letters:\n%s", dead)
	}

	e = newGoEnv(t, ddl, `routes: [{name: ev, topic: {{topic}}, table: ev, mode: upsert}]`, 1, values...)
	_, err = e.run(t, kafka2pg.WithTransform("ev", fn))
	var re *kafka2pg.RecordError
	if !errors.As(err, &re) || re.Offset != 1 || re.Stage != "transform" {
		t.Fatalf("Run = %v, want the record error of offset 1", err)
	}
}

// WithTransformConcurrency runs a slow enrichment for several records of
// a partition at once, and still writes the rows in record order.
func TestGoTransformConcurrency(t *testing.T) {
	const n = 64
	var values []string
	for i := range n {
		values = append(values, fmt.Sprintf(`{"seq": %d}`, i))
	}
	e := newGoEnv(t, `CREATE TABLE log (id bigserial PRIMARY KEY, seq int NOT NULL, k text NOT NULL);
CREATE TABLE last (k text PRIMARY KEY, seq int NOT NULL)`,
		`routes: [{name: log, topic: {{topic}}, table: log, mode: insert}]`, 1, values...)
	var running, peak atomic.Int64
	fn := func(ctx context.Context, r *kafka2pg.Record) ([]kafka2pg.Row, error) {
		cur := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); cur > p && !peak.CompareAndSwap(p, cur); p = peak.Load() {
		}
		time.Sleep(time.Duration(30-r.Offset%30) * time.Millisecond) // later records finish first
		seq := r.Decoded.(map[string]any)["seq"]
		return []kafka2pg.Row{
			{Values: map[string]any{"seq": seq, "k": "x"}},
			{Table: "last", Op: kafka2pg.Upsert, Values: map[string]any{"k": "x", "seq": seq}},
		}, nil
	}
	start := time.Now()
	if _, err := e.run(t, kafka2pg.WithTransform("log", fn), kafka2pg.WithTransformConcurrency(8)); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if peak.Load() < 2 {
		t.Fatalf("at most %d records ran at once, want several", peak.Load())
	}
	// Rows in record order: the log's ids follow the records' order, and
	// the upserted row holds the last record.
	if got := e.rows(t, `SELECT count(*) FILTER (WHERE seq = id - 1)::text FROM log`); got != fmt.Sprint(n) {
		t.Fatalf("%s of %d log rows are in record order", got, n)
	}
	if got := e.rows(t, `SELECT seq::text FROM last`); got != fmt.Sprint(n-1) {
		t.Fatalf("last holds seq %s, want %d", got, n-1)
	}
	t.Logf("%d records, peak concurrency %d, %s", n, peak.Load(), took.Round(time.Millisecond))
}

// A transform that says its failure is transient (kafka2pg.Retryable) is
// called again after a backoff; the record is never dead-lettered.
func TestGoTransformRetryable(t *testing.T) {
	e := newGoEnv(t, `CREATE TABLE ev (id bigint PRIMARY KEY)`, `errors: {tolerance: all, dlq: {table: dead}, retry: {initial: 10ms, max: 20ms}}
routes: [{name: ev, topic: {{topic}}, table: ev, mode: upsert}]`, 1, `{"id": 1}`, `{"id": 2}`)
	var calls atomic.Int64
	fn := func(ctx context.Context, r *kafka2pg.Record) ([]kafka2pg.Row, error) {
		if r.Offset == 1 && calls.Add(1) <= 3 {
			return nil, kafka2pg.Retryable(errors.New("the lookup service is down"))
		}
		return []kafka2pg.Row{{Values: map[string]any{"id": r.Decoded.(map[string]any)["id"]}}}, nil
	}
	st, err := e.run(t, kafka2pg.WithTransform("ev", fn), kafka2pg.WithTransformConcurrency(2))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.rows(t, `SELECT string_agg(id::text, ',' ORDER BY id) FROM ev`); got != "1,2" || st.DeadLetters != 0 || calls.Load() != 4 {
		t.Fatalf("rows %s, stats %+v, %d calls for the retried record; want 1,2, no dead letter, 4 calls", got, st, calls.Load())
	}
}
