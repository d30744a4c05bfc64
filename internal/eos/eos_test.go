package eos

import (
	"context"
	"errors"
	"testing"

	"github.com/kafka2pg/kafka2pg/internal/pgtx"
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
	if err := pgwrite.Commit(ctx, pool, nil, func(_ context.Context, tx *pgtx.Tx) error {
		w.Advance(tx, 100)
		return nil
	}); err != nil {
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
	// And the stale worker's next batch is refused: its transaction fails
	// with ErrFenced and writes nothing.
	testenv.Exec(t, pool, `CREATE TABLE rows (n int)`)
	err = pgwrite.Commit(ctx, pool, nil, func(ctx context.Context, tx *pgtx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rows VALUES (1)`); err != nil {
			return err
		}
		store.Advance(tx, "t", 0, w.Epoch, 100, 200)
		return nil
	})
	if !errors.Is(err, pgwrite.ErrFenced) {
		t.Fatalf("stale Advance: %v, want ErrFenced", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM rows`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the fenced transaction left %d rows (err %v)", n, err)
	}
	if st, _, err := store.Read(ctx, pool, "t", 0); err != nil || st.Next != 100 {
		t.Fatalf("offset row after the fenced transaction: %+v, %v; want next 100", st, err)
	}
}
