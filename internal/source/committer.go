package source

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafka2pg/kafka2pg/internal/telemetry"
)

// TP names a partition.
type TP struct {
	Topic     string
	Partition int32
}

// Committer commits to Kafka the offsets whose records are durable, never
// moving a partition's committed offset backwards. Workers report progress
// with MarkDurable; Loop commits every interval and at once when a partition
// reaches its StopAt end. It also keeps the high watermarks seen in fetches,
// for lag. A Committer is safe for concurrent use; commits are serialised.
type Committer struct {
	cl  *kgo.Client
	log *slog.Logger
	m   *telemetry.Metrics

	commitMu sync.Mutex // serialises snapshot+commit so commits never go backwards
	mu       sync.Mutex
	durable  map[TP]kgo.EpochOffset // next offset whose predecessors are all durable
	commited map[TP]int64           // last offset committed to Kafka
	hwm      map[TP]int64           // high watermarks seen in fetches
	first    map[TP]int64           // first offset fetched since assignment
	fetched  map[TP]int64           // next offset to fetch (after the last record handed over)
	progress time.Time              // when records were last handed over
	ends     map[TP]int64           // StopAt targets; nil without StopAt
	now      chan struct{}          // capacity 1: commit without waiting for the tick
	endOnce  sync.Once
	endCh    chan struct{}
}

// NewCommitter commits through cl.
func NewCommitter(cl *kgo.Client, log *slog.Logger, m *telemetry.Metrics) *Committer {
	return &Committer{cl: cl, log: log, m: m, durable: map[TP]kgo.EpochOffset{}, commited: map[TP]int64{},
		hwm: map[TP]int64{}, first: map[TP]int64{}, fetched: map[TP]int64{}, progress: time.Now(),
		now: make(chan struct{}, 1), endCh: make(chan struct{})}
}

// MarkDurable records that every record of tp below off.Offset has its
// effect durable in PostgreSQL (or in the dead-letter queue).
func (c *Committer) MarkDurable(tp TP, off kgo.EpochOffset) {
	c.mu.Lock()
	c.durable[tp] = off
	end, atEnd := c.ends[tp]
	c.mu.Unlock()
	if atEnd && off.Offset >= end {
		// A partition reached its end: commit now rather than at the next
		// tick, so a StopAt run ends as soon as it is done.
		select {
		case c.now <- struct{}{}:
		default:
		}
	}
}

// Durable returns the durable offset of tp.
func (c *Committer) Durable(tp TP) (kgo.EpochOffset, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	off, ok := c.durable[tp]
	return off, ok
}

// SetHighWatermark records the high watermark a fetch reported for tp.
func (c *Committer) SetHighWatermark(tp TP, hwm int64) {
	c.mu.Lock()
	c.hwm[tp] = hwm
	c.mu.Unlock()
}

// Fetched records that a fetch handed over tp's records from first up to
// (not including) next.
func (c *Committer) Fetched(tp TP, first, next int64) {
	c.mu.Lock()
	if _, ok := c.first[tp]; !ok {
		c.first[tp] = first
	}
	c.fetched[tp] = next
	c.progress = time.Now()
	c.mu.Unlock()
}

// FetchLag is the records the brokers reported (high watermarks) beyond
// what was fetched, over the partitions fetched from, and when records were
// last handed over.
func (c *Committer) FetchLag() (lag int64, progress time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, h := range c.hwm {
		if f, ok := c.fetched[k]; ok {
			lag += max(h-f, 0)
		}
	}
	return lag, c.progress
}

// Forget drops what is known of partitions this consumer no longer owns.
func (c *Committer) Forget(tps []TP) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range tps {
		delete(c.durable, tp)
		delete(c.commited, tp)
		delete(c.hwm, tp)
		delete(c.first, tp)
		delete(c.fetched, tp)
		c.m.Lag.DeleteLabelValues(tp.Topic, strconv.Itoa(int(tp.Partition)))
	}
}

// Loop commits every interval (and on demand) until ctx ends.
func (c *Committer) Loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.now:
		case <-t.C:
		}
		if err := c.Commit(ctx, nil); err != nil && ctx.Err() == nil {
			c.log.Warn("offset commit failed; retried at the next interval", "err", err)
		}
	}
}

// Commit commits the durable offsets that are ahead of Kafka's (only those
// of only when it is not nil).
func (c *Committer) Commit(ctx context.Context, only []TP) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	n := 0
	for k, off := range c.durable {
		if only != nil && !contains(only, k) {
			continue
		}
		if done, ok := c.commited[k]; ok && done >= off.Offset {
			continue
		}
		if offsets[k.Topic] == nil {
			offsets[k.Topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[k.Topic][k.Partition] = off
		n++
	}
	c.mu.Unlock()
	if n == 0 {
		return nil
	}
	var cerr error
	c.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, t := range resp.Topics {
			for _, part := range t.Partitions {
				if err := kerr.ErrorForCode(part.ErrorCode); err != nil {
					cerr = fmt.Errorf("topic %s partition %d: %w", t.Topic, part.Partition, err)
					continue
				}
				c.commited[TP{t.Topic, part.Partition}] = offsets[t.Topic][part.Partition].Offset
			}
		}
	})
	if cerr != nil {
		c.m.OffsetCommits.WithLabelValues("error").Inc()
		return cerr
	}
	c.m.OffsetCommits.WithLabelValues("ok").Inc()
	c.checkEnd()
	return nil
}

func contains(tps []TP, tp TP) bool {
	for _, t := range tps {
		if t == tp {
			return true
		}
	}
	return false
}

// StopAt sets the end offsets after which AtEnd is closed (once every
// partition of ends has committed at least its end); an empty map closes it
// at once.
func (c *Committer) StopAt(ends map[TP]int64) {
	c.mu.Lock()
	c.ends = ends
	c.mu.Unlock()
	c.checkEnd()
}

// End is tp's StopAt end offset; false without one.
func (c *Committer) End(tp TP) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	end, ok := c.ends[tp]
	return end, ok
}

// AtEnd is closed when every StopAt end is committed.
func (c *Committer) AtEnd() <-chan struct{} { return c.endCh }

func (c *Committer) checkEnd() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ends == nil {
		return
	}
	for k, end := range c.ends {
		if c.commited[k] < end {
			return
		}
	}
	c.endOnce.Do(func() { close(c.endCh) })
}

// Lag updates the lag gauges of the partitions with a known high watermark
// — the records not yet durable, from the durable offset or, before the
// first write, from the first offset fetched — and returns their sum (known
// is false when there is none).
func (c *Committer) Lag() (total int64, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, h := range c.hwm {
		from, ok := c.first[k]
		if d, dok := c.durable[k]; dok {
			from, ok = d.Offset, true
		}
		if !ok {
			continue
		}
		l := max(h-from, 0)
		total += l
		known = true
		c.m.Lag.WithLabelValues(k.Topic, strconv.Itoa(int(k.Partition))).Set(float64(l))
	}
	return total, known
}

// Behind is how many offsets tp's high watermark (as last fetched) is past
// next; 0 when no fetch has reported it.
func (c *Committer) Behind(tp TP, next int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.hwm[tp]
	if !ok {
		return 0
	}
	return max(h-next, 0)
}
