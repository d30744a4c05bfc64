package coerce_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// numberSeeds are inputs for the number fuzz target.
var numberSeeds = []string{
	"0", "-0", "1", "42", "1e3", "5.0", ".5", "5.", "+7", "1.5", "-1e-3", "0.005", "999.995",
	"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"92233720368547758.07e2", "1e19", "0e99999", "1e-99999", "00000123.4500", "123456789012345678901234567890.123456789",
	"99999.99", "-12345.675", "1.2.3", "e5", "1e", "--1", "NaN", "",
}

// rat parses a number of the lenient decimal grammar with math/big, the
// reference the hand-written parser is checked against. Exponents are kept
// small so that the reference stays cheap.
func rat(s string) (*big.Rat, bool) {
	if strings.Trim(s, "0123456789+-.eE") != "" {
		return nil, false // big.Rat also reads fractions, prefixes and underscores
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 && len(s)-i > 5 {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// roundHalfAway rounds r to scale fraction digits, half away from zero.
func roundHalfAway(r *big.Rat, scale int) *big.Int {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt(p))
	num, den := new(big.Int).Abs(x.Num()), x.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if new(big.Int).Mul(m, big.NewInt(2)).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if x.Sign() < 0 {
		q.Neg(q)
	}
	return q
}

// FuzzNumbers checks integers and numerics against math/big: an integer is
// accepted exactly when it is whole and in range; a numeric is the exact
// value; numeric(7,2) rounds half away from zero and rejects more than 5
// integer digits.
func FuzzNumbers(f *testing.F) {
	for _, s := range numberSeeds {
		f.Add(s)
	}
	int8t := base(f, "int8", -1, "bigint", pgtype.Int8OID)
	numt := base(f, "numeric", -1, "numeric", pgtype.NumericOID)
	num72 := base(f, "numeric", numericMod(7, 2), "numeric(7,2)", pgtype.NumericOID)
	f.Fuzz(func(t *testing.T, s string) {
		r, refOK := rat(s)
		if strings.EqualFold(strings.TrimLeft(s, "+-"), "inf") || strings.EqualFold(strings.TrimLeft(s, "+-"), "infinity") || strings.EqualFold(s, "nan") {
			return
		}

		iv, ierr := int8t.FromText(s)
		if refOK {
			want, whole := new(big.Int), r.IsInt()
			if whole {
				want = r.Num()
			}
			inRange := whole && want.IsInt64()
			if inRange != (ierr == nil) {
				t.Fatalf("int8 %q: error %v, but whole=%v in range=%v", s, ierr, whole, inRange)
			}
			if ierr == nil && iv.(int64) != want.Int64() {
				t.Fatalf("int8 %q = %d, want %s", s, iv, want)
			}
		}

		nv, nerr := numt.FromText(s)
		if nerr == nil && refOK {
			n := asNumeric(nv)
			got := new(big.Rat).SetInt(n.Int)
			p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(math.Abs(float64(n.Exp)))), nil))
			if n.Exp < 0 {
				got.Quo(got, p)
			} else {
				got.Mul(got, p)
			}
			if got.Cmp(r) != 0 {
				t.Fatalf("numeric %q = %s, want %s", s, got.FloatString(10), r.FloatString(10))
			}
		} else if nerr != nil && refOK && len(s) < 1000 {
			t.Fatalf("numeric %q rejected: %v", s, nerr)
		}

		v72, err72 := num72.FromText(s)
		if refOK {
			q := roundHalfAway(r, 2)
			fits := new(big.Int).Abs(q).Cmp(big.NewInt(10_000_000)) < 0
			if fits != (err72 == nil) {
				t.Fatalf("numeric(7,2) %q: error %v, rounded %s fits=%v", s, err72, q, fits)
			}
			if err72 == nil {
				n := asNumeric(v72)
				got := new(big.Int).Set(n.Int)
				for e := n.Exp; e > -2; e-- {
					got.Mul(got, big.NewInt(10))
				}
				if n.Exp < -2 || got.Cmp(q) != 0 {
					t.Fatalf("numeric(7,2) %q = %se%d, want %se-2", s, n.Int, n.Exp, q)
				}
			}
		}
	})
}

// FuzzFromText runs every kind on arbitrary text: no panic, and a value or
// an *Error, never both or neither.
func FuzzFromText(f *testing.F) {
	for _, s := range numberSeeds {
		f.Add(s)
	}
	for _, s := range []string{"2024-02-29T12:00:00.123456789+02:00", "2024-02-29", "{123e4567e89b12d3a456426614174000}", "[1, null]", "héllö", "a\x00", "\xff", "t", "paid", "1700000000000"} {
		f.Add(s)
	}
	for _, s := range timeIntervalSeeds {
		f.Add(s)
	}
	types := allScalarTypes(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range types {
			v, err := typ.FromText(s)
			if (v == nil) == (err == nil) {
				t.Fatalf("%s: FromText(%q) = %v, %v", typ.Name, s, v, err)
			}
			if err != nil {
				if _, ok := err.(*coerce.Error); !ok {
					t.Fatalf("%s: FromText(%q): %T %v", typ.Name, s, err, err)
				}
				continue
			}
			checkTimeInterval(t, typ, s, v)
		}
	})
}

