package pgwrite

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/ddl"
	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// A backlog merge (batch.backlog_merge) stages a partition's upserts on the
// server while the partition is far behind, and applies them to the table
// in one statement once it has caught up: each key is then written once,
// with its last change, where batch-by-batch upserts update every key again
// in every batch that carries it (about half of all events on the
// benchmark; docs/benchmarks.md, "What the batch size does to an upsert").
//
// The staging table is an unlogged table per (consumer group, topic,
// partition, target table and its columns), made like the target without
// its constraints, plus kafka2pg_owner (who staged the row), kafka2pg_seq
// (the order rows were staged in, which is offset order) and
// kafka2pg_delete (true for a delete, which carries only the key; NULL for
// a write) and kafka2pg_deleted_at (a delete's Kafka timestamp, with a
// soft_delete_column). Staging commits nothing else: no offset moves, so a crash, a
// restart of PostgreSQL (which empties unlogged tables) or a new owner of
// the partition loses nothing — the records are consumed again from the
// committed offset. A merge runs in one transaction: it checks that the
// table still holds every row this owner staged (ErrBacklogLost
// otherwise), deletes (or stamps, with a soft_delete_column) the stored
// row of every key with a staged delete, applies each key's last change
// after its last delete with the writer's own upsert statement, empties the table, and moves the offset
// (exactly-once) with them: the table ends as if each record had been
// written in a batch of its own.

// ErrBacklogLost is a merge that found fewer (or more) staged rows than
// were staged: PostgreSQL restarted and emptied the unlogged table, or a
// new owner of the partition emptied it. Nothing was written; the records
// must be written again from Kafka.
var ErrBacklogLost = errors.New("the staged backlog is not all there")

// ErrMergeCanceled is a merge that the server cancelled (SQLSTATE 57014:
// statement_timeout, or pg_cancel_backend). It is not retried as a
// transient failure would be — a merge too big for statement_timeout would
// be cancelled again on every attempt — and the worker writes the staged
// records batch by batch instead.
var ErrMergeCanceled = errors.New("the backlog merge was cancelled by the server (statement_timeout?)")

// Backlog is one partition's staging table for one writer. It is used by
// the partition's worker alone.
//
// Rows reach it in two steps: Buffer encodes them (binary COPY tuples, in
// memory), and Flush copies what is buffered in one COPY, in a transaction
// the caller commits (then Flushed). A COPY costs the server about 1.5 ms
// besides its rows (measured: 400 COPYs of 2,000 rows took 0.6 CPU-s more
// than one of 800,000), so a worker buffers several small batches into
// one.
type Backlog struct {
	w     *Writer
	name  pgx.Identifier
	owner int64
	set   table.Bitset // the columns staged rows carry; nil before the first
	idx   []int        // set's column indexes, and their types
	types []*coerce.Type
	tm    *pgtype.Map // for a value whose Go type AppendBinary does not take
	ready bool        // the table exists (made or found this run)
	// Staged counts the rows of this owner in the staging table (flushed
	// in committed transactions) and not merged.
	Staged int64
	// buf holds the COPY tuples of bufRows rows buffered and not flushed;
	// seq numbers rows in the order buffered (kafka2pg_seq).
	buf     []byte
	bufRows int64
	seq     int64
	// deletes counts the deletes among the rows staged and buffered.
	deletes int64
	delVals []any // a delete's values: its key, and NULL for the rest
	// inserted: the last Merge inserted its rows without ON CONFLICT.
	inserted bool
}

// Mark is what a Backlog has buffered at one moment (Backlog.Mark), to
// take back rows buffered after it (Backlog.Rollback).
type Mark struct {
	n       int
	rows    int64
	seq     int64
	deletes int64
	hadRows bool
}

