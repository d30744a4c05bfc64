package protobuf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/valyala/fastjson"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

// Schemas as registered. shop.proto (id 1) imports common/money.proto
// through a reference, which imports common/currency.proto through its own.
const (
	currencyProto = `syntax = "proto3";
package common;
enum Currency { CURRENCY_UNSPECIFIED = 0; EUR = 1; USD = 2; }
`
	moneyProto = `syntax = "proto3";
package common;
import "common/currency.proto";
message Money { Currency currency = 1; int64 units = 2; int32 nanos = 3; }
`
	shopProto = `syntax = "proto3";
package shop.v1;

import "common/money.proto";
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

enum Status { STATUS_UNSPECIFIED = 0; ACTIVE = 1; CLOSED = 2; }

message Scalars {
  message Inner { string label = 1; }
  double f_double = 1;
  float f_float = 2;
  int32 f_int32 = 3;
  int64 f_int64 = 4;
  uint32 f_uint32 = 5;
  uint64 f_uint64 = 6;
  sint32 f_sint32 = 7;
  sint64 f_sint64 = 8;
  fixed32 f_fixed32 = 9;
  fixed64 f_fixed64 = 10;
  sfixed32 f_sfixed32 = 11;
  sfixed64 f_sfixed64 = 12;
  bool f_bool = 13;
  string f_string = 14;
  bytes f_bytes = 15;
  Status status = 16;
}

message Order {
  message Item { string sku = 1; int32 qty = 2; }
  string order_id = 1;
  Item first = 2;
  repeated Item items = 3;
  repeated string tags = 4;
  map<string, int32> counts = 5;
  map<int64, Item> by_sku = 6;
  oneof payment {
    string card = 7;
    int64 voucher = 8;
    Item gift = 9;
  }
  optional int32 priority = 10;
  common.Money total = 11;
  repeated Status history = 12;
  map<bool, string> flags = 13;
}

message Wkt {
  google.protobuf.Timestamp ts = 1;
  google.protobuf.Duration dur = 2;
  google.protobuf.DoubleValue w_double = 3;
  google.protobuf.FloatValue w_float = 4;
  google.protobuf.Int64Value w_int64 = 5;
  google.protobuf.UInt64Value w_uint64 = 6;
  google.protobuf.Int32Value w_int32 = 7;
  google.protobuf.UInt32Value w_uint32 = 8;
  google.protobuf.BoolValue w_bool = 9;
  google.protobuf.StringValue w_string = 10;
  google.protobuf.BytesValue w_bytes = 11;
  google.protobuf.Struct doc = 12;
  google.protobuf.Value any_value = 13;
  google.protobuf.ListValue list = 14;
  google.protobuf.Empty empty = 15;
  google.protobuf.Any any = 16;
  repeated google.protobuf.Timestamp seen = 17;
}

message Tree {
  string name = 1;
  repeated Tree children = 2;
}
`
	proto2Proto = `syntax = "proto2";
package legacy;
message Event {
  message Inner { required int32 n = 1; }
  required string id = 1;
  optional int32 count = 2 [default = 5];
  optional Inner inner = 3;
}
`
	// Imports that Confluent's serializers do not register as references.
	bundledProto = `syntax = "proto3";
package pay.v1;
import "confluent/meta.proto";
import "confluent/type/decimal.proto";
import "google/type/date.proto";
message Payment {
  confluent.type.Decimal amount = 1 [(confluent.field_meta) = { params: [{ key: "precision", value: "8" }, { key: "scale", value: "2" }] }];
  google.type.Date due = 2;
}
`
	benchProto = `syntax = "proto3";
package bench.v1;
import "common/money.proto";
import "google/protobuf/timestamp.proto";

message Order {
  enum Status { STATUS_UNSPECIFIED = 0; PLACED = 1; SHIPPED = 2; }
  message LineItem { string sku = 1; int32 quantity = 2; common.Money price = 3; }
  message Address { string street = 1; string city = 2; string country = 3; string zip = 4; }
  string order_id = 1;
  int64 customer_id = 2;
  google.protobuf.Timestamp created_at = 3;
  Status status = 4;
  common.Money total = 5;
  repeated LineItem items = 6;
  Address shipping = 7;
  string note = 8;
  bool gift = 9;
  double discount = 10;
}
`
)

// Registry ids of the test schemas.
const (
	shopID        = 1
	benchID       = 2
	avroID        = 3
	brokenID      = 4
	missingRefID  = 5
	standardRefID = 6
	proto2ID      = 7
	bundledID     = 8
	noImportID    = 9
	unknownID     = 99
)

var moneyRef = registry.Reference{Name: "common/money.proto", Subject: "common-money", Version: 1}

