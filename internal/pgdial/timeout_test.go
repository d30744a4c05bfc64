package pgdial_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/pgdial"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
)

// These tests are in package pgdial_test because they check how pgwrite
// classifies the errors, and pgwrite imports pgdial.

func TestIOTimeoutEndsASilentConnect(t *testing.T) {
	addr := pgdial.Silent(t)
	pg := config.Postgres{URL: "postgres://u:secret-pw@" + addr + "/db?sslmode=disable", IOTimeout: config.Duration(time.Second)}
	start := time.Now()
	_, err := pgdial.Connect(context.Background(), pg, "test")
	took := time.Since(start)
	var ioErr *pgdial.IOTimeoutError
	if !errors.As(err, &ioErr) {
		t.Fatalf("Connect to a silent server: %v, want an *IOTimeoutError", err)
	}
	if took < time.Second || took > 10*time.Second {
		t.Errorf("gave up after %s, want about the 1s io_timeout", took)
	}
	if !pgwrite.IsTransient(err) {
		t.Errorf("Classify = %s, want transient", pgwrite.Classify(err))
	}
}

func TestIOConnDeadlines(t *testing.T) {
	addr := pgdial.Silent(t)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := pgdial.NewIOConn(raw, 300*time.Millisecond)
	defer c.Close()
	buf := make([]byte, 1)

	// A cancelled context (pgconn sets a deadline in the past) ends a read
	// at once, and the error is not an io_timeout.
	_ = c.SetDeadline(time.Now())
	start := time.Now()
	_, err = c.Read(buf)
	var ioErr *pgdial.IOTimeoutError
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ioErr) || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("read after a past deadline: %v after %s", err, time.Since(start))
	}
	// Cleared again, the io_timeout bounds the read.
	_ = c.SetDeadline(time.Time{})
	start = time.Now()
	_, err = c.Read(buf)
	if !errors.As(err, &ioErr) || ioErr.Op != "read" {
		t.Fatalf("read from a silent peer: %v, want an *IOTimeoutError", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("read gave up after %s, want about 300ms", d)
	}
	// The io_timeout closed the connection: what comes next fails at once,
	// with the same message, and is not a timeout (pgconn waits on a
	// timed-out connection to drain it; on a closed one it gives up).
	start = time.Now()
	_, err = c.Read(buf)
	var netErr net.Error
	if !errors.As(err, &ioErr) || !errors.As(err, &netErr) || netErr.Timeout() || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("read after the io_timeout: %v (timeout %v) after %s; want at once, an *IOTimeoutError that is not a timeout", err, netErr != nil && netErr.Timeout(), time.Since(start))
	}
	if !pgwrite.IsTransient(err) {
		t.Errorf("after the io_timeout: Classify = %s, want transient", pgwrite.Classify(err))
	}
	if _, err := c.Write(buf); !errors.As(err, &ioErr) {
		t.Errorf("write after the io_timeout: %v, want an *IOTimeoutError", err)
	}
	raw, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c = pgdial.NewIOConn(raw, 300*time.Millisecond)
	defer c.Close()
	// A later deadline than the io_timeout does not extend it.
	_ = c.SetReadDeadline(time.Now().Add(time.Hour))
	start = time.Now()
	if _, err = c.Read(buf); !errors.As(err, &ioErr) || time.Since(start) > 3*time.Second {
		t.Fatalf("read with an hour's deadline: %v after %s", err, time.Since(start))
	}
}
