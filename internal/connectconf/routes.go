package connectconf

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kafka2pg/kafka2pg/config"
)

// names of the settings that differ between the two connectors.
type keyNames struct {
	pkMode, pkFields, tableFormat, quote string
}

func (cv *conv) names() keyNames {
	if cv.kind == DebeziumJDBC {
		return keyNames{"primary.key.mode", "primary.key.fields", "collection.name.format", "quote.identifiers"}
	}
	return keyNames{"pk.mode", "pk.fields", "table.name.format", "quote.sql.identifiers"}
}

// defaultKafkaPK are the column names of pk.mode=kafka.
var defaultKafkaPK = []string{"__connect_topic", "__connect_partition", "__connect_offset"}

// routes builds one route per table: the settings are the connector's, the
// tables follow from table.name.format and the transforms.
func (cv *conv) routes(topics []string) {
	n := cv.names()
	tmpl := cv.routeTemplate(n)
	byTable := map[string]*route{}
	var order []*route
	if cv.placeholderTopic != "" {
		r := tmpl.clone()
		r.topics = []string{cv.placeholderTopic}
		r.table = cv.placeholderTable(n)
		cv.p.routes = []*route{r}
		return
	}
	for _, topic := range topics {
		table := cv.tableFor(topic, n)
		if r := byTable[table]; r != nil {
			r.topics = append(r.topics, lit(topic))
			continue
		}
		r := tmpl.clone()
		r.topics = []string{lit(topic)}
		r.table = lit(table)
		byTable[table] = r
		order = append(order, r)
	}
	cv.p.routes = order
}

func (r *route) clone() *route {
	c := *r
	c.notes = map[string]string{}
	for k, v := range r.notes {
		c.notes[k] = v
	}
	c.conflictKey = append([]string(nil), r.conflictKey...)
	c.columns = append([][2]string(nil), r.columns...)
	return &c
}

