package transform

import (
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// A shape is the list of columns a record needs, as schema fields: what
// auto_create turns into CREATE TABLE and auto_evolve compares with the
// table. With flatten, nested records are expanded into their leaves
// (a.b → a_b); otherwise they are one jsonb column.

// flattenFields returns t's fields as columns.
func flattenFields(t *codec.Type, flatten bool) []codec.Field {
	var out []codec.Field
	var walk func(prefix string, fs []codec.Field, optional bool, depth int)
	walk = func(prefix string, fs []codec.Field, optional bool, depth int) {
		for _, f := range fs {
			name := prefix + f.Name
			if flatten && f.Type.Kind == codec.KindRecord && len(f.Type.Fields) > 0 && depth < maxFlattenDepth {
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

// maxFlattenDepth bounds flattening (and hostile nesting).
const maxFlattenDepth = 16

// inferType guesses the schema type of a schemaless JSON value: integers
// that fit are bigint, other numbers numeric, RFC 3339 timestamps (with an
// offset) timestamptz, other strings text, objects (records when
// flattening) and arrays jsonb. Null says nothing (nil).
func inferType(v *fastjson.Value, flatten bool, depth int) *codec.Type {
	switch v.Type() {
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return &codec.Type{Kind: codec.KindBool}
	case fastjson.TypeNumber:
		text := string(v.MarshalTo(nil))
		if _, err := strconv.ParseInt(text, 10, 64); err == nil {
			return &codec.Type{Kind: codec.KindInt64}
		}
		return &codec.Type{Kind: codec.KindDecimal}
	case fastjson.TypeString:
		if looksLikeTimestamp(string(v.GetStringBytes())) {
			return &codec.Type{Kind: codec.KindTimestamp}
		}
		return &codec.Type{Kind: codec.KindString}
	case fastjson.TypeObject:
		if (flatten || depth == 0) && depth < maxFlattenDepth { // the top level is the record itself
			t := &codec.Type{Kind: codec.KindRecord}
			o, _ := v.Object()
			o.Visit(func(k []byte, fv *fastjson.Value) {
				if ft := inferType(fv, flatten, depth+1); ft != nil {
					t.Fields = append(t.Fields, codec.Field{Name: string(k), Type: ft, Optional: true})
				}
			})
			return t
		}
		return &codec.Type{Kind: codec.KindJSON}
	case fastjson.TypeArray:
		return &codec.Type{Kind: codec.KindJSON}
	}
	return nil
}

// mergeType widens a to also hold b (both inferred): int and decimal give
// decimal, timestamp and string give string, records merge field by field,
// anything else that differs gives jsonb.
func mergeType(a, b *codec.Type) *codec.Type {
	switch {
	case a == nil:
		return b
	case b == nil || a.Kind == b.Kind && a.Kind != codec.KindRecord:
		return a
	case a.Kind == codec.KindRecord && b.Kind == codec.KindRecord:
		out := &codec.Type{Kind: codec.KindRecord, Fields: append([]codec.Field(nil), a.Fields...)}
		for _, f := range b.Fields {
			if g := out.Field(f.Name); g != nil {
				g.Type = mergeType(g.Type, f.Type)
			} else {
				out.Fields = append(out.Fields, f)
			}
		}
		return out
	}
	kinds := [2]codec.Kind{min(a.Kind, b.Kind), max(a.Kind, b.Kind)}
	switch kinds {
	case [2]codec.Kind{codec.KindInt64, codec.KindDecimal}:
		return &codec.Type{Kind: codec.KindDecimal}
	case [2]codec.Kind{codec.KindString, codec.KindTimestamp}:
		return &codec.Type{Kind: codec.KindString}
	}
	return &codec.Type{Kind: codec.KindJSON}
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
