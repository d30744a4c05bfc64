// Package protobuf decodes Kafka records written by Confluent's Protobuf
// serializer into the canonical values of package codec, and derives each
// message's *codec.Type from the registered .proto schema.
//
// # Wire format
//
// A record is the magic byte 0, the 4-byte big-endian schema id, the
// message-index list, then the protobuf message. The index list is a zigzag
// varint count followed by that many zigzag varint indexes: the first picks
// a top-level message of the .proto file in declaration order, each further
// one a message nested in the previous (map entries count, as they do in the
// descriptor). A count of 0, the single byte 0x00, means [0]: the file's
// first message. Lists longer than 32, negative counts or indexes, and
// truncated varints are a *codec.DecodeError before the registry is asked.
//
// # Schemas and references
//
// The schema with the record's id must be of type PROTOBUF; its text is a
// .proto file. Each of its references names an import (Reference.Name is
// the import path, such as "common/money.proto") and is fetched with
// SchemaByReference, and so are their references in turn, up to 16 levels
// and 256 files. Imports of google/protobuf/*.proto files that ship with
// protoc (timestamp, duration, wrappers, struct, any, empty, ...) need no
// reference: they are built in, and a reference with such a name is not
// fetched. Neither do the files Confluent's serializers treat as known and
// do not register by default: confluent/meta.proto (field_meta options),
// confluent/type/decimal.proto and google/type/{date, timeofday, money,
// decimal, latlng, dayofweek, month}.proto; for these a reference, when
// given, wins over the built-in copy. The file is compiled with
// protocompile; any other import that no reference supplies is a
// DecodeError.
//
// # Caching and concurrency
//
// A Decoder is safe for concurrent use. It fetches and compiles a schema
// once per id, however many goroutines decode records of that id at the
// same time, and keeps it for its lifetime; the *codec.Type of each message
// of a schema is derived on first use and is the same pointer for every
// record after. Reads of both caches take no lock. Failures (unknown id,
// registry down, a schema that does not compile) are not cached: the next
// record with that id asks again.
//
// # Decoding
//
// A record is converted straight from its wire format (google.golang.org/
// protobuf/encoding/protowire) against a plan derived once per message of
// a schema: no dynamic message is built, and a record allocates nothing
// outside the caller's arena. That path covers scalars, strings, bytes,
// enums, nested and repeated messages, oneofs, Timestamp, Duration and the
// wrappers. A record holding anything else (a map entry, Struct, Value,
// ListValue or Any, a group, a message field twice, which protobuf merges,
// a field with an unexpected wire type, which protobuf keeps as unknown,
// invalid UTF-8, malformed bytes, a value out of range), and every record
// of a message with proto2 required fields, is decoded the reflective way
// instead: unmarshalled into a dynamicpb message, then converted. Both give
// the same value for the same bytes (wire_test.go compares them, with a
// fuzz target); errors are always the reflective path's.
//
// The wire path also has a text mode (AppendJSON, text.go): the JSON text
// of the value it builds, for callers that read JSON themselves. A string
// holds its own bytes on every path: characters that Go's quoting escapes
// differently from JSON (most control characters, DEL) are not left as Go
// escapes in the value (codec.StringValue).
//
// # Errors
//
// Decode returns a *codec.DecodeError for a record that cannot be decoded:
// bad header or index list, unknown schema id ("unknown schema id 7"), a
// schema that is not PROTOBUF or does not compile, a reference the registry
// does not have, an index path with no message ("schema id 7 has no message
// at index [2 0]"), bytes that do not unmarshal as the message, and a
// Timestamp or Duration outside its range. Any other registry error is
// returned wrapped with %w and is not a DecodeError: *registry.UnavailableError
// is worth a retry, *registry.RequestError is not.
//
// # Values
//
// A message is a JSON object with one key per field, named as declared in
// the .proto file (snake_case, not the JSON camelCase name), in declaration
// order. Every field is present:
//
//   - fields without presence (proto3 scalars and enums, repeated, map) are
//     emitted at their zero value when the writer left them out: 0, "",
//     false, the enum's first name, [] and {};
//   - fields with presence (message fields, proto3 optional, proto2 optional,
//     oneof members) that are not set are null; of a oneof, the member that
//     is set has its value under its own field name and the others are null.
//
// Other choices: int64 and uint64 are JSON numbers with every digit (not
// strings as in protojson); an enum number the schema does not name is the
// number; map keys are text ("42", "true") and sorted, so a record always
// gives the same JSON; a Timestamp is RFC 3339 in UTC with a Z, its fraction
// trimmed of trailing zeros; a Duration keeps only the fraction digits it
// needs ("1.5s", protojson writes "1.500s"). Unknown fields are ignored.
//
// A record whose value would nest objects and arrays more than 299 deep
// (what fastjson parses back) is a DecodeError, and so is one whose
// messages nest more than 1000 deep.
//
// # Type mapping
//
//	Protobuf                            codec.Type                   value                          PostgreSQL
//	int32, sint32, sfixed32             KindInt32                    number                         integer
//	int64, sint64, sfixed64             KindInt64                    number                         bigint
//	uint32, fixed32                     KindInt64                    number                         bigint
//	uint64, fixed64                     KindDecimal{20, 0}           number                         numeric(20,0)
//	float                               KindFloat32                  number, "NaN", "±Infinity"     real
//	double                              KindFloat64                  number, "NaN", "±Infinity"     double precision
//	bool                                KindBool                     true/false                     boolean
//	string                              KindString                   string                         text
//	bytes                               KindBytes                    base64 string                  bytea
//	enum                                KindString (Name: enum)      value name                     text
//	message                             KindRecord (Name: message)   object                         jsonb
//	repeated T                          KindArray{Elem: T}           array                          jsonb (or T[])
//	map<K, V>                           KindMap{Elem: V}             object, keys as text           jsonb
//	google.protobuf.Timestamp           KindTimestamp                "2024-05-01T12:00:00.5Z"       timestamptz
//	google.protobuf.Duration            KindDuration                 "3600.5s"                      interval
//	google.protobuf.*Value wrappers     the inner kind, Optional     the inner value or null        the inner type, nullable
//	google.protobuf.Struct              KindJSON                     object                         jsonb
//	google.protobuf.Value               KindJSON                     the JSON value                 jsonb
//	google.protobuf.ListValue           KindJSON                     array                          jsonb
//	google.protobuf.Any                 KindJSON                     {"@type": url, "value": b64}   jsonb
//	google.protobuf.Empty               KindRecord, no fields        {}                             jsonb
//
// A top-level message is always a KindRecord. A field is Optional when it
// has presence (message, wrapper, optional, oneof member; not proto2
// required) and HasDefault when it has none and is not repeated or a map
// (its zero value is the default). Other messages, such as
// google.type.Date, google.type.Decimal and google.protobuf.FieldMask, are
// ordinary nested messages. A message that contains itself (a tree) has a
// KindJSON type where it recurs, since a record type cannot be infinite; its
// value is the nested object all the same.
package protobuf
