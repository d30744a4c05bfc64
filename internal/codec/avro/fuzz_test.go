package avro

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"testing"
	"time"
	"unicode/utf8"

	hamba "github.com/hamba/avro/v2"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the named seeds under testdata/fuzz/FuzzDecode")

// allTypesSchema has a field of every type and logical type.
const allTypesSchema = `{"type":"record","name":"All","namespace":"t","fields":[
	{"name":"b","type":"boolean"},
	{"name":"i","type":"int"},
	{"name":"l","type":"long"},
	{"name":"f","type":"float"},
	{"name":"d","type":"double"},
	{"name":"s","type":"string"},
	{"name":"by","type":"bytes"},
	{"name":"fx","type":{"type":"fixed","name":"F3","size":3}},
	{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},
	{"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":4}},
	{"name":"decf","type":{"type":"fixed","name":"D16","size":16,"logicalType":"decimal","precision":38,"scale":10}},
	{"name":"date","type":{"type":"int","logicalType":"date"}},
	{"name":"tms","type":{"type":"int","logicalType":"time-millis"}},
	{"name":"tus","type":{"type":"long","logicalType":"time-micros"}},
	{"name":"tsms","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"tsus","type":{"type":"long","logicalType":"timestamp-micros"}},
	{"name":"tsns","type":{"type":"long","logicalType":"timestamp-nanos"}},
	{"name":"ltms","type":{"type":"long","logicalType":"local-timestamp-millis"}},
	{"name":"ltus","type":{"type":"long","logicalType":"local-timestamp-micros"}},
	{"name":"uuid","type":{"type":"string","logicalType":"uuid"}},
	{"name":"uuidf","type":{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}},
	{"name":"dur","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}},
	{"name":"opt","type":["null","string"]},
	{"name":"multi","type":["null","string","long","E"]},
	{"name":"nulls","type":{"type":"array","items":"null"}},
	{"name":"m","type":{"type":"map","values":{"type":"array","items":["null","double"]}}}
]}`

const nodeSchema = `{"type":"record","name":"Node","fields":[
	{"name":"v","type":"int"},{"name":"kids","type":{"type":"array","items":"Node"}}]}`

func fuzzDecoder() *Decoder {
	src := newFake()
	src.add(1, orderSchema)
	src.add(2, nodeSchema)
	src.add(3, allTypesSchema)
	return New(src)
}

