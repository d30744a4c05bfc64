package route

import (
	"context"
	"errors"
	"reflect"
	"testing"

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

// A route without expressions maps plain JSON records by the direct path,
// into the rows the usual path makes (a route whose filter is always true
// takes the usual path); a record the direct path declines (an escaped
// string) still maps, the usual way, as does the first record of a table
// version (it binds the version).
func TestMapperDirect(t *testing.T) {
	direct := benchMapper(t, config.Route{Topic: "orders", Table: "orders", Mode: config.ModeInsert})
	usual := benchMapper(t, config.Route{Topic: "orders", Table: "orders", Mode: config.ModeInsert, Filter: "true"})
	recs := benchRecords(64)
	recs[7].Value = []byte(`{"order_id":8,"status":"p\u0061id","items":[{"sku":"a\"b"}],"amount":1.5}`)
	ctx := context.Background()
	for _, r := range recs {
		got, err := direct.Map(ctx, r, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("offset %d: %v, %d rows", r.Offset, err, len(got))
		}
		g := got[0].Row
		want, err := usual.Map(ctx, r, nil)
		if err != nil || len(want) != 1 {
			t.Fatalf("offset %d, usual path: %v, %d rows", r.Offset, err, len(want))
		}
		w := want[0].Row
		if !reflect.DeepEqual(g.Set, w.Set) || g.Key != w.Key || g.Op != w.Op || g.Offset != w.Offset {
			t.Fatalf("offset %d: direct %+v, usual %+v", r.Offset, g, w)
		}
		for _, i := range w.Set.Indexes() {
			if !reflect.DeepEqual(g.Vals[i], w.Vals[i]) {
				t.Fatalf("offset %d column %d: direct %#v, usual %#v", r.Offset, i, g.Vals[i], w.Vals[i])
			}
		}
		direct.Flushed()
		usual.Flushed()
	}
	// The first record binds the table's version, the usual way.
	if direct.direct != len(recs)-2 || usual.direct != 0 {
		t.Fatalf("direct path took %d of %d records (want all but the first and the escaped one); with a filter %d (want 0)", direct.direct, len(recs), usual.direct)
	}
}
