package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Insert mode: every record becomes one row, and the group's committed
// offsets end at the partitions' ends.
func TestInsertMode(t *testing.T) {
	parallel(t)
	e := newEnv(t, 4)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL, name text, amount numeric, at timestamptz, created timestamptz NOT NULL DEFAULT now())`)
	cl := testenv.Client(t)
	const n = 2000
	var recs []*kgo.Record
	var sum int64
	perPart := map[int32]int64{}
	for i := range n {
		part := int32(i % 4)
		v := fmt.Sprintf(`{"id": %d, "name": "n-%d", "amount": "%d.25", "at": "2026-01-02T03:04:05.123456Z", "ignored": {"x": 1}}`, i, i, i)
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: part, Value: []byte(v)})
		sum += int64(i)
		perPart[part]++
	}
	testenv.Produce(t, cl, recs...)
	cfg := e.config(`batch: {max_rows: 300}
routes:
  - topic: {{topic}}
    table: events
    mode: insert
`)
	runToEnd(t, cfg)
	if got := e.count("events"); got != n {
		t.Fatalf("events has %d rows, want %d", got, n)
	}
	var gotSum int64
	var amounts, names int64
	mustNoErr(t, e.pool.QueryRow(context.Background(),
		`SELECT sum(id), count(*) FILTER (WHERE amount = id + 0.25), count(*) FILTER (WHERE name = 'n-' || id AND at = '2026-01-02T03:04:05.123456Z')
		 FROM events`).Scan(&gotSum, &amounts, &names))
	if gotSum != sum || amounts != n || names != n {
		t.Fatalf("sum(id)=%d want %d; exact amounts %d, names and timestamps %d, want %d", gotSum, sum, amounts, names, n)
	}
	committed := testenv.Committed(t, e.group, e.topic)
	for p, want := range perPart {
		if committed[p] != want {
			t.Errorf("partition %d committed %d, want %d", p, committed[p], want)
		}
	}
}

// Upsert: repeated keys inside one batch and across batches, tombstones, 8
// partitions; the table equals the independently computed model.
func TestUpsertModel(t *testing.T) {
	parallel(t)
	for _, maxRows := range []int{7, 10000} {
		t.Run(fmt.Sprintf("max_rows=%d", maxRows), func(t *testing.T) {
			e := newEnv(t, 8)
			testenv.Exec(t, e.pool, ordersDDL)
			m := model{}
			g := newOrderGen(e.topic, 8, 300, 0.05, uint64(maxRows))
			testenv.Produce(t, testenv.Client(t), g.next(5000, m)...)
			cfg := e.config(fmt.Sprintf(`batch: {max_rows: %d}
routes:
  - topic: {{topic}}
    table: orders
    mode: upsert
    delete_on_tombstone: true
`, maxRows))
			runToEnd(t, cfg)
			e.assertOrders(m)
			committed := testenv.Committed(t, e.group, e.topic)
			for p, want := range g.perPart {
				if committed[p] != want {
					t.Errorf("partition %d committed %d, want %d", p, committed[p], want)
				}
			}
			// Columns the records do not carry keep their default.
			var notes int64
			mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE note = 'none'`).Scan(&notes))
			if notes != int64(len(m)) {
				t.Errorf("%d rows have the default note, want %d", notes, len(m))
			}
		})
	}
}

// A second run resumes from the committed offsets: nothing is lost and
// nothing is applied twice out of order.
func TestRestartResumes(t *testing.T) {
	parallel(t)
	e := newEnv(t, 3)
	testenv.Exec(t, e.pool, ordersDDL)
	cl := testenv.Client(t)
	m := model{}
	g := newOrderGen(e.topic, 3, 200, 0.05, 42)
	cfg := e.config(`routes:
  - topic: {{topic}}
    table: orders
    mode: upsert
    delete_on_tombstone: true
`)
	testenv.Produce(t, cl, g.next(1500, m)...)
	out := runToEnd(t, cfg)
	if !strings.Contains(out, "records=1500") {
		t.Errorf("first run should report 1500 records:\n%s", tail(out, 5))
	}
	e.assertOrders(m)
	testenv.Produce(t, cl, g.next(1500, m)...)
	out = runToEnd(t, cfg)
	if !strings.Contains(out, "records=1500") {
		t.Errorf("second run should process only the 1500 new records:\n%s", tail(out, 5))
	}
	e.assertOrders(m)
}

