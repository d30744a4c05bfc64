package transform

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// Shape is what auto_create learns from records: the value's columns and
// the key's fields (for a structured key), as schema fields.
type Shape struct {
	Fields []codec.Field
	Key    []codec.Field
	// Inferred is true when the shape was guessed from schemaless JSON
	// values rather than read from a schema.
	Inferred bool
	// Records is how many records the shape was learnt from.
	Records int
}

// Describe learns the shape of a route's records from recs: the schema of
// the first record that has one (registry formats, json-connect), else the
// types seen across the schemaless records (see codec.InferType). Records that do
// not decode, tombstones and deletes are passed over. It returns nil when no
// record says anything, and a registry error as is. spec.Table is not used.
func Describe(ctx context.Context, spec Spec, recs []*kgo.Record) (*Shape, error) {
	if spec.Key == nil {
		spec.Key = format.String
	}
	if spec.Value == nil {
		spec.Value = format.JSON
	}
	rd := reader{spec: &spec}
	rd.key.WantTypes, rd.value.WantTypes = true, true
	var d decoded
	var val, key *codec.Type
	n := 0
	for _, r := range recs {
		err := rd.read(ctx, r, &d)
		if _, bad := err.(*RecordError); bad {
			continue
		}
		if err != nil {
			return nil, err
		}
		if d.skipped || d.op != table.OpWrite {
			continue
		}
		if d.typ != nil {
			s := &Shape{Fields: codec.FlattenFields(d.typ, spec.Flatten), Records: 1}
			switch {
			case d.keyTyp != nil && d.keyTyp.Kind == codec.KindRecord:
				s.Key = codec.FlattenFields(d.keyTyp, false)
			case d.key != nil:
				if kt := codec.InferType(d.key, false); kt != nil {
					s.Key = codec.FlattenFields(kt, false)
				}
			}
			return s, nil
		}
		n++
		val = codec.MergeTypes(val, codec.InferType(d.value, spec.Flatten))
		if d.key != nil {
			key = codec.MergeTypes(key, codec.InferType(d.key, false))
		}
	}
	if val == nil || val.Kind != codec.KindRecord {
		return nil, nil
	}
	s := &Shape{Fields: codec.FlattenFields(val, spec.Flatten), Inferred: true, Records: n}
	for i := range s.Fields {
		s.Fields[i].Optional = true // one batch cannot prove a field is always there
	}
	if key != nil && key.Kind == codec.KindRecord {
		s.Key = codec.FlattenFields(key, false)
	}
	return s, nil
}

// DebeziumExtraType returns the type of a Debezium metadata field (__op,
// __lsn, __source_ts_ms, __table, __ts_ms), or nil for any other name.
func DebeziumExtraType(name string) *codec.Type {
	for _, x := range debeziumExtras {
		if x.name == name {
			return &codec.Type{Kind: x.typ}
		}
	}
	return nil
}
