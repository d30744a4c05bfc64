package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Migrating from Kafka Connect: a realistic Confluent JDBC sink
// configuration (upsert on a struct key, deletes, JsonConverter with
// schemas for keys and values) is converted by `kafka2pg import-connect`;
// with the placeholders filled from the environment, `kafka2pg run` picks
// up where the connector stopped (its group connect-NAME and the offsets
// it committed) and the table ends equal to the model of every record.
func TestImportConnect(t *testing.T) {
	e := newEnv(t, 3)
	name := testenv.Name("orders_sink")
	group := "connect-" + name
	cl := testenv.Client(t)
	ctx := context.Background()

	// The table as the connector's auto.create made it
	// (PostgreSqlDatabaseDialect: BIGINT, TEXT, DECIMAL, the key as primary key).
	testenv.Exec(t, e.pool, `CREATE TABLE "orders" ("id" BIGINT NOT NULL, "status" TEXT NOT NULL, "amount" DECIMAL NOT NULL, "version" BIGINT NOT NULL, PRIMARY KEY("id"))`)

	// Phase 1: what the connector consumed and wrote before it was stopped.
	m := model{}
	g := newConnectOrderGen(e.topic, 3, 150, 0.08, 17)
	testenv.Produce(t, cl, g.next(600, m)...)
	for _, o := range m {
		testenv.Exec(t, e.pool, `INSERT INTO "orders" VALUES ($1, $2, $3, $4)`, o.ID, o.Status, o.Amount, o.Version)
	}
	offs := make(kadm.Offsets)
	for p, n := range g.perPart {
		offs.Add(kadm.Offset{Topic: e.topic, Partition: p, At: n, LeaderEpoch: -1})
	}
	resp, err := kadm.NewClient(cl).CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	mustNoErr(t, err)

	// Phase 2: records the connector never saw.
	testenv.Produce(t, cl, g.next(900, m)...)

	// The connector's configuration, as posted to Connect's REST API.
	db, err := url.Parse(e.dbURL)
	mustNoErr(t, err)
	password, _ := db.User.Password()
	connector := map[string]any{
		"name": name,
		"config": map[string]string{
			"connector.class":                "io.confluent.connect.jdbc.JdbcSinkConnector",
			"tasks.max":                      "3",
			"topics":                         e.topic,
			"connection.url":                 fmt.Sprintf("jdbc:postgresql://%s%s?sslmode=disable", db.Host, db.Path),
			"connection.user":                db.User.Username(),
			"connection.password":            password,
			"table.name.format":              "orders",
			"insert.mode":                    "upsert",
			"pk.mode":                        "record_key",
			"pk.fields":                      "id",
			"delete.enabled":                 "true",
			"auto.create":                    "true",
			"batch.size":                     "100",
			"key.converter":                  "org.apache.kafka.connect.json.JsonConverter",
			"key.converter.schemas.enable":   "true",
			"value.converter":                "org.apache.kafka.connect.json.JsonConverter",
			"value.converter.schemas.enable": "true",
		},
	}
	body, err := json.MarshalIndent(connector, "", "  ")
	mustNoErr(t, err)
	dir := t.TempDir()
	connectPath := filepath.Join(dir, "orders-sink.json")
	mustNoErr(t, os.WriteFile(connectPath, body, 0o600))

	cmd := exec.Command(testenv.Binary(t), "import-connect", connectPath)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("import-connect: %v (want exit 0: everything carried over)\n%s", err, stderr.String())
	}
	pipeline := stdout.String()
	if password != "" && (strings.Contains(pipeline, password) || strings.Contains(stderr.String(), password)) {
		t.Fatalf("import-connect printed the connection password")
	}
	for _, want := range []string{"group: " + group, `brokers: ["${KAFKA_BROKERS}"]`, "${POSTGRES_PASSWORD}@", "mode: upsert",
		"conflict_key: [id]", "delete_on_tombstone: true", "key: {format: json-connect}", "value: {format: json-connect}", "max_rows: 100"} {
		if !strings.Contains(pipeline, want) {
			t.Errorf("converted configuration lacks %q:\n%s", want, pipeline)
		}
	}
	for _, want := range []string{"KAFKA_BROKERS", "POSTGRES_PASSWORD"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("import-connect's stderr does not say to set %s:\n%s", want, stderr.String())
		}
	}

	// Fill the placeholders the way a user does: from the environment.
	t.Setenv("KAFKA_BROKERS", testenv.Brokers(t))
	t.Setenv("POSTGRES_PASSWORD", password)
	pipelinePath := filepath.Join(dir, "pipeline.yaml")
	mustNoErr(t, os.WriteFile(pipelinePath, []byte(pipeline), 0o600))
	out := runToEnd(t, pipelinePath)

	// It started at the connector's committed offsets: only phase 2 was read.
	if !strings.Contains(out, "records=900") {
		t.Errorf("kafka2pg should have read only the 900 records after the connector's offsets:\n%s", tail(out, 5))
	}
	e.assertOrders(m)
	committed := testenv.Committed(t, group, e.topic)
	for p, want := range g.perPart {
		if committed[p] != want {
			t.Errorf("partition %d: group %s committed %d, want %d", p, group, committed[p], want)
		}
	}
}

