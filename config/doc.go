// Package config is the kafka2pg configuration: the YAML schema, its
// defaults, environment variable expansion and validation.
//
// # Loading
//
// Load reads a file and Parse parses bytes. Both return a *Config with every
// default filled in and every check passed, or a *ValidationError listing
// every problem in the document at once. Each Problem names the field by its
// path in the document ("routes[2].conflict_key") and its line:
//
//	config: kafka.brokerz (line 3): unknown key; did you mean brokers?
//	config: batch.max_rows (line 9): want an integer, got "lots"
//	config: routes[2].mode (line 14): must be one of insert, upsert, raw; got "upsret"
//
// Parsing is strict: unknown keys, values of the wrong type, duplicate keys
// and a second YAML document are problems. A key whose value is null or
// empty counts as not set and gets its default. Anchors, aliases and merge
// keys (<<) work as in YAML.
//
// # Environment variables
//
// Before a scalar value is typed, ${NAME} is replaced by the variable's value
// and ${NAME:-default} by the value or, when the variable is unset or empty,
// by the literal default. $$ is a literal $; a $ followed by anything else is
// kept as it is. An unset variable without a default is a problem at the
// field that uses it. Expansion applies to values only, never to keys, and
// the result is not parsed as YAML: it cannot add keys or list items. An
// unquoted value is typed after expansion, so `max_conns: ${N}` is an
// integer; an unquoted value that expands to nothing is not set.
//
// # Defaults and validation
//
// Defaults live in one function and are applied to the fields the document
// does not set; a field set explicitly, even to zero, is validated as given.
// Validate then checks the semantic rules: required fields, ranges, enums,
// combinations of route options, identifier lengths, and the features this
// version does not support yet. docs/configuration.md describes every key.
//
// # Secrets
//
// Redacted renders the effective configuration for a log line with every
// password masked. Problem messages never quote postgres.url or passwords.
package config
