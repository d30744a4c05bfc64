package config

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// env returns a lookupEnv over a fixed map.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// lines joins document lines so that lines[i] is line i+1.
func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

// minimal is the smallest valid document; tests append keys after it.
var minimal = []string{
	"kafka:",                               // 1
	"  brokers: [\"127.0.0.1:9092\"]",      // 2
	"  group: orders-sink",                 // 3
	"  topics: [orders]",                   // 4
	"postgres:",                            // 5
	"  url: postgres://u:pw@127.0.0.1/app", // 6
	"routes:",                              // 7
	"  - topic: orders",                    // 8
}

// with returns minimal with extra lines appended (starting at line 9).
func with(extra ...string) []byte {
	return lines(append(append([]string(nil), minimal...), extra...)...)
}

func mustParse(t *testing.T, data []byte, vars map[string]string) *Config {
	t.Helper()
	cfg, err := Parse(data, env(vars))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func problemsOf(t *testing.T, data []byte, vars map[string]string) []Problem {
	t.Helper()
	cfg, err := Parse(data, env(vars))
	if err == nil {
		t.Fatalf("Parse succeeded, want problems; config: %s", cfg.Redacted())
	}
	if cfg != nil {
		t.Errorf("Parse returned a Config with an error")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T, want *ValidationError: %v", err, err)
	}
	if len(ve.Problems) == 0 {
		t.Fatal("ValidationError without problems")
	}
	return ve.Problems
}

func TestParseMinimalFillsEveryDefault(t *testing.T) {
	got := mustParse(t, lines(minimal...), nil)
	want := &Config{
		Kafka: Kafka{
			Brokers:        []string{"127.0.0.1:9092"},
			Group:          "orders-sink",
			Topics:         []string{"orders"},
			Start:          "earliest",
			ClientID:       "kafka2pg",
			SessionTimeout: Duration(45 * time.Second),
			FetchMaxBytes:  4 * MiB,
		},
		Postgres:       Postgres{URL: "postgres://u:pw@127.0.0.1/app", MaxConns: 4, OffsetsTable: "kafka2pg_offsets", Pooler: "none", IOTimeout: Duration(30 * time.Second)},
		SchemaRegistry: SchemaRegistry{Timeout: Duration(10 * time.Second)},
		Delivery:       "at-least-once",
		Batch: Batch{
			MaxRows:          10000,
			MaxBytes:         16 * MiB,
			MaxWait:          Duration(100 * time.Millisecond),
			GroupRows:        1000,
			BacklogMerge:     "auto",
			BacklogMaxRows:   1000000,
			BacklogMaxAge:    Duration(30 * time.Second),
			MaxInflightBytes: 64 * MiB,
		},
		Errors: Errors{
			Tolerance: "none",
			Retry:     Retry{Initial: Duration(100 * time.Millisecond), Max: Duration(30 * time.Second)},
		},
		Log:             Log{Format: "text", Level: "info"},
		ShutdownTimeout: Duration(30 * time.Second),
		Routes: []Route{{
			Topic:    "orders",
			Table:    "orders",
			Value:    Format{"json"},
			Key:      Format{"string"},
			Mode:     "insert",
			Debezium: Debezium{OnTruncate: "ignore"},
		}},
	}
	got.lines = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(minimal):\n got %+v\nwant %+v", got, want)
	}
}

