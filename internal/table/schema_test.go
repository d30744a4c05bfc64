package table

import (
	"testing"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

func kt(k codec.Kind) *codec.Type { return &codec.Type{Kind: k} }

func TestColumnType(t *testing.T) {
	for _, tc := range []struct {
		typ  *codec.Type
		want string
	}{
		{kt(codec.KindBool), "boolean"},
		{kt(codec.KindInt32), "integer"},
		{kt(codec.KindInt64), "bigint"},
		{kt(codec.KindFloat32), "real"},
		{kt(codec.KindFloat64), "double precision"},
		{&codec.Type{Kind: codec.KindDecimal, Precision: 10, Scale: 2}, "numeric(10,2)"},
		{&codec.Type{Kind: codec.KindDecimal}, "numeric"},
		{&codec.Type{Kind: codec.KindDecimal, Precision: 2, Scale: 5}, "numeric"}, // impossible typmod: unconstrained
		{kt(codec.KindString), "text"},
		{&codec.Type{Kind: codec.KindString, MaxLength: 40}, "varchar(40)"},
		{kt(codec.KindBytes), "bytea"},
		{kt(codec.KindDate), "date"},
		{kt(codec.KindTime), "time"},
		{kt(codec.KindTimestamp), "timestamptz"},
		{kt(codec.KindLocalTimestamp), "timestamp"},
		{kt(codec.KindUUID), "uuid"},
		{kt(codec.KindDuration), "interval"},
		{kt(codec.KindRecord), "jsonb"},
		{kt(codec.KindMap), "jsonb"},
		{kt(codec.KindArray), "jsonb"},
		{kt(codec.KindJSON), "jsonb"},
	} {
		if got := ColumnType(tc.typ); got != tc.want {
			t.Errorf("ColumnType(%v) = %q, want %q", tc.typ.Kind, got, tc.want)
		}
	}
}
