//go:build failpoint

package source

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// failpointDir is KAFKA2PG_FAILPOINT_DIR, read once. Only binaries built
// with the failpoint tag (the end-to-end tests' binary) have it.
var failpointDir = os.Getenv("KAFKA2PG_FAILPOINT_DIR")

// hold is a test-only failpoint: while a file named point exists in
// KAFKA2PG_FAILPOINT_DIR, it blocks (the poll loop, for "hold-fetch": the
// records just fetched are handed over only once the file is removed, so
// fetching makes no progress while the group membership stays healthy).
func hold(ctx context.Context, point string) {
	if failpointDir == "" {
		return
	}
	f := filepath.Join(failpointDir, point)
	for {
		if _, err := os.Stat(f); err != nil || ctx.Err() != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
