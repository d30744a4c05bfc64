package pgwrite

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/ddl"
	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// Spec says how a route writes to its table. Build it once with NewWriter.
type Spec struct {
	Table         *table.Table
	Mode          table.Mode
	KeyCols       []string // conflict key (upsert) or the key deletes use; may be empty in insert/raw mode
	VersionCol    string   // upsert only: update only when the incoming value is greater
	SoftDeleteCol string   // deletes set this column instead of deleting
	// ReplaceBy (upsert only) names the columns of a parent: an OpReplace
	// row says the rows of its record are the parent's whole set, and the
	// stored rows of the parent that are not in it are deleted.
	ReplaceBy []string
}

// Writer applies batches of rows to one table. It is safe for concurrent
// use: each Write runs on its own pooled connection and transaction.
type Writer struct {
	spec       Spec
	keyIdx     []int
	replaceIdx []int
	versionIdx int
	softIdx    int
	stage      string // temp table names, unique per target table
	delStage   string
	// replace_by: the parents of the batch's sets, and the keys they keep.
	replaceStage, keepStage string
	// describe makes every COPY ask the server for its target's column
	// types first. It is set once the server could not read this writer's
	// binary COPY data (the table changed under the writer: another
	// route's auto_evolve widened a column): from then on, a value whose
	// column has another type on the server is encoded for that type.
	describe atomic.Bool
	// conflicted: a backlog merge's plain INSERT met a stored key of this
	// table (Backlog.upsert); later merges upsert at once unless the table
	// is empty.
	conflicted atomic.Bool
}

// writerGen numbers writers, for their staging tables' names.
var writerGen atomic.Uint64

// NewWriter checks spec against the table and prepares the statements.
func NewWriter(spec Spec) (*Writer, error) {
	t := spec.Table
	// Staging tables are made per connection from the table as this writer
	// knows it; a writer for a newer version of the table (auto_evolve)
	// gets staging tables of its own.
	gen := strconv.FormatUint(uint64(t.OID), 10) + "_" + strconv.FormatUint(writerGen.Add(1), 10)
	w := &Writer{spec: spec, versionIdx: -1, softIdx: -1, stage: "kafka2pg_stage_" + gen, delStage: "kafka2pg_del_" + gen}
	for _, k := range spec.KeyCols {
		i := t.Column(k)
		if i < 0 {
			return nil, fmt.Errorf("%s has no column %q (key)", t, k)
		}
		w.keyIdx = append(w.keyIdx, i)
	}
	if spec.Mode == table.Upsert {
		if len(spec.KeyCols) == 0 {
			return nil, fmt.Errorf("%s: upsert needs a primary key or conflict_key", t)
		}
		if !t.HasUniqueKey(spec.KeyCols) {
			return nil, fmt.Errorf("%s: no unique index or primary key on exactly (%s), which ON CONFLICT needs", t, strings.Join(spec.KeyCols, ", "))
		}
	}
	if spec.VersionCol != "" {
		if w.versionIdx = t.Column(spec.VersionCol); w.versionIdx < 0 {
			return nil, fmt.Errorf("%s has no column %q (version_column)", t, spec.VersionCol)
		}
	}
	if spec.SoftDeleteCol != "" {
		if w.softIdx = t.Column(spec.SoftDeleteCol); w.softIdx < 0 {
			return nil, fmt.Errorf("%s has no column %q (soft_delete_column)", t, spec.SoftDeleteCol)
		}
	}
	for _, c := range spec.ReplaceBy {
		if spec.Mode != table.Upsert {
			return nil, fmt.Errorf("%s: replace_by needs mode upsert", t)
		}
		if !slices.Contains(spec.KeyCols, c) {
			return nil, fmt.Errorf("%s: replace_by column %q is not in the key (%s)", t, c, strings.Join(spec.KeyCols, ", "))
		}
		w.replaceIdx = append(w.replaceIdx, t.Column(c))
	}
	if len(w.replaceIdx) > 0 {
		w.replaceStage = "kafka2pg_replace_" + gen
		w.keepStage = "kafka2pg_keep_" + gen
	}
	return w, nil
}

// Table returns the target table.
func (w *Writer) Table() *table.Table { return w.spec.Table }

// Write applies rows (in record order) in one transaction on a connection
// from pool: Commit with this writer's rows alone. A nil *Writer writes no
// rows: it runs before alone in a transaction.
func (w *Writer) Write(ctx context.Context, pool *pgxpool.Pool, rows []table.Row, before func(context.Context, *pgtx.Tx) error) error {
	if w == nil {
		if len(rows) > 0 {
			return errors.New("pgwrite: rows without a table")
		}
		return Commit(ctx, pool, nil, before)
	}
	return Commit(ctx, pool, []Change{{W: w, Rows: rows}}, before)
}

