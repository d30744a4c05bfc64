package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

var backlogLine = regexp.MustCompile(`msg=totals .*backlog_staged=(\d+) backlog_replays=(\d+)`)

// batch.backlog_merge on a real broker and server: a backlog of upserts
// (600 keys, each changed about ten times, versions rising) is staged and
// merged, and the table ends exactly as the records say — each key at its
// highest version — with the offsets committed to the end and the staging
// tables empty. With rows the table's CHECK rejects among the staged ones,
// the failed merge's records are read again from Kafka and written batch by
// batch: the rejected records, and only they, are dead letters. Exactly-once
// moves the stored offsets with the merges. Tombstones (delete_on_tombstone)
// are staged and merged too: every batch carries some, and the deleted keys
// are gone unless written again after their tombstone.
func TestBacklogMerge(t *testing.T) {
	parallel(t)
	for _, tc := range []struct {
		name       string
		bad        int // records with n < 0, each the last change of its own key
		delivery   string
		tombstones bool // every 13th record a tombstone
		soft       bool // which sets gone (soft_delete_column)
	}{
		{"clean", 0, "at-least-once", false, false},
		{"rejected rows", 5, "at-least-once", false, false},
		{"exactly-once", 3, "exactly-once", false, false},
		{"tombstones", 0, "exactly-once", true, false},
		{"soft tombstones", 0, "at-least-once", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, 2)
			testenv.Exec(t, e.pool, `CREATE TABLE kv (k text PRIMARY KEY, n int NOT NULL CHECK (n >= 0), v bigint NOT NULL, gone timestamptz)`)
			const events, keys = 6000, 600
			want := map[string]string{}
			var recs []*kgo.Record
			var badKeys []string
			for i := range events {
				k := fmt.Sprintf("k%d", (i*7919)%keys)
				n := i % 1000
				if tc.bad > 0 && i%(events/tc.bad) == 100 {
					k, n = fmt.Sprintf("bad%d", i), -1
					badKeys = append(badKeys, k)
				} else if tc.tombstones && i%13 == 5 {
					if w, ok := want[k]; ok && tc.soft && !strings.HasSuffix(w, "/gone") {
						want[k] = w + "/gone"
					} else if !tc.soft {
						delete(want, k)
					}
					recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(len(k) % 2), Key: []byte(k)})
					continue
				} else {
					want[k] = fmt.Sprintf("%d/%d", n, i)
				}
				recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(len(k) % 2), Key: []byte(k),
					Value: fmt.Appendf(nil, `{"n": %d, "v": %d}`, n, i)})
			}
			// Versions rise, but the records are produced out of order
			// within each run of ten: the highest version wins, not the
			// last record. (With tombstones they are produced in order:
			// what follows a tombstone is then plainly its key's fate.)
			for i := 0; i+10 <= len(recs) && !tc.tombstones; i += 10 {
				slices.Reverse(recs[i : i+10])
			}
			testenv.Produce(t, testenv.Client(t), recs...)
			cfg := e.config(`delivery: ` + tc.delivery + `
batch: {max_rows: 100, backlog_merge: true}
errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
routes:
  - topic: {{topic}}
    table: kv
    mode: upsert
    version_column: v
` + map[bool]string{true: "    delete_on_tombstone: true\n"}[tc.tombstones] + map[bool]string{true: "    soft_delete_column: gone\n"}[tc.soft])
			out := runToEnd(t, cfg)
			checkKV(t, e, want)
			var dead []string
			if tc.bad > 0 {
				rows, err := e.pool.Query(ctx, `SELECT convert_from(key, 'UTF8') FROM kafka2pg_dlq ORDER BY 1`)
				mustNoErr(t, err)
				for rows.Next() {
					var k string
					mustNoErr(t, rows.Scan(&k))
					dead = append(dead, k)
				}
			}
			slices.Sort(badKeys)
			if strings.Join(dead, ",") != strings.Join(badKeys, ",") {
				t.Errorf("dead letters %v, want %v", dead, badKeys)
			}
			m := backlogLine.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no backlog totals in:\n%s", tail(out, 5))
			}
			staged, _ := strconv.Atoi(m[1])
			replays, _ := strconv.Atoi(m[2])
			if staged == 0 {
				t.Errorf("nothing was staged (backlog_staged=0): the backlog was written batch by batch")
			}
			if (replays > 0) != (tc.bad > 0) {
				t.Errorf("backlog_replays=%d with %d rejected rows", replays, tc.bad)
			}
			if c := e.committedTotal(); c != events {
				t.Errorf("committed offsets add up to %d, want %d", c, events)
			}
			if tc.delivery == "exactly-once" {
				var stored int64
				mustNoErr(t, e.pool.QueryRow(ctx, `SELECT sum(greatest(next_offset, 0)) FROM kafka2pg_offsets WHERE "group" = $1`, e.group).Scan(&stored))
				if stored != events {
					var rows []string
					r, err := e.pool.Query(ctx, `SELECT partition || ':' || next_offset FROM kafka2pg_offsets WHERE "group" = $1 ORDER BY partition`, e.group)
					mustNoErr(t, err)
					for r.Next() {
						var s string
						mustNoErr(t, r.Scan(&s))
						rows = append(rows, s)
					}
					t.Errorf("stored offsets add up to %d, want %d: %v", stored, events, rows)
				}
			}
			var stages, left int64
			mustNoErr(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE 'kafka2pg\_backlog\_%' AND relkind = 'r' AND relpersistence = 'u'`).Scan(&stages))
			if stages != 2 {
				t.Errorf("%d unlogged staging tables, want one per partition", stages)
			}
			rows, err := e.pool.Query(ctx, `SELECT relname FROM pg_class WHERE relname LIKE 'kafka2pg\_backlog\_%' AND relkind = 'r'`)
			mustNoErr(t, err)
			var names []string
			for rows.Next() {
				var s string
				mustNoErr(t, rows.Scan(&s))
				names = append(names, s)
			}
			for _, s := range names {
				left += e.count(s)
			}
			if left != 0 {
				t.Errorf("%d rows left in the staging tables %v", left, names)
			}
		})
	}
}

// upserts makes events changes of keys keys (k0…), versions from v up, on
// partition 0, recording each key's last n/version in want.
func upserts(topic string, events, keys, v int, want map[string]string) []*kgo.Record {
	var recs []*kgo.Record
	for i := range events {
		k := fmt.Sprintf("k%d", (i*7919)%keys)
		n := i % 1000
		want[k] = fmt.Sprintf("%d/%d", n, v+i)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: fmt.Appendf(nil, `{"n": %d, "v": %d}`, n, v+i)})
	}
	return recs
}

// batch.backlog_merge: auto, the default, merges every backlog in a run
// with --stop-at-end, and in a run that goes on only a late one (its
// records at least backlog_max_age old); false and a role without the
// right to create tables write batch by batch. Each case checks the table
// against the records, the offsets committed, what was staged (the totals
// line), and whether staging tables were made.
func TestBacklogMergeAuto(t *testing.T) {
	parallel(t)
	for _, tc := range []struct {
		name    string
		setting string        // the batch section's extra keys
		wait    time.Duration // between producing and starting kafka2pg
		toEnd   bool          // --stop-at-end
		role    bool          // log in as a role that cannot create tables
		on      string        // the starting line's backlog_merge
		merges  bool          // rows staged and merged
	}{
		{"a run to the end merges by default", "", 0, true, false, "on", true},
		{"false writes a run to the end batch by batch", ", backlog_merge: false", 0, true, false, "off", false},
		{"a run that goes on writes a fresh backlog batch by batch by default", "", 0, false, false, "late", false},
		{"a run that goes on merges a late backlog by default", ", backlog_max_age: 3s", 4 * time.Second, false, false, "late", true},
		{"a run that goes on writes a backlog not yet late batch by batch", ", backlog_max_age: 1h", 4 * time.Second, false, false, "late", false},
		{"without the right to create tables, batch by batch", "", 0, true, true, "on", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, 2)
			testenv.Exec(t, e.pool, `CREATE TABLE kv (k text PRIMARY KEY, n int NOT NULL, v bigint NOT NULL)`)
			const events, keys = 3000, 300
			want := map[string]string{}
			var recs []*kgo.Record
			for i := range events {
				k := fmt.Sprintf("k%d", (i*7919)%keys)
				want[k] = fmt.Sprintf("%d/%d", i%1000, i)
				recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(len(k) % 2), Key: []byte(k),
					Value: fmt.Appendf(nil, `{"n": %d, "v": %d}`, i%1000, i)})
			}
			testenv.Produce(t, testenv.Client(t), recs...)
			cfg := e.config(`batch: {max_rows: 100` + tc.setting + `}
routes:
  - topic: {{topic}}
    table: kv
    mode: upsert
    version_column: v
`)
			if tc.role {
				// PostgreSQL 15 and later: only the database's owner may
				// create tables in public.
				testenv.Exec(t, e.pool, `REVOKE CREATE ON SCHEMA public FROM PUBLIC`)
				asRole := testenv.NewRole(t, e.pool, e.dbURL, "k2p_nocreate",
					`GRANT USAGE ON SCHEMA public TO %s`, `GRANT SELECT, INSERT, UPDATE ON kv TO %s`)
				cfg = rewrite(t, cfg, fmt.Sprintf("url: %q\n", e.dbURL), fmt.Sprintf("url: %q\n", asRole))
			}
			time.Sleep(tc.wait)
			var out string
			if tc.toEnd {
				out = runToEnd(t, cfg)
			} else {
				p := start(t, "run", "--config", cfg)
				eventually(t, 2*time.Minute, "every offset committed", func() bool { return e.committedTotal() == events })
				p.signal(syscall.SIGTERM)
				if code := p.wait(t, time.Minute); code != 0 {
					t.Fatalf("kafka2pg run exited %d:\n%s", code, tail(p.out.String(), 40))
				}
				out = p.out.String()
			}
			checkKV(t, e, want)
			if c := e.committedTotal(); c != events {
				t.Errorf("committed offsets add up to %d, want %d", c, events)
			}
			if on := "backlog_merge=" + tc.on; !strings.Contains(out, on) {
				t.Errorf("the starting line does not say %s:\n%s", on, tail(out, 40))
			}
			staged := 0
			if m := backlogLine.FindStringSubmatch(out); m != nil {
				staged, _ = strconv.Atoi(m[1])
			} else if tc.merges || tc.role {
				t.Fatalf("no backlog totals in:\n%s", tail(out, 5))
			}
			if (staged > 0) != tc.merges {
				t.Errorf("backlog_staged=%d; want rows staged: %v", staged, tc.merges)
			}
			var tables int
			mustNoErr(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE 'kafka2pg\_backlog\_%'`).Scan(&tables))
			if (tables > 0) != tc.merges {
				t.Errorf("%d staging tables; want some: %v", tables, tc.merges)
			}
			warned := strings.Contains(out, "backlog merge is off for this partition")
			if warned != tc.role {
				t.Errorf("warning that the merge is off: %v, want %v:\n%s", warned, tc.role, tail(out, 20))
			}
		})
	}
}