// fakeRegistry is a map-backed registry.Source that counts its calls.
type fakeRegistry struct {
	byID  map[int]*registry.Schema
	byRef map[string]*registry.Schema // subject/version
	delay time.Duration               // before SchemaByID answers

	mu       sync.Mutex
	err      error // when set, every call fails with it
	refErr   error // when set, SchemaByReference fails with it
	idCalls  map[int]int
	refCalls int
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{
		byID: map[int]*registry.Schema{
			shopID:  {ID: shopID, Type: registry.TypeProtobuf, Schema: shopProto, References: []registry.Reference{moneyRef}},
			benchID: {ID: benchID, Type: registry.TypeProtobuf, Schema: benchProto, References: []registry.Reference{moneyRef}},
			avroID:  {ID: avroID, Type: registry.TypeAvro, Schema: `"string"`},
			brokenID: {ID: brokenID, Type: registry.TypeProtobuf,
				Schema: `syntax = "proto3"; message Broken { strin name = 1; }`},
			missingRefID: {ID: missingRefID, Type: registry.TypeProtobuf,
				Schema:     `syntax = "proto3"; import "gone.proto"; message M { Gone g = 1; }`,
				References: []registry.Reference{{Name: "gone.proto", Subject: "gone", Version: 1}}},
			// A reference to a file that ships with protoc is served by
			// the built-in copy; "nowhere" is never asked for.
			standardRefID: {ID: standardRefID, Type: registry.TypeProtobuf,
				Schema:     `syntax = "proto3"; import "google/protobuf/timestamp.proto"; message M { google.protobuf.Timestamp at = 1; }`,
				References: []registry.Reference{{Name: "google/protobuf/timestamp.proto", Subject: "nowhere", Version: 1}}},
			proto2ID:  {ID: proto2ID, Type: registry.TypeProtobuf, Schema: proto2Proto},
			bundledID: {ID: bundledID, Type: registry.TypeProtobuf, Schema: bundledProto},
			noImportID: {ID: noImportID, Type: registry.TypeProtobuf,
				Schema: `syntax = "proto3"; import "nope.proto"; message M { Nope n = 1; }`},
		},
		byRef: map[string]*registry.Schema{
			"common-money/1": {ID: 20, Type: registry.TypeProtobuf, Schema: moneyProto,
				References: []registry.Reference{{Name: "common/currency.proto", Subject: "common-currency", Version: 1}}},
			"common-currency/1": {ID: 21, Type: registry.TypeProtobuf, Schema: currencyProto},
		},
		idCalls: map[int]int{},
	}
}

func (r *fakeRegistry) SchemaByID(ctx context.Context, id int) (*registry.Schema, error) {
	r.mu.Lock()
	r.idCalls[id]++
	err := r.err
	r.mu.Unlock()
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	if err != nil {
		return nil, err
	}
	if s, ok := r.byID[id]; ok {
		return s, nil
	}
	return nil, &registry.NotFoundError{What: fmt.Sprintf("schema id %d", id)}
}

func (r *fakeRegistry) SchemaByReference(ctx context.Context, ref registry.Reference) (*registry.Schema, error) {
	r.mu.Lock()
	r.refCalls++
	err := r.err
	if r.refErr != nil {
		err = r.refErr
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("%s/%d", ref.Subject, ref.Version)
	if s, ok := r.byRef[key]; ok {
		return s, nil
	}
	return nil, &registry.NotFoundError{What: "subject " + ref.Subject + " version " + fmt.Sprint(ref.Version)}
}

func (r *fakeRegistry) calls(id int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idCalls[id]
}

func (r *fakeRegistry) refCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refCalls
}

// compiled holds the test's own compilation of the registered texts, used
// to build records.
type compiled struct {
	shop, bench linker.File
}

var (
	compileOnce sync.Once
	compiledFDs compiled
	compileErr  error
)

func files(t testing.TB) compiled {
	t.Helper()
	compileOnce.Do(func() {
		srcs := map[string]string{
			"common/currency.proto": currencyProto,
			"common/money.proto":    moneyProto,
			"shop.proto":            shopProto,
			"bench.proto":           benchProto,
		}
		c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(srcs),
		})}
		var fs linker.Files
		fs, compileErr = c.Compile(context.Background(), "shop.proto", "bench.proto")
		if compileErr == nil {
			compiledFDs = compiled{shop: fs[0], bench: fs[1]}
		}
	})
	if compileErr != nil {
		t.Fatal(compileErr)
	}
	return compiledFDs
}

// newMessage returns a message of the named type filled from protojson
// text, then by fill when not nil.
func newMessage(t testing.TB, f linker.File, name, in string, fill func(m *dynamicpb.Message)) *dynamicpb.Message {
	t.Helper()
	md, ok := f.FindDescriptorByName(protoreflect.FullName(name)).(protoreflect.MessageDescriptor)
	if !ok {
		t.Fatalf("no message %s", name)
	}
	m := dynamicpb.NewMessage(md)
	if in != "" {
		if err := protojson.Unmarshal([]byte(in), m); err != nil {
			t.Fatalf("protojson input for %s: %v", name, err)
		}
	}
	if fill != nil {
		fill(m)
	}
	return m
}

// appendIndexes appends the message-index list for path, with the one-byte
// form for [0] as Confluent's serializer writes it.
func appendIndexes(b []byte, path []int) []byte {
	if len(path) == 1 && path[0] == 0 {
		return append(b, 0)
	}
	b = binary.AppendVarint(b, int64(len(path)))
	for _, i := range path {
		b = binary.AppendVarint(b, int64(i))
	}
	return b
}

func wire(t testing.TB, id int, path []int, m proto.Message) []byte {
	t.Helper()
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(appendIndexes(codec.AppendWire(nil, id), path), raw...)
}

func set(name string, v protoreflect.Value) func(*dynamicpb.Message) {
	return func(m *dynamicpb.Message) {
		m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(name)), v)
	}
}

func decodeJSON(t testing.TB, d *Decoder, data []byte) (string, *codec.Type) {
	t.Helper()
	var a fastjson.Arena
	v, typ, err := d.Decode(context.Background(), data, &a)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return string(v.MarshalTo(nil)), typ
}

