package coerce

import (
	"unsafe"

	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/valyala/fastjson"
)

// FromJSON converts v to a value that pgx encodes in binary for t's OID, or
// returns an *Error saying why v does not fit. JSON null gives (nil, nil), a
// SQL NULL. The result shares no memory with v: fastjson may reuse v's memory
// once FromJSON returns.
//
// FromJSON reads v and may unescape its strings in place (fastjson does that
// lazily), so v must not be used by another goroutine at the same time; t is
// only read. The package documentation lists the accepted inputs and the Go
// type returned for each kind.
func (t *Type) FromJSON(v *fastjson.Value) (any, error) {
	if v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	switch t.Kind {
	case KindInt2:
		return ret(t.jsonInt2(v))
	case KindInt4:
		return ret(t.jsonInt4(v))
	case KindInt8:
		return ret(t.jsonInt8(v))
	case KindNumeric:
		return t.jsonNumericValue(v)
	case KindFloat4:
		return ret(t.jsonFloat4(v))
	case KindFloat8:
		return ret(t.jsonFloat8(v))
	case KindText:
		return ret(t.jsonText(v))
	case KindBool:
		return ret(t.jsonBool(v))
	case KindTimestamptz, KindTimestamp:
		return ret(t.jsonTime(v))
	case KindDate:
		return ret(t.jsonDate(v))
	case KindTime:
		return ret(t.jsonTimeOfDay(v))
	case KindInterval:
		return ret(t.jsonInterval(v))
	case KindUUID:
		return ret(t.jsonUUID(v))
	case KindJSON, KindJSONB:
		return ret(t.jsonJSON(v))
	case KindBytea:
		return ret(t.jsonBytea(v))
	case KindEnum:
		i, err := t.jsonEnumIndex(v)
		if err != nil {
			return nil, err
		}
		return t.label(i), nil
	case KindArray:
		return t.arrayFromJSON(v)
	}
	return nil, t.badKind()
}

// FromText converts the textual form of a value, as found in a string Kafka
// key, to the same values FromJSON returns. The input is a bare string with
// the rules of a JSON string for the kind, except: integers, numeric and
// floats parse s as a number (but interval, as for a JSON string, rejects
// digits alone rather than read them as milliseconds); bytea takes the bytes of s as they are (not
// base64); json and jsonb store s as a JSON string; an array column takes s
// as a JSON array. The empty string is a value, not NULL.
//
// The result may share memory with s (text and enum results are s or a
// label); s is a Go string, so it is immutable. FromText is safe for
// concurrent use.
func (t *Type) FromText(s string) (any, error) {
	switch t.Kind {
	case KindInt2:
		n, err := t.parseInt(s, false, true)
		return ret(int16(n), err)
	case KindInt4:
		n, err := t.parseInt(s, false, true)
		return ret(int32(n), err)
	case KindInt8:
		return ret(t.parseInt(s, false, true))
	case KindNumeric:
		return t.numericValue(s, false, true)
	case KindFloat4:
		f, err := t.parseFloat(s, 32, false, true)
		return ret(float32(f), err)
	case KindFloat8:
		return ret(t.parseFloat(s, 64, false, true))
	case KindText:
		n, err := t.checkText(s)
		return ret(s[:n], err)
	case KindBool:
		return ret(t.parseBool(s))
	case KindTimestamptz, KindTimestamp:
		return ret(t.parseTime(s))
	case KindDate:
		return ret(t.parseDateValue(s))
	case KindTime:
		return ret(t.parseTimeOfDay(s))
	case KindInterval:
		return ret(t.parseInterval(s))
	case KindUUID:
		return ret(t.parseUUID(s))
	case KindJSON, KindJSONB:
		return ret(jsonStringOf(s, t.Kind == KindJSONB))
	case KindBytea:
		b := make([]byte, len(s))
		copy(b, s)
		return b, nil
	case KindEnum:
		i, err := t.enumIndex(s)
		if err != nil {
			return nil, err
		}
		return t.label(i), nil
	case KindArray:
		var p fastjson.Parser
		v, err := p.Parse(s)
		if err != nil || v.Type() != fastjson.TypeArray {
			return nil, errorf(quote(s) + " is not a JSON array for " + t.name())
		}
		return t.arrayFromJSON(v)
	}
	return nil, t.badKind()
}

// ret boxes x, or returns only err when there is one, so that a failed
// conversion does not allocate for a value nobody will use.
func ret[T any](x T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return x, nil
}

func (t *Type) badKind() *Error {
	return errorf("coerce: column type " + t.name() + " has invalid kind " + t.Kind.String())
}

