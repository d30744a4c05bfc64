package connectconf

import "fmt"

// InputError says why an input is not a connector configuration this package
// reads: it does not parse, or it is not the configuration of a JDBC sink
// connector writing to PostgreSQL. The command exits 2 on it. Msg never
// quotes the value of a secret.
type InputError struct {
	// Key is the Connect key the problem is about ("connector.class",
	// "connection.url"), empty when it concerns the whole input.
	Key string
	Msg string
}

func (e *InputError) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

func inputErr(key, format string, args ...any) *InputError {
	return &InputError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// OptionsError says why the Options of a conversion do not fit the
// connector (a --topics entry that topics.regex does not match, for
// example). The command exits 2 on it.
type OptionsError struct {
	Option string // "brokers", "group", "topics"
	Msg    string
}

func (e *OptionsError) Error() string { return "--" + e.Option + ": " + e.Msg }
