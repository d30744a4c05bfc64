// Package transform turns Kafka records into table rows: it decodes the
// value (and key), maps fields to columns by name and coerces each value to
// the column's declared type.
package transform

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// ErrSkip is returned by Map for a record that has no effect on the route (a
// null payload without delete_on_tombstone, a Debezium truncate or message
// event); it is counted as skipped.
var ErrSkip = errors.New("record has no effect on this route")

// Spec is what a Mapper needs to know about its route.
type Spec struct {
	Table *table.Table
	Mode  table.Mode
	// Key and Value are the route's formats; nil means string and json.
	Key, Value *format.Format
	KeyCols    []string // columns that identify a row (upsert, deletes); may be empty
	// DeleteOnTombstone: a null value deletes the row by key.
	DeleteOnTombstone bool
	// Debezium reads change events (unwrap: debezium); TruncateFail makes a
	// truncate event a record error instead of a skip.
	Debezium, TruncateFail bool
	// Flatten maps nested records to columns a_b instead of one column a.
	Flatten bool
	// Evolve reports records whose fields the table cannot hold yet with a
	// *SchemaChange instead of ignoring the fields (auto_evolve).
	Evolve bool
	// ReplaceBy are the columns that identify a row's parent (each with
	// replace_by): MapParent fills them.
	ReplaceBy []string
	// Each: rows are made from the elements of a list (Input.Src), so the
	// Kafka key is not applied to them; a string key may then stand for a
	// one-column parent while the row key has several columns.
	Each bool
}

// SchemaChange is returned by Map when auto_evolve must change the table
// before the record can be mapped: Fields is every column the record needs
// (names as the table spells them where a column exists). The caller applies
// the DDL, builds a new Mapper for the new table and maps the record again.
type SchemaChange struct {
	Fields []codec.Field
	// Type is the record schema that needs the change (nil for a
	// schemaless record); see Mapper.Reject.
	Type *codec.Type
}

func (e *SchemaChange) Error() string {
	return fmt.Sprintf("the table needs new or wider columns for a record with %d fields", len(e.Fields))
}

// Mapper maps records of one route to rows. A Mapper is not safe for
// concurrent use (it reuses its parsers): give each worker its own.
type Mapper struct {
	spec       Spec
	own        *Reader         // decodes for Map; MapRecord takes a shared one's records
	rd         *reader         // own's, for raw mode
	d          decoded         // the record being mapped
	arena      *fastjson.Arena // the decoded value's arena, for values built while mapping
	replaceIdx []int
	computed   []int // columns the record being mapped computes
	// computedNames and computedCols remember the columns of the
	// computed values by position (computedColumn).
	computedNames []string
	computedCols  []int
	// The direct path's ops (DirectInput.Ops): each op's field's span in
	// scanned, the record's JSON text, and the buffer of their texts.
	opSpans  [][2]int
	scanned  []byte
	opBuf    []byte
	cols     map[string]int // field name → column index (writable columns only)
	keyIdx   []int
	required []int // NOT NULL columns without a default
	keyBuf   []byte
	raw      rawCols
	// fits caches, per record schema, whether the table holds it: nil, a
	// *SchemaChange, or a record error reason (*table.SchemaError).
	fits    map[*codec.Type]error
	missing []codec.Field // schemaless fields without a column (Evolve)
	slab    rowSlab
	boxes   coerce.Boxes // the column values of the rows, in shared chunks
	order   []fieldSlot  // top-level fields by position, as last seen
	direct  bool         // records may take the direct path (MapDirect)
	plain   bool         // the direct path's payloads are plain (format.Format.PlainPayload)
	written bool         // the direct path's payloads are written text (format.Format.WrittenPayload)
	// plainNow: the payload being scanned is valid JSON without a
	// backslash (plain, or written with nothing to escape), so plainEnd
	// finds its nested values' ends.
	plainNow bool
	jbuf     []byte // the direct path's json/jsonb text
	vbuf     []byte // the direct path's record text (avro's JSON)
	// spanParser parses the values the direct path does not read itself.
	spanParser fastjson.Parser
	din        *DirectInput       // the route's, for the record being scanned
	parsers    []*fastjson.Parser // values kept for expressions
	parsed     int                // parsers used by the record being scanned
	bigParse   bool               // the record parsed a value over maxKeptBuffer
}

