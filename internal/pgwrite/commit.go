package pgwrite

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafka2pg/kafka2pg/internal/pgdial"
	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// Change is rows for one table, in record order, written with W.
type Change struct {
	W    *Writer
	Rows []table.Row
	// Superseded is set by Commit: how many of Rows (upsert mode) were
	// folded into a later change of the same key in the same batch, and so
	// never sent on their own — the database never checked them.
	Superseded int
}

// Commit applies changes in one transaction on a connection from pool —
// every table's deletes in the reverse order of changes, then every table's
// writes in their order (changes lists parents before children) — then runs
// hook (dead letters, the exactly-once offset
// update) in the same transaction. Either every effect is committed or none
// is; hook's error rolls everything back. Commit does not retry: the caller
// classifies the error (Classify) and decides. A connection that the failure
// closed is reported as a *ConnLostError.
func Commit(ctx context.Context, pool *pgxpool.Pool, changes []Change, hook func(context.Context, *pgtx.Tx) error) error {
	// The plans (upsert mode: each key's last change) are made before a
	// connection is taken: a connection is not held while this process
	// works alone.
	plans := make([]*plan, 0, len(changes))
	for i, c := range changes {
		if len(c.Rows) > 0 {
			p := c.W.prepare(c.Rows)
			changes[i].Superseded = p.superseded
			plans = append(plans, p)
		}
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	err = commit(ctx, conn.Conn(), changes, plans, hook)
	if err != nil && conn.Conn().IsClosed() {
		return &ConnLostError{Err: err}
	}
	return err
}

func commit(ctx context.Context, conn *pgx.Conn, changes []Change, plans []*plan, hook func(context.Context, *pgtx.Tx) error) error {
	pooler := pgdial.ThroughPooler(conn)
	if !pooler {
		for _, c := range changes {
			if err := c.W.ensureStages(ctx, conn); err != nil {
				return err
			}
		}
	}
	if hook == nil && len(changes) == 1 {
		// One table, inserts only, nothing else in the transaction: a
		// single COPY is its own transaction.
		if done, err := changes[0].W.oneCopy(ctx, conn, changes[0].Rows); done || err != nil {
			return err
		}
	}
	// BEGIN travels with the first statement, and the statements whose
	// answer is only success or failure (the upserts, the offset update,
	// dead letters) with the next one that is read, at the latest COMMIT.
	tx := pgtx.Begin(conn)
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if pooler {
		for _, p := range plans {
			if err := p.createStages(ctx, tx); err != nil {
				return err
			}
		}
	}
	// Deletes children first, writes parents first: a foreign key between
	// the tables (declared in route order) never fails on order.
	for i := len(plans) - 1; i >= 0; i-- {
		if err := plans[i].deletePhase(ctx, tx); err != nil {
			return err
		}
	}
	for _, p := range plans {
		if err := p.writePhase(ctx, tx); err != nil {
			return err
		}
	}
	if hook != nil {
		if err := hook(ctx, tx); err != nil {
			return err
		}
	}
	pause("pause-before-commit")
	return tx.Commit(ctx)
}
