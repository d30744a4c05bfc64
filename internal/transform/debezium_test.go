package transform

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

func dbzMapper(t *testing.T, truncateFail bool) *Mapper {
	t.Helper()
	tbl := table.NewTable("public", "orders", []table.Column{
		col(t, "id", "int8", -1, "bigint", true, false),
		col(t, "status", "text", -1, "text", true, false),
		col(t, "body", "text", -1, "text", false, false),
		col(t, "__lsn", "int8", -1, "bigint", false, false),
		col(t, "__op", "text", -1, "text", false, false),
	}, []string{"id"})
	m, err := NewMapper(Spec{Table: tbl, Mode: table.Upsert, Key: format.JSON, KeyCols: []string{"id"},
		Debezium: true, TruncateFail: truncateFail})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDebezium(t *testing.T) {
	m := dbzMapper(t, false)
	ctx := context.Background()
	var row table.Row
	// c/r/u: upsert of after, metadata columns filled.
	for _, op := range []string{"c", "r", "u"} {
		v := `{"before": null, "after": {"id": 7, "status": "new", "body": "b"}, "op": "` + op + `", "source": {"lsn": 42, "table": "orders"}, "ts_ms": 1}`
		if err := m.Map(ctx, rec(`{"id": 7}`, v), &row); err != nil {
			t.Fatalf("op %s: %v", op, err)
		}
		if row.Op != table.OpWrite || row.Vals[0] != int64(7) || row.Vals[1] != "new" || row.Vals[3] != int64(42) || row.Vals[4] != op {
			t.Fatalf("op %s: row = %+v", op, row.Vals)
		}
	}
	// The unavailable placeholder leaves the column out of the row.
	v := `{"after": {"id": 7, "status": "paid", "body": "__debezium_unavailable_value"}, "op": "u", "source": {"lsn": 43}}`
	if err := m.Map(ctx, rec(`{"id": 7}`, v), &row); err != nil {
		t.Fatal(err)
	}
	if row.Set.Has(2) || row.Vals[1] != "paid" {
		t.Fatalf("placeholder: set=%v vals=%+v", row.Set.Has(2), row.Vals)
	}
	// d: delete by the Kafka key, or by before's key without one.
	if err := m.Map(ctx, rec(`{"id": 7}`, `{"before": {"id": 7, "status": "paid"}, "after": null, "op": "d"}`), &row); err != nil || row.Op != table.OpDelete || row.Vals[0] != int64(7) {
		t.Fatalf("delete: %v %+v", err, row)
	}
	if err := m.Map(ctx, rec("\x00nil", `{"before": {"id": 8, "status": "x"}, "after": null, "op": "d"}`), &row); err != nil || row.Op != table.OpDelete || row.Vals[0] != int64(8) {
		t.Fatalf("delete by before: %v %+v", err, row)
	}
	// t: ignored by default, a record error with on_truncate: fail; m: skipped.
	if err := m.Map(ctx, rec("\x00nil", `{"op": "t", "source": {}}`), &row); !errors.Is(err, ErrSkip) {
		t.Fatalf("truncate: %v", err)
	}
	if err := m.Map(ctx, rec("\x00nil", `{"op": "m"}`), &row); !errors.Is(err, ErrSkip) {
		t.Fatalf("message: %v", err)
	}
	var re *RecordError
	if err := dbzMapper(t, true).Map(ctx, rec("\x00nil", `{"op": "t"}`), &row); !errors.As(err, &re) || !strings.Contains(re.Reason, "truncate") {
		t.Fatalf("truncate with fail: %v", err)
	}
	// Not an envelope.
	if err := m.Map(ctx, rec(`{"id": 1}`, `{"id": 1, "status": "x"}`), &row); !errors.As(err, &re) || re.Stage != StageDecode || !strings.Contains(re.Reason, `no "op"`) {
		t.Fatalf("plain value: %v", err)
	}
	if err := m.Map(ctx, rec(`{"id": 1}`, `{"op": "c", "after": null}`), &row); !errors.As(err, &re) || !strings.Contains(re.Reason, "after") {
		t.Fatalf("create without after: %v", err)
	}
}

func TestFlattenAndEvolve(t *testing.T) {
	tbl := table.NewTable("", "people", []table.Column{
		col(t, "id", "int8", -1, "bigint", true, false),
		col(t, "address_city", "text", -1, "text", false, false),
		col(t, "address_geo_lat", "numeric", -1, "numeric", false, false),
	}, nil)
	m, err := NewMapper(Spec{Table: tbl, Mode: table.Insert, Key: format.String, Flatten: true, Evolve: true})
	if err != nil {
		t.Fatal(err)
	}
	var row table.Row
	ctx := context.Background()
	if err := m.Map(ctx, rec("", `{"id": 1, "address": {"city": "Oslo", "geo": {"lat": 59.9}}}`), &row); err != nil {
		t.Fatal(err)
	}
	if row.Vals[1] != "Oslo" || !row.Set.Has(2) {
		t.Fatalf("flattened row = %+v", row.Vals)
	}
	// A new field asks for a schema change, with inferred types, for the
	// fields without a column only: a column that took the value as it is
	// is not changed for the type guessed from one value.
	var sc *SchemaChange
	if err := m.Map(ctx, rec("", `{"id": 2, "address": {"zip": "0150"}, "seen": "2024-05-01T12:00:00Z", "n": 5}`), &row); !errors.As(err, &sc) {
		t.Fatalf("err = %v, want a SchemaChange", err)
	}
	kinds := map[string]codec.Kind{}
	for _, f := range sc.Fields {
		kinds[f.Name] = f.Type.Kind
		if !f.Optional {
			t.Errorf("inferred field %s not optional", f.Name)
		}
	}
	if kinds["address_zip"] != codec.KindString || kinds["seen"] != codec.KindTimestamp || kinds["n"] != codec.KindInt64 || len(kinds) != 3 {
		t.Fatalf("fields = %v", kinds)
	}
}

// With auto_evolve a Connect record whose schema has a field without a
// column asks for a change once per schema; after Reject, records of that
// schema are record errors at once.
func TestEvolveRejectPerSchema(t *testing.T) {
	tbl := table.NewTable("", "t", []table.Column{col(t, "id", "int8", -1, "bigint", true, false)}, nil)
	m, err := NewMapper(Spec{Table: tbl, Mode: table.Insert, Key: format.String, Value: format.Connect, Evolve: true})
	if err != nil {
		t.Fatal(err)
	}
	v := `{"schema": {"type": "struct", "fields": [{"field": "id", "type": "int64"}, {"field": "n", "type": "string", "optional": true}]}, "payload": {"id": 1, "n": "x"}}`
	var row table.Row
	var sc *SchemaChange
	if err := m.Map(context.Background(), rec("", v), &row); !errors.As(err, &sc) || sc.Type == nil || len(sc.Fields) != 2 || sc.Fields[1].Name != "n" || !sc.Fields[1].Optional {
		t.Fatalf("err = %v (%+v)", err, sc)
	}
	m.Reject(sc.Type, &table.SchemaError{Table: `"t"`, Field: "n", Column: "n", Reason: "refused"})
	var re *RecordError
	if err := m.Map(context.Background(), rec("", v), &row); !errors.As(err, &re) || re.Column != "n" || !strings.Contains(re.Reason, "auto_evolve: refused") {
		t.Fatalf("after Reject: %v", err)
	}
}
