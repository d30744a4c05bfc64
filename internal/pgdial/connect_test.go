package pgdial

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kafka2pg/kafka2pg/config"
)

// silent accepts connections and never answers nor closes them: a
// blackholed path as a client sees it.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// drain accepts connections and reads everything sent, never answering: a
// server taking a long COPY.
func drain(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// A read waiting for the server's answer while the client is still sending
// (pgconn reads in the background during a COPY) is not given up while the
// writes make progress, however long they take; it is once they stop.
func TestIOConnReadWhileWriting(t *testing.T) {
	raw, err := net.Dial("tcp", drain(t))
	if err != nil {
		t.Fatal(err)
	}
	c := &ioConn{Conn: raw, timeout: 300 * time.Millisecond}
	defer c.Close()
	stop := make(chan struct{})
	wrote := make(chan time.Time, 1)
	go func() {
		last := time.Now()
		defer func() { wrote <- last }()
		for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
			if _, err := c.Write(make([]byte, 512)); err != nil {
				return
			}
			last = time.Now()
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	_, err = c.Read(make([]byte, 1))
	close(stop)
	last := <-wrote
	var ioErr *IOTimeoutError
	if !errors.As(err, &ioErr) || ioErr.Op != "read" {
		t.Fatalf("read: %v, want an *IOTimeoutError once the writes stopped", err)
	}
	if took := time.Since(start); took < 1400*time.Millisecond {
		t.Errorf("read gave up after %s while writes went on for 1.5s", took)
	}
	if after := time.Since(last); after < 250*time.Millisecond || after > 2*time.Second {
		t.Errorf("read gave up %s after the last write, want about the 300ms io_timeout", after)
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	if err := os.WriteFile(f, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cc, err := ConnConfig(config.Postgres{URL: "postgres://u@127.0.0.1/db", PasswordFile: f}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if cc.Password != "s3cret-from-file" {
		t.Errorf("password = %q, want the file's content without the newline", cc.Password)
	}
	_, err = ConnConfig(config.Postgres{URL: "postgres://u@127.0.0.1/db", PasswordFile: filepath.Join(dir, "missing")}, "test")
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing password file: %v", err)
	}
	if got := err.Error(); got != "postgres.password_file: reading "+filepath.Join(dir, "missing")+": no such file or directory" {
		t.Errorf("error = %q", got)
	}
}
