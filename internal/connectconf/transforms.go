package connectconf

import (
	"regexp"
	"strconv"
	"strings"
)

// Single message transforms the conversion understands.
const (
	extractNewRecordState = "io.debezium.transforms.ExtractNewRecordState"
	unwrapFromEnvelope    = "io.debezium.transforms.UnwrapFromEnvelope" // its name before Debezium 0.10
	regexRouter           = "org.apache.kafka.connect.transforms.RegexRouter"
	insertFieldValue      = "org.apache.kafka.connect.transforms.InsertField$Value"
	flattenValue          = "org.apache.kafka.connect.transforms.Flatten$Value"
)

// smtEffects is what the connector's transforms do to records, as far as
// kafka2pg can do the same.
type smtEffects struct {
	routers []func(string) string // RegexRouter, in order: topic → topic
	columns [][2]string           // InsertField$Value: column → CEL expression
	flatten bool                  // Flatten$Value with delimiter _
}

// unwrapSMT is ExtractNewRecordState's delete handling: whether a delete
// event and Debezium's tombstone after it reach the sink as records with a
// null value.
type unwrapSMT struct {
	alias          string
	deletesPass    bool // a delete event becomes a record with a null value
	tombstonesPass bool // the tombstone after a delete is kept
	decided        bool // false: no delete handling set, and the default depends on the Debezium version
	blame          string
}

// route rewrites a topic name the way the RegexRouter transforms do.
func (e *smtEffects) route(topic string) string {
	for _, r := range e.routers {
		topic = r(topic)
	}
	return topic
}

// debeziumMetadata are the ExtractNewRecordState add.fields entries whose
// field names kafka2pg's unwrap: debezium offers too (see formats.md,
// Debezium, Metadata), by the add.fields entry.
var debeziumMetadata = map[string]string{
	"op":           "__op",
	"lsn":          "__lsn",
	"source.lsn":   "", // Debezium names it __source_lsn; kafka2pg offers __lsn
	"source.ts_ms": "__source_ts_ms",
	"table":        "__table",
	"source.table": "", // __source_table in Debezium
	"ts_ms":        "__ts_ms",
}

func (cv *conv) transforms() {
	list := cv.str("transforms", "")
	if list == "" {
		return
	}
	var aliases []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			aliases = append(aliases, a)
		}
	}
	unwrapAt := -1
	for i, a := range aliases {
		if t := strings.TrimSpace(cv.c.Config["transforms."+a+".type"]); t == extractNewRecordState || t == unwrapFromEnvelope {
			unwrapAt = i
		}
	}
	for i, alias := range aliases {
		prefix := "transforms." + alias + "."
		typeKey := prefix + "type"
		class, ok := cv.get(typeKey)
		class = strings.TrimSpace(class)
		opts := map[string]string{}
		for _, k := range cv.keysWithPrefix(prefix) {
			cv.used[k] = true
			if k != typeKey {
				opts[strings.TrimPrefix(k, prefix)] = strings.TrimSpace(cv.c.Config[k])
			}
		}
		if !ok || class == "" {
			cv.drop("transforms", "transform "+alias+" has no "+typeKey+"; Connect would not start the connector")
			continue
		}
		t := &smtReader{cv: cv, prefix: prefix, class: class, opts: opts, read: map[string]bool{}}
		if _, has := opts["predicate"]; has {
			t.read["predicate"], t.read["negate"] = true, true
			cv.drop(typeKey, "applied only to records matching predicate "+opts["predicate"]+"; kafka2pg has no conditional transforms")
			t.rest("option of transform " + alias + ", which is not carried over")
			continue
		}
		switch class {
		case extractNewRecordState, unwrapFromEnvelope:
			if cv.unwrap != nil {
				cv.drop(typeKey, "a second ExtractNewRecordState; kafka2pg unwraps once")
				t.rest("option of transform " + alias + ", which is not carried over")
				continue
			}
			cv.extractNewRecordState(t, alias)
		case regexRouter:
			cv.regexRouter(t, typeKey)
		case insertFieldValue:
			if unwrapAt > i {
				cv.note("transform %s (InsertField) runs before ExtractNewRecordState, which keeps only the row state: its fields never reach the table, and the converted configuration leaves them out too", alias)
				t.rest("")
				continue
			}
			cv.insertField(t, len(cv.smt.routers) > 0)
		case flattenValue:
			if unwrapAt > i {
				cv.drop(typeKey, "flattens the change event before ExtractNewRecordState unwraps it; kafka2pg unwraps first")
				t.rest("option of transform " + alias + ", which is not carried over")
				continue
			}
			if d, ok := t.opt("delimiter"); ok && d != "_" {
				cv.drop(typeKey, "Flatten joins names with "+strconv.Quote(d)+"; kafka2pg's flatten joins them with _")
			} else if !ok {
				cv.drop(typeKey, "Flatten joins names with . by default; kafka2pg's flatten joins them with _ (set delimiter=_ in Connect to keep the column names)")
			} else {
				cv.smt.flatten = true
			}
		default:
			cv.drop(typeKey, "a transform kafka2pg has no equivalent for")
			t.rest("option of transform " + alias + ", which is not carried over")
			continue
		}
		t.rest("an option of " + class[strings.LastIndex(class, ".")+1:] + " kafka2pg does not carry over")
	}
}

