//go:build !linux

package pgdial

import (
	"syscall"
	"time"
)

// userTimeout is a no-op where TCP_USER_TIMEOUT does not exist; the read
// and write deadlines still bound every wait.
func userTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
