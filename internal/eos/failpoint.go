//go:build failpoint

package eos

import (
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// failpoint is KAFKA2PG_FAILPOINT=after-pg-commit:P, read once: after a
// batch's PostgreSQL transaction commits and before its offset is reported
// anywhere else, the process kills itself with probability P. Only binaries
// built with the failpoint tag (the end-to-end tests' binary) have it; the
// chaos tests use it to crash in the window between the two commits.
var failpoint = func() float64 {
	v, ok := strings.CutPrefix(os.Getenv("KAFKA2PG_FAILPOINT"), "after-pg-commit:")
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return f
}()

// AfterCommit is the failpoint between a batch's PostgreSQL commit and the
// report of its offset.
func AfterCommit(log *slog.Logger) {
	if failpoint > 0 && rand.Float64() < failpoint {
		log.Warn("failpoint after-pg-commit: killing the process")
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
