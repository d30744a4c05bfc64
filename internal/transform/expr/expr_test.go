package expr

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"
)

const record = `{"type": "order", "order_id": 12, "amount": 12.5, "big": 12345678901234567890,
 "customer": {"email": "  Ann@Example.COM ", "tier": null},
 "items": [{"sku": "a-1", "qty": 2}, {"sku": "b-2", "qty": 3}],
 "ts_ms": 1714564800123, "ts": "2024-05-01 12:00:00", "tags": "x,y,z"}`

func vars(t *testing.T) *Vars {
	t.Helper()
	var p, kp fastjson.Parser
	v, err := p.Parse(record)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := kp.Parse(`{"id": 12}`)
	var vs Vars
	vs.Reset(k, v, &kgo.Record{Topic: "shop.events", Partition: 3, Offset: 42,
		Timestamp: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Headers:   []kgo.RecordHeader{{Key: "source", Value: []byte("web")}, {Key: "bin", Value: []byte{0xff, 0x00}}}})
	return &vs
}

func env(t testing.TB) *Env {
	t.Helper()
	e, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Every helper and the variables, as computed columns: the value each
// gives, in the canonical decoded form.
func TestValues(t *testing.T) {
	e := env(t)
	for _, tc := range []struct{ src, want string }{
		{`value.order_id`, `12`},
		{`value.order_id + 1`, `13`},
		{`int(value.amount * 100.0)`, `1250`},
		{`value.amount`, `12.5`},
		{`value.big`, `1.2345678901234567e+19`}, // too large for an int: a double
		{`value.customer.email.trim().lowerAscii()`, `"ann@example.com"`},
		{`value.customer.email.upperAscii().trim()`, `"ANN@EXAMPLE.COM"`},
		{`value.tags.split(',')`, `["x","y","z"]`},
		{`value.tags.replace(',', ';')`, `"x;y;z"`},
		{`'%s-%d'.format([value.type, value.order_id])`, `"order-12"`},
		{`value.type.substring(0, 3)`, `"ord"`},
		{`value.customer.tier`, `null`},
		{`has(value.customer.tier) ? 'set' : 'absent'`, `"set"`},
		{`has(value.nope) ? 'set' : 'absent'`, `"absent"`},
		{`value.?customer.?address.?city.orValue('unknown')`, `"unknown"`},
		{`value.?customer.?email.orValue('')`, `"  Ann@Example.COM "`},
		{`value.items[1].sku`, `"b-2"`},
		{`size(value.items)`, `2`},
		{`value.items.map(i, i.qty * 10)`, `[20,30]`},
		{`value.items.filter(i, i.qty > 2).map(i, i.sku)`, `["b-2"]`},
		{`value.customer`, `{"email":"  Ann@Example.COM ","tier":null}`},
		{`{'a': value.order_id, 'b': [1, 2]}`, `{"a":12,"b":[1,2]}`},
		{`key.id`, `12`},
		{`kafka.topic + '/' + string(kafka.partition) + '@' + string(kafka.offset)`, `"shop.events/3@42"`},
		{`kafka.timestamp`, `"2024-05-01T12:00:00Z"`},
		{`headers['source']`, `"web"`},
		{`headers['bin']`, `"/wA="`},
		{`fromEpochMillis(value.ts_ms)`, `"2024-05-01T12:00:00.123Z"`},
		{`fromEpochSeconds(1714564800)`, `"2024-05-01T12:00:00Z"`},
		{`fromEpochSeconds(1714564800.25)`, `"2024-05-01T12:00:00.25Z"`},
		{`fromEpochMicros(1714564800000001)`, `"2024-05-01T12:00:00.000001Z"`},
		{`epochMillis(fromEpochMillis(value.ts_ms))`, `1714564800123`},
		{`epochSeconds(timestamp('2024-05-01T12:00:00Z'))`, `1714564800`},
		{`epochMicros(timestamp('2024-05-01T12:00:00.000001Z'))`, `1714564800000001`},
		{`parseTimestamp(value.ts, '2006-01-02 15:04:05')`, `"2024-05-01T12:00:00Z"`},
		{`parseTimestamp('01/05/2024 14:00 +0200', '02/01/2006 15:04 -0700')`, `"2024-05-01T12:00:00Z"`},
		{`duration('1h30m')`, `"5400s"`},
		{`sha256('abc')`, `"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`},
		{`sha256(b'abc')`, `"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`},
		{`uuid5('dns', 'www.example.com')`, `"2ed6657d-e927-568b-95e1-2665a8aea6a2"`},
		{`uuid5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')`, `"2ed6657d-e927-568b-95e1-2665a8aea6a2"`},
		{`base64.encode(b'hi')`, `"aGk="`},
		{`math.greatest(1, value.order_id)`, `12`},
		{`b'\xff'`, `"/w=="`},
		{`1.0 / 0.0`, `"Infinity"`},
	} {
		p, err := e.Compile(tc.src, Value)
		if err != nil {
			t.Errorf("%s: compile: %v", tc.src, err)
			continue
		}
		var a fastjson.Arena
		got, err := p.Value(vars(t), &a)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if s := string(got.MarshalTo(nil)); s != tc.want {
			t.Errorf("%s = %s, want %s", tc.src, s, tc.want)
		}
	}
}

// Evaluation errors are record errors naming the expression.
func TestEvalErrors(t *testing.T) {
	e := env(t)
	for _, tc := range []struct{ src, want string }{
		{`value.nope`, "no such key: nope"},
		{`value.order_id / 0`, "division by zero"},
		{`value.type + 1`, "no such overload"},
		{`value.items[5]`, "index out of bounds"},
		{`parseTimestamp(value.type, '2006-01-02')`, "parseTimestamp"},
		{`uuid5('galaxy', 'x')`, "not a UUID"},
		{`fromEpochSeconds(1e300)`, "out of range"},
	} {
		p, err := e.Compile(tc.src, Value)
		if err != nil {
			t.Errorf("%s: compile: %v", tc.src, err)
			continue
		}
		var a fastjson.Arena
		_, err = p.Value(vars(t), &a)
		var ee *EvalError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.src) {
			t.Errorf("%s: error %v, want an EvalError naming the expression and %q", tc.src, err, tc.want)
		}
	}
}

