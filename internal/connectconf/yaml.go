package connectconf

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// pipeline is the kafka2pg configuration being built, only the keys the
// conversion sets. String fields hold YAML scalar text before quoting:
// literal parts already escaped for kafka2pg's ${VAR} expansion (see lit),
// placeholders (${KAFKA_BROKERS}) as they are.
type pipeline struct {
	header []string // comment lines at the top

	brokers        []string
	brokersNote    string
	group          string
	groupNote      string
	topics         []string
	topicPattern   string
	patternNote    string
	start          string
	startNote      string
	clientID       string
	sessionTimeout string
	fetchMaxBytes  string
	tls            *tlsConf
	sasl           *saslConf

	pgURL     string
	pgURLNote string
	maxConns  string
	maxNote   string

	registry *registryConf

	maxRows     string
	maxRowsNote string

	tolerance     string
	toleranceNote string
	dlqTopic      string
	dlqTable      string
	dlqNote       string
	retryInitial  string
	retryMax      string
	retryNote     string

	routes []*route
}

type tlsConf struct {
	caFile   string
	certFile string
	keyFile  string
	note     string
}

type saslConf struct {
	mechanism string
	username  string
	password  string
	note      string
}

type registryConf struct {
	url      string
	username string
	password string
	note     string
}

// route is one kafka2pg route. notes are comments keyed by the YAML key
// they explain.
type route struct {
	topics      []string
	table       string
	keyFormat   string
	valueFormat string
	mode        string
	conflictKey []string
	deletes     bool
	unwrap      bool
	onTruncate  string
	flatten     bool
	autoCreate  bool
	autoEvolve  bool
	columns     [][2]string // name → CEL expression, in order
	notes       map[string]string
}

func (r *route) note(key, text string) {
	if r.notes == nil {
		r.notes = map[string]string{}
	}
	if prev := r.notes[key]; prev != "" && text != "" {
		text = prev + "; " + text
	}
	r.notes[key] = text
}

// yamlOut writes YAML lines with trailing comments aligned.
type yamlOut struct {
	lines [][2]string // text, comment
}

// add appends a line. The comment may hold text from the input (topic
// names, transform aliases): control characters become blanks so that it
// cannot start a line of its own.
func (y *yamlOut) add(text, comment string) {
	y.lines = append(y.lines, [2]string{text, oneLine(comment)})
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 || r == 0x85 {
			return ' '
		}
		return r
	}, s)
}

