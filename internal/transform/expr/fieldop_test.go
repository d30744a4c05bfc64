package expr

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec/codectest"
)

// fieldOpValues are JSON texts of a field, of every kind.
var fieldOpValues = []string{
	`0`, `-0`, `7`, `-7`, `12.5`, `1e3`, `1.0`, `9223372036854775807`, `-9223372036854775808`, `9223372036854775808`,
	`4611686018427387904`, `-4611686018427387905`, `3037000500`, `123456789012345678901`,
	`"abc"`, `"MiXeD Case"`, `"  padded\t"`, `"é Ü"`, `"a\"b"`, `"\u0041"`, `"12"`, `""`, "\"\xff\"", `" "`,
	`true`, `false`, `null`, `{}`, `{"a":[1,"x"]}`, `[1,2]`, `[]`,
}

// TestFieldOpAgrees: for every form FieldOp takes, and every field value,
// Text's answer (when it gives one) is Program.Value's; and FieldOp
// declines the expressions it does not take.
func TestFieldOpAgrees(t *testing.T) {
	e := env(t)
	for _, src := range []string{`value.f`, `int(value.f)`, `value.f.lowerAscii()`, `value.f.upperAscii()`, `value.f.trim()`,
		`value.f + 0`, `value.f + 1`, `value.f - 1`, `value.f * 2`, `value.f * -1`, `2 * value.f`, `1 + value.f`,
		`value.f + 9223372036854775807`, `value.f - -9223372036854775807`, `value.f * 3037000500`} {
		prg, err := e.Compile(src, Value)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		op, ok := prg.FieldOp()
		if !ok || op.Field != "f" {
			t.Fatalf("%s: FieldOp %+v, %v", src, op, ok)
		}
		took := 0
		for _, raw := range fieldOpValues {
			text, ok := op.Text([]byte("x"), []byte(raw))
			var p fastjson.Parser
			doc, err := p.Parse(`{"f":` + raw + `}`)
			if err != nil {
				t.Fatal(err)
			}
			var v Vars
			v.Reset(nil, doc, &kgo.Record{Topic: "t"})
			var a fastjson.Arena
			want, werr := prg.Value(&v, &a)
			if !ok {
				if len(text) != 1 {
					t.Errorf("%s on %s: declined and wrote %q", src, raw, text)
				}
				continue
			}
			took++
			if werr != nil {
				t.Fatalf("%s on %s: Text wrote %s, the program said %v", src, raw, text[1:], werr)
			}
			got, err := fastjson.ParseBytes(text[1:])
			if err != nil {
				t.Fatalf("%s on %s: Text wrote %s: %v", src, raw, text[1:], err)
			}
			if !codectest.SameValue(got, want) {
				t.Fatalf("%s on %s: Text %s, the program %s", src, raw, text[1:], want.MarshalTo(nil))
			}
		}
		if took < 3 {
			t.Errorf("%s: Text took only %d values", src, took)
		}
	}
	for _, src := range []string{`value.f.g`, `key.f`, `value.f.trim().lowerAscii()`, `value.f + value.g`, `1 - value.f`,
		`string(value.f)`, `value.f + 'x'`, `value.f == 1`, `value.f / 2`, `has(value.f)`, `value`} {
		prg, err := e.Compile(src, Value)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if op, ok := prg.FieldOp(); ok {
			t.Errorf("%s: FieldOp %+v", src, op)
		}
	}
	if _, ok := mustCompile(t, e, `value.f`, Bool).FieldOp(); ok {
		t.Error("a filter is not a FieldOp")
	}
}

func mustCompile(t *testing.T, e *Env, src string, k Kind) *Program {
	t.Helper()
	p, err := e.Compile(src, k)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzFieldOp holds Text to Program.Value on fuzzed field texts.
func FuzzFieldOp(f *testing.F) {
	for _, v := range fieldOpValues {
		f.Add(v, uint8(0))
	}
	srcs := []string{`value.f`, `int(value.f)`, `value.f.lowerAscii()`, `value.f.upperAscii()`, `value.f.trim()`,
		`value.f + 1`, `value.f - 1`, `value.f * 3`}
	e := env(f)
	var prgs []*Program
	for _, s := range srcs {
		p, err := e.Compile(s, Value)
		if err != nil {
			f.Fatal(err)
		}
		prgs = append(prgs, p)
	}
	f.Fuzz(func(t *testing.T, raw string, which uint8) {
		var p fastjson.Parser
		doc, err := p.Parse(`{"f":` + raw + `}`)
		if err != nil || strings.TrimSpace(raw) != raw || doc.Get("f") == nil {
			return
		}
		// One value in JSON's grammar, as the direct path gives it
		// (fastjson alone takes "." or "01").
		raw = string(doc.Get("f").MarshalTo(nil))
		if !json.Valid([]byte(raw)) {
			return
		}
		prg := prgs[int(which)%len(prgs)]
		op, _ := prg.FieldOp()
		text, ok := op.Text(nil, []byte(raw))
		if !ok {
			return
		}
		var v Vars
		v.Reset(nil, doc, &kgo.Record{Topic: "t"})
		var a fastjson.Arena
		want, werr := prg.Value(&v, &a)
		if werr != nil {
			t.Fatalf("%s on %s: Text wrote %s, the program said %v", prg.Source, raw, text, werr)
		}
		got, err := fastjson.ParseBytes(text)
		if err != nil || !codectest.SameValue(got, want) {
			t.Fatalf("%s on %s: Text %s (%v), the program %s", prg.Source, raw, text, err, want.MarshalTo(nil))
		}
	})
}
