package connectconf

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/kafka2pg/kafka2pg/config"
)

// connector builds a Connector from key=value lines (input order kept).
func connector(name string, lines ...string) *Connector {
	c := newConnector("properties")
	c.Name = name
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		c.set(k, v)
	}
	return c
}

var (
	confluentBase = []string{
		"connector.class=io.confluent.connect.jdbc.JdbcSinkConnector",
		"connection.url=jdbc:postgresql://db:5432/shop",
		"connection.user=sink",
		"connection.password=hunter2",
		"topics=orders",
		"key.converter=org.apache.kafka.connect.json.JsonConverter",
		"value.converter=org.apache.kafka.connect.json.JsonConverter",
	}
	debeziumBase = []string{
		"connector.class=io.debezium.connector.jdbc.JdbcSinkConnector",
		"connection.url=jdbc:postgresql://db:5432/shop",
		"connection.username=sink",
		"connection.password=hunter2",
		"topics=orders",
		"key.converter=org.apache.kafka.connect.json.JsonConverter",
		"value.converter=org.apache.kafka.connect.json.JsonConverter",
	}
	unwrapLines = []string{"transforms=unwrap", "transforms.unwrap.type=io.debezium.transforms.ExtractNewRecordState"}
)

func with(base []string, more ...string) []string {
	return append(append([]string{}, base...), more...)
}

