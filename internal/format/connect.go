package format

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// Kafka Connect's JsonConverter (schemas.enable=true) wraps each value in an
// envelope {"schema": {...}, "payload": ...}. Logical types travel in an
// encoding that says nothing without the schema: a Decimal is the base64 of
// its unscaled two's-complement integer, a Date a day count, a Time a
// millisecond count, Debezium's Json the text of a JSON document in a
// string. The payload is returned with those values rewritten into what the
// column coercion reads: a decimal number, an RFC 3339 date, "HH:MM:SS.mmm",
// epoch milliseconds, the JSON document itself.
//
// A producer sends the same schema (often most of the record's bytes) with
// every record, so the schema is compiled once per distinct text into a
// connectConv, and a record's bytes are only scanned for the span of the
// schema: the payload alone is parsed and converted in place.
const (
	connectDecimal   = "org.apache.kafka.connect.data.Decimal"
	connectDate      = "org.apache.kafka.connect.data.Date"
	connectTime      = "org.apache.kafka.connect.data.Time"
	connectTimestamp = "org.apache.kafka.connect.data.Timestamp"
	// debeziumJSON is a string holding a JSON document (Debezium's form of
	// a json or jsonb column): it is decoded to that document, so that it
	// lands in a json/jsonb column as itself, not as a JSON string.
	debeziumJSON = "io.debezium.data.Json"
)

// maxConnectDecimalBytes bounds the unscaled integer of a Decimal (1 KiB is
// about 2,500 digits, far beyond PostgreSQL's numeric) against hostile input.
const maxConnectDecimalBytes = 1024

// maxConnectDepth bounds the nesting of schemas and payloads.
const maxConnectDepth = 32

// convKind is what a compiled schema node does to its value.
type convKind uint8

const (
	convNone      convKind = iota // the value is kept as it is
	convStruct                    // an object whose fields may convert
	convArray                     // an array whose items may convert
	convDecimal                   // base64 unscaled integer → decimal number
	convDate                      // day count → "YYYY-MM-DD"
	convTime                      // ms of the day → "HH:MM:SS.mmm"
	convTimestamp                 // epoch ms, checked
	convJSON                      // JSON text in a string → the document
)

// connectConv is a compiled Connect schema: how to check and convert a
// payload of that schema. It is immutable once built.
type connectConv struct {
	kind convKind
	// deep: this node or one below it rewrites values (structs and arrays
	// without it are only checked for their JSON type).
	deep  bool
	scale int // convDecimal
	// convStruct: the schema's fields in order (payloads list them in the
	// same order, so lookup is positional first), and by name.
	names  []string
	plain  []bool // a name without a quote, backslash or control character
	fields []*connectConv
	byName map[string]*connectConv
	elem   *connectConv // convArray
	// scaleErr is a Decimal schema without a usable scale; it is reported
	// for a non-null value, as before compilation existed.
	scaleErr string
}

// connectEntry is one cached schema: its converter and, once asked for, its
// codec type.
type connectEntry struct {
	conv    *connectConv
	typ     *codec.Type
	typDone bool
	schema  *fastjson.Value // kept until typ is computed (WantTypes)
	parser  *fastjson.Parser
	key     string // the schema's text, as the envelope carried it
}

// compileConnect compiles schema (nil or not an object: no conversion).
func compileConnect(schema *fastjson.Value, depth int) *connectConv {
	c := &connectConv{}
	if schema == nil || schema.Type() != fastjson.TypeObject || depth > maxConnectDepth {
		return c
	}
	switch string(schema.GetStringBytes("name")) {
	case connectDecimal:
		c.kind, c.deep = convDecimal, true
		scaleText := string(schema.Get("parameters").GetStringBytes("scale"))
		scale, err := strconv.Atoi(scaleText)
		if err != nil || scale < 0 || scale > 1000 {
			c.scaleErr = fmt.Sprintf("Decimal schema has no usable parameters.scale (%q)", scaleText)
		}
		c.scale = scale
		return c
	case connectDate:
		c.kind, c.deep = convDate, true
		return c
	case connectTime:
		c.kind, c.deep = convTime, true
		return c
	case connectTimestamp:
		c.kind, c.deep = convTimestamp, true
		return c
	case debeziumJSON:
		if string(schema.GetStringBytes("type")) == "string" {
			c.kind, c.deep = convJSON, true
			return c
		}
	}
	switch string(schema.GetStringBytes("type")) {
	case "struct":
		c.kind = convStruct
		fs := schema.GetArray("fields")
		c.byName = make(map[string]*connectConv, len(fs))
		for _, f := range fs {
			name := string(f.GetStringBytes("field"))
			fc := compileConnect(f, depth+1)
			if _, dup := c.byName[name]; !dup {
				c.byName[name] = fc
			}
			c.names = append(c.names, name)
			c.plain = append(c.plain, !strings.ContainsFunc(name, func(r rune) bool { return r == '"' || r == '\\' || r < 0x20 }))
			c.fields = append(c.fields, fc)
			c.deep = c.deep || fc.deep
		}
	case "array":
		c.kind = convArray
		c.elem = compileConnect(schema.Get("items"), depth+1)
		c.deep = c.elem.deep
	}
	return c
}