// routeTemplate maps everything a route holds except its topics and table.
func (cv *conv) routeTemplate(n keyNames) *route {
	r := &route{}
	insertMode := strings.ToLower(cv.str("insert.mode", "insert"))
	pkMode := strings.ToLower(cv.str(n.pkMode, "none"))
	var pkFields []string
	for _, f := range strings.Split(cv.str(n.pkFields, ""), ",") {
		if f = strings.TrimSpace(f); f != "" {
			pkFields = append(pkFields, f)
		}
	}
	sinkDeletes := cv.flag("delete.enabled", false)
	unwrap := cv.kind == DebeziumJDBC || cv.unwrap != nil

	// mode
	switch insertMode {
	case "insert", "upsert", "update":
	default:
		cv.drop("insert.mode", "want insert, upsert or update")
		insertMode = "insert"
	}
	keyed := pkMode != "none"
	switch {
	case unwrap:
		r.mode = "upsert"
		r.unwrap = true
		switch {
		case cv.kind == DebeziumJDBC && cv.unwrap == nil:
			r.note("unwrap", "the Debezium JDBC sink reads Debezium change events as they are; remove unwrap if these topics carry plain records")
			cv.note("the Debezium JDBC sink reads Debezium change events and plain records alike; the converted route unwraps change events (unwrap: debezium), which kafka2pg requires of every record: remove unwrap if the topics carry plain records")
		default:
			r.note("unwrap", "transforms."+cv.unwrap.alias+" ExtractNewRecordState")
		}
		if insertMode == "insert" && keyed {
			cv.note("insert.mode=insert: kafka2pg applies change events as upserts and deletes by key; the rows end the same where Connect's inserts succeed")
		}
	case !keyed:
		r.mode = "insert"
		if insertMode != "insert" {
			cv.drop("insert.mode", insertMode+" needs a primary key, and "+n.pkMode+" is none: Connect refuses this configuration")
		}
	default:
		r.mode = "upsert"
		if insertMode == "insert" {
			cv.note("insert.mode=insert with %s=%s: kafka2pg upserts on the key instead. On the first run it reads again the records Connect wrote after its last offset commit, and plain inserts would fail on the primary key; a record repeating a key updates the row where Connect would stop on a duplicate-key error", n.pkMode, pkMode)
		}
	}
	if insertMode == "update" {
		cv.drop("insert.mode", "kafka2pg has no update-only mode: the route upserts, so a record whose key has no row inserts one")
	}
	switch {
	case insertMode != r.mode:
		r.note("mode", "insert.mode="+insertMode+", applied as "+r.mode+"s (see import-connect's notes)")
	case insertMode != "insert" || keyed || unwrap:
		r.note("mode", "insert.mode="+insertMode)
	}

	// key and the columns it fills
	keysUsed := r.mode == "upsert" || sinkDeletes
	valueFormat, valueNote := cv.converter("value", true)
	keyFormat, keyNote := cv.converter("key", keysUsed)
	r.valueFormat, r.keyFormat = valueFormat, keyFormat
	r.note("value", valueNote)
	r.note("key", keyNote)
	structuredKey := keyFormat != "string" && keyFormat != "bytes"
	switch pkMode {
	case "none":
		if unwrap {
			cv.dropShown(n.pkMode, "none", "kafka2pg applies change events as upserts and deletes by key, so it needs one: set "+n.pkMode+"=record_key")
		}
	case "kafka":
		names := defaultKafkaPK
		if len(pkFields) == 3 {
			names = pkFields
		} else if len(pkFields) > 0 {
			cv.drop(n.pkFields, "with "+n.pkMode+"=kafka it names the three columns of topic, partition and offset")
		}
		r.conflictKey = names
		r.note("conflict_key", n.pkMode+"=kafka")
		r.columns = append(r.columns, [2]string{names[0], "kafka.topic"}, [2]string{names[1], "kafka.partition"}, [2]string{names[2], "kafka.offset"})
		if !structuredKey {
			cv.drop(n.pkMode, "kafka2pg reads the Kafka key into the key columns, and refuses a "+keyFormat+" key with a key of three columns; it works only with a structured key format ("+keyFormat+" comes from key.converter)")
		}
	case "record_key":
		r.conflictKey = pkFields
		if len(pkFields) > 0 {
			r.note("conflict_key", n.pkMode+"=record_key, "+n.pkFields)
		}
		if !structuredKey && len(pkFields) != 1 {
			cv.dropShown(n.pkFields, strings.Join(pkFields, ","), "a "+keyFormat+" key is one value: name its column with exactly one field")
		}
		if structuredKey && len(pkFields) == 1 {
			cv.note("%s=%s: kafka2pg reads the key (format %s) as a struct whose field %s fills the key column; a primitive key (a bare number or string) is a record error in kafka2pg", n.pkFields, pkFields[0], keyFormat, pkFields[0])
		}
	case "record_value":
		r.conflictKey = pkFields
		if len(pkFields) > 0 {
			r.note("conflict_key", n.pkMode+"=record_value, "+n.pkFields)
		} else {
			cv.note("%s=record_value without %s: Connect keys the table on every value field; kafka2pg upserts on the table's primary key", n.pkMode, n.pkFields)
		}
		if !structuredKey {
			cv.drop(n.pkMode, "kafka2pg also reads the Kafka key: a "+keyFormat+" key fills the key column (winning over the value's field), and a key of several columns refuses it; this is right only when the topic's keys are null or equal the value's key field")
		}
	case "record_header":
		cv.drop(n.pkMode, "kafka2pg does not read keys from record headers")
	default:
		cv.drop(n.pkMode, "want none, kafka, record_key or record_value")
	}
	if r.mode == "insert" {
		r.conflictKey = nil // config accepts conflict_key with upsert only; deletes use the primary key
	}

	// deletes
	switch {
	case unwrap:
		cv.unwrapDeletes(r, sinkDeletes, pkMode)
	case sinkDeletes && pkMode == "record_key":
		r.deletes = true
		r.note("delete_on_tombstone", "delete.enabled=true")
	case sinkDeletes:
		cv.drop("delete.enabled", "needs "+n.pkMode+"=record_key: Connect refuses this configuration")
	}
	if cv.kind == DebeziumJDBC && cv.flag("truncate.enabled", false) {
		r.onTruncate = "fail"
		r.note("on_truncate", "truncate.enabled=true is not carried over: the pipeline stops on a truncate event")
		cv.drop("truncate.enabled", "kafka2pg does not truncate tables (a truncate event on one partition would race with rows in flight on others); the route stops on a truncate event instead (debezium.on_truncate: fail) so that you can truncate the table yourself")
	}

	// tables that follow the data
	if cv.kind == DebeziumJDBC {
		switch strings.ToLower(cv.str("schema.evolution", "none")) {
		case "basic":
			r.autoCreate, r.autoEvolve = true, true
			r.note("auto_create", "schema.evolution=basic")
			r.note("auto_evolve", "schema.evolution=basic")
		case "none":
		default:
			cv.drop("schema.evolution", "want none or basic")
		}
	} else {
		if cv.flag("auto.create", false) {
			r.autoCreate = true
			r.note("auto_create", "auto.create")
		}
		if cv.flag("auto.evolve", false) {
			r.autoEvolve = true
			r.note("auto_evolve", "auto.evolve")
		}
	}
	if (r.autoCreate || r.autoEvolve) && (valueFormat == "string" || valueFormat == "bytes") {
		cv.drop("value.converter", "kafka2pg creates and evolves tables only from structured values")
		r.autoCreate, r.autoEvolve = false, false
	}
	if valueFormat == "string" || valueFormat == "bytes" {
		col := "record_value"
		if cv.kind == ConfluentJDBC {
			col = cv.str("string.output.value.column.name", col)
		}
		cv.note("value.converter: kafka2pg writes a %s value whole to the column named value (the Confluent sink used %s, where it supports such values at all)", valueFormat, col)
	}
	if unwrap && (valueFormat == "string" || valueFormat == "bytes") {
		cv.drop("value.converter", "change events need a structured value format")
	}

	// transforms that became route settings
	for _, c := range cv.smt.columns {
		r.columns = append(r.columns, [2]string{lit(c[0]), lit(c[1])})
	}
	if len(r.columns) > 0 {
		r.note("columns", "computed (CEL); needs a kafka2pg with computed columns")
	}
	if cv.smt.flatten {
		r.flatten = true
		r.note("flatten", "Flatten$Value, delimiter _")
	}
	if len(r.columns) > 0 && r.autoCreate {
		cv.note("auto_create with computed columns: check with kafka2pg check that the created table has the columns %s", columnNames(r.columns))
	}
	for i := range r.conflictKey {
		r.conflictKey[i] = lit(r.conflictKey[i])
	}

	cv.fieldFilters(r)
	cv.timeSettings()
	return r
}

