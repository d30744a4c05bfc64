package transform

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

func col(t *testing.T, name, typname string, typmod int32, formatted string, notNull, hasDefault bool) table.Column {
	t.Helper()
	ty, err := coerce.TypeFor(typname, 'b', typmod, formatted, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return table.Column{Name: name, Type: ty, TypeName: formatted, NotNull: notNull, HasDefault: hasDefault}
}

func ordersTable(t *testing.T) *table.Table {
	return table.NewTable("public", "orders", []table.Column{
		col(t, "id", "int8", -1, "bigint", true, false),
		col(t, "status", "varchar", 10+4, "character varying(10)", true, false),
		col(t, "amount", "numeric", -1, "numeric", false, false),
		col(t, "created", "timestamptz", -1, "timestamp with time zone", true, true),
		{Name: "total", TypeName: "numeric", Generated: true},
	}, []string{"id"})
}

func rec(key, value string) *kgo.Record {
	r := &kgo.Record{Topic: "orders", Partition: 2, Offset: 41, Timestamp: time.Unix(100, 0)}
	if key != "\x00nil" {
		r.Key = []byte(key)
	}
	if value != "\x00nil" {
		r.Value = []byte(value)
	}
	return r
}

func TestMapUpsert(t *testing.T) {
	tbl := ordersTable(t)
	m, err := NewMapper(Spec{Table: tbl, Mode: table.Upsert, Key: format.String, KeyCols: []string{"id"}, DeleteOnTombstone: true})
	if err != nil {
		t.Fatal(err)
	}
	var row table.Row
	// The key wins over the value's id; unknown fields and generated columns
	// are ignored; case-insensitive field names match lower-case columns.
	if err := m.Map(context.Background(), rec("7", `{"id": 1, "Status": "paid", "amount": 12.5, "total": 99, "extra": {"x": 1}}`), &row); err != nil {
		t.Fatal(err)
	}
	if row.Op != table.OpWrite || row.Vals[0] != int64(7) || row.Vals[1] != "paid" || !row.Set.Has(2) || row.Set.Has(3) || row.Set.Has(4) {
		t.Fatalf("row = %+v", row)
	}
	if want := string(table.AppendKey(nil, int64(7))); row.Key != want {
		t.Fatalf("key %q, want %q", row.Key, want)
	}
	// A tombstone deletes by key.
	if err := m.Map(context.Background(), rec("8", "\x00nil"), &row); err != nil || row.Op != table.OpDelete || row.Vals[0] != int64(8) {
		t.Fatalf("tombstone: %v %+v", err, row)
	}
	if m.Skip(rec("8", "\x00nil")) {
		t.Fatal("a tombstone must not be skipped with delete_on_tombstone")
	}
}

func TestMapErrors(t *testing.T) {
	tbl := ordersTable(t)
	m, err := NewMapper(Spec{Table: tbl, Mode: table.Upsert, Key: format.String, KeyCols: []string{"id"}, DeleteOnTombstone: true})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		key, value string
		stage      Stage
		want       string
	}{
		{"1", `{"status": "new"`, StageDecode, "topic orders partition 2 offset 41: decode: value is not valid JSON"},
		{"1", `"just a string"`, StageDecode, "value is a JSON string, not an object"},
		{"1", `{"status": "much too long here"}`, StageMap, `column "status": string of 18 characters exceeds character varying(10)`},
		{"1", `{"status": null}`, StageMap, `column "status": null for NOT NULL column`},
		{"1", `{"amount": 1}`, StageMap, `column "status": no value for NOT NULL column character varying(10) without a default`},
		{"x1", `{"status": "new"}`, StageMap, `field "key" (column "id")`},
		{"\x00nil", `{"status": "new"}`, StageMap, `field "key" (column "id"): record has no value for key column`},
		{"\x00nil", "\x00nil", StageMap, "tombstone has no value for key column"},
	}
	for _, tc := range cases {
		var row table.Row
		err := m.Map(context.Background(), rec(tc.key, tc.value), &row)
		var re *RecordError
		if !errors.As(err, &re) || re.Stage != tc.stage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Map(%q, %q) = %v; want a %s error containing %q", tc.key, tc.value, err, tc.stage, tc.want)
		}
	}
}

