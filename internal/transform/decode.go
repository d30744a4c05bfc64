package transform

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// KeyFormat is how the Kafka key is read.
type KeyFormat int

const (
	KeyString   KeyFormat = iota + 1 // the key bytes are the value of the single key column
	KeyJSON                          // the key is a JSON object whose fields map to columns
	KeyBytes                         // the key bytes are the value of the single key column (bytea)
	KeyConnect                       // a Kafka Connect JsonConverter envelope holding a struct
	KeyRegistry                      // Spec.KeyDecoder (avro, protobuf, json-schema) gives a record
)

// structured reports whether the key's fields map to columns by name.
func (k KeyFormat) structured() bool { return k == KeyJSON || k == KeyConnect || k == KeyRegistry }

// ValueFormat is how the Kafka value is read.
type ValueFormat int

const (
	ValueJSON     ValueFormat = iota // a JSON object whose fields map to columns
	ValueConnect                     // Kafka Connect's JsonConverter envelope {"schema", "payload"}
	ValueRegistry                    // Spec.ValueDecoder (avro, protobuf, json-schema)
	ValueString                      // the whole value is the column "value" (text)
	ValueBytes                       // the whole value is the column "value" (bytea, or base64 text)
)

// reader decodes records of one route into canonical values (see package
// codec) and unwraps Debezium envelopes. It is not safe for concurrent use.
type reader struct {
	spec   *Spec
	vp, kp fastjson.Parser
	arena  fastjson.Arena // values built per record; reset by read
	// Connect schemas, by schema text: a producer sends the same schema with
	// every record, so converting it once per distinct text is enough. Only
	// kept when wantTypes (auto_evolve, Describe): rendering the schema as a
	// cache key costs as much as decoding the payload.
	connectTypes map[string]*codec.Type
	wantTypes    bool
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
	rd.arena.Reset()
	*d = decoded{}
	if r.Key != nil && rd.spec.KeyFormat.structured() {
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
	if f := rd.spec.ValueFormat; f == ValueString || f == ValueBytes {
		o := rd.arena.NewObject()
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
	field := ""
	if key {
		field = "key"
	}
	var format ValueFormat
	var dec codec.Decoder
	if key {
		switch rd.spec.KeyFormat {
		case KeyJSON:
			format = ValueJSON
		case KeyConnect:
			format = ValueConnect
		case KeyRegistry:
			format, dec = ValueRegistry, rd.spec.KeyDecoder
		}
	} else {
		format, dec = rd.spec.ValueFormat, rd.spec.ValueDecoder
	}
	what := "value"
	if key {
		what = "key"
	}
	switch format {
	case ValueString:
		return rd.arena.NewString(string(data)), nil, nil
	case ValueBytes:
		return rd.arena.NewString(base64.StdEncoding.EncodeToString(data)), nil, nil
	case ValueRegistry:
		v, typ, err := dec.Decode(ctx, data, &rd.arena)
		if err != nil {
			var de *codec.DecodeError
			if errors.As(err, &de) {
				return nil, nil, recErr(r, StageDecode, field, "", "%s: %s", what, de.Reason)
			}
			var nf *registry.NotFoundError
			if errors.As(err, &nf) {
				return nil, nil, recErr(r, StageDecode, field, "", "%s: %v", what, nf)
			}
			return nil, nil, fmt.Errorf("topic %s partition %d offset %d: decoding the %s: %w", r.Topic, r.Partition, r.Offset, what, err)
		}
		return v, typ, nil
	}
	p := &rd.vp
	if key {
		p = &rd.kp
	}
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, nil, recErr(r, StageDecode, field, "", "%s is not valid JSON: %v", what, err)
	}
	if format != ValueConnect {
		return v, nil, nil
	}
	var typ *codec.Type
	if rd.wantTypes {
		typ = rd.connectType(v.Get("schema"))
	}
	if v, err = unwrapConnect(v, &rd.arena); err != nil {
		return nil, nil, recErr(r, StageDecode, field, "", "%v", err)
	}
	return v, typ, nil
}

// connectType returns the codec type of a Connect schema, converted once per
// distinct schema text (at most 256 kept).
func (rd *reader) connectType(schema *fastjson.Value) *codec.Type {
	if schema == nil || schema.Type() != fastjson.TypeObject {
		return nil
	}
	text := string(schema.MarshalTo(nil))
	if t, ok := rd.connectTypes[text]; ok {
		return t
	}
	if rd.connectTypes == nil || len(rd.connectTypes) >= 256 {
		rd.connectTypes = map[string]*codec.Type{}
	}
	t, _ := connectSchemaType(schema, 0)
	if t != nil && t.Kind != codec.KindRecord {
		t = nil
	}
	rd.connectTypes[text] = t
	return t
}

func describe(v *fastjson.Value) string { return "JSON " + v.Type().String() }

func recErr(r *kgo.Record, stage Stage, field, column, format string, args ...any) error {
	return &RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Stage: stage,
		Field: field, Column: column, Reason: fmt.Sprintf(format, args...)}
}