func columnNames(cols [][2]string) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c[0]
	}
	return strings.Join(names, ", ")
}

// unwrapDeletes decides delete_on_tombstone for a route that unwraps
// Debezium change events. kafka2pg applies every delete event (op d) as a
// delete by key; Connect deletes only when the sink has delete.enabled and
// the delete reaches it (natively for the Debezium sink; through
// ExtractNewRecordState as a tombstone for the Confluent sink).
func (cv *conv) unwrapDeletes(r *route, sinkDeletes bool, pkMode string) {
	const always = "kafka2pg's unwrap: debezium applies every delete event (op d) as a delete by key, so rows Connect kept will be deleted"
	if !sinkDeletes {
		cv.dropShown("delete.enabled", "false", always)
		return
	}
	if pkMode != "record_key" {
		cv.drop("delete.enabled", "needs "+cv.names().pkMode+"=record_key: Connect refuses this configuration")
		return
	}
	u := cv.unwrap
	switch {
	case u == nil: // the Debezium sink deletes on delete events and tombstones
	case !u.decided:
		// The route below does what newer Debezium versions do.
		cv.drop(u.blame, "which deletes reach the sink depends on the Debezium version: versions with delete.tombstone.handling.mode leave a tombstone per delete here (Connect deleted the rows, and so does the converted route); older ones drop deletes and tombstones (Connect kept the rows, but "+always+")")
	case !u.deletesPass && !u.tombstonesPass:
		cv.drop(u.blame, "ExtractNewRecordState drops the deletes before the sink sees them; "+always+" (kafka2pg can keep deleted rows with soft_delete_column instead)")
		return
	}
	r.deletes = true
	r.note("delete_on_tombstone", "delete.enabled=true")
}

