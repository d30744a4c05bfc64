package jsonschema

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

// Schemas for the differential tests of the fast check: every keyword it
// knows, in the drafts where they differ, and some it leaves to the
// validator.
var fastSchemas = []string{
	0: benchSchema,
	1: orderSchema,
	2: `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
	 "properties":{"a":{"type":"integer","minimum":-5,"maximum":100},"b":{"type":["string","null"],"minLength":2,"maxLength":4},
	  "c":{"enum":["x","y",1,null]},"d":{"const":"k"},"e":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":10},
	  "f":{"type":"string","format":"date"},"g":{"type":"string","format":"date-time"},"h":{"type":"string","pattern":"^[a-z]+$"},
	  "i":{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3},"j":{"type":"boolean"},
	  "k":{"type":"string","format":"time"},"l":{"type":"string","format":"uuid"}},
	 "required":["a"],"additionalProperties":false,"minProperties":1,"maxProperties":6}`,
	3: `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"pos":{"type":"integer","minimum":1}},
	 "type":"object","properties":{"a":{"$ref":"#/definitions/pos"},"b":{"oneOf":[{"type":"null"},{"type":"string"}]},
	  "c":{"anyOf":[{"type":"integer"},{"type":"string","maxLength":2}]},"d":{"allOf":[{"type":"number"},{"maximum":3}]},
	  "e":{"not":{"type":"string"}},"f":{"if":{"type":"integer"},"then":{"minimum":10},"else":{"type":"string"}},
	  "g":{"$ref":"#/definitions/pos","maximum":5}},"additionalProperties":{"type":["integer","string"]}}`,
	4: `{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":{"s":{"type":"string","maxLength":3}},
	 "type":"object","properties":{"a":{"$ref":"#/$defs/s","minLength":2},"b":{"type":"array","items":{"$ref":"#/$defs/s"}},
	  "c":{"type":"string","format":"date-time"},"d":{"type":"integer","multipleOf":2},"e":{"type":"array","uniqueItems":true},
	  "f":{"type":"array","prefixItems":[{"type":"integer"}]},"g":{"type":"number","minimum":0.5},
	  "p":{"type":"object","patternProperties":{"^x":{"type":"integer"}}}}}`,
	5: `{"$schema":"http://json-schema.org/draft-04/schema#","type":"object","properties":{"a":{"type":"number","minimum":0,"exclusiveMinimum":true},
	  "b":{"type":"integer","maximum":3,"exclusiveMaximum":true}},"required":["a"]}`,
	6: `{"type":"array","items":{"type":"object","properties":{"n":{"$ref":"#"}}}}`,
	7: `true`,
	8: `{"type":"object","properties":{"a":false,"b":true}}`,
	// More properties than verify compares (it looks them up in a map),
	// then more than it tracks in a bit mask.
	9:  manyProps(20, `"required":["p1","p17"],"additionalProperties":{"type":"integer"}`),
	10: manyProps(70, `"required":["p1","p65"]`),
}

// manyProps is a draft 7 object schema with properties p0..p(n-1), each
// an integer of at least 1, and more keywords.
func manyProps(n int, more string) string {
	props := make([]string, n)
	for i := range props {
		props[i] = fmt.Sprintf(`"p%d":{"type":"integer","minimum":1}`, i)
	}
	return `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{` +
		strings.Join(props, ",") + `},` + more + `}`
}

// fastDecoders returns a decoder with fastSchemas registered under ids 1..n.
func fastDecoder() *Decoder {
	reg := newFake()
	for i, s := range fastSchemas {
		reg.add(i+1, "", s)
	}
	return New(reg)
}

