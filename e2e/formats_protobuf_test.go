package e2e

import (
	"testing"

	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// formatsProto has the well-known types in its first message, and two more
// messages (index [1] and the nested [0 0]) whose field numbers differ from
// Account's, so that a record decoded with the wrong message would not
// give the same values.
const formatsProto = `syntax = "proto3";
package e2e.pb;

import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";

enum Status {
  STATUS_UNKNOWN = 0;
  ACTIVE = 1;
  SUSPENDED = 2;
}

message Account {
  message Ref {
    string name = 1;
    int64 id = 2;
  }
  int64 id = 1;
  string name = 2;
  Status status = 3;
  google.protobuf.Timestamp created = 4;
  google.protobuf.Duration ttl = 5;
  google.protobuf.Int64Value quota = 6;
  google.protobuf.StringValue nickname = 7;
  google.protobuf.BoolValue verified = 8;
  google.protobuf.DoubleValue balance = 9;
  google.protobuf.Int32Value level = 10;
  google.protobuf.Struct prefs = 11;
  Address address = 12;
  repeated string tags = 13;
  bytes avatar = 14;
  optional int32 age = 15;
  google.protobuf.BytesValue sig = 16;
  google.protobuf.FloatValue ratio = 17;
  google.protobuf.UInt32Value hits = 18;
}

message Summary {
  string name = 1;
  int64 id = 2;
  Status status = 3;
}

message Address {
  string city = 1;
  int32 zip = 2;
}
`

// Protobuf through the registry: Timestamp → timestamptz, Duration →
// interval, wrappers → the inner type or NULL (a wrapper holding its zero
// value is that value, not NULL), Struct and nested messages → jsonb,
// enums → their name; records of the file's second message (index [1]) and
// of a nested message ([0 0]) land with their own fields.
func TestFormatsProtobuf(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	e.utc()
	sr := srtest.New(t)
	id := register(t, sr, e.topic+"-value", registry.TypeProtobuf, formatsProto)
	f := protoFile(t, "e2e.proto", formatsProto)
	testenv.Exec(t, e.pool, `CREATE TABLE accounts (
		id bigint PRIMARY KEY, name text, status text, created timestamptz, ttl interval, quota bigint,
		nickname text, verified boolean, balance double precision, level integer, prefs jsonb, address jsonb,
		tags text[], avatar bytea, age integer, sig bytea, ratio real, hits bigint)`)
	testenv.Produce(t, testenv.Client(t),
		e.rec(nil, protoWire(t, id, []int{0}, protoMessage(t, f, "e2e.pb.Account", `{
			"id": "1", "name": "Ada", "status": "ACTIVE", "created": "2024-05-01T12:00:00.123456Z", "ttl": "3600.5s",
			"quota": "9007199254740993", "nickname": "Countess", "verified": true, "balance": -0.5, "level": 7,
			"prefs": {"a": 1, "b": [true, null, "s"], "c": {"d": -0.5}}, "address": {"city": "Oslo", "zip": 150},
			"tags": ["x", "y,z"], "avatar": "AQL/", "age": 36, "sig": "AA==", "ratio": 0.25, "hits": 4294967295}`))),
		// Wrappers holding their zero values, a negative duration, a
		// timestamp before the epoch.
		e.rec(nil, protoWire(t, id, []int{0}, protoMessage(t, f, "e2e.pb.Account", `{
			"id": "2", "status": "SUSPENDED", "created": "1969-07-20T20:17:40Z", "ttl": "-0.000001s",
			"quota": "0", "nickname": "", "verified": false, "balance": 0, "level": 0, "prefs": {},
			"address": {}, "sig": "", "ratio": 0, "hits": 0, "age": 0}`))),
		// Nothing set: proto3 zero values, unset messages and wrappers NULL.
		e.rec(nil, protoWire(t, id, []int{0}, protoMessage(t, f, "e2e.pb.Account", `{"id": "3"}`))),
		e.rec(nil, protoWire(t, id, []int{1}, protoMessage(t, f, "e2e.pb.Summary", `{"name": "Summary", "id": "4", "status": "ACTIVE"}`))),
		e.rec(nil, protoWire(t, id, []int{0, 0}, protoMessage(t, f, "e2e.pb.Account.Ref", `{"name": "Ref", "id": "5"}`))),
	)
	cfg := e.config(registryYAML(sr) + `routes:
  - topic: {{topic}}
    table: accounts
    value: {format: protobuf}
`)
	runToEnd(t, cfg)
	got := e.rowTexts("accounts", "id", "id", "name", "status", "created", "ttl", "quota", "nickname", "verified",
		"balance", "level", "prefs", "address", "tags", "avatar", "age", "sig", "ratio", "hits")
	want := []string{
		`1 | Ada | ACTIVE | 2024-05-01 12:00:00.123456+00 | 01:00:00.5 | 9007199254740993 | Countess | true | -0.5 | 7 | ` +
			`{"a": 1, "b": [true, null, "s"], "c": {"d": -0.5}} | {"zip": 150, "city": "Oslo"} | {x,"y,z"} | \x0102ff | 36 | \x00 | 0.25 | 4294967295`,
		`2 |  | SUSPENDED | 1969-07-20 20:17:40+00 | -00:00:00.000001 | 0 |  | false | 0 | 0 | {} | {"zip": 0, "city": ""} | {} | \x | 0 | \x | 0 | 0`,
		`3 |  | STATUS_UNKNOWN | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | {} | \x | NULL | NULL | NULL | NULL`,
		`4 | Summary | ACTIVE | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL`,
		`5 | Ref | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL | NULL`,
	}
	equalLines(t, "accounts", got, want)
	if n := sr.Requests("/schemas/ids/"); n != 1 {
		t.Fatalf("the registry saw %d schema lookups for one id, want 1", n)
	}
}