// tableFor returns the table a topic's records go to: the transforms'
// topic routing, then the connector's table name format and identifier
// rules.
func (cv *conv) tableFor(topic string, n keyNames) string {
	routed := cv.smt.route(topic)
	var format string
	if cv.kind == DebeziumJDBC {
		format = cv.str("collection.name.format", "")
		if format == "" {
			format = cv.str("table.name.format", "${topic}")
		} else if _, both := cv.get("table.name.format"); both {
			cv.note("collection.name.format wins over its deprecated alias table.name.format")
		}
		if s := cv.str("collection.naming.strategy", cv.str("table.naming.strategy", "")); s != "" &&
			s != "io.debezium.sink.naming.DefaultCollectionNamingStrategy" && s != "io.debezium.connector.jdbc.naming.DefaultTableNamingStrategy" {
			key := "collection.naming.strategy"
			if _, ok := cv.c.Config[key]; !ok {
				key = "table.naming.strategy"
			}
			cv.drop(key, "a custom naming strategy; the converted routes use the default naming, review their tables")
		}
		if f := cv.str("collection.table.format", "${table}"); f != "${table}" {
			cv.drop("collection.table.format", "kafka2pg names tables from topics only")
		}
		if s := cv.str("column.naming.strategy", ""); s != "" && s != "io.debezium.connector.jdbc.naming.DefaultColumnNamingStrategy" && s != "io.debezium.sink.naming.DefaultColumnNamingStrategy" {
			cv.drop("column.naming.strategy", "kafka2pg maps fields to columns of the same name (or its lower-case form)")
		}
		// The default naming strategy replaces the dots of the topic name.
		routed = strings.ReplaceAll(routed, ".", "_")
	} else {
		format = cv.str("table.name.format", "${topic}")
	}
	fkey := n.tableFormat // the key that set the format, for reports
	if _, ok := cv.c.Config[fkey]; !ok && cv.kind == DebeziumJDBC {
		fkey = "table.name.format"
	}
	name := strings.ReplaceAll(format, "${topic}", routed)
	if cv.kind == DebeziumJDBC && strings.Contains(name, "${source.") {
		cv.drop(fkey, "kafka2pg names a route's table from its topic; per-record names (${source.table} and the like) are not supported: the route writes to a table named after the topic")
		return config.SanitiseIdent(topic)
	}
	quoted := cv.quoted(n)
	parts := strings.Split(name, ".")
	if !quoted {
		for i := range parts {
			parts[i] = strings.ToLower(parts[i])
		}
	}
	switch len(parts) {
	case 1, 2:
	case 3:
		if parts[0] != cv.database && !(!quoted && strings.EqualFold(parts[0], cv.database)) {
			cv.drop(fkey, fmt.Sprintf("topic %s makes the table name %s, whose first part names database %s, not the connection's %s", topic, name, parts[0], cv.database))
		}
		parts = parts[1:]
	default:
		cv.drop(fkey, fmt.Sprintf("topic %s makes the table name %s, which has more than schema.table", topic, name))
		return config.SanitiseIdent(topic)
	}
	for _, p := range parts {
		if p == "" || len(p) > 63 || strings.ContainsAny(p, "\"\x00") {
			cv.drop(fkey, fmt.Sprintf("topic %s makes the table name %s, which is not a PostgreSQL identifier kafka2pg accepts (1 to 63 bytes, no '\"')", topic, name))
			return config.SanitiseIdent(topic)
		}
	}
	return strings.Join(parts, ".")
}

// placeholderTable is the table of the placeholder route: the table name
// format with ${topic} replaced by the ${TOPIC} placeholder (kafka2pg
// expands it too), or the placeholder itself.
func (cv *conv) placeholderTable(n keyNames) string {
	format := cv.str(n.tableFormat, "")
	if format == "" {
		format = cv.str("table.name.format", "${topic}")
	}
	parts := strings.Split(format, "${topic}")
	for i := range parts {
		if strings.Contains(parts[i], "${source.") {
			return cv.placeholderTopic
		}
		parts[i] = lit(parts[i])
	}
	return strings.Join(parts, cv.placeholderTopic)
}

// quoted reports whether the connector quotes identifiers (so PostgreSQL
// keeps their case) or not (so PostgreSQL folds them to lower case).
func (cv *conv) quoted(n keyNames) bool {
	v := strings.ToLower(cv.str(n.quote, ""))
	if cv.kind == DebeziumJDBC {
		switch v {
		case "", "false":
			return false
		case "true":
			return true
		}
		cv.drop(n.quote, "want true or false")
		return false
	}
	switch v {
	case "", "always":
		return true
	case "never":
		return false
	}
	cv.drop(n.quote, "want always or never")
	return true
}