// With the defaults, a run that goes on merges a late backlog, then writes
// the steady stream that follows batch by batch: records produced after
// it caught up, however many, are younger than backlog_max_age and are
// not staged (kafka2pg_backlog_staged_rows_total does not move), and the
// table ends with every key's last change.
func TestBacklogMergeLateThenSteady(t *testing.T) {
	parallel(t)
	e := newEnv(t, 2)
	testenv.Exec(t, e.pool, `CREATE TABLE kv (k text PRIMARY KEY, n int NOT NULL, v bigint NOT NULL)`)
	const events, keys = 3000, 300
	want := map[string]string{}
	produce := func(from int) {
		var recs []*kgo.Record
		for i := from; i < from+events; i++ {
			k := fmt.Sprintf("k%d", (i*7919)%keys)
			want[k] = fmt.Sprintf("%d/%d", i%1000, i)
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(len(k) % 2), Key: []byte(k),
				Value: fmt.Appendf(nil, `{"n": %d, "v": %d}`, i%1000, i)})
		}
		testenv.Produce(t, testenv.Client(t), recs...)
	}
	produce(0)
	time.Sleep(6 * time.Second) // the backlog becomes late: older than backlog_max_age
	cfg := e.config(`http: {listen: "127.0.0.1:0"}
batch: {max_rows: 100, backlog_max_age: 5s}
routes:
  - topic: {{topic}}
    table: kv
    mode: upsert
    version_column: v
`)
	p := start(t, "run", "--config", cfg)
	addr := servingAddr(t, p)
	eventually(t, 2*time.Minute, "the backlog committed", func() bool { return e.committedTotal() == events })
	staged, ok := metric(t, addr, "kafka2pg_backlog_staged_rows_total")
	if !ok || staged == 0 {
		t.Fatalf("kafka2pg_backlog_staged_rows_total = %v (found: %v) after a late backlog; want rows staged:\n%s", staged, ok, tail(p.out.String(), 20))
	}
	checkKV(t, e, want)
	produce(events)
	eventually(t, 2*time.Minute, "the stream committed", func() bool { return e.committedTotal() == 2*events })
	if after, _ := metric(t, addr, "kafka2pg_backlog_staged_rows_total"); after != staged {
		t.Errorf("kafka2pg_backlog_staged_rows_total went from %v to %v: records of a steady stream were staged", staged, after)
	}
	checkKV(t, e, want)
	p.signal(syscall.SIGTERM)
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("kafka2pg run exited %d:\n%s", code, tail(p.out.String(), 40))
	}
}