// fullWant is testdata/full.yaml parsed with fullEnv.
var (
	fullEnv  = map[string]string{"KAFKA_PASSWORD": "k-secret-1", "PGPASSWORD": "pg-secret-2"}
	fullWant = &Config{
		Kafka: Kafka{
			Brokers:        []string{"kafka-1.internal:9092", "kafka-2.internal:9092"},
			Group:          "orders-sink",
			Topics:         []string{"orders", "customers", "shop.events.v1", "pg.public.invoices", "shop.audit"},
			Start:          "latest",
			ClientID:       "orders-sink-1",
			SessionTimeout: Duration(30 * time.Second),
			FetchMaxBytes:  32 * MiB,
			TLS: &TLS{
				CAFile:     "/etc/kafka2pg/ca.pem",
				CertFile:   "/etc/kafka2pg/client.pem",
				KeyFile:    "/etc/kafka2pg/client.key",
				ServerName: "kafka.internal",
			},
			SASL: &SASL{Mechanism: "SCRAM-SHA-512", Username: "orders-sink", Password: "k-secret-1"},
		},
		Postgres: Postgres{
			URL:          "postgres://sink:pg-secret-2@db.internal:5432/shop?sslmode=verify-full",
			MaxConns:     8,
			OffsetsTable: "sink.kafka2pg_offsets",
			Pooler:       "none",
			IOTimeout:    Duration(30 * time.Second),
		},
		SchemaRegistry: SchemaRegistry{URL: "http://registry.internal:8081", Username: "sink", Timeout: Duration(10 * time.Second),
			TLS: &TLS{CAFile: "/etc/kafka2pg/registry-ca.pem"}},
		Delivery: "at-least-once",
		Batch: Batch{
			MaxRows:          5000,
			MaxBytes:         8 * MiB,
			MaxWait:          Duration(250 * time.Millisecond),
			GroupRows:        1000,
			BacklogMerge:     "auto",
			BacklogMaxRows:   1000000,
			BacklogMaxAge:    Duration(30 * time.Second),
			MaxInflightBytes: 128 * MiB,
		},
		Errors: Errors{
			Tolerance: "none",
			Retry: Retry{
				Initial:    Duration(200 * time.Millisecond),
				Max:        Duration(time.Minute),
				MaxElapsed: Duration(10 * time.Minute),
			},
		},
		HTTP:            HTTP{Listen: "127.0.0.1:9187"},
		Log:             Log{Format: "json", Level: "debug"},
		ShutdownTimeout: Duration(time.Minute),
		Routes: []Route{
			{
				Name:              "orders",
				Topic:             "orders",
				Table:             "shop.orders",
				Value:             Format{"json"},
				Key:               Format{"string"},
				Mode:              "upsert",
				ConflictKey:       []string{"order_id"},
				DeleteOnTombstone: true,
				VersionColumn:     "updated_at",
				SoftDeleteColumn:  "deleted_at",
				Filter:            "value.status != 'test'",
				Columns:           map[string]string{"total_cents": "int(double(value.total) * 100.0)"},
				Debezium:          Debezium{OnTruncate: "ignore"},
			},
			{
				Name:              "order_items",
				Topic:             "orders",
				Table:             "shop.order_items",
				Value:             Format{"json"},
				Key:               Format{"string"},
				Mode:              "upsert",
				ConflictKey:       []string{"order_id", "line"},
				DeleteOnTombstone: true,
				Each:              "value.items",
				ReplaceBy:         []string{"order_id"},
				Columns:           map[string]string{"order_id": "value.order_id", "line": "index"},
				Debezium:          Debezium{OnTruncate: "ignore"},
			},
			{
				Topics:   []string{"customers"},
				Table:    "customers",
				Value:    Format{"json"},
				Key:      Format{"json"},
				Mode:     "upsert",
				Debezium: Debezium{OnTruncate: "ignore"},
			},
			{
				Topic:    "shop.events.v1",
				Table:    "shop_events_v1",
				Value:    Format{"json"},
				Key:      Format{"string"},
				Mode:     "raw",
				Debezium: Debezium{OnTruncate: "ignore"},
			},
			{
				Topic:         "pg.public.invoices",
				Table:         "invoices",
				Value:         Format{"avro"},
				Key:           Format{"avro"},
				Mode:          "upsert",
				Unwrap:        "debezium",
				Debezium:      Debezium{OnTruncate: "ignore"},
				VersionColumn: "__lsn",
				AutoCreate:    true,
				AutoEvolve:    true,
			},
			{
				Topic:     "shop.audit",
				TableExpr: "'audit.' + value.kind",
				Value:     Format{"json"},
				Key:       Format{"string"},
				Mode:      "insert",
				Debezium:  Debezium{OnTruncate: "ignore"},
			},
		},
	}
)

func TestLoadFull(t *testing.T) {
	for k, v := range fullEnv {
		t.Setenv(k, v)
	}
	got, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.lines["routes[3].mode"] != 87 {
		t.Errorf("line of routes[3].mode = %d, want 87", got.lines["routes[3].mode"])
	}
	got.lines = nil
	if !reflect.DeepEqual(got, fullWant) {
		t.Errorf("Load(full.yaml):\n got %+v\nwant %+v", got, fullWant)
	}
	if r := got.RoutesFor("customers"); len(r) != 1 || r[0] != &got.Routes[2] {
		t.Errorf("RoutesFor(customers) = %v, want routes[2]", r)
	}
	if r := got.RoutesFor("orders"); len(r) != 2 || r[0] != &got.Routes[0] || r[1] != &got.Routes[1] {
		t.Errorf("RoutesFor(orders) = %v, want routes[0] and routes[1]", r)
	}
	if s, tb := got.Routes[0].TableName(); s != "shop" || tb != "orders" {
		t.Errorf("routes[0].TableName() = %q, %q", s, tb)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		t.Errorf("Load(missing) returned a ValidationError")
	}
	if err == nil || !strings.Contains(err.Error(), "testdata/does-not-exist.yaml") {
		t.Errorf("Load(missing) error %v does not name the path", err)
	}

	// An unset variable is the document's fault: a ValidationError.
	t.Setenv("KAFKA_PASSWORD", "x")
	t.Setenv("PGPASSWORD", "")
	os.Unsetenv("PGPASSWORD")
	_, err = Load("testdata/full.yaml")
	if !errors.As(err, &ve) || len(ve.Problems) != 1 ||
		ve.Problems[0] != (Problem{"postgres.url", 22, "environment variable PGPASSWORD is not set"}) {
		t.Fatalf("Load without PGPASSWORD: %v", err)
	}
}

