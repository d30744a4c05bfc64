package pgtx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// conn is a connection to a fresh database holding a table t (n int).
func conn(t *testing.T) *pgx.Conn {
	t.Helper()
	dbURL, pool := testenv.NewDatabase(t)
	testenv.Exec(t, pool, `CREATE TABLE t (n int)`)
	c, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func contents(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var s *string
	if err := c.QueryRow(context.Background(), `SELECT string_agg(n::text, ',' ORDER BY n) FROM t`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return ""
	}
	return *s
}

// Deferred statements run in the order given, with the statement that
// sends them, and commit with the transaction; Exec returns its own
// statement's tag.
func TestTxOrderAndCommit(t *testing.T) {
	ctx := context.Background()
	c := conn(t)
	tx := pgtx.Begin(c)
	tx.Defer(`INSERT INTO t VALUES (1)`, nil)
	tx.Defer(`INSERT INTO t VALUES ($1)`, nil, 2)
	tag, err := tx.Exec(ctx, `UPDATE t SET n = n * 10 WHERE n >= $1`, 1)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 2 {
		t.Errorf("the Exec's tag says %d rows, want 2 (the deferred inserts ran first)", tag.RowsAffected())
	}
	tx.Defer(`INSERT INTO t VALUES (3)`, nil)
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 3 {
		t.Errorf("QueryRow saw %d rows (%v), want 3: it sends what is deferred first", n, err)
	}
	tx.Defer(`INSERT INTO t VALUES (4)`, nil)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Errorf("Rollback after Commit: %v, want a no-op", err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1`); !errors.Is(err, pgx.ErrTxClosed) {
		t.Errorf("Exec after Commit: %v, want ErrTxClosed", err)
	}
	if got := contents(t, c); got != "3,4,10,20" {
		t.Errorf("t = %q, want 3,4,10,20", got)
	}
	// A transaction that runs nothing commits nothing, and sends nothing.
	if err := pgtx.Begin(c).Commit(ctx); err != nil {
		t.Errorf("empty Commit: %v", err)
	}
}

// A deferred statement's failure — sent with COMMIT in a pipelined batch
// (arguments) or a simple query (none), or with an Exec — is returned
// through its fail function by the call that sent it; the statements after
// it, COMMIT included, do not run, Rollback ends the transaction and the
// connection is idle and usable.
func TestTxDeferredFailure(t *testing.T) {
	ctx := context.Background()
	c := conn(t)
	errMarked := errors.New("marked")
	mark := func(err error) error { return fmt.Errorf("%w: %w", errMarked, err) }
	for _, tc := range []struct {
		name  string
		run   func(tx *pgtx.Tx) error
		state string // SQLSTATE, 22012 when empty
	}{
		{"with arguments, sent with COMMIT", func(tx *pgtx.Tx) error {
			tx.Defer(`INSERT INTO t VALUES ($1)`, nil, 1)
			tx.Defer(`SELECT 1 / (count(*) - $1) FROM t`, mark, 1)
			tx.Defer(`INSERT INTO t VALUES ($1)`, nil, 2)
			return tx.Commit(ctx)
		}, ""},
		{"without arguments, sent with COMMIT", func(tx *pgtx.Tx) error {
			tx.Defer(`INSERT INTO t VALUES (1)`, nil)
			tx.Defer(`SELECT 1 / 0`, mark)
			tx.Defer(`INSERT INTO t VALUES (2)`, nil)
			return tx.Commit(ctx)
		}, ""},
		{"sent with an Exec", func(tx *pgtx.Tx) error {
			tx.Defer(`INSERT INTO t VALUES (1)`, nil)
			tx.Defer(`SELECT 1 / 0`, mark)
			_, err := tx.Exec(ctx, `INSERT INTO t VALUES ($1)`, 2)
			return err
		}, ""},
		{"sent before a COPY", func(tx *pgtx.Tx) error {
			tx.Defer(`SELECT 1 / 0`, mark)
			return tx.CopyRaw(ctx, strings.NewReader("5\n"), `COPY t (n) FROM STDIN`)
		}, ""},
		{"with arguments, after a deferred COPY, sent with COMMIT", func(tx *pgtx.Tx) error {
			tx.DeferCopy(`COPY t (n) FROM STDIN`, strings.NewReader("5\n6\n"), nil)
			tx.Defer(`SELECT 1 / (count(*) - $1) FROM t`, mark, 2)
			return tx.Commit(ctx)
		}, ""},
		{"a deferred COPY's data, sent with statements after it and COMMIT", func(tx *pgtx.Tx) error {
			tx.Defer(`INSERT INTO t VALUES (1)`, nil)
			tx.DeferCopy(`COPY t (n) FROM STDIN`, strings.NewReader("5\nx\n"), mark)
			tx.Defer(`INSERT INTO t VALUES (2)`, nil)
			tx.Defer(`INSERT INTO t VALUES ($1)`, nil, 3)
			return tx.Commit(ctx)
		}, "22P02"},
		{"a deferred COPY's reader", func(tx *pgtx.Tx) error {
			tx.DeferCopy(`COPY t (n) FROM STDIN`, io.MultiReader(strings.NewReader("5\n"), iotest.ErrReader(errors.New("no more rows"))), mark)
			tx.Defer(`INSERT INTO t VALUES ($1)`, nil, 3)
			return tx.Commit(ctx)
		}, "57014"},
	} {
		tx := pgtx.Begin(c)
		err := tc.run(tx)
		if !errors.Is(err, errMarked) {
			t.Errorf("%s: %v, want the error through the statement's fail function", tc.name, err)
		}
		if tc.state == "" {
			tc.state = "22012"
		}
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != tc.state {
			t.Errorf("%s: %v, want SQLSTATE %s", tc.name, err, tc.state)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatalf("%s: Rollback: %v", tc.name, err)
		}
		if s := c.PgConn().TxStatus(); s != 'I' {
			t.Fatalf("%s: the connection's transaction status is %q, want idle", tc.name, s)
		}
		if got := contents(t, c); got != "" {
			t.Errorf("%s: t = %q, want nothing committed", tc.name, got)
		}
	}
	// BEGIN and deferred statements without arguments travel in the COPY's
	// query, and commit with it.
	tx := pgtx.Begin(c)
	tx.Defer(`INSERT INTO t VALUES (1)`, nil)
	if err := tx.CopyRaw(ctx, strings.NewReader("5\n6\n"), `COPY t (n) FROM STDIN`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, c); got != "1,5,6" {
		t.Errorf("t = %q, want 1,5,6", got)
	}
}

// Deferred COPYs travel with what follows them: two COPYs, statements with
// and without arguments between and after them, and COMMIT go in one
// round trip, run in order and commit together.
func TestTxDeferredCopies(t *testing.T) {
	ctx := context.Background()
	c := conn(t)
	tx := pgtx.Begin(c)
	tx.DeferCopy(`COPY t (n) FROM STDIN`, strings.NewReader("1\n2\n"), nil)
	tx.Defer(`UPDATE t SET n = n * 10`, nil)
	tx.Defer(`INSERT INTO t VALUES ($1)`, nil, 3)
	tx.DeferCopy(`COPY t (n) FROM STDIN`, strings.NewReader("4\n"), nil)
	tx.Defer(`DELETE FROM t WHERE n = $1`, nil, 20)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, c); got != "3,4,10" {
		t.Errorf("t = %q, want 3,4,10", got)
	}
}

// The connection failing during an exchange (here the server ends the
// session after the COPY) is a ConnError, never said to be safe to retry;
// the connection is closed and nothing commits.
func TestTxConnectionLost(t *testing.T) {
	c := conn(t)
	tx := pgtx.Begin(c)
	tx.DeferCopy(`COPY t (n) FROM STDIN`, strings.NewReader("1\n2\n"), nil)
	tx.Defer(`SELECT pg_terminate_backend(pg_backend_pid())`, nil)
	tx.Defer(`INSERT INTO t VALUES ($1)`, nil, 3)
	err := tx.Commit(context.Background())
	if pgconn.SafeToRetry(err) {
		t.Errorf("Commit: %v is said to be safe to retry", err)
	}
	closedEmpty(t, c, err)
}

// closedEmpty checks that err, a transaction's, is a ConnError, that its
// connection c is closed and that t is empty.
func closedEmpty(t *testing.T, c *pgx.Conn, err error) {
	t.Helper()
	if _, ok := errors.AsType[*pgtx.ConnError](err); !ok {
		t.Errorf("%v (%T), want a ConnError", err, err)
	}
	if !c.IsClosed() {
		t.Error("the connection is still open")
	}
	ctx := context.Background()
	check, err := pgx.Connect(ctx, c.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close(ctx)
	var n int
	if err := check.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 0 {
		t.Errorf("t holds %d rows (%v), want 0", n, err)
	}
}

// A context that ends while the stream is written ends the exchange: the
// error says so, the connection is closed and nothing commits.
func TestTxCancelledWhileWriting(t *testing.T) {
	c := conn(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tx := pgtx.Begin(c)
	tx.DeferCopy(`COPY t (n) FROM STDIN`, &cancelReader{cancel: cancel}, nil)
	err := tx.Commit(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Commit: %v, want context.Canceled", err)
	}
	closedEmpty(t, c, err)
}

// A write that blocks ends when the context does. The server waits for a
// lock before it reads the COPY's data, the socket's buffers fill and the
// write blocks; cancelling the context then sets a deadline in the past on
// the socket (pgconn only watches reads), so the exchange returns at once
// instead of waiting for the lock.
func TestTxCancelledWhileBlocked(t *testing.T) {
	ctx := context.Background()
	c := conn(t)
	locker, err := pgx.Connect(ctx, c.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	if _, err := locker.Exec(ctx, `BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &rowsReader{left: 1 << 30}
	done := make(chan error, 1)
	go func() {
		tx := pgtx.Begin(c)
		tx.DeferCopy(`COPY t (n) FROM STDIN`, r, nil)
		done <- tx.Commit(wctx)
	}()
	// Blocked: nothing more is read for 300 ms, with most of the data
	// still to send.
	var last int64 = -1
	for stalled := 0; stalled < 6; {
		time.Sleep(50 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("Commit returned before the write blocked: %v", err)
		default:
		}
		n := r.sent.Load()
		if n == last && n > 0 {
			stalled++
		} else {
			stalled, last = 0, n
		}
	}
	if r.sent.Load() >= 1<<30 {
		t.Fatal("every row was read: the write never blocked")
	}
	at := time.Now()
	cancel()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Commit still blocked 10 s after its context was cancelled")
	}
	if took := time.Since(at); took > 2*time.Second {
		t.Errorf("Commit returned %v after the cancel", took)
	}
	if !errors.Is(werr, context.Canceled) {
		t.Errorf("Commit: %v, want context.Canceled", werr)
	}
	if _, err := locker.Exec(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	closedEmpty(t, c, werr)
}

// rowsReader gives rows ("1\n") until left bytes are given, counting them.
type rowsReader struct {
	left int64
	sent atomic.Int64
}

func (r *rowsReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n+2 <= len(p) && int64(n) < r.left {
		p[n], p[n+1] = '1', '\n'
		n += 2
	}
	r.left -= int64(n)
	r.sent.Add(int64(n))
	return n, nil
}

// cancelReader gives rows forever and cancels its context on the first read.
type cancelReader struct{ cancel func() }

func (r *cancelReader) Read(p []byte) (int, error) {
	r.cancel()
	return copy(p, "1\n"), nil
}