// timeIntervalSeeds are inputs for the time and interval kinds.
var timeIntervalSeeds = []string{
	"12:34:56.789", "24:00", "23:59:60", "00:00:00.1234565", "3600.5s", "-0.000001s", "P1Y2M3DT4H5M6.5S",
	"PT-1.5S", "1 year 2 mons -3 days +04:05:06.789", "-00:00:01.5", "2562047788:00:54.775807",
	"-178956970 years -8 mons -2147483648 days -2562047788 hours -54.775807 secs", "1.5 hours", "P1W",
}

// checkTimeInterval checks a value FromText accepted for a time or interval
// column: in range, rounded to the typmod, and read back to the same value
// from the text forms the package documents.
func checkTimeInterval(t *testing.T, typ *coerce.Type, in string, v any) {
	t.Helper()
	granule := int64(1)
	if name := typ.Name; strings.Contains(name, "(0)") {
		granule = 1_000_000
	} else if strings.Contains(name, "(3)") {
		granule = 1000
	}
	var texts []string
	switch typ.Kind {
	case coerce.KindTime:
		us := v.(pgtype.Time).Microseconds
		if us < 0 || us > 86_400_000_000 || us%granule != 0 {
			t.Fatalf("%s: FromText(%q) = %d microseconds", typ.Name, in, us)
		}
		texts = append(texts, fmt.Sprintf("%02d:%02d:%02d.%06d", us/3_600_000_000, us/60_000_000%60, us/1_000_000%60, us%1_000_000))
	case coerce.KindInterval:
		iv := v.(pgtype.Interval)
		if iv.Microseconds%granule != 0 {
			t.Fatalf("%s: FromText(%q) = %+v: not rounded", typ.Name, in, iv)
		}
		if iv.Microseconds == math.MinInt64 {
			return // no clock can say it: PostgreSQL cannot read it back either
		}
		us, sign := iv.Microseconds, ""
		if us < 0 {
			us, sign = -us, "-"
		}
		clock := fmt.Sprintf("%s%02d:%02d:%02d.%06d", sign, us/3_600_000_000, us/60_000_000%60, us/1_000_000%60, us%1_000_000)
		texts = append(texts, fmt.Sprintf("%d years %d mons %d days %s", iv.Months/12, iv.Months%12, iv.Days, clock))
		if iv.Months == 0 && iv.Days == 0 {
			texts = append(texts, fmt.Sprintf("%s%d.%06ds", sign, us/1_000_000, us%1_000_000))
		}
	default:
		return
	}
	for _, text := range texts {
		back, err := typ.FromText(text)
		if err != nil || back != v {
			t.Fatalf("%s: FromText(%q) = %+v, written %q, read back as %+v, %v", typ.Name, in, v, text, back, err)
		}
	}
}

func allScalarTypes(tb testing.TB) []*coerce.Type {
	int4 := base(tb, "int4", -1, "integer", pgtype.Int4OID)
	return []*coerce.Type{
		base(tb, "int2", -1, "smallint", pgtype.Int2OID),
		int4,
		base(tb, "int8", -1, "bigint", pgtype.Int8OID),
		base(tb, "numeric", -1, "numeric", pgtype.NumericOID),
		base(tb, "numeric", numericMod(5, 2), "numeric(5,2)", pgtype.NumericOID),
		base(tb, "float4", -1, "real", pgtype.Float4OID),
		base(tb, "float8", -1, "double precision", pgtype.Float8OID),
		base(tb, "varchar", varcharMod(5), "character varying(5)", pgtype.VarcharOID),
		base(tb, "bool", -1, "boolean", pgtype.BoolOID),
		base(tb, "timestamptz", -1, "timestamp with time zone", pgtype.TimestamptzOID),
		base(tb, "timestamp", -1, "timestamp without time zone", pgtype.TimestampOID),
		base(tb, "date", -1, "date", pgtype.DateOID),
		base(tb, "uuid", -1, "uuid", pgtype.UUIDOID),
		base(tb, "json", -1, "json", pgtype.JSONOID),
		base(tb, "jsonb", -1, "jsonb", pgtype.JSONBOID),
		base(tb, "bytea", -1, "bytea", pgtype.ByteaOID),
		base(tb, "time", -1, "time without time zone", pgtype.TimeOID),
		base(tb, "time", 3, "time(3) without time zone", pgtype.TimeOID),
		base(tb, "interval", -1, "interval", pgtype.IntervalOID),
		base(tb, "interval", intervalMod(ivFull, 0), "interval(0)", pgtype.IntervalOID),
		base(tb, "interval", intervalMod(ivHour|ivMinute, ivNoPrec), "interval hour to minute", pgtype.IntervalOID),
		statusType(tb),
		arrayOf(tb, int4, -1, "integer[]", pgtype.Int4ArrayOID),
		arrayOf(tb, base(tb, "interval", -1, "interval", pgtype.IntervalOID), -1, "interval[]", pgtype.IntervalArrayOID),
		arrayOf(tb, base(tb, "time", -1, "time without time zone", pgtype.TimeOID), -1, "time without time zone[]", pgtype.TimeArrayOID),
	}
}

