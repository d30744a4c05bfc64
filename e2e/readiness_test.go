package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/health"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// readyz is /readyz's answer.
type readyz struct {
	Status     int
	Ready      bool     `json:"ready"`
	Reasons    []string `json:"reasons"`
	Partitions int      `json:"partitions"`
	Notes      []string `json:"notes"`
}

func getReadyz(addr string) readyz {
	var r readyz
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return r
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return r
}

// waitReadyz polls /readyz until ok holds for its answer, and returns it.
func waitReadyz(t *testing.T, addr string, timeout time.Duration, what string, ok func(readyz) bool) readyz {
	t.Helper()
	var last readyz
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if last = getReadyz(addr); ok(last) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for /readyz: %s; last answer %+v", timeout, what, last)
	return last
}

func hasReason(r readyz, sub string) bool {
	for _, s := range r.Reasons {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// A topic that does not exist: a warning naming it within 10 s, /readyz
// 503 saying so; once the topic is created and written to, rows land and
// /readyz says 200.
func TestReadinessMissingTopic(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint PRIMARY KEY, name text)`)
	missing := testenv.Name("later")
	addr := freePort(t)
	cfg := rewrite(t, e.config(fmt.Sprintf("http: {listen: %q}\nroutes:\n  - topic: %s\n    table: events\n    mode: upsert\n", addr, missing)),
		"topics: ["+e.topic+"]", "topics: ["+missing+"]")
	started := time.Now()
	p := start(t, "run", "--config", cfg)
	r := waitReadyz(t, addr, 30*time.Second, "503 naming the missing topic", func(r readyz) bool {
		return r.Status == 503 && hasReason(r, "topic "+missing+" does not exist")
	})
	eventually(t, 15*time.Second, "a warning naming the topic", func() bool {
		return strings.Contains(p.out.String(), "waiting for topics that do not exist") && strings.Contains(p.out.String(), missing)
	})
	if d := time.Since(started); d > 20*time.Second {
		t.Errorf("the warning came %s after start, want within about 10s", d.Round(time.Second))
	}
	t.Logf("/readyz while the topic is missing: %+v", r)

	testenv.CreateTopic(t, missing, 1)
	testenv.Produce(t, testenv.Client(t), &kgo.Record{Topic: missing, Key: []byte("1"), Value: []byte(`{"id": 1, "name": "a"}`)})
	eventually(t, 60*time.Second, "the row", func() bool { return e.count("events") == 1 })
	waitReadyz(t, addr, 30*time.Second, "200 once the topic exists", func(r readyz) bool { return r.Status == 200 && r.Ready && r.Partitions == 1 })
}

// A table that does not exist (no auto_create): run does not exit; it warns
// naming the table and /readyz says 503 until the table is created, then it
// starts.
func TestReadinessMissingTable(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Produce(t, testenv.Client(t), &kgo.Record{Topic: e.topic, Key: []byte("1"), Value: []byte(`{"id": 1, "name": "a"}`)})
	addr := freePort(t)
	cfg := e.config(fmt.Sprintf("http: {listen: %q}\nroutes:\n  - topic: {{topic}}\n    table: later_events\n    mode: upsert\n", addr))
	p := start(t, "run", "--config", cfg)
	waitReadyz(t, addr, 30*time.Second, "503 naming the missing table", func(r readyz) bool {
		return r.Status == 503 && hasReason(r, `table "later_events" of routes[0] does not exist`)
	})
	eventually(t, 15*time.Second, "a warning naming the table", func() bool {
		return strings.Contains(p.out.String(), "waiting for tables that do not exist") && strings.Contains(p.out.String(), "later_events")
	})
	testenv.Exec(t, e.pool, `CREATE TABLE later_events (id bigint PRIMARY KEY, name text)`)
	eventually(t, 60*time.Second, "the row", func() bool { return e.count("later_events") == 1 })
	waitReadyz(t, addr, 30*time.Second, "200 once the table exists", func(r readyz) bool { return r.Status == 200 })
	select {
	case <-p.done:
		t.Fatalf("run exited %d:\n%s", p.code, tail(p.out.String(), 20))
	default:
	}
}

// Two instances in one group over a one-partition topic: the one without a
// partition is ready and says why it holds none.
func TestReadinessStandby(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint PRIMARY KEY, name text)`)
	addrs := []string{freePort(t), freePort(t)}
	for _, addr := range addrs {
		start(t, "run", "--config", e.config(fmt.Sprintf("http: {listen: %q}\nroutes:\n  - topic: {{topic}}\n    table: events\n    mode: upsert\n", addr)))
	}
	var owners, standbys int
	eventually(t, 60*time.Second, "one owner and one standby, both ready", func() bool {
		owners, standbys = 0, 0
		for _, addr := range addrs {
			r := getReadyz(addr)
			if r.Status != 200 {
				return false
			}
			switch {
			case r.Partitions == 1:
				owners++
			case r.Partitions == 0 && len(r.Notes) == 1 && strings.Contains(r.Notes[0], "no partitions assigned"):
				standbys++
			}
		}
		return owners == 1 && standbys == 1
	})
}