// rowSlab hands out rows' Vals and Set from allocations shared by
// slabRows rows, instead of two allocations per row. A slab is never
// reused: it is garbage once no row taken from it is referenced. Each
// piece is capped at its length, so an append to it cannot reach the next.
type rowSlab struct {
	vals []any
	sets []uint64
}

const slabRows = 128

func (s *rowSlab) take(ncols int) ([]any, table.Bitset) {
	words := (ncols + 63) / 64
	if len(s.vals) < ncols {
		s.vals = make([]any, ncols*slabRows)
	}
	if len(s.sets) < words {
		s.sets = make([]uint64, words*slabRows)
	}
	v := s.vals[:ncols:ncols]
	b := s.sets[:words:words]
	s.vals, s.sets = s.vals[ncols:], s.sets[words:]
	return v, table.Bitset(b)
}

// NewMapper checks the spec against the table.
func NewMapper(spec Spec) (*Mapper, error) {
	t := spec.Table
	m := &Mapper{spec: spec, cols: make(map[string]int, len(t.Columns)), fits: map[*codec.Type]error{}}
	if m.spec.Key == nil {
		m.spec.Key = format.String
	}
	if m.spec.Value == nil {
		m.spec.Value = format.JSON
	}
	m.direct = directOK(&m.spec)
	m.plain = m.spec.Value.PlainPayload()
	m.written = m.spec.Value.WrittenPayload()
	m.own = NewReader(m.spec, spec.Evolve)
	m.rd = &m.own.rd
	for i, c := range t.Columns {
		if c.Generated {
			continue
		}
		m.cols[c.Name] = i
		if c.NotNull && !c.HasDefault {
			m.required = append(m.required, i)
		}
	}
	// Fields match columns exactly first; a field that matches no column
	// exactly but matches one case-insensitively ("orderId" → orderid) is
	// taken too, as PostgreSQL folds unquoted names to lower case.
	for i, c := range t.Columns {
		if lc := strings.ToLower(c.Name); lc == c.Name && !c.Generated {
			m.cols[lc] = i
		}
	}
	for _, k := range spec.KeyCols {
		i := t.Column(k)
		if i < 0 {
			return nil, fmt.Errorf("%s has no key column %q", t, k)
		}
		if t.Columns[i].Type == nil {
			return nil, fmt.Errorf("%s: key column %q: %v", t, k, t.Columns[i].TypeErr)
		}
		m.keyIdx = append(m.keyIdx, i)
	}
	for _, c := range spec.ReplaceBy {
		i := t.Column(c)
		if i < 0 {
			return nil, fmt.Errorf("replace_by: %s has no column %q", t, c)
		}
		m.replaceIdx = append(m.replaceIdx, i)
	}
	switch {
	case m.spec.Key.Structured() || spec.Mode == table.Raw:
	case spec.Each && len(m.replaceIdx) > 1:
		return nil, fmt.Errorf("%s: key format %s gives one value but replace_by has %d columns (%s); use a structured key format",
			t, m.spec.Key.Name, len(m.replaceIdx), strings.Join(spec.ReplaceBy, ", "))
	case !spec.Each && len(m.keyIdx) > 1:
		return nil, fmt.Errorf("%s: key format string gives one value but the key has %d columns (%s); use key format json",
			t, len(m.keyIdx), strings.Join(spec.KeyCols, ", "))
	}
	if spec.Mode == table.Raw {
		for _, p := range []struct {
			name string
			dst  *int
		}{{"topic", &m.raw.topic}, {"partition", &m.raw.partition}, {"offset", &m.raw.offset}, {"key", &m.raw.key},
			{"value", &m.raw.value}, {"headers", &m.raw.headers}, {"timestamp", &m.raw.timestamp}} {
			if *p.dst = t.Column(p.name); *p.dst < 0 {
				return nil, fmt.Errorf("%s is not a kafka2pg raw table: no column %q", t, p.name)
			}
		}
	}
	return m, nil
}

// Skip reports whether r has no effect under this route: a tombstone when
// the route does not delete on tombstones.
func (m *Mapper) Skip(r *kgo.Record) bool {
	return r.Value == nil && !m.spec.DeleteOnTombstone && m.spec.Mode != table.Raw
}

