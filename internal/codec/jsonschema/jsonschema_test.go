package jsonschema

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeRegistry is a map-backed registry.Source counting its calls.
type fakeRegistry struct {
	mu       sync.Mutex
	byID     map[int]*registry.Schema
	byRef    map[string]*registry.Schema // "subject/version"
	err      error                       // returned by every call when set
	idCalls  map[int]int
	refCalls atomic.Int64
}

func newFake() *fakeRegistry {
	return &fakeRegistry{byID: map[int]*registry.Schema{}, byRef: map[string]*registry.Schema{}, idCalls: map[int]int{}}
}

// add registers a JSON schema under id and, when subject is not empty, as
// version 1 of subject.
func (f *fakeRegistry) add(id int, subject, text string, refs ...registry.Reference) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &registry.Schema{ID: id, Type: registry.TypeJSON, Schema: text, References: refs}
	f.byID[id] = s
	if subject != "" {
		f.byRef[subject+"/1"] = s
	}
}

func (f *fakeRegistry) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeRegistry) calls(id int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.idCalls[id]
}

func (f *fakeRegistry) SchemaByID(ctx context.Context, id int) (*registry.Schema, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.idCalls[id]++
	if f.err != nil {
		return nil, f.err
	}
	s, ok := f.byID[id]
	if !ok {
		return nil, &registry.NotFoundError{What: fmt.Sprintf("schema id %d", id)}
	}
	return s, nil
}

func (f *fakeRegistry) SchemaByReference(ctx context.Context, ref registry.Reference) (*registry.Schema, error) {
	f.refCalls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	s, ok := f.byRef[fmt.Sprintf("%s/%d", ref.Subject, ref.Version)]
	if !ok {
		return nil, &registry.NotFoundError{What: fmt.Sprintf("subject %s version %d", ref.Subject, ref.Version)}
	}
	return s, nil
}

func wire(id int, payload string) []byte {
	return append(codec.AppendWire(nil, id), payload...)
}

// decodeText decodes and returns the value as compact JSON text.
func decodeText(t *testing.T, d *Decoder, data []byte) (string, *codec.Type, error) {
	t.Helper()
	var a fastjson.Arena
	v, typ, err := d.Decode(context.Background(), data, &a)
	// DecodeParsed must give the same value, type and error.
	var p fastjson.Parser
	pv, ptyp, perr := d.DecodeParsed(context.Background(), data, &p)
	if (err == nil) != (perr == nil) || err != nil && err.Error() != perr.Error() {
		t.Fatalf("Decode err = %v, DecodeParsed err = %v", err, perr)
	}
	if err != nil {
		return "", nil, err
	}
	if ptyp != typ || string(pv.MarshalTo(nil)) != string(v.MarshalTo(nil)) {
		t.Fatalf("Decode %s, DecodeParsed %s", v.MarshalTo(nil), pv.MarshalTo(nil))
	}
	return string(v.MarshalTo(nil)), typ, nil
}

const orderSchema = `{
  "type": "object",
  "properties": {
    "id": {"type": "integer"},
    "price": {"type": "number", "minimum": 0},
    "status": {"enum": ["NEW", "PAID"]},
    "ts": {"type": ["string", "null"], "format": "date-time"},
    "customer": {
      "type": "object",
      "properties": {"email": {"type": "string", "maxLength": 5}},
      "required": ["email"]
    },
    "lines": {
      "type": "array",
      "items": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}}
    },
    "note": {"type": "string"},
    "meta": {}
  },
  "required": ["id"],
  "additionalProperties": false
}`

