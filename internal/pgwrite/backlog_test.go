package pgwrite_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// inTx runs fn in one committed transaction.
func inTx(t *testing.T, pool *pgxpool.Pool, fn func(tx *pgtx.Tx) error) error {
	t.Helper()
	return pgwrite.Commit(context.Background(), pool, nil, func(_ context.Context, tx *pgtx.Tx) error { return fn(tx) })
}

// kvUpserts is a table kv (k bigint key, s text) and a writer upserting
// into it by k.
func kvUpserts(t *testing.T) (*pgxpool.Pool, *table.Table, *pgwrite.Writer) {
	t.Helper()
	pool, tbl := setup(t, `CREATE TABLE kv (k bigint PRIMARY KEY, s text)`, "kv")
	w, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	return pool, tbl, w
}

// stageRows buffers rows and flushes them in a committed transaction.
func stageRows(t *testing.T, pool *pgxpool.Pool, b *pgwrite.Backlog, rows []table.Row) {
	t.Helper()
	if err := b.Buffer(rows); err != nil {
		t.Fatal(err)
	}
	if err := inTx(t, pool, func(tx *pgtx.Tx) error { _, err := b.Flush(context.Background(), tx); return err }); err != nil {
		t.Fatal(err)
	}
	if n := b.Flushed(); n != int64(len(rows)) {
		t.Fatalf("flushed %d rows, want %d", n, len(rows))
	}
}

// mergeTx merges stages (pgwrite.MergeAll) in one committed transaction
// and returns the rows written.
func mergeTx(t *testing.T, pool *pgxpool.Pool, stages ...*pgwrite.Backlog) (int64, error) {
	t.Helper()
	var written int64
	err := inTx(t, pool, func(tx *pgtx.Tx) error {
		var err error
		written, err = pgwrite.MergeAll(context.Background(), tx, stages)
		return err
	})
	return written, err
}

// mergeOnly is mergeTx's error.
func mergeOnly(t *testing.T, pool *pgxpool.Pool, stages ...*pgwrite.Backlog) error {
	t.Helper()
	_, err := mergeTx(t, pool, stages...)
	return err
}

