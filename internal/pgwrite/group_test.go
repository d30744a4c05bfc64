package pgwrite_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// TestGroupCommit: small transactions that find a grouped transaction
// running wait and then commit together, in one transaction (one xmin),
// hooks included; a big one never waits; when a member of a group fails,
// the others still commit (on their own) and only it sees its error.
func TestGroupCommit(t *testing.T) {
	pool, tbl := setup(t, `CREATE TABLE ev (id int PRIMARY KEY, note text);
CREATE TABLE side (id int PRIMARY KEY);`, "ev")
	ctx := context.Background()
	w, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Insert})
	if err != nil {
		t.Fatal(err)
	}
	g := &pgwrite.Group{Pool: pool, MaxRows: 10}
	change := func(from, n int) []pgwrite.Change {
		var rows []table.Row
		for i := from; i < from+n; i++ {
			rows = append(rows, rowOf(t, tbl, table.OpWrite, nil, "id", int32(i), "note", fmt.Sprint("n", i)))
		}
		return []pgwrite.Change{{W: w, Rows: rows}}
	}
	side := func(id int) func(context.Context, *pgtx.Tx) error {
		return func(ctx context.Context, tx *pgtx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO side VALUES ($1)", id)
			return err
		}
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for g.Waiting() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d waiting, want %d", g.Waiting(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// hold starts a grouped transaction whose hook waits for release.
	hold := func(from int) (release func() error) {
		started, rel, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- g.Commit(ctx, change(from, 2), func(context.Context, *pgtx.Tx) error {
				close(started)
				<-rel
				return nil
			})
		}()
		<-started
		return func() error { close(rel); return <-done }
	}
	xmins := func(where string) int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(DISTINCT xmin::text) FROM (SELECT xmin FROM ev WHERE "+where+
			" UNION ALL SELECT xmin FROM side WHERE "+where+") x").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Three wait behind a running one, then go as one transaction.
	release := hold(1)
	results := make(chan error, 3)
	for i := 1; i <= 3; i++ {
		go func() { results <- g.Commit(ctx, change(10*i, 2), side(10*i)) }()
	}
	waitFor(3)
	// A transaction above MaxRows is committed at once, alone.
	if err := g.Commit(ctx, change(100, 11), nil); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, pool, "SELECT count(*)::text FROM ev WHERE id >= 100"); got != "11" {
		t.Fatalf("the big transaction wrote %s rows while a group was running", got)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if got := dump(t, pool, "SELECT string_agg(id::text, ',' ORDER BY id) FROM ev WHERE id BETWEEN 10 AND 99"); got != "10,11,20,21,30,31" {
		t.Fatalf("rows of the grouped members: %s", got)
	}
	if got := dump(t, pool, "SELECT string_agg(id::text, ',' ORDER BY id) FROM side"); got != "10,20,30" {
		t.Fatalf("hooks of the grouped members: %s", got)
	}
	if n := xmins("id BETWEEN 10 AND 99"); n != 1 {
		t.Fatalf("the three waiting members were committed in %d transactions, want 1", n)
	}

	// One member fails: the other two commit, it alone sees its error.
	release = hold(200)
	boom := errors.New("boom")
	type result struct {
		id  int
		err error
	}
	res := make(chan result, 3)
	for i := 1; i <= 3; i++ {
		hook := side(300 + 10*i)
		if i == 2 {
			hook = func(context.Context, *pgtx.Tx) error { return boom }
		}
		go func() { res <- result{300 + 10*i, g.Commit(ctx, change(300+10*i, 2), hook)} }()
	}
	waitFor(3)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := <-res
		switch {
		case r.id == 320 && !errors.Is(r.err, boom):
			t.Fatalf("the failing member got %v", r.err)
		case r.id != 320 && r.err != nil:
			t.Fatalf("member %d failed with another's error: %v", r.id, r.err)
		}
	}
	if got := dump(t, pool, "SELECT string_agg(id::text, ',' ORDER BY id) FROM ev WHERE id BETWEEN 300 AND 399"); got != "310,311,330,331" {
		t.Fatalf("rows after one member failed: %s", got)
	}
	if got := dump(t, pool, "SELECT string_agg(id::text, ',' ORDER BY id) FROM side WHERE id >= 300"); got != "310,330" {
		t.Fatalf("hooks after one member failed: %s", got)
	}

	// A row that fails in the database (a duplicate key) fails only its
	// member too.
	release = hold(400)
	for i, from := range []int{410, 10, 430} { // 10 and 11 exist
		go func() { res <- result{i, g.Commit(ctx, change(from, 2), nil)} }()
	}
	waitFor(3)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := <-res
		if (r.id == 1) != (r.err != nil) {
			t.Fatalf("member %d: %v", r.id, r.err)
		}
	}
	if got := dump(t, pool, "SELECT string_agg(id::text, ',' ORDER BY id) FROM ev WHERE id >= 400"); got != "400,401,410,411,430,431" {
		t.Fatalf("rows after a duplicate key: %s", got)
	}
}

// With MaxRows 0 every transaction is committed on its own: a small one
// does not wait for another that is being committed.
func TestGroupOff(t *testing.T) {
	pool, tbl := setup(t, `CREATE TABLE ev (id int PRIMARY KEY)`, "ev")
	ctx := context.Background()
	w, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Insert})
	if err != nil {
		t.Fatal(err)
	}
	change := func(id int) []pgwrite.Change {
		return []pgwrite.Change{{W: w, Rows: []table.Row{rowOf(t, tbl, table.OpWrite, nil, "id", int32(id))}}}
	}
	g := &pgwrite.Group{Pool: pool}
	started, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- g.Commit(ctx, change(1), func(context.Context, *pgtx.Tx) error {
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	if err := g.Commit(ctx, change(2), nil); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, pool, "SELECT string_agg(id::text, ',') FROM ev"); got != "2" {
		t.Fatalf("rows while the first transaction is held: %q, want 2", got)
	}
	if g.Waiting() != 0 {
		t.Fatalf("%d transactions waiting with MaxRows 0", g.Waiting())
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := dump(t, pool, "SELECT string_agg(id::text, ',' ORDER BY id) FROM ev"); got != "1,2" {
		t.Fatalf("rows: %q", got)
	}
}
