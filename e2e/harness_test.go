// Package e2e runs the kafka2pg binary against the real Kafka broker and
// PostgreSQL server started by scripts/services.sh and asserts on outcomes:
// rows in tables, offsets committed, exit codes and messages.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// env is one test's world: a fresh database, a fresh topic and group.
type env struct {
	t     *testing.T
	dbURL string
	pool  *pgxpool.Pool
	topic string
	group string
	parts int
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	dbURL, pool := testenv.NewDatabase(t)
	e := &env{t: t, dbURL: dbURL, pool: pool, topic: testenv.Name("t"), group: testenv.Name("g"), parts: partitions}
	testenv.CreateTopic(t, e.topic, partitions)
	return e
}

// config writes a pipeline config: the kafka and postgres sections are
// filled in, extra is appended (batch, routes, …) with {{topic}} replaced.
func (e *env) config(extra string) string {
	e.t.Helper()
	pg := fmt.Sprintf("url: %q", e.dbURL)
	if viaPooler { // TestPooler: through PgBouncer in transaction mode
		pg = fmt.Sprintf("url: %q\n  pooler: transaction", testenv.WithDatabase(e.t, testenv.PgBouncerURL(e.t), e.dbURL))
	}
	body := fmt.Sprintf(`kafka:
  brokers: [%q]
  group: %s
  topics: [%s]
  session_timeout: 6s
postgres:
  %s
  max_conns: 4
shutdown_timeout: 30s
`, testenv.Brokers(e.t), e.group, e.topic, pg) + strings.ReplaceAll(extra, "{{topic}}", e.topic)
	path := filepath.Join(e.t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// proc is a running kafka2pg process.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	code int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the binary with args; the process is killed at cleanup if it
// is still running.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv is start with variables added to the environment.
func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out := &syncBuffer{}
	capture(t, "kafka2pg "+strings.Join(args, " "), out)
	p := launchTo(t, cmd, out)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("kafka2pg %s output:\n%s", strings.Join(args, " "), tail(p.out.String(), 60))
		}
	})
	return p
}

// launch starts cmd with its output (stdout and stderr) in a buffer of the
// returned proc, whose done closes when it has exited.
func launch(t *testing.T, cmd *exec.Cmd) *proc { return launchTo(t, cmd, &syncBuffer{}) }

func launchTo(t *testing.T, cmd *exec.Cmd, out *syncBuffer) *proc {
	t.Helper()
	p := &proc{cmd: cmd, out: out, done: make(chan struct{}), code: -1}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		if err == nil {
			p.code = 0
		} else if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	return p
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("kafka2pg did not exit within %s; output:\n%s", timeout, tail(p.out.String(), 40))
		return -1
	}
}

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// runToEnd runs `kafka2pg run --stop-at-end` and requires a clean exit.
func runToEnd(t *testing.T, cfg string) string {
	t.Helper()
	p := start(t, "run", "--config", cfg, "--stop-at-end")
	if code := p.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("kafka2pg run exited %d; output:\n%s", code, tail(p.out.String(), 40))
	}
	return p.out.String()
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func (e *env) count(table string) int64 {
	e.t.Helper()
	var n int64
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatalf("counting %s: %v", table, err)
	}
	return n
}

func (e *env) committedTotal() int64 {
	var n int64
	for _, o := range testenv.Committed(e.t, e.group, e.topic) {
		n += o
	}
	return n
}

// rewrite replaces old with new in the file at path (once) and returns path.
func rewrite(t *testing.T, path, old, new string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// parallel lets a test that touches only its own topics, groups, database
// and processes run alongside the others (make test: -parallel 4). Tests
// that restart or stop a service, set environment variables, measure
// memory or time, or flip package state stay sequential; Go runs them
// first, then the parallel ones. TestPooler runs some of these as its
// subtests, one at a time, with viaPooler set.
func parallel(t *testing.T) {
	if !viaPooler {
		t.Parallel()
	}
}
