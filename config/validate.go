package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	deliveries    = []string{DeliveryAtLeastOnce, DeliveryExactlyOnce}
	backlogMerges = []string{BacklogMergeAuto, BacklogMergeTrue, BacklogMergeFalse}
	starts        = []string{StartEarliest, StartLatest}
	mechanisms    = []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512}
	modes         = []string{ModeInsert, ModeUpsert, ModeRaw}
	poolers       = []string{PoolerNone, PoolerTransaction}
	formats       = []string{FormatJSON, FormatJSONConnect, FormatAvro, FormatProtobuf, FormatJSONSchema, FormatString, FormatBytes}
	truncates     = []string{TruncateIgnore, TruncateFail}
	tolerances    = []string{ToleranceNone, ToleranceAll}
	logFormats    = []string{"text", "json"}
	logLevels     = []string{"debug", "info", "warn", "error"}
)

// Validate checks the semantic rules of a Config whose defaults are filled in
// and returns every problem found, nil when there are none. When c came from
// Parse the problems carry line numbers. Validate does not modify c and does
// not touch the file system or the network.
func (c *Config) Validate() []Problem {
	v := &validator{c: c}
	v.kafka()
	v.postgres()
	v.enum("delivery", c.Delivery, deliveries)
	v.batch()
	v.errors()
	if c.HTTP.Listen != "" {
		if msg := checkHostPort(c.HTTP.Listen, true); msg != "" {
			v.add("http.listen", "%s", msg)
		}
	}
	v.enum("log.format", c.Log.Format, logFormats)
	v.enum("log.level", c.Log.Level, logLevels)
	if c.ShutdownTimeout <= 0 {
		v.add("shutdown_timeout", "must be greater than 0; got %s", c.ShutdownTimeout)
	}
	v.registry(&c.SchemaRegistry)
	v.routes()
	return v.list
}

type validator struct {
	c    *Config
	list []Problem
}