// A backlog merge writes each key's last change — the highest version, the
// latest of equal versions, NULL versions last — with the writer's upsert
// statement (a stored higher version is kept), and empties its staging
// table.
func TestBacklogMerge(t *testing.T) {
	ctx := context.Background()
	pool, tbl := setup(t, `CREATE TABLE kv (k bigint PRIMARY KEY, s text, v bigint)`, "kv")
	w, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: []string{"k"}, VersionCol: "v"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO kv VALUES (4, 'stored', 100), (5, 'stored', 1)`); err != nil {
		t.Fatal(err)
	}
	row := func(k int64, s string, v any) table.Row {
		return rowOf(t, tbl, table.OpWrite, []string{"k"}, "k", k, "s", s, "v", v)
	}
	first := []table.Row{row(1, "a1", int64(1)), row(2, "b2", int64(2)), row(1, "a3", int64(3)), row(3, "c-null", nil)}
	second := []table.Row{row(1, "a2-late", int64(2)), row(2, "b2-again", int64(2)), row(3, "c1", int64(1)),
		row(4, "older than stored", int64(5)), row(5, "newer than stored", int64(2))}
	if !w.Backloggable(first, nil) || !w.Backloggable(second, first[0].Set) {
		t.Fatal("plain upsert rows are not backloggable")
	}
	b := w.NewBacklog("", "g", "topic", 0, 1)
	if err := b.Ensure(ctx, pool); err != nil {
		t.Fatal(err)
	}
	stageRows(t, pool, b, first)
	// A flush whose transaction rolls back keeps its rows buffered: the
	// next flush sends them again.
	if err := b.Buffer(second); err != nil {
		t.Fatal(err)
	}
	rollback := errors.New("rolled back")
	if err := inTx(t, pool, func(tx *pgtx.Tx) error {
		if _, err := b.Flush(ctx, tx); err != nil {
			return err
		}
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if n, _ := b.Buffered(); n != int64(len(second)) {
		t.Fatalf("%d rows buffered after a rolled back flush, want %d", n, len(second))
	}
	if err := inTx(t, pool, func(tx *pgtx.Tx) error { _, err := b.Flush(ctx, tx); return err }); err != nil {
		t.Fatal(err)
	}
	b.Flushed()
	if got := dump(t, pool, `SELECT count(*)::text FROM kv`); got != "2" {
		t.Fatalf("staging wrote to the table: %s rows", got)
	}
	// Rows buffered and taken back are not staged.
	m := b.Mark()
	if err := b.Buffer([]table.Row{row(1, "taken back", int64(99))}); err != nil {
		t.Fatal(err)
	}
	b.Rollback(m)
	var written int64
	extra := []table.Row{row(6, "in the merge's own transaction", int64(1))}
	if err := b.Buffer(extra); err != nil {
		t.Fatal(err)
	}
	if err := inTx(t, pool, func(tx *pgtx.Tx) error {
		var err error
		written, err = b.Merge(ctx, tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if b.Inserted() {
		t.Error("a merge into a table holding rows inserted without ON CONFLICT")
	}
	b.Reset()
	want := "1 a3 3\n2 b2-again 2\n3 c1 1\n4 stored 100\n5 newer than stored 2\n6 in the merge's own transaction 1"
	if got := dump(t, pool, `SELECT k || ' ' || s || ' ' || v FROM kv ORDER BY k`); got != want {
		t.Errorf("after the merge:\n%s\nwant\n%s", got, want)
	}
	if written != 5 {
		t.Errorf("merge wrote %d rows, want 5 (keys 1, 2, 3, 5, 6; 4's stored version is higher)", written)
	}
	if got := dump(t, pool, `SELECT count(*)::text FROM `+b.Table()); got != "0" {
		t.Errorf("the staging table holds %s rows after the merge", got)
	}
	// Rows of another shape, or deletes with no write to take the staged
	// columns from, are not staged; deletes among writes are.
	partial := rowOf(t, tbl, table.OpWrite, []string{"k"}, "k", int64(1), "v", int64(9))
	del := rowOf(t, tbl, table.OpDelete, []string{"k"}, "k", int64(1))
	for name, rows := range map[string][]table.Row{"other columns": {first[0], partial}, "deletes alone": {del}} {
		if w.Backloggable(rows, nil) {
			t.Errorf("%s: backloggable", name)
		}
	}
	if !w.Backloggable([]table.Row{del, first[0]}, nil) || !w.Backloggable([]table.Row{del}, first[0].Set) {
		t.Error("a delete among writes, or after staged writes: not backloggable")
	}
	if w.Backloggable([]table.Row{partial}, first[0].Set) {
		t.Error("rows of other columns than the staged ones: backloggable")
	}
}

// A merge inserts without ON CONFLICT while none of its keys is stored:
// into an empty table, or one whose rows were deleted. A stored key makes
// that INSERT fail, even at its last row: what it inserted goes back, and
// the merge upserts, the version deciding as always; later merges into
// that table (of any partition) then upsert at once, unless it is empty. A row with
// a staged key that another session commits while the merge's INSERT
// waits for the table fails it too. A partitioned table is empty while no
// partition has a page.
func TestBacklogMergeIntoEmptyTable(t *testing.T) {
	ctx := context.Background()
	pool, tbl := setup(t, `CREATE TABLE kv (k bigint PRIMARY KEY, s text, v bigint)`, "kv")
	w, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: []string{"k"}, VersionCol: "v"})
	if err != nil {
		t.Fatal(err)
	}
	row := func(k int64, s string, v int64) table.Row {
		return rowOf(t, tbl, table.OpWrite, []string{"k"}, "k", k, "s", s, "v", v)
	}
	staged := []table.Row{row(1, "a1", 1), row(2, "b5", 5), row(1, "a2", 2), row(3, "c5", 5)}
	b := w.NewBacklog("", "g", "topic", 0, 1)
	if err := b.Ensure(ctx, pool); err != nil {
		t.Fatal(err)
	}
	merge := func() (int64, error) {
		var n int64
		err := inTx(t, pool, func(tx *pgtx.Tx) error {
			var err error
			n, err = b.Merge(ctx, tx)
			return err
		})
		if err == nil {
			b.Reset()
		}
		return n, err
	}
	stageRows(t, pool, b, staged)
	if n, err := merge(); err != nil || n != 3 || !b.Inserted() {
		t.Fatalf("merge into the empty table: %d rows, inserted %v, %v; want 3 rows inserted", n, b.Inserted(), err)
	}
	if got, want := dump(t, pool, `SELECT k || ' ' || s || ' ' || v FROM kv ORDER BY k`), "1 a2 2\n2 b5 5\n3 c5 5"; got != want {
		t.Fatalf("kv:\n%s\nwant\n%s", got, want)
	}

	// Deleted rows leave their pages, and no key is stored: inserted.
	testenv.Exec(t, pool, `DELETE FROM kv`)
	stageRows(t, pool, b, staged)
	if n, err := merge(); err != nil || n != 3 || !b.Inserted() {
		t.Fatalf("merge into a table whose rows were deleted: %d rows, inserted %v, %v; want 3 rows inserted", n, b.Inserted(), err)
	}

	// Keys 0 and -1 are new, 3 (the last in key order) is stored: the
	// INSERT fails after inserting the new ones, which go back with it.
	stageRows(t, pool, b, []table.Row{row(0, "z1", 1), row(3, "c9", 9), row(-1, "y1", 1)})
	if n, err := merge(); err != nil || n != 3 || b.Inserted() || !b.Conflicted() {
		t.Fatalf("merge meeting a stored key: %d rows, inserted %v, conflicted %v, %v; want 3 rows upserted", n, b.Inserted(), b.Conflicted(), err)
	}
	if got, want := dump(t, pool, `SELECT k || ' ' || s || ' ' || v FROM kv ORDER BY k`), "-1 y1 1\n0 z1 1\n1 a2 2\n2 b5 5\n3 c9 9"; got != want {
		t.Fatalf("kv:\n%s\nwant\n%s", got, want)
	}
	// Then new keys are upserted at once, by another partition's merge
	// too: the table is not empty.
	b2 := w.NewBacklog("", "g", "topic", 1, 1)
	if err := b2.Ensure(ctx, pool); err != nil {
		t.Fatal(err)
	}
	stageRows(t, pool, b2, []table.Row{row(7, "g1", 1)})
	if err := mergeOnly(t, pool, b2); err != nil || b2.Inserted() {
		t.Fatalf("merge after a conflict: inserted %v, %v; want an upsert", b2.Inserted(), err)
	}
	b2.Reset()
	if got := dump(t, pool, `SELECT s FROM kv WHERE k = 7`); got != "g1" {
		t.Fatalf("kv row 7 = %q, want g1", got)
	}

	// Another session inserts key 2 (version 1: older than the staged 5)
	// and key 3 (version 9: newer) while the merge waits for the table.
	{
		tc := struct{ name, with string }{"a concurrent writer", "(2, 'other', 1), (3, 'other', 9)"}
		testenv.Exec(t, pool, `TRUNCATE kv`)
		stageRows(t, pool, b, staged)
		other, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Exec(ctx, `BEGIN; LOCK TABLE kv IN SHARE MODE`); err != nil {
			t.Fatal(err)
		}
		type result struct {
			n   int64
			err error
		}
		done := make(chan result, 1)
		go func() { n, err := merge(); done <- result{n, err} }()
		// The merge has found the table empty once its INSERT waits for
		// the lock.
		for i := 0; ; i++ {
			var waiting bool
			if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE relation = 'kv'::regclass AND NOT granted)`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting {
				break
			}
			if i == 500 {
				t.Fatal("the merge never waited for the table")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := other.Exec(ctx, `INSERT INTO kv VALUES `+tc.with+`; COMMIT`); err != nil {
			t.Fatal(err)
		}
		other.Release()
		r := <-done
		if r.err != nil {
			t.Fatalf("%s: %v", tc.name, r.err)
		}
		if b.Inserted() {
			t.Errorf("%s: the merge says it inserted without ON CONFLICT", tc.name)
		}
		if r.n != 2 {
			t.Errorf("%s: merge wrote %d rows, want 2 (1 inserted, 2 updated; 3's stored version is newer)", tc.name, r.n)
		}
		if got, want := dump(t, pool, `SELECT k || ' ' || s || ' ' || v FROM kv ORDER BY k`), "1 a2 2\n2 b5 5\n3 other 9"; got != want {
			t.Errorf("%s: kv:\n%s\nwant\n%s", tc.name, got, want)
		}
		if got := dump(t, pool, `SELECT count(*)::text FROM `+b.Table()); got != "0" {
			t.Errorf("%s: the staging table holds %s rows after the merge", tc.name, got)
		}
	}

	// A partitioned table: empty while no partition has a page.
	pool2, ptbl := setup(t, `CREATE TABLE pkv (k bigint PRIMARY KEY, s text) PARTITION BY RANGE (k);
		CREATE TABLE pkv_lo PARTITION OF pkv FOR VALUES FROM (0) TO (10);
		CREATE TABLE pkv_hi PARTITION OF pkv FOR VALUES FROM (10) TO (100)`, "pkv")
	pw, err := pgwrite.NewWriter(pgwrite.Spec{Table: ptbl, Mode: table.Upsert, KeyCols: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	pb := pw.NewBacklog("", "g", "topic", 0, 1)
	if err := pb.Ensure(ctx, pool2); err != nil {
		t.Fatal(err)
	}
	prow := func(k int64, s string) table.Row { return rowOf(t, ptbl, table.OpWrite, []string{"k"}, "k", k, "s", s) }
	for i, want := range []bool{true, false} {
		stageRows(t, pool2, pb, []table.Row{prow(1, "lo"), prow(int64(20+i), "hi")})
		if err := mergeOnly(t, pool2, pb); err != nil {
			t.Fatal(err)
		}
		pb.Reset()
		if pb.Inserted() != want {
			t.Errorf("merge %d into the partitioned table: inserted %v, want %v", i+1, pb.Inserted(), want)
		}
	}
	if got := dump(t, pool2, `SELECT k || ' ' || s FROM pkv ORDER BY k`); got != "1 lo\n20 hi\n21 hi" {
		t.Errorf("pkv = %q", got)
	}
}

// A merge of writes and deletes leaves the table as the records would,
// each written in a batch of its own: a delete removes the stored row and
// makes the writes before it moot, the writes after it start afresh
// (whatever the stored version was), and versions decide among them.
// Random histories over a few keys, staged in several flushes, into a
// table holding rows and into an empty one, against the writer applying
// the same records one by one — and against the writer applying them all
// in one batch, which must agree too.
func TestBacklogMergeDeletes(t *testing.T) {
	for _, soft := range []bool{false, true} {
		t.Run(map[bool]string{false: "hard", true: "soft"}[soft], func(t *testing.T) { mergeDeletes(t, soft) })
	}
}

// mergeDeletes is TestBacklogMergeDeletes with hard deletes, or with a
// soft_delete_column (gone), each delete at a time of its own.
func mergeDeletes(t *testing.T, soft bool) {
	ctx := context.Background()
	const ddl = `CREATE TABLE kv (k bigint PRIMARY KEY, s text, v bigint, gone timestamptz)`
	pool, tbl := setup(t, ddl, "kv")
	refPool, refTbl := setup(t, ddl, "kv")
	onePool, oneTbl := setup(t, ddl, "kv")
	spec := func(tbl *table.Table) pgwrite.Spec {
		sp := pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: []string{"k"}, VersionCol: "v"}
		if soft {
			sp.SoftDeleteCol = "gone"
		}
		return sp
	}
	w, err := pgwrite.NewWriter(spec(tbl))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := pgwrite.NewWriter(spec(refTbl))
	if err != nil {
		t.Fatal(err)
	}
	one, err := pgwrite.NewWriter(spec(oneTbl))
	if err != nil {
		t.Fatal(err)
	}
	b := w.NewBacklog("", "g", "topic", 0, 1)
	if err := b.Ensure(ctx, pool); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(7, 11))
	const keys = 6
	deleted := 0
	for round := range 40 {
		for _, p := range []*pgxpool.Pool{pool, refPool, onePool} {
			testenv.Exec(t, p, `TRUNCATE kv`)
		}
		if round%2 == 1 { // stored rows, some with versions above the staged ones, some soft-deleted
			for k := range keys {
				if rnd.IntN(3) > 0 {
					gone := "NULL"
					if rnd.IntN(2) == 0 {
						gone = "'2025-06-01 00:00:00+00'"
					}
					ver := "NULL"
					if rnd.IntN(6) > 0 {
						ver = fmt.Sprint(rnd.IntN(14))
					}
					sql := fmt.Sprintf(`INSERT INTO kv VALUES (%d, 'stored', %s, %s)`, k, ver, gone)
					for _, p := range []*pgxpool.Pool{pool, refPool, onePool} {
						testenv.Exec(t, p, sql)
					}
				}
			}
		}
		var recs []table.Row
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		for i := range 12 + rnd.IntN(12) {
			k := int64(rnd.IntN(keys))
			var r table.Row
			if i > 0 && rnd.IntN(4) == 0 {
				r = rowOf(t, tbl, table.OpDelete, []string{"k"}, "k", k)
				deleted++
			} else {
				// Versions from a small range, so that equal versions meet
				// (in a batch, across batches and against the stored row),
				// and now and then none (NULL).
				// Every fifth round the writes do not carry the column,
				// which is a NULL version too.
				var v any = int64(rnd.IntN(12))
				if rnd.IntN(8) == 0 {
					v = nil
				}
				kv := []any{"k", k, "s", fmt.Sprintf("r%d.%d", round, i), "v", v}
				if round%5 == 4 {
					kv = kv[:4]
				}
				r = rowOf(t, tbl, table.OpWrite, []string{"k"}, kv...)
			}
			r.Timestamp = at.Add(time.Duration(i) * time.Second)
			recs = append(recs, r)
		}
		writeEach(t, ref, refPool, recs)
		if err := one.Write(ctx, onePool, recs, nil); err != nil {
			t.Fatal(err)
		}
		// The merge: staged in flushes of up to five records (the first
		// record is a write: it gives the staged columns).
		for at := 0; at < len(recs); {
			n := min(1+rnd.IntN(5), len(recs)-at)
			if !w.Backloggable(recs[at:at+n], b.Set()) {
				t.Fatalf("round %d: records %d..%d are not backloggable", round, at, at+n-1)
			}
			stageRows(t, pool, b, recs[at:at+n])
			at += n
		}
		written, err := mergeTx(t, pool, b)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		b.Reset()
		q := `SELECT concat_ws(' ', k, s, v, coalesce(to_char(gone AT TIME ZONE 'UTC', 'MM-DD HH24:MI:SS'), '-')) FROM kv ORDER BY k`
		want := dump(t, refPool, q)
		if got := dump(t, pool, q); got != want {
			t.Errorf("round %d, %d records, the merge wrote %d rows:\n%s\nwant (one batch per record)\n%s", round, len(recs), written, got, want)
		}
		if got := dump(t, onePool, q); got != want {
			t.Errorf("round %d, %d records in one batch:\n%s\nwant (one batch per record)\n%s", round, len(recs), got, want)
		}
	}
	if deleted == 0 {
		t.Fatal("no deletes were generated")
	}
}

