package connectconf

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Kind is the connector a configuration belongs to.
type Kind int

// The connectors Convert reads.
const (
	ConfluentJDBC Kind = iota + 1 // io.confluent.connect.jdbc.JdbcSinkConnector
	DebeziumJDBC                  // io.debezium.connector.jdbc.JdbcSinkConnector
)

const (
	confluentClass = "io.confluent.connect.jdbc.JdbcSinkConnector"
	debeziumClass  = "io.debezium.connector.jdbc.JdbcSinkConnector"
)

func (k Kind) String() string {
	switch k {
	case ConfluentJDBC:
		return "Confluent JDBC sink"
	case DebeziumJDBC:
		return "Debezium JDBC sink"
	}
	return "unknown connector"
}

// Options are what a sink connector's configuration does not say. The zero
// value is valid.
type Options struct {
	// Brokers are the Kafka brokers (host:port); empty emits the
	// placeholder ${KAFKA_BROKERS}.
	Brokers []string
	// Group is the consumer group; empty means Connect's own group for the
	// connector, connect-NAME (or consumer.override.group.id), so that
	// kafka2pg resumes at Connect's committed offsets.
	Group string
	// Topics are the topics topics.regex matches, one route each; without
	// them a connector with topics.regex gets one placeholder route.
	Topics []string
}

// EnvVar is an environment variable the converted configuration refers to
// (kafka2pg expands ${NAME} when it reads the file).
type EnvVar struct {
	Name    string
	Purpose string
}

// Dropped is a setting that was not carried over.
type Dropped struct {
	Key    string
	Value  string // masked when the key holds a secret
	Reason string
}

// String formats d as "key=value: reason".
func (d Dropped) String() string { return d.Key + "=" + d.Value + ": " + d.Reason }

// Result is a converted configuration.
type Result struct {
	// YAML is the kafka2pg pipeline configuration. It parses with
	// config.Parse when the variables of Env are set, except that config
	// still rejects routes[].columns ("not supported yet").
	YAML []byte
	Kind Kind
	// Name is the connector's name, "" when the input had none.
	Name string
	// Env lists the placeholders in YAML and what to put in them.
	Env []EnvVar
	// Notes say what kafka2pg does differently without changing the rows
	// written, or what was assumed.
	Notes []string
	// Dropped lists, in input order, every setting that could not be
	// carried over, with the reason. Empty means the conversion is
	// complete.
	Dropped []Dropped
	// Columns reports whether a route has computed columns.
	Columns bool
}

// Complete reports whether every setting was carried over.
func (r *Result) Complete() bool { return len(r.Dropped) == 0 }

// Convert maps a JDBC sink connector's configuration to a kafka2pg pipeline
// configuration. It is pure: it reads nothing but its arguments. An input
// that is not a Confluent or Debezium JDBC sink writing to PostgreSQL is an
// *InputError; Options that do not fit the connector an *OptionsError.
// Everything else converts, with what could not be carried over in
// Result.Dropped.
func Convert(c *Connector, opts Options) (*Result, error) {
	cv := &conv{c: c, opts: opts, used: map[string]bool{}, drops: map[string][]string{}}
	if err := cv.run(); err != nil {
		return nil, err
	}
	return cv.result(), nil
}

type conv struct {
	c    *Connector
	opts Options
	kind Kind
	used map[string]bool
	// drops are the reasons per key (a key may collect several); extra
	// holds keys reported that are not in the input (a default that cannot
	// be carried over), with the value shown.
	drops      map[string][]string
	extraOrder []string
	extraValue map[string]string
	notes      []string
	env        []EnvVar
	p          pipeline
	database   string // from connection.url, for catalog.schema.table names
	unwrap     *unwrapSMT
	smt        smtEffects
	// placeholderTopic is set when topics.regex has no --topics: the one
	// route's topic is the ${TOPIC} placeholder.
	placeholderTopic string
}

// get returns a setting and marks it as read.
func (cv *conv) get(key string) (string, bool) {
	v, ok := cv.c.Config[key]
	if ok {
		cv.used[key] = true
	}
	return v, ok
}

