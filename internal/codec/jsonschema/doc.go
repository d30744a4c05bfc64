// Package jsonschema decodes Kafka records written by Confluent's JSON
// Schema serializer: the magic byte 0, a 4-byte big-endian schema id, then
// the record as UTF-8 JSON text.
//
// # Decoding
//
// A Decoder fetches each schema id once from a registry.Source, with the
// schemas it references (transitively), compiles it with
// github.com/santhosh-tekuri/jsonschema/v6 and caches the result, successes
// only, for the Decoder's lifetime. The payload is parsed with fastjson,
// validated against the schema and returned as its JSON value: the
// canonical value of a JSON Schema record is the JSON itself. Numbers keep
// their text exactly ("1.50", "12345678901234567890", "1E+400"); strings
// are left as written, so a "format": "date-time" string is the RFC 3339
// text the producer wrote, offset included, and a "time" keeps its offset
// ("12:00:00Z").
//
// DecodeParsed (codec.ParsedDecoder, which package format uses) leaves the
// value in the caller's fastjson.Parser, as the plain json format does:
// nothing is copied, and the value is valid until that parser parses
// again. Decode builds the value in the caller's arena instead, copied
// from a pooled parser, so that decoding allocates little beyond what
// validation needs. Records the arena cannot hold faithfully (a string with
// a control character such as U+0001, which fastjson's arena would
// re-escape the Go way; an object with more than 256 keys, which an arena
// object adds in quadratic time) keep a parser of their own instead;
// either way the value stays valid until the arena is reset.
//
// The payload must be a single JSON value in strict JSON: valid UTF-8, no
// NaN or Infinity, no leading zeros, no invalid escapes or raw control
// characters, nested at most 300 levels (fastjson's limit), and no object
// with the same key twice (JSON libraries disagree on which value wins, so
// the record is rejected rather than guessed). A number may have at most
// 1000 characters and an exponent of at most ±1000: the validator computes
// with every number exactly, and 1e999999 takes it seconds (PostgreSQL's
// numeric and jsonb could not store such a number either).
//
// # Schemas and references
//
// The registry's schemaType must be JSON. A schema's "$schema" selects
// draft 2020-12, 2019-09, 7, 6 or 4; without it, draft 7 applies, as in
// Confluent's serializers. A reference's name is the "$ref" the referring
// schema uses ("customer.json", "https://example.com/customer.json"); the
// compiler resolves each "$ref" to a URL and is served the referenced
// schema whose name, resolved against its referrer, is that URL, or whose
// relative name ends that URL's path (for a "$ref" made relative to a
// schema's own "$id"). Nothing else is loaded: no file, no network, and a
// custom "$schema" metaschema is not fetched either, so a schema needing one
// does not compile.
//
// # Validation
//
// Every record is validated. A record is first given to a fast check
// (fast.go) that reads the compiled schema and the parsed value directly,
// in the same pass that checks keys and numbers as above; it knows the
// common keywords (type, enum, const, format, $ref, properties, required,
// additionalProperties, items, the length, count and integer bound
// keywords, allOf, anyOf, oneOf, not, if/then/else) and only ever proves a
// record valid. A record it cannot prove valid (an invalid one, or one
// that meets a keyword or value it leaves alone) is validated by the
// general validator as before, which decides and words the error; tests
// compare the two (fast_test.go, with a fuzz target). Formats date-time, date, time and uuid are
// always asserted, in every draft: they choose the column's type, and a
// value PostgreSQL would reject must fail here, as this record's error. The
// other formats the validator knows (email, hostname, ipv4, uri...) are
// asserted as their draft says: in drafts 4 to 7, and not in 2019-09 and
// 2020-12, where format is an annotation (when any schema of a record's set
// uses one of these drafts, the set follows them). Content keywords
// (contentEncoding, contentMediaType) are annotations and not checked.
//
// # Types
//
// The *codec.Type is derived from the schema text, walking "$ref"s to
// definitions ("#/definitions/x", "#/$defs/x", any JSON pointer) and to
// registered references. Object fields appear in the order the schema text
// lists its properties. Suggested PostgreSQL types are codec's mapping:
//
//	JSON Schema                                Kind            PostgreSQL
//	"integer"                                  int64           bigint
//	"integer" with "connect.type" int8/16/32   int32           integer
//	"number"                                   decimal (0,0)   numeric
//	"number" with "connect.type" float32/64    float/double    real/double precision
//	"boolean"                                  boolean         boolean
//	"string"                                   string          text
//	"string" with "maxLength": n               string, n       varchar(n)
//	"string", "format": "date-time"            timestamp       timestamptz
//	"string", "format": "date"                 date            date
//	"string", "format": "time"                 time            time
//	"string", "format": "uuid"                 uuid            uuid
//	"string", "contentEncoding": "base64"      bytes           bytea
//	  (or "connect.type": "bytes")
//	"object" with "properties"                 record          jsonb, or flattened
//	"object" with only "additionalProperties"  map             jsonb
//	  as a schema
//	"array" with "items" as a schema           array of items  jsonb, or an array type
//	other objects and arrays, tuples, several  json            jsonb
//	  non-null types, oneOf/anyOf of several
//	  alternatives, {} and true
//
// A field is Optional unless its name is in "required", and also when its
// type list includes "null" or it is a oneOf/anyOf with a {"type": "null"}
// alternative (one other alternative then gives the type). HasDefault is
// set when the property's schema has a "default". An enum or const without
// "type" takes the type of its values. allOf members, a "$ref" and the
// node's own keywords combine into the narrowest type they agree on
// (records merge their fields). A "$ref" that leads back to a schema being
// derived (a recursive structure), to an anchor or to an embedded "$id" is
// KindJSON, as is anything nested deeper than 64 levels.
//
// A record schema gives KindRecord at the top; a schema for another value
// (a string key, say) gives that value's kind.
//
// # Errors
//
// A record that does not decode gets a *codec.DecodeError naming the schema
// id, and for a validation failure the instance location and keyword of the
// most specific failure, quoting at most 32 bytes of a value:
//
//	schema id 7: /price: minimum: got -1, want >= 0
//	schema id 7: /customer/email: required: missing
//	schema id 7: /created: format: got "yesterday", want date-time
//
// A schema id or reference the registry does not know, a schema that is not
// a JSON Schema, not JSON, or does not compile are DecodeErrors too: they
// are facts about the record's schema. Other registry errors are returned
// wrapped, so that errors.As finds *registry.UnavailableError (retry) or
// *registry.RequestError (stop). No failure is cached.
package jsonschema
