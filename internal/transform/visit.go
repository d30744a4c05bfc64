package transform

import (
	"errors"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// The record visitor: fields to columns by name, with the field-order
// cache, flatten, and the schema checks of auto_evolve.

// fieldSlot caches the column of the field at one position of a record's
// top level: records of one producer list their fields in the same order,
// so a field is found by comparing its name with the slot's, without
// hashing.
type fieldSlot struct {
	name string
	col  int
	ok   bool
	// read is whether the direct path's expressions read the field: 0 not
	// known yet, 1 no, 2 yes (a Mapper serves one route).
	read uint8
	// op is 1 + the index of the DirectInput op that reads the field, or
	// 0; set with read.
	op int
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
		if m.spec.Flatten && fv.Type() == fastjson.TypeObject && depth < codec.MaxFlattenDepth {
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
		if top {
			i, ok = m.topColumn(pos, name)
		} else {
			i, ok = m.lookup(name)
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

// topColumn finds the column of the top-level field name at position pos
// of a record, through the field-order cache.
func (m *Mapper) topColumn(pos int, name []byte) (int, bool) {
	sl := m.topSlot(pos, name)
	return sl.col, sl.ok
}

// topSlot is the field-order cache's slot for the top-level field name at
// position pos (past maxFieldSlots, a slot of its own).
func (m *Mapper) topSlot(pos int, name []byte) *fieldSlot {
	if pos < len(m.order) && m.order[pos].name == string(name) {
		return &m.order[pos]
	}
	i, ok := m.lookup(name)
	slot := fieldSlot{name: string(name), col: i, ok: ok}
	if pos <= len(m.order) && pos < maxFieldSlots {
		if pos == len(m.order) {
			m.order = append(m.order, slot)
		} else {
			m.order[pos] = slot
		}
		return &m.order[pos]
	}
	return &slot
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
		fields := codec.FlattenFields(typ, m.spec.Flatten)
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
	t := codec.InferType(v, m.spec.Flatten)
	if t == nil || t.Kind != codec.KindRecord {
		return nil
	}
	fields := codec.FlattenFields(t, m.spec.Flatten)
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
