// Package testenv gives tests the real Kafka broker, PostgreSQL server and
// PgBouncer that scripts/services.sh starts. Tests read KAFKA2PG_TEST_BROKERS,
// KAFKA2PG_TEST_DATABASE_URL and the other KAFKA2PG_TEST_* variables the
// script prints (TLS and SASL listeners, CA and client certificate files,
// TLS and PgBouncer URLs); when one is unset a test is skipped, except under
// CI=true, where it fails: CI must never count a skipped test as a pass.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set; run the tests through `make test` (scripts/services.sh up provides it)", name)
	}
	t.Skipf("%s is not set; `eval \"$(scripts/services.sh up)\"` starts the services", name)
	return ""
}

// Brokers returns the test broker's address.
func Brokers(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_BROKERS") }

// DatabaseURL returns the superuser URL of the test server.
func DatabaseURL(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_DATABASE_URL") }

// SASLBrokers returns the broker's SASL_PLAINTEXT listener.
func SASLBrokers(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_SASL_BROKERS") }

// SASLUser returns the user that every SASL mechanism (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512) of the SASL listeners accepts.
func SASLUser(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_SASL_USER") }

// SASLPassword returns SASLUser's password.
func SASLPassword(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_SASL_PASSWORD") }

// TLSBrokers returns the broker's SSL listener: server authentication only
// (certificate for 127.0.0.1 and localhost, signed by CAFile).
func TLSBrokers(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_TLS_BROKERS") }

// SASLSSLBrokers returns the broker's SASL_SSL listener (the SASL user over
// TLS with the server certificate of TLSBrokers).
func SASLSSLBrokers(t testing.TB) string {
	t.Helper()
	return need(t, "KAFKA2PG_TEST_SASL_SSL_BROKERS")
}

// MTLSBrokers returns the broker's SSL listener that requires a client
// certificate signed by CAFile (ClientCertFile is one).
func MTLSBrokers(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_MTLS_BROKERS") }

// CAFile returns the PEM file of the test CA, which signs the server
// certificates of the broker and of PostgreSQL and the client certificate.
func CAFile(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_CA_FILE") }

// UntrustedCAFile returns the PEM file of a CA that signs none of the test
// servers' certificates.
func UntrustedCAFile(t testing.TB) string {
	t.Helper()
	return need(t, "KAFKA2PG_TEST_UNTRUSTED_CA_FILE")
}

// ClientCertFile returns the PEM client certificate signed by CAFile; its
// common name is kafka2pg_cert, the PostgreSQL role of PGCertURL.
func ClientCertFile(t testing.TB) string {
	t.Helper()
	return need(t, "KAFKA2PG_TEST_CLIENT_CERT_FILE")
}

// ClientKeyFile returns the PEM (PKCS#8) key of ClientCertFile.
func ClientKeyFile(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_CLIENT_KEY_FILE") }

// PGTLSURL returns the superuser URL of the test server over TLS with
// sslmode=verify-full and sslrootcert=CAFile (database postgres).
func PGTLSURL(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_PG_TLS_URL") }

// PGCertURL returns a URL of the test server for the superuser role
// kafka2pg_cert, which logs in with the client certificate (sslcert,
// sslkey) and no password, over verify-full TLS (database postgres).
func PGCertURL(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_PG_CERT_URL") }

// PgBouncerURL returns the superuser URL of PgBouncer (pool_mode=transaction)
// in front of the test server; any database name reaches the database of
// that name on the server (database postgres).
func PgBouncerURL(t testing.TB) string { t.Helper(); return need(t, "KAFKA2PG_TEST_PGBOUNCER_URL") }

// WithDatabase returns serverURL (one of the URLs above) with the database
// of dbURL (from NewDatabase), keeping serverURL's user, host and options.
func WithDatabase(t testing.TB, serverURL, dbURL string) string {
	t.Helper()
	s, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("parsing the server URL: %v", err)
	}
	d, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("parsing the database URL: %v", err)
	}
	s.Path, s.RawPath = d.Path, d.RawPath
	return s.String()
}

// WithParam returns rawURL with its query parameter key set to value (for
// example sslrootcert, to try another CA).
func WithParam(t testing.TB, rawURL, key, value string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parsing a URL to set %s: %v", key, err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// Name returns a unique lower-case identifier with the given prefix, usable
// as a topic, group, database or table name.
func Name(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// NewDatabase creates a fresh database for the test, dropped at cleanup, and
// returns its URL and a pool on it.
func NewDatabase(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	admin := DatabaseURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	name := Name("k2p_test")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("creating database: %v", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return dbURL, pool
}

// NewRole creates a login role with a random password on the server of
// dbURL, dropped at cleanup with what it owns, runs each grant on pool with
// %s replaced by the role's quoted name ("GRANT SELECT ON t TO %s"), and
// returns dbURL logging in as the role.
func NewRole(t testing.TB, pool *pgxpool.Pool, dbURL, prefix string, grants ...string) string {
	t.Helper()
	role := Name(prefix)
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	pw := hex.EncodeToString(b)
	ident := pgx.Identifier{role}.Sanitize()
	// CREATE ROLE takes no bound parameters; the password is hex.
	Exec(t, pool, "CREATE ROLE "+ident+" LOGIN PASSWORD '"+pw+"'")
	t.Cleanup(func() {
		Exec(t, pool, "DROP OWNED BY "+ident)
		Exec(t, pool, "DROP ROLE "+ident)
	})
	for _, g := range grants {
		Exec(t, pool, strings.ReplaceAll(g, "%s", ident))
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("parsing the database URL: %v", err)
	}
	u.User = url.UserPassword(role, pw)
	return u.String()
}

// Exec runs SQL statements on pool, failing the test on error.
func Exec(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Client returns a Kafka client on the test broker, closed at cleanup.
func Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(Brokers(t), ",")...),
		kgo.ProducerLinger(2 * time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates a topic with the given partitions (replication 1)
// and deletes it at cleanup.
func CreateTopic(t testing.TB, name string, partitions int) {
	t.Helper()
	cl := Client(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, name)
	})
}

// Produce writes records synchronously; each record's Topic and Partition
// must be set (the test client partitions manually).
func Produce(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// Committed returns the group's committed offsets for topic, by partition.
func Committed(t testing.TB, group, topic string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetching offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of a kafka2pg binary: $KAFKA2PG_BIN when set (make
// test builds it), else one built once per test process (with -race).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("KAFKA2PG_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "kafka2pg-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "kafka2pg")
		cmd := exec.Command("go", "build", "-tags", "failpoint", "-o", binPath, "./cmd/kafka2pg")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building kafka2pg: %v\n%s", buildErr, binPath)
	}
	return binPath
}
