package e2e

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// The registry over TLS with basic auth, configured the way a user does it
// (schema_registry.tls.ca_file, username, password): Avro records land, and
// the password appears nowhere in the output. A wrong password stops the
// pipeline (a configuration problem, never a dead letter) without it either.
func TestFormatsRegistryTLSAuth(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	sr := srtest.NewTLS()
	t.Cleanup(sr.Close)
	const user, pass = "sink", "reg-s3cret-pw"
	sr.SetBasicAuth(user, pass)
	ca := filepath.Join(t.TempDir(), "registry-ca.pem")
	mustNoErr(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sr.Certificate().Raw}), 0o600))
	schema := `{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "long"}, {"name": "note", "type": "string"}]}`
	id := register(t, sr, e.topic+"-value", "AVRO", schema)
	testenv.Exec(t, e.pool, `CREATE TABLE orders (id bigint PRIMARY KEY, note text NOT NULL)`)
	for i := 1; i <= 3; i++ {
		testenv.Produce(t, testenv.Client(t), e.rec(nil, avroWire(t, id, schema, map[string]any{"id": int64(i), "note": fmt.Sprint("n", i)})))
	}
	cfgFor := func(password string) string {
		return e.config(fmt.Sprintf(`schema_registry:
  url: %q
  username: %s
  password: %s
  tls: {ca_file: %q}
  timeout: 5s
errors: {retry: {initial: 50ms, max: 200ms, max_elapsed: 3s}}
routes:
  - topic: {{topic}}
    table: orders
    value: {format: avro}
`, sr.URL(), user, password, ca))
	}
	// A wrong password: exit 1, nothing written, the password not shown.
	bad := start(t, "run", "--config", cfgFor("wrong-pw-zz"), "--stop-at-end")
	if code := bad.wait(t, 60*time.Second); code != 1 {
		t.Fatalf("wrong password: exit %d, want 1\n%s", code, tail(bad.out.String(), 10))
	}
	if out := bad.out.String(); !strings.Contains(out, "401") || strings.Contains(out, "wrong-pw-zz") {
		t.Fatalf("wrong password: want a 401 without the password:\n%s", tail(out, 10))
	}
	if n := e.texts(`SELECT count(*)::text FROM orders`); n[0] != "0" {
		t.Fatalf("rows after a refused registry: %v", n)
	}
	out := runToEnd(t, cfgFor(pass))
	equalLines(t, "orders", e.rowTexts("orders", "id", "id", "note"), []string{"1 | n1", "2 | n2", "3 | n3"})
	if strings.Contains(out, pass) {
		t.Fatalf("the registry password is in the output:\n%s", out)
	}
	if got := sr.Requests("/schemas/ids/"); got < 1 || got > 2 { // one per run that got that far
		t.Fatalf("%d schema requests", got)
	}
}

// format: string and bytes: the whole value goes to the column "value"; a
// bytes key fills a bytea key column byte for byte.
func TestFormatsStringBytes(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE blobs (k bytea PRIMARY KEY, value bytea)`)
	testenv.Produce(t, testenv.Client(t),
		e.rec([]byte{0, 1, 0xff}, []byte{0xde, 0xad, 0xbe, 0xef}),
		e.rec([]byte("k2"), []byte("plain")),
		e.rec([]byte{0, 1, 0xff}, []byte{0x00}), // same key: upsert
	)
	runToEnd(t, e.config(`routes:
  - topic: {{topic}}
    table: blobs
    key: {format: bytes}
    value: {format: bytes}
    mode: upsert
`))
	equalLines(t, "blobs", e.rowTexts("blobs", "k", "k", "value"), []string{`\x0001ff | \x00`, `\x6b32 | \x706c61696e`})

	e2 := newEnv(t, 1)
	testenv.Exec(t, e2.pool, `CREATE TABLE lines (value text NOT NULL)`)
	testenv.Produce(t, testenv.Client(t), e2.rec(nil, []byte(`{"not": "parsed"}`)), e2.rec(nil, []byte("héllo")),
		e2.rec(nil, []byte("ctl\x01\x7f\"q\"")))
	runToEnd(t, e2.config(`routes:
  - topic: {{topic}}
    table: lines
    value: {format: string}
`))
	equalLines(t, "lines", e2.texts(`SELECT value FROM lines WHERE value NOT LIKE 'ctl%' ORDER BY value`), []string{`héllo`, `{"not": "parsed"}`})
	// Control characters and DEL arrive as themselves, not as Go escapes.
	equalLines(t, "lines", e2.texts(`SELECT encode(convert_to(value, 'UTF8'), 'hex') FROM lines WHERE value LIKE 'ctl%'`),
		[]string{"63746c017f227122"})
}

// A schema registry outage is an outage, not bad data: while the registry
// answers 503, /readyz says 503, nothing is written and nothing is
// dead-lettered (errors.tolerance: all with a DLQ table); when it recovers
// every record lands.
func TestFormatsRegistryOutage(t *testing.T) {
	parallel(t)
	e := newEnv(t, 2)
	sr := srtest.New(t)
	schema := `{"type": "record", "name": "E", "fields": [{"name": "id", "type": "long"}]}`
	id := register(t, sr, e.topic+"-value", "AVRO", schema)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint PRIMARY KEY)`)
	sr.FailNext(1_000_000, 503)
	const n = 200
	for i := range n {
		testenv.Produce(t, testenv.Client(t), &kgo.Record{Topic: e.topic, Partition: int32(i % 2), Value: avroWire(t, id, schema, map[string]any{"id": int64(i)})})
	}
	addr := freePort(t)
	p := start(t, "run", "--config", e.config(registryYAML(sr)+fmt.Sprintf(`http: {listen: %q}
errors:
  tolerance: all
  dlq: {table: dead}
  retry: {initial: 50ms, max: 300ms}
routes:
  - topic: {{topic}}
    table: events
    value: {format: avro}
`, addr)))
	eventually(t, 30*time.Second, "/readyz 503 while the registry is down", func() bool { return httpStatus(addr, "/readyz") == 503 })
	time.Sleep(time.Second)
	if rows, dead := e.count("events"), e.count("dead"); rows != 0 || dead != 0 {
		t.Fatalf("during the outage: %d rows, %d dead letters; want none", rows, dead)
	}
	sr.FailNext(0, 0)
	eventually(t, 30*time.Second, "every record written", func() bool { return e.count("events") == n })
	eventually(t, 10*time.Second, "/readyz 200 again", func() bool { return httpStatus(addr, "/readyz") == 200 })
	if dead := e.count("dead"); dead != 0 {
		t.Fatalf("%d dead letters after a registry outage", dead)
	}
	if !strings.Contains(p.out.String(), "schema registry") {
		t.Fatalf("the retries do not name the registry:\n%s", tail(p.out.String(), 10))
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
