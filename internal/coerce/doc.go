// Package coerce converts one JSON value, or the text of a string Kafka key,
// into the Go value that pgx v5 encodes in binary format for a given
// PostgreSQL column type, checking first that PostgreSQL will accept it.
//
// kafka2pg writes with COPY in binary format, where a value PostgreSQL
// rejects fails the whole batch. This package decides per value, before the
// batch is sent, whether it fits its column, and says why not in an *Error
// whose reason is short and quotes at most 64 characters of the input. The
// caller adds the table, column, topic, partition and offset and routes the
// record (stop or dead-letter queue); a Type never changes its answer for the
// same input, so an *Error is never worth a retry.
//
// # Types
//
// The catalog reader builds one *Type per column with TypeFor from
// pg_type/pg_attribute facts, and calls Register for each on every new
// connection (pgxpool AfterConnect) so that pgx knows enum, citext and
// other OIDs it has no codec for. Supported: smallint, integer, bigint,
// numeric[(p,s)], real, double precision, text, varchar[(n)], char[(n)]
// (bpchar), name, citext, boolean, timestamp with and without time zone,
// date, time[(p)] (without time zone), interval (with any fields and
// precision), uuid, json, jsonb, bytea, enums, domains over these (converted
// as their base type) and one-dimensional arrays of any of them. Anything
// else, time with time zone included, is reported by TypeFor as
// ErrUnsupportedType.
//
// # Coercion policy
//
// JSON null is SQL NULL for every type (also json/jsonb: a JSON null value
// is not stored as the JSON literal null). Otherwise, per kind, with the Go
// type returned (what pgx encodes in binary for the column's OID):
//
//   - smallint, integer, bigint → int16, int32, int64. A JSON number that is
//     a whole number, parsed exactly from its text (never through float64),
//     so 1e3 and 5.0 are accepted, 1.5 is not, and 9223372036854775807 fits
//     bigint while 9223372036854775808 does not. A string holding such a
//     number ("42") is accepted too. Anything else is rejected.
//   - numeric → Decimal when the value has at most 18 significant digits
//     (an int64 coefficient and an exponent: no big.Int), otherwise
//     pgtype.Numeric; exact from the number's text or a numeric string,
//     keeping its scale ("1.50" stays 1.50); the strings NaN, Infinity,
//     -Infinity, inf and -inf (any case) give the special values, as
//     pgtype.Numeric. (Arrays of numeric hold pgtype.Numeric elements.)
//     For numeric(p,s) the value is rounded to s fraction digits, half away
//     from zero, and rejected when more than p-s digits remain before the
//     point, or when it is infinite, exactly as PostgreSQL does.
//   - real, double precision → float32, float64: a JSON number, a numeric
//     string, or the NaN/Infinity words. A finite value that overflows the
//     type, or a non-zero value that underflows to zero, is rejected, as by
//     PostgreSQL's text input.
//   - text, varchar(n), char(n), name, citext → string. A JSON string as is;
//     a number as its text; a boolean as true or false; an object or array
//     as compact JSON. Rejected: invalid UTF-8 and U+0000 (PostgreSQL text
//     cannot hold NUL); more than n characters (not bytes) for varchar(n)
//     and char(n), except that excess characters that are all spaces are
//     cut off, as PostgreSQL does for both types; more than 63 bytes for
//     name.
//   - boolean → bool: JSON true/false; the strings true, false, t, f, yes,
//     no, y, n, on, off, 1, 0 (any case); the numbers 0 and 1.
//   - timestamp with time zone → time.Time in UTC: an RFC 3339 string
//     (YYYY-MM-DD, then T or a space, hh:mm:ss, optional fraction of up to 9
//     digits, and a required offset Z or ±hh:mm), or a JSON integer, or a
//     string of digits, counting milliseconds since the Unix epoch (negative
//     before 1970). The fraction is rounded to microseconds the way
//     PostgreSQL rounds it. Values outside PostgreSQL's range (4714-11-24 BC
//     to 294276-12-31 AD) are rejected.
//   - timestamp without time zone → time.Time in UTC, whose wall clock is
//     what is stored: the same inputs, but the offset is optional; a time
//     with an offset is converted to UTC (PostgreSQL itself would ignore the
//     offset of a timestamp literal; converting keeps instants comparable).
//   - date → time.Time at UTC midnight, from exactly "YYYY-MM-DD".
//   - time (without time zone) → pgtype.Time, microseconds since midnight,
//     from a string only: "HH:MM", "HH:MM:SS" or "HH:MM:SS.fraction" (two
//     digits each, 1 to 9 fraction digits). A JSON number is rejected: no
//     unit would make it unambiguous. As in PostgreSQL the fraction is
//     rounded to microseconds (half to even of its double value), a second
//     of 60 is the next minute, and 24:00:00 is the latest value; for
//     time(p) the result is then rounded to p fraction digits, half up.
//     Other forms PostgreSQL reads (one-digit hours, "12:34.5" meaning
//     minutes and seconds, AM/PM, a time zone) are rejected.
//   - interval → pgtype.Interval, whose months, days and microseconds are
//     kept apart as PostgreSQL stores them (a month is not 30 days, a day
//     not 24 hours). Accepted, each read to the value PostgreSQL's input
//     gives the same text (under the default IntervalStyle, postgres):
//     a Protobuf JSON duration, [-]seconds[.fraction]s ("3600.5s",
//     "-0.000001s"), the form kafka2pg's decoders produce; an ISO 8601
//     duration P[nY][nM][nW][nD][T[nH][nM][nS]], components in this order
//     and each optionally negative ("P1Y2M3DT4H5M6.5S", "PT-1.5S"), years
//     and months going to months, weeks and days to days, the rest to
//     microseconds; PostgreSQL's own output style, "[+-]n unit" pairs from
//     years down to seconds, each unit once and in that order, optionally
//     ending with a [+-]hh:mm:ss[.fraction] clock ("1 year 2 mons -3 days
//     +04:05:06.5", "1 day 02:03:04", "-00:00:01.5", "90 minutes"); and a
//     JSON integer counting milliseconds (like the epoch milliseconds of
//     timestamps), all of it in the microseconds field. Fractions have at
//     most 9 digits and are allowed only for hours, minutes and seconds
//     (PostgreSQL would spread "1.5 days" over days and hours; it is
//     rejected instead), and are rounded to microseconds exactly as
//     PostgreSQL rounds them. A string of digits alone ("1500") is rejected:
//     PostgreSQL reads it as seconds, a producer may have meant
//     milliseconds. A value that overflows a field is rejected, as is one
//     whose fields are all at their maximum or minimum, which PostgreSQL 17
//     would store as ±infinity ("infinity" itself is not accepted:
//     pgtype.Interval cannot hold it). A typmod is applied as PostgreSQL
//     applies it: interval(p) rounds the seconds to p digits, half away
//     from zero; interval hour to minute, year, ... zero the lower fields.
//   - uuid → [16]byte from 36 characters with dashes, 32 hex digits without,
//     or either in braces, hex in any case.
//   - json, jsonb → []byte holding compact JSON text, re-encoded from the
//     parsed value, for any JSON value (object, array, string, number,
//     boolean). Numbers must follow the JSON grammar (no NaN, no leading
//     zeros). jsonb rejects strings containing U+0000, which PostgreSQL
//     cannot store in jsonb.
//   - bytea → []byte decoded from a base64 string, standard or URL-safe
//     alphabet, with or without padding.
//   - enum → string, which must be one of the type's labels (case matters).
//   - arrays → pgtype.FlatArray[T] of the element's Go type above, or
//     pgtype.FlatArray[*T] with nil entries when some elements are null;
//     from a JSON array only. Elements follow the element type's rules and
//     a rejected element is named by its index: "element [3]: value 40000
//     out of range for smallint". Nested arrays are rejected.
//
// Numeric strings follow the decimal grammar [+-]digits[.digits][e[+-]digits]
// (a missing integer or fraction part is allowed); surrounding spaces,
// underscores and hexadecimal are not accepted.
//
// # Text keys
//
// FromText applies the same rules to a bare string, as found in a string
// Kafka key: "42" for an integer, "t" for a boolean, an RFC 3339 string or
// epoch milliseconds for a timestamp, "12:30:00" for a time, "90s" or
// "P1D" for an interval (not digits alone: they are not read as
// milliseconds), a label for an enum, the string as is for text. The
// exceptions: bytea takes the bytes of the string (not
// base64), json and jsonb store the string as a JSON string, and an array
// column expects the string to be a JSON array.
//
// # Performance and concurrency
//
// Conversion runs once per column of every record: it uses no reflection
// and no regular expressions, parses numbers, timestamps, times and
// intervals by hand, and allocates only the result: the interface holding it
// (none for booleans and enum labels) plus, for text, bytea, json/jsonb and
// numeric, its storage. Numbers are read exactly from their JSON text, never
// through float64, except for real and double precision, which
// strconv.ParseFloat rounds correctly, and for fractions of a second or of
// an hour or minute, which go through float64 exactly where PostgreSQL's own
// input does, so as to round the same way. A *Type is immutable; FromJSON and FromText are safe for
// concurrent use on the same Type, but a fastjson value must not be shared
// between goroutines, because FromJSON may unescape its strings in place.
package coerce
