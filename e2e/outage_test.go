package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// pgCtl runs pg_ctlcluster on the test cluster (scripts/services.sh exports
// its version and name).
func pgCtl(t *testing.T, args ...string) {
	t.Helper()
	cluster := strings.Fields(os.Getenv("KAFKA2PG_PG_CLUSTER"))
	if len(cluster) != 2 {
		if os.Getenv("CI") == "true" {
			t.Fatal("KAFKA2PG_PG_CLUSTER is not set")
		}
		t.Skip("KAFKA2PG_PG_CLUSTER is not set")
	}
	cmd := exec.Command("pg_ctlcluster", append(cluster, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctlcluster %v: %v\n%s", args, err, out)
	}
}

// PostgreSQL restarted mid-stream (fast, then immediate) and the sink's
// sessions terminated: the sink retries, loses nothing, and the table ends
// equal to the model.
func TestPostgresRestartMidStream(t *testing.T) {
	e := newEnv(t, 4)
	testenv.Exec(t, e.pool, ordersDDL)
	cl := testenv.Client(t)
	m := model{}
	g := newOrderGen(e.topic, 4, 3000, 0.02, 77)
	cfg := e.config(`batch: {max_rows: 200, max_wait: 20ms}
errors:
  retry: {initial: 50ms, max: 1s}
routes:
  - topic: {{topic}}
    table: orders
    mode: upsert
    delete_on_tombstone: true
`)
	p := start(t, "run", "--config", cfg)
	produced := 0
	produce := func(n int) {
		testenv.Produce(t, cl, g.next(n, m)...)
		produced += n
	}
	waitCommitted := func(what string) {
		eventually(t, 2*time.Minute, what, func() bool { return e.committedTotal() >= int64(produced) })
	}
	produce(2000)
	waitCommitted("the first records")

	produce(2000)
	pgCtl(t, "restart", "-m", "fast")
	produce(2000)
	waitCommitted("recovery after a fast restart")

	produce(2000)
	pgCtl(t, "restart", "-m", "immediate")
	produce(2000)
	waitCommitted("recovery after an immediate restart")

	// Terminate the sink's sessions (SQLSTATE 57P01 for the sink).
	produce(2000)
	eventually(t, 30*time.Second, "terminating the sink's sessions", func() bool {
		var n int
		err := e.pool.QueryRow(context.Background(),
			`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'kafka2pg' AND datname = current_database()`).Scan(&n)
		return err == nil && n > 0
	})
	produce(2000)
	waitCommitted("recovery after pg_terminate_backend")

	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	e.pool.Reset() // its connections died in the restarts
	e.assertOrders(m)
	if out := p.out.String(); !strings.Contains(out, "write failed, retrying") {
		t.Errorf("expected retried writes in the log:\n%s", tail(out, 20))
	}
}
