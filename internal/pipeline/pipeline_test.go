package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/source"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// These tests run whole pipelines in-process against franz-go's kfake (a
// Kafka cluster in memory) and the real PostgreSQL: fast checks of the
// wiring between the consumer, the workers and the committer. Every
// guarantee is also proven on the real broker by package e2e.

func kfakeCluster(t *testing.T, topic string, partitions int32) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func kfakeConfig(t *testing.T, c *kfake.Cluster, dbURL, topic, group, extra string) *config.Config {
	t.Helper()
	doc := fmt.Sprintf(`kafka: {brokers: [%q], group: %s, topics: [%s], session_timeout: 6s}
postgres: {url: %q}
shutdown_timeout: 20s
%s`, c.ListenAddrs()[0], group, topic, dbURL, extra)
	cfg, err := config.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A second instance joins while the first is writing small batches: the
// partitions it takes are revoked from the first mid-stream. Each record
// becomes exactly one row (a duplicate would violate the primary key and
// stop a pipeline) and the group ends committed at the end of every
// partition.
func TestPipelineRevokeWhileWriting(t *testing.T) {
	const parts, perPart = 4, 3000
	topic, group := "ev", testenv.Name("g")
	c := kfakeCluster(t, topic, parts)
	dbURL, pool := testenv.NewDatabase(t)
	testenv.Exec(t, pool, `CREATE TABLE ev (p int, o bigint, PRIMARY KEY (p, o))`)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// The records arrive over a few seconds, so that both instances are
	// writing when the group rebalances.
	produced := make(chan error, 1)
	go func() {
		for o := 0; o < perPart; o += 50 {
			var recs []*kgo.Record
			for p := range int32(parts) {
				for i := o; i < o+50; i++ {
					recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, `{"p": %d, "o": %d}`, p, i)})
				}
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				produced <- err
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
		produced <- nil
	}()
	cfg := kfakeConfig(t, c, dbURL, topic, group, `batch: {max_rows: 20, max_wait: 2ms}
routes: [{topic: ev, table: ev, mode: insert}]`)

	count := func() int64 {
		var n int64
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM ev`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	run := func() (*Pipeline, context.CancelFunc, chan error) {
		p, err := New(context.Background(), cfg, Options{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		return p, cancel, done
	}
	a, stopA, doneA := run()
	deadline := time.Now().Add(60 * time.Second)
	for count() < 500 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b, stopB, doneB := run()
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	for count() < parts*perPart && time.Now().Before(deadline) {
		select {
		case err := <-doneA:
			t.Fatalf("instance a stopped: %v", err)
		case err := <-doneB:
			t.Fatalf("instance b stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	stopA()
	stopB()
	for _, d := range []chan error{doneA, doneB} {
		if err := <-d; err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	if n := count(); n != parts*perPart {
		t.Fatalf("%d rows, want %d", n, parts*perPart)
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Rows+sb.Rows != parts*perPart || sb.Rows == 0 {
		t.Fatalf("a wrote %d rows, b %d: the second instance must have taken partitions mid-stream", sa.Rows, sb.Rows)
	}
	t.Logf("a wrote %d rows, b %d", sa.Rows, sb.Rows)
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(parts) {
		if o, ok := offs.Lookup(topic, p); !ok || o.At != perPart {
			t.Errorf("partition %d committed %v, want %d", p, o.At, perPart)
		}
	}
}

// Partitions lost without a clean revoke (an expired session): their
// workers stop at once, the write in flight rolls back, and nothing more is
// marked durable or committed for them.
func TestPipelineLostRollsBack(t *testing.T) {
	topic, group := "ev", testenv.Name("g")
	c := kfakeCluster(t, topic, 1)
	dbURL, pool := testenv.NewDatabase(t)
	// Every insert waits, so that a batch is in flight when the partition
	// is lost.
	testenv.Exec(t, pool, `CREATE TABLE ev (o bigint PRIMARY KEY);
CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$;
CREATE TRIGGER slow BEFORE INSERT ON ev FOR EACH ROW EXECUTE FUNCTION slow();`)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for o := range 200 {
		recs = append(recs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, `{"o": %d}`, o)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := kfakeConfig(t, c, dbURL, topic, group, `batch: {max_rows: 100, max_wait: 1ms}
routes: [{topic: ev, table: ev, mode: insert}]`)
	p, err := New(context.Background(), cfg, Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	tp := source.TP{Topic: topic}
	// Wait until the first batch (100 rows, 5 s of triggers) is in flight.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var n int64
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'copy%' AND state = 'active'`).Scan(&n)
		if n > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	p.Lost([]source.TP{tp})
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Lost took %s: the in-flight write was not abandoned", took)
	}
	if _, ok := p.consumer.Committer().Durable(tp); ok {
		t.Fatal("a lost partition still has a durable offset")
	}
	p.Abort()
	<-done
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM ev`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows in the table (%v): the batch in flight when the partition was lost must roll back", n, err)
	}
}
