// Package pgtx is a PostgreSQL transaction on one connection sent in as
// few round trips as its statements allow (Tx): what every batch, backlog
// merge and dead-letter replay of kafka2pg commits through.
package pgtx

import (
	"context"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Tx is one transaction on a connection, sent in as few round trips as its
// statements allow:
//
//   - BEGIN is not sent on its own: it travels with the transaction's first
//     statement (Begin costs nothing, and a transaction that runs nothing
//     sends nothing).
//   - A statement whose only answer is success or failure can be deferred
//     (Defer): it waits, in order, and travels with the next statement
//     whose answer is read — a COPY, an Exec, a query — and at the latest
//     with COMMIT.
//
// Statements run in the order they were given. A deferred statement's
// error is returned by the call that sent it, and aborts the transaction
// exactly as it would have on its own: the statements after it in the same
// message are not run, COMMIT included. So a batch of one table's inserts
// with the exactly-once offset costs two round trips ("BEGIN; COPY …", then
// the offset update with COMMIT) where pgx's Tx takes four, and an upsert
// batch two ("BEGIN; COPY" into the staging table, then the upsert with
// COMMIT) instead of four.
//
// Statements without arguments travel as one simple-protocol query;
// statements with arguments as one pipelined batch (pgx.Batch).
type Tx struct {
	conn   *pgx.Conn
	begun  bool // BEGIN has been sent
	closed bool // Commit or Rollback was called
	queue  []stmt
}

// stmt is a statement waiting to be sent.
type stmt struct {
	sql  string
	args []any
	// fail, when not nil, makes the error the caller sees from the
	// statement's error (for example: a fencing check's division by zero
	// becomes ErrFenced).
	fail func(error) error
}

func (s *stmt) failed(err error) error {
	if s.fail != nil {
		return s.fail(err)
	}
	return err
}

// Begin starts a transaction on conn. Nothing is sent until the first
// statement.
func Begin(conn *pgx.Conn) *Tx { return &Tx{conn: conn} }

// Defer queues sql (with args) to be sent with the transaction's next
// statement whose answer is read, at the latest with COMMIT. Its command
// tag is not kept; its error, passed through fail when fail is not nil, is
// returned by the call that sends it.
func (t *Tx) Defer(sql string, fail func(error) error, args ...any) {
	t.queue = append(t.queue, stmt{sql: sql, args: args, fail: fail})
}

// Exec runs sql with args after everything deferred, in one round trip,
// and returns its command tag.
func (t *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.closed {
		return pgconn.CommandTag{}, pgx.ErrTxClosed
	}
	return t.send(ctx, &stmt{sql: sql, args: args})
}

// Flush sends BEGIN (if not yet sent) and everything deferred, and waits
// for their answers.
func (t *Tx) Flush(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if t.begun && len(t.queue) == 0 {
		return nil
	}
	_, err := t.send(ctx, nil)
	return err
}

// QueryRow runs a query after everything deferred (which is sent first,
// in a round trip of its own).
func (t *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.Flush(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

// CopyFrom is pgx's CopyFrom in this transaction, after everything
// deferred (which is sent first).
func (t *Tx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.Flush(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, cols, src)
}

// Conn is the transaction's connection, for reading its type map; a
// statement run on it directly bypasses the transaction's order.
func (t *Tx) Conn() *pgx.Conn { return t.conn }

// CopyRaw runs the COPY statement sql (FROM STDIN) with the data r in this
// transaction. BEGIN and deferred statements without arguments travel in
// the same simple query, before the COPY; deferred statements with
// arguments or a fail function (whose error must be told apart from the
// COPY's) are sent first.
func (t *Tx) CopyRaw(ctx context.Context, r io.Reader, sql string) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	for _, s := range t.queue {
		if len(s.args) > 0 || s.fail != nil {
			if err := t.Flush(ctx); err != nil {
				return err
			}
			break
		}
	}
	if pre := t.take(); len(pre) > 0 {
		sql = joinSQL(pre) + ";\n" + sql
	}
	_, err := t.conn.PgConn().CopyFrom(ctx, r, sql)
	return err
}

// take returns what is to be sent before the next statement — BEGIN when
// it has not been sent, then the deferred statements — and marks them sent.
func (t *Tx) take() []stmt {
	var out []stmt
	if !t.begun {
		out = append(out, stmt{sql: "BEGIN"})
		t.begun = true
	}
	out = append(out, t.queue...)
	t.queue = nil
	return out
}

// send sends what is pending and last (when not nil) in one round trip and
// returns the last statement's command tag.
func (t *Tx) send(ctx context.Context, last *stmt) (pgconn.CommandTag, error) {
	stmts := t.take()
	if last != nil {
		stmts = append(stmts, *last)
	}
	if len(stmts) == 0 {
		return pgconn.CommandTag{}, nil
	}
	simple := true
	for _, s := range stmts {
		if len(s.args) > 0 {
			simple = false
			break
		}
	}
	if simple {
		results, err := t.conn.PgConn().Exec(ctx, joinSQL(stmts)).ReadAll()
		if err != nil {
			// The statements before the failed one each gave a result
			// without an error; the failed one's result (if any) has it.
			i := 0
			for i < len(results) && results[i].Err == nil {
				i++
			}
			if i < len(stmts) {
				return pgconn.CommandTag{}, stmts[i].failed(err)
			}
			return pgconn.CommandTag{}, err
		}
		if len(results) == 0 {
			return pgconn.CommandTag{}, nil
		}
		return results[len(results)-1].CommandTag, nil
	}
	var b pgx.Batch
	for _, s := range stmts {
		b.Queue(s.sql, s.args...)
	}
	br := t.conn.SendBatch(ctx, &b)
	var tag pgconn.CommandTag
	for i := range stmts {
		ct, err := br.Exec()
		if err != nil {
			br.Close() //nolint:errcheck // err is the batch's first error
			return pgconn.CommandTag{}, stmts[i].failed(err)
		}
		tag = ct
	}
	return tag, br.Close()
}

// Commit sends everything deferred and COMMIT in one round trip. A
// transaction that sent nothing commits nothing. After an error the
// transaction is still open (aborted) and Rollback ends it.
func (t *Tx) Commit(ctx context.Context) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	if !t.begun && len(t.queue) == 0 {
		t.closed = true
		return nil
	}
	tag, err := t.send(ctx, &stmt{sql: "COMMIT"})
	if err != nil {
		return err
	}
	t.closed = true
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// Rollback ends the transaction if Commit did not; a no-op after Commit.
// A failed ROLLBACK closes the connection: its state is not known.
func (t *Tx) Rollback(ctx context.Context) error {
	if t.closed {
		return nil
	}
	t.closed = true
	t.queue = nil
	if !t.begun {
		return nil
	}
	if _, err := t.conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.conn.Close(ctx) //nolint:errcheck // err is returned
		return err
	}
	return nil
}

func joinSQL(stmts []stmt) string {
	if len(stmts) == 1 {
		return stmts[0].sql
	}
	var b strings.Builder
	for i, s := range stmts {
		if i > 0 {
			b.WriteString(";\n")
		}
		b.WriteString(s.sql)
	}
	return b.String()
}

// errRow is a pgx.Row whose Scan returns err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
