package coerce

import (
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// PostgreSQL's timestamp range in Unix milliseconds: from 4714-11-24 00:00:00
// BC (MIN_TIMESTAMP) up to, excluding, 294277-01-01 00:00:00 (END_TIMESTAMP).
const (
	minTimestampMillis = -210866803200000
	endTimestampMillis = 9224318016000000
)

// stamp is a parsed RFC 3339 timestamp.
type stamp struct {
	t         time.Time // the wall clock as written, in UTC
	offset    int       // seconds east of UTC
	hasOffset bool
}

func digits2(s string, i int) (int, bool) {
	a, b := s[i]-'0', s[i+1]-'0'
	if a > 9 || b > 9 {
		return 0, false
	}
	return int(a)*10 + int(b), true
}

func digits4(s string, i int) (int, bool) {
	hi, ok1 := digits2(s, i)
	lo, ok2 := digits2(s, i+2)
	return hi*100 + lo, ok1 && ok2
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseDate parses exactly YYYY-MM-DD with a year from 0001.
func parseDate(s string) (year, month, day int, ok bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := digits4(s, 0)
	m, ok2 := digits2(s, 5)
	d, ok3 := digits2(s, 8)
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(m, y) {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// parseStamp parses an RFC 3339 timestamp: YYYY-MM-DD, 'T', 't' or a space,
// hh:mm:ss, optionally '.' and 1 to 9 digits, then optionally 'Z', 'z' or
// ±hh:mm. A second of 60 (a leap second) is accepted and, as in PostgreSQL,
// is the first second of the next minute. Fractional seconds are rounded to
// microseconds exactly as PostgreSQL's input function does (rint of the
// double value), so that a value written by COPY equals the same text
// inserted as a literal.
func parseStamp(s string) (stamp, bool) {
	var st stamp
	y, mo, d, ok := parseDate(s)
	if !ok || len(s) < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return st, false
	}
	h, ok1 := digits2(s, 11)
	mi, ok2 := digits2(s, 14)
	sec, ok3 := digits2(s, 17)
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || sec > 60 {
		return st, false
	}
	i := 19
	nsec := 0
	if i < len(s) && s[i] == '.' {
		usec, end, ok := scanFraction(s, i)
		if !ok {
			return st, false
		}
		nsec, i = int(usec)*1000, end
	}
	if i < len(s) {
		switch s[i] {
		case 'Z', 'z':
			i++
		case '+', '-':
			if len(s)-i < 6 || s[i+3] != ':' {
				return st, false
			}
			oh, ok1 := digits2(s, i+1)
			om, ok2 := digits2(s, i+4)
			if !ok1 || !ok2 || oh > 23 || om > 59 {
				return st, false
			}
			st.offset = oh*3600 + om*60
			if s[i] == '-' {
				st.offset = -st.offset
			}
			i += 6
		default:
			return st, false
		}
		st.hasOffset = true
	}
	if i != len(s) {
		return st, false
	}
	st.t = time.Date(y, time.Month(mo), d, h, mi, sec, nsec, time.UTC)
	return st, true
}

// scanFraction reads '.' and 1 to 9 digits at s[i:] and returns the fraction
// of a second in microseconds, rounded exactly as PostgreSQL's input
// functions round it (rint of strtod(".ddd") * 1000000, so half to even of
// the double value), and the index after the digits. The result may be
// 1000000 (".9999996").
func scanFraction(s string, i int) (usec int64, end int, ok bool) {
	if i >= len(s) || s[i] != '.' {
		return 0, i, false
	}
	start := i
	i++
	var frac int64
	for i < len(s) && isDigit(s[i]) {
		if i-start > 9 {
			return 0, i, false
		}
		frac = frac*10 + int64(s[i]-'0')
		i++
	}
	n := i - start - 1
	if n == 0 {
		return 0, i, false
	}
	if n <= 6 {
		// Exact: the double nearest to the fraction, times 10^6, rounds
		// back to the same integer.
		for range 6 - n {
			frac *= 10
		}
		return frac, i, true
	}
	f, _ := strconv.ParseFloat(s[start:i], 64) // cannot fail: '.' and digits
	return int64(math.RoundToEven(float64(f * 1e6))), i, true
}

// isEpochMillis reports whether s is an optional '-' followed by digits only.
func isEpochMillis(s string) bool {
	i := 0
	if len(s) > 0 && s[0] == '-' {
		i = 1
	}
	if i == len(s) {
		return false
	}
	for ; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// fromMillis converts epoch milliseconds given as number text (strict: the
// raw text of a JSON number, which may use an exponent) to a UTC time.
func (t *Type) fromMillis(s string, strict bool) (time.Time, error) {
	d, ok := parseDecimal(s, strict)
	if !ok {
		return time.Time{}, errorf("number " + clip(s) + " is not valid JSON")
	}
	ms, st := d.int64()
	switch {
	case st == intFraction:
		return time.Time{}, errorf("value " + clip(s) + " is not a whole number of epoch milliseconds")
	case st == intOverflow || ms < minTimestampMillis || ms >= endTimestampMillis:
		return time.Time{}, errorf("value " + clip(s) + " (epoch milliseconds) out of range for " + t.name())
	}
	return time.UnixMilli(ms).UTC(), nil
}

// parseTime converts a timestamp string: RFC 3339, or epoch milliseconds as
// digits. timestamptz requires an offset; timestamp converts a time with an
// offset to UTC and takes one without as UTC wall time.
func (t *Type) parseTime(s string) (time.Time, error) {
	if isEpochMillis(s) {
		return t.fromMillis(s, false)
	}
	st, ok := parseStamp(s)
	if !ok {
		return time.Time{}, errorf(quote(s) + " is not an RFC 3339 timestamp")
	}
	if !st.hasOffset {
		if t.Kind == KindTimestamptz {
			return time.Time{}, errorf(quote(s) + " has no time zone offset")
		}
		return st.t, nil
	}
	// Years 0001 to 9999 and offsets under a day stay inside PostgreSQL's range.
	return st.t.Add(time.Duration(-st.offset) * time.Second), nil
}

// parseDateValue converts "YYYY-MM-DD" to UTC midnight of that day.
func (t *Type) parseDateValue(s string) (time.Time, error) {
	y, m, d, ok := parseDate(s)
	if !ok || len(s) != 10 {
		return time.Time{}, errorf(quote(s) + " is not a valid date (want YYYY-MM-DD)")
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), nil
}

// Microseconds per unit of time.
const (
	usecPerSec  = 1_000_000
	usecPerMin  = 60 * usecPerSec
	usecPerHour = 60 * usecPerMin
	usecPerDay  = 24 * usecPerHour
)

// maxFracDigits is PostgreSQL's MAX_TIME_PRECISION and
// MAX_INTERVAL_PRECISION: fraction digits a typmod may keep.
const maxFracDigits = 6

// fracScales[p] is the microsecond granule of p fraction digits.
var fracScales = [maxFracDigits + 1]int64{1000000, 100000, 10000, 1000, 100, 10, 1}

// scanTimeOfDay parses "HH:MM", "HH:MM:SS" or "HH:MM:SS.fraction" (1 to 9
// digits) into microseconds since midnight. inRange reports whether the
// fields and the total are within PostgreSQL's limits: a second of 60 (the
// next minute) is allowed, and the total may be 24:00:00 but no later, after
// the fraction is rounded to microseconds.
func scanTimeOfDay(s string) (usec int64, ok, inRange bool) {
	if len(s) < 5 || s[2] != ':' {
		return 0, false, false
	}
	h, ok1 := digits2(s, 0)
	m, ok2 := digits2(s, 3)
	if !ok1 || !ok2 {
		return 0, false, false
	}
	sec := 0
	if len(s) > 5 {
		if len(s) < 8 || s[5] != ':' {
			return 0, false, false
		}
		if sec, ok = digits2(s, 6); !ok {
			return 0, false, false
		}
		if len(s) > 8 {
			var end int
			if usec, end, ok = scanFraction(s, 8); !ok || end != len(s) {
				return 0, false, false
			}
		}
	}
	usec += int64((h*60+m)*60+sec) * usecPerSec
	return usec, true, h <= 24 && m <= 59 && sec <= 60 && usec <= usecPerDay
}

// parseTimeOfDay converts a time of day (see scanTimeOfDay) and applies
// time(p), which rounds to p fraction digits, half up, as PostgreSQL's
// AdjustTimeForTypmod. The other forms PostgreSQL reads ("1:02:03",
// "12:34.5" as minutes and seconds, AM/PM, a time zone) are not accepted.
func (t *Type) parseTimeOfDay(s string) (pgtype.Time, error) {
	usec, ok, inRange := scanTimeOfDay(s)
	if !ok {
		return pgtype.Time{}, errorf(quote(s) + " is not a valid " + t.name() + " (want HH:MM[:SS[.fraction]])")
	}
	if !inRange {
		return pgtype.Time{}, errorf(quote(s) + " out of range for " + t.name() + " (00:00:00 to 24:00:00)")
	}
	if t.roundFrac {
		// 24:00:00 is a multiple of every granule: rounding cannot pass it.
		g := fracScales[t.fracDigits]
		usec = (usec + g/2) / g * g
	}
	return pgtype.Time{Microseconds: usec, Valid: true}, nil
}
