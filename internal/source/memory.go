package source

import (
	"math"
	"os"
	"runtime/debug"

	"github.com/kafka2pg/kafka2pg/config"
)

// memoryLimitSlack is what the derived memory limit allows beyond the
// in-flight budget and the fetch buffers: the runtime, connections, the
// type maps and caches, and batches being encoded for COPY.
const memoryLimitSlack = 24 << 20

// MemoryLimit is the Go runtime soft memory limit for cfg: batch.memory_limit,
// or when that is 0, the in-flight budget plus two fetches plus a fixed
// slack. Live memory is bounded by the budget (records fetched but not
// durable, estimated by RecordSize); the limit keeps the garbage collector
// from letting the heap grow to twice that, which is what sets the
// resident memory with the default GOGC.
func MemoryLimit(cfg *config.Config) int64 {
	if l := int64(cfg.Batch.MemoryLimit); l > 0 {
		return l
	}
	return int64(cfg.Batch.MaxInflightBytes) + 2*int64(cfg.Kafka.FetchMaxBytes) + memoryLimitSlack
}

// ApplyMemoryLimit sets the runtime's soft memory limit to MemoryLimit(cfg)
// unless the GOMEMLIMIT environment variable is set (it wins) or a higher
// limit is already in force (several pipelines in one process: the largest
// wins). It returns the limit in force afterwards (math.MaxInt64: none).
func ApplyMemoryLimit(cfg *config.Config) int64 {
	cur := debug.SetMemoryLimit(-1)
	if os.Getenv("GOMEMLIMIT") != "" {
		return cur
	}
	if l := MemoryLimit(cfg); cur == math.MaxInt64 || l > cur {
		debug.SetMemoryLimit(l)
		return l
	}
	return cur
}