// Backloggable reports whether rows can be staged for a backlog merge: the
// writer upserts (without replace_by) into columns whose binary encoding
// kafka2pg writes itself, versions compare the same in SQL as in memory
// (integers, timestamps), keys compare the same (integers, text, uuid,
// dates and timestamps, booleans, enums), every write carries the same
// columns as the rows staged before it (set; nil when none are: then the
// first write's), and every other row is a delete (with a
// soft_delete_column, when the writes do not carry that column). Deletes
// alone, with nothing staged, are not: the staged columns are a write's.
func (w *Writer) Backloggable(rows []table.Row, set table.Bitset) bool {
	if w.spec.Mode != table.Upsert || len(w.replaceIdx) > 0 || w.describe.Load() || len(rows) == 0 ||
		w.spec.Table.Column("kafka2pg_owner") >= 0 || w.spec.Table.Column("kafka2pg_seq") >= 0 ||
		w.spec.Table.Column("kafka2pg_delete") >= 0 {
		return false // (the staging table's own columns would clash)
	}
	for i := 0; set == nil && i < len(rows); i++ {
		if rows[i].Op == table.OpWrite {
			set = rows[i].Set
		}
	}
	if set == nil {
		return false
	}
	for i := range rows {
		switch rows[i].Op {
		case table.OpWrite:
			if !rows[i].Set.Equal(set) {
				return false
			}
		case table.OpDelete:
			if w.softIdx >= 0 && set.Has(w.softIdx) {
				return false
			}
		default:
			return false
		}
	}
	cols := w.spec.Table.Columns
	for _, c := range set.Indexes() {
		if t := cols[c].Type; t == nil || t.Kind == coerce.KindArray {
			return false
		}
	}
	for _, c := range w.keyIdx {
		if !set.Has(c) {
			return false
		}
		switch cols[c].Type.Kind {
		case coerce.KindInt2, coerce.KindInt4, coerce.KindInt8, coerce.KindText, coerce.KindUUID,
			coerce.KindDate, coerce.KindTimestamp, coerce.KindTimestamptz, coerce.KindBool, coerce.KindEnum:
		default:
			return false
		}
	}
	if w.versionIdx >= 0 && set.Has(w.versionIdx) {
		switch cols[w.versionIdx].Type.Kind {
		case coerce.KindInt2, coerce.KindInt4, coerce.KindInt8, coerce.KindTimestamp, coerce.KindTimestamptz:
		default:
			return false
		}
	}
	return true
}

