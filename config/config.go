package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Values of Config.Delivery.
const (
	DeliveryAtLeastOnce = "at-least-once"
	DeliveryExactlyOnce = "exactly-once" // offsets stored in PostgreSQL with the rows
)

// Values of Batch.BacklogMerge.
const (
	BacklogMergeAuto  = "auto" // merge in a run that stops at its end offsets, and late backlogs in others
	BacklogMergeTrue  = "true"
	BacklogMergeFalse = "false"
)

// Values of Kafka.Start.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Values of SASL.Mechanism after Parse has normalised it to upper case.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Values of Route.Mode.
const (
	ModeInsert = "insert"
	ModeUpsert = "upsert"
	ModeRaw    = "raw"
)

// Values of Format.Format, for keys and values alike.
const (
	FormatJSON        = "json"
	FormatJSONConnect = "json-connect"
	FormatAvro        = "avro"
	FormatProtobuf    = "protobuf"
	FormatJSONSchema  = "json-schema"
	FormatString      = "string"
	FormatBytes       = "bytes"
)

// Values of Postgres.Pooler.
const (
	PoolerNone        = "none"
	PoolerTransaction = "transaction" // PgBouncer pool_mode=transaction and alike
)

// Values of Errors.Tolerance.
const (
	ToleranceNone = "none"
	ToleranceAll  = "all" // bad records go to the dead-letter queue
)

// Config is a whole pipeline configuration. Parse and Load return it with
// every default filled in and every check of Validate passed; code that builds
// a Config itself must fill every field and should call Validate.
//
// A Config is a plain value: it is safe for concurrent reads and nothing in
// this package modifies one after Parse has returned it.
type Config struct {
	Kafka          Kafka          `yaml:"kafka"`
	Postgres       Postgres       `yaml:"postgres"`
	SchemaRegistry SchemaRegistry `yaml:"schema_registry"`
	// Delivery is DeliveryAtLeastOnce (default) or DeliveryExactlyOnce.
	Delivery string `yaml:"delivery"`
	Batch    Batch  `yaml:"batch"`
	Errors   Errors `yaml:"errors"`
	HTTP     HTTP   `yaml:"http"`
	Log      Log    `yaml:"log"`
	// ShutdownTimeout bounds the graceful (drain and commit) phase of a
	// shutdown. Default 30s; must be > 0.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Routes says where each topic's records go. At least one; a topic is in
	// at most one route.
	Routes []Route `yaml:"routes"`

	// lines maps every path present in the parsed document to its line, so
	// that Validate can name lines. Nil for a Config built in code.
	lines map[string]int
}

// Kafka configures the consumer.
type Kafka struct {
	// Brokers are the seed brokers, each host:port. Required.
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group. Required.
	Group string `yaml:"group"`
	// Topics lists the topics to consume; each must have a route. Exactly one
	// of Topics and TopicPattern is set.
	Topics []string `yaml:"topics"`
	// TopicPattern is a Go regular expression (unanchored) selecting the
	// topics to consume; every route topic must match it.
	TopicPattern string `yaml:"topic_pattern"`
	// Start is where a partition without a committed offset starts:
	// StartEarliest (default) or StartLatest.
	Start string `yaml:"start"`
	// ClientID is sent to the brokers. Default "kafka2pg".
	ClientID string `yaml:"client_id"`
	// SessionTimeout is the group session timeout. Default 45s, at least 1s.
	SessionTimeout Duration `yaml:"session_timeout"`
	// FetchMaxBytes caps one fetch response (compressed bytes). Default 4MiB, > 0.
	FetchMaxBytes ByteSize `yaml:"fetch_max_bytes"`
	// TLS enables TLS to the brokers when non-nil (an empty `tls: {}` means
	// TLS with the system roots).
	TLS *TLS `yaml:"tls"`
	// SASL enables SASL authentication when non-nil.
	SASL *SASL `yaml:"sasl"`
}

// TLS configures TLS to the Kafka brokers. File names are not opened by this
// package.
type TLS struct {
	// CAFile is a PEM bundle of roots; empty means the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and key, both or
	// neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify disables verification of the broker certificates.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name verified in the broker certificates.
	ServerName string `yaml:"server_name"`
}

