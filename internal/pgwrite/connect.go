package pgwrite

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// Every connection kafka2pg opens to PostgreSQL is set up here: the pool of
// a pipeline or a replay, and the single connections of start-up, check and
// the offsets commands.

// ConnConfig is the connection configuration of postgres.url, with
// application_name set to app unless the URL sets it.
func ConnConfig(pg config.Postgres, app string) (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig(pg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres.url: %w", err)
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = app
	}
	return cc, nil
}

// Connect opens one connection.
func Connect(ctx context.Context, pg config.Postgres, app string) (*pgx.Conn, error) {
	cc, err := ConnConfig(pg, app)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	return conn, nil
}

// NewPool opens a pool of at most maxConns connections. tables, when not
// nil, is asked on every new connection for the tables whose types (enums)
// the connection must learn.
func NewPool(ctx context.Context, pg config.Postgres, app string, maxConns int, tables func() []*table.Table) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(pg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres.url: %w", err)
	}
	cc, err := ConnConfig(pg, app)
	if err != nil {
		return nil, err
	}
	pc.ConnConfig = cc
	pc.MaxConns = int32(maxConns)
	if tables != nil {
		pc.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
			table.RegisterTypes(c.TypeMap(), tables())
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	return pool, nil
}