// SIGKILL in the middle of a stream, several times: after a final run the
// table equals the model (upserts make replays harmless).
func TestSIGKILLMidStream(t *testing.T) {
	parallel(t)
	e := newEnv(t, 4)
	testenv.Exec(t, e.pool, ordersDDL)
	cl := testenv.Client(t)
	m := model{}
	g := newOrderGen(e.topic, 4, 2000, 0.03, 9)
	cfg := e.config(`batch: {max_rows: 500, max_wait: 20ms}
routes:
  - topic: {{topic}}
    table: orders
    mode: upsert
    delete_on_tombstone: true
`)
	for cycle := range 3 {
		p := start(t, "run", "--config", cfg)
		for range 10 {
			testenv.Produce(t, cl, g.next(1000, m)...)
		}
		before := e.committedTotal()
		eventually(t, 60*time.Second, "some progress", func() bool { return e.committedTotal() > before || e.count("orders") > 0 })
		time.Sleep(time.Duration(50+cycle*70) * time.Millisecond)
		p.signal(syscall.SIGKILL)
		p.wait(t, 10*time.Second)
	}
	runToEnd(t, cfg)
	e.assertOrders(m)
}

// SIGTERM drains and commits: afterwards everything committed is in the
// table and everything in the table is committed (insert mode, so rows
// count records exactly).
func TestSIGTERMDrainsAndCommits(t *testing.T) {
	parallel(t)
	e := newEnv(t, 4)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL, p int NOT NULL)`)
	cl := testenv.Client(t)
	cfg := e.config(`batch: {max_rows: 1000, max_wait: 2s}
routes:
  - topic: {{topic}}
    table: events
    mode: insert
`)
	p := start(t, "run", "--config", cfg)
	id := 0
	for range 20 {
		var recs []*kgo.Record
		for range 500 {
			part := int32(id % 4)
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: part, Value: fmt.Appendf(nil, `{"id": %d, "p": %d}`, id, part)})
			id++
		}
		testenv.Produce(t, cl, recs...)
	}
	eventually(t, 60*time.Second, "rows to appear", func() bool { return e.count("events") > 0 })
	// max_wait is 2s: batches are pending when the signal arrives.
	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	rows := e.count("events")
	if committed := e.committedTotal(); committed != rows {
		t.Fatalf("after SIGTERM: %d rows but %d offsets committed; a drain must commit exactly what it wrote", rows, committed)
	}
	var dups int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*) - count(DISTINCT id) FROM events`).Scan(&dups))
	if dups != 0 {
		t.Fatalf("%d duplicate rows after a clean stop", dups)
	}
	// The rest arrives with the next run, exactly once.
	runToEnd(t, cfg)
	if got := e.count("events"); got != int64(id) {
		t.Fatalf("after restart: %d rows, want %d", got, id)
	}
}

// A malformed record stops the pipeline with exit code 1 and an error naming
// topic, partition, offset and field; every record before it is written and
// committed, nothing at or after it.
func TestMalformedRecordStops(t *testing.T) {
	parallel(t)
	cases := []struct {
		name, bad, wantMsg string
	}{
		{"bad json", `{"id": 50, "name": `, "value is not valid JSON"},
		{"out of range", `{"id": 50, "n": 70000}`, "value 70000 out of range for smallint"},
		{"not an object", `[1, 2]`, "not an object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 2)
			testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL, n smallint, name text)`)
			cl := testenv.Client(t)
			var recs []*kgo.Record
			for i := range 100 {
				v := fmt.Appendf(nil, `{"id": %d, "n": 1}`, i)
				if i == 50 {
					v = []byte(tc.bad)
				}
				recs = append(recs, &kgo.Record{Topic: e.topic, Partition: 0, Value: v})
				recs = append(recs, &kgo.Record{Topic: e.topic, Partition: 1, Value: fmt.Appendf(nil, `{"id": %d, "n": 2}`, 1000+i)})
			}
			testenv.Produce(t, cl, recs...)
			cfg := e.config(`batch: {max_rows: 16}
routes:
  - topic: {{topic}}
    table: events
`)
			p := start(t, "run", "--config", cfg)
			if code := p.wait(t, 60*time.Second); code != 1 {
				t.Fatalf("exit code %d, want 1", code)
			}
			out := p.out.String()
			want := fmt.Sprintf("topic %s partition 0 offset 50", e.topic)
			if !strings.Contains(out, want) || !strings.Contains(out, tc.wantMsg) {
				t.Fatalf("output does not name %q and %q:\n%s", want, tc.wantMsg, tail(out, 10))
			}
			var n0, max0 int64
			mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*), coalesce(max(id), -1) FROM events WHERE n = 1`).Scan(&n0, &max0))
			if n0 != 50 || max0 != 49 {
				t.Fatalf("partition 0: %d rows up to id %d; want exactly the 50 records before the bad one", n0, max0)
			}
			if c := testenv.Committed(t, e.group, e.topic); c[0] != 50 {
				t.Fatalf("partition 0 committed offset %d, want 50 (the bad record's offset)", c[0])
			}
			// The other partition is unaffected: what was written is committed.
			var n1 int64
			mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE n = 2`).Scan(&n1))
			if c := testenv.Committed(t, e.group, e.topic); c[1] != n1 {
				t.Fatalf("partition 1: %d rows but committed offset %d", n1, c[1])
			}
			// A restart stops at the same record again, writing nothing new.
			p = start(t, "run", "--config", cfg)
			if code := p.wait(t, 60*time.Second); code != 1 {
				t.Fatalf("restart: exit code %d, want 1", code)
			}
			var again int64
			mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE n = 1`).Scan(&again))
			if again != 50 {
				t.Fatalf("after restart partition 0 has %d rows, want 50", again)
			}
		})
	}
}

