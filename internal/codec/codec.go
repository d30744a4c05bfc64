// Package codec defines what every record decoder produces, so that field
// mapping, flattening, Debezium unwrapping and table creation work the same
// for every format.
//
// # Canonical values
//
// A decoder returns a *fastjson.Value built in the caller's arena, in the
// form package coerce reads for each column type:
//
//   - boolean: JSON true/false
//   - int32/int64: a JSON number (integers exactly, never via float64)
//   - float/double: a JSON number; NaN and ±Inf as the strings "NaN",
//     "Infinity", "-Infinity"
//   - decimal: a JSON string holding the exact decimal ("-123.4500", scale
//     kept)
//   - string, enum symbol, uuid: a JSON string
//   - bytes, fixed: a JSON string, standard base64 with padding
//   - date: "YYYY-MM-DD"
//   - time of day: "HH:MM:SS.ffffff" (fraction optional)
//   - timestamp (an instant): RFC 3339 in UTC with a Z and up to 9 fraction
//     digits, "2024-05-01T12:00:00.123456Z"
//   - local timestamp (no zone): the same without the Z
//   - duration: seconds with an optional fraction and a trailing s, as in
//     Protobuf's JSON mapping: "3600.5s", "-0.000001s"
//   - record/message/struct and map: a JSON object; array/repeated: a JSON
//     array; free-form JSON (protobuf Struct/Value, union of several
//     non-null types) as the JSON value itself
//   - absent/null: JSON null
//
// # Schemas
//
// A decoder of a schema format also returns the record's *Type (Kind
// KindRecord at the top), the same pointer for every record written with the
// same schema id, so callers may cache per pointer. Schemaless formats
// return nil.
package codec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/valyala/fastjson"
)

// Decoder decodes one Kafka key or value.
//
// Decode is called with non-nil data and builds the result in a, which the
// caller resets between records. It returns:
//   - a *DecodeError when the bytes are not what the format promises (bad
//     magic byte, unknown schema id, truncated payload, failed validation):
//     a record error, for the dead-letter queue or a stop;
//   - an error wrapping *registry.UnavailableError when the registry cannot
//     be reached: transient, the caller retries;
//   - any other error (e.g. *registry.RequestError, 401): the pipeline stops.
//
// Implementations are safe for concurrent use (compiled schemas are shared
// and cached by id).
type Decoder interface {
	Decode(ctx context.Context, data []byte, a *fastjson.Arena) (*fastjson.Value, *Type, error)
}

// ParsedDecoder is a Decoder of a format whose records carry JSON text
// (json-schema). DecodeParsed decodes as Decode does, with the same
// results and errors, but leaves the value in p, the caller's parser,
// instead of copying it into an arena: the value is valid until p parses
// again.
type ParsedDecoder interface {
	Decoder
	DecodeParsed(ctx context.Context, data []byte, p *fastjson.Parser) (*fastjson.Value, *Type, error)
}

// JSONProver is a Decoder of a format whose records carry JSON text
// (json-schema) that can prove some records valid from their bytes alone.
// ProveJSON reports whether Decode would certainly accept data, and then
// returns its JSON payload: Decode's value is that payload's JSON. It
// reports false whenever it is not sure (the caller decodes as usual); it
// never blocks and never asks a registry. A payload it proves is also
// plain: JSON by RFC 8259 whose strings have no backslash, no control
// character and valid UTF-8, nested at most 64 deep.
type JSONProver interface {
	ProveJSON(data []byte) (payload []byte, ok bool)
}

// JSONWriter is a Decoder that can write the value Decode would return as
// JSON text (avro, protobuf). AppendJSON appends that text to dst and reports true,
// or reports false whenever it is not sure (the caller decodes as usual);
// it never blocks and never asks a registry. The text is valid UTF-8 JSON
// by RFC 8259 with no whitespace between tokens, its strings escaped by
// AppendJSONString.
type JSONWriter interface {
	AppendJSON(dst, data []byte) ([]byte, bool)
}

