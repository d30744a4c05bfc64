package source

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/kafka2pg/kafka2pg/config"
)

func TestMemoryLimit(t *testing.T) {
	cfg := &config.Config{}
	cfg.Batch.MaxInflightBytes = 64 * config.MiB
	cfg.Kafka.FetchMaxBytes = 4 * config.MiB
	if got, want := MemoryLimit(cfg), int64(96<<20); got != want {
		t.Fatalf("derived limit %d, want %d", got, want)
	}
	cfg.Batch.MemoryLimit = 300 * config.MiB
	if got := MemoryLimit(cfg); got != 300<<20 {
		t.Fatalf("set limit %d, want 300MiB", got)
	}

	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "")
	debug.SetMemoryLimit(math.MaxInt64)
	if got := ApplyMemoryLimit(cfg); got != 300<<20 || debug.SetMemoryLimit(-1) != 300<<20 {
		t.Fatalf("applied %d", got)
	}
	cfg.Batch.MemoryLimit = 100 * config.MiB // a lower one does not lower it
	if got := ApplyMemoryLimit(cfg); got != 300<<20 {
		t.Fatalf("a lower limit replaced a higher one: %d", got)
	}
	t.Setenv("GOMEMLIMIT", "1GiB") // the environment wins
	debug.SetMemoryLimit(math.MaxInt64)
	if got := ApplyMemoryLimit(cfg); got != math.MaxInt64 {
		t.Fatalf("GOMEMLIMIT set, yet the limit became %d", got)
	}
}
