package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Secrets from files, rotated while kafka2pg runs: a password file is read
// again at every new connection, so a rotated password needs no restart.
// Every password used here is registered with secret: TestMain fails the
// run if any kafka2pg output or /metrics page holds one.

// newPassword returns a fresh random password with a recognisable prefix,
// registered as a secret.
func newPassword(t *testing.T, prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return secret(t, prefix+"-"+hex.EncodeToString(b))
}

// writeSecretFile writes pw (with a final newline, as mounted secrets
// have) to path.
func writeSecretFile(t *testing.T, path, pw string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// produceEvents writes n records {"id": from…} (key: the id) over the
// plaintext listener, alternating between the topic's two partitions.
func (e *env) produceEvents(cl *kgo.Client, from, n int) {
	e.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := from + i
		recs[i] = &kgo.Record{Topic: e.topic, Partition: int32(id % 2), Key: fmt.Appendf(nil, "%d", id),
			Value: fmt.Appendf(nil, `{"id": %d, "name": "n-%d"}`, id, id)}
	}
	testenv.Produce(e.t, cl, recs...)
}

// getText fetches http://addr/path and captures the body for the secrets
// check; "" when the request fails.
func getText(t *testing.T, addr, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	capture(t, "GET "+path, capturedText(b))
	return string(b)
}

// assertNoSecret fails when text holds any of pws.
func assertNoSecret(t *testing.T, what, text string, pws ...string) {
	t.Helper()
	for _, pw := range pws {
		if strings.Contains(text, pw) {
			t.Errorf("%s holds a password", what)
		}
	}
}

// PostgreSQL: the pipeline logs in as a role of its own with
// postgres.password_file. The role's password is changed; while the file
// still holds the old one, the connections the server drops cannot be made
// again: the write is retried (logged without either password, /readyz 503)
// and nothing is lost; once the file holds the new password the pipeline
// reconnects by itself and the rows land, with no restart and no exit.
func TestPostgresPasswordRotation(t *testing.T) {
	e := newEnv(t, 2)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint PRIMARY KEY, name text NOT NULL)`)
	role := testenv.Name("k2p_rotate")
	pw1, pw2 := newPassword(t, "pg-rotation-1"), newPassword(t, "pg-rotation-2")
	ident := pgx.Identifier{role}.Sanitize()
	// ALTER/CREATE ROLE take no bound parameters; the passwords are hex.
	testenv.Exec(t, e.pool, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, ident, pw1))
	t.Cleanup(func() {
		testenv.Exec(t, e.pool, `DROP OWNED BY `+ident)
		testenv.Exec(t, e.pool, `DROP ROLE `+ident)
	})
	testenv.Exec(t, e.pool, `GRANT USAGE ON SCHEMA public TO `+ident)
	testenv.Exec(t, e.pool, `GRANT SELECT, INSERT ON events TO `+ident)
	terminate := func() {
		testenv.Exec(t, e.pool, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
	}

	u, err := url.Parse(e.dbURL)
	mustNoErr(t, err)
	u.User = url.User(role) // no password in the URL
	pwFile := filepath.Join(t.TempDir(), "postgres-password")
	writeSecretFile(t, pwFile, pw1)
	addr := freePort(t)
	cfg := e.config(fmt.Sprintf(`http: {listen: %q}
batch: {max_rows: 100, max_wait: 20ms}
errors:
  retry: {initial: 50ms, max: 500ms}
routes:
  - topic: {{topic}}
    table: events
    mode: insert
