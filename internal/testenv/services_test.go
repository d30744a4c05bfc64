package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// These tests check the services that scripts/services.sh provides, not
// kafka2pg: when one fails, fix the script, not the engine.

func rootsFrom(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", file)
	}
	return pool
}

// The broker's SSL listener presents a certificate for 127.0.0.1 and
// localhost signed by the test CA, and by no other CA.
func TestKafkaTLSCertificate(t *testing.T) {
	addr := TLSBrokers(t)
	for _, name := range []string{"", "localhost"} {
		host, _, _ := net.SplitHostPort(addr)
		if name == "" {
			name = host
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: rootsFrom(t, CAFile(t)), ServerName: name, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatalf("TLS to %s as %q with the test CA: %v", addr, name, err)
		}
		_ = conn.Close()
	}
	_, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: rootsFrom(t, UntrustedCAFile(t)), MinVersion: tls.VersionTLS12})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("TLS to %s with the untrusted CA: %v, want x509.UnknownAuthorityError", addr, err)
	}
}

// kafkaPing connects with opts and sends one request (ApiVersions and
// metadata), bounded by a deadline.
func kafkaPing(t *testing.T, opts ...kgo.Opt) error {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.DialTimeout(10*time.Second), kgo.RequestRetries(0))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

// SASL_SSL accepts the SASL user with SCRAM-SHA-512 over TLS; the mTLS
// listener accepts the client certificate and refuses a client without one,
// so a test that reaches it proves its certificate was sent.
func TestKafkaTLSListeners(t *testing.T) {
	roots := rootsFrom(t, CAFile(t))
	cert, err := tls.LoadX509KeyPair(ClientCertFile(t), ClientKeyFile(t))
	if err != nil {
		t.Fatal(err)
	}
	scram512 := scram.Auth{User: SASLUser(t), Pass: SASLPassword(t)}.AsSha512Mechanism()
	cases := []struct {
		name    string
		opts    []kgo.Opt
		wantErr bool
	}{
		{"SSL", []kgo.Opt{kgo.SeedBrokers(TLSBrokers(t)), kgo.DialTLSConfig(&tls.Config{RootCAs: roots})}, false},
		{"SASL_SSL SCRAM-SHA-512", []kgo.Opt{kgo.SeedBrokers(SASLSSLBrokers(t)), kgo.DialTLSConfig(&tls.Config{RootCAs: roots}), kgo.SASL(scram512)}, false},
		{"mTLS with the client certificate", []kgo.Opt{kgo.SeedBrokers(MTLSBrokers(t)), kgo.DialTLSConfig(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}})}, false},
		{"mTLS without a client certificate", []kgo.Opt{kgo.SeedBrokers(MTLSBrokers(t)), kgo.DialTLSConfig(&tls.Config{RootCAs: roots})}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := kafkaPing(t, tc.opts...)
			if tc.wantErr && err == nil {
				t.Fatal("the request succeeded; the listener must refuse a client without a certificate")
			}
			if !tc.wantErr && err != nil {
				t.Fatal(err)
			}
		})
	}
}

// PostgreSQL: verify-full TLS with the test CA as the password role, and the
// client certificate as kafka2pg_cert without a password.
func TestPostgresTLS(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, url, user string }{
		{"verify-full", PGTLSURL(t), ""},
		{"client certificate", PGCertURL(t), "kafka2pg_cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := pgx.Connect(ctx, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var ssl bool
			var user string
			if err := conn.QueryRow(ctx, `SELECT ssl, current_user FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl, &user); err != nil {
				t.Fatal(err)
			}
			if !ssl {
				t.Error("the connection is not encrypted")
			}
			if tc.user != "" && user != tc.user {
				t.Errorf("logged in as %s, want %s", user, tc.user)
			}
		})
	}
	_, err := pgx.Connect(ctx, WithParam(t, PGTLSURL(t), "sslrootcert", UntrustedCAFile(t)))
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("verify-full with the untrusted CA: %v, want x509.UnknownAuthorityError", err)
	}
}

// PgBouncer reaches a database created on the server after it started, and
// pools in transaction mode: two open client connections share one server
// connection between transactions, and a transaction holds its own.
func TestPgBouncerTransactionMode(t *testing.T) {
	ctx := context.Background()
	dbURL, pool := NewDatabase(t)
	Exec(t, pool, `CREATE TABLE through_pooler (id int PRIMARY KEY)`)
	viaURL := WithDatabase(t, PgBouncerURL(t), dbURL)

	connect := func(url string) *pgx.Conn {
		t.Helper()
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		// No prepared statements: in transaction mode the next statement
		// may run on another server connection.
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("connecting through PgBouncer: %v", err)
		}
		t.Cleanup(func() { _ = c.Close(ctx) })
		return c
	}
	backend := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}) int {
		t.Helper()
		var pid int
		if err := q.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}

	a, b := connect(viaURL), connect(viaURL)
	if _, err := a.Exec(ctx, `INSERT INTO through_pooler VALUES (1)`); err != nil {
		t.Fatalf("insert through PgBouncer: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM through_pooler`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the server has %d rows (%v), want the 1 written through PgBouncer", n, err)
	}

	if pa, pb := backend(a), backend(b); pa != pb {
		t.Errorf("two idle clients ran on server connections %d and %d; transaction pooling shares one", pa, pb)
	}
	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if pa, pb := backend(tx), backend(b); pa == pb {
		t.Errorf("a client ran on server connection %d while another client's transaction held it", pb)
	}

	admin := connect(WithDatabase(t, PgBouncerURL(t), "postgres:///pgbouncer"))
	var mode string
	rows, err := admin.Query(ctx, `SHOW CONFIG`)
	if err != nil {
		t.Fatalf("SHOW CONFIG on the admin console: %v", err)
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) >= 2 && vals[0] == "pool_mode" {
			mode, _ = vals[1].(string)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if mode != "transaction" {
		t.Errorf("pool_mode = %q, want transaction", mode)
	}
}
