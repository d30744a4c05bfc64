package eos

import (
	"context"
	"errors"
	"testing"

	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/source"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// An unacknowledged COMMIT is resolved from the offset row, never by
// replaying blindly: the row tells whether the batch committed, and whether
// another consumer has claimed the partition since.
func TestResolve(t *testing.T) {
	_, pool := testenv.NewDatabase(t)
	ctx := context.Background()
	store := NewOffsetStore("", "kafka2pg_offsets", "g")
	if err := store.Ensure(ctx, pool); err != nil {
		t.Fatal(err)
	}
	c, err := store.Claim(ctx, pool, "t", 0, "me")
	if err != nil {
		t.Fatal(err)
	}
	claims := &Claims{store: store, pool: pool}
	w := &Partition{c: claims, tp: source.TP{Topic: "t"}, Epoch: c.Epoch, Stored: c.Next}

	// The batch 0..99 did not commit: retry it.
	if done, err := w.Resolve(ctx, 100); err != nil || done {
		t.Fatalf("before the commit: done=%v err=%v", done, err)
	}
	// It did commit (the acknowledgement was lost): do not write it again.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Advance(ctx, tx, 100); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if done, err := w.Resolve(ctx, 100); err != nil || !done {
		t.Fatalf("after the commit: done=%v err=%v", done, err)
	}
	// Someone else claimed the partition meanwhile: fenced, whatever the offset.
	if _, err := store.Claim(ctx, pool, "t", 0, "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Resolve(ctx, 100); !errors.Is(err, pgwrite.ErrFenced) {
		t.Fatalf("after another claim: err=%v, want ErrFenced", err)
	}
	// And the stale worker's next batch is refused.
	tx, err = pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if err := store.Advance(ctx, tx, "t", 0, w.Epoch, 100, 200); !errors.Is(err, pgwrite.ErrFenced) {
		t.Fatalf("stale Advance: %v, want ErrFenced", err)
	}
}
