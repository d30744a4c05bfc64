package coerce_test

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// AppendBinary gives PostgreSQL the same value as pgx's own encoder: each
// JSON input is coerced, sent once in AppendBinary's encoding and once in
// pgx's, both in the binary format, and the server's text of the two must be
// equal.
func TestAppendBinaryMatchesServer(t *testing.T) {
	conn, schema := testConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := conn.Exec(ctx, "create type "+schema+".mood as enum ('sad', 'ok', 'happy')"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		typ    string
		inputs []string
	}{
		{"smallint", []string{`0`, `-32768`, `32767`, `"12"`}},
		{"integer", []string{`-2147483648`, `2147483647`, `7`}},
		{"bigint", []string{`-9223372036854775808`, `9223372036854775807`, `0`, `"42"`}},
		{"numeric", []string{`0`, `0.0`, `1.50`, `-1.50`, `123.45`, `-0.00042`, `1e5`, `1.5e-7`, `10000`, `100000000`, `0.0001`, `-99999999.99990000`,
			`123456789012345678901234567890.123456789`, `-123456789012345678901234567890`, `"NaN"`, `"Infinity"`, `"-Infinity"`, `1e300`, `12e-310`}},
		{"numeric(12,2)", []string{`1234.5`, `-0.005`, `9999999999.99`, `"17.10"`}},
		{"real", []string{`1.5`, `-0`, `3.4e38`, `"NaN"`}},
		{"double precision", []string{`1.5`, `-1e-300`, `"Infinity"`}},
		{"text", []string{`"héllo"`, `""`, `12.50`, `true`, `{"a": [1, 2]}`}},
		{"varchar(5)", []string{`"abc"`}},
		{"char(3)", []string{`"EUR"`}},
		{"boolean", []string{`true`, `false`, `"t"`, `0`}},
		{"timestamptz", []string{`"2024-02-29T23:59:59.123456Z"`, `"1970-01-01T00:00:00+02:00"`, `1700000000123`, `"1901-12-13T20:45:52Z"`, `-62135596800000`}},
		{"timestamp", []string{`"2024-02-29T23:59:59.999999"`, `"2024-02-29T23:59:59+05:00"`, `0`}},
		{"date", []string{`"2024-02-29"`, `"1999-12-31"`, `"0001-01-01"`}},
		{"time", []string{`"00:00"`, `"23:59:59.999999"`, `"12:34:56.5"`}},
		{"interval", []string{`"1 day 02:03:04.5"`, `"P1Y2M3DT4H5M6S"`, `1500`, `"-3 mons"`}},
		{"uuid", []string{`"123e4567-e89b-12d3-a456-426614174000"`}},
		{"json", []string{`{"a": 1, "b": [true, null]}`, `"s"`, `1.5`}},
		{"jsonb", []string{`{"b": 1, "a": "x"}`, `[]`, `"s"`, `null`}},
		{"bytea", []string{`"AAEC/w=="`, `""`}},
		{schema + ".mood", []string{`"happy"`, `"sad"`}},
	}
	for _, tc := range cases {
		typ := loadType(t, conn, tc.typ)
		for _, in := range tc.inputs {
			t.Run(fmt.Sprintf("%s/%s", tc.typ, in), func(t *testing.T) {
				v, err := typ.FromJSON(fastjson.MustParse(in))
				if err != nil {
					t.Fatalf("FromJSON: %v", err)
				}
				if v == nil {
					if in != "null" {
						t.Fatalf("FromJSON gave NULL")
					}
					return
				}
				ours, ok := typ.AppendBinary(nil, v)
				if !ok {
					t.Fatalf("AppendBinary has no encoder for %T", v)
				}
				oid := typ.OID
				theirs, err := conn.TypeMap().Encode(oid, pgtype.BinaryFormatCode, v, nil)
				if err != nil {
					t.Fatalf("pgx encode: %v", err)
				}
				text := func(b []byte) string {
					res := conn.PgConn().ExecParams(ctx, "select $1::text", [][]byte{b}, []uint32{oid}, []int16{1}, nil).Read()
					if res.Err != nil {
						t.Fatalf("server: %v (value %x)", res.Err, b)
					}
					return string(res.Rows[0][0])
				}
				if got, want := text(ours), text(theirs); got != want {
					t.Fatalf("server reads %q from AppendBinary, %q from pgx (%T %v)", got, want, v, v)
				}
			})
		}
	}
	// A kind without an encoder, or a value of another Go type: not ok, dst unchanged.
	arr := loadType(t, conn, "integer[]")
	v, err := arr.FromJSON(fastjson.MustParse(`[1, 2]`))
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := arr.AppendBinary([]byte("x"), v); ok || string(out) != "x" {
		t.Fatalf("array: ok %v, out %q", ok, out)
	}
	if out, ok := loadType(t, conn, "bigint").AppendBinary(nil, "7"); ok || out != nil {
		t.Fatalf("a string for bigint: ok %v", ok)
	}
}

var loadN int

// loadType is the Type of a column of type typ, as the catalog reader
// builds it, registered in conn's type map.
func loadType(t *testing.T, conn *pgx.Conn, typ string) *coerce.Type {
	t.Helper()
	ctx := context.Background()
	loadN++
	tbl := fmt.Sprintf("bin_%d", loadN)
	if _, err := conn.Exec(ctx, "create table "+tbl+" (c "+typ+")"); err != nil {
		t.Fatal(err)
	}
	_, types := readCatalog(ctx, t, conn, tbl)
	coerce.Register(conn.TypeMap(), types[0])
	return types[0]
}

// Random numerics: what pgx decodes from AppendBinary's encoding is the
// same number with the same scale.
func TestAppendBinaryNumericRandom(t *testing.T) {
	m := pgtype.NewMap()
	typ, err := coerce.TypeFor("numeric", 'b', -1, "numeric", pgtype.NumericOID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		digits := r.IntN(60) + 1
		b := make([]byte, digits)
		for j := range b {
			b[j] = byte('0' + r.IntN(10))
		}
		n, _ := new(big.Int).SetString(string(b), 10)
		if r.IntN(2) == 0 {
			n.Neg(n)
		}
		in := pgtype.Numeric{Int: n, Exp: int32(r.IntN(80) - 40), Valid: true}
		buf, ok := typ.AppendBinary(nil, in)
		if !ok {
			t.Fatalf("%d: no encoding for %v", i, in)
		}
		var out pgtype.Numeric
		if err := m.Scan(pgtype.NumericOID, pgtype.BinaryFormatCode, buf, &out); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !sameNumber(in, out) {
			t.Fatalf("%d: %s×10^%d came back as %s×10^%d", i, in.Int, in.Exp, out.Int, out.Exp)
		}
		// (pgx reads a zero without its scale; the server test covers 0.0.)
		if wantScale := max(-in.Exp, 0); in.Int.Sign() != 0 && -out.Exp != wantScale && !(out.Exp >= 0 && wantScale == 0) {
			t.Fatalf("%d: scale %d, want %d", i, -out.Exp, wantScale)
		}
	}
}
