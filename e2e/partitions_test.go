package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Declaratively partitioned target tables: range (with a sub-partitioned
// range), list, hash, and list with a DEFAULT partition. Each is written in
// insert mode, in upsert mode with tombstones (the primary key includes the
// partition key), and exactly-once; the table must end equal to the
// producer's model and every offset must be committed. A row that fits no
// partition is rejected by PostgreSQL with SQLSTATE 23514: it must be a
// record error, isolated from its batch and dead-lettered, never a stopped
// pipeline.

// partLayout is one way of partitioning the target table.
type partLayout struct {
	name string
	col  string // the partition key column: day, region or id (hash)
	ddl  []string
	good []string // partition key values that fit a partition (none for hash: the id is the key)
	bad  []string // values that fit no partition
	// leaves is how many leaf partitions the rows must reach.
	leaves int
}

func (l partLayout) table() string { return "events_" + l.name }

// partColumns are the columns of every layout's table; the primary key is
// added per layout.
const partColumns = `id bigint NOT NULL, day date NOT NULL, region text NOT NULL,
  status text NOT NULL, amount numeric(12,2) NOT NULL, version bigint NOT NULL`

var partLayouts = []partLayout{
	{
		name: "range", col: "day", leaves: 4,
		ddl: []string{
			`CREATE TABLE events_range (` + partColumns + `, PRIMARY KEY (id, day)) PARTITION BY RANGE (day)`,
			`CREATE TABLE events_range_2026_01 PARTITION OF events_range FOR VALUES FROM ('2026-01-01') TO ('2026-02-01')`,
			`CREATE TABLE events_range_2026_02 PARTITION OF events_range FOR VALUES FROM ('2026-02-01') TO ('2026-03-01')`,
			// A sub-partitioned partition: rows are routed two levels down.
			`CREATE TABLE events_range_2026_03 PARTITION OF events_range FOR VALUES FROM ('2026-03-01') TO ('2026-04-01') PARTITION BY HASH (id)`,
			`CREATE TABLE events_range_2026_03_h0 PARTITION OF events_range_2026_03 FOR VALUES WITH (MODULUS 2, REMAINDER 0)`,
			`CREATE TABLE events_range_2026_03_h1 PARTITION OF events_range_2026_03 FOR VALUES WITH (MODULUS 2, REMAINDER 1)`,
		},
		good: []string{"2026-01-01", "2026-01-31", "2026-02-01", "2026-02-14", "2026-03-01", "2026-03-31"},
		bad:  []string{"2025-12-31", "2026-04-01", "2030-06-15"},
	},
	{
		name: "list", col: "region", leaves: 3,
		ddl: []string{
			`CREATE TABLE events_list (` + partColumns + `, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`,
			`CREATE TABLE events_list_europe PARTITION OF events_list FOR VALUES IN ('eu', 'uk')`,
			`CREATE TABLE events_list_us PARTITION OF events_list FOR VALUES IN ('us')`,
			`CREATE TABLE events_list_apac PARTITION OF events_list FOR VALUES IN ('apac')`,
		},
		good: []string{"eu", "uk", "us", "apac"},
		bad:  []string{"mars", "moon"},
	},
	{
		name: "hash", col: "id", leaves: 4,
		ddl: []string{
			`CREATE TABLE events_hash (` + partColumns + `, PRIMARY KEY (id)) PARTITION BY HASH (id)`,
			`CREATE TABLE events_hash_0 PARTITION OF events_hash FOR VALUES WITH (MODULUS 4, REMAINDER 0)`,
			`CREATE TABLE events_hash_1 PARTITION OF events_hash FOR VALUES WITH (MODULUS 4, REMAINDER 1)`,
			`CREATE TABLE events_hash_2 PARTITION OF events_hash FOR VALUES WITH (MODULUS 4, REMAINDER 2)`,
			`CREATE TABLE events_hash_3 PARTITION OF events_hash FOR VALUES WITH (MODULUS 4, REMAINDER 3)`,
		},
	},
	{
		name: "default", col: "region", leaves: 3,
		ddl: []string{
			`CREATE TABLE events_default (` + partColumns + `, PRIMARY KEY (id, region)) PARTITION BY LIST (region)`,
			`CREATE TABLE events_default_europe PARTITION OF events_default FOR VALUES IN ('eu', 'uk')`,
			`CREATE TABLE events_default_us PARTITION OF events_default FOR VALUES IN ('us')`,
			`CREATE TABLE events_default_other PARTITION OF events_default DEFAULT`,
		},
		// With a DEFAULT partition every value fits.
		good: []string{"eu", "uk", "us", "apac", "mars"},
	},
}

// partEvent is one row of a layout's table, as the producer's model holds it.
type partEvent struct {
	ID      int64  `json:"id"`
	Day     string `json:"day"`
	Region  string `json:"region"`
	Status  string `json:"status"`
	Amount  string `json:"amount"`
	Version int64  `json:"version"`
}

func (ev partEvent) text() string {
	return fmt.Sprintf("%d|%s|%s|%s|%s|%d", ev.ID, ev.Day, ev.Region, ev.Status, ev.Amount, ev.Version)
}

// partGen produces events for a layout and keeps the model: the rows the
// table must end with (by primary key) and the coordinates of the records
// that fit no partition.
type partGen struct {
	l       partLayout
	topic   string
	parts   int
	rng     *rand.Rand
	rows    map[string]partEvent // by "id|partition key value"
	current map[int64]string     // an id's partition key value now
	version map[int64]int64
	perPart map[int32]int64 // records produced per Kafka partition (the next offset)
	dead    []string        // "partition/offset" of the records that fit no partition
	nextID  int64
}

func newPartGen(l partLayout, topic string, parts int, seed uint64) *partGen {
	return &partGen{l: l, topic: topic, parts: parts, rng: rand.New(rand.NewPCG(seed, 12)), rows: map[string]partEvent{},
		current: map[int64]string{}, version: map[int64]int64{}, perPart: map[int32]int64{}}
}

// value picks a partition key value: one that fits, or (with probability
// pBad, when the layout has any) one that fits no partition.
func (g *partGen) value(id int64, pBad float64) (string, bool) {
	if len(g.l.bad) > 0 && g.rng.Float64() < pBad {
		return g.l.bad[g.rng.IntN(len(g.l.bad))], true
	}
	if len(g.l.good) == 0 {
		return strconv.FormatInt(id, 10), false
	}
	return g.l.good[g.rng.IntN(len(g.l.good))], false
}

// event is the row of id with partition key value pv.
func (g *partGen) event(id int64, pv string) partEvent {
	g.version[id]++
	ev := partEvent{ID: id, Day: "2026-01-15", Region: "eu", Status: []string{"new", "paid", "shipped"}[g.rng.IntN(3)],
		Amount: fmt.Sprintf("%d.%02d", g.rng.IntN(10000), g.rng.IntN(100)), Version: g.version[id]}
	switch g.l.col {
	case "day":
		ev.Day = pv
	case "region":
		ev.Region = pv
	}
	return ev
}

// key is the record key of (id, pv): the table's primary key as JSON.
func (g *partGen) key(id int64, pv string) []byte {
	if g.l.col == "id" {
		return fmt.Appendf(nil, `{"id": %d}`, id)
	}
	return fmt.Appendf(nil, `{"id": %d, %q: %q}`, id, g.l.col, pv)
}

// record addresses a record to the Kafka partition of its id, so that the
// changes to one id stay in order, and notes its offset.
func (g *partGen) record(id int64, key, value []byte, bad bool) *kgo.Record {
	p := partitionOf([]byte(strconv.FormatInt(id, 10)), g.parts)
	r := &kgo.Record{Topic: g.topic, Partition: p, Key: key, Value: value}
	if bad {
		g.dead = append(g.dead, fmt.Sprintf("%d/%d", p, g.perPart[p]))
	}
	g.perPart[p]++
	return r
}

// inserts returns n events of new ids, without keys (insert mode).
func (g *partGen) inserts(n int) []*kgo.Record {
	recs := make([]*kgo.Record, 0, n)
	for range n {
		g.nextID++
		id := g.nextID
		pv, bad := g.value(id, 0.05)
		ev := g.event(id, pv)
		v, _ := json.Marshal(ev)
		if !bad {
			g.rows[fmt.Sprintf("%d|%s", id, pv)] = ev
		}
		recs = append(recs, g.record(id, nil, v, bad))
	}
	return recs
}

// changes returns n upserts and tombstones over keys ids. An id keeps its
// partition key value, but now and then moves to another: that is another
// primary key, so another row (the old one stays until a tombstone for its
// key). Now and then a record carries a value that fits no partition: it
// changes nothing.
func (g *partGen) changes(n, keys int) []*kgo.Record {
	recs := make([]*kgo.Record, 0, n)
	for range n {
		id := int64(g.rng.IntN(keys)) + 1
		pv, ok := g.current[id]
		if !ok || (g.l.col != "id" && g.rng.Float64() < 0.05) {
			pv, _ = g.value(id, 0)
			g.current[id] = pv
		}
		switch x := g.rng.Float64(); {
		case x < 0.06: // tombstone
			delete(g.rows, fmt.Sprintf("%d|%s", id, pv))
			recs = append(recs, g.record(id, g.key(id, pv), nil, false))
		case x < 0.11 && len(g.l.bad) > 0: // fits no partition
			badPV := g.l.bad[g.rng.IntN(len(g.l.bad))]
			v, _ := json.Marshal(g.event(id, badPV))
			recs = append(recs, g.record(id, g.key(id, badPV), v, true))
		default:
			ev := g.event(id, pv)
			v, _ := json.Marshal(ev)
			g.rows[fmt.Sprintf("%d|%s", id, pv)] = ev
			recs = append(recs, g.record(id, g.key(id, pv), v, false))
		}
	}
	return recs
}

func (g *partGen) wantRows() []string {
	out := make([]string, 0, len(g.rows))
	for _, ev := range g.rows {
		out = append(out, ev.text())
	}
	slices.Sort(out)
	return out
}

func (g *partGen) total() int64 {
	var n int64
	for _, c := range g.perPart {
		n += c
	}
	return n
}

// assertPartTable compares the table with the model and checks that the
// rows reached every leaf partition, and that every offset is committed
// to Kafka (and, exactly-once, stored in the offset table).
func (e *env) assertPartTable(g *partGen, exactlyOnce bool) {
	e.t.Helper()
	got := e.texts(`SELECT concat_ws('|', id, day, region, status, amount, version) FROM ` + g.l.table())
	slices.Sort(got)
	checkLines(e.t, g.l.table(), got, g.wantRows())
	if leaves := e.texts(`SELECT count(DISTINCT tableoid)::text FROM ` + g.l.table()); leaves[0] != strconv.Itoa(g.l.leaves) {
		e.t.Errorf("rows are in %s leaf partitions of %s, want %d", leaves[0], g.l.table(), g.l.leaves)
	}
	if g.l.name == "default" {
		// The regions no list names are in the DEFAULT partition.
		var other int
		for _, ev := range g.rows {
			if !slices.Contains([]string{"eu", "uk", "us"}, ev.Region) {
				other++
			}
		}
		if n := e.texts(`SELECT count(*)::text FROM events_default_other`); n[0] != strconv.Itoa(other) || other == 0 {
			e.t.Errorf("the DEFAULT partition holds %s rows, want %d (and some)", n[0], other)
		}
	}
	e.t.Logf("%s: %d records, %d rows, %d dead letters", g.l.table(), g.total(), len(g.rows), len(g.dead))
	committed := testenv.Committed(e.t, e.group, e.topic)
	for p := range int32(e.parts) {
		if committed[p] != g.perPart[p] {
			e.t.Errorf("partition %d: committed offset %d, want %d", p, committed[p], g.perPart[p])
		}
	}
	if exactlyOnce {
		st, err := e.eoStored()
		mustNoErr(e.t, err)
		for p := range int32(e.parts) {
			if st[p].next != g.perPart[p] {
				e.t.Errorf("partition %d: offset table at %d, want %d", p, st[p].next, g.perPart[p])
			}
		}
	}
}

// partReason is what a dead letter of a record that fits no partition of
// table says.
func partReason(table string) string {
	return fmt.Sprintf(`no partition of relation "%s" found for row (SQLSTATE 23514)`, table)
}

// assertPartDLQTable checks that the dead-letter table holds exactly the
// records that fit no partition, each with a reason naming the table.
func (e *env) assertPartDLQTable(g *partGen) {
	e.t.Helper()
	got := e.texts(`SELECT "partition" || '/' || "offset" FROM kafka2pg_dlq WHERE "group" = $1 AND topic = $2 ORDER BY 1`, e.group, e.topic)
	want := slices.Clone(g.dead)
	slices.Sort(want)
	checkLines(e.t, "dead letters", got, want)
	if n := e.texts(`SELECT count(*)::text FROM kafka2pg_dlq WHERE NOT (stage = 'write' AND error_class = 'data' AND strpos(error, $1) > 0)`,
		partReason(g.l.table())); n[0] != "0" {
		e.t.Errorf("%s dead letters lack the reason %q: %v", n[0], partReason(g.l.table()),
			e.texts(`SELECT error FROM kafka2pg_dlq LIMIT 3`))
	}
}

// assertPartDLQTopic is assertPartDLQTable for a dead-letter topic.
func (e *env) assertPartDLQTopic(g *partGen, topic string) {
	e.t.Helper()
	var got []string
	for _, r := range replayReadTopic(e.t, topic) {
		h := replayHeaders(r)
		got = append(got, strings.Join(h["kafka2pg.source.partition"], ",")+"/"+strings.Join(h["kafka2pg.source.offset"], ","))
		if msg := strings.Join(h["kafka2pg.error.message"], ","); !strings.Contains(msg, partReason(g.l.table())) {
			e.t.Errorf("dead letter %s: reason %q lacks %q", got[len(got)-1], msg, partReason(g.l.table()))
		}
	}
	slices.Sort(got)
	want := slices.Clone(g.dead)
	slices.Sort(want)
	checkLines(e.t, "dead letters in "+topic, got, want)
}

func TestPartitionedTables(t *testing.T) {
	for li, l := range partLayouts {
		t.Run(l.name, func(t *testing.T) {
			newPartEnv := func(t *testing.T) *env {
				e := newEnv(t, 2)
				for _, s := range l.ddl {
					testenv.Exec(t, e.pool, s)
				}
				return e
			}
			seed := uint64(li + 1)

			// Insert mode, a dead-letter table; small batches, so that the
			// rejected rows are isolated inside many batches.
			t.Run("insert", func(t *testing.T) {
				e := newPartEnv(t)
				g := newPartGen(l, e.topic, 2, seed)
				testenv.Produce(t, testenv.Client(t), g.inserts(600)...)
				runToEnd(t, e.config(fmt.Sprintf(`batch: {max_rows: 50}
errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
routes:
  - topic: {{topic}}
    table: %s
    mode: insert
`, l.table())))
				e.assertPartTable(g, false)
				e.assertPartDLQTable(g)
			})

			// Upsert and tombstones on the primary key (id and the partition
			// key, from a JSON record key), a dead-letter topic.
			t.Run("upsert", func(t *testing.T) {
				e := newPartEnv(t)
				dlq := testenv.Name("dlq")
				testenv.CreateTopic(t, dlq, 1)
				g := newPartGen(l, e.topic, 2, seed)
				cl := testenv.Client(t)
				testenv.Produce(t, cl, g.changes(800, 120)...)
				cfg := e.config(fmt.Sprintf(`batch: {max_rows: 64}
errors:
  tolerance: all
  dlq: {topic: %s}
routes:
  - topic: {{topic}}
    table: %s
    key: {format: json}
    mode: upsert
    delete_on_tombstone: true
`, dlq, l.table()))
				runToEnd(t, cfg)
				// A second run over more changes: updates and deletes of rows
				// written by the first.
				testenv.Produce(t, cl, g.changes(400, 120)...)
				runToEnd(t, cfg)
				e.assertPartTable(g, false)
				e.assertPartDLQTopic(g, dlq)
				if l.col != "id" {
					// Some ids moved to another partition key value: two rows.
					if n := e.texts(`SELECT count(*)::text FROM (SELECT id FROM ` + l.table() + ` GROUP BY id HAVING count(*) > 1) x`); n[0] == "0" {
						t.Errorf("no id has rows under two partition key values; the test does not exercise a moved key")
					}
				}
			})

			// Exactly-once: the rows, the dead letters and the offsets in
			// one transaction.
			t.Run("exactly-once", func(t *testing.T) {
				e := newPartEnv(t)
				g := newPartGen(l, e.topic, 2, seed)
				testenv.Produce(t, testenv.Client(t), g.changes(800, 120)...)
				runToEnd(t, e.config(fmt.Sprintf(`delivery: exactly-once
batch: {max_rows: 100}
errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
routes:
  - topic: {{topic}}
    table: %s
    key: {format: json}
    mode: upsert
    delete_on_tombstone: true
`, l.table())))
				e.assertPartTable(g, true)
				e.assertPartDLQTable(g)
			})
		})
	}
}

// With errors.tolerance: none, a row that fits no partition stops the
// pipeline with exit 1 and an error naming the table, the topic, the
// partition and the batch's offsets, the failing row's partition key; what
// was written before it is committed, nothing at or after it.
func TestPartitionedNoPartitionStops(t *testing.T) {
	e := newEnv(t, 2)
	for _, s := range partLayouts[0].ddl {
		testenv.Exec(t, e.pool, s)
	}
	const n, badAt = 200, 137
	var recs []*kgo.Record
	for i := range n {
		for p := range int32(2) {
			day := "2026-02-10"
			if p == 0 && i == badAt {
				day = "2030-01-01"
			}
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: p,
				Value: fmt.Appendf(nil, `{"id": %d, "day": %q, "region": "eu", "status": "new", "amount": "1.00", "version": %d}`, i*2+int(p), day, p)})
		}
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	cfg := e.config(`batch: {max_rows: 32}
routes:
  - topic: {{topic}}
    table: events_range
    mode: insert
`)
	p := start(t, "run", "--config", cfg)
	if code := p.wait(t, 60*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	out := strings.ReplaceAll(p.out.String(), `\"`, `"`)
	m := regexp.MustCompile(`writing "public"."events_range": data error for topic ` + regexp.QuoteMeta(e.topic) +
		` partition 0 offsets (\d+)\.\.(\d+): no partition of relation "events_range" found for row \(SQLSTATE 23514\): Partition key of the failing row contains \(day\) = \(2030-01-01\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the output does not name the table, topic, partition, offsets and the row's partition key:\n%s", tail(out, 20))
	}
	lo, _ := strconv.Atoi(m[1])
	hi, _ := strconv.Atoi(m[2])
	if lo > badAt || hi < badAt {
		t.Errorf("the error names offsets %d..%d, which do not hold the bad record's offset %d", lo, hi, badAt)
	}
	committed := testenv.Committed(t, e.group, e.topic)
	rows0 := e.texts(`SELECT count(*)::text FROM events_range WHERE version = 0`)[0]
	if committed[0] > badAt || strconv.FormatInt(committed[0], 10) != rows0 {
		t.Errorf("partition 0: committed offset %d and %s rows; want them equal and at most the bad record's offset %d", committed[0], rows0, badAt)
	}
	rows1 := e.texts(`SELECT count(*)::text FROM events_range WHERE version = 1`)[0]
	if strconv.FormatInt(committed[1], 10) != rows1 {
		t.Errorf("partition 1: committed offset %d but %s rows", committed[1], rows1)
	}
}

// auto_evolve on a partitioned table: a new field adds the column to the
// parent, and PostgreSQL adds it to every partition; a safe widening of an
// ordinary column is applied the same way. Widening a column of the
// partition key is something PostgreSQL refuses: the record asking for it
// is a record error naming the column (dead-lettered here), not a stopped
// pipeline, and the records after it land. A schemaless JSON record with a
// new field changes only what the new field needs: the date partition key
// is not touched. `kafka2pg check` shows the partitions.
func TestPartitionedAutoEvolve(t *testing.T) {
	e := newEnv(t, 1)
	for _, s := range []string{
		`CREATE TABLE ev (id bigint NOT NULL, bucket integer NOT NULL, qty integer, day date NOT NULL, PRIMARY KEY (id, bucket, day)) PARTITION BY LIST (bucket)`,
		`CREATE TABLE ev_1 PARTITION OF ev FOR VALUES IN (1)`,
		`CREATE TABLE ev_2 PARTITION OF ev FOR VALUES IN (2) PARTITION BY RANGE (day)`,
		`CREATE TABLE ev_2_2026 PARTITION OF ev_2 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`,
		`CREATE TABLE ev_other PARTITION OF ev DEFAULT`,
	} {
		testenv.Exec(t, e.pool, s)
	}
	connect := func(fields, payload string) []byte {
		return []byte(`{"schema": {"type": "struct", "name": "ev", "fields": [` + fields + `]}, "payload": ` + payload + `}`)
	}
	const v1 = `{"field": "id", "type": "int64"}, {"field": "bucket", "type": "int32"}, {"field": "qty", "type": "int32", "optional": true},
		{"field": "day", "type": "int32", "name": "org.apache.kafka.connect.data.Date"}`
	// v2: qty becomes int64 (a safe widening) and a new optional field.
	const v2 = `{"field": "id", "type": "int64"}, {"field": "bucket", "type": "int32"}, {"field": "qty", "type": "int64", "optional": true},
		{"field": "day", "type": "int32", "name": "org.apache.kafka.connect.data.Date"}, {"field": "note", "type": "string", "optional": true}`
	// v3: bucket, in the partition key, becomes int64.
	const v3 = `{"field": "id", "type": "int64"}, {"field": "bucket", "type": "int64"}, {"field": "qty", "type": "int64", "optional": true},
		{"field": "day", "type": "int32", "name": "org.apache.kafka.connect.data.Date"}`
	day := 20454 // 2026-01-01
	topicJSON := testenv.Name("tjson")
	testenv.CreateTopic(t, topicJSON, 1)
	testenv.Produce(t, testenv.Client(t),
		&kgo.Record{Topic: e.topic, Value: connect(v1, fmt.Sprintf(`{"id": 1, "bucket": 1, "qty": 5, "day": %d}`, day))},
		&kgo.Record{Topic: e.topic, Value: connect(v2, fmt.Sprintf(`{"id": 2, "bucket": 2, "qty": 5000000000, "day": %d, "note": "v2"}`, day))},
		&kgo.Record{Topic: e.topic, Value: connect(v3, fmt.Sprintf(`{"id": 3, "bucket": 3, "qty": 1, "day": %d}`, day))},
		&kgo.Record{Topic: e.topic, Value: connect(v2, fmt.Sprintf(`{"id": 4, "bucket": 7, "qty": 7, "day": %d, "note": "after"}`, day))},
		&kgo.Record{Topic: topicJSON, Value: []byte(`{"id": 5, "bucket": 1, "qty": 1, "day": "2026-05-05", "label": "json"}`)},
	)
	cfg := e.config(`errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
routes:
  - topic: {{topic}}
    table: ev
    value: {format: json-connect}
    mode: insert
    auto_evolve: true
  - topic: ` + topicJSON + `
    name: ev-json
    table: ev
    mode: insert
    auto_evolve: true
`)
	cfg = rewrite(t, cfg, "topics: ["+e.topic+"]", "topics: ["+e.topic+", "+topicJSON+"]")
	// check shows the partitions and the ALTERs auto_evolve will run on
	// the parent.
	p := start(t, "check", "--config", cfg)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Errorf("check exited %d, want 0", code)
	}
	for _, w := range []string{
		"partitioned by LIST (bucket): 4 partition(s), 3 leaf partition(s); the default partition ev_other takes rows no other bound covers",
		"ev_2 FOR VALUES IN (2), partitioned by RANGE (day)",
		"  ev_2_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
		`ALTER TABLE "public"."ev" ALTER COLUMN "qty" TYPE bigint;`,
		`ALTER TABLE "public"."ev" ADD COLUMN IF NOT EXISTS "note" text;`,
	} {
		if !strings.Contains(p.out.String(), w) {
			t.Errorf("check output lacks %q:\n%s", w, p.out.String())
		}
	}
	out := runToEnd(t, cfg)
	equalLines(t, "ev rows", e.rowTexts("ev", "id", "id", "bucket", "qty", "day", "note", "label", "tableoid::regclass"), []string{
		"1 | 1 | 5 | 2026-01-01 | NULL | NULL | ev_1",
		"2 | 2 | 5000000000 | 2026-01-01 | v2 | NULL | ev_2_2026",
		"4 | 7 | 7 | 2026-01-01 | after | NULL | ev_other",
		"5 | 1 | 1 | 2026-05-05 | NULL | json | ev_1",
	})
	// The two topics are consumed in parallel: note and label are added
	// in either order.
	wantCols := []string{"bucket integer NOT NULL", "day date NOT NULL", "id bigint NOT NULL", "label text", "note text", "qty bigint"}
	for _, tbl := range []string{"ev", "ev_1", "ev_2", "ev_2_2026", "ev_other"} {
		cols := e.columns(tbl)
		if cols[len(cols)-1] == "PRIMARY KEY (id, bucket, day)" {
			cols = cols[:len(cols)-1]
		}
		slices.Sort(cols)
		checkLines(t, tbl+" columns", cols, wantCols)
	}
	dead := e.deadLetters("kafka2pg_dlq")
	if len(dead) != 1 || !strings.HasPrefix(dead[0], "2 map ") || !strings.Contains(dead[0], `column "bucket"`) || !strings.Contains(dead[0], "partition key") {
		t.Errorf("dead letters = %q; want only offset 2, naming column bucket and the partition key", dead)
	}
	if !logSays(out, `ALTER TABLE "public"."ev" ADD COLUMN IF NOT EXISTS "note" text`) || !logSays(out, `ALTER TABLE "public"."ev" ALTER COLUMN "qty" TYPE bigint`) {
		t.Errorf("the log does not show the ALTERs on the parent:\n%s", tail(out, 20))
	}
	if got := e.committedTotal(); got != 4 {
		t.Errorf("committed %d offsets of %s, want 4", got, e.topic)
	}
}
