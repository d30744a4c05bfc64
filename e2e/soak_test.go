package e2e

// The soak (issue #13): a steady producer with repeated keys, tombstones
// and about 0.5% poison records into three routes of one topic (insert,
// upsert, upsert with a version column), two kafka2pg instances in one
// group, exactly-once, and every so often one fault at random: PostgreSQL
// blackholed, slow or resetting connections, read-only, the broker
// blackholed for one instance, a SIGKILL, and (in runs of 10 minutes or
// more) a PostgreSQL restart or a broker restart. At the end every table
// equals the producer's model, the dead-letter table holds exactly the
// poison records, once each, orders_log has no duplicate, the lag is back
// to zero within 30 s of the last fault, and the long-lived instance's RSS
// and goroutine count are within 10% of their values at minute 5 (at 40%
// of shorter runs).
//
// SOAK_DURATION (default 3m, `make soak` 30m) sets the length;
// SOAK_SEED repeats the random choices.
//
//	SOAK_DURATION=30m KAFKA2PG_BIN=$PWD/bin/kafka2pg-failpoint go test -count=1 -timeout 60m -run TestSoak -v ./e2e/

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

const soakLogDDL = `CREATE TABLE soak_log (
  id bigint NOT NULL,
  status text NOT NULL,
  amount numeric(12,2) NOT NULL,
  version bigint NOT NULL
)`

// soakLoad produces at a steady rate from its own goroutine: order events
// over repeated keys, 2% tombstones, 0.5% poison (a value that is not JSON;
// it must be dead-lettered and change nothing).
type soakLoad struct {
	t     *testing.T
	stopc chan struct{}
	done  chan struct{}
	once  sync.Once

	mu       sync.Mutex
	m        model
	produced int64
	values   int64
	poison   map[string]bool // "partition/offset"
	err      error
}

func startSoakLoad(t *testing.T, topic string, parts, perSecond int, seed uint64) *soakLoad {
	l := &soakLoad{t: t, stopc: make(chan struct{}), done: make(chan struct{}), m: model{}, poison: map[string]bool{}}
	cl := testenv.Client(t)
	rng := rand.New(rand.NewPCG(seed, 11))
	versions := map[int64]int64{}
	t.Cleanup(l.halt)
	const tick = 100 * time.Millisecond
	perTick := max(perSecond/10, 1)
	go func() {
		defer close(l.done)
		next := time.Now()
		for {
			select {
			case <-l.stopc:
				return
			default:
			}
			recs := make([]*kgo.Record, 0, perTick)
			apply := make([]func(), 0, perTick)
			for range perTick {
				id := int64(rng.IntN(3000)) + 1
				key := []byte(strconv.FormatInt(id, 10))
				r := &kgo.Record{Topic: topic, Key: key, Partition: partitionOf(key, parts)}
				switch x := rng.Float64(); {
				case x < 0.005:
					r.Value = fmt.Appendf(nil, `{"id": %d, "status": `, id) // poison: not JSON
				case x < 0.025:
					versions[id]++
					apply = append(apply, func() { delete(l.m, id) })
				default:
					versions[id]++
					o := order{ID: id, Status: []string{"new", "paid", "shipped"}[rng.IntN(3)],
						Amount: fmt.Sprintf("%d.%02d", rng.IntN(10000), rng.IntN(100)), Version: versions[id]}
					r.Value, _ = json.Marshal(o)
					apply = append(apply, func() { l.m[id] = o; l.values++ })
				}
				recs = append(recs, r)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			res := cl.ProduceSync(ctx, recs...)
			cancel()
			l.mu.Lock()
			if err := res.FirstErr(); err != nil {
				l.err = fmt.Errorf("producing after %d records: %w", l.produced, err)
				l.mu.Unlock()
				return
			}
			for _, f := range apply {
				f()
			}
			for _, pr := range res {
				l.produced++
				if v := pr.Record.Value; v != nil && !json.Valid(v) {
					l.poison[fmt.Sprintf("%d/%d", pr.Record.Partition, pr.Record.Offset)] = true
				}
			}
			l.mu.Unlock()
			next = next.Add(tick)
			select {
			case <-l.stopc:
				return
			case <-time.After(time.Until(next)):
			}
		}
	}()
	return l
}

func (l *soakLoad) halt() {
	l.once.Do(func() { close(l.stopc) })
	<-l.done
}

func (l *soakLoad) count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.produced
}

