package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

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

// produceEvents writes n records {"id": from…} over the plaintext listener,
// alternating between the topic's two partitions.
func (e *env) produceEvents(cl *kgo.Client, from, n int) {
	e.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		id := from + i
		recs[i] = &kgo.Record{Topic: e.topic, Partition: int32(id % 2), Value: fmt.Appendf(nil, `{"id": %d, "name": "n-%d"}`, id, id)}
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
	eventually(t, 60*time.Second, "the first 200 rows", func() bool { return e.count("events") == 200 })

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
	eventually(t, 60*time.Second, "the 200 rows written after the rotation", func() bool { return e.count("events") == 400 })
	eventually(t, 30*time.Second, "/readyz 200 again", func() bool { return httpStatus(addr, "/readyz") == 200 })

	// Once more, with both changed before the server drops the connections:
	// no failure at all.
	pw3 := newPassword(t, "pg-rotation-3")
	writeSecretFile(t, pwFile, pw3)
	testenv.Exec(t, e.pool, fmt.Sprintf(`ALTER ROLE %s PASSWORD '%s'`, ident, pw3))
	terminate()
	e.produceEvents(cl, 400, 200)
	eventually(t, 60*time.Second, "the rows after the second rotation", func() bool { return e.count("events") == 600 })

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