func TestDecodeValues(t *testing.T) {
	reg := newFake()
	reg.add(7, "", orderSchema)
	d := New(reg)
	tests := []struct {
		name, payload, want string
	}{
		{"minimal", `{"id":1}`, `{"id":1}`},
		{"whitespace and order kept", ` { "price" : 1.50 , "id" : 2 } `, `{"price":1.50,"id":2}`},
		{"exact numbers", `{"id":12345678901234567890123,"price":0.10000000000000000000001}`,
			`{"id":12345678901234567890123,"price":0.10000000000000000000001}`},
		{"exponent kept as text", `{"id":1,"price":1E+400}`, `{"id":1,"price":1E+400}`},
		{"largest exponent", `{"id":1e1000,"price":1e-1000}`, `{"id":1e1000,"price":1e-1000}`},
		{"integer written as 1.0", `{"id":1.0}`, `{"id":1.0}`},
		{"date-time left as written", `{"id":1,"ts":"2024-05-01T14:00:00.123+02:00"}`, `{"id":1,"ts":"2024-05-01T14:00:00.123+02:00"}`},
		{"null allowed", `{"id":1,"ts":null}`, `{"id":1,"ts":null}`},
		{"escapes", `{"id":1,"note":"a\"b\\c\u00e9\n\/"}`, `{"id":1,"note":"a\"b\\cé\n/"}`},
		{"nested", `{"id":1,"customer":{"email":"a@b"},"lines":[{"qty":1},{"qty":2}],"status":"PAID"}`,
			`{"id":1,"customer":{"email":"a@b"},"lines":[{"qty":1},{"qty":2}],"status":"PAID"}`},
		{"free-form", `{"id":1,"meta":{"x":[true,false,null,{}],"y":-0.5e-3}}`, `{"id":1,"meta":{"x":[true,false,null,{}],"y":-0.5e-3}}`},
		{"non-ASCII", `{"id":1,"note":"日本語 ✓"}`, `{"id":1,"note":"日本語 ✓"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, typ, err := decodeText(t, d, wire(7, tt.payload))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got != tt.want {
				t.Errorf("value\n got %s\nwant %s", got, tt.want)
			}
			if typ == nil || typ.Kind != codec.KindRecord {
				t.Errorf("type = %+v, want a record", typ)
			}
		})
	}
}

// TestDecodeValueAccess reads decoded values the way package coerce does,
// after more records have been decoded (reusing pooled parsers), for each
// way a value is held: copied into the arena, or kept in its parser (many
// keys; strings an arena would alter).
func TestDecodeValueAccess(t *testing.T) {
	reg := newFake()
	reg.add(7, "", orderSchema)
	reg.add(9, "", `{"type": "object"}`)
	many := map[string]string{}
	var sb strings.Builder
	sb.WriteString(`{"a":"first"`)
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&sb, `,"k%d":%d.5`, i, i)
		many[fmt.Sprintf("k%d", i)] = fmt.Sprintf("%d.5", i)
	}
	sb.WriteString(`}`)
	tests := []struct {
		name    string
		id      int
		payload string
		strings map[string]string // field → string value
		numbers map[string]string // field → number text
	}{
		{"arena", 7, `{"id":9007199254740993,"note":"a\"b\\c\u00e9\t","price":3.14,"meta":{"x":"y"}}`,
			map[string]string{"note": "a\"b\\c\u00e9\t"}, map[string]string{"id": "9007199254740993", "price": "3.14"}},
		{"control character", 7, `{"id":1,"note":"x\u0001y\u007f\"","price":0.1}`,
			map[string]string{"note": "x\x01y\x7f\""}, map[string]string{"price": "0.1"}},
		{"non-printable beyond the BMP", 7, `{"id":1,"note":"\udb40\udc01\""}`,
			map[string]string{"note": "\U000E0001\""}, nil},
		{"many keys", 9, sb.String(), map[string]string{"a": "first"}, many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(reg)
			var a, other fastjson.Arena
			v, _, err := d.Decode(context.Background(), wire(tt.id, tt.payload), &a)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				other.Reset()
				if _, _, err := d.Decode(context.Background(), wire(7, `{"id":1,"note":"zzzzzzzzzzzzzzzzzzzzzz","price":0}`), &other); err != nil {
					t.Fatal(err)
				}
			}
			for k, want := range tt.strings {
				if got := string(v.GetStringBytes(k)); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			for k, want := range tt.numbers {
				if got := string(v.Get(k).MarshalTo(nil)); got != want {
					t.Errorf("%s = %s, want %s", k, got, want)
				}
			}
		})
	}
}

func TestArenaSafe(t *testing.T) {
	var a fastjson.Arena
	for _, s := range []string{"", "plain", "tab\there", "quote\"", "back\\slash", "é日本✓😀", "\x7f", "\x7f\"",
		"\x01", "\a\"", "\U000E0001", "\U000E0001\\", "\u2028\"", "\U0010FFFF\"", "\U0001F600\""} {
		got := string(a.NewString(s).GetStringBytes())
		if arenaSafe([]byte(s)) && got != s {
			t.Errorf("arenaSafe(%q) = true, but the arena turns it into %q", s, got)
		}
	}
	for _, s := range []string{"\x01", "\x7f\"", "\U000E0001\\"} {
		if arenaSafe([]byte(s)) {
			t.Errorf("arenaSafe(%q) = true, want false", s)
		}
	}
}

func TestValidationErrors(t *testing.T) {
	reg := newFake()
	reg.add(7, "", orderSchema)
	reg.add(8, "", `{"$schema": "https://json-schema.org/draft/2020-12/schema",
		"type": "object", "properties": {"ts": {"type": "string", "format": "date-time"},
		"day": {"type": "string", "format": "date"}, "at": {"type": "string", "format": "time"},
		"uid": {"type": "string", "format": "uuid"}, "mail": {"type": "string", "format": "email"},
		"opt": {"oneOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]}}}`)
	d := New(reg)
	long := strings.Repeat("x", 100)
	tests := []struct {
		name    string
		id      int
		payload string
		want    string
	}{
		{"missing required", 7, `{}`, `schema id 7: /id: required: missing`},
		{"wrong type", 7, `{"id":"1"}`, `schema id 7: /id: type: got string, want integer`},
		{"not an integer", 7, `{"id":1.5}`, `schema id 7: /id: type: got number, want integer`},
		{"minimum", 7, `{"id":1,"price":-1}`, `schema id 7: /price: minimum: got -1, want >= 0`},
		{"enum", 7, `{"id":1,"status":"OLD"}`, `schema id 7: /status: enum: got "OLD", want one of "NEW", "PAID"`},
		{"format date-time", 7, `{"id":1,"ts":"yesterday"}`, `schema id 7: /ts: format: got "yesterday", want date-time`},
		{"nested required", 7, `{"id":1,"customer":{}}`, `schema id 7: /customer/email: required: missing`},
		{"maxLength", 7, `{"id":1,"customer":{"email":"abcdef"}}`, `schema id 7: /customer/email: maxLength: got 6 characters, want <= 5`},
		{"array item", 7, `{"id":1,"lines":[{"qty":1},{"qty":0}]}`, `schema id 7: /lines/1/qty: minimum: got 0, want >= 1`},
		{"additional property", 7, `{"id":1,"zzz":2}`, `schema id 7: /: additionalProperties: unexpected property "zzz"`},
		{"long input cut", 7, `{"id":1,"status":"` + long + `"}`,
			`schema id 7: /status: enum: got "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"…, want one of "NEW", "PAID"`},
		{"not an object", 7, `[1]`, `schema id 7: /: type: got array, want object`},
		{"2020-12 date-time asserted", 8, `{"ts":"yesterday"}`, `schema id 8: /ts: format: got "yesterday", want date-time`},
		{"2020-12 date asserted", 8, `{"day":"2024-02-30"}`, `schema id 8: /day: format: got "2024-02-30", want date`},
		{"2020-12 time asserted", 8, `{"at":"25:00:00Z"}`, `schema id 8: /at: format: got "25:00:00Z", want time`},
		{"2020-12 uuid asserted", 8, `{"uid":"not-a-uuid"}`, `schema id 8: /uid: format: got "not-a-uuid", want uuid`},
		{"nullable oneOf reports the matching type", 8, `{"opt":"soon"}`, `schema id 8: /opt: format: got "soon", want date-time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeText(t, d, wire(tt.id, tt.payload))
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want *codec.DecodeError", err, err)
			}
			if de.Reason != tt.want {
				t.Errorf("reason\n got %s\nwant %s", de.Reason, tt.want)
			}
			if len(de.Reason) > 200 {
				t.Errorf("reason is %d bytes, want at most 200", len(de.Reason))
			}
		})
	}

	// Other formats are annotations in 2020-12, as that draft says.
	if _, _, err := decodeText(t, d, wire(8, `{"mail":"not an email","opt":null}`)); err != nil {
		t.Errorf("2020-12 email format: %v, want no assertion", err)
	}
}

func TestInvalidPayload(t *testing.T) {
	reg := newFake()
	reg.add(7, "", orderSchema)
	d := New(reg)
	tests := []struct {
		name    string
		payload string
		want    string // a substring of the reason
	}{
		{"empty", ``, "schema id 7: payload is empty"},
		{"truncated", `{"id":1`, "schema id 7: payload is not valid JSON: unexpected end of JSON input"},
		{"garbage", `{"id":1}x`, "schema id 7: payload is not valid JSON: invalid character 'x' after top-level value at byte 9"},
		{"NaN", `{"id":1,"price":NaN}`, "schema id 7: payload is not valid JSON"},
		{"leading zero", `{"id":01}`, "schema id 7: payload is not valid JSON"},
		{"bad escape", `{"id":1,"note":"\x"}`, "schema id 7: payload is not valid JSON"},
		{"control character", "{\"id\":1,\"note\":\"a\tb\"}", "schema id 7: payload is not valid JSON"},
		{"control character before an escape", "{\"id\":1,\"note\":\"\x11\\n\"}", "schema id 7: payload is not valid JSON: invalid character '\\x11' in string literal at byte 17"},
		{"control character in a key", "{\"i\x01\\n\":1}", "schema id 7: payload is not valid JSON: invalid character '\\x01' in string literal"},
		{"trailing comma", `{"id":1,}`, "schema id 7: payload is not valid JSON"},
		// Numbers fastjson's parser takes and JSON does not, where the
		// schema constrains them and where nothing does (the fast check's
		// walk must catch them without the validator's pass).
		{"NaN in an array", `{"id":1,"lines":[{"qty":nan}]}`, "schema id 7: payload is not valid JSON"},
		{"Inf", `{"id":1,"price":-Inf}`, "schema id 7: payload is not valid JSON"},
		{"plus sign", `{"id":+1}`, "schema id 7: payload is not valid JSON"},
		{"trailing dot", `{"id":1,"price":1.}`, "schema id 7: payload is not valid JSON"},
		{"leading dot", `{"id":1,"price":.5}`, "schema id 7: payload is not valid JSON"},
		{"dot before exponent", `{"id":1,"price":1.e5}`, "schema id 7: payload is not valid JSON"},
		{"empty exponent", `{"id":1,"price":1e+}`, "schema id 7: payload is not valid JSON"},
		{"minus alone", `{"id":1,"price":-}`, "schema id 7: payload is not valid JSON"},
		{"minus inside", `{"id":1,"price":1-2}`, "schema id 7: payload is not valid JSON"},
		{"double zero", `{"id":-00}`, "schema id 7: payload is not valid JSON"},
		{"unconstrained leading zero", `{"id":1,"meta":{"x":[1,2,03]}}`, "schema id 7: payload is not valid JSON"},
		{"unconstrained NaN", `{"id":1,"meta":NaN}`, "schema id 7: payload is not valid JSON"},
		{"bad escape in a key", `{"id":1,"\q":1}`, "schema id 7: payload is not valid JSON"},
		{"invalid UTF-8", "{\"id\":1,\"note\":\"\xff\"}", "schema id 7: payload is not valid UTF-8"},
		{"too deep", strings.Repeat("[", 400) + strings.Repeat("]", 400), "schema id 7: payload is not valid JSON: nested deeper than 300 levels"},
		{"huge exponent", `{"id":1,"price":1E01000010}`, `schema id 7: /price: number 1E01000010 has an exponent beyond ±1000`},
		{"long number", `{"id":1,"lines":[{"qty":1` + strings.Repeat("0", 1000) + `}]}`, `schema id 7: /lines/0/qty: number of 1001 characters, want at most 1000`},
		{"duplicate key", `{"id":1,"customer":{"email":"a","email":"b"}}`, `schema id 7: /customer: duplicate key "email"`},
		{"duplicate key in array", `{"id":1,"lines":[{},{"qty":1,"qty":2}]}`, `schema id 7: /lines/1: duplicate key "qty"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeText(t, d, wire(7, tt.payload))
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want *codec.DecodeError", err, err)
			}
			if !strings.HasPrefix(de.Reason, tt.want) {
				t.Errorf("reason\n got %s\nwant prefix %s", de.Reason, tt.want)
			}
			if len(de.Reason) > 200 {
				t.Errorf("reason is %d bytes, want at most 200", len(de.Reason))
			}
		})
	}
}

func TestWireErrors(t *testing.T) {
	reg := newFake()
	reg.add(7, "", orderSchema)
	d := New(reg)
	for _, data := range [][]byte{{1, 0, 0, 0, 7, '{', '}'}, {0, 0, 0}} {
		_, _, err := decodeText(t, d, data)
		if !codec.IsDecodeError(err) {
			t.Errorf("Decode(% x) err = %v, want a DecodeError", data, err)
		}
	}
	if n := reg.calls(7); n != 0 {
		t.Errorf("registry asked %d times for a record without a valid header", n)
	}
}

func TestRegistryErrors(t *testing.T) {
	ctx := context.Background()
	var a fastjson.Arena

	t.Run("unknown id", func(t *testing.T) {
		_, _, err := New(newFake()).Decode(ctx, wire(99, `{}`), &a)
		var de *codec.DecodeError
		if !errors.As(err, &de) || de.Reason != "schema id 99: schema registry has no schema id 99" {
			t.Fatalf("err = %v, want DecodeError for schema id 99", err)
		}
	})

	t.Run("unavailable is wrapped, not a DecodeError, and not cached", func(t *testing.T) {
		reg := newFake()
		reg.add(7, "", orderSchema)
		unavailable := &registry.UnavailableError{URL: "http://sr:8081", Err: errors.New("connection refused")}
		reg.setErr(unavailable)
		d := New(reg)
		_, _, err := d.Decode(ctx, wire(7, `{"id":1}`), &a)
		if codec.IsDecodeError(err) {
			t.Fatalf("err = %v is a DecodeError, want a transient error", err)
		}
		var ue *registry.UnavailableError
		if !errors.As(err, &ue) || ue != unavailable {
			t.Fatalf("err = %v, want it to wrap the UnavailableError", err)
		}
		reg.setErr(nil)
		if _, _, err := d.Decode(ctx, wire(7, `{"id":1}`), &a); err != nil {
			t.Fatalf("after the registry came back: %v", err)
		}
		if n := reg.calls(7); n != 2 {
			t.Errorf("SchemaByID called %d times, want 2 (failure not cached)", n)
		}
	})

	t.Run("request error is wrapped", func(t *testing.T) {
		reg := newFake()
		reg.add(7, "", orderSchema)
		reg.setErr(&registry.RequestError{URL: "http://sr", Status: 401, Msg: "unauthorized"})
		_, _, err := New(reg).Decode(ctx, wire(7, `{"id":1}`), &a)
		var re *registry.RequestError
		if codec.IsDecodeError(err) || !errors.As(err, &re) {
			t.Fatalf("err = %v, want a wrapped RequestError", err)
		}
	})

	tests := []struct {
		name   string
		schema *registry.Schema
		want   string
	}{
		{"not JSON Schema", &registry.Schema{Type: registry.TypeAvro, Schema: `"string"`},
			"schema id 5 is a AVRO schema, not JSON Schema"},
		{"schema text not JSON", &registry.Schema{Type: registry.TypeJSON, Schema: `{"type":`},
			"schema id 5: schema is not valid JSON"},
		{"schema does not compile", &registry.Schema{Type: registry.TypeJSON, Schema: `{"type": "no-such-type"}`},
			"schema id 5 does not compile: "},
		{"bad regex", &registry.Schema{Type: registry.TypeJSON, Schema: `{"pattern": "("}`},
			"schema id 5 does not compile: "},
		{"remote $ref is never fetched", &registry.Schema{Type: registry.TypeJSON, Schema: `{"$ref": "https://example.com/x.json"}`},
			"schema id 5 does not compile: "},
		{"file $ref is never read", &registry.Schema{Type: registry.TypeJSON, Schema: `{"$ref": "file:///etc/passwd"}`},
			"schema id 5 does not compile: "},
		{"unknown metaschema", &registry.Schema{Type: registry.TypeJSON, Schema: `{"$schema": "https://example.com/meta"}`},
			"schema id 5 does not compile: "},
		{"reference not registered", &registry.Schema{Type: registry.TypeJSON, Schema: `{"$ref": "c.json"}`,
			References: []registry.Reference{{Name: "c.json", Subject: "missing", Version: 3}}},
			`schema id 5: reference "c.json" (subject missing version 3): schema registry has no subject missing version 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newFake()
			tt.schema.ID = 5
			reg.byID[5] = tt.schema
			_, _, err := New(reg).Decode(ctx, wire(5, `{}`), &a)
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want a DecodeError", err, err)
			}
			if !strings.HasPrefix(de.Reason, tt.want) || len(de.Reason) > 200 {
				t.Errorf("reason\n got %s\nwant prefix %s (at most 200 bytes)", de.Reason, tt.want)
			}
		})
	}
}

func TestCompileOncePerID(t *testing.T) {
	reg := newFake()
	ids := []int{1, 2, 3, 4}
	for _, id := range ids {
		reg.add(id, "", orderSchema)
	}
	d := New(reg)
	types := make([][]*codec.Type, len(ids))
	for i := range types {
		types[i] = make([]*codec.Type, 64)
	}
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var a fastjson.Arena
			for i, id := range ids {
				for r := 0; r < 20; r++ {
					a.Reset()
					_, typ, err := d.Decode(context.Background(), wire(id, `{"id":1,"lines":[{"qty":3}]}`), &a)
					if err != nil {
						t.Error(err)
						return
					}
					types[i][g] = typ
				}
			}
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if n := reg.calls(id); n != 1 {
			t.Errorf("SchemaByID(%d) called %d times, want 1", id, n)
		}
		for g := range types[i] {
			if types[i][g] != types[i][0] || types[i][g] == nil {
				t.Fatalf("schema id %d: goroutine %d got type %p, goroutine 0 got %p", id, g, types[i][g], types[i][0])
			}
		}
	}
	if types[0][0] == types[1][0] {
		t.Errorf("two schema ids share one *codec.Type")
	}
}

const richSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Order",
  "type": "object",
  "properties": {
    "id": {"type": "integer"},
    "qty": {"type": "integer", "connect.type": "int16"},
    "price": {"type": "number", "minimum": 0},
    "ratio": {"type": "number", "connect.type": "float64"},
    "paid": {"type": "boolean", "default": false},
    "note": {"type": ["string", "null"], "maxLength": 200},
    "code": {"type": "string", "maxLength": 8},
    "created": {"type": "string", "format": "date-time"},
    "day": {"type": "string", "format": "date"},
    "at": {"type": "string", "format": "time"},
    "uid": {"type": "string", "format": "uuid"},
    "blob": {"type": "string", "contentEncoding": "base64"},
    "status": {"enum": ["NEW", "PAID"]},
    "shipping": {"$ref": "#/definitions/Address"},
    "billing": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/Address"}]},
    "customer": {"$ref": "customer.schema.json"},
    "lines": {"type": "array", "items": {"$ref": "#/definitions/Line"}},
    "tags": {"type": "array", "items": {"type": "string"}},
    "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
    "list": {"type": "array"},
    "attrs": {"type": "object", "additionalProperties": {"type": "string"}},
    "extra": {"type": "object"},
    "any": {},
    "mixed": {"type": ["string", "integer"]},
    "amount": {"type": ["integer", "number", "null"]},
    "choice": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    "tree": {"$ref": "#/definitions/Node"},
    "audited": {"allOf": [{"$ref": "#/definitions/Line"}, {"properties": {"by": {"type": "string"}}, "required": ["by"]}]}
  },
  "required": ["id", "price", "created", "note", "lines"],
  "definitions": {
    "Address": {
      "type": "object",
      "properties": {"street": {"type": "string"}, "zip": {"type": "string", "maxLength": 10}},
      "required": ["zip"]
    },
    "Line": {
      "type": "object",
      "properties": {"sku": {"type": "string"}, "amount": {"type": "number"}},
      "required": ["sku", "amount"]
    },
    "Node": {
      "type": "object",
      "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}}
    }
  }
}`

const customerSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Customer",
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "since": {"type": "string", "format": "date"},
    "address": {"$ref": "address.schema.json#/$defs/Address"}
  },
  "required": ["name"]
}`

const addressSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$defs": {
    "Address": {
      "type": "object",
      "properties": {"city": {"type": "string"}, "country": {"type": "string", "maxLength": 2}},
      "required": ["country"]
    }
  }
}`

func richRegistry() *fakeRegistry {
	reg := newFake()
	reg.add(30, "address", addressSchema)
	reg.add(31, "customer", customerSchema, registry.Reference{Name: "address.schema.json", Subject: "address", Version: 1})
	reg.add(32, "", richSchema, registry.Reference{Name: "customer.schema.json", Subject: "customer", Version: 1})
	return reg
}

// renderType writes t as an indented tree for golden files.
func renderType(sb *strings.Builder, name string, t *codec.Type, f *codec.Field, indent int) {
	sb.WriteString(strings.Repeat("  ", indent))
	if name != "" {
		sb.WriteString(name + " ")
	}
	sb.WriteString(t.Kind.String())
	if t.Name != "" {
		sb.WriteString(" " + t.Name)
	}
	if t.MaxLength != 0 {
		fmt.Fprintf(sb, "(%d)", t.MaxLength)
	}
	if t.Kind == codec.KindDecimal {
		fmt.Fprintf(sb, "(%d,%d)", t.Precision, t.Scale)
	}
	if f != nil && f.Optional {
		sb.WriteString(" optional")
	}
	if f != nil && f.HasDefault {
		sb.WriteString(" default")
	}
	sb.WriteByte('\n')
	for i := range t.Fields {
		renderType(sb, t.Fields[i].Name, t.Fields[i].Type, &t.Fields[i], indent+1)
	}
	if t.Elem != nil {
		renderType(sb, "[elem]", t.Elem, nil, indent+1)
	}
}

func TestTypeGolden(t *testing.T) {
	reg := richRegistry()
	d := New(reg)
	_, typ, err := decodeText(t, d, wire(32, `{
		"id": 1, "price": 9.99, "created": "2024-05-01T12:00:00Z", "note": null, "lines": [{"sku": "a", "amount": 1}],
		"customer": {"name": "Ann", "since": "2020-01-31", "address": {"country": "NL"}},
		"audited": {"sku": "b", "amount": 2, "by": "me"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	renderType(&sb, "", typ, nil, 0)
	got := sb.String()
	golden := filepath.Join("testdata", "rich.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("type differs from %s (run with -update to accept):\n%s", golden, got)
	}

	// The same facts, asserted directly for the cases the mapping rests on.
	checks := []struct {
		path     string
		kind     codec.Kind
		optional bool
	}{
		{"id", codec.KindInt64, false},
		{"qty", codec.KindInt32, true},
		{"price", codec.KindDecimal, false},
		{"note", codec.KindString, true}, // required, but the type list has null
		{"created", codec.KindTimestamp, false},
		{"day", codec.KindDate, true},
		{"at", codec.KindTime, true},
		{"uid", codec.KindUUID, true},
		{"blob", codec.KindBytes, true},
		{"shipping.zip", codec.KindString, false},
		{"billing", codec.KindRecord, true},
		{"customer.name", codec.KindString, false},
		{"customer.address.country", codec.KindString, false},
		{"lines", codec.KindArray, false},
		{"pair", codec.KindArray, true},
		{"attrs", codec.KindMap, true},
		{"extra", codec.KindJSON, true},
		{"mixed", codec.KindJSON, true},
		{"choice", codec.KindJSON, true},
		{"audited.by", codec.KindString, false},
	}
	for _, c := range checks {
		cur := typ
		var f *codec.Field
		for _, name := range strings.Split(c.path, ".") {
			if f = cur.Field(name); f == nil {
				t.Fatalf("%s: no field %q", c.path, name)
			}
			cur = f.Type
		}
		if f.Type.Kind != c.kind || f.Optional != c.optional {
			t.Errorf("%s: kind %v optional %v, want %v %v", c.path, f.Type.Kind, f.Optional, c.kind, c.optional)
		}
	}
	if got := typ.Field("note").Type.MaxLength; got != 200 {
		t.Errorf("note MaxLength = %d, want 200", got)
	}
	if !typ.Field("paid").HasDefault {
		t.Errorf("paid: HasDefault false, want true")
	}
	if e := typ.Field("lines").Type.Elem; e.Kind != codec.KindRecord || e.Name != "Line" || len(e.Fields) != 2 {
		t.Errorf("lines elem = %+v, want record Line with 2 fields", e)
	}
	if e := typ.Field("pair").Type.Elem; e.Kind != codec.KindJSON {
		t.Errorf("tuple elem = %v, want json", e.Kind)
	}

	// A record of the referenced schema's types is validated by it too.
	_, _, err = decodeText(t, d, wire(32, `{"id": 1, "price": 1, "created": "2024-05-01T12:00:00Z", "note": null, "lines": [],
		"customer": {"name": "Ann", "address": {"country": "NLD"}}}`))
	if de := (*codec.DecodeError)(nil); !errors.As(err, &de) || de.Reason != "schema id 32: /customer/address/country: maxLength: got 3 characters, want <= 2" {
		t.Errorf("err = %v, want maxLength failure from the referenced schema", err)
	}
}

// TestReferenceResolution covers references named by absolute URL and
// relative to an "$id".
func TestReferenceResolution(t *testing.T) {
	reg := newFake()
	reg.add(40, "money", `{"type": "object", "properties": {"units": {"type": "integer"}}, "required": ["units"]}`)
	reg.add(41, "", `{"$id": "https://example.com/schemas/order.json", "type": "object",
		"properties": {"total": {"$ref": "money.json"}, "tax": {"$ref": "https://example.com/schemas/money.json"}}}`,
		registry.Reference{Name: "money.json", Subject: "money", Version: 1})
	reg.add(42, "", `{"type": "object", "properties": {"total": {"$ref": "https://example.com/money.json"}}}`,
		registry.Reference{Name: "https://example.com/money.json", Subject: "money", Version: 1})
	reg.add(43, "", `{"type": "object", "properties": {"total": {"$ref": "money.json"}, "tax": {"$ref": "./money.json"}}}`,
		registry.Reference{Name: "money.json", Subject: "money", Version: 1},
		registry.Reference{Name: "./money.json", Subject: "money", Version: 1})
	d := New(reg)
	before := reg.refCalls.Load()
	if _, typ, err := decodeText(t, d, wire(43, `{"total": {"units": 1}, "tax": {"units": 2}}`)); err != nil {
		t.Fatalf("schema id 43: %v", err)
	} else if f := typ.Field("tax"); f == nil || f.Type.Kind != codec.KindRecord {
		t.Errorf("schema id 43: tax = %+v, want the referenced record", f)
	}
	if n := reg.refCalls.Load() - before; n != 1 {
		t.Errorf("one subject version under two names fetched %d times, want 1", n)
	}
	for _, id := range []int{41, 42} {
		_, typ, err := decodeText(t, d, wire(id, `{"total": {"units": 3}}`))
		if err != nil {
			t.Fatalf("schema id %d: %v", id, err)
		}
		if f := typ.Field("total"); f == nil || f.Type.Kind != codec.KindRecord || f.Type.Field("units") == nil {
			t.Errorf("schema id %d: total = %+v, want the referenced record", id, f)
		}
		_, _, err = decodeText(t, d, wire(id, `{"total": {}}`))
		if !codec.IsDecodeError(err) || !strings.Contains(err.Error(), "/total/units: required: missing") {
			t.Errorf("schema id %d: err = %v, want the reference's required check", id, err)
		}
	}
}

func TestDrafts(t *testing.T) {
	tests := []struct {
		name, schema, valid, invalid string
	}{
		{"draft 4 boolean exclusiveMinimum",
			`{"$schema": "http://json-schema.org/draft-04/schema#", "properties": {"n": {"type": "number", "minimum": 0, "exclusiveMinimum": true}}}`,
			`{"n": 1}`, `{"n": 0}`},
		{"draft 6 numeric exclusiveMinimum",
			`{"$schema": "http://json-schema.org/draft-06/schema#", "properties": {"n": {"type": "number", "exclusiveMinimum": 0}}}`,
			`{"n": 1}`, `{"n": 0}`},
		{"draft 7 default: siblings of $ref ignored",
			`{"definitions": {"s": {"type": "string"}}, "properties": {"n": {"$ref": "#/definitions/s", "maxLength": 1}}}`,
			`{"n": "long"}`, `{"n": 1}`},
		{"draft 7 default asserts email",
			`{"properties": {"m": {"type": "string", "format": "email"}}}`,
			`{"m": "a@example.com"}`, `{"m": "nope"}`},
		{"2019-09 $ref with siblings",
			`{"$schema": "https://json-schema.org/draft/2019-09/schema", "$defs": {"s": {"type": "string"}}, "properties": {"n": {"$ref": "#/$defs/s", "maxLength": 1}}}`,
			`{"n": "a"}`, `{"n": "long"}`},
		{"2020-12 prefixItems",
			`{"$schema": "https://json-schema.org/draft/2020-12/schema", "properties": {"p": {"prefixItems": [{"type": "string"}], "items": false}}}`,
			`{"p": ["a"]}`, `{"p": ["a", 1]}`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newFake()
			reg.add(i+1, "", tt.schema)
			d := New(reg)
			if _, _, err := decodeText(t, d, wire(i+1, tt.valid)); err != nil {
				t.Errorf("valid record: %v", err)
			}
			if _, _, err := decodeText(t, d, wire(i+1, tt.invalid)); !codec.IsDecodeError(err) {
				t.Errorf("invalid record: err = %v, want a DecodeError", err)
			}
		})
	}
}

func TestTypeDerivationEdgeCases(t *testing.T) {
	tests := []struct {
		name, schema, want string
	}{
		{"non-object root", `{"type": "string", "maxLength": 3}`, "string(3)\n"},
		{"empty schema", `{}`, "json\n"},
		{"boolean schema", `true`, "json\n"},
		{"recursive root", `{"type": "object", "properties": {"next": {"$ref": "#"}}}`, "record\n  next json optional\n"},
		{"unresolvable anchor", `{"properties": {"a": {"$ref": "#foo"}}, "$defs": {"x": {"$anchor": "foo", "type": "string"}}}`,
			"record\n  a json optional\n"},
		{"escaped pointer", `{"properties": {"a": {"$ref": "#/definitions/a~1b%25"}}, "definitions": {"a/b%": {"type": "boolean"}}}`,
			"record\n  a boolean optional\n"},
		{"map of records", `{"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "integer"}}}}`,
			"map\n  [elem] record\n    v int64 optional\n"},
		{"numeric enum", `{"properties": {"e": {"enum": [1, 2.5, null]}}, "required": ["e"]}`, "record\n  e decimal(0,0) optional\n"},
		{"const string", `{"properties": {"c": {"const": "x"}}}`, "record\n  c string optional\n"},
		{"allOf string family", `{"properties": {"t": {"allOf": [{"type": "string"}, {"format": "date-time"}]}}}`,
			"record\n  t string optional\n"},
		{"allOf narrows maxLength", `{"properties": {"t": {"type": "string", "maxLength": 9, "allOf": [{"maxLength": 4}]}}}`,
			"record\n  t string(9) optional\n"},
		{"null only", `{"properties": {"n": {"type": "null"}}}`, "record\n  n json optional\n"},
		{"anyOf null and integer", `{"properties": {"n": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}, "required": ["n"]}`,
			"record\n  n int64 optional\n"},
		{"integer and number", `{"properties": {"n": {"allOf": [{"type": "number"}, {"type": "integer"}]}}}`,
			"record\n  n int64 optional\n"},
		{"default through $ref", `{"properties": {"n": {"$ref": "#/$defs/d"}}, "$defs": {"d": {"type": "integer", "default": 3}}}`,
			"record\n  n int64 optional default\n"},
		{"deep nesting bounded", strings.Repeat(`{"properties": {"a": `, 100) + `{}` + strings.Repeat(`}}`, 100), ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newFake()
			reg.add(i+1, "", tt.schema)
			var a fastjson.Arena
			_, typ, err := New(reg).Decode(context.Background(), wire(i+1, `null`), &a)
			if err != nil && !codec.IsDecodeError(err) {
				t.Fatal(err)
			}
			if err != nil {
				// null is not valid for every schema: derive the type anyway.
				set := &schemaSet{id: i + 1}
				set.root, _ = parseDocument(i+1, "", tt.schema)
				set.root.url = baseURL
				typ, _ = deriveType(set)
			}
			var sb strings.Builder
			renderType(&sb, "", typ, nil, 0)
			if tt.want == "" {
				if n := strings.Count(sb.String(), "\n"); n > maxTypeDepth+2 {
					t.Errorf("type has %d levels, want at most %d", n, maxTypeDepth+2)
				}
				return
			}
			if sb.String() != tt.want {
				t.Errorf("type\n got %q\nwant %q", sb.String(), tt.want)
			}
		})
	}
}

// TestStrictNumber holds strictNumber to encoding/json on number texts
// fastjson's parser takes.
func TestStrictNumber(t *testing.T) {
	for _, s := range []string{
		"0", "-0", "7", "-7", "10", "1234567890", "0.5", "-0.0", "1.25", "0e0", "1E+2", "1e-2", "2.5E10", "-1.0e-0",
		"", "-", "+", "+1", "01", "-01", "00", "1.", ".5", "-.5", "1.e5", "1e", "1e+", "1E-", "e5", "1-2", "1+2",
		"--1", "1..2", "1e5.5", "NaN", "nan", "Inf", "-Inf", "+inf", "0x10", "1_000", "1ee5", "0.5.",
	} {
		if got, want := strictNumber([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("strictNumber(%q) = %v, encoding/json says %v", s, got, want)
		}
	}
}