// ensureStages creates this connection's temporary staging tables once. They
// are created outside the batch transaction so that a rolled-back batch does
// not take them away; ON COMMIT DELETE ROWS empties them after every batch.
func (w *Writer) ensureStages(ctx context.Context, conn *pgx.Conn) error {
	data := conn.PgConn().CustomData()
	if data[w.stage] != nil {
		return nil
	}
	if _, err := conn.Exec(ctx, w.stagesDDL("DELETE ROWS", true, true, true)); err != nil {
		return fmt.Errorf("creating staging tables for %s: %w", w.spec.Table.Ident().Sanitize(), err)
	}
	data[w.stage] = true
	return nil
}

// createStages creates, inside tx and dropped at its end, the staging
// tables this plan uses: behind a transaction-mode pooler the next
// transaction may run on another server session, where a table of this one
// does not exist.
func (p *plan) createStages(ctx context.Context, tx *pgtx.Tx) error {
	w := p.w
	stage := (w.spec.Mode == table.Upsert && len(p.writes) > 0) || (w.spec.Mode == table.Raw && len(p.rows) > 0)
	del := len(p.deletes) > 0 || len(p.prestamps) > 0
	if w.spec.Mode == table.Insert {
		for _, r := range p.rows {
			if r.Op == table.OpDelete {
				del = true
				break
			}
		}
	}
	ddl := w.stagesDDL("DROP", stage, del, len(p.replaced) > 0)
	if ddl == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("creating staging tables for %s: %w", w.spec.Table.Ident().Sanitize(), err)
	}
	return nil
}

// stagesDDL is the statements (one simple-protocol query) creating the
// chosen staging tables of this writer with the given ON COMMIT action.
func (w *Writer) stagesDDL(onCommit string, stage, del, replace bool) string {
	target := w.spec.Table.Ident().Sanitize()
	create := func(name, cols string) string {
		return "CREATE TEMP TABLE IF NOT EXISTS " + pgx.Identifier{name}.Sanitize() +
			" ON COMMIT " + onCommit + " AS SELECT " + cols + " FROM " + target + " WITH NO DATA;\n"
	}
	var b strings.Builder
	if stage {
		b.WriteString(create(w.stage, "*"))
	}
	if del && len(w.keyIdx) > 0 {
		cols := ddl.QuoteList(w.spec.KeyCols, "") + ", NULL::timestamptz AS kafka2pg_deleted_at"
		if w.versionIdx >= 0 {
			cols += ", " + pgx.Identifier{w.spec.VersionCol}.Sanitize() + " AS kafka2pg_version"
		}
		b.WriteString(create(w.delStage, cols))
	}
	if replace && len(w.replaceIdx) > 0 {
		b.WriteString(create(w.replaceStage, ddl.QuoteList(w.spec.ReplaceBy, "")))
		b.WriteString(create(w.keepStage, ddl.QuoteList(w.spec.KeyCols, "")))
	}
	return b.String()
}

// applyReplace deletes the stored rows of the parents in replaced (their
// replace_by values) whose keys are not among kept, the rows the batch
// writes for them: a parent's rows become exactly its new set.
func (w *Writer) applyReplace(ctx context.Context, tx *pgtx.Tx, replaced, kept []table.Row) error {
	for _, st := range []struct {
		name string
		cols []string
		idx  []int
		rows []table.Row
	}{{w.replaceStage, w.spec.ReplaceBy, w.replaceIdx, replaced}, {w.keepStage, w.spec.KeyCols, w.keyIdx, kept}} {
		src := &rowSource{rows: st.rows, idx: st.idx, i: -1}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{st.name}, st.cols, src); err != nil {
			return err
		}
	}
	var parent, key []string
	for _, c := range w.spec.ReplaceBy {
		q := pgx.Identifier{c}.Sanitize()
		parent = append(parent, "t."+q+" = r."+q)
	}
	for _, c := range w.spec.KeyCols {
		q := pgx.Identifier{c}.Sanitize()
		key = append(key, "k."+q+" = t."+q)
	}
	replace, keep := pgx.Identifier{w.replaceStage}.Sanitize(), pgx.Identifier{w.keepStage}.Sanitize()
	sql := "DELETE FROM " + w.spec.Table.Ident().Sanitize() + " AS t USING " + replace + " AS r WHERE " +
		strings.Join(parent, " AND ") + " AND NOT EXISTS (SELECT 1 FROM " + keep + " AS k WHERE " + strings.Join(key, " AND ") + ")"
	tx.Defer(sql, nil)
	tx.Defer("TRUNCATE "+replace+", "+keep, nil)
	return nil
}