// Compile errors name the position; a filter, each and table_expr must be
// of their type when the checker can tell.
func TestCompileErrors(t *testing.T) {
	e := env(t)
	for _, tc := range []struct {
		src  string
		kind Kind
		want string
	}{
		{`valu.x`, Value, "1:1: undeclared reference to 'valu'"},
		{`value.x +`, Value, "1:10: Syntax error"},
		{`kafka.partition + 'x'`, Value, "found no matching overload for '_+_'"},
		{`kafka.nope`, Value, "undefined field 'nope'"},
		{`kafka.offset`, Bool, "must be a bool; this expression is a int"},
		{`kafka.topic`, List, "must be a list"},
		{`1`, String, "must be a string"},
		{`now()`, Value, "undeclared reference to 'now'"},
	} {
		_, err := e.Compile(tc.src, tc.kind)
		var ce *CompileError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a CompileError with %q", tc.src, err, tc.want)
		}
	}
	// Dynamic values are accepted by every kind and checked when evaluated.
	for _, k := range []Kind{Bool, List, String} {
		if _, err := e.Compile(`value.anything`, k); err != nil {
			t.Errorf("dyn as %v: %v", k, err)
		}
	}
}

func TestFilterListTable(t *testing.T) {
	e := env(t)
	v := vars(t)
	f, _ := e.Compile(`value.type == 'order' && kafka.partition == 3`, Bool)
	if ok, err := f.Bool(v); err != nil || !ok {
		t.Fatalf("filter: %v %v", ok, err)
	}
	f, _ = e.Compile(`value.amount`, Bool)
	if _, err := f.Bool(v); err == nil || !strings.Contains(err.Error(), "not a bool") {
		t.Fatalf("a filter giving a double: %v", err)
	}
	var a fastjson.Arena
	l, _ := e.Compile(`value.items`, List)
	items, err := l.List(v, &a)
	if err != nil || len(items) != 2 || string(items[0].GetStringBytes("sku")) != "a-1" {
		t.Fatalf("each: %v %v", items, err)
	}
	l, _ = e.Compile(`value.items.filter(i, i.qty == 3)`, List)
	if items, err = l.List(v, &a); err != nil || len(items) != 1 || items[0].GetInt("qty") != 3 {
		t.Fatalf("each over a computed list: %v %v", items, err)
	}
	l, _ = e.Compile(`value.customer.tier`, List)
	if items, err = l.List(v, &a); err != nil || items != nil {
		t.Fatalf("each over null: %v %v, want no items", items, err)
	}
	l, _ = e.Compile(`value.type`, List)
	if _, err = l.List(v, &a); !errors.Is(err, errNotList) {
		t.Fatalf("each over a string: %v", err)
	}
	tb, _ := e.Compile(`'audit.' + value.type`, String)
	if s, err := tb.String(v); err != nil || s != "audit.order" {
		t.Fatalf("table_expr: %q %v", s, err)
	}
	// item and index.
	c, _ := e.Compile(`item.sku + '#' + string(index)`, Value)
	v.Item, v.Index = items0(t, v), 1
	if got, err := c.Value(v, &a); err != nil || string(got.MarshalTo(nil)) != `"a-1#1"` {
		t.Fatalf("item/index: %s %v", got, err)
	}
}

func items0(t *testing.T, v *Vars) *fastjson.Value {
	t.Helper()
	return v.Value.GetArray("items")[0]
}

