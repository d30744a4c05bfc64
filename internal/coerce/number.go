package coerce

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// decimal is a parsed decimal number: the digit string ip+fp (the digits
// before and after the decimal point) times 10^exp, negative when neg. ip and
// fp are substrings of the parsed text, so a decimal must not outlive it.
type decimal struct {
	neg    bool
	ip, fp string
	exp    int64
}

// expLimit bounds a parsed exponent. Any exponent beyond it behaves like one at
// it, because no input has that many digits.
const expLimit = 1 << 40

// PostgreSQL's numeric limits: digits before the decimal point and digits
// after it (NUMERIC_DSCALE_MAX).
const (
	numericMaxWeightDigits = 131072
	numericMaxScale        = 16383
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseDecimal parses s as a decimal number. With strict, s must follow the
// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
// Without, a leading '+', leading zeros and a missing integer or fraction part
// ("5.", ".5") are accepted too; there is no whitespace, no underscore and no
// hexadecimal in either grammar.
func parseDecimal(s string, strict bool) (d decimal, ok bool) {
	i := 0
	if i < len(s) && (s[i] == '-' || (!strict && s[i] == '+')) {
		d.neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	d.ip = s[start:i]
	if strict && (len(d.ip) == 0 || (len(d.ip) > 1 && d.ip[0] == '0')) {
		return d, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		d.fp = s[start:i]
		if strict && len(d.fp) == 0 {
			return d, false
		}
	}
	if len(d.ip) == 0 && len(d.fp) == 0 {
		return d, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		start = i
		var e int64
		for i < len(s) && isDigit(s[i]) {
			if e < expLimit {
				e = e*10 + int64(s[i]-'0')
			}
			i++
		}
		if i == start {
			return d, false
		}
		e = min(e, expLimit)
		if eneg {
			e = -e
		}
		d.exp = e
	}
	return d, i == len(s)
}

// ndigits is the length of the digit string ip+fp.
func (d *decimal) ndigits() int { return len(d.ip) + len(d.fp) }

// digit returns byte k of the digit string ip+fp.
func (d *decimal) digit(k int) byte {
	if k < len(d.ip) {
		return d.ip[k]
	}
	return d.fp[k-len(d.ip)]
}

// firstNonZero returns the index of the first non-zero digit, or ndigits()
// when the number is zero.
func (d *decimal) firstNonZero() int {
	n := d.ndigits()
	for k := 0; k < n; k++ {
		if d.digit(k) != '0' {
			return k
		}
	}
	return n
}

type intStatus uint8

const (
	intOK       intStatus = iota
	intFraction           // the value has a non-zero fractional part
	intOverflow           // the value is integral but beyond int64
)

// int64 returns the value of d if it is integral and fits int64.
func (d *decimal) int64() (int64, intStatus) {
	n := d.ndigits()
	f := d.firstNonZero()
	if f == n {
		return 0, intOK
	}
	point := int64(len(d.ip)) + d.exp // index in the digit string of the decimal point
	if point <= int64(f) {
		return 0, intFraction
	}
	for k := max(point, int64(f)); k < int64(n); k++ {
		if d.digit(int(k)) != '0' {
			return 0, intFraction
		}
	}
	if point-int64(f) > 19 {
		return 0, intOverflow
	}
	var u uint64 // at most 19 digits: no overflow
	for k := int64(f); k < point; k++ {
		var c byte
		if k < int64(n) {
			c = d.digit(int(k)) - '0'
		}
		u = u*10 + uint64(c)
	}
	if d.neg {
		if u > 1<<63 {
			return 0, intOverflow
		}
		return -int64(u), intOK // -int64(1<<63) wraps to math.MinInt64, as wanted
	}
	if u > math.MaxInt64 {
		return 0, intOverflow
	}
	return int64(u), intOK
}

// isZero reports whether all digits are zero.
func (d *decimal) isZero() bool { return d.firstNonZero() == d.ndigits() }

// intRange returns the inclusive range of an integer kind.
func intRange(k Kind) (lo, hi int64) {
	switch k {
	case KindInt2:
		return math.MinInt16, math.MaxInt16
	case KindInt4:
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

// parseInt converts number text to an integer of t's kind. strict selects the
// JSON number grammar (s is the raw text of a JSON number); otherwise s is a
// string and fromText selects the reason given when it is not a number.
func (t *Type) parseInt(s string, strict, fromText bool) (int64, error) {
	d, ok := parseDecimal(s, strict)
	if !ok {
		return 0, t.notNumber(s, strict, fromText)
	}
	n, st := d.int64()
	switch st {
	case intFraction:
		return 0, errorf("value " + clip(s) + " is not a whole number for " + t.name())
	case intOverflow:
		return 0, errorf("value " + clip(s) + " out of range for " + t.name())
	}
	lo, hi := intRange(t.Kind)
	if n < lo || n > hi {
		return 0, errorf("value " + clip(s) + " out of range for " + t.name())
	}
	return n, nil
}

// notNumber is the reason for text that is not a number.
func (t *Type) notNumber(s string, strict, fromText bool) *Error {
	switch {
	case strict:
		return errorf("number " + clip(s) + " is not valid JSON")
	case fromText:
		return errorf(quote(s) + " is not a valid " + t.name())
	}
	return errorf("want a number for " + t.name() + ", got a string " + quote(s))
}

// special values of numeric and floating point types
type special uint8

const (
	notSpecial special = iota
	specialNaN
	specialPosInf
	specialNegInf
)

// specialNumber recognises the words PostgreSQL accepts for NaN and the
// infinities of numeric, real and double precision, ignoring case.
func specialNumber(s string) special {
	if len(s) < 3 || len(s) > 9 {
		return notSpecial
	}
	switch s[0] {
	case 'n', 'N', 'i', 'I', '+', '-':
	default:
		return notSpecial // a digit, usually: no word to compare
	}
	switch {
	case strings.EqualFold(s, "nan"):
		return specialNaN
	case strings.EqualFold(s, "infinity"), strings.EqualFold(s, "+infinity"),
		strings.EqualFold(s, "inf"), strings.EqualFold(s, "+inf"):
		return specialPosInf
	case strings.EqualFold(s, "-infinity"), strings.EqualFold(s, "-inf"):
		return specialNegInf
	}
	return notSpecial
}

// wordDigits is how many decimal digits, plus a carry, always fit a big.Word.
const wordDigits = 9 + 10*(bits.UintSize/64)

// numericBox holds a numeric's big.Int together with the storage for its
// first word, so that a numeric of up to wordDigits digits costs one
// allocation.
type numericBox struct {
	i big.Int
	w [1]big.Word
}

// numericParts is parsed numeric text before it is built into a value: the
// digits [lo, hi) of d, plus one when roundUp, times 10^e, negative when
// d.neg; or, when spec is set, NaN or an infinity.
type numericParts struct {
	d       decimal
	lo, hi  int
	e       int64
	roundUp bool
	spec    special
}

// parseNumeric converts number text to a numeric exactly, never through
// float64. strict and fromText are as for parseInt. For numeric(p,s) the value
// is rounded to s fraction digits, half away from zero, and rejected when
// more than p-s digits remain before the decimal point, as PostgreSQL does.
func (t *Type) parseNumeric(s string, strict, fromText bool) (pgtype.Numeric, error) {
	p, err := t.numericParts(s, strict, fromText)
	if err != nil {
		return pgtype.Numeric{}, err
	}
	return p.numeric(), nil
}

// numericValue is parseNumeric for a column value: a Decimal when the digits
// fit one (an amount, a rate: nearly every value), a pgtype.Numeric when
// they do not or the value is NaN or an infinity. Same value, same errors.
func (t *Type) numericValue(s string, strict, fromText bool) (any, error) {
	return numericAny(t.parseNumericValue(s, strict, fromText))
}

// numericAny boxes the result of parseNumericValue or jsonNumericParts: d
// when isDec, else n.
func numericAny(d Decimal, n pgtype.Numeric, isDec bool, err error) (any, error) {
	switch {
	case err != nil:
		return nil, err
	case isDec:
		return d, nil
	}
	return n, nil
}

// parseNumericValue is numericValue unboxed: d when isDec, else n.
func (t *Type) parseNumericValue(s string, strict, fromText bool) (d Decimal, n pgtype.Numeric, isDec bool, err error) {
	p, err := t.numericParts(s, strict, fromText)
	if err != nil {
		return d, n, false, err
	}
	if p.spec == notSpecial && p.hi-p.lo <= decimalDigits {
		var u int64
		for k := p.lo; k < p.hi; k++ {
			u = u*10 + int64(p.d.digit(k)-'0')
		}
		if p.roundUp {
			u++
		}
		if p.d.neg {
			u = -u
		}
		return Decimal{Coef: u, Exp: int32(p.e)}, n, true, nil
	}
	return d, p.numeric(), false, nil
}

func (t *Type) numericParts(s string, strict, fromText bool) (numericParts, error) {
	if !strict {
		switch sp := specialNumber(s); sp {
		case specialNaN:
			return numericParts{spec: sp}, nil
		case specialPosInf, specialNegInf:
			if t.hasScale {
				return numericParts{}, t.doesNotFit(s)
			}
			return numericParts{spec: sp}, nil
		}
	}
	d, ok := parseDecimal(s, strict)
	if !ok {
		return numericParts{}, t.notNumber(s, strict, fromText)
	}

	// The value is digits [lo, hi) of d times 10^e.
	lo, hi := d.firstNonZero(), d.ndigits()
	e := d.exp - int64(len(d.fp))
	roundUp := false
	if t.hasScale {
		if k := -e - int64(t.scale); k > 0 {
			// Drop the k lowest digits, rounding half away from zero.
			end := int64(hi) - k
			if end >= int64(lo) {
				roundUp = d.digit(int(end)) >= '5'
				hi = int(end)
			} else {
				hi = lo
			}
			e = -int64(t.scale)
		}
		if hi > lo || roundUp {
			mag := int64(hi-lo) + e // digits before the decimal point
			if roundUp && allNines(&d, lo, hi) {
				mag++
			}
			if mag > int64(t.precision)-int64(t.scale) {
				return numericParts{}, t.doesNotFit(s)
			}
		}
	}
	if hi == lo && !roundUp {
		// Zero: keep the scale the text had, as PostgreSQL does ("0.00").
		e = min(e, 0)
	} else if int64(hi-lo)+e > numericMaxWeightDigits {
		return numericParts{}, errorf("value " + clip(s) + " out of range for " + t.name())
	}
	if e < -numericMaxScale {
		return numericParts{}, errorf("value " + clip(s) + " out of range for " + t.name())
	}
	return numericParts{d: d, lo: lo, hi: hi, e: e, roundUp: roundUp}, nil
}

// numeric builds the pgtype.Numeric of p.
func (p *numericParts) numeric() pgtype.Numeric {
	switch p.spec {
	case specialNaN:
		return pgtype.Numeric{NaN: true, Valid: true}
	case specialPosInf:
		return pgtype.Numeric{InfinityModifier: pgtype.Infinity, Valid: true}
	case specialNegInf:
		return pgtype.Numeric{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	d, lo, hi := &p.d, p.lo, p.hi
	box := new(numericBox)
	if hi-lo <= wordDigits {
		var u big.Word
		for k := lo; k < hi; k++ {
			u = u*10 + big.Word(d.digit(k)-'0')
		}
		if p.roundUp {
			u++
		}
		box.w[0] = u
		box.i.SetBits(box.w[:])
	} else {
		buf := make([]byte, hi-lo)
		for k := lo; k < hi; k++ {
			buf[k-lo] = d.digit(k)
		}
		box.i.SetString(string(buf), 10) // cannot fail: buf is digits only
		if p.roundUp {
			box.i.Add(&box.i, big.NewInt(1))
		}
	}
	if d.neg {
		box.i.Neg(&box.i)
	}
	return pgtype.Numeric{Int: &box.i, Exp: int32(p.e), Valid: true}
}

func allNines(d *decimal, lo, hi int) bool {
	for k := lo; k < hi; k++ {
		if d.digit(k) != '9' {
			return false
		}
	}
	return true
}

func (t *Type) doesNotFit(s string) *Error {
	return errorf("value " + clip(s) + " does not fit " + t.name())
}

// parseFloat converts number text to a float of t's kind (bitSize 32 or 64).
// Like PostgreSQL's input functions it rejects values that overflow to an
// infinity and non-zero values that underflow to zero. Without strict, the
// words for NaN and the infinities are accepted.
func (t *Type) parseFloat(s string, bitSize int, strict, fromText bool) (float64, error) {
	if !strict {
		switch specialNumber(s) {
		case specialNaN:
			return math.NaN(), nil
		case specialPosInf:
			return math.Inf(1), nil
		case specialNegInf:
			return math.Inf(-1), nil
		}
	}
	d, ok := parseDecimal(s, strict)
	if !ok {
		return 0, t.notNumber(s, strict, fromText)
	}
	f, err := strconv.ParseFloat(s, bitSize)
	if err != nil || (f == 0 && !d.isZero()) {
		// The grammar is a subset of ParseFloat's, so err is ErrRange.
		return 0, errorf("value " + clip(s) + " out of range for " + t.name())
	}
	return f, nil
}