func allTypesRecord() map[string]any {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	return map[string]any{
		"b": true, "i": int32(-7), "l": int64(1 << 40), "f": float32(1.5), "d": -2.25, "s": "hé\"llo\x01",
		"by": []byte{1, 2, 3}, "fx": [3]byte{4, 5, 6}, "e": "C", "dec": mustRat("-1234.5678"),
		"decf": mustRat("1234567890.0123456789"), "date": ts, "tms": 5 * time.Second, "tus": 6 * time.Second,
		"tsms": ts, "tsus": ts, "tsns": ts.UnixNano(), "ltms": ts, "ltus": ts,
		"uuid": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "uuidf": [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		"dur": hamba.LogicalDuration{Months: 1, Days: 2, Milliseconds: 3}, "opt": nil, "multi": map[string]any{"t.E": "B"},
		"nulls": []any{nil, nil}, "m": map[string]any{"k": []any{1.5, nil}},
	}
}

// fuzzSeeds are the checked-in corpus entries, by file name.
func fuzzSeeds(t testing.TB) map[string][]byte {
	order := encode(t, 1, orderSchema, orderRecord(2))
	node := encode(t, 2, nodeSchema, map[string]any{"v": int32(1), "kids": []any{
		map[string]any{"v": int32(2), "kids": []any{}}}})
	all := encode(t, 3, allTypesSchema, allTypesRecord())
	// The same with both trailing collections empty: ends in 0 (nulls), 0 (m).
	rec := allTypesRecord()
	rec["nulls"], rec["m"] = []any{}, map[string]any{}
	empty := encode(t, 3, allTypesSchema, rec)
	cut := func(b []byte, n int, tail []byte) []byte { return append(append(b[:0:0], b[:len(b)-n]...), tail...) }
	wire := func(id int, payload ...byte) []byte { return append(codec.AppendWire(nil, id), payload...) }
	huge := []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40} // zigzag varint of 2^40
	return map[string][]byte{
		"valid-order":       order,
		"valid-node":        node,
		"valid-all-types":   all,
		"string-len-2p40":   append(wire(1, 2), huge...), // id 1, then customer's length
		"array-count-2p40":  append(wire(2, 2), huge...), // v=1, kids count
		"nulls-count-2p40":  cut(empty, 2, huge),
		"map-count-2p40":    cut(empty, 1, huge),
		"bad-magic":         append([]byte{1}, order[1:]...),
		"unknown-id":        wire(99, 0),
		"truncated-order":   order[:len(order)/2],
		"trailing-bytes":    append(append(order[:0:0], order...), 0),
		"varint-overflow":   wire(1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"deep-recursion":    append(wire(2), repeat([]byte{2, 2}, 100)...),
		"short-header":      {0, 0, 0},
		"negative-length-s": wire(1, 2, 1),
	}
}

func repeat(b []byte, n int) []byte {
	var out []byte
	for range n {
		out = append(out, b...)
	}
	return out
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzDecode in step with fuzzSeeds
// (run with -update-corpus to rewrite it) and decodes the valid seeds.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	for name, data := range fuzzSeeds(t) {
		file := filepath.Join(dir, name)
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (run go test -run TestFuzzCorpus -update-corpus): %v", file, err)
		}
	}
	d := fuzzDecoder()
	for name, data := range fuzzSeeds(t) {
		var a fastjson.Arena
		_, _, err := d.Decode(context.Background(), data, &a)
		if valid := name[:6] == "valid-"; valid != (err == nil) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

var heapAllocs = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

func allocatedBytes() uint64 {
	metrics.Read(heapAllocs)
	return heapAllocs[0].Value.Uint64()
}

func FuzzDecode(f *testing.F) {
	for _, data := range fuzzSeeds(f) {
		f.Add(data)
	}
	d := fuzzDecoder()
	// Warm the schema cache so that allocations below are the decode's.
	for _, data := range fuzzSeeds(f) {
		_, _, _ = d.Decode(context.Background(), data, &fastjson.Arena{})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a fastjson.Arena
		before := allocatedBytes()
		v, typ, err := d.Decode(context.Background(), data, &a)
		allocated := allocatedBytes() - before
		// Allocation follows the input, never a declared length or count:
		// 2^40 claimed bytes must fail without reserving them. The slack
		// covers the arena's growth, zero-size items and metric lag.
		if limit := 256*uint64(len(data)) + 8<<20; allocated > limit {
			t.Fatalf("%d bytes of input allocated %d bytes", len(data), allocated)
		}
		if err != nil {
			checkText(t, d, data, nil)
			if !codec.IsDecodeError(err) {
				t.Fatalf("not a DecodeError: %v", err)
			}
			if len(err.Error()) > 600 {
				t.Fatalf("error reason of %d bytes: %.100s...", len(err.Error()), err)
			}
			return
		}
		if typ == nil || v == nil {
			t.Fatal("success without a value and type")
		}
		checkText(t, d, data, v) // before checkCanonical reads (and so changes) v's strings
		checkCanonical(t, v)
	})
}

// checkCanonical checks that v is JSON that PostgreSQL can take: valid
// UTF-8 in strings and keys, numbers that follow the JSON grammar.
func checkCanonical(t *testing.T, v *fastjson.Value) {
	switch v.Type() {
	case fastjson.TypeObject:
		v.GetObject().Visit(func(k []byte, v *fastjson.Value) {
			if !utf8.Valid(k) {
				t.Fatalf("key %q is not UTF-8", k)
			}
			checkCanonical(t, v)
		})
	case fastjson.TypeArray:
		for _, e := range v.GetArray() {
			checkCanonical(t, e)
		}
	case fastjson.TypeString:
		if !utf8.Valid(v.GetStringBytes()) {
			t.Fatalf("string %q is not UTF-8", v.GetStringBytes())
		}
	case fastjson.TypeNumber:
		if text := v.MarshalTo(nil); !json.Valid(text) {
			t.Fatalf("number %s is not JSON", text)
		}
	}
}