// connectCtx is the memory one conversion builds in.
type connectCtx struct {
	a   *fastjson.Arena
	buf *[]byte // decimal and time texts; reset with the arena
	// parsers for Json documents, each used once until the scratch resets.
	parsers *[]*fastjson.Parser
	used    *int
}

func (cx *connectCtx) parser() *fastjson.Parser {
	if *cx.used == len(*cx.parsers) {
		*cx.parsers = append(*cx.parsers, &fastjson.Parser{})
	}
	p := (*cx.parsers)[*cx.used]
	*cx.used++
	return p
}

// convPathError is a conversion error; the path is prepended level by level
// as the error returns, so that a success builds no path.
type convPathError struct {
	path []string // innermost first
	msg  string
}

func (e *convPathError) Error() string {
	var b strings.Builder
	b.WriteString("payload")
	for i := len(e.path) - 1; i >= 0; i-- {
		b.WriteString(e.path[i])
	}
	b.WriteString(": ")
	b.WriteString(e.msg)
	return b.String()
}

func convErrorf(format string, args ...any) *convPathError {
	return &convPathError{msg: fmt.Sprintf(format, args...)}
}

// convert checks v against the compiled schema and returns it with its
// logical types rewritten; objects and arrays are rewritten in place.
func (c *connectConv) convert(v *fastjson.Value, cx *connectCtx, depth int) (*fastjson.Value, *convPathError) {
	if depth > maxConnectDepth {
		return nil, convErrorf("schema nested deeper than %d levels", maxConnectDepth)
	}
	if v.Type() == fastjson.TypeNull {
		return v, nil
	}
	switch c.kind {
	case convDecimal:
		if c.scaleErr != "" {
			return nil, convErrorf("%s", c.scaleErr)
		}
		return connectDecimalValue(c.scale, v, cx)
	case convDate:
		days, err := v.Int64()
		if err != nil {
			return nil, convErrorf("Date must be a day count: %v", err)
		}
		b := time.Unix(0, 0).UTC().AddDate(0, 0, int(days)).AppendFormat(cx.scratch(), "2006-01-02")
		return cx.a.NewStringBytes(b), nil
	case convTime:
		ms, err := v.Int64()
		if err != nil || ms < 0 || ms >= 24*3600*1000 {
			return nil, convErrorf("Time must be milliseconds of the day, got %s", v)
		}
		b := time.UnixMilli(ms).UTC().AppendFormat(cx.scratch(), "15:04:05.000")
		return cx.a.NewStringBytes(b), nil
	case convTimestamp:
		if _, err := v.Int64(); err != nil {
			return nil, convErrorf("Timestamp must be epoch milliseconds: %v", err)
		}
		return v, nil // epoch milliseconds is what timestamp columns read
	case convJSON:
		s, err := v.StringBytes()
		if err != nil {
			return nil, convErrorf("%s must be a string holding JSON, got a JSON %s", debeziumJSON, v.Type())
		}
		doc, err := cx.parser().ParseBytes(s)
		if err != nil {
			return nil, convErrorf("%s is not valid JSON: %v", debeziumJSON, err)
		}
		return doc, nil
	case convStruct:
		obj, err := v.Object()
		if err != nil {
			return nil, convErrorf("schema says struct, payload is a JSON %s", v.Type())
		}
		if !c.deep {
			return v, nil
		}
		var ferr *convPathError
		j := 0
		obj.Visit(func(k []byte, fv *fastjson.Value) {
			if ferr != nil {
				return
			}
			var fc *connectConv
			if j < len(c.names) && c.names[j] == string(k) {
				fc = c.fields[j]
				j++
			} else {
				fc = c.byName[string(k)]
			}
			if fc == nil || !fc.deep && fc.kind == convNone {
				return
			}
			cv, err := fc.convert(fv, cx, depth+1)
			if err != nil {
				err.path = append(err.path, "."+string(k))
				ferr = err
				return
			}
			if cv != fv {
				*fv = *cv // in place: a repeated key keeps its own value
			}
		})
		return v, ferr
	case convArray:
		items, err := v.Array()
		if err != nil {
			return nil, convErrorf("schema says array, payload is a JSON %s", v.Type())
		}
		if !c.elem.deep && c.elem.kind == convNone {
			return v, nil
		}
		for i, it := range items {
			cv, err := c.elem.convert(it, cx, depth+1)
			if err != nil {
				err.path = append(err.path, "["+strconv.Itoa(i)+"]")
				return nil, err
			}
			if cv != it {
				*it = *cv
			}
		}
		return v, nil
	}
	return v, nil
}

