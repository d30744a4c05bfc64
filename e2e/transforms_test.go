package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Transforms end to end: CEL filters, computed columns, table_expr routing,
// fan-out into parent and child tables with replace_by, evaluation errors,
// compile errors, and preview — against the real broker and PostgreSQL.

// A filter and a computed column of every helper: the rows hold exactly
// what the expressions compute, filtered records are counted and their
// offsets committed.
func TestTransformFilterAndColumns(t *testing.T) {
	parallel(t)
	e := newEnv(t, 2)
	testenv.Exec(t, e.pool, `CREATE TABLE orders (
  id bigint PRIMARY KEY,
  email text NOT NULL,
  placed_at timestamptz,
  source text,
  total_cents bigint,
  day date,
  parsed timestamptz,
  seconds timestamptz,
  micros timestamptz,
  millis_back bigint,
  digest text,
  uid uuid,
  tags text[],
  first_sku text,
  tier text,
  label text,
  encoded text,
  header text,
  ingested_offset bigint,
  status text
)`)
	var recs []*kgo.Record
	for i := range 40 {
		typ := "order"
		if i%4 == 3 {
			typ = "test" // filtered out
		}
		v := fmt.Sprintf(`{"type": %q, "order_id": %d, "customer": {"email": "  User%d@Example.COM "}, "ts_ms": %d,
 "amount": %d.25, "when": "2024-05-0%d 10:30:00", "tags": "a,b,c", "items": [{"sku": "s-%d"}], "status": "new"}`,
			typ, i, i, 1714564800000+int64(i)*1000, i, 1+i%9, i)
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i % 2), Key: []byte(strconv.Itoa(i)), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "source-system", Value: []byte("web")}}})
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	cfg := e.config(`routes:
  - name: orders
    topic: {{topic}}
    table: orders
    mode: upsert
    filter: value.type == 'order'
    columns:
      id: value.order_id
      email: value.customer.email.trim().lowerAscii()
      placed_at: value.ts_ms
      source: kafka.topic + '/' + string(kafka.partition)
      total_cents: int(value.amount * 100.0)
      day: string(fromEpochMillis(value.ts_ms)).substring(0, 10)
      parsed: parseTimestamp(value.when, '2006-01-02 15:04:05')
      seconds: fromEpochSeconds(value.ts_ms / 1000)
      micros: fromEpochMicros(value.ts_ms * 1000)
      millis_back: epochMillis(fromEpochMillis(value.ts_ms))
      digest: sha256(value.customer.email.trim().lowerAscii())
      uid: uuid5('url', 'order/' + string(value.order_id))
      tags: value.tags.split(',')
      first_sku: value.items[0].sku.upperAscii()
      tier: value.?customer.?tier.orValue('standard')
      label: "'%s-%d'.format([value.type, value.order_id])"
      encoded: base64.encode(bytes(value.type))
      header: headers['source-system']
      ingested_offset: kafka.offset
`)
	out := runToEnd(t, cfg)
	if got := e.count("orders"); got != 30 {
		t.Fatalf("orders has %d rows, want 30 (10 of 40 filtered)", got)
	}
	if !strings.Contains(out, "filtered=10") {
		t.Errorf("the totals line should count 10 filtered records:\n%s", tail(out, 3))
	}
	if got := e.committedTotal(); got != 40 {
		t.Errorf("committed %d offsets, want 40: filtered records are committed too", got)
	}
	var bad int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE NOT (
  email = 'user' || id || '@example.com'
  AND placed_at = to_timestamp((1714564800000 + id * 1000) / 1000.0)
  AND source LIKE '%/' || (id % 2)
  AND total_cents = id * 100 + 25
  AND day = '2024-05-01'
  AND parsed = ('2024-05-0' || (1 + id % 9) || ' 10:30:00+00')::timestamptz
  AND seconds = to_timestamp(1714564800 + id)
  AND micros = placed_at
  AND millis_back = 1714564800000 + id * 1000
  AND digest = encode(sha256(convert_to(email, 'UTF8')), 'hex')
  AND tags = '{a,b,c}'
  AND first_sku = 'S-' || id
  AND tier = 'standard'
  AND label = 'order-' || id
  AND encoded = 'b3JkZXI='
  AND header = 'web'
  AND status = 'new')`).Scan(&bad))
	if bad != 0 {
		rows, _ := e.pool.Query(context.Background(), `SELECT row_to_json(o)::text FROM orders o ORDER BY id LIMIT 2`)
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			t.Log(s)
		}
		t.Fatalf("%d rows differ from what their expressions compute", bad)
	}
	// uuid5 agrees with PostgreSQL's own (uuid-ossp) for RFC 9562's url
	// namespace.
	testenv.Exec(t, e.pool, `CREATE EXTENSION IF NOT EXISTS "uuid-ossp"`)
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE uid <> uuid_generate_v5(uuid_ns_url(), 'order/' || id)`).Scan(&bad))
	if bad != 0 {
		t.Errorf("%d uuid5 values differ from uuid_generate_v5", bad)
	}
}

