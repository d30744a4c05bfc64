package coerce_test

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// typmods of length-limited and numeric types
func varcharMod(n int32) int32    { return n + 4 }
func numericMod(p, s int32) int32 { return (p<<16 | s&0x7ff) + 4 }

// mustType builds a Type with TypeFor or fails the test.
func mustType(t testing.TB, typname string, typtype byte, typmod int32, formatted string, oid uint32, elem *coerce.Type, labels []string) *coerce.Type {
	t.Helper()
	typ, err := coerce.TypeFor(typname, typtype, typmod, formatted, oid, elem, labels)
	if err != nil {
		t.Fatalf("TypeFor(%s): %v", typname, err)
	}
	return typ
}

// base builds a built-in scalar Type.
func base(t testing.TB, typname string, typmod int32, formatted string, oid uint32) *coerce.Type {
	return mustType(t, typname, 'b', typmod, formatted, oid, nil, nil)
}

const (
	statusOID      = 70001
	statusArrayOID = 70002
)

var statusLabels = []string{"new", "paid", "shipped"}

func statusType(t testing.TB) *coerce.Type {
	return mustType(t, "order_status", 'e', -1, "order_status", statusOID, nil, statusLabels)
}

func parseJSON(t testing.TB, s string) *fastjson.Value {
	t.Helper()
	var p fastjson.Parser
	v, err := p.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

// ok is an accepted input and the exact Go value expected.
type ok struct {
	in   string
	want any
}

// bad is a rejected input and the exact reason expected.
type bad struct {
	in     string
	reason string
}

func num(i string, exp int32) pgtype.Numeric {
	n, ok := new(big.Int).SetString(i, 10)
	if !ok {
		panic(i)
	}
	return pgtype.Numeric{Int: n, Exp: exp, Valid: true}
}

func utc(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}

func ptr[T any](x T) *T { return &x }

// same compares a converted value with the expected one: exactly the same Go
// type and value, numerics by value and scale, times as instants in UTC,
// NaN equal to NaN.
func same(got, want any) bool {
	if d, ok := got.(coerce.Decimal); ok {
		if _, ok := want.(pgtype.Numeric); ok {
			got = d.Numeric() // the same value without the big.Int: compare it as one
		}
	}
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		return false
	}
	switch w := want.(type) {
	case pgtype.Numeric:
		g := got.(pgtype.Numeric)
		if g.Valid != w.Valid || g.NaN != w.NaN || g.InfinityModifier != w.InfinityModifier || g.Exp != w.Exp {
			return false
		}
		if g.Int == nil || w.Int == nil {
			return g.Int == nil && w.Int == nil
		}
		return g.Int.Cmp(w.Int) == 0
	case time.Time:
		g := got.(time.Time)
		return g.Equal(w) && g.Location() == time.UTC
	case float64:
		g := got.(float64)
		return g == w && math.Signbit(g) == math.Signbit(w) || math.IsNaN(g) && math.IsNaN(w)
	case float32:
		g := got.(float32)
		return g == w && math.Signbit(float64(g)) == math.Signbit(float64(w)) || g != g && w != w
	case []byte:
		g := got.([]byte)
		return g != nil && string(g) == string(w)
	}
	rg, rw := reflect.ValueOf(got), reflect.ValueOf(want)
	switch rw.Kind() {
	case reflect.Slice:
		if rg.IsNil() != rw.IsNil() || rg.Len() != rw.Len() {
			return false
		}
		for i := range rw.Len() {
			if !same(rg.Index(i).Interface(), rw.Index(i).Interface()) {
				return false
			}
		}
		return true
	case reflect.Pointer:
		if rg.IsNil() || rw.IsNil() {
			return rg.IsNil() == rw.IsNil()
		}
		return same(rg.Elem().Interface(), rw.Elem().Interface())
	}
	return reflect.DeepEqual(got, want)
}

func show(v any) string {
	switch x := v.(type) {
	case pgtype.Numeric:
		if x.Int != nil {
			return fmt.Sprintf("Numeric{%se%d}", x.Int, x.Exp)
		}
	case coerce.Decimal:
		return fmt.Sprintf("Decimal{%de%d}", x.Coef, x.Exp)
	case []byte:
		return fmt.Sprintf("[]byte(%q)", x)
	}
	return fmt.Sprintf("%T(%#v)", v, v)
}

