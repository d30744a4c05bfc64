package eos

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kafka2pg/kafka2pg/internal/ddl"
	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
)

// NoOffset is the stored next offset of a partition that has a row in the
// offset table but no batch written yet.
const NoOffset int64 = -1

// OffsetStore keeps, per consumer group, topic and partition, the next
// offset to consume and an owner epoch, in a PostgreSQL table. Exactly-once
// delivery advances the offset in the same transaction as the rows; the
// epoch, bumped by every claim, fences a consumer that lost its partition.
// An OffsetStore is safe for concurrent use (it holds no connection).
type OffsetStore struct {
	table pgx.Identifier
	group string
}

// NewOffsetStore returns the store in schema.table ("" schema: search_path).
func NewOffsetStore(schema, table, group string) *OffsetStore {
	id := pgx.Identifier{table}
	if schema != "" {
		id = pgx.Identifier{schema, table}
	}
	return &OffsetStore{table: id, group: group}
}

// table.Table is the quoted table name.
func (s *OffsetStore) Table() string { return s.table.Sanitize() }

// Ensure creates the table when it does not exist (safe when several
// instances start at once).
func (s *OffsetStore) Ensure(ctx context.Context, q ddl.Execer) error {
	err := ddl.CreateIfMissing(ctx, q, `CREATE TABLE IF NOT EXISTS `+s.Table()+` (
  "group" text NOT NULL,
  "topic" text NOT NULL,
  "partition" integer NOT NULL,
  "next_offset" bigint NOT NULL,
  "owner_epoch" bigint NOT NULL,
  "owner" text NOT NULL,
  "updated_at" timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY ("group", "topic", "partition")
)`)
	if err != nil {
		return fmt.Errorf("creating offset table %s: %w", s.Table(), err)
	}
	return nil
}

// Claim is a partition's state after this consumer claimed it.
type Claim struct {
	Next  int64 // next offset to consume; NoOffset when none is stored
	Epoch int64 // this consumer's epoch; writes must present it
}

// Claim takes ownership of a partition: it bumps the owner epoch (creating
// the row when missing) and returns the stored next offset. From the moment
// it commits, any write by a previous owner fails with pgwrite.ErrFenced.
func (s *OffsetStore) Claim(ctx context.Context, q ddl.Execer, topic string, partition int32, owner string) (Claim, error) {
	var c Claim
	err := q.QueryRow(ctx, `INSERT INTO `+s.Table()+` AS o ("group", "topic", "partition", "next_offset", "owner_epoch", "owner")
VALUES ($1, $2, $3, $4, 1, $5)
ON CONFLICT ("group", "topic", "partition") DO UPDATE
SET "owner_epoch" = o."owner_epoch" + 1, "owner" = EXCLUDED."owner", "updated_at" = now()
RETURNING "next_offset", "owner_epoch"`, s.group, topic, partition, NoOffset, owner).Scan(&c.Next, &c.Epoch)
	if err != nil {
		return c, fmt.Errorf("claiming topic %s partition %d in %s: %w", topic, partition, s.Table(), err)
	}
	return c, nil
}

// Advance moves the partition's next offset from expected to next, inside
// the transaction that writes the rows. The update is deferred (it travels
// with the transaction's next statement, normally COMMIT, in one round
// trip), so a refusal is an error rather than a row count: when the
// partition has been claimed by someone else since epoch, or the stored
// offset is not the expected one, the statement fails, the transaction
// with it, and the call that sent it returns pgwrite.ErrFenced.
func (s *OffsetStore) Advance(tx *pgtx.Tx, topic string, partition int32, epoch, expected, next int64) {
	// No row moved: 1 / 0 fails the statement, so the COMMIT sent after it
	// in the same round trip is not run.
	tx.Defer(`WITH moved AS (UPDATE `+s.Table()+` SET "next_offset" = $6, "updated_at" = now()
WHERE "group" = $1 AND "topic" = $2 AND "partition" = $3 AND "owner_epoch" = $4 AND "next_offset" = $5 RETURNING 1)
SELECT 1 / count(*) FROM moved`, func(err error) error {
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == sqlstateDivisionByZero {
			return fmt.Errorf("topic %s partition %d (epoch %d, expected offset %d): %w", topic, partition, epoch, expected, pgwrite.ErrFenced)
		}
		return err
	}, s.group, topic, partition, epoch, expected, next)
}

// sqlstateDivisionByZero is how Advance's statement says it moved no row.
const sqlstateDivisionByZero = "22012"

// Stored is one row of the offset table.
type Stored struct {
	Topic     string
	Partition int32
	Next      int64
	Epoch     int64
	Owner     string
}

// Read returns one partition's row; ok is false when there is none.
func (s *OffsetStore) Read(ctx context.Context, q ddl.Execer, topic string, partition int32) (Stored, bool, error) {
	st := Stored{Topic: topic, Partition: partition}
	err := q.QueryRow(ctx, `SELECT "next_offset", "owner_epoch", "owner" FROM `+s.Table()+`
WHERE "group" = $1 AND "topic" = $2 AND "partition" = $3`, s.group, topic, partition).Scan(&st.Next, &st.Epoch, &st.Owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, false, nil
	}
	return st, err == nil, err
}

// List returns the group's rows ordered by topic and partition.
func (s *OffsetStore) List(ctx context.Context, q ddl.Execer) ([]Stored, error) {
	rows, err := q.Query(ctx, `SELECT "topic", "partition", "next_offset", "owner_epoch", "owner" FROM `+s.Table()+`
WHERE "group" = $1 ORDER BY "topic", "partition"`, s.group)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.Table(), err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stored, error) {
		var st Stored
		err := r.Scan(&st.Topic, &st.Partition, &st.Next, &st.Epoch, &st.Owner)
		return st, err
	})
}

// Set stores next as the partition's next offset and bumps the epoch, so
// that a consumer still holding the partition cannot overwrite it. Used by
// `kafka2pg offsets reset`.
func (s *OffsetStore) Set(ctx context.Context, q ddl.Execer, topic string, partition int32, next int64, owner string) error {
	_, err := q.Exec(ctx, `INSERT INTO `+s.Table()+` AS o ("group", "topic", "partition", "next_offset", "owner_epoch", "owner")
VALUES ($1, $2, $3, $4, 1, $5)
ON CONFLICT ("group", "topic", "partition") DO UPDATE
SET "next_offset" = EXCLUDED."next_offset", "owner_epoch" = o."owner_epoch" + 1, "owner" = EXCLUDED."owner", "updated_at" = now()`,
		s.group, topic, partition, next, owner)
	if err != nil {
		return fmt.Errorf("setting topic %s partition %d in %s: %w", topic, partition, s.Table(), err)
	}
	return nil
}
