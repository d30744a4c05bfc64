package coerce

import (
	"time"
	"unsafe"

	"github.com/valyala/fastjson"
)

// Boxes stores the column values FromJSONIn returns in shared chunks, so
// that putting a value in an interface (a row's Vals) does not allocate
// once per value: the interface points into a chunk. A chunk is never
// written again once handed out — a new one is allocated when it is full —
// so a value stays what it was for as long as a row holds it, and the
// garbage collector frees a chunk when no row points into it any more.
//
// An interface holding a non-pointer value is a type word and a pointer to
// the value; Go boxes by allocating that value. Boxes builds the same two
// words with the pointer into a chunk (the layout is checked once, at
// start: boxesWork). A Boxes is used by one goroutine at a time; the zero
// value is ready.
type Boxes struct {
	i64 chunk[int64]
	str chunk[string]
	tm  chunk[time.Time]
	byt chunk[[]byte]
	dec chunk[Decimal]
	// arena holds the bytes of text and JSON values that FromJSON would
	// copy out of the parser's memory; like a chunk, never rewritten.
	arena []byte
}

// arenaChunk is the size of an arena; a value over a quarter of it gets an
// allocation of its own.
const arenaChunk = 32 << 10

// copyBytes returns a copy of p in the arena, capped so that appending to
// it cannot write over its neighbour.
func (b *Boxes) copyBytes(p []byte) []byte {
	n := len(p)
	if n > arenaChunk/4 {
		return append([]byte(nil), p...)
	}
	if cap(b.arena)-len(b.arena) < n {
		b.arena = make([]byte, 0, arenaChunk)
	}
	at := len(b.arena)
	b.arena = append(b.arena, p...)
	return b.arena[at : at+n : at+n]
}

// boxChunk is how many values of one type a chunk holds.
const boxChunk = 256

type chunk[T any] struct{ s []T }

// eface is the layout of an interface value with no methods.
type eface struct {
	typ, data unsafe.Pointer
}

func typeWord(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	typeInt64   = typeWord(int64(0))
	typeString  = typeWord("")
	typeTime    = typeWord(time.Time{})
	typeBytes   = typeWord([]byte(nil))
	typeDecimal = typeWord(Decimal{})
)

// boxesWork is whether interfaces built by put behave as the ones Go
// builds; when not (a runtime with another layout), Boxes boxes as Go does.
var boxesWork = func() bool {
	var b Boxes
	now := time.Date(2026, 12, 2, 1, 2, 3, 4, time.UTC)
	cases := [][2]any{
		{put(&b.i64, typeInt64, int64(-12345)), int64(-12345)},
		{put(&b.str, typeString, "text"), "text"},
		{put(&b.tm, typeTime, now), now},
		{put(&b.dec, typeDecimal, Decimal{150, -2}), Decimal{150, -2}},
	}
	for _, c := range cases {
		if c[0] != c[1] {
			return false
		}
	}
	x, ok := put(&b.byt, typeBytes, []byte("ab")).([]byte)
	return ok && string(x) == "ab"
}()

func put[T any](c *chunk[T], typ unsafe.Pointer, x T) any {
	if len(c.s) == cap(c.s) {
		c.s = make([]T, 0, boxChunk)
	}
	c.s = append(c.s, x)
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, unsafe.Pointer(&c.s[len(c.s)-1])
	return v
}

func boxIn[T any](c *chunk[T], typ unsafe.Pointer, x T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if !boxesWork {
		return x, nil
	}
	return put(c, typ, x), nil
}