func (cv *conv) str(key, def string) string {
	if v, ok := cv.get(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

// flag reads a boolean setting as Connect does (case-insensitive).
func (cv *conv) flag(key string, def bool) bool {
	v, ok := cv.get(key)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true
	case "false":
		return false
	}
	cv.drop(key, "want true or false")
	return def
}

// number reads a non-negative integer setting; ok is false when it is not
// set or not a number (then it is reported).
func (cv *conv) number(key string) (int64, bool) {
	v, ok := cv.get(key)
	if !ok || strings.TrimSpace(v) == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		cv.drop(key, "want a whole number of at least 0")
		return 0, false
	}
	return n, true
}

// drop reports key as not carried over. A key not in the input is shown
// with the value "(not set)" unless shown is given.
func (cv *conv) drop(key, reason string) { cv.dropShown(key, "", reason) }

func (cv *conv) dropShown(key, shown, reason string) {
	cv.used[key] = true
	if _, in := cv.c.Config[key]; !in {
		if cv.extraValue == nil {
			cv.extraValue = map[string]string{}
		}
		if _, seen := cv.extraValue[key]; !seen {
			cv.extraOrder = append(cv.extraOrder, key)
			if shown == "" {
				shown = "(not set)"
			}
			cv.extraValue[key] = shown
		}
	}
	for _, r := range cv.drops[key] {
		if r == reason {
			return
		}
	}
	cv.drops[key] = append(cv.drops[key], reason)
}

func (cv *conv) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	for _, have := range cv.notes {
		if have == n {
			return
		}
	}
	cv.notes = append(cv.notes, n)
}

func (cv *conv) addEnv(name, purpose string) string {
	for _, e := range cv.env {
		if e.Name == name {
			return "${" + name + "}"
		}
	}
	cv.env = append(cv.env, EnvVar{Name: name, Purpose: purpose})
	return "${" + name + "}"
}

// providerRef matches a Connect config provider reference such as
// ${file:/etc/secrets.properties:password} or ${env:PGPASSWORD}.
var providerRef = regexp.MustCompile(`\$\{[A-Za-z0-9_.-]+:[^}]*\}`)

func (cv *conv) run() error {
	if err := cv.detectKind(); err != nil {
		return err
	}
	if err := cv.checkOptions(); err != nil {
		return err
	}
	// Config provider references cannot be resolved here; secrets are
	// handled where they are read, other keys are reported.
	for _, k := range cv.c.Keys {
		if providerRef.MatchString(cv.c.Config[k]) && !isSecretKey(k) && k != "connection.url" {
			cv.drop(k, "a Connect config provider reference; kafka2pg cannot resolve it: put the value in the file (or a ${VAR} environment variable) yourself")
		}
	}
	cv.kafka()
	if err := cv.postgres(); err != nil {
		return err
	}
	topics, err := cv.topics()
	if err != nil {
		return err
	}
	cv.transforms()
	cv.routes(topics)
	cv.batchAndErrors()
	cv.consumerOverrides()
	cv.leftovers()
	cv.header()
	return nil
}

func (cv *conv) detectKind() error {
	class, ok := cv.get("connector.class")
	class = strings.TrimSpace(class)
	if !ok || class == "" {
		return inputErr("connector.class", "missing: this is not a Kafka Connect connector configuration")
	}
	switch class {
	case confluentClass:
		cv.kind = ConfluentJDBC
	case debeziumClass:
		cv.kind = DebeziumJDBC
	case "JdbcSinkConnector", "JdbcSink":
		// Connect's short aliases name both connectors; tell them apart by
		// the settings only one of them has.
		conf := cv.has("connection.user", "pk.mode", "pk.fields", "auto.create", "auto.evolve", "fields.whitelist", "quote.sql.identifiers", "max.retries")
		dbz := cv.has("connection.username", "primary.key.mode", "primary.key.fields", "schema.evolution", "collection.name.format", "quote.identifiers", "flush.max.retries")
		switch {
		case conf && !dbz:
			cv.kind = ConfluentJDBC
		case dbz && !conf:
			cv.kind = DebeziumJDBC
		default:
			return inputErr("connector.class", "%q names both Confluent's and Debezium's JDBC sink; write the full class name (%s or %s)", class, confluentClass, debeziumClass)
		}
	default:
		return inputErr("connector.class", "%s is not a JDBC sink connector kafka2pg can convert; want %s or %s", class, confluentClass, debeziumClass)
	}
	return nil
}

