package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/eos"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// offsetsRow is one line of the `kafka2pg offsets` table.
type offsetsRow struct {
	stored, committed string
	hwm, lag          int64
}

// offsetsCmd runs the binary with args and returns its exit code and its
// output (stdout and stderr).
func offsetsCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	p := start(t, args...)
	code := p.wait(t, 60*time.Second)
	return code, p.out.String()
}

// offsetsList runs `kafka2pg offsets --config cfg`, requires exit 0 and an
// aligned table, and returns topic's rows by partition and the total lag.
func offsetsList(t *testing.T, cfg, topic string) (map[int32]offsetsRow, int64) {
	t.Helper()
	code, out := offsetsCmd(t, "offsets", "--config", cfg)
	if code != 0 {
		t.Fatalf("offsets exit %d, want 0:\n%s", code, out)
	}
	lines := strings.Split(out, "\n")
	hdr := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "TOPIC ") {
			hdr = i
			break
		}
	}
	if hdr < 0 {
		t.Fatalf("offsets printed no header:\n%s", out)
	}
	cols := []string{"TOPIC", "PARTITION", "STORED", "COMMITTED", "HIGH_WATERMARK", "LAG"}
	if f := strings.Fields(lines[hdr]); strings.Join(f, " ") != strings.Join(cols, " ") {
		t.Fatalf("header %q, want columns %v", lines[hdr], cols)
	}
	var starts []int
	for _, c := range cols {
		starts = append(starts, strings.Index(lines[hdr], c))
	}
	rows := map[int32]offsetsRow{}
	total := int64(-1)
	for _, l := range lines[hdr+1:] {
		if s, ok := strings.CutPrefix(l, "total lag: "); ok {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("bad total line %q", l)
			}
			total = n
			break
		}
		f := strings.Fields(l)
		if len(f) != len(cols) {
			t.Fatalf("bad row %q in:\n%s", l, out)
		}
		// Columns are aligned with the header.
		pos := 0
		for i, v := range f {
			j := strings.Index(l[pos:], v) + pos
			if j != starts[i] {
				t.Fatalf("column %s of row %q starts at %d, header at %d:\n%s", cols[i], l, j, starts[i], out)
			}
			pos = j + len(v)
		}
		if f[0] != topic {
			continue
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		hwm, err2 := strconv.ParseInt(f[4], 10, 64)
		lag, err3 := strconv.ParseInt(f[5], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("bad row %q", l)
		}
		rows[int32(p)] = offsetsRow{stored: f[2], committed: f[3], hwm: hwm, lag: lag}
	}
	if total < 0 {
		t.Fatalf("offsets printed no total lag line:\n%s", out)
	}
	return rows, total
}

// offsetsProduce writes perPart JSON records {"id", "p"} to every partition,
// ids from *id on.
func offsetsProduce(t *testing.T, e *env, cl *kgo.Client, id *int, perPart int) {
	t.Helper()
	var recs []*kgo.Record
	for range perPart {
		for p := range e.parts {
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(p), Value: fmt.Appendf(nil, `{"id": %d, "p": %d}`, *id, p)})
			*id++
		}
	}
	testenv.Produce(t, cl, recs...)
}

const offsetsRoutes = `routes:
  - topic: {{topic}}
    table: events
    mode: insert
`