// FromJSONIn is FromJSON, with the value stored in b when it is of one of
// the common types (int8, text, timestamps, json/jsonb/bytea, numeric as a
// Decimal). b nil is FromJSON.
func (t *Type) FromJSONIn(v *fastjson.Value, b *Boxes) (any, error) {
	if b == nil || v.Type() == fastjson.TypeNull {
		return t.FromJSON(v)
	}
	switch t.Kind {
	case KindInt8:
		n, err := t.jsonInt8(v)
		return boxIn(&b.i64, typeInt64, n, err)
	case KindText:
		s, bp, owned, err := t.jsonTextRaw(v)
		if err == nil && !owned {
			s = b2s(b.copyBytes(s2b(s)))
		}
		putScratch(bp)
		return boxIn(&b.str, typeString, s, err)
	case KindTimestamptz, KindTimestamp:
		tm, err := t.jsonTime(v)
		return boxIn(&b.tm, typeTime, tm, err)
	case KindJSON, KindJSONB:
		bp := scratchPool.Get().(*[]byte)
		j, err := appendJSON((*bp)[:0], v, t.Kind == KindJSONB)
		*bp = j
		if err == nil {
			j = b.copyBytes(j)
		}
		putScratch(bp)
		return boxIn(&b.byt, typeBytes, j, err)
	case KindBytea:
		j, err := t.jsonBytea(v)
		return boxIn(&b.byt, typeBytes, j, err)
	case KindNumeric:
		d, n, isDec, err := t.jsonNumericParts(v)
		switch {
		case err != nil:
			return nil, err
		case isDec:
			return boxIn(&b.dec, typeDecimal, d, nil)
		}
		return n, nil
	}
	return t.FromJSON(v)
}

// JSONTextIn is FromJSONIn's value for a json or jsonb column given the
// text appendJSON would write for the value (compact, strings without
// escapes to undo): the text copied into b. It reports false for a column
// of another type.
func (t *Type) JSONTextIn(j []byte, b *Boxes) (any, bool) {
	if t.Kind != KindJSON && t.Kind != KindJSONB {
		return nil, false
	}
	v, _ := boxIn(&b.byt, typeBytes, b.copyBytes(j), nil)
	return v, true
}

// IsJSON reports a json or jsonb column type (false for nil).
func (t *Type) IsJSON() bool { return t != nil && (t.Kind == KindJSON || t.Kind == KindJSONB) }

// NumberIn is FromJSONIn's value for a JSON number whose text is s (in
// JSON's grammar), for the column kinds that read a number without a
// fastjson value: bigint and numeric. handled is false for a column of
// another kind (the caller builds a value for FromJSONIn). The value and
// error are FromJSONIn's.
func (t *Type) NumberIn(s []byte, b *Boxes) (v any, handled bool, err error) {
	return t.numberIn(s, true, b)
}

// numberIn is NumberIn for the text of a JSON number (strict) or the
// content of a JSON string.
func (t *Type) numberIn(s []byte, strict bool, b *Boxes) (v any, handled bool, err error) {
	if t == nil {
		return nil, false, nil
	}
	switch t.Kind {
	case KindInt8:
		n, err := t.parseInt(b2s(s), strict, false)
		v, err = boxIn(&b.i64, typeInt64, n, err)
		return v, true, err
	case KindNumeric:
		d, n, isDec, err := t.parseNumericValue(b2s(s), strict, false)
		switch {
		case err != nil:
			return nil, true, err
		case isDec:
			v, _ = boxIn(&b.dec, typeDecimal, d, nil)
			return v, true, nil
		}
		return n, true, nil
	}
	return nil, false, nil
}

// StringIn is FromJSONIn's value for a JSON string whose content is s (no
// escapes to undo), for the column kinds that read a string without a
// fastjson value: text (s copied into b), timestamps, enums, bigint and
// numeric (a number in a string, as avro's decimals are). handled is
// false for a column of another kind (the caller builds a value for
// FromJSONIn). The value and error are FromJSONIn's.
func (t *Type) StringIn(s []byte, b *Boxes) (v any, handled bool, err error) {
	if t == nil {
		return nil, false, nil
	}
	switch t.Kind {
	case KindText:
		n, err := t.checkText(b2s(s))
		if err != nil {
			return nil, true, err
		}
		v, err = boxIn(&b.str, typeString, b2s(b.copyBytes(s[:n])), nil)
		return v, true, err
	case KindTimestamptz, KindTimestamp:
		tm, err := t.parseTime(b2s(s))
		v, err = boxIn(&b.tm, typeTime, tm, err)
		return v, true, err
	case KindEnum:
		i, err := t.enumIndex(b2s(s))
		if err != nil {
			return nil, true, err
		}
		return t.label(i), true, nil
	case KindInt8, KindNumeric:
		return t.numberIn(s, false, b)
	}
	return nil, false, nil
}
