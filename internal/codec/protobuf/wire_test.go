package protobuf

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/valyala/fastjson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kafka2pg/kafka2pg/internal/codec/codectest"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

// wireProto2 is proto2 without required fields, so that its records take
// the wire path: presence on every field, a closed enum, strings not
// checked for UTF-8, defaults.
const wireProto2 = `syntax = "proto2";
package legacy.wire;
enum Color { RED = 1; GREEN = 2; }
message Thing {
  optional string name = 1 [default = "anon"];
  optional Color color = 2;
  repeated int32 nums = 3;
  repeated int32 packed = 4 [packed = true];
  optional Thing next = 5;
  optional bytes data = 6;
}
`

const wireProto2ID = 50

// wireMessage returns the compiled message at path of schema id.
func wireMessage(t testing.TB, d *Decoder, id int, path ...int) *message {
	t.Helper()
	s, err := d.schema(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.message(path)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func wireDecoder() *Decoder {
	reg := newFakeRegistry()
	reg.byID[wireProto2ID] = &registry.Schema{ID: wireProto2ID, Type: registry.TypeProtobuf, Schema: wireProto2}
	return New(reg)
}

// checkWirePath decodes body both ways. When the wire path takes the
// record, the reflective path must succeed with the same JSON; when the
// text mode writes it (never when the wire path does not take it), the
// text must parse to the wire path's value. It reports whether the wire
// path and the text mode took it.
func checkWirePath(t testing.TB, msg *message, body []byte) (wire, text bool) {
	t.Helper()
	var a1, a2 fastjson.Arena
	wv, ok := msg.decodeWire(body, &a1)
	rv, err := msg.decodeReflect(0, body, &a2)
	prefix := []byte("prefix")
	tb, tok := msg.appendJSON(prefix, body)
	if !tok && len(tb) != len(prefix) {
		t.Fatalf("%s %x: the text mode declined and left %q", msg.desc.FullName(), body, tb)
	}
	if !ok {
		if tok {
			t.Fatalf("%s %x: the text mode wrote %s, the wire path declined", msg.desc.FullName(), body, tb)
		}
		return false, false
	}
	if err != nil {
		t.Fatalf("%s %x: the wire path decoded %s, the reflective path failed: %v", msg.desc.FullName(), body, wv.MarshalTo(nil), err)
	}
	got, want := string(wv.MarshalTo(nil)), string(rv.MarshalTo(nil))
	if got != want {
		t.Fatalf("%s %x:\nwire       %s\nreflective %s", msg.desc.FullName(), body, got, want)
	}
	if tok {
		if string(tb[:len(prefix)]) != string(prefix) {
			t.Fatalf("%s %x: the text mode did not append: %q", msg.desc.FullName(), body, tb)
		}
		if bad := codectest.WrittenJSON(tb[len(prefix):]); bad != "" {
			t.Fatalf("%s %x: the text mode wrote %q: %s", msg.desc.FullName(), body, tb[len(prefix):], bad)
		}
		tv, err := fastjson.ParseBytes(tb[len(prefix):])
		if err != nil {
			t.Fatalf("%s %x: the text mode wrote %s, which does not parse: %v", msg.desc.FullName(), body, tb[len(prefix):], err)
		}
		if !codectest.SameValue(tv, wv) {
			t.Fatalf("%s %x:\ntext %s\nwire %s", msg.desc.FullName(), body, tb[len(prefix):], got)
		}
	}
	return true, tok
}

// wireCase is a message body for the wire tests, and whether the wire path
// is to take it.
type wireCase struct {
	name string
	path []int
	id   int
	body []byte
	wire bool
	// noText: the text mode declines what the wire path takes (a
	// repeated field whose values are split by another field's).
	noText bool
}

func wireCases(t testing.TB) []wireCase {
	fs := files(t)
	marshal := func(in string, name string) []byte {
		raw, err := proto.Marshal(newMessage(t, fs.shop, name, in, nil))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tag := func(b []byte, num protowire.Number, typ protowire.Type) []byte {
		return protowire.AppendTag(b, num, typ)
	}
	varint := func(num protowire.Number, x uint64) []byte {
		return protowire.AppendVarint(tag(nil, num, protowire.VarintType), x)
	}
	bytesField := func(num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(tag(nil, num, protowire.BytesType), v)
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	item := func(sku string, qty uint64) []byte { return cat(bytesField(1, []byte(sku)), varint(2, qty)) }
	return []wireCase{
		{name: "scalars zero", path: []int{0}, body: nil, wire: true},
		{name: "scalars at limits", path: []int{0}, wire: true, body: marshal(`{"fDouble":1.5,"fFloat":0.1,"fInt32":-2147483648,`+
			`"fInt64":"-9223372036854775808","fUint32":4294967295,"fUint64":"18446744073709551615","fSint32":-5,`+
			`"fSint64":"9223372036854775807","fFixed32":7,"fFixed64":"9223372036854775808","fSfixed32":-9,"fSfixed64":"-10",`+
			`"fBool":true,"fString":"h\u00e9llo \"q\" \u0001","fBytes":"AAEC/w==","status":"CLOSED"}`, "shop.v1.Scalars")},
		{name: "float specials", path: []int{0}, wire: true, body: marshal(`{"fDouble":"NaN","fFloat":"-Infinity"}`, "shop.v1.Scalars")},
		{name: "unknown enum number, int32 from a 10-byte varint", path: []int{0}, wire: true,
			body: cat(varint(16, 7), varint(3, ^uint64(0)))},
		{name: "last scalar wins", path: []int{0}, wire: true, body: cat(varint(3, 1), varint(3, 2), bytesField(14, []byte("a")), bytesField(14, []byte("b")))},
		{name: "unknown fields skipped", path: []int{0}, wire: true,
			body: cat(varint(99, 1), bytesField(100, []byte("x")), protowire.AppendFixed32(tag(nil, 101, protowire.Fixed32Type), 1), varint(3, 5))},
		{name: "nested message [0 0]", path: []int{0, 0}, wire: true, body: marshal(`{"label":"x"}`, "shop.v1.Scalars.Inner")},
		{name: "order without maps", path: []int{1}, wire: true, body: marshal(`{"orderId":"o-1","first":{"sku":"A","qty":1},`+
			`"items":[{"sku":"A","qty":1},{"sku":"B"}],"tags":["x","y"],"voucher":"42","priority":0,`+
			`"total":{"currency":"EUR","units":"12","nanos":500000000},"history":["ACTIVE","CLOSED"]}`, "shop.v1.Order")},
		{name: "repeated enum unpacked", path: []int{1}, wire: true, body: cat(varint(12, 1), varint(12, 2), varint(12, 9))},
		{name: "repeated split by another field", path: []int{1}, wire: true, noText: true,
			body: cat(varint(12, 1), bytesField(1, []byte("o")), varint(12, 2))},
		{name: "strings JSON and Go escape differently", path: []int{0}, wire: true,
			body: cat(bytesField(14, []byte("a\x01\x7f\U000e0001\a\"\\\n\u2028b")), bytesField(15, []byte{1}))},
		{name: "oneof: last member wins", path: []int{1}, wire: true, body: cat(bytesField(9, item("G", 1)), bytesField(7, []byte("card")), varint(8, 3))},
		{name: "oneof: message again after another member", path: []int{1}, wire: true,
			body: cat(bytesField(9, item("G", 1)), varint(8, 3), bytesField(9, item("H", 2)))},
		{name: "message twice is merged", path: []int{1}, wire: false, body: cat(bytesField(2, item("A", 1)), bytesField(2, varint(2, 5)))},
		{name: "map present", path: []int{1}, wire: false, body: marshal(`{"counts":{"a":1}}`, "shop.v1.Order")},
		{name: "wrong wire type is an unknown field", path: []int{1}, wire: false, body: varint(1, 5)},
		{name: "invalid UTF-8 in proto3", path: []int{1}, wire: false, body: bytesField(1, []byte{0xff})},
		{name: "truncated", path: []int{1}, wire: false, body: bytesField(1, []byte("abc"))[:3]},
		{name: "wkt all null", path: []int{2}, wire: true},
		{name: "wkt set", path: []int{2}, wire: true, body: marshal(`{"ts":"2024-05-01T12:00:00.5Z","dur":"-1.5s","wDouble":1.5,`+
			`"wFloat":2.5,"wInt64":"-3","wUint64":"18446744073709551615","wInt32":4,"wUint32":5,"wBool":true,"wString":"s",`+
			`"wBytes":"AQ==","empty":{},"seen":["2024-05-01T12:00:00Z","1970-01-01T00:00:00Z"]}`, "shop.v1.Wkt")},
		{name: "wrappers at zero value", path: []int{2}, wire: true, body: cat(bytesField(3, nil), bytesField(10, nil), bytesField(9, nil))},
		{name: "timestamp with unknown field and repeated seconds", path: []int{2}, wire: true,
			body: bytesField(1, cat(varint(1, 5), varint(7, 1), varint(1, 1714564800), varint(2, 1)))},
		{name: "timestamp out of range", path: []int{2}, wire: false, body: bytesField(1, varint(2, 1e9))},
		{name: "duration signs differ", path: []int{2}, wire: false, body: bytesField(2, cat(varint(1, 1), varint(2, uint64(1<<64-1))))},
		{name: "struct present", path: []int{2}, wire: false, body: marshal(`{"doc":{"a":1}}`, "shop.v1.Wkt")},
		{name: "tree", path: []int{3}, wire: true, body: marshal(`{"name":"r","children":[{"children":[{}]},{"name":"b"}]}`, "shop.v1.Tree")},
		{name: "bench order", path: []int{0}, id: benchID, wire: true, body: func() []byte {
			raw, err := proto.Marshal(benchOrder(t))
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}()},
		{name: "proto2 unset", path: []int{0}, id: wireProto2ID, wire: true},
		{name: "proto2 set", path: []int{0}, id: wireProto2ID, wire: true,
			body: cat(bytesField(1, []byte("x")), varint(2, 2), varint(3, 1), varint(3, 2),
				bytesField(4, protowire.AppendVarint(protowire.AppendVarint(nil, 3), 4)), bytesField(5, varint(2, 1)), bytesField(6, []byte{0, 1}))},
		{name: "proto2 invalid UTF-8 is left to the reflective path", path: []int{0}, id: wireProto2ID, wire: false, body: bytesField(1, []byte{0xff})},
		{name: "proto2 closed enum, unknown number", path: []int{0}, id: wireProto2ID, wire: true, body: varint(2, 9)},
	}
}

// TestWirePathMatches decodes each case by the wire path and by the
// reflective path: when the wire path takes a record, both give the same
// JSON; it takes the common records and gives up on the others.
func TestWirePathMatches(t *testing.T) {
	d := wireDecoder()
	for _, c := range wireCases(t) {
		id := c.id
		if id == 0 {
			id = shopID
		}
		msg := wireMessage(t, d, id, c.path...)
		if msg.plan == nil {
			t.Fatalf("%s: no wire plan", c.name)
		}
		got, text := checkWirePath(t, msg, c.body)
		if got != c.wire {
			t.Errorf("%s: wire path took the record: %v, want %v", c.name, got, c.wire)
		}
		if text != (c.wire && !c.noText) {
			t.Errorf("%s: the text mode took the record: %v, want %v", c.name, text, c.wire && !c.noText)
		}
	}
}

// TestWirePathRandom mutates the cases' bodies at random (bytes changed,
// inserted, dropped; truncations) and checks that whatever the wire path
// takes, the reflective path decodes the same.
func TestWirePathRandom(t *testing.T) {
	d := wireDecoder()
	r := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 3000
	}
	cases := wireCases(t)
	took, texts := 0, 0
	for range n {
		c := cases[r.IntN(len(cases))]
		id := c.id
		if id == 0 {
			id = shopID
		}
		body := mutate(r, c.body)
		wire, text := checkWirePath(t, wireMessage(t, d, id, c.path...), body)
		if wire {
			took++
		}
		if text {
			texts++
		}
	}
	if took < n/10 || texts < took*3/4 {
		t.Errorf("the wire path took %d of %d mutated records, the text mode %d; the test is not testing them", took, n, texts)
	}
}

// mutate returns a copy of b with a few random edits.
func mutate(r *rand.Rand, b []byte) []byte {
	b = append([]byte(nil), b...)
	for range 1 + r.IntN(3) {
		switch op := r.IntN(5); {
		case op == 0 && len(b) > 0:
			b[r.IntN(len(b))] = byte(r.UintN(256))
		case op == 1:
			i := r.IntN(len(b) + 1)
			b = append(b[:i], append([]byte{byte(r.UintN(256))}, b[i:]...)...)
		case op == 2 && len(b) > 0:
			i := r.IntN(len(b))
			b = append(b[:i], b[i+1:]...)
		case op == 3 && len(b) > 0:
			b = b[:r.IntN(len(b))]
		case op == 4 && len(b) > 0:
			b[r.IntN(len(b))] ^= 1 << r.UintN(8)
		}
	}
	return b
}

// FuzzWirePath checks, for arbitrary message bodies of every test message,
// that what the wire path decodes the reflective path decodes the same.
func FuzzWirePath(f *testing.F) {
	cases := wireCases(f)
	for i, c := range cases {
		f.Add(uint8(i), c.body)
	}
	d := wireDecoder()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		c := cases[int(which)%len(cases)]
		id := c.id
		if id == 0 {
			id = shopID
		}
		checkWirePath(t, wireMessage(t, d, id, c.path...), body)
	})
}

// TestStringsKeepTheirBytes: a string with characters that Go's quoting
// escapes differently from JSON (control characters, DEL, a non-printable
// rune beyond the BMP) decodes to its own bytes on both paths and in the
// text mode (fastjson's arena alone would keep Go's escapes as text).
func TestStringsKeepTheirBytes(t *testing.T) {
	d := wireDecoder()
	msg := wireMessage(t, d, shopID, 0)
	raw := "a\x01\x7f\U000e0001\a\"\\\n\u2028b"
	body := protowire.AppendBytes(protowire.AppendTag(nil, 14, protowire.BytesType), []byte(raw))
	var a1, a2 fastjson.Arena
	wv, ok := msg.decodeWire(body, &a1)
	if !ok {
		t.Fatal("the wire path declined")
	}
	rv, err := msg.decodeReflect(0, body, &a2)
	if err != nil {
		t.Fatal(err)
	}
	text, ok := msg.appendJSON(nil, body)
	if !ok {
		t.Fatal("the text mode declined")
	}
	tv, err := fastjson.ParseBytes(text)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*fastjson.Value{"wire": wv, "reflective": rv, "text": tv} {
		if got := string(v.GetStringBytes("f_string")); got != raw {
			t.Errorf("%s path: f_string %q, want %q", name, got, raw)
		}
	}
}
