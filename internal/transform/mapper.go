// Package transform turns Kafka records into table rows: it decodes the
// value (and key), maps fields to columns by name and coerces each value to
// the column's declared type.
package transform

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
)

// KeyFormat is how the Kafka key is read.
type KeyFormat int

const (
	KeyString KeyFormat = iota + 1 // the key bytes are the value of the single key column
	KeyJSON                        // the key is a JSON object whose fields map to columns
)

// ValueFormat is how the Kafka value is read.
type ValueFormat int

const (
	ValueJSON    ValueFormat = iota // a JSON object whose fields map to columns
	ValueConnect                    // Kafka Connect's JsonConverter envelope {"schema", "payload"}
)

// ErrSkip is returned by Map for a record that has no effect on the route (a
// Connect null payload without delete_on_tombstone); it is counted as skipped.
var ErrSkip = errors.New("record has no effect on this route")

// Spec is what a Mapper needs to know about its route.
type Spec struct {
	ValueFormat       ValueFormat
	Table             *pgwrite.Table
	Mode              pgwrite.Mode
	KeyFormat         KeyFormat
	KeyCols           []string // columns that identify a row (upsert, deletes); may be empty
	DeleteOnTombstone bool
}

// Mapper maps records of one route to rows. A Mapper is not safe for
// concurrent use (it reuses its JSON parsers): give each worker its own.
type Mapper struct {
	spec     Spec
	cols     map[string]int // field name → column index (writable columns only)
	keyIdx   []int
	required []int // NOT NULL columns without a default
	vp, kp   fastjson.Parser
	arena    fastjson.Arena // Connect payloads rewritten per record
	keyBuf   []byte
	raw      rawCols
}

// rawCols are the column indexes of kafka2pg's raw table.
type rawCols struct{ topic, partition, offset, key, value, headers, timestamp int }