// checkKV requires kv to hold want exactly, "n/v", with "/gone" when a
// gone column is set (retrying while the server
// comes back from a restart).
func checkKV(t *testing.T, e *env, want map[string]string) {
	t.Helper()
	var got map[string]string
	eventually(t, 30*time.Second, "reading kv", func() bool {
		rows, err := e.pool.Query(context.Background(), `SELECT k, n || '/' || v || CASE WHEN to_jsonb(kv) ->> 'gone' IS NULL THEN '' ELSE '/gone' END FROM kv`)
		if err != nil {
			return false
		}
		got = map[string]string{}
		for rows.Next() {
			var k, s string
			if rows.Scan(&k, &s) != nil {
				return false
			}
			got[k] = s
		}
		return rows.Err() == nil
	})
	var bad []string
	for k, w := range want {
		if got[k] != w {
			bad = append(bad, fmt.Sprintf("%s=%q want %q", k, got[k], w))
		}
	}
	if len(bad) > 0 || len(got) != len(want) {
		slices.Sort(bad)
		t.Errorf("kv: %d of %d keys differ from the records (%d rows; n/version): %v", len(bad), len(want), len(got), bad[:min(len(bad), 10)])
	}
}

// A backlog merge interrupted — kafka2pg killed with its rows staged, and
// PostgreSQL restarted (immediate: the unlogged staging tables come back
// empty) while a merge waits — loses nothing and writes nothing twice
// wrongly: the killed run committed no offset, the next run starts over
// from the committed offsets, and the merge that finds its rows gone reads
// its records again from Kafka. One partition: one merge at a time, which
// the failpoint holds. Sequential: it restarts PostgreSQL.
func TestBacklogMergeInterrupted(t *testing.T) {
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE kv (k text PRIMARY KEY, n int NOT NULL, v bigint NOT NULL, pad text)`)
	want := map[string]string{}
	cl := testenv.Client(t)
	// Rows of about 400 bytes: 30,000 of them are several of the 2 MiB
	// COPYs a worker sends while staging, so the restart below empties
	// rows already sent.
	padded := func(recs []*kgo.Record) []*kgo.Record {
		for _, r := range recs {
			r.Value = append(r.Value[:len(r.Value)-1], `, "pad": "`+strings.Repeat("p", 360)+`"}`...)
		}
		return recs
	}
	testenv.Produce(t, cl, padded(upserts(e.topic, 20000, 2000, 0, want))...)
	cfg := e.config(`batch: {max_rows: 200, backlog_merge: true, backlog_max_age: 1h}
