package avro

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"strconv"

	"github.com/valyala/fastjson"
)

const (
	microsPerDay = 86400 * 1000 * 1000
	nanosPerSec  = 1000 * 1000 * 1000
)

// logical decodes the logical-type nodes.
func (r *reader) logical(n *node) (*fastjson.Value, error) {
	switch n.op {
	case opDecimalBytes:
		b, err := r.bytes()
		if err != nil {
			return nil, err
		}
		return r.decimal(n, b)
	case opDecimalFixed:
		b, err := r.next(n.size)
		if err != nil {
			return nil, err
		}
		return r.decimal(n, b)
	case opDate:
		days, err := r.int()
		if err != nil {
			return nil, err
		}
		r.scratch = appendDate(r.scratch[:0], int64(days))
		return r.newText(r.scratch), nil
	case opTimeMillis:
		ms, err := r.int()
		if err != nil {
			return nil, err
		}
		return r.timeOfDay(int64(ms)*1000, "time-millis", int64(ms))
	case opTimeMicros:
		us, err := r.long()
		if err != nil {
			return nil, err
		}
		return r.timeOfDay(us, "time-micros", us)
	case opTimestampMillis, opLocalTimestampMillis:
		v, err := r.long()
		if err != nil {
			return nil, err
		}
		sec, ms := floorDiv(v, 1000)
		return r.stamp(sec, ms*1e6, n.op == opTimestampMillis), nil
	case opTimestampMicros, opLocalTimestampMicros:
		v, err := r.long()
		if err != nil {
			return nil, err
		}
		sec, us := floorDiv(v, 1e6)
		return r.stamp(sec, us*1e3, n.op == opTimestampMicros), nil
	case opTimestampNanos, opLocalTimestampNanos:
		v, err := r.long()
		if err != nil {
			return nil, err
		}
		sec, ns := floorDiv(v, nanosPerSec)
		return r.stamp(sec, ns, n.op == opTimestampNanos), nil
	case opUUIDString:
		b, err := r.bytes()
		if err != nil {
			return nil, err
		}
		u, ok := parseUUID(b)
		if !ok {
			return nil, fmt.Errorf("invalid uuid %s", quote(b))
		}
		r.scratch = appendUUID(r.scratch[:0], u[:])
		return r.newText(r.scratch), nil
	case opUUIDFixed:
		b, err := r.next(16)
		if err != nil {
			return nil, err
		}
		r.scratch = appendUUID(r.scratch[:0], b)
		return r.newText(r.scratch), nil
	case opDuration:
		b, err := r.next(12)
		if err != nil {
			return nil, err
		}
		// Months and days have no fixed length in seconds, so the
		// canonical "Ns" form cannot hold them: keep the three parts.
		months, days, millis := binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
		if r.text {
			r.out = strconv.AppendUint(append(r.out, `{"months":`...), uint64(months), 10)
			r.out = strconv.AppendUint(append(r.out, `,"days":`...), uint64(days), 10)
			r.out = strconv.AppendUint(append(r.out, `,"millis":`...), uint64(millis), 10)
			r.out = append(r.out, '}')
			return nil, nil
		}
		o := r.a.NewObject()
		o.Set("months", r.a.NewNumberInt(int(months)))
		o.Set("days", r.a.NewNumberInt(int(days)))
		o.Set("millis", r.a.NewNumberInt(int(millis)))
		return o, nil
	}
	panic("avro: bug: unknown op " + strconv.Itoa(int(n.op)))
}

// timeOfDay writes microseconds since midnight as "HH:MM:SS.ffffff".
// 24:00:00 is accepted, as PostgreSQL's time type does.
func (r *reader) timeOfDay(us int64, what string, raw int64) (*fastjson.Value, error) {
	if us < 0 || us > microsPerDay {
		return nil, fmt.Errorf("%s %d is outside the day", what, raw)
	}
	sec := us / 1e6
	b := appendClock(r.scratch[:0], int(sec))
	b = append(b, '.')
	b = appendDigits(b, int(us%1e6), 6)
	r.scratch = b
	return r.newText(b), nil
}

// stamp writes sec seconds and nsec nanoseconds since the Unix epoch as an
// RFC 3339 UTC timestamp, with a Z when zone.
func (r *reader) stamp(sec, nsec int64, zone bool) *fastjson.Value {
	days, s := floorDiv(sec, 86400)
	b := appendDate(r.scratch[:0], days)
	b = append(b, 'T')
	b = appendClock(b, int(s))
	if nsec != 0 {
		b = append(b, '.')
		digits := 9
		for nsec%10 == 0 {
			nsec /= 10
			digits--
		}
		b = appendDigits(b, int(nsec), digits)
	}
	if zone {
		b = append(b, 'Z')
	}
	r.scratch = b
	return r.newText(b)
}

