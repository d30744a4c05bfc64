package ddl

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// QuoteList quotes column names for SQL text.
func QuoteList(cols []string, prefix string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix)
		b.WriteString(pgx.Identifier{c}.Sanitize())
	}
	return b.String()
}

// ddlLockKey is the advisory lock every kafka2pg instance takes around the
// DDL it runs at start: CREATE TABLE IF NOT EXISTS is not safe against a
// concurrent twin (one of them fails on pg_type's unique index), and a group
// of instances usually starts together.
const ddlLockKey = 0x6b61666b61327067 // "kafka2pg"

// Execer is what CreateIfMissing and the offset store (eos.OffsetStore)
// need of a connection, pool or transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CreateIfMissing runs a CREATE … IF NOT EXISTS statement serialised across
// instances by a transaction-scoped advisory lock. Both statements go in one
// simple-protocol query, which PostgreSQL runs as one transaction (or inside
// q's transaction when q is one).
func CreateIfMissing(ctx context.Context, q Execer, ddl string) error {
	_, err := q.Exec(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d);\n%s", int64(ddlLockKey), ddl))
	return err
}
