package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// metric scrapes one unlabelled metric from /metrics.
func metric(t *testing.T, addr, name string) (float64, bool) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			v, err := strconv.ParseFloat(strings.TrimPrefix(line, name+" "), 64)
			return v, err == nil
		}
	}
	return 0, false
}

func httpStatus(addr, path string) int {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// When PostgreSQL stalls (the table is locked), kafka2pg stops fetching once
// max_inflight_bytes are in flight instead of buffering the backlog; memory
// stays bounded, readiness reports the stall, and everything lands once the
// lock is gone.
func TestBackpressure(t *testing.T) {
	e := newEnv(t, 4)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL, pad text)`)
	cl := testenv.Client(t)
	pad := strings.Repeat("x", 900)
	const n = 80000 // ~80 MB of backlog against a 4 MiB in-flight budget
	for chunk := 0; chunk < n; chunk += 10000 {
		recs := make([]*kgo.Record, 0, 10000)
		for i := chunk; i < chunk+10000; i++ {
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i % 4), Value: fmt.Appendf(nil, `{"id": %d, "pad": %q}`, i, pad)})
		}
		testenv.Produce(t, cl, recs...)
	}

	// Hold a lock that blocks every write to the table.
	ctx := context.Background()
	lockConn, err := e.pool.Acquire(ctx)
	mustNoErr(t, err)
	defer lockConn.Release()
	lockTx, err := lockConn.Begin(ctx)
	mustNoErr(t, err)
	_, err = lockTx.Exec(ctx, `LOCK TABLE events IN ACCESS EXCLUSIVE MODE`)
	mustNoErr(t, err)

	addr := freePort(t)
	const limit = 4 << 20
	const fetchMax = 1 << 20
	cfg := e.config(fmt.Sprintf(`kafka_fetch: {}
batch: {max_rows: 2000, max_bytes: 1MiB, max_inflight_bytes: 4MiB}
http: {listen: %q}
routes:
  - topic: {{topic}}
    table: events
`, addr))
	// (fetch_max_bytes lives in the kafka section the helper writes; patch it in.)
	body, _ := os.ReadFile(cfg)
	body = []byte(strings.Replace(strings.Replace(string(body), "kafka_fetch: {}\n", "", 1), "  session_timeout: 6s\n", "  session_timeout: 6s\n  fetch_max_bytes: 1MiB\n", 1))
	mustNoErr(t, os.WriteFile(cfg, body, 0o600))

	p := start(t, "run", "--config", cfg, "--stop-at-end")
	eventually(t, 30*time.Second, "fetching to pause", func() bool {
		v, ok := metric(t, addr, "kafka2pg_fetch_paused")
		return ok && v == 1
	})
	// Stalled for a while: in-flight bytes and RSS stay bounded.
	var maxInflight, maxRSS float64
	for range 20 {
		if v, ok := metric(t, addr, "kafka2pg_inflight_bytes"); ok {
			maxInflight = max(maxInflight, v)
		}
		maxRSS = max(maxRSS, rssMiB(p.cmd.Process.Pid))
		time.Sleep(100 * time.Millisecond)
	}
	// A poll takes what fits the free room at the average record cost, so the
	// overshoot is small.
	if maxInflight > limit+fetchMax {
		t.Errorf("in-flight bytes reached %.0f while stalled; bound is %d", maxInflight, limit+fetchMax)
	}
	if maxRSS > 200 {
		t.Errorf("RSS reached %.0f MiB while ~80 MB waited in Kafka", maxRSS)
	}
	if s := httpStatus(addr, "/healthz"); s != 200 {
		t.Errorf("/healthz = %d", s)
	}
	t.Logf("while stalled: max in-flight %.1f MiB (limit 4 MiB), max RSS %.0f MiB", maxInflight/(1<<20), maxRSS)

	mustNoErr(t, lockTx.Rollback(ctx))
	if code := p.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := e.count("events"); got != n {
		t.Fatalf("%d rows after the stall, want %d", got, n)
	}
}

// Readiness goes to 503 while writes are failing and retried, and back to
// 200 when they succeed again.
func TestReadinessDuringRetries(t *testing.T) {
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL)`)
	addr := freePort(t)
	cfg := e.config(fmt.Sprintf(`http: {listen: %q}
errors:
  retry: {initial: 50ms, max: 200ms}
routes:
  - topic: {{topic}}
    table: events
`, addr))
	// While the table is locked, the sink's writes fail with lock_not_available
	// (55P03), a transient error, and are retried.
	testenv.Exec(t, e.pool, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = 100', current_database()); END $$")
	p := start(t, "run", "--config", cfg)
	eventually(t, 30*time.Second, "readiness", func() bool { return httpStatus(addr, "/readyz") == 200 })
	ctx := context.Background()
	lockTx, err := e.pool.Begin(ctx)
	mustNoErr(t, err)
	_, err = lockTx.Exec(ctx, `LOCK TABLE events IN ACCESS EXCLUSIVE MODE`)
	mustNoErr(t, err)
	testenv.Produce(t, testenv.Client(t), &kgo.Record{Topic: e.topic, Value: []byte(`{"id": 1}`)})
	eventually(t, 30*time.Second, "not ready while retrying", func() bool { return httpStatus(addr, "/readyz") == 503 })
	mustNoErr(t, lockTx.Rollback(ctx))
	eventually(t, 30*time.Second, "ready again", func() bool { return httpStatus(addr, "/readyz") == 200 })
	eventually(t, 30*time.Second, "the row", func() bool { return e.count("events") == 1 })
	p.signal(15)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
