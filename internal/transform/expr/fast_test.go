package expr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"
)

// fastExprs are expressions made entirely of what fast nodes do.
var fastExprs = []struct {
	src  string
	kind Kind
}{
	{`value.order_id > 0 && value.status != 'test'`, Bool},
	{`value.status == 'paid' || value.n < 3`, Bool},
	{`!(value.t) && value.n >= -1`, Bool},
	{`value.n <= 5 || value.n > 1 || value.t`, Bool},
	{`value.s < value.u`, Bool},
	{`value.t == value.f`, Bool},
	{`value.t != true`, Bool},
	{`value.s || value.t`, Value},
	{`value.n == 2 && value.s`, Value},
	{`value.status.lowerAscii()`, Value},
	{`value.status.upperAscii()`, Value},
	{`value.s.trim().lowerAscii()`, Value},
	{`value.n + 0`, Value},
	{`value.n - 7`, Value},
	{`value.n * 3`, Value},
	{`value.max + 1`, Value},
	{`value.min - 1`, Value},
	{`value.max * 2`, Value},
	{`value.min * -1`, Value},
	{`-1 * value.min`, Value},
	{`int(value.n)`, Value},
	{`string(value.n) + '/' + value.status`, Value},
	{`kafka.topic + '/' + string(kafka.partition) + '/' + string(kafka.offset)`, Value},
	{`string(value.status)`, Value},
	{`key.id + 1`, Value},
	{`item.sku.upperAscii()`, Value},
	{`value.status == 'paid'`, Value},
	{`'audit.' + value.status`, String},
}

// fastRecords vary every field the expressions read: kinds, nulls, missing
// fields, doubles, numbers beyond int64, invalid UTF-8, objects.
var fastRecords = []string{
	`{"order_id": 12, "status": "Paid", "n": 2, "t": true, "f": false, "s": "  Ann@Example.COM ", "u": "b",
	  "max": 9223372036854775807, "min": -9223372036854775808, "arr": [{"sku": "a-1"}]}`,
	`{"order_id": -1, "status": "test", "n": -1, "t": false, "f": false, "s": "x\u00e9Y", "u": "x\u00e9Y",
	  "max": 1, "min": -1, "arr": [{"sku": 5}]}`,
	`{"order_id": 1.5, "status": null, "n": 1e3, "t": 1, "s": 7, "u": "a", "arr": [{}]}`,
	`{"order_id": 12345678901234567890, "status": 5, "n": "2", "t": "true", "s": {"a": 1}, "u": [1],
	  "max": -0, "min": 0, "arr": [{"sku": null}]}`,
	`{"status": "\u00c9T\u00c9 \t", "n": 0, "t": null, "f": true, "s": "\t\n", "u": "", "arr": []}`,
	`{"order_id": 3, "status": "ok", "n": 4, "t": true, "s": "\ud800ab", "u": "\ud800ab", "max": 4611686018427387904, "min": -4611686018427387905}`,
	`[1, 2]`, `"str"`, `null`, `{}`,
}

