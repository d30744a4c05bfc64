package config

import (
	"fmt"
	"strings"
)

// expandEnv replaces ${VAR} and ${VAR:-default} in s using lookup, and $$
// with $. A $ followed by anything else is kept as it is. ${VAR:-default}
// uses default when VAR is unset or empty; the default is literal text (no
// nested references, no '}'). It returns one message for each reference that
// cannot be expanded; the messages never contain the values of variables.
func expandEnv(s string, lookup func(string) (string, bool)) (string, []string) {
	var b strings.Builder
	var errs []string
	for i := 0; i < len(s); {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte('$')
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			errs = append(errs, "unterminated ${ (close it with }, or write $$ for a literal $)")
			break
		}
		expr := s[i+2 : i+2+end]
		i += 2 + end + 1
		name, def, hasDef := strings.Cut(expr, ":-")
		if !isEnvName(name) {
			errs = append(errs, fmt.Sprintf("invalid environment variable reference ${%s}: want ${NAME} or ${NAME:-default} with NAME of letters, digits and _", expr))
			continue
		}
		v, ok := lookup(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			errs = append(errs, fmt.Sprintf("environment variable %s is not set", name))
			continue
		}
		b.WriteString(v)
	}
	return b.String(), errs
}

func isEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
