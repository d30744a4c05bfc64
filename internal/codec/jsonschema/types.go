package jsonschema

import (
	"math"
	"net/url"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// Bounds on type derivation: below them a schema becomes KindJSON, so that
// deeply nested or exponentially branching definitions stay cheap.
const (
	maxTypeDepth = 64
	maxTypeNodes = 10000
)

// derived is what one schema node says about its values.
type derived struct {
	t          *codec.Type // never nil
	nullable   bool        // null is allowed
	onlyNull   bool        // null is the only value allowed
	hasDefault bool
	known      bool // the node constrains the type at all ({} does not)
}

// typeDeriver walks raw schema documents. A *fastjson.Value is one node of
// one parsed document, so node pointers key the memo and the cycle check.
type typeDeriver struct {
	set      *schemaSet
	memo     map[*fastjson.Value]derived // "$ref" targets
	visiting map[*fastjson.Value]bool
	nodes    int
	keys     map[string]string // every property name seen
}

// deriveType returns the *codec.Type of the record's schema and the
// property names it has.
func deriveType(set *schemaSet) (*codec.Type, map[string]string) {
	td := &typeDeriver{
		set:      set,
		memo:     map[*fastjson.Value]derived{},
		visiting: map[*fastjson.Value]bool{},
		keys:     map[string]string{},
	}
	td.visiting[set.root.raw] = true // "$ref": "#" is recursion too
	return td.derive(set.root.raw, set.root, 0, "").t, td.keys
}

func jsonType() *codec.Type { return &codec.Type{Kind: codec.KindJSON} }

// free is a schema node that gives no usable type: KindJSON.
func free(known bool) derived { return derived{t: jsonType(), known: known} }

func (td *typeDeriver) derive(n *fastjson.Value, doc *document, depth int, name string) derived {
	td.nodes++
	if depth > maxTypeDepth || td.nodes > maxTypeNodes {
		return free(true)
	}
	if n.Type() != fastjson.TypeObject {
		return free(false) // true, false or not a schema
	}
	var parts []derived
	if ref := n.Get("$ref"); ref != nil && ref.Type() == fastjson.TypeString {
		parts = append(parts, td.ref(string(ref.GetStringBytes()), doc, depth))
	}
	if own := td.own(n, doc, depth, name); own.known {
		parts = append(parts, own)
	}
	for _, m := range n.GetArray("allOf") {
		if d := td.derive(m, doc, depth+1, ""); d.known {
			parts = append(parts, d)
		}
	}
	for _, kw := range [...]string{"oneOf", "anyOf"} {
		if alts := n.GetArray(kw); len(alts) > 0 {
			parts = append(parts, td.alternatives(alts, doc, depth))
		}
	}
	d := merge(parts)
	d.hasDefault = d.hasDefault || n.Exists("default")
	return d
}

// ref derives the type a "$ref" points to.
func (td *typeDeriver) ref(ref string, doc *document, depth int) derived {
	target, tdoc, name := td.resolve(ref, doc)
	if target == nil {
		return free(true) // an anchor or an embedded "$id": not followed
	}
	if d, ok := td.memo[target]; ok {
		return d
	}
	if td.visiting[target] {
		return free(true) // recursive: free-form JSON below this point
	}
	td.visiting[target] = true
	d := td.derive(target, tdoc, depth+1, name)
	delete(td.visiting, target)
	td.memo[target] = d
	return d
}

// resolve finds the node ref points to, the document holding it, and a
// name for it: the last token of a JSON pointer fragment
// ("#/$defs/Address" gives Address).
func (td *typeDeriver) resolve(ref string, doc *document) (*fastjson.Value, *document, string) {
	base, frag, _ := strings.Cut(ref, "#")
	if base != "" {
		doc = td.lookup(base, doc)
		if doc == nil {
			return nil, nil, ""
		}
	}
	if frag == "" {
		return doc.raw, doc, ""
	}
	if frag[0] != '/' {
		return nil, nil, ""
	}
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	n := doc.raw
	tok := ""
	for _, t := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		if n = n.Get(tok); n == nil { // an object's member or an array's index
			return nil, nil, ""
		}
	}
	return n, doc, tok
}