// Merging a partition's tables in one transaction deletes children first
// and writes parents first, as a batch does: a foreign key from the child
// to the parent holds at every statement.
func TestBacklogMergeAllOrder(t *testing.T) {
	ctx := context.Background()
	pool, ptbl := setup(t, `CREATE TABLE p (k bigint PRIMARY KEY, s text);
		CREATE TABLE c (k bigint PRIMARY KEY REFERENCES p, s text);
		INSERT INTO p VALUES (1, 'stored'); INSERT INTO c VALUES (1, 'stored')`, "p")
	ctbl, err := table.LoadTable(ctx, pool, "", "c")
	if err != nil {
		t.Fatal(err)
	}
	var stages []*pgwrite.Backlog
	for _, tbl := range []*table.Table{ptbl, ctbl} {
		w, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: []string{"k"}})
		if err != nil {
			t.Fatal(err)
		}
		b := w.NewBacklog("", "g", "topic", 0, 1)
		if err := b.Ensure(ctx, pool); err != nil {
			t.Fatal(err)
		}
		stageRows(t, pool, b, []table.Row{
			rowOf(t, tbl, table.OpWrite, []string{"k"}, "k", int64(2), "s", "new"),
			rowOf(t, tbl, table.OpDelete, []string{"k"}, "k", int64(1)),
		})
		stages = append(stages, b)
	}
	written, err := mergeTx(t, pool, stages...)
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(t, pool, `SELECT 'p ' || k || ' ' || s FROM p UNION ALL SELECT 'c ' || k || ' ' || s FROM c ORDER BY 1`); got != "c 2 new\np 2 new" {
		t.Errorf("after the merge:\n%s\nwant c 2 new, p 2 new", got)
	}
	if written != 4 {
		t.Errorf("merge wrote %d rows, want 4 (two deleted, two inserted)", written)
	}
}