func TestMapping(t *testing.T) {
	cases := []struct {
		name    string
		lines   []string
		opts    Options
		yaml    []string // substrings of the YAML
		notYAML []string
		dropped []string // keys, any order
		notes   []string // substrings of some note
		columns bool
		env     []string // more placeholder values for config.Parse: name, value, ...
	}{
		{name: "upsert on a struct key with deletes",
			lines:   with(confluentBase, "insert.mode=upsert", "pk.mode=record_key", "delete.enabled=true"),
			yaml:    []string{"mode: upsert", "delete_on_tombstone: true", "key: {format: json-connect}", `url: "postgres://sink:${POSTGRES_PASSWORD}@db:5432/shop"`},
			notYAML: []string{"conflict_key"}},
		{name: "insert with a key upserts",
			lines: with(confluentBase, "pk.mode=record_key", "pk.fields=id"),
			yaml:  []string{"mode: upsert", "conflict_key: [id]"}, notes: []string{"kafka2pg upserts on the key instead"}},
		{name: "update mode",
			lines: with(confluentBase, "insert.mode=update", "pk.mode=record_key"),
			yaml:  []string{"mode: upsert"}, dropped: []string{"insert.mode"}},
		{name: "upsert without a key",
			lines: with(confluentBase, "insert.mode=upsert"),
			yaml:  []string{"mode: insert", "key: {format: string}"}, dropped: []string{"insert.mode"}},
		{name: "insert without key ignores the key converter",
			lines: with(confluentBase, "key.converter=org.apache.kafka.connect.converters.LongConverter"),
			yaml:  []string{"mode: insert", "key: {format: string}"}},
		{name: "kafka coordinates",
			lines:   with(confluentBase, "insert.mode=upsert", "pk.mode=kafka"),
			yaml:    []string{"conflict_key: [__connect_topic, __connect_partition, __connect_offset]", "__connect_topic: kafka.topic", "__connect_partition: kafka.partition", "__connect_offset: kafka.offset"},
			columns: true},
		{name: "kafka coordinates with a string key",
			lines:   with(confluentBase, "pk.mode=kafka", "pk.fields=t,p,o", "key.converter=org.apache.kafka.connect.storage.StringConverter"),
			yaml:    []string{"conflict_key: [t, p, o]", "t: kafka.topic"},
			dropped: []string{"pk.mode"}, columns: true},
		{name: "record_value with a string key",
			lines:   with(confluentBase, "insert.mode=upsert", "pk.mode=record_value", "pk.fields=id", "key.converter=org.apache.kafka.connect.storage.StringConverter"),
			yaml:    []string{"conflict_key: [id]", "key: {format: string}"},
			dropped: []string{"pk.mode"}},
		{name: "string key needs one field",
			lines:   with(confluentBase, "insert.mode=upsert", "pk.mode=record_key", "key.converter=org.apache.kafka.connect.storage.StringConverter"),
			dropped: []string{"pk.fields"}},
		{name: "deletes need record_key",
			lines:   with(confluentBase, "insert.mode=upsert", "pk.mode=record_value", "pk.fields=id", "delete.enabled=true"),
			notYAML: []string{"delete_on_tombstone"}, dropped: []string{"delete.enabled"}},
		{name: "schemaless JSON values",
			lines: with(confluentBase, "value.converter.schemas.enable=false", "key.converter.schemas.enable=false", "pk.mode=record_key", "insert.mode=upsert"),
			yaml:  []string{"value: {format: json}", "key: {format: json}"}},
		{name: "string values",
			lines: with(confluentBase, "value.converter=org.apache.kafka.connect.storage.StringConverter", "auto.create=true"),
			yaml:  []string{"value: {format: string}"}, notYAML: []string{"auto_create"},
			dropped: []string{"value.converter"}, notes: []string{"value whole to the column named value"}},
		{name: "ExtractNewRecordState without delete handling",
			lines:   with(confluentBase, append(unwrapLines, "insert.mode=upsert", "pk.mode=record_key", "delete.enabled=true")...),
			yaml:    []string{"unwrap: debezium", "delete_on_tombstone: true"},
			dropped: []string{"transforms.unwrap.type"}},
		{name: "ExtractNewRecordState keeping tombstones",
			lines: with(confluentBase, append(unwrapLines, "transforms.unwrap.drop.tombstones=false", "insert.mode=upsert", "pk.mode=record_key", "delete.enabled=true")...),
			yaml:  []string{"unwrap: debezium", "delete_on_tombstone: true"}},
		{name: "ExtractNewRecordState turning deletes into tombstones",
			lines: with(confluentBase, append(unwrapLines, "transforms.unwrap.delete.tombstone.handling.mode=tombstone", "transforms.unwrap.add.fields=op,source.ts_ms,table,lsn,ts_ms", "insert.mode=upsert", "pk.mode=record_key", "delete.enabled=true")...),
			yaml:  []string{"unwrap: debezium", "delete_on_tombstone: true"}},
		{name: "ExtractNewRecordState rewriting deletes",
			lines: with(confluentBase, append(unwrapLines, "transforms.unwrap.delete.tombstone.handling.mode=rewrite", "transforms.unwrap.add.fields=op,db,source.lsn", "insert.mode=upsert", "pk.mode=record_key", "delete.enabled=true")...),
			yaml:  []string{"unwrap: debezium"}, notYAML: []string{"delete_on_tombstone"},
			dropped: []string{"transforms.unwrap.delete.tombstone.handling.mode", "transforms.unwrap.add.fields"}},
		{name: "ExtractNewRecordState with sink deletes off",
			lines:   with(confluentBase, append(unwrapLines, "transforms.unwrap.delete.handling.mode=none", "insert.mode=upsert", "pk.mode=record_key")...),
			dropped: []string{"delete.enabled"}},
		{name: "ExtractNewRecordState without a key",
			lines:   with(confluentBase, unwrapLines...),
			yaml:    []string{"mode: upsert", "unwrap: debezium"},
			dropped: []string{"pk.mode", "delete.enabled"}},
		{name: "a predicate and an unknown transform",
			lines: with(confluentBase, "transforms=mask,unwrap", "transforms.mask.type=org.apache.kafka.connect.transforms.MaskField$Value", "transforms.mask.fields=ssn",
				"transforms.unwrap.type=io.debezium.transforms.ExtractNewRecordState", "transforms.unwrap.predicate=isOrders", "predicates=isOrders",
				"predicates.isOrders.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches", "predicates.isOrders.pattern=orders"),
			notYAML: []string{"unwrap"},
			dropped: []string{"transforms.mask.type", "transforms.mask.fields", "transforms.unwrap.type", "predicates", "predicates.isOrders.type", "predicates.isOrders.pattern"}},
		{name: "RegexRouter and table name format",
			lines: with(confluentBase, "topics=dbserver1.inventory.customers,dbserver1.inventory.orders", "transforms=route", "transforms.route.type=org.apache.kafka.connect.transforms.RegexRouter",
				"transforms.route.regex=([^.]+)\\.([^.]+)\\.([^.]+)", "transforms.route.replacement=$2.$3", "table.name.format=${topic}_copy"),
			yaml: []string{"table: inventory.customers_copy", "table: inventory.orders_copy"}},
		{name: "one table for several topics",
			lines: with(confluentBase, "topics=a,b", "table.name.format=events"),
			yaml:  []string{"topics: [a, b]", "table: events"}},
		{name: "catalog.schema.table naming the database",
			lines: with(confluentBase, "topics=shop.public.orders"),
			yaml:  []string{"table: public.orders"}},
		{name: "catalog.schema.table naming another database",
			lines:   with(confluentBase, "topics=dbserver1.inventory.orders"),
			dropped: []string{"table.name.format"}},
		{name: "unquoted identifiers fold to lower case",
			lines: with(confluentBase, "topics=Orders", "quote.sql.identifiers=never"),
			yaml:  []string{"table: orders"}},
		{name: "quoted identifiers keep their case",
			lines: with(confluentBase, "topics=Orders"),
			yaml:  []string{"table: Orders"}},
		{name: "Debezium naming",
			lines: with(debeziumBase, "topics=server1.Inventory.Orders", "primary.key.mode=record_key", "delete.enabled=true", "insert.mode=upsert"),
			yaml:  []string{"table: server1_inventory_orders", "unwrap: debezium", "delete_on_tombstone: true"}},
		{name: "Debezium quoted naming",
			lines: with(debeziumBase, "topics=server1.Inventory.Orders", "primary.key.mode=record_key", "delete.enabled=true", "quote.identifiers=true", "table.name.format=Sink.${topic}"),
			yaml:  []string{"table: Sink.server1_Inventory_Orders"}},
		{name: "Debezium per-record names",
			lines:   with(debeziumBase, "primary.key.mode=record_key", "delete.enabled=true", "collection.name.format=${source.table}"),
			yaml:    []string{"table: orders"},
			dropped: []string{"collection.name.format"}},
		{name: "Debezium without a key or deletes",
			lines:   with(debeziumBase, "insert.mode=insert"),
			yaml:    []string{"mode: upsert", "unwrap: debezium"},
			dropped: []string{"primary.key.mode", "delete.enabled"}},
		{name: "Debezium truncate and header keys",
			lines:   with(debeziumBase, "primary.key.mode=record_header", "delete.enabled=true", "truncate.enabled=true"),
			yaml:    []string{"debezium: {on_truncate: fail}"},
			dropped: []string{"primary.key.mode", "truncate.enabled", "delete.enabled"}},
		{name: "tolerance all without a dead-letter topic",
			lines:   with(confluentBase, "errors.tolerance=all"),
			yaml:    []string{"tolerance: all", "dlq: {table: kafka2pg_dlq}"},
			dropped: []string{"errors.deadletterqueue.topic.name"}},
		{name: "tolerance all with a dead-letter topic",
			lines: with(confluentBase, "errors.tolerance=all", "errors.deadletterqueue.topic.name=orders-dlq", "errors.deadletterqueue.topic.replication.factor=3", "errors.retry.delay.max.ms=120000"),
			yaml:  []string{"dlq: {topic: orders-dlq}", "max: 2m"}, notes: []string{"does not create the dead-letter topic"}},
		{name: "topics.regex without --topics",
			lines:   with(confluentBase[:4], "topics.regex=orders-.*", "key.converter=org.apache.kafka.connect.json.JsonConverter", "value.converter=org.apache.kafka.connect.json.JsonConverter"),
			yaml:    []string{`topic_pattern: "^(?:orders-.*)$"`, `topic: "${TOPIC}"`, `table: "${TOPIC}"`},
			dropped: []string{"topics.regex"},
			env:     []string{"TOPIC", "orders-eu"}},
		{name: "topics.regex with --topics",
			lines: with(confluentBase[:4], "topics.regex=orders-.*", "key.converter=org.apache.kafka.connect.json.JsonConverter", "value.converter=org.apache.kafka.connect.json.JsonConverter"),
			opts:  Options{Topics: []string{"orders-eu", "orders-us"}},
			yaml:  []string{"topic: orders-eu", "topic: orders-us"}},
		{name: "brokers and group flags",
			lines: confluentBase, opts: Options{Brokers: []string{"k1:9092", "k2:9092"}, Group: "sink-v2"},
			yaml: []string{"brokers: [\"k1:9092\", \"k2:9092\"]", "group: sink-v2"}, notYAML: []string{"KAFKA_BROKERS"}},
		{name: "group override",
			lines: with(confluentBase, "consumer.override.group.id=legacy-group", "consumer.override.auto.offset.reset=latest"),
			yaml:  []string{"group: legacy-group", "start: latest"}},
		{name: "no connector name",
			lines: confluentBase[:7],
			yaml:  []string{`group: "${KAFKA_GROUP}"`}},
		{name: "one registry for keys and values",
			lines: with(confluentBase, "pk.mode=record_key", "insert.mode=upsert",
				"key.converter=io.confluent.connect.avro.AvroConverter", "key.converter.schema.registry.url=http://a:8081",
				"value.converter=io.confluent.connect.protobuf.ProtobufConverter", "value.converter.schema.registry.url=http://b:8081,http://c:8081"),
			yaml:    []string{`url: "http://b:8081"`, "value: {format: protobuf}", "key: {format: avro}"},
			dropped: []string{"key.converter.schema.registry.url"}, notes: []string{"lists 2 registries"}},
		{name: "registry credentials in the URL",
			lines: with(confluentBase, "value.converter=io.confluent.connect.json.JsonSchemaConverter", "value.converter.schema.registry.url=https://u:hunter2@reg:8081",
				"value.converter.basic.auth.credentials.source=URL", "value.converter.auto.register.schemas=false", "value.converter.scrub.invalid.names=true"),
			yaml:    []string{`url: "https://reg:8081"`, "username: u", `password: "${SCHEMA_REGISTRY_PASSWORD}"`, "value: {format: json-schema}"},
			dropped: []string{"value.converter.scrub.invalid.names"}},
		{name: "Apicurio",
			lines:   with(confluentBase, "value.converter=io.apicurio.registry.utils.converter.AvroConverter", "value.converter.apicurio.registry.url=http://r"),
			dropped: []string{"value.converter", "value.converter.apicurio.registry.url"}},
		{name: "JDBC URL parameters and driver properties",
			lines: with(confluentBase, "connection.url=jdbc:postgresql://db/shop?sslmode=verify-ca&ssl=true&sslfactory=org.postgresql.ssl.NonValidatingFactory&stringtype=unspecified&options=-c%20statement_timeout%3D5000&weird=1",
				"connection.tcpKeepAlive=false", "connection.ApplicationName=sink", "connection.attempts=5"),
			yaml:    []string{"sslmode=verify-ca", "options=-c%20statement_timeout%3D5000", "application_name=sink"},
			notYAML: []string{"stringtype", "weird", "sslmode=require"},
			dropped: []string{"connection.url", "connection.tcpKeepAlive"}, notes: []string{"connection.attempts"}},
		{name: "password parameter and no user",
			lines: with(confluentBase[:1], "connection.url=jdbc:postgresql://db/shop?user=u&password=hunter2", "topics=t"),
			yaml:  []string{`url: "postgres://u:${POSTGRES_PASSWORD}@db/shop"`}},
		{name: "password from a config provider",
			lines: with(confluentBase, "connection.password=${file:/etc/s.properties:pw}", "connection.url=${file:/etc/s.properties:url}"),
			yaml:  []string{`url: "${DATABASE_URL}"`}},
		{name: "a config provider in another key",
			lines:   with(confluentBase, "table.name.format=${file:/etc/s.properties:table}"),
			dropped: []string{"table.name.format"}},
		{name: "consumer security",
			lines: with(confluentBase, "consumer.override.security.protocol=SSL", "consumer.override.ssl.truststore.type=PEM", "consumer.override.ssl.truststore.location=/etc/ca.pem",
				"consumer.override.ssl.keystore.location=/etc/client.jks", "consumer.override.ssl.keystore.password=hunter2", "consumer.override.fetch.max.bytes=1048576", "consumer.override.session.timeout.ms=30000"),
			yaml:    []string{"ca_file: /etc/ca.pem", "fetch_max_bytes: \"1048576\"", "session_timeout: 30s"},
			dropped: []string{"consumer.override.ssl.keystore.location", "consumer.override.ssl.keystore.password"}},
		{name: "SASL without a username",
			lines:   with(confluentBase, "consumer.override.security.protocol=SASL_PLAINTEXT", "consumer.override.sasl.mechanism=PLAIN", "consumer.override.sasl.jaas.config=x required;"),
			dropped: []string{"consumer.override.sasl.jaas.config"}},
		{name: "retries and batches",
			lines: with(confluentBase, "batch.size=0", "retry.backoff.ms=45000", "max.retries=3"),
			yaml:  []string{"initial: 45s", "max: 45s"}, notYAML: []string{"batch:"},
			dropped: []string{"batch.size"}, notes: []string{"max.retries"}},
		{name: "field lists and time zones",
			lines:   with(confluentBase, "fields.whitelist=a,b", "db.timezone=UTC", "date.timezone=DB_TIMEZONE", "timestamp.precision.mode=nanoseconds", "table.types=VIEW", "replace.null.with.default=false"),
			dropped: []string{"fields.whitelist", "timestamp.precision.mode", "table.types"}},
		{name: "unknown and misspelt keys",
			lines:   with(confluentBase, "auto-create=true", "connector.clas=x"),
			dropped: []string{"auto-create", "connector.clas"}},
		{name: "InsertField and Flatten",
			lines: with(confluentBase, "transforms=ins,flat", "transforms.ins.type=org.apache.kafka.connect.transforms.InsertField$Value",
				"transforms.ins.topic.field=src_topic!", "transforms.ins.timestamp.field=ts", "transforms.flat.type=org.apache.kafka.connect.transforms.Flatten$Value", "transforms.flat.delimiter=_"),
			yaml:    []string{"src_topic: kafka.topic", "flatten: true"},
			dropped: []string{"transforms.ins.timestamp.field"}, columns: true},
		{name: "Flatten with dots",
			lines:   with(confluentBase, "transforms=flat", "transforms.flat.type=org.apache.kafka.connect.transforms.Flatten$Value"),
			notYAML: []string{"flatten"}, dropped: []string{"transforms.flat.type"}},
		{name: "short class name, Debezium settings",
			lines: []string{"connector.class=JdbcSinkConnector", "connection.url=jdbc:postgresql://db/x", "connection.username=u", "primary.key.mode=record_key", "delete.enabled=true", "topics=t"},
			yaml:  []string{"unwrap: debezium"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "orders-sink"
			if tc.name == "no connector name" {
				name = ""
			}
			res, err := Convert(connector(name, tc.lines...), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			y := string(res.YAML)
			for _, s := range tc.yaml {
				if !strings.Contains(y, s) {
					t.Errorf("YAML lacks %q:\n%s", s, y)
				}
			}
			for _, s := range tc.notYAML {
				if strings.Contains(y, s) {
					t.Errorf("YAML has %q:\n%s", s, y)
				}
			}
			var got []string
			for _, d := range res.Dropped {
				got = append(got, d.Key)
			}
			sort.Strings(got)
			want := append([]string(nil), tc.dropped...)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("dropped %q, want %q:\n%s", got, want, report(res, nil))
			}
			for _, n := range tc.notes {
				found := false
				for _, have := range res.Notes {
					found = found || strings.Contains(have, n)
				}
				if !found {
					t.Errorf("no note mentions %q: %q", n, res.Notes)
				}
			}
			if res.Columns != tc.columns {
				t.Errorf("Columns = %v, want %v", res.Columns, tc.columns)
			}
			if strings.Contains(report(res, nil), "hunter2") {
				t.Errorf("a password is in the output:\n%s", report(res, nil))
			}
			checkYAML(t, res, tc.env...)
		})
	}
}

