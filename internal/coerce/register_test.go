package coerce_test

import (
	"encoding/binary"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

func TestRegister(t *testing.T) {
	m := pgtype.NewMap()
	st := statusType(t)
	arr := mustType(t, "_order_status", 'b', -1, "order_status[]", statusArrayOID, st, nil)
	citext := base(t, "citext", -1, "citext", 70200)
	citexts := arrayOf(t, citext, -1, "citext[]", 70201)
	for range 2 { // idempotent
		for _, typ := range []*coerce.Type{st, arr, citext, citexts, base(t, "int4", -1, "integer", pgtype.Int4OID)} {
			coerce.Register(m, typ)
		}
	}
	if pt, ok := m.TypeForOID(statusOID); !ok {
		t.Fatal("enum not registered")
	} else if _, ok := pt.Codec.(*pgtype.EnumCodec); !ok {
		t.Errorf("enum codec = %T", pt.Codec)
	}
	if pt, ok := m.TypeForOID(pgtype.Int4OID); !ok || pt.Name != "int4" {
		t.Errorf("built-in int4 replaced: %+v", pt)
	}

	// The array header carries the enum's OID as element type, which
	// PostgreSQL checks.
	for _, c := range []struct {
		typ     *coerce.Type
		in      string
		elemOID uint32
	}{
		{arr, `["new", null, "paid"]`, statusOID},
		{citexts, `["A", "b"]`, 70200},
	} {
		v, err := c.typ.FromJSON(parseJSON(t, c.in))
		if err != nil {
			t.Fatal(err)
		}
		buf, err := m.Encode(c.typ.OID, pgtype.BinaryFormatCode, v, nil)
		if err != nil {
			t.Fatalf("encode %s: %v", c.typ.Name, err)
		}
		// ndim int32, hasnull int32, element OID uint32
		if got := binary.BigEndian.Uint32(buf[8:12]); got != c.elemOID {
			t.Errorf("%s: element OID in array header = %d, want %d", c.typ.Name, got, c.elemOID)
		}
	}
	buf, err := m.Encode(statusOID, pgtype.BinaryFormatCode, "shipped", nil)
	if err != nil || string(buf) != "shipped" {
		t.Errorf("enum encodes as %q, %v", buf, err)
	}
}