// smtReader reads one transform's options and reports those left unread.
type smtReader struct {
	cv     *conv
	prefix string
	class  string
	opts   map[string]string
	read   map[string]bool
}

func (t *smtReader) opt(name string) (string, bool) {
	v, ok := t.opts[name]
	t.read[name] = true
	return v, ok
}

// rest reports every option not read with reason; an empty reason drops
// them silently.
func (t *smtReader) rest(reason string) {
	for _, k := range t.cv.keysWithPrefix(t.prefix) {
		name := strings.TrimPrefix(k, t.prefix)
		if name == "type" || t.read[name] {
			continue
		}
		t.read[name] = true
		if reason != "" {
			t.cv.drop(k, reason)
		}
	}
}

func (t *smtReader) boolOpt(name string, def bool) bool {
	v, ok := t.opt(name)
	if !ok || v == "" {
		return def
	}
	switch strings.ToLower(v) {
	case "true":
		return true
	case "false":
		return false
	}
	t.cv.drop(t.prefix+name, "want true or false")
	return def
}

func (cv *conv) extractNewRecordState(t *smtReader, alias string) {
	u := &unwrapSMT{alias: alias, decided: true}
	if mode, ok := t.opt("delete.tombstone.handling.mode"); ok && mode != "" {
		u.blame = t.prefix + "delete.tombstone.handling.mode"
		switch strings.ToLower(mode) {
		case "drop":
		case "tombstone", "delete-to-tombstone":
			u.deletesPass = true
		case "rewrite":
		case "rewrite-with-tombstone":
			u.tombstonesPass = true
		default:
			cv.drop(u.blame, "not a delete.tombstone.handling.mode of ExtractNewRecordState")
		}
		// The legacy options are ignored by Debezium once this one is set.
		t.read["drop.tombstones"], t.read["delete.handling.mode"] = true, true
	} else {
		dh, hasDH := t.opt("delete.handling.mode")
		_, hasDT := t.opts["drop.tombstones"]
		dropTombstones := t.boolOpt("drop.tombstones", true)
		u.tombstonesPass = !dropTombstones
		switch strings.ToLower(dh) {
		case "", "drop", "rewrite":
		case "none":
			u.deletesPass = true
		default:
			cv.drop(t.prefix+"delete.handling.mode", "not a delete.handling.mode of ExtractNewRecordState")
		}
		switch {
		case hasDH:
			u.blame = t.prefix + "delete.handling.mode"
		case hasDT:
			u.blame = t.prefix + "drop.tombstones"
		default:
			u.blame = t.prefix + "type"
		}
		// Debezium versions with delete.tombstone.handling.mode ignore the
		// legacy options and keep a tombstone per delete by default, so
		// legacy settings that drop deletes mean different things in old
		// and new versions. UnwrapFromEnvelope only exists in old ones.
		if !u.deletesPass && !u.tombstonesPass && t.class != unwrapFromEnvelope {
			u.decided = false
		}
	}
	if f, ok := t.opt("add.fields"); ok && f != "" {
		prefix, hasPrefix := t.opt("add.fields.prefix")
		if !hasPrefix {
			prefix = "__"
		}
		var bad []string
		for _, e := range strings.Split(f, ",") {
			e = strings.TrimSpace(e)
			name, ok := debeziumMetadata[e]
			if !ok || name == "" || prefix != "__" {
				bad = append(bad, e)
			}
		}
		if len(bad) > 0 {
			cv.drop(t.prefix+"add.fields", "kafka2pg's unwrap: debezium offers only __op, __lsn (source.lsn), __source_ts_ms, __table (source.table) and __ts_ms to columns of those names; not "+strings.Join(bad, ", "))
		}
	} else {
		t.read["add.fields.prefix"] = true
	}
	for _, h := range []string{"add.headers", "add.headers.prefix", "operation.header"} {
		t.read[h] = true // headers: JDBC sinks do not write them
	}
	if r, ok := t.opt("route.by.field"); ok && r != "" {
		cv.drop(t.prefix+"route.by.field", "kafka2pg routes by topic only")
	}
	if v, ok := t.opt("replace.null.with.default"); ok && strings.EqualFold(v, "true") {
		cv.drop(t.prefix+"replace.null.with.default", "kafka2pg writes a null field as NULL; it does not replace it with the schema's default")
	}
	cv.unwrap = u
}

