package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// poisonMix produces n records over 4 partitions, about 1% bad in every way
// (undecodable, out of range, missing required field, check, foreign key and
// unique violations), alone, at the head of a batch, many in a row and a
// whole batch; it returns the ids of the good records and, for each bad
// record's id, the stage it must fail in.
func poisonMix(t *testing.T, e *env, n int) (good map[int64]bool, bad map[int64]string) {
	t.Helper()
	good, bad = map[int64]bool{}, map[int64]string{}
	kinds := []struct{ stage, value string }{
		{"decode", `{"id": %d, "n": `},
		{"map", `{"id": %d, "n": 99999}`},
		{"map", `{"id": %d}`},
		{"write", `{"id": %d, "n": -1}`},            // CHECK (n >= 0)
		{"write", `{"id": %d, "n": 1, "ref": 999}`}, // foreign key
	}
	var recs []*kgo.Record
	for i := range n {
		id := int64(i)
		v := fmt.Sprintf(`{"id": %d, "n": %d, "ref": 1}`, id, i%100)
		isBad := i%100 == 37 || (i >= 1000 && i < 1100) || (i >= 2000 && i < 2012) || i%400 == 0
		if isBad {
			k := kinds[i%len(kinds)]
			v = fmt.Sprintf(k.value, id)
			if k.stage == "decode" {
				v = fmt.Sprintf(k.value, id)
			}
			bad[id] = k.stage
		} else {
			good[id] = true
		}
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i % 4), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "seq", Value: fmt.Appendf(nil, "%d", i)}}})
	}
	// A duplicate of a good id: a unique violation at write time.
	for _, dup := range []int64{5, 6, 7} {
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(dup % 4), Value: fmt.Appendf(nil, `{"id": %d, "n": 1}`, dup),
			Headers: []kgo.RecordHeader{{Key: "seq", Value: fmt.Appendf(nil, "dup-%d", dup)}}})
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	return good, bad
}

const poisonDDL = `CREATE TABLE refs (id int PRIMARY KEY);
INSERT INTO refs VALUES (1);
CREATE TABLE events (id bigint PRIMARY KEY, n smallint NOT NULL CHECK (n >= 0), ref int REFERENCES refs (id))`

// Poison mix into a dead-letter table: rows + dead letters = records
// produced; the table holds exactly the good records, the dead-letter table
// exactly the bad ones with their stage and reason. 100,000 records with
// at-least-once, 20,000 with exactly-once.
func TestPoisonMixDLQTable(t *testing.T) {
	parallel(t)
	for delivery, n := range map[string]int{"at-least-once": 100000, "exactly-once": 20000} {
		t.Run(delivery, func(t *testing.T) {
			e := newEnv(t, 4)
			testenv.Exec(t, e.pool, poisonDDL)
			good, bad := poisonMix(t, e, n)
			runToEnd(t, e.config(fmt.Sprintf(`delivery: %s
batch: {max_rows: 100}
errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
routes:
  - topic: {{topic}}
    table: events
`, delivery)))
			// The table: exactly the good records.
			rows, err := e.pool.Query(context.Background(), `SELECT id FROM events`)
			mustNoErr(t, err)
			gotGood := map[int64]bool{}
			for rows.Next() {
				var id int64
				mustNoErr(t, rows.Scan(&id))
				gotGood[id] = true
			}
			for id := range good {
				if !gotGood[id] {
					t.Errorf("good record %d missing from the table", id)
				}
			}
			for id := range gotGood {
				if !good[id] {
					t.Errorf("bad record %d in the table", id)
				}
			}
			// The dead letters: exactly the bad ones (plus the 3 duplicates), right stage.
			drows, err := e.pool.Query(context.Background(), `SELECT coalesce(value_json->>'id', substring(convert_from(value, 'UTF8') from '"id": ([0-9]+)')),
				stage, error, convert_from(value, 'UTF8'), headers::text, "offset" FROM kafka2pg_dlq WHERE "group" = $1`, e.group)
			mustNoErr(t, err)
			dead, dups := 0, 0
			seen := map[int64]bool{}
			for drows.Next() {
				var idText, stage, reason, value, headers string
				var off int64
				mustNoErr(t, drows.Scan(&idText, &stage, &reason, &value, &headers, &off))
				dead++
				var id int64
				fmt.Sscan(idText, &id)
				if strings.Contains(headers, "dup-") {
					dups++
					if stage != "write" || !strings.Contains(reason, "23505") {
						t.Errorf("duplicate id %d: stage %s reason %s", id, stage, reason)
					}
					continue
				}
				want, ok := bad[id]
				if !ok {
					t.Errorf("good record %d in the dead-letter table: %s %s", id, stage, reason)
					continue
				}
				if seen[id] {
					t.Errorf("record %d dead-lettered twice", id)
				}
				seen[id] = true
				if stage != want || reason == "" {
					t.Errorf("record %d: stage %q reason %q, want stage %q", id, stage, reason, want)
				}
			}
			if dead != len(bad)+3 || dups != 3 {
				t.Errorf("%d dead letters (%d duplicates), want %d (3)", dead, dups, len(bad)+3)
			}
			if total := len(gotGood) + dead; total != n+3 {
				t.Fatalf("rows %d + dead letters %d = %d, want the %d records produced", len(gotGood), dead, total, n+3)
			}
		})
	}
}

