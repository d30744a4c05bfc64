package codec

import (
	"testing"

	"github.com/valyala/fastjson"
)

func TestInferMerge(t *testing.T) {
	recs := []string{`{"a": 1, "b": "x", "c": "2024-05-01T12:00:00+02:00", "d": {"e": 1}}`, `{"a": 1.5, "b": 2, "c": "not a time", "f": [1]}`}
	var typ *Type
	var p fastjson.Parser
	for _, r := range recs {
		v, err := p.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		typ = MergeTypes(typ, InferType(v, false))
	}
	want := map[string]Kind{"a": KindDecimal, "b": KindJSON, "c": KindString, "d": KindJSON, "f": KindJSON}
	for _, f := range typ.Fields {
		if want[f.Name] != f.Type.Kind {
			t.Errorf("%s: %v, want %v", f.Name, f.Type.Kind, want[f.Name])
		}
	}
	if len(typ.Fields) != len(want) {
		t.Errorf("fields = %+v", typ.Fields)
	}
	for _, s := range []string{"2024-05-01T12:00:00Z", "2024-05-01 12:00:00.123456-07:00"} {
		if !looksLikeTimestamp(s) {
			t.Errorf("%q not a timestamp", s)
		}
	}
	for _, s := range []string{"2024-05-01", "2024-05-01T12:00:00", "2024-05-01T12:00:00.Z", "yesterday at noon, UTC!!"} {
		if looksLikeTimestamp(s) {
			t.Errorf("%q is a timestamp", s)
		}
	}
}