func (y *yamlOut) bytes() []byte {
	const col = 40
	var b bytes.Buffer
	for _, l := range y.lines {
		b.WriteString(l[0])
		if l[1] != "" {
			pad := col - len(l[0])
			if strings.HasPrefix(l[0], "#") || l[0] == "" {
				pad = 0
			}
			if pad < 2 {
				pad = 2
			}
			if l[0] == "" {
				pad = 0
			}
			b.WriteString(strings.Repeat(" ", pad))
			b.WriteString("# ")
			b.WriteString(l[1])
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// render writes p as YAML.
func (p *pipeline) render() []byte {
	y := &yamlOut{}
	for _, h := range p.header {
		y.add("# "+oneLine(h), "")
	}
	y.add("kafka:", "")
	y.add("  brokers: "+flowList(p.brokers), p.brokersNote)
	y.add("  group: "+q(p.group), p.groupNote)
	if p.topicPattern != "" {
		y.add("  topic_pattern: "+q(p.topicPattern), p.patternNote)
	} else {
		y.add("  topics: "+flowList(p.topics), p.patternNote)
	}
	opt(y, "  start: ", p.start, p.startNote)
	opt(y, "  client_id: ", p.clientID, "consumer.override.client.id")
	opt(y, "  session_timeout: ", p.sessionTimeout, "consumer.override.session.timeout.ms")
	opt(y, "  fetch_max_bytes: ", p.fetchMaxBytes, "consumer.override.fetch.max.bytes")
	if t := p.tls; t != nil {
		if t.caFile == "" && t.certFile == "" {
			y.add("  tls: {}", t.note)
		} else {
			y.add("  tls:", t.note)
			opt(y, "    ca_file: ", t.caFile, "")
			opt(y, "    cert_file: ", t.certFile, "")
			opt(y, "    key_file: ", t.keyFile, "")
		}
	}
	if s := p.sasl; s != nil {
		y.add("  sasl:", s.note)
		y.add("    mechanism: "+q(s.mechanism), "")
		y.add("    username: "+q(s.username), "")
		y.add("    password: "+q(s.password), "")
	}
	y.add("postgres:", "")
	y.add("  url: "+q(p.pgURL), p.pgURLNote)
	if p.maxConns != "" {
		y.add("  max_conns: "+p.maxConns, p.maxNote)
	}
	if r := p.registry; r != nil {
		y.add("schema_registry:", "")
		y.add("  url: "+q(r.url), r.note)
		opt(y, "  username: ", r.username, "")
		opt(y, "  password: ", r.password, "")
	}
	if p.maxRows != "" {
		y.add("batch:", "")
		y.add("  max_rows: "+p.maxRows, p.maxRowsNote)
	}
	if p.tolerance != "" || p.retryInitial != "" || p.retryMax != "" {
		y.add("errors:", "")
		opt(y, "  tolerance: ", p.tolerance, p.toleranceNote)
		switch {
		case p.dlqTopic != "":
			y.add("  dlq: {topic: "+q(p.dlqTopic)+"}", p.dlqNote)
		case p.dlqTable != "":
			y.add("  dlq: {table: "+q(p.dlqTable)+"}", p.dlqNote)
		}
		if p.retryInitial != "" || p.retryMax != "" {
			y.add("  retry:", p.retryNote)
			opt(y, "    initial: ", p.retryInitial, "")
			opt(y, "    max: ", p.retryMax, "")
		}
	}
	y.add("routes:", "")
	for _, r := range p.routes {
		first := true
		item := func(text, comment string) {
			if first {
				y.add("  - "+text, comment)
				first = false
			} else {
				y.add("    "+text, comment)
			}
		}
		if len(r.topics) == 1 {
			item("topic: "+q(r.topics[0]), r.notes["topic"])
		} else {
			item("topics: "+flowList(r.topics), r.notes["topic"])
		}
		item("table: "+q(r.table), r.notes["table"])
		item("key: {format: "+r.keyFormat+"}", r.notes["key"])
		item("value: {format: "+r.valueFormat+"}", r.notes["value"])
		item("mode: "+r.mode, r.notes["mode"])
		if len(r.conflictKey) > 0 {
			item("conflict_key: "+flowList(r.conflictKey), r.notes["conflict_key"])
		}
		if r.deletes {
			item("delete_on_tombstone: true", r.notes["delete_on_tombstone"])
		}
		if r.unwrap {
			item("unwrap: debezium", r.notes["unwrap"])
			if r.onTruncate != "" {
				item("debezium: {on_truncate: "+r.onTruncate+"}", r.notes["on_truncate"])
			}
		}
		if r.flatten {
			item("flatten: true", r.notes["flatten"])
		}
		if r.autoCreate {
			item("auto_create: true", r.notes["auto_create"])
		}
		if r.autoEvolve {
			item("auto_evolve: true", r.notes["auto_evolve"])
		}
		if len(r.columns) > 0 {
			item("columns:", r.notes["columns"])
			for _, c := range r.columns {
				y.add("      "+q(c[0])+": "+q(c[1]), "")
			}
		}
	}
	return y.bytes()
}

func opt(y *yamlOut, prefix, value, comment string) {
	if value != "" {
		y.add(prefix+q(value), comment)
	}
}

func flowList(items []string) string {
	qs := make([]string, len(items))
	for i, s := range items {
		qs[i] = q(s)
	}
	return "[" + strings.Join(qs, ", ") + "]"
}

var (
	plainScalar = regexp.MustCompile(`^[A-Za-z_/][A-Za-z0-9_./-]*$|^[0-9]+(ms|s|m|h)$`)
	yamlWords   = regexp.MustCompile(`^(?i:y|n|yes|no|on|off|true|false|null)$`)
)

// q returns s as a YAML scalar: plain when that reads back as the same
// string, double-quoted (JSON escapes, which YAML shares) otherwise.
func q(s string) string {
	if plainScalar.MatchString(s) && !yamlWords.MatchString(s) {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// lit escapes a literal string for kafka2pg's ${VAR} expansion: a '$'
// followed by '{' or '$' is doubled, so the value reads back as written.
func lit(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '$' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '$') {
			b.WriteByte('$')
		}
	}
	return b.String()
}
