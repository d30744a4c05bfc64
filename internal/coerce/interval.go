package coerce

import (
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// An interval is parsed into PostgreSQL's three fields (months, days,
// microseconds) the way its interval_in does (datetime.c, PostgreSQL 15 and
// later), including where it goes through a double: a fraction of an hour,
// minute or second is scaled as a double, truncated and then rounded half
// toward zero, while the fraction of an "hh:mm:ss.ffffff" clock is rounded
// half to even (ParseFractionalSecond). Reproducing both is what makes a
// value written in binary equal the same text given to PostgreSQL as a
// literal. Every field is overflow-checked at the same steps as there.

// maxIntervalText is the longest non-ISO interval text accepted. PostgreSQL
// rejects a text whose fields overflow its 256-byte work buffer; its own
// output is never longer than about 70 bytes.
const maxIntervalText = 128

// ivStatus is the outcome of parsing an interval text.
type ivStatus uint8

const (
	ivOK       ivStatus = iota
	ivSyntax            // not one of the accepted forms
	ivNoUnit            // a number without a unit
	ivFraction          // a fraction of years, months, weeks or days
	ivRange             // a field overflows
)

// ivNumber is one number of an interval text, split as PostgreSQL splits
// it: the integer part, and the fraction as a double with the number's sign
// (|frac| < 1) when the text has a decimal point.
type ivNumber struct {
	ip   int64
	frac float64
	dot  bool
}

// scanIntervalNumber reads [sign]digits[.digits] at s[i:], with 1 to 9
// fraction digits. A '+' sign is accepted only with plus. With iso, the value
// is read as ISO 8601 fields are (ParseISO8601Number: the whole number as a
// double, at most 1e15 in magnitude, split into integer and fraction);
// otherwise as other fields are (strtoi64 for the integer part, strtod of
// the ".digits" for the fraction). st is ivSyntax or, for a number that
// cannot fit any field, ivRange.
func scanIntervalNumber(s string, i int, plus, iso bool) (n ivNumber, end int, st ivStatus) {
	start := i
	neg := false
	if i < len(s) && (s[i] == '-' || plus && s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	ds := i
	var u int64
	for i < len(s) && isDigit(s[i]) {
		// Above 2^59 no field can hold the value: stop accumulating.
		if u <= 1<<59 {
			u = u*10 + int64(s[i]-'0')
		}
		i++
	}
	if i == ds {
		return n, i, ivSyntax
	}
	fs := i
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if d := i - fs - 1; d == 0 || d > 9 {
			return n, i, ivSyntax
		}
		n.dot = true
	}
	if iso && !n.dot {
		// An integer up to 1e15 is exact as a double: no need for one.
		if u > 1e15 {
			return n, i, ivRange
		}
		n.ip = u
		if neg {
			n.ip = -n.ip
		}
		return n, i, ivOK
	}
	if iso {
		v, _ := strconv.ParseFloat(s[start:i], 64) // ±Inf when huge: caught below
		if v < -1e15 || v > 1e15 {
			return n, i, ivRange
		}
		n.ip = int64(math.Trunc(v))
		n.frac = v - float64(n.ip)
		return n, i, ivOK
	}
	if u > 1<<59 {
		return n, i, ivRange
	}
	n.ip = u
	if n.dot {
		n.frac, _ = strconv.ParseFloat(s[fs:i], 64) // cannot fail: '.' and digits
	}
	if neg {
		n.ip, n.frac = -n.ip, -n.frac
	}
	return n, i, ivOK
}

// ivAcc accumulates an interval like PostgreSQL's pg_itm_in: years and
// months apart until the end, every step checked for overflow.
type ivAcc struct {
	years, months, days int32
	usec                int64
}

func add32(sum *int32, v int64) bool {
	s := int64(*sum) + v
	if s < math.MinInt32 || s > math.MaxInt32 {
		return false
	}
	*sum = int32(s)
	return true
}

func add64(sum *int64, v int64) bool {
	s := *sum + v
	if (v > 0 && s < *sum) || (v < 0 && s > *sum) {
		return false
	}
	*sum = s
	return true
}

// mulAdd64 adds v*m to sum, for m > 0 (int64_multiply_add).
func mulAdd64(sum *int64, v, m int64) bool {
	if v > math.MaxInt64/m || v < math.MinInt64/m {
		return false
	}
	return add64(sum, v*m)
}

// fractMicros is PostgreSQL's AdjustFractMicroseconds: frac (|frac| < 1)
// times scale microseconds, truncated, then rounded half toward zero. The
// conversions keep the compiler from fusing the multiplication and the
// subtraction, which would round differently from PostgreSQL.
func fractMicros(frac float64, scale int64) int64 {
	if frac == 0 {
		return 0
	}
	f := float64(frac * float64(scale))
	us := int64(f)
	r := float64(f - float64(us))
	if r > 0.5 {
		us++
	} else if r < -0.5 {
		us--
	}
	return us
}

// addYears, addMonths and addDays take whole values (fractions of these
// units are rejected before, see ivFraction).
func (a *ivAcc) addYears(v int64) bool {
	return v >= math.MinInt32 && v <= math.MaxInt32 && add32(&a.years, v)
}

func (a *ivAcc) addMonths(v int64) bool {
	return v >= math.MinInt32 && v <= math.MaxInt32 && add32(&a.months, v)
}

func (a *ivAcc) addDays(v, scale int64) bool {
	if v < math.MinInt32 || v > math.MaxInt32 {
		return false
	}
	d := v * scale
	return d >= math.MinInt32 && d <= math.MaxInt32 && add32(&a.days, d)
}

// addMicros adds n units of scale microseconds (AdjustMicroseconds).
func (a *ivAcc) addMicros(n ivNumber, scale int64) bool {
	return mulAdd64(&a.usec, n.ip, scale) && add64(&a.usec, fractMicros(n.frac, scale))
}

// interval returns the accumulated value, or false when the months overflow
// or the value is one that PostgreSQL 17 and later take for ±infinity
// (every field at its maximum or minimum): pgtype.Interval cannot say
// infinity, and a finite value must not be stored as one.
func (a *ivAcc) interval() (pgtype.Interval, bool) {
	months := int64(a.years)*12 + int64(a.months)
	if months < math.MinInt32 || months > math.MaxInt32 {
		return pgtype.Interval{}, false
	}
	iv := pgtype.Interval{Microseconds: a.usec, Days: a.days, Months: int32(months), Valid: true}
	return iv, !isIntervalSentinel(iv)
}

func isIntervalSentinel(iv pgtype.Interval) bool {
	return iv.Months == math.MaxInt32 && iv.Days == math.MaxInt32 && iv.Microseconds == math.MaxInt64 ||
		iv.Months == math.MinInt32 && iv.Days == math.MinInt32 && iv.Microseconds == math.MinInt64
}

// Interval units by rank: larger units first. A clock ("02:03:04") takes the
// place of hours, minutes and seconds.
const (
	rankYear int8 = iota
	rankMonth
	rankWeek
	rankDay
	rankHour
	rankMinute
	rankSecond
	nRanks
)

// intervalUnits maps the unit words accepted after a number (any case) to
// their rank: PostgreSQL's own output words and their common long forms.
var intervalUnits = [...]struct {
	word string
	rank int8
}{
	{"year", rankYear}, {"years", rankYear},
	{"mon", rankMonth}, {"mons", rankMonth}, {"month", rankMonth}, {"months", rankMonth},
	{"week", rankWeek}, {"weeks", rankWeek},
	{"day", rankDay}, {"days", rankDay},
	{"hour", rankHour}, {"hours", rankHour},
	{"min", rankMinute}, {"mins", rankMinute}, {"minute", rankMinute}, {"minutes", rankMinute},
	{"sec", rankSecond}, {"secs", rankSecond}, {"second", rankSecond}, {"seconds", rankSecond},
}

func unitRank(w string) int8 {
	if len(w) < 3 || len(w) > 7 {
		return -1
	}
	for _, u := range intervalUnits {
		if strings.EqualFold(w, u.word) {
			return u.rank
		}
	}
	return -1
}

// addUnit adds n units of rank r.
func (a *ivAcc) addUnit(r int8, n ivNumber) bool {
	switch r {
	case rankYear:
		return a.addYears(n.ip)
	case rankMonth:
		return a.addMonths(n.ip)
	case rankWeek:
		return a.addDays(n.ip, 7)
	case rankDay:
		return a.addDays(n.ip, 1)
	case rankHour:
		return a.addMicros(n, usecPerHour)
	case rankMinute:
		return a.addMicros(n, usecPerMin)
	}
	return a.addMicros(n, usecPerSec)
}

// parseISOInterval parses an ISO 8601 duration with designators:
// P[nY][nM][nW][nD][T[nH][nM][nS]], at least one component, in this order,
// uppercase, each number optionally negative; only H, M and S may have a
// fraction. (PostgreSQL also reads the components in any order, a trailing
// T, fractions of the date components and the alternative format
// P0001-02-03T04:05:06; those are rejected.)
func parseISOInterval(s string) (a ivAcc, st ivStatus) {
	i := 1 // past the 'P'
	last := int8(-1)
	datePart := true
	for i < len(s) {
		if s[i] == 'T' {
			if !datePart || i+1 == len(s) {
				return a, ivSyntax
			}
			datePart = false
			i++
			continue
		}
		n, end, nst := scanIntervalNumber(s, i, false, true)
		if nst == ivSyntax || end == len(s) {
			return a, ivSyntax
		}
		r := int8(-1)
		switch d := s[end]; {
		case datePart && d == 'Y':
			r = rankYear
		case datePart && d == 'M':
			r = rankMonth
		case datePart && d == 'W':
			r = rankWeek
		case datePart && d == 'D':
			r = rankDay
		case !datePart && d == 'H':
			r = rankHour
		case !datePart && d == 'M':
			r = rankMinute
		case !datePart && d == 'S':
			r = rankSecond
		}
		switch {
		case r <= last:
			return a, ivSyntax
		case n.dot && r <= rankDay:
			return a, ivFraction
		case nst == ivRange || !a.addUnit(r, n):
			return a, ivRange
		}
		last, i = r, end+1
	}
	if last < 0 {
		return a, ivSyntax
	}
	return a, ivOK
}

// parseIntervalClock parses [+-]h+:mm:ss[.fraction] into microseconds
// (DecodeTimeForInterval): hours unbounded, minutes up to 59, seconds up to
// 60.
func parseIntervalClock(tok string) (int64, ivStatus) {
	i := 0
	neg := false
	if tok[0] == '+' || tok[0] == '-' {
		neg = tok[0] == '-'
		i = 1
	}
	hs := i
	var h int64
	for i < len(tok) && isDigit(tok[i]) {
		if h <= 1<<59 {
			h = h*10 + int64(tok[i]-'0')
		}
		i++
	}
	if i == hs || len(tok)-i < 6 || tok[i] != ':' || tok[i+3] != ':' {
		return 0, ivSyntax
	}
	m, ok1 := digits2(tok, i+1)
	sec, ok2 := digits2(tok, i+4)
	if !ok1 || !ok2 {
		return 0, ivSyntax
	}
	i += 6
	var usec int64
	if i < len(tok) {
		var ok bool
		if usec, i, ok = scanFraction(tok, i); !ok || i != len(tok) {
			return 0, ivSyntax
		}
	}
	if m > 59 || sec > 60 || !mulAdd64(&usec, h, usecPerHour) ||
		!mulAdd64(&usec, int64(m), usecPerMin) || !mulAdd64(&usec, int64(sec), usecPerSec) {
		return 0, ivRange
	}
	if neg {
		usec = -usec // usec ≥ 0: cannot overflow
	}
	return usec, ivOK
}

// parsePostgresInterval parses PostgreSQL's own output style: "[+-]n unit"
// pairs with units from years down to seconds, each at most once and in that
// order, separated by single spaces, optionally ending with a
// "[+-]hh:mm:ss[.fraction]" clock in place of hours, minutes and seconds:
// "1 year 2 mons -3 days +04:05:06.5", "-00:00:01.5", "90 minutes". Only
// hours, minutes and seconds may have a fraction. As PostgreSQL does, the
// fields are added from the right (which matters only for which sum
// overflows first).
func parsePostgresInterval(s string) (a ivAcc, st ivStatus) {
	if s == "" || len(s) > maxIntervalText {
		return a, ivSyntax
	}
	var nums [nRanks]ivNumber
	var ranks [nRanks]int8
	nf := 0
	last := int8(-1)
	next := func(rest string) (tok, after string, ok bool) {
		k := strings.IndexByte(rest, ' ')
		if k < 0 {
			return rest, "", true
		}
		return rest[:k], rest[k+1:], k+1 < len(rest)
	}
	for rest := s; rest != ""; {
		tok, after, ok := next(rest)
		if !ok || tok == "" {
			return a, ivSyntax
		}
		if strings.IndexByte(tok, ':') >= 0 {
			if after != "" || last >= rankHour {
				return a, ivSyntax
			}
			var cst ivStatus
			if a.usec, cst = parseIntervalClock(tok); cst != ivOK {
				return a, cst
			}
			break
		}
		n, end, nst := scanIntervalNumber(tok, 0, true, false)
		if nst == ivSyntax || end != len(tok) {
			return a, ivSyntax
		}
		if after == "" {
			return a, ivNoUnit
		}
		var unit string
		if unit, rest, ok = next(after); !ok {
			return a, ivSyntax
		}
		r := unitRank(unit)
		switch {
		case r <= last:
			return a, ivSyntax
		case n.dot && r <= rankDay:
			return a, ivFraction
		case nst == ivRange:
			return a, ivRange
		}
		nums[nf], ranks[nf] = n, r
		nf++
		last = r
	}
	// The clock, if any, is the rightmost field and already in a.usec.
	for k := nf - 1; k >= 0; k-- {
		if !a.addUnit(ranks[k], nums[k]) {
			return a, ivRange
		}
	}
	return a, ivOK
}

// parseInterval converts interval text: a Protobuf JSON duration ("3600.5s",
// "-0.000001s"), an ISO 8601 duration, or PostgreSQL's output style; then
// applies t's typmod.
func (t *Type) parseInterval(s string) (pgtype.Interval, error) {
	var a ivAcc
	st := ivSyntax
	switch {
	case len(s) > 1 && s[0] == 'P':
		a, st = parseISOInterval(s)
	case len(s) > 1 && s[len(s)-1] == 's':
		// Protobuf: [-]seconds[.fraction]s, which PostgreSQL reads as a
		// number of seconds ("3600.5 s").
		if n, end, nst := scanIntervalNumber(s, 0, false, false); nst != ivSyntax && end == len(s)-1 {
			st = ivOK
			if nst == ivRange || !a.addMicros(n, usecPerSec) {
				st = ivRange
			}
		}
	}
	if st == ivSyntax && (len(s) == 0 || s[0] != 'P') {
		a, st = parsePostgresInterval(s)
	}
	switch st {
	case ivSyntax:
		return pgtype.Interval{}, errorf(quote(s) + ` is not a valid ` + t.name() + ` (want e.g. "90s", "PT1H30M" or "1 day 02:00:00")`)
	case ivNoUnit:
		return pgtype.Interval{}, errorf(quote(s) + ` has no unit (want e.g. "90s" or "90 seconds")`)
	case ivFraction:
		return pgtype.Interval{}, errorf(quote(s) + ": only hours, minutes and seconds may have a fraction")
	}
	iv, ok := a.interval()
	if st == ivOK && ok {
		iv, ok = t.adjustInterval(iv)
	}
	if st != ivOK || !ok {
		return pgtype.Interval{}, errorf(quote(s) + " out of range for " + t.name())
	}
	return iv, nil
}

// intervalMillis converts a JSON number of milliseconds (the raw number
// text) to an interval of that many milliseconds, all in the microseconds
// field, as PostgreSQL reads "n milliseconds".
func (t *Type) intervalMillis(s string) (pgtype.Interval, error) {
	d, ok := parseDecimal(s, true)
	if !ok {
		return pgtype.Interval{}, errorf("number " + clip(s) + " is not valid JSON")
	}
	ms, st := d.int64()
	if st == intFraction {
		return pgtype.Interval{}, errorf("value " + clip(s) + " is not a whole number of milliseconds")
	}
	var iv pgtype.Interval
	ok = st == intOK && ms <= math.MaxInt64/1000 && ms >= math.MinInt64/1000
	if ok {
		iv, ok = t.adjustInterval(pgtype.Interval{Microseconds: ms * 1000, Valid: true})
	}
	if !ok {
		return pgtype.Interval{}, errorf("value " + clip(s) + " (milliseconds) out of range for " + t.name())
	}
	return iv, nil
}

// ivTrunc is the unit below which an interval typmod zeroes the fields.
type ivTrunc uint8

const (
	truncNone ivTrunc = iota
	truncYear
	truncMonth
	truncDay
	truncHour
	truncMinute
)

// Interval typmod: the field mask in the high 16 bits (bits as in
// PostgreSQL's dt.h), the precision in the low 16.
const (
	ivMaskMonth           = 1 << 1
	ivMaskYear            = 1 << 2
	ivMaskDay             = 1 << 3
	ivMaskHour            = 1 << 10
	ivMaskMinute          = 1 << 11
	intervalFullPrecision = 0xffff
)

func (t *Type) applyIntervalTypmod(typmod int32) {
	switch (typmod >> 16) & 0x7fff {
	case ivMaskYear:
		t.ivTrunc = truncYear
	case ivMaskMonth, ivMaskYear | ivMaskMonth:
		t.ivTrunc = truncMonth
	case ivMaskDay:
		t.ivTrunc = truncDay
	case ivMaskHour, ivMaskDay | ivMaskHour:
		t.ivTrunc = truncHour
	case ivMaskMinute, ivMaskHour | ivMaskMinute, ivMaskDay | ivMaskHour | ivMaskMinute:
		t.ivTrunc = truncMinute
	}
	if p := typmod & 0xffff; p != intervalFullPrecision && p <= maxFracDigits {
		t.roundFrac, t.fracDigits = true, p
	}
}

// adjustInterval applies the typmod as AdjustIntervalForTypmod does (and as
// the server does again on receiving the value): zero the fields below the
// last one named, round the seconds to the precision, half away from zero.
// It reports false when the rounding overflows.
func (t *Type) adjustInterval(iv pgtype.Interval) (pgtype.Interval, bool) {
	switch t.ivTrunc {
	case truncYear:
		iv.Months = iv.Months / 12 * 12
		iv.Days, iv.Microseconds = 0, 0
	case truncMonth:
		iv.Days, iv.Microseconds = 0, 0
	case truncDay:
		iv.Microseconds = 0
	case truncHour:
		iv.Microseconds = iv.Microseconds / usecPerHour * usecPerHour
	case truncMinute:
		iv.Microseconds = iv.Microseconds / usecPerMin * usecPerMin
	}
	if t.roundFrac {
		g := fracScales[t.fracDigits]
		off := g / 2
		if iv.Microseconds < 0 {
			off = -off
		}
		if !add64(&iv.Microseconds, off) {
			return iv, false
		}
		iv.Microseconds -= iv.Microseconds % g
	}
	return iv, true
}