// A Type is used by many goroutines at once, each with its own values.
func TestConcurrentUse(t *testing.T) {
	names, types := orderColumns(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var p fastjsonParser
			for range 200 {
				row, err := p.Parse(orderRow)
				if err != nil {
					t.Error(err)
					return
				}
				for i, typ := range types {
					if _, err := typ.FromJSON(row.Get(names[i])); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// FuzzFromJSON runs every kind on arbitrary JSON: no panic, a value or an
// *Error, a value pgx can encode in binary, and for json/jsonb always valid
// JSON with the meaning of the input.
func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2.5e3, "x\u0000", null, true]}`, `"2024-02-29T12:00:00Z"`, `[1, null, "3"]`, `"AQID"`, `-0.0`, `"\ud83d\ude00"`, `{"k\"": {}}`, `01`, `NaN`,
		`"12:00:00.5"`, `"1 day 02:03:04"`, `1500`, `-9223372036854775`, `["PT1S", null, 1]`, `["24:00"]`} {
		f.Add(s)
	}
	types := allScalarTypes(f)
	m := encodeMap(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range types {
			var p fastjsonParser
			v, err := p.Parse(s)
			if err != nil {
				return
			}
			got, err := typ.FromJSON(v)
			if v.Type() == fastjsonTypeNull {
				if got != nil || err != nil {
					t.Fatalf("%s: FromJSON(null) = %v, %v", typ.Name, got, err)
				}
				continue
			}
			if (got == nil) == (err == nil) {
				t.Fatalf("%s: FromJSON(%s) = %v, %v", typ.Name, s, got, err)
			}
			if err != nil {
				if _, ok := err.(*coerce.Error); !ok {
					t.Fatalf("%s: FromJSON(%s): %T %v", typ.Name, s, err, err)
				}
				continue
			}
			if _, err := m.Encode(typ.OID, pgtype.BinaryFormatCode, got, nil); err != nil {
				t.Fatalf("%s: FromJSON(%s) = %v: cannot encode: %v", typ.Name, s, got, err)
			}
			if typ.Kind == coerce.KindJSON || typ.Kind == coerce.KindJSONB {
				out := got.([]byte)
				if !json.Valid(out) {
					t.Fatalf("%s: FromJSON(%s) = %s: not valid JSON", typ.Name, s, out)
				}
				if json.Valid([]byte(s)) && !loneSurrogate(s) && !sameJSON([]byte(s), out) {
					t.Fatalf("%s: FromJSON(%s) = %s: a different value", typ.Name, s, out)
				}
			}
		}
	})
}

// loneSurrogate reports whether s may hold a \uD800-\uDFFF escape that is
// not part of a pair: fastjson leaves it as the six characters, which are
// then stored as text, where encoding/json decodes it to U+FFFD.
func loneSurrogate(s string) bool {
	ls := strings.ToLower(s)
	for _, p := range []string{`\ud8`, `\ud9`, `\uda`, `\udb`, `\udc`, `\udd`, `\ude`, `\udf`} {
		if strings.Contains(ls, p) {
			return true
		}
	}
	return false
}

// sameJSON reports whether a and b decode to the same value, numbers
// compared by their text.
func sameJSON(a, b []byte) bool {
	decode := func(b []byte) (any, error) {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		err := d.Decode(&v)
		return v, err
	}
	va, errA := decode(a)
	vb, errB := decode(b)
	return errA == nil && errB == nil && reflect.DeepEqual(va, vb)
}

// asNumeric is a numeric column value as a pgtype.Numeric, whichever of
// the two forms FromJSON and FromText gave.
func asNumeric(v any) pgtype.Numeric {
	if d, ok := v.(coerce.Decimal); ok {
		return d.Numeric()
	}
	return v.(pgtype.Numeric)
}