// DecodeError is a record whose bytes do not decode. Reason is short and
// names the schema id and field path when known; it never quotes more than
// 64 bytes of the input.
type DecodeError struct {
	Reason string
}

func (e *DecodeError) Error() string { return e.Reason }

// Errorf returns a *DecodeError.
func Errorf(format string, args ...any) error {
	return &DecodeError{Reason: fmt.Sprintf(format, args...)}
}

// IsDecodeError reports whether err is (or wraps) a *DecodeError.
func IsDecodeError(err error) bool {
	var de *DecodeError
	return errors.As(err, &de)
}

// Magic is the first byte of the Confluent wire format.
const Magic = 0

// ParseWire splits the Confluent wire format: magic byte 0, a 4-byte
// big-endian schema id, then the payload (for Protobuf, the message-index
// list comes first in the payload).
func ParseWire(data []byte) (id int, payload []byte, err error) {
	if len(data) < 5 {
		return 0, nil, Errorf("%d bytes is too short for the Confluent wire format (magic byte and 4-byte schema id)", len(data))
	}
	if data[0] != Magic {
		return 0, nil, Errorf("first byte is 0x%02x, not the Confluent wire format's magic byte 0x00 (is the producer using a schema registry serializer?)", data[0])
	}
	return int(binary.BigEndian.Uint32(data[1:5])), data[5:], nil
}

// AppendWire appends the Confluent wire header for id to dst.
func AppendWire(dst []byte, id int) []byte {
	dst = append(dst, Magic)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}

// Kind is the type of a field in a record schema, independent of format.
type Kind uint8

const (
	KindBool Kind = iota + 1
	KindInt32
	KindInt64
	KindFloat32
	KindFloat64
	KindDecimal // Precision, Scale (Precision 0: unbounded)
	KindString
	KindBytes
	KindDate
	KindTime           // time of day, microsecond precision
	KindTimestamp      // an instant → timestamptz
	KindLocalTimestamp // wall clock without zone → timestamp
	KindUUID
	KindDuration // → interval
	KindRecord   // Fields
	KindMap      // Elem is the value type; keys are strings
	KindArray    // Elem
	KindJSON     // free-form JSON (Struct, Value, multi-type unions)
)

var kindNames = [...]string{KindBool: "boolean", KindInt32: "int32", KindInt64: "int64", KindFloat32: "float",
	KindFloat64: "double", KindDecimal: "decimal", KindString: "string", KindBytes: "bytes", KindDate: "date",
	KindTime: "time", KindTimestamp: "timestamp", KindLocalTimestamp: "local-timestamp", KindUUID: "uuid",
	KindDuration: "duration", KindRecord: "record", KindMap: "map", KindArray: "array", KindJSON: "json"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Type is a format-independent description of a schema type.
type Type struct {
	Kind      Kind
	Name      string // full name of a record/message/enum, for messages; may be empty
	Precision int    // KindDecimal; 0 = unbounded
	Scale     int    // KindDecimal
	MaxLength int    // KindString: a maxLength limit when the schema gives one; 0 = none
	Fields    []Field
	Elem      *Type // KindArray, KindMap
}

// Field is one field of a record.
type Field struct {
	Name string
	Type *Type
	// Optional: the field may be null or absent (Avro union with null,
	// Protobuf message/optional/wrapper fields, JSON Schema properties not
	// in "required" or allowing "null").
	Optional bool
	// HasDefault: the schema gives a default used when a writer omits the
	// field (Avro default, Protobuf proto3 scalars' zero value).
	HasDefault bool
}

// Field returns the field named name, or nil.
func (t *Type) Field(name string) *Field {
	for i := range t.Fields {
		if t.Fields[i].Name == name {
			return &t.Fields[i]
		}
	}
	return nil
}
