package route

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
)

// A table that moves to a newer version while rows mapped for the older
// one are not written yet makes Map return ErrFlush; after Flushed the
// same record maps for the new version. Without rows pending, the move
// needs no flush.
func TestMapperFlushesBeforeNewVersion(t *testing.T) {
	m := benchMapper(t, config.Route{Topic: "orders", Table: "orders", Mode: config.ModeInsert})
	target := m.routes[0].r.static
	recs := benchRecords(3)
	ctx := context.Background()
	rows, err := m.Map(ctx, recs[0], nil)
	if err != nil || len(rows) != 1 {
		t.Fatalf("first record: %v, %d rows", err, len(rows))
	}
	old := rows[0].B
	next, err := target.bind(benchTable(t))
	if err != nil {
		t.Fatal(err)
	}
	target.cur.Store(next)
	if _, err := m.Map(ctx, recs[1], nil); !errors.Is(err, ErrFlush) {
		t.Fatalf("a new version with a row of the old one pending: %v, want ErrFlush", err)
	}
	m.Flushed()
	rows, err = m.Map(ctx, recs[1], nil)
	if err != nil || len(rows) != 1 || rows[0].B != next || next == old {
		t.Fatalf("after Flushed: %v, %d rows, binding moved: %v", err, len(rows), len(rows) == 1 && rows[0].B == next)
	}
	m.Flushed()
	newer, err := target.bind(benchTable(t))
	if err != nil {
		t.Fatal(err)
	}
	target.cur.Store(newer)
	if rows, err = m.Map(ctx, recs[2], nil); err != nil || len(rows) != 1 || rows[0].B != newer {
		t.Fatalf("nothing pending: %v, %d rows", err, len(rows))
	}
}

// A route without expressions maps JSON records by the direct path, into
// the rows the usual path makes; only the first record of a table version
// goes the usual way (it binds the version).
func TestMapperDirect(t *testing.T) {
	rc := config.Route{Topic: "orders", Table: "orders", Mode: config.ModeInsert}
	direct, usual := benchMapper(t, rc), usualOnly(benchMapper(t, rc))
	recs := benchRecords(64)
	recs[7].Value = []byte(`{"order_id":8,"status":"p\u0061id","items":[{"sku":"a\"b"}],"amount":1.5}`)
	for _, r := range recs {
		mapBoth(t, direct, usual, r)
	}
	if direct.direct != len(recs)-1 || usual.direct != 0 {
		t.Fatalf("direct path took %d of %d records (want all but the first); with it off %d (want 0)", direct.direct, len(recs), usual.direct)
	}
}

// directRoutes are routes with expressions the direct path takes (each
// reads the value only by its top-level fields), with make bench's CEL
// route first.
var directRoutes = []config.Route{
	{Topic: "orders", Table: "orders", Mode: config.ModeInsert,
		Filter: `value.order_id > 0 && value.status != 'test'`,
		Columns: map[string]string{"order_id": "value.order_id", "customer_id": "int(value.customer_id)",
			"status": "value.status.lowerAscii()", "currency": "value.currency.upperAscii()", "version": "value.version + 0"}},
	{Topic: "orders", Table: "orders", Mode: config.ModeInsert, ColumnsOnly: true,
		Filter:  `has(value.items) && size(value.items) > 0 && key != "skip"`,
		Columns: map[string]string{"order_id": "value.order_id", "items": "value.items", "status": `value.items[0].sku + "-" + string(kafka.offset)`}},
	{Topic: "orders", Table: "orders", Mode: config.ModeInsert,
		Columns: map[string]string{"amount": `has(value.amount) ? value.amount : "0"`, "express": "value.express || value.version > 3"}},
	// Every computed column one step from one field (expr.FieldOp), into
	// columns of other types than the field's.
	{Topic: "orders", Table: "orders", Mode: config.ModeInsert,
		Columns: map[string]string{"status": "value.currency.trim()", "currency": "value.status.upperAscii()",
			"amount": "value.version * 3", "items": "value.items", "express": "value.express",
			"customer_id": "7 * value.customer_id", "order_id": "value.order_id - 1"}},
	// Two columns from one field (the second runs its program), an op
	// with a filter reading the same field, columns_only.
	{Topic: "orders", Table: "orders", Mode: config.ModeInsert, ColumnsOnly: true,
		Filter: `value.status != 'test'`,
		Columns: map[string]string{"status": "value.status.lowerAscii()", "currency": "value.status.upperAscii()",
			"order_id": "int(value.order_id)", "version": "value.version + 1", "amount": "value.amount"}},
}