// A merge refuses when the staging table does not hold what its owner
// staged: emptied by a restart of PostgreSQL (unlogged), or by a new owner
// of the partition, whose first staging empties it.
func TestBacklogLost(t *testing.T) {
	ctx := context.Background()
	pool, tbl, w := kvUpserts(t)
	rows := []table.Row{rowOf(t, tbl, table.OpWrite, []string{"k"}, "k", int64(1), "s", "x")}
	old := w.NewBacklog("", "g", "topic", 3, 1)
	taker := w.NewBacklog("", "g", "topic", 3, 2)
	if old.Table() != taker.Table() {
		t.Fatalf("one partition's staging tables differ by owner: %s, %s", old.Table(), taker.Table())
	}
	if other := w.NewBacklog("", "g", "topic", 4, 1); other.Table() == old.Table() {
		t.Fatal("two partitions share a staging table")
	}
	stage := func(b *pgwrite.Backlog) {
		t.Helper()
		if err := b.Ensure(ctx, pool); err != nil {
			t.Fatal(err)
		}
		stageRows(t, pool, b, rows)
	}
	merge := func(b *pgwrite.Backlog) error {
		return mergeOnly(t, pool, b)
	}
	stage(old)
	stage(taker) // its first staging empties the table
	if err := merge(old); !errors.Is(err, pgwrite.ErrBacklogLost) {
		t.Errorf("merge of the old owner: %v, want ErrBacklogLost", err)
	}
	if got := dump(t, pool, `SELECT count(*)::text FROM kv`); got != "0" {
		t.Errorf("the refused merge wrote %s rows", got)
	}
	if _, err := pool.Exec(ctx, "TRUNCATE "+taker.Table()); err != nil { // what a crash restart does
		t.Fatal(err)
	}
	if err := merge(taker); !errors.Is(err, pgwrite.ErrBacklogLost) {
		t.Errorf("merge of an emptied table: %v, want ErrBacklogLost", err)
	}
	taker.Reset()
	stage(taker)
	if err := merge(taker); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, pool, `SELECT k || ' ' || s FROM kv`); got != "1 x" {
		t.Errorf("kv = %q", got)
	}
}

