package eos

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Instances of a group start together: creating the offset table from many
// sessions at once must not fail (CREATE TABLE IF NOT EXISTS alone does).
func TestEnsureConcurrently(t *testing.T) {
	dbURL, pool := testenv.NewDatabase(t)
	store := NewOffsetStore("", "kafka2pg_offsets", "g")
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			conn, err := pgx.Connect(context.Background(), dbURL)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(context.Background())
			errs <- store.Ensure(context.Background(), conn)
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Ensure: %v", err)
		}
	}
	c, err := store.Claim(context.Background(), pool, "t", 0, "me")
	if err != nil || c.Epoch != 1 || c.Next != NoOffset {
		t.Fatalf("claim = %+v, %v", c, err)
	}
	if c, _ = store.Claim(context.Background(), pool, "t", 0, "other"); c.Epoch != 2 {
		t.Fatalf("second claim epoch %d, want 2", c.Epoch)
	}
}