// Canonical JSON of each record, value by value.
func TestDecodeValues(t *testing.T) {
	fs := files(t)
	allNullWkt := `{"ts":null,"dur":null,"w_double":null,"w_float":null,"w_int64":null,"w_uint64":null,` +
		`"w_int32":null,"w_uint32":null,"w_bool":null,"w_string":null,"w_bytes":null,"doc":null,` +
		`"any_value":null,"list":null,"empty":null,"any":null,"seen":[]}`
	tests := []struct {
		name string
		path []int
		msg  string
		in   string // protojson
		fill func(*dynamicpb.Message)
		want string
	}{
		{
			name: "scalars at zero value are all present",
			path: []int{0}, msg: "shop.v1.Scalars",
			want: `{"f_double":0,"f_float":0,"f_int32":0,"f_int64":0,"f_uint32":0,"f_uint64":0,"f_sint32":0,` +
				`"f_sint64":0,"f_fixed32":0,"f_fixed64":0,"f_sfixed32":0,"f_sfixed64":0,"f_bool":false,` +
				`"f_string":"","f_bytes":"","status":"STATUS_UNSPECIFIED"}`,
		},
		{
			name: "scalars at their limits",
			path: []int{0}, msg: "shop.v1.Scalars",
			in: `{"fDouble":1.5,"fFloat":0.1,"fInt32":-2147483648,"fInt64":"-9223372036854775808",` +
				`"fUint32":4294967295,"fUint64":"18446744073709551615","fSint32":-5,"fSint64":"9223372036854775807",` +
				`"fFixed32":7,"fFixed64":"9223372036854775808","fSfixed32":-9,"fSfixed64":"-10","fBool":true,` +
				`"fString":"h\u00e9llo \"q\"","fBytes":"AAEC/w==","status":"CLOSED"}`,
			want: `{"f_double":1.5,"f_float":0.1,"f_int32":-2147483648,"f_int64":-9223372036854775808,` +
				`"f_uint32":4294967295,"f_uint64":18446744073709551615,"f_sint32":-5,"f_sint64":9223372036854775807,` +
				`"f_fixed32":7,"f_fixed64":9223372036854775808,"f_sfixed32":-9,"f_sfixed64":-10,"f_bool":true,` +
				`"f_string":"héllo \"q\"","f_bytes":"AAEC/w==","status":"CLOSED"}`,
		},
		{
			name: "float specials and exponents; unknown enum number",
			path: []int{0}, msg: "shop.v1.Scalars",
			in:   `{"fDouble":"NaN","fFloat":"-Infinity"}`,
			fill: set("status", protoreflect.ValueOfEnum(7)),
			want: `{"f_double":"NaN","f_float":"-Infinity","f_int32":0,"f_int64":0,"f_uint32":0,"f_uint64":0,"f_sint32":0,` +
				`"f_sint64":0,"f_fixed32":0,"f_fixed64":0,"f_sfixed32":0,"f_sfixed64":0,"f_bool":false,` +
				`"f_string":"","f_bytes":"","status":7}`,
		},
		{
			name: "double infinity and large exponent",
			path: []int{0}, msg: "shop.v1.Scalars",
			in: `{"fDouble":"Infinity","fFloat":3e38}`,
			want: `{"f_double":"Infinity","f_float":3e+38,"f_int32":0,"f_int64":0,"f_uint32":0,"f_uint64":0,"f_sint32":0,` +
				`"f_sint64":0,"f_fixed32":0,"f_fixed64":0,"f_sfixed32":0,"f_sfixed64":0,"f_bool":false,` +
				`"f_string":"","f_bytes":"","status":"STATUS_UNSPECIFIED"}`,
		},
		{
			name: "nested message [0 0]",
			path: []int{0, 0}, msg: "shop.v1.Scalars.Inner",
			in:   `{"label":"x"}`,
			want: `{"label":"x"}`,
		},
		{
			name: "order: nested, repeated, maps, oneof, optional, imported message",
			path: []int{1}, msg: "shop.v1.Order",
			in: `{"orderId":"o-1","first":{"sku":"A","qty":1},"items":[{"sku":"A","qty":1},{"sku":"B"}],` +
				`"tags":["x","y"],"counts":{"b":2,"a":1},"bySku":{"10":{"sku":"J"},"-2":{"sku":"K","qty":3}},` +
				`"voucher":"42","priority":0,"total":{"currency":"EUR","units":"12","nanos":500000000},` +
				`"history":["ACTIVE","CLOSED"],"flags":{"true":"t","false":"f"}}`,
			want: `{"order_id":"o-1","first":{"sku":"A","qty":1},"items":[{"sku":"A","qty":1},{"sku":"B","qty":0}],` +
				`"tags":["x","y"],"counts":{"a":1,"b":2},"by_sku":{"-2":{"sku":"K","qty":3},"10":{"sku":"J","qty":0}},` +
				`"card":null,"voucher":42,"gift":null,"priority":0,` +
				`"total":{"currency":"EUR","units":12,"nanos":500000000},"history":["ACTIVE","CLOSED"],` +
				`"flags":{"false":"f","true":"t"}}`,
		},
		{
			name: "order: unset presence fields are null, the rest empty",
			path: []int{1}, msg: "shop.v1.Order",
			want: `{"order_id":"","first":null,"items":[],"tags":[],"counts":{},"by_sku":{},"card":null,` +
				`"voucher":null,"gift":null,"priority":null,"total":null,"history":[],"flags":{}}`,
		},
		{
			name: "order: oneof message member",
			path: []int{1}, msg: "shop.v1.Order",
			in: `{"gift":{"sku":"G"}}`,
			want: `{"order_id":"","first":null,"items":[],"tags":[],"counts":{},"by_sku":{},"card":null,` +
				`"voucher":null,"gift":{"sku":"G","qty":0},"priority":null,"total":null,"history":[],"flags":{}}`,
		},
		{
			name: "order: oneof string member set to its zero value",
			path: []int{1}, msg: "shop.v1.Order",
			in: `{"card":""}`,
			want: `{"order_id":"","first":null,"items":[],"tags":[],"counts":{},"by_sku":{},"card":"",` +
				`"voucher":null,"gift":null,"priority":null,"total":null,"history":[],"flags":{}}`,
		},
		{
			name: "nested message [1 0] of the second message",
			path: []int{1, 0}, msg: "shop.v1.Order.Item",
			in:   `{"sku":"S","qty":-1}`,
			want: `{"sku":"S","qty":-1}`,
		},
		{
			name: "well-known types set",
			path: []int{2}, msg: "shop.v1.Wkt",
			in: `{"ts":"2024-05-01T12:00:00.123456Z","dur":"1.5s","wDouble":2.5,"wFloat":0.25,` +
				`"wInt64":"-9007199254740993","wUint64":"18446744073709551615","wInt32":-1,"wUint32":4294967295,` +
				`"wBool":true,"wString":"s","wBytes":"AQI=","doc":{"a":1,"b":[true,null,"s"],"c":{"d":-0.5}},` +
				`"anyValue":"text","list":[1,"two",{}],"empty":{},"seen":["1970-01-01T00:00:00Z","2024-01-01T00:00:00.5Z"]}`,
			fill: func(m *dynamicpb.Message) {
				fd := m.Descriptor().Fields().ByName("any")
				anyMsg := m.NewField(fd).Message()
				anyMsg.Set(anyMsg.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfString("type.googleapis.com/common.Money"))
				anyMsg.Set(anyMsg.Descriptor().Fields().ByNumber(2), protoreflect.ValueOfBytes([]byte{8, 1}))
				m.Set(fd, protoreflect.ValueOfMessage(anyMsg))
			},
			want: `{"ts":"2024-05-01T12:00:00.123456Z","dur":"1.5s","w_double":2.5,"w_float":0.25,` +
				`"w_int64":-9007199254740993,"w_uint64":18446744073709551615,"w_int32":-1,"w_uint32":4294967295,` +
				`"w_bool":true,"w_string":"s","w_bytes":"AQI=","doc":{"a":1,"b":[true,null,"s"],"c":{"d":-0.5}},` +
				`"any_value":"text","list":[1,"two",{}],"empty":{},` +
				`"any":{"@type":"type.googleapis.com/common.Money","value":"CAE="},` +
				`"seen":["1970-01-01T00:00:00Z","2024-01-01T00:00:00.5Z"]}`,
		},
		{
			name: "wrappers set to their zero value are not null",
			path: []int{2}, msg: "shop.v1.Wkt",
			in: `{"ts":"1970-01-01T00:00:00Z","dur":"0s","wDouble":0,"wFloat":0,"wInt64":"0","wUint64":"0","wInt32":0,` +
				`"wUint32":0,"wBool":false,"wString":"","wBytes":"","doc":{},"anyValue":null,"list":[]}`,
			want: `{"ts":"1970-01-01T00:00:00Z","dur":"0s","w_double":0,"w_float":0,"w_int64":0,"w_uint64":0,` +
				`"w_int32":0,"w_uint32":0,"w_bool":false,"w_string":"","w_bytes":"","doc":{},"any_value":null,` +
				`"list":[],"empty":null,"any":null,"seen":[]}`,
		},
		{
			name: "well-known types unset",
			path: []int{2}, msg: "shop.v1.Wkt",
			want: allNullWkt,
		},
		{
			name: "negative sub-second duration, timestamp before 1970",
			path: []int{2}, msg: "shop.v1.Wkt",
			in:   `{"ts":"1969-12-31T23:59:59.999999999Z","dur":"-0.000001s"}`,
			want: strings.Replace(strings.Replace(allNullWkt, `"ts":null`, `"ts":"1969-12-31T23:59:59.999999999Z"`, 1), `"dur":null`, `"dur":"-0.000001s"`, 1),
		},
		{
			name: "long duration",
			path: []int{2}, msg: "shop.v1.Wkt",
			in:   `{"dur":"-3600.050s"}`,
			want: strings.Replace(allNullWkt, `"dur":null`, `"dur":"-3600.05s"`, 1),
		},
		{
			name: "recursive message",
			path: []int{3}, msg: "shop.v1.Tree",
			in:   `{"name":"root","children":[{"name":"a","children":[{"name":"b"}]},{}]}`,
			want: `{"name":"root","children":[{"name":"a","children":[{"name":"b","children":[]}]},{"name":"","children":[]}]}`,
		},
	}
	d := New(newFakeRegistry())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMessage(t, fs.shop, tt.msg, tt.in, tt.fill)
			got, typ := decodeJSON(t, d, wire(t, shopID, tt.path, m))
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if typ.Kind != codec.KindRecord || typ.Name != tt.msg {
				t.Errorf("type %v %q, want record %q", typ.Kind, typ.Name, tt.msg)
			}
		})
	}
}