// One topic routed to three tables by table_expr; a table that does not
// exist and a name that cannot be a table are record errors in the
// dead-letter table, and every other record lands where it says.
func TestTransformTableExpr(t *testing.T) {
	parallel(t)
	e := newEnv(t, 3)
	testenv.Exec(t, e.pool, `CREATE SCHEMA audit;
CREATE TABLE audit.login (id bigint, who text);
CREATE TABLE audit.logout (id bigint, who text);
CREATE TABLE audit.purchase (id bigint, who text)`)
	kinds := []string{"login", "logout", "purchase"}
	want := map[string]int64{}
	var recs []*kgo.Record
	for i := range 90 {
		kind := kinds[i%3]
		switch i {
		case 40:
			kind = "nosuch" // no such table
		case 41:
			kind = `bad"name` // not an identifier kafka2pg accepts
		default:
			want[kind]++
		}
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i % 3), Value: fmt.Appendf(nil, `{"kind": %q, "id": %d, "who": "u%d"}`, kind, i, i)})
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	cfg := e.config(`errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
routes:
  - topic: {{topic}}
    table_expr: "'audit.' + value.kind"
`)
	runToEnd(t, cfg)
	for _, k := range kinds {
		if got := e.count("audit." + k); got != want[k] {
			t.Errorf("audit.%s has %d rows, want %d", k, got, want[k])
		}
	}
	rows, err := e.pool.Query(context.Background(), `SELECT "offset", "partition", stage, error FROM kafka2pg_dlq ORDER BY "partition", "offset"`)
	mustNoErr(t, err)
	var dead []string
	for rows.Next() {
		var off int64
		var part int32
		var stage, reason string
		mustNoErr(t, rows.Scan(&off, &part, &stage, &reason))
		dead = append(dead, stage+": "+reason)
	}
	if len(dead) != 2 || !strings.Contains(dead[0], `transform`) {
		t.Fatalf("dead letters %q, want the two bad table names", dead)
	}
	joined := strings.Join(dead, "\n")
	for _, w := range []string{`table "audit"."nosuch" does not exist`, `table_expr gave "audit.bad\"name"`} {
		if !strings.Contains(joined, w) {
			t.Errorf("dead letters do not say %q:\n%s", w, joined)
		}
	}
}

// fanModel is the expected state of the orders and order_items tables.
type fanModel struct {
	orders map[int]string         // id → status
	items  map[int]map[int]string // order id → line → sku
}

