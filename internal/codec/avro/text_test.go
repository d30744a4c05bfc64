package avro

import (
	"bytes"
	"context"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec/codectest"
)

// checkText holds AppendJSON to Decode for data: when Decode failed
// (v nil), AppendJSON must not write; when it writes, its text must parse
// to v (the same numbers as the same text, the same strings and keys, the
// keys in the same order). It reports whether AppendJSON wrote. It reads
// v's strings, after which v marshals differently: marshal v before.
func checkText(t testing.TB, d *Decoder, data []byte, v *fastjson.Value) bool {
	t.Helper()
	prefix := []byte("prefix")
	text, ok := d.AppendJSON(prefix, data)
	switch {
	case !ok:
		return false
	case v == nil:
		t.Fatalf("AppendJSON wrote %s for a record Decode refuses", text)
	case !bytes.HasPrefix(text, prefix):
		t.Fatalf("AppendJSON did not append to dst: %s", text)
	}
	if bad := codectest.WrittenJSON(text[len(prefix):]); bad != "" {
		t.Fatalf("AppendJSON wrote %q: %s", text[len(prefix):], bad)
	}
	tv, err := fastjson.ParseBytes(text[len(prefix):])
	if err != nil {
		t.Fatalf("AppendJSON wrote %s, which does not parse: %v", text, err)
	}
	// Reading v's strings (codectest.SameValue) changes how v marshals afterwards
	// (fastjson then escapes the Go way): callers marshal v before.
	if !codectest.SameValue(tv, v) {
		t.Fatalf("AppendJSON wrote %s, Decode built %s", text[len(prefix):], v.MarshalTo(nil))
	}
	return true
}

// TestAppendJSON writes every seed of the fuzz corpus (every type and
// logical type, strings that need escaping, nesting, maps) as text, and
// checks what AppendJSON refuses: an unknown schema id, a map with a key
// twice, a truncated or padded record.
func TestAppendJSON(t *testing.T) {
	d := fuzzDecoder()
	wrote := 0
	for name, data := range fuzzSeeds(t) {
		var a fastjson.Arena
		v, _, err := d.Decode(context.Background(), data, &a)
		if err != nil {
			v = nil
		}
		if checkText(t, d, data, v) {
			wrote++
		} else if err == nil {
			t.Errorf("seed %s: Decode took it, AppendJSON did not", name)
		}
	}
	if wrote == 0 {
		t.Fatal("AppendJSON wrote no seed")
	}
	all := encode(t, 3, allTypesSchema, allTypesRecord())
	var a fastjson.Arena
	v, _, err := d.Decode(context.Background(), all, &a)
	if err != nil || !checkText(t, d, all, v) {
		t.Fatalf("the record of every type: Decode err %v, or AppendJSON refused it", err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"unknown id", append([]byte{0, 0, 0, 0, 99}, all[5:]...)},
		{"truncated", all[:len(all)-1]},
		{"trailing byte", append(append([]byte{}, all...), 0)},
		// A map of two blocks of one entry each, both with the key "k":
		// Decode keeps the last value; the text would hold both.
		{"key twice", mapTwice(t)},
	} {
		if text, ok := d.AppendJSON(nil, tc.data); ok {
			t.Errorf("%s: AppendJSON wrote %s", tc.name, text)
		}
	}
}

// mapTwice is the record of every type with its map field m holding the
// key "k" twice.
func mapTwice(t *testing.T) []byte {
	t.Helper()
	rec := allTypesRecord()
	rec["m"] = map[string]any{"k": []any{1.5}}
	one := encode(t, 3, allTypesSchema, rec)
	rec["m"] = map[string]any{}
	none := encode(t, 3, allTypesSchema, rec)
	// The records differ only in m, the last field: none ends with the
	// map's terminating 0; one with a block of count 1 (zigzag 2), its
	// entry, and the 0. Two such blocks make "k" twice.
	if !bytes.HasPrefix(one, none[:len(none)-1]) {
		t.Fatal("the two encodings do not share their prefix")
	}
	block := one[len(none)-1 : len(one)-1]
	out := append(append([]byte{}, none[:len(none)-1]...), block...)
	out = append(append(out, block...), 0)
	var a fastjson.Arena
	v, _, err := fuzzDecoder().Decode(context.Background(), out, &a)
	if err != nil || v.Get("m", "k") == nil {
		t.Fatalf("the record with a key twice does not decode: %v", err)
	}
	return out
}