// lookup finds the document a "$ref" without fragment names: a reference
// name as written, or the URL it resolves to from doc.
func (td *typeDeriver) lookup(base string, doc *document) *document {
	for _, d := range td.set.refs {
		if d.name == base {
			return d
		}
	}
	u := doc.url
	if id := idOf(doc.raw); id != "" {
		u = resolveURL(u, id)
	}
	return td.set.find(resolveURL(u, base))
}

// alternatives derives oneOf/anyOf: null among the alternatives makes the
// rest nullable; one other alternative gives its type, several give
// KindJSON.
func (td *typeDeriver) alternatives(alts []*fastjson.Value, doc *document, depth int) derived {
	var others []derived
	nullable := false
	for _, m := range alts {
		d := td.derive(m, doc, depth+1, "")
		if d.onlyNull {
			nullable = true
			continue
		}
		others = append(others, d)
	}
	switch len(others) {
	case 0:
		return derived{t: jsonType(), nullable: nullable, onlyNull: nullable, known: true}
	case 1:
		d := others[0]
		d.t = orJSON(d)
		d.nullable = d.nullable || nullable
		d.known = true
		return d
	}
	return derived{t: jsonType(), nullable: nullable, known: true}
}

func orJSON(d derived) *codec.Type {
	if d.known {
		return d.t
	}
	return jsonType()
}

// own derives a node's own type keywords: "type", or what the keywords
// imply when it is missing.
func (td *typeDeriver) own(n *fastjson.Value, doc *document, depth int, name string) derived {
	var types []string
	nullable := false
	typed := true
	switch tv := n.Get("type"); {
	case tv == nil:
		typed = false
	case tv.Type() == fastjson.TypeString:
		types = []string{string(tv.GetStringBytes())}
	case tv.Type() == fastjson.TypeArray:
		for _, e := range tv.GetArray() {
			types = append(types, string(e.GetStringBytes()))
		}
	default:
		typed = false
	}
	if !typed {
		switch {
		case n.Exists("properties") || n.Exists("additionalProperties") || n.Exists("patternProperties") || n.Exists("required"):
			types = []string{"object"}
		case n.Exists("items") || n.Exists("prefixItems"):
			types = []string{"array"}
		case n.Exists("enum"):
			return enumType(n.GetArray("enum"))
		case n.Exists("const"):
			return enumType([]*fastjson.Value{n.Get("const")})
		default:
			return free(false)
		}
	}
	nonNull := types[:0:0]
	for _, t := range types {
		if t == "null" {
			nullable = true
		} else {
			nonNull = append(nonNull, t)
		}
	}
	d := derived{nullable: nullable, known: true}
	switch {
	case len(nonNull) == 0:
		d.t, d.onlyNull = jsonType(), nullable
		return d
	case len(nonNull) > 1:
		d.t = jsonType()
		numeric := true
		for _, t := range nonNull {
			numeric = numeric && (t == "integer" || t == "number")
		}
		if numeric {
			d.t = &codec.Type{Kind: codec.KindDecimal}
		}
		return d
	}
	connect := string(n.GetStringBytes("connect.type"))
	switch nonNull[0] {
	case "object":
		d.t = td.object(n, doc, depth, name)
	case "array":
		d.t = td.array(n, doc, depth)
	case "string":
		d.t = stringType(n, connect)
	case "integer":
		d.t = &codec.Type{Kind: codec.KindInt64}
		if connect == "int8" || connect == "int16" || connect == "int32" {
			d.t.Kind = codec.KindInt32
		}
	case "number":
		d.t = &codec.Type{Kind: codec.KindDecimal}
		switch connect {
		case "int8", "int16", "int32":
			d.t.Kind = codec.KindInt32
		case "int64":
			d.t.Kind = codec.KindInt64
		case "float32":
			d.t.Kind = codec.KindFloat32
		case "float64":
			d.t.Kind = codec.KindFloat64
		}
	case "boolean":
		d.t = &codec.Type{Kind: codec.KindBool}
	default:
		d.t = jsonType()
	}
	return d
}