// SASL configures SASL authentication to the Kafka brokers.
type SASL struct {
	// Mechanism is MechanismPlain, MechanismScramSHA256 or
	// MechanismScramSHA512. Input is case-insensitive; Parse normalises it to
	// upper case.
	Mechanism string `yaml:"mechanism"`
	// Username is required, and one of Password and PasswordFile.
	// Redacted never shows Password.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile names a file holding the password (trailing white space
	// is trimmed). It is read again at every new connection, so a rotated
	// password is picked up without a restart.
	PasswordFile string `yaml:"password_file"`
}

// Postgres configures the connection pool to PostgreSQL.
type Postgres struct {
	// URL is a postgres:// or postgresql:// URL or a key=value connection
	// string, as pgx accepts them. Required. Redacted masks its password.
	URL string `yaml:"url"`
	// MaxConns caps the pool. Default 4, 1..1000.
	MaxConns int `yaml:"max_conns"`
	// PasswordFile names a file holding the password (trailing white space
	// is trimmed), used instead of a password in URL; read again at every
	// new connection, so a rotated password is picked up without a restart.
	PasswordFile string `yaml:"password_file"`
	// Pooler is PoolerTransaction when URL goes through a transaction-mode
	// connection pooler (PgBouncer pool_mode=transaction): no session state
	// is kept between transactions. Default PoolerNone.
	Pooler string `yaml:"pooler"`
	// IOTimeout bounds how long a connection waits for the server to answer
	// (a read) or take data (a write) before it is given up as dead, even
	// when the network path drops packets without resetting. Default 30s;
	// 0 disables it. It must exceed the longest statement kafka2pg runs
	// (a batch's write), which is far below a second in normal operation.
	IOTimeout Duration `yaml:"io_timeout"`
	// OffsetsTable is where delivery: exactly-once stores each partition's
	// next offset, "table" or "schema.table". Default "kafka2pg_offsets".
	OffsetsTable string `yaml:"offsets_table"`
}

// OffsetsTableName splits offsets_table like Route.TableName.
func (p *Postgres) OffsetsTableName() (schema, table string) { return SplitTableName(p.OffsetsTable) }

// SplitTableName splits "schema.table" on the first '.'; schema is "" for an
// unqualified name (the connection's search_path decides).
func SplitTableName(name string) (schema, table string) {
	if s, t, ok := strings.Cut(name, "."); ok {
		return s, t
	}
	return "", name
}

// SchemaRegistry configures the Confluent-compatible Schema Registry that the
// avro, protobuf and json-schema formats read schemas from.
type SchemaRegistry struct {
	// URL is the registry's base URL (http or https). Required when a route
	// uses a registry format.
	URL string `yaml:"url"`
	// Username and Password are sent with HTTP basic auth when Username is
	// set. Redacted never shows Password.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile names a file holding the password, read again at every
	// request that needs it (rotation without a restart).
	PasswordFile string `yaml:"password_file"`
	// TLS configures an https registry (same fields as kafka.tls).
	TLS *TLS `yaml:"tls"`
	// Timeout bounds one registry request. Default 10s.
	Timeout Duration `yaml:"timeout"`
}

// UsesRegistry reports whether a route reads a format that needs the
// schema registry.
func (c *Config) UsesRegistry() bool {
	for _, r := range c.Routes {
		if RegistryFormat(r.Value.Format) || RegistryFormat(r.Key.Format) {
			return true
		}
	}
	return false
}

// RegistryFormat reports whether format is read through the schema registry.
func RegistryFormat(format string) bool {
	return format == FormatAvro || format == FormatProtobuf || format == FormatJSONSchema
}

