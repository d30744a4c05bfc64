package kafka2pg_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg"
	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// The embedding API runs the same engine: rows land, Stats count them, a
// cancelled context is a clean stop, and a bad record comes back as a
// *RecordError.
func TestEmbeddedPipeline(t *testing.T) {
	dbURL, pool := testenv.NewDatabase(t)
	testenv.Exec(t, pool, `CREATE TABLE ev (id bigint PRIMARY KEY, n int)`)
	topic, group := testenv.Name("t"), testenv.Name("g")
	testenv.CreateTopic(t, topic, 2)
	cl := testenv.Client(t)
	for i := range 100 {
		testenv.Produce(t, cl, &kgo.Record{Topic: topic, Partition: int32(i % 2), Key: fmt.Appendf(nil, "%d", i), Value: fmt.Appendf(nil, `{"n": %d}`, i)})
	}
	yaml := fmt.Sprintf(`kafka: {brokers: [%q], group: %s, topics: [%s]}
postgres: {url: %q}
routes:
  - {topic: %s, table: ev, mode: upsert}
`, testenv.Brokers(t), group, topic, dbURL, topic)
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	p, err := kafka2pg.New(ctx, cfg, kafka2pg.WithLogger(log), kafka2pg.WithStopAtEnd())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var n, sum int64
	if err := pool.QueryRow(ctx, `SELECT count(*), sum(n) FROM ev WHERE n = id`).Scan(&n, &sum); err != nil || n != 100 || sum != 4950 {
		t.Fatalf("rows %d sum %d (%v)", n, sum, err)
	}
	if s := p.Stats(); s.Records != 100 || s.Rows != 100 {
		t.Fatalf("stats %+v", s)
	}

	// A bad record: Run returns a *RecordError after the soft stop.
	testenv.Produce(t, cl, &kgo.Record{Topic: topic, Partition: 0, Key: []byte("x"), Value: []byte(`{"n": 1}`)})
	p, err = kafka2pg.New(ctx, cfg, kafka2pg.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Run(ctx)
	var re *kafka2pg.RecordError
	if !errors.As(err, &re) || re.Topic != topic || re.Partition != 0 || re.Offset != 50 || re.Column != "id" {
		t.Fatalf("Run = %v, want a RecordError at %s/0/50 on column id", err, topic)
	}

	// Cancelling the context is a clean stop: Run returns nil after writing
	// and committing what it held.
	testenv.Exec(t, pool, `TRUNCATE ev`)
	topic2 := testenv.Name("t")
	testenv.CreateTopic(t, topic2, 1)
	for i := range 10 {
		testenv.Produce(t, cl, &kgo.Record{Topic: topic2, Key: fmt.Appendf(nil, "%d", i), Value: fmt.Appendf(nil, `{"n": %d}`, i)})
	}
	cfg.Kafka.Group, cfg.Kafka.Topics = testenv.Name("g"), []string{topic2}
	cfg.Routes[0].Topic = topic2
	p, err = kafka2pg.New(ctx, cfg, kafka2pg.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	deadline := time.Now().Add(30 * time.Second)
	for p.Stats().Records < 10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if c := testenv.Committed(t, cfg.Kafka.Group, topic2); c[0] != 10 {
		t.Fatalf("committed %v after a clean stop, want 10", c)
	}
}
