package admin

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// check shows the partitions of a partitioned target table as a tree, each
// with its bound, says whether a default partition takes the rows no bound
// covers, and warns about a partitioned table without partitions; a plain
// table shows no partition lines.
func TestCheckShowsPartitions(t *testing.T) {
	dbURL, pool := testenv.NewDatabase(t)
	for _, s := range []string{
		`CREATE TABLE ev_range (id bigint NOT NULL, day date NOT NULL, region text NOT NULL, PRIMARY KEY (id, day, region)) PARTITION BY RANGE (day)`,
		`CREATE TABLE ev_range_2026_02 PARTITION OF ev_range FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')`,
		`CREATE TABLE ev_range_2026_01 PARTITION OF ev_range FOR VALUES FROM ('2026-01-01') TO ('2026-02-01') PARTITION BY LIST (region)`,
		`CREATE TABLE ev_range_2026_01_eu PARTITION OF ev_range_2026_01 FOR VALUES IN ('eu', 'uk')`,
		`CREATE TABLE ev_range_2026_01_rest PARTITION OF ev_range_2026_01 DEFAULT`,
		`CREATE TABLE ev_range_other PARTITION OF ev_range DEFAULT`,
		`CREATE TABLE ev_hash (id bigint PRIMARY KEY) PARTITION BY HASH (id)`,
		`CREATE TABLE ev_hash_1 PARTITION OF ev_hash FOR VALUES WITH (MODULUS 2, REMAINDER 1)`,
		`CREATE TABLE ev_hash_0 PARTITION OF ev_hash FOR VALUES WITH (MODULUS 2, REMAINDER 0)`,
		`CREATE TABLE ev_empty (id bigint, at timestamptz) PARTITION BY RANGE (at)`,
		`CREATE TABLE ev_plain (id bigint PRIMARY KEY)`,
	} {
		testenv.Exec(t, pool, s)
	}
	topic := testenv.Name("t")
	testenv.CreateTopic(t, topic, 1)
	var routes strings.Builder
	for _, r := range [][2]string{{"ev_range", "upsert, key: {format: json}"}, {"ev_hash", "upsert"}, {"ev_empty", "insert"}, {"ev_plain", "insert"}} {
		fmt.Fprintf(&routes, "  - {topic: %s, table: %s, mode: %s}\n", topic, r[0], r[1])
	}
	doc := fmt.Sprintf("kafka: {brokers: [%q], group: %s, topics: [%s]}\npostgres: {url: %q}\nroutes:\n%s",
		testenv.Brokers(t), testenv.Name("g"), topic, dbURL, routes.String())
	cfg, err := config.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ok, err := Check(context.Background(), cfg, &out)
	if err != nil || !ok {
		t.Fatalf("Check = %v, %v; want ok:\n%s", ok, err, out.String())
	}
	got := out.String()
	want := `routes[0]: topics ` + topic + ` → table "ev_range" (mode upsert)
  ok   value json, key json
  ok   key (id, day, region)
  ok   column id bigint (not null, key)
  ok   column day date (not null, key)
  ok   column region text (not null, key)
  ok   partitioned by RANGE (day): 5 partition(s), 4 leaf partition(s); the default partition ev_range_other takes rows no other bound covers
         ev_range_2026_01 FOR VALUES FROM ('2026-01-01') TO ('2026-02-01'), partitioned by LIST (region)
           ev_range_2026_01_eu FOR VALUES IN ('eu', 'uk')
           ev_range_2026_01_rest DEFAULT
         ev_range_2026_02 FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')
         ev_range_other DEFAULT
routes[1]: topics ` + topic + ` → table "ev_hash" (mode upsert)
  ok   value json, key string
  ok   key (id)
  ok   column id bigint (not null, key)
  ok   partitioned by HASH (id): 2 partition(s), 2 leaf partition(s), no default partition: a row no bound covers is a record error (SQLSTATE 23514)
         ev_hash_0 FOR VALUES WITH (modulus 2, remainder 0)
         ev_hash_1 FOR VALUES WITH (modulus 2, remainder 1)
routes[2]: topics ` + topic + ` → table "ev_empty" (mode insert)
  ok   value json, key string
  ok   column id bigint
  ok   column at timestamp with time zone
  warn partitioned by RANGE (at), with no partitions: PostgreSQL rejects every row (SQLSTATE 23514), each a record error
routes[3]: topics ` + topic + ` → table "ev_plain" (mode insert)
  ok   value json, key string
  ok   column id bigint (not null)
check: ok
`
	if i := strings.Index(got, "routes[0]"); i < 0 || got[i:] != want {
		t.Fatalf("check output:\n%s\nwant, from routes[0] on:\n%s", got, want)
	}
}

