package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// Malformed registry payloads are decode record errors, never a stop or a
// retry when a dead-letter table is configured: a bad magic byte, a header
// too short, an unknown schema id, a schema id of another format, a
// truncated Avro datum, trailing bytes, a Protobuf message index with no
// message, bytes that are not the message, a JSON value failing its schema
// and one that is not JSON. Three routes (avro, protobuf, json-schema) share
// one dead-letter table: it holds exactly the bad records, stage decode,
// each reason naming the record and what is wrong; the tables hold exactly
// the good ones; rows + dead letters + skipped tombstones = records.
func TestFormatsMalformed(t *testing.T) {
	parallel(t)
	e := newEnv(t, 1)
	sr := srtest.New(t)
	topicAvro, topicPB, topicJS := e.topic, testenv.Name("pb"), testenv.Name("js")
	testenv.CreateTopic(t, topicPB, 1)
	testenv.CreateTopic(t, topicJS, 1)

	avroSchema := `{"type": "record", "name": "Item", "namespace": "e2e.mal", "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"}]}`
	pbSchema := "syntax = \"proto3\";\npackage e2e.mal;\nmessage Item {\n  int64 id = 1;\n  string name = 2;\n}\nmessage Other {\n  string x = 1;\n}\n"
	jsSchema := `{"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}, "required": ["id", "name"]}`
	avroID := register(t, sr, topicAvro+"-value", "", avroSchema)
	pbID := register(t, sr, topicPB+"-value", registry.TypeProtobuf, pbSchema)
	jsID := register(t, sr, topicJS+"-value", registry.TypeJSON, jsSchema)
	pbFile := protoFile(t, "mal.proto", pbSchema)
	for _, table := range []string{"items_avro", "items_pb", "items_js"} {
		testenv.Exec(t, e.pool, "CREATE TABLE "+table+" (id bigint PRIMARY KEY, name text NOT NULL)")
	}

	item := func(id int64, name string) []byte {
		return avroWire(t, avroID, avroSchema, map[string]any{"id": id, "name": name})
	}
	pbItem := func(path []int, js string) []byte {
		return protoWire(t, pbID, path, protoMessage(t, pbFile, "e2e.mal.Item", js))
	}
	withID := func(b []byte, id int) []byte { return append(codec.AppendWire(nil, id), b[5:]...) }
	truncated := item(3, "cut short")
	truncated = truncated[:len(truncated)-4]
	badMagic := item(4, "magic")
	badMagic[0] = 1

	type input struct {
		topic string
		value []byte // nil: a tombstone, skipped
		good  string // the row it gives, "id | name"
		bad   string // what its dead letter's reason says
	}
	inputs := []input{
		{topicAvro, item(1, "one"), "1 | one", ""},
		{topicAvro, badMagic, "", "first byte is 0x01, not the Confluent wire format's magic byte"},
		{topicAvro, []byte{0, 0, 0}, "", "3 bytes is too short for the Confluent wire format"},
		{topicAvro, withID(item(5, "unknown"), 999), "", "unknown schema id 999"},
		{topicAvro, truncated, "", fmt.Sprintf("schema id %d: field name: unexpected end of input", avroID)},
		{topicAvro, append(item(6, "trailing"), 0, 0), "", "2 trailing bytes after the datum"},
		{topicAvro, withID(item(7, "protobuf id"), pbID), "", fmt.Sprintf("schema id %d is a PROTOBUF schema, not Avro", pbID)},
		{topicAvro, nil, "", ""},
		{topicAvro, item(2, "two"), "2 | two", ""},

		{topicPB, pbItem([]int{0}, `{"id": "1", "name": "one"}`), "1 | one", ""},
		{topicPB, pbItem([]int{5}, `{"id": "2", "name": "index 5"}`), "", fmt.Sprintf("schema id %d has no message at index [5]", pbID)},
		{topicPB, pbItem([]int{0, 3}, `{"id": "3", "name": "index 0 3"}`), "", fmt.Sprintf("schema id %d has no message at index [0 3]", pbID)},
		{topicPB, append(codec.AppendWire(nil, pbID), 0, 0x0a, 0xff, 0xff), "", "message e2e.mal.Item does not decode"},
		{topicPB, withID(pbItem([]int{0}, `{"id": "4"}`), 999), "", "unknown schema id 999"},
		{topicPB, append([]byte{0xff}, pbItem([]int{0}, `{"id": "5"}`)[1:]...), "", "magic byte"},
		{topicPB, pbItem([]int{0}, `{"id": "2", "name": "two"}`), "2 | two", ""},

		{topicJS, jsonWire(jsID, `{"id": 1, "name": "one"}`), "1 | one", ""},
		{topicJS, jsonWire(jsID, `{"id": "x", "name": "string id"}`), "", "/id: type: got string, want integer"},
		{topicJS, jsonWire(jsID, `{"id": 3}`), "", "/name: required: missing"},
		{topicJS, jsonWire(jsID, `{"id": 4, "name": `), "", fmt.Sprintf("schema id %d: payload is not valid JSON", jsID)},
		{topicJS, []byte(`{"id": 5, "name": "no header"}`), "", "magic byte"},
		{topicJS, jsonWire(jsID, `{"id": 2, "name": "two"}`), "2 | two", ""},
	}
	var recs []*kgo.Record
	type place struct {
		topic  string
		offset int
	}
	offsets := map[string]int{}
	wantRows := map[string][]string{}
	var wantDead []string
	reasons := map[place]string{}
	skipped := 0
	for _, in := range inputs {
		off := offsets[in.topic]
		offsets[in.topic]++
		recs = append(recs, &kgo.Record{Topic: in.topic, Value: in.value})
		switch {
		case in.good != "":
			wantRows[in.topic] = append(wantRows[in.topic], in.good)
		case in.bad != "":
			wantDead = append(wantDead, fmt.Sprintf("%s %d decode record", in.topic, off))
			reasons[place{in.topic, off}] = in.bad
		default:
			skipped++
		}
	}
	testenv.Produce(t, testenv.Client(t), recs...)

	cfg := e.config(registryYAML(sr) + `errors:
  tolerance: all
  dlq: {table: formats_dlq}
routes:
  - topic: ` + topicAvro + `
    table: items_avro
    value: {format: avro}
  - topic: ` + topicPB + `
    table: items_pb
    value: {format: protobuf}
  - topic: ` + topicJS + `
    table: items_js
    value: {format: json-schema}
`)
	cfg = rewrite(t, cfg, "topics: ["+e.topic+"]", "topics: ["+strings.Join([]string{topicAvro, topicPB, topicJS}, ", ")+"]")
	runToEnd(t, cfg)

	for topic, table := range map[string]string{topicAvro: "items_avro", topicPB: "items_pb", topicJS: "items_js"} {
		equalLines(t, table, e.rowTexts(table, "id", "id", "name"), wantRows[topic])
	}
	gotDead := e.texts(`SELECT topic || ' ' || "offset" || ' ' || stage || ' ' || error_class FROM formats_dlq ORDER BY topic, "offset"`) // by topic, then numerically by offset
	sort.Slice(wantDead, func(i, j int) bool { return lessPlace(wantDead[i], wantDead[j]) })
	equalLines(t, "dead letters", gotDead, wantDead)
	for p, want := range reasons {
		var reason string
		mustNoErr(t, e.pool.QueryRow(t.Context(), `SELECT error FROM formats_dlq WHERE topic = $1 AND "offset" = $2`, p.topic, p.offset).Scan(&reason))
		prefix := fmt.Sprintf("topic %s partition 0 offset %d: decode: ", p.topic, p.offset)
		if !strings.HasPrefix(reason, prefix) || !strings.Contains(reason, want) {
			t.Errorf("dead letter %s offset %d: error %q; want it to start with %q and say %q", p.topic, p.offset, reason, prefix, want)
		}
	}
	rows := e.count("items_avro") + e.count("items_pb") + e.count("items_js")
	if dead := e.count("formats_dlq"); rows+dead+int64(skipped) != int64(len(inputs)) {
		t.Fatalf("%d rows + %d dead letters + %d skipped != %d records", rows, dead, skipped, len(inputs))
	}
	var committed int64
	for _, topic := range []string{topicAvro, topicPB, topicJS} {
		for _, o := range testenv.Committed(t, e.group, topic) {
			committed += o
		}
	}
	if committed != int64(len(inputs)) {
		t.Fatalf("committed offsets add up to %d, want %d", committed, len(inputs))
	}
}

// lessPlace orders "topic offset ..." lines by topic, then numeric offset.
func lessPlace(a, b string) bool {
	ta, oa, _ := strings.Cut(a, " ")
	tb, ob, _ := strings.Cut(b, " ")
	if ta != tb {
		return ta < tb
	}
	var na, nb int
	fmt.Sscan(oa, &na)
	fmt.Sscan(ob, &nb)
	return na < nb
}
