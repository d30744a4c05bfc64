package coerce_test

import (
	"math"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestInt2(t *testing.T) {
	typ := base(t, "int2", -1, "smallint", pgtype.Int2OID)
	checkJSON(t, typ, []ok{
		{`0`, int16(0)},
		{`32767`, int16(32767)},
		{`-32768`, int16(-32768)},
		{`1e3`, int16(1000)},
		{`5.0`, int16(5)},
		{`1.0e2`, int16(100)},
		{`327.67e2`, int16(32767)},
		{`3276700e-2`, int16(32767)},
		{`-0`, int16(0)},
		{`0e999999999999`, int16(0)},
		{`"42"`, int16(42)},
		{`"+42"`, int16(42)},
		{`"-7."`, int16(-7)},
	}, []bad{
		{`32768`, `value 32768 out of range for smallint`},
		{`-32769`, `value -32769 out of range for smallint`},
		{`"40000"`, `value 40000 out of range for smallint`},
		{`1e5`, `value 1e5 out of range for smallint`},
		{`1e400`, `value 1e400 out of range for smallint`},
		{`1.5`, `value 1.5 is not a whole number for smallint`},
		{`1e-1`, `value 1e-1 is not a whole number for smallint`},
		{`"x"`, `want a number for smallint, got a string "x"`},
		{`" 42"`, `want a number for smallint, got a string " 42"`},
		{`"0x10"`, `want a number for smallint, got a string "0x10"`},
		{`"1_000"`, `want a number for smallint, got a string "1_000"`},
		{`true`, `want a number for smallint, got a boolean true`},
		{`{"a":1}`, `want a number for smallint, got an object`},
		{`[1]`, `want a number for smallint, got an array`},
		{`01`, `number 01 is not valid JSON`},
		{`NaN`, `number NaN is not valid JSON`},
	})
	checkText(t, typ, []ok{
		{"-32768", int16(-32768)},
		{"1e2", int16(100)},
	}, []bad{
		{"32768", `value 32768 out of range for smallint`},
		{"abc", `"abc" is not a valid smallint`},
		{"", `"" is not a valid smallint`},
		{"1.25", `value 1.25 is not a whole number for smallint`},
	})
}

func TestInt4(t *testing.T) {
	typ := base(t, "int4", -1, "integer", pgtype.Int4OID)
	checkJSON(t, typ, []ok{
		{`2147483647`, int32(math.MaxInt32)},
		{`-2147483648`, int32(math.MinInt32)},
		{`"2147483647"`, int32(math.MaxInt32)},
	}, []bad{
		{`2147483648`, `value 2147483648 out of range for integer`},
		{`-2147483649`, `value -2147483649 out of range for integer`},
		{`"x"`, `want a number for integer, got a string "x"`},
	})
}

func TestInt8(t *testing.T) {
	typ := base(t, "int8", -1, "bigint", pgtype.Int8OID)
	checkJSON(t, typ, []ok{
		{`9223372036854775807`, int64(math.MaxInt64)},
		{`-9223372036854775808`, int64(math.MinInt64)},
		{`9.223372036854775807e18`, int64(math.MaxInt64)},
		{`-92233720368547758.08e2`, int64(math.MinInt64)},
		{`"9223372036854775807"`, int64(math.MaxInt64)},
		{`1e18`, int64(1e18)},
		{`00000000000000000000000000042`[0:0] + `42`, int64(42)},
		{`"00000000000000000000000000042"`, int64(42)},
	}, []bad{
		{`9223372036854775808`, `value 9223372036854775808 out of range for bigint`},
		{`-9223372036854775809`, `value -9223372036854775809 out of range for bigint`},
		{`18446744073709551616`, `value 18446744073709551616 out of range for bigint`},
		{`99999999999999999999`, `value 99999999999999999999 out of range for bigint`},
		{`9223372036854775807.5`, `value 9223372036854775807.5 is not a whole number for bigint`},
		{`1e19`, `value 1e19 out of range for bigint`},
	})
	checkText(t, typ, []ok{
		{"42", int64(42)},
		{"-9223372036854775808", int64(math.MinInt64)},
	}, []bad{
		{"9223372036854775808", `value 9223372036854775808 out of range for bigint`},
		{"x", `"x" is not a valid bigint`},
	})
}

func TestNumeric(t *testing.T) {
	typ := base(t, "numeric", -1, "numeric", pgtype.NumericOID)
	checkJSON(t, typ, []ok{
		{`0.1`, num("1", -1)},
		{`123456789012345678901234567890.123456789`, num("123456789012345678901234567890123456789", -9)},
		{`-0.000001`, num("-1", -6)},
		{`1e-20`, num("1", -20)},
		{`1E+5`, num("1", 5)},
		{`1.50`, num("150", -2)},
		{`1.50e1`, num("150", -1)},
		{`0`, num("0", 0)},
		{`0.00`, num("0", -2)},
		{`0e10`, num("0", 0)},
		{`-0`, num("0", 0)},
		{`9223372036854775808`, num("9223372036854775808", 0)},
		{`9999999999999999999`, num("9999999999999999999", 0)},
		{`-99999999999999999999`, num("-99999999999999999999", 0)},
		{`"12.5"`, num("125", -1)},
		{`"+.5"`, num("5", -1)},
		{`"NaN"`, pgtype.Numeric{NaN: true, Valid: true}},
		{`"nan"`, pgtype.Numeric{NaN: true, Valid: true}},
		{`"Infinity"`, pgtype.Numeric{InfinityModifier: pgtype.Infinity, Valid: true}},
		{`"-Infinity"`, pgtype.Numeric{InfinityModifier: pgtype.NegativeInfinity, Valid: true}},
		{`"-inf"`, pgtype.Numeric{InfinityModifier: pgtype.NegativeInfinity, Valid: true}},
	}, []bad{
		{`true`, `want a number for numeric, got a boolean true`},
		{`"abc"`, `want a number for numeric, got a string "abc"`},
		{`"1.2.3"`, `want a number for numeric, got a string "1.2.3"`},
		{`1e200000`, `value 1e200000 out of range for numeric`},
		{`1e-16384`, `value 1e-16384 out of range for numeric`},
	})
	checkText(t, typ, []ok{
		{"-12.340", num("-12340", -3)},
		{"Infinity", pgtype.Numeric{InfinityModifier: pgtype.Infinity, Valid: true}},
	}, []bad{
		{"12,5", `"12,5" is not a valid numeric`},
	})
}

func TestNumericPrecisionScale(t *testing.T) {
	typ := base(t, "numeric", numericMod(5, 2), "numeric(5,2)", pgtype.NumericOID)
	checkJSON(t, typ, []ok{
		{`123.45`, num("12345", -2)},
		{`999.99`, num("99999", -2)},
		{`999.994`, num("99999", -2)},
		{`-999.994999999999999999999`, num("-99999", -2)},
		{`12`, num("12", 0)},
		{`0.005`, num("1", -2)},
		{`-0.005`, num("-1", -2)},
		{`0.0049`, num("0", -2)},
		{`0.000000000001`, num("0", -2)},
		{`1.255`, num("126", -2)},
		{`"NaN"`, pgtype.Numeric{NaN: true, Valid: true}},
		{`99999e-2`, num("99999", -2)},
	}, []bad{
		{`1234.5`, `value 1234.5 does not fit numeric(5,2)`},
		{`999.995`, `value 999.995 does not fit numeric(5,2)`},
		{`-999.995`, `value -999.995 does not fit numeric(5,2)`},
		{`1000`, `value 1000 does not fit numeric(5,2)`},
		{`1e3`, `value 1e3 does not fit numeric(5,2)`},
		{`"Infinity"`, `value Infinity does not fit numeric(5,2)`},
		{`"-Infinity"`, `value -Infinity does not fit numeric(5,2)`},
	})

	// Precision 2, scale 5: values below 10^-3 only.
	small := base(t, "numeric", numericMod(2, 5), "numeric(2,5)", pgtype.NumericOID)
	checkJSON(t, small, []ok{
		{`0.00012`, num("12", -5)},
		{`0.00099`, num("99", -5)},
		{`0.000994999`, num("99", -5)},
	}, []bad{
		{`0.0012`, `value 0.0012 does not fit numeric(2,5)`},
		{`0.00099999`, `value 0.00099999 does not fit numeric(2,5)`},
		{`0.000999995`, `value 0.000999995 does not fit numeric(2,5)`},
	})

	// Negative scale: rounded to tens.
	tens := base(t, "numeric", numericMod(3, -1), "numeric(3,-1)", pgtype.NumericOID)
	checkJSON(t, tens, []ok{
		{`1234`, num("123", 1)},
		{`9994`, num("999", 1)},
		{`5`, num("1", 1)},
		{`4`, num("0", 0)},
	}, []bad{
		{`9995`, `value 9995 does not fit numeric(3,-1)`},
	})

	// Many digits: the big.Int path, with rounding carry.
	wide := base(t, "numeric", numericMod(40, 2), "numeric(40,2)", pgtype.NumericOID)
	checkJSON(t, wide, []ok{
		{`12345678901234567890123.455`, num("1234567890123456789012346", -2)},
		{`9999999999999999999999999999999999999.995`, num("1"+strings.Repeat("0", 39), -2)},
	}, []bad{
		{`99999999999999999999999999999999999999.995`, `value 99999999999999999999999999999999999999.995 does not fit numeric(40,2)`},
	})
}

func TestFloat4(t *testing.T) {
	typ := base(t, "float4", -1, "real", pgtype.Float4OID)
	checkJSON(t, typ, []ok{
		{`1.5`, float32(1.5)},
		{`0.1`, float32(0.1)},
		{`3.4028235e38`, float32(math.MaxFloat32)},
		{`-3.4028235e38`, float32(-math.MaxFloat32)},
		{`1e-45`, float32(math.SmallestNonzeroFloat32)},
		{`0`, float32(0)},
		{`-0.0`, float32(math.Copysign(0, -1))},
		{`"2.5"`, float32(2.5)},
		{`"NaN"`, float32(math.NaN())},
		{`"Infinity"`, float32(math.Inf(1))},
		{`"-Infinity"`, float32(math.Inf(-1))},
	}, []bad{
		{`1e39`, `value 1e39 out of range for real`},
		{`3.5e38`, `value 3.5e38 out of range for real`},
		{`-1e39`, `value -1e39 out of range for real`},
		{`1e-50`, `value 1e-50 out of range for real`},
		{`false`, `want a number for real, got a boolean false`},
	})
}

func TestFloat8(t *testing.T) {
	typ := base(t, "float8", -1, "double precision", pgtype.Float8OID)
	checkJSON(t, typ, []ok{
		{`0.1`, 0.1},
		{`1e308`, 1e308},
		{`123456789012345678901234567890`, 123456789012345678901234567890.0},
		{`"inf"`, math.Inf(1)},
		{`"-infinity"`, math.Inf(-1)},
		{`"nan"`, math.NaN()},
	}, []bad{
		{`1e309`, `value 1e309 out of range for double precision`},
		{`"1e-400"`, `value 1e-400 out of range for double precision`},
		{`"abc"`, `want a number for double precision, got a string "abc"`},
		{`"Infinit"`, `want a number for double precision, got a string "Infinit"`},
	})
	checkText(t, typ, []ok{
		{"-2.5e-3", -2.5e-3},
		{"Infinity", math.Inf(1)},
	}, []bad{
		{"1,5", `"1,5" is not a valid double precision`},
	})
}