// plan is what a writer does with one batch's rows, in two phases so that
// the tables of one transaction can be ordered for foreign keys: Commit runs
// every plan's deletes in reverse table order (children before parents),
// then every plan's writes in table order (parents before children).
type plan struct {
	w *Writer
	// upsert mode: the winning writes and hard or soft deletes, each
	// sorted by key; replaced: the parents whose stored rows not in
	// writes go (replace_by).
	writes, deletes, replaced []table.Row
	// prestamps (soft deletes with a version column): the last delete of
	// each key written again after it in the batch, and that write's
	// version (stampVersions). A write the stored row's version refuses
	// leaves the row as the delete left it — stamped — so these are
	// stamped before the writes, where the write will not apply; the
	// writes unstamp the rows they do write.
	prestamps     []table.Row
	stampVersions []any
	// layers (with a version column): earlier writes of keys written
	// again by a partial write of another version, which cannot be folded
	// into one row (whether the earlier write applies depends on the
	// stored version, which the batch does not know). Each layer holds at
	// most one row per key and is upserted before the next, the writes
	// last: the statements the records would run, each in a batch of its
	// own, but one per layer.
	layers [][]table.Row
	// insert and raw mode: the rows in record order.
	rows []table.Row
	// superseded counts the upsert rows folded into a later change of the
	// same key (or parent, with replace_by).
	superseded int
}

// prepare computes the plan of rows; it does not touch the database and
// does not modify rows.
func (w *Writer) prepare(rows []table.Row) *plan {
	p := &plan{w: w}
	n := 0 // the changes: rows that are not replace_by markers
	for i := range rows {
		if rows[i].Op != table.OpReplace {
			n++
		}
	}
	if w.spec.Mode != table.Upsert {
		p.rows = rows
		return p
	}
	if len(w.replaceIdx) > 0 {
		rows, p.replaced = w.latestSets(rows)
	}
	p.fates(rows)
	// Every input row is a write or a delete of its key, unless a later
	// change to the key took its place.
	p.superseded = n - len(p.writes) - len(p.deletes)
	for _, l := range p.layers {
		p.superseded -= len(l)
	}
	p.superseded = max(p.superseded, 0)
	return p
}

// deletePhase runs the plan's hard deletes (upsert mode), and the deletes
// of rows replaced by a parent's new set.
func (p *plan) deletePhase(ctx context.Context, tx *pgtx.Tx) error {
	if len(p.replaced) > 0 {
		if err := p.w.applyReplace(ctx, tx, p.replaced, p.writes); err != nil {
			return err
		}
	}
	if p.w.softIdx < 0 && len(p.deletes) > 0 {
		return p.w.applyDeletes(ctx, tx, p.deletes, nil)
	}
	return nil
}

// writePhase runs the plan's writes (and soft deletes after them).
func (p *plan) writePhase(ctx context.Context, tx *pgtx.Tx) error {
	switch p.w.spec.Mode {
	case table.Raw:
		return p.w.applyGroups(ctx, tx, p.rows, p.w.rawSQL)
	case table.Upsert:
		if len(p.prestamps) > 0 {
			if err := p.w.applyDeletes(ctx, tx, p.prestamps, p.stampVersions); err != nil {
				return err
			}
		}
		for _, l := range p.layers {
			if err := p.w.applyGroups(ctx, tx, l, p.w.upsertSQL); err != nil {
				return err
			}
			tx.Defer("TRUNCATE "+pgx.Identifier{p.w.stage}.Sanitize(), nil)
		}
		if err := p.w.applyGroups(ctx, tx, p.writes, p.w.upsertSQL); err != nil {
			return err
		}
		if p.w.softIdx >= 0 && len(p.deletes) > 0 {
			return p.w.applyDeletes(ctx, tx, p.deletes, nil)
		}
		return nil
	}
	return p.w.applyInsert(ctx, tx, p.rows)
}

