//go:build failpoint

package pgwrite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// failpoints is whether this build has them.
const failpoints = true

// failpointDir is KAFKA2PG_FAILPOINT_DIR, read once. Only binaries built
// with the failpoint tag (the end-to-end tests' binary) have it.
var failpointDir = os.Getenv("KAFKA2PG_FAILPOINT_DIR")

// pause is a test-only failpoint that holds a transaction at point
// ("pause-in-copy": half-way through a COPY's rows; "pause-before-commit":
// just before COMMIT is sent; "pause-before-merge": in a backlog merge's
// transaction, before it reads the staging table) so that a fault test can cut the network in
// that very phase. A file named point in KAFKA2PG_FAILPOINT_DIR arms it
// once: the first connection to reach point removes the file, says so on
// stderr, and sleeps for the duration the file holds (default 2s).
func pause(point string) {
	if failpointDir == "" {
		return
	}
	f := filepath.Join(failpointDir, point)
	b, err := os.ReadFile(f)
	if err != nil || os.Remove(f) != nil {
		return // not armed, or another connection took it
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		d = 2 * time.Second
	}
	fmt.Fprintf(os.Stderr, "failpoint %s: pausing %s\n", point, d)
	time.Sleep(d)
}
