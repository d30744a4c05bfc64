package coerce

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// ErrUnsupportedType is wrapped by the error TypeFor returns for a column type
// this package cannot convert to. Test for it with errors.Is; the message is
// "unsupported column type <format_type text>".
var ErrUnsupportedType = errors.New("unsupported column type")

// Error is the reason a value does not fit its column. It is a data error: the
// same value will never fit the same column, so retrying is pointless; the
// caller routes the record to the dead-letter queue or stops, and adds the
// table, column and record coordinates.
type Error struct{ Reason string }

// Error returns the reason.
func (e *Error) Error() string { return e.Reason }

func errorf(reason string) *Error { return &Error{Reason: reason} }

// maxQuoted is how many characters of an input value an error reason quotes.
const maxQuoted = 64

// quote returns s as a Go-quoted string of at most maxQuoted characters,
// with "..." inside the quotes when s was cut.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	n, i := 0, 0
	for i < len(s) && n < maxQuoted {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	if i == len(s) {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:i] + "...")
}

// clip returns s cut to maxQuoted bytes with "..." appended when cut. It is
// used for number text, which is ASCII once it has passed the number grammar.
func clip(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "..."
}
