package e2e

import (
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Secrets never leave kafka2pg: after every test has run, TestMain reads
// the output of every kafka2pg process the suite started (and every other
// text a test captured, such as /metrics pages) and fails the run when any
// holds a password the tests know: the test servers' (PostgreSQL, the SASL
// user), and every one a test registered with secret — rotated passwords,
// wrong passwords, registry passwords.

// outputs is every captured text of this test binary.
var outputs struct {
	mu   sync.Mutex
	list []capturedOutput
}

type capturedOutput struct {
	test, what string
	text       interface{ String() string }
}

// capture registers text (read after the tests, so it may still grow) as
// output of test t's what, for the secrets check.
func capture(t *testing.T, what string, text interface{ String() string }) {
	outputs.mu.Lock()
	defer outputs.mu.Unlock()
	outputs.list = append(outputs.list, capturedOutput{test: t.Name(), what: what, text: text})
}

// capturedText is a fixed text to capture (a response body).
type capturedText string

func (s capturedText) String() string { return string(s) }

// secrets is every secret the tests know.
var secrets struct {
	mu  sync.Mutex
	set map[string]bool
}

// secret registers s as a secret that no captured output may contain and
// returns it. Shorter than 6 bytes it would match by chance: refused.
func secret(t testing.TB, s string) string {
	if len(s) < 6 {
		t.Fatalf("secret %q is too short to be searched for", s)
	}
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	if secrets.set == nil {
		secrets.set = map[string]bool{}
	}
	secrets.set[s] = true
	return s
}

// serviceSecrets are the passwords of the test services, from the
// environment scripts/services.sh sets.
func serviceSecrets() []string {
	var out []string
	if pw := os.Getenv("KAFKA2PG_TEST_SASL_PASSWORD"); pw != "" {
		out = append(out, pw)
	}
	for _, name := range []string{"KAFKA2PG_TEST_DATABASE_URL", "KAFKA2PG_TEST_PG_TLS_URL", "KAFKA2PG_TEST_PGBOUNCER_URL"} {
		if u, err := url.Parse(os.Getenv(name)); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				out = append(out, pw)
			}
		}
	}
	return out
}

// leak is one captured line holding a secret.
type leak struct{ test, what, line string }

// findLeaks returns the lines of outputs that hold a secret of known
// (longest first), each with every secret masked.
func findLeaks(outputs []capturedOutput, known []string) []leak {
	var out []leak
	for _, o := range outputs {
		for _, line := range strings.Split(o.text.String(), "\n") {
			masked := line
			for i, s := range known {
				masked = strings.ReplaceAll(masked, s, fmt.Sprintf("<secret #%d>", i+1))
			}
			if masked != line {
				out = append(out, leak{o.test, o.what, masked})
			}
		}
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	known := serviceSecrets()
	secrets.mu.Lock()
	for s := range secrets.set {
		known = append(known, s)
	}
	secrets.mu.Unlock()
	// Longer first, so that a secret containing another is masked whole.
	sort.Slice(known, func(i, j int) bool { return len(known[i]) > len(known[j]) })
	outputs.mu.Lock()
	leaks := findLeaks(outputs.list, known)
	outputs.mu.Unlock()
	if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d line(s) of kafka2pg output hold a secret the tests know (masked below):\n", len(leaks))
		for i, l := range leaks {
			if i == 50 {
				fmt.Fprintf(os.Stderr, "  … and %d more\n", len(leaks)-i)
				break
			}
			fmt.Fprintf(os.Stderr, "  %s, %s:\n    %s\n", l.test, l.what, l.line)
		}
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// The check itself: a line with a secret is found and shown masked, a
// secret inside a longer one is masked as the longer one, clean lines pass.
func TestSecretsCheckFindsLeaks(t *testing.T) {
	outs := []capturedOutput{
		{"TestA", "kafka2pg run", capturedText("level=INFO msg=ok\nlevel=WARN err=\"auth failed for pw-rotation-1\"\nclean")},
		{"TestB", "GET /metrics", capturedText("x 1\nlabel=\"pw-rotation-1-longer\"")},
		{"TestC", "kafka2pg check", capturedText("check: ok")},
	}
	got := findLeaks(outs, []string{"pw-rotation-1-longer", "pw-rotation-1"})
	want := []leak{
		{"TestA", "kafka2pg run", `level=WARN err="auth failed for <secret #2>"`},
		{"TestB", "GET /metrics", `label="<secret #1>"`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("leaks = %q, want %q", got, want)
	}
}
