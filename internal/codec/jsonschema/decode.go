package jsonschema

import (
	"bytes"
	"encoding/binary"
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
// built in a: decodeIn with a pooled parser, then a copy into a, so that
// the steady state allocates only what validation needs.
//
// Two kinds of record are not copied: objects with very many keys (adding
// a key to an arena object scans the keys before it) and strings that
// fastjson cannot put into an arena without changing them
// (Arena.NewString escapes control characters the Go way, as \x01 or \a,
// which its own reader does not undo). Those records keep their parser,
// which is then not returned to the pool, and its value stays valid as
// long as it is referenced.
func (c *compiled) decode(payload []byte, a *fastjson.Arena) (*fastjson.Value, error) {
	st := statePool.Get().(*decodeState)
	v, err := c.decodeIn(payload, &st.p, &st.work)
	if err != nil {
		st.release(len(payload))
		return nil, err
	}
	out, ok := c.copy(a, v, &st.num)
	if !ok {
		return v, nil // st is dropped with its parser
	}
	st.release(len(payload))
	return out, nil
}

// decodeParsed is decode with the value left in p, the caller's parser:
// nothing is copied, and the value is valid until p parses again.
func (c *compiled) decodeParsed(payload []byte, p *fastjson.Parser) (*fastjson.Value, error) {
	w := workPool.Get().(*work)
	v, err := c.decodeIn(payload, p, w)
	w.release()
	return v, err
}

// decodeIn parses payload with p, checks it and validates it, and returns
// its value, which lives in p; w is working memory.
//
// Validation first tries the fast check (fast.go), which proves most
// records valid without converting them for the general validator; a
// record it does not prove valid is converted and validated as before,
// and the validator decides and words the error. Errors are complete
// when returned (they do not point into p).
func (c *compiled) decodeIn(payload []byte, p *fastjson.Parser, w *work) (*fastjson.Value, error) {
	if len(payload) == 0 {
		return nil, codec.Errorf("schema id %d: payload is empty, want a JSON value", c.id)
	}
	if !utf8.Valid(payload) {
		return nil, codec.Errorf("schema id %d: payload is not valid UTF-8", c.id)
	}
	v, err := p.ParseBytes(payload)
	// fastjson's parser is lenient where JSON is strict in two places:
	// numbers (NaN, Inf, leading zeros, "1.", "+1") and escapes in
	// strings. Everything else it refuses as JSON does. Its validator is
	// strict, but is a second pass over every byte, so it runs only when
	// needed: when the payload has a backslash (escapes to check), when
	// there is no fast check, or when the fast check does not prove the
	// record valid. The fast check holds every number to JSON's grammar
	// (strictNumber) on its one walk over the whole value, so a record it
	// accepts without the validator has no lenient number, and no escape.
	strict := err == nil && (c.fast == nil || bytes.IndexByte(payload, '\\') >= 0)
	if strict {
		err = fastjson.ValidateBytes(payload) // after the parser bounded the depth
	}
	if err == nil && hasControl(payload) && !json.Valid(payload) {
		// fastjson's validator misses a control character in a string
		// before an escape ("\x11\\n"); encoding/json does not.
		err = errInvalidJSON
	}
	if err != nil {
		return nil, c.syntaxError(payload)
	}
	if c.fast != nil {
		if c.verify(w, c.fast, v, 0) {
			return v, nil
		}
		w.keys = w.keys[:0]
		if !strict && fastjson.ValidateBytes(payload) != nil {
			return nil, c.syntaxError(payload)
		}
	}
	inst, err := w.build(v)
	if err != nil {
		return nil, codec.Errorf("schema id %d: %v", c.id, err)
	}
	if err := c.schema.Validate(inst); err != nil {
		return nil, c.invalid(err)
	}
	return v, nil
}

var errInvalidJSON = errors.New("invalid JSON")

// hasControl reports whether b has a byte below 0x20: whitespace other
// than spaces, or a control character that JSON allows nowhere. It reads
// eight bytes at a time: (x - 0x20 in every byte) &^ x & the top bits is
// not zero exactly when some byte of x is below 0x20 (the lowest such byte
// sets its top bit; a byte above it may only get a false one through that
// byte's borrow).
func hasControl(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		if (x-0x20*ones)&^x&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// work is the per-record working memory of decodeIn.
type work struct {
	num []byte // number texts
	fastChecker
	keys [][]byte // verify's stack of the keys of the objects it is in
}

// decodeState is decode's per-record memory, pooled: a parser and work.
type decodeState struct {
	p fastjson.Parser
	work
}

var (
	statePool = sync.Pool{New: func() any { return new(decodeState) }}
	workPool  = sync.Pool{New: func() any { return new(work) }}
)

// maxCopiedKeys is the largest object copied into an arena; see decode.
const maxCopiedKeys = 256

// maxPooledPayload keeps the parser of a rare huge record, which holds a
// copy of it and a cache of its values, out of the pool.
const maxPooledPayload = 64 << 10

// release returns st to the pool after a record of n bytes.
func (st *decodeState) release(n int) {
	st.reset()
	if n <= maxPooledPayload && cap(st.num) <= maxPooledPayload {
		statePool.Put(st)
	}
}

// reset empties w for the next record.
func (w *work) reset() {
	w.num, w.keys = w.num[:0], w.keys[:0]
}

// release returns w to the pool.
func (w *work) release() {
	w.reset()
	if cap(w.num) <= maxPooledPayload {
		workPool.Put(w)
	}
}

// copy deep-copies v into a. Keys the schema names are shared strings,
// other keys are allocated; number texts are copied into a's buffer
// through a string value, since fastjson has no way to copy a number text
// into an arena directly. It returns false for a value the arena cannot
// hold faithfully (see decode).
func (c *compiled) copy(a *fastjson.Arena, v *fastjson.Value, scratch *[]byte) (*fastjson.Value, bool) {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		if o.Len() > maxCopiedKeys {
			return nil, false
		}
		out, ok := a.NewObject(), true
		o.Visit(func(k []byte, vv *fastjson.Value) {
			if !ok {
				return
			}
			key, shared := c.keys[string(k)]
			if !shared {
				key = string(k)
			}
			var cv *fastjson.Value
			if cv, ok = c.copy(a, vv, scratch); ok {
				out.Set(key, cv)
			}
		})
		return out, ok
	case fastjson.TypeArray:
		vs, _ := v.Array()
		out := a.NewArray()
		for i, vv := range vs {
			cv, ok := c.copy(a, vv, scratch)
			if !ok {
				return nil, false
			}
			out.SetArrayItem(i, cv)
		}
		return out, true
	case fastjson.TypeString:
		s := v.GetStringBytes()
		if !arenaSafe(s) {
			return nil, false
		}
		return a.NewStringBytes(s), true
	case fastjson.TypeNumber:
		*scratch = v.MarshalTo((*scratch)[:0])
		text := a.NewStringBytes(*scratch).GetStringBytes() // in a's buffer
		return a.NewNumberString(b2s(text)), true
	case fastjson.TypeTrue:
		return a.NewTrue(), true
	case fastjson.TypeFalse:
		return a.NewFalse(), true
	}
	return a.NewNull(), true
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

// strictNumber reports whether text is a number as JSON writes it:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. fastjson's parser also
// takes NaN, Inf, "01", "1.", ".5", "+1" and "1-2".
func strictNumber(text []byte) bool {
	i, n := 0, len(text)
	if i < n && text[i] == '-' {
		i++
	}
	switch {
	case i < n && text[i] == '0':
		i++
	case i < n && text[i] >= '1' && text[i] <= '9':
		for i++; i < n && text[i] >= '0' && text[i] <= '9'; i++ {
		}
	default:
		return false
	}
	if i < n && text[i] == '.' {
		i++
		if i == n || text[i] < '0' || text[i] > '9' {
			return false
		}
		for i++; i < n && text[i] >= '0' && text[i] <= '9'; i++ {
		}
	}
	if i < n && text[i]|0x20 == 'e' {
		i++
		if i < n && (text[i] == '+' || text[i] == '-') {
			i++
		}
		if i == n || text[i] < '0' || text[i] > '9' {
			return false
		}
		for i++; i < n && text[i] >= '0' && text[i] <= '9'; i++ {
		}
	}
	return i == n
}

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
// (map[string]any, []any, string, json.Number, bool, nil). Strings share
// the parser's memory: the result lives no longer than the parse.
func (b *work) build(v *fastjson.Value) (any, error) {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
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
		return b2s(v.GetStringBytes()), nil
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
