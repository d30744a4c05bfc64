package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Two instances in one group under continuous produce, with rebalances as
// the second joins and the first leaves: revoked partitions are drained and
// committed before they move, so even insert mode (no key to deduplicate)
// ends with every record exactly once.
func TestRebalanceNoLossNoDuplicates(t *testing.T) {
	e := newEnv(t, 6)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL, p int NOT NULL)`)
	cl := testenv.Client(t)
	cfg := e.config(`batch: {max_rows: 300, max_wait: 50ms}
routes:
  - topic: {{topic}}
    table: events
    mode: insert
`)
	// A member that misses its heartbeats on a busy machine loses its
	// partitions without a revoke, and at-least-once then replays its
	// uncommitted batches: not what this test is about.
	rewrite(t, cfg, "session_timeout: 6s", "session_timeout: 45s")
	id := 0
	produce := func(n int) {
		recs := make([]*kgo.Record, 0, n)
		for range n {
			part := int32(id % e.parts)
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: part, Value: fmt.Appendf(nil, `{"id": %d, "p": %d}`, id, part)})
			id++
		}
		testenv.Produce(t, cl, recs...)
	}
	a := start(t, "run", "--config", cfg)
	produce(3000)
	eventually(t, 60*time.Second, "instance A to write", func() bool { return e.count("events") > 0 })
	b := start(t, "run", "--config", cfg) // rebalance: A gives up some partitions
	for range 10 {
		produce(500)
		time.Sleep(200 * time.Millisecond)
	}
	// The rebalance may take longer than the produce loop on a busy machine.
	eventually(t, 60*time.Second, "instance B to be assigned partitions", func() bool {
		return strings.Contains(b.out.String(), "partitions assigned")
	})
	produce(500)
	a.signal(syscall.SIGTERM) // rebalance: B takes everything
	if code := a.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("instance A exit %d", code)
	}
	for range 5 {
		produce(500)
		time.Sleep(100 * time.Millisecond)
	}
	eventually(t, 2*time.Minute, "instance B to catch up", func() bool { return e.committedTotal() >= int64(id) })
	b.signal(syscall.SIGTERM)
	if code := b.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("instance B exit %d", code)
	}
	// A must have handed partitions to B while running, not only at exit.
	outA := a.out.String()
	if i, j := strings.Index(outA, "partitions revoked"), strings.Index(outA, "kafka2pg stopping"); i < 0 || j < 0 || i > j {
		t.Errorf("instance A had no partitions revoked before it stopped:\n%s", tail(outA, 20))
	}
	var rows, distinct int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT id) FROM events`).Scan(&rows, &distinct))
	if distinct != int64(id) || rows != int64(id) {
		t.Fatalf("%d records produced; table has %d rows, %d distinct: lost %d, duplicated %d",
			id, rows, distinct, int64(id)-distinct, rows-distinct)
	}
}

// Stopping while PostgreSQL is stuck: a drain that cannot finish within
// shutdown_timeout exits 1, and a second signal exits at once; in both cases
// nothing that is not durable is committed.
func TestStopWhileStalled(t *testing.T) {
	for _, how := range []string{"shutdown_timeout", "second signal"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, 2)
			testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL)`)
			var recs []*kgo.Record
			for i := range 200 {
				recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, `{"id": %d}`, i)})
			}
			testenv.Produce(t, testenv.Client(t), recs...)
			ctx := context.Background()
			lockTx, err := e.pool.Begin(ctx)
			mustNoErr(t, err)
			defer lockTx.Rollback(ctx) //nolint:errcheck
			_, err = lockTx.Exec(ctx, `LOCK TABLE events IN ACCESS EXCLUSIVE MODE`)
			mustNoErr(t, err)

			cfg := e.config(`routes:
  - topic: {{topic}}
    table: events
`)
			cfg = rewrite(t, cfg, "shutdown_timeout: 30s", "shutdown_timeout: 3s")
			p := start(t, "run", "--config", cfg)
			eventually(t, 30*time.Second, "a write to block on the lock", func() bool {
				var n int
				_ = e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kafka2pg' AND wait_event_type = 'Lock'`).Scan(&n)
				return n > 0
			})
			began := time.Now()
			p.signal(syscall.SIGTERM)
			if how == "second signal" {
				time.Sleep(300 * time.Millisecond)
				p.signal(syscall.SIGTERM)
			}
			code := p.wait(t, 30*time.Second)
			took := time.Since(began)
			if code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			limit := 10 * time.Second
			if how == "second signal" {
				limit = 2 * time.Second
			}
			if took > limit {
				t.Errorf("took %s to exit, want under %s", took, limit)
			}
			if c := e.committedTotal(); c != 0 {
				t.Fatalf("%d offsets committed although nothing was durable", c)
			}
			mustNoErr(t, lockTx.Rollback(ctx))
			if n := e.count("events"); n != 0 {
				t.Fatalf("%d rows written by an aborted run", n)
			}
		})
	}
}
