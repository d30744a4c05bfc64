package table

import (
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

func key(vals ...any) string {
	var b []byte
	for _, v := range vals {
		b = AppendKey(b, v)
	}
	return string(b)
}

func TestAppendKey(t *testing.T) {
	num := func(i int64, exp int32) pgtype.Numeric {
		return pgtype.Numeric{Int: big.NewInt(i), Exp: exp, Valid: true}
	}
	same := [][2]string{
		{key(num(150, -2)), key(num(15, -1))},                       // 1.50 = 1.5
		{key(num(0, 0)), key(num(0, -3))},                           // 0 = 0.000
		{key(coerce.Decimal{Coef: 150, Exp: -2}), key(num(15, -1))}, // either form of 1.5
		{key(coerce.Decimal{Coef: 0, Exp: -2}), key(num(0, 0))},     //
		{key(int64(7)), key(int64(7))},                              //
		{key(time.Unix(5, 6).UTC()), key(time.Unix(5, 6).Local())},  // same instant
	}
	for i, p := range same {
		if p[0] != p[1] {
			t.Errorf("case %d: equal values encode differently", i)
		}
	}
	differ := [][2]string{
		{key("ab", "c"), key("a", "bc")}, // concatenation cannot collide
		{key(int64(1)), key("1")},
		{key(nil), key("")},
		{key(int32(-1)), key(int32(1))},
		{key([16]byte{1}), key([16]byte{2})},
		{key(coerce.Decimal{Coef: 15, Exp: -1}), key(coerce.Decimal{Coef: 15, Exp: -2})},
	}
	for i, p := range differ {
		if p[0] == p[1] {
			t.Errorf("case %d: different values encode the same", i)
		}
	}
	if !(key(int64(-5)) < key(int64(3))) || !(key(int64(3)) < key(int64(300))) {
		t.Error("integer keys do not sort numerically")
	}
}

func TestBitset(t *testing.T) {
	b := NewBitset(130)
	for _, i := range []int{0, 63, 64, 129} {
		b.Add(i)
	}
	got := b.Indexes()
	want := []int{0, 63, 64, 129}
	if len(got) != len(want) {
		t.Fatalf("Indexes = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] || !b.Has(want[i]) {
			t.Fatalf("Indexes = %v, want %v", got, want)
		}
	}
	if b.Has(1) || b.Has(128) {
		t.Fatal("Has reports unset bits")
	}
	c := NewBitset(130)
	c.Add(0)
	if b.Equal(c) || b.Key() == c.Key() {
		t.Fatal("different sets compare equal")
	}
}