// fieldFilters reports field include and exclude lists: kafka2pg writes the
// fields that have a column.
func (cv *conv) fieldFilters(r *route) {
	const why = "kafka2pg writes every field that has a column of the same name; a field left out here is still written when the table has its column"
	for _, k := range []string{"fields.whitelist", "field.include.list", "field.exclude.list"} {
		if _, ok := cv.c.Config[k]; !ok || (cv.kind == ConfluentJDBC) != (k == "fields.whitelist") {
			continue
		}
		if v := cv.str(k, ""); v != "" {
			reason := why
			if r.autoCreate || r.autoEvolve {
				reason += ", and auto_create and auto_evolve make a column for every field"
			}
			cv.drop(k, reason)
		}
	}
}

// timeSettings checks the time zone and timestamp settings: kafka2pg
// writes times as UTC and timestamps with microseconds.
func (cv *conv) timeSettings() {
	utc := func(key string) {
		if v := cv.str(key, "UTC"); !strings.EqualFold(v, "UTC") && v != "Z" && !strings.EqualFold(v, "Etc/UTC") && !strings.EqualFold(v, "GMT") {
			cv.drop(key, "kafka2pg writes times in UTC: a timestamp without time zone column gets the UTC time (and a date the UTC date)")
		}
	}
	if cv.kind == ConfluentJDBC {
		utc("db.timezone")
		if v, set := cv.get("date.timezone"); set && !strings.EqualFold(strings.TrimSpace(v), "UTC") &&
			!(strings.EqualFold(strings.TrimSpace(v), "DB_TIMEZONE") && strings.EqualFold(cv.str("db.timezone", "UTC"), "UTC")) {
			cv.drop("date.timezone", "kafka2pg writes dates in UTC")
		}
		if v := cv.str("timestamp.precision.mode", "microseconds"); !strings.EqualFold(v, "microseconds") {
			cv.drop("timestamp.precision.mode", "kafka2pg writes timestamps with PostgreSQL's microsecond precision")
		}
		if v := cv.str("timestamp.fields.list", ""); v != "" {
			cv.drop("timestamp.fields.list", "kafka2pg converts a number or string to a timestamp when the column is a timestamp, not by field list")
		}
		if v := cv.str("date.calendar.system", "LEGACY"); strings.EqualFold(v, "LEGACY") {
			if _, set := cv.c.Config["date.calendar.system"]; set {
				cv.note("date.calendar.system=LEGACY: kafka2pg uses the proleptic Gregorian calendar, which differs from Java's legacy calendar for dates before 1582-10-15")
			}
		} else if !strings.EqualFold(v, "PROLEPTIC_GREGORIAN") {
			cv.drop("date.calendar.system", "want LEGACY or PROLEPTIC_GREGORIAN")
		}
		if v, ok := cv.get("replace.null.with.default"); ok && strings.EqualFold(strings.TrimSpace(v), "true") {
			cv.drop("replace.null.with.default", "kafka2pg writes a null field as NULL; it does not replace it with the schema's default")
		}
		if v := cv.str("table.types", "TABLE"); v != "" {
			for _, t := range strings.Split(v, ",") {
				if t = strings.ToUpper(strings.TrimSpace(t)); t != "TABLE" && t != "PARTITIONED_TABLE" {
					cv.drop("table.types", "kafka2pg writes to tables and partitioned tables, not views")
				}
			}
		}
	} else {
		key := "use.time.zone"
		if _, ok := cv.c.Config[key]; !ok {
			key = "database.time_zone"
		}
		utc(key)
		if v := cv.str("dialect.postgres.postgis.schema", "public"); v != "public" {
			cv.drop("dialect.postgres.postgis.schema", "kafka2pg does not write PostGIS types")
		}
	}
}

// ---- batch and errors ----

