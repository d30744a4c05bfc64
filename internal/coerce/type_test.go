package coerce_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

func TestTypeFor(t *testing.T) {
	int4 := base(t, "int4", -1, "integer", pgtype.Int4OID)
	cases := []struct {
		typname   string
		typtype   byte
		typmod    int32
		formatted string
		elem      *coerce.Type
		kind      coerce.Kind
		maxLen    int
	}{
		{"int2", 'b', -1, "smallint", nil, coerce.KindInt2, 0},
		{"int4", 'b', -1, "integer", nil, coerce.KindInt4, 0},
		{"int8", 'b', -1, "bigint", nil, coerce.KindInt8, 0},
		{"numeric", 'b', numericMod(12, 2), "numeric(12,2)", nil, coerce.KindNumeric, 0},
		{"float4", 'b', -1, "real", nil, coerce.KindFloat4, 0},
		{"float8", 'b', -1, "double precision", nil, coerce.KindFloat8, 0},
		{"text", 'b', -1, "text", nil, coerce.KindText, 0},
		{"varchar", 'b', varcharMod(20), "character varying(20)", nil, coerce.KindText, 20},
		{"varchar", 'b', -1, "character varying", nil, coerce.KindText, 0},
		{"bpchar", 'b', varcharMod(1), "character(1)", nil, coerce.KindText, 1},
		{"name", 'b', -1, "name", nil, coerce.KindText, 0},
		{"citext", 'b', -1, "citext", nil, coerce.KindText, 0},
		{"bool", 'b', -1, "boolean", nil, coerce.KindBool, 0},
		{"timestamptz", 'b', -1, "timestamp with time zone", nil, coerce.KindTimestamptz, 0},
		{"timestamp", 'b', 3, "timestamp(3) without time zone", nil, coerce.KindTimestamp, 0},
		{"date", 'b', -1, "date", nil, coerce.KindDate, 0},
		{"time", 'b', -1, "time without time zone", nil, coerce.KindTime, 0},
		{"time", 'b', 3, "time(3) without time zone", nil, coerce.KindTime, 0},
		{"interval", 'b', -1, "interval", nil, coerce.KindInterval, 0},
		{"interval", 'b', intervalMod(ivDay|ivHour, ivNoPrec), "interval day to hour", nil, coerce.KindInterval, 0},
		{"uuid", 'b', -1, "uuid", nil, coerce.KindUUID, 0},
		{"json", 'b', -1, "json", nil, coerce.KindJSON, 0},
		{"jsonb", 'b', -1, "jsonb", nil, coerce.KindJSONB, 0},
		{"bytea", 'b', -1, "bytea", nil, coerce.KindBytea, 0},
		{"my_enum", 'e', -1, "my_enum", nil, coerce.KindEnum, 0},
		{"_int4", 'b', -1, "integer[]", int4, coerce.KindArray, 0},
		{"int4", 'd', -1, "positive_int", nil, coerce.KindInt4, 0}, // a domain, given its base type
	}
	for _, c := range cases {
		typ, err := coerce.TypeFor(c.typname, c.typtype, c.typmod, c.formatted, 12345, c.elem, []string{"x"})
		if err != nil {
			t.Errorf("TypeFor(%s): %v", c.formatted, err)
			continue
		}
		if typ.Kind != c.kind || typ.MaxLen != c.maxLen || typ.Name != c.formatted || typ.OID != 12345 {
			t.Errorf("TypeFor(%s) = %+v, want kind %v, MaxLen %d", c.formatted, typ, c.kind, c.maxLen)
		}
	}

	// The array's typmod goes to a copy of the element; the element given
	// is not modified.
	vc := base(t, "varchar", -1, "character varying", pgtype.VarcharOID)
	arr := mustType(t, "_varchar", 'b', varcharMod(5), "character varying(5)[]", pgtype.VarcharArrayOID, vc, nil)
	if arr.Elem.MaxLen != 5 || arr.Elem.Name != "character varying(5)" || vc.MaxLen != 0 {
		t.Errorf("array element = %+v, given element = %+v", arr.Elem, vc)
	}
}

func TestTypeForUnsupported(t *testing.T) {
	int4 := base(t, "int4", -1, "integer", pgtype.Int4OID)
	arr := arrayOf(t, int4, -1, "integer[]", pgtype.Int4ArrayOID)
	for _, c := range []struct {
		typname   string
		typtype   byte
		formatted string
		elem      *coerce.Type
	}{
		{"point", 'b', "point", nil},
		{"timetz", 'b', "time with time zone", nil},
		{"_timetz", 'b', "time with time zone[]", nil},
		{"hstore", 'b', "hstore", nil},
		{"money", 'b', "money", nil},
		{"inet", 'b', "inet", nil},
		{"char", 'b', `"char"`, nil},
		{"my_row", 'c', "my_row", nil},
		{"int4range", 'r', "int4range", nil},
		{"_int4", 'b', "integer[]", nil},           // element type not given
		{"_int4", 'b', "integer[][]", arr},         // element is an array
		{"_point", 'b', "point[]", &coerce.Type{}}, // element of no kind
	} {
		_, err := coerce.TypeFor(c.typname, c.typtype, -1, c.formatted, 1, c.elem, nil)
		if !errors.Is(err, coerce.ErrUnsupportedType) || err.Error() != "unsupported column type "+c.formatted {
			t.Errorf("TypeFor(%s) error = %v, want unsupported column type %s", c.typname, err, c.formatted)
		}
	}
}

func TestKindString(t *testing.T) {
	if coerce.KindTimestamptz.String() != "timestamptz" || coerce.KindTime.String() != "time" || coerce.KindInterval.String() != "interval" || coerce.Kind(0).String() != "Kind(0)" || coerce.Kind(200).String() != "Kind(200)" {
		t.Error("Kind.String")
	}
}

// A Type written as a literal, without TypeFor, still works.
func TestTypeLiteral(t *testing.T) {
	enum := &coerce.Type{Kind: coerce.KindEnum, OID: 1, Name: "e", Labels: []string{"a", "b"}}
	checkText(t, enum, []ok{{"b", "b"}}, []bad{{"c", `"c" is not a label of enum e (one of: a, b)`}})
	name := &coerce.Type{Kind: coerce.KindText, OID: pgtype.NameOID, Name: "name"}
	checkText(t, name, nil, []bad{{strings.Repeat("x", 64), `string of 64 bytes exceeds name (at most 63 bytes)`}})
	var noKind coerce.Type
	if _, err := noKind.FromText("x"); err == nil {
		t.Error("a Type without a kind accepted a value")
	}
}
