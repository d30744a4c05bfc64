// Package transform turns Kafka records into table rows: it decodes the
// value (and key), maps fields to columns by name and coerces each value to
// the column's declared type.
package transform

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

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
	cols          map[string]int // field name → column index (writable columns only)
	keyIdx        []int
	required      []int // NOT NULL columns without a default
	keyBuf        []byte
	raw           rawCols
	// fits caches, per record schema, whether the table holds it: nil, a
	// *SchemaChange, or a record error reason (*table.SchemaError).
	fits    map[*codec.Type]error
	missing []codec.Field // schemaless fields without a column (Evolve)
	slab    rowSlab
	boxes   coerce.Boxes // the column values of the rows, in shared chunks
	order   []fieldSlot  // top-level fields by position, as last seen
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

// fieldSlot caches the column of the field at one position of a record's
// top level: records of one producer list their fields in the same order,
// so a field is found by comparing its name with the slot's, without
// hashing.
type fieldSlot struct {
	name string
	col  int
	ok   bool
}

// rawCols are the column indexes of kafka2pg's raw table.
type rawCols struct{ topic, partition, offset, key, value, headers, timestamp int }

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

// lookup finds the column for a field name.
func (m *Mapper) lookup(field []byte) (int, bool) {
	if i, ok := m.cols[string(field)]; ok {
		return i, true
	}
	for _, c := range field {
		if c >= 'A' && c <= 'Z' {
			i, ok := m.cols[strings.ToLower(string(field))]
			return i, ok
		}
	}
	return 0, false
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

// visit maps the fields of obj (a record, or with flatten a nested record
// whose names are prefixed) to columns. typ is the record's schema when
// known: only fields it says are records are flattened (a map or free-form
// JSON goes whole to its column); without a schema every object is.
func (m *Mapper) visit(r *kgo.Record, row *table.Row, prefix []byte, v *fastjson.Value, typ *codec.Type, depth int) error {
	obj, err := v.Object()
	if err != nil {
		return recErr(r, StageDecode, "", "", "value is a %s, not an object", describe(v))
	}
	var ferr error
	top := len(prefix) == 0 && depth == 0
	pos := -1
	obj.Visit(func(key []byte, fv *fastjson.Value) {
		pos++
		if ferr != nil {
			return
		}
		name := key
		if len(prefix) > 0 {
			name = append(append(prefix[:len(prefix):len(prefix)], '_'), key...)
		}
		if m.spec.Flatten && fv.Type() == fastjson.TypeObject && depth < maxFlattenDepth {
			var ft *codec.Type
			if typ != nil {
				if f := typ.Field(string(key)); f != nil {
					ft = f.Type
				}
			}
			if typ == nil || ft != nil && ft.Kind == codec.KindRecord && len(ft.Fields) > 0 {
				ferr = m.visit(r, row, name, fv, ft, depth+1)
				return
			}
		}
		if m.d.dbz != nil && isUnavailable(fv) {
			return // an unchanged TOASTed value: leave the stored column alone
		}
		var i int
		var ok bool
		if top && pos < len(m.order) && m.order[pos].name == string(name) {
			i, ok = m.order[pos].col, m.order[pos].ok
		} else {
			i, ok = m.lookup(name)
			if top && pos <= len(m.order) && pos < maxFieldSlots {
				slot := fieldSlot{name: string(name), col: i, ok: ok}
				if pos == len(m.order) {
					m.order = append(m.order, slot)
				} else {
					m.order[pos] = slot
				}
			}
		}
		if !ok {
			if m.spec.Evolve && m.d.typ == nil && fv.Type() != fastjson.TypeNull {
				m.missing = append(m.missing, codec.Field{Name: string(name)})
			}
			return // fields without a column are ignored
		}
		if slices.Contains(m.computed, i) {
			return
		}
		ferr = setColumn(m, r, row, name, i, fv)
	})
	return ferr
}

// maxFieldSlots bounds the field-order cache (records with more top-level
// fields look the rest up by name).
const maxFieldSlots = 1024

// setColumn coerces fv into column i of row. field (the record's field
// name, for errors) is a string or the bytes of the decoded record: a
// field read while visiting the record becomes a string only for an error.
func setColumn[F string | []byte](m *Mapper, r *kgo.Record, row *table.Row, field F, i int, fv *fastjson.Value) error {
	c := &m.spec.Table.Columns[i]
	if c.Type == nil {
		return recErr(r, StageMap, string(field), c.Name, "%v", c.TypeErr)
	}
	val, err := c.Type.FromJSONIn(fv, &m.boxes)
	if err != nil {
		return recErr(r, StageMap, string(field), c.Name, "%v", err)
	}
	if val == nil && c.NotNull {
		return recErr(r, StageMap, string(field), c.Name, "null for NOT NULL column")
	}
	row.Vals[i] = val
	row.Set.Add(i)
	return nil
}

// checkSchema compares a record schema with the table, once per schema.
func (m *Mapper) checkSchema(r *kgo.Record, typ *codec.Type) error {
	res, ok := m.fits[typ]
	if !ok {
		fields := flattenFields(typ, m.spec.Flatten)
		for j := range fields {
			if i, ok := m.lookup([]byte(fields[j].Name)); ok {
				fields[j].Name = m.spec.Table.Columns[i].Name
			}
		}
		changes, err := table.Fit(m.spec.Table, fields, m.spec.KeyCols)
		switch {
		case err != nil:
			res = err
		case len(changes) > 0:
			res = &SchemaChange{Fields: fields, Type: typ}
		}
		if len(m.fits) > 1024 {
			clear(m.fits)
		}
		m.fits[typ] = res
	}
	var se *table.SchemaError
	if errors.As(res, &se) {
		return recErr(r, StageMap, se.Field, se.Column, "auto_evolve: %s", se.Reason)
	}
	return res
}

// Reject records that the change a record schema needs was refused (err is
// the *table.SchemaError): later records of that schema fail with it at
// once instead of asking for the change again.
func (m *Mapper) Reject(typ *codec.Type, err error) {
	if typ != nil {
		m.fits[typ] = err
	}
}

// schemalessFields is every field of a schemaless record with the type its
// value suggests, for auto_evolve.
func (m *Mapper) schemalessFields(v *fastjson.Value) []codec.Field {
	t := inferType(v, m.spec.Flatten, 0)
	if t == nil || t.Kind != codec.KindRecord {
		return nil
	}
	fields := flattenFields(t, m.spec.Flatten)
	out := fields[:0]
	for _, f := range fields {
		// A field with a column was mapped and coerced already: the type
		// guessed from one schemaless value is no reason to change the
		// column (integer → bigint, date → text, dropping NOT NULL).
		if _, ok := m.lookup([]byte(f.Name)); ok {
			continue
		}
		f.Optional = true
		out = append(out, f)
	}
	return out
}

// applyKey applies the Kafka key: its values win over the value's fields.
func (m *Mapper) applyKey(r *kgo.Record, row *table.Row) error {
	t := m.spec.Table
	switch {
	case m.d.key != nil:
		return m.visitKey(r, row, m.d.key)
	case r.Key != nil && !m.spec.Key.Structured():
		idx := m.keyIdx
		if m.spec.Each {
			idx = m.replaceIdx // a scalar key stands for the parent
		}
		if len(idx) == 1 {
			i := idx[0]
			c := &t.Columns[i]
			val, err := c.Type.FromText(string(r.Key))
			if err != nil {
				return recErr(r, StageMap, "key", c.Name, "%v", err)
			}
			row.Vals[i] = val
			row.Set.Add(i)
		}
	case row.Op == table.OpDelete && m.d.dbz != nil && m.d.value != nil:
		// A Debezium delete without a usable Kafka key: "before" has the key.
		for _, i := range m.keyIdx {
			if fv := m.d.value.Get(t.Columns[i].Name); fv != nil {
				if err := setColumn(m, r, row, t.Columns[i].Name, i, fv); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// encodeKey encodes the row's identity from its key columns.
func (m *Mapper) encodeKey(r *kgo.Record, row *table.Row) error {
	t := m.spec.Table
	if len(m.keyIdx) == 0 {
		if row.Op == table.OpDelete {
			return recErr(r, StageMap, "key", "", "tombstone but %s has no key to delete by", t)
		}
		return nil
	}
	buf := m.keyBuf[:0]
	for _, i := range m.keyIdx {
		if !row.Set.Has(i) || row.Vals[i] == nil {
			what := "record"
			if row.Op == table.OpDelete {
				what = "tombstone"
				if m.d.dbz != nil {
					what = "Debezium delete"
				}
			}
			return recErr(r, StageMap, "key", t.Columns[i].Name, "%s has no value for key column", what)
		}
		buf = table.AppendKey(buf, row.Vals[i])
	}
	m.keyBuf = buf
	row.Key = string(buf)
	return nil
}

// visitKey maps a structured key's fields (flattened like the value's).
func (m *Mapper) visitKey(r *kgo.Record, row *table.Row, key *fastjson.Value) error {
	obj, _ := key.Object()
	var ferr error
	obj.Visit(func(k []byte, fv *fastjson.Value) {
		if ferr != nil {
			return
		}
		if i, ok := m.lookup(k); ok {
			ferr = setColumn(m, r, row, "key."+string(k), i, fv)
			if re, ok := ferr.(*RecordError); ok {
				re.Field = "key"
			}
		}
	})
	return ferr
}

func (m *Mapper) mapRaw(ctx context.Context, r *kgo.Record, row *table.Row) error {
	t := m.spec.Table
	set := func(i int, v any) { row.Vals[i] = v; row.Set.Add(i) }
	row.Op = table.OpWrite
	set(m.raw.topic, r.Topic)
	set(m.raw.partition, r.Partition)
	set(m.raw.offset, r.Offset)
	set(m.raw.timestamp, r.Timestamp)
	m.rd.key.Reset()
	m.rd.value.Reset()
	if r.Key != nil {
		c := &t.Columns[m.raw.key]
		val, err := c.Type.FromText(string(r.Key))
		if m.spec.Key.Structured() {
			v, _, derr := m.rd.decode(ctx, r, r.Key, true)
			if derr != nil {
				return derr
			}
			val, err = c.Type.FromJSON(v)
		}
		if err != nil {
			return recErr(r, StageMap, "key", "key", "%v", err)
		}
		set(m.raw.key, val)
	} else {
		set(m.raw.key, nil)
	}
	if r.Value != nil {
		v, _, err := m.rd.decode(ctx, r, r.Value, false)
		if err != nil {
			return err
		}
		val, err := t.Columns[m.raw.value].Type.FromJSON(v)
		if err != nil {
			return recErr(r, StageMap, "", "value", "%v", err)
		}
		set(m.raw.value, val)
	} else {
		set(m.raw.value, nil)
	}
	set(m.raw.headers, HeadersJSON(r.Headers))
	return nil
}

// HeadersJSON renders headers as a JSON array of {"key", "value"} objects,
// keeping order and repeats; a value that is not UTF-8 is given as
// "value_base64" instead.
func HeadersJSON(hs []kgo.RecordHeader) []byte {
	if len(hs) == 0 {
		return []byte("[]")
	}
	var a fastjson.Arena
	arr := a.NewArray()
	for i, h := range hs {
		o := a.NewObject()
		o.Set("key", a.NewString(h.Key))
		switch {
		case h.Value == nil:
			o.Set("value", a.NewNull())
		case utf8.Valid(h.Value):
			o.Set("value", a.NewString(string(h.Value)))
		default:
			o.Set("value_base64", a.NewString(base64.StdEncoding.EncodeToString(h.Value)))
		}
		arr.SetArrayItem(i, o)
	}
	return arr.MarshalTo(nil)
}