// A map with more entries than fit the quadratic builder is built by
// parsing; the result is the same object.
func TestDecodeBigMap(t *testing.T) {
	fs := files(t)
	var in, want strings.Builder
	in.WriteString(`{"counts":{`)
	want.WriteString(`"counts":{`)
	for i := range 3 * bigObject {
		if i > 0 {
			in.WriteByte(',')
			want.WriteByte(',')
		}
		fmt.Fprintf(&in, `"k%03d":%d`, i, i)
		fmt.Fprintf(&want, `"k%03d":%d`, i, i)
	}
	in.WriteString(`}}`)
	want.WriteString(`}`)
	m := newMessage(t, fs.shop, "shop.v1.Order", in.String(), nil)
	got, _ := decodeJSON(t, New(newFakeRegistry()), wire(t, shopID, []int{1}, m))
	if !strings.Contains(got, want.String()) {
		t.Errorf("got %s", got)
	}
	if _, err := fastjson.Parse(got); err != nil {
		t.Errorf("not JSON: %v", err)
	}
}

// Values nest at most as deep as fastjson parses back.
func TestDecodeDepth(t *testing.T) {
	tree := func(levels int) []byte { // Tree{children: [Tree{children: [...]}]}
		var b []byte
		for range levels - 1 {
			b = append(binary.AppendUvarint([]byte{0x12}, uint64(len(b))), b...)
		}
		return append(codec.AppendWire(nil, shopID), append([]byte{0x02, 0x06}, b...)...)
	}
	d := New(newFakeRegistry())
	// 149 messages nest objects and arrays 298 deep; 150 would need 300.
	got, _ := decodeJSON(t, d, tree(149))
	if _, err := fastjson.Parse(got); err != nil {
		t.Errorf("149 levels: %v", err)
	}
	var a fastjson.Arena
	_, _, err := d.Decode(context.Background(), tree(150), &a)
	const want = "schema id 1: message shop.v1.Tree: field children[0].children[0].children[0].children[0]...: " +
		"objects and arrays nest deeper than 299 levels"
	if !codec.IsDecodeError(err) || err.Error() != want {
		t.Errorf("150 levels: got %v, want a DecodeError", err)
	}
}