// TestFastAgrees: wherever a fast node answers, the program gives the same
// value; where it does not, the program's answer or error stands.
func TestFastAgrees(t *testing.T) {
	e := env(t)
	fastAnswers, rawAnswers := 0, 0
	for _, x := range fastExprs {
		prg, err := e.Compile(x.src, x.kind)
		if err != nil {
			t.Fatalf("%s: %v", x.src, err)
		}
		if prg.fast == nil {
			t.Errorf("%s: no fast node", x.src)
			continue
		}
		for ri, rec := range fastRecords {
			var p, kp fastjson.Parser
			v, err := p.Parse(rec)
			if err != nil {
				t.Fatalf("record %d: %v", ri, err)
			}
			keys := []string{`{"id": 41}`, `{"id": "x"}`, `null`}
			k, _ := kp.Parse(keys[ri%len(keys)])
			var vs Vars
			vs.Reset(k, v, &kgo.Record{Topic: "shop.events", Partition: 3, Offset: int64(ri)})
			if items := v.GetArray("arr"); len(items) > 0 {
				vs.Item = items[0]
			}
			slow := *prg
			slow.fast = nil
			got, gerr := evalAs(prg, &vs, x.kind)
			want, werr := evalAs(&slow, &vs, x.kind)
			if _, ok := prg.fast.eval(&vs); ok {
				fastAnswers++
			}
			switch {
			case (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()):
				t.Errorf("%s on record %d: error %v, the program's %v", x.src, ri, gerr, werr)
			case got != want:
				t.Errorf("%s on record %d = %s, the program gives %s", x.src, ri, got, want)
			}
			// On the record's top-level fields as JSON texts (ResetRaw):
			// the same answer, or ErrRaw.
			if !prg.RawOK() || v.Type() != fastjson.TypeObject {
				continue
			}
			var names []string
			var vals [][]byte
			v.GetObject().Visit(func(k []byte, fv *fastjson.Value) {
				names, vals = append(names, string(k)), append(vals, fv.MarshalTo(nil))
			})
			var rs Vars
			rs.ResetRaw(k, names, vals, &kgo.Record{Topic: "shop.events", Partition: 3, Offset: int64(ri)})
			rs.Item = vs.Item
			rgot, rerr := evalAs(prg, &rs, x.kind)
			switch {
			case errors.Is(rerr, ErrRaw):
			case rerr != nil:
				t.Errorf("%s on record %d's raw fields: error %v, the program gives %s (%v)", x.src, ri, rerr, want, werr)
			case werr != nil || rgot != want:
				t.Errorf("%s on record %d's raw fields = %s, the program gives %s (%v)", x.src, ri, rgot, want, werr)
			default:
				rawAnswers++
			}
		}
	}
	// The comparison means something only if fast nodes answered often.
	if fastAnswers < len(fastExprs)*2 || rawAnswers < len(fastExprs) {
		t.Errorf("fast nodes answered %d times, %d on raw fields", fastAnswers, rawAnswers)
	}
}

func evalAs(p *Program, vs *Vars, kind Kind) (string, error) {
	var a fastjson.Arena
	switch kind {
	case Bool:
		b, err := p.Bool(vs)
		return fmt.Sprint(b), err
	case String:
		return p.String(vs)
	}
	v, err := p.Value(vs, &a)
	if err != nil {
		return "", err
	}
	return string(v.MarshalTo(nil)), nil
}

// TestFastNotUsed: expressions with anything else run the program.
func TestFastNotUsed(t *testing.T) {
	e := env(t)
	for _, src := range []string{`value.n / 2`, `value.n + 1.5`, `has(value.n) && value.t`, `value.s.size() > 2`,
		`value.s.startsWith('a')`, `value.n in [1, 2]`, `value.t ? 1 : 2`, `headers.source == 'web'`, `-value.n`,
		`uint(value.n) > 1u`, `value['n'] > 1`, `kafka.timestamp`} {
		prg, err := e.Compile(src, Value)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if prg.fast != nil {
			t.Errorf("%s: a fast node, want the program", src)
		}
	}
}

func BenchmarkFast(b *testing.B) {
	e, err := NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	var p fastjson.Parser
	v, _ := p.Parse(`{"order_id": 12, "status": "Paid", "currency": "eur", "version": 3}`)
	for _, src := range []string{`value.order_id > 0 && value.status != 'test'`, `value.status.lowerAscii()`, `value.version + 0`} {
		prg, err := e.Compile(src, Value)
		if err != nil {
			b.Fatal(err)
		}
		slow := *prg
		slow.fast = nil
		for _, c := range []struct {
			name string
			p    *Program
		}{{"fast", prg}, {"program", &slow}} {
			b.Run(src+"/"+c.name, func(b *testing.B) {
				var vs Vars
				var a fastjson.Arena
				b.ReportAllocs()
				for range b.N {
					vs.Reset(nil, v, &kgo.Record{Topic: "orders"})
					a.Reset()
					if _, err := c.p.Value(&vs, &a); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