// mapBoth maps r with the direct path allowed (direct) and not (usual)
// and fails the test unless both give the same rows, or the same error,
// and the same filtered flag.
func mapBoth(t testing.TB, direct, usual *Mapper, r *kgo.Record) {
	t.Helper()
	ctx := context.Background()
	got, gerr := direct.Map(ctx, r, nil)
	gf := direct.Filtered()
	want, werr := usual.Map(ctx, r, nil)
	if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
		t.Fatalf("value %s: direct error %v, usual %v", r.Value, gerr, werr)
	}
	if gf != usual.Filtered() || len(got) != len(want) {
		t.Fatalf("value %s: direct %d rows (filtered %v), usual %d (filtered %v)", r.Value, len(got), gf, len(want), usual.Filtered())
	}
	for k := range want {
		g, w := got[k].Row, want[k].Row
		if !reflect.DeepEqual(g.Set, w.Set) || g.Key != w.Key || g.Op != w.Op || g.Offset != w.Offset {
			t.Fatalf("value %s: direct %+v, usual %+v", r.Value, g, w)
		}
		for _, i := range w.Set.Indexes() {
			if !reflect.DeepEqual(g.Vals[i], w.Vals[i]) {
				t.Fatalf("value %s column %d: direct %#v, usual %#v", r.Value, i, g.Vals[i], w.Vals[i])
			}
		}
	}
	direct.Flushed()
	usual.Flushed()
}

// usualOnly turns the direct path off.
func usualOnly(m *Mapper) *Mapper {
	for _, s := range m.routes {
		s.direct = directPlan{}
	}
	return m
}

// directCELRecords are records for directRoutes: make bench's orders, and
// records that filter out, fail an expression, have escapes, duplicate or
// missing fields.
func directCELRecords() []*kgo.Record {
	recs := benchRecords(16)
	for i, v := range []string{
		`{"order_id":0,"status":"paid","customer_id":1,"currency":"eur","version":1}`,
		`{"order_id":5,"status":"test","customer_id":1,"currency":"eur","version":1}`,
		`{"order_id":5,"status":"PAID","customer_id":"x","currency":"eur","version":1}`,
		`{"order_id":5,"status":"P\u00c4ID","customer_id":2,"currency":"e\"ur","version":1,"items":[{"sku":"s\u00e9"}]}`,
		`{"order_id":5,"order_id":6,"status":"paid","customer_id":2,"currency":"eur","version":1}`,
		`{"order_id":5,"status":"paid","version":1.5,"amount":"1.25","express":null}`,
		`{"order_id":5,"status":"paid","customer_id":2,"version":9223372036854775807}`,
		`{"order_id":7,"items":[],"version":4,"express":false}`,
		`{"order_id":7,"items":{"sku":1},"version":4,"express":true}`,
		`{"order_id":7,"items":[{"qty":1}],"amount":12,"express":"yes"}`,
		`{"status":"paid"}`, `[1]`, `{"order_id":`, `{"order_id":8,"status":"paid","currency":"eur","version":2,"customer_id":3}`,
		`{"order_id":9,"status":null,"currency":"  eur\t","version":-3,"customer_id":-1317624576693539401,"express":true,"items":null}`,
		`{"order_id":-9223372036854775808,"status":"Paid","currency":"\u0065ur","version":3074457345618258603,"customer_id":1}`,
		`{"order_id":10,"status":"x\u00ffy","currency":"é","version":0,"customer_id":0,"created_at":"2024-05-01T10:00:00Z","amount":"1.5"}`,
		`{"order_id":11,"status":"ok","currency":"eur","version":1,"customer_id":2,"created_at":"nope","amount":1e2}`,
		`{"order_id":12.0,"status":"ok","currency":123,"version":"1","customer_id":2.5}`,
		`{"order_id":13,"status":"ok","status":"OK","currency":"eur","version":1,"customer_id":1}`,
		`{"order_id":14,"status":"ok","currency":"eur","currency":"usd","version":1,"customer_id":1}`,
		`{"order_id":15,"status":"ok","currency":"eur","version":1,"customer_id":1,"items":[1,{"a":"b"}],"express":"true"}`,
		`{"order_id":16,"status":"PaId","currency":" Usd ","version":9223372036854775807,"customer_id":1,"amount":"2.50","items":[],"express":true}`,
		`{"order_id":17,"status":"PAID","currency":"usd","version":3074457345618258602,"customer_id":1317624576693539401,"amount":"0","items":{},"express":false}`,
		`{"order_id":18,"status":"Mixed Up","currency":"\tchf","version":-4,"customer_id":-3,"amount":"-1.5","items":[{"x":null}],"express":null}`,
	} {
		recs = append(recs, &kgo.Record{Topic: "orders", Offset: int64(100 + i), Key: []byte(fmt.Sprint(200 + i)), Value: []byte(v)})
	}
	recs = append(recs, &kgo.Record{Topic: "orders", Offset: 300, Key: []byte("skip"), Value: []byte(`{"order_id":9,"items":[{"sku":"a"}]}`)})
	return recs
}