// object derives "type": "object": a record when it lists properties, a
// map when only "additionalProperties" gives a schema, else KindJSON.
func (td *typeDeriver) object(n *fastjson.Value, doc *document, depth int, name string) *codec.Type {
	props := n.GetObject("properties")
	if props == nil || props.Len() == 0 {
		if ap := n.Get("additionalProperties"); ap != nil && ap.Type() == fastjson.TypeObject && !n.Exists("patternProperties") {
			return &codec.Type{Kind: codec.KindMap, Elem: orJSON(td.derive(ap, doc, depth+1, ""))}
		}
		return jsonType()
	}
	required := map[string]bool{}
	for _, r := range n.GetArray("required") {
		required[string(r.GetStringBytes())] = true
	}
	t := &codec.Type{Kind: codec.KindRecord, Name: name}
	if title := n.GetStringBytes("title"); len(title) > 0 {
		t.Name = string(title)
	}
	props.Visit(func(k []byte, pv *fastjson.Value) {
		d := td.derive(pv, doc, depth+1, "")
		name, ok := td.keys[string(k)]
		if !ok {
			name = string(k)
			td.keys[name] = name
		}
		f := codec.Field{
			Name:       name,
			Type:       orJSON(d),
			Optional:   !required[string(k)] || d.nullable,
			HasDefault: d.hasDefault,
		}
		if prev := t.Field(f.Name); prev != nil {
			*prev = f // a repeated key: the last one counts, as for the validator
			return
		}
		t.Fields = append(t.Fields, f)
	})
	return t
}

// array derives "type": "array". Tuples (an "items" array, or
// "prefixItems") have KindJSON elements.
func (td *typeDeriver) array(n *fastjson.Value, doc *document, depth int) *codec.Type {
	t := &codec.Type{Kind: codec.KindArray, Elem: jsonType()}
	if n.Exists("prefixItems") {
		return t
	}
	if items := n.Get("items"); items != nil && items.Type() == fastjson.TypeObject {
		t.Elem = orJSON(td.derive(items, doc, depth+1, ""))
	}
	return t
}

func stringType(n *fastjson.Value, connect string) *codec.Type {
	switch string(n.GetStringBytes("format")) {
	case "date-time":
		return &codec.Type{Kind: codec.KindTimestamp}
	case "date":
		return &codec.Type{Kind: codec.KindDate}
	case "time":
		return &codec.Type{Kind: codec.KindTime}
	case "uuid":
		return &codec.Type{Kind: codec.KindUUID}
	}
	if string(n.GetStringBytes("contentEncoding")) == "base64" || connect == "bytes" {
		return &codec.Type{Kind: codec.KindBytes}
	}
	t := &codec.Type{Kind: codec.KindString}
	if ml := n.Get("maxLength"); ml != nil && ml.Type() == fastjson.TypeNumber {
		if f, err := ml.Float64(); err == nil && f >= 1 && f == math.Trunc(f) && f <= math.MaxInt32 {
			t.MaxLength = int(f)
		}
	}
	return t
}