// tableDiff compares an orders-shaped table with the model: how many ids
// differ, and a few of them.
func tableDiff(e *env, table string, m model) (int, []string) {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), "SELECT id, status, amount::text, version FROM "+pgx.Identifier{table}.Sanitize())
	if err != nil {
		e.t.Fatal(err)
	}
	got := model{}
	for rows.Next() {
		var o order
		if err := rows.Scan(&o.ID, &o.Status, &o.Amount, &o.Version); err != nil {
			e.t.Fatal(err)
		}
		got[o.ID] = o
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	var sample []string
	n := 0
	note := func(s string) {
		n++
		if len(sample) < 5 {
			sample = append(sample, s)
		}
	}
	for id, want := range m {
		if g, ok := got[id]; !ok {
			note(fmt.Sprintf("id %d missing (want version %d)", id, want.Version))
		} else if g != want {
			note(fmt.Sprintf("id %d at version %d, want %d", id, g.Version, want.Version))
		}
	}
	for id, g := range got {
		if _, ok := m[id]; !ok {
			note(fmt.Sprintf("id %d (version %d) deleted or never produced", id, g.Version))
		}
	}
	return n, sample
}

// soakInst is one kafka2pg process of the soak; restarted in place.
type soakInst struct {
	name  string
	cfg   string
	http  string
	pprof string // --pprof address, "" for none
	p     *proc
	kills int
	logs  []string // output of earlier processes
}

func (in *soakInst) start(t *testing.T) {
	t.Helper()
	args := []string{"run", "--config", in.cfg}
	if in.pprof != "" {
		args = append(args, "--pprof", in.pprof)
	}
	cmd := exec.Command(testenv.Binary(t), args...)
	p := launch(t, cmd)
	in.p = p
}

func (in *soakInst) exited() bool { return in.p.exited() }

// goroutines reads the instance's goroutine profile (--pprof): the count
// of goroutines by stack, the stack's function names as the key.
func (in *soakInst) goroutines() map[string]int {
	if in.pprof == "" {
		return nil
	}
	resp, err := probeClient.Get("http://" + in.pprof + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]int{}
	for _, block := range strings.Split(string(b), "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		var n int
		if len(lines) < 2 || !strings.Contains(lines[0], " @ ") {
			continue
		}
		if _, err := fmt.Sscanf(lines[0], "%d @", &n); err != nil {
			continue
		}
		var fns []string
		for _, l := range lines[1:] {
			if f := strings.Fields(strings.TrimPrefix(l, "#")); len(f) >= 2 {
				fns = append(fns, f[1])
			}
		}
		out[strings.Join(fns, " < ")] += n
	}
	return out
}

// goroutineGrowth lists the stacks with more goroutines in b than in a.
func goroutineGrowth(a, b map[string]int) []string {
	var out []string
	for k, n := range b {
		if n > a[k] {
			out = append(out, fmt.Sprintf("+%d (%d -> %d) %s", n-a[k], a[k], n, k))
		}
	}
	sort.Strings(out)
	return out
}

// sample reads RSS and goroutines from /metrics.
func (in *soakInst) sample(t *testing.T) (rss, goroutines float64, ok bool) {
	rss, ok1 := metric(t, in.http, "process_resident_memory_bytes")
	goroutines, ok2 := metric(t, in.http, "go_goroutines")
	return rss, goroutines, ok1 && ok2
}

