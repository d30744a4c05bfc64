package pipeline

import (
	"net/url"
	"regexp"
	"strings"
)

// RedactPassword returns err with every occurrence of the password of the
// PostgreSQL connection string connString replaced by "xxxxx". Error chains
// stay intact (errors.As sees the original).
func RedactPassword(err error, connString string) error {
	if err == nil {
		return nil
	}
	pw := passwordOf(connString)
	if pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return &redactedError{err: err, pw: pw}
}

type redactedError struct {
	err error
	pw  string
}

func (e *redactedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.pw, "xxxxx") }
func (e *redactedError) Unwrap() error { return e.err }

var dsnPassword = regexp.MustCompile(`(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

func passwordOf(connString string) string {
	if u, err := url.Parse(connString); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return pw
		}
		return ""
	}
	if m := dsnPassword.FindStringSubmatch(connString); m != nil {
		return strings.Trim(m[1], "'")
	}
	return ""
}