func (cv *conv) regexRouter(t *smtReader, typeKey string) {
	pattern, _ := t.opt("regex")
	replacement, _ := t.opt("replacement")
	re, reason := javaRegexp(pattern)
	if re == nil {
		cv.drop(typeKey, "regex "+reason)
		return
	}
	tmpl, ok := javaReplacement(replacement, re.NumSubexp())
	if !ok {
		cv.drop(typeKey, "replacement is not a Java replacement string kafka2pg understands")
		return
	}
	cv.smt.routers = append(cv.smt.routers, func(topic string) string {
		m := re.FindStringSubmatchIndex(topic)
		if m == nil {
			return topic // RegexRouter leaves topics that do not match alone
		}
		return string(re.ExpandString(nil, tmpl, topic, m))
	})
}

// javaReplacement converts a java.util.regex replacement ($1, ${name},
// backslash escapes) to a Go regexp template.
func javaReplacement(s string, groups int) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return "", false
			}
			i++
			if s[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(s[i])
			}
		case '$':
			if i+1 == len(s) {
				return "", false
			}
			if s[i+1] == '{' {
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return "", false
				}
				b.WriteString(s[i : i+end+1])
				i += end
				continue
			}
			// Java reads as many digits as still name an existing group.
			j := i + 1
			if j >= len(s) || s[j] < '0' || s[j] > '9' {
				return "", false
			}
			n := int(s[j] - '0')
			j++
			for j < len(s) && s[j] >= '0' && s[j] <= '9' && n*10+int(s[j]-'0') <= groups {
				n = n*10 + int(s[j]-'0')
				j++
			}
			b.WriteString("${" + strconv.Itoa(n) + "}")
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// insertFieldSpec strips InsertField's optional/required suffix.
var insertFieldSpec = regexp.MustCompile(`^(.*?)[!?]?$`)

func (cv *conv) insertField(t *smtReader, routed bool) {
	add := func(opt, expr string) {
		v, ok := t.opt(opt)
		if !ok || v == "" {
			return
		}
		name := insertFieldSpec.FindStringSubmatch(v)[1]
		if opt == "topic.field" && routed {
			cv.drop(t.prefix+opt, "the topic name after a RegexRouter; kafka2pg's kafka.topic is the topic the record was read from")
			return
		}
		cv.smt.columns = append(cv.smt.columns, [2]string{name, expr})
	}
	add("topic.field", "kafka.topic")
	add("partition.field", "kafka.partition")
	add("offset.field", "kafka.offset")
	if v, ok := t.opt("timestamp.field"); ok && v != "" {
		cv.drop(t.prefix+"timestamp.field", "kafka2pg's computed columns offer kafka.topic, kafka.partition and kafka.offset, not the record timestamp")
	}
	if f, ok := t.opt("static.field"); ok && f != "" {
		v, _ := t.opt("static.value")
		cv.smt.columns = append(cv.smt.columns, [2]string{insertFieldSpec.FindStringSubmatch(f)[1], strconv.Quote(v)})
	} else {
		t.read["static.value"] = true
	}
}