// applyInsert keeps record order between inserts and deletes: inserts are
// copied in runs, and each run of deletes is applied where it stood.
func (w *Writer) applyInsert(ctx context.Context, tx *pgtx.Tx, rows []table.Row) error {
	for len(rows) > 0 {
		n := 1
		for n < len(rows) && rows[n].Op == rows[0].Op {
			n++
		}
		run := rows[:n]
		rows = rows[n:]
		var err error
		if run[0].Op == table.OpDelete {
			err = w.applyDeletes(ctx, tx, run, nil)
		} else {
			err = w.applyGroups(ctx, tx, run, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// latestSets keeps, for each parent (the replace_by values), only the rows
// of the last record that carried the parent's set (its OpReplace row), and
// returns those rows and the parents, one OpReplace row each.
func (w *Writer) latestSets(rows []table.Row) (kept, parents []table.Row) {
	latest := map[string]int64{} // parent → offset of its last set
	var buf []byte
	parentKey := func(r *table.Row) string {
		buf = buf[:0]
		for _, i := range w.replaceIdx {
			buf = table.AppendKey(buf, r.Vals[i])
		}
		return string(buf)
	}
	for i := range rows {
		if rows[i].Op == table.OpReplace {
			k := parentKey(&rows[i])
			if _, seen := latest[k]; !seen {
				parents = append(parents, rows[i])
			}
			latest[k] = rows[i].Offset
		}
	}
	kept = make([]table.Row, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		if r.Op == table.OpReplace {
			continue
		}
		if off, ok := latest[parentKey(r)]; ok && off != r.Offset {
			continue // a later record of the same parent replaces this row's set
		}
		kept = append(kept, *r)
	}
	return kept, parents
}

// fates keeps the last change per key (or the highest version): it sets
// p's writes, in the order of their keys' first appearance, and deletes,
// sorted by key (see the end for why only the deletes), prestamps and
// layers.
func (p *plan) fates(rows []table.Row) {
	w := p.w
	var writes, deletes, prestamps []table.Row
	var stampVersions []any
	type fate struct {
		write   int  // index of the winning write, -1 when none
		del     int  // index of the last delete
		deleted bool // the last change is a delete
		// reborn: a hard delete came before the winning write, so the
		// stored row goes first (deletes run before writes) and the write
		// inserts afresh — as it would in a batch after the delete's, not
		// updating what the delete removed.
		reborn bool
		// A write that omits columns (a partial update) keeps the values of
		// the earlier writes to its key for them, as it would if each
		// record had its own batch: merged is rows[write] with those filled
		// in (nil when nothing needed merging), prev the last write seen.
		prev   int
		merged *table.Row
		// layers: earlier writes that had to stay rows of their own
		// (plan.layers), in order.
		layers []table.Row
	}
	last := make(map[string]int, len(rows)) // key → index in fates
	fates := make([]fate, 0, len(rows))
	for i := range rows {
		fi, seen := last[rows[i].Key]
		if !seen {
			fi = len(fates)
			fates = append(fates, fate{write: -1, del: -1, prev: -1})
			last[rows[i].Key] = fi
		}
		f := &fates[fi]
		if rows[i].Op == table.OpDelete {
			f.deleted, f.del = true, i
			if w.softIdx < 0 {
				f.write, f.prev, f.merged = -1, -1, nil // a hard delete makes earlier writes moot
				f.reborn, f.layers = false, nil
			}
			continue
		}
		if f.write >= 0 && w.versionIdx >= 0 &&
			compareVersions(w.version(&rows[i]), w.version(&rows[f.write])) < 0 {
			continue // an older version arriving later does not win
		}
		if f.deleted && w.softIdx < 0 {
			f.reborn = true
		}
		f.write, f.deleted = i, false
		if w.versionIdx >= 0 && (f.merged != nil || f.prev >= 0) {
			acc := f.merged
			if acc == nil {
				acc = &rows[f.prev]
			}
			// Folding acc into this write is right when both apply or
			// neither does: the same version, or this write covers every
			// column of acc. Otherwise acc applies only if the stored
			// version lets it in (this write, of a higher version, then
			// too), so it stays a statement of its own, before this write.
			if !covers(&rows[i], acc) && compareVersions(w.version(&rows[i]), w.version(acc)) != 0 {
				f.layers = append(f.layers, *acc)
				f.merged, f.prev = nil, -1
			}
		}
		if prev := f.merged; prev != nil || f.prev >= 0 {
			if prev == nil {
				prev = &rows[f.prev]
			}
			f.merged = mergeRows(prev, &rows[i])
		}
		f.prev = i
	}
	writes = make([]table.Row, 0, len(last))
	for _, f := range fates {
		for j, r := range f.layers {
			if j == len(p.layers) {
				p.layers = append(p.layers, nil)
			}
			p.layers[j] = append(p.layers[j], r)
		}
		// With soft deletes a key written and then deleted in one batch is
		// written, then stamped; a hard delete needs no write.
		switch {
		case f.write >= 0 && f.merged != nil && f.prev == f.write:
			writes = append(writes, *f.merged)
		case f.write >= 0:
			writes = append(writes, rows[f.write])
		}
		if f.deleted || f.reborn {
			deletes = append(deletes, rows[f.del])
		}
		if w.softIdx >= 0 && w.versionIdx >= 0 && f.del >= 0 && !f.deleted {
			prestamps = append(prestamps, rows[f.del])
			stampVersions = append(stampVersions, w.version(&rows[f.write]))
		}
	}
	// Writes are not sorted here: the upsert statement reads the staging
	// table ORDER BY the key, so the server takes row locks in key order
	// (what keeps concurrent writers from deadlocking) whatever the order
	// of the COPY, and the COPY reads the rows in the order they were made,
	// which is the order of their values in memory. Deletes join the
	// staging table without an ORDER BY: they are copied in key order.
	slices.SortFunc(deletes, func(a, b table.Row) int { return strings.Compare(a.Key, b.Key) })
	p.writes, p.deletes, p.prestamps, p.stampVersions = writes, deletes, prestamps, stampVersions
}

// covers reports whether r carries every column of prev.
func covers(r, prev *table.Row) bool {
	for _, i := range prev.Set.Indexes() {
		if !r.Set.Has(i) {
			return false
		}
	}
	return true
}

// version is r's version column value; nil (NULL) when r does not carry
// the column.
func (w *Writer) version(r *table.Row) any {
	if !r.Set.Has(w.versionIdx) {
		return nil
	}
	return r.Vals[w.versionIdx]
}

// mergeRows returns next with the columns it does not carry taken from
// prev, as a new row (the batch's rows are not modified: a retry or an
// isolation split writes them again). When next carries every column prev
// does, it is returned as is.
func mergeRows(prev, next *table.Row) *table.Row {
	if covers(next, prev) {
		return next
	}
	out := *next
	out.Vals = slices.Clone(next.Vals)
	out.Set = slices.Clone(next.Set)
	for _, i := range prev.Set.Indexes() {
		if !out.Set.Has(i) {
			out.Vals[i] = prev.Vals[i]
			out.Set.Add(i)
		}
	}
	return &out
}

// applyGroups writes rows grouped by the set of columns they carry. With
// stmt nil rows are copied straight into the table; otherwise they are
// copied into the staging table and stmt(cols) moves them.
func (w *Writer) applyGroups(ctx context.Context, tx *pgtx.Tx, rows []table.Row, stmt func(cols []string) string) error {
	if len(rows) == 0 {
		return nil
	}
	groups := groupBySet(rows)
	for gi, g := range groups {
		cols := w.columnNames(g.set)
		target := w.spec.Table.Ident()
		if stmt != nil {
			target = pgx.Identifier{w.stage}
			if gi > 0 {
				tx.Defer("TRUNCATE "+target.Sanitize(), nil)
			}
		}
		if err := w.copyRows(ctx, txCopier{tx}, target, cols, g.set.Indexes(), g.rows); err != nil {
			return err
		}
		if stmt != nil {
			// Sent with the next COPY, or with COMMIT.
			tx.Defer(stmt(cols), nil)
		}
	}
	return nil
}

func (w *Writer) columnNames(set table.Bitset) []string {
	idx := set.Indexes()
	cols := make([]string, len(idx))
	for i, c := range idx {
		cols[i] = w.spec.Table.Columns[c].Name
	}
	return cols
}

// upsertSQL is INSERT … SELECT … ORDER BY key ON CONFLICT (key) DO UPDATE
// SET every written non-key column; with a version column the update only
// happens when the incoming version is at least the stored one.
func (w *Writer) upsertSQL(cols []string) string {
	return w.upsertFrom(cols, pgx.Identifier{w.stage}.Sanitize())
}

// insertFrom is INSERT … SELECT cols FROM from ORDER BY key: upsertFrom
// without its ON CONFLICT clause.
func (w *Writer) insertFrom(cols []string, from string) string {
	var b strings.Builder
	w.writeInsert(&b, cols, from)
	return b.String()
}

func (w *Writer) writeInsert(b *strings.Builder, cols []string, from string) {
	b.WriteString("INSERT INTO ")
	b.WriteString(w.spec.Table.Ident().Sanitize())
	b.WriteString(" AS t (")
	b.WriteString(ddl.QuoteList(cols, ""))
	b.WriteString(") SELECT ")
	b.WriteString(ddl.QuoteList(cols, ""))
	b.WriteString(" FROM ")
	b.WriteString(from)
	b.WriteString(" ORDER BY ")
	b.WriteString(ddl.QuoteList(w.spec.KeyCols, ""))
}

// upsertFrom is upsertSQL reading the rows from from (a table or a
// subquery with its alias).
func (w *Writer) upsertFrom(cols []string, from string) string {
	var set []string
	for _, c := range cols {
		if !slices.Contains(w.spec.KeyCols, c) {
			q := pgx.Identifier{c}.Sanitize()
			set = append(set, q+" = EXCLUDED."+q)
		}
	}
	if w.softIdx >= 0 && !slices.Contains(cols, w.spec.SoftDeleteCol) {
		// A write after a soft delete brings the row back.
		set = append(set, pgx.Identifier{w.spec.SoftDeleteCol}.Sanitize()+" = NULL")
	}
	var b strings.Builder
	w.writeInsert(&b, cols, from)
	b.WriteString(" ON CONFLICT (")
	b.WriteString(ddl.QuoteList(w.spec.KeyCols, ""))
	b.WriteString(") ")
	if len(set) == 0 {
		b.WriteString("DO NOTHING")
		return b.String()
	}
	b.WriteString("DO UPDATE SET ")
	b.WriteString(strings.Join(set, ", "))
	if w.versionIdx >= 0 {
		src := ""
		if slices.Contains(cols, w.spec.VersionCol) {
			src = "EXCLUDED." + pgx.Identifier{w.spec.VersionCol}.Sanitize()
		}
		b.WriteString(" WHERE " + w.versionTest(src))
	}
	return b.String()
}

// versionTest is the one rule of a version column, for the stored row t: a
// write of version src (an expression; "" for a write without the column)
// replaces it unless the stored version is higher. An equal version is a
// later change of the same version: the later record wins, as inside a
// batch. A write without the column carries NULL, which only a stored NULL
// lets in. The soft-delete stamps negate it (IS NOT TRUE) to stamp the rows
// a write will not replace.
func (w *Writer) versionTest(src string) string {
	v := "t." + pgx.Identifier{w.spec.VersionCol}.Sanitize()
	if src == "" {
		return v + " IS NULL"
	}
	return v + " IS NULL OR " + src + " >= " + v
}

// rawSQL moves staged raw rows into the table, skipping (topic, partition,
// offset) already stored.
func (w *Writer) rawSQL(cols []string) string {
	return "INSERT INTO " + w.spec.Table.Ident().Sanitize() + " (" + ddl.QuoteList(cols, "") + ") SELECT " +
		ddl.QuoteList(cols, "") + " FROM " + pgx.Identifier{w.stage}.Sanitize() + " ON CONFLICT DO NOTHING"
}

// applyDeletes copies the keys of delete rows into the delete staging table
// and deletes (or soft-deletes) the matching rows. With versions (soft
// deletes: plan.prestamps) it stamps only the rows whose stored version a
// write of that version will not replace, as the upsert decides.
func (w *Writer) applyDeletes(ctx context.Context, tx *pgtx.Tx, rows []table.Row, versions []any) error {
	stage := pgx.Identifier{w.delStage}
	cols := append(slices.Clone(w.spec.KeyCols), "kafka2pg_deleted_at")
	if versions != nil {
		cols = append(cols, "kafka2pg_version")
	}
	vals := make([]any, len(cols))
	i := -1
	src := pgx.CopyFromFunc(func() ([]any, error) {
		i++
		if i >= len(rows) {
			return nil, nil
		}
		for k, c := range w.keyIdx {
			vals[k] = rows[i].Vals[c]
		}
		vals[len(w.keyIdx)] = rows[i].Timestamp
		if versions != nil {
			vals[len(vals)-1] = versions[i]
		}
		return vals, nil
	})
	if _, err := tx.CopyFrom(ctx, stage, cols, src); err != nil {
		return err
	}
	var match []string
	for _, k := range w.spec.KeyCols {
		q := pgx.Identifier{k}.Sanitize()
		match = append(match, "t."+q+" = d."+q)
	}
	var sql string
	target := w.spec.Table.Ident().Sanitize()
	if w.softIdx >= 0 {
		sql = "UPDATE " + target + " AS t SET " + pgx.Identifier{w.spec.SoftDeleteCol}.Sanitize() +
			" = d.kafka2pg_deleted_at FROM " + stage.Sanitize() + " AS d WHERE " + strings.Join(match, " AND ")
		if versions != nil {
			sql += " AND (" + w.versionTest("d.kafka2pg_version") + ") IS NOT TRUE"
		}
	} else {
		sql = "DELETE FROM " + target + " AS t USING " + stage.Sanitize() + " AS d WHERE " + strings.Join(match, " AND ")
	}
	tx.Defer(sql, nil)
	// The staging table is emptied at commit; a later delete run in the
	// same transaction must not see these keys again.
	tx.Defer("TRUNCATE "+stage.Sanitize(), nil)
	return nil
}

type rowGroup struct {
	set  table.Bitset
	rows []table.Row
}

// groupBySet splits rows by the columns they carry, keeping the order of
// first appearance and the rows' order inside each group.
func groupBySet(rows []table.Row) []rowGroup {
	// The common case: every record has the same shape.
	same := true
	for i := 1; i < len(rows); i++ {
		if !rows[i].Set.Equal(rows[0].Set) {
			same = false
			break
		}
	}
	if same {
		return []rowGroup{{set: rows[0].Set, rows: rows}}
	}
	var groups []rowGroup
	index := map[string]int{}
	for _, r := range rows {
		k := r.Set.Key()
		gi, ok := index[k]
		if !ok {
			gi = len(groups)
			index[k] = gi
			groups = append(groups, rowGroup{set: r.Set})
		}
		groups[gi].rows = append(groups[gi].rows, r)
	}
	return groups
}

// copyRows copies rows, projected onto the columns idx (named cols), into
// target with one binary COPY. The COPY data is encoded here, column by
// column with coerce.Type.AppendBinary, straight from the rows' values: no
// encode plan is looked up per value and no statement is described first.
// A column kind without such an encoder (arrays) sends the rows through
// pgx's CopyFrom instead.
//
// In a transaction the COPY is deferred (pgtx.Tx.DeferCopy): it travels
// with what follows it — the upsert from the staging table, the offset
// update, COMMIT — and its error is returned by the call that sends it.
// rows must stay unchanged until then.
func (w *Writer) copyRows(ctx context.Context, q copier, target pgx.Identifier, cols []string, idx []int, rows []table.Row) error {
	conn := q.Conn()
	cr := &copyReader{rows: rows, idx: idx, types: make([]*coerce.Type, len(idx)), tm: conn.TypeMap()}
	for k, c := range idx {
		t := w.spec.Table.Columns[c].Type
		if t == nil || t.Kind == coerce.KindArray {
			src := &rowSource{rows: rows, idx: idx, i: -1}
			_, err := q.CopyFrom(ctx, target, cols, src)
			return err
		}
		cr.types[k] = t
	}
	if w.describe.Load() {
		sd, err := conn.PgConn().Prepare(ctx, "", "SELECT "+ddl.QuoteList(cols, "")+" FROM "+target.Sanitize(), nil)
		if err != nil {
			return err
		}
		cr.oids = make([]uint32, len(sd.Fields))
		for k, f := range sd.Fields {
			cr.oids[k] = f.DataTypeOID
		}
	}
	sql := "COPY " + target.Sanitize() + " (" + ddl.QuoteList(cols, "") + ") FROM STDIN (FORMAT binary)"
	return q.copyData(ctx, sql, cr, func(err error) error {
		if e := cr.err.Load(); e != nil {
			return *e // the COPY was failed on purpose: say why
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == sqlstateProtocolViolation {
			// The server's column types are not the ones this writer
			// knows (a widened column reads more bytes than were sent:
			// "insufficient data left in message"). The error (class 08)
			// is retried, and the next attempt describes the types.
			w.describe.Store(true)
		}
		return err
	})
}

// copier is where a COPY runs: a transaction (txCopier), or a connection
// by itself (connCopier).
type copier interface {
	Conn() *pgx.Conn
	// CopyFrom is pgx's CopyFrom.
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
	// copyData runs, or queues to run, the COPY … FROM STDIN statement sql
	// with the data r. Its error, whenever it comes, goes through fail.
	copyData(ctx context.Context, sql string, r io.Reader, fail func(error) error) error
}

// txCopier defers a COPY in a transaction.
type txCopier struct{ *pgtx.Tx }

func (c txCopier) copyData(_ context.Context, sql string, r io.Reader, fail func(error) error) error {
	c.DeferCopy(sql, r, fail)
	return nil
}

// connCopier runs a COPY on a connection outside a transaction: the COPY
// is its own.
type connCopier struct{ conn *pgx.Conn }

func (c connCopier) Conn() *pgx.Conn { return c.conn }

func (c connCopier) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return c.conn.CopyFrom(ctx, table, cols, src)
}

func (c connCopier) copyData(ctx context.Context, sql string, r io.Reader, fail func(error) error) error {
	if _, err := c.conn.PgConn().CopyFrom(ctx, r, sql); err != nil {
		return fail(err)
	}
	return nil
}

// oneCopy reports whether rows are written by a single COPY and nothing
// else (insert mode, no deletes, every row carrying the same columns), and
// copies them on conn when they are: a COPY statement is a transaction of
// its own, atomic and durable when it returns, so such a batch needs no
// BEGIN and COMMIT round trips.
func (w *Writer) oneCopy(ctx context.Context, conn *pgx.Conn, rows []table.Row) (bool, error) {
	if w.spec.Mode != table.Insert || len(rows) == 0 {
		return false, nil
	}
	for i := range rows {
		if rows[i].Op != table.OpWrite {
			return false, nil
		}
	}
	groups := groupBySet(rows)
	if len(groups) != 1 {
		return false, nil
	}
	g := groups[0]
	return true, w.copyRows(ctx, connCopier{conn}, w.spec.Table.Ident(), w.columnNames(g.set), g.set.Indexes(), g.rows)
}

// copyChunk is how much COPY data a copyReader encodes ahead.
const copyChunk = 64 << 10

// copyReader is the binary COPY data of rows, encoded as it is read. pgconn
// reads it from a goroutine of its own, which may still be in a Read when
// CopyFrom returns on a server error: the reader's buffer is its own and is
// never reused.
type copyReader struct {
	rows  []table.Row
	idx   []int
	types []*coerce.Type
	tm    *pgtype.Map // for a value whose Go type AppendBinary does not take
	oids  []uint32    // the server's column types, when described (Writer.describe)
	i     int         // next row
	buf   []byte
	off   int
	state int // 0 header not written, 1 rows, 2 trailer written
	// err is why the reader failed the COPY; atomic, because pgconn may
	// return before its reading goroutine does.
	err atomic.Pointer[error]
}

func (r *copyReader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if r.state == 2 {
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			r.err.Store(&err)
			return 0, err
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// fill encodes the next rows, about copyChunk bytes of them.
func (r *copyReader) fill() error {
	if r.buf == nil {
		r.buf = make([]byte, 0, copyChunk+copyChunk/4)
	}
	buf := r.buf[:0]
	r.off = 0
	if r.state == 0 {
		buf = append(buf, copyHeader...)
		r.state = 1
	}
	if failpoints && r.i > 0 && r.i == len(r.rows)/2 {
		// The chunk before ended half-way through the rows (below) and
		// pgconn has sent it: the server is in the middle of this COPY.
		pause("pause-in-copy") // a test build's failpoint
	}
	for ; r.i < len(r.rows) && len(buf) < copyChunk; r.i++ {
		if failpoints && r.i > 0 && r.i == len(r.rows)/2 && len(buf) > 0 {
			break // end the chunk here, for the failpoint above
		}
		var err error
		if buf, err = appendCopyRow(buf, r.rows[r.i].Vals, r.idx, r.types, r.oids, r.tm, 0); err != nil {
			return err
		}
	}
	if r.i == len(r.rows) {
		buf = append(buf, copyTrailer...)
		r.state = 2
	}
	r.buf = buf
	return nil
}

// copyHeader and copyTrailer begin and end a binary COPY: the signature,
// flags and header extension length; a tuple of -1 fields.
const (
	copyHeader  = "PGCOPY\n\377\r\n\000" + "\000\000\000\000" + "\000\000\000\000"
	copyTrailer = "\377\377"
)

// appendCopyRow appends the binary COPY tuple of vals projected onto idx
// (types[k] the type of column idx[k]; oids, when not nil, the server's) to
// buf; the tuple counts tailCols more fields, which the caller appends.
func appendCopyRow(buf []byte, vals []any, idx []int, types []*coerce.Type, oids []uint32, tm *pgtype.Map, tailCols int) ([]byte, error) {
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(idx)+tailCols))
	for k, c := range idx {
		v := vals[c]
		if v == nil {
			buf = binary.BigEndian.AppendUint32(buf, 0xffffffff) // NULL
			continue
		}
		at := len(buf)
		buf = append(buf, 0, 0, 0, 0)
		oid, ok := types[k].OID, false
		if oids != nil && oids[k] != oid {
			oid = oids[k] // the server's type: pgx converts to it
		} else {
			buf, ok = types[k].AppendBinary(buf, v)
		}
		if !ok {
			out, err := tm.Encode(oid, pgtype.BinaryFormatCode, v, buf)
			if err != nil {
				return buf, fmt.Errorf("encoding column %d for COPY: %w", k+1, err)
			}
			if out == nil { // the value encodes as NULL
				buf = binary.BigEndian.AppendUint32(buf[:at], 0xffffffff)
				continue
			}
			buf = out
		}
		binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
	}
	return buf, nil
}

// rowSource feeds rows to COPY, projected onto the group's columns. pgx
// encodes each row before asking for the next, so one slice is reused.
type rowSource struct {
	rows []table.Row
	idx  []int
	i    int
	buf  []any
}

func (s *rowSource) Next() bool {
	s.i++
	if s.i == len(s.rows)/2 && s.i > 0 {
		pause("pause-in-copy") // a test build's failpoint; nothing otherwise
	}
	return s.i < len(s.rows)
}
func (s *rowSource) Err() error { return nil }
func (s *rowSource) Values() ([]any, error) {
	if s.buf == nil {
		s.buf = make([]any, len(s.idx))
	}
	vals := s.rows[s.i].Vals
	for k, c := range s.idx {
		s.buf[k] = vals[c]
	}
	return s.buf, nil
}

// compareVersions orders two version column values of the same column.
// NULL sorts first.
func compareVersions(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		default:
			return 1
		}
	}
	switch x := a.(type) {
	case int16:
		return cmp.Compare(x, b.(int16))
	case int32:
		return cmp.Compare(x, b.(int32))
	case int64:
		return cmp.Compare(x, b.(int64))
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	return 0
}

// sqlstateProtocolViolation is what the server answers to a binary COPY
// whose values are shorter than its column types need.
const sqlstateProtocolViolation = "08P01"