// compareFast decodes payload with the fast check and with the general
// validator alone; both must give the same value or the same error. It
// reports whether the fast check proved the record valid, and whether
// ProveJSON proved it from its bytes (which then requires the record
// decoded, to the payload's JSON, and the fast check to prove it too).
func compareFast(t *testing.T, d *Decoder, id int, payload []byte) (fast, proved bool) {
	t.Helper()
	c, err := d.schema(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	general := *c
	general.fast = nil
	var a1, a2 fastjson.Arena
	v1, err1 := c.decode(payload, &a1)
	v2, err2 := general.decode(payload, &a2)
	// decodeParsed, which leaves the value in the parser, must give the
	// same value or an error too (the messages are compared where only
	// one thing is wrong, in TestValidationErrors and TestInvalidPayload).
	var p1, p2 fastjson.Parser
	for _, x := range []struct {
		c   *compiled
		v   *fastjson.Value
		err error
		p   *fastjson.Parser
	}{{c, v1, err1, &p1}, {&general, v2, err2, &p2}} {
		pv, perr := x.c.decodeParsed(payload, x.p)
		switch {
		case (perr == nil) != (x.err == nil):
			t.Fatalf("schema %d %s (fast %v): decode err = %v, decodeParsed %v", id, payload, x.c.fast != nil, x.err, perr)
		case perr == nil && string(pv.MarshalTo(nil)) != string(x.v.MarshalTo(nil)):
			t.Fatalf("schema %d %s (fast %v): decode %s, decodeParsed %s", id, payload, x.c.fast != nil, x.v.MarshalTo(nil), pv.MarshalTo(nil))
		}
	}
	switch {
	case (err1 == nil) != (err2 == nil):
		t.Fatalf("schema %d %s: with the fast check err = %v, without %v", id, payload, err1, err2)
	}
	pp, proved := d.ProveJSON(wire(id, string(payload)))
	if proved {
		switch {
		case err1 != nil:
			t.Fatalf("schema %d %s: ProveJSON proved valid what the decoder rejects: %v", id, payload, err1)
		case string(pp) != string(payload):
			t.Fatalf("schema %d %s: ProveJSON returned the payload %s", id, payload, pp)
		}
		var p fastjson.Parser
		v, err := p.ParseBytes(payload)
		if err != nil {
			t.Fatalf("schema %d %s: ProveJSON proved what fastjson does not parse: %v", id, payload, err)
		}
		if s1, s2 := string(v.MarshalTo(nil)), string(v1.MarshalTo(nil)); s1 != s2 {
			t.Fatalf("schema %d %s: the payload's JSON is %s, the decoded value %s", id, payload, s1, s2)
		}
	}
	if err1 != nil {
		// Both went the general way. Its message is not compared: when
		// several properties fail, which one the validator reports
		// depends on Go's map order.
		return false, false
	}
	if s1, s2 := string(v1.MarshalTo(nil)), string(v2.MarshalTo(nil)); s1 != s2 {
		t.Fatalf("schema %d %s: with the fast check %s, without %s", id, payload, s1, s2)
	}
	// Did the fast check prove it?
	var p fastjson.Parser
	v, err := p.ParseBytes(payload)
	if err != nil || c.fast == nil {
		if proved {
			t.Fatalf("schema %d %s: ProveJSON proved it, the fast check cannot run", id, payload)
		}
		return false, false
	}
	ok := c.verify(&work{}, c.fast, v, 0)
	if ok {
		if err := c.schema.Validate(mustBuild(t, v)); err != nil {
			t.Fatalf("schema %d %s: the fast check proved valid what the validator rejects: %v", id, payload, err)
		}
	} else if proved {
		t.Fatalf("schema %d %s: ProveJSON proved it, the fast check did not", id, payload)
	}
	return ok, proved
}

func mustBuild(t *testing.T, v *fastjson.Value) any {
	t.Helper()
	inst, err := (&work{}).build(v)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return inst
}

// TestFastCheckAgrees runs hand-picked records through both paths.
func TestFastCheckAgrees(t *testing.T) {
	d := fastDecoder()
	tests := []struct {
		id      int
		payload string
		fast    bool // the fast check proves it valid
	}{
		{1, benchRecord, true},
		{1, strings.Replace(benchRecord, `"customer_id":42`, `"customer_id":0`, 1), false},
		{1, strings.Replace(benchRecord, `"PAID"`, `"LOST"`, 1), false},
		{1, strings.Replace(benchRecord, `"EUR"`, `"EURO"`, 1), false},
		{1, strings.Replace(benchRecord, `"qty":2`, `"qty":2.0`, 1), true},
		{1, strings.Replace(benchRecord, `"qty":2`, `"qty":2e0`, 1), false},
		{1, strings.Replace(benchRecord, `"qty":2`, `"qty":2.5`, 1), false},
		{1, strings.Replace(benchRecord, `"2024-05-01T12:00:00.123456Z"`, `"2024-02-30T12:00:00Z"`, 1), false},
		{1, strings.Replace(benchRecord, `"2024-05-01T12:00:00.123456Z"`, `"2024-02-29T23:59:59+01:00"`, 1), true},
		{1, strings.Replace(benchRecord, `"2024-05-01T12:00:00.123456Z"`, `"1998-12-31T23:59:60Z"`, 1), true}, // a leap second, by the validator's own format check
		{1, strings.Replace(benchRecord, `"2024-05-01T12:00:00.123456Z"`, `"1998-12-31T12:59:60Z"`, 1), false},
		{1, strings.Replace(benchRecord, `"note":null`, `"note":null,"note":"x"`, 1), false},
		{1, strings.Replace(benchRecord, `"note":null`, `"note":"a\u0001b"`, 1), true},
		{1, strings.Replace(benchRecord, `129.95`, `1e1001`, 1), false},
		{3, `{"a":5,"b":"xy","c":"x","d":"k","e":9.99,"f":"2024-01-31"}`, true},
		{3, `{"a":-6}`, false},
		{3, `{"a":5,"z":1}`, false},
		{3, `{"a":5,"c":1}`, false},
		{3, `{"a":5,"e":10}`, false},
		{3, `{"a":5,"e":0.0000001}`, true},
		{3, `{"a":5,"h":"abc","i":[1,2],"j":false}`, true},
		{3, `{"a":5,"h":"aBc"}`, false},
		{3, `{"a":5,"k":"12:00:00Z","l":"3f0b8c0e-6a5e-4d7b-9a51-1c2f4e7d9b10"}`, true},
		{4, `{"a":3,"b":null,"c":12,"d":1,"e":1,"f":10,"g":5}`, true},
		{4, `{"g":9}`, true}, // draft 7: "maximum" beside "$ref" is ignored (the compiled schema drops it)
		{4, `{"a":0}`, false},
		{4, `{"b":"s"}`, true},
		{4, `{"b":1}`, false},
		{4, `{"c":"xx"}`, true},
		{4, `{"c":"xxx"}`, false},
		{4, `{"d":2}`, true},
		{4, `{"d":4}`, false},
		{4, `{"e":null}`, true},
		{4, `{"e":"s"}`, false},
		{4, `{"f":1}`, false},
		{4, `{"f":"s"}`, true},
		{4, `{"z":[1]}`, false},
		{5, `{"a":"abc","b":["abc","de"],"c":"2024-05-01T12:00:00Z"}`, true},
		{5, `{"a":"a"}`, false},
		{5, `{"a":"abcd"}`, false},
		{5, `{"d":4}`, false},
		{5, `{"d":3}`, false},
		{5, `{"e":[1,1]}`, false},
		{5, `{"f":[1]}`, false},
		{5, `{"g":1}`, false},
		{5, `{"p":{"x1":1}}`, false},
		{6, `{"a":1}`, true},
		{6, `{"a":0}`, false},
		{6, `{"a":1,"b":3}`, false},
		{6, `{"a":1,"b":2}`, true},
		{7, `[{"n":[{"n":[]}]}]`, true},
		{7, `[{"n":1}]`, false},
		{8, `{"x":[1,{"y":null}]}`, true},
		{9, `{"b":1}`, true},
		{9, `{"a":1}`, false},
		// Duplicate keys: properties (told apart by a bit), others
		// (compared), and both in one object.
		{1, strings.Replace(benchRecord, `"paid":true`, `"paid":true,"paid":true`, 1), false},
		{1, strings.Replace(benchRecord, `"paid":true`, `"paid":true,"x":1,"y":2,"x":1`, 1), false},
		{1, strings.Replace(benchRecord, `"paid":true`, `"paid":true,"x":1,"y":2`, 1), true},
		{4, `{"zz":1,"a":1,"zz":2}`, false},
		{4, `{"zz":1,"a":1,"g":2,"a":1}`, false},
		{4, `{"zz":1,"a":1,"g":2,"zy":3}`, true},
		{10, `{"p1":1,"p17":2,"p3":3,"x":4}`, true},
		{10, `{"p1":1,"p17":2,"p3":0}`, false},
		{10, `{"p1":1,"p3":3}`, false},
		{10, `{"p1":1,"p17":2,"p1":2}`, false},
		{10, `{"p1":1,"p17":2,"x":4,"x":4}`, false},
		{10, `{"p1":1,"p17":2,"x":"s"}`, false},
		{11, `{"p1":1,"p65":2,"p69":3,"x":"s"}`, true},
		{11, `{"p1":1,"p69":3}`, false},
		{11, `{"p1":1,"p65":2,"p1":1}`, false},
		{11, `{"p1":1,"p65":2,"x":1,"x":1}`, false},
		{11, `{"p1":1,"p65":2,"p64":0}`, false},
	}
	for _, tt := range tests {
		got, proved := compareFast(t, d, tt.id, []byte(tt.payload))
		if got != tt.fast {
			t.Errorf("schema %d %s: fast check proved it: %v, want %v", tt.id, tt.payload, got, tt.fast)
		}
		// ProveJSON proves from the bytes what the fast check proves,
		// unless a node on the way has a "$ref" (schemas 4, 5 and 7) or
		// the payload has an escape.
		want := tt.fast && tt.id != 4 && tt.id != 5 && tt.id != 7 && !strings.Contains(tt.payload, `\`)
		if proved != want {
			t.Errorf("schema %d %s: ProveJSON proved it: %v, want %v", tt.id, tt.payload, proved, want)
		}
	}
}

// TestFastCheckRandom runs random records, shaped after the schemas'
// properties, through both paths.
func TestFastCheckRandom(t *testing.T) {
	d := fastDecoder()
	r := rand.New(rand.NewPCG(3, 4))
	n := 20000
	if testing.Short() {
		n = 3000
	}
	took := 0
	for range n {
		id := 1 + r.IntN(len(fastSchemas))
		if fast, _ := compareFast(t, d, id, []byte(randomJSON(r, 0))); fast {
			took++
		}
	}
	if took < n/20 {
		t.Errorf("the fast check proved %d of %d random records; the test is not testing it", took, n)
	}
}

var (
	randKeys = []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "n", "x1", "z", "qty", "sku", "note", "status",
		"p1", "p2", "p17", "p63", "p64", "p65"}
	randStrings = []string{`""`, `"x"`, `"xy"`, `"abc"`, `"aBc"`, `"k"`, `"y"`, `"PAID"`, `"é€𝄞"`, `"a\u0001b"`, `"q\"\\"`,
		`"2024-05-01"`, `"2024-02-30"`, `"2024-05-01T12:00:00Z"`, `"2024-05-01T12:00:00.5+02:00"`, `"2024-05-01t23:59:60Z"`,
		`"2024-05-01T12:00:00"`, `"12:00:00Z"`, `"24:00:00Z"`, `"3f0b8c0e-6a5e-4d7b-9a51-1c2f4e7d9b10"`}
	randNumbers = []string{"0", "-0", "1", "-1", "2", "3", "5", "-5", "-6", "9.99", "10", "100", "101", "2.0", "2.5", "1e1",
		"1E+2", "0.0000001", "-0.5", "9223372036854775807", "-9223372036854775808", "12345678901234567890", "1.000"}
)

// randomJSON returns random JSON text: keys from randKeys (now and then
// twice in one object), strings and numbers near the schemas' bounds.
func randomJSON(r *rand.Rand, depth int) string {
	k := r.IntN(10)
	if depth > 3 {
		k = 4 + r.IntN(6)
	}
	switch {
	case k < 3:
		var b strings.Builder
		b.WriteByte('{')
		for i := range r.IntN(5) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + randKeys[r.IntN(len(randKeys))] + `":`)
			b.WriteString(randomJSON(r, depth+1))
		}
		b.WriteByte('}')
		return b.String()
	case k < 4:
		var b strings.Builder
		b.WriteByte('[')
		for i := range r.IntN(4) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(randomJSON(r, depth+1))
		}
		b.WriteByte(']')
		return b.String()
	case k < 6:
		return randStrings[r.IntN(len(randStrings))]
	case k < 8:
		return randNumbers[r.IntN(len(randNumbers))]
	case k < 9:
		return []string{"true", "false"}[r.IntN(2)]
	}
	return "null"
}