`, addr))
	cfg = rewrite(t, cfg, fmt.Sprintf("url: %q\n", e.dbURL), fmt.Sprintf("url: %q\n  password_file: %q\n", u.String(), pwFile))

	// check logs in with the file too, and shows no password.
	chk := start(t, "check", "--config", cfg)
	if code := chk.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("check exited %d:\n%s", code, chk.out.String())
	}
	assertNoSecret(t, "check output", chk.out.String(), pw1, pw2)

	p := start(t, "run", "--config", cfg)
	cl := testenv.Client(t)
	e.produceEvents(cl, 0, 200)
	eventually(t, 60*time.Second, "the first 200 rows", func() bool { return e.eoRowCount() == 200 })

	// Rotated on the server only: the next connection fails.
	testenv.Exec(t, e.pool, fmt.Sprintf(`ALTER ROLE %s PASSWORD '%s'`, ident, pw2))
	terminate()
	e.produceEvents(cl, 200, 200)
	eventually(t, 60*time.Second, "a retried write that names the failed login", func() bool {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if strings.Contains(line, "write failed, retrying") && strings.Contains(line, "password authentication failed for user") {
				return true
			}
		}
		return false
	})
	eventually(t, 30*time.Second, "/readyz 503 while the login fails", func() bool { return httpStatus(addr, "/readyz") == 503 })
	if got := e.count("events"); got != 200 {
		t.Errorf("%d rows while the login failed, want 200", got)
	}
	select {
	case <-p.done:
		t.Fatalf("kafka2pg exited (%d) while the password file was stale; it must retry:\n%s", p.code, tail(p.out.String(), 20))
	default:
	}

	// The file catches up: the retries connect with the new password.
	writeSecretFile(t, pwFile, pw2)
	eventually(t, 60*time.Second, "the 200 rows written after the rotation", func() bool { return e.eoRowCount() == 400 })
	eventually(t, 30*time.Second, "/readyz 200 again", func() bool { return httpStatus(addr, "/readyz") == 200 })

	// Once more, with both changed before the server drops the connections:
	// no failure at all.
	pw3 := newPassword(t, "pg-rotation-3")
	writeSecretFile(t, pwFile, pw3)
	testenv.Exec(t, e.pool, fmt.Sprintf(`ALTER ROLE %s PASSWORD '%s'`, ident, pw3))
	terminate()
	e.produceEvents(cl, 400, 200)
	eventually(t, 60*time.Second, "the rows after the second rotation", func() bool { return e.eoRowCount() == 600 })

	assertNoSecret(t, "/metrics", getText(t, addr, "/metrics"), pw1, pw2, pw3)
	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if got := e.committedTotal(); got != 600 {
		t.Errorf("committed %d offsets, want 600", got)
	}
	assertNoSecret(t, "kafka2pg output", p.out.String(), pw1, pw2, pw3)
}

// setSCRAM creates or changes user's SCRAM-SHA-512 password on the test
// broker (through the plaintext listener, which needs no login) and waits
// until a new SASL connection logs in with it.
func setSCRAM(t *testing.T, user, pw string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := kadm.NewClient(testenv.Client(t)).AlterUserSCRAMs(ctx, nil,
		[]kadm.UpsertSCRAM{{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: pw}})
	if err == nil {
		for _, r := range res {
			if r.Err != nil {
				err = fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
			}
		}
	}
	if err != nil {
		t.Fatalf("setting the SCRAM password of %s: %v", user, err)
	}
	// The credential reaches the SASL listener through the metadata log.
	eventually(t, 30*time.Second, "a SASL login of "+user+" with its new password", func() bool {
		cl, err := kgo.NewClient(kgo.SeedBrokers(testenv.SASLBrokers(t)),
			kgo.SASL(scram.Auth{User: user, Pass: pw}.AsSha512Mechanism()))
		if err != nil {
			return false
		}
		defer cl.Close()
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		defer pcancel()
		return cl.Ping(pctx) == nil
	})
}

// dropConnections closes, from the client's side, every TCP connection of
// process pid to the given local port (a broker listener), with ss -K
// (SOCK_DESTROY): the broker stays up for everyone else, and the process
// must connect again. It returns how many it closed.
func dropConnections(t *testing.T, pid int, port string) int {
	t.Helper()
	out, err := exec.Command("ss", "-tnpH", "state", "established", "( dport = :"+port+" )").Output()
	if err != nil {
		t.Fatalf("ss (iproute2) lists no connections: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.Contains(line, fmt.Sprintf("pid=%d,", pid)) {
			continue
		}
		local := f[2][strings.LastIndex(f[2], ":")+1:]
		if kout, err := exec.Command("ss", "-K", "-tnH", "state", "established",
			"( dport = :"+port+" and sport = :"+local+" )").CombinedOutput(); err != nil {
			t.Fatalf("ss -K: %v: %s", err, kout)
		}
		n++
	}
	// SOCK_DESTROY needs kernel support (CONFIG_INET_DIAG_DESTROY): check.
	out, _ = exec.Command("ss", "-tnpH", "state", "established", "( dport = :"+port+" )").Output()
	if strings.Contains(string(out), fmt.Sprintf("pid=%d,", pid)) {
		t.Fatalf("ss -K did not close the connections of pid %d to port %s (does the kernel support SOCK_DESTROY?):\n%s", pid, port, out)
	}
	return n
}

// Kafka SASL/SCRAM: kafka2pg consumes over the SASL listener as a SCRAM
// user of its own with kafka.sasl.password_file. The user's password is
// changed on the broker; while the file still holds the old one, the
// connections kafka2pg has to make again are refused (logged and retried,
// without either password) and nothing lands; once the file holds the new
// password, the client logs in again by itself and the rows land, with no
// restart and no exit. The broker is shared, so instead of restarting it
// the test closes kafka2pg's own connections (ss -K).
func TestKafkaSASLPasswordRotation(t *testing.T) {
	e := newEnv(t, 2)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint PRIMARY KEY, name text NOT NULL)`)
	user := testenv.Name("k2p_rotate")
	pw1, pw2 := newPassword(t, "sasl-rotation-1"), newPassword(t, "sasl-rotation-2")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = kadm.NewClient(testenv.Client(t)).AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: user, Mechanism: kadm.ScramSha512}}, nil)
	})
	setSCRAM(t, user, pw1)
	pwFile := filepath.Join(t.TempDir(), "kafka-sasl-password")
	writeSecretFile(t, pwFile, pw1)
	brokers := testenv.SASLBrokers(t)
	port := brokers[strings.LastIndex(brokers, ":")+1:]
	addr := freePort(t)
	// Upsert: a partition lost while the login is refused is consumed
	// again by the next owner from the last commit; replays are harmless.
	cfg := e.config(fmt.Sprintf(`http: {listen: %q}
batch: {max_rows: 100, max_wait: 20ms}
routes:
  - topic: {{topic}}
    table: events
    mode: upsert
`, addr))
	cfg = rewrite(t, cfg, fmt.Sprintf("brokers: [%q]\n", testenv.Brokers(t)),
		fmt.Sprintf("brokers: [%q]\n  sasl:\n    mechanism: SCRAM-SHA-512\n    username: %q\n    password_file: %q\n", brokers, user, pwFile))

	// check logs in with the file too, and shows no password.
	chk := start(t, "check", "--config", cfg)
	if code := chk.wait(t, 60*time.Second); code != 0 || !strings.Contains(chk.out.String(), "ok   topic "+e.topic) {
		t.Fatalf("check exited %d:\n%s", code, chk.out.String())
	}
	assertNoSecret(t, "check output", chk.out.String(), pw1, pw2)

	p := start(t, "run", "--config", cfg)
	cl := testenv.Client(t)
	e.produceEvents(cl, 0, 200)
	eventually(t, 60*time.Second, "the first 200 rows, committed", func() bool { return e.eoRowCount() == 200 && e.committedTotal() == 200 })

	// Rotated on the broker only: the connections made again are refused.
	setSCRAM(t, user, pw2)
	if n := dropConnections(t, p.cmd.Process.Pid, port); n == 0 {
		t.Fatalf("kafka2pg has no connection to the SASL listener %s", brokers)
	}
	e.produceEvents(cl, 200, 200)
	eventually(t, 60*time.Second, "a refused SASL login in the log", func() bool {
		return strings.Contains(p.out.String(), "SASL_AUTHENTICATION_FAILED")
	})
	if got := e.count("events"); got != 200 {
		t.Errorf("%d rows while the login was refused, want 200", got)
	}
	select {
	case <-p.done:
		t.Fatalf("kafka2pg exited (%d) while the password file was stale; it must retry:\n%s", p.code, tail(p.out.String(), 20))
	default:
	}

	// The file catches up: the client logs in with the new password.
	writeSecretFile(t, pwFile, pw2)
	eventually(t, 90*time.Second, "the 200 rows produced after the rotation", func() bool { return e.eoRowCount() == 400 })

	assertNoSecret(t, "/metrics", getText(t, addr, "/metrics"), pw1, pw2)
	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if got := e.committedTotal(); got != 400 {
		t.Errorf("committed %d offsets, want 400", got)
	}
	assertNoSecret(t, "kafka2pg output", p.out.String(), pw1, pw2)
}