// Batch is the batching policy of the writer.
type Batch struct {
	// MaxRows flushes a batch at this many rows. Default 10000, 1..1000000.
	MaxRows int `yaml:"max_rows"`
	// MaxBytes flushes a batch at this many bytes of record data. Default
	// 16MiB, at least 1KiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxWait flushes a batch this long after its first record at the
	// latest. Default 100ms; 0 flushes whatever one poll returned.
	MaxWait Duration `yaml:"max_wait"`
	// Linger makes a partition wait up to MaxWait for more records before
	// writing a batch that is not full. Default false: batching is
	// adaptive (group commit): a partition writes as soon as it has no
	// more records queued and its previous write has finished, so a low
	// rate gets small, fast batches and a backlog gets full ones.
	Linger bool `yaml:"linger"`
	// GroupRows commits the batches of different partitions that are
	// ready at the same time in one transaction when each has at most this
	// many rows (group commit across partitions): one WAL flush serves
	// them all, which keeps latency low at steady rates over many
	// partitions. Bigger batches are committed on their own, in parallel.
	// Default 1000; 0 commits every batch on its own.
	GroupRows int `yaml:"group_rows"`
	// BacklogMerge stages a partition's upserts on the server (an unlogged
	// table) while the partition is behind by more than MaxRows records, and
	// merges them into the table in one statement, each key once, when it
	// has caught up (or at BacklogMaxRows / BacklogMaxAge): far less work
	// for PostgreSQL when a backlog updates the same keys again and again.
	// Rows become visible at the merge. BacklogMergeAuto (the default),
	// BacklogMergeTrue or BacklogMergeFalse; Batch.Merging says which runs
	// merge which backlogs.
	BacklogMerge string `yaml:"backlog_merge"`
	// BacklogMaxRows merges a partition's staged rows once this many are
	// staged. Default 1000000, at least 1.
	BacklogMaxRows int `yaml:"backlog_max_rows"`
	// BacklogMaxAge merges a partition's staged rows this long after the
	// first was staged at the latest; with MergeLate, a batch's first
	// record must be this old for a backlog to be staged. Default 30s, > 0.
	BacklogMaxAge Duration `yaml:"backlog_max_age"`
	// MaxInflightBytes bounds record data fetched but not yet committed;
	// fetching pauses above it. Default 64MiB, at least MaxBytes.
	MaxInflightBytes ByteSize `yaml:"max_inflight_bytes"`
	// MemoryLimit is the Go runtime's soft memory limit while a pipeline
	// runs (the garbage collector works harder near it instead of letting
	// the heap double). 0 (the default): max_inflight_bytes + 2 ×
	// kafka.fetch_max_bytes + 24MiB. A GOMEMLIMIT environment variable
	// wins (GOMEMLIMIT=off: no limit). At least max_inflight_bytes.
	MemoryLimit ByteSize `yaml:"memory_limit"`
}

// MergeMode is how a run merges upsert backlogs (Batch.Merging).
type MergeMode int

const (
	// MergeNone writes every batch as it comes (false).
	MergeNone MergeMode = iota
	// MergeLate merges a backlog only when it is late: a partition behind
	// by more than MaxRows records whose next batch's first record is at
	// least BacklogMaxAge old (by its Kafka timestamp). The merge then
	// holds rows back for at most as long as that record had already
	// waited, and a backlog that far behind is drained faster. auto in a
	// run that goes on.
	MergeLate
	// MergeAll merges every backlog (true; auto in a run that stops at its
	// end offsets: a catch-up job, whose rows are meant to be all there
	// when it exits, not visible batch by batch while it runs).
	MergeAll
)

// String is the mode as the starting log line shows it.
func (m MergeMode) String() string {
	switch m {
	case MergeLate:
		return "late"
	case MergeAll:
		return "on"
	}
	return "off"
}

// Merging reports how a run merges backlogs (BacklogMerge): true and false
// say so; auto merges every backlog in a run that stops at its end offsets
// (--stop-at-end, kafka2pg.WithStopAtEnd) and late ones in other runs.
func (b *Batch) Merging(stopAtEnd bool) MergeMode {
	switch {
	case b.BacklogMerge == BacklogMergeFalse:
		return MergeNone
	case b.BacklogMerge == BacklogMergeTrue || stopAtEnd:
		return MergeAll
	}
	return MergeLate
}

// Errors says what happens to records that fail and to failed writes.
type Errors struct {
	// Tolerance is ToleranceNone (default: a bad record stops the pipeline)
	// or ToleranceAll (bad records go to DLQ).
	Tolerance string `yaml:"tolerance"`
	// DLQ is the dead-letter destination: a topic or a table, with ToleranceAll.
	DLQ DLQ `yaml:"dlq"`
	// Retry is the backoff for transient failures.
	Retry Retry `yaml:"retry"`
}

// DLQ is a dead-letter destination: a Kafka topic or a PostgreSQL table. Not
// supported yet in this version.
type DLQ struct {
	Topic string `yaml:"topic"`
	Table string `yaml:"table"`
}

// Retry is an exponential backoff.
type Retry struct {
	// Initial is the first delay. Default 100ms, > 0.
	Initial Duration `yaml:"initial"`
	// Max caps the delay. Default 30s, at least Initial.
	Max Duration `yaml:"max"`
	// MaxElapsed gives up after this long; 0 (default) retries forever.
	MaxElapsed Duration `yaml:"max_elapsed"`
}

