package pgwrite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrFenced means another consumer has claimed the partition since this one
// did: the write must roll back and the partition be given up.
var ErrFenced = errors.New("fenced: another consumer owns the partition now")

// Class says what the pipeline may do after a failed write.
type Class int

const (
	// Transient: the server cannot have kept a partial effect and the same
	// write may succeed later (connection lost, serialization failure,
	// deadlock, admin shutdown, too many connections). Retried with backoff.
	Transient Class = iota + 1
	// Data: the rows themselves are rejected (SQLSTATE classes 22 and 23).
	// Retrying the same rows cannot succeed.
	Data
	// Systemic: the table, the schema or the permissions are wrong (42xxx,
	// disk full …). Retrying does not help until an operator acts.
	Systemic
	// Fenced: exactly-once delivery found that another consumer has claimed
	// the partition; the transaction rolled back and the partition must be
	// given up. Not an error of the pipeline.
	Fenced
)

func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Data:
		return "data"
	case Systemic:
		return "systemic"
	case Fenced:
		return "fenced"
	}
	return "unknown"
}

// Classify decides whether err, returned by a write transaction, is worth
// retrying. It looks at SQLSTATEs and error types, never at message text.
// A lost connection is transient whatever was in flight: a transaction that
// was not acknowledged as committed is rolled back by the server, or — for a
// COMMIT lost in flight — may have committed, which at-least-once delivery
// tolerates (the batch is written again; upserts and raw mode are idempotent).
func Classify(err error) Class {
	if err == nil {
		return 0
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return classifySQLState(pgErr.Code)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller's context ended; the caller decides what that means.
		return Transient
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return Transient
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return Transient
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Transient
	}
	var lost *ConnLostError
	if errors.As(err, &lost) {
		return Transient
	}
	if errors.Is(err, ErrFenced) {
		return Fenced
	}
	// Anything else did not come from the server nor from a broken
	// connection (a value pgx cannot encode, a bug): retrying the same rows
	// would fail the same way.
	return Systemic
}

// ConnLostError marks a write whose connection was closed by the failure:
// whatever the error text, the server either rolled the transaction back or
// (for a COMMIT lost in flight) committed it, and trying again is safe for
// at-least-once delivery.
type ConnLostError struct{ Err error }

func (e *ConnLostError) Error() string { return "connection lost: " + e.Err.Error() }
func (e *ConnLostError) Unwrap() error { return e.Err }

func classifySQLState(code string) Class {
	switch code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"57P01", // admin_shutdown
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now
		"53300", // too_many_connections
		"55P03", // lock_not_available
		"55006", // object_in_use
		"25P03", // idle_in_transaction_session_timeout
		"57014", // query_canceled (statement_timeout, pg_cancel_backend)
		"25006": // read_only_sql_transaction: a failover left us on a replica, or the primary is read-only for now
		return Transient
	}
	if len(code) < 2 {
		return Systemic
	}
	switch code[:2] {
	case "08": // connection exceptions
		return Transient
	case "28": // invalid authorization: the server refused a login
		// Only a new connection meets it: during a run, a password rotated
		// on the server before postgres.password_file caught up (or the
		// reverse). Retried until the two agree; at start-up the first
		// connection fails at once, outside this classification.
		return Transient
	case "22", "23": // data exception, integrity constraint violation
		return Data
	case "53": // insufficient resources: disk full, out of memory
		return Systemic
	}
	return Systemic
}

// WriteError is a failed batch write that will not be retried.
type WriteError struct {
	Table string // quoted, schema-qualified
	Class Class
	// FirstOffset and LastOffset bound the batch (one partition).
	Topic                   string
	Partition               int32
	FirstOffset, LastOffset int64
	Err                     error
}

func (e *WriteError) Error() string {
	msg := e.Reason()
	return fmt.Sprintf("writing %s: %s error for topic %s partition %d offsets %d..%d: %s",
		e.Table, e.Class, e.Topic, e.Partition, e.FirstOffset, e.LastOffset, msg)
}

func (e *WriteError) Unwrap() error { return e.Err }

// Reason is the database's complaint without the batch coordinates, for a
// dead letter: message, SQLSTATE, column, constraint and detail.
func (e *WriteError) Reason() string {
	var pgErr *pgconn.PgError
	if !errors.As(e.Err, &pgErr) {
		return e.Err.Error()
	}
	msg := fmt.Sprintf("%s (SQLSTATE %s", pgErr.Message, pgErr.Code)
	if pgErr.ColumnName != "" {
		msg += ", column " + pgErr.ColumnName
	}
	if pgErr.ConstraintName != "" {
		msg += ", constraint " + pgErr.ConstraintName
	}
	msg += ")"
	if pgErr.Detail != "" {
		msg += ": " + pgErr.Detail
	}
	return msg + PoolerHint(e.Err)
}

// PoolerHint is a hint appended to an error that looks like session state
// lost between transactions — what a transaction-mode pooler does when
// postgres.pooler is not set — or "".
func PoolerHint(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return ""
	}
	if pgErr.Code == "26000" || // invalid_sql_statement_name: a prepared statement is gone
		(pgErr.Code == "42P01" && strings.Contains(pgErr.Message, `"kafka2pg_`)) { // a staging table is gone
		return "; if postgres.url goes through a transaction-mode pooler (PgBouncer pool_mode=transaction), set postgres.pooler: transaction"
	}
	return ""
}

// IsUndefinedTable reports an error saying that a table, or the schema it
// would be in, does not exist (SQLSTATE 42P01, 3F000).
func IsUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000")
}

// IsTransient reports an error a retry may cure (see Classify).
func IsTransient(err error) bool { return Classify(err) == Transient }
