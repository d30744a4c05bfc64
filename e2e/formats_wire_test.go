package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/hamba/avro/v2"
	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// This file encodes records the way Confluent's serializers do, for the
// TestFormats* tests: the wire header (magic byte 0, 4-byte schema id), then
// the Avro datum, the Protobuf message-index list and message, or the JSON
// text. Schemas live in an in-process srtest registry that the binary
// reaches over loopback. It also reads rows back as text for value-by-value
// comparisons.

// registryYAML is the schema_registry section for sr.
func registryYAML(sr *srtest.Server) string {
	return fmt.Sprintf("schema_registry:\n  url: %q\n  timeout: 5s\n", sr.URL())
}

// register registers a schema and returns its id.
func register(t *testing.T, sr *srtest.Server, subject, schemaType, schema string) int {
	t.Helper()
	id, err := sr.Register(subject, schemaType, schema)
	if err != nil {
		t.Fatalf("registering %s: %v", subject, err)
	}
	return id
}

// avroWire marshals v (maps, with unions as {"type name": value}) with the
// Avro schema text and frames it for schema id.
func avroWire(t *testing.T, id int, schema string, v any) []byte {
	t.Helper()
	s, err := avro.ParseWithCache(schema, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatalf("parsing Avro schema: %v", err)
	}
	b, err := avro.Marshal(s, v)
	if err != nil {
		t.Fatalf("Avro marshal %v: %v", v, err)
	}
	return append(codec.AppendWire(nil, id), b...)
}

// protoFile compiles one .proto file (google/protobuf imports built in).
func protoFile(t *testing.T, name, src string) linker.File {
	t.Helper()
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{name: src}),
	})}
	fs, err := c.Compile(context.Background(), name)
	if err != nil {
		t.Fatalf("compiling %s: %v", name, err)
	}
	return fs[0]
}

// protoMessage is a dynamic message of the named type filled from
// protojson text.
func protoMessage(t *testing.T, f linker.File, name, js string) *dynamicpb.Message {
	t.Helper()
	md, ok := f.FindDescriptorByName(protoreflect.FullName(name)).(protoreflect.MessageDescriptor)
	if !ok {
		t.Fatalf("no message %s", name)
	}
	m := dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal([]byte(js), m); err != nil {
		t.Fatalf("protojson for %s: %v", name, err)
	}
	return m
}

// protoWire frames m for schema id with the message-index list of path
// (the single byte 0x00 for [0], as Confluent's serializer writes it).
func protoWire(t *testing.T, id int, path []int, m proto.Message) []byte {
	t.Helper()
	b := codec.AppendWire(nil, id)
	if len(path) == 1 && path[0] == 0 {
		b = append(b, 0)
	} else {
		b = binary.AppendVarint(b, int64(len(path)))
		for _, i := range path {
			b = binary.AppendVarint(b, int64(i))
		}
	}
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, raw...)
}

// jsonWire frames JSON text for schema id.
func jsonWire(id int, js string) []byte { return append(codec.AppendWire(nil, id), js...) }

// rec is a record for partition 0 of the env's topic.
func (e *env) rec(key, value []byte) *kgo.Record {
	return &kgo.Record{Topic: e.topic, Key: key, Value: value}
}

// texts runs a query whose rows are one text column each (NULL as "NULL").
func (e *env) texts(sql string, args ...any) []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), sql, args...)
	mustNoErr(e.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s *string
		mustNoErr(e.t, rows.Scan(&s))
		if s == nil {
			out = append(out, "NULL")
		} else {
			out = append(out, *s)
		}
	}
	mustNoErr(e.t, rows.Err())
	return out
}

// rowTexts returns each row of table (ordered by orderBy) as its columns'
// text forms joined by " | ", NULL as "NULL", timestamptz in UTC.
func (e *env) rowTexts(table, orderBy string, cols ...string) []string {
	e.t.Helper()
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = fmt.Sprintf("coalesce(%s::text, 'NULL')", c)
	}
	return e.texts(fmt.Sprintf("SELECT concat_ws(' | ', %s) FROM %s ORDER BY %s", strings.Join(exprs, ", "), table, orderBy))
}

// utc pins the test database's time zone to UTC, so that timestamptz::text
// reads the same whatever the server's default.
func (e *env) utc() {
	e.t.Helper()
	var name string
	mustNoErr(e.t, e.pool.QueryRow(context.Background(), "SELECT current_database()").Scan(&name))
	testenv.Exec(e.t, e.pool, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET TimeZone = 'UTC'")
	e.pool.Reset() // sessions opened before the ALTER keep the old zone
}

// equalLines fails the test unless got and want are equal line by line, naming
// the first difference.
func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d:\ngot:\n  %s\nwant:\n  %s", what, len(got), len(want),
			strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: row %d:\n got %s\nwant %s", what, i, got[i], want[i])
		}
	}
}

// checkLines is equalLines that lets the test go on.
func checkLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d rows, want %d:\ngot:\n  %s\nwant:\n  %s", what, len(got), len(want),
			strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: row %d:\n got %s\nwant %s", what, i, got[i], want[i])
		}
	}
}

// deadLetters returns the DLQ table's rows of the env's topic as
// "offset stage error", in offset order.
func (e *env) deadLetters(table string) []string {
	e.t.Helper()
	return e.texts(fmt.Sprintf(`SELECT "offset" || ' ' || stage || ' ' || error FROM %s WHERE topic = $1 ORDER BY "partition", "offset"`, table), e.topic)
}
