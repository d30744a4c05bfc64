package expr

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"
)

// fuzzExprs are evaluated over records of any shape: whatever the record,
// an expression gives a value or an error, never a panic.
var fuzzExprs = []struct {
	src  string
	kind Kind
}{
	{`value.type == 'order' && has(value.items)`, Bool},
	{`value.a.b.c`, Value},
	{`value.?a.?b.orValue(key)`, Value},
	{`value.items.map(i, i.qty * 2)`, Value},
	{`value.items`, List},
	{`value.items.filter(i, i.sku.startsWith('a'))`, List},
	{`string(value.n) + '/' + string(kafka.offset)`, Value},
	{`int(value.amount * 100.0)`, Value},
	{`fromEpochMillis(value.ts)`, Value},
	{`parseTimestamp(value.when, '2006-01-02')`, Value},
	{`sha256(string(value))`, Value},
	{`uuid5('dns', value.name)`, Value},
	{`value.name.trim().lowerAscii().split(',')`, Value},
	{`'audit.' + value.kind`, String},
	{`size(value) > 2 ? value : {'x': value}`, Value},
	{`value == key`, Bool},
	{`value.items[value.n]`, Value},
	{`value`, Value},
	{`[value, key, item, index]`, Value},
}

func FuzzExpressions(f *testing.F) {
	for _, seed := range []string{
		`{"type": "order", "items": [{"sku": "a", "qty": 2}], "n": 0}`,
		`{"a": {"b": {"c": [1, 2.5, "x", null, true]}}}`,
		`{"amount": 1e308, "ts": 9223372036854775807, "when": "2024-13-45"}`,
		`[1, 2, 3]`, `"string"`, `null`, `12345678901234567890`, `{"items": {"0": 1}}`,
		`{"name": "\u0000\ud800", "kind": 5, "items": [[[]]]}`,
		`{"n": -1, "items": []}`,
	} {
		f.Add([]byte(seed), []byte(`{"k": 1}`))
	}
	for _, seed := range fastRecords {
		f.Add([]byte(seed), []byte(`{"id": 1}`))
	}
	e, err := NewEnv()
	if err != nil {
		f.Fatal(err)
	}
	var progs []*Program
	var fast []*Program
	for _, x := range fastExprs {
		p, err := e.Compile(x.src, x.kind)
		if err != nil {
			f.Fatalf("%s: %v", x.src, err)
		}
		fast = append(fast, p)
	}
	for _, x := range fuzzExprs {
		p, err := e.Compile(x.src, x.kind)
		if err != nil {
			f.Fatalf("%s: %v", x.src, err)
		}
		progs = append(progs, p)
	}
	f.Fuzz(func(t *testing.T, value, key []byte) {
		var vp, kp fastjson.Parser
		v, err := vp.ParseBytes(value)
		if err != nil {
			return
		}
		k, _ := kp.ParseBytes(key)
		var vs Vars
		vs.Reset(k, v, &kgo.Record{Topic: "t", Offset: 1})
		if items := v.GetArray("items"); len(items) > 0 {
			vs.Item, vs.Index = items[0], 0
		}
		var a fastjson.Arena
		for i, p := range progs {
			switch fuzzExprs[i].kind {
			case Bool:
				_, _ = p.Bool(&vs)
			case List:
				_, _ = p.List(&vs, &a)
			case String:
				_, _ = p.String(&vs)
			default:
				if out, err := p.Value(&vs, &a); err == nil && out == nil {
					t.Fatalf("%s: no value and no error", p.Source)
				}
			}
		}
		// Fast nodes agree with the program on every record.
		for i, p := range fast {
			slow := *p
			slow.fast = nil
			got, gerr := evalAs(p, &vs, fastExprs[i].kind)
			want, werr := evalAs(&slow, &vs, fastExprs[i].kind)
			if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) || got != want {
				t.Fatalf("%s: fast %q (%v), the program %q (%v)", p.Source, got, gerr, want, werr)
			}
		}
	})
}
