package transform

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// reader decodes records of one route into canonical values (see package
// codec) and unwraps Debezium envelopes. It is not safe for concurrent use.
type reader struct {
	spec       *Spec
	key, value format.Scratch // reset by read
}

// decoded is one record read: what it does and the object whose fields map
// to columns.
type decoded struct {
	op      table.Op
	value   *fastjson.Value // object to map (nil for a delete)
	typ     *codec.Type     // value's record schema, nil when schemaless
	key     *fastjson.Value // structured key object, nil otherwise
	keyTyp  *codec.Type
	dbz     *debeziumEvent // with unwrap: debezium
	skipped bool           // the record has no effect (see ErrSkip)
}

// read decodes r. Errors are *RecordError for bad records, or the decoder's
// error as is (registry unavailable, refused).
func (rd *reader) read(ctx context.Context, r *kgo.Record, d *decoded) error {
	rd.key.Reset()
	rd.value.Reset()
	*d = decoded{}
	if r.Key != nil && rd.spec.Key.Structured() {
		v, typ, err := rd.decode(ctx, r, r.Key, true)
		if err != nil {
			return err
		}
		if v != nil && v.Type() != fastjson.TypeNull {
			if v.Type() != fastjson.TypeObject {
				return recErr(r, StageDecode, "key", "", "key is a %s, not an object", describe(v))
			}
			d.key, d.keyTyp = v, typ
		}
	}
	if r.Value == nil {
		d.op = table.OpDelete
		return nil
	}
	v, typ, err := rd.decode(ctx, r, r.Value, false)
	if err != nil {
		return err
	}
	if v == nil || v.Type() == fastjson.TypeNull { // a Connect or registry null: a tombstone
		d.op = table.OpDelete
		return nil
	}
	if rd.spec.Debezium {
		return rd.unwrapDebezium(r, v, typ, d)
	}
	if !rd.spec.Value.Structured() {
		o := rd.value.Arena.NewObject()
		o.Set("value", v) // the whole value is the column "value"
		v = o
	}
	if v.Type() != fastjson.TypeObject {
		return recErr(r, StageDecode, "", "", "value is a %s, not an object", describe(v))
	}
	d.op, d.value, d.typ = table.OpWrite, v, typ
	return nil
}

// decode reads one key or value in the route's format.
func (rd *reader) decode(ctx context.Context, r *kgo.Record, data []byte, key bool) (*fastjson.Value, *codec.Type, error) {
	f, s, field, what := rd.spec.Value, &rd.value, "", "value"
	if key {
		f, s, field, what = rd.spec.Key, &rd.key, "key", "key"
	}
	v, typ, err := f.Decode(ctx, data, s, what)
	if err != nil {
		var de *codec.DecodeError
		if errors.As(err, &de) {
			return nil, nil, recErr(r, StageDecode, field, "", "%s", de.Reason)
		}
		return nil, nil, fmt.Errorf("topic %s partition %d offset %d: decoding the %s: %w", r.Topic, r.Partition, r.Offset, what, err)
	}
	return v, typ, nil
}

func describe(v *fastjson.Value) string { return "JSON " + v.Type().String() }

func recErr(r *kgo.Record, stage Stage, field, column, format string, args ...any) error {
	return &RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Stage: stage,
		Field: field, Column: column, Reason: fmt.Sprintf(format, args...)}
}
