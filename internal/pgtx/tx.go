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
//     (Defer, and DeferCopy for a COPY and its data): it waits, in order,
//     and travels with the next statement whose answer is read — an Exec, a
//     query — and at the latest with COMMIT.
//
// Everything that travels together is written as one stream of protocol
// messages before any answer is read, so it costs one round trip: runs of
// statements without arguments (and COPYs, followed by their data) as
// simple-protocol queries, runs of statements with arguments as
// extended-protocol messages ending in a Sync. A batch of one table's
// inserts with the exactly-once offset is one round trip ("BEGIN; COPY …",
// its data, the offset update, COMMIT) where pgx's Tx takes four, and so is
// an upsert batch ("BEGIN; COPY" into the staging table, its data, the
// upsert, COMMIT).
//
// A statement with arguments is prepared, on a connection that caches
// statements, before its exchange is written: in a transaction a failed
// statement aborted, send ROLLBACK TO SAVEPOINT on its own (Exec) before
// one that is new to the connection.
//
// Statements run in the order they were given. A statement's error is
// returned by the call that sent it, passed through the statement's own
// fail function, and aborts the transaction exactly as it would have on its
// own: every statement after it fails or is skipped, COMMIT included, so
// nothing of the transaction commits. The server answers what follows a
// failed statement in the same stream without running it: the rest of a
// simple query is discarded, extended messages are skipped up to their
// Sync, a later query fails because the transaction is aborted, and copy
// data outside a COPY is dropped.
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
	// data, when not nil, is the data of sql, a COPY … FROM STDIN.
	data io.Reader
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
// returned by the call that sends it. sql is one statement: answers are
// matched to statements by counting them.
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

// DeferCopy queues the COPY … FROM STDIN statement sql with its data r, to
// be sent like a deferred statement: r is read then, and must stay valid
// until the transaction's next statement whose answer is read (at the
// latest Commit). A read error from r fails the COPY (CopyFail, with the
// error's text, which the server's error repeats); like any error of the
// COPY, it reaches the caller through fail.
func (t *Tx) DeferCopy(sql string, r io.Reader, fail func(error) error) {
	t.queue = append(t.queue, stmt{sql: sql, data: r, fail: fail})
}

// CopyRaw runs the COPY statement sql (FROM STDIN) with the data r in this
// transaction, after everything deferred, in one round trip.
func (t *Tx) CopyRaw(ctx context.Context, r io.Reader, sql string) error {
	if t.closed {
		return pgx.ErrTxClosed
	}
	_, err := t.send(ctx, &stmt{sql: sql, data: r})
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
	return exchange(ctx, t.conn, stmts)
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
