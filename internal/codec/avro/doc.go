// Package avro decodes Avro records framed in the Confluent wire format
// (magic byte 0, 4-byte schema id, Avro binary datum) into the canonical
// values of package codec, and describes each writer schema as a
// *codec.Type.
//
// # Schemas
//
// A Decoder fetches the writer schema of each new schema id from a
// registry.Source once, with its references (transitively, each parsed
// before the schemas that name its types, at most 16 levels deep), parses
// it with github.com/hamba/avro/v2 into a cache private to that id, and
// compiles it into a node graph that a small binary reader walks. The
// compiled schema and its *codec.Type are cached for the life of the
// Decoder: every record of an id gets the same *codec.Type pointer.
// Failures are not cached.
//
// Schemas are read as written: there is no reader schema and no schema
// resolution; the record's fields are the writer's fields in the writer's
// order.
//
// # Type mapping
//
//	Avro type                    canonical value                 Kind            PostgreSQL
//	---------------------------  ------------------------------  --------------  ----------------
//	null                         null                            json            (nullable)
//	boolean                      true / false                    boolean         boolean
//	int                          number                          int32           integer
//	long                         number                          int64           bigint
//	float                        number, "NaN", "±Infinity"      float           real
//	double                       number, "NaN", "±Infinity"      double          double precision
//	string                       string                          string          text
//	enum                         symbol string                   string          text
//	bytes, fixed                 base64 string (std, padded)     bytes           bytea
//	decimal(p,s) bytes/fixed     "-12.30" (scale kept)           decimal(p,s)    numeric(p,s)
//	uuid on string or fixed(16)  "6ba7b810-9dad-11d1-80b4-…"     uuid            uuid
//	date                         "2024-05-01"                    date            date
//	time-millis, time-micros     "12:00:00.123000"               time            time
//	timestamp-millis/-micros/    "2024-05-01T12:00:00.123Z"      timestamp       timestamptz
//	  -nanos
//	local-timestamp-millis/      "2024-05-01T12:00:00.123"       local-timestamp timestamp
//	  -micros/-nanos
//	duration fixed(12)           {"months":1,"days":2,           json            jsonb
//	                              "millis":3}
//	record                       object, fields in schema order  record          jsonb (top: row)
//	map                          object                          map             jsonb
//	array                        array                           array           jsonb
//	union [null, T]              null or T's value               T, Optional     T, nullable
//	union of 2+ non-null types   the branch's value              json            jsonb
//
// Notes on the choices:
//
//   - Nullable unions: a record field whose type is a union with null is
//     Optional; the union [null, T] (in either order) has T's Kind. A field
//     with a default has HasDefault.
//   - Multi-type unions carry no branch name in the value: ["string","long"]
//     decodes to "x" or 5, which a jsonb column stores as is.
//   - duration: Avro's months and days have no fixed length in seconds, so
//     the canonical duration form ("3600s") cannot hold them exactly; the
//     three parts are kept as a JSON object (Kind json) rather than dropping
//     records or guessing a month length.
//   - decimal: the unscaled value's digits must not exceed the precision
//     (a DecodeError otherwise; a numeric(p,s) column would refuse it), and
//     its two's complement may not exceed 1024 bytes.
//   - uuid on string: 36 characters with dashes or 32 hex digits, any case,
//     written back lowercase with dashes; anything else is a DecodeError.
//   - Timestamps keep up to 9 fraction digits, without trailing zeros;
//     dates and timestamps use the proleptic Gregorian calendar, and years
//     outside 0000–9999 keep all their digits (a minus sign before year 0),
//     which the column coercion then rejects as out of range.
//   - time-millis and time-micros must lie within 00:00:00 and 24:00:00.
//   - timestamp-nanos, local-timestamp-nanos and uuid on fixed are Avro 1.12
//     logical types that hamba v2.31 does not know; this package reads them
//     from the schema's logicalType property.
//   - Logical types on the wrong base type, or decimals with an invalid
//     precision/scale, are ignored as the Avro specification says: the
//     value decodes as its base type.
//   - Recursive records: values decode in full, but the *codec.Type tree is
//     finite, so the recursive occurrence has Kind json.
//   - A top-level schema that is not a record still decodes; its Type is
//     then not KindRecord, and mapping it to table columns is the caller's
//     decision.
//
// # Hostile input
//
// Lengths and block counts are checked against the remaining input before
// anything is allocated (a string claiming 2^40 bytes fails at once), values
// nest at most 64 deep, and a datum may hold at most 65536 array items of
// zero encoded size (nulls, empty records). Maps of more than 64 entries
// are built in linear time: fastjson's Object.Set finds keys linearly, so a
// map of n entries would cost n² comparisons. A key repeated within one map
// keeps its last value, in the first key's position. Violations, truncated
// input, trailing bytes, invalid UTF-8 and out-of-range union, enum or
// boolean values are *codec.DecodeError, naming the schema id and the field
// path: "schema id 7: field items[3].price: unexpected end of input".
//
// # Strings
//
// fastjson's arena escapes strings with strconv.AppendQuote, whose escapes
// for most control characters are not JSON and do not survive fastjson's
// own unescaping; strings holding them are escaped here and parsed into
// values of their own, so every decoded string reads back exactly. Strings,
// bytes and map keys are copied: the result shares no memory with the
// input.
package avro
