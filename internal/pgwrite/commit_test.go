package pgwrite_test

import (
	"context"
	"testing"

	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

func at(r table.Row, offset int64) table.Row { r.Offset = offset; return r }

// replace_by: each parent's rows become the set of the last record that
// carried it; an empty set deletes them all; rows of a parent without a set
// are upserted as usual.
func TestReplaceBy(t *testing.T) {
	pool, tbl := setup(t, `CREATE TABLE items (order_id int, line int, sku text, PRIMARY KEY (order_id, line));
INSERT INTO items VALUES (1, 1, 'old'), (1, 2, 'old'), (1, 3, 'old'), (2, 1, 'old'), (4, 1, 'keep');`, "items")
	key := []string{"order_id", "line"}
	w, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: key, ReplaceBy: []string{"order_id"}})
	if err != nil {
		t.Fatal(err)
	}
	rows := []table.Row{
		at(rowOf(t, tbl, table.OpReplace, nil, "order_id", int32(1)), 10),
		at(rowOf(t, tbl, table.OpWrite, key, "order_id", int32(1), "line", int32(1), "sku", "a"), 10),
		at(rowOf(t, tbl, table.OpWrite, key, "order_id", int32(1), "line", int32(2), "sku", "b"), 10),
		// A later record of order 1: only line 1 is left.
		at(rowOf(t, tbl, table.OpReplace, nil, "order_id", int32(1)), 11),
		at(rowOf(t, tbl, table.OpWrite, key, "order_id", int32(1), "line", int32(1), "sku", "x"), 11),
		// Order 2's items are all gone.
		at(rowOf(t, tbl, table.OpReplace, nil, "order_id", int32(2)), 12),
		// Order 3 without a set: upserted as usual.
		at(rowOf(t, tbl, table.OpWrite, key, "order_id", int32(3), "line", int32(1), "sku", "new"), 13),
	}
	if err := w.Write(context.Background(), pool, rows, nil); err != nil {
		t.Fatal(err)
	}
	got := dump(t, pool, `SELECT order_id || '/' || line || '/' || sku FROM items ORDER BY 1`)
	if want := "1/1/x\n3/1/new\n4/1/keep"; got != want {
		t.Fatalf("items:\n%s\nwant:\n%s", got, want)
	}
	// Writing the same batch again changes nothing (a retry).
	if err := w.Write(context.Background(), pool, rows, nil); err != nil {
		t.Fatal(err)
	}
	if again := dump(t, pool, `SELECT order_id || '/' || line || '/' || sku FROM items ORDER BY 1`); again != got {
		t.Fatalf("a retried batch changed the table:\n%s", again)
	}
	if _, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: key, ReplaceBy: []string{"sku"}}); err == nil {
		t.Fatal("replace_by outside the key accepted")
	}
}

// One transaction over a parent and a child table with a foreign key that
// is not deferrable: deletes run children first, writes parents first, so
// neither order of records trips the key.
func TestCommitOrdersForeignKeys(t *testing.T) {
	pool, parent := setup(t, `CREATE TABLE orders (id int PRIMARY KEY, note text);
CREATE TABLE lines (order_id int REFERENCES orders (id), line int, PRIMARY KEY (order_id, line));
INSERT INTO orders VALUES (1, 'old'), (2, 'old');
INSERT INTO lines VALUES (1, 1), (2, 1);`, "orders")
	child, err := table.LoadTable(context.Background(), pool, "", "lines")
	if err != nil {
		t.Fatal(err)
	}
	pw, err := pgwrite.NewWriter(pgwrite.Spec{Table: parent, Mode: table.Upsert, KeyCols: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	cw, err := pgwrite.NewWriter(pgwrite.Spec{Table: child, Mode: table.Upsert, KeyCols: []string{"order_id", "line"}, ReplaceBy: []string{"order_id"}})
	if err != nil {
		t.Fatal(err)
	}
	ck := []string{"order_id", "line"}
	changes := []pgwrite.Change{
		{W: pw, Rows: []table.Row{
			at(rowOf(t, parent, table.OpWrite, []string{"id"}, "id", int32(3), "note", "new"), 1),
			at(rowOf(t, parent, table.OpDelete, []string{"id"}, "id", int32(2)), 2),
		}},
		{W: cw, Rows: []table.Row{
			at(rowOf(t, child, table.OpReplace, nil, "order_id", int32(3)), 1),
			at(rowOf(t, child, table.OpWrite, ck, "order_id", int32(3), "line", int32(1)), 1),
			at(rowOf(t, child, table.OpReplace, nil, "order_id", int32(2)), 2), // order 2's lines go with it
		}},
	}
	if err := pgwrite.Commit(context.Background(), pool, changes, nil); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, pool, `SELECT string_agg(id::text, ',' ORDER BY id) FROM orders`); got != "1,3" {
		t.Fatalf("orders %s, want 1,3", got)
	}
	if got := dump(t, pool, `SELECT string_agg(order_id || '/' || line, ',' ORDER BY order_id) FROM lines`); got != "1/1,3/1" {
		t.Fatalf("lines %s, want 1/1,3/1", got)
	}
}

// Upsert: a change followed by a later change of the same key in the same
// batch is folded into it and never sent; Commit counts those.
func TestCommitCountsSuperseded(t *testing.T) {
	pool, tbl := setup(t, `CREATE TABLE kv (k text PRIMARY KEY, n int CHECK (n >= 0))`, "kv")
	key := []string{"k"}
	w, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: key})
	if err != nil {
		t.Fatal(err)
	}
	changes := []pgwrite.Change{{W: w, Rows: []table.Row{
		at(rowOf(t, tbl, table.OpWrite, key, "k", "a", "n", int32(-1)), 1), // the database would refuse it, but a later change wins
		at(rowOf(t, tbl, table.OpWrite, key, "k", "b", "n", int32(1)), 2),
		at(rowOf(t, tbl, table.OpWrite, key, "k", "a", "n", int32(5)), 3),
		at(rowOf(t, tbl, table.OpDelete, key, "k", "b"), 4),
		at(rowOf(t, tbl, table.OpWrite, key, "k", "c", "n", int32(7)), 5),
	}}}
	if err := pgwrite.Commit(context.Background(), pool, changes, nil); err != nil {
		t.Fatal(err)
	}
	if changes[0].Superseded != 2 {
		t.Errorf("Superseded = %d, want 2 (a's first change, b's write)", changes[0].Superseded)
	}
	if got, want := dump(t, pool, `SELECT k || '=' || n FROM kv ORDER BY 1`), "a=5\nc=7"; got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}
