package table

import (
	"errors"
	"strings"
	"testing"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
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

// On a partitioned table, a column of the partition key cannot be widened
// (PostgreSQL refuses to change its type): Fit says so with a SchemaError
// naming the column, while other columns still widen and new fields still
// add columns to the parent.
func TestFitPartitionKey(t *testing.T) {
	col := func(name, typname, formatted string) Column {
		ty, err := coerce.TypeFor(typname, 'b', -1, formatted, 0, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return Column{Name: name, Type: ty, TypeName: formatted, NotNull: true}
	}
	tbl := NewTable("public", "events", []Column{col("id", "int8", "bigint"), col("bucket", "int4", "integer"), col("qty", "int4", "integer")}, []string{"id", "bucket"})
	tbl.Partitioned, tbl.PartitionKey = true, []string{"bucket"}

	changes, err := Fit(tbl, []codec.Field{{Name: "qty", Type: kt(codec.KindInt64)}, {Name: "note", Type: kt(codec.KindString), Optional: true}}, []string{"id", "bucket"})
	if err != nil || len(changes) != 2 || changes[0] != (Change{Kind: WidenColumn, Column: "qty", Type: "bigint"}) || changes[1].Kind != AddColumn {
		t.Fatalf("Fit = %+v, %v; want qty widened and note added", changes, err)
	}
	_, err = Fit(tbl, []codec.Field{{Name: "bucket", Type: kt(codec.KindInt64)}}, []string{"id", "bucket"})
	var se *SchemaError
	if !errors.As(err, &se) || se.Column != "bucket" || !strings.Contains(se.Reason, "partition key") {
		t.Fatalf("Fit widening the partition key: %v; want a SchemaError on bucket naming the partition key", err)
	}
}
