package coerce

import (
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/valyala/fastjson"
)

// arrayFromJSON converts a JSON array to a one-dimensional PostgreSQL array
// of t.Elem. It returns pgtype.FlatArray[T] of the element's Go type when no
// element is null, and pgtype.FlatArray[*T] with nil for the null elements
// otherwise; pgx encodes both for the array OID without reflection. An empty
// JSON array gives an empty (not NULL) array. Nested arrays are rejected by
// the element rules: multidimensional arrays are not supported.
func (t *Type) arrayFromJSON(v *fastjson.Value) (any, error) {
	if v.Type() != fastjson.TypeArray {
		return nil, t.want("an array", v)
	}
	elems := v.GetArray()
	e := t.Elem
	if e == nil {
		return nil, t.badKind()
	}
	switch e.Kind {
	case KindInt2:
		return collect(e, elems, (*Type).jsonInt2)
	case KindInt4:
		return collect(e, elems, (*Type).jsonInt4)
	case KindInt8:
		return collect(e, elems, (*Type).jsonInt8)
	case KindNumeric:
		return collect(e, elems, (*Type).jsonNumeric)
	case KindFloat4:
		return collect(e, elems, (*Type).jsonFloat4)
	case KindFloat8:
		return collect(e, elems, (*Type).jsonFloat8)
	case KindText:
		return collect(e, elems, (*Type).jsonText)
	case KindBool:
		return collect(e, elems, (*Type).jsonBool)
	case KindTimestamptz, KindTimestamp:
		return collect(e, elems, (*Type).jsonTime)
	case KindDate:
		return collect(e, elems, (*Type).jsonDate)
	case KindTime:
		return collect(e, elems, (*Type).jsonTimeOfDay)
	case KindInterval:
		return collect(e, elems, (*Type).jsonInterval)
	case KindUUID:
		return collect(e, elems, (*Type).jsonUUID)
	case KindJSON, KindJSONB:
		return collect(e, elems, (*Type).jsonJSON)
	case KindBytea:
		return collect(e, elems, (*Type).jsonBytea)
	case KindEnum:
		return collect(e, elems, (*Type).jsonEnum)
	}
	return nil, e.badKind()
}

// collect converts each element with conv.
func collect[T any](e *Type, elems []*fastjson.Value, conv func(*Type, *fastjson.Value) (T, error)) (any, error) {
	vals := make(pgtype.FlatArray[T], len(elems))
	nulls := false
	for i, ev := range elems {
		if ev.Type() == fastjson.TypeNull {
			nulls = true
			continue
		}
		x, err := conv(e, ev)
		if err != nil {
			return nil, elementError(i, err)
		}
		vals[i] = x
	}
	if !nulls {
		return vals, nil
	}
	ptrs := make(pgtype.FlatArray[*T], len(elems))
	for i, ev := range elems {
		if ev.Type() != fastjson.TypeNull {
			ptrs[i] = &vals[i]
		}
	}
	return ptrs, nil
}

// elementError prefixes the reason of an element's error with its index.
func elementError(i int, err error) error {
	if e, ok := err.(*Error); ok {
		return errorf("element [" + strconv.Itoa(i) + "]: " + e.Reason)
	}
	return err
}
