package coerce_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

func arrayOf(t testing.TB, elem *coerce.Type, typmod int32, formatted string, oid uint32) *coerce.Type {
	return mustType(t, "_"+elem.Kind.String(), 'b', typmod, formatted, oid, elem, nil)
}

func TestArrays(t *testing.T) {
	int2s := arrayOf(t, base(t, "int2", -1, "smallint", pgtype.Int2OID), -1, "smallint[]", pgtype.Int2ArrayOID)
	checkJSON(t, int2s, []ok{
		{`[1, 2, 3]`, pgtype.FlatArray[int16]{1, 2, 3}},
		{`[]`, pgtype.FlatArray[int16]{}},
		{`[1, null, "3"]`, pgtype.FlatArray[*int16]{ptr(int16(1)), nil, ptr(int16(3))}},
		{`[null]`, pgtype.FlatArray[*int16]{nil}},
	}, []bad{
		{`[1, 2, 3, 40000]`, `element [3]: value 40000 out of range for smallint`},
		{`"x"`, `want an array for smallint[], got a string "x"`},
		{`{"a": 1}`, `want an array for smallint[], got an object`},
		{`[[1]]`, `element [0]: want a number for smallint, got an array`},
	})
	checkText(t, int2s, []ok{{"[1,2]", pgtype.FlatArray[int16]{1, 2}}}, []bad{
		{"{1,2}", `"{1,2}" is not a JSON array for smallint[]`},
		{"1", `"1" is not a JSON array for smallint[]`},
	})

	int4s := arrayOf(t, base(t, "int4", -1, "integer", pgtype.Int4OID), -1, "integer[]", pgtype.Int4ArrayOID)
	checkJSON(t, int4s, []ok{{`[2147483647]`, pgtype.FlatArray[int32]{2147483647}}}, nil)

	texts := arrayOf(t, base(t, "text", -1, "text", pgtype.TextOID), -1, "text[]", pgtype.TextArrayOID)
	checkJSON(t, texts, []ok{
		{`["a", "", null, 1, {"b": 2}]`, pgtype.FlatArray[*string]{ptr("a"), ptr(""), nil, ptr("1"), ptr(`{"b":2}`)}},
	}, []bad{{`["a", "\u0000"]`, `element [1]: string contains U+0000 (NUL), which text cannot store`}})

	// The column's typmod applies to the elements, as in PostgreSQL.
	varchars := arrayOf(t, base(t, "varchar", -1, "character varying", pgtype.VarcharOID), varcharMod(5), "character varying(5)[]", pgtype.VarcharArrayOID)
	checkJSON(t, varchars, []ok{{`["héllö"]`, pgtype.FlatArray[string]{"héllö"}}}, []bad{
		{`["ok", "héllöx"]`, `element [1]: string of 6 characters exceeds character varying(5)`},
	})
	numerics := arrayOf(t, base(t, "numeric", -1, "numeric", pgtype.NumericOID), numericMod(4, 1), "numeric(4,1)[]", pgtype.NumericArrayOID)
	checkJSON(t, numerics, []ok{{`[1.25, "-1"]`, pgtype.FlatArray[pgtype.Numeric]{num("13", -1), num("-1", 0)}}}, []bad{
		{`[1000]`, `element [0]: value 1000 does not fit numeric(4,1)`},
	})

	uuids := arrayOf(t, base(t, "uuid", -1, "uuid", pgtype.UUIDOID), -1, "uuid[]", pgtype.UUIDArrayOID)
	checkJSON(t, uuids, []ok{
		{`["00000000-0000-0000-0000-000000000001", null]`, pgtype.FlatArray[*[16]byte]{ptr([16]byte{15: 1}), nil}},
	}, []bad{{`["x"]`, `element [0]: "x" is not a valid uuid`}})

	statuses := mustType(t, "_order_status", 'b', -1, "order_status[]", statusArrayOID, statusType(t), nil)
	checkJSON(t, statuses, []ok{{`["new", "paid"]`, pgtype.FlatArray[string]{"new", "paid"}}}, []bad{
		{`["new", "lost"]`, `element [1]: "lost" is not a label of enum order_status (one of: new, paid, shipped)`},
	})

	// time(p)[] and interval(p)[]: the typmod applies to the elements too.
	times := arrayOf(t, base(t, "time", -1, "time without time zone", pgtype.TimeOID), 0, "time(0) without time zone[]", pgtype.TimeArrayOID)
	checkJSON(t, times, []ok{
		{`["12:00:00.5", null, "24:00"]`, pgtype.FlatArray[*pgtype.Time]{ptr(tod(12, 0, 1, 0)), nil, ptr(tod(24, 0, 0, 0))}},
	}, []bad{{`["12:00", 1]`, `element [1]: want an "HH:MM:SS" string for time(0) without time zone, got a number 1`}})
	intervals := arrayOf(t, base(t, "interval", -1, "interval", pgtype.IntervalOID), intervalMod(ivFull, 0), "interval(0)[]", pgtype.IntervalArrayOID)
	checkJSON(t, intervals, []ok{
		{`["1.5s", 1499, "P1D"]`, pgtype.FlatArray[pgtype.Interval]{iv(0, 0, 2*usSec), iv(0, 0, usSec), iv(0, 1, 0)}},
	}, []bad{{`["1 day", "1500"]`, `element [1]: "1500" has no unit (want e.g. "90s" or "90 seconds")`}})

	others := []struct {
		elem *coerce.Type
		oid  uint32
		in   string
		want any
	}{
		{base(t, "int8", -1, "bigint", pgtype.Int8OID), pgtype.Int8ArrayOID, `[1]`, pgtype.FlatArray[int64]{1}},
		{base(t, "float4", -1, "real", pgtype.Float4OID), pgtype.Float4ArrayOID, `[1.5]`, pgtype.FlatArray[float32]{1.5}},
		{base(t, "float8", -1, "double precision", pgtype.Float8OID), pgtype.Float8ArrayOID, `[1.5]`, pgtype.FlatArray[float64]{1.5}},
		{base(t, "bool", -1, "boolean", pgtype.BoolOID), pgtype.BoolArrayOID, `[true, "f"]`, pgtype.FlatArray[bool]{true, false}},
		{base(t, "timestamptz", -1, "timestamp with time zone", pgtype.TimestamptzOID), pgtype.TimestamptzArrayOID, `[0]`, pgtype.FlatArray[time.Time]{utc(1970, 1, 1, 0, 0, 0, 0)}},
		{base(t, "timestamp", -1, "timestamp without time zone", pgtype.TimestampOID), pgtype.TimestampArrayOID, `["2024-01-02T03:04:05"]`, pgtype.FlatArray[time.Time]{utc(2024, 1, 2, 3, 4, 5, 0)}},
		{base(t, "date", -1, "date", pgtype.DateOID), pgtype.DateArrayOID, `["2024-01-02"]`, pgtype.FlatArray[time.Time]{utc(2024, 1, 2, 0, 0, 0, 0)}},
		{base(t, "json", -1, "json", pgtype.JSONOID), pgtype.JSONArrayOID, `[{"a":1}, 2]`, pgtype.FlatArray[[]byte]{[]byte(`{"a":1}`), []byte(`2`)}},
		{base(t, "jsonb", -1, "jsonb", pgtype.JSONBOID), pgtype.JSONBArrayOID, `[null, [1]]`, pgtype.FlatArray[*[]byte]{nil, ptr([]byte(`[1]`))}},
		{base(t, "bytea", -1, "bytea", pgtype.ByteaOID), pgtype.ByteaArrayOID, `["AQID", ""]`, pgtype.FlatArray[[]byte]{{1, 2, 3}, {}}},
	}
	for _, o := range others {
		checkJSON(t, arrayOf(t, o.elem, -1, o.elem.Name+"[]", o.oid), []ok{{o.in, o.want}}, nil)
	}
}