// enumType derives the type of the values an "enum" or "const" lists.
func enumType(values []*fastjson.Value) derived {
	d := derived{known: true}
	var kind codec.Kind
	for _, v := range values {
		var k codec.Kind
		switch v.Type() {
		case fastjson.TypeNull:
			d.nullable = true
			continue
		case fastjson.TypeString:
			k = codec.KindString
		case fastjson.TypeTrue, fastjson.TypeFalse:
			k = codec.KindBool
		case fastjson.TypeNumber:
			k = codec.KindInt64
			if strings.ContainsAny(string(v.MarshalTo(nil)), ".eE") {
				k = codec.KindDecimal
			}
		default:
			k = codec.KindJSON
		}
		switch {
		case kind == 0 || kind == k:
			kind = k
		case (kind == codec.KindInt64 && k == codec.KindDecimal) || (kind == codec.KindDecimal && k == codec.KindInt64):
			kind = codec.KindDecimal
		default:
			kind = codec.KindJSON
		}
	}
	if kind == 0 {
		d.t, d.onlyNull = jsonType(), d.nullable
		return d
	}
	d.t = &codec.Type{Kind: kind}
	return d
}

// merge combines what several keywords of one node ("$ref", its own
// "type", allOf members, oneOf/anyOf) say: a value must satisfy all of them,
// so the narrowest type wins, records merge their fields, and null is
// allowed only when every part allows it.
func merge(parts []derived) derived {
	switch len(parts) {
	case 0:
		return free(false)
	case 1:
		return parts[0]
	}
	d := derived{t: parts[0].t, nullable: true, onlyNull: true, known: true}
	for i, p := range parts {
		d.nullable = d.nullable && p.nullable
		d.onlyNull = d.onlyNull && p.onlyNull
		d.hasDefault = d.hasDefault || p.hasDefault
		if i > 0 && d.t != nil {
			d.t = narrower(d.t, p.t)
		}
	}
	if d.t == nil {
		d.t = jsonType()
	}
	return d
}

func stringFamily(k codec.Kind) bool {
	switch k {
	case codec.KindString, codec.KindTimestamp, codec.KindDate, codec.KindTime, codec.KindUUID, codec.KindBytes:
		return true
	}
	return false
}

func integer(k codec.Kind) bool { return k == codec.KindInt32 || k == codec.KindInt64 }

// narrower returns the type of values that have both types a and b, or nil
// when the two do not combine into one column type.
func narrower(a, b *codec.Type) *codec.Type {
	switch {
	case a.Kind == codec.KindJSON:
		return b
	case b.Kind == codec.KindJSON:
		return a
	case a.Kind == codec.KindRecord && b.Kind == codec.KindRecord:
		return mergeRecords(a, b)
	case a.Kind == codec.KindString && b.Kind == codec.KindString:
		if b.MaxLength != 0 && (a.MaxLength == 0 || b.MaxLength < a.MaxLength) {
			return b
		}
		return a
	case a.Kind == b.Kind:
		return a
	case a.Kind == codec.KindString && stringFamily(b.Kind):
		return b
	case b.Kind == codec.KindString && stringFamily(a.Kind):
		return a
	case integer(a.Kind) && (b.Kind == codec.KindDecimal || b.Kind == codec.KindInt64):
		return a
	case integer(b.Kind) && (a.Kind == codec.KindDecimal || a.Kind == codec.KindInt64):
		return b
	}
	return nil
}

// mergeRecords returns a new record with a's fields then b's new ones; a
// field both give is required if either requires it.
func mergeRecords(a, b *codec.Type) *codec.Type {
	t := &codec.Type{Kind: codec.KindRecord, Name: a.Name, Fields: append([]codec.Field(nil), a.Fields...)}
	if t.Name == "" {
		t.Name = b.Name
	}
	for _, f := range b.Fields {
		prev := t.Field(f.Name)
		if prev == nil {
			t.Fields = append(t.Fields, f)
			continue
		}
		prev.Optional = prev.Optional && f.Optional
		prev.HasDefault = prev.HasDefault || f.HasDefault
		if nt := narrower(prev.Type, f.Type); nt != nil {
			prev.Type = nt
		} else {
			prev.Type = jsonType()
		}
	}
	return t
}