// Map fills row from r (decoding it with the mapper's own Reader). It
// returns a *RecordError when the record cannot become a row, ErrSkip when it
// has no effect, a *SchemaChange when the table must evolve first
// (Spec.Evolve), and any other error (a schema registry that cannot be
// reached) as is. The row's values do not alias r or the parser's memory.
// ctx bounds schema registry lookups.
func (m *Mapper) Map(ctx context.Context, r *kgo.Record, row *table.Row) error {
	if m.spec.Mode == table.Raw {
		m.initRow(r, row)
		return m.mapRaw(ctx, r, row)
	}
	if m.MapDirect(r, row) {
		return nil
	}
	rec, err := m.own.Read(ctx, r)
	if err != nil {
		return err
	}
	return m.MapRecord(rec, nil, row)
}

// Input is what MapRecord makes a row of, besides the record.
type Input struct {
	// Src is the object whose fields map to columns by name instead of the
	// record's value (an each element); nil maps none when Each is set.
	Src *fastjson.Value
	// ByName is false for columns_only: only Computed columns are set.
	NoByName bool
	// Computed are columns computed by expressions; they win over fields
	// and the key.
	Computed []Computed
}

// Computed is one computed column's value in the canonical decoded form.
type Computed struct {
	Column string
	Value  *fastjson.Value
}

// computedColumn is the index of the k-th computed column, name: a route
// computes the same columns in the same order for every record, so the
// name is looked up in the table once.
func (m *Mapper) computedColumn(k int, name string) int {
	if k < len(m.computedNames) && m.computedNames[k] == name {
		return m.computedCols[k]
	}
	i := m.spec.Table.Column(name)
	if k < len(m.computedNames) {
		m.computedNames[k], m.computedCols[k] = name, i
	} else if k == len(m.computedNames) {
		m.computedNames, m.computedCols = append(m.computedNames, name), append(m.computedCols, i)
	}
	return i
}

func (m *Mapper) initRow(r *kgo.Record, row *table.Row) {
	t := m.spec.Table
	row.Vals, row.Set = m.slab.take(len(t.Columns))
	row.Timestamp = r.Timestamp
	row.Offset = r.Offset
	row.Key = ""
	row.Op = table.OpWrite
}

// MapRecord fills row from a record decoded by a Reader of a route with the
// same formats and unwrap (see Map for the errors). in may be nil: the
// record's value maps by name.
func (m *Mapper) MapRecord(rec *Record, in *Input, row *table.Row) error {
	r := rec.R
	m.initRow(r, row)
	t := m.spec.Table
	m.d = rec.d
	m.arena = &rec.rd.value.Arena
	d := &m.d
	if d.skipped || d.op == table.OpDelete && !m.spec.DeleteOnTombstone && d.dbz == nil {
		return ErrSkip
	}
	if in == nil {
		in = &Input{}
	}
	row.Op = d.op
	if d.op == table.OpWrite {
		src, typ := d.value, d.typ
		if m.spec.Each {
			src, typ = in.Src, nil
		}
		if typ != nil && m.spec.Evolve && !in.NoByName {
			if err := m.checkSchema(r, typ); err != nil {
				return err
			}
		}
		m.missing = m.missing[:0]
		// Computed columns win: their fields are not mapped by name (a
		// field that would not fit the column is no error then).
		m.computed = m.computed[:0]
		for k, c := range in.Computed {
			if i := m.computedColumn(k, c.Column); i >= 0 {
				m.computed = append(m.computed, i)
			}
		}
		if src != nil && !in.NoByName {
			if m.spec.Each && src.Type() != fastjson.TypeObject {
				src = nil // an element that is not an object has no fields
			} else if err := m.visit(r, row, nil, src, typ, 0); err != nil {
				return err
			}
		}
		if len(m.missing) > 0 {
			return &SchemaChange{Fields: m.schemalessFields(src)}
		}
		if d.dbz != nil && !in.NoByName {
			for _, x := range debeziumExtras {
				i, ok := m.cols[x.name]
				if !ok {
					continue
				}
				if v := d.dbz.extra(x.name, m.arena); v != nil {
					if err := setColumn(m, r, row, x.name, i, v); err != nil {
						return err
					}
				}
			}
		}
	}
	if !m.spec.Each || row.Op == table.OpDelete {
		if err := m.applyKey(r, row); err != nil {
			return err
		}
	}
	if row.Op == table.OpWrite {
		for k, c := range in.Computed {
			i := m.computedColumn(k, c.Column)
			if i < 0 || t.Columns[i].Generated {
				return recErr(r, StageTransform, "", c.Column, "%s has no writable column %q for this computed column", t, c.Column)
			}
			if err := setColumn(m, r, row, "", i, c.Value); err != nil {
				re := err.(*RecordError)
				re.Stage = StageTransform
				return re
			}
		}
	}
	if err := m.encodeKey(r, row); err != nil {
		return err
	}
	if row.Op == table.OpDelete {
		return nil
	}
	for _, i := range m.required {
		if !row.Set.Has(i) && !(d.dbz != nil && m.unavailable(row, i)) {
			return recErr(r, StageMap, "", t.Columns[i].Name, "no value for NOT NULL column %s without a default", t.Columns[i].TypeName)
		}
	}
	return nil
}

