package pgdial

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kafka2pg/kafka2pg/config"
)

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
