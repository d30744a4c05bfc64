package ddl

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

func kt(k codec.Kind) *codec.Type { return &codec.Type{Kind: k} }

func TestCreateTableDDL(t *testing.T) {
	fields := []codec.Field{
		{Name: "id", Type: kt(codec.KindInt64)},
		{Name: "amount", Type: &codec.Type{Kind: codec.KindDecimal, Precision: 10, Scale: 2}},
		{Name: "note", Type: kt(codec.KindString), Optional: true},
		{Name: "tags", Type: kt(codec.KindArray), HasDefault: true},
		{Name: "Mixed Case", Type: kt(codec.KindTimestamp), Optional: true},
	}
	got, err := CreateTableDDL(pgx.Identifier{"shop", "orders"}, fields, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	want := `CREATE TABLE IF NOT EXISTS "shop"."orders" (
  "id" bigint NOT NULL,
  "amount" numeric(10,2) NOT NULL,
  "note" text,
  "tags" jsonb,
  "Mixed Case" timestamptz,
  PRIMARY KEY ("id")
)`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// An optional key column is still NOT NULL; no key, no PRIMARY KEY.
	got, _ = CreateTableDDL(pgx.Identifier{"t"}, []codec.Field{{Name: "k", Type: kt(codec.KindString), Optional: true}}, []string{"k"})
	if !strings.Contains(got, `"k" text NOT NULL`) {
		t.Errorf("key column nullable:\n%s", got)
	}
	got, _ = CreateTableDDL(pgx.Identifier{"t"}, fields[:1], nil)
	if strings.Contains(got, "PRIMARY KEY") {
		t.Errorf("primary key without a key:\n%s", got)
	}
	var se *table.SchemaError
	if _, err := CreateTableDDL(pgx.Identifier{"t"}, fields[:1], []string{"missing"}); !errors.As(err, &se) || se.Column != "missing" {
		t.Errorf("missing key column: %v", err)
	}
	if _, err := CreateTableDDL(pgx.Identifier{"t"}, append(fields[:1:1], fields[0]), nil); !errors.As(err, &se) {
		t.Errorf("duplicate field: %v", err)
	}
}

func evolveTable(t *testing.T) *table.Table {
	col := func(name, typname string, typmod int32, formatted string, notNull bool) table.Column {
		ty, err := coerce.TypeFor(typname, 'b', typmod, formatted, 0, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return table.Column{Name: name, Type: ty, TypeName: formatted, NotNull: notNull}
	}
	return table.NewTable("", "orders", []table.Column{
		col("id", "int8", -1, "bigint", true),
		col("qty", "int4", -1, "integer", true),
		col("small", "int2", -1, "smallint", false),
		col("code", "varchar", 10+4, "character varying(10)", false),
		col("price", "numeric", (10<<16|2)+4, "numeric(10,2)", false),
		col("ratio", "float4", -1, "real", false),
		col("at", "timestamptz", -1, "timestamp with time zone", false),
		col("doc", "jsonb", -1, "jsonb", false),
		col("label", "text", -1, "text", true),
	}, []string{"id"})
}

func TestEvolveDDL(t *testing.T) {
	tbl := evolveTable(t)
	for _, tc := range []struct {
		name  string
		field codec.Field
		want  string // "" = nothing to do; "error: …" = a table.SchemaError containing …
	}{
		{"same", codec.Field{Name: "qty", Type: kt(codec.KindInt32)}, ""},
		{"new field", codec.Field{Name: "email", Type: kt(codec.KindString), Optional: true},
			`ALTER TABLE "orders" ADD COLUMN IF NOT EXISTS "email" text`},
		{"int to bigint", codec.Field{Name: "qty", Type: kt(codec.KindInt64)},
			`ALTER TABLE "orders" ALTER COLUMN "qty" TYPE bigint`},
		{"smallint to integer", codec.Field{Name: "small", Type: kt(codec.KindInt32), Optional: true},
			`ALTER TABLE "orders" ALTER COLUMN "small" TYPE integer`},
		{"varchar longer", codec.Field{Name: "code", Type: &codec.Type{Kind: codec.KindString, MaxLength: 20}, Optional: true},
			`ALTER TABLE "orders" ALTER COLUMN "code" TYPE varchar(20)`},
		{"varchar to text", codec.Field{Name: "code", Type: kt(codec.KindString), Optional: true},
			`ALTER TABLE "orders" ALTER COLUMN "code" TYPE text`},
		{"varchar shorter fits", codec.Field{Name: "code", Type: &codec.Type{Kind: codec.KindString, MaxLength: 5}, Optional: true}, ""},
		{"numeric more precision", codec.Field{Name: "price", Type: &codec.Type{Kind: codec.KindDecimal, Precision: 14, Scale: 2}, Optional: true},
			`ALTER TABLE "orders" ALTER COLUMN "price" TYPE numeric(14,2)`},
		{"numeric other scale", codec.Field{Name: "price", Type: &codec.Type{Kind: codec.KindDecimal, Precision: 10, Scale: 3}},
			"error: column is numeric(10,2) and the field is now decimal"},
		{"real to double", codec.Field{Name: "ratio", Type: kt(codec.KindFloat64), Optional: true},
			`ALTER TABLE "orders" ALTER COLUMN "ratio" TYPE double precision`},
		{"became optional", codec.Field{Name: "label", Type: kt(codec.KindString), Optional: true},
			`ALTER TABLE "orders" ALTER COLUMN "label" DROP NOT NULL`},
		{"key stays NOT NULL", codec.Field{Name: "id", Type: kt(codec.KindInt64), Optional: true}, ""},
		{"string into bigint", codec.Field{Name: "qty", Type: kt(codec.KindString)},
			"error: column is integer and the field is now string (text): not a safe change"},
		{"local timestamp into timestamptz", codec.Field{Name: "at", Type: kt(codec.KindLocalTimestamp)},
			"error: not a safe change"},
		{"anything into jsonb", codec.Field{Name: "doc", Type: kt(codec.KindRecord), Optional: true}, ""},
		{"record into text", codec.Field{Name: "label", Type: kt(codec.KindRecord)}, "error: not a safe change"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stmts, err := EvolveDDL(tbl, []codec.Field{tc.field}, []string{"id"})
			if msg, isErr := strings.CutPrefix(tc.want, "error: "); isErr {
				var se *table.SchemaError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), msg) || se.Column != tc.field.Name {
					t.Fatalf("err = %v, want a table.SchemaError on %q containing %q", err, tc.field.Name, msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(stmts, "; "); got != tc.want {
				t.Fatalf("stmts = %q, want %q", got, tc.want)
			}
		})
	}
}
