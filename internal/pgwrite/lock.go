package pgwrite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kafka2pg/kafka2pg/config"
)

// quoteList quotes column names for SQL text.
func quoteList(cols []string, prefix string) string {
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

// TryLock takes the advisory lock named key on a connection of its own and
// holds it until release is called (or the process dies: the server frees
// it with the session). ok is false when another session holds it. Behind a
// transaction-mode pooler a session lock would stay with the server
// connection after release, so the lock is a transaction's, held open.
func TryLock(ctx context.Context, pg config.Postgres, app, key string) (release func(), ok bool, err error) {
	conn, err := Connect(ctx, pg, app)
	if err != nil {
		return nil, false, err
	}
	closeConn := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}
	var q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	} = conn
	fn := "pg_try_advisory_lock"
	if pg.Pooler == config.PoolerTransaction {
		tx, err := conn.Begin(ctx)
		if err != nil {
			closeConn()
			return nil, false, err
		}
		q, fn = tx, "pg_try_advisory_xact_lock"
	}
	if err := q.QueryRow(ctx, "SELECT "+fn+"(hashtextextended($1, 0))", key).Scan(&ok); err != nil || !ok {
		closeConn()
		return nil, false, err
	}
	return closeConn, true, nil
}