func TestConvertRefuses(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		opts  Options
		want  string
		isOpt bool
	}{
		{"no connector.class", []string{"topics=a"}, Options{}, "connector.class: missing", false},
		{"a source connector", []string{"connector.class=io.confluent.connect.jdbc.JdbcSourceConnector"}, Options{}, "is not a JDBC sink connector kafka2pg can convert", false},
		{"Confluent Cloud's managed connector", []string{"connector.class=PostgresSink"}, Options{}, "is not a JDBC sink connector", false},
		{"ambiguous short name", []string{"connector.class=JdbcSinkConnector", "connection.url=jdbc:postgresql://h/d", "topics=a"}, Options{}, "names both", false},
		{"no connection.url", []string{"connector.class=" + confluentClass, "topics=a"}, Options{}, "connection.url: missing", false},
		{"MySQL", []string{"connector.class=" + debeziumClass, "connection.url=jdbc:mysql://h/d?password=hunter2", "topics=a"}, Options{}, "PostgreSQL only", false},
		{"no topics", []string{"connector.class=" + confluentClass, "connection.url=jdbc:postgresql://h/d"}, Options{}, "topics: missing", false},
		{"topics and topics.regex", []string{"connector.class=" + confluentClass, "connection.url=jdbc:postgresql://h/d", "topics=a", "topics.regex=a.*"}, Options{}, "only one of them", false},
		{"--topics not matching", []string{"connector.class=" + confluentClass, "connection.url=jdbc:postgresql://h/d", "topics.regex=a.*"}, Options{Topics: []string{"b"}}, `--topics: topic "b" does not match topics.regex`, true},
		{"--topics with topics", []string{"connector.class=" + confluentClass, "connection.url=jdbc:postgresql://h/d", "topics=a"}, Options{Topics: []string{"a"}}, "only for a connector with topics.regex", true},
		{"bad --brokers", []string{"connector.class=" + confluentClass, "connection.url=jdbc:postgresql://h/d", "topics=a"}, Options{Brokers: []string{"k1"}}, `--brokers: want host:port, got "k1"`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Convert(connector("x", tc.lines...), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			var oe *OptionsError
			var ie *InputError
			if tc.isOpt && !errors.As(err, &oe) || !tc.isOpt && !errors.As(err, &ie) {
				t.Errorf("error type %T", err)
			}
		})
	}
}

// Text from the input never becomes YAML of its own: names and aliases with
// line breaks or ${...} stay inside their scalar or comment.
func TestNoInjection(t *testing.T) {
	c := connector("evil\nshutdown_timeout: 1s",
		append(confluentBase[:5], "topics=orders", "table.name.format=t_${topic}_$${HOME}", "transforms=a\nlog: {level: debug}",
			"transforms.a\nlog: {level: debug}.type=org.apache.kafka.connect.transforms.RegexRouter",
			"transforms.a\nlog: {level: debug}.regex=(.*)", "transforms.a\nlog: {level: debug}.replacement=$1")...)
	res, err := Convert(c, Options{Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(res.YAML, lookup)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	if cfg.ShutdownTimeout.String() != "30s" || cfg.Log.Level != "info" {
		t.Errorf("input text became configuration:\n%s", res.YAML)
	}
	if got := cfg.Routes[0].Table; got != "t_orders_$${HOME}" {
		t.Errorf("table = %q, want the literal t_orders_$${HOME}", got)
	}
}