// typeString renders a type compactly: fields as name:type, ? for
// Optional, = for HasDefault.
func typeString(t *codec.Type) string {
	switch t.Kind {
	case codec.KindRecord:
		var b strings.Builder
		b.WriteString(t.Name + "{")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.Name + ":" + typeString(f.Type))
			if f.Optional {
				b.WriteString("?")
			}
			if f.HasDefault {
				b.WriteString("=")
			}
		}
		return b.String() + "}"
	case codec.KindArray:
		return "array<" + typeString(t.Elem) + ">"
	case codec.KindMap:
		return "map<" + typeString(t.Elem) + ">"
	case codec.KindDecimal:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	}
	if t.Name != "" {
		return t.Kind.String() + "(" + t.Name + ")"
	}
	return t.Kind.String()
}

func TestDecodeTypes(t *testing.T) {
	fs := files(t)
	item := "shop.v1.Order.Item{sku:string=, qty:int32=}"
	tests := []struct {
		path []int
		msg  string
		want string
	}{
		{[]int{0}, "shop.v1.Scalars", "shop.v1.Scalars{f_double:double=, f_float:float=, f_int32:int32=, f_int64:int64=, " +
			"f_uint32:int64=, f_uint64:decimal(20,0)=, f_sint32:int32=, f_sint64:int64=, f_fixed32:int64=, " +
			"f_fixed64:decimal(20,0)=, f_sfixed32:int32=, f_sfixed64:int64=, f_bool:boolean=, f_string:string=, " +
			"f_bytes:bytes=, status:string(shop.v1.Status)=}"},
		{[]int{0, 0}, "shop.v1.Scalars.Inner", "shop.v1.Scalars.Inner{label:string=}"},
		{[]int{1}, "shop.v1.Order", "shop.v1.Order{order_id:string=, first:" + item + "?, items:array<" + item + ">, " +
			"tags:array<string>, counts:map<int32>, by_sku:map<" + item + ">, card:string?, voucher:int64?, " +
			"gift:" + item + "?, priority:int32?, " +
			"total:common.Money{currency:string(common.Currency)=, units:int64=, nanos:int32=}?, " +
			"history:array<string(shop.v1.Status)>, flags:map<string>}"},
		{[]int{2}, "shop.v1.Wkt", "shop.v1.Wkt{ts:timestamp?, dur:duration?, w_double:double?, w_float:float?, " +
			"w_int64:int64?, w_uint64:decimal(20,0)?, w_int32:int32?, w_uint32:int64?, w_bool:boolean?, " +
			"w_string:string?, w_bytes:bytes?, doc:json(google.protobuf.Struct)?, " +
			"any_value:json(google.protobuf.Value)?, list:json(google.protobuf.ListValue)?, " +
			"empty:google.protobuf.Empty{}?, any:json(google.protobuf.Any)?, seen:array<timestamp>}"},
		{[]int{3}, "shop.v1.Tree", "shop.v1.Tree{name:string=, children:array<json(shop.v1.Tree)>}"},
	}
	d := New(newFakeRegistry())
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			_, typ := decodeJSON(t, d, wire(t, shopID, tt.path, newMessage(t, fs.shop, tt.msg, "", nil)))
			if got := typeString(typ); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDecodeSameTypePointer(t *testing.T) {
	fs := files(t)
	d := New(newFakeRegistry())
	m := newMessage(t, fs.shop, "shop.v1.Scalars", `{"fInt32":1}`, nil)
	short := wire(t, shopID, []int{0}, m)
	raw, _ := proto.Marshal(m)
	long := append(codec.AppendWire(nil, shopID), 0x02, 0x00) // count 1, index 0
	long = append(long, raw...)

	_, t1 := decodeJSON(t, d, short)
	_, t2 := decodeJSON(t, d, long)
	_, t3 := decodeJSON(t, d, short)
	if t1 != t2 || t1 != t3 {
		t.Errorf("types %p %p %p, want one pointer", t1, t2, t3)
	}
	_, other := decodeJSON(t, d, wire(t, shopID, []int{0, 0}, newMessage(t, fs.shop, "shop.v1.Scalars.Inner", "", nil)))
	if other == t1 {
		t.Error("nested message has the top-level message's type")
	}
}

func TestDecodeConcurrentFetchesOnce(t *testing.T) {
	fs := files(t)
	reg := newFakeRegistry()
	reg.delay = 20 * time.Millisecond
	d := New(reg)
	records := [][]byte{
		wire(t, shopID, []int{0}, newMessage(t, fs.shop, "shop.v1.Scalars", `{"fInt64":"5"}`, nil)),
		wire(t, shopID, []int{1}, newMessage(t, fs.shop, "shop.v1.Order", `{"orderId":"x"}`, nil)),
		wire(t, benchID, []int{0}, benchOrder(t)),
	}
	const goroutines = 64
	types := make([]*codec.Type, goroutines)
	errs := make([]error, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			var a fastjson.Arena
			for range 20 {
				_, typ, err := d.Decode(context.Background(), records[g%len(records)], &a)
				if err != nil {
					errs[g] = err
					return
				}
				if types[g] != nil && types[g] != typ {
					errs[g] = errors.New("type pointer changed")
					return
				}
				types[g] = typ
				a.Reset()
			}
		})
	}
	close(start)
	wg.Wait()
	for g, err := range errs {
		if err != nil {
			t.Fatalf("goroutine %d: %v", g, err)
		}
	}
	for g := range goroutines {
		if types[g] != types[g%len(records)] {
			t.Errorf("goroutine %d got another type pointer for the same message", g)
		}
	}
	for _, id := range []int{shopID, benchID} {
		if n := reg.calls(id); n != 1 {
			t.Errorf("SchemaByID(%d) called %d times, want 1", id, n)
		}
	}
	// money.proto and currency.proto, once for each of the two schemas.
	if n := reg.refCount(); n != 4 {
		t.Errorf("SchemaByReference called %d times, want 4", n)
	}
}

