package codec

import (
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// A shape is the list of columns a record needs, as schema fields: what
// auto_create turns into CREATE TABLE and auto_evolve compares with the
// table. With flatten, nested records are expanded into their leaves
// (a.b → a_b); otherwise they are one jsonb column.

// FlattenFields returns t's fields as columns: with flatten, the fields of
// nested records become columns of their own (a.b → a_b), down to
// MaxFlattenDepth.
func FlattenFields(t *Type, flatten bool) []Field {
	var out []Field
	var walk func(prefix string, fs []Field, optional bool, depth int)
	walk = func(prefix string, fs []Field, optional bool, depth int) {
		for _, f := range fs {
			name := prefix + f.Name
			if flatten && f.Type.Kind == KindRecord && len(f.Type.Fields) > 0 && depth < MaxFlattenDepth {
				walk(name+"_", f.Type.Fields, optional || f.Optional, depth+1)
				continue
			}
			f.Name = name
			f.Optional = f.Optional || optional
			out = append(out, f)
		}
	}
	walk("", t.Fields, false, 0)
	return out
}

// MaxFlattenDepth bounds flattening (and hostile nesting).
const MaxFlattenDepth = 16

// InferType guesses the schema type of a schemaless JSON value: integers
// that fit are bigint, other numbers numeric, RFC 3339 timestamps (with an
// offset) timestamptz, other strings text, objects (records when
// flattening) and arrays jsonb. Null says nothing (nil).
func InferType(v *fastjson.Value, flatten bool) *Type { return inferType(v, flatten, 0) }

func inferType(v *fastjson.Value, flatten bool, depth int) *Type {
	switch v.Type() {
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return &Type{Kind: KindBool}
	case fastjson.TypeNumber:
		text := string(v.MarshalTo(nil))
		if _, err := strconv.ParseInt(text, 10, 64); err == nil {
			return &Type{Kind: KindInt64}
		}
		return &Type{Kind: KindDecimal}
	case fastjson.TypeString:
		if looksLikeTimestamp(string(v.GetStringBytes())) {
			return &Type{Kind: KindTimestamp}
		}
		return &Type{Kind: KindString}
	case fastjson.TypeObject:
		if (flatten || depth == 0) && depth < MaxFlattenDepth { // the top level is the record itself
			t := &Type{Kind: KindRecord}
			o, _ := v.Object()
			o.Visit(func(k []byte, fv *fastjson.Value) {
				if ft := inferType(fv, flatten, depth+1); ft != nil {
					t.Fields = append(t.Fields, Field{Name: string(k), Type: ft, Optional: true})
				}
			})
			return t
		}
		return &Type{Kind: KindJSON}
	case fastjson.TypeArray:
		return &Type{Kind: KindJSON}
	}
	return nil
}

// MergeTypes widens a to also hold b (both inferred): int and decimal give
// decimal, timestamp and string give string, records merge field by field,
// anything else that differs gives jsonb.
func MergeTypes(a, b *Type) *Type {
	switch {
	case a == nil:
		return b
	case b == nil || a.Kind == b.Kind && a.Kind != KindRecord:
		return a
	case a.Kind == KindRecord && b.Kind == KindRecord:
		out := &Type{Kind: KindRecord, Fields: append([]Field(nil), a.Fields...)}
		for _, f := range b.Fields {
			if g := out.Field(f.Name); g != nil {
				g.Type = MergeTypes(g.Type, f.Type)
			} else {
				out.Fields = append(out.Fields, f)
			}
		}
		return out
	}
	kinds := [2]Kind{min(a.Kind, b.Kind), max(a.Kind, b.Kind)}
	switch kinds {
	case [2]Kind{KindInt64, KindDecimal}:
		return &Type{Kind: KindDecimal}
	case [2]Kind{KindString, KindTimestamp}:
		return &Type{Kind: KindString}
	}
	return &Type{Kind: KindJSON}
}

// looksLikeTimestamp reports an RFC 3339 date-time with an offset
// ("2024-05-01T12:00:00Z", "2024-05-01 12:00:00.5+02:00").
func looksLikeTimestamp(s string) bool {
	if len(s) < 20 || len(s) > 40 {
		return false
	}
	for i, c := range s[:19] {
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != 'T' && c != ' ' && c != 't' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	rest := s[19:]
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	if rest == "Z" || rest == "z" {
		return true
	}
	return len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		strings.Trim(rest[1:3]+rest[4:], "0123456789") == ""
}