// version_column: a late event never overwrites newer state, and of equal
// versions the later record wins, in a batch and across batches;
// soft_delete_column: a tombstone stamps the row instead of deleting it, and
// a later write brings it back.
func TestVersionAndSoftDelete(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE items (id text PRIMARY KEY, v bigint NOT NULL, label text, deleted_at timestamptz)`)
	cl := testenv.Client(t)
	val := func(id string, v int, label string) *kgo.Record {
		return &kgo.Record{Topic: e.topic, Key: []byte(id), Value: fmt.Appendf(nil, `{"v": %d, "label": %q}`, v, label)}
	}
	ts := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	testenv.Produce(t, cl,
		val("a", 2, "a2"), val("a", 1, "a1-late"), // late event in the same batch
		val("b", 1, "b1"), val("b", 3, "b3"),
		val("e", 4, "e4"), val("e", 4, "e4-second"), // equal versions in one batch: the later
		val("f", 4, "f4"),
		val("c", 1, "c1"), &kgo.Record{Topic: e.topic, Key: []byte("c"), Timestamp: ts}, // soft delete
		val("d", 1, "d1"), &kgo.Record{Topic: e.topic, Key: []byte("d")}, val("d", 2, "d2"), // deleted, then back
	)
	cfg := e.config(`routes:
  - topic: {{topic}}
    table: items
    mode: upsert
    delete_on_tombstone: true
    version_column: v
    soft_delete_column: deleted_at
`)
	runToEnd(t, cfg)
	// Late events, and an equal version, in a later batch.
	testenv.Produce(t, cl, val("b", 2, "b2-late"), val("a", 1, "a1-replay"), val("f", 4, "f4-second"))
	runToEnd(t, cfg)
	want := map[string]string{"a": "2 a2 <nil>", "b": "3 b3 <nil>", "c": "1 c1 " + ts.Format(time.RFC3339), "d": "2 d2 <nil>",
		"e": "4 e4-second <nil>", "f": "4 f4-second <nil>"}
	rows, err := e.pool.Query(context.Background(), `SELECT id, v, label, deleted_at FROM items`)
	mustNoErr(t, err)
	got := map[string]string{}
	for rows.Next() {
		var id, label string
		var v int64
		var del *time.Time
		mustNoErr(t, rows.Scan(&id, &v, &label, &del))
		d := "<nil>"
		if del != nil {
			d = del.UTC().Format(time.RFC3339)
		}
		got[id] = fmt.Sprintf("%d %s %s", v, label, d)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("row %s = %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

// JSON keys map to a composite primary key (uuid + text); tombstones delete
// by that key.
func TestJSONKeyCompositeDelete(t *testing.T) {
	parallel(t)
	e := newEnv(t, 2)
	testenv.Exec(t, e.pool, `CREATE TABLE accounts (tenant text, id uuid, balance numeric NOT NULL, PRIMARY KEY (tenant, id))`)
	cl := testenv.Client(t)
	key := func(tenant, id string) []byte { return fmt.Appendf(nil, `{"tenant": %q, "id": %q}`, tenant, id) }
	u1, u2 := "6f1c2a34-0d5e-4b8a-9c3f-1a2b3c4d5e6f", "00000000-0000-0000-0000-0000000000ff"
	testenv.Produce(t, cl,
		&kgo.Record{Topic: e.topic, Partition: 0, Key: key("t1", u1), Value: []byte(`{"balance": "10.5", "tenant": "ignored-key-wins"}`)},
		&kgo.Record{Topic: e.topic, Partition: 0, Key: key("t1", u2), Value: []byte(`{"balance": 1}`)},
		&kgo.Record{Topic: e.topic, Partition: 1, Key: key("t2", u1), Value: []byte(`{"balance": 2}`)},
		&kgo.Record{Topic: e.topic, Partition: 0, Key: key("t1", u2)},
	)
	cfg := e.config(`routes:
  - topic: {{topic}}
    table: accounts
    key: {format: json}
    mode: upsert
    delete_on_tombstone: true
`)
	runToEnd(t, cfg)
	rows, err := e.pool.Query(context.Background(), `SELECT tenant || '/' || id || '=' || balance FROM accounts ORDER BY 1`)
	mustNoErr(t, err)
	var got []string
	for rows.Next() {
		var s string
		mustNoErr(t, rows.Scan(&s))
		got = append(got, s)
	}
	want := []string{"t1/" + u1 + "=10.5", "t2/" + u1 + "=2"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("accounts = %v, want %v", got, want)
	}
}

// Raw mode stores every record with its coordinates; replaying the topic
// with a new group stores nothing twice.
func TestRawMode(t *testing.T) {
	parallel(t)
	e := newEnv(t, 2)
	cl := testenv.Client(t)
	testenv.Produce(t, cl,
		&kgo.Record{Topic: e.topic, Partition: 0, Key: []byte("k1"), Value: []byte(`{"a": [1, 2, {"b": null}]}`),
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}, {Key: "bin", Value: []byte{0xff, 0}}}},
		&kgo.Record{Topic: e.topic, Partition: 1, Value: []byte(`"just a string"`)},
		&kgo.Record{Topic: e.topic, Partition: 1, Key: []byte("gone")},
	)
	cfg := e.config(`routes:
  - topic: {{topic}}
    table: raw_events
    mode: raw
`)
	runToEnd(t, cfg)
	e.group = testenv.Name("g2")
	runToEnd(t, e.config(`routes:
  - topic: {{topic}}
    table: raw_events
    mode: raw
`))
	rows, err := e.pool.Query(context.Background(), `SELECT topic, partition, "offset", coalesce(key, '<null>'), coalesce(value::text, '<null>'), headers::text FROM raw_events ORDER BY partition, "offset"`)
	mustNoErr(t, err)
	var got []string
	for rows.Next() {
		var topic, key, value, headers string
		var part int32
		var off int64
		mustNoErr(t, rows.Scan(&topic, &part, &off, &key, &value, &headers))
		if topic != e.topic {
			t.Errorf("topic %q", topic)
		}
		got = append(got, fmt.Sprintf("%d/%d %s %s %s", part, off, key, value, headers))
	}
	want := []string{
		`0/0 k1 {"a": [1, 2, {"b": null}]} [{"key": "trace", "value": "abc"}, {"key": "bin", "value_base64": "/wA="}]`,
		`1/0 <null> "just a string" []`,
		`1/1 gone <null> []`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("raw table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Every type the coercion supports, end to end through Kafka: values land
// exactly, and defaults fill what the record omits.
func TestTypedColumns(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`)
	testenv.Exec(t, e.pool, `CREATE TABLE typed (
		id int PRIMARY KEY, s smallint, b bigint, n numeric(20,6), r real, d double precision,
		t text, vc varchar(5), ok boolean, ts timestamptz, tsn timestamp, day date, u uuid,
		j json, jb jsonb, raw bytea, m mood, ints int[], tags text[], dflt text DEFAULT 'dflt')`)
	v := map[string]any{
		"id": 1, "s": -32768, "b": json.Number("9223372036854775807"), "n": json.Number("12345678901234.123456"),
		"r": 1.5, "d": "-0.000001", "t": "héllo", "vc": "abcde", "ok": true, "ts": 1700000000123,
		"tsn": "2026-02-28T23:59:59.999999+02:00", "day": "2024-02-29", "u": "6F1C2A34-0D5E-4B8A-9C3F-1A2B3C4D5E6F",
		"j": map[string]any{"z": 1, "a": []int{1}}, "jb": []any{"x", 2.5, nil}, "raw": "AAEC/w==", "m": "happy",
		"ints": []int{1, -2, 3}, "tags": []any{"a", nil, "c"},
	}
	body, _ := json.Marshal(v)
	testenv.Produce(t, testenv.Client(t), &kgo.Record{Topic: e.topic, Value: body})
	runToEnd(t, e.config(`routes:
  - topic: {{topic}}
    table: typed
`))
	var got string
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT concat_ws('|', s, b, n, r, d, t, vc, ok, ts AT TIME ZONE 'UTC', tsn, day, u, j, jb,
		encode(raw, 'hex'), m, ints, tags, dflt) FROM typed`).Scan(&got))
	want := `-32768|9223372036854775807|12345678901234.123456|1.5|-1e-06|héllo|abcde|t|2023-11-14 22:13:20.123|2026-02-28 21:59:59.999999|2024-02-29|6f1c2a34-0d5e-4b8a-9c3f-1a2b3c4d5e6f|{"a":[1],"z":1}|["x", 2.5, null]|000102ff|happy|{1,-2,3}|{a,NULL,c}|dflt`
	if got != want {
		t.Fatalf("typed row:\n got %s\nwant %s", got, want)
	}
}
