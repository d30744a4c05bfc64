package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// replayRun runs `kafka2pg dlq replay` with args and returns its exit code
// and output (stdout and stderr).
func replayRun(t *testing.T, args ...string) (int, string) {
	t.Helper()
	p := start(t, append([]string{"dlq", "replay"}, args...)...)
	code := p.wait(t, 3*time.Minute)
	return code, p.out.String()
}

// replayOK runs a replay, requires exit 0 and the summary line want.
func replayOK(t *testing.T, want string, args ...string) string {
	t.Helper()
	code, out := replayRun(t, args...)
	if code != 0 {
		t.Fatalf("dlq replay %v exited %d, want 0:\n%s", args, code, out)
	}
	if !strings.Contains(out, want) {
		t.Fatalf("dlq replay %v: output lacks %q:\n%s", args, want, out)
	}
	return out
}

// replayQueryInt runs a query returning one integer.
func replayQueryInt(t *testing.T, e *env, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// replayAssertRows requires want rows in items, none of them twice.
func replayAssertRows(t *testing.T, e *env, want int64) {
	t.Helper()
	var n, distinct int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT id) FROM items`).Scan(&n, &distinct))
	if n != want || distinct != want {
		t.Fatalf("items has %d rows (%d distinct ids), want %d, none twice", n, distinct, want)
	}
}

const replayItemsDDL = `CREATE TABLE items (
  id bigint NOT NULL,
  n int NOT NULL CONSTRAINT items_n_check CHECK (n >= 0),
  m int CONSTRAINT items_m_check CHECK (m < 1000),
  code varchar(5)
)`

// Dead-letter table: records rejected by two CHECK constraints and by a
// varchar(5) column. Replay after fixing part of the cause lands what now
// fits and leaves the rest in the table with the new reason; replay after
// fixing the rest empties the queue; a third replay does nothing. No row is
// ever written twice (insert mode, no key), and with exactly-once delivery
// the offset table is not touched.
func TestDLQReplayTable(t *testing.T) {
	parallel(t)
	for _, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) {
			e := newEnv(t, 2)
			testenv.Exec(t, e.pool, replayItemsDDL)
			const n = 400
			var recs []*kgo.Record
			var good, badN, badM, long int64
			for i := range n {
				v := fmt.Sprintf(`{"id": %d, "n": %d, "m": 1, "code": "c%d"}`, i, i, i%1000)
				switch i % 10 {
				case 3:
					v = fmt.Sprintf(`{"id": %d, "n": -1, "m": 1, "code": "ok"}`, i)
					badN++
				case 5:
					v = fmt.Sprintf(`{"id": %d, "n": 1, "m": 5000, "code": "ok"}`, i)
					badM++
				case 7:
					v = fmt.Sprintf(`{"id": %d, "n": 1, "m": 1, "code": "toolong-%d"}`, i, i)
					long++
				default:
					good++
				}
				recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i / 10 % 2), Key: fmt.Appendf(nil, "k%d", i), Value: []byte(v),
					Headers: []kgo.RecordHeader{{Key: "seq", Value: fmt.Appendf(nil, "%d", i)}}})
			}
			testenv.Produce(t, testenv.Client(t), recs...)
			cfg := e.config(fmt.Sprintf(`delivery: %s
batch: {max_rows: 50}
errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
routes:
  - topic: {{topic}}
    table: items
`, delivery))
			runToEnd(t, cfg)
			replayAssertRows(t, e, good)
			dead := func(where string) int64 {
				return replayQueryInt(t, e, `SELECT count(*) FROM kafka2pg_dlq WHERE "group" = $1 AND `+where, e.group)
			}
			if w, m := dead(`stage = 'write'`), dead(`stage = 'map'`); w != badN+badM || m != long {
				t.Fatalf("dead letters: %d write, %d map; want %d, %d", w, m, badN+badM, long)
			}
			offsetsBefore := replayOffsetsTable(t, e, delivery)

			// A dry run maps only: the check violators map fine, the long
			// codes still do not fit; nothing changes.
			replayOK(t, fmt.Sprintf("dry run: would replay %d record(s) from dead-letter table kafka2pg_dlq; %d would fail again", badN+badM, long),
				"--config", cfg, "--dry-run")
			replayAssertRows(t, e, good)
			if d := dead("true"); d != badN+badM+long {
				t.Fatalf("the dry run changed the dead-letter table: %d dead letters", d)
			}
			// Time bounds select by dead_at.
			replayOK(t, "dry run: would replay 0 record(s) from dead-letter table kafka2pg_dlq; 0 would fail again",
				"--config", cfg, "--dry-run", "--from", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
			replayOK(t, fmt.Sprintf("dry run: would replay %d record(s) from dead-letter table kafka2pg_dlq; %d would fail again", badN+badM, long),
				"--config", cfg, "--dry-run", "--from", "2000-01-01T00:00:00Z", "--to", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))

			// Fix only the first check. The n < 0 records land; the m ≥ 1000
			// ones are rejected again (isolated within their batches) and the
			// long codes do not map: both stay, with the reason rewritten.
			testenv.Exec(t, e.pool, `ALTER TABLE items DROP CONSTRAINT items_n_check`)
			testenv.Exec(t, e.pool, `UPDATE kafka2pg_dlq SET error = 'stale', dead_at = '2000-01-01T00:00:00Z'`)
			out := replayOK(t, fmt.Sprintf("replayed %d record(s) from dead-letter table kafka2pg_dlq; %d failed again and are back in the dead-letter queue; 0 had no route", badN, badM+long),
				"--config", cfg)
			if !strings.Contains(out, "replayed ") || !strings.Contains(out, ", failed again ") {
				t.Errorf("no per-batch lines:\n%s", out)
			}
			replayAssertRows(t, e, good+badN)
			if d := dead(`error = 'stale' OR dead_at < '2001-01-01'`); d != 0 {
				t.Errorf("%d dead letters that failed again kept their old reason or time", d)
			}
			if d := dead(`stage = 'write' AND error_class = 'data' AND error LIKE '%items_m_check%' AND error LIKE '%23514%'`); d != badM {
				t.Errorf("%d dead letters rejected by items_m_check, want %d", d, badM)
			}
			if d := dead(`stage = 'map' AND error_class = 'record' AND error LIKE '%column "code"%'`); d != long {
				t.Errorf("%d dead letters with a long code, want %d", d, long)
			}
			if d := dead("true"); d != badM+long {
				t.Errorf("%d dead letters left, want %d", d, badM+long)
			}
			// The replayed rows are the records as they were: same values.
			if got := replayQueryInt(t, e, `SELECT count(*) FROM items WHERE n = -1 AND m = 1 AND code = 'ok' AND id % 10 = 3`); got != badN {
				t.Errorf("%d replayed rows with their original values, want %d", got, badN)
			}

			// A dead letter of a topic no route names stays where it is.
			testenv.Exec(t, e.pool, `INSERT INTO kafka2pg_dlq ("group", topic, partition, "offset", value, headers, "timestamp", stage, error_class, error)
				VALUES ($1, 'elsewhere', 0, 7, '{"id": 1}', '[]', now(), 'map', 'record', 'x')`, e.group)

			// Fix the rest: everything lands, the queue is empty but for the
			// unroutable one.
			testenv.Exec(t, e.pool, `ALTER TABLE items DROP CONSTRAINT items_m_check, ALTER COLUMN code TYPE varchar(50)`)
			replayOK(t, fmt.Sprintf("replayed %d record(s) from dead-letter table kafka2pg_dlq; 0 failed again and are back in the dead-letter queue; 1 had no route", badM+long),
				"--config", cfg)
			replayAssertRows(t, e, n)
			if d := dead("true"); d != 1 {
				t.Fatalf("%d dead letters left, want only the one without a route", d)
			}
			if got := replayQueryInt(t, e, `SELECT count(*) FROM items WHERE code LIKE 'toolong-%'`); got != long {
				t.Errorf("%d long codes in items, want %d", got, long)
			}

			// Again: nothing to replay, nothing written twice.
			replayOK(t, "replayed 0 record(s) from dead-letter table kafka2pg_dlq; 0 failed again and are back in the dead-letter queue; 1 had no route",
				"--config", cfg)
			replayAssertRows(t, e, n)
			if after := replayOffsetsTable(t, e, delivery); after != offsetsBefore {
				t.Fatalf("replay touched the offset table:\nbefore %s\nafter  %s", offsetsBefore, after)
			}
		})
	}
}

// replayOffsetsTable renders the exactly-once offset table ("" with
// at-least-once).
func replayOffsetsTable(t *testing.T, e *env, delivery string) string {
	t.Helper()
	if delivery != "exactly-once" {
		return ""
	}
	rows, err := e.pool.Query(context.Background(), `SELECT topic, partition, next_offset, owner_epoch, owner, updated_at FROM kafka2pg_offsets ORDER BY topic, partition`)
	mustNoErr(t, err)
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var topic, owner string
		var part int32
		var next, epoch int64
		var at time.Time
		mustNoErr(t, rows.Scan(&topic, &part, &next, &epoch, &owner, &at))
		fmt.Fprintf(&b, "%s/%d=%d@%d %s %s; ", topic, part, next, epoch, owner, at.Format(time.RFC3339Nano))
	}
	mustNoErr(t, rows.Err())
	if b.Len() == 0 {
		t.Fatal("the offset table is empty")
	}
	return b.String()
}

// replayReadTopic reads every record of topic, from the start to the end
// offsets now.
func replayReadTopic(t *testing.T, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(testenv.Client(t)).ListEndOffsets(ctx, topic)
	mustNoErr(t, err)
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	cl := testenv.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for int64(len(out)) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	if int64(len(out)) != want {
		t.Fatalf("read %d records of %s, want %d", len(out), topic, want)
	}
	return out
}

func replayHeaders(r *kgo.Record) map[string][]string {
	h := map[string][]string{}
	for _, x := range r.Headers {
		h[x.Key] = append(h[x.Key], string(x.Value))
	}
	return h
}

// Dead-letter topic: replay writes what now fits and produces what fails
// again to the topic again, with fresh headers; the replay position is kept
// in the group <group>.dlq-replay, so a second replay does not write the
// same records again.
func TestDLQReplayTopic(t *testing.T) {
	parallel(t)
	e := newEnv(t, 2)
	testenv.Exec(t, e.pool, replayItemsDDL)
	dlq := testenv.Name("dlq")
	testenv.CreateTopic(t, dlq, 2)
	const n = 300
	var recs []*kgo.Record
	var good, badN, long int64
	for i := range n {
		v := fmt.Sprintf(`{"id": %d, "n": %d, "code": "c%d"}`, i, i, i)
		switch {
		case i == 150:
			v = `{"id": 150, "n": ` // never decodes
		case i%10 == 3:
			v = fmt.Sprintf(`{"id": %d, "n": -1}`, i)
			badN++
		case i%10 == 7:
			v = fmt.Sprintf(`{"id": %d, "n": 1, "code": "toolong-%d"}`, i, i)
			long++
		default:
			good++
		}
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i / 10 % 2), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "seq", Value: fmt.Appendf(nil, "%d", i)}}})
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	cfg := e.config(fmt.Sprintf(`batch: {max_rows: 40}
errors:
  tolerance: all
  dlq: {topic: %s}
routes:
  - topic: {{topic}}
    table: items
`, dlq))
	runToEnd(t, cfg)
	replayAssertRows(t, e, good)
	initial := int64(len(replayReadTopic(t, dlq)))
	if initial != badN+long+1 {
		t.Fatalf("%d dead letters, want %d", initial, badN+long+1)
	}
	dlqName := "dead-letter topic " + dlq

	// Fix only the check: the n < 0 records land; the long codes and the
	// undecodable record are dead letters again, at the end of the topic.
	testenv.Exec(t, e.pool, `ALTER TABLE items DROP CONSTRAINT items_n_check`)
	replayOK(t, fmt.Sprintf("replayed %d record(s) from %s; %d failed again and are back in the dead-letter queue; 0 had no route", badN, dlqName, long+1),
		"--config", cfg)
	replayAssertRows(t, e, good+badN)
	all := replayReadTopic(t, dlq)
	if int64(len(all)) != initial+long+1 {
		t.Fatalf("%d records in the dead-letter topic, want %d", len(all), initial+long+1)
	}
	// The re-dead-lettered records keep the source coordinates and the
	// record's own headers, with one fresh set of kafka2pg headers.
	firstSeen := map[string]string{} // seq → source offset of the first dead letter
	again := 0
	for _, r := range all {
		h := replayHeaders(r)
		if len(h["kafka2pg.error.message"]) != 1 || len(h["kafka2pg.source.offset"]) != 1 || len(h["seq"]) != 1 {
			t.Fatalf("dead letter %q: headers %v, want one of each", r.Value, h)
		}
		if h["kafka2pg.source.topic"][0] != e.topic {
			t.Errorf("source topic %v", h["kafka2pg.source.topic"])
		}
		seq := h["seq"][0]
		if off, ok := firstSeen[seq]; ok {
			again++
			if off != h["kafka2pg.source.offset"][0] {
				t.Errorf("seq %s: source offset %s, then %s", seq, off, h["kafka2pg.source.offset"][0])
			}
			continue
		}
		firstSeen[seq] = h["kafka2pg.source.offset"][0]
	}
	if int64(again) != long+1 {
		t.Errorf("%d records dead-lettered a second time, want %d", again, long+1)
	}

	// Fix the column: only the dead letters after the replay position are
	// read; the long codes land.
	testenv.Exec(t, e.pool, `ALTER TABLE items ALTER COLUMN code TYPE varchar(50)`)
	replayOK(t, fmt.Sprintf("replayed %d record(s) from %s; 1 failed again", long, dlqName), "--config", cfg)
	replayAssertRows(t, e, good+badN+long)

	// Again: nothing is written twice; the undecodable record fails again.
	replayOK(t, fmt.Sprintf("replayed 0 record(s) from %s; 1 failed again", dlqName), "--config", cfg)
	replayAssertRows(t, e, good+badN+long)
	total := int64(len(replayReadTopic(t, dlq)))
	if total != initial+long+3 {
		t.Fatalf("%d records in the dead-letter topic, want %d", total, initial+long+3)
	}
	var committed int64
	for _, o := range testenv.Committed(t, e.group+".dlq-replay", dlq) {
		committed += o
	}
	if committed != total-1 {
		t.Fatalf("the replay group committed %d, want %d (all but the last dead letter)", committed, total-1)
	}
	// --dry-run reads, writes nothing and commits nothing.
	replayOK(t, fmt.Sprintf("dry run: would replay 0 record(s) from %s; 1 would fail again", dlqName), "--config", cfg, "--dry-run")
	var after int64
	for _, o := range testenv.Committed(t, e.group+".dlq-replay", dlq) {
		after += o
	}
	if after != committed || int64(len(replayReadTopic(t, dlq))) != total {
		t.Fatal("a dry run committed or produced")
	}
	// A time bound before every record's timestamp selects nothing.
	replayOK(t, fmt.Sprintf("dry run: would replay 0 record(s) from %s; 0 would fail again", dlqName),
		"--config", cfg, "--dry-run", "--to", "2000-01-01T00:00:00Z")
}

// Bad usage exits 2 before anything connects.
func TestDLQReplayBadUsage(t *testing.T) {
	base := `kafka:
  brokers: ["127.0.0.1:1"]
  group: g
  topics: [orders]
postgres:
  url: postgres://u@127.0.0.1:1/db?connect_timeout=2
routes:
  - topic: orders
`
	none := writeFile(t, base)
	all := writeFile(t, base+`errors:
  tolerance: all
  dlq: {table: dead}
`)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"tolerance none", []string{"dlq", "replay", "--config", none}, "errors.tolerance is none"},
		{"no subcommand", []string{"dlq"}, "usage: kafka2pg dlq replay"},
		{"unknown subcommand", []string{"dlq", "play"}, `unknown subcommand "play"`},
		{"no config", []string{"dlq", "replay"}, "--config FILE is required"},
		{"bad --from", []string{"dlq", "replay", "--config", all, "--from", "yesterday"}, `--from "yesterday"`},
		{"--from after --to", []string{"dlq", "replay", "--config", all, "--from", "10", "--to", "5"}, "--from 10 is after --to 5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, tc.args...)
			if code := p.wait(t, 30*time.Second); code != 2 {
				t.Fatalf("exit code %d, want 2\n%s", code, p.out.String())
			}
			if !strings.Contains(p.out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, p.out.String())
			}
		})
	}
}

// A table replay killed mid-way (SIGKILL) and run again writes every dead
// letter exactly once: each batch's rows and the deletion of its dead
// letters commit together. --from/--to select dead letters by id; a second
// replay of the same queue is refused while one runs; a write whose
// connection is lost is retried.
func TestDLQReplayTableKilled(t *testing.T) {
	parallel(t)
	e := newEnv(t, 4)
	testenv.Exec(t, e.pool, replayItemsDDL)
	const n = 20000
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i % 4),
			Value: fmt.Appendf(nil, `{"id": %d, "n": 1, "code": "toolong-%d"}`, i, i)})
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	cfg := e.config(`batch: {max_rows: 50}
errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
routes:
  - topic: {{topic}}
    table: items
`)
	runToEnd(t, cfg)
	testenv.Exec(t, e.pool, `ALTER TABLE items ALTER COLUMN code TYPE text`)

	// An id range first: exactly the dead letters with ids in it.
	lo := replayQueryInt(t, e, `SELECT min(id) + 10 FROM kafka2pg_dlq`)
	replayOK(t, "replayed 100 record(s) from dead-letter table kafka2pg_dlq; 0 failed again",
		"--config", cfg, "--from", fmt.Sprint(lo), "--to", fmt.Sprint(lo+99))
	replayAssertRows(t, e, 100)
	if got := replayQueryInt(t, e, `SELECT count(*) FROM kafka2pg_dlq WHERE id BETWEEN $1 AND $2`, lo, lo+99); got != 0 {
		t.Fatalf("%d dead letters left in the replayed id range", got)
	}

	// Hold the replay at its first write with a table lock: a second replay
	// is refused meanwhile, and a write whose connection is killed is
	// retried.
	ctx := context.Background()
	lockTx, err := e.pool.Begin(ctx)
	mustNoErr(t, err)
	defer lockTx.Rollback(ctx) //nolint:errcheck // a no-op after Rollback
	_, err = lockTx.Exec(ctx, `LOCK TABLE items IN ACCESS EXCLUSIVE MODE`)
	mustNoErr(t, err)
	p := start(t, "dlq", "replay", "--config", cfg)
	blocked := func() int64 {
		return replayQueryInt(t, e, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kafka2pg dlq replay' AND wait_event_type = 'Lock' AND datname = current_database()`)
	}
	eventually(t, time.Minute, "the replay to wait for the table lock", func() bool { return blocked() == 1 })
	code, out := replayRun(t, "--config", cfg)
	if code != 1 || !strings.Contains(out, "another kafka2pg dlq replay of the dead-letter table kafka2pg_dlq") {
		t.Fatalf("a second replay exited %d, want 1 and a message:\n%s", code, out)
	}
	replayQueryInt(t, e, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kafka2pg dlq replay' AND wait_event_type = 'Lock' AND datname = current_database()) x`)
	eventually(t, time.Minute, "the replay to retry", func() bool {
		return strings.Contains(p.out.String(), "write failed, retrying") && blocked() == 1
	})
	mustNoErr(t, lockTx.Rollback(ctx))
	eventually(t, time.Minute, "the first replayed batch", func() bool { return strings.Contains(p.out.String(), "replayed ") })
	p.signal(syscall.SIGKILL)
	p.wait(t, 30*time.Second)
	// A COMMIT the killed process had sent still completes on the server:
	// count only once its sessions are gone (CI saw 600 + 19,400 counted,
	// then 19,350 left to replay).
	eventually(t, time.Minute, "the killed replay's sessions to end", func() bool {
		return replayQueryInt(t, e, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kafka2pg dlq replay' AND datname = current_database()`) == 0
	})
	left := replayQueryInt(t, e, `SELECT count(*) FROM kafka2pg_dlq`)
	rows := e.count("items")
	t.Logf("killed with %d rows written and %d dead letters left", rows, left)
	if rows+left != n {
		t.Fatalf("after the kill: %d rows + %d dead letters = %d, want %d", rows, left, rows+left, n)
	}
	if left == 0 {
		t.Log("the replay finished before it was killed; the kill tested nothing")
	}
	replayOK(t, fmt.Sprintf("replayed %d record(s) from dead-letter table kafka2pg_dlq; 0 failed again", left), "--config", cfg)
	replayAssertRows(t, e, n)
	if got := replayQueryInt(t, e, `SELECT count(*) FROM kafka2pg_dlq`); got != 0 {
		t.Fatalf("%d dead letters left", got)
	}
}
