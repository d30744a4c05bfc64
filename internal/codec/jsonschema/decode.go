package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// decode parses, checks and validates a payload and returns its value
// built in a.
//
// Validation first tries the fast check (fast.go), which proves most
// records valid without converting them for the general validator; a
// record it does not prove valid is converted and validated as before,
// and the validator decides and words the error.
//
// The payload is parsed by a pooled fastjson.Parser and the result copied
// into a, so the steady state allocates only what validation needs. Two
// kinds of record are not copied: objects with very many keys (adding a key
// to an arena object scans the keys before it) and strings that fastjson
// cannot put into an arena without changing them (Arena.NewString escapes
// control characters the Go way, as \x01 or \a, which its own reader does
// not undo). Those records keep their parser, which is then not returned to
// the pool, and its value stays valid as long as it is referenced.
func (c *compiled) decode(payload []byte, a *fastjson.Arena) (*fastjson.Value, error) {
	if len(payload) == 0 {
		return nil, codec.Errorf("schema id %d: payload is empty, want a JSON value", c.id)
	}
	if !utf8.Valid(payload) {
		return nil, codec.Errorf("schema id %d: payload is not valid UTF-8", c.id)
	}
	st := statePool.Get().(*decodeState)
	v, err := st.p.ParseBytes(payload)
	if err == nil {
		// fastjson's parser is lenient (NaN, leading zeros, bad escapes);
		// its validator is not, and runs after the parser has bounded the
		// nesting depth.
		err = fastjson.ValidateBytes(payload)
	}
	if err == nil && hasControl(payload) && !json.Valid(payload) {
		// fastjson's validator misses a control character in a string
		// before an escape ("\x11\\n"); encoding/json does not.
		err = errInvalidJSON
	}
	if err != nil {
		st.release(len(payload))
		return nil, c.syntaxError(payload)
	}
	if c.fast != nil {
		if out, ok := c.walk(st, a, c.fast, v, 0); ok {
			if st.keep {
				return v, nil // st is dropped with its parser
			}
			st.release(len(payload))
			return out, nil
		}
		st.keep, st.keys = false, st.keys[:0]
	}
	inst, err := st.build(v)
	if err != nil {
		err = codec.Errorf("schema id %d: %v", c.id, err) // before release: err points into the parser
		st.release(len(payload))
		return nil, err
	}
	if err := c.schema.Validate(inst); err != nil {
		err = c.invalid(err) // before release: err points into the parser
		st.release(len(payload))
		return nil, err
	}
	if st.keep {
		return v, nil // st is dropped with its parser
	}
	out := c.copy(a, v, &st.num)
	st.release(len(payload))
	return out, nil
}

var errInvalidJSON = errors.New("invalid JSON")

// hasControl reports whether b has a byte below 0x20: whitespace other
// than spaces, or a control character that JSON allows nowhere.
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// decodeState is the per-record working memory, pooled.
type decodeState struct {
	p    fastjson.Parser
	num  []byte // number texts
	keep bool   // the value cannot be copied into an arena; see decode
	fastChecker
	keys [][]byte // walk's stack of the keys of the objects it is in
}

var statePool = sync.Pool{New: func() any { return new(decodeState) }}

// maxCopiedKeys is the largest object copied into an arena; see decode.
const maxCopiedKeys = 256

// maxPooledPayload keeps the parser of a rare huge record, which holds a
// copy of it and a cache of its values, out of the pool.
const maxPooledPayload = 64 << 10

// release returns st to the pool after a record of n bytes.
func (st *decodeState) release(n int) {
	st.num, st.keep, st.keys = st.num[:0], false, st.keys[:0]
	if n <= maxPooledPayload {
		statePool.Put(st)
	}
}

// copy deep-copies v into a. Keys the schema names are shared strings,
// other keys are allocated; number texts are copied into a's buffer
// through a string value, since fastjson has no way to copy a number text
// into an arena directly.
func (c *compiled) copy(a *fastjson.Arena, v *fastjson.Value, scratch *[]byte) *fastjson.Value {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		out := a.NewObject()
		o.Visit(func(k []byte, vv *fastjson.Value) {
			key, ok := c.keys[string(k)]
			if !ok {
				key = string(k)
			}
			out.Set(key, c.copy(a, vv, scratch))
		})
		return out
	case fastjson.TypeArray:
		vs, _ := v.Array()
		out := a.NewArray()
		for i, vv := range vs {
			out.SetArrayItem(i, c.copy(a, vv, scratch))
		}
		return out
	case fastjson.TypeString:
		return a.NewStringBytes(v.GetStringBytes())
	case fastjson.TypeNumber:
		*scratch = v.MarshalTo((*scratch)[:0])
		text := a.NewStringBytes(*scratch).GetStringBytes() // in a's buffer
		return a.NewNumberString(b2s(text))
	case fastjson.TypeTrue:
		return a.NewTrue()
	case fastjson.TypeFalse:
		return a.NewFalse()
	}
	return a.NewNull()
}

