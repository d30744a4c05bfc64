package coerce_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// FromJSONIn gives the values and the errors FromJSON gives, whatever the
// kind; a value stays what it was after its chunk has been filled and
// replaced; and a value of a common type costs no allocation of its own.
func TestFromJSONIn(t *testing.T) {
	types := []*coerce.Type{
		base(t, "int8", -1, "bigint", pgtype.Int8OID),
		base(t, "int4", -1, "integer", pgtype.Int4OID),
		base(t, "text", -1, "text", pgtype.TextOID),
		base(t, "timestamptz", -1, "timestamp with time zone", pgtype.TimestamptzOID),
		base(t, "timestamp", -1, "timestamp without time zone", pgtype.TimestampOID),
		base(t, "jsonb", -1, "jsonb", pgtype.JSONBOID),
		base(t, "json", -1, "json", pgtype.JSONOID),
		base(t, "bytea", -1, "bytea", pgtype.ByteaOID),
		base(t, "numeric", -1, "numeric", pgtype.NumericOID),
		base(t, "numeric", numericMod(6, 2), "numeric(6,2)", pgtype.NumericOID),
		base(t, "bool", -1, "boolean", pgtype.BoolOID),
		statusType(t),
	}
	inputs := []string{`null`, `0`, `-7`, `300`, `9223372036854775807`, `9223372036854775808`, `1.5`, `-0.005`, `1e3`, `2.5E-2`, `99999.999`, `"12.345"`, `"-7"`, `"1e3"`, `"9223372036854775808"`, `" 12"`, `"NaN"`,
		`123456789012345678901234`, `"text"`, `"2026-12-02T10:11:12.5+02:00"`, `1764669072000`, `{"a":[1,"x"]}`,
		`[true,null]`, `"aGVsbG8="`, `true`, `"paid"`, `"\u00e9\n"`, `"9999.999"`,
		`"` + strings.Repeat("a", 3000) + `"`, // fills arenas: values cross from one to the next
		`"` + strings.Repeat("b", 9000) + `"`, // larger than an arena takes
		`{"k":"` + strings.Repeat("c", 2000) + `"}`}
	var b coerce.Boxes
	type kept struct {
		typ  *coerce.Type
		in   string
		want any
		got  any
	}
	var all []kept
	for round := range 40 { // well past a chunk of each type
		for _, typ := range types {
			for _, in := range inputs {
				want, werr := typ.FromJSON(parseJSON(t, in))
				got, gerr := typ.FromJSONIn(parseJSON(t, in), &b)
				if fmt.Sprint(werr) != fmt.Sprint(gerr) {
					t.Fatalf("%s %s: error %v, FromJSON's %v", typ.Name, in, gerr, werr)
				}
				if werr == nil && !same(got, want) {
					t.Fatalf("%s %s: %s, FromJSON's %s", typ.Name, in, show(got), show(want))
				}
				if werr == nil && round%7 == 0 {
					all = append(all, kept{typ, in, want, got})
				}
				// NumberIn answers for a number as FromJSONIn does,
				// for the kinds it takes.
				if c := in[0]; c == '-' || c >= '0' && c <= '9' {
					nv, handled, nerr := typ.NumberIn([]byte(in), &b)
					switch {
					case !handled:
						if k := typ.Kind; k == coerce.KindInt8 || k == coerce.KindNumeric {
							t.Fatalf("%s %s: NumberIn does not take it", typ.Name, in)
						}
					case fmt.Sprint(nerr) != fmt.Sprint(gerr):
						t.Fatalf("%s %s: NumberIn error %v, FromJSONIn's %v", typ.Name, in, nerr, gerr)
					case nerr == nil && !same(nv, got):
						t.Fatalf("%s %s: NumberIn %s, FromJSONIn's %s", typ.Name, in, show(nv), show(got))
					}
				}
				// StringIn answers for a string without escapes as
				// FromJSONIn does, for the kinds it takes.
				if len(in) >= 2 && in[0] == '"' && !strings.Contains(in, `\`) {
					sv, handled, serr := typ.StringIn([]byte(in[1:len(in)-1]), &b)
					switch {
					case !handled:
						if k := typ.Kind; k == coerce.KindText || k == coerce.KindTimestamptz || k == coerce.KindTimestamp || k == coerce.KindEnum ||
							k == coerce.KindInt8 || k == coerce.KindNumeric {
							t.Fatalf("%s %s: StringIn does not take it", typ.Name, in)
						}
					case fmt.Sprint(serr) != fmt.Sprint(gerr):
						t.Fatalf("%s %s: StringIn error %v, FromJSONIn's %v", typ.Name, in, serr, gerr)
					case serr == nil && !same(sv, got):
						t.Fatalf("%s %s: StringIn %s, FromJSONIn's %s", typ.Name, in, show(sv), show(got))
					}
				}
			}
		}
	}
	for _, k := range all {
		if !same(k.got, k.want) {
			t.Fatalf("%s %s: became %s after more values, was %s", k.typ.Name, k.in, show(k.got), show(k.want))
		}
	}
	for _, c := range []struct {
		typ *coerce.Type
		in  string
	}{{types[0], `1234567`}, {types[3], `"2026-12-02T10:11:12Z"`}, {types[8], `"12.34"`},
		{types[2], `"some text"`}, {types[5], `{"sku":"A-1","qty":2}`}} {
		v := parseJSON(t, c.in)
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := c.typ.FromJSONIn(v, &b); err != nil {
				t.Fatal(err)
			}
		}); n >= 0.1 {
			t.Errorf("%s %s: %v allocations per value", c.typ.Name, c.in, n)
		}
	}
}