// describe names the JSON type and value of v for an error reason.
func describe(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		return "a string " + quote(b2s(v.GetStringBytes()))
	case fastjson.TypeNumber:
		s, bp := numberText(v)
		defer putScratch(bp)
		return "a number " + clip(s)
	case fastjson.TypeTrue:
		return "a boolean true"
	case fastjson.TypeFalse:
		return "a boolean false"
	case fastjson.TypeObject:
		return "an object"
	case fastjson.TypeArray:
		return "an array"
	}
	return "null"
}

// want is the reason for a JSON value of the wrong JSON type.
func (t *Type) want(what string, v *fastjson.Value) *Error {
	return errorf("want " + what + " for " + t.name() + ", got " + describe(v))
}

// numberText returns the raw text of JSON number v: read in place when
// rawNumbers holds, else copied into a pooled scratch buffer (fastjson has
// no accessor for it, and MarshalTo makes any buffer passed to it escape).
// The text is valid until putScratch(bp); bp may be nil.
func numberText(v *fastjson.Value) (s string, bp *[]byte) {
	if rawNumbers {
		return (*fastjsonValue)(unsafe.Pointer(v)).s, nil
	}
	bp = scratchPool.Get().(*[]byte)
	*bp = v.MarshalTo((*bp)[:0])
	return b2s(*bp), bp
}

func (t *Type) jsonInt(v *fastjson.Value) (int64, error) {
	switch v.Type() {
	case fastjson.TypeNumber:
		s, bp := numberText(v)
		defer putScratch(bp)
		return t.parseInt(s, true, false)
	case fastjson.TypeString:
		return t.parseInt(b2s(v.GetStringBytes()), false, false)
	}
	return 0, t.want("a number", v)
}

func (t *Type) jsonInt2(v *fastjson.Value) (int16, error) {
	n, err := t.jsonInt(v)
	return int16(n), err
}

func (t *Type) jsonInt4(v *fastjson.Value) (int32, error) {
	n, err := t.jsonInt(v)
	return int32(n), err
}

func (t *Type) jsonInt8(v *fastjson.Value) (int64, error) { return t.jsonInt(v) }

func (t *Type) jsonNumeric(v *fastjson.Value) (pgtype.Numeric, error) {
	switch v.Type() {
	case fastjson.TypeNumber:
		s, bp := numberText(v)
		defer putScratch(bp)
		return t.parseNumeric(s, true, false)
	case fastjson.TypeString:
		return t.parseNumeric(b2s(v.GetStringBytes()), false, false)
	}
	return pgtype.Numeric{}, t.want("a number", v)
}

// jsonNumericValue is jsonNumeric for a column value: a Decimal or a
// pgtype.Numeric (see numericValue).
func (t *Type) jsonNumericValue(v *fastjson.Value) (any, error) {
	return numericAny(t.jsonNumericParts(v))
}

// jsonNumericParts is jsonNumericValue unboxed: d when isDec, else n.
func (t *Type) jsonNumericParts(v *fastjson.Value) (d Decimal, n pgtype.Numeric, isDec bool, err error) {
	switch v.Type() {
	case fastjson.TypeNumber:
		s, bp := numberText(v)
		defer putScratch(bp)
		return t.parseNumericValue(s, true, false)
	case fastjson.TypeString:
		return t.parseNumericValue(b2s(v.GetStringBytes()), false, false)
	}
	return d, n, false, t.want("a number", v)
}

func (t *Type) jsonFloat(v *fastjson.Value, bitSize int) (float64, error) {
	switch v.Type() {
	case fastjson.TypeNumber:
		s, bp := numberText(v)
		defer putScratch(bp)
		return t.parseFloat(s, bitSize, true, false)
	case fastjson.TypeString:
		return t.parseFloat(b2s(v.GetStringBytes()), bitSize, false, false)
	}
	return 0, t.want("a number", v)
}

func (t *Type) jsonFloat4(v *fastjson.Value) (float32, error) {
	f, err := t.jsonFloat(v, 32)
	return float32(f), err
}

func (t *Type) jsonFloat8(v *fastjson.Value) (float64, error) { return t.jsonFloat(v, 64) }

// jsonText converts any JSON value to text: a string as is, a number as its
// text, a boolean as true/false, an object or array as compact JSON.
func (t *Type) jsonText(v *fastjson.Value) (string, error) {
	s, bp, owned, err := t.jsonTextRaw(v)
	defer putScratch(bp)
	if err != nil || owned {
		return s, err
	}
	return strings.Clone(s), nil // s shares v's or the scratch buffer's memory
}