// The reference named like a built-in file is not fetched.
func TestDecodeStandardReference(t *testing.T) {
	reg := newFakeRegistry()
	data := append(codec.AppendWire(nil, standardRefID), 0, 0x0a, 0x02, 0x08, 0x01) // at {seconds: 1}
	got, typ := decodeJSON(t, New(reg), data)
	if want := `{"at":"1970-01-01T00:00:01Z"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if typ.Fields[0].Type.Kind != codec.KindTimestamp {
		t.Errorf("at is %v, want timestamp", typ.Fields[0].Type.Kind)
	}
	if n := reg.refCount(); n != 0 {
		t.Errorf("SchemaByReference called %d times, want 0", n)
	}
}

// proto2: required fields are not Optional and are checked; optional
// fields have presence, so unset ones are null even with a default.
func TestDecodeProto2(t *testing.T) {
	d := New(newFakeRegistry())
	rec := func(msg ...byte) []byte { return append(append(codec.AppendWire(nil, proto2ID), 0), msg...) }

	got, typ := decodeJSON(t, d, rec(0x0a, 0x01, 'e'))
	if want := `{"id":"e","count":null,"inner":null}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := typeString(typ), "legacy.Event{id:string, count:int32?, inner:legacy.Event.Inner{n:int32}?}"; got != want {
		t.Errorf("type %s, want %s", got, want)
	}
	got, _ = decodeJSON(t, d, rec(0x0a, 0x01, 'e', 0x10, 0x07, 0x1a, 0x02, 0x08, 0x01))
	if want := `{"id":"e","count":7,"inner":{"n":1}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}

	for name, data := range map[string][]byte{
		"missing required field":        rec(0x10, 0x07),
		"missing nested required field": rec(0x0a, 0x01, 'e', 0x1a, 0x00),
	} {
		var a fastjson.Arena
		_, _, err := d.Decode(context.Background(), data, &a)
		if !codec.IsDecodeError(err) || !strings.Contains(err.Error(), "legacy.Event does not decode") {
			t.Errorf("%s: got %v, want a DecodeError", name, err)
		}
	}
}

// Confluent's and Google's common types compile without references and are
// ordinary messages.
func TestDecodeBundledImports(t *testing.T) {
	reg := newFakeRegistry()
	data := append(codec.AppendWire(nil, bundledID), 0,
		0x0a, 0x08, 0x0a, 0x02, 0x30, 0x39, 0x10, 0x08, 0x18, 0x02, // amount {value: 12345, precision: 8, scale: 2}
		0x12, 0x07, 0x08, 0xe8, 0x0f, 0x10, 0x05, 0x18, 0x01) // due {2024, 5, 1}
	got, typ := decodeJSON(t, New(reg), data)
	if want := `{"amount":{"value":"MDk=","precision":8,"scale":2},"due":{"year":2024,"month":5,"day":1}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	want := "pay.v1.Payment{amount:confluent.type.Decimal{value:bytes=, precision:int64=, scale:int32=}?, " +
		"due:google.type.Date{year:int32=, month:int32=, day:int32=}?}"
	if got := typeString(typ); got != want {
		t.Errorf("type %s, want %s", got, want)
	}
	if n := reg.refCount(); n != 0 {
		t.Errorf("SchemaByReference called %d times, want 0", n)
	}
}

func TestDecodeErrors(t *testing.T) {
	fs := files(t)
	order := wire(t, shopID, []int{1}, newMessage(t, fs.shop, "shop.v1.Order",
		`{"orderId":"o-1","items":[{"sku":"A","qty":1}],"total":{"units":"5"}}`, nil))
	header := codec.AppendWire(nil, shopID)
	with := func(b ...byte) []byte { return append(append([]byte(nil), header...), b...) }
	badTS := wire(t, shopID, []int{2}, newMessage(t, fs.shop, "shop.v1.Wkt", "", func(m *dynamicpb.Message) {
		fd := m.Descriptor().Fields().ByName("seen")
		ts := m.Mutable(fd).List().NewElement()
		ts.Message().Set(ts.Message().Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(math.MaxInt64))
		m.Mutable(fd).List().Append(ts)
	}))
	badDur := wire(t, shopID, []int{2}, newMessage(t, fs.shop, "shop.v1.Wkt", "", func(m *dynamicpb.Message) {
		fd := m.Descriptor().Fields().ByName("dur")
		dur := m.Mutable(fd).Message()
		dur.Set(dur.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(1))
		dur.Set(dur.Descriptor().Fields().ByNumber(2), protoreflect.ValueOfInt32(-1))
	}))

	tests := []struct {
		name string
		data []byte
		want string // in the DecodeError's reason
	}{
		{"too short", []byte{0, 0, 0}, "too short"},
		{"bad magic byte", []byte{1, 0, 0, 0, 1, 0}, "magic byte"},
		{"unknown schema id", append(codec.AppendWire(nil, unknownID), 0), "unknown schema id 99"},
		{"not a protobuf schema", append(codec.AppendWire(nil, avroID), 0), "schema id 3 is a AVRO schema, not PROTOBUF"},
		{"schema does not compile", append(codec.AppendWire(nil, brokenID), 0), "schema id 4 does not compile"},
		{"import with no reference", append(codec.AppendWire(nil, noImportID), 0), `"nope.proto" is neither a reference of the schema nor a built-in import`},
		{"reference not in the registry", append(codec.AppendWire(nil, missingRefID), 0), `reference "gone.proto" (subject gone version 1) is not in the registry`},
		{"no message at index", with(0x04, 0x04, 0x00), "schema id 1 has no message at index [2 0]"},
		{"no top-level message at index", with(0x02, 0x12), "schema id 1 has no message at index [9]"},
		{"empty index list", with(), "message-index list is truncated"},
		{"truncated index varint", with(0x80), "message-index list is truncated"},
		{"index count too large", with(0xc8, 0x01), "message-index count 100 is out of range"},
		{"negative index count", with(0x01), "message-index count -1 is out of range"},
		{"fewer indexes than counted", with(0x04, 0x02), "message-index list is truncated"},
		{"negative index", with(0x02, 0x01), "message index -1 is out of range"},
		{"truncated message", order[:len(order)-3], "schema id 1: message shop.v1.Order does not decode"},
		{"garbage message", with(0x00, 0xff, 0xff, 0xff), "schema id 1: message shop.v1.Scalars does not decode"},
		{"timestamp out of range", badTS, "schema id 1: message shop.v1.Wkt: field seen[0]: Timestamp{seconds: 9223372036854775807"},
		{"duration signs differ", badDur, "field dur: Duration{seconds: 1, nanos: -1}"},
	}
	d := New(newFakeRegistry())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a fastjson.Arena
			v, typ, err := d.Decode(context.Background(), tt.data, &a)
			if err == nil {
				t.Fatalf("no error; got %s", v.MarshalTo(nil))
			}
			if v != nil || typ != nil {
				t.Errorf("value %v and type %v with an error", v, typ)
			}
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("%T %v is not a *codec.DecodeError", err, err)
			}
			if !strings.Contains(de.Reason, tt.want) {
				t.Errorf("reason %q does not contain %q", de.Reason, tt.want)
			}
		})
	}
}