// A merge the server cancels (statement_timeout) is ErrMergeCanceled, which
// is not a transient failure: retrying would be cancelled again.
func TestBacklogMergeCanceled(t *testing.T) {
	ctx := context.Background()
	pool, tbl, w := kvUpserts(t)
	var rows []table.Row
	for k := range 50000 {
		rows = append(rows, rowOf(t, tbl, table.OpWrite, []string{"k"}, "k", int64(k), "s", "some text to sort"))
	}
	b := w.NewBacklog("", "g", "topic", 0, 1)
	if err := b.Ensure(ctx, pool); err != nil {
		t.Fatal(err)
	}
	stageRows(t, pool, b, rows)
	err := inTx(t, pool, func(tx *pgtx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = '1ms'"); err != nil {
			return err
		}
		_, err := b.Merge(ctx, tx)
		return err
	})
	if !errors.Is(err, pgwrite.ErrMergeCanceled) {
		t.Fatalf("merge under a 1 ms statement_timeout: %v, want ErrMergeCanceled", err)
	}
	if pgwrite.IsTransient(err) {
		t.Error("a cancelled merge is classified transient: it would be retried forever")
	}
	if got := dump(t, pool, `SELECT count(*)::text FROM kv`); got != "0" {
		t.Errorf("the cancelled merge wrote %s rows", got)
	}
}