func (cv *conv) has(keys ...string) bool {
	for _, k := range keys {
		if _, ok := cv.c.Config[k]; ok {
			return true
		}
	}
	return false
}

func (cv *conv) checkOptions() error {
	for _, b := range cv.opts.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" || port == "" {
			return &OptionsError{Option: "brokers", Msg: fmt.Sprintf("want host:port, got %q", b)}
		}
	}
	if strings.ContainsAny(cv.opts.Group, " \t\n") {
		return &OptionsError{Option: "group", Msg: "must not contain blanks"}
	}
	return nil
}

// isSecretKey reports whether a setting holds a secret whose value must
// never be printed.
func isSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"password", "secret", "jaas.config", "user.info", "token", "api.key", "keystore.key", "private"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// shown returns a setting's value fit to print: secrets masked, passwords
// inside URLs removed.
func shown(key, value string) string {
	if isSecretKey(key) {
		if value == "" {
			return ""
		}
		return "[hidden]"
	}
	if strings.Contains(strings.ToLower(value), "password") || strings.Contains(value, "@") {
		return maskURLSecrets(value)
	}
	return value
}

var passwordParam = regexp.MustCompile(`(?i)((?:ssl)?password=)[^&;\s]*`)
var userinfoPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)

func maskURLSecrets(s string) string {
	s = passwordParam.ReplaceAllString(s, "${1}[hidden]")
	return userinfoPassword.ReplaceAllString(s, "${1}[hidden]@")
}

// ---- kafka ----

func (cv *conv) kafka() {
	if len(cv.opts.Brokers) > 0 {
		for _, b := range cv.opts.Brokers {
			cv.p.brokers = append(cv.p.brokers, lit(b))
		}
		cv.p.brokersNote = "--brokers"
	} else {
		cv.p.brokers = []string{cv.addEnv("KAFKA_BROKERS", "one Kafka broker as host:port (a sink connector's configuration does not name the brokers: they are in the Connect worker's bootstrap.servers); or run import-connect with --brokers host1:9092,host2:9092")}
		cv.p.brokersNote = "the Connect worker's bootstrap.servers"
	}
	override, hasOverride := cv.get("consumer.override.group.id")
	switch {
	case cv.opts.Group != "":
		cv.p.group = lit(cv.opts.Group)
		cv.p.groupNote = "--group"
	case hasOverride && strings.TrimSpace(override) != "":
		cv.p.group = lit(strings.TrimSpace(override))
		cv.p.groupNote = "consumer.override.group.id: the connector's group, so kafka2pg starts at its committed offsets"
	case cv.c.Name != "":
		cv.p.group = lit("connect-" + cv.c.Name)
		cv.p.groupNote = "Connect's group for this connector: kafka2pg starts at its committed offsets"
	default:
		cv.p.group = cv.addEnv("KAFKA_GROUP", "the consumer group; the input has no connector name, so Connect's group connect-NAME is unknown (or run import-connect with --group)")
		cv.p.groupNote = "Connect's group is connect-NAME"
	}
}