// Failures are not cached: a schema that failed is asked for again.
func TestDecodeFailuresNotCached(t *testing.T) {
	reg := newFakeRegistry()
	d := New(reg)
	var a fastjson.Arena
	for range 2 {
		if _, _, err := d.Decode(context.Background(), append(codec.AppendWire(nil, brokenID), 0), &a); !codec.IsDecodeError(err) {
			t.Fatalf("got %v, want a DecodeError", err)
		}
	}
	if n := reg.calls(brokenID); n != 2 {
		t.Errorf("SchemaByID(%d) called %d times, want 2", brokenID, n)
	}
}

func TestDecodeRegistryErrors(t *testing.T) {
	fs := files(t)
	data := wire(t, shopID, []int{0}, newMessage(t, fs.shop, "shop.v1.Scalars", `{"fBool":true}`, nil))
	unavailable := &registry.UnavailableError{URL: "http://registry:8081", Err: errors.New("connection refused")}
	forbidden := &registry.RequestError{URL: "http://registry:8081", Status: 403, Msg: "forbidden"}
	tests := []struct {
		name        string
		err, refErr error
	}{
		{"schema unavailable", unavailable, nil},
		{"reference unavailable", nil, unavailable},
		{"schema forbidden", forbidden, nil},
		{"reference forbidden", nil, forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newFakeRegistry()
			reg.err, reg.refErr = tt.err, tt.refErr
			d := New(reg)
			var a fastjson.Arena
			_, _, err := d.Decode(context.Background(), data, &a)
			if err == nil || codec.IsDecodeError(err) {
				t.Fatalf("got %v, want a registry error that is not a DecodeError", err)
			}
			want := tt.err
			if want == nil {
				want = tt.refErr
			}
			if !errors.Is(err, want) {
				t.Errorf("%v does not wrap %v", err, want)
			}
			if errors.Is(want, unavailable) {
				var ue *registry.UnavailableError
				if !errors.As(err, &ue) {
					t.Errorf("%v: errors.As *registry.UnavailableError failed", err)
				}
			}

			// Once the registry is back the same record decodes.
			reg.mu.Lock()
			reg.err, reg.refErr = nil, nil
			reg.mu.Unlock()
			got, _ := decodeJSON(t, d, data)
			if !strings.Contains(got, `"f_bool":true`) {
				t.Errorf("after recovery got %s", got)
			}
		})
	}
}