// scratch returns the free tail of the context's buffer (texts appended to
// it stay valid until the scratch resets: the buffer only grows).
func (cx *connectCtx) scratch() []byte {
	b := *cx.buf
	return b[len(b):]
}

// keep records that b, appended to scratch(), is in use.
func (cx *connectCtx) keep(b []byte) string {
	buf := *cx.buf
	if len(b) > 0 && cap(buf)-len(buf) >= len(b) && unsafe.SliceData(b) == unsafe.SliceData(buf[len(buf):cap(buf)]) {
		*cx.buf = buf[:len(buf)+len(b)]
	} else {
		// append grew a new array: start the buffer over in it (the old
		// array stays alive through the strings pointing into it).
		*cx.buf = b[len(b):]
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func connectDecimalValue(scale int, v *fastjson.Value, cx *connectCtx) (*fastjson.Value, *convPathError) {
	b64, err := v.StringBytes()
	if err != nil {
		return nil, convErrorf("Decimal must be a base64 string, got a JSON %s", v.Type())
	}
	if base64.StdEncoding.DecodedLen(len(b64)) > maxConnectDecimalBytes {
		return nil, convErrorf("Decimal of more than %d bytes", maxConnectDecimalBytes)
	}
	var small [12]byte
	raw := small[:0]
	if n := base64.StdEncoding.DecodedLen(len(b64)); n > len(small) {
		raw = make([]byte, 0, n)
	}
	raw, err = base64.StdEncoding.AppendDecode(raw, b64)
	if err != nil || len(raw) == 0 {
		return nil, convErrorf("Decimal is not valid base64")
	}
	var text []byte
	if len(raw) <= 8 {
		var digits [20]byte
		text = appendDecimal(cx.scratch(), appendUnscaled(digits[:0], raw), scale)
	} else {
		n := new(big.Int).SetBytes(raw)
		if raw[0]&0x80 != 0 { // two's complement: negative
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(raw))*8))
		}
		text = appendDecimal(cx.scratch(), n.Append(nil, 10), scale)
	}
	return cx.a.NewNumberString(cx.keep(text)), nil
}

