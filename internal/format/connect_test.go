package format

import (
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
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