// jsonTextRaw is jsonText without the copy: s is a new string when owned,
// and otherwise shares v's memory or *bp's (a scratch buffer for the caller
// to put back, possibly nil).
func (t *Type) jsonTextRaw(v *fastjson.Value) (s string, bp *[]byte, owned bool, err error) {
	switch v.Type() {
	case fastjson.TypeString:
		s = b2s(v.GetStringBytes())
	case fastjson.TypeTrue:
		s, err = t.constText("true")
		return s, nil, true, err
	case fastjson.TypeFalse:
		s, err = t.constText("false")
		return s, nil, true, err
	case fastjson.TypeNumber:
		s, bp = numberText(v)
		if _, ok := parseDecimal(s, true); !ok {
			return "", bp, false, errorf("number " + clip(s) + " is not valid JSON")
		}
	default:
		b, err := compactJSON(v, false)
		if err != nil {
			return "", nil, false, err
		}
		n, err := t.checkText(b2s(b))
		if err != nil {
			return "", nil, false, err
		}
		return b2s(b[:n]), nil, true, nil // b is a new slice nobody else holds: no copy needed
	}
	n, err := t.checkText(s)
	if err != nil {
		return "", bp, false, err
	}
	return s[:n], bp, false, nil
}

// constText checks a constant (true/false) against t's length limit.
func (t *Type) constText(s string) (string, error) {
	n, err := t.checkText(s)
	return s[:n], err
}

func (t *Type) jsonBool(v *fastjson.Value) (bool, error) {
	switch v.Type() {
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse:
		return false, nil
	case fastjson.TypeString:
		return t.parseBool(b2s(v.GetStringBytes()))
	case fastjson.TypeNumber:
		s, bp := numberText(v)
		defer putScratch(bp)
		if d, ok := parseDecimal(s, true); ok {
			if n, st := d.int64(); st == intOK && (n == 0 || n == 1) {
				return n == 1, nil
			}
		}
		return false, errorf("value " + clip(s) + " is not a valid " + t.name() + " (want 0 or 1)")
	}
	return false, t.want("a boolean", v)
}

func (t *Type) jsonTime(v *fastjson.Value) (time.Time, error) {
	switch v.Type() {
	case fastjson.TypeString:
		return t.parseTime(b2s(v.GetStringBytes()))
	case fastjson.TypeNumber:
		s, bp := numberText(v)
		defer putScratch(bp)
		return t.fromMillis(s, true)
	}
	return time.Time{}, t.want("an RFC 3339 string or epoch milliseconds", v)
}

func (t *Type) jsonDate(v *fastjson.Value) (time.Time, error) {
	if v.Type() != fastjson.TypeString {
		return time.Time{}, t.want(`a "YYYY-MM-DD" string`, v)
	}
	return t.parseDateValue(b2s(v.GetStringBytes()))
}

// jsonTimeOfDay takes only strings: a number has no unit that would make it
// unambiguous (seconds? milliseconds? since midnight in which zone?).
func (t *Type) jsonTimeOfDay(v *fastjson.Value) (pgtype.Time, error) {
	if v.Type() != fastjson.TypeString {
		return pgtype.Time{}, t.want(`an "HH:MM:SS" string`, v)
	}
	return t.parseTimeOfDay(b2s(v.GetStringBytes()))
}

func (t *Type) jsonInterval(v *fastjson.Value) (pgtype.Interval, error) {
	switch v.Type() {
	case fastjson.TypeString:
		return t.parseInterval(b2s(v.GetStringBytes()))
	case fastjson.TypeNumber:
		s, bp := numberText(v)
		defer putScratch(bp)
		return t.intervalMillis(s)
	}
	return pgtype.Interval{}, t.want("a duration string or milliseconds", v)
}

func (t *Type) jsonUUID(v *fastjson.Value) ([16]byte, error) {
	if v.Type() != fastjson.TypeString {
		return [16]byte{}, t.want("a string", v)
	}
	return t.parseUUID(b2s(v.GetStringBytes()))
}

func (t *Type) jsonJSON(v *fastjson.Value) ([]byte, error) {
	return compactJSON(v, t.Kind == KindJSONB)
}

func (t *Type) jsonBytea(v *fastjson.Value) ([]byte, error) {
	if v.Type() != fastjson.TypeString {
		return nil, t.want("a base64 string", v)
	}
	return t.decodeBase64(v.GetStringBytes())
}

func (t *Type) jsonEnumIndex(v *fastjson.Value) (int, error) {
	if v.Type() != fastjson.TypeString {
		return 0, t.want("a string", v)
	}
	return t.enumIndex(b2s(v.GetStringBytes()))
}

func (t *Type) jsonEnum(v *fastjson.Value) (string, error) {
	i, err := t.jsonEnumIndex(v)
	if err != nil {
		return "", err
	}
	return t.Labels[i], nil
}