// FuzzFastCheck runs arbitrary records against the fastSchemas through
// both paths.
func FuzzFastCheck(f *testing.F) {
	f.Add(uint8(0), []byte(benchRecord))
	f.Add(uint8(2), []byte(`{"a":5,"b":"xy","c":"x","d":"k","e":9.99,"f":"2024-01-31"}`))
	f.Add(uint8(3), []byte(`{"a":1,"b":null,"c":"ab","d":2,"e":1,"f":10}`))
	f.Add(uint8(4), []byte(`{"a":"abc","b":["abc"],"c":"2024-05-01T12:00:00Z"}`))
	d := fastDecoder()
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		if len(payload) == 0 {
			return
		}
		compareFast(t, d, 1+int(which)%len(fastSchemas), payload)
	})
}

// TestHasControl compares hasControl, which reads eight bytes at a time,
// with a byte loop: every byte value at every position of short inputs,
// then random ones.
func TestHasControl(t *testing.T) {
	naive := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 {
				return true
			}
		}
		return false
	}
	for n := 1; n <= 17; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				for _, fill := range []byte{' ', 0x21, 0x7f, 0x80, 0xff} {
					b := bytes.Repeat([]byte{fill}, n)
					b[pos] = byte(c)
					if got, want := hasControl(b), naive(b); got != want {
						t.Fatalf("hasControl(%q) = %v, want %v", b, got, want)
					}
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(0x1c + r.IntN(8)) // around 0x20
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			}
		}
		if got, want := hasControl(b), naive(b); got != want {
			t.Fatalf("hasControl(%q) = %v, want %v", b, got, want)
		}
	}
}