// topics returns the topics to route and sets kafka.topics or
// kafka.topic_pattern.
func (cv *conv) topics() ([]string, error) {
	list, hasList := cv.get("topics")
	pattern, hasPattern := cv.get("topics.regex")
	list, pattern = strings.TrimSpace(list), strings.TrimSpace(pattern)
	hasList, hasPattern = hasList && list != "", hasPattern && pattern != ""
	switch {
	case hasList && hasPattern:
		return nil, inputErr("topics", "set together with topics.regex; Connect accepts only one of them")
	case !hasList && !hasPattern:
		return nil, inputErr("topics", "missing: a sink connector names its topics in topics or topics.regex")
	case hasList:
		if len(cv.opts.Topics) > 0 {
			return nil, &OptionsError{Option: "topics", Msg: "only for a connector with topics.regex; this one lists its topics"}
		}
		var topics []string
		for _, t := range strings.Split(list, ",") {
			if t = strings.TrimSpace(t); t != "" && !contains(topics, t) {
				topics = append(topics, t)
			}
		}
		for _, t := range topics {
			cv.p.topics = append(cv.p.topics, lit(t))
		}
		cv.p.patternNote = "topics"
		return topics, nil
	}
	// Connect matches topics.regex against whole topic names (Java's
	// Pattern.matches); kafka2pg's pattern is an unanchored RE2 regexp.
	re, reason := javaRegexp(pattern)
	if re == nil {
		cv.drop("topics.regex", reason)
		cv.p.topicPattern = lit("^(?:" + pattern + ")$")
	} else {
		cv.p.topicPattern = lit(re.String())
	}
	cv.p.patternNote = "topics.regex, anchored: Connect matches whole topic names"
	if len(cv.opts.Topics) == 0 {
		cv.drop("topics.regex", "kafka2pg needs a route per topic: run import-connect again with --topics and the topics the pattern matches today; the configuration has one placeholder route, ${TOPIC}")
		cv.placeholderTopic = cv.addEnv("TOPIC", "placeholder for a topic topics.regex matches: replace the route with one route per topic (import-connect --topics does it)")
		return []string{cv.placeholderTopic}, nil
	}
	var topics []string
	for _, t := range cv.opts.Topics {
		if re != nil && !re.MatchString(t) {
			return nil, &OptionsError{Option: "topics", Msg: fmt.Sprintf("topic %q does not match topics.regex", t)}
		}
		if !contains(topics, t) {
			topics = append(topics, t)
		}
	}
	return topics, nil
}

// javaRegexp compiles a Java regular expression that Connect matches
// against whole names as an anchored Go regexp, or says why it cannot.
func javaRegexp(java string) (*regexp.Regexp, string) {
	if hasClassIntersection(java) {
		return nil, "uses a Java character-class intersection (&&), which Go's regular expressions read differently"
	}
	re, err := regexp.Compile("^(?:" + java + ")$")
	if err != nil {
		return nil, "a Java regular expression Go's RE2 syntax does not accept (" + strings.TrimPrefix(err.Error(), "error parsing regexp: ") + ")"
	}
	return re, ""
}

func hasClassIntersection(re string) bool {
	depth := 0
	for i := 0; i < len(re); i++ {
		switch re[i] {
		case '\\':
			i++
		case '[':
			depth++
		case ']':
			if depth > 0 {
				depth--
			}
		case '&':
			if depth > 0 && i+1 < len(re) && re[i+1] == '&' {
				return true
			}
		}
	}
	return false
}

// ---- postgres ----