// check says where a backlog merge makes its staging tables when an upsert
// route may merge, and warns when the role may not create tables there;
// with batch.backlog_merge: false, or no upsert route, it says nothing.
func TestCheckBacklogSchema(t *testing.T) {
	dbURL, pool := testenv.NewDatabase(t)
	testenv.Exec(t, pool, `CREATE TABLE kv (k text PRIMARY KEY, v bigint)`)
	testenv.Exec(t, pool, `CREATE SCHEMA staging`)
	testenv.Exec(t, pool, `REVOKE CREATE ON SCHEMA public FROM PUBLIC`)
	asRole := testenv.NewRole(t, pool, dbURL, "k2p_check",
		`GRANT USAGE ON SCHEMA public, staging TO %s`, `GRANT CREATE ON SCHEMA staging TO %s`, `GRANT SELECT, INSERT, UPDATE ON kv TO %s`)
	topic := testenv.Name("t")
	testenv.CreateTopic(t, topic, 1)
	for _, tc := range []struct {
		name, url, extra, mode, want string
	}{
		{"owner", dbURL, "", "upsert",
			`  ok   backlog merge in runs with --stop-at-end, and of late backlogs in others (batch.backlog_merge: auto): staging tables in schema "public"`},
		{"no right", asRole, "", "upsert",
			`  warn backlog merge in runs with --stop-at-end, and of late backlogs in others (batch.backlog_merge: auto): no right to create tables in schema "public"; upsert backlogs are written batch by batch (GRANT CREATE ON SCHEMA "public" to the role, name another schema in postgres.offsets_table, or set batch.backlog_merge: false)`},
		{"another schema", asRole, ", offsets_table: staging.kafka2pg_offsets}\nbatch: {backlog_merge: true", "upsert",
			`  ok   backlog merge in every run (batch.backlog_merge: true): staging tables in schema "staging"`},
		{"false", asRole, "}\nbatch: {backlog_merge: false", "upsert", ""},
		{"insert", asRole, "", "insert", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := fmt.Sprintf("kafka: {brokers: [%q], group: %s, topics: [%s]}\npostgres: {url: %q%s}\nroutes:\n  - {topic: %s, table: kv, mode: %s}\n",
				testenv.Brokers(t), testenv.Name("g"), topic, tc.url, tc.extra, topic, tc.mode)
			cfg, err := config.Parse([]byte(doc), nil)
			if err != nil {
				t.Fatalf("%v\n%s", err, doc)
			}
			var out bytes.Buffer
			ok, err := Check(context.Background(), cfg, &out)
			if err != nil || !ok {
				t.Fatalf("Check = %v, %v; want ok (a warning does not fail it):\n%s", ok, err, out.String())
			}
			var got string
			for _, l := range strings.Split(out.String(), "\n") {
				if strings.Contains(l, "backlog merge") {
					got = l
				}
			}
			if got != tc.want {
				t.Errorf("backlog merge line:\n%s\nwant:\n%s\nin:\n%s", got, tc.want, out.String())
			}
		})
	}
}
