package coerce_test

import (
	"bytes"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// A Decimal encodes to exactly the bytes of the pgtype.Numeric it stands
// for, and pgx reads it back as that number, with its scale.
func TestDecimalBinary(t *testing.T) {
	typ, err := coerce.TypeFor("numeric", 'b', -1, "numeric", pgtype.NumericOID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := pgtype.NewMap()
	r := rand.New(rand.NewPCG(3, 4))
	cases := []coerce.Decimal{{0, 0}, {0, -2}, {1, 0}, {-1, 0}, {150, -2}, {12345, 3}, {math.MaxInt64, 0}, {math.MinInt64, -7}, {7, -1000}, {7, 1000}}
	for range 20000 {
		c := r.Int64N(1e18)
		if r.IntN(2) == 0 {
			c = -c
		}
		cases = append(cases, coerce.Decimal{Coef: c >> r.IntN(60), Exp: int32(r.IntN(60) - 30)})
	}
	for _, d := range cases {
		got, ok := typ.AppendBinary(nil, d)
		if !ok {
			t.Fatalf("%v: no encoding", d)
		}
		want, ok := typ.AppendBinary(nil, d.Numeric())
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("%v: % x, the Numeric's % x", d, got, want)
		}
		var out pgtype.Numeric
		if err := m.Scan(pgtype.NumericOID, pgtype.BinaryFormatCode, got, &out); err != nil {
			t.Fatalf("%v: %v", d, err)
		}
		if d.Coef != 0 && !sameNumber(out, d.Numeric()) {
			t.Fatalf("%v came back as %s×10^%d", d, out.Int, out.Exp)
		}
	}
	// Beyond the exponents the direct encoder is sized for, the caller
	// falls back to pgx, which takes a Decimal as a NumericValuer.
	big := coerce.Decimal{Coef: 5, Exp: 2000}
	if _, ok := typ.AppendBinary(nil, big); ok {
		t.Fatalf("%v: encoded directly", big)
	}
	buf, err := m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, big, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out pgtype.Numeric
	if err := m.Scan(pgtype.NumericOID, pgtype.BinaryFormatCode, buf, &out); err != nil || !sameNumber(out, big.Numeric()) {
		t.Fatalf("through pgx: %v %v", out, err)
	}
}

func sameNumber(a, b pgtype.Numeric) bool {
	rat := func(x pgtype.Numeric) *big.Rat {
		q := new(big.Rat).SetInt(x.Int)
		p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(x.Exp, -x.Exp))), nil))
		if x.Exp >= 0 {
			return q.Mul(q, p)
		}
		return q.Quo(q, p)
	}
	return rat(a).Cmp(rat(b)) == 0
}

// FromJSON and FromText give a Decimal for a finite value of up to 18
// significant digits, and a pgtype.Numeric otherwise; String is
// PostgreSQL's text of the value.
func TestDecimalChosen(t *testing.T) {
	typ, err := coerce.TypeFor("numeric", 'b', -1, "numeric", pgtype.NumericOID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	scaled, err := coerce.TypeFor("numeric", 'b', numericMod(30, 2), "numeric(30,2)", pgtype.NumericOID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ  *coerce.Type
		in   string
		text string // "" when the value is a pgtype.Numeric
	}{
		{typ, "12.50", "12.50"},
		{typ, "-0.001", "-0.001"},
		{typ, "1200", "1200"},
		{typ, "1.2e3", "1200"},
		{typ, "0.00", "0.00"},
		{typ, "-0", "0"},
		{typ, "000123.4500", "123.4500"},
		{typ, "123456789012345678", "123456789012345678"},
		{typ, "1234567890123456789", ""}, // 19 digits
		{typ, "NaN", ""},
		{typ, "Infinity", ""},
		{scaled, "999999999999999999.995", ""}, // 21 digits before rounding
		{scaled, "9999999999999999.995", "10000000000000000.00"},
		{scaled, "1.005", "1.01"},
		{scaled, "-1.005", "-1.01"},
	} {
		v, err := c.typ.FromText(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		d, isDec := v.(coerce.Decimal)
		if isDec != (c.text != "") {
			t.Fatalf("%s: %T, want a Decimal: %v", c.in, v, c.text != "")
		}
		if isDec && d.String() != c.text {
			t.Fatalf("%s: String() = %q, want %q", c.in, d.String(), c.text)
		}
		if isDec {
			// The text PostgreSQL would print reads back as the same value.
			back, err := c.typ.FromText(d.String())
			if err != nil || !sameNumber(asNumeric(back), d.Numeric()) {
				t.Fatalf("%s: %q reads back as %v (%v)", c.in, d.String(), back, err)
			}
			if _, err := strconv.ParseFloat(d.String(), 64); err != nil {
				t.Fatalf("%s: %q is not a number", c.in, d.String())
			}
		}
	}
}