func (v *validator) add(path, format string, args ...any) {
	v.list = append(v.list, Problem{Path: path, Line: v.c.line(path), Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) enum(path, got string, allowed []string) bool {
	if slices.Contains(allowed, got) {
		return true
	}
	v.add(path, "must be one of %s; got %q", strings.Join(allowed, ", "), got)
	return false
}

func (v *validator) kafka() {
	k := &v.c.Kafka
	if len(k.Brokers) == 0 {
		v.add("kafka.brokers", "required; list at least one broker as host:port")
	}
	for i, b := range k.Brokers {
		if msg := checkHostPort(b, false); msg != "" {
			v.add(fmt.Sprintf("kafka.brokers[%d]", i), "%s", msg)
		}
	}
	if k.Group == "" {
		v.add("kafka.group", "required")
	}
	switch {
	case len(k.Topics) > 0 && k.TopicPattern != "":
		v.add("kafka.topic_pattern", "set kafka.topics or kafka.topic_pattern, not both")
	case len(k.Topics) == 0 && k.TopicPattern == "":
		v.add("kafka.topics", "required; set kafka.topics or kafka.topic_pattern")
	}
	seen := map[string]int{}
	for i, t := range k.Topics {
		p := fmt.Sprintf("kafka.topics[%d]", i)
		if msg := checkTopic(t); msg != "" {
			v.add(p, "%s", msg)
			continue
		}
		if j, dup := seen[t]; dup {
			v.add(p, "duplicate topic %q; already kafka.topics[%d]", t, j)
			continue
		}
		seen[t] = i
		if len(v.c.RoutesFor(t)) == 0 {
			v.add(p, "topic %q has no route", t)
		}
	}
	if k.TopicPattern != "" {
		if _, err := regexp.Compile(k.TopicPattern); err != nil {
			v.add("kafka.topic_pattern", "invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
	}
	v.enum("kafka.start", k.Start, starts)
	if k.ClientID == "" {
		v.add("kafka.client_id", "must not be empty")
	}
	if k.SessionTimeout < Duration(time.Second) {
		v.add("kafka.session_timeout", "must be at least 1s; got %s", k.SessionTimeout)
	}
	if k.FetchMaxBytes <= 0 {
		v.add("kafka.fetch_max_bytes", "must be greater than 0; got %s", k.FetchMaxBytes)
	}
	v.tls("kafka.tls", k.TLS)
	if s := k.SASL; s != nil {
		if s.Mechanism == "" {
			v.add("kafka.sasl.mechanism", "required; one of %s", strings.Join(mechanisms, ", "))
		} else if !slices.Contains(mechanisms, strings.ToUpper(s.Mechanism)) {
			v.add("kafka.sasl.mechanism", "must be one of %s; got %q", strings.Join(mechanisms, ", "), s.Mechanism)
		}
		if s.Username == "" {
			v.add("kafka.sasl.username", "required with kafka.sasl")
		}
		switch {
		case s.Password == "" && s.PasswordFile == "":
			v.add("kafka.sasl.password", "required with kafka.sasl (or kafka.sasl.password_file)")
		case s.Password != "" && s.PasswordFile != "":
			v.add("kafka.sasl.password_file", "set password or password_file, not both")
		}
	}
}

func (v *validator) postgres() {
	p := &v.c.Postgres
	switch {
	case p.URL == "":
		v.add("postgres.url", "required")
	case strings.Contains(p.URL, "://"):
		// Never quote the URL: it may hold a password.
		u, err := url.Parse(p.URL)
		switch {
		case err != nil:
			if ue, ok := err.(*url.Error); ok {
				err = ue.Err
			}
			v.add("postgres.url", "invalid URL: %s", err)
		case u.Scheme != "postgres" && u.Scheme != "postgresql":
			v.add("postgres.url", "want a postgres:// or postgresql:// URL or a key=value connection string; got scheme %q", u.Scheme)
		}
	case !strings.Contains(p.URL, "="):
		v.add("postgres.url", "want a postgres:// or postgresql:// URL or a key=value connection string such as \"host=localhost dbname=app\"")
	}
	if p.MaxConns < 1 || p.MaxConns > 1000 {
		v.add("postgres.max_conns", "must be between 1 and 1000; got %d", p.MaxConns)
	}
	v.enum("postgres.pooler", p.Pooler, poolers)
	if p.IOTimeout < 0 || (p.IOTimeout > 0 && p.IOTimeout < Duration(time.Second)) {
		v.add("postgres.io_timeout", "must be 0 (off) or at least 1s; got %s", p.IOTimeout)
	}
	v.table("postgres.offsets_table", p.OffsetsTable)
}

func (v *validator) batch() {
	b := &v.c.Batch
	if b.MaxRows < 1 || b.MaxRows > 1000000 {
		v.add("batch.max_rows", "must be between 1 and 1000000; got %d", b.MaxRows)
	}
	if b.MaxBytes < KiB {
		v.add("batch.max_bytes", "must be at least 1KiB; got %s", b.MaxBytes)
	}
	if b.GroupRows < 0 {
		v.add("batch.group_rows", "must not be negative (0 commits every batch on its own); got %d", b.GroupRows)
	}
	v.enum("batch.backlog_merge", b.BacklogMerge, backlogMerges)
	if b.BacklogMaxRows < 1 {
		v.add("batch.backlog_max_rows", "must be at least 1; got %d", b.BacklogMaxRows)
	}
	if b.BacklogMaxAge <= 0 {
		v.add("batch.backlog_max_age", "must be more than 0; got %s", b.BacklogMaxAge)
	}
	if b.MaxWait < 0 {
		v.add("batch.max_wait", "must not be negative; got %s", b.MaxWait)
	}
	if b.MemoryLimit != 0 && b.MemoryLimit < b.MaxInflightBytes {
		v.add("batch.memory_limit", "must be 0 (derived from the budget) or at least batch.max_inflight_bytes (%s); got %s", b.MaxInflightBytes, b.MemoryLimit)
	}
	if b.MaxInflightBytes < b.MaxBytes {
		v.add("batch.max_inflight_bytes", "must be at least batch.max_bytes (%s); got %s", b.MaxBytes, b.MaxInflightBytes)
	}
}

func (v *validator) errors() {
	e := &v.c.Errors
	v.enum("errors.tolerance", e.Tolerance, tolerances)
	switch {
	case e.DLQ.Topic != "" && e.DLQ.Table != "":
		v.add("errors.dlq", "set topic or table, not both")
	case e.Tolerance == ToleranceAll && e.DLQ.Topic == "" && e.DLQ.Table == "":
		v.add("errors.dlq", "tolerance all needs a dead-letter queue: set errors.dlq.topic or errors.dlq.table")
	case e.Tolerance != ToleranceAll && (e.DLQ.Topic != "" || e.DLQ.Table != ""):
		v.add("errors.dlq", "only used with errors.tolerance: all")
	}
	if e.DLQ.Topic != "" {
		if msg := checkTopic(e.DLQ.Topic); msg != "" {
			v.add("errors.dlq.topic", "%s", msg)
		}
		if v.c.Delivery == DeliveryExactlyOnce {
			v.add("errors.dlq.topic", "delivery exactly-once writes dead letters in the batch's transaction: use errors.dlq.table")
		}
	}
	if e.DLQ.Table != "" {
		v.table("errors.dlq.table", e.DLQ.Table)
	}
	r := &e.Retry
	if r.Initial <= 0 {
		v.add("errors.retry.initial", "must be greater than 0; got %s", r.Initial)
	}
	if r.Max < r.Initial {
		v.add("errors.retry.max", "must be at least errors.retry.initial (%s); got %s", r.Initial, r.Max)
	}
	if r.MaxElapsed < 0 {
		v.add("errors.retry.max_elapsed", "must not be negative; got %s", r.MaxElapsed)
	}
}

func (v *validator) routes() {
	c := v.c
	if len(c.Routes) == 0 {
		v.add("routes", "required; add at least one route")
		return
	}
	var pattern *regexp.Regexp
	if c.Kafka.TopicPattern != "" {
		pattern, _ = regexp.Compile(c.Kafka.TopicPattern) // reported in kafka()
	}
	listed := map[string]bool{}
	for _, t := range c.Kafka.Topics {
		listed[t] = true
	}
	names := map[string]int{} // route name → index of the first route with it
	for i := range c.Routes {
		r := &c.Routes[i]
		rp := fmt.Sprintf("routes[%d]", i)
		if len(r.AllTopics()) == 0 && len(r.Topics) == 0 {
			v.add(rp, "needs topic or topics")
		}
		if name := r.RouteName(); name != "" {
			if j, dup := names[name]; dup {
				if r.Name != "" {
					v.add(rp+".name", "duplicate route name %q; already routes[%d]", name, j)
				} else {
					v.add(rp, "its name defaults to %q, which routes[%d] has too; set name", name, j)
				}
			} else {
				names[name] = i
			}
		}
		seen := map[string]bool{}
		check := func(p, t string) {
			if msg := checkTopic(t); msg != "" {
				v.add(p, "%s", msg)
				return
			}
			if seen[t] {
				v.add(p, "topic %q is named twice in this route", t)
				return
			}
			seen[t] = true
			switch {
			case len(c.Kafka.Topics) > 0 && !listed[t]:
				v.add(p, "topic %q is not in kafka.topics", t)
			case pattern != nil && !pattern.MatchString(t):
				v.add(p, "topic %q does not match kafka.topic_pattern %q", t, c.Kafka.TopicPattern)
			}
		}
		if r.Topic != "" {
			check(rp+".topic", r.Topic)
		}
		for j, t := range r.Topics {
			check(fmt.Sprintf("%s.topics[%d]", rp, j), t)
		}
		v.route(rp, r)
	}
}

func (v *validator) tls(p string, t *TLS) {
	if t == nil {
		return
	}
	if t.CertFile != "" && t.KeyFile == "" {
		v.add(p+".key_file", "required when %s.cert_file is set", p)
	}
	if t.KeyFile != "" && t.CertFile == "" {
		v.add(p+".cert_file", "required when %s.key_file is set", p)
	}
}

// registry checks schema_registry; the URL is required only by the routes
// that use a registry format (see route).
func (v *validator) registry(s *SchemaRegistry) {
	if s.URL != "" {
		u, err := url.Parse(s.URL)
		switch {
		case err != nil:
			v.add("schema_registry.url", "not a valid URL") // url.Error quotes the URL, password and all
		case u.Scheme != "http" && u.Scheme != "https":
			v.add("schema_registry.url", "must be an http or https URL; got scheme %q", u.Scheme)
		case u.Host == "":
			v.add("schema_registry.url", "has no host")
		}
	}
	if (s.Password != "" || s.PasswordFile != "") && s.Username == "" {
		v.add("schema_registry.username", "required when schema_registry.password or password_file is set")
	}
	if s.Password != "" && s.PasswordFile != "" {
		v.add("schema_registry.password_file", "set password or password_file, not both")
	}
	if s.Timeout < 0 {
		v.add("schema_registry.timeout", "must not be negative; got %s", s.Timeout)
	}
	v.tls("schema_registry.tls", s.TLS)
}

func (v *validator) route(rp string, r *Route) {
	// An empty table means SanitiseIdent(first topic) (see TableName) unless
	// the document wrote `table: ""`, which Parse leaves empty.
	if _, written := v.c.lines[rp+".table"]; r.Table != "" || written {
		v.table(rp+".table", r.Table)
	}
	v.enum(rp+".value.format", r.Value.Format, formats)
	v.enum(rp+".key.format", r.Key.Format, formats)
	for _, f := range []struct{ path, format string }{{rp + ".value.format", r.Value.Format}, {rp + ".key.format", r.Key.Format}} {
		if RegistryFormat(f.format) && v.c.SchemaRegistry.URL == "" {
			v.add(f.path, "%s needs schema_registry.url", f.format)
		}
	}
	v.enum(rp+".mode", r.Mode, modes)

	switch r.Mode {
	case ModeRaw:
		if len(r.ConflictKey) > 0 {
			v.add(rp+".conflict_key", "not valid with mode: raw")
		}
		if r.DeleteOnTombstone {
			v.add(rp+".delete_on_tombstone", "not valid with mode: raw")
		}
		if r.VersionColumn != "" {
			v.add(rp+".version_column", "not valid with mode: raw")
		}
		if r.SoftDeleteColumn != "" {
			v.add(rp+".soft_delete_column", "not valid with mode: raw")
		}
	case ModeInsert:
		if len(r.ConflictKey) > 0 {
			v.add(rp+".conflict_key", "only valid with mode: upsert")
		}
		if r.VersionColumn != "" {
			v.add(rp+".version_column", "only valid with mode: upsert")
		}
	}
	if r.Mode != ModeRaw && r.SoftDeleteColumn != "" && !r.DeleteOnTombstone {
		v.add(rp+".soft_delete_column", "requires delete_on_tombstone: true")
	}
	seen := map[string]int{}
	for j, col := range r.ConflictKey {
		p := fmt.Sprintf("%s.conflict_key[%d]", rp, j)
		if msg := checkIdent(col); msg != "" {
			v.add(p, "%s", msg)
			continue
		}
		if k, dup := seen[col]; dup {
			v.add(p, "duplicate column %q; already conflict_key[%d]", col, k)
			continue
		}
		seen[col] = j
	}
	if r.VersionColumn != "" {
		if msg := checkIdent(r.VersionColumn); msg != "" {
			v.add(rp+".version_column", "%s", msg)
		}
	}
	if r.SoftDeleteColumn != "" {
		if msg := checkIdent(r.SoftDeleteColumn); msg != "" {
			v.add(rp+".soft_delete_column", "%s", msg)
		}
	}

	if r.Unwrap != "" && v.enum(rp+".unwrap", r.Unwrap, []string{UnwrapDebezium}) {
		if r.Mode != ModeUpsert {
			v.add(rp+".unwrap", "debezium needs mode: upsert (change events update and delete rows by key); got mode: %s", r.Mode)
		}
		if r.Value.Format == FormatString || r.Value.Format == FormatBytes {
			v.add(rp+".unwrap", "debezium needs a structured value format, not %s", r.Value.Format)
		}
	}
	if r.Debezium.OnTruncate != "" { // "" (a Config built in code) means ignore
		v.enum(rp+".debezium.on_truncate", r.Debezium.OnTruncate, truncates)
	}
	if _, written := v.c.lines[rp+".debezium"]; r.Unwrap == "" && written {
		v.add(rp+".debezium", "only valid with unwrap: debezium")
	}
	if r.Mode == ModeRaw {
		for _, o := range []struct {
			name string
			on   bool
		}{{"flatten", r.Flatten}, {"auto_create", r.AutoCreate}, {"auto_evolve", r.AutoEvolve}} {
			if o.on {
				v.add(rp+"."+o.name, "not valid with mode: raw (raw tables have a fixed shape)")
			}
		}
	}
	if (r.AutoCreate || r.AutoEvolve) && (r.Value.Format == FormatString || r.Value.Format == FormatBytes) {
		v.add(rp+".auto_create", "needs a structured value format, not %s", r.Value.Format)
	}
	if r.AutoCreate && r.Mode != ModeRaw && r.Key.Format == FormatString && len(r.ConflictKey) > 1 {
		v.add(rp+".conflict_key", "a string key fills one column; with auto_create name one column, or use a structured key format")
	}
	v.computed(rp, r)
}

// computed checks the keys of computed routes (filter, columns, each,
// replace_by, table_expr). The expressions themselves are compiled and
// type-checked by the engine before it connects.
func (v *validator) computed(rp string, r *Route) {
	if r.Mode == ModeRaw {
		for _, o := range []struct {
			name string
			on   bool
		}{{"filter", r.Filter != ""}, {"columns", len(r.Columns) > 0}, {"each", r.Each != ""}, {"table_expr", r.TableExpr != ""}} {
			if o.on {
				v.add(rp+"."+o.name, "not valid with mode: raw (raw tables have a fixed shape)")
			}
		}
	}
	if r.Name != "" {
		if msg := checkIdent(r.Name); msg != "" {
			v.add(rp+".name", "%s", msg)
		}
	}
	if r.TableExpr != "" {
		if _, written := v.c.lines[rp+".table"]; written || r.Table != "" {
			v.add(rp+".table_expr", "set table or table_expr, not both")
		}
	}
	cols := make([]string, 0, len(r.Columns))
	for c := range r.Columns {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	for _, c := range cols {
		p := rp + ".columns." + c
		if msg := checkIdent(c); msg != "" {
			v.add(p, "column name %s", msg)
		}
		if strings.TrimSpace(r.Columns[c]) == "" {
			v.add(p, "needs an expression")
		}
	}
	if r.ColumnsOnly && len(r.Columns) == 0 {
		v.add(rp+".columns_only", "needs columns")
	}
	if len(r.ReplaceBy) > 0 {
		switch {
		case r.Each == "":
			v.add(rp+".replace_by", "needs each (replace_by names the parent of the rows each makes)")
		case r.Mode != ModeUpsert:
			v.add(rp+".replace_by", "needs mode: upsert; got mode: %s", r.Mode)
		}
		for j, c := range r.ReplaceBy {
			p := fmt.Sprintf("%s.replace_by[%d]", rp, j)
			if msg := checkIdent(c); msg != "" {
				v.add(p, "%s", msg)
				continue
			}
			if len(r.ConflictKey) > 0 && !slices.Contains(r.ConflictKey, c) {
				v.add(p, "column %q is not in conflict_key; a parent's rows are identified by part of their key", c)
			}
		}
	}
	if r.Each != "" && r.Unwrap != "" {
		v.add(rp+".each", "not valid with unwrap: debezium")
	}
	if len(r.ReplaceBy) > 0 && r.SoftDeleteColumn != "" {
		v.add(rp+".replace_by", "not valid with soft_delete_column (a replaced row is deleted)")
	}
}

// table checks a "table" or "schema.table" value.
func (v *validator) table(path, table string) {
	if msg := CheckTableName(table); msg != "" {
		v.add(path, "%s", msg)
	}
}

// CheckTableName returns why name ("table" or "schema.table") cannot name a
// table, "" if it can. Quoted identifiers are not supported.
func CheckTableName(name string) string {
	if strings.Contains(name, `"`) {
		return `must not contain '"': quoted identifiers are not supported; write schema.table`
	}
	if schema, tbl, ok := strings.Cut(name, "."); ok {
		if msg := checkIdent(schema); msg != "" {
			return "schema name " + msg
		}
		name = tbl
	}
	if msg := checkIdent(name); msg != "" {
		return "table name " + msg
	}
	return ""
}

// checkIdent returns why s cannot be a PostgreSQL identifier, "" if it can.
func checkIdent(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > maxIdentLen:
		return fmt.Sprintf("must be at most %d bytes; got %d", maxIdentLen, len(s))
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain a NUL byte"
	}
	return ""
}

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// checkTopic returns why t cannot be a Kafka topic name, "" if it can.
func checkTopic(t string) string {
	switch {
	case t == "":
		return "topic must not be empty"
	case t == "." || t == ".." || !topicName.MatchString(t):
		return fmt.Sprintf("invalid topic name %q: use 1 to 249 letters, digits, '.', '_' and '-'", t)
	}
	return ""
}

// checkHostPort returns why s is not host:port, "" if it is. With listen the
// host may be empty (all interfaces) and the port 0 (any free port).
func checkHostPort(s string, listen bool) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil || (host == "" && !listen) {
		return fmt.Sprintf("want host:port, got %q", s)
	}
	lowest := 1
	if listen {
		lowest = 0
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < lowest || n > 65535 {
		return fmt.Sprintf("want host:port with a port number from %d to 65535, got %q", lowest, s)
	}
	return ""
}
