// Package pgdial opens kafka2pg's connections to PostgreSQL: single
// connections, pools, and the advisory lock held on a connection of its own.
package pgdial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// Every connection kafka2pg opens to PostgreSQL is set up here: the pool of
// a pipeline or a replay, and the single connections of start-up, check and
// the offsets commands. Three settings shape them all:
//
//   - postgres.password_file: the password is read from the file at every
//     new connection, so a rotated secret is picked up on the next reconnect;
//   - postgres.io_timeout: every read and write on the socket has a deadline
//     (and the socket TCP keepalives and a TCP user timeout), so a path that
//     silently drops packets fails the statement within the bound instead of
//     hanging until the kernel gives up, minutes later;
//   - postgres.pooler: transaction: no session state outlives a transaction
//     (no prepared statements, staging tables created per transaction).

// poolerKey marks, in a connection's CustomData, a connection through a
// transaction-mode pooler.
const poolerKey = "kafka2pg.pooler"

// ConnConfig is the connection configuration of postgres.url, with
// application_name set to app unless the URL sets it, the password read from
// postgres.password_file when set, and the io_timeout and pooler settings
// applied.
func ConnConfig(pg config.Postgres, app string) (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig(pg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres.url: %w", err)
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = app
	}
	if err := setPassword(&cc.Config, pg); err != nil {
		return nil, err
	}
	if t := time.Duration(pg.IOTimeout); t > 0 {
		cc.DialFunc = ioDialer(t, cc.ConnectTimeout)
	}
	if pg.Pooler == config.PoolerTransaction {
		// Named prepared statements live in one server session, which a
		// transaction-mode pooler does not keep: every statement is sent
		// with the extended protocol and an unnamed statement instead.
		cc.DefaultQueryExecMode = pgx.QueryExecModeExec
		cc.StatementCacheCapacity = 0
		cc.DescriptionCacheCapacity = 0
	}
	return cc, nil
}

// setPassword reads postgres.password_file into c.
func setPassword(c *pgconn.Config, pg config.Postgres) error {
	if pg.PasswordFile == "" {
		return nil
	}
	pw, err := config.ReadSecret(pg.PasswordFile)
	if err != nil {
		return fmt.Errorf("postgres.password_file: %w", err)
	}
	c.Password = pw
	return nil
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
	markPooler(conn, pg)
	return conn, nil
}

func markPooler(conn *pgx.Conn, pg config.Postgres) {
	if pg.Pooler == config.PoolerTransaction {
		conn.PgConn().CustomData()[poolerKey] = true
	}
}

// ThroughPooler reports whether conn goes through a transaction-mode pooler.
func ThroughPooler(conn *pgx.Conn) bool {
	return conn.PgConn().CustomData()[poolerKey] != nil
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
	if pg.PasswordFile != "" {
		// Read again for every new connection: a rotated password is
		// used from the next reconnect on.
		pc.BeforeConnect = func(_ context.Context, c *pgx.ConnConfig) error {
			return setPassword(&c.Config, pg)
		}
	}
	pc.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		markPooler(c, pg)
		if tables != nil {
			table.RegisterTypes(c.TypeMap(), tables())
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	return pool, nil
}

// ioDialer dials with TCP keepalives and a TCP user timeout of t, and wraps
// the connection so that every read and write has a deadline of t.
// connectTimeout (the URL's connect_timeout) bounds the dial; without it t
// does.
func ioDialer(t, connectTimeout time.Duration) pgconn.DialFunc {
	d := &net.Dialer{
		Timeout: t,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable:   true,
			Idle:     max(t/3, time.Second),
			Interval: max(t/9, time.Second),
			Count:    3,
		},
		Control: userTimeout(t),
	}
	if connectTimeout > 0 {
		d.Timeout = connectTimeout
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &ioConn{Conn: c, timeout: t}, nil
	}
}

