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

const notSupported = "not supported yet in this version"

var (
	deliveries     = []string{DeliveryAtLeastOnce, DeliveryExactlyOnce}
	starts         = []string{StartEarliest, StartLatest}
	mechanisms     = []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512}
	modes          = []string{ModeInsert, ModeUpsert, ModeRaw}
	formats        = []string{FormatJSON, FormatJSONConnect, FormatAvro, FormatProtobuf, FormatJSONSchema, FormatString, FormatBytes}
	valueFormatsOK = []string{FormatJSON, FormatJSONConnect}
	keyFormatsOK   = []string{FormatString, FormatJSON}
	tolerances     = []string{ToleranceNone, ToleranceAll}
	logFormats     = []string{"text", "json"}
	logLevels      = []string{"debug", "info", "warn", "error"}
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
		if v.c.RouteFor(t) == nil {
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
	if t := k.TLS; t != nil {
		if t.CertFile != "" && t.KeyFile == "" {
			v.add("kafka.tls.key_file", "required when kafka.tls.cert_file is set")
		}
		if t.KeyFile != "" && t.CertFile == "" {
			v.add("kafka.tls.cert_file", "required when kafka.tls.key_file is set")
		}
	}
	if s := k.SASL; s != nil {
		if s.Mechanism == "" {
			v.add("kafka.sasl.mechanism", "required; one of %s", strings.Join(mechanisms, ", "))
		} else if !slices.Contains(mechanisms, strings.ToUpper(s.Mechanism)) {
			v.add("kafka.sasl.mechanism", "must be one of %s; got %q", strings.Join(mechanisms, ", "), s.Mechanism)
		}
		if s.Username == "" {
			v.add("kafka.sasl.username", "required with kafka.sasl")
		}
		if s.Password == "" {
			v.add("kafka.sasl.password", "required with kafka.sasl")
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
	if b.MaxWait < 0 {
		v.add("batch.max_wait", "must not be negative; got %s", b.MaxWait)
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
	owner := map[string]string{} // topic → path of the first route naming it
	for i := range c.Routes {
		r := &c.Routes[i]
		rp := fmt.Sprintf("routes[%d]", i)
		if len(r.AllTopics()) == 0 && len(r.Topics) == 0 {
			v.add(rp, "needs topic or topics")
		}
		check := func(p, t string) {
			if msg := checkTopic(t); msg != "" {
				v.add(p, "%s", msg)
				return
			}
			if prev, dup := owner[t]; dup {
				v.add(p, "topic %q is already routed by %s", t, prev)
				return
			}
			owner[t] = rp
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

func (v *validator) route(rp string, r *Route) {
	// An empty table means SanitiseIdent(first topic) (see TableName) unless
	// the document wrote `table: ""`, which Parse leaves empty.
	if _, written := v.c.lines[rp+".table"]; r.Table != "" || written {
		v.table(rp+".table", r.Table)
	}
	if v.enum(rp+".value.format", r.Value.Format, formats) && !slices.Contains(valueFormatsOK, r.Value.Format) {
		v.add(rp+".value.format", "%s is %s (supported: %s)", r.Value.Format, notSupported, strings.Join(valueFormatsOK, ", "))
	}
	if v.enum(rp+".key.format", r.Key.Format, formats) && !slices.Contains(keyFormatsOK, r.Key.Format) {
		v.add(rp+".key.format", "%s is %s (supported: %s)", r.Key.Format, notSupported, strings.Join(keyFormatsOK, ", "))
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

	if r.Unwrap != "" {
		v.add(rp+".unwrap", "%s", notSupported)
	}
	if r.Filter != "" {
		v.add(rp+".filter", "%s", notSupported)
	}
	if len(r.Columns) > 0 {
		v.add(rp+".columns", "%s", notSupported)
	}
	if r.AutoCreate {
		v.add(rp+".auto_create", "%s", notSupported)
	}
	if r.AutoEvolve {
		v.add(rp+".auto_evolve", "%s", notSupported)
	}
}

// table checks a "table" or "schema.table" value.
func (v *validator) table(path, table string) {
	if strings.Contains(table, `"`) {
		v.add(path, `must not contain '"': quoted identifiers are not supported; write schema.table`)
		return
	}
	if schema, name, ok := strings.Cut(table, "."); ok {
		if msg := checkIdent(schema); msg != "" {
			v.add(path, "schema name %s", msg)
		}
		table = name
	}
	if msg := checkIdent(table); msg != "" {
		v.add(path, "table name %s", msg)
	}
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
