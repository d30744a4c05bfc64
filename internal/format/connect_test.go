package format

import (
	"context"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// unscaled encodes n as Connect does: big-endian two's complement, minimal.
func unscaled(n int64) string {
	b := big.NewInt(n)
	var raw []byte
	if n >= 0 {
		raw = b.Bytes()
		if len(raw) == 0 || raw[0]&0x80 != 0 {
			raw = append([]byte{0}, raw...)
		}
	} else {
		// two's complement in the fewest bytes
		for size := 1; ; size++ {
			lim := new(big.Int).Lsh(big.NewInt(1), uint(size*8-1))
			if b.Cmp(new(big.Int).Neg(lim)) >= 0 {
				v := new(big.Int).Add(b, new(big.Int).Lsh(big.NewInt(1), uint(size*8)))
				raw = v.FillBytes(make([]byte, size))
				break
			}
		}
	}
	return base64.StdEncoding.EncodeToString(raw)
}

func TestUnwrapConnect(t *testing.T) {
	schema := `{"type": "struct", "fields": [
		{"field": "price", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}},
		{"field": "tiny", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "5"}},
		{"field": "day", "type": "int32", "name": "org.apache.kafka.connect.data.Date"},
		{"field": "at", "type": "int32", "name": "org.apache.kafka.connect.data.Time"},
		{"field": "ts", "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"},
		{"field": "blob", "type": "bytes"},
		{"field": "inner", "type": "struct", "fields": [{"field": "d", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "1"}}]},
		{"field": "list", "type": "array", "items": {"type": "int32", "name": "org.apache.kafka.connect.data.Date"}}
	]}`
	payload := `{"price": "` + unscaled(12345) + `", "tiny": "` + unscaled(-42) + `", "day": 19723, "at": 45296789, "ts": 1700000000123,
		"blob": "AAE=", "inner": {"d": "` + unscaled(-5) + `"}, "list": [0, -1], "extra": "kept"}`
	var p fastjson.Parser
	v, err := p.Parse(`{"schema": ` + schema + `, "payload": ` + payload + `}`)
	if err != nil {
		t.Fatal(err)
	}
	var a fastjson.Arena
	out, err := unwrapConnect(v, &a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"price":123.45,"tiny":-0.00042,"day":"2024-01-01","at":"12:34:56.789","ts":1700000000123,"blob":"AAE=","inner":{"d":-0.5},"list":["1970-01-01","1969-12-31"],"extra":"kept"}`
	if got := out.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// A null payload is a tombstone.
	v, _ = p.Parse(`{"schema": {"type": "struct"}, "payload": null}`)
	if out, err := unwrapConnect(v, &a); err != nil || out != nil {
		t.Fatalf("null payload: %v %v", out, err)
	}
}

func TestUnwrapConnectErrors(t *testing.T) {
	dec := `{"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}`
	cases := []struct{ in, want string }{
		{`[1]`, "must be an object with schema and payload"},
		{`{"order_id": 1}`, "schemas.enable=false"},
		{`{"schema": ` + dec + `, "payload": 12}`, "Decimal must be a base64 string"},
		{`{"schema": ` + dec + `, "payload": "@@@"}`, "not valid base64"},
		{`{"schema": {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal"}, "payload": "AQ=="}`, "parameters.scale"},
		{`{"schema": {"type": "int32", "name": "org.apache.kafka.connect.data.Date"}, "payload": "x"}`, "Date must be a day count"},
		{`{"schema": {"type": "int32", "name": "org.apache.kafka.connect.data.Time"}, "payload": 99999999}`, "Time must be milliseconds of the day"},
		{`{"schema": {"type": "struct", "fields": []}, "payload": [1]}`, "schema says struct"},
		{`{"schema": ` + dec + `, "payload": "` + strings.Repeat("AAAA", 400) + `"}`, "Decimal of more than"},
	}
	var p fastjson.Parser
	var a fastjson.Arena
	for _, tc := range cases {
		v, err := p.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unwrapConnect(v, &a); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("unwrapConnect(%.60s) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

// Hostile input: no panic, and valid JSON in gives valid JSON out (fastjson's
// parser is more lenient than JSON, e.g. it takes 000; such input is only
// checked for panics).
func FuzzUnwrapConnect(f *testing.F) {
	f.Add(`{"schema": {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "3"}}, "payload": "/w=="}`)
	f.Add(`{"schema": {"type": "struct", "fields": [{"field": "a", "type": "array", "items": {"type": "int32", "name": "org.apache.kafka.connect.data.Date"}}]}, "payload": {"a": [1, 2]}}`)
	f.Add(`{"schema": {"type": "int32", "name": "org.apache.kafka.connect.data.Time"}, "payload": 1}`)
	f.Add(`{"schema": null, "payload": null}`)
	f.Fuzz(func(t *testing.T, in string) {
		var p fastjson.Parser
		v, err := p.Parse(in)
		if err != nil {
			return
		}
		strict := fastjson.Validate(in) == nil
		var a fastjson.Arena
		out, err := unwrapConnect(v, &a)
		if err != nil || out == nil || !strict {
			return
		}
		if err := fastjson.Validate(out.String()); err != nil {
			t.Fatalf("invalid JSON out of %q: %s", in, out.String())
		}
	})
}

// Debezium's io.debezium.data.Json: the string's JSON document is the value
// (it lands in a json/jsonb column as itself, not as a JSON string).
func TestDecodeConnectDebeziumJSON(t *testing.T) {
	schema := `{"type":"struct","fields":[{"field":"id","type":"int64"},` +
		`{"field":"doc","type":"string","optional":true,"name":"io.debezium.data.Json","version":1},` +
		`{"field":"docs","type":"array","items":{"type":"string","name":"io.debezium.data.Json"}},` +
		`{"field":"note","type":"string"}]}`
	var s Scratch
	s.WantTypes = true
	payload := `{"id":1,"doc":"{\"a\": [1, {\"b\": \"x\"}], \"n\": null}","docs":["1","\"s\"","[true]"],"note":"{\"not\": \"json here\"}"}`
	v, typ, err := Connect.Decode(t.Context(), []byte(`{"schema":`+schema+`,"payload":`+payload+`}`), &s, "value")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":1,"doc":{"a":[1,{"b":"x"}],"n":null},"docs":[1,"s",[true]],"note":"{\"not\": \"json here\"}"}`
	if got := v.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if typ == nil || typ.Field("doc") == nil || typ.Field("doc").Type.Kind != codec.KindJSON {
		t.Fatalf("doc's type: %+v, want json", typ)
	}
	// Null stays null; text that is not JSON is a decode error naming the field.
	v, _, err = Connect.Decode(t.Context(), []byte(`{"schema":`+schema+`,"payload":{"id":2,"doc":null}}`), &s, "value")
	if err != nil || v.String() != `{"id":2,"doc":null}` {
		t.Fatalf("null doc: %v %v", v, err)
	}
	_, _, err = Connect.Decode(t.Context(), []byte(`{"schema":`+schema+`,"payload":{"id":3,"doc":"{oops"}}`), &s, "value")
	var de *codec.DecodeError
	if !errors.As(err, &de) || !strings.Contains(de.Reason, "payload.doc: io.debezium.data.Json is not valid JSON") {
		t.Fatalf("invalid doc: %v", err)
	}
}

// The compiled schema is cached per schema text and gives what converting
// the parsed envelope gives, record after record, for several schemas.
func TestDecodeConnectCached(t *testing.T) {
	dec := func(field string, scale int) string {
		return `{"field":"` + field + `","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"` + string(rune('0'+scale)) + `"}}`
	}
	schemas := []string{
		`{"type":"struct","fields":[` + dec("p", 2) + `,{"field":"d","type":"int32","name":"org.apache.kafka.connect.data.Date"}]}`,
		`{"type":"struct","fields":[` + dec("p", 3) + `]}`,
		`{"type":"struct","fields":[{"field":"p","type":"string"}]}`,
	}
	payloads := []string{
		`{"p":"` + unscaled(12345) + `","d":1}`,
		`{"d":-1,"p":"` + unscaled(-7) + `","x":[1,2]}`,
		`{"p":"` + unscaled(1<<40) + `"}`,
		`{"p":"` + strings.Repeat("f", 0) + unscaled(-(1 << 62)) + `"}`,
		`null`,
	}
	var s Scratch
	var p fastjson.Parser
	var a fastjson.Arena
	for round := 0; round < 3; round++ {
		for _, sc := range schemas {
			for _, pl := range payloads {
				in := " { \"payload\" : " + pl + " ,\n\"schema\":" + sc + "} "
				s.Reset()
				got, _, err := Connect.Decode(t.Context(), []byte(in), &s, "value")
				v, perr := p.Parse(in)
				if perr != nil {
					t.Fatal(perr)
				}
				a.Reset()
				want, werr := unwrapConnect(v, &a)
				if (err == nil) != (werr == nil) {
					t.Fatalf("%s: Decode error %v, unwrapConnect error %v", in, err, werr)
				}
				if err == nil && (got == nil) != (want == nil) || got != nil && want != nil && got.String() != want.String() {
					t.Fatalf("%s:\n Decode        %s\n unwrapConnect %s", in, got, want)
				}
			}
		}
	}
	if len(s.connect) != len(schemas) {
		t.Fatalf("%d schemas cached, want %d", len(s.connect), len(schemas))
	}
}

func TestAppendDecimal(t *testing.T) {
	for _, tc := range []struct {
		n     string
		scale int
		want  string
	}{{"12345", 2, "123.45"}, {"-42", 5, "-0.00042"}, {"5", 1, "0.5"}, {"-5", 0, "-5"}, {"0", 3, "0.000"}, {"100", 2, "1.00"}} {
		if got := string(appendDecimal(nil, []byte(tc.n), tc.scale)); got != tc.want {
			t.Errorf("appendDecimal(%s, %d) = %s, want %s", tc.n, tc.scale, got, tc.want)
		}
	}
}

// The envelope scanner and the full parse agree: whatever Decode returns
// for valid input is what unwrapConnect returns for the parsed envelope.
func FuzzDecodeConnect(f *testing.F) {
	f.Add(`{"schema": {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "3"}}, "payload": "/w=="}`)
	f.Add(`{"payload": {"a": "[1]"}, "schema": {"type": "struct", "fields": [{"field": "a", "type": "string", "name": "io.debezium.data.Json"}]}}`)
	f.Add(`{"schema": null, "payload": {"x": "y\"}"}}`)
	f.Fuzz(func(t *testing.T, in string) {
		if fastjson.Validate(in) != nil {
			return
		}
		var s Scratch
		got, _, err := Connect.Decode(context.Background(), []byte(in), &s, "value")
		var p fastjson.Parser
		v, _ := p.Parse(in)
		var a fastjson.Arena
		want, werr := unwrapConnect(v, &a)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: Decode error %v, unwrapConnect error %v", in, err, werr)
		}
		if err == nil && (got == nil) != (want == nil) || got != nil && want != nil && got.String() != want.String() {
			t.Fatalf("%q:\n Decode        %v\n unwrapConnect %v", in, got, want)
		}
	})
}

// A key repeated in the payload is converted in each place (mapping by name
// then takes the last, as for any repeated field).
func TestDecodeConnectRepeatedKey(t *testing.T) {
	in := `{"schema":{"type":"struct","fields":[{"field":"p","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"1"}}]},` +
		`"payload":{"p":"` + unscaled(15) + `","p":"` + unscaled(-25) + `"}}`
	var s Scratch
	v, _, err := Connect.Decode(t.Context(), []byte(in), &s, "value")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.String(), `{"p":1.5,"p":-2.5}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// After a first envelope, one whose schema text is the same is recognised
// without scanning the schema (sameSchema); whatever the layout after it,
// Decode still returns what unwrapConnect returns for the parsed envelope,
// or fails where it fails.
func TestDecodeConnectSameSchema(t *testing.T) {
	const sc = `{"type":"struct","fields":[{"field":"p","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}},{"field":"s","type":"string"}]}`
	p1 := `{"p":"` + unscaled(12345) + `","s":"a}b"}`
	tests := []struct {
		in   string
		fast bool // sameSchema takes it (the payload may still fail to parse alone)
	}{
		{`{"schema":` + sc + `,"payload":` + p1 + `}`, true},
		{" {\n \"schema\" : " + sc + " ,\t\"payload\" :\r" + p1 + " } \n", true},
		{`{"schema":` + sc + `,"payload":null}`, true},
		{`{"schema":` + sc + `,"payload":{"p":"` + unscaled(-7) + `"}}`, true},
		// more keys after the payload, or the payload twice: the general
		// path takes the first payload and ignores the rest
		{`{"schema":` + sc + `,"payload":` + p1 + `,"x":{"y":[1]}}`, true},
		{`{"schema":` + sc + `,"payload":` + p1 + `,"payload":{"p":"AAE="}}`, true},
		// malformed: both fail
		{`{"schema":` + sc + `,"payload":` + p1, true},
		{`{"schema":` + sc + `,"payload":` + p1 + `}}`, true},
		{`{"schema":` + sc + `,"payload":` + p1 + `} x`, false},
		{`{"schema":` + sc + `,"payload":}`, true},
		{`{"schema":` + sc + `x,"payload":` + p1 + `}`, false},
		// other layouts and other schemas: the general path
		{`{"payload":` + p1 + `,"schema":` + sc + `}`, false},
		{`{"schema":` + sc[:len(sc)-1] + `,"optional":true},"payload":` + p1 + `}`, false},
		{`{"schema":{"type":"string"},"payload":"` + sc + `"}`, false},
		{`{"schema":` + sc + `,"payload":` + p1 + `}`, true},
	}
	var s Scratch
	prime := []byte(tests[0].in)
	if _, _, err := Connect.Decode(t.Context(), prime, &s, "value"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if _, ok := sameSchema([]byte(tt.in), sc); ok != tt.fast {
			t.Errorf("%s: sameSchema ok = %v, want %v", tt.in, ok, tt.fast)
		}
		// After a record of another schema as well as after one of this.
		for _, before := range [][]byte{prime, []byte(`{"schema":{"type":"string"},"payload":"x"}`)} {
			s.Reset()
			if _, _, err := Connect.Decode(t.Context(), before, &s, "value"); err != nil {
				t.Fatal(err)
			}
			s.Reset()
			got, _, err := Connect.Decode(t.Context(), []byte(tt.in), &s, "value")
			var p fastjson.Parser
			v, perr := p.Parse(tt.in)
			var want *fastjson.Value
			var werr error
			if perr != nil {
				werr = perr
			} else {
				var a fastjson.Arena
				want, werr = unwrapConnect(v, &a)
			}
			if (err == nil) != (werr == nil) {
				t.Fatalf("%s: Decode error %v, unwrapConnect error %v", tt.in, err, werr)
			}
			if err == nil && ((got == nil) != (want == nil) || got != nil && got.String() != want.String()) {
				t.Fatalf("%s:\n Decode        %s\n unwrapConnect %s", tt.in, got, want)
			}
		}
	}
}

// FuzzDecodeConnectSameSchema decodes after a first envelope of a known
// schema, so that the same-schema path is taken, and compares with a
// decoder that has seen nothing (the general path) on every input, valid
// JSON or not.
func FuzzDecodeConnectSameSchema(f *testing.F) {
	const sc = `{"type":"struct","fields":[{"field":"p","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"1"}}]}`
	f.Add(`{"schema":` + sc + `,"payload":{"p":"/w=="}}`)
	f.Add(`{"schema":` + sc + ` , "payload" : {"p":"AQ=="} , "z" : 1 }`)
	f.Add(`{"schema":` + sc + `,"payload":null}`)
	f.Add(`{"schema":` + sc + `,"payload":{"p":"AQ=="}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		var s Scratch
		if _, _, err := Connect.Decode(context.Background(), []byte(`{"schema":`+sc+`,"payload":{"p":"AA=="}}`), &s, "value"); err != nil {
			t.Fatal(err)
		}
		s.Reset()
		got, _, err := Connect.Decode(context.Background(), []byte(in), &s, "value")
		var fresh Scratch
		want, _, werr := Connect.Decode(context.Background(), []byte(in), &fresh, "value")
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: after a first envelope error %v, alone error %v", in, err, werr)
		}
		if err == nil && ((got == nil) != (want == nil) || got != nil && got.String() != want.String()) {
			t.Fatalf("%q:\n after a first envelope %v\n alone                  %v", in, got, want)
		}
	})
}

// connectTextSchema has a logical type of each kind, at the top and nested.
const connectTextSchema = `{"type":"struct","fields":[` +
	`{"field":"p","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}},` +
	`{"field":"d","type":"int32","name":"org.apache.kafka.connect.data.Date"},` +
	`{"field":"t","type":"int32","name":"org.apache.kafka.connect.data.Time"},` +
	`{"field":"ts","type":"int64","name":"org.apache.kafka.connect.data.Timestamp"},` +
	`{"field":"j","type":"string","name":"io.debezium.data.Json"},` +
	`{"field":"s","type":"struct","fields":[{"field":"q","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"0"}},{"field":"x","type":"string"}]},` +
	`{"field":"a","type":"array","items":{"type":"int32","name":"org.apache.kafka.connect.data.Date"}},` +
	`{"field":"n","type":"struct","fields":[{"field":"x","type":"string"}]},` +
	`{"field":"m","type":"array","items":{"type":"string"}}]}`

// checkConnectText decodes in both ways: when the text mode answers, Decode
// accepts the envelope and its value is the text's JSON.
func checkConnectText(t *testing.T, s *Scratch, in string) (took bool) {
	t.Helper()
	var buf []byte
	text, ok := Connect.JSONPayload([]byte(in), s, &buf)
	if !ok {
		return false
	}
	var p fastjson.Parser
	tv, perr := p.ParseBytes(text)
	if perr != nil {
		return false // the direct path checks every byte: it declines
	}
	var fresh Scratch
	want, _, err := Connect.Decode(context.Background(), []byte(in), &fresh, "value")
	if err != nil {
		t.Fatalf("%s: the text mode wrote %s, Decode said %v", in, text, err)
	}
	if want == nil || tv.String() != want.String() {
		t.Fatalf("%s:\n text   %s\n Decode %v", in, tv, want)
	}
	return true
}

// TestConnectText holds the text mode to Decode, and requires it to take
// the plain records of each logical type, first seen or not.
func TestConnectText(t *testing.T) {
	env := func(payload string) string { return `{"schema":` + connectTextSchema + `,"payload":` + payload + `}` }
	takes := []string{
		env(`{"p":"` + unscaled(12345) + `","d":19876,"t":3723004,"ts":1714557600000,"s":{"q":"` + unscaled(-7) + `","x":"y"},"a":[0,-1,null],"n":{"x":"z"},"m":["a"]}`),
		env(` { "p" : "` + unscaled(-5) + `" , "d" : null , "s" : { } , "a" : [ ] , "unknown" : [ 1 , { "k" : "v" } ] } `),
		env(`{"p":"` + unscaled(1<<40) + `","p":"` + unscaled(3) + `"}`),
		env(`{}`),
		`{"payload":{"d":1},"schema":` + connectTextSchema + `}`,
		`{"schema":{"type":"struct","fields":[{"field":"x","type":"string"}]},"payload":{"x":"plain"}}`,
	}
	declines := []string{
		env(`null`), env(`{"j":"{\"a\":1}"}`), env(`{"p":"AQ\u003d\u003d"}`), env(`{"p":"` + unscaled(1<<62) + `AAAA"}`),
		env(`{"p":12}`), env(`{"d":1.5}`), env(`{"d":1e3}`), env(`{"t":86400000}`), env(`{"t":-1}`), env(`{"ts":"1"}`),
		env(`{"s":[]}`), env(`{"n":1}`), env(`{"m":{}}`), env(`{"a":{}}`), env(`{"d":12345678901234567890}`),
		env(`{"p":"` + unscaled(1) + `"} x`), env(`{"p":"` + unscaled(1) + `"},"more":1`), env(`{"s\u0020":1}`),
		env(`[1]`), env(`{"p":"AQ==" "d":1}`), env(`{"d":nul}`),
	}
	for _, first := range []bool{true, false} {
		var s Scratch
		if !first {
			if _, _, err := Connect.Decode(context.Background(), []byte(env(`{}`)), &s, "value"); err != nil {
				t.Fatal(err)
			}
		}
		for _, in := range takes {
			if !checkConnectText(t, &s, in) {
				t.Errorf("the text mode declined %s", in)
			}
		}
		for _, in := range declines {
			if checkConnectText(t, &s, in) {
				t.Errorf("the text mode took %s", in)
			}
		}
	}
}

// FuzzConnectText holds the text mode to Decode on fuzzed payloads.
func FuzzConnectText(f *testing.F) {
	f.Add(`{"p":"AeJA","d":19876,"t":3723004,"ts":1714557600000,"s":{"q":"/w==","x":"y"},"a":[0,-1,null],"n":{"x":"z"},"m":["a"]}`)
	f.Add(`{"p":null,"j":null,"a":[1,2],"s":{"q":"AA==","q":"AQ=="}}`)
	f.Add(` { "t" : 0 , "x" : [ { } ] } `)
	f.Add(`{"a\\":1,"a":2,"\u00e9\"":3}`)
	f.Add(`{"a\"":1,"a":2}`)
	f.Fuzz(func(t *testing.T, payload string) {
		for _, sc := range []string{connectTextSchema, connectOddNames} {
			var s Scratch
			checkConnectText(t, &s, `{"schema":`+sc+`,"payload":`+payload+`}`)
			checkConnectText(t, &s, `{"schema":`+sc+`,"payload":`+payload+`}`)
		}
	})
}

// connectOddNames has field names that need escapes in JSON (a\, é"),
// which the text mode must never take for one another.
const connectOddNames = `{"type":"struct","fields":[` +
	`{"field":"a\\","type":"int32","name":"org.apache.kafka.connect.data.Date"},` +
	`{"field":"a","type":"int32","name":"org.apache.kafka.connect.data.Time"},` +
	`{"field":"\u00e9\"","type":"int32","name":"org.apache.kafka.connect.data.Date"},` +
	`{"field":"\"","type":"int32","name":"org.apache.kafka.connect.data.Time"}]}`