// connectOrderGen produces order events as Kafka Connect's JsonConverter
// writes them with schemas.enable=true: a struct key {id} and a struct
// value whose amount is a Connect Decimal (base64 of the unscaled
// big-endian two's-complement integer, scale 2); a deleted order is a
// tombstone (null value).
type connectOrderGen struct {
	rng        *rand.Rand
	topic      string
	partitions int
	keys       int
	tombstones float64
	versions   map[int64]int64
	perPart    map[int32]int64
}

func newConnectOrderGen(topic string, partitions, keys int, tombstones float64, seed uint64) *connectOrderGen {
	return &connectOrderGen{rng: rand.New(rand.NewPCG(seed, 11)), topic: topic, partitions: partitions, keys: keys,
		tombstones: tombstones, versions: map[int64]int64{}, perPart: map[int32]int64{}}
}

const (
	connectKeySchema   = `{"type": "struct", "name": "orders.Key", "optional": false, "fields": [{"field": "id", "type": "int64", "optional": false}]}`
	connectValueSchema = `{"type": "struct", "name": "orders.Value", "optional": false, "fields": [
		{"field": "id", "type": "int64", "optional": false},
		{"field": "status", "type": "string", "optional": false},
		{"field": "amount", "type": "bytes", "optional": false, "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": {"scale": "2", "connect.decimal.precision": "12"}},
		{"field": "version", "type": "int64", "optional": false}]}`
)

// connectDecimal encodes cents as a Connect Decimal of scale 2.
func connectDecimal(cents int64) string {
	b := big.NewInt(cents).Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...) // keep the two's-complement sign positive
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (g *connectOrderGen) next(n int, m model) []*kgo.Record {
	recs := make([]*kgo.Record, 0, n)
	for range n {
		id := int64(g.rng.IntN(g.keys)) + 1
		g.versions[id]++
		key := []byte(`{"schema": ` + connectKeySchema + `, "payload": {"id": ` + strconv.FormatInt(id, 10) + `}}`)
		r := &kgo.Record{Topic: g.topic, Key: key, Partition: partitionOf(key, g.partitions)}
		if g.rng.Float64() < g.tombstones {
			delete(m, id)
		} else {
			cents := int64(g.rng.IntN(1000000))
			o := order{ID: id, Status: []string{"new", "paid", "shipped"}[g.rng.IntN(3)],
				Amount: fmt.Sprintf("%d.%02d", cents/100, cents%100), Version: g.versions[id]}
			payload := fmt.Sprintf(`{"id": %d, "status": %q, "amount": %q, "version": %d}`, o.ID, o.Status, connectDecimal(cents), o.Version)
			r.Value = []byte(`{"schema": ` + connectValueSchema + `, "payload": ` + payload + `}`)
			m[id] = o
		}
		g.perPart[r.Partition]++
		recs = append(recs, r)
	}
	return recs
}