// HTTP configures the metrics and health server.
type HTTP struct {
	// Listen is host:port (host may be empty, port may be 0). Empty (default)
	// runs no HTTP server.
	Listen string `yaml:"listen"`
}

// Log configures logging.
type Log struct {
	// Format is "text" (default) or "json".
	Format string `yaml:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `yaml:"level"`
}

// Route sends the records of some topics to one table.
type Route struct {
	// Topic and Topics name the topics of this route; together at least one.
	// Use AllTopics to read them.
	Topic  string   `yaml:"topic"`
	Topics []string `yaml:"topics"`
	// Table is "table" or "schema.table" (split on the first '.'; quoted
	// identifiers are not supported). Parse fills it with
	// SanitiseIdent(first topic) when the document leaves it out. Use
	// TableName to read it.
	Table string `yaml:"table"`
	// Value is the value format. Default {format: json}.
	Value Format `yaml:"value"`
	// Key is the key format. Default {format: string}.
	Key Format `yaml:"key"`
	// Mode is ModeInsert (default), ModeUpsert or ModeRaw.
	Mode string `yaml:"mode"`
	// ConflictKey names the columns of the unique key upserts conflict on;
	// empty means the table's primary key. Only with ModeUpsert.
	ConflictKey []string `yaml:"conflict_key"`
	// DeleteOnTombstone deletes the row of a record with a null value. Not
	// with ModeRaw.
	DeleteOnTombstone bool `yaml:"delete_on_tombstone"`
	// VersionColumn makes an upsert apply only when the incoming version is
	// not older than the stored one. Only with ModeUpsert.
	VersionColumn string `yaml:"version_column"`
	// SoftDeleteColumn turns a tombstone into setting this column instead of
	// deleting the row. Requires DeleteOnTombstone; not with ModeRaw.
	SoftDeleteColumn string `yaml:"soft_delete_column"`
	// Unwrap is UnwrapDebezium to read Debezium change events, or empty.
	Unwrap string `yaml:"unwrap"`
	// Debezium tunes unwrap: debezium.
	Debezium Debezium `yaml:"debezium"`
	// Flatten maps nested records to columns named by their path joined
	// with '_' (a.b → a_b) instead of to one jsonb column named a.
	Flatten bool `yaml:"flatten"`
	// AutoCreate creates the table from the record schema (or, for
	// schemaless json, from the first batch) when it does not exist.
	AutoCreate bool `yaml:"auto_create"`
	// AutoEvolve adds a nullable column for a new field and applies safe
	// widenings; unsafe changes are record errors.
	AutoEvolve bool `yaml:"auto_evolve"`
	// Name names the route in metrics, logs and the Go API
	// (kafka2pg.WithTransform). Default: the table as written, else the
	// first topic. Unique across routes.
	Name string `yaml:"name"`
	// Filter is a CEL expression; a record for which it is false has no
	// effect on this route (counted as filtered; its offset is committed).
	Filter string `yaml:"filter"`
	// Columns computes columns: column name → CEL expression. The other
	// columns keep the by-name mapping unless ColumnsOnly.
	Columns map[string]string `yaml:"columns"`
	// ColumnsOnly writes only the columns of Columns.
	ColumnsOnly bool `yaml:"columns_only"`
	// Each is a CEL expression giving a list: one row per element, with
	// item and index bound in Columns; by-name mapping reads the element.
	Each string `yaml:"each"`
	// ReplaceBy (with Each, mode upsert) names the columns that identify a
	// parent: its stored rows not in a record's new set are deleted in the
	// same transaction.
	ReplaceBy []string `yaml:"replace_by"`
	// TableExpr is a CEL expression computing the table ("table" or
	// "schema.table") per record, instead of Table.
	TableExpr string `yaml:"table_expr"`
}

// RouteName is the route's name: Name, else the table as written, else the
// first topic.
func (r *Route) RouteName() string {
	switch {
	case r.Name != "":
		return r.Name
	case r.Table != "":
		return r.Table
	}
	if topics := r.AllTopics(); len(topics) > 0 {
		return topics[0]
	}
	return ""
}

// Computed reports whether the route uses CEL expressions.
func (r *Route) Computed() bool {
	return r.Filter != "" || len(r.Columns) > 0 || r.Each != "" || r.TableExpr != ""
}

// Values of Route.Unwrap and Debezium.OnTruncate.
const (
	UnwrapDebezium   = "debezium"
	TruncateIgnore   = "ignore"
	TruncateFail     = "fail"
	debeziumDefaultT = TruncateIgnore
)

// Debezium tunes how Debezium change events are applied.
type Debezium struct {
	// OnTruncate is what a truncate event (op "t") does: TruncateIgnore
	// (default: counted as skipped) or TruncateFail (a record error: it
	// stops the pipeline or goes to the dead-letter queue).
	OnTruncate string `yaml:"on_truncate"`
}

// Format names an encoding of record keys or values; see the Format*
// constants.
type Format struct {
	Format string `yaml:"format"`
}

// Load reads the file at path and parses it with Parse, expanding variables
// from the process environment. A problem in the document is a
// *ValidationError; failing to read the file is an error wrapping the
// *fs.PathError, which names the path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, nil)
}

// Parse parses one YAML document into a Config: it expands ${VAR} and
// ${VAR:-default} in scalar values using lookupEnv (os.LookupEnv when nil),
// rejects unknown keys and values of the wrong type, fills in defaults, and
// runs Validate. Every problem found is returned together in one
// *ValidationError, each naming its field path and line; the Config is then
// nil. Parse does not touch the file system or the network.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	root, problems := parseYAML(data)
	if root == nil && len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}

	w := &walker{
		lookupEnv: lookupEnv,
		lines:     map[string]int{},
		set:       map[string]bool{},
		expanded:  map[*yaml.Node]bool{},
	}
	cfg := &Config{}
	status := valueNull
	if root != nil {
		status = w.walk("", root, configType, true)
		if status == valueOK {
			if err := root.Decode(cfg); err != nil {
				// The walk should have removed everything Decode can
				// reject; report rather than hide it if not.
				w.problems = append(w.problems, Problem{Msg: err.Error()})
			}
		}
	}
	problems = append(problems, w.problems...)
	if status != valueBad { // a document that is not a mapping has nothing more to check
		cfg.lines = w.lines
		cfg.setDefaults(func(path string) bool { return w.set[path] })
		cfg.normalise()
		for _, p := range cfg.Validate() {
			if !coveredBy(p.Path, w.problems) {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool {
			li, lj := problems[i].Line, problems[j].Line
			if li == 0 || lj == 0 {
				return lj == 0 && li != 0
			}
			return li < lj
		})
		return nil, &ValidationError{Problems: problems}
	}
	return cfg, nil
}

// parseYAML returns the top node of the single document in data (nil for an
// empty document) and any syntax problems. Syntax problems with a nil node
// mean nothing more can be checked.
func parseYAML(data []byte) (*yaml.Node, []Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, []Problem{syntaxProblem(err)}
	}
	var problems []Problem
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		problems = append(problems, Problem{Line: extra.Line, Msg: "a second YAML document; put the whole configuration in one document"})
	case !errors.Is(err, io.EOF):
		problems = append(problems, syntaxProblem(err))
	}
	if len(doc.Content) == 0 {
		return nil, problems
	}
	return doc.Content[0], problems
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the messages of yaml's parser (as opposed to its
// scanner). yaml prints the 0-based line for these, the 1-based line for
// scanner errors, so Parse adds one for these to report 1-based lines. The
// line is where the enclosing construct started (the "[" of an unclosed flow
// list, for example).
var yamlParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found duplicate %TAG directive",
	"found incompatible YAML document",
}

func syntaxProblem(err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(yamlParserProblems, m[2]) {
			line++
		}
		return Problem{Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return Problem{Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// coveredBy reports whether a semantic problem at path restates a structural
// problem at path or at an enclosing path (a value that was dropped because it
// had the wrong type is then also "missing").
func coveredBy(path string, structural []Problem) bool {
	for _, s := range structural {
		if s.Path == "" {
			continue
		}
		if path == s.Path || strings.HasPrefix(path, s.Path+".") || strings.HasPrefix(path, s.Path+"[") {
			return true
		}
	}
	return false
}

// line returns the line of path in the parsed document, or of its nearest
// enclosing path that the document contains; 0 when unknown.
func (c *Config) line(path string) int {
	if c.lines == nil {
		return 0
	}
	for path != "" {
		if l, ok := c.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}
