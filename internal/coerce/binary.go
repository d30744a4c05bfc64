package coerce

import (
	"encoding/binary"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// AppendBinary appends v, a value FromJSON or FromText returned for t (not
// nil), in PostgreSQL's binary format for t's type, without the length
// word: what COPY … FROM STDIN (FORMAT binary) reads for the column. ok is
// false when t's kind or v's Go type has no encoder here (arrays, a value of
// another Go type); the caller then encodes it some other way. dst is
// returned unchanged then.
//
// It is the column encoder of kafka2pg's COPY: a switch on the column kind,
// with no lookup of an encode plan per value, and numeric encoded straight
// from its digits.
func (t *Type) AppendBinary(dst []byte, v any) (_ []byte, ok bool) {
	switch t.Kind {
	case KindInt2:
		if x, ok := v.(int16); ok {
			return binary.BigEndian.AppendUint16(dst, uint16(x)), true
		}
	case KindInt4:
		if x, ok := v.(int32); ok {
			return binary.BigEndian.AppendUint32(dst, uint32(x)), true
		}
	case KindInt8:
		if x, ok := v.(int64); ok {
			return binary.BigEndian.AppendUint64(dst, uint64(x)), true
		}
	case KindFloat4:
		if x, ok := v.(float32); ok {
			return binary.BigEndian.AppendUint32(dst, math.Float32bits(x)), true
		}
	case KindFloat8:
		if x, ok := v.(float64); ok {
			return binary.BigEndian.AppendUint64(dst, math.Float64bits(x)), true
		}
	case KindText, KindEnum:
		// text, varchar, bpchar, name, citext and enum labels: the bytes.
		if x, ok := v.(string); ok {
			return append(dst, x...), true
		}
	case KindBool:
		if x, ok := v.(bool); ok {
			if x {
				return append(dst, 1), true
			}
			return append(dst, 0), true
		}
	case KindTimestamptz, KindTimestamp:
		if x, ok := v.(time.Time); ok {
			if t.Kind == KindTimestamp && x.Location() != time.UTC {
				// timestamp stores the wall clock.
				x = time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC)
			}
			us := x.Unix()*1000000 + int64(x.Nanosecond())/1000 - pgEpochMicros
			return binary.BigEndian.AppendUint64(dst, uint64(us)), true
		}
	case KindDate:
		if x, ok := v.(time.Time); ok {
			day := time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC).Unix()
			return binary.BigEndian.AppendUint32(dst, uint32(int32((day-pgEpochSeconds)/86400))), true
		}
	case KindTime:
		if x, ok := v.(pgtype.Time); ok && x.Valid {
			return binary.BigEndian.AppendUint64(dst, uint64(x.Microseconds)), true
		}
	case KindInterval:
		if x, ok := v.(pgtype.Interval); ok && x.Valid {
			dst = binary.BigEndian.AppendUint64(dst, uint64(x.Microseconds))
			dst = binary.BigEndian.AppendUint32(dst, uint32(x.Days))
			return binary.BigEndian.AppendUint32(dst, uint32(x.Months)), true
		}
	case KindUUID:
		if x, ok := v.([16]byte); ok {
			return append(dst, x[:]...), true
		}
	case KindJSON, KindBytea:
		if x, ok := v.([]byte); ok {
			return append(dst, x...), true
		}
	case KindJSONB:
		if x, ok := v.([]byte); ok {
			return append(append(dst, 1), x...), true // jsonb version 1: the text
		}
	case KindNumeric:
		switch x := v.(type) {
		case Decimal:
			return appendDecimal(dst, x)
		case pgtype.Numeric:
			if x.Valid {
				return appendNumeric(dst, x)
			}
		}
	}
	return dst, false
}

const (
	pgEpochSeconds = 946684800 // 2000-01-01 00:00:00 UTC
	pgEpochMicros  = pgEpochSeconds * 1000000
)

// numeric's sign words.
const (
	numericPos    = 0x0000
	numericNeg    = 0x4000
	numericNaN    = 0xC000
	numericPosInf = 0xD000
	numericNegInf = 0xF000
)