// appendUnscaled appends the base-10 text of raw, a two's-complement
// big-endian integer of 1 to 8 bytes.
func appendUnscaled(dst, raw []byte) []byte {
	var full [8]byte
	if raw[0]&0x80 != 0 {
		full = [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	}
	copy(full[8-len(raw):], raw)
	return strconv.AppendInt(dst, int64(binary.BigEndian.Uint64(full[:])), 10)
}

// appendDecimal appends the decimal text of unscaled × 10^-scale, unscaled
// given as its base-10 text (with a leading '-' when negative).
func appendDecimal(dst, unscaled []byte, scale int) []byte {
	neg := len(unscaled) > 0 && unscaled[0] == '-'
	digits := unscaled
	if neg {
		digits = digits[1:]
		dst = append(dst, '-')
	}
	if scale == 0 {
		return append(dst, digits...)
	}
	if len(digits) <= scale {
		dst = append(dst, '0', '.')
		for i := len(digits); i < scale; i++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[:len(digits)-scale]...)
	dst = append(dst, '.')
	return append(dst, digits[len(digits)-scale:]...)
}

// errNoEnvelope is the reason for a value without schema and payload.
var errNoEnvelope = errors.New(`a Connect JSON value needs "schema" and "payload" (is the producer's JsonConverter set to schemas.enable=false? then use format json)`)

// unwrapConnect checks the parsed envelope v and returns its payload,
// converted per the schema, built in a. A null payload is returned as nil
// (a tombstone). It compiles the schema every time: Scratch.decodeConnect
// is the cached path.
func unwrapConnect(v *fastjson.Value, a *fastjson.Arena) (*fastjson.Value, error) {
	if v.Type() != fastjson.TypeObject {
		return nil, fmt.Errorf("a Connect JSON value must be an object with schema and payload, got a JSON %s", v.Type())
	}
	schema, payload := v.Get("schema"), v.Get("payload")
	if schema == nil || payload == nil {
		return nil, errNoEnvelope
	}
	if payload.Type() == fastjson.TypeNull {
		return nil, nil
	}
	var buf []byte
	var parsers []*fastjson.Parser
	var used int
	out, err := compileConnect(schema, 0).convert(payload, &connectCtx{a: a, buf: &buf, parsers: &parsers, used: &used}, 0)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// envelopeSpans finds the spans of the top-level "schema" and "payload"
// values of a Connect envelope without parsing them. ok is false when data
// is not a well-formed object with both keys (the caller then parses it all
// for the precise error); the spans are not validated as JSON here.
func envelopeSpans(data []byte) (schema, payload []byte, ok bool) {
	i := codec.SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, nil, false
	}
	i++
	for {
		i = codec.SkipSpace(data, i)
		if i >= len(data) || data[i] != '"' {
			return nil, nil, false
		}
		ks := i + 1
		ke := skipString(data, i)
		if ke < 0 {
			return nil, nil, false
		}
		key := data[ks : ke-1]
		i = codec.SkipSpace(data, ke)
		if i >= len(data) || data[i] != ':' {
			return nil, nil, false
		}
		i = codec.SkipSpace(data, i+1)
		vs := i
		ve := skipValue(data, i, 0)
		if ve < 0 {
			return nil, nil, false
		}
		switch string(key) {
		case "schema":
			if schema == nil {
				schema = data[vs:ve]
			}
		case "payload":
			if payload == nil {
				payload = data[vs:ve]
			}
		}
		i = codec.SkipSpace(data, ve)
		if i >= len(data) {
			return nil, nil, false
		}
		if data[i] == '}' {
			if codec.SkipSpace(data, i+1) != len(data) {
				return nil, nil, false
			}
			return schema, payload, schema != nil && payload != nil
		}
		if data[i] != ',' {
			return nil, nil, false
		}
		i++
	}
}

// sameSchema returns the payload's span of an envelope laid out as
// {"schema": <schema>, "payload": <payload>} (any whitespace between the
// tokens) whose schema text is exactly schema, a complete JSON value
// envelopeSpans took from an earlier envelope: the same bytes make the same
// value, so they need no scanning. The span runs to the envelope's closing
// brace; it is one JSON value only if nothing follows the payload, which
// the caller's parser checks. ok is false for any other layout.
func sameSchema(data []byte, schema string) (payload []byte, ok bool) {
	i := codec.SkipSpace(data, 0)
	for _, tok := range [...]string{"{", `"schema"`, ":", schema, ",", `"payload"`, ":"} {
		if i = skipToken(data, i, tok); i < 0 {
			return nil, false
		}
	}
	end := len(data)
	for end > i && isSpace(data[end-1]) {
		end--
	}
	if end <= i || data[end-1] != '}' {
		return nil, false
	}
	return data[i : end-1], true
}

// skipToken returns the index after tok at data[i] and the whitespace after
// it, or -1 when data[i:] does not start with tok.
func skipToken(data []byte, i int, tok string) int {
	if len(data)-i < len(tok) || string(data[i:i+len(tok)]) != tok {
		return -1
	}
	return codec.SkipSpace(data, i+len(tok))
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// skipString returns the index after the string starting at data[i] ('"'),
// or -1.
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at data[i], or
// -1 when it does not end (or nests too deep). Scalars are skipped up to
// the next delimiter: the parser of whatever is kept checks them.
func skipValue(data []byte, i, depth int) int {
	if i >= len(data) || depth > 1000 {
		return -1
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		open, close := data[i], byte('}')
		if open == '[' {
			close = ']'
		}
		i = codec.SkipSpace(data, i+1)
		if i < len(data) && data[i] == close {
			return i + 1
		}
		for {
			if open == '{' {
				if i >= len(data) || data[i] != '"' {
					return -1
				}
				if i = skipString(data, i); i < 0 {
					return -1
				}
				i = codec.SkipSpace(data, i)
				if i >= len(data) || data[i] != ':' {
					return -1
				}
				i = codec.SkipSpace(data, i+1)
			}
			if i = skipValue(data, i, depth+1); i < 0 {
				return -1
			}
			i = codec.SkipSpace(data, i)
			if i >= len(data) {
				return -1
			}
			if data[i] == close {
				return i + 1
			}
			if data[i] != ',' {
				return -1
			}
			i = codec.SkipSpace(data, i+1)
		}
	}
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\n', '\t', '\r':
			return i
		case '"', '{', '[', ':':
			return -1
		}
		i++
	}
	return i
}

