package e2e

// Bad days: PostgreSQL stopped and Kafka restarted under load, the retry
// budget running out, and a dead-letter topic that does not exist yet.
// Nothing is lost, nothing is written twice, and nothing goes to the
// dead-letter queue because of an outage (docs/errors.md, "transient").
//
// The outage lasts KAFKA2PG_OUTAGE_SECONDS (default 30), for example
//
//	KAFKA2PG_OUTAGE_SECONDS=120 KAFKA2PG_BIN=$PWD/bin/kafka2pg go test -count=1 -run 'TestOutage' -v ./e2e/

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// outageDuration is how long PostgreSQL stays stopped (and how long the
// load goes on while it is).
func outageDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("KAFKA2PG_OUTAGE_SECONDS")
	if v == "" {
		return 30 * time.Second
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > 600 {
		t.Fatalf("KAFKA2PG_OUTAGE_SECONDS=%q: want a whole number of seconds in 1..600", v)
	}
	return time.Duration(n) * time.Second
}

// loadGen produces order events continuously from its own goroutine: perTick
// events every tick. The generator and the model belong to that goroutine
// until stop returns.
type loadGen struct {
	produced atomic.Int64
	stopc    chan struct{}
	done     chan struct{}
	err      error
}

func startLoad(cl *kgo.Client, g *orderGen, m model, perTick int, tick time.Duration) *loadGen {
	l := &loadGen{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stopc:
				return
			default:
			}
			recs := g.next(perTick, m)
			// Generous: a produce waits out a broker restart.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			err := cl.ProduceSync(ctx, recs...).FirstErr()
			cancel()
			if err != nil {
				// The model now holds events that may not be in Kafka.
				l.err = fmt.Errorf("producing after %d events: %w", l.produced.Load(), err)
				return
			}
			l.produced.Add(int64(len(recs)))
			select {
			case <-l.stopc:
				return
			case <-time.After(tick):
			}
		}
	}()
	return l
}

// halt ends the load (for a defer).
func (l *loadGen) halt() {
	select {
	case <-l.stopc:
	default:
		close(l.stopc)
	}
	<-l.done
}

// stop ends the load and returns how many events were produced.
func (l *loadGen) stop(t *testing.T) int64 {
	t.Helper()
	l.halt()
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.produced.Load()
}

