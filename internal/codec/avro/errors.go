package avro

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// Reasons the binary reader fails with. They carry no position: the field
// path is added while the error unwinds (pathError), so the success path
// allocates nothing for it.
var (
	errEOF       = errors.New("unexpected end of input")
	errVarint    = errors.New("varint longer than 10 bytes")
	errIntRange  = errors.New("int value out of 32-bit range")
	errNegLength = errors.New("negative length")
	errUTF8      = errors.New("string is not valid UTF-8")
	errNegCount  = errors.New("invalid negative block count")
	errTooDeep   = errors.New("values nest deeper than " + strconv.Itoa(maxDepth))
	errTooMany   = errors.New("more than " + strconv.Itoa(maxEmptyItems) + " array items of zero encoded size")
)

// pathError is a reader error with the path to the value that failed,
// innermost segment first.
type pathError struct {
	err  error
	segs []string // ".name", "[3]", `["key"]`, innermost first
}

func (e *pathError) Error() string { return e.path() + ": " + e.err.Error() }

// maxPathSegs bounds the segments a path shows; deeper paths keep their
// outer and inner ends around "...", so a reason stays short.
const maxPathSegs = 10

func (e *pathError) path() string {
	var b strings.Builder
	n := len(e.segs)
	for i := n - 1; i >= 0; i-- {
		s := e.segs[i]
		if n > maxPathSegs && i == n-maxPathSegs/2-1 {
			b.WriteString("...")
			i = maxPathSegs/2 - 1
			s = strings.TrimPrefix(e.segs[i], ".")
		}
		if i == n-1 {
			s = strings.TrimPrefix(s, ".")
		}
		b.WriteString(s)
	}
	return b.String()
}

func withSeg(err error, seg string) error {
	pe, ok := err.(*pathError)
	if !ok {
		pe = &pathError{err: err}
	}
	pe.segs = append(pe.segs, seg)
	return pe
}

func atField(err error, name string) error { return withSeg(err, "."+name) }
func atIndex(err error, i int) error       { return withSeg(err, "["+strconv.Itoa(i)+"]") }
func atKey(err error, key []byte) error    { return withSeg(err, "["+quote(key)+"]") }

// decodeError makes the *codec.DecodeError for a reader error in schema id.
func decodeError(id int, err error) error {
	if pe, ok := err.(*pathError); ok {
		return codec.Errorf("schema id %d: field %s: %v", id, pe.path(), pe.err)
	}
	return codec.Errorf("schema id %d: %v", id, err)
}

// maxQuoted is how many bytes of the input an error reason quotes at most.
const maxQuoted = 32

// quote returns b Go-quoted, cut to maxQuoted bytes (at a rune boundary).
func quote(b []byte) string {
	if len(b) <= maxQuoted {
		return strconv.Quote(string(b))
	}
	i := maxQuoted
	for i > 0 && !utf8.RuneStart(b[i]) {
		i--
	}
	return strconv.Quote(string(b[:i])) + "..."
}