func TestMapJSONKeyAndSkip(t *testing.T) {
	tbl := table.NewTable("", "acc", []table.Column{
		col(t, "tenant", "text", -1, "text", true, false),
		col(t, "id", "int4", -1, "integer", true, false),
		col(t, "balance", "numeric", -1, "numeric", false, false),
	}, []string{"tenant", "id"})
	if _, err := NewMapper(Spec{Table: tbl, Mode: table.Upsert, Key: format.String, KeyCols: []string{"tenant", "id"}}); err == nil ||
		!strings.Contains(err.Error(), "use key format json") {
		t.Fatalf("a string key for a composite key must be refused: %v", err)
	}
	m, err := NewMapper(Spec{Table: tbl, Mode: table.Insert, Key: format.JSON, KeyCols: []string{"tenant", "id"}})
	if err != nil {
		t.Fatal(err)
	}
	var row table.Row
	if err := m.Map(context.Background(), rec(`{"tenant": "t1", "id": 4}`, `{"tenant": "ignored", "balance": "1.5"}`), &row); err != nil {
		t.Fatal(err)
	}
	if row.Vals[0] != "t1" || row.Vals[1] != int32(4) {
		t.Fatalf("key fields must win: %+v", row.Vals)
	}
	if !m.Skip(rec(`{"tenant": "t1", "id": 4}`, "\x00nil")) {
		t.Fatal("a tombstone without delete_on_tombstone is skipped")
	}
}

func TestMapRaw(t *testing.T) {
	jsonb, _ := coerce.TypeFor("jsonb", 'b', -1, "jsonb", 3802, nil, nil)
	text, _ := coerce.TypeFor("text", 'b', -1, "text", 25, nil, nil)
	cols := []table.Column{{Name: "topic"}, {Name: "partition"}, {Name: "offset"}, {Name: "key", Type: text}, {Name: "value", Type: jsonb}, {Name: "headers", Type: jsonb}, {Name: "timestamp"}}
	m, err := NewMapper(Spec{Table: table.NewTable("", "raw", cols, nil), Mode: table.Raw, Key: format.String})
	if err != nil {
		t.Fatal(err)
	}
	r := rec("k", `{"a": [1, 2]}`)
	r.Headers = []kgo.RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "b", Value: []byte{0xff}}, {Key: "n"}, {Key: "c\x01", Value: []byte("a\x01\x7f\"")}}
	var row table.Row
	if err := m.Map(context.Background(), r, &row); err != nil {
		t.Fatal(err)
	}
	if row.Vals[0] != "orders" || row.Vals[1] != int32(2) || row.Vals[2] != int64(41) || row.Vals[3] != "k" ||
		string(row.Vals[4].([]byte)) != `{"a":[1,2]}` ||
		string(row.Vals[5].([]byte)) != `[{"key":"h","value":"v"},{"key":"b","value_base64":"/w=="},{"key":"n","value":null},{"key":"c\u0001","value":"a\u0001`+"\x7f"+`\""}]` {
		t.Fatalf("raw row = %q", row.Vals)
	}
}

// FromNative keeps a string's bytes, characters Go's quoting escapes
// differently from JSON included.
func TestFromNativeStrings(t *testing.T) {
	var a fastjson.Arena
	for _, s := range []string{"plain", "a\x01b", "del\x7f\"", "\U000e0001"} {
		v, err := FromNative(&a, map[string]any{"s": s})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(v.GetStringBytes("s")); got != s {
			t.Errorf("%q: got %q", s, got)
		}
		if got := string(copyValue(&a, v, 0).GetStringBytes("s")); got != s {
			t.Errorf("%q: copied %q", s, got)
		}
	}
}
