// Package eos is exactly-once delivery: each partition's next offset lives
// in PostgreSQL (OffsetStore) and moves in the transaction that writes the
// batch. Kafka's committed offsets still follow, for lag monitoring only.
//
// Fencing: every assignment claims the partition, which bumps its owner
// epoch in the offset table; a batch's offset update succeeds only under the
// epoch its worker claimed and from the offset it expects. A consumer that
// lost a partition (rebalance, expired session, a paused process resumed
// later) therefore cannot commit anything for it: its transaction updates no
// offset row and rolls back, and the worker gives the partition up.
package eos

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/retry"
	"github.com/kafka2pg/kafka2pg/internal/source"
)

// Claims are one instance's claimed partitions. It implements
// source.Claimer; all methods are safe for concurrent use.
type Claims struct {
	store  *OffsetStore
	pool   *pgxpool.Pool
	owner  string // names this instance in the offset table
	policy retry.Policy
	log    *slog.Logger
	// durable is told a claimed partition's stored offset, so that Kafka's
	// committed offset (lag monitoring) catches up with it, e.g. after a
	// crash between the two commits.
	durable func(source.TP, kgo.EpochOffset)

	mu     sync.Mutex
	claims map[source.TP]Claim
	fenced map[source.TP]bool // partitions another consumer took from us
}

// New returns the claims of this process in the offset table of cfg.
func New(cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger, durable func(source.TP, kgo.EpochOffset)) *Claims {
	schema, table := cfg.Postgres.OffsetsTableName()
	host, _ := os.Hostname()
	return &Claims{store: NewOffsetStore(schema, table, cfg.Kafka.Group), pool: pool,
		owner: fmt.Sprintf("%s/%d", host, os.Getpid()), policy: retry.FromConfig(cfg.Errors.Retry).Forever(),
		log: log, durable: durable, claims: map[source.TP]Claim{}, fenced: map[source.TP]bool{}}
}

// Store is the offset store.
func (c *Claims) Store() *OffsetStore { return c.store }

// Claim runs (from kgo) when partitions are assigned, before fetching
// starts: it claims each partition in the offset table and starts consuming
// at the stored offset. Partitions with no stored offset start at the
// group's committed Kafka offset or, without one, at kafka.start.
func (c *Claims) Claim(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	for topic, parts := range offsets {
		for part := range parts {
			tp := source.TP{Topic: topic, Partition: part}
			var cl Claim
			// Transient failures are retried until ctx, which kgo cancels
			// when the group session ends, is done.
			err := retry.Do(ctx, c.policy, pgwrite.IsTransient, retry.Hooks{Retrying: func(_ int, _ time.Duration, err error) {
				c.log.Warn("claiming partition failed, retrying", "topic", topic, "partition", part, "err", err)
			}}, func(int) error {
				var err error
				cl, err = c.store.Claim(ctx, c.pool, topic, part, c.owner)
				return err
			})
			if err != nil {
				c.log.Error("cannot claim partition; the group will rebalance", "topic", topic, "partition", part, "err", err)
				return nil, err
			}
			c.mu.Lock()
			c.claims[tp] = cl
			delete(c.fenced, tp)
			c.mu.Unlock()
			if cl.Next >= 0 {
				parts[part] = kgo.NewOffset().At(cl.Next).WithEpoch(-1)
				c.durable(tp, kgo.EpochOffset{Epoch: -1, Offset: cl.Next})
			}
			c.log.Debug("partition claimed", "topic", topic, "partition", part, "epoch", cl.Epoch, "stored_offset", cl.Next)
		}
	}
	return offsets, nil
}

// Partition returns the claimed state of tp for a worker. ok is false when
// this instance has not claimed tp (kgo hands out only assigned partitions,
// and every assignment is claimed first: this is the second lock); tp is
// then fenced until it is claimed again.
func (c *Claims) Partition(tp source.TP) (*Partition, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.claims[tp]
	if !ok {
		c.fenced[tp] = true
		return nil, false
	}
	return &Partition{c: c, tp: tp, Epoch: cl.Epoch, Stored: cl.Next}, true
}

// Fenced reports whether tp was taken by another consumer since this one
// claimed it.
func (c *Claims) Fenced(tp source.TP) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fenced[tp]
}

// Fence gives tp up: nothing more is written for it until it is claimed
// again.
func (c *Claims) Fence(tp source.TP) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fenced[tp] = true
	delete(c.claims, tp)
}

// Forget drops the claims of partitions this consumer no longer owns.
func (c *Claims) Forget(tps []source.TP) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range tps {
		delete(c.claims, tp)
	}
}

// Partition is one claimed partition as its worker writes it. It is used
// by that worker alone.
type Partition struct {
	c  *Claims
	tp source.TP
	// Epoch is the epoch this instance claimed the partition with; Stored
	// the offset stored for it (NoOffset before the first batch).
	Epoch, Stored int64
}

// Advance moves the stored offset to next inside tx, the batch's
// transaction (OffsetStore.Advance): the call that sends the update,
// normally tx.Commit, fails with ErrFenced when another consumer has
// claimed the partition.
func (p *Partition) Advance(tx *pgtx.Tx, next int64) {
	p.c.store.Advance(tx, p.tp.Topic, p.tp.Partition, p.Epoch, p.Stored, next)
}

// Committed records that the transaction that moved the offset to next
// has committed.
func (p *Partition) Committed(next int64) { p.Stored = next }

// Resolve reads the partition's offset row after a failed attempt to move it
// to next: true when it holds next under this worker's epoch (the attempt's
// COMMIT succeeded although it was not acknowledged), ErrFenced when another
// consumer has claimed the partition since.
func (p *Partition) Resolve(ctx context.Context, next int64) (bool, error) {
	st, ok, err := p.c.store.Read(ctx, p.c.pool, p.tp.Topic, p.tp.Partition)
	if err != nil {
		return false, err
	}
	if !ok || st.Epoch != p.Epoch {
		return false, fmt.Errorf("topic %s partition %d: %w", p.tp.Topic, p.tp.Partition, pgwrite.ErrFenced)
	}
	return st.Next == next, nil
}