// Poison mix into a dead-letter topic: the original key, value and headers,
// plus headers with the error class, message, stage and source coordinates.
func TestPoisonMixDLQTopic(t *testing.T) {
	parallel(t)
	e := newEnv(t, 4)
	testenv.Exec(t, e.pool, poisonDDL)
	dlq := testenv.Name("dlq")
	testenv.CreateTopic(t, dlq, 1)
	const n = 4000
	good, bad := poisonMix(t, e, n)
	runToEnd(t, e.config(fmt.Sprintf(`batch: {max_rows: 100}
errors:
  tolerance: all
  dlq: {topic: %s}
routes:
  - topic: {{topic}}
    table: events
`, dlq)))
	if got := e.count("events"); got != int64(len(good)) {
		t.Errorf("events has %d rows, want %d", got, len(good))
	}
	cl := testenv.Client(t, kgo.ConsumeTopics(dlq), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	want := len(bad) + 3
	got := 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for got < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			got++
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			for _, k := range []string{"seq", "kafka2pg.error.class", "kafka2pg.error.message", "kafka2pg.error.stage",
				"kafka2pg.source.topic", "kafka2pg.source.partition", "kafka2pg.source.offset", "kafka2pg.source.timestamp"} {
				if h[k] == "" {
					t.Errorf("dead letter %q lacks header %s: %v", r.Value, k, h)
				}
			}
			if h["kafka2pg.source.topic"] != e.topic {
				t.Errorf("source topic %q", h["kafka2pg.source.topic"])
			}
		})
	}
	if got != want {
		t.Fatalf("%d dead letters in %s, want %d", got, dlq, want)
	}
}

// Upsert with rows the database rejects: isolation keeps record order, so
// each key ends in the state of its last good record, as if the bad ones had
// never been produced.
func TestIsolationKeepsOrder(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL CHECK (v >= 0))`)
	val := func(k string, v int) *kgo.Record {
		return &kgo.Record{Topic: e.topic, Key: []byte(k), Value: fmt.Appendf(nil, `{"v": %d}`, v)}
	}
	testenv.Produce(t, testenv.Client(t),
		val("a", 1), val("a", -2), val("a", 3), // bad in the middle: a = 3
		val("b", 1), val("b", -2), // bad last: b = 1
		val("c", -1),                                                      // only bad: no row
		val("d", 1), val("d", 2), val("d", -3), val("d", 4), val("d", -5), // d = 4
	)
	runToEnd(t, e.config(`errors:
  tolerance: all
  dlq: {table: dead}
routes:
  - topic: {{topic}}
    table: kv
    mode: upsert
`))
	got := map[string]int{}
	rows, err := e.pool.Query(context.Background(), `SELECT k, v FROM kv`)
	mustNoErr(t, err)
	for rows.Next() {
		var k string
		var v int
		mustNoErr(t, rows.Scan(&k, &v))
		got[k] = v
	}
	want := map[string]int{"a": 3, "b": 1, "d": 4}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("kv = %v, want %v", got, want)
	}
	var dead int
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM dead WHERE stage = 'write' AND error LIKE '%23514%'`).Scan(&dead))
	if dead != 5 {
		t.Fatalf("%d dead letters, want the 5 rejected records", dead)
	}
}

// A systemic error (a column dropped while the sink runs) is not a record
// error: the pipeline stops with exit 1 and the dead-letter queue stays empty,
// even with tolerance all.
func TestSystemicErrorStopsWithoutDLQ(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL, extra text)`)
	cl := testenv.Client(t)
	testenv.Produce(t, cl, &kgo.Record{Topic: e.topic, Value: []byte(`{"id": 1, "extra": "x"}`)})
	p := start(t, "run", "--config", e.config(`errors:
  tolerance: all
  dlq: {table: dead}
routes:
  - topic: {{topic}}
    table: events
`))
	eventually(t, 30*time.Second, "the first row", func() bool { return e.count("events") == 1 })
	testenv.Exec(t, e.pool, `ALTER TABLE events DROP COLUMN extra`)
	testenv.Produce(t, cl, &kgo.Record{Topic: e.topic, Value: []byte(`{"id": 2, "extra": "y"}`)})
	if code := p.wait(t, 60*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if out := strings.ReplaceAll(p.out.String(), `\"`, `"`); !strings.Contains(out, "systemic error") {
		t.Errorf("the error does not say systemic:\n%s", tail(out, 5))
	}
	if n := e.count("dead"); n != 0 {
		t.Fatalf("%d dead letters after a systemic error, want 0", n)
	}
	if c := testenv.Committed(t, e.group, e.topic); c[0] != 1 {
		t.Fatalf("committed %d, want 1 (not past the record that could not be written)", c[0])
	}
}