errors:
  retry: {initial: 50ms, max: 1s}
routes:
  - topic: {{topic}}
    table: kv
    mode: upsert
    version_column: v
`)
	fp := t.TempDir()
	arm := func(d string) {
		t.Helper()
		mustNoErr(t, os.WriteFile(filepath.Join(fp, "pause-before-merge"), []byte(d), 0o600))
	}
	paused := func(p *proc) {
		t.Helper()
		eventually(t, time.Minute, "a merge at its failpoint", func() bool {
			return strings.Contains(p.out.String(), "failpoint pause-before-merge: pausing")
		})
	}

	// Killed while a merge waits: nothing of the backlog is in the table
	// or committed.
	arm("1m")
	p := startEnv(t, []string{"KAFKA2PG_FAILPOINT_DIR=" + fp}, "run", "--config", cfg)
	paused(p)
	p.signal(syscall.SIGKILL)
	p.wait(t, 30*time.Second)
	if n := e.count("kv"); n != 0 {
		t.Fatalf("kv holds %d rows before any merge committed", n)
	}
	if c := e.committedTotal(); c != 0 {
		t.Fatalf("offsets committed (%d) for staged rows", c)
	}

	// PostgreSQL restarted while a merge waits: the merge finds its
	// staging table emptied and the records are written again.
	testenv.Produce(t, cl, padded(upserts(e.topic, 10000, 2000, 20000, want))...)
	arm("4s")
	p = startEnv(t, []string{"KAFKA2PG_FAILPOINT_DIR=" + fp}, "run", "--config", cfg, "--stop-at-end")
	paused(p)
	pgCtl(t, "restart", "-m", "immediate")
	if code := p.wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("kafka2pg exited %d", code)
	}
	m := backlogLine.FindStringSubmatch(p.out.String())
	if m == nil || m[2] == "0" {
		t.Errorf("totals %v: want a merge read again (backlog_replays > 0)", m)
	}
	checkKV(t, e, want)
	if c := e.committedTotal(); c != 30000 {
		t.Errorf("committed offsets add up to %d, want 30000", c)
	}
}

// A table that changes in the middle of a staged backlog (auto_evolve: the
// second half of the records carries a new field) is merged for its old
// version before the new version's rows are written: the table ends with
// the new column and every key at its highest version.
func TestBacklogMergeEvolve(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE kv (k text PRIMARY KEY, n int NOT NULL, v bigint NOT NULL)`)
	const keys = 300
	var recs []*kgo.Record
	for i := range 6000 {
		k := fmt.Sprintf("k%d", (i*7919)%keys)
		val := fmt.Sprintf(`{"n": %d, "v": %d}`, i%1000, i)
		if i >= 3000 {
			val = fmt.Sprintf(`{"n": %d, "v": %d, "extra": "x%d"}`, i%1000, i, i)
		}
		recs = append(recs, &kgo.Record{Topic: e.topic, Key: []byte(k), Value: []byte(val)})
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	out := runToEnd(t, e.config(`batch: {max_rows: 100, backlog_merge: true}
routes:
  - topic: {{topic}}
    table: kv
    mode: upsert
    version_column: v
    auto_evolve: true
`))
	m := backlogLine.FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Errorf("totals %v: nothing staged", m)
	}
	var bad, n int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE extra IS DISTINCT FROM 'x' || v OR v < 5700 OR n <> v % 1000) FROM kv`).Scan(&n, &bad))
	if n != keys || bad != 0 {
		t.Errorf("kv: %d rows (want %d), %d not at their last change with the new column", n, keys, bad)
	}
}
