package pipeline

import (
	"sync/atomic"
	"time"
)

// stats are the running totals behind the progress log line and the
// metrics. All fields are safe for concurrent use.
type stats struct {
	records    atomic.Int64 // records whose effect is durable (rows + skipped)
	rows       atomic.Int64 // rows written
	skipped    atomic.Int64 // records with no effect: tombstones a route does not delete on, Debezium truncates
	filtered   atomic.Int64 // records a route's filter excluded (and no other route wrote)
	batches    atomic.Int64
	retries    atomic.Int64
	dead       atomic.Int64 // records sent to the dead-letter queue
	superseded atomic.Int64 // upsert changes folded into a later change of their key
	batchNano  atomic.Int64
	// batch.backlog_merge: rows staged, and merges whose records were read
	// again and written batch by batch
	staged, replays atomic.Int64
}

func (s *stats) observeBatch(rows int, d time.Duration) {
	s.rows.Add(int64(rows))
	s.batches.Add(1)
	s.batchNano.Add(int64(d))
}
