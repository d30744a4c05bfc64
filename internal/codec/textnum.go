package codec

import (
	"math"
	"strconv"
)

// pow10 are the powers of ten AppendFloat64's fast path divides by, each
// exact in a float64.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6}

// AppendFloat64 appends f as strconv.AppendFloat(b, f, 'g', -1, 64) does
// (the shortest text that reads back as f, as fastjson's
// NewNumberFloat64 writes it), faster for the common values: those in
// [1e-4, 1e6) that are an integer of at most 15 digits divided by a power
// of ten up to 10^6 (prices, quantities, measurements).
//
// Why it is exact: such a k / 10^d, divided in float64 arithmetic (k and
// 10^d exact), is the correctly rounded value of the decimal k×10^-d, which
// is what parsing its text gives; so when it equals f the text reads back
// as f. Decimals of at most 15 significant digits lie further apart than
// two float64s near them, so no other text of at most 15 digits reads back
// as f: the one with the fewest fraction digits (the first d found) is the
// shortest, and in [1e-4, 1e6) 'g' writes it without an exponent.
// TestAppendFloat64 compares it with strconv on millions of values.
func AppendFloat64(b []byte, f float64) []byte {
	a := math.Abs(f)
	if !(a >= 1e-4 && a < 1e6) {
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	for d, p := range pow10 {
		k := math.Round(a * p)
		if k >= 1e15 {
			break
		}
		if k/p != a {
			continue
		}
		if f < 0 {
			b = append(b, '-')
		}
		n := int64(k)
		if d == 0 {
			return strconv.AppendInt(b, n, 10)
		}
		var digits [16]byte
		t := strconv.AppendInt(digits[:0], n, 10)
		if len(t) <= d { // below 1: "0." and zeros first
			b = append(b, '0', '.')
			for range d - len(t) {
				b = append(b, '0')
			}
			return append(b, t...)
		}
		b = append(b, t[:len(t)-d]...)
		b = append(b, '.')
		return append(b, t[len(t)-d:]...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// AppendTimestamp appends the instant secs.nanos seconds after the Unix
// epoch as time.Time.AppendFormat(b, time.RFC3339Nano) writes it in UTC
// ("2024-05-01T12:00:00.5Z": the fraction without trailing zeros, none
// when zero), for years 1 to 9999 and 0 ≤ nanos < 1e9 (the caller checks).
func AppendTimestamp(b []byte, secs, nanos int64) []byte {
	days := secs / 86400
	rem := secs % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	// Days to a civil date (H. Hinnant's algorithm), counted from
	// 0000-03-01: z ≥ 0 from year 1 on.
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10), 'T')
	h, mi, s := rem/3600, rem/60%60, rem%60
	b = append(b, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10))
	if nanos != 0 {
		var frac [9]byte
		n := nanos
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + n%10)
			n /= 10
		}
		end := 9
		for frac[end-1] == '0' {
			end--
		}
		b = append(b, '.')
		b = append(b, frac[:end]...)
	}
	return append(b, 'Z')
}
