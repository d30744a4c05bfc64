//go:build race

package coerce_test

// The race detector makes sync.Pool drop buffers at random, so allocation
// counts are not stable under it.
const raceEnabled = true
