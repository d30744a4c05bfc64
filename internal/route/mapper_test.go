package route

import (
	"context"
	"errors"
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