// NewBacklog names the staging table of a partition (group, topic,
// partition) for w, in schema ("" for the first schema of the search path),
// owned by owner (unique per worker).
func (w *Writer) NewBacklog(schema, group, topic string, partition int32, owner int64) *Backlog {
	h := fnv.New64a()
	t := w.spec.Table
	for _, s := range []string{group, topic, strconv.Itoa(int(partition)), strconv.FormatUint(uint64(t.OID), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, c := range t.Columns {
		h.Write([]byte(c.Name))
		h.Write([]byte{0})
		h.Write([]byte(c.TypeName))
		h.Write([]byte{0})
	}
	name := "kafka2pg_backlog_" + strconv.FormatUint(h.Sum64(), 16)
	id := pgx.Identifier{name}
	if schema != "" {
		id = pgx.Identifier{schema, name}
	}
	return &Backlog{w: w, name: id, owner: owner}
}

// Table names the staging table.
func (b *Backlog) Table() string { return b.name.Sanitize() }

// Writer is the writer whose rows b stages.
func (b *Backlog) Writer() *Writer { return b.w }

// Ensure makes the staging table if it does not exist (once per run).
func (b *Backlog) Ensure(ctx context.Context, pool *pgxpool.Pool) error {
	if b.ready {
		return nil
	}
	t := b.w.spec.Table
	name := b.name.Sanitize()
	sql := "CREATE UNLOGGED TABLE IF NOT EXISTS " + name + " WITH (autovacuum_enabled = false) AS SELECT * FROM " +
		t.Ident().Sanitize() + " WITH NO DATA;\n" +
		"ALTER TABLE " + name + " ADD COLUMN IF NOT EXISTS kafka2pg_owner bigint, ADD COLUMN IF NOT EXISTS kafka2pg_seq bigint, " +
		"ADD COLUMN IF NOT EXISTS kafka2pg_delete boolean, ADD COLUMN IF NOT EXISTS kafka2pg_deleted_at timestamptz;\n" +
		"COMMENT ON TABLE " + name + " IS " + quoteLiteral("kafka2pg backlog merge (batch.backlog_merge) of "+t.Ident().Sanitize()+
		": rows staged and not merged yet; empty when nothing is staged, safe to drop while no kafka2pg runs")
	for attempt := 0; ; attempt++ {
		_, err := pool.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if err != nil && attempt == 0 && errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P07") {
			continue // made at the same moment by another session: it exists now
		}
		if err != nil {
			return fmt.Errorf("making the backlog staging table %s for %s: %w", name, t.Ident().Sanitize(), err)
		}
		b.ready = true
		return nil
	}
}

// quoteLiteral quotes s as an SQL string literal (COMMENT takes no
// parameters); s is made by kafka2pg from identifiers.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Buffer encodes rows (Backloggable) for the next Flush; nothing is sent.
// On an error nothing of rows stays buffered.
func (b *Backlog) Buffer(rows []table.Row) error {
	if len(rows) == 0 {
		return nil
	}
	if b.Empty() {
		b.set = nil
		for i := 0; b.set == nil && i < len(rows); i++ {
			if rows[i].Op == table.OpWrite {
				b.set = rows[i].Set
			}
		}
		if b.set == nil {
			return fmt.Errorf("staging rows of %s: only deletes, and nothing staged before them", b.w.spec.Table.Ident().Sanitize())
		}
		b.idx = b.set.Indexes()
		b.types = make([]*coerce.Type, len(b.idx))
		for k, c := range b.idx {
			b.types[k] = b.w.spec.Table.Columns[c].Type
		}
	}
	if b.tm == nil {
		b.tm = pgtype.NewMap()
	}
	m := b.Mark()
	for i := range rows {
		vals, del := rows[i].Vals, rows[i].Op == table.OpDelete
		if del {
			if b.delVals == nil {
				b.delVals = make([]any, len(b.w.spec.Table.Columns))
			}
			for _, c := range b.w.keyIdx {
				b.delVals[c] = vals[c]
			}
			vals = b.delVals
		}
		var err error
		if b.buf, err = appendCopyRow(b.buf, vals, b.idx, b.types, nil, b.tm, b.tailCols()); err != nil {
			b.Rollback(m)
			return fmt.Errorf("staging a row of %s: %w", b.w.spec.Table.Ident().Sanitize(), err)
		}
		b.seq++
		b.buf = binary.BigEndian.AppendUint32(b.buf, 8)
		b.buf = binary.BigEndian.AppendUint64(b.buf, uint64(b.owner))
		b.buf = binary.BigEndian.AppendUint32(b.buf, 8)
		b.buf = binary.BigEndian.AppendUint64(b.buf, uint64(b.seq))
		if del {
			b.buf = append(b.buf, 0, 0, 0, 1, 1) // true
			b.deletes++
		} else {
			b.buf = binary.BigEndian.AppendUint32(b.buf, 0xffffffff) // NULL
		}
		if b.w.softIdx >= 0 { // kafka2pg_deleted_at: a delete's Kafka timestamp
			if del {
				ts := rows[i].Timestamp
				b.buf = binary.BigEndian.AppendUint32(b.buf, 8)
				b.buf = binary.BigEndian.AppendUint64(b.buf, uint64(ts.Unix()*1000000+int64(ts.Nanosecond())/1000-pgEpochMicros))
			} else {
				b.buf = binary.BigEndian.AppendUint32(b.buf, 0xffffffff)
			}
		}
	}
	b.bufRows += int64(len(rows))
	return nil
}

// pgEpochMicros is 2000-01-01 00:00:00 UTC in microseconds since 1970.
const pgEpochMicros = 946684800 * 1000000

// tailCols is how many of kafka2pg's own columns follow a staged row's
// values: owner, sequence, delete flag, and with soft deletes the
// delete's timestamp.
func (b *Backlog) tailCols() int {
	if b.w.softIdx >= 0 {
		return 4
	}
	return 3
}

// Mark is what is buffered now.
func (b *Backlog) Mark() Mark {
	return Mark{n: len(b.buf), rows: b.bufRows, seq: b.seq, deletes: b.deletes, hadRows: !b.Empty()}
}

// Since is how many bytes were buffered since m.
func (b *Backlog) Since(m Mark) int { return len(b.buf) - m.n }

// Rollback takes back the rows buffered since m.
func (b *Backlog) Rollback(m Mark) {
	b.buf, b.bufRows, b.seq, b.deletes = b.buf[:m.n], m.rows, m.seq, m.deletes
	if !m.hadRows {
		b.set = nil
	}
}

// Buffered is the rows and bytes buffered and not flushed.
func (b *Backlog) Buffered() (rows int64, bytes int) { return b.bufRows, len(b.buf) }

// Empty reports whether nothing is staged or buffered.
func (b *Backlog) Empty() bool { return b.Staged == 0 && b.bufRows == 0 }

// Flush copies the buffered rows into the staging table in tx, in one
// COPY; the first rows of a run (Staged 0) first empty the table of
// whatever an earlier owner or run left. It returns how many rows it
// copied. Once tx has committed the caller calls Flushed; if tx fails,
// the rows stay buffered and a Flush in a new transaction copies them
// again.
func (b *Backlog) Flush(ctx context.Context, tx *pgtx.Tx) (int64, error) {
	if b.bufRows == 0 {
		return 0, nil
	}
	if b.Staged == 0 {
		tx.Defer("TRUNCATE "+b.name.Sanitize(), nil) // sent with the COPY
	}
	cols := append(b.w.columnNames(b.set), "kafka2pg_owner", "kafka2pg_seq", "kafka2pg_delete")
	if b.w.softIdx >= 0 {
		cols = append(cols, "kafka2pg_deleted_at")
	}
	sql := "COPY " + b.name.Sanitize() + " (" + ddl.QuoteList(cols, "") + ") FROM STDIN (FORMAT binary)"
	r := io.MultiReader(strings.NewReader(copyHeader), bytes.NewReader(b.buf), strings.NewReader(copyTrailer))
	if err := tx.CopyRaw(ctx, r, sql); err != nil {
		// pgconn may still be reading b.buf from its own goroutine: keep
		// the rows in a buffer of their own from now on.
		b.buf = slices.Clone(b.buf)
		return 0, err
	}
	return b.bufRows, nil
}

// Flushed records that the transaction of the last Flush committed: the
// buffered rows are staged. It returns how many.
func (b *Backlog) Flushed() int64 {
	n := b.bufRows
	b.Staged += n
	b.buf, b.bufRows = b.buf[:0], 0
	return n
}

// Reset forgets what is staged and buffered (merged, or to be written
// again from Kafka) and frees the buffer.
func (b *Backlog) Reset() {
	b.Staged, b.buf, b.bufRows, b.set, b.deletes = 0, nil, 0, nil, 0
}

// Set is the columns the staged rows carry (nil when nothing is staged or
// buffered).
func (b *Backlog) Set() table.Bitset {
	if b.Empty() {
		return nil
	}
	return b.set
}

// Merge applies the staged rows in tx (MergeAll of b alone). It returns
// the rows written (inserted, updated or deleted); once tx has committed
// the caller calls Reset.
func (b *Backlog) Merge(ctx context.Context, tx *pgtx.Tx) (int64, error) {
	return MergeAll(ctx, tx, []*Backlog{b})
}

// MergeAll applies the staged rows of stages (one partition's staging
// tables, in the order of its route's tables: parents first) in tx. For
// each it flushes what is buffered (Flush) and checks that its table holds
// every row of this owner staged and flushed (ErrBacklogLost otherwise).
// Then it deletes (deleteSQL: or stamps, with a soft_delete_column),
// children first, the stored row of every key with a staged delete; and
// writes, parents first, each key's last change after
// its last delete (the highest version first, with a version column) with
// the writer's upsert statement — tried first without ON CONFLICT unless
// an earlier merge into the table met a stored key and the table is not
// empty (emptySQL; upsert) — and empties the staging tables. It returns
// the rows written (inserted, updated or deleted); once tx has committed
// the caller calls Reset on each.
func MergeAll(ctx context.Context, tx *pgtx.Tx, stages []*Backlog) (int64, error) {
	type merge struct {
		b     *Backlog
		plain bool // try a plain INSERT first
	}
	var todo []merge
	for _, b := range stages {
		b.inserted = false
		extra, err := b.Flush(ctx, tx)
		if err != nil {
			return 0, b.mergeError(err)
		}
		want := b.Staged + extra
		if want == 0 {
			continue
		}
		pause("pause-before-merge") // a test build's failpoint; nothing otherwise
		var n int64
		var empty, isTable bool
		if err := tx.QueryRow(ctx, "SELECT count(*), "+emptySQL+", "+tableSQL+" FROM "+b.name.Sanitize()+" WHERE kafka2pg_owner = $1",
			b.owner, b.w.spec.Table.Ident().Sanitize()).Scan(&n, &empty, &isTable); err != nil {
			return 0, b.mergeError(canceled(err))
		}
		if n != want {
			return 0, b.mergeError(fmt.Errorf("%w: %s holds %d rows of this worker, %d were staged (PostgreSQL restarted, or another consumer took the partition)",
				ErrBacklogLost, b.name.Sanitize(), n, want))
		}
		todo = append(todo, merge{b, empty || (isTable && !b.w.conflicted.Load())})
	}
	var written int64
	for i := len(todo) - 1; i >= 0; i-- {
		b := todo[i].b
		if b.deletes == 0 {
			continue
		}
		tag, err := tx.Exec(ctx, b.deleteSQL(), b.owner)
		if err != nil {
			return 0, b.mergeError(canceled(err))
		}
		written += tag.RowsAffected()
	}
	for _, m := range todo {
		n, err := m.b.upsert(ctx, tx, m.plain)
		if err != nil {
			return 0, m.b.mergeError(err)
		}
		written += n
	}
	return written, nil
}

// mergeError names the tables of a failed merge.
func (b *Backlog) mergeError(err error) error {
	return fmt.Errorf("merging the backlog of %s from %s: %w", b.w.spec.Table.Ident().Sanitize(), b.name.Sanitize(), err)
}

// match is "s.k = t.k" for every key column k, ANDed.
func (b *Backlog) match(s, t string) string {
	var match []string
	for _, k := range b.w.spec.KeyCols {
		q := pgx.Identifier{k}.Sanitize()
		match = append(match, t+"."+q+" = "+s+"."+q)
	}
	return strings.Join(match, " AND ")
}

// The statements of a merge read the staging table's rows of the owner
// given as $1.

// deleteSQL deletes the stored row of every key with a staged delete. With
// a soft_delete_column it stamps instead the stored rows the staged writes
// will not update (upsert: their version is not above the stored one, or
// there is none) with the time of their key's last delete — as each
// delete would have, in a batch of its own, with no write after it taking
// the mark away; the upsert stamps the rows it writes itself.
func (b *Backlog) deleteSQL() string {
	const owner = "$1" // b.owner, bound
	target := b.w.spec.Table.Ident().Sanitize()
	if b.w.softIdx < 0 {
		return "DELETE FROM " + target + " AS t USING " + b.name.Sanitize() +
			" AS d WHERE d.kafka2pg_owner = " + owner + " AND d.kafka2pg_delete AND " + b.match("d", "t")
	}
	first := ddl.QuoteList(b.w.spec.KeyCols[:1], "w.")
	applies := "" // the upsert's version test, negated
	if b.w.versionIdx >= 0 {
		src := ""
		if slices.Contains(b.w.columnNames(b.set), b.w.spec.VersionCol) {
			src = "w." + pgx.Identifier{b.w.spec.VersionCol}.Sanitize()
		}
		applies = " OR (" + b.w.versionTest(src) + ") IS NOT TRUE"
	}
	return "UPDATE " + target + " AS t SET " + pgx.Identifier{b.w.spec.SoftDeleteCol}.Sanitize() + " = d.kafka2pg_deleted_at FROM " +
		b.lastDeletes() + " AS d LEFT JOIN " + b.winners(false) + " AS w ON " + b.match("w", "d") +
		" WHERE " + b.match("d", "t") + " AND (" + first + " IS NULL" + applies + ")"
}

// lastDeletes is each key's last staged delete: its key columns,
// kafka2pg_seq and kafka2pg_deleted_at.
func (b *Backlog) lastDeletes() string {
	keys := ddl.QuoteList(b.w.spec.KeyCols, "")
	return "(SELECT DISTINCT ON (" + keys + ") " + keys + ", kafka2pg_seq, kafka2pg_deleted_at FROM " + b.name.Sanitize() +
		" WHERE kafka2pg_owner = $1 AND kafka2pg_delete ORDER BY " + keys + ", kafka2pg_seq DESC)"
}

// winners is each key's winning staged write (the highest version, the
// latest of equal ones), its columns and (with seq) its kafka2pg_seq; with
// hard deletes, among the writes after the key's last delete.
func (b *Backlog) winners(seq bool) string {
	keys := ddl.QuoteList(b.w.spec.KeyCols, "")
	cols := b.w.columnNames(b.set)
	const owner = "$1" // b.owner, bound
	order := ddl.QuoteList(b.w.spec.KeyCols, "s.")
	if b.w.versionIdx >= 0 && slices.Contains(cols, b.w.spec.VersionCol) {
		order += ", s." + pgx.Identifier{b.w.spec.VersionCol}.Sanitize() + " DESC NULLS LAST"
	}
	src := b.name.Sanitize() + " AS s WHERE s.kafka2pg_owner = " + owner
	if b.deletes > 0 {
		src += " AND s.kafka2pg_delete IS NULL"
	}
	if b.deletes > 0 && b.w.softIdx < 0 {
		// The writes after each key's last delete: the delete made the
		// stored row and the writes before it moot.
		src = b.name.Sanitize() + " AS s LEFT JOIN (SELECT " + keys + ", max(kafka2pg_seq) AS kafka2pg_seq FROM " + b.name.Sanitize() +
			" WHERE kafka2pg_owner = " + owner + " AND kafka2pg_delete GROUP BY " + keys + ") AS d ON " + b.match("d", "s") +
			" WHERE s.kafka2pg_owner = " + owner + " AND s.kafka2pg_delete IS NULL AND (d.kafka2pg_seq IS NULL OR s.kafka2pg_seq > d.kafka2pg_seq)"
	}
	out := ddl.QuoteList(cols, "s.")
	if seq {
		out += ", s.kafka2pg_seq"
	}
	return "(SELECT DISTINCT ON (" + ddl.QuoteList(b.w.spec.KeyCols, "s.") + ") " + out + " FROM " + src +
		" ORDER BY " + order + ", s.kafka2pg_seq DESC)"
}

// upsert writes each key's last change after its last delete (after
// deleteSQL), and empties the staging table. With a soft_delete_column the
// written row is stamped with its key's last delete when that delete came
// after the write, and unstamped otherwise. With plain it first tries
// without ON CONFLICT.
func (b *Backlog) upsert(ctx context.Context, tx *pgtx.Tx, plain bool) (int64, error) {
	cols := b.w.columnNames(b.set)
	from := b.winners(false) + " AS s"
	if b.deletes > 0 && b.w.softIdx >= 0 {
		soft := pgx.Identifier{b.w.spec.SoftDeleteCol}.Sanitize()
		from = "(SELECT " + ddl.QuoteList(cols, "w.") + ", CASE WHEN d.kafka2pg_seq > w.kafka2pg_seq THEN d.kafka2pg_deleted_at END AS " + soft +
			" FROM " + b.winners(true) + " AS w LEFT JOIN " + b.lastDeletes() + " AS d ON " + b.match("d", "w") + ") AS s"
		cols = append(slices.Clone(cols), b.w.spec.SoftDeleteCol)
	}
	if plain {
		// A plain INSERT costs PostgreSQL about a quarter less than INSERT
		// … ON CONFLICT, which takes every row through a speculative
		// insertion (docs/benchmarks.md): a catch-up into a new table, or
		// of keys the table does not hold (a partition's keys in a table
		// the other partitions fill), goes this way. A staged key that is
		// stored, or that another session writes meanwhile, makes it fail
		// at that row (23505, after waiting for the writer's transaction):
		// what it inserted before goes back to the savepoint and the merge
		// upserts, as will every later merge into this table (of any
		// partition) unless the table is empty. The rows are inserted in
		// key order, so when many staged keys are stored the INSERT fails
		// within its first rows; when a few are, it costs up to the
		// statement once.
		tx.Defer("SAVEPOINT kafka2pg_merge", nil)
		tag, err := tx.Exec(ctx, b.w.insertFrom(cols, from), b.owner)
		var pgErr *pgconn.PgError
		if err == nil {
			b.inserted = true
			b.truncate(tx)
			return tag.RowsAffected(), nil
		}
		if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
			return 0, canceled(err)
		}
		b.w.conflicted.Store(true)
		// On its own: the upsert is prepared (a caching connection) before
		// its exchange is written, which an aborted transaction refuses.
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT kafka2pg_merge"); err != nil {
			return 0, err
		}
	}
	tag, err := tx.Exec(ctx, b.w.upsertFrom(cols, from), b.owner)
	if err != nil {
		return 0, canceled(err)
	}
	b.truncate(tx)
	return tag.RowsAffected(), nil
}