// Fan-out into a parent and a child table with a real foreign key (not
// deferrable), 8 partitions, repeated keys, item arrays that shrink and
// grow, and tombstones: both tables end equal to the model, batch after
// batch and across a restart.
func TestTransformFanOut(t *testing.T) {
	parallel(t)
	e := newEnv(t, 8)
	testenv.Exec(t, e.pool, `CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL, lines int NOT NULL);
CREATE TABLE order_items (order_id bigint NOT NULL REFERENCES orders (id), line int NOT NULL, sku text NOT NULL, qty int NOT NULL,
  PRIMARY KEY (order_id, line))`)
	m := fanModel{orders: map[int]string{}, items: map[int]map[int]string{}}
	rng := rand.New(rand.NewPCG(11, 12))
	gen := func(n int) []*kgo.Record {
		var out []*kgo.Record
		for range n {
			id := rng.IntN(150) + 1
			key := []byte(strconv.Itoa(id))
			r := &kgo.Record{Topic: e.topic, Key: key, Partition: partitionOf(key, 8)}
			if rng.Float64() < 0.07 {
				delete(m.orders, id)
				delete(m.items, id)
			} else {
				status := []string{"new", "paid", "shipped"}[rng.IntN(3)]
				n := rng.IntN(5)            // 0 to 4 items: sets shrink and grow
				items := []map[string]any{} // [] when empty, not null
				lines := map[int]string{}
				for l := range n {
					sku := fmt.Sprintf("sku-%d-%d", id, rng.IntN(1000))
					items = append(items, map[string]any{"sku": sku, "qty": l + 1})
					lines[l+1] = sku
				}
				v, _ := json.Marshal(map[string]any{"type": "order", "order_id": id, "status": status, "items": items})
				r.Value = v
				m.orders[id] = status
				m.items[id] = lines
			}
			out = append(out, r)
		}
		return out
	}
	cfg := e.config(`batch: {max_rows: 50}
routes:
  - name: orders
    topic: {{topic}}
    table: orders
    mode: upsert
    delete_on_tombstone: true
    filter: value.type == 'order'
    columns:
      id: value.order_id
      lines: size(value.items)
  - name: order_items
    topic: {{topic}}
    table: order_items
    mode: upsert
    conflict_key: [order_id, line]
    delete_on_tombstone: true
    filter: value.type == 'order'
    each: value.items
    replace_by: [order_id]
    columns: {order_id: value.order_id, line: index + 1}
`)
	cl := testenv.Client(t)
	for round := range 3 {
		testenv.Produce(t, cl, gen(1500)...)
		runToEnd(t, cfg)
		e.assertFan(m, round)
	}
}

