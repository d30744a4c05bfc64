package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a configuration document.
type Problem struct {
	// Path names the field, in the document's own spelling:
	// "kafka.brokers[0]", "routes[2].conflict_key", "routes[0].columns.total".
	// It is empty for problems that concern the whole document (a YAML syntax
	// error, for example).
	Path string
	// Line is the 1-based line in the document the problem refers to, 0 when
	// unknown. For a key the document does not contain (a missing required
	// field, a default that conflicts with another field) it is the line of the
	// nearest enclosing key that the document does contain.
	Line int
	// Msg says what is wrong and, where it helps, what is wanted. It never
	// quotes the value of a secret (passwords, the PostgreSQL URL).
	Msg string
}

// String formats p as `<path> (line <n>): <msg>`, leaving out the parts that
// are unknown: `<path>: <msg>`, `line <n>: <msg>` or just `<msg>`.
func (p Problem) String() string {
	switch {
	case p.Path != "" && p.Line > 0:
		return fmt.Sprintf("%s (line %d): %s", p.Path, p.Line, p.Msg)
	case p.Path != "":
		return p.Path + ": " + p.Msg
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	default:
		return p.Msg
	}
}

// ValidationError reports everything wrong with a configuration document at
// once: syntax, unknown keys, wrong types, unset environment variables and the
// semantic checks of Validate. Parse and Load return it as *ValidationError;
// classify with errors.As.
type ValidationError struct {
	// Problems is never empty. Parse orders it by line, problems without a
	// line last.
	Problems []Problem
}

// Error returns one problem per line, each prefixed with "config: ", e.g.
//
//	config: routes[2].mode (line 14): must be one of insert, upsert, raw; got "upsret"
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("config: ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Problem returns a problem at path, with the line the document gave it
// (when c came from Parse), for checks made outside this package (the
// engine compiles the routes' expressions).
func (c *Config) Problem(path, format string, args ...any) Problem {
	return Problem{Path: path, Line: c.line(path), Msg: fmt.Sprintf(format, args...)}
}