func offsetsEnv(t *testing.T, partitions int, extra string) (*env, string) {
	e := newEnv(t, partitions)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL, p int NOT NULL)`)
	return e, e.config(extra + offsetsRoutes)
}

func wantCommitted(t *testing.T, e *env, want map[int32]int64) {
	t.Helper()
	got := testenv.Committed(t, e.group, e.topic)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("committed offsets %v, want %v", got, want)
	}
}

// `offsets` lists, in at-least-once mode, Kafka's committed offsets, the
// high watermarks and the lag.
func TestOffsetsList(t *testing.T) {
	parallel(t)
	e, cfg := offsetsEnv(t, 3, "")
	cl := testenv.Client(t)
	id := 0
	offsetsProduce(t, e, cl, &id, 10)

	// Nothing committed yet: lag counts from the log start (start: earliest)…
	rows, total := offsetsList(t, cfg, e.topic)
	if len(rows) != 3 || total != 30 {
		t.Fatalf("before any run: rows %v, total lag %d; want 3 partitions, lag 30", rows, total)
	}
	for p, r := range rows {
		if r.stored != "-" || r.committed != "-" || r.hwm != 10 || r.lag != 10 {
			t.Errorf("partition %d before any run: %+v", p, r)
		}
	}
	// … or is 0 with start: latest.
	latest := rewrite(t, e.config(offsetsRoutes), "  session_timeout: 6s\n", "  session_timeout: 6s\n  start: latest\n")
	if _, total := offsetsList(t, latest, e.topic); total != 0 {
		t.Errorf("start: latest, nothing committed: total lag %d, want 0", total)
	}

	runToEnd(t, cfg)
	rows, total = offsetsList(t, cfg, e.topic)
	if len(rows) != 3 || total != 0 {
		t.Fatalf("after the run: rows %v, total lag %d; want 3 partitions, lag 0", rows, total)
	}
	for p, r := range rows {
		if r.stored != "-" || r.committed != "10" || r.hwm != 10 || r.lag != 0 {
			t.Errorf("partition %d after the run: %+v, want committed = high watermark = 10", p, r)
		}
	}

	offsetsProduce(t, e, cl, &id, 2)
	rows, total = offsetsList(t, cfg, e.topic)
	if total != 6 {
		t.Fatalf("6 more records: total lag %d, want 6", total)
	}
	for p, r := range rows {
		if r.committed != "10" || r.hwm != 12 || r.lag != 2 {
			t.Errorf("partition %d: %+v, want committed 10, high watermark 12, lag 2", p, r)
		}
	}
}

// A reset is refused while an instance of the group runs; once it has
// stopped, resetting to earliest makes the next run write everything again.
func TestOffsetsResetRefusedWhileRunning(t *testing.T) {
	parallel(t)
	e, cfg := offsetsEnv(t, 3, "")
	cl := testenv.Client(t)
	id := 0
	offsetsProduce(t, e, cl, &id, 10)

	p := start(t, "run", "--config", cfg)
	eventually(t, 60*time.Second, "the run to commit everything", func() bool { return e.committedTotal() == 30 })
	code, out := offsetsCmd(t, "offsets", "reset", "--config", cfg, "--to", "earliest")
	want := fmt.Sprintf("group %s has 1 active member(s); stop every kafka2pg instance of this group first", e.group)
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("reset while running: exit %d, want 1 with %q:\n%s", code, want, out)
	}
	wantCommitted(t, e, map[int32]int64{0: 10, 1: 10, 2: 10})

	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("run exit %d after SIGTERM", code)
	}
	code, out = offsetsCmd(t, "offsets", "reset", "--config", cfg, "--to", "earliest")
	if code != 0 {
		t.Fatalf("reset after stop: exit %d:\n%s", code, out)
	}
	for part := range 3 {
		if w := fmt.Sprintf("topic %s partition %d: 10 -> 0\n", e.topic, part); !strings.Contains(out, w) {
			t.Errorf("reset output lacks %q:\n%s", w, out)
		}
	}
	if w := fmt.Sprintf("reset 3 partition(s) of group %s\n", e.group); !strings.Contains(out, w) {
		t.Errorf("reset output lacks %q:\n%s", w, out)
	}
	wantCommitted(t, e, map[int32]int64{0: 0, 1: 0, 2: 0})

	runToEnd(t, cfg)
	if n := e.count("events"); n != 60 {
		t.Fatalf("after reset and a new run: %d rows, want 60 (every record written twice)", n)
	}
}

// --to OFFSET moves only the partition named; --to TIME lands on the first
// record at or after the time; --dry-run changes nothing.
func TestOffsetsResetToOffsetAndTime(t *testing.T) {
	parallel(t)
	e, cfg := offsetsEnv(t, 3, "")
	cl := testenv.Client(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := range 10 { // record i of each partition: timestamp base + i minutes
		for p := range 3 {
			recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(p), Timestamp: base.Add(time.Duration(i) * time.Minute),
				Value: fmt.Appendf(nil, `{"id": %d, "p": %d}`, i, p)})
		}
	}
	testenv.Produce(t, cl, recs...)
	runToEnd(t, cfg)
	wantCommitted(t, e, map[int32]int64{0: 10, 1: 10, 2: 10})

	reset := func(wantOut string, args ...string) {
		t.Helper()
		code, out := offsetsCmd(t, append([]string{"offsets", "reset", "--config", cfg}, args...)...)
		if code != 0 || !strings.Contains(out, wantOut) {
			t.Fatalf("reset %v: exit %d, want 0 with %q:\n%s", args, code, wantOut, out)
		}
	}

	reset(fmt.Sprintf("topic %s partition 1: 10 -> 4\nreset 1 partition(s) of group %s\n", e.topic, e.group),
		"--to", "4", "--topic", e.topic, "--partition", "1")
	wantCommitted(t, e, map[int32]int64{0: 10, 1: 4, 2: 10})

	reset(fmt.Sprintf("topic %s partition 1: 4 -> 10 (offset 1000 clamped to the end offset)", e.topic),
		"--to", "1000", "--topic", e.topic, "--partition", "1")
	wantCommitted(t, e, map[int32]int64{0: 10, 1: 10, 2: 10})

	reset("dry run: would reset 3 partition(s) of group "+e.group+"; nothing changed", "--to", "earliest", "--dry-run")
	wantCommitted(t, e, map[int32]int64{0: 10, 1: 10, 2: 10})

	// Between records 6 and 7: every partition lands on offset 7.
	reset(fmt.Sprintf("reset 3 partition(s) of group %s", e.group), "--to", base.Add(6*time.Minute+30*time.Second).Format(time.RFC3339Nano))
	wantCommitted(t, e, map[int32]int64{0: 7, 1: 7, 2: 7})
	// Exactly at record 3's timestamp (another zone, same instant): offset 3.
	at3 := base.Add(3 * time.Minute).In(time.FixedZone("", 5*3600+30*60)).Format(time.RFC3339)
	reset(fmt.Sprintf("topic %s partition 0: 7 -> 3\n", e.topic), "--to", at3, "--topic", e.topic, "--partition", "0")
	wantCommitted(t, e, map[int32]int64{0: 3, 1: 7, 2: 7})
	// After the last record: the end offset.
	reset(fmt.Sprintf("topic %s partition 2: 7 -> 10 (no record at or after that time: end offset)", e.topic),
		"--to", time.Now().Add(time.Minute).UTC().Format(time.RFC3339), "--topic", e.topic, "--partition", "2")
	wantCommitted(t, e, map[int32]int64{0: 3, 1: 7, 2: 10})

	rows, total := offsetsList(t, cfg, e.topic)
	if total != 7+3 || rows[0].lag != 7 || rows[1].lag != 3 || rows[2].lag != 0 {
		t.Fatalf("lag after resets: %v, total %d; want 7, 3, 0", rows, total)
	}
}

// In exactly-once mode, `offsets` shows the offset table's positions, which
// win over Kafka's, and a reset rewrites the table and bumps owner epochs.
func TestOffsetsExactlyOnce(t *testing.T) {
	parallel(t)
	e, cfg := offsetsEnv(t, 2, "delivery: exactly-once\n")
	ctx := context.Background()
	cl := testenv.Client(t)
	id := 0
	offsetsProduce(t, e, cl, &id, 10)

	// No offset table yet: not a failure, STORED is "-".
	rows, total := offsetsList(t, cfg, e.topic)
	if total != 20 || rows[0].stored != "-" || rows[1].stored != "-" {
		t.Fatalf("without an offset table: %v, total lag %d; want STORED -, lag 20", rows, total)
	}

	// Simulate what the pipeline stores: partition 0 at 7, partition 1
	// claimed but nothing written yet (NoOffset). Kafka has older offsets.
	store := eos.NewOffsetStore("", "kafka2pg_offsets", e.group)
	mustNoErr(t, store.Ensure(ctx, e.pool))
	mustNoErr(t, store.Set(ctx, e.pool, e.topic, 0, 7, "test"))
	_, err := store.Claim(ctx, e.pool, e.topic, 1, "test")
	mustNoErr(t, err)
	offs := make(kadm.Offsets)
	offs.Add(kadm.Offset{Topic: e.topic, Partition: 0, At: 5, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: e.topic, Partition: 1, At: 3, LeaderEpoch: -1})
	resp, err := kadm.NewClient(cl).CommitOffsets(ctx, e.group, offs)
	if err == nil {
		err = resp.Error()
	}
	mustNoErr(t, err)

	rows, total = offsetsList(t, cfg, e.topic)
	if r := rows[0]; r.stored != "7" || r.committed != "5" || r.hwm != 10 || r.lag != 3 {
		t.Errorf("partition 0: %+v, want STORED 7, COMMITTED 5, lag 3 (from STORED)", r)
	}
	if r := rows[1]; r.stored != "-" || r.committed != "3" || r.hwm != 10 || r.lag != 7 {
		t.Errorf("partition 1: %+v, want STORED - (no offset yet), COMMITTED 3, lag 7", r)
	}
	if total != 10 {
		t.Errorf("total lag %d, want 10", total)
	}

	epochs := func() map[int32][3]string {
		out := map[int32][3]string{}
		rs, err := e.pool.Query(ctx, `SELECT "partition", "next_offset", "owner_epoch", "owner" FROM kafka2pg_offsets WHERE "group" = $1 AND "topic" = $2`, e.group, e.topic)
		mustNoErr(t, err)
		defer rs.Close()
		for rs.Next() {
			var p int32
			var next, epoch int64
			var owner string
			mustNoErr(t, rs.Scan(&p, &next, &epoch, &owner))
			out[p] = [3]string{strconv.FormatInt(next, 10), strconv.FormatInt(epoch, 10), owner}
		}
		mustNoErr(t, rs.Err())
		return out
	}
	before := epochs()

	code, out := offsetsCmd(t, "offsets", "reset", "--config", cfg, "--to", "0", "--dry-run")
	if code != 0 || fmt.Sprint(epochs()) != fmt.Sprint(before) {
		t.Fatalf("dry run: exit %d, table %v → %v:\n%s", code, before, epochs(), out)
	}

	code, out = offsetsCmd(t, "offsets", "reset", "--config", cfg, "--to", "0")
	for _, w := range []string{
		fmt.Sprintf("topic %s partition 0: 7 -> 0\n", e.topic),
		fmt.Sprintf("topic %s partition 1: 3 -> 0\n", e.topic),
		fmt.Sprintf("reset 2 partition(s) of group %s\n", e.group),
	} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("reset --to 0: exit %d, output lacks %q:\n%s", code, w, out)
		}
	}
	after := epochs()
	for p := range int32(2) {
		oldEpoch, _ := strconv.Atoi(before[p][1])
		want := [3]string{"0", strconv.Itoa(oldEpoch + 1), "kafka2pg offsets reset"}
		if after[p] != want {
			t.Errorf("partition %d row %v → %v, want %v (next offset, owner epoch, owner)", p, before[p], after[p], want)
		}
	}
	wantCommitted(t, e, map[int32]int64{0: 0, 1: 0})
	rows, total = offsetsList(t, cfg, e.topic)
	if rows[0].stored != "0" || rows[1].stored != "0" || total != 20 {
		t.Errorf("after reset: %v, total lag %d; want STORED 0, lag 20", rows, total)
	}
}

// Bad usage exits 2 before changing anything; a PostgreSQL it cannot reach
// exits 1 without printing the password.
func TestOffsetsBadUsage(t *testing.T) {
	cfg := writeFile(t, `kafka:
  brokers: ["127.0.0.1:9092"]
  group: g
  topics: [orders]
