package transform

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/table"
)

// The Kafka key: its columns, and the encoded key that identifies a row
// inside a batch.

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