func (cv *conv) postgres() error {
	raw, ok := cv.get("connection.url")
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		return inputErr("connection.url", "missing: a JDBC sink needs the database's JDBC URL")
	}
	userKey := "connection.user"
	if cv.kind == DebeziumJDBC {
		userKey = "connection.username"
	}
	user := cv.str(userKey, "")
	password, hasPassword := cv.get("connection.password")
	if providerRef.MatchString(raw) {
		cv.p.pgURL = cv.addEnv("DATABASE_URL", "the PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE); connection.url was a config provider reference, not printed")
		cv.p.pgURLNote = "connection.url (a config provider reference)"
		return nil
	}
	u, err := parseJDBCURL(raw)
	if err != nil {
		return err
	}
	cv.database = u.database
	var params [][2]string
	setParam := func(k, v string) {
		for i := range params {
			if params[i][0] == k {
				params[i][1] = v
				return
			}
		}
		params = append(params, [2]string{k, v})
	}
	sslFromMode := false
	urlPassword := false
	apply := func(source, name, value string) {
		switch name {
		case "user":
			if user != "" && user != value {
				cv.note("connection.url names user %q and %s %q; pgJDBC uses the URL's, and so does the converted postgres.url", value, userKey, user)
			}
			user = value
			return
		case "password":
			urlPassword = true
			return
		}
		m := mapJDBCParam(name, value)
		switch {
		case m.ignore:
		case m.reason != "":
			reason := m.reason
			if source == "connection.url" {
				reason = "parameter " + name + ": " + reason
			}
			cv.drop(source, reason)
		default:
			if m.name == "sslmode" && name != "sslmode" && sslFromMode {
				return // an explicit sslmode wins over ssl=true and sslfactory
			}
			if name == "sslmode" {
				sslFromMode = true
			}
			if name == "sslkey" {
				cv.note("%s sslkey: pgJDBC reads a PKCS-8 DER key (.pk8), kafka2pg a PEM key: convert it with openssl pkcs8 -inform DER -in KEY.pk8 -out KEY.pem if needed", source)
			}
			setParam(m.name, m.value)
		}
	}
	for _, p := range u.params {
		apply("connection.url", p[0], p[1])
	}
	if cv.kind == ConfluentJDBC {
		// Any other connection.* setting is a pgJDBC connection property.
		for _, k := range cv.c.Keys {
			name, ok := strings.CutPrefix(k, "connection.")
			if _, known := confluentKeys[k]; !ok || known {
				continue
			}
			cv.used[k] = true
			apply(k, name, cv.c.Config[k])
		}
	}
	var b strings.Builder
	b.WriteString("postgres://")
	if user != "" {
		b.WriteString(lit(url.PathEscape(user)))
		if hasPassword && strings.TrimSpace(password) != "" || urlPassword {
			b.WriteString(":" + cv.passwordPlaceholder(userKey, user, password, urlPassword))
		}
		b.WriteString("@")
	} else if hasPassword && strings.TrimSpace(password) != "" || urlPassword {
		cv.drop("connection.password", "a password without a user: name the user in connection.url or "+userKey)
	}
	for i, h := range u.hosts {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(lit(h))
	}
	b.WriteString("/")
	b.WriteString(lit(url.PathEscape(u.database)))
	if len(params) > 0 {
		q := make([]string, len(params))
		for i, p := range params {
			q[i] = queryEscape(p[0]) + "=" + queryEscape(p[1])
		}
		b.WriteString("?" + lit(strings.Join(q, "&")))
	}
	cv.p.pgURL = b.String()
	cv.p.pgURLNote = "connection.url, " + userKey
	if strings.Contains(cv.p.pgURL, "${POSTGRES_PASSWORD}") {
		cv.p.pgURLNote += ", connection.password"
	}
	if cv.kind == DebeziumJDBC {
		if n, ok := cv.number("connection.pool.max_size"); ok && n > 0 {
			if n > 1000 {
				n = 1000
			}
			cv.p.maxConns = strconv.FormatInt(n, 10)
			cv.p.maxNote = "connection.pool.max_size"
		}
		if prov := cv.str("connection.provider", ""); prov != "" && prov != "org.hibernate.c3p0.internal.C3P0ConnectionProvider" {
			cv.drop("connection.provider", "kafka2pg has its own connection pool (postgres.max_conns)")
		}
	} else if cls := cv.str("jdbc.credentials.provider.class", ""); cls != "" && cls != "io.confluent.connect.jdbc.util.DefaultJdbcCredentialsProvider" {
		cv.drop("jdbc.credentials.provider.class", "kafka2pg takes the password from postgres.url (an environment variable) or PGPASSWORD/passfile")
	}
	if cv.kind == ConfluentJDBC {
		if d := cv.str("dialect.name", ""); d != "" && d != "PostgreSqlDatabaseDialect" {
			cv.drop("dialect.name", "kafka2pg writes to PostgreSQL only")
		}
	}
	return nil
}