// MapValues fills row with values (a Go transform's row): op OpWrite or
// OpDelete, the values coerced to their columns like fields, the key taken
// from them. The record gives the row its offset and timestamp.
func (m *Mapper) MapValues(r *kgo.Record, op table.Op, values []Computed, row *table.Row) error {
	m.initRow(r, row)
	m.d = decoded{}
	t := m.spec.Table
	row.Op = op
	for _, c := range values {
		i := t.Column(c.Column)
		if i < 0 || t.Columns[i].Generated {
			return recErr(r, StageTransform, "", c.Column, "%s has no writable column %q", t, c.Column)
		}
		if err := setColumn(m, r, row, "", i, c.Value); err != nil {
			re := err.(*RecordError)
			re.Stage = StageTransform
			return re
		}
	}
	if err := m.encodeKey(r, row); err != nil {
		return err
	}
	if op == table.OpDelete {
		return nil
	}
	for _, i := range m.required {
		if !row.Set.Has(i) {
			return recErr(r, StageTransform, "", t.Columns[i].Name, "no value for NOT NULL column %s without a default", t.Columns[i].TypeName)
		}
	}
	return nil
}

// MapParent fills row with the parent of an each route's record (Op
// OpReplace): the replace_by columns, from the computed columns of a record
// with a value or from the Kafka key of a tombstone. The record's rows (none
// for a tombstone) are then its parent's whole set.
func (m *Mapper) MapParent(rec *Record, computed []Computed, row *table.Row) error {
	r := rec.R
	m.initRow(r, row)
	m.d = rec.d
	t := m.spec.Table
	row.Op = table.OpReplace
	if rec.d.op == table.OpDelete {
		row.Op = table.OpDelete // for applyKey's messages; the key fills the parent
		if err := m.applyKey(r, row); err != nil {
			return err
		}
		row.Op = table.OpReplace
	} else {
		if rec.d.value != nil && rec.d.value.Type() == fastjson.TypeObject {
			if err := m.visit(r, row, nil, rec.d.value, nil, 0); err != nil {
				return err
			}
		}
		for _, c := range computed {
			if i := t.Column(c.Column); i >= 0 && slices.Contains(m.spec.ReplaceBy, c.Column) {
				if err := setColumn(m, r, row, "", i, c.Value); err != nil {
					return err
				}
			}
		}
	}
	for _, c := range m.spec.ReplaceBy {
		i := t.Column(c)
		if !row.Set.Has(i) || row.Vals[i] == nil {
			what := "the record"
			if rec.d.op == table.OpDelete {
				what = "the tombstone's key"
			}
			return recErr(r, StageTransform, "", c, "%s gives no value for replace_by column %q", what, c)
		}
	}
	return nil
}

// unavailable is true for a column whose Debezium placeholder was skipped:
// the row keeps its stored value, so a missing NOT NULL value is fine.
func (m *Mapper) unavailable(row *table.Row, i int) bool {
	v := m.d.value.Get(m.spec.Table.Columns[i].Name)
	return v != nil && isUnavailable(v)
}