// encodeMap is a type map with the test's enum types registered.
func encodeMap(t testing.TB) *pgtype.Map {
	m := pgtype.NewMap()
	st := statusType(t)
	coerce.Register(m, st)
	coerce.Register(m, mustType(t, "_order_status", 'b', -1, "order_status[]", statusArrayOID, st, nil))
	return m
}

// checkJSON runs FromJSON on every case, and checks that pgx can encode each
// accepted value in binary for the type's OID.
func checkJSON(t *testing.T, typ *coerce.Type, oks []ok, bads []bad) {
	t.Helper()
	m := encodeMap(t)
	for _, c := range oks {
		got, err := typ.FromJSON(parseJSON(t, c.in))
		if err != nil {
			t.Errorf("%s: FromJSON(%s): unexpected error %v", typ.Name, c.in, err)
			continue
		}
		if !same(got, c.want) {
			t.Errorf("%s: FromJSON(%s) = %s, want %s", typ.Name, c.in, show(got), show(c.want))
			continue
		}
		if _, err := m.Encode(typ.OID, pgtype.BinaryFormatCode, got, nil); err != nil {
			t.Errorf("%s: FromJSON(%s) = %s: pgx cannot encode it in binary: %v", typ.Name, c.in, show(got), err)
		}
	}
	for _, c := range bads {
		got, err := typ.FromJSON(parseJSON(t, c.in))
		checkReject(t, typ, "FromJSON", c, got, err)
	}
}

func checkText(t *testing.T, typ *coerce.Type, oks []ok, bads []bad) {
	t.Helper()
	m := encodeMap(t)
	for _, c := range oks {
		got, err := typ.FromText(c.in)
		if err != nil {
			t.Errorf("%s: FromText(%q): unexpected error %v", typ.Name, c.in, err)
			continue
		}
		if !same(got, c.want) {
			t.Errorf("%s: FromText(%q) = %s, want %s", typ.Name, c.in, show(got), show(c.want))
			continue
		}
		if _, err := m.Encode(typ.OID, pgtype.BinaryFormatCode, got, nil); err != nil {
			t.Errorf("%s: FromText(%q) = %s: pgx cannot encode it in binary: %v", typ.Name, c.in, show(got), err)
		}
	}
	for _, c := range bads {
		got, err := typ.FromText(c.in)
		checkReject(t, typ, "FromText", c, got, err)
	}
}

func checkReject(t *testing.T, typ *coerce.Type, fn string, c bad, got any, err error) {
	t.Helper()
	var ce *coerce.Error
	switch {
	case err == nil:
		t.Errorf("%s: %s(%s) = %s, want error %q", typ.Name, fn, c.in, show(got), c.reason)
	case !errors.As(err, &ce):
		t.Errorf("%s: %s(%s): error %T %v is not a *coerce.Error", typ.Name, fn, c.in, err, err)
	case ce.Reason != c.reason:
		t.Errorf("%s: %s(%s): reason\n  %s\nwant\n  %s", typ.Name, fn, c.in, ce.Reason, c.reason)
	case got != nil:
		t.Errorf("%s: %s(%s): value %s returned with the error", typ.Name, fn, c.in, show(got))
	}
}

func TestNullIsNil(t *testing.T) {
	for _, typ := range []*coerce.Type{
		base(t, "int4", -1, "integer", pgtype.Int4OID),
		base(t, "text", -1, "text", pgtype.TextOID),
		base(t, "jsonb", -1, "jsonb", pgtype.JSONBOID),
		statusType(t),
	} {
		got, err := typ.FromJSON(parseJSON(t, "null"))
		if got != nil || err != nil {
			t.Errorf("%s: FromJSON(null) = %v, %v; want nil, nil", typ.Name, got, err)
		}
	}
}

func TestErrorMessageQuotesAtMost64Characters(t *testing.T) {
	typ := base(t, "uuid", -1, "uuid", pgtype.UUIDOID)
	long := ""
	for range 100 {
		long += "é"
	}
	_, err := typ.FromText(long)
	want := `"` + long[:128] + `..." is not a valid uuid`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

type fastjsonParser = fastjson.Parser

const fastjsonTypeNull = fastjson.TypeNull