func (e *env) assertFan(m fanModel, round int) {
	e.t.Helper()
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `SELECT id, status, lines FROM orders`)
	mustNoErr(e.t, err)
	got := map[int]string{}
	for rows.Next() {
		var id, lines int
		var status string
		mustNoErr(e.t, rows.Scan(&id, &status, &lines))
		got[id] = status
		if lines != len(m.items[id]) {
			e.t.Errorf("round %d: order %d has lines=%d, want %d", round, id, lines, len(m.items[id]))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(m.orders) {
		e.t.Fatalf("round %d: orders differ from the model:\n got %v\nwant %v", round, got, m.orders)
	}
	rows, err = e.pool.Query(ctx, `SELECT order_id, line, sku FROM order_items`)
	mustNoErr(e.t, err)
	gotItems := map[int]map[int]string{}
	for rows.Next() {
		var id, line int
		var sku string
		mustNoErr(e.t, rows.Scan(&id, &line, &sku))
		if gotItems[id] == nil {
			gotItems[id] = map[int]string{}
		}
		gotItems[id][line] = sku
	}
	want := map[int]map[int]string{}
	for id, lines := range m.items {
		if len(lines) > 0 {
			want[id] = lines
		}
	}
	if fmt.Sprint(gotItems) != fmt.Sprint(want) {
		var diffs []string
		for id := range want {
			if fmt.Sprint(gotItems[id]) != fmt.Sprint(want[id]) {
				diffs = append(diffs, fmt.Sprintf("order %d: got %v want %v", id, gotItems[id], want[id]))
			}
		}
		for id := range gotItems {
			if _, ok := want[id]; !ok {
				diffs = append(diffs, fmt.Sprintf("order %d: got %v want none", id, gotItems[id]))
			}
		}
		sort.Strings(diffs)
		e.t.Fatalf("round %d: order_items differ from the model in %d orders:\n%s", round, len(diffs), strings.Join(diffs[:min(len(diffs), 10)], "\n"))
	}
}

// An expression that fails on a record (a missing field, a division by
// zero) makes it a dead letter of stage transform, once, and the record is
// applied in none of its routes; the others land.
func TestTransformEvalErrorsToDLQ(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE a (id bigint PRIMARY KEY, x bigint); CREATE TABLE b (id bigint PRIMARY KEY, ratio bigint)`)
	var recs []*kgo.Record
	for i := range 20 {
		v := fmt.Sprintf(`{"id": %d, "x": %d, "d": %d}`, i, i, 1+i%5)
		switch i {
		case 7:
			v = `{"id": 7, "x": 7, "d": 0}` // division by zero in route b
		case 12:
			v = `{"id": 12, "d": 1}` // value.x missing in route a
		}
		recs = append(recs, &kgo.Record{Topic: e.topic, Value: []byte(v)})
	}
	testenv.Produce(t, testenv.Client(t), recs...)
	cfg := e.config(`errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
routes:
  - {name: a, topic: {{topic}}, table: a, mode: upsert, columns: {x: value.x * 2}}
  - {name: b, topic: {{topic}}, table: b, mode: upsert, columns: {ratio: value.x / value.d}}
`)
	runToEnd(t, cfg)
	if got, got2 := e.count("a"), e.count("b"); got != 18 || got2 != 18 {
		t.Fatalf("a has %d rows, b %d; want 18 each: records 7 and 12 in neither", got, got2)
	}
	var n int64
	mustNoErr(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM a WHERE id IN (7, 12)`).Scan(&n))
	if n != 0 {
		t.Fatalf("a record that failed in route b was applied in route a")
	}
	rows, err := e.pool.Query(context.Background(), `SELECT "offset", stage, error FROM kafka2pg_dlq ORDER BY "offset"`)
	mustNoErr(t, err)
	var got []string
	for rows.Next() {
		var off int64
		var stage, reason string
		mustNoErr(t, rows.Scan(&off, &stage, &reason))
		got = append(got, fmt.Sprintf("%d %s %s", off, stage, reason))
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "7 transform") || !strings.Contains(got[0], "division by zero") ||
		!strings.HasPrefix(got[1], "12 transform") || !strings.Contains(got[1], "no such key: x") || !strings.Contains(got[1], "columns.x") {
		t.Fatalf("dead letters:\n%s", strings.Join(got, "\n"))
	}
}