// import-connect's exit codes: 0 when everything carried over, 3 when some
// settings did not (the pipeline is still printed, the settings listed as
// key=value: reason), 2 for bad usage and for input that is not a JDBC sink
// configuration (nothing on stdout). It needs no services.
func TestImportConnectExitCodes(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		mustNoErr(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	complete := file("ok.properties", "name=s\nconnector.class=io.confluent.connect.jdbc.JdbcSinkConnector\ntopics=orders\n"+
		"connection.url=jdbc:postgresql://db/shop\nconnection.user=u\nconnection.password=hunter2\n"+
		"key.converter=org.apache.kafka.connect.storage.StringConverter\nvalue.converter=org.apache.kafka.connect.json.JsonConverter\n")
	partial := file("partial.json", `{"name": "s", "config": {"connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector", "topics": "orders",
		"connection.url": "jdbc:postgresql://db/shop?password=hunter2", "connection.username": "u", "primary.key.mode": "record_key",
		"delete.enabled": "true", "truncate.enabled": "true", "hibernate.c3p0.max_size": "5"}}`)
	sqlite := file("sqlite.properties", "name=s\nconnector.class=io.confluent.connect.jdbc.JdbcSinkConnector\ntopics=orders\nconnection.url=jdbc:sqlite:test.db\n")
	source := file("source.json", `{"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "database.password": "hunter2"}`)
	cases := []struct {
		name        string
		args        []string
		stdin       string
		code        int
		stdout      []string
		stderr      []string
		emptyStdout bool
	}{
		{"complete", []string{complete}, "", 0, []string{"group: connect-s", "mode: insert"}, []string{"converted Confluent JDBC sink connector s", "POSTGRES_PASSWORD"}, false},
		{"complete, from stdin, with flags", []string{"--brokers", "k1:9092,k2:9092", "--group", "g2", "-"}, "name=s\nconnector.class=io.confluent.connect.jdbc.JdbcSinkConnector\ntopics=orders\nconnection.url=jdbc:postgresql://db/shop\n",
			0, []string{`brokers: ["k1:9092", "k2:9092"]`, "group: g2"}, nil, false},
		{"partial", []string{partial}, "", 3, []string{"unwrap: debezium", "on_truncate: fail"},
			[]string{"Not carried over (2):", "truncate.enabled=true: kafka2pg does not truncate tables", "hibernate.c3p0.max_size=5: Hibernate settings"}, false},
		{"not PostgreSQL", []string{sqlite}, "", 2, nil, []string{"connection.url: a jdbc:sqlite URL"}, true},
		{"not a JDBC sink", []string{source}, "", 2, nil, []string{"is not a JDBC sink connector kafka2pg can convert"}, true},
		{"no file", []string{}, "", 2, nil, []string{"want one FILE"}, true},
		{"missing file", []string{filepath.Join(dir, "nope.json")}, "", 2, nil, []string{"nope.json"}, true},
		{"bad flag value", []string{"--brokers", "k1", complete}, "", 2, nil, []string{`--brokers: want host:port, got "k1"`}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(testenv.Binary(t), append([]string{"import-connect"}, tc.args...)...)
			var stdout, stderr strings.Builder
			cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(tc.stdin), &stdout, &stderr
			code := 0
			if err := cmd.Run(); err != nil {
				ee, ok := err.(*exec.ExitError)
				if !ok {
					t.Fatal(err)
				}
				code = ee.ExitCode()
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, stderr.String())
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tc.emptyStdout && stdout.Len() > 0 {
				t.Errorf("stdout should be empty:\n%s", stdout.String())
			}
			if strings.Contains(stdout.String()+stderr.String(), "hunter2") {
				t.Errorf("a password was printed")
			}
		})
	}
}
