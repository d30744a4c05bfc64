package pgtx

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// exchange sends stmts on conn as one stream of protocol messages, then
// reads every answer: one round trip (plus, the first time a statement with
// arguments is sent on a connection that caches statements, the round trip
// that prepares it). It returns the last statement's command tag, or the
// first failed statement's error passed through its fail function.
//
// The stream is cut into segments, each answered by one ReadyForQuery:
//   - a run of statements without arguments is one simple query (a COPY's
//     data follows the query, in order);
//   - a run of statements with arguments is Bind and Execute messages
//     (Parse first for an unnamed statement) ending in a Sync.
//
// Nothing is read before everything is written. The server sends little
// while it reads (ParseComplete, BindComplete, an error), far less than a
// socket's buffers hold, so it never waits on the client to read.
func exchange(ctx context.Context, conn *pgx.Conn, stmts []stmt) (pgconn.CommandTag, error) {
	binds, err := encode(ctx, conn, stmts)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	// A write blocked on the socket ends when ctx does (reads are watched
	// by pgconn); the connection is given up then.
	nc := conn.PgConn().Conn()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) }) //nolint:errcheck // the write fails either way
	segs, err := write(ctx, conn.PgConn().Frontend(), stmts, binds)
	if !stop() {
		if err == nil {
			err = ctx.Err()
		} else {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
	}
	if err != nil {
		return pgconn.CommandTag{}, broken(conn, "writing to", err)
	}
	return read(ctx, conn, stmts, segs)
}

// bound is a statement with arguments, ready to send.
type bound struct {
	parse bool // an unnamed statement: Parse is sent before Bind
	bind  pgproto3.Bind
}

// encode prepares (once per connection) and encodes the statements with
// arguments, before anything of the exchange is written: a value that
// cannot be encoded fails the exchange with nothing sent.
//
// On a connection that caches statements (pgx's default mode) each is a
// named prepared statement, encoded for its described parameter types as
// pgx's Exec would; otherwise (through a transaction-mode pooler) an
// unnamed statement with its parameters in text, as pgx's
// QueryExecModeExec sends them.
func encode(ctx context.Context, conn *pgx.Conn, stmts []stmt) ([]*bound, error) {
	var binds []*bound
	prepared := conn.Config().DefaultQueryExecMode == pgx.QueryExecModeCacheStatement
	for i := range stmts {
		s := &stmts[i]
		if len(s.args) == 0 {
			continue
		}
		if binds == nil {
			binds = make([]*bound, len(stmts))
		}
		var sd *pgconn.StatementDescription
		if prepared {
			var err error
			if sd, err = conn.Prepare(ctx, statementName(s.sql), s.sql); err != nil {
				return nil, s.failed(err)
			}
		}
		var eqb pgx.ExtendedQueryBuilder
		if err := eqb.Build(conn.TypeMap(), sd, s.args); err != nil {
			return nil, s.failed(err)
		}
		b := &bound{parse: sd == nil}
		if sd != nil {
			b.bind.PreparedStatement = sd.Name
		}
		b.bind.ParameterFormatCodes = eqb.ParamFormats
		b.bind.Parameters = eqb.ParamValues
		b.bind.ResultFormatCodes = eqb.ResultFormats
		binds[i] = b
	}
	return binds, nil
}

// statementName names the prepared statement of sql on a connection.
func statementName(sql string) string {
	h := sha256.Sum256([]byte(sql))
	return "kafka2pg_" + hex.EncodeToString(h[:12])
}

// segment is stmts[from:to], answered by one ReadyForQuery.
type segment struct{ from, to int }