// A staging table made by an earlier kafka2pg, whose kafka2pg_seq is an
// identity column, takes the sequence numbers kafka2pg now sends (COPY
// writes identity columns as given), and merges in their order.
func TestBacklogIdentitySeq(t *testing.T) {
	ctx := context.Background()
	pool, tbl, w := kvUpserts(t)
	b := w.NewBacklog("", "g", "topic", 0, 1)
	if _, err := pool.Exec(ctx, "CREATE UNLOGGED TABLE "+b.Table()+" AS SELECT * FROM kv WITH NO DATA; "+
		"ALTER TABLE "+b.Table()+" ADD COLUMN kafka2pg_owner bigint, ADD COLUMN kafka2pg_seq bigint GENERATED ALWAYS AS IDENTITY"); err != nil {
		t.Fatal(err)
	}
	if err := b.Ensure(ctx, pool); err != nil {
		t.Fatal(err)
	}
	row := func(k int64, s string) table.Row { return rowOf(t, tbl, table.OpWrite, []string{"k"}, "k", k, "s", s) }
	stageRows(t, pool, b, []table.Row{row(1, "first"), row(2, "x")})
	stageRows(t, pool, b, []table.Row{row(1, "last")})
	if err := mergeOnly(t, pool, b); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, pool, `SELECT k || ' ' || s FROM kv ORDER BY k`); got != "1 last\n2 x" {
		t.Errorf("kv = %q, want 1 last, 2 x", got)
	}
}