// A route whose expressions read the value only by its top-level fields
// takes the direct path, and gives the rows, errors and filtered flags of
// the usual path.
func TestMapperDirectExpressions(t *testing.T) {
	for k, rc := range directRoutes {
		direct, usual := benchMapper(t, rc), usualOnly(benchMapper(t, rc))
		if !direct.routes[0].direct.ok {
			t.Fatalf("route %d does not take the direct path", k)
		}
		// The routes whose programs all have fast nodes read raw fields.
		if raw := k == 0 || k == 3 || k == 4; direct.routes[0].direct.in.Raw != raw {
			t.Fatalf("route %d: raw fields %v, want %v", k, direct.routes[0].direct.in.Raw, raw)
		}
		recs := directCELRecords()
		for _, r := range recs {
			mapBoth(t, direct, usual, r)
		}
		// At least the bench records but the first (which binds the table);
		// most of the others lack a field some expression reads.
		if usual.direct != 0 || direct.direct < 15 {
			t.Fatalf("route %d: the direct path took %d of %d records (usual-only mapper: %d)", k, direct.direct, len(recs), usual.direct)
		}
	}
	// Routes it must not take: value used whole, each, table_expr.
	for _, rc := range []config.Route{
		{Topic: "orders", Table: "orders", Mode: config.ModeInsert, Filter: `size(value) > 2`},
		{Topic: "orders", Table: "orders", Mode: config.ModeInsert, Columns: map[string]string{"items": `value`}},
		{Topic: "orders", Table: "orders", Mode: config.ModeInsert, Filter: `[value].size() > 0`},
	} {
		if m := benchMapper(t, rc); m.routes[0].direct.ok {
			t.Errorf("route %+v takes the direct path", rc)
		}
	}
}

// FuzzMapperDirect compares the two paths of directRoutes on fuzzed values.
func FuzzMapperDirect(f *testing.F) {
	for _, r := range directCELRecords() {
		f.Add(string(r.Key), string(r.Value))
	}
	type pair struct{ direct, usual *Mapper }
	var pairs []pair
	for _, rc := range directRoutes {
		pairs = append(pairs, pair{benchMapper(f, rc), usualOnly(benchMapper(f, rc))})
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		r := &kgo.Record{Topic: "orders", Offset: 1, Key: []byte(key), Value: []byte(value)}
		for _, p := range pairs {
			mapBoth(t, p.direct, p.usual, r)
		}
	})
}