// floorDiv returns the floor quotient and the non-negative remainder.
func floorDiv(a, b int64) (q, m int64) {
	q, m = a/b, a%b
	if m < 0 {
		q--
		m += b
	}
	return q, m
}

// appendDate appends the proleptic Gregorian date of days since 1970-01-01
// as YYYY-MM-DD. Years outside 0000..9999 keep all their digits, with a
// minus sign before year 0 (astronomical numbering: 0 is 1 BC).
func appendDate(b []byte, days int64) []byte {
	y, m, d := civil(days)
	if y < 0 {
		b = append(b, '-')
		y = -y
	}
	if y > 9999 {
		b = strconv.AppendInt(b, y, 10)
	} else {
		b = appendDigits(b, int(y), 4)
	}
	b = append(b, '-')
	b = appendDigits(b, m, 2)
	b = append(b, '-')
	return appendDigits(b, d, 2)
}

// civil converts days since 1970-01-01 to a Gregorian date (H. Hinnant's
// days_from_civil inverse); exact for every int64 input used here (|days|
// ≤ 2^63/86400).
func civil(days int64) (y int64, m, d int) {
	z := days + 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// appendClock appends seconds since midnight (up to 86400) as HH:MM:SS.
func appendClock(b []byte, sec int) []byte {
	b = appendDigits(b, sec/3600, 2)
	b = append(b, ':')
	b = appendDigits(b, sec/60%60, 2)
	b = append(b, ':')
	return appendDigits(b, sec%60, 2)
}

// appendDigits appends v ≥ 0 zero-padded to width digits.
func appendDigits(b []byte, v, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v >= 10 || width > 1 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	tmp[i] = byte('0' + v)
	return append(b, tmp[i:]...)
}

// decimal writes the big-endian two's complement unscaled value b with n's
// scale as exact decimal text ("-12.30").
func (r *reader) decimal(n *node, b []byte) (*fastjson.Value, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("decimal has no bytes")
	}
	// Drop sign-extension bytes that do not change the value.
	for len(b) > 1 && ((b[0] == 0 && b[1] < 0x80) || (b[0] == 0xff && b[1] >= 0x80)) {
		b = b[1:]
	}
	if len(b) > n.maxBytes {
		return nil, fmt.Errorf("decimal of %d bytes exceeds precision %d", len(b), n.precision)
	}
	neg := b[0] >= 0x80
	dst := r.scratch[:0]
	if neg {
		dst = append(dst, '-')
	}
	start := len(dst)
	if len(b) <= 8 {
		v := int64(int8(b[0]))
		for _, c := range b[1:] {
			v = v<<8 | int64(c)
		}
		u := uint64(v)
		if neg {
			u = -u
		}
		dst = strconv.AppendUint(dst, u, 10)
	} else {
		x := new(big.Int).SetBytes(b)
		if neg {
			x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
			x.Neg(x)
		}
		dst = x.Append(dst, 10)
	}
	if digits := len(dst) - start; digits > n.precision {
		r.scratch = dst
		return nil, fmt.Errorf("decimal has %d digits, more than its precision %d", digits, n.precision)
	}
	if n.scale > 0 {
		// Left-pad with zeros to at least one integer digit, then insert
		// the point scale digits from the right.
		if pad := n.scale + 1 - (len(dst) - start); pad > 0 {
			for range pad {
				dst = append(dst, 0)
			}
			copy(dst[start+pad:], dst[start:len(dst)-pad])
			for i := range pad {
				dst[start+i] = '0'
			}
		}
		point := len(dst) - n.scale
		dst = append(dst, 0)
		copy(dst[point+1:], dst[point:len(dst)-1])
		dst[point] = '.'
	}
	r.scratch = dst
	return r.newText(dst), nil
}

// parseUUID accepts the 36-character form with dashes or 32 hex digits, in
// any case.
func parseUUID(b []byte) (u [16]byte, ok bool) {
	dashes := false
	switch len(b) {
	case 36:
		if b[8] != '-' || b[13] != '-' || b[18] != '-' || b[23] != '-' {
			return u, false
		}
		dashes = true
	case 32:
	default:
		return u, false
	}
	j := 0
	for i := range 16 {
		if dashes && (i == 4 || i == 6 || i == 8 || i == 10) {
			j++
		}
		hi, ok1 := unhex(b[j])
		lo, ok2 := unhex(b[j+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[i] = hi<<4 | lo
		j += 2
	}
	return u, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendUUID appends 16 bytes in the canonical 8-4-4-4-12 lowercase form.
func appendUUID(dst, u []byte) []byte {
	const hex = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[c>>4], hex[c&0xf])
	}
	return dst
}
