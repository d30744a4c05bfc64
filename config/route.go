package config

import (
	"slices"
	"strings"
)

// maxIdentLen is PostgreSQL's identifier limit (NAMEDATALEN-1) in bytes;
// longer names are silently truncated by the server, so they are rejected.
const maxIdentLen = 63

// AllTopics returns the route's topics: Topic (when set) followed by Topics,
// in order, without empty names.
func (r *Route) AllTopics() []string {
	out := make([]string, 0, 1+len(r.Topics))
	if r.Topic != "" {
		out = append(out, r.Topic)
	}
	for _, t := range r.Topics {
		if t != "" {
			out = append(out, t)
		}
	}
	return out
}

// RoutesFor returns the routes that name topic, in configuration order
// (nil when none does). The results point into c.Routes.
func (c *Config) RoutesFor(topic string) []*Route {
	if topic == "" {
		return nil
	}
	var out []*Route
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Topic == topic || slices.Contains(r.Topics, topic) {
			out = append(out, r)
		}
	}
	return out
}

// TableName returns the route's target as (schema, table): Table split on its
// first '.', schema "" when unqualified (the search_path decides). When Table
// is empty it returns ("", SanitiseIdent(first topic)). The names are raw
// identifiers, to be quoted by the caller.
func (r *Route) TableName() (schema, table string) {
	if r.Table == "" {
		if topics := r.AllTopics(); len(topics) > 0 {
			return "", SanitiseIdent(topics[0])
		}
		return "", ""
	}
	return SplitTableName(r.Table)
}

// SanitiseIdent turns a topic name into a table name that needs no quoting:
// lower case, every character other than a-z, 0-9 and _ replaced by _, a
// "t_" prefix when it would start with a digit, truncated to 63 bytes.
// "orders.v1-EU" becomes "orders_v1_eu", "2024-events" becomes "t_2024_events".
func SanitiseIdent(topic string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(topic) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		s = "t_" + s
	}
	if len(s) > maxIdentLen {
		s = s[:maxIdentLen]
	}
	return s
}
