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

// Reader decodes records for the routes that read them the same way (the
// same key and value formats and unwrap). It is not safe for concurrent
// use: each Read reuses the memory of the previous one.
type Reader struct {
	rd  reader
	rec Record
}

// Record is a record decoded by a Reader, valid until its next Read.
type Record struct {
	R  *kgo.Record
	d  decoded
	rd *reader
}

// NewReader returns a Reader for spec's formats and unwrap (its table and
// key are not used). With wantTypes, json-connect converts each record's
// schema (auto_evolve, Describe).
func NewReader(spec Spec, wantTypes bool) *Reader {
	if spec.Key == nil {
		spec.Key = format.String
	}
	if spec.Value == nil {
		spec.Value = format.JSON
	}
	r := &Reader{}
	r.rd.spec = &spec
	r.rd.key.WantTypes, r.rd.value.WantTypes = wantTypes, wantTypes
	r.rec.rd = &r.rd
	return r
}

// Read decodes r. Errors are *RecordError for bad records, or the format's
// error as is (registry unavailable, refused).
func (rd *Reader) Read(ctx context.Context, r *kgo.Record) (*Record, error) {
	rd.rec.R = r
	if err := rd.rd.read(ctx, r, &rd.rec.d); err != nil {
		return nil, err
	}
	return &rd.rec, nil
}

// Tombstone reports a record that deletes: a null value, or a Debezium
// delete.
func (rec *Record) Tombstone() bool { return rec.d.op == table.OpDelete }

// Skipped reports a record with no effect on any route (a Debezium
// truncate or message event).
func (rec *Record) Skipped() bool { return rec.d.skipped }

// Key is the decoded key for expressions: the structured key, or a string
// or bytes key as the format decodes it; nil for a null key.
func (rec *Record) Key(ctx context.Context) *fastjson.Value {
	if rec.d.key != nil {
		return rec.d.key
	}
	if rec.R.Key == nil {
		return nil
	}
	v, _, err := rec.rd.spec.Key.Decode(ctx, rec.R.Key, &rec.rd.key, "key")
	if err != nil {
		return nil
	}
	return v
}

// Value is the decoded value for expressions (Debezium's after row); a
// string or bytes value as itself; nil for a tombstone.
func (rec *Record) Value() *fastjson.Value {
	v := rec.d.value
	if v != nil && !rec.rd.spec.Value.Structured() && rec.rd.spec.Value != nil {
		return v.Get("value")
	}
	return v
}

// Arena is where values built for this record live (computed columns).
func (rec *Record) Arena() *fastjson.Arena { return &rec.rd.value.Arena }

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
