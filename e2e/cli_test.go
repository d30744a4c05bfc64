package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Bad usage and bad configs exit 2 before anything connects, naming every
// problem with its field path and line.
func TestBadConfigExit2(t *testing.T) {
	bad := writeFile(t, `kafka:
  brokerz: ["127.0.0.1:9092"]
  group: g
  topics: [orders]
postgres:
  url: ${KAFKA2PG_SURELY_UNSET_VAR}
  max_conns: lots
routes:
  - topic: orders
    mode: upsret
`)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no command", nil, []string{"Usage:"}},
		{"unknown command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{"no config", []string{"run"}, []string{"--config FILE is required"}},
		{"missing file", []string{"run", "--config", "/nonexistent/pipeline.yaml"}, []string{"/nonexistent/pipeline.yaml"}},
		{"bad config", []string{"run", "-c", bad}, []string{
			"kafka.brokerz (line 2): unknown key; did you mean brokers?",
			"postgres.url (line 6): environment variable KAFKA2PG_SURELY_UNSET_VAR is not set",
			`postgres.max_conns (line 7): want an integer, got "lots"`,
			`routes[0].mode (line 10): must be one of insert, upsert, raw; got "upsret"`,
		}},
		{"check with bad config", []string{"check", "--config", bad}, []string{"kafka.brokerz (line 2)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, tc.args...)
			if code := p.wait(t, 30*time.Second); code != 2 {
				t.Fatalf("exit code %d, want 2\n%s", code, p.out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(p.out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, p.out.String())
				}
			}
		})
	}
}

// Passwords never appear in logs or errors, even when the connection fails.
func TestPasswordNeverLogged(t *testing.T) {
	const secret = "s3cr3t-Pa55word"
	cfg := writeFile(t, `kafka:
  brokers: ["127.0.0.1:9092"]
  group: g
  topics: [orders]
  sasl:
    mechanism: SCRAM-SHA-512
    username: u
    password: ${K2P_TEST_KAFKA_PW}
postgres:
  url: postgres://someone:${K2P_TEST_PG_PW}@127.0.0.1:1/db?connect_timeout=2
routes:
  - topic: orders
`)
	t.Setenv("K2P_TEST_KAFKA_PW", secret+"-kafka")
	t.Setenv("K2P_TEST_PG_PW", secret)
	for _, cmd := range []string{"run", "check"} {
		p := start(t, cmd, "--config", cfg)
		if code := p.wait(t, 60*time.Second); code != 1 {
			t.Errorf("%s: exit code %d, want 1 (cannot connect)", cmd, code)
		}
		if out := p.out.String(); strings.Contains(out, secret) {
			t.Errorf("%s output contains the password:\n%s", cmd, out)
		}
	}
}

// check reports what it found and what would fail, with exit 1 on failure.
func TestCheck(t *testing.T) {
	e := newEnv(t, 3)
	testenv.Exec(t, e.pool, ordersDDL)
	testenv.Exec(t, e.pool, `CREATE TABLE nokey (id bigint, label text)`)

	ok := e.config(`routes:
  - topic: {{topic}}
    table: orders
    mode: upsert
    delete_on_tombstone: true
`)
	p := start(t, "check", "--config", ok)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("check exit %d, want 0:\n%s", code, p.out.String())
	}
	for _, w := range []string{"topic " + e.topic + ": 3 partitions", `table "orders" (mode upsert)`, "key (id)", "column amount numeric(12,2)", "check: ok"} {
		if !strings.Contains(p.out.String(), w) {
			t.Errorf("check output lacks %q:\n%s", w, p.out.String())
		}
	}

	cases := []struct{ name, routes, want string }{
		{"missing table", "table: nosuch", `"nosuch": table does not exist`},
		{"upsert without key", "table: nokey\n    mode: upsert", "mode upsert needs a key"},
		{"conflict key without index", "table: nokey\n    mode: upsert\n    conflict_key: [label]", "no unique index or primary key on exactly (label)"},
		{"version column missing", "table: orders\n    mode: upsert\n    version_column: rev", `version_column: "public"."orders" has no column "rev"`},
		{"version column type", "table: orders\n    mode: upsert\n    version_column: status", `version_column: column "status" is text; it must be smallint, integer, bigint, timestamp or timestamptz`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.config("routes:\n  - topic: {{topic}}\n    " + tc.routes + "\n")
			p := start(t, "check", "--config", cfg)
			if code := p.wait(t, 60*time.Second); code != 1 {
				t.Fatalf("check exit %d, want 1:\n%s", code, p.out.String())
			}
			if !strings.Contains(p.out.String(), tc.want) || !strings.Contains(p.out.String(), "check: FAILED") {
				t.Errorf("check output lacks %q:\n%s", tc.want, p.out.String())
			}
			if tc.name == "missing table" {
				return // run waits for it, saying so (TestReadinessMissingTable)
			}
			// run refuses to start with the same message.
			r := start(t, "run", "--config", cfg)
			// (slog's text format escapes the quotes in the error.)
			if code := r.wait(t, 60*time.Second); code != 1 || !strings.Contains(strings.ReplaceAll(r.out.String(), `\"`, `"`), tc.want) {
				t.Errorf("run: exit %d, output lacks %q:\n%s", code, tc.want, r.out.String())
			}
		})
	}
}
