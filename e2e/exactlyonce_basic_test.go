package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Exactly-once in insert mode into a table without any key: the process
// kills itself between PostgreSQL commits and Kafka commits, again and again;
// after it finally catches up every record is in the table exactly once,
// and the offset table holds the partitions' end offsets.
func TestExactlyOnceCrashBetweenCommits(t *testing.T) {
	parallel(t)
	e := newEnv(t, 3)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL, p int NOT NULL)`)
	const n = 3000
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i % 3), Value: fmt.Appendf(nil, `{"id": %d, "p": %d}`, i, i%3)})
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	cfg := e.config(`delivery: exactly-once
batch: {max_rows: 50, max_wait: 10ms}
routes:
  - topic: {{topic}}
    table: events
`)
	crashes := 0
	for attempt := 0; ; attempt++ {
		if attempt > 100 {
			t.Fatal("no clean run after 100 attempts")
		}
		cmd := exec.Command(testenv.Binary(t), "run", "--config", cfg, "--stop-at-end")
		// About 60 batches of 50: at 0.15 per batch about 9 crashes are
		// expected (each restart waits out the dead member's session, ~6 s),
		// and none at all has a chance of 0.85^60 ≈ 6e-5. (At 0.1 and "at
		// least 3" the test failed about one run in 20.)
		cmd.Env = append(os.Environ(), "KAFKA2PG_FAILPOINT=after-pg-commit:0.15")
		out, err := cmd.CombinedOutput()
		if err == nil {
			break
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Fatalf("run failed other than by the failpoint: %v\n%s", err, tail(string(out), 20))
		}
		crashes++
	}
	if crashes < 1 {
		t.Fatalf("only %d crashes: the failpoint did not exercise the window", crashes)
	}
	var rows, distinct int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT id) FROM events`).Scan(&rows, &distinct))
	if rows != n || distinct != n {
		t.Fatalf("after %d crashes: %d rows, %d distinct, want %d each", crashes, rows, distinct, n)
	}
	var stored int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT sum(next_offset) FROM kafka2pg_offsets WHERE "group" = $1`, e.group).Scan(&stored))
	if stored != n {
		t.Fatalf("offset table sums to %d, want %d", stored, n)
	}
	// Kafka's committed offsets caught up with the stored ones.
	eventually(t, 10*time.Second, "Kafka offsets", func() bool { return e.committedTotal() == n })
	t.Logf("%d crashes between the PostgreSQL and the Kafka commit; every record exactly once", crashes)
}
