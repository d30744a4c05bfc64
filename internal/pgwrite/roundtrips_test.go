package pgwrite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// tracedPool is a pool of one connection whose protocol messages are
// traced, and a function returning how many round trips it has made since
// the last call: how many times it sent messages and then waited for a
// ReadyForQuery (frontend messages are counted once between two
// ReadyForQuery; pgconn's CopyFrom sends its data while it reads, so other
// answers may come in between).
func tracedPool(t *testing.T, dbURL string) (*pgxpool.Pool, func() int) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tr := &lockedBuffer{}
	conn.Conn().PgConn().Frontend().Trace(tr, pgproto3.TracerOptions{SuppressTimestamps: true})
	conn.Release()
	return pool, func() int {
		n, sending := 0, false
		for _, line := range strings.Split(tr.take(), "\n") {
			switch {
			case strings.HasPrefix(line, "F\t") && !sending:
				n, sending = n+1, true
			case strings.HasPrefix(line, "B\tReadyForQuery\t"):
				sending = false
			}
		}
		return n
	}
}

// lockedBuffer is a trace's writer: pgconn writes copy data from a
// goroutine of its own.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// A batch's transaction is one round trip whatever it carries: BEGIN, the
// COPY and its data, the deferred statements (the upsert from the staging
// table, the offset update, dead letters) and COMMIT are written as one
// stream before any answer is read. A batch of inserts alone is one COPY.
func TestCommitRoundTrips(t *testing.T) {
	dbURL, setupPool := testenv.NewDatabase(t)
	testenv.Exec(t, setupPool, `CREATE TABLE kv (k bigint PRIMARY KEY, s text); CREATE TABLE side (n int)`)
	tbl, err := table.LoadTable(context.Background(), setupPool, "", "kv")
	if err != nil {
		t.Fatal(err)
	}
	pool, trips := tracedPool(t, dbURL)
	ctx := context.Background()
	rows := func(from, n int, keyed bool) []table.Row {
		var out []table.Row
		var key []string
		if keyed {
			key = []string{"k"}
		}
		for i := from; i < from+n; i++ {
			out = append(out, rowOf(t, tbl, table.OpWrite, key, "k", int64(i), "s", fmt.Sprint("v", i)))
		}
		return out
	}
	side := func(n int) func(context.Context, *pgtx.Tx) error {
		return func(_ context.Context, tx *pgtx.Tx) error {
			tx.Defer(`INSERT INTO side VALUES ($1)`, nil, n)
			return nil
		}
	}
	ins, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Insert})
	if err != nil {
		t.Fatal(err)
	}
	ups, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	// A writer makes its staging tables on the connection once, outside
	// any batch, and a statement with arguments is prepared the first time
	// it is sent: one more round trip each, the first time only.
	for _, w := range []*pgwrite.Writer{ins, ups} {
		if err := pgwrite.Commit(ctx, pool, []pgwrite.Change{{W: w, Rows: rows(1000, 1, true)}}, side(0)); err != nil {
			t.Fatal(err)
		}
		testenv.Exec(t, setupPool, `DELETE FROM kv; DELETE FROM side`)
	}
	trips()
	for _, c := range []struct {
		name  string
		w     *pgwrite.Writer
		rows  []table.Row
		hook  func(context.Context, *pgtx.Tx) error
		trips int
	}{
		{"inserts alone", ins, rows(0, 100, false), nil, 1},
		{"inserts and a deferred statement", ins, rows(100, 100, false), side(1), 1},
		{"upserts", ups, rows(150, 100, true), nil, 1},
		{"upserts and a deferred statement", ups, rows(200, 100, true), side(2), 1},
		{"nothing", nil, nil, func(context.Context, *pgtx.Tx) error { return nil }, 0},
	} {
		var changes []pgwrite.Change
		if c.w != nil {
			changes = []pgwrite.Change{{W: c.w, Rows: c.rows}}
		}
		if err := pgwrite.Commit(ctx, pool, changes, c.hook); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := trips(); got != c.trips {
			t.Errorf("%s: %d round trips, want %d", c.name, got, c.trips)
		}
	}
	if got := dump(t, setupPool, `SELECT count(*)::text || ' ' || count(DISTINCT k)::text FROM kv`); got != "300 300" {
		t.Errorf("kv holds %s rows (distinct keys), want 300 300", got)
	}
	if got := dump(t, setupPool, `SELECT string_agg(n::text, ',' ORDER BY n) FROM side`); got != "1,2" {
		t.Errorf("side = %q, want 1,2", got)
	}
}