// appendNumeric encodes n (Int × 10^Exp) as numeric_send does: base-10000
// digits, the weight of the first, the sign and the display scale
// (max(0, -Exp): "1.50" keeps its scale of 2).
func appendNumeric(dst []byte, n pgtype.Numeric) ([]byte, bool) {
	header := func(ndigits, weight int, sign uint16, dscale int) []byte {
		dst = binary.BigEndian.AppendUint16(dst, uint16(ndigits))
		dst = binary.BigEndian.AppendUint16(dst, uint16(int16(weight)))
		dst = binary.BigEndian.AppendUint16(dst, sign)
		return binary.BigEndian.AppendUint16(dst, uint16(dscale))
	}
	switch {
	case n.NaN:
		return header(0, 0, numericNaN, 0), true
	case n.InfinityModifier == pgtype.Infinity:
		return header(0, 0, numericPosInf, 0), true
	case n.InfinityModifier == pgtype.NegativeInfinity:
		return header(0, 0, numericNegInf, 0), true
	case n.InfinityModifier != pgtype.Finite:
		return dst, false
	}
	// The decimal digits of |Int|.
	var small [40]byte
	var digits []byte
	sign := uint16(numericPos)
	switch {
	case n.Int == nil:
		digits = append(small[:0], '0')
	case n.Int.IsInt64():
		i := n.Int.Int64()
		if i < 0 {
			sign = numericNeg
			digits = strconv.AppendUint(small[:0], uint64(-(i+1))+1, 10)
		} else {
			digits = strconv.AppendInt(small[:0], i, 10)
		}
	default:
		if n.Int.Sign() < 0 {
			sign = numericNeg
		}
		digits = new(big.Int).Abs(n.Int).Append(small[:0], 10)
	}
	return appendNumericDigits(dst, sign, digits, int(n.Exp))
}

// appendNumericDigits encodes digits (decimal, most significant first) ×
// 10^exp with sign as numeric_send does.
func appendNumericDigits(dst []byte, sign uint16, digits []byte, exp int) ([]byte, bool) {
	header := func(ndigits, weight int, sign uint16, dscale int) []byte {
		dst = binary.BigEndian.AppendUint16(dst, uint16(ndigits))
		dst = binary.BigEndian.AppendUint16(dst, uint16(int16(weight)))
		dst = binary.BigEndian.AppendUint16(dst, sign)
		return binary.BigEndian.AppendUint16(dst, uint16(dscale))
	}
	if exp > 1000 || exp < -1000 {
		return dst, false // beyond what the digits below are sized for
	}
	dscale := 0
	if exp < 0 {
		dscale = -exp
	}
	// value = digits × 10^exp. Split at the decimal point into groups of
	// four digits aligned on it: position p (0 = the units digit of the
	// integer part, counting left) of each digit is len(digits)-1-i+exp.
	// The group of a digit at power q is floor(q / 4); its weight in
	// base 10000 is that group.
	hi := len(digits) - 1 + exp // power of the first digit
	lo := exp                   // power of the last digit
	gHi, gLo := floorDiv(hi, 4), floorDiv(lo, 4)
	ngroups := gHi - gLo + 1
	var gbuf [64]int16
	groups := gbuf[:0]
	if ngroups > len(gbuf) {
		groups = make([]int16, 0, ngroups)
	}
	groups = groups[:ngroups]
	clear(groups)
	for i, c := range digits {
		q := hi - i
		g := floorDiv(q, 4)
		groups[gHi-g] += int16(c-'0') * pow10[q-g*4]
	}
	// Strip zero groups at both ends (PostgreSQL does not store them).
	weight := gHi
	for len(groups) > 0 && groups[0] == 0 {
		groups = groups[1:]
		weight--
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	if len(groups) == 0 {
		return header(0, 0, numericPos, dscale), true
	}
	if weight > math.MaxInt16 || weight < math.MinInt16 {
		return dst, false
	}
	dst = header(len(groups), weight, sign, dscale)
	for _, g := range groups {
		dst = binary.BigEndian.AppendUint16(dst, uint16(g))
	}
	return dst, true
}

var pow10 = [4]int16{1, 10, 100, 1000}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}