func (cv *conv) batchAndErrors() {
	if n, ok := cv.number("batch.size"); ok {
		switch {
		case n < 1:
			cv.drop("batch.size", "kafka2pg's batch.max_rows is at least 1")
		case n > 1000000:
			cv.p.maxRows, cv.p.maxRowsNote = "1000000", "batch.size, capped at kafka2pg's maximum"
		default:
			cv.p.maxRows, cv.p.maxRowsNote = strconv.FormatInt(n, 10), "batch.size"
		}
	}
	tol := strings.ToLower(cv.str("errors.tolerance", "none"))
	dlq := cv.str("errors.deadletterqueue.topic.name", "")
	switch tol {
	case "none":
		if dlq != "" {
			cv.note("errors.deadletterqueue.topic.name is unused with errors.tolerance=none, in Connect as in kafka2pg")
		}
	case "all":
		cv.p.tolerance, cv.p.toleranceNote = "all", "errors.tolerance"
		if dlq != "" {
			cv.p.dlqTopic, cv.p.dlqNote = lit(dlq), "errors.deadletterqueue.topic.name"
			cv.note("errors.tolerance=all: Connect dead-letters records its converter or transforms reject; kafka2pg also dead-letters rows PostgreSQL rejects (invalid values, constraint violations) instead of stopping")
			if cv.flag("errors.deadletterqueue.context.headers.enable", false) {
				cv.drop("errors.deadletterqueue.context.headers.enable", "kafka2pg's dead letters carry kafka2pg.error.* and kafka2pg.source.* headers, not Connect's __connect.errors.* headers: consumers of the dead-letter topic reading those must change")
			}
		} else {
			cv.p.dlqTable, cv.p.dlqNote = "kafka2pg_dlq", "Connect had no dead-letter topic"
			cv.dropShown("errors.deadletterqueue.topic.name", "(not set)", "with errors.tolerance=all and no dead-letter topic Connect skips bad records (at most logging them); kafka2pg never drops a record, so the converted configuration sends them to the dead-letter table kafka2pg_dlq")
		}
	default:
		cv.drop("errors.tolerance", "want none or all")
	}
	if tol != "all" {
		cv.flag("errors.deadletterqueue.context.headers.enable", false)
	}
	backoffKey := "retry.backoff.ms"
	if cv.kind == DebeziumJDBC {
		backoffKey = "flush.retry.delay.ms"
	}
	initial := int64(100)
	if ms, ok := cv.number(backoffKey); ok && ms > 0 {
		initial = ms
		cv.p.retryInitial = msDuration(ms)
		cv.p.retryNote = backoffKey
	}
	if ms, ok := cv.number("errors.retry.delay.max.ms"); ok && ms > 0 {
		if ms < initial {
			ms = initial
		}
		cv.p.retryMax = msDuration(ms)
		if cv.p.retryNote != "" {
			cv.p.retryNote += ", "
		}
		cv.p.retryNote += "errors.retry.delay.max.ms"
	} else if initial > 30000 {
		cv.p.retryMax = msDuration(initial) // retry.max must be at least retry.initial (default 30s)
	}
}

func msDuration(ms int64) string {
	switch {
	case ms%3600000 == 0:
		return strconv.FormatInt(ms/3600000, 10) + "h"
	case ms%60000 == 0:
		return strconv.FormatInt(ms/60000, 10) + "m"
	case ms%1000 == 0:
		return strconv.FormatInt(ms/1000, 10) + "s"
	}
	return strconv.FormatInt(ms, 10) + "ms"
}

// ---- consumer overrides ----

// consumerOverrides maps consumer.override.* settings that have a kafka
// section equivalent.
func (cv *conv) consumerOverrides() {
	const p = "consumer.override."
	for _, k := range cv.keysWithPrefix(p) {
		name := strings.TrimPrefix(k, p)
		v := strings.TrimSpace(cv.c.Config[k])
		cv.used[k] = true
		switch name {
		case "group.id": // read in kafka()
		case "auto.offset.reset":
			switch strings.ToLower(v) {
			case "earliest":
				cv.p.start, cv.p.startNote = "earliest", k
			case "latest":
				cv.p.start, cv.p.startNote = "latest", k
			default:
				cv.drop(k, "kafka2pg starts a partition without a committed offset at earliest or latest")
			}
		case "client.id":
			cv.p.clientID = lit(v)
		case "session.timeout.ms":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 1000 {
				cv.p.sessionTimeout = msDuration(n)
			} else {
				cv.drop(k, "want a whole number of milliseconds, at least 1000")
			}
		case "fetch.max.bytes":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				cv.p.fetchMaxBytes = strconv.FormatInt(n, 10)
			} else {
				cv.drop(k, "want a whole number of bytes")
			}
		case "max.poll.records", "max.poll.interval.ms", "heartbeat.interval.ms", "max.partition.fetch.bytes", "fetch.min.bytes", "fetch.max.wait.ms", "receive.buffer.bytes", "send.buffer.bytes", "request.timeout.ms", "partition.assignment.strategy":
			cv.note("%s: kafka2pg sizes its fetches and batches with kafka.fetch_max_bytes and the batch section", k)
		case "isolation.level":
			if !strings.EqualFold(v, "read_uncommitted") {
				cv.drop(k, "kafka2pg reads with Kafka's default isolation (read_uncommitted)")
			}
		case "security.protocol", "sasl.mechanism", "sasl.jaas.config", "ssl.truststore.location", "ssl.truststore.type", "ssl.keystore.location", "ssl.keystore.type", "ssl.endpoint.identification.algorithm":
			// read by security() below
		default:
			cv.drop(k, "a consumer setting kafka2pg does not carry over")
		}
	}
	cv.security(p)
}

