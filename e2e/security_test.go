package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Security end to end: kafka2pg against the broker's SSL, SASL_SSL and mTLS
// listeners and PostgreSQL's TLS, with the CA, certificates and credentials
// that scripts/services.sh makes. Records are produced over the plaintext
// listener; kafka2pg consumes them over the secured one.

// A failing connection must end the process: exit 1 within this bound,
// naming the cause.
const securityExitBound = 60 * time.Second

const securityRoutes = `routes:
  - topic: {{topic}}
    table: events
    mode: insert
`

// newSecuredEnv is newEnv with an events table and n records in the topic.
func newSecuredEnv(t *testing.T, n int) *env {
	t.Helper()
	e := newEnv(t, 2)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint PRIMARY KEY, name text NOT NULL)`)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: e.topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, `{"id": %d, "name": "n-%d"}`, i, i)}
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	return e
}

// securedConfig is e.config(securityRoutes) with brokers and the extra
// kafka lines (tls, sasl; indented two spaces) and, when pgURL is not
// empty, that postgres.url.
func (e *env) securedConfig(brokers, kafka, pgURL string) string {
	e.t.Helper()
	cfg := e.config(securityRoutes)
	rewrite(e.t, cfg, fmt.Sprintf("brokers: [%q]\n", testenv.Brokers(e.t)), fmt.Sprintf("brokers: [%q]\n%s", brokers, kafka))
	if pgURL != "" {
		rewrite(e.t, cfg, fmt.Sprintf("url: %q", e.dbURL), fmt.Sprintf("url: %q", pgURL))
	}
	return cfg
}

// assertLanded checks that all n records are rows and their offsets are
// committed.
func (e *env) assertLanded(n int) {
	e.t.Helper()
	if got := e.count("events"); got != int64(n) {
		e.t.Errorf("events has %d rows, want %d", got, n)
	}
	if got := e.committedTotal(); got != int64(n) {
		e.t.Errorf("the group committed %d offsets in total, want %d", got, n)
	}
}

// runFails runs `kafka2pg run` (not --stop-at-end: the way it runs in
// production) and requires exit 1 within securityExitBound with every
// string of want in its output; it returns the output.
func runFails(t *testing.T, cfg string, want ...string) string {
	t.Helper()
	p := start(t, "run", "--config", cfg)
	select {
	case <-p.done:
	case <-time.After(securityExitBound):
		t.Fatalf("kafka2pg run did not exit within %s (want exit 1 naming %q); output:\n%s",
			securityExitBound, want, tail(p.out.String(), 40))
	}
	out := p.out.String()
	if p.code != 1 {
		t.Errorf("exit code %d, want 1; output:\n%s", p.code, tail(out, 40))
	}
	// slog's text format escapes quotes inside values.
	plain := strings.ReplaceAll(out, `\"`, `"`)
	for _, w := range want {
		if !strings.Contains(plain, w) {
			t.Errorf("output does not name %q:\n%s", w, tail(out, 40))
		}
	}
	return out
}

func tlsLines(ca string, extra ...string) string {
	s := fmt.Sprintf("  tls:\n    ca_file: %q\n", ca)
	for _, x := range extra {
		s += "    " + x + "\n"
	}
	return s
}

// saslLines reads the password from $passwordEnv, as a deployment would.
func saslLines(mechanism, user, passwordEnv string) string {
	return fmt.Sprintf("  sasl:\n    mechanism: %s\n    username: %q\n    password: ${%s}\n", mechanism, user, passwordEnv)
}

// Rows land over SASL_SSL (TLS verified against the test CA) with each
// mechanism the broker offers; SCRAM-SHA-512 is the one the issue names.
func TestKafkaSASLSSL(t *testing.T) {
	for _, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"} {
		t.Run(mech, func(t *testing.T) {
			const n = 300
			e := newSecuredEnv(t, n)
			t.Setenv("K2P_TEST_SASL_PW", testenv.SASLPassword(t))
			cfg := e.securedConfig(testenv.SASLSSLBrokers(t),
				tlsLines(testenv.CAFile(t))+saslLines(mech, testenv.SASLUser(t), "K2P_TEST_SASL_PW"), "")
			out := runToEnd(t, cfg)
			e.assertLanded(n)
			if strings.Contains(out, testenv.SASLPassword(t)) {
				t.Errorf("the output contains the SASL password:\n%s", out)
			}
		})
	}
}

// Rows land over the listener that requires a client certificate, so
// kafka2pg sent cert_file/key_file; the broker certificate is verified for
// the broker's IP and for server_name: localhost, and server_name is
// checked: a name the certificate does not carry fails.
func TestKafkaMutualTLS(t *testing.T) {
	client := []string{
		fmt.Sprintf("cert_file: %q", testenv.ClientCertFile(t)),
		fmt.Sprintf("key_file: %q", testenv.ClientKeyFile(t)),
	}
	for _, tc := range []struct{ name, serverName string }{
		{"broker address", ""},
		{"server_name localhost", "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 300
			e := newSecuredEnv(t, n)
			extra := client
			if tc.serverName != "" {
				extra = append(extra[:len(extra):len(extra)], fmt.Sprintf("server_name: %q", tc.serverName))
			}
			runToEnd(t, e.securedConfig(testenv.MTLSBrokers(t), tlsLines(testenv.CAFile(t), extra...), ""))
			e.assertLanded(n)
		})
	}
	t.Run("server_name not in the certificate", func(t *testing.T) {
		e := newSecuredEnv(t, 10)
		extra := append(client[:len(client):len(client)], `server_name: "kafka.invalid"`)
		runFails(t, e.securedConfig(testenv.MTLSBrokers(t), tlsLines(testenv.CAFile(t), extra...), ""),
			"certificate is valid for", "not kafka.invalid")
		if got := e.count("events"); got != 0 {
			t.Errorf("events has %d rows, want 0", got)
		}
	})
}

// A wrong SASL password ends the run with an authentication error, and the
// password is nowhere in the output.
func TestKafkaWrongSASLPassword(t *testing.T) {
	wrong := secret(t, "Wr0ng-Pa55word-for-kafka2pg")
	e := newSecuredEnv(t, 10)
	t.Setenv("K2P_TEST_SASL_PW", wrong)
	cfg := e.securedConfig(testenv.SASLSSLBrokers(t),
		tlsLines(testenv.CAFile(t))+saslLines("SCRAM-SHA-512", testenv.SASLUser(t), "K2P_TEST_SASL_PW"), "")
	out := runFails(t, cfg, "SASL_AUTHENTICATION_FAILED")
	if strings.Contains(out, wrong) {
		t.Errorf("the output contains the password:\n%s", out)
	}
	if got := e.count("events"); got != 0 {
		t.Errorf("events has %d rows, want 0", got)
	}
}

// A broker certificate that ca_file does not vouch for ends the run naming
// the verification failure.
func TestKafkaUntrustedCertificate(t *testing.T) {
	e := newSecuredEnv(t, 10)
	runFails(t, e.securedConfig(testenv.TLSBrokers(t), tlsLines(testenv.UntrustedCAFile(t)), ""),
		"certificate signed by unknown authority")
	if got := e.count("events"); got != 0 {
		t.Errorf("events has %d rows, want 0", got)
	}
}

// PostgreSQL over TLS: sslmode=verify-full with the test CA, and with a
// client certificate and no password (the role kafka2pg_cert can log in no
// other way), rows land; with a CA that did not sign the server's
// certificate, the run ends naming the verification failure.
func TestPostgresTLS(t *testing.T) {
	t.Run("verify-full", func(t *testing.T) {
		const n = 300
		e := newSecuredEnv(t, n)
		runToEnd(t, e.securedConfig(testenv.Brokers(t), "", testenv.WithDatabase(t, testenv.PGTLSURL(t), e.dbURL)))
		e.assertLanded(n)
	})
	t.Run("client certificate", func(t *testing.T) {
		const n = 300
		e := newSecuredEnv(t, n)
		dsn := testenv.WithDatabase(t, testenv.PGCertURL(t), e.dbURL)
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := u.User.Password(); ok {
			t.Fatal("the client-certificate URL carries a password; it must log in with the certificate alone")
		}
		runToEnd(t, e.securedConfig(testenv.Brokers(t), "", dsn))
		e.assertLanded(n)
	})
	t.Run("untrusted CA", func(t *testing.T) {
		e := newSecuredEnv(t, 10)
		dsn := testenv.WithParam(t, testenv.WithDatabase(t, testenv.PGTLSURL(t), e.dbURL), "sslrootcert", testenv.UntrustedCAFile(t))
		runFails(t, e.securedConfig(testenv.Brokers(t), "", dsn), "certificate signed by unknown authority")
		if got := e.count("events"); got != 0 {
			t.Errorf("events has %d rows, want 0", got)
		}
	})
}