// Without tolerance an evaluation error stops the run naming the record
// and the expression, after writing what came before it.
func TestTransformEvalErrorStops(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE a (id bigint PRIMARY KEY, x bigint)`)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: e.topic, Value: fmt.Appendf(nil, `{"id": %d, "x": %d}`, i, i)})
	}
	recs[6].Value = []byte(`{"id": 6}`)
	testenv.Produce(t, testenv.Client(t), recs...)
	p := start(t, "run", "--config", e.config(`routes:
  - {topic: {{topic}}, table: a, mode: upsert, columns: {x: value.x + 1}}
`))
	if code := p.wait(t, time.Minute); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	out := strings.ReplaceAll(p.out.String(), `\"`, `"`)
	for _, w := range []string{"partition 0 offset 6", "transform", "columns.x", "value.x + 1", "no such key: x"} {
		if !strings.Contains(out, w) {
			t.Errorf("the error does not name %q:\n%s", w, tail(out, 5))
		}
	}
	if got := e.count("a"); got != 6 {
		t.Errorf("a has %d rows, want the 6 before the bad record", got)
	}
}

// An expression that does not compile: exit 2 before anything connects,
// naming the route key and the position; check says the same.
func TestTransformCompileErrorExit2(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	cfg := e.config(`routes:
  - topic: {{topic}}
    table: a
    filter: value.type == 'order' &&
    columns: {total: 'valu.amount * 2', n: "kafka.partition + 'x'"}
`)
	for _, cmd := range []string{"run", "check", "preview"} {
		p := start(t, cmd, "--config", cfg)
		if code := p.wait(t, 30*time.Second); code != 2 {
			t.Fatalf("%s: exit %d, want 2; output:\n%s", cmd, code, p.out.String())
		}
		out := p.out.String()
		for _, w := range []string{
			"routes[0].filter (line", "Syntax error",
			"routes[0].columns.total", "1:1: undeclared reference to 'valu'",
			"routes[0].columns.n", "found no matching overload for '_+_' applied to '(int, string)'",
		} {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output does not name %q:\n%s", cmd, w, out)
			}
		}
		if strings.Contains(out, "connect") {
			t.Errorf("%s connected before reporting a compile error:\n%s", cmd, out)
		}
	}
}

// preview prints what the first records of each route become, per table,
// writes nothing and commits nothing.
func TestTransformPreview(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	testenv.Exec(t, e.pool, `CREATE TABLE orders (id bigint PRIMARY KEY, total bigint);
CREATE TABLE lines (order_id bigint, line int, sku text, PRIMARY KEY (order_id, line))`)
	testenv.Produce(t, testenv.Client(t),
		&kgo.Record{Topic: e.topic, Key: []byte("1"), Value: []byte(`{"type": "order", "id": 1, "amount": 2.5, "items": [{"sku": "a"}, {"sku": "b"}]}`)},
		&kgo.Record{Topic: e.topic, Key: []byte("2"), Value: []byte(`{"type": "test", "id": 2}`)},
		&kgo.Record{Topic: e.topic, Key: []byte("3"), Value: []byte(`{"type": "order", "id": "x", "items": []}`)},
	)
	cfg := e.config(`routes:
  - name: orders
    topic: {{topic}}
    table: orders
    mode: upsert
    filter: value.type == 'order'
    columns: {total: int(value.amount * 100.0)}
  - name: lines
    topic: {{topic}}
    table: lines
    mode: upsert
    filter: value.type == 'order'
    each: value.items
    replace_by: [order_id]
    columns: {order_id: value.id, line: index}
`)
	p := start(t, "preview", "--config", cfg, "-n", "10")
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.out.String())
	}
	out := p.out.String()
	for _, w := range []string{
		"topic " + e.topic + ": 3 record(s)",
		`partition 0 offset 0 key 1:`,
		`write "public"."orders": id=1 total=250`,
		`replace the rows of "public"."lines": order_id=1`,
		`write "public"."lines": order_id=1 line=0 sku="a"`,
		`write "public"."lines": order_id=1 line=1 sku="b"`,
		"partition 0 offset 1 key 2:\n    filtered out: no row",
		"partition 0 offset 2 key 3:\n    error:",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("preview does not show %q:\n%s", w, out)
		}
	}
	if e.count("orders")+e.count("lines") != 0 {
		t.Error("preview wrote rows")
	}
	if len(testenv.Committed(t, e.group, e.topic)) != 0 {
		t.Error("preview committed offsets")
	}
	// --route limits it to one route; an unknown one is bad usage.
	p = start(t, "preview", "--config", cfg, "--route", "lines")
	if code := p.wait(t, time.Minute); code != 0 || strings.Contains(p.out.String(), `"orders"`) {
		t.Errorf("--route lines: exit %d:\n%s", code, p.out.String())
	}
	p = start(t, "preview", "--config", cfg, "--route", "nope")
	if code := p.wait(t, time.Minute); code != 2 || !strings.Contains(p.out.String(), "routes: orders, lines") {
		t.Errorf("--route nope: exit %d:\n%s", code, p.out.String())
	}
}
