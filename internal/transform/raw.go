package transform

import (
	"context"
	"encoding/base64"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/table"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// Raw mode: the record as it came, in kafka2pg's raw table.

// rawCols are the column indexes of kafka2pg's raw table.
type rawCols struct{ topic, partition, offset, key, value, headers, timestamp int }

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
	var esc []byte
	arr := a.NewArray()
	for i, h := range hs {
		o := a.NewObject()
		o.Set("key", codec.StringValue(&a, []byte(h.Key), &esc))
		switch {
		case h.Value == nil:
			o.Set("value", a.NewNull())
		case utf8.Valid(h.Value):
			o.Set("value", codec.StringValue(&a, h.Value, &esc))
		default:
			o.Set("value_base64", a.NewString(base64.StdEncoding.EncodeToString(h.Value)))
		}
		arr.SetArrayItem(i, o)
	}
	return arr.MarshalTo(nil)
}