// A deferred statement that fails aborts its transaction wherever it is
// sent — with the next COPY, with an Exec, or with COMMIT, in a simple
// query or among statements with arguments — and its error, through its
// fail function, is what the caller gets. Nothing of the
// transaction is committed and the connection is usable afterwards.
func TestCommitDeferredFailure(t *testing.T) {
	dbURL, setupPool := testenv.NewDatabase(t)
	testenv.Exec(t, setupPool, `CREATE TABLE kv (k bigint PRIMARY KEY, s text CHECK (s <> 'bad')); CREATE TABLE side (n int)`)
	tbl, err := table.LoadTable(context.Background(), setupPool, "", "kv")
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := tracedPool(t, dbURL)
	ctx := context.Background()
	ups, err := pgwrite.NewWriter(pgwrite.Spec{Table: tbl, Mode: table.Upsert, KeyCols: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	staged := ups.NewBacklog("", "g", "topic", 0, 1)
	if err := staged.Ensure(ctx, setupPool); err != nil {
		t.Fatal(err)
	}
	if err := staged.Buffer([]table.Row{rowOf(t, tbl, table.OpWrite, []string{"k"}, "k", int64(9), "s", "staged")}); err != nil {
		t.Fatal(err)
	}
	errMarked := errors.New("marked")
	mark := func(err error) error { return fmt.Errorf("%w: %w", errMarked, err) }
	sqlstate := func(err error) string {
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
			return pgErr.Code
		}
		return ""
	}
	key := []string{"k"}
	for _, c := range []struct {
		name   string
		rows   []table.Row
		hook   func(context.Context, *pgtx.Tx) error
		state  string
		marked bool
	}{{
		// Two shapes: the first group's upsert (deferred) fails when it
		// travels with the second group's COPY.
		name:  "an upsert sent with the next COPY",
		rows:  []table.Row{rowOf(t, tbl, table.OpWrite, key, "k", int64(1), "s", "bad"), rowOf(t, tbl, table.OpWrite, key, "k", int64(2))},
		state: "23514",
	}, {
		name: "an upsert sent with COMMIT",
		rows: []table.Row{rowOf(t, tbl, table.OpWrite, key, "k", int64(1), "s", "bad")},
		hook: func(_ context.Context, tx *pgtx.Tx) error {
			tx.Defer(`INSERT INTO side VALUES ($1)`, mark, 1)
			return nil
		},
		state: "23514",
	}, {
		name: "a statement with arguments sent with COMMIT",
		rows: []table.Row{rowOf(t, tbl, table.OpWrite, key, "k", int64(1), "s", "good")},
		hook: func(_ context.Context, tx *pgtx.Tx) error {
			tx.Defer(`INSERT INTO side VALUES ($1)`, nil, 1)
			tx.Defer(`SELECT 1 / (count(*) - $1) FROM side`, mark, 1)
			return nil
		},
		state: "22012", marked: true,
	}, {
		name: "a statement without arguments sent with COMMIT",
		rows: []table.Row{rowOf(t, tbl, table.OpWrite, key, "k", int64(1), "s", "good")},
		hook: func(_ context.Context, tx *pgtx.Tx) error {
			tx.Defer(`INSERT INTO side VALUES (1)`, nil)
			tx.Defer(`SELECT 1 / 0`, mark)
			return nil
		},
		state: "22012", marked: true,
	}, {
		name: "a statement sent with an Exec",
		rows: []table.Row{rowOf(t, tbl, table.OpWrite, key, "k", int64(1), "s", "good")},
		hook: func(ctx context.Context, tx *pgtx.Tx) error {
			tx.Defer(`SELECT 1 / 0`, mark)
			if _, err := tx.Exec(ctx, `INSERT INTO side VALUES ($1)`, 1); !errors.Is(err, errMarked) {
				return fmt.Errorf("the Exec returned %v, want the deferred statement's error", err)
			}
			return errMarked
		},
		marked: true,
	}, {
		// A statement with a fail function in a COPY's query: its error
		// is told from the COPY's.
		name: "a statement with a fail function before a COPY",
		hook: func(ctx context.Context, tx *pgtx.Tx) error {
			tx.Defer(`SELECT 1 / 0`, mark)
			_, err := staged.Flush(ctx, tx)
			return err
		},
		state: "22012", marked: true,
	}} {
		var changes []pgwrite.Change
		if c.rows != nil {
			changes = []pgwrite.Change{{W: ups, Rows: c.rows}}
		}
		err := pgwrite.Commit(ctx, pool, changes, c.hook)
		if err == nil {
			t.Fatalf("%s: committed", c.name)
		}
		if c.state != "" && sqlstate(err) != c.state {
			t.Errorf("%s: %v, want SQLSTATE %s", c.name, err, c.state)
		}
		if got := errors.Is(err, errMarked); got != c.marked {
			t.Errorf("%s: %v: marked by the statement's fail function %v, want %v", c.name, err, got, c.marked)
		}
		if got := dump(t, setupPool, `SELECT (SELECT count(*) FROM kv) + (SELECT count(*) FROM side) || ''`); got != "0" {
			t.Errorf("%s: %s rows committed, want 0", c.name, got)
		}
		if got := dump(t, setupPool, `SELECT count(*)::text FROM `+staged.Table()); got != "0" {
			t.Errorf("%s: %s rows staged, want 0", c.name, got)
		}
		// The connection (the pool's only one) is idle and usable.
		var n int
		if err := pool.QueryRow(ctx, `SELECT 1`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: the connection after the failure: %v", c.name, err)
		}
	}
}