// connectSchemaType converts a Kafka Connect schema to a codec type.
func connectSchemaType(s *fastjson.Value, depth int) (*codec.Type, bool) {
	if s == nil || s.Type() != fastjson.TypeObject || depth > 32 {
		return &codec.Type{Kind: codec.KindJSON}, true
	}
	optional := s.GetBool("optional")
	switch string(s.GetStringBytes("name")) {
	case connectDecimal:
		scale, _ := strconv.Atoi(string(s.Get("parameters").GetStringBytes("scale")))
		prec, _ := strconv.Atoi(string(s.Get("parameters").GetStringBytes("connect.decimal.precision")))
		if prec < scale {
			prec = 0
		}
		return &codec.Type{Kind: codec.KindDecimal, Precision: prec, Scale: scale}, optional
	case connectDate:
		return &codec.Type{Kind: codec.KindDate}, optional
	case connectTime:
		return &codec.Type{Kind: codec.KindTime}, optional
	case connectTimestamp:
		return &codec.Type{Kind: codec.KindTimestamp}, optional
	case debeziumJSON:
		if string(s.GetStringBytes("type")) == "string" {
			return &codec.Type{Kind: codec.KindJSON}, optional
		}
	}
	switch string(s.GetStringBytes("type")) {
	case "int8", "int16", "int32":
		return &codec.Type{Kind: codec.KindInt32}, optional
	case "int64":
		return &codec.Type{Kind: codec.KindInt64}, optional
	case "float", "float32":
		return &codec.Type{Kind: codec.KindFloat32}, optional
	case "double", "float64":
		return &codec.Type{Kind: codec.KindFloat64}, optional
	case "boolean":
		return &codec.Type{Kind: codec.KindBool}, optional
	case "string":
		return &codec.Type{Kind: codec.KindString}, optional
	case "bytes":
		return &codec.Type{Kind: codec.KindBytes}, optional
	case "array":
		elem, _ := connectSchemaType(s.Get("items"), depth+1)
		return &codec.Type{Kind: codec.KindArray, Elem: elem}, optional
	case "map":
		elem, _ := connectSchemaType(s.Get("values"), depth+1)
		return &codec.Type{Kind: codec.KindMap, Elem: elem}, optional
	case "struct":
		t := &codec.Type{Kind: codec.KindRecord, Name: string(s.GetStringBytes("name"))}
		for _, f := range s.GetArray("fields") {
			ft, opt := connectSchemaType(f, depth+1)
			_, hasDef := f.Get("default"), f.Exists("default")
			t.Fields = append(t.Fields, codec.Field{Name: string(f.GetStringBytes("field")), Type: ft, Optional: opt, HasDefault: hasDef})
		}
		return t, optional
	}
	return &codec.Type{Kind: codec.KindJSON}, optional
}
