package pgdial

import (
	"net"
	"time"
)

// Silent is silent, for the tests of package pgdial_test.
var Silent = silent

// NewIOConn wraps c as the io_timeout dialer does.
func NewIOConn(c net.Conn, timeout time.Duration) net.Conn {
	return &ioConn{Conn: c, timeout: timeout}
}
