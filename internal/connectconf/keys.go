package connectconf

import "strings"

// What happens to a setting that the conversion did not read itself.
type ruleKind int

const (
	handled ruleKind = iota // read by the conversion when it matters; otherwise Connect ignores it too
	ignored                 // no effect on the rows written; left out silently
	noted                   // no kafka2pg setting, said on stderr as a note
	dropped                 // not carried over: listed with the reason
)

type rule struct {
	kind ruleKind
	text string // the note or the reason
}

func h() rule                  { return rule{kind: handled} }
func ign() rule                { return rule{kind: ignored} }
func note(t string) rule       { return rule{kind: noted, text: t} }
func notCarried(t string) rule { return rule{kind: dropped, text: t} }

// retryNote explains every Connect retry count.
const retryNote = "kafka2pg retries transient failures (lost connection, deadlock, serialization failure, registry or broker unavailable) with backoff until errors.retry.max_elapsed (0, the default, retries for ever) and never retries a permanent data error: it isolates the record instead"

// frameworkKeys are the settings Kafka Connect itself defines for every
// sink connector (ConnectorConfig and SinkConnectorConfig). Prefixes end in
// '.'.
var frameworkKeys = map[string]rule{
	"name":                              h(),
	"connector.class":                   h(),
	"tasks.max":                         note("kafka2pg writes all assigned partitions in parallel (one worker per partition); to scale out run more instances with the same kafka.group"),
	"tasks.max.enforce":                 ign(),
	"topics":                            h(),
	"topics.regex":                      h(),
	"key.converter":                     h(),
	"value.converter":                   h(),
	"header.converter":                  ign(), // JDBC sinks do not write headers
	"config.action.reload":              ign(),
	"transforms":                        h(),
	"predicates":                        notCarried("kafka2pg has no conditional transforms"),
	"errors.tolerance":                  h(),
	"errors.deadletterqueue.topic.name": h(),
	"errors.deadletterqueue.topic.replication.factor": note("kafka2pg does not create the dead-letter topic: create it (or let the broker auto-create it) with the replication factor you want"),
	"errors.deadletterqueue.context.headers.enable":   h(),
	"errors.log.enable":           note("kafka2pg logs every record error with its topic, partition and offset, and counts it in kafka2pg_dead_letters_total"),
	"errors.log.include.messages": note("kafka2pg's log line for a record error names its topic, partition and offset and the reason; the record itself is in the dead-letter queue"),
	"errors.retry.timeout":        note(retryNote),
	"errors.retry.delay.max.ms":   h(),
	"consumer.override.":          h(),
	"producer.override.":          notCarried("kafka2pg's dead-letter producer uses the kafka section's connection settings"),
	"admin.override.":             notCarried("kafka2pg does not create topics"),
	"key.converter.":              h(),
	"value.converter.":            h(),
	"header.converter.":           ign(),
	"transforms.":                 h(),
	"predicates.":                 notCarried("kafka2pg has no conditional transforms"),
}

// confluentKeys are the settings of io.confluent.connect.jdbc.JdbcSinkConnector
// (JdbcSinkConfig). connection.* keys not listed are pgJDBC connection
// properties.
var confluentKeys = map[string]rule{
	"connection.url":                  h(),
	"connection.user":                 h(),
	"connection.password":             h(),
	"connection.attempts":             note("kafka2pg retries a lost or refused PostgreSQL connection with errors.retry backoff"),
	"connection.backoff.ms":           note("kafka2pg retries a lost or refused PostgreSQL connection with errors.retry backoff"),
	"connection.":                     h(),
	"jdbc.credentials.provider.class": h(),
	"jdbc.credentials.provider.":      notCarried("kafka2pg takes the password from postgres.url (an environment variable) or PGPASSWORD/passfile"),
	"dialect.name":                    h(),
	"insert.mode":                     h(),
	"batch.size":                      h(),
	"delete.enabled":                  h(),
	"table.types":                     h(),
	"replace.null.with.default":       h(),
	"table.name.format":               h(),
	"pk.mode":                         h(),
	"pk.fields":                       h(),
	"fields.whitelist":                h(),
	"db.timezone":                     h(),
	"date.timezone":                   h(),
	"timestamp.fields.list":           h(),
	"timestamp.precision.mode":        h(),
	"date.calendar.system":            h(),
	"string.output.value.column.name": h(),
	"auto.create":                     h(),
	"auto.evolve":                     h(),
	"quote.sql.identifiers":           h(),
	"mssql.use.merge.holdlock":        ign(),
	"max.retries":                     note(retryNote),
	"retry.backoff.ms":                h(),
	"trim.sensitive.log":              ign(), // kafka2pg never logs record values or passwords
}

// debeziumKeys are the settings of io.debezium.connector.jdbc.JdbcSinkConnector
// (JdbcSinkConnectorConfig and SinkConnectorConfig, with the names that
// 2.x used and 3.x still accepts).
var debeziumKeys = map[string]rule{
	"connection.url":                         h(),
	"connection.username":                    h(),
	"connection.password":                    h(),
	"connection.provider":                    h(),
	"connection.pool.min_size":               ign(),
	"connection.pool.max_size":               h(),
	"connection.pool.acquire_increment":      ign(),
	"connection.pool.timeout":                ign(),
	"connection.restart.on.errors":           note("kafka2pg always reconnects after a lost connection and retries the batch"),
	"insert.mode":                            h(),
	"delete.enabled":                         h(),
	"truncate.enabled":                       h(),
	"collection.name.format":                 h(),
	"table.name.format":                      h(),
	"collection.naming.strategy":             h(),
	"table.naming.strategy":                  h(),
	"collection.table.format":                h(),
	"column.naming.strategy":                 h(),
	"primary.key.mode":                       h(),
	"primary.key.fields":                     h(),
	"schema.evolution":                       h(),
	"quote.identifiers":                      h(),
	"use.time.zone":                          h(),
	"database.time_zone":                     h(),
	"dialect.postgres.postgis.schema":        h(),
	"dialect.postgres.unnest.insert.enabled": ign(), // kafka2pg writes batches with COPY
	"dialect.sqlserver.identity.insert":      ign(),
	"batch.size":                             h(),
	"use.reduction.buffer":                   ign(), // kafka2pg always keeps only the last change per key in a batch
	"field.include.list":                     h(),
	"field.exclude.list":                     h(),
	"flush.max.retries":                      note(retryNote),
	"flush.retry.delay.ms":                   h(),
	"cloud.events.schema.name.pattern":       notCarried("kafka2pg does not read CloudEvents envelopes"),
	"data.type.mapping":                      notCarried("kafka2pg maps types by the table's declared column types"),
	"hibernate.":                             notCarried("Hibernate settings have no kafka2pg equivalent"),
}

// lookupRule returns the rule for key among the given tables: an exact
// entry, else the longest prefix entry (keys ending in '.').
func lookupRule(key string, tables ...map[string]rule) (rule, bool) {
	for _, t := range tables {
		if r, ok := t[key]; ok && !strings.HasSuffix(key, ".") {
			return r, true
		}
	}
	best, found := rule{}, false
	bestLen := 0
	for _, t := range tables {
		for k, r := range t {
			if strings.HasSuffix(k, ".") && strings.HasPrefix(key, k) && len(k) > bestLen {
				best, found, bestLen = r, true, len(k)
			}
		}
	}
	return best, found
}