// ioConn gives every Read and Write a deadline of timeout from its start,
// or the deadline pgconn set (a cancelled context sets one in the past),
// whichever is earlier. A read is not given up while writes make progress:
// the server owes no answer while it is still being sent data (pgconn
// reads in the background during a COPY, which may take longer than
// timeout on a slow link), so a read fails only after timeout without
// progress in either direction.
type ioConn struct {
	net.Conn
	timeout time.Duration

	mu        sync.Mutex
	rd, wd    time.Time // the deadlines pgconn set; zero: none
	lastWrite time.Time // when a write last moved bytes
	failed    *closedByTimeout
}

// IOTimeoutError is a read or write on a PostgreSQL connection that made no
// progress for postgres.io_timeout. The connection is closed after it.
type IOTimeoutError struct {
	Op    string        // "read" or "write"
	After time.Duration // the io_timeout
	Err   error
}

func (e *IOTimeoutError) Error() string {
	if e.Op == "write" {
		return fmt.Sprintf("PostgreSQL took no data for %s (postgres.io_timeout): %v", e.After, e.Err)
	}
	return fmt.Sprintf("no answer from PostgreSQL for %s (postgres.io_timeout): %v", e.After, e.Err)
}
func (e *IOTimeoutError) Unwrap() error   { return e.Err }
func (e *IOTimeoutError) Timeout() bool   { return true }
func (e *IOTimeoutError) Temporary() bool { return true }

func (c *ioConn) deadline(set time.Time) (time.Time, bool) {
	d := time.Now().Add(c.timeout)
	if !set.IsZero() && set.Before(d) {
		return set, false
	}
	return d, true
}

func (c *ioConn) Read(b []byte) (int, error) {
	if err := c.closedErr(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	d, ours := c.deadline(c.rd)
	err := c.Conn.SetReadDeadline(d)
	c.mu.Unlock()
	for err == nil {
		var n int
		n, err = c.Conn.Read(b)
		if err == nil || !ours || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		c.mu.Lock()
		next := c.lastWrite.Add(c.timeout)
		if !time.Now().Before(next) {
			c.mu.Unlock()
			return n, c.timedOut("read", err)
		}
		// Still sending: wait up to timeout after the last write.
		if !c.rd.IsZero() && c.rd.Before(next) {
			next, ours = c.rd, false
		}
		err = c.Conn.SetReadDeadline(next)
		c.mu.Unlock()
	}
	return 0, err
}

func (c *ioConn) Write(b []byte) (int, error) {
	if err := c.closedErr(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	d, ours := c.deadline(c.wd)
	err := c.Conn.SetWriteDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.mu.Lock()
		c.lastWrite = time.Now()
		c.mu.Unlock()
	}
	if err != nil && ours && errors.Is(err, os.ErrDeadlineExceeded) {
		err = c.timedOut("write", err)
	}
	return n, err
}

// timedOut closes the connection and returns the io_timeout error. pgconn
// keeps a connection open after a timeout (it takes one for a cancelled
// context) and reads on to drain the statement, which would wait for a
// second io_timeout: closed, the connection fails at once instead.
func (c *ioConn) timedOut(op string, err error) error {
	ioErr := &IOTimeoutError{Op: op, After: c.timeout, Err: err}
	c.mu.Lock()
	c.failed = &closedByTimeout{ioErr}
	c.mu.Unlock()
	_ = c.Conn.Close()
	return ioErr
}

// closedByTimeout is what a connection closed by its io_timeout answers
// from then on: the same message, but not a timeout (net.Error's Timeout is
// false), so that pgconn gives the connection up instead of waiting on it.
type closedByTimeout struct{ *IOTimeoutError }

func (e *closedByTimeout) Unwrap() error   { return e.IOTimeoutError }
func (e *closedByTimeout) Timeout() bool   { return false }
func (e *closedByTimeout) Temporary() bool { return true }

// closedErr is the error of a connection its io_timeout closed, or nil.
func (c *ioConn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed == nil {
		return nil
	}
	return c.failed
}

func (c *ioConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd, c.wd = t, t
	d, _ := c.deadline(t)
	return c.Conn.SetDeadline(d)
}

func (c *ioConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd = t
	d, _ := c.deadline(t)
	return c.Conn.SetReadDeadline(d)
}

func (c *ioConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wd = t
	d, _ := c.deadline(t)
	return c.Conn.SetWriteDeadline(d)
}