// security maps the consumer's TLS and SASL settings.
func (cv *conv) security(p string) {
	get := func(name string) (string, bool) {
		v, ok := cv.c.Config[p+name]
		return strings.TrimSpace(v), ok
	}
	proto, hasProto := get("security.protocol")
	mech, _ := get("sasl.mechanism")
	jaas, hasJaas := get("sasl.jaas.config")
	if !hasProto {
		for _, n := range []string{"sasl.mechanism", "sasl.jaas.config", "ssl.truststore.location", "ssl.truststore.type", "ssl.keystore.location", "ssl.keystore.type", "ssl.endpoint.identification.algorithm"} {
			if _, ok := get(n); ok {
				cv.drop(p+n, "set without "+p+"security.protocol; the worker's security settings (not shown here) apply: configure kafka.tls and kafka.sasl from them")
			}
		}
		return
	}
	proto = strings.ToUpper(proto)
	useTLS := proto == "SSL" || proto == "SASL_SSL"
	useSASL := proto == "SASL_PLAINTEXT" || proto == "SASL_SSL"
	if proto != "PLAINTEXT" && !useTLS && !useSASL {
		cv.drop(p+"security.protocol", "want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
		return
	}
	if useTLS {
		t := &tlsConf{note: p + "security.protocol=" + proto}
		if loc, ok := get("ssl.truststore.location"); ok && loc != "" {
			if typ, _ := get("ssl.truststore.type"); strings.EqualFold(typ, "PEM") {
				t.caFile = lit(loc)
			} else {
				cv.drop(p+"ssl.truststore.location", "a JKS or PKCS12 trust store; kafka2pg reads PEM: export the CA certificates (keytool -exportcert -rfc) and set kafka.tls.ca_file")
			}
		}
		if loc, ok := get("ssl.keystore.location"); ok && loc != "" {
			if typ, _ := get("ssl.keystore.type"); strings.EqualFold(typ, "PEM") {
				t.certFile, t.keyFile = lit(loc), lit(loc)
			} else {
				cv.drop(p+"ssl.keystore.location", "a JKS or PKCS12 key store; kafka2pg reads PEM: set kafka.tls.cert_file and key_file")
			}
		}
		if alg, ok := get("ssl.endpoint.identification.algorithm"); ok && alg == "" {
			cv.drop(p+"ssl.endpoint.identification.algorithm", "an empty algorithm turns off host name checks only; kafka2pg checks host names (kafka.tls.server_name sets the name to check)")
		}
		cv.p.tls = t
	}
	if useSASL {
		m := strings.ToUpper(mech)
		if m == "" {
			m = "GSSAPI" // Kafka's default
		}
		if m != "PLAIN" && m != "SCRAM-SHA-256" && m != "SCRAM-SHA-512" {
			cv.dropShown(p+"sasl.mechanism", m, "kafka2pg supports SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512")
			return
		}
		user := jaasOption(jaas, "username")
		if !hasJaas || user == "" {
			cv.drop(p+"sasl.jaas.config", "no username in it; set kafka.sasl.username and password")
			return
		}
		cv.p.sasl = &saslConf{
			mechanism: m,
			username:  lit(user),
			password:  cv.addEnv("KAFKA_PASSWORD", "the SASL password of Kafka user \""+user+"\" ("+p+"sasl.jaas.config; import-connect never prints it)"),
			note:      p + "sasl.mechanism, sasl.jaas.config",
		}
	}
}

// jaasOption returns option name of a JAAS login module line
// (module required username="u" password="p";).
func jaasOption(jaas, name string) string {
	i := strings.Index(jaas, name+"=")
	if i < 0 {
		return ""
	}
	rest := jaas[i+len(name)+1:]
	if strings.HasPrefix(rest, `"`) {
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return ""
		}
		return rest[1 : end+1]
	}
	end := strings.IndexAny(rest, " ;")
	if end < 0 {
		end = len(rest)
	}
	return rest[:end]
}