// write writes stmts, cut into segments, and flushes them.
func write(ctx context.Context, f *pgproto3.Frontend, stmts []stmt, binds []*bound) ([]segment, error) {
	var segs []segment
	for i := 0; i < len(stmts); {
		j := i
		if len(stmts[i].args) == 0 {
			for j < len(stmts) && len(stmts[j].args) == 0 {
				j++
			}
			f.SendQuery(&pgproto3.Query{String: joinSQL(stmts[i:j])})
			for k := i; k < j; k++ {
				if stmts[k].data != nil {
					if err := copyData(ctx, f, stmts[k].data); err != nil {
						return nil, err
					}
				}
			}
		} else {
			for j < len(stmts) && len(stmts[j].args) > 0 {
				b := binds[j]
				if b.parse {
					f.SendParse(&pgproto3.Parse{Query: stmts[j].sql})
				}
				f.SendBind(&b.bind)
				f.SendExecute(&pgproto3.Execute{})
				j++
			}
			f.SendSync(&pgproto3.Sync{})
		}
		segs = append(segs, segment{i, j})
		i = j
	}
	return segs, f.Flush()
}

// copyBufs are CopyData messages being filled: a type byte, a length, and
// up to 64 KiB of data.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 5+64<<10); return &b }}

// copyData sends r as CopyData messages, then CopyDone — or CopyFail with
// r's read error, which the server answers with an error.
func copyData(ctx context.Context, f *pgproto3.Frontend, r io.Reader) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	b := *bp
	b[0] = 'd'
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(b[5:])
		if n > 0 {
			binary.BigEndian.PutUint32(b[1:5], uint32(n+4))
			if err := f.SendUnbufferedEncodedCopyData(b[:5+n]); err != nil {
				return err
			}
		}
		switch {
		case rerr == io.EOF:
			f.Send(&pgproto3.CopyDone{})
			return nil
		case rerr != nil:
			f.Send(&pgproto3.CopyFail{Message: rerr.Error()})
			return nil
		}
	}
}

// read reads the answers of segs and returns the last command tag, or the
// first error attributed to the statement that failed. After a failure
// the server still answers every segment (with errors, or nothing ran),
// and they are read so that the connection is left ready.
func read(ctx context.Context, conn *pgx.Conn, stmts []stmt, segs []segment) (pgconn.CommandTag, error) {
	pg := conn.PgConn()
	var tag pgconn.CommandTag
	var first error
	failed := -1
	for seg, done := 0, 0; seg < len(segs); {
		msg, err := pg.ReceiveMessage(ctx)
		if err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner // pgconn's "receive message failed", which says it is safe to retry
			}
			return pgconn.CommandTag{}, broken(conn, "reading from", err)
		}
		switch m := msg.(type) {
		case *pgproto3.CommandComplete:
			tag = pgconn.NewCommandTag(string(m.CommandTag))
			done++
		case *pgproto3.EmptyQueryResponse:
			done++
		case *pgproto3.ErrorResponse:
			if first == nil {
				first = pgconn.ErrorResponseToPgError(m)
				failed = segs[seg].from + done
			}
		case *pgproto3.ReadyForQuery:
			seg, done = seg+1, 0
		}
	}
	if first != nil {
		if failed < len(stmts) {
			return pgconn.CommandTag{}, stmts[failed].failed(first)
		}
		return pgconn.CommandTag{}, first
	}
	return tag, nil
}

// broken closes conn after a failure of the connection itself during an
// exchange: where the server stands in the stream is not known.
func broken(conn *pgx.Conn, op string, err error) error {
	conn.PgConn().Conn().Close()     //nolint:errcheck // err is the cause
	conn.Close(context.Background()) //nolint:errcheck // already closed
	return &ConnError{Op: op, Err: err}
}

// ConnError is a transaction's connection failing while a statement was
// written or its answer read (a broken or timed-out socket, a cancelled
// context, the server ending the session). The connection is closed. The
// statements already sent may have run: a COMMIT written whole may have
// committed, so the error is never safe to retry blindly (SafeToRetry is
// false, whatever the error it wraps says).
type ConnError struct {
	Op  string // "writing to" or "reading from"
	Err error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("%s PostgreSQL: %v", e.Op, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

// SafeToRetry is false: see ConnError.
func (e *ConnError) SafeToRetry() bool { return false }