func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("SOAK_DURATION")
	if v == "" {
		return 3 * time.Minute
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute || d > 24*time.Hour {
		t.Fatalf("SOAK_DURATION=%q: want a duration from 1m to 24h", v)
	}
	return d
}

func TestSoak(t *testing.T) {
	total := soakDuration(t)
	long := total >= 10*time.Minute
	seed := rand.Uint64()
	if v := os.Getenv("SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SOAK_SEED: %v", err)
		}
		seed = n
	}
	t.Logf("soak of %s, seed %d (SOAK_SEED repeats the random choices)", total, seed)
	rng := rand.New(rand.NewPCG(seed, 5))
	// Baseline for leaks: minute 5, or 40% into a shorter run.
	baselineAt := min(5*time.Minute, total*2/5)
	faultLen, faultEvery := 8*time.Second, 25*time.Second
	if long {
		faultLen, faultEvery = 30*time.Second, 3*time.Minute
	}
	const parts = 6
	e := newEnv(t, parts)
	testenv.Exec(t, e.pool, ordersDDL)
	testenv.Exec(t, e.pool, strings.ReplaceAll(ordersDDL, "TABLE orders", "TABLE orders_versioned"))
	testenv.Exec(t, e.pool, soakLogDDL)
	pg, pgURL := pgProxy(t, e.dbURL)
	kp, proxied := brokerProxy(t)
	config := func(brokers, httpAddr string) string {
		body := fmt.Sprintf(`kafka:
  brokers: [%q]
  group: %s
  topics: [%s]
  session_timeout: 6s
postgres:
  url: %q
  max_conns: 4
  io_timeout: 5s
delivery: exactly-once
shutdown_timeout: 30s
http: {listen: %q}
batch: {max_rows: 500, max_wait: 50ms}
errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
  retry: {initial: 100ms, max: 2s}
routes:
  - name: log
    topic: %[3]s
    table: soak_log
    mode: insert
  - name: orders
    topic: %[3]s
    table: orders
    mode: upsert
    delete_on_tombstone: true
  - name: versioned
    topic: %[3]s
    table: orders_versioned
    mode: upsert
    version_column: version
    delete_on_tombstone: true
`, brokers, e.group, e.topic, pgURL, httpAddr)
		path := filepath.Join(t.TempDir(), "pipeline.yaml")
		mustNoErr(t, os.WriteFile(path, []byte(body), 0o600))
		return path
	}
	// a: the long-lived one, measured for leaks, behind the broker proxy;
	// b: on the broker directly, the one SIGKILLed.
	insts := []*soakInst{{name: "a", http: freePort(t), pprof: freePort(t)}, {name: "b", http: freePort(t)}}
	insts[0].cfg = config(proxied, insts[0].http)
	insts[1].cfg = config(testenv.Brokers(t), insts[1].http)
	for _, in := range insts {
		in.start(t)
	}
	t.Cleanup(func() {
		for _, in := range insts {
			if !in.exited() {
				_ = in.p.cmd.Process.Kill()
				<-in.p.done
			}
			if t.Failed() {
				dir, _ := os.MkdirTemp("", "kafka2pg-soak-")
				f := filepath.Join(dir, in.name+".log")
				_ = os.WriteFile(f, []byte(strings.Join(append(in.logs, in.p.out.String()), "\n---- restarted ----\n")), 0o644)
				t.Logf("instance %s: full log in %s; last lines:\n%s", in.name, f, tail(in.p.out.String(), 25))
			}
		}
	})
	for _, in := range insts {
		eventually(t, time.Minute, in.name+" ready", func() bool { return probeReadyz(in.http).Status == 200 })
	}
	began := time.Now()
	load := startSoakLoad(t, e.topic, parts, 300, seed)

	// Faults. Each returns a heal function; the soak checks between them
	// that no instance ended by itself (b is restarted after a SIGKILL).
	type fault struct {
		name  string
		apply func() (heal func())
	}
	var pgStopped bool
	t.Cleanup(func() {
		if pgStopped {
			_ = pgCluster("start")
		}
	})
	faults := []fault{
		{"PostgreSQL blackholed", func() func() { pg.blackhole("upstream", "downstream"); return pg.heal }},
		{"PostgreSQL 200 ms latency and 1 MB/s", func() func() {
			pg.add("latency", "latency", "downstream", map[string]any{"latency": 200})
			pg.add("bw_up", "bandwidth", "upstream", map[string]any{"rate": 1024})
			pg.add("bw_down", "bandwidth", "downstream", map[string]any{"rate": 1024})
			return pg.heal
		}},
		{"PostgreSQL connections reset at random", func() func() {
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				r := rand.New(rand.NewPCG(rng.Uint64(), 1))
				for {
					select {
					case <-stop:
						return
					case <-time.After(time.Second + time.Duration(r.IntN(2000))*time.Millisecond):
					}
					_ = pg.p.Toxics.RemoveToxic(context.Background(), "reset")
					b, _ := json.Marshal(map[string]any{"name": "reset", "type": "reset_peer", "stream": "upstream", "toxicity": 0.5, "attributes": map[string]any{"timeout": 0}})
					_, _ = pg.p.Toxics.AddToxicJson(strings.NewReader(string(b)))
					time.Sleep(200 * time.Millisecond)
					_ = pg.p.Toxics.RemoveToxic(context.Background(), "reset")
				}
			}()
			return func() { close(stop); <-done }
		}},
		{"database read-only", func() func() {
			alter := func(v string) {
				ctx := context.Background()
				conn, err := testenvConnectAdmin(t)
				mustNoErr(t, err)
				defer conn.Close(ctx)
				_, err = conn.Exec(ctx, "ALTER DATABASE "+dbIdent(t, e.dbURL)+" "+v)
				mustNoErr(t, err)
				_, err = conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'kafka2pg' AND datname = $1`, dbName(t, e.dbURL))
				mustNoErr(t, err)
				e.pool.Reset()
			}
			alter("SET default_transaction_read_only = on")
			return func() { alter("RESET default_transaction_read_only") }
		}},
		{"broker blackholed for instance a", func() func() { kp.blackhole("upstream", "downstream"); return kp.heal }},
		{"SIGKILL of instance b", func() func() {
			b := insts[1]
			b.p.signal(syscall.SIGKILL)
			<-b.p.done
			b.kills++
			b.logs = append(b.logs, b.p.out.String())
			b.start(t)
			return func() {}
		}},
	}
	if long {
		faults = append(faults,
			fault{"PostgreSQL restarted (-m fast)", func() func() {
				mustNoErr(t, pgCluster("restart", "-m", "fast"))
				e.pool.Reset()
				return func() {}
			}},
			fault{"broker restarted", func() func() {
				out, err := services("restart-kafka")
				if err != nil {
					t.Fatalf("services.sh restart-kafka: %v\n%s", err, out)
				}
				return func() {}
			}})
	}
	check := func(what string) {
		for _, in := range insts {
			if in.exited() {
				t.Fatalf("instance %s exited (%d) %s:\n%s", in.name, in.p.code, what, tail(in.p.out.String(), 30))
			}
		}
	}
	var rss0, gor0 float64
	var stacks0 map[string]int
	var baselineTaken bool
	takeBaseline := func() {
		if baselineTaken || time.Since(began) < baselineAt {
			return
		}
		if r, g, ok := insts[0].sample(t); ok {
			rss0, gor0, baselineTaken = r, g, true
			stacks0 = insts[0].goroutines()
			t.Logf("baseline at %s: instance a RSS %.1f MiB, %v goroutines", time.Since(began).Round(time.Second), r/(1<<20), g)
		}
	}
	pause := func(d time.Duration, what string, each func()) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			check(what)
			takeBaseline()
			if each != nil {
				each()
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	admin := kadm.NewClient(testenv.Client(t))
	// ends reads the end offsets (nil while the broker restarts).
	ends := func() map[int32]int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lo, err := admin.ListEndOffsets(ctx, e.topic)
		if err != nil {
			return nil
		}
		out := map[int32]int64{}
		lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		return out
	}
	// durableUpTo: the offset table has reached every partition's offset
	// in snap.
	durableUpTo := func(snap map[int32]int64) bool {
		st, err := e.eoStored()
		if err != nil || len(snap) == 0 {
			return false
		}
		for p, end := range snap {
			if st[p].next < end {
				return false
			}
		}
		return true
	}
	var timeline []string
	var lastHeal time.Time
	var lastCatchUp time.Duration = -1
	// Faults start after a first quiet stretch and stop early enough for
	// the recovery to be measured.
	pause(min(faultEvery, total/6), "before the first fault", nil)
	// Faults are dealt from a shuffled deck, so that a run long enough
	// meets each of them before any comes twice.
	var deck []fault
	for time.Since(began)+faultLen+faultEvery/2 < total-30*time.Second {
		if len(deck) == 0 {
			deck = slices.Clone(faults)
			rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
		}
		f := deck[0]
		deck = deck[1:]
		at := time.Since(began)
		heal := f.apply()
		pause(faultLen, "during "+f.name, nil)
		heal()
		lastHeal = time.Now()
		// Caught up: every record produced before the heal is durable.
		snap := ends()
		catchUp := time.Duration(-1)
		pause(faultEvery-faultLen, "after "+f.name, func() {
			if snap == nil {
				snap = ends()
			}
			if catchUp < 0 && durableUpTo(snap) {
				catchUp = time.Since(lastHeal)
			}
		})
		lastCatchUp = catchUp
		caught := "not caught up before the next fault"
		if catchUp >= 0 {
			caught = "caught up " + catchUp.Round(100*time.Millisecond).String() + " after the heal"
		}
		timeline = append(timeline, fmt.Sprintf("%s %s for %s: %s", at.Round(time.Second), f.name, faultLen, caught))
		t.Logf("fault at %s: %s for %s, %s; %d records produced so far", at.Round(time.Second), f.name, faultLen, caught, load.count())
	}
	if rem := total - time.Since(began) - 10*time.Second; rem > 0 {
		pause(rem, "after the last fault", nil)
	}
	takeBaseline()

	// The end: the load stops, the lag must be back to zero within 30 s of
	// the last fault's heal.
	load.halt()
	if load.err != nil {
		t.Fatal(load.err)
	}
	lagZero := func() bool {
		ends, err := kadm.NewClient(testenv.Client(t)).ListEndOffsets(context.Background(), e.topic)
		if err != nil {
			return false
		}
		st, err := e.eoStored()
		if err != nil {
			return false
		}
		zero := true
		ends.Each(func(o kadm.ListedOffset) {
			if st[o.Partition].next != o.Offset {
				zero = false
			}
		})
		return zero
	}
	stopped := time.Now()
	eventually(t, 2*time.Minute, "the lag to reach zero", lagZero)
	t.Logf("lag zero %s after the load stopped", time.Since(stopped).Round(time.Millisecond))
	switch {
	case lastHeal.IsZero():
		t.Errorf("no fault was injected in %s", total)
	case lastCatchUp < 0 || lastCatchUp > 30*time.Second:
		t.Errorf("the backlog of the last fault was durable %s after its heal, want within 30s", lastCatchUp)
	default:
		t.Logf("the last fault's backlog was durable %s after its heal", lastCatchUp.Round(time.Millisecond))
	}
	rss1, gor1, ok := insts[0].sample(t)
	if !ok || !baselineTaken {
		t.Errorf("could not read instance a's metrics (baseline %v)", baselineTaken)
	} else {
		t.Logf("instance a: RSS %.1f MiB at %s, %.1f MiB at the end; goroutines %v and %v",
			rss0/(1<<20), baselineAt, rss1/(1<<20), gor0, gor1)
		// 10% over minute 5 to the end of a long run. A short run's
		// baseline (at 40%) comes before the heap and, in a -race build,
		// the detector's shadow memory have settled: 35% there, and two
		// goroutines of slack for counts in the twenties.
		rssTol, gorSlack := 0.10, 0.0
		if !long {
			rssTol, gorSlack = 0.35, 2
		}
		if rss1 > rss0*(1+rssTol) {
			t.Errorf("instance a's RSS grew from %.1f MiB to %.1f MiB (more than %.0f%%)", rss0/(1<<20), rss1/(1<<20), rssTol*100)
		}
		if gor1 > gor0 {
			t.Logf("instance a's goroutines by stack, grown since the baseline:\n  %s",
				strings.Join(goroutineGrowth(stacks0, insts[0].goroutines()), "\n  "))
		}
		if gor1 > gor0*1.1+gorSlack {
			t.Errorf("instance a's goroutines grew from %v to %v (more than 10%%); by stack:\n  %s", gor0, gor1,
				strings.Join(goroutineGrowth(stacks0, insts[0].goroutines()), "\n  "))
		}
	}
	for _, in := range insts {
		in.p.signal(syscall.SIGTERM)
	}
	for _, in := range insts {
		if code := in.p.wait(t, time.Minute); code != 0 {
			t.Errorf("instance %s exited %d after SIGTERM, want 0", in.name, code)
		}
	}

	// Tables against the model; the dead letters against the poison.
	e.pool.Reset()
	l := load
	for _, table := range []string{"orders", "orders_versioned"} {
		if n, sample := tableDiff(e, table, l.m); n > 0 {
			t.Errorf("%s differs from the model in %d rows: %s", table, n, strings.Join(sample, "; "))
		}
	}
	var rows, distinct int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT (id, version)) FROM soak_log`).Scan(&rows, &distinct))
	if rows != l.values || distinct != l.values {
		t.Errorf("soak_log has %d rows, %d distinct, want %d (every record with a value once)", rows, distinct, l.values)
	}
	dead := map[string]bool{}
	dr, err := e.pool.Query(context.Background(), `SELECT "partition", "offset", stage FROM kafka2pg_dlq`)
	mustNoErr(t, err)
	var deadRows int
	for dr.Next() {
		var p int32
		var o int64
		var stage string
		mustNoErr(t, dr.Scan(&p, &o, &stage))
		deadRows++
		k := fmt.Sprintf("%d/%d", p, o)
		if !l.poison[k] {
			t.Errorf("dead letter %s (stage %s) is not a poison record", k, stage)
		}
		dead[k] = true
	}
	dr.Close()
	for k := range l.poison {
		if !dead[k] {
			t.Errorf("poison record %s is not in the dead-letter table", k)
		}
	}
	if deadRows != len(l.poison) {
		t.Errorf("%d dead letters for %d poison records", deadRows, len(l.poison))
	}
	t.Logf("soak %s: %d records (%d with a value, %d poison) in %s; %d faults; instance b SIGKILLed %d times; timeline:\n  %s",
		total, l.produced, l.values, len(l.poison), time.Since(began).Round(time.Second), len(timeline), insts[1].kills, strings.Join(timeline, "\n  "))
}

// testenvConnectAdmin connects to the server's postgres database as the
// superuser (for ALTER DATABASE on a test database).
func testenvConnectAdmin(t *testing.T) (*pgx.Conn, error) {
	t.Helper()
	return pgx.Connect(context.Background(), testenv.DatabaseURL(t))
}

// dbName is the database of a URL from testenv.NewDatabase.
func dbName(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func dbIdent(t *testing.T, dbURL string) string {
	t.Helper()
	return pgx.Identifier{dbName(t, dbURL)}.Sanitize()
}