// pgCluster runs pg_ctlcluster on the test cluster, returning its error
// (usable from cleanups, unlike pgCtl).
func pgCluster(args ...string) error {
	cluster := strings.Fields(os.Getenv("KAFKA2PG_PG_CLUSTER"))
	if len(cluster) != 2 {
		return fmt.Errorf("KAFKA2PG_PG_CLUSTER=%q", os.Getenv("KAFKA2PG_PG_CLUSTER"))
	}
	out, err := exec.Command("pg_ctlcluster", append(cluster, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctlcluster %v: %v\n%s", args, err, out)
	}
	return nil
}

// services runs scripts/services.sh (the test runs in e2e/).
func services(args ...string) ([]byte, error) {
	return exec.Command("../scripts/services.sh", args...).CombinedOutput()
}

// badDayConfig: the orders model in upsert mode, tolerance all with a
// dead-letter table, quick retries, HTTP on addr.
func (e *env) badDayConfig(addr string) string {
	return e.config(fmt.Sprintf(`batch: {max_rows: 200, max_wait: 20ms}
http: {listen: %q}
errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
  retry: {initial: 50ms, max: 1s}
routes:
  - topic: {{topic}}
    table: orders
    mode: upsert
    delete_on_tombstone: true
`, addr))
}

// assertNoDeadLetters: the dead-letter table exists (kafka2pg creates it at
// start) and is empty.
func (e *env) assertNoDeadLetters() {
	e.t.Helper()
	var n int64
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM kafka2pg_dlq`).Scan(&n); err != nil {
		e.t.Fatalf("counting dead letters: %v", err)
	}
	if n != 0 {
		rows, _ := e.pool.Query(context.Background(), `SELECT topic, partition, "offset", stage, error FROM kafka2pg_dlq ORDER BY id LIMIT 5`)
		for rows != nil && rows.Next() {
			var topic, stage, reason string
			var part int32
			var off int64
			_ = rows.Scan(&topic, &part, &off, &stage, &reason)
			e.t.Errorf("dead letter %s/%d@%d stage %s: %s", topic, part, off, stage, reason)
		}
		e.t.Fatalf("%d dead letters after an outage; want none (an outage is transient)", n)
	}
}

// waitAllCommitted waits until the group's committed offsets add up to
// produced, then requires them to be exactly that.
func (e *env) waitAllCommitted(produced int64, timeout time.Duration, what string) {
	e.t.Helper()
	eventually(e.t, timeout, what, func() bool { return e.committedTotal() >= produced })
	if got := e.committedTotal(); got != produced {
		e.t.Fatalf("committed offsets add up to %d, want the %d records produced", got, produced)
	}
}

// PostgreSQL stopped under continuous load: /readyz says 503 for as long as
// it is down, the sink retries without exiting, catches up once it is back,
// and ends with the table equal to the model and no dead letters.
func TestOutagePostgresStopped(t *testing.T) {
	outage := outageDuration(t)
	if len(strings.Fields(os.Getenv("KAFKA2PG_PG_CLUSTER"))) != 2 {
		if os.Getenv("CI") == "true" {
			t.Fatal("KAFKA2PG_PG_CLUSTER is not set")
		}
		t.Skip("KAFKA2PG_PG_CLUSTER is not set")
	}
	e := newEnv(t, 4)
	testenv.Exec(t, e.pool, ordersDDL)
	addr := freePort(t)
	p := start(t, "run", "--config", e.badDayConfig(addr))
	eventually(t, 30*time.Second, "readiness", func() bool { return httpStatus(addr, "/readyz") == 200 })

	m := model{}
	g := newOrderGen(e.topic, 4, 3000, 0.02, 1101)
	load := startLoad(testenv.Client(t), g, m, 50, 50*time.Millisecond)
	defer load.halt()
	eventually(t, time.Minute, "the first records", func() bool { return e.committedTotal() >= 1000 })

	var stopped atomic.Bool
	t.Cleanup(func() {
		if stopped.Load() {
			if err := pgCluster("start"); err != nil {
				t.Errorf("restarting PostgreSQL at cleanup: %v", err)
			}
		}
	})
	before := load.produced.Load()
	stopped.Store(true)
	if err := pgCluster("stop", "-m", "fast"); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	t.Logf("PostgreSQL stopped with %d events produced; keeping the load on for %s", before, outage)

	// During the outage: not ready (after the first failed write), healthy,
	// still running.
	var samples, notReady, readyAfter503, healthBad int
	var first503 time.Duration = -1
	for time.Since(stoppedAt) < outage {
		s := httpStatus(addr, "/readyz")
		samples++
		if s == 503 {
			notReady++
			if first503 < 0 {
				first503 = time.Since(stoppedAt)
			}
		} else if first503 >= 0 {
			readyAfter503++
			t.Errorf("/readyz = %d %.1fs into the outage, after it had said 503", s, time.Since(stoppedAt).Seconds())
		}
		if h := httpStatus(addr, "/healthz"); h != 200 {
			healthBad++
		}
		select {
		case <-p.done:
			t.Fatalf("kafka2pg exited (%d) during the PostgreSQL outage:\n%s", p.code, tail(p.out.String(), 30))
		case <-time.After(250 * time.Millisecond):
		}
	}
	if v, ok := metric(t, addr, "kafka2pg_ready"); !ok || v != 0 {
		t.Errorf("kafka2pg_ready = %v (ok %v) at the end of the outage, want 0", v, ok)
	}
	during := load.produced.Load() - before
	t.Logf("outage: %d /readyz samples, %d said 503 (first after %s), %d events produced meanwhile",
		samples, notReady, first503.Round(time.Millisecond), during)
	if first503 < 0 || first503 > 10*time.Second {
		t.Errorf("/readyz did not say 503 within 10s of PostgreSQL stopping (first 503 after %s)", first503)
	}
	if healthBad > 0 {
		t.Errorf("/healthz was not 200 in %d samples during the outage", healthBad)
	}
	if during == 0 {
		t.Errorf("nothing was produced during the outage")
	}

	if err := pgCluster("start"); err != nil {
		t.Fatal(err)
	}
	stopped.Store(false)
	restartedAt := time.Now()
	eventually(t, time.Minute, "ready again", func() bool { return httpStatus(addr, "/readyz") == 200 })
	t.Logf("ready again %s after PostgreSQL started", time.Since(restartedAt).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // a little more load on the recovered pipeline
	produced := load.stop(t)
	e.waitAllCommitted(produced, 2*time.Minute, "catching up after the outage")
	t.Logf("caught up %s after PostgreSQL started: %d events", time.Since(restartedAt).Round(time.Millisecond), produced)
	if v, ok := metric(t, addr, "kafka2pg_dead_letters_total"); ok && v != 0 {
		t.Errorf("kafka2pg_dead_letters_total = %v, want 0", v)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	e.pool.Reset() // its connections died with the server
	e.assertOrders(m)
	e.assertNoDeadLetters()
	if out := p.out.String(); !strings.Contains(out, "write failed, retrying") {
		t.Errorf("expected retried writes in the log:\n%s", tail(out, 20))
	}
}

// The Kafka broker restarted under continuous load: the sink rides it out
// without exiting, catches up by itself once the broker is back, and ends
// with the table equal to the model and no dead letters.
func TestOutageKafkaRestart(t *testing.T) {
	e := newEnv(t, 4)
	testenv.Exec(t, e.pool, ordersDDL)
	addr := freePort(t)
	p := start(t, "run", "--config", e.badDayConfig(addr))
	eventually(t, 30*time.Second, "readiness", func() bool { return httpStatus(addr, "/readyz") == 200 })

	m := model{}
	g := newOrderGen(e.topic, 4, 3000, 0.02, 2202)
	load := startLoad(testenv.Client(t), g, m, 50, 50*time.Millisecond)
	defer load.halt()
	eventually(t, time.Minute, "the first records", func() bool { return e.committedTotal() >= 1000 })

	var restarting atomic.Bool
	t.Cleanup(func() {
		if restarting.Load() {
			if out, err := services("up"); err != nil {
				t.Errorf("services.sh up at cleanup: %v\n%s", err, out)
			}
		}
	})
	before := load.produced.Load()
	restarting.Store(true)
	t0 := time.Now()
	// Sample readiness while the broker restarts, for the log.
	var wg sync.WaitGroup
	var samples, notReady atomic.Int64
	sampling := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-sampling:
				return
			case <-time.After(250 * time.Millisecond):
			}
			samples.Add(1)
			if httpStatus(addr, "/readyz") != 200 {
				notReady.Add(1)
			}
		}
	}()
	out, err := services("restart-kafka")
	close(sampling)
	wg.Wait()
	if err != nil {
		t.Fatalf("services.sh restart-kafka: %v\n%s", err, out)
	}
	restarting.Store(false)
	t.Logf("broker restarted in %s with %d events produced before; /readyz not 200 in %d of %d samples meanwhile",
		time.Since(t0).Round(time.Millisecond), before, notReady.Load(), samples.Load())
	select {
	case <-p.done:
		t.Fatalf("kafka2pg exited (%d) during the broker restart:\n%s", p.code, tail(p.out.String(), 30))
	default:
	}

	backAt := time.Now()
	time.Sleep(outageDuration(t) / 2) // the load goes on after the broker is back
	produced := load.stop(t)
	if produced <= before {
		t.Errorf("no event produced during and after the restart (%d before, %d in all)", before, produced)
	}
	e.waitAllCommitted(produced, 3*time.Minute, "catching up after the broker restart")
	t.Logf("caught up %s after the broker was back: %d events", time.Since(backAt).Round(time.Millisecond), produced)
	eventually(t, 30*time.Second, "ready", func() bool { return httpStatus(addr, "/readyz") == 200 })
	if v, ok := metric(t, addr, "kafka2pg_dead_letters_total"); ok && v != 0 {
		t.Errorf("kafka2pg_dead_letters_total = %v, want 0", v)
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	e.assertOrders(m)
	e.assertNoDeadLetters()
}

// errors.retry.max_elapsed: with the table locked and lock_timeout set,
// every write fails with 55P03 (transient) and is retried until the budget
// runs out; then the process exits 1 naming the budget, with nothing
// committed. Once the lock is gone, a normal run writes every record exactly
// once.
func TestRetryBudget(t *testing.T) {
	e := newEnv(t, 2)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL)`)
	const n = 2000
	recs := make([]*kgo.Record, 0, n)
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, `{"id": %d}`, i)})
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	cfg := e.config(`errors:
  retry: {initial: 50ms, max: 200ms, max_elapsed: 3s}
routes:
  - topic: {{topic}}
    table: events
`)

	// New sessions (the sink's) wait at most 100 ms for a lock: 55P03.
	testenv.Exec(t, e.pool, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = 100', current_database()); END $$")
	ctx := context.Background()
	lockTx, err := e.pool.Begin(ctx)
	mustNoErr(t, err)
	defer func() { _ = lockTx.Rollback(ctx) }()
	_, err = lockTx.Exec(ctx, `LOCK TABLE events IN ACCESS EXCLUSIVE MODE`)
	mustNoErr(t, err)

	t0 := time.Now()
	p := start(t, "run", "--config", cfg)
	code := p.wait(t, time.Minute)
	took := time.Since(t0)
	out := p.out.String()
	t.Logf("exit %d after %s; last lines:\n%s", code, took.Round(time.Millisecond), tail(strings.TrimSpace(out), 3))
	if code != 1 {
		t.Fatalf("exit code %d with the retry budget spent, want 1; output:\n%s", code, tail(out, 30))
	}
	if took > 10*time.Second {
		t.Errorf("took %s to give up with errors.retry.max_elapsed: 3s; want about 10s at most", took.Round(time.Millisecond))
	}
	if !strings.Contains(out, "errors.retry.max_elapsed") {
		t.Errorf("the error does not mention errors.retry.max_elapsed:\n%s", tail(out, 20))
	}
	if !strings.Contains(out, "55P03") {
		t.Errorf("the log does not show the lock timeouts (SQLSTATE 55P03):\n%s", tail(out, 20))
	}
	if !strings.Contains(out, "write failed, retrying") {
		t.Errorf("no retried write in the log:\n%s", tail(out, 20))
	}
	for part, off := range testenv.Committed(t, e.group, e.topic) {
		if off != 0 {
			t.Errorf("partition %d: offset %d committed although nothing was written", part, off)
		}
	}

	mustNoErr(t, lockTx.Rollback(ctx))
	testenv.Exec(t, e.pool, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET lock_timeout', current_database()); END $$")
	if got := e.count("events"); got != 0 {
		t.Fatalf("%d rows written by the run that gave up", got)
	}
	runToEnd(t, cfg)
	var rows, distinct int64
	mustNoErr(t, e.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM events`).Scan(&rows, &distinct))
	if rows != n || distinct != n {
		t.Fatalf("after the lock: %d rows, %d distinct ids; want %d of each (every record exactly once)", rows, distinct, n)
	}
	if got := e.committedTotal(); got != n {
		t.Fatalf("committed offsets add up to %d, want %d", got, n)
	}
}

// A dead-letter topic that does not exist yet (the broker does not create
// topics): the dead letter cannot be produced, so the sink retries and
// commits nothing past the bad record; once the topic exists, it goes on and
// nothing is lost.
func TestDLQTopicUnreachable(t *testing.T) {
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint PRIMARY KEY)`)
	dlq := testenv.Name("dlq") // created later
	const n, bad = 600, 300
	recs := make([]*kgo.Record, 0, n)
	for i := range n {
		v := fmt.Appendf(nil, `{"id": %d}`, i)
		if i == bad {
			v = fmt.Appendf(nil, `{"id": %d, `, i) // does not decode
		}
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: 0, Value: v})
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	addr := freePort(t)
	cfg := e.config(fmt.Sprintf(`batch: {max_rows: 50, max_wait: 20ms}
http: {listen: %q}
errors:
  tolerance: all
  dlq: {topic: %s}
  retry: {initial: 50ms, max: 500ms}
routes:
  - topic: {{topic}}
    table: events
`, addr, dlq))
	p := start(t, "run", "--config", cfg, "--stop-at-end")
	eventually(t, time.Minute, "a failed dead-letter write", func() bool {
		select {
		case <-p.done:
			t.Fatalf("kafka2pg exited (%d) while the dead-letter topic was missing:\n%s", p.code, tail(p.out.String(), 30))
		default:
		}
		return strings.Contains(p.out.String(), "writing to the dead-letter topic failed, retrying")
	})
	time.Sleep(3 * time.Second) // still stuck, and nothing past the bad record
	select {
	case <-p.done:
		t.Fatalf("kafka2pg exited (%d) while the dead-letter topic was missing:\n%s", p.code, tail(p.out.String(), 30))
	default:
	}
	off, ok := testenv.Committed(t, e.group, e.topic)[0]
	var maxID int64 = -1
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT coalesce(max(id), -1) FROM events`).Scan(&maxID))
	t.Logf("while the dead-letter topic is missing: committed offset %d (present %v), highest id written %d", off, ok, maxID)
	if off > bad {
		t.Errorf("committed offset %d is past the bad record at %d while its dead letter is not written", off, bad)
	}
	if maxID >= bad {
		t.Errorf("row %d written past the bad record at %d while its dead letter is not written", maxID, bad)
	}
	if s := httpStatus(addr, "/healthz"); s != 200 {
		t.Errorf("/healthz = %d while retrying", s)
	}
	if s := httpStatus(addr, "/readyz"); s != 503 {
		t.Errorf("/readyz = %d while the dead-letter topic is missing, want 503", s)
	}

	testenv.CreateTopic(t, dlq, 1)
	if code := p.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("exit code %d after the dead-letter topic was created, want 0; output:\n%s", code, tail(p.out.String(), 30))
	}
	if got := e.count("events"); got != n-1 {
		t.Errorf("events has %d rows, want %d", got, n-1)
	}
	var gotBad int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE id = $1`, bad).Scan(&gotBad))
	if gotBad != 0 {
		t.Errorf("the bad record is in the table")
	}
	if got := e.committedTotal(); got != n {
		t.Errorf("committed offset %d, want %d", got, n)
	}
	// The dead-letter topic: the bad record, once.
	cl := testenv.Client(t, kgo.ConsumeTopics(dlq), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var dead []*kgo.Record
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { dead = append(dead, r) })
	}
	if len(dead) != 1 {
		t.Fatalf("%d dead letters in %s, want 1", len(dead), dlq)
	}
	h := map[string]string{}
	for _, x := range dead[0].Headers {
		h[x.Key] = string(x.Value)
	}
	if h["kafka2pg.source.offset"] != strconv.Itoa(bad) || h["kafka2pg.error.stage"] != "decode" {
		t.Errorf("dead letter headers %v, want source offset %d and stage decode", h, bad)
	}
}