// No broker listens at kafka.brokers: a warning naming the address within
// 10 s, /readyz 503 saying so; once something answers there (a forwarder to
// the real broker, which then advertises its own address), the run starts,
// rows land and /readyz says 200.
func TestReadinessUnreachableBroker(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint PRIMARY KEY, name text)`)
	testenv.Produce(t, testenv.Client(t), &kgo.Record{Topic: e.topic, Key: []byte("1"), Value: []byte(`{"id": 1, "name": "a"}`)})
	nowhere, addr := freePort(t), freePort(t)
	cfg := rewrite(t, e.config(fmt.Sprintf("http: {listen: %q}\nroutes:\n  - topic: {{topic}}\n    table: events\n    mode: upsert\n", addr)),
		fmt.Sprintf("brokers: [%q]", testenv.Brokers(t)), fmt.Sprintf("brokers: [%q]", nowhere))
	started := time.Now()
	p := start(t, "run", "--config", cfg)
	waitReadyz(t, addr, 30*time.Second, "503 naming the brokers", func(r readyz) bool {
		return r.Status == 503 && hasReason(r, "kafka: no broker of "+nowhere+" answers")
	})
	eventually(t, 15*time.Second, "a warning naming the address", func() bool {
		return strings.Contains(p.out.String(), "cannot reach Kafka") && strings.Contains(p.out.String(), nowhere)
	})
	if d := time.Since(started); d > 20*time.Second {
		t.Errorf("the warning came %s after start, want within about 10s", d.Round(time.Second))
	}
	forward(t, nowhere, testenv.Brokers(t))
	eventually(t, 90*time.Second, "the row", func() bool { return e.count("events") == 1 })
	waitReadyz(t, addr, 30*time.Second, "200 once a broker answers", func(r readyz) bool { return r.Status == 200 })
}

// forward accepts connections on addr and pipes each to upstream, until the
// test ends.
func forward(t *testing.T, addr, upstream string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

// SIGTERM while start-up waits for a broker: a clean stop (exit 0), at once.
func TestSignalDuringStartup(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint PRIMARY KEY, name text)`)
	nowhere := freePort(t)
	cfg := rewrite(t, e.config("routes:\n  - topic: {{topic}}\n    table: events\n    mode: upsert\n"),
		fmt.Sprintf("brokers: [%q]", testenv.Brokers(t)), fmt.Sprintf("brokers: [%q]", nowhere))
	p := start(t, "run", "--config", cfg)
	eventually(t, 30*time.Second, "the warning that no broker answers", func() bool {
		return strings.Contains(p.out.String(), "cannot reach Kafka")
	})
	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM during start-up, want 0; output:\n%s", code, p.out.String())
	}
	if out := p.out.String(); !strings.Contains(out, "stopped cleanly") && !strings.Contains(out, "stopped before consuming anything") {
		t.Errorf("no line saying it stopped cleanly:\n%s", out)
	}
}

// Fetching stops while records wait and the group is healthy (the
// failpoint hold-fetch holds the poll loop with records fetched but not
// handed over): /readyz says 503 'no records fetched' once it has lasted
// health.FetchStallAfter, and 200 again once records flow; nothing is lost.
func TestReadinessFetchStall(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint PRIMARY KEY, name text)`)
	cl := testenv.Client(t)
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: e.topic, Key: fmt.Appendf(nil, "%d", i), Value: fmt.Appendf(nil, `{"id": %d, "name": "n"}`, i)})
		}
		testenv.Produce(t, cl, recs...)
	}
	produce(0, 10)
	fp := t.TempDir()
	addr := freePort(t)
	cfg := e.config(fmt.Sprintf("http: {listen: %q}\nroutes:\n  - topic: {{topic}}\n    table: events\n    mode: upsert\n", addr))
	startEnv(t, []string{"KAFKA2PG_FAILPOINT_DIR=" + fp}, "run", "--config", cfg)
	eventually(t, time.Minute, "the first 10 rows", func() bool { return e.count("events") == 10 })
	waitReadyz(t, addr, 30*time.Second, "200 while records flow", func(r readyz) bool { return r.Status == 200 })
	if err := os.WriteFile(filepath.Join(fp, "hold-fetch"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	held := time.Now()
	produce(10, 20)
	r := waitReadyz(t, addr, health.FetchStallAfter+30*time.Second, "503 for the stalled fetch", func(r readyz) bool {
		return r.Status == 503 && hasReason(r, "no records fetched")
	})
	t.Logf("503 %s after fetching was held: %v", time.Since(held).Round(time.Second), r)
	if n := e.count("events"); n != 10 {
		t.Errorf("%d rows while fetching was held, want 10", n)
	}
	if err := os.Remove(filepath.Join(fp, "hold-fetch")); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the 20 rows", func() bool { return e.count("events") == 20 })
	waitReadyz(t, addr, 30*time.Second, "200 once records flow again", func(r readyz) bool { return r.Status == 200 })
}

// A signal while kafka2pg.New is still connecting to PostgreSQL (a server
// that accepts the connection and never answers) stops the process at once
// with exit 0: nothing was consumed.
func TestSignalDuringNew(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	silent := fmt.Sprintf("postgres://kafka2pg@%s/db?sslmode=disable", ln.Addr())
	cfg := rewrite(t, e.config("routes:\n  - topic: {{topic}}\n    table: events\n"), fmt.Sprintf("url: %q", e.dbURL), fmt.Sprintf("url: %q", silent))
	p := start(t, "run", "--config", cfg)
	var c net.Conn
	select {
	case c = <-accepted:
		accepted <- c // closed at cleanup
	case <-time.After(30 * time.Second):
		t.Fatalf("kafka2pg never connected to the silent server; output:\n%s", p.out.String())
	}
	sent := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM while connecting to PostgreSQL, want 0; output:\n%s", code, p.out.String())
	}
	if out := p.out.String(); !strings.Contains(out, "stopped before consuming anything") {
		t.Errorf("no line saying it stopped before consuming anything:\n%s", out)
	}
	t.Logf("exited %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
}
