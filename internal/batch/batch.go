// Package batch holds the batching policy and the one bisection that
// isolates the rows a database rejects, used by the partition workers and by
// dead-letter replay alike.
package batch

import (
	"time"

	"github.com/kafka2pg/kafka2pg/config"
)

// Policy says when a batch is written: at MaxRows rows, at MaxBytes bytes of
// record data, or MaxWait after its first record (0: whatever one poll
// returned); with Adaptive also as soon as no more records are queued for
// it (group commit: records that arrive during a write make the next
// batch, so batches grow with the rate and the write time).
type Policy struct {
	MaxRows  int
	MaxBytes int64
	MaxWait  time.Duration
	Adaptive bool
}

// FromConfig is the policy of the batch section.
func FromConfig(b config.Batch) Policy {
	return Policy{MaxRows: b.MaxRows, MaxBytes: int64(b.MaxBytes), MaxWait: time.Duration(b.MaxWait), Adaptive: !b.Linger}
}

// Full reports whether a batch of rows rows and bytes bytes must be written now.
func (p Policy) Full(rows int, bytes int64) bool {
	return rows >= p.MaxRows || bytes >= p.MaxBytes
}

// Isolate writes the items [0, n) with write, splitting the range whenever
// write fails with an error that split accepts, until the items at fault are
// alone: each is handed to reject, and the others are written, in order, as
// if it had not been there. After a rejection, write is called once with the
// empty range [i+1, i+1): the caller carries what the rejected item leaves
// to write (a dead letter, the offset past it) in that call or the next.
//
// write(lo, hi) must write items lo..hi-1 (and whatever the caller carries)
// in one transaction. An error that split rejects, or an error of reject,
// ends Isolate and is returned.
func Isolate(n int, write func(lo, hi int) error, split func(error) bool, reject func(i int, err error) error) error {
	var run func(lo, hi int) error
	run = func(lo, hi int) error {
		err := write(lo, hi)
		if err == nil || hi-lo == 0 || !split(err) {
			return err
		}
		if hi-lo == 1 {
			if err := reject(lo, err); err != nil {
				return err
			}
			return write(hi, hi)
		}
		mid := lo + (hi-lo)/2
		if err := run(lo, mid); err != nil {
			return err
		}
		return run(mid, hi)
	}
	return run(0, n)
}
