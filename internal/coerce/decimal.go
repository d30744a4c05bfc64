package coerce

import (
	"math/big"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"
)

// Decimal is a finite numeric value whose digits fit an int64: Coef ×
// 10^Exp, with the scale of the text it came from ("1.50" is {150, -2}).
// FromJSON and FromText return it for a numeric column when the value has
// at most decimalDigits significant digits, which is nearly every amount or
// rate a record carries; other values are pgtype.Numeric. It is the same
// value pgtype.Numeric{Int: Coef, Exp: Exp} would be, without the big.Int:
// no pointer, so one small allocation when it is stored in a row and
// nothing for the garbage collector to scan.
type Decimal struct {
	Coef int64
	Exp  int32
}

// decimalDigits is how many digits, plus a rounding carry, always fit a
// Decimal's int64.
const decimalDigits = 18

// Numeric returns d as a pgtype.Numeric.
func (d Decimal) Numeric() pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(d.Coef), Exp: d.Exp, Valid: true}
}

// NumericValue makes d a pgtype.NumericValuer, so that pgx encodes it
// wherever it encodes a numeric.
func (d Decimal) NumericValue() (pgtype.Numeric, error) { return d.Numeric(), nil }

// String returns d in PostgreSQL's text form: "12.50", "-0.001", "1200".
func (d Decimal) String() string {
	return string(d.appendText(nil))
}

func (d Decimal) appendText(dst []byte) []byte {
	var small [24]byte
	digits := strconv.AppendUint(small[:0], absInt64(d.Coef), 10)
	if d.Coef < 0 {
		dst = append(dst, '-')
	}
	if d.Exp >= 0 {
		dst = append(dst, digits...)
		for i := int32(0); i < d.Exp && d.Coef != 0; i++ {
			dst = append(dst, '0')
		}
		return dst
	}
	scale := int(-d.Exp)
	if len(digits) <= scale {
		dst = append(dst, '0', '.')
		for i := len(digits); i < scale; i++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	point := len(digits) - scale
	dst = append(dst, digits[:point]...)
	dst = append(dst, '.')
	return append(dst, digits[point:]...)
}

// absInt64 is |x| as a uint64 (math.MinInt64 included).
func absInt64(x int64) uint64 {
	if x < 0 {
		return uint64(-(x + 1)) + 1
	}
	return uint64(x)
}

// appendDecimal encodes d as numeric_send does (see appendNumeric).
func appendDecimal(dst []byte, d Decimal) ([]byte, bool) {
	var small [24]byte
	sign := uint16(numericPos)
	if d.Coef < 0 {
		sign = numericNeg
	}
	return appendNumericDigits(dst, sign, strconv.AppendUint(small[:0], absInt64(d.Coef), 10), int(d.Exp))
}