postgres:
  url: postgres://u:pw@127.0.0.1:1/db?connect_timeout=2
routes:
  - topic: orders
`)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"offsets"}, "--config FILE is required"},
		{"extra argument", []string{"offsets", "list", "-c", cfg}, `unexpected argument "list"`},
		{"reset without --to", []string{"offsets", "reset", "-c", cfg}, "--to is required"},
		{"bad --to", []string{"offsets", "reset", "-c", cfg, "--to", "yesterday"}, `--to "yesterday": want earliest, latest`},
		{"negative --to", []string{"offsets", "reset", "-c", cfg, "--to", "-3"}, "must not be negative"},
		{"partition without topic", []string{"offsets", "reset", "-c", cfg, "--to", "earliest", "--partition", "1"}, "--partition requires --topic"},
		{"unknown topic", []string{"offsets", "reset", "-c", cfg, "--to", "earliest", "--topic", "nosuch"}, "--topic nosuch is not a topic of the configuration (its topics: orders)"},
		{"negative partition", []string{"offsets", "reset", "-c", cfg, "--to", "earliest", "--topic", "orders", "--partition", "-1"}, "must be a non-negative partition number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := offsetsCmd(t, tc.args...)
			if code != 2 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want 2 with %q:\n%s", code, tc.want, out)
			}
		})
	}

	t.Run("partition that does not exist", func(t *testing.T) {
		e, cfg := offsetsEnv(t, 3, "")
		code, out := offsetsCmd(t, "offsets", "reset", "-c", cfg, "--to", "earliest", "--topic", e.topic, "--partition", "3")
		if want := fmt.Sprintf("--partition 3: topic %s has 3 partition(s), 0 to 2", e.topic); code != 2 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want 2 with %q:\n%s", code, want, out)
		}
		if got := testenv.Committed(t, e.group, e.topic); len(got) != 0 {
			t.Fatalf("committed %v after a refused reset", got)
		}
	})

	t.Run("postgres unreachable", func(t *testing.T) {
		const secret = "s3cr3t-0ffsets-pw"
		eo := writeFile(t, `kafka:
  brokers: ["127.0.0.1:9092"]
  group: g
  topics: [orders]
postgres:
  url: postgres://someone:${K2P_TEST_PG_PW}@127.0.0.1:1/db?connect_timeout=2
delivery: exactly-once
routes:
  - topic: orders
`)
		t.Setenv("K2P_TEST_PG_PW", secret)
		for _, args := range [][]string{{"offsets", "-c", eo}, {"offsets", "reset", "-c", eo, "--to", "earliest"}} {
			code, out := offsetsCmd(t, args...)
			if code != 1 || !strings.Contains(out, "connecting to PostgreSQL") {
				t.Errorf("%v: exit %d, want 1 (cannot connect):\n%s", args, code, out)
			}
			if strings.Contains(out, secret) {
				t.Errorf("%v: output contains the password:\n%s", args, out)
			}
		}
	})
}