func TestEnvExpansionInParse(t *testing.T) {
	tests := []struct {
		name  string
		extra []string
		vars  map[string]string
		check func(*Config) any // returns the value to compare
		want  any
	}{
		{
			name:  "integer from variable",
			extra: []string{"batch:", "  max_rows: ${ROWS}"},
			vars:  map[string]string{"ROWS": "250"},
			check: func(c *Config) any { return c.Batch.MaxRows },
			want:  250,
		},
		{
			name:  "quoted integer from variable",
			extra: []string{"batch:", "  max_rows: \"${ROWS}\""},
			vars:  map[string]string{"ROWS": "250"},
			check: func(c *Config) any { return c.Batch.MaxRows },
			want:  250,
		},
		{
			name:  "default used when unset",
			extra: []string{"batch:", "  max_wait: ${WAIT:-5s}"},
			check: func(c *Config) any { return c.Batch.MaxWait },
			want:  Duration(5 * time.Second),
		},
		{
			name:  "default used when empty",
			extra: []string{"batch:", "  max_wait: ${WAIT:-5s}"},
			vars:  map[string]string{"WAIT": ""},
			check: func(c *Config) any { return c.Batch.MaxWait },
			want:  Duration(5 * time.Second),
		},
		{
			name:  "value wins over default",
			extra: []string{"batch:", "  max_wait: ${WAIT:-5s}"},
			vars:  map[string]string{"WAIT": "1s"},
			check: func(c *Config) any { return c.Batch.MaxWait },
			want:  Duration(time.Second),
		},
		{
			name:  "empty expansion means not set",
			extra: []string{"batch:", "  max_wait: ${WAIT:-}"},
			check: func(c *Config) any { return c.Batch.MaxWait },
			want:  Duration(100 * time.Millisecond),
		},
		{
			name:  "inside a string, with $$ and a lone $",
			extra: []string{"schema_registry:", "  url: http://u:${PW}@h/x?a=$$b&c=$5"},
			vars:  map[string]string{"PW": "p@ss"},
			check: func(c *Config) any { return c.SchemaRegistry.URL },
			want:  "http://u:p@ss@h/x?a=$b&c=$5",
		},
		{
			name:  "variable value is not YAML",
			extra: []string{"schema_registry:", "  username: ${U}"},
			vars:  map[string]string{"U": "a # b: [c]"},
			check: func(c *Config) any { return c.SchemaRegistry.Username },
			want:  "a # b: [c]",
		},
		{
			name:  "boolean from variable",
			extra: []string{"    delete_on_tombstone: ${DEL}"},
			vars:  map[string]string{"DEL": "true"},
			check: func(c *Config) any { return c.Routes[0].DeleteOnTombstone },
			want:  true,
		},
		{
			name:  "list item from variable",
			extra: []string{"    mode: upsert", "    conflict_key: [\"${C}\", id]"},
			vars:  map[string]string{"C": "tenant"},
			check: func(c *Config) any { return c.Routes[0].ConflictKey },
			want:  []string{"tenant", "id"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, with(tt.extra...), tt.vars)
			if got := tt.check(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseKeysAreNotExpanded(t *testing.T) {
	ps := problemsOf(t, with("${KEY}: x"), map[string]string{"KEY": "delivery"})
	if len(ps) != 1 || ps[0].Path != "${KEY}" || ps[0].Line != 9 || !strings.HasPrefix(ps[0].Msg, "unknown key") {
		t.Errorf("problems = %v", ps)
	}
}

// replaced returns minimal with line n (1-based) replaced by text, which may
// hold several lines.
func replaced(n int, text string) []byte {
	ls := append([]string(nil), minimal...)
	ls[n-1] = text
	return lines(ls...)
}

// TestProblems asserts each documented message: path, line and text.
func TestProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  []byte
		vars map[string]string
		path string
		line int
		msg  string // a fragment of Msg
	}{
		// Structure and types.
		{"unknown key with suggestion", lines("kafka:", "  group: g", "  brokerz: [a:1]"), nil,
			"kafka.brokerz", 3, "unknown key; did you mean brokers?"},
		{"unknown key without suggestion", with("frobnicate: 1"), nil,
			"frobnicate", 9, "unknown key; want one of batch, delivery, errors, http, kafka, log, postgres, routes, schema_registry, shutdown_timeout"},
		{"unknown key in route", with("    tabel: x"), nil,
			"routes[0].tabel", 9, "did you mean table?"},
		{"wrong type integer", with("batch:", "  max_rows: lots"), nil,
			"batch.max_rows", 10, `want an integer, got "lots"`},
		{"wrong type bool", with("    delete_on_tombstone: yes"), nil,
			"routes[0].delete_on_tombstone", 9, `want true or false, got "yes"`},
		{"wrong type list", with("errors:", "  retry: [1s]"), nil,
			"errors.retry", 10, "want a mapping, got a list"},
		{"scalar for a list", lines("kafka:", "  brokers: \"a:1\""), nil,
			"kafka.brokers", 2, `want a list, got "a:1"`},
		{"mapping for a string", with("log:", "  level: {x: 1}"), nil,
			"log.level", 10, "want a string, got a mapping"},
		{"null list item", with("    topics: [~]"), nil,
			"routes[0].topics[0]", 9, "want a string, got null"},
		{"duplicate key", with("delivery: at-least-once", "delivery: at-least-once"), nil,
			"delivery", 10, "duplicate key; first given at line 9"},
		{"syntax error (parser)", lines("kafka:", "  brokers: [a:1", "group: x"), nil,
			"", 2, "invalid YAML: did not find expected ',' or ']'"},
		{"syntax error (scanner)", lines("kafka:", "  group: x", "  brokers: a: b"), nil,
			"", 3, "invalid YAML: mapping values are not allowed in this context"},
		{"second document", append(lines(minimal...), "---\nlog: {}\n"...), nil,
			"", 9, "a second YAML document"},
		{"top level not a mapping", lines("- a"), nil,
			"", 1, `want a mapping, got a list`},
		{"duration without unit", with("batch:", "  max_wait: 100"), nil,
			"batch.max_wait", 10, `need a unit, e.g. 100ms; got "100"`},
		{"duration garbage", with("shutdown_timeout: soon"), nil,
			"shutdown_timeout", 9, `want a duration such as 100ms, 30s or 2m; got "soon"`},
		{"byte size garbage", with("batch:", "  max_bytes: 16M"), nil,
			"batch.max_bytes", 10, `want a byte size such as 1024, 512KiB, 16MiB or 64MB; got "16M"`},

		// Environment.
		{"unset variable", lines("kafka:", "  brokers: [a:1]", "  group: g", "  topics: [t]", "postgres:", "  url: ${DATABASE_URL}", "routes: [{topic: t}]"), nil,
			"postgres.url", 6, "environment variable DATABASE_URL is not set"},
		{"unset variable in a list", with("    topics: [\"${MORE}\"]"), nil,
			"routes[0].topics[0]", 9, "environment variable MORE is not set"},
		{"unterminated reference", with("log:", "  level: ${LEVEL"), nil,
			"log.level", 10, "unterminated ${"},
		{"invalid name", with("log:", "  level: ${1X}"), nil,
			"log.level", 10, "invalid environment variable reference ${1X}"},

		// Required.
		{"missing brokers", lines("kafka:", "  group: g", "  topics: [t]", "postgres: {url: 'host=h'}", "routes: [{topic: t}]"), nil,
			"kafka.brokers", 1, "required"},
		{"missing group", lines("kafka:", "  brokers: [a:1]", "  topics: [t]", "postgres: {url: 'host=h'}", "routes: [{topic: t}]"), nil,
			"kafka.group", 1, "required"},
		{"missing postgres url", lines("kafka: {brokers: [a:1], group: g, topics: [t]}", "routes: [{topic: t}]"), nil,
			"postgres.url", 0, "required"},
		{"no routes", lines("kafka: {brokers: [a:1], group: g, topics: [t]}", "postgres: {url: 'host=h'}", "routes: []"), nil,
			"routes", 3, "required; add at least one route"},
		{"route without topic", with("  - table: x"), nil,
			"routes[1]", 9, "needs topic or topics"},

		// Kafka.
		{"broker without port", lines("kafka:", "  brokers: [a:1, localhost]"), nil,
			"kafka.brokers[1]", 2, `want host:port, got "localhost"`},
		{"topics and pattern", replaced(4, "  topics: [orders]\n  topic_pattern: '^o'"), nil,
			"kafka.topic_pattern", 5, "set kafka.topics or kafka.topic_pattern, not both"},
		{"neither topics nor pattern", lines("kafka: {brokers: [a:1], group: g}", "postgres: {url: 'host=h'}", "routes: [{topic: t}]"), nil,
			"kafka.topics", 1, "required; set kafka.topics or kafka.topic_pattern"},
		{"topic without route", lines("kafka:", "  brokers: [a:1]", "  group: g", "  topics: [orders, payments]", "postgres: {url: 'host=h'}", "routes: [{topic: orders}]"), nil,
			"kafka.topics[1]", 4, `topic "payments" has no route`},
		{"route topic not consumed", with("  - topic: payments"), nil,
			"routes[1].topic", 9, `topic "payments" is not in kafka.topics`},
		{"route topic does not match pattern", lines("kafka:", "  brokers: [a:1]", "  group: g", "  topic_pattern: '^shop\\.'", "postgres: {url: 'host=h'}", "routes:", "  - topic: shop.orders", "  - topic: orders"), nil,
			"routes[1].topic", 8, `topic "orders" does not match kafka.topic_pattern "^shop\\.`},
		{"invalid pattern", lines("kafka:", "  brokers: [a:1]", "  group: g", "  topic_pattern: 'a('", "postgres: {url: 'host=h'}", "routes: [{topic: a}]"), nil,
			"kafka.topic_pattern", 4, "invalid regular expression"},
		{"two routes on a topic with one default name", with("  - topic: orders"), nil,
			"routes[1]", 9, `its name defaults to "orders", which routes[0] has too; set name`},
		{"duplicate route name", with("    name: a", "  - topic: orders", "    table: b", "    name: a"), nil,
			"routes[1].name", 12, `duplicate route name "a"; already routes[0]`},
		{"topic twice in a route", with("    topics: [orders]"), nil,
			"routes[0].topics[0]", 9, `topic "orders" is named twice in this route`},
		{"invalid topic name", with("  - topic: 'a b'"), nil,
			"routes[1].topic", 9, `invalid topic name "a b"`},
		{"start enum", replaced(3, "  group: g\n  start: beginning"), nil,
			"kafka.start", 4, `must be one of earliest, latest; got "beginning"`},
		{"client id empty", replaced(3, "  group: g\n  client_id: ''"), nil,
			"kafka.client_id", 4, "must not be empty"},
		{"session timeout", lines("kafka:", "  brokers: [a:1]", "  group: g", "  topics: [t]", "  session_timeout: 500ms", "postgres: {url: 'host=h'}", "routes: [{topic: t}]"), nil,
			"kafka.session_timeout", 5, "must be at least 1s; got 500ms"},
		{"sasl without username and password", lines("kafka:", "  brokers: [a:1]", "  sasl:", "    mechanism: plain"), nil,
			"kafka.sasl.username", 3, "required with kafka.sasl"},
		{"sasl mechanism", lines("kafka:", "  sasl:", "    mechanism: gssapi"), nil,
			"kafka.sasl.mechanism", 3, `must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; got "gssapi"`},
		{"tls cert without key", lines("kafka:", "  tls:", "    cert_file: c.pem"), nil,
			"kafka.tls.key_file", 2, "required when kafka.tls.cert_file is set"},

		// Postgres.
		{"postgres scheme", lines("postgres:", "  url: mysql://u:secret@h/db"), nil,
			"postgres.url", 2, `want a postgres:// or postgresql:// URL or a key=value connection string; got scheme "mysql"`},
		{"postgres not a DSN", lines("postgres:", "  url: localhost"), nil,
			"postgres.url", 2, "want a postgres:// or postgresql:// URL or a key=value connection string"},
		{"postgres invalid URL", lines("postgres:", "  url: 'postgres://u:secret@h:port/db'"), nil,
			"postgres.url", 2, "invalid URL: invalid port"},
		{"max_conns range", lines("postgres:", "  max_conns: 0"), nil,
			"postgres.max_conns", 2, "must be between 1 and 1000; got 0"},

		// Enums and not supported yet.
		{"delivery enum", with("delivery: twice"), nil,
			"delivery", 9, `must be one of at-least-once, exactly-once; got "twice"`},
		{"backlog_merge enum", with("batch: {backlog_merge: yes}"), nil,
			"batch.backlog_merge", 9, `must be one of auto, true, false; got "yes"`},
		{"offsets table quoted", lines("postgres:", "  offsets_table: 'a\"b'"), nil,
			"postgres.offsets_table", 2, `must not contain '"': quoted identifiers are not supported; write schema.table`},
		{"offsets table empty schema", lines("postgres:", "  offsets_table: .offsets"), nil,
			"postgres.offsets_table", 2, "schema name must not be empty"},
		{"tolerance all without dlq", with("errors: {tolerance: all}"), nil,
			"errors.dlq", 9, "tolerance all needs a dead-letter queue: set errors.dlq.topic or errors.dlq.table"},
		{"tolerance enum", with("errors: {tolerance: some}"), nil,
			"errors.tolerance", 9, `must be one of none, all; got "some"`},
		{"dlq without tolerance all", with("errors:", "  dlq: {topic: orders.dlq}"), nil,
			"errors.dlq", 10, "only used with errors.tolerance: all"},
		{"dlq both", with("errors:", "  tolerance: all", "  dlq: {topic: orders.dlq, table: dlq}"), nil,
			"errors.dlq", 11, "set topic or table, not both"},
		{"dlq topic name", with("errors:", "  tolerance: all", "  dlq: {topic: 'bad topic'}"), nil,
			"errors.dlq.topic", 11, `invalid topic name "bad topic"`},
		{"dlq topic with exactly-once", with("delivery: exactly-once", "errors:", "  tolerance: all", "  dlq: {topic: orders.dlq}"), nil,
			"errors.dlq.topic", 12, "use errors.dlq.table"},
		{"dlq table quoted", with("errors:", "  tolerance: all", "  dlq:", "    table: 'a\"b'"), nil,
			"errors.dlq.table", 12, "must not contain"},
		{"value format enum", with("    value: {format: xml}"), nil,
			"routes[0].value.format", 9, `must be one of json, json-connect, avro, protobuf, json-schema, string, bytes; got "xml"`},
		{"value format avro without registry", with("    value: {format: avro}"), nil,
			"routes[0].value.format", 9, "avro needs schema_registry.url"},
		{"unwrap enum", with("    unwrap: debezum"), nil,
			"routes[0].unwrap", 9, `must be one of debezium; got "debezum"`},
		{"unwrap needs upsert", with("    unwrap: debezium"), nil,
			"routes[0].unwrap", 9, "debezium needs mode: upsert"},
		{"debezium without unwrap", with("    debezium: {on_truncate: fail}"), nil,
			"routes[0].debezium", 9, "only valid with unwrap: debezium"},
		{"on_truncate enum", with("    mode: upsert", "    unwrap: debezium", "    debezium: {on_truncate: drop}"), nil,
			"routes[0].debezium.on_truncate", 11, `must be one of ignore, fail; got "drop"`},
		{"auto_create raw", with("    mode: raw", "    auto_create: true"), nil,
			"routes[0].auto_create", 10, "not valid with mode: raw"},
		{"auto_create string value", with("    value: {format: string}", "    auto_create: true"), nil,
			"routes[0].auto_create", 10, "needs a structured value format, not string"},
		{"registry url scheme", with("schema_registry: {url: 'ftp://r:1'}"), nil,
			"schema_registry.url", 9, `must be an http or https URL; got scheme "ftp"`},
		{"registry password without user", with("schema_registry: {url: 'http://r:1', password: x}"), nil,
			"schema_registry.username", 9, "required when schema_registry.password or password_file is set"},
		{"filter raw", with("    mode: raw", "    filter: 'value.x > 1'"), nil,
			"routes[0].filter", 10, "not valid with mode: raw"},
		{"columns empty expression", with("    columns: {a: ' '}"), nil,
			"routes[0].columns.a", 9, "needs an expression"},
		{"columns bad name", with("    columns: {" + strings.Repeat("c", 64) + ": 'value.b'}"), nil,
			"routes[0].columns." + strings.Repeat("c", 64), 9, "column name must be at most 63 bytes"},
		{"columns_only without columns", with("    columns_only: true"), nil,
			"routes[0].columns_only", 9, "needs columns"},
		{"table and table_expr", with("    table: t", "    table_expr: \"'t'\""), nil,
			"routes[0].table_expr", 10, "set table or table_expr, not both"},
		{"replace_by without each", with("    mode: upsert", "    replace_by: [id]"), nil,
			"routes[0].replace_by", 10, "needs each"},
		{"replace_by insert", with("    each: value.items", "    replace_by: [id]"), nil,
			"routes[0].replace_by", 10, "needs mode: upsert; got mode: insert"},
		{"replace_by outside conflict_key", with("    mode: upsert", "    conflict_key: [order_id, line]", "    each: value.items", "    replace_by: [order]"), nil,
			"routes[0].replace_by[0]", 12, `column "order" is not in conflict_key`},
		{"each debezium", with("    mode: upsert", "    unwrap: debezium", "    each: value.items"), nil,
			"routes[0].each", 11, "not valid with unwrap: debezium"},
		{"mode enum", with("    mode: upsret"), nil,
			"routes[0].mode", 9, `must be one of insert, upsert, raw; got "upsret"`},
		{"log format", with("log: {format: xml}"), nil,
			"log.format", 9, `must be one of text, json; got "xml"`},
		{"log level", with("log:", "  level: trace"), nil,
			"log.level", 10, `must be one of debug, info, warn, error; got "trace"`},

		// Mode rules.
		{"conflict_key with insert", with("    conflict_key: [id]"), nil,
			"routes[0].conflict_key", 9, "only valid with mode: upsert"},
		{"version_column with insert", with("    version_column: v"), nil,
			"routes[0].version_column", 9, "only valid with mode: upsert"},
		{"raw with conflict_key", with("    mode: raw", "    conflict_key: [id]"), nil,
			"routes[0].conflict_key", 10, "not valid with mode: raw"},
		{"raw with delete_on_tombstone", with("    mode: raw", "    delete_on_tombstone: true"), nil,
			"routes[0].delete_on_tombstone", 10, "not valid with mode: raw"},
		{"raw with version_column", with("    mode: raw", "    version_column: v"), nil,
			"routes[0].version_column", 10, "not valid with mode: raw"},
		{"raw with soft_delete_column", with("    mode: raw", "    soft_delete_column: d"), nil,
			"routes[0].soft_delete_column", 10, "not valid with mode: raw"},
		{"soft delete without delete", with("    mode: upsert", "    soft_delete_column: d"), nil,
			"routes[0].soft_delete_column", 10, "requires delete_on_tombstone: true"},
		{"conflict_key duplicate", with("    mode: upsert", "    conflict_key: [id, id]"), nil,
			"routes[0].conflict_key[1]", 10, `duplicate column "id"; already conflict_key[0]`},
		{"conflict_key empty", with("    mode: upsert", "    conflict_key:", "      - id", "      - ''"), nil,
			"routes[0].conflict_key[1]", 12, "must not be empty"},

		// Identifiers.
		{"table with quote", with("    table: 'a\"b'"), nil,
			"routes[0].table", 9, `must not contain '"': quoted identifiers are not supported`},
		{"table too long", with("    table: " + strings.Repeat("t", 64)), nil,
			"routes[0].table", 9, "table name must be at most 63 bytes; got 64"},
		{"schema empty", with("    table: .orders"), nil,
			"routes[0].table", 9, "schema name must not be empty"},
		{"table empty", with("    table: ''"), nil,
			"routes[0].table", 9, "table name must not be empty"},
		{"table with NUL", with("    table: \"a\\0b\""), nil,
			"routes[0].table", 9, "table name must not contain a NUL byte"},
		{"version column too long", with("    mode: upsert", "    version_column: "+strings.Repeat("v", 64)), nil,
			"routes[0].version_column", 10, "must be at most 63 bytes"},

		// Ranges.
		{"max_rows zero", with("batch: {max_rows: 0}"), nil,
			"batch.max_rows", 9, "must be between 1 and 1000000; got 0"},
		{"max_rows too many", with("batch: {max_rows: 2000000}"), nil,
			"batch.max_rows", 9, "must be between 1 and 1000000; got 2000000"},
		{"max_bytes small", with("batch:", "  max_bytes: 512"), nil,
			"batch.max_bytes", 10, "must be at least 1KiB; got 512"},
		{"max_wait negative", with("batch:", "  max_wait: -1s"), nil,
			"batch.max_wait", 10, "must not be negative; got -1s"},
		{"group_rows negative", with("batch:", "  group_rows: -1"), nil,
			"batch.group_rows", 10, "must not be negative (0 commits every batch on its own); got -1"},
		{"inflight below max_bytes", with("batch:", "  max_bytes: 128MiB"), nil,
			"batch.max_inflight_bytes", 9, "must be at least batch.max_bytes (128MiB); got 64MiB"},
		{"fetch_max_bytes zero", lines("kafka:", "  fetch_max_bytes: 0"), nil,
			"kafka.fetch_max_bytes", 2, "must be greater than 0; got 0"},
		{"retry initial zero", with("errors:", "  retry:", "    initial: 0s"), nil,
			"errors.retry.initial", 11, "must be greater than 0; got 0s"},
		{"retry max below initial", with("errors:", "  retry:", "    initial: 2s", "    max: 1s"), nil,
			"errors.retry.max", 12, "must be at least errors.retry.initial (2s); got 1s"},
		{"retry max_elapsed negative", with("errors: {retry: {max_elapsed: -1m}}"), nil,
			"errors.retry.max_elapsed", 9, "must not be negative; got -1m0s"},
		{"shutdown_timeout zero", with("shutdown_timeout: 0"), nil,
			"shutdown_timeout", 9, "must be greater than 0; got 0s"},
		{"http listen", with("http:", "  listen: 9187"), nil,
			"http.listen", 10, `want host:port, got "9187"`},
		{"http listen port", with("http:", "  listen: localhost:http"), nil,
			"http.listen", 10, `want host:port with a port number from 0 to 65535, got "localhost:http"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problemsOf(t, tt.doc, tt.vars)
			for _, p := range ps {
				if p.Path == tt.path && p.Line == tt.line && strings.Contains(p.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no problem %s (line %d): ...%s...; got:\n%s", tt.path, tt.line, tt.msg, (&ValidationError{ps}).Error())
		})
	}
}

func TestProblemsAllAtOnce(t *testing.T) {
	doc := lines(
		"kafka:",                     // 1
		"  brokerz: [a:1]",           // 2 unknown key
		"  group: g",                 // 3
		"  topics: [orders, other]",  // 4 other has no route
		"postgres:",                  // 5
		"  url: ${DATABASE_URL}",     // 6 unset
		"  max_conns: many",          // 7 type
		"batch: {max_wait: 5}",       // 8 unit
		"delivery: exactly-twice",    // 9 not an option
		"routes:",                    // 10
		"  - topic: orders",          // 11
		"    mode: upsret",           // 12 enum
		"    conflict_key: [id, id]", // 13 duplicate
	)
	ps := problemsOf(t, doc, nil)
	want := []string{
		"config: kafka.brokers (line 1): required; list at least one broker as host:port",
		"config: kafka.brokerz (line 2): unknown key; did you mean brokers?",
		`config: kafka.topics[1] (line 4): topic "other" has no route`,
		"config: postgres.url (line 6): environment variable DATABASE_URL is not set",
		`config: postgres.max_conns (line 7): want an integer, got "many"`,
		`config: batch.max_wait (line 8): need a unit, e.g. 100ms; got "5"`,
		`config: delivery (line 9): must be one of at-least-once, exactly-once; got "exactly-twice"`,
		`config: routes[0].mode (line 12): must be one of insert, upsert, raw; got "upsret"`,
		`config: routes[0].conflict_key[1] (line 13): duplicate column "id"; already conflict_key[0]`,
	}
	got := strings.Split((&ValidationError{ps}).Error(), "\n")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEmptyDocument(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "~\n"} {
		ps := problemsOf(t, []byte(doc), nil)
		var paths []string
		for _, p := range ps {
			paths = append(paths, p.Path)
		}
		want := []string{"kafka.brokers", "kafka.group", "kafka.topics", "postgres.url", "routes"}
		if !reflect.DeepEqual(paths, want) {
			t.Errorf("Parse(%q) problem paths = %v, want %v", doc, paths, want)
		}
	}
}

func TestNullMeansDefault(t *testing.T) {
	cfg := mustParse(t, with("batch:", "  max_rows:", "  max_wait: ~", "http: {listen: null}"), nil)
	if cfg.Batch.MaxRows != 10000 || cfg.Batch.MaxWait != Duration(100*time.Millisecond) || cfg.HTTP.Listen != "" {
		t.Errorf("batch = %+v, http = %+v", cfg.Batch, cfg.HTTP)
	}
}

func TestExplicitZeroIsKept(t *testing.T) {
	cfg := mustParse(t, with("batch: {max_wait: 0}", "errors: {retry: {max_elapsed: 0s}}"), nil)
	if cfg.Batch.MaxWait != 0 || cfg.Errors.Retry.MaxElapsed != 0 {
		t.Errorf("max_wait = %v, max_elapsed = %v, want 0", cfg.Batch.MaxWait, cfg.Errors.Retry.MaxElapsed)
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	doc := lines(
		"kafka: {brokers: [a:1], group: g, topics: [a, b]}",
		"postgres: {url: 'host=h'}",
		"x-route: &upsert",
		"  mode: upsert",
		"  conflict_key: [id]",
	)
	// x-route is not a key kafka2pg knows: anchors must live under keys it
	// knows, so put the template in the first route instead.
	ps := problemsOf(t, doc, nil)
	if !slices.ContainsFunc(ps, func(p Problem) bool {
		return p.Path == "x-route" && p.Line == 3 && strings.HasPrefix(p.Msg, "unknown key")
	}) {
		t.Errorf("problems = %v", ps)
	}

	cfg := mustParse(t, lines(
		"kafka: {brokers: [a:1], group: g, topics: [a, b]}",
		"postgres: {url: 'host=h'}",
		"routes:",
		"  - &upsert",
		"    topic: a",
		"    mode: upsert",
		"    conflict_key: [id]",
		"  - <<: *upsert",
		"    topic: b",
	), nil)
	r := cfg.Routes[1]
	if r.Topic != "b" || r.Mode != "upsert" || !reflect.DeepEqual(r.ConflictKey, []string{"id"}) || r.Table != "b" {
		t.Errorf("merged route = %+v", r)
	}
}

func TestSASLMechanismNormalised(t *testing.T) {
	cfg := mustParse(t, lines(
		"kafka:",
		"  brokers: [a:1]",
		"  group: g",
		"  topics: [t]",
		"  sasl: {mechanism: Scram-Sha-256, username: u, password: p}",
		"postgres: {url: 'host=h password=secret'}",
		"routes: [{topic: t}]",
	), nil)
	if cfg.Kafka.SASL.Mechanism != MechanismScramSHA256 {
		t.Errorf("mechanism = %q", cfg.Kafka.SASL.Mechanism)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{"routes[2].mode", 14, "bad"}, "routes[2].mode (line 14): bad"},
		{Problem{"routes[2].mode", 0, "bad"}, "routes[2].mode: bad"},
		{Problem{"", 3, "bad"}, "line 3: bad"},
		{Problem{"", 0, "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
	e := &ValidationError{[]Problem{{"a", 1, "x"}, {"b", 0, "y"}}}
	if got, want := e.Error(), "config: a (line 1): x\nconfig: b: y"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestValidateWithoutLines(t *testing.T) {
	cfg := mustParse(t, lines(minimal...), nil)
	c := *cfg
	c.lines = nil
	c.Postgres.MaxConns = 0
	ps := c.Validate()
	if len(ps) != 1 || ps[0] != (Problem{"postgres.max_conns", 0, "must be between 1 and 1000; got 0"}) {
		t.Errorf("Validate() = %v", ps)
	}
	if ps := cfg.Validate(); ps != nil {
		t.Errorf("Validate() of a parsed config = %v", ps)
	}
}

func TestNotAMappingIsTheOnlyProblem(t *testing.T) {
	ps := problemsOf(t, lines("- kafka", "- postgres"), nil)
	if len(ps) != 1 || ps[0] != (Problem{"", 1, "want a mapping, got a list"}) {
		t.Errorf("problems = %v", ps)
	}
}

func TestValidateConfigBuiltInCode(t *testing.T) {
	c := *fullWant
	c.Routes = append([]Route(nil), fullWant.Routes...)
	c.Routes[2].Table = "" // TableName's default applies
	if ps := c.Validate(); ps != nil {
		t.Errorf("Validate() = %v", ps)
	}
	if _, tb := c.Routes[2].TableName(); tb != "customers" {
		t.Errorf("TableName() = %q", tb)
	}
}

func TestParseNilLookupUsesEnvironment(t *testing.T) {
	t.Setenv("KAFKA2PG_CONFIG_TEST_GROUP", "from-env")
	cfg, err := Parse(lines(
		"kafka: {brokers: [a:1], group: '${KAFKA2PG_CONFIG_TEST_GROUP}', topics: [t]}",
		"postgres: {url: 'host=h'}",
		"routes: [{topic: t}]",
	), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kafka.Group != "from-env" {
		t.Errorf("group = %q", cfg.Kafka.Group)
	}
}

// batch.linger: adaptive batching unless set; the policy follows it.
func TestBatchLinger(t *testing.T) {
	if got := mustParse(t, lines(minimal...), nil); got.Batch.Linger {
		t.Fatal("linger is on by default; adaptive batching is the default")
	}
	got := mustParse(t, lines(append(slices.Clone(minimal), "batch:", "  linger: true")...), nil)
	if !got.Batch.Linger {
		t.Fatal("batch.linger: true not read")
	}
	if _, err := Parse(lines(append(slices.Clone(minimal), "batch:", "  linger: 3")...), func(string) (string, bool) { return "", false }); err == nil || !strings.Contains(err.Error(), "batch.linger") {
		t.Fatalf("linger: 3 gave %v, want an error naming batch.linger", err)
	}
}

// batch.backlog_merge: auto unless set; YAML's spellings of true and false
// are read; auto merges every backlog in a run that stops at its end
// offsets and late ones in others.
func TestBatchBacklogMerge(t *testing.T) {
	for _, tc := range []struct {
		set       string // "" leaves the default
		want      string
		on, onEnd MergeMode // Merging(false), Merging(true)
	}{
		{"", "auto", MergeLate, MergeAll},
		{"auto", "auto", MergeLate, MergeAll},
		{"Auto", "auto", MergeLate, MergeAll},
		{"true", "true", MergeAll, MergeAll},
		{"True", "true", MergeAll, MergeAll},
		{"'true'", "true", MergeAll, MergeAll},
		{"false", "false", MergeNone, MergeNone},
		{"FALSE", "false", MergeNone, MergeNone},
	} {
		doc := slices.Clone(minimal)
		if tc.set != "" {
			doc = append(doc, "batch:", "  backlog_merge: "+tc.set)
		}
		got := mustParse(t, lines(doc...), nil)
		if got.Batch.BacklogMerge != tc.want {
			t.Errorf("backlog_merge %q parsed as %q, want %q", tc.set, got.Batch.BacklogMerge, tc.want)
		}
		if got.Batch.Merging(false) != tc.on || got.Batch.Merging(true) != tc.onEnd {
			t.Errorf("backlog_merge %q: Merging(running on) = %v, Merging(stop at end) = %v; want %v, %v",
				tc.set, got.Batch.Merging(false), got.Batch.Merging(true), tc.on, tc.onEnd)
		}
	}
}

// batch.memory_limit: 0 (derived) unless set; when set, at least the budget.
func TestBatchMemoryLimit(t *testing.T) {
	if got := mustParse(t, lines(minimal...), nil); got.Batch.MemoryLimit != 0 {
		t.Fatalf("memory_limit defaults to %s, want 0 (derived)", got.Batch.MemoryLimit)
	}
	got := mustParse(t, lines(append(slices.Clone(minimal), "batch:", "  memory_limit: 200MiB")...), nil)
	if got.Batch.MemoryLimit != 200*MiB {
		t.Fatalf("memory_limit = %s, want 200MiB", got.Batch.MemoryLimit)
	}
	_, err := Parse(lines(append(slices.Clone(minimal), "batch:", "  memory_limit: 10MiB")...), func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "batch.memory_limit") {
		t.Fatalf("memory_limit below the budget gave %v, want an error naming batch.memory_limit", err)
	}
}
