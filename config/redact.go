package config

import (
	"fmt"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"
)

const (
	redacted         = "[redacted]"
	redactedPassword = "xxxxx" // in URLs and connection strings, where it must stay parseable
)

// Redacted returns the effective configuration as single-line YAML (flow
// style), for a startup log line. Keys whose value is empty (null, "", an
// empty list or mapping) are left out. It never contains a secret: the password of
// postgres.url (user:password@ in URL form, password= and sslpassword= in
// URL query and key=value form) becomes xxxxx, kafka.sasl.password and
// schema_registry.password become [redacted], as does the password in a
// schema_registry.url, and a URL or connection string that cannot be parsed
// is replaced by [redacted] as a whole. c is not modified.
func (c *Config) Redacted() string {
	r := *c
	r.lines = nil
	r.Postgres.URL = redactPostgresURL(c.Postgres.URL)
	r.SchemaRegistry.URL = redactURL(c.SchemaRegistry.URL)
	if r.SchemaRegistry.Password != "" {
		r.SchemaRegistry.Password = redacted
	}
	if c.Kafka.SASL != nil {
		s := *c.Kafka.SASL
		if s.Password != "" {
			s.Password = redacted
		}
		r.Kafka.SASL = &s
	}

	var n yaml.Node
	if err := n.Encode(&r); err != nil {
		return fmt.Sprintf("[config not printable: %v]", err)
	}
	prune(&n)
	flow(&n)
	out, err := yaml.Marshal(&n)
	if err != nil {
		return fmt.Sprintf("[config not printable: %v]", err)
	}
	s := strings.TrimSpace(string(out))
	// Defence in depth: a secret pasted into some other field too is still
	// hidden. Very short secrets are skipped: they would mangle the output
	// without protecting anything.
	for _, secret := range c.secrets() {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

// secrets lists the secret values in c as written.
func (c *Config) secrets() []string {
	list := []string{c.SchemaRegistry.Password}
	if c.Kafka.SASL != nil {
		list = append(list, c.Kafka.SASL.Password)
	}
	for _, u := range []string{c.Postgres.URL, c.SchemaRegistry.URL} {
		if pu, err := url.Parse(u); err == nil && pu.User != nil {
			if pw, ok := pu.User.Password(); ok {
				list = append(list, pw)
			}
		}
	}
	if !strings.Contains(c.Postgres.URL, "://") {
		list = append(list, dsnPasswords(c.Postgres.URL)...)
	}
	return list
}

// RedactError returns err with every secret of c (the PostgreSQL,
// Kafka SASL and schema registry passwords) replaced by xxxxx in its
// message. The error chain stays intact: errors.As and errors.Is see the
// original. Callers redact once, where an error that may quote a
// connection string leaves for a log line or the terminal.
func (c *Config) RedactError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var hit []string
	for _, s := range c.secrets() {
		if s != "" && strings.Contains(msg, s) {
			hit = append(hit, s)
		}
	}
	if len(hit) == 0 {
		return err
	}
	return &redactedError{err: err, secrets: hit}
}

type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, redactedPassword)
	}
	return msg
}

func (e *redactedError) Unwrap() error { return e.err }

// dsnPasswords returns the values of the password keys of a key=value
// connection string, unquoted as pgx reads them.
func dsnPasswords(s string) []string {
	const space = " \t\n\r\v\f"
	var out []string
	rest := s
	for {
		rest = strings.TrimLeft(rest, space)
		eq := strings.IndexByte(rest, '=')
		if rest == "" || eq < 0 {
			return out
		}
		key := rest[:eq]
		rest = strings.TrimLeft(rest[eq+1:], space)
		end, ok := dsnValueEnd(rest)
		if !ok {
			return out
		}
		if isSecretKey(key) {
			v := rest[:end]
			if strings.HasPrefix(v, "'") {
				v = strings.TrimSuffix(v[1:], "'")
			}
			out = append(out, unescapeDSN(v))
		}
		rest = rest[end:]
	}
}

// prune drops keys whose value is null, "" or an empty collection, which
// keeps the line short; false and 0 stay because they may be meaningful.
func prune(n *yaml.Node) {
	for _, c := range n.Content {
		prune(c)
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		v := n.Content[i+1]
		empty := (v.Kind == yaml.ScalarNode && (v.Value == "" || v.ShortTag() == "!!null")) ||
			((v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode) && len(v.Content) == 0)
		if !empty {
			kept = append(kept, n.Content[i], v)
		}
	}
	n.Content = kept
}

func flow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		flow(c)
	}
}

// redactPostgresURL masks the password in a pgx connection string of either
// form.
func redactPostgresURL(s string) string {
	if s == "" {
		return ""
	}
	if strings.Contains(s, "://") {
		return redactURL(s)
	}
	return redactDSN(s)
}

// redactURL masks the userinfo password and password query parameters of a
// URL; an unparseable or opaque URL is replaced as a whole.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return redacted
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redactedPassword)
		}
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			if name, err := url.QueryUnescape(k); err != nil || isSecretKey(name) {
				parts[i] = k + "=" + redactedPassword
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	if u.Fragment != "" {
		u.Fragment = redactedPassword
	}
	return u.String()
}

func isSecretKey(k string) bool {
	return strings.HasSuffix(strings.ToLower(strings.TrimSpace(k)), "password")
}

// redactDSN masks the values of password keys in a key=value connection
// string, following pgx's parsing rules (values unquoted up to white space or
// single-quoted, backslash escapes in both). A string it cannot parse is
// replaced as a whole.
func redactDSN(s string) string {
	const space = " \t\n\r\v\f"
	var b strings.Builder
	rest := s
	for {
		trimmed := strings.TrimLeft(rest, space)
		b.WriteString(rest[:len(rest)-len(trimmed)])
		rest = trimmed
		if rest == "" {
			return b.String()
		}
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			return redacted
		}
		key := rest[:eq]
		afterEq := strings.TrimLeft(rest[eq+1:], space)
		b.WriteString(rest[:len(rest)-len(afterEq)])
		rest = afterEq
		end, ok := dsnValueEnd(rest)
		if !ok {
			return redacted
		}
		if isSecretKey(key) {
			b.WriteString(redactedPassword)
		} else {
			b.WriteString(rest[:end])
		}
		rest = rest[end:]
	}
}

// dsnValueEnd returns the length of the value at the start of s, including
// its quotes.
func dsnValueEnd(s string) (int, bool) {
	if s == "" || s[0] != '\'' {
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case ' ', '\t', '\n', '\r', '\v', '\f':
				return i, true
			case '\\':
				i++
				if i == len(s) {
					return 0, false
				}
			}
		}
		return len(s), true
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\'':
			return i + 1, true
		case '\\':
			i++
		}
	}
	return 0, false
}

// unescapeDSN drops the backslashes that escape the next character, as pgx
// does.
func unescapeDSN(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
