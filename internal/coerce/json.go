package coerce

import (
	"bytes"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// scratchPool holds buffers for building JSON text and reading number text;
// a result is copied out at its exact size, so a value costs one allocation.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledScratch is the largest buffer returned to the pool; a rare huge
// value must not keep its buffer alive.
const maxPooledScratch = 64 << 10

// putScratch returns a buffer from scratchPool.
func putScratch(bp *[]byte) {
	if bp != nil && cap(*bp) <= maxPooledScratch {
		*bp = (*bp)[:0]
		scratchPool.Put(bp)
	}
}

// compactJSON returns v as compact JSON text, re-encoded from the parsed
// value (fastjson's own MarshalTo is not used: it writes strings it has
// unescaped with Go escapes, which are not JSON, and passes invalid numbers
// through). Strings must be valid UTF-8; numbers must follow the JSON grammar
// (fastjson also accepts NaN, Inf and leading zeros). For jsonb, strings and
// keys holding U+0000 are rejected because PostgreSQL's jsonb cannot store
// them; json stores them as the escape \u0000.
//
// fastjson unescapes strings best effort: an escape it cannot decode, such as
// a lone UTF-16 surrogate (\ud800), stays as its characters and is written
// back as text (a backslash followed by "ud800"); PostgreSQL would reject the
// lone surrogate in jsonb.
//
// The result is a new slice owned by the caller, never nil.
func compactJSON(v *fastjson.Value, jsonb bool) ([]byte, error) {
	bp := scratchPool.Get().(*[]byte)
	defer putScratch(bp)
	var err error
	*bp, err = appendJSON((*bp)[:0], v, jsonb)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(*bp), nil
}

// jsonStringOf returns s encoded as a JSON string, as a new slice.
func jsonStringOf(s string, jsonb bool) ([]byte, error) {
	bp := scratchPool.Get().(*[]byte)
	defer putScratch(bp)
	var err error
	*bp, err = appendJSONString((*bp)[:0], s, jsonb)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(*bp), nil
}

func appendJSON(dst []byte, v *fastjson.Value, jsonb bool) ([]byte, error) {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		var err error
		first := true
		dst = append(dst, '{')
		o.Visit(func(k []byte, vv *fastjson.Value) {
			if err != nil {
				return
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			if dst, err = appendJSONString(dst, b2s(k), jsonb); err != nil {
				return
			}
			dst = append(dst, ':')
			dst, err = appendJSON(dst, vv, jsonb)
		})
		if err != nil {
			return dst, err
		}
		return append(dst, '}'), nil
	case fastjson.TypeArray:
		dst = append(dst, '[')
		for i, e := range v.GetArray() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendJSON(dst, e, jsonb); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case fastjson.TypeString:
		return appendJSONString(dst, b2s(v.GetStringBytes()), jsonb)
	case fastjson.TypeNumber:
		start := len(dst)
		dst = v.MarshalTo(dst)
		num := b2s(dst[start:])
		if _, ok := parseDecimal(num, true); !ok {
			return dst, errorf("number " + clip(num) + " is not valid JSON")
		}
		return dst, nil
	case fastjson.TypeTrue:
		return append(dst, "true"...), nil
	case fastjson.TypeFalse:
		return append(dst, "false"...), nil
	}
	return append(dst, "null"...), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: '"', '\\' and control
// characters are escaped, everything else is written as is.
func appendJSONString(dst []byte, s string, jsonb bool) ([]byte, error) {
	if !utf8.ValidString(s) {
		return dst, errorf("string is not valid UTF-8")
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		start = i + 1
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			if c == 0 && jsonb {
				return dst, errorf(`string contains \u0000, which jsonb cannot store`)
			}
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}
