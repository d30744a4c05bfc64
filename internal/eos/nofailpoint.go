//go:build !failpoint

package eos

import "log/slog"

// AfterCommit is the failpoint between a batch's PostgreSQL commit and the
// report of its offset; it does nothing in a build without the failpoint
// tag.
func AfterCommit(*slog.Logger) {}