// emptySQL is true when the table named by $2 (text) holds no row, not
// even one a transaction in progress wrote: it is a table, or a
// partitioned table whose partitions are all tables, and none of them has
// a page on disk (made or truncated and not written since). A table whose
// rows were all deleted, or whose insert rolled back, still has its pages
// and reads as not empty; so does a view or a foreign table. It needs no
// privilege on the table and reads none of its pages.
const emptySQL = `(SELECT coalesce(bool_and(c.relkind IN ('r', 'p')) AND
    sum(CASE WHEN c.relkind = 'r' THEN pg_relation_size(c.oid) ELSE 0 END) = 0, false)
  FROM pg_class AS c WHERE c.oid = $2::regclass OR c.oid IN (SELECT relid FROM pg_partition_tree($2::regclass)))`

// tableSQL is true when the target named by $2 (text) is a table or a
// partitioned table, whose unique index refuses a stored key to a plain
// INSERT (not a view or a foreign table).
const tableSQL = `(SELECT c.relkind IN ('r', 'p') FROM pg_class AS c WHERE c.oid = $2::regclass)`

// truncate empties the staging table in tx (sent with what follows, at
// the latest with COMMIT).
func (b *Backlog) truncate(tx *pgtx.Tx) {
	tx.Defer("TRUNCATE "+b.name.Sanitize(), nil)
}

// Discard empties the staging table (after a merge that failed: its
// records are written again batch by batch).
func (b *Backlog) Discard(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, "TRUNCATE "+b.name.Sanitize())
	return err
}

// canceled turns a server's cancel of a merge statement into
// ErrMergeCanceled (keeping its text, not its SQLSTATE, so that Classify
// does not take it for a transient failure).
func canceled(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "57014" {
		return fmt.Errorf("%w: %s", ErrMergeCanceled, err.Error())
	}
	return err
}
