package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
)

// Exactly-once delivery keeps each partition's next offset in PostgreSQL
// (pgwrite.OffsetStore) and advances it in the transaction that writes the
// batch. Kafka's committed offsets still follow, for lag monitoring only.
//
// Fencing: every assignment claims the partition, which bumps its owner
// epoch in the offset table; a batch's offset update succeeds only under the
// epoch its worker claimed and from the offset it expects. A consumer that
// lost a partition (rebalance, expired session, a paused process resumed
// later) therefore cannot commit anything for it: its transaction updates no
// offset row and rolls back, and the worker gives the partition up.

// claim runs (from kgo) when partitions are assigned, before fetching
// starts: it claims each partition in the offset table and starts consuming
// at the stored offset. Partitions with no stored offset start at the
// group's committed Kafka offset or, without one, at kafka.start.
func (p *Pipeline) claim(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for topic, parts := range offsets {
		for part := range parts {
			key := tp{topic, part}
			c, err := p.claimOne(ctx, key)
			if err != nil {
				p.log.Error("cannot claim partition; the group will rebalance", "topic", topic, "partition", part, "err", err)
				return nil, err
			}
			p.mu.Lock()
			p.claims[key] = c
			delete(p.fenced, key)
			p.mu.Unlock()
			if c.Next >= 0 {
				parts[part] = kgo.NewOffset().At(c.Next).WithEpoch(-1)
				// Bring Kafka's committed offset (lag monitoring) up to the
				// stored one, e.g. after a crash between the two commits.
				p.markDurable(key, kgo.EpochOffset{Epoch: -1, Offset: c.Next})
			}
			p.log.Debug("partition claimed", "topic", topic, "partition", part, "epoch", c.Epoch, "stored_offset", c.Next)
		}
	}
	return offsets, nil
}

// claimOne claims one partition, retrying transient failures until ctx
// (which kgo cancels when the group session ends) is done.
func (p *Pipeline) claimOne(ctx context.Context, key tp) (pgwrite.Claim, error) {
	bo := newBackoff(p.cfg.Errors.Retry)
	for {
		c, err := p.store.Claim(ctx, p.pool, key.topic, key.partition, p.owner)
		if err == nil {
			return c, nil
		}
		if pgwrite.Classify(err) != pgwrite.Transient || ctx.Err() != nil {
			return c, err
		}
		p.log.Warn("claiming partition failed, retrying", "topic", key.topic, "partition", key.partition, "err", err)
		if err := sleep(ctx, bo.next()); err != nil {
			return c, err
		}
	}
}

// committedBefore reads the partition's offset row after a failed attempt:
// true when it already holds next under this worker's epoch (the attempt's
// COMMIT succeeded although it was not acknowledged), ErrFenced when another
// consumer has claimed the partition since.
func (p *Pipeline) committedBefore(ctx context.Context, w *worker, next int64) (bool, error) {
	st, ok, err := p.store.Read(ctx, p.pool, w.tp.topic, w.tp.partition)
	if err != nil {
		return false, err
	}
	if !ok || st.Epoch != w.epoch {
		return false, fmt.Errorf("topic %s partition %d: %w", w.tp.topic, w.tp.partition, pgwrite.ErrFenced)
	}
	return st.Next == next, nil
}

// dropFenced gives up a partition whose write was fenced: nothing more is
// written or committed for it until it is claimed again.
func (p *Pipeline) dropFenced(w *worker) {
	p.m.Fenced.WithLabelValues(w.tp.topic).Inc()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fenced[w.tp] = true
	if p.workers[w.tp] == w {
		delete(p.workers, w.tp)
	}
	delete(p.claims, w.tp)
	delete(p.durable, w.tp)
	p.m.Assigned.Set(float64(len(p.workers)))
}

// failpointFromEnv reads KAFKA2PG_FAILPOINT=after-pg-commit:P, a test-only
// hook: after a batch's PostgreSQL transaction commits and before its offset
// is reported anywhere else, the process kills itself with probability P.
// The chaos tests use it to crash in the window between the two commits.
func failpointFromEnv() float64 {
	v, ok := strings.CutPrefix(os.Getenv("KAFKA2PG_FAILPOINT"), "after-pg-commit:")
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0
	}
	return f
}

func (p *Pipeline) maybeCrash() {
	if p.failpoint > 0 && rand.Float64() < p.failpoint {
		p.log.Warn("failpoint after-pg-commit: killing the process")
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}