// A plain field selection is read in place; whatever it reads must be what
// the program gives, value or error, for every kind of field.
func TestFieldPathAgrees(t *testing.T) {
	e := env(t)
	const rec = `{"i": 12, "neg": -7, "zero": -0, "frac": 12.0, "exp": 1e3, "big": 12345678901234567890,
 "s": "x\u00e9", "t": true, "f": false, "n": null, "o": {"a": {"b": [1, "2"]}, "dup": 1, "dup": 2},
 "arr": [{"sku": "a"}], "str": "not an object"}`
	var p, kp fastjson.Parser
	v, err := p.Parse(rec)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := kp.Parse(`{"id": "k-1"}`)
	var vs Vars
	vs.Reset(k, v, &kgo.Record{Topic: "t"})
	vs.Item = v.GetArray("arr")[0]
	paths := 0
	for _, src := range []string{
		`value.i`, `value.neg`, `value.zero`, `value.frac`, `value.exp`, `value.big`, `value.s`, `value.t`,
		`value.f`, `value.n`, `value.o`, `value.o.a`, `value.o.a.b`, `value.o.dup`, `value.arr`, `value.nope`,
		`value.str.x`, `value.n.x`, `value.o.nope.x`, `key.id`, `key.nope`, `item.sku`, `item.nope`,
	} {
		prg, err := e.Compile(src, Value)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if prg.path == nil {
			t.Errorf("%s: not read in place", src)
			continue
		}
		paths++
		var a1, a2 fastjson.Arena
		fast, ferr := prg.Value(&vs, &a1)
		slow := *prg
		slow.path = nil
		want, werr := slow.Value(&vs, &a2)
		switch {
		case (ferr == nil) != (werr == nil) || (ferr != nil && ferr.Error() != werr.Error()):
			t.Errorf("%s: error %v, the program's %v", src, ferr, werr)
		case ferr == nil && string(fast.MarshalTo(nil)) != string(want.MarshalTo(nil)):
			t.Errorf("%s = %s, the program gives %s", src, fast.MarshalTo(nil), want.MarshalTo(nil))
		}
	}
	for _, src := range []string{`value.?i.orValue(0)`, `has(value.i)`, `value.i + 0`, `value['i']`, `value`} {
		prg, err := e.Compile(src, Value)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if prg.path != nil {
			t.Errorf("%s: read in place, want the program", src)
		}
	}
}

// ValueFields names the top-level fields of value an expression reads, and
// only says so when every use of value is a field selection.
func TestValueFields(t *testing.T) {
	e := env(t)
	for _, tc := range []struct {
		src    string
		kind   Kind
		fields []string // nil: not only by fields
	}{
		{`value.a > 1 && value.b.c == "x"`, Bool, []string{"a", "b"}},
		{`has(value.x) ? value.y : key`, Value, []string{"x", "y"}},
		{`value.items.exists(i, i.qty > value.min)`, Bool, []string{"items", "min"}},
		{`{"k": value.a, "l": [value.b, kafka.offset]}`, Value, []string{"a", "b"}},
		{`kafka.topic + string(kafka.partition)`, String, []string{}},
		{`value.a.lowerAscii()`, Value, []string{"a"}},
		{`size(value) > 1`, Bool, nil},
		{`value`, Value, nil},
		{`[value].size() == 1`, Bool, nil},
		{`value.a == 1 || value == null`, Bool, nil},
		{`value["a"] == 1`, Bool, nil},
	} {
		p, err := e.Compile(tc.src, tc.kind)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		fields, ok := p.ValueFields()
		if ok != (tc.fields != nil) || ok && !slices.Equal(fields, tc.fields) && !(len(fields) == 0 && len(tc.fields) == 0) {
			t.Errorf("%s: ValueFields = %q, %v; want %q", tc.src, fields, ok, tc.fields)
		}
	}
}

// A computed string keeps the characters Go's quoting escapes differently
// from JSON (fastjson's arena alone would leave "\x01" as text in the
// value), on the fast nodes and through the interpreter.
func TestValueStringsKeepTheirBytes(t *testing.T) {
	e := env(t)
	var p fastjson.Parser
	doc, err := p.Parse(`{"s":" a\u0001b\u007fc\ud83f\udffe "}`)
	if err != nil {
		t.Fatal(err)
	}
	r := &kgo.Record{Topic: "t"}
	raw := string(doc.GetStringBytes("s"))
	for src, want := range map[string]string{
		`value.s`:               raw,
		`value.s.trim()`:        raw[1 : len(raw)-1],
		`true ? value.s : ''`:   raw,
		`value.s + value.s`:     raw + raw,
		`value.s.lowerAscii()`:  raw,
		`(value.s + '').trim()`: raw[1 : len(raw)-1],
	} {
		prg, err := e.Compile(src, Value)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		var v Vars
		v.Reset(nil, doc, r)
		var a fastjson.Arena
		got, err := prg.Value(&v, &a)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if s := string(got.GetStringBytes()); s != want {
			t.Errorf("%s = %q, want %q", src, s, want)
		}
	}
}