// queryEscape escapes a URL query name or value, keeping the characters
// that are safe there unescaped (so that paths stay readable).
func queryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/:,", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// passwordPlaceholder returns the ${POSTGRES_PASSWORD} placeholder and says
// where the password came from. The password itself is never printed.
func (cv *conv) passwordPlaceholder(userKey, user, password string, inURL bool) string {
	from := "connection.password"
	if inURL && strings.TrimSpace(password) == "" {
		from = "the password parameter of connection.url"
	}
	purpose := fmt.Sprintf("the password of PostgreSQL user %q (%s; import-connect never prints it)", user, from)
	if m := providerRef.FindString(password); m != "" {
		purpose += "; the connector read it through the config provider reference " + m
	}
	purpose += ". It is put into the URL as it is: percent-encode @ : / ? # % and blanks in it, or leave it out of postgres.url and use PGPASSWORD or passfile=PATH (a .pgpass file) instead"
	return cv.addEnv("POSTGRES_PASSWORD", purpose)
}

// ---- remaining settings ----

// leftovers classifies every setting the conversion did not read.
func (cv *conv) leftovers() {
	tables := []map[string]rule{frameworkKeys}
	if cv.kind == ConfluentJDBC {
		tables = append(tables, confluentKeys)
	} else {
		tables = append(tables, debeziumKeys)
	}
	for _, k := range cv.c.Keys {
		if cv.used[k] {
			continue
		}
		r, known := lookupRule(k, tables...)
		switch {
		case !known:
			cv.drop(k, "not a setting of the "+cv.kind.String()+" or of Kafka Connect that kafka2pg knows")
		case r.kind == noted:
			cv.note("%s: %s", k, r.text)
		case r.kind == dropped:
			cv.drop(k, r.text)
		}
	}
	for _, k := range cv.c.Repeated {
		cv.note("%s is given more than once; the last value counts, as in Connect", k)
	}
}

func (cv *conv) result() *Result {
	r := &Result{Kind: cv.kind, Name: cv.c.Name, Env: cv.env, Notes: cv.notes}
	order := append([]string{}, cv.c.Keys...)
	order = append(order, cv.extraOrder...)
	for _, k := range order {
		reasons := cv.drops[k]
		if len(reasons) == 0 {
			continue
		}
		v, in := cv.c.Config[k]
		if in {
			v = shown(k, v)
		} else {
			v = cv.extraValue[k]
		}
		r.Dropped = append(r.Dropped, Dropped{Key: k, Value: v, Reason: strings.Join(reasons, "; ")})
	}
	for _, rt := range cv.p.routes {
		if len(rt.columns) > 0 {
			r.Columns = true
		}
	}
	r.YAML = cv.p.render()
	return r
}

func (cv *conv) header() {
	class := confluentClass
	if cv.kind == DebeziumJDBC {
		class = debeziumClass
	}
	name := cv.c.Name
	if name == "" {
		name = "(unnamed)"
	}
	h := []string{
		fmt.Sprintf("kafka2pg pipeline converted by `kafka2pg import-connect` from Kafka Connect connector %s", name),
		"(" + class + ").",
	}
	if len(cv.env) > 0 {
		names := make([]string, len(cv.env))
		for i, e := range cv.env {
			names[i] = e.Name
		}
		h = append(h, "Set before running: "+strings.Join(names, ", ")+".")
	}
	if n := len(cv.drops); n > 0 {
		h = append(h, fmt.Sprintf("%d setting(s) were not carried over: see import-connect's output on stderr.", countDropped(cv)))
	}
	h = append(h, "Check it with: kafka2pg check --config FILE")
	cv.p.header = h
}

func countDropped(cv *conv) int {
	n := 0
	for _, r := range cv.drops {
		if len(r) > 0 {
			n++
		}
	}
	return n
}

// keysWithPrefix returns the settings under prefix, in input order.
func (cv *conv) keysWithPrefix(prefix string) []string {
	var out []string
	for _, k := range cv.c.Keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}