// syntaxError describes a payload fastjson refuses. encoding/json gives
// the byte offset and quotes only one character; when it accepts the
// payload, the payload is nested deeper than fastjson's limit.
func (c *compiled) syntaxError(payload []byte) error {
	var raw json.RawMessage
	err := json.Unmarshal(payload, &raw)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return codec.Errorf("schema id %d: payload is not valid JSON: %s at byte %d", c.id, se.Error(), se.Offset)
	}
	return codec.Errorf("schema id %d: payload is not valid JSON: nested deeper than %d levels", c.id, fastjson.MaxDepth)
}

// Limits on a number's text. math/big, which the validator parses every
// number with, takes seconds for an exponent near a million and fails
// beyond; PostgreSQL's numeric and jsonb cannot store such numbers either.
// Jackson, behind Confluent's Java serializers, limits numbers to 1000
// characters by default.
const (
	maxNumberLen      = 1000
	maxNumberExponent = 1000
)

// checkNumber rejects a number outside the limits above.
func checkNumber(text []byte) error {
	if len(text) > maxNumberLen {
		return &payloadError{msg: fmt.Sprintf("number of %d characters, want at most %d", len(text), maxNumberLen)}
	}
	i := bytes.IndexAny(text, "eE")
	if i < 0 {
		return nil
	}
	exp := bytes.TrimLeft(text[i+1:], "+-0")
	if n, err := strconv.Atoi(string(exp)); len(exp) > 0 && (err != nil || n > maxNumberExponent) {
		return &payloadError{msg: fmt.Sprintf("number %s has an exponent beyond ±%d", clip(string(text), maxQuotedInput), maxNumberExponent)}
	}
	return nil
}

// build converts a parsed payload into the values the validator reads
// (map[string]any, []any, string, json.Number, bool, nil) and notes in
// st.keep whether the value can be copied into an arena. Strings share the
// parser's memory: the result lives no longer than the parse.
func (b *decodeState) build(v *fastjson.Value) (any, error) {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		if o.Len() > maxCopiedKeys {
			b.keep = true
		}
		m := make(map[string]any, o.Len())
		var err error
		o.Visit(func(k []byte, vv *fastjson.Value) {
			if err != nil {
				return
			}
			key := b2s(k)
			if _, dup := m[key]; dup {
				// Which of the two values a reader sees differs
				// between JSON libraries: refuse rather than guess.
				err = &payloadError{msg: "duplicate key " + quoteInput(key)}
				return
			}
			var x any
			if x, err = b.build(vv); err != nil {
				var pe *payloadError
				if errors.As(err, &pe) {
					pe.path = append(pe.path, key)
				}
				return
			}
			m[key] = x
		})
		return m, err
	case fastjson.TypeArray:
		vs, _ := v.Array()
		a := make([]any, len(vs))
		for i, vv := range vs {
			x, err := b.build(vv)
			if err != nil {
				var pe *payloadError
				if errors.As(err, &pe) {
					pe.path = append(pe.path, itoa(i))
				}
				return nil, err
			}
			a[i] = x
		}
		return a, nil
	case fastjson.TypeString:
		s := v.GetStringBytes()
		if !b.keep && !arenaSafe(s) {
			b.keep = true
		}
		return b2s(s), nil
	case fastjson.TypeNumber:
		start := len(b.num)
		b.num = v.MarshalTo(b.num)
		text := b.num[start:]
		if err := checkNumber(text); err != nil {
			return nil, err
		}
		return json.Number(b2s(text)), nil
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse:
		return false, nil
	}
	return nil, nil
}

// arenaSafe reports whether fastjson.Arena.NewString keeps s intact: it
// escapes a string holding '"', '\\' or a control character with
// strconv.AppendQuote, whose \a, \v, \xNN and \UNNNNNNNN escapes fastjson
// reads back as text.
func arenaSafe(s []byte) bool {
	special, suspect := false, false
	for _, c := range s {
		switch {
		case c < 0x20:
			if c != '\b' && c != '\t' && c != '\n' && c != '\f' && c != '\r' {
				return false
			}
			special = true
		case c == '"' || c == '\\':
			special = true
		case c == 0x7f || c >= 0xf0:
			suspect = true
		}
	}
	if !special || !suspect {
		return true
	}
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		if r == 0x7f || (r >= 0x10000 && !strconv.IsPrint(r)) {
			return false
		}
		s = s[n:]
	}
	return true
}

// b2s returns b as a string without copying; b must not change while the
// string is in use.
func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