// NewMapper checks the spec against the table.
func NewMapper(spec Spec) (*Mapper, error) {
	t := spec.Table
	m := &Mapper{spec: spec, cols: make(map[string]int, len(t.Columns))}
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
	if spec.KeyFormat == KeyString && len(m.keyIdx) > 1 && spec.Mode != pgwrite.Raw {
		return nil, fmt.Errorf("%s: key format string gives one value but the key has %d columns (%s); use key format json",
			t, len(m.keyIdx), strings.Join(spec.KeyCols, ", "))
	}
	if spec.Mode == pgwrite.Raw {
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
	return r.Value == nil && !m.spec.DeleteOnTombstone && m.spec.Mode != pgwrite.Raw
}

// Map fills row from r. It returns a *RecordError when the record cannot
// become a row. The row's values do not alias r or the parser's memory.
func (m *Mapper) Map(r *kgo.Record, row *pgwrite.Row) error {
	t := m.spec.Table
	row.Vals = make([]any, len(t.Columns))
	row.Set = pgwrite.NewBitset(len(t.Columns))
	row.Timestamp = r.Timestamp
	row.Offset = r.Offset
	row.Key = ""
	if m.spec.Mode == pgwrite.Raw {
		return m.mapRaw(r, row)
	}
	var v *fastjson.Value
	if r.Value != nil {
		var err error
		if v, err = m.vp.ParseBytes(r.Value); err != nil {
			return m.errf(r, StageDecode, "", "", "value is not valid JSON: %v", err)
		}
		if m.spec.ValueFormat == ValueConnect {
			m.arena.Reset()
			if v, err = unwrapConnect(v, &m.arena); err != nil {
				return m.errf(r, StageDecode, "", "", "%v", err)
			}
			if v == nil && !m.spec.DeleteOnTombstone {
				return ErrSkip // a null payload is a tombstone
			}
		}
	}
	if v == nil {
		row.Op = pgwrite.OpDelete
	} else {
		row.Op = pgwrite.OpWrite
		obj, err := v.Object()
		if err != nil {
			return m.errf(r, StageDecode, "", "", "value is a JSON %s, not an object", v.Type())
		}
		var ferr error
		obj.Visit(func(key []byte, fv *fastjson.Value) {
			if ferr != nil {
				return
			}
			ferr = m.setField(r, row, key, fv)
		})
		if ferr != nil {
			return ferr
		}
	}
	if err := m.mapKey(r, row); err != nil {
		return err
	}
	if row.Op == pgwrite.OpDelete {
		return nil
	}
	for _, i := range m.required {
		if !row.Set.Has(i) {
			return m.errf(r, StageMap, "", t.Columns[i].Name, "no value for NOT NULL column %s without a default", t.Columns[i].TypeName)
		}
	}
	return nil
}

func (m *Mapper) setField(r *kgo.Record, row *pgwrite.Row, key []byte, fv *fastjson.Value) error {
	i, ok := m.lookup(key)
	if !ok {
		return nil // fields without a column are ignored
	}
	c := &m.spec.Table.Columns[i]
	if c.Type == nil {
		return m.errf(r, StageMap, string(key), c.Name, "%v", c.TypeErr)
	}
	val, err := c.Type.FromJSON(fv)
	if err != nil {
		return m.errf(r, StageMap, string(key), c.Name, "%v", err)
	}
	if val == nil && c.NotNull {
		return m.errf(r, StageMap, string(key), c.Name, "null for NOT NULL column")
	}
	row.Vals[i] = val
	row.Set.Add(i)
	return nil
}

// mapKey applies the Kafka key (its values win over the value's fields) and
// encodes the row's identity.
func (m *Mapper) mapKey(r *kgo.Record, row *pgwrite.Row) error {
	t := m.spec.Table
	if r.Key != nil {
		switch m.spec.KeyFormat {
		case KeyString:
			if len(m.keyIdx) == 1 {
				i := m.keyIdx[0]
				c := &t.Columns[i]
				val, err := c.Type.FromText(string(r.Key))
				if err != nil {
					return m.errf(r, StageMap, "key", c.Name, "%v", err)
				}
				row.Vals[i] = val
				row.Set.Add(i)
			}
		case KeyJSON:
			v, err := m.kp.ParseBytes(r.Key)
			if err != nil {
				return m.errf(r, StageDecode, "key", "", "key is not valid JSON: %v", err)
			}
			obj, err := v.Object()
			if err != nil {
				return m.errf(r, StageDecode, "key", "", "key is a JSON %s, not an object", v.Type())
			}
			var ferr error
			obj.Visit(func(k []byte, fv *fastjson.Value) {
				if ferr == nil {
					ferr = m.setField(r, row, k, fv)
				}
			})
			if ferr != nil {
				return ferr
			}
		}
	}
	if len(m.keyIdx) == 0 {
		if row.Op == pgwrite.OpDelete {
			return m.errf(r, StageMap, "key", "", "tombstone but %s has no key to delete by", t)
		}
		return nil
	}
	buf := m.keyBuf[:0]
	for _, i := range m.keyIdx {
		if !row.Set.Has(i) || row.Vals[i] == nil {
			what := "record"
			if row.Op == pgwrite.OpDelete {
				what = "tombstone"
			}
			return m.errf(r, StageMap, "key", t.Columns[i].Name, "%s has no value for key column", what)
		}
		buf = pgwrite.AppendKey(buf, row.Vals[i])
	}
	m.keyBuf = buf
	row.Key = string(buf)
	return nil
}

func (m *Mapper) mapRaw(r *kgo.Record, row *pgwrite.Row) error {
	t := m.spec.Table
	set := func(i int, v any) { row.Vals[i] = v; row.Set.Add(i) }
	row.Op = pgwrite.OpWrite
	set(m.raw.topic, r.Topic)
	set(m.raw.partition, r.Partition)
	set(m.raw.offset, r.Offset)
	set(m.raw.timestamp, r.Timestamp)
	if r.Key != nil {
		c := &t.Columns[m.raw.key]
		val, err := c.Type.FromText(string(r.Key))
		if m.spec.KeyFormat == KeyJSON {
			v, perr := m.kp.ParseBytes(r.Key)
			if perr != nil {
				return m.errf(r, StageDecode, "key", "key", "key is not valid JSON: %v", perr)
			}
			val, err = c.Type.FromJSON(v)
		}
		if err != nil {
			return m.errf(r, StageMap, "key", "key", "%v", err)
		}
		set(m.raw.key, val)
	} else {
		set(m.raw.key, nil)
	}
	if r.Value != nil {
		v, err := m.vp.ParseBytes(r.Value)
		if err != nil {
			return m.errf(r, StageDecode, "", "value", "value is not valid JSON: %v", err)
		}
		val, err := t.Columns[m.raw.value].Type.FromJSON(v)
		if err != nil {
			return m.errf(r, StageMap, "", "value", "%v", err)
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

func (m *Mapper) errf(r *kgo.Record, stage Stage, field, column, format string, args ...any) error {
	return &RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Stage: stage,
		Field: field, Column: column, Reason: fmt.Sprintf(format, args...)}
}

// RawTableDDL is the statement that creates kafka2pg's raw table. Identifiers
// are quoted by the caller-provided name.
func RawTableDDL(quotedName string, keyFormat KeyFormat) string {
	keyType := "text"
	if keyFormat == KeyJSON {
		keyType = "jsonb"
	}
	return `CREATE TABLE IF NOT EXISTS ` + quotedName + ` (
  "topic" text NOT NULL,
  "partition" integer NOT NULL,
  "offset" bigint NOT NULL,
  "key" ` + keyType + `,
  "value" jsonb,
  "headers" jsonb NOT NULL DEFAULT '[]',
  "timestamp" timestamptz NOT NULL,
  PRIMARY KEY ("topic", "partition", "offset")
)`
}