// blockingRegistry answers SchemaByID only when its context ends.
type blockingRegistry struct{ *fakeRegistry }

func (r *blockingRegistry) SchemaByID(ctx context.Context, id int) (*registry.Schema, error) {
	<-ctx.Done()
	return nil, &registry.UnavailableError{URL: "http://registry", Err: ctx.Err()}
}

func TestDecodeContextCancelled(t *testing.T) {
	d := New(&blockingRegistry{newFakeRegistry()})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var a fastjson.Arena
	_, _, err := d.Decode(ctx, append(codec.AppendWire(nil, shopID), 0), &a)
	if !errors.Is(err, context.DeadlineExceeded) || codec.IsDecodeError(err) {
		t.Errorf("got %v, want the context's error", err)
	}
}

// benchOrder is a typical order: 10 fields, a Timestamp, nested messages
// and a repeated message.
func benchOrder(t testing.TB) *dynamicpb.Message {
	return newMessage(t, files(t).bench, "bench.v1.Order", `{
		"orderId": "ord-2024-000123", "customerId": "881234", "createdAt": "2024-05-01T12:00:00.123456Z",
		"status": "SHIPPED", "total": {"currency": "EUR", "units": "149", "nanos": 990000000},
		"items": [
			{"sku": "SKU-1", "quantity": 2, "price": {"currency": "EUR", "units": "49", "nanos": 990000000}},
			{"sku": "SKU-2", "quantity": 1, "price": {"currency": "EUR", "units": "50"}}
		],
		"shipping": {"street": "1 Main St", "city": "Springfield", "country": "US", "zip": "12345"},
		"note": "leave at the door", "gift": true, "discount": 0.1}`, nil)
}

func BenchmarkDecode(b *testing.B) {
	d := New(newFakeRegistry())
	data := wire(b, benchID, []int{0}, benchOrder(b))
	var a fastjson.Arena
	ctx := context.Background()
	if _, _, err := d.Decode(ctx, data, &a); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		a.Reset()
		if _, _, err := d.Decode(ctx, data, &a); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// heapAllocated is the bytes allocated on the heap since the program
// started, as the runtime counts them without stopping the world.
func heapAllocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzDecode feeds arbitrary records, mostly with schema id 1, to a warm
// decoder: it must not panic, must return a DecodeError for anything it
// cannot decode, and must not allocate out of proportion to the input
// whatever lengths the input claims.
func FuzzDecode(f *testing.F) {
	fs := files(f)
	seeds := [][]byte{
		wire(f, shopID, []int{0}, newMessage(f, fs.shop, "shop.v1.Scalars", `{"fDouble":1.5,"fInt64":"-3","fBytes":"AQ==","status":"ACTIVE"}`, nil)),
		wire(f, shopID, []int{0, 0}, newMessage(f, fs.shop, "shop.v1.Scalars.Inner", `{"label":"x"}`, nil)),
		wire(f, shopID, []int{1}, newMessage(f, fs.shop, "shop.v1.Order", `{"orderId":"o","items":[{"sku":"A"}],"counts":{"a":1},"bySku":{"1":{}},"gift":{},"total":{"units":"1"}}`, nil)),
		wire(f, shopID, []int{2}, newMessage(f, fs.shop, "shop.v1.Wkt", `{"ts":"2024-05-01T12:00:00Z","dur":"1s","wInt64":"1","doc":{"a":[1]},"list":[null],"empty":{},"seen":["2024-05-01T12:00:00Z"]}`, nil)),
		wire(f, shopID, []int{3}, newMessage(f, fs.shop, "shop.v1.Tree", `{"name":"r","children":[{"children":[{}]}]}`, nil)),
		wire(f, benchID, []int{0}, benchOrder(f)),
	}
	for _, s := range seeds {
		f.Add(s)
	}

	d := New(newFakeRegistry())
	var a fastjson.Arena
	for _, s := range seeds { // compile the schemas before measuring
		if _, _, err := d.Decode(context.Background(), s, &a); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var a fastjson.Arena
		before := heapAllocated()
		v, typ, err := d.Decode(context.Background(), data, &a)
		allocated := heapAllocated() - before
		if err != nil {
			if !codec.IsDecodeError(err) {
				t.Fatalf("%T %v is not a DecodeError", err, err)
			}
			if v != nil || typ != nil {
				t.Fatal("value or type with an error")
			}
		} else {
			if typ == nil || typ.Kind != codec.KindRecord {
				t.Fatalf("type %v", typ)
			}
			if _, err := fastjson.ParseBytes(v.MarshalTo(nil)); err != nil {
				t.Fatalf("value is not JSON: %v", err)
			}
		}
		if limit := uint64(4<<20 + 1024*len(data)); allocated > limit {
			t.Fatalf("allocated %d bytes for a %d-byte record", allocated, len(data))
		}
	})
}
