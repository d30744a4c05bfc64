package jsonschema

import (
	"bytes"
	"maps"
	"math/big"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	jsv "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"
)

// The fast check accepts the records it can prove valid without the
// general validator, which needs the record converted to map[string]any,
// []any and json.Number first and then costs a big.Rat per number and an
// allocation per keyword. It reads the compiled schema (the validator's own
// *jsv.Schema, so drafts and "$ref"s are already resolved) and the parsed
// fastjson value directly.
//
// It answers valid, invalid or unknown, and only "valid" is ever acted on:
// a record it does not prove valid goes to the general validator, which
// decides and words the error. "invalid" exists so that oneOf, not and
// if/then/else can be proved too. The keywords it knows: boolean schemas,
// type, enum and const (string values), format, $ref, required,
// properties, additionalProperties, minProperties, maxProperties, items (a
// single schema), minItems, maxItems, minLength, maxLength, pattern,
// minimum, maximum, exclusiveMinimum and exclusiveMaximum (integer bounds),
// allOf, anyOf, oneOf, not, if/then/else. A schema node with any other
// assertion answers unknown. TestFastCheckAgrees and FuzzFastCheck hold it
// to the validator.

// verdict is what the fast check proves about a value.
type verdict uint8

const (
	valid verdict = iota
	unknown
	invalid
)

// fastNode is one compiled schema node as the fast check reads it. Nodes
// are built once per schema id and never change after.
type fastNode struct {
	known  bool  // false: a keyword the fast check does not handle; unknown
	bool_  *bool // a boolean schema
	types  uint8 // type bits; 0: any
	enum   []string
	enumOK bool // enum set; enum holds its string values
	// enumAll: every enum value is a string, so a non-string is invalid.
	enumAll bool
	constS  *string // const, when it is a string
	format  *jsv.Format
	ref     *fastNode
	refOnly bool // draft 7 and before: $ref ignores its sibling keywords below

	// simple: known, not a boolean schema, no $ref and no allOf, anyOf,
	// oneOf, not or if; walk checks such a node in its single pass.
	simple bool

	required      []string
	requiredProps int      // distinct required names that are properties
	requiredOther []string // required names that are not
	props         map[string]prop
	// plist holds the properties by index (prop.idx), sorted by name;
	// requiredMask has bit i set when plist[i] is required (up to
	// maxMaskedProps properties).
	plist []prop
	// follows learns the order records list properties in, for
	// ProveJSON: follows[p] is 1 + the index of the property that came
	// after plist[p] in the last object proved (follows[len(plist)]: the
	// first property). Only a hint, read and written atomically: a wrong
	// one costs a comparison.
	follows                    []atomic.Int32
	requiredMask               uint64
	noAdditional               bool
	additional                 *fastNode
	minProps, maxProps         int // -1: none
	items                      *fastNode
	minItems, maxItems         int
	minLen, maxLen             int
	pattern                    jsv.Regexp
	minimum, maximum           *int64
	exclusiveMin, exclusiveMax *int64
	allOf, anyOf, oneOf        []*fastNode
	not, if_, then_, else_     *fastNode
}

const (
	tNull uint8 = 1 << iota
	tBool
	tNumber
	tInteger
	tString
	tArray
	tObject
)

var typeBits = map[string]uint8{"null": tNull, "boolean": tBool, "number": tNumber, "integer": tInteger,
	"string": tString, "array": tArray, "object": tObject}

// fastCompiler converts a compiled schema, one node per *jsv.Schema.
type fastCompiler struct {
	nodes map[*jsv.Schema]*fastNode
}

func newFastNode(s *jsv.Schema) *fastNode {
	fc := fastCompiler{nodes: map[*jsv.Schema]*fastNode{}}
	return fc.node(s)
}

func (fc *fastCompiler) node(s *jsv.Schema) *fastNode {
	if s == nil {
		return nil
	}
	if n, ok := fc.nodes[s]; ok {
		return n
	}
	n := &fastNode{minProps: -1, maxProps: -1, minItems: -1, maxItems: -1, minLen: -1, maxLen: -1}
	fc.nodes[s] = n
	if s.Bool != nil {
		n.bool_, n.known = s.Bool, true
		return n
	}
	if s.RecursiveRef != nil || s.DynamicRef != nil || s.Dependencies != nil || len(s.PatternProperties) > 0 ||
		s.PropertyNames != nil || s.DependentRequired != nil || s.DependentSchemas != nil ||
		s.UnevaluatedProperties != nil || s.UnevaluatedItems != nil || s.Contains != nil || s.UniqueItems ||
		len(s.PrefixItems) > 0 || s.ContentEncoding != nil || s.ContentMediaType != nil || s.ContentSchema != nil ||
		s.MultipleOf != nil || len(s.Extensions) > 0 {
		return n
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			n.types |= typeBits[t]
		}
	}
	if s.Enum != nil {
		n.enumOK, n.enumAll = true, true
		for _, v := range s.Enum.Values {
			if str, ok := v.(string); ok {
				n.enum = append(n.enum, str)
			} else {
				n.enumAll = false
			}
		}
	}
	if s.Const != nil {
		str, ok := (*s.Const).(string)
		if !ok {
			return n
		}
		n.constS = &str
	}
	n.format = s.Format
	if s.Ref != nil {
		n.ref = fc.node(s.Ref)
		n.refOnly = s.DraftVersion < 2019
	}
	n.required = s.Required
	if len(s.Properties) > 0 {
		n.props = make(map[string]prop, len(s.Properties))
		for k, sub := range s.Properties {
			n.props[k] = prop{key: k, node: fc.node(sub)}
		}
	}
	for _, k := range slices.Compact(slices.Sorted(slices.Values(s.Required))) {
		if p, ok := n.props[k]; ok {
			p.required = true
			n.props[k] = p
			n.requiredProps++
		} else {
			n.requiredOther = append(n.requiredOther, k)
		}
	}
	for i, k := range slices.Sorted(maps.Keys(n.props)) {
		p := n.props[k]
		p.idx = i
		n.props[k] = p
		p.plain = !strings.ContainsFunc(k, func(r rune) bool { return r == '"' || r == '\\' || r < 0x20 })
		n.plist = append(n.plist, p)
		if p.required && i < maxMaskedProps {
			n.requiredMask |= 1 << i
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		n.noAdditional = !a
	case *jsv.Schema:
		n.additional = fc.node(a)
	}
	n.follows = make([]atomic.Int32, len(n.plist)+1)
	n.minProps, n.maxProps = intOr(s.MinProperties), intOr(s.MaxProperties)
	if s.DraftVersion < 2020 {
		switch items := s.Items.(type) {
		case *jsv.Schema:
			n.items = fc.node(items)
		case nil:
			// additionalItems applies only after an items array
		default:
			return n
		}
	} else {
		n.items = fc.node(s.Items2020)
	}
	n.minItems, n.maxItems = intOr(s.MinItems), intOr(s.MaxItems)
	n.minLen, n.maxLen = intOr(s.MinLength), intOr(s.MaxLength)
	n.pattern = s.Pattern
	var ok bool
	if n.minimum, ok = intBound(s.Minimum); !ok {
		return n
	}
	if n.maximum, ok = intBound(s.Maximum); !ok {
		return n
	}
	if n.exclusiveMin, ok = intBound(s.ExclusiveMinimum); !ok {
		return n
	}
	if n.exclusiveMax, ok = intBound(s.ExclusiveMaximum); !ok {
		return n
	}
	for _, sub := range s.AllOf {
		n.allOf = append(n.allOf, fc.node(sub))
	}
	for _, sub := range s.AnyOf {
		n.anyOf = append(n.anyOf, fc.node(sub))
	}
	for _, sub := range s.OneOf {
		n.oneOf = append(n.oneOf, fc.node(sub))
	}
	n.not, n.if_, n.then_, n.else_ = fc.node(s.Not), fc.node(s.If), fc.node(s.Then), fc.node(s.Else)
	n.known = true
	n.simple = n.ref == nil && n.allOf == nil && n.anyOf == nil && n.oneOf == nil && n.not == nil && n.if_ == nil
	return n
}

// prop is a property's schema, with its name as a string that decoded
// objects share.
type prop struct {
	key      string
	node     *fastNode
	required bool
	idx      int  // in fastNode.plist
	plain    bool // the key needs no escape in JSON
}

// maxMaskedProps is the most properties verify tracks in a bit mask;
// maxListedProps the most it looks a key up among by comparing.
const (
	maxMaskedProps = 64
	maxListedProps = 16
)

// lookup returns the index in n.plist of the property named k, or -1. A
// few properties are compared (cheaper than hashing the key); more are
// looked up in n.props.
func (n *fastNode) lookup(k []byte) int {
	if len(n.plist) > maxListedProps {
		if p, ok := n.props[string(k)]; ok {
			return p.idx
		}
		return -1
	}
	for i := range n.plist {
		if key := n.plist[i].key; len(key) == len(k) && key == string(k) {
			return i
		}
	}
	return -1
}

func intOr(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// intBound converts a numeric bound; ok is false for one that is not an
// int64 (the fast check compares with integers only).
func intBound(r *big.Rat) (*int64, bool) {
	if r == nil {
		return nil, true
	}
	if !r.IsInt() || !r.Num().IsInt64() {
		return nil, false
	}
	v := r.Num().Int64()
	return &v, true
}

// maxFastDepth bounds the schema nodes the fast check nests, "$ref"s
// included, so that a "$ref" cycle that reads no deeper into the value
// ends (as unknown: the validator reports the cycle).
const maxFastDepth = 512

// fastChecker is the fast check's working memory for one record.
type fastChecker struct {
	num []byte // a number's text
}

func (fc *fastChecker) check(n *fastNode, v *fastjson.Value, depth int) verdict {
	if !n.known || depth > maxFastDepth {
		return unknown
	}
	if n.bool_ != nil {
		if *n.bool_ {
			return valid
		}
		return invalid
	}
	acc := valid
	note := func(r verdict) bool {
		if r > acc {
			acc = r
		}
		return acc == invalid
	}
	t := v.Type()
	if note(fc.own(n, v, t)) {
		return invalid
	}
	if n.ref != nil {
		if note(fc.check(n.ref, v, depth+1)) || n.refOnly {
			return acc
		}
	}
	switch t {
	case fastjson.TypeObject:
		if note(fc.object(n, v, depth)) {
			return invalid
		}
	case fastjson.TypeArray:
		if note(fc.array(n, v, depth)) {
			return invalid
		}
	}
	for _, sub := range n.allOf {
		if note(fc.check(sub, v, depth+1)) {
			return invalid
		}
	}
	if len(n.anyOf) > 0 {
		r := invalid
		for _, sub := range n.anyOf {
			if x := fc.check(sub, v, depth+1); x < r {
				if r = x; r == valid {
					break
				}
			}
		}
		if note(r) {
			return invalid
		}
	}
	if len(n.oneOf) > 0 {
		valids, unknowns := 0, 0
		for _, sub := range n.oneOf {
			switch fc.check(sub, v, depth+1) {
			case valid:
				valids++
			case unknown:
				unknowns++
			}
		}
		switch {
		case valids > 1 || (valids == 0 && unknowns == 0):
			return invalid
		case valids == 1 && unknowns == 0:
		default:
			note(unknown)
		}
	}
	if n.not != nil {
		switch fc.check(n.not, v, depth+1) {
		case valid:
			return invalid
		case unknown:
			note(unknown)
		}
	}
	if n.if_ != nil {
		var then *fastNode
		switch fc.check(n.if_, v, depth+1) {
		case valid:
			then = n.then_
		case invalid:
			then = n.else_
		default:
			note(unknown)
		}
		if then != nil && note(fc.check(then, v, depth+1)) {
			return invalid
		}
	}
	return acc
}

// own checks the keywords of n that look at v alone: type, const, enum,
// format, and the string and number keywords (ownVerdict).
func (fc *fastChecker) own(n *fastNode, v *fastjson.Value, t fastjson.Type) verdict {
	var text []byte
	switch t {
	case fastjson.TypeNumber:
		fc.num = v.MarshalTo(fc.num[:0])
		text = fc.num
	case fastjson.TypeString:
		text = v.GetStringBytes()
	}
	return n.ownVerdict(t, text)
}

// ownVerdict checks the keywords of n that look at a value alone, of type
// t; text is a string's bytes or a number's text.
func (n *fastNode) ownVerdict(t fastjson.Type, text []byte) verdict {
	acc := valid
	note := func(r verdict) bool {
		if r > acc {
			acc = r
		}
		return acc == invalid
	}
	// A plain integer (the usual number) is read once, here.
	iv, isInt := int64(0), false
	if t == fastjson.TypeNumber {
		iv, isInt = plainInt(text)
	}
	if n.types != 0 {
		r := invalid
		switch {
		case !isInt:
			r = typeVerdict(n.types, t, text)
		case n.types&(tNumber|tInteger) != 0:
			r = valid
		}
		if note(r) {
			return invalid
		}
	}
	if n.constS != nil {
		if t != fastjson.TypeString {
			return unknown
		}
		if string(text) != *n.constS {
			return invalid
		}
	}
	if n.enumOK && note(n.enumVerdict(t, text)) {
		return invalid
	}
	if n.format != nil {
		if t != fastjson.TypeString {
			note(unknown)
		} else if !formatValid(n.format, text) {
			return invalid
		}
	}
	switch t {
	case fastjson.TypeString:
		note(n.stringVerdict(text))
	case fastjson.TypeNumber:
		if isInt {
			note(n.intVerdict(iv))
		} else {
			note(n.numberVerdict(text))
		}
	}
	return acc
}

// plainInt reads a number's text that is an integer of at most 18 digits
// with no fraction or exponent ("12", "-3"); other texts report false.
func plainInt(text []byte) (int64, bool) {
	s := text
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var m int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		m = m*10 + int64(c-'0')
	}
	if neg {
		m = -m
	}
	return m, true
}

// intVerdict is numberVerdict for an integer already read (plainInt).
func (n *fastNode) intVerdict(v int64) verdict {
	if n.minimum != nil && v < *n.minimum || n.maximum != nil && v > *n.maximum ||
		n.exclusiveMin != nil && v <= *n.exclusiveMin || n.exclusiveMax != nil && v >= *n.exclusiveMax {
		return invalid
	}
	return valid
}

// typeVerdict checks "type". Whether a number is an integer is decided
// here for plain texts ("12", "-3", "4.0", "4.5") and left to the
// validator otherwise ("1e3").
func typeVerdict(types uint8, t fastjson.Type, text []byte) verdict {
	var bit uint8
	switch t {
	case fastjson.TypeNull:
		bit = tNull
	case fastjson.TypeTrue, fastjson.TypeFalse:
		bit = tBool
	case fastjson.TypeString:
		bit = tString
	case fastjson.TypeArray:
		bit = tArray
	case fastjson.TypeObject:
		bit = tObject
	case fastjson.TypeNumber:
		if types&tNumber != 0 {
			return valid
		}
		if types&tInteger == 0 {
			return invalid
		}
		switch isIntegerText(text) {
		case 1:
			return valid
		case 0:
			return invalid
		}
		return unknown
	}
	if types&bit != 0 {
		return valid
	}
	return invalid
}

// isIntegerText reports whether a JSON number's text is an integer: 1
// yes, 0 no, -1 not known (an exponent).
func isIntegerText(text []byte) int {
	if hasExponent(text) {
		return -1
	}
	i := bytes.IndexByte(text, '.')
	if i < 0 {
		return 1
	}
	for _, c := range text[i+1:] {
		if c != '0' {
			return 0
		}
	}
	return 1
}

// enumVerdict checks "enum" for a value of type t; s is a string's bytes.
func (n *fastNode) enumVerdict(t fastjson.Type, s []byte) verdict {
	if t != fastjson.TypeString {
		if n.enumAll {
			return invalid
		}
		return unknown
	}
	for _, e := range n.enum {
		if string(s) == e {
			return valid
		}
	}
	return invalid
}

func (fc *fastChecker) object(n *fastNode, v *fastjson.Value, depth int) verdict {
	o, _ := v.Object()
	if n.minProps >= 0 && o.Len() < n.minProps || n.maxProps >= 0 && o.Len() > n.maxProps {
		return invalid
	}
	for _, k := range n.required {
		if o.Get(k) == nil {
			return invalid
		}
	}
	acc := valid
	o.Visit(func(k []byte, vv *fastjson.Value) {
		if acc == invalid {
			return
		}
		var r verdict
		if p, ok := n.props[string(k)]; ok {
			r = fc.check(p.node, vv, depth+1)
		} else if n.additional != nil {
			r = fc.check(n.additional, vv, depth+1)
		} else if n.noAdditional {
			r = invalid
		}
		if r > acc {
			acc = r
		}
	})
	return acc
}

func (fc *fastChecker) array(n *fastNode, v *fastjson.Value, depth int) verdict {
	vs, _ := v.Array()
	if n.minItems >= 0 && len(vs) < n.minItems || n.maxItems >= 0 && len(vs) > n.maxItems {
		return invalid
	}
	acc := valid
	if n.items != nil {
		for _, vv := range vs {
			if r := fc.check(n.items, vv, depth+1); r > acc {
				if acc = r; acc == invalid {
					break
				}
			}
		}
	}
	return acc
}

func (n *fastNode) stringVerdict(s []byte) verdict {
	if n.minLen >= 0 || n.maxLen >= 0 {
		l := utf8.RuneCount(s)
		if n.minLen >= 0 && l < n.minLen || n.maxLen >= 0 && l > n.maxLen {
			return invalid
		}
	}
	if n.pattern != nil && !n.pattern.MatchString(b2s(s)) {
		return invalid
	}
	return valid
}

func (n *fastNode) numberVerdict(text []byte) verdict {
	acc := valid
	bound := func(b *int64, ok func(c int) bool) bool {
		if b == nil {
			return false
		}
		c, known := compareInt(text, *b)
		if !known {
			acc = unknown
			return false
		}
		return !ok(c)
	}
	if bound(n.minimum, func(c int) bool { return c >= 0 }) ||
		bound(n.maximum, func(c int) bool { return c <= 0 }) ||
		bound(n.exclusiveMin, func(c int) bool { return c > 0 }) ||
		bound(n.exclusiveMax, func(c int) bool { return c < 0 }) {
		return invalid
	}
	return acc
}

// compareInt compares a JSON number's text with b: -1, 0 or +1, and
// whether it could tell (not for an exponent or an integer part beyond 18
// digits).
func compareInt(text []byte, b int64) (int, bool) {
	neg := len(text) > 0 && text[0] == '-'
	if neg {
		text = text[1:]
	}
	if hasExponent(text) {
		return 0, false
	}
	intPart, frac := text, []byte(nil)
	if i := bytes.IndexByte(text, '.'); i >= 0 {
		intPart, frac = text[:i], text[i+1:]
	}
	if len(intPart) == 0 || len(intPart) > 18 {
		return 0, false
	}
	var m int64
	for _, c := range intPart {
		m = m*10 + int64(c-'0')
	}
	fracNonZero := bytes.ContainsFunc(frac, func(r rune) bool { return r != '0' })
	// |value| = m + f with 0 <= f < 1, f > 0 iff fracNonZero.
	if !neg {
		switch {
		case m < b:
			return -1, true
		case m > b:
			return 1, true
		case fracNonZero:
			return 1, true
		}
		return 0, true
	}
	// value = -(m + f); compare m + f with -b, then flip.
	if b == -1<<63 {
		return 0, false
	}
	nb := -b
	switch {
	case m < nb:
		return 1, true
	case m > nb:
		return -1, true
	case fracNonZero:
		return -1, true
	}
	return 0, true
}

// maxScannedKeys is the largest object whose keys walk compares pairwise;
// a larger one gets a map.
const maxScannedKeys = 16

// verify proves v valid against n (nil: anything goes) and makes the
// checks build makes (no key twice in an object, numbers within limits),
// and holds every number to JSON's grammar (which the parser does not),
// all in one pass over the whole of v. It returns false when it cannot
// prove v valid or a check fails: the caller then takes the general path,
// which decides and words the error. A node that is not simple is checked by check, and v
// walked for the rest as if unconstrained.
func (c *compiled) verify(w *work, n *fastNode, v *fastjson.Value, depth int) bool {
	t := v.Type()
	if n != nil {
		if !n.simple {
			if w.check(n, v, depth) != valid {
				return false
			}
			n = nil
		} else if depth > maxFastDepth || w.own(n, v, t) != valid {
			return false
		}
	}
	switch t {
	case fastjson.TypeObject:
		o, _ := v.Object()
		if n != nil {
			if n.minProps >= 0 && o.Len() < n.minProps || n.maxProps >= 0 && o.Len() > n.maxProps {
				return false
			}
			for _, k := range n.requiredOther {
				if o.Get(k) == nil {
					return false
				}
			}
		}
		scan := o.Len() <= maxScannedKeys
		if !scan && !uniqueKeys(o) {
			return false
		}
		// Keys that are properties are told apart by a bit each (when
		// there are few enough); the others are compared with the other
		// keys on w.keys that are not.
		masked := n != nil && len(n.plist) <= maxMaskedProps
		var ms members
		start, ok := len(w.keys), true
		o.Visit(func(k []byte, vv *fastjson.Value) {
			if !ok {
				return
			}
			var child *fastNode
			var i int
			if child, i, ok = n.member(k, masked, &ms); !ok {
				return
			}
			if scan && (i < 0 || !masked) {
				for _, prev := range w.keys[start:] {
					if string(prev) == string(k) {
						ok = false
						return
					}
				}
				w.keys = append(w.keys, k)
			}
			ok = c.verify(w, child, vv, depth+1)
		})
		w.keys = w.keys[:start]
		switch {
		case !ok:
			return false
		case n == nil:
			return true
		}
		return n.requiredSeen(masked, &ms)
	case fastjson.TypeArray:
		vs, _ := v.Array()
		var items *fastNode
		if n != nil {
			if n.minItems >= 0 && len(vs) < n.minItems || n.maxItems >= 0 && len(vs) > n.maxItems {
				return false
			}
			items = n.items
		}
		for _, vv := range vs {
			if !c.verify(w, items, vv, depth+1) {
				return false
			}
		}
		return true
	case fastjson.TypeNumber:
		w.num = v.MarshalTo(w.num[:0])
		return strictNumber(w.num) && (plainNumber(w.num) || checkNumber(w.num) == nil)
	}
	return true
}

// members is what an object's walk has seen of n's properties: a bit per
// property when masked (see verify), else the number of required ones
// (the keys are checked distinct apart).
type members struct {
	seen     uint64
	required int
}

// member finds the schema of an object's member k (nil: anything goes;
// n nil is an unconstrained object) and its property index (-1: not a
// property), and notes it in ms. It reports false when k is a property
// seen before (masked) or not allowed.
func (n *fastNode) member(k []byte, masked bool, ms *members) (*fastNode, int, bool) {
	if n == nil {
		return nil, -1, true
	}
	return n.memberAt(n.lookup(k), masked, ms)
}

// memberAt is member for the property plist[i] (i < 0: not a property).
func (n *fastNode) memberAt(i int, masked bool, ms *members) (*fastNode, int, bool) {
	if i >= 0 {
		if masked {
			if ms.seen&(1<<i) != 0 {
				return nil, i, false
			}
			ms.seen |= 1 << i
		} else if n.plist[i].required {
			ms.required++
		}
		return n.plist[i].node, i, true
	}
	if n.noAdditional && n.additional == nil {
		return nil, -1, false
	}
	return n.additional, -1, true
}

// requiredSeen reports whether an object's walk met every required
// property of n.
func (n *fastNode) requiredSeen(masked bool, ms *members) bool {
	if masked {
		return ms.seen&n.requiredMask == n.requiredMask
	}
	return ms.required == n.requiredProps
}

// plainNumber reports whether a number's text is short and has no
// exponent, so that checkNumber passes it.
func plainNumber(text []byte) bool {
	return len(text) <= maxNumberLen && !hasExponent(text)
}

// hasExponent reports whether a number's text has an e or E.
func hasExponent(text []byte) bool {
	for _, c := range text {
		if c|0x20 == 'e' {
			return true
		}
	}
	return false
}

// uniqueKeys reports whether no key of o occurs twice.
func uniqueKeys(o *fastjson.Object) bool {
	seen := make(map[string]struct{}, o.Len())
	ok := true
	o.Visit(func(k []byte, _ *fastjson.Value) {
		if _, dup := seen[string(k)]; dup {
			ok = false
		}
		seen[string(k)] = struct{}{}
	})
	return ok
}

// formatValid checks a string's format. The validator's date-time and
// date checks cost an allocation or two; a plain RFC 3339 text they
// certainly accept is checked here instead, anything else by them.
func formatValid(f *jsv.Format, s []byte) bool {
	switch f.Name {
	case "date-time":
		if len(s) >= 20 && (s[10] == 'T' || s[10] == 't') && plainDate(s[:10]) && plainTime(s[11:]) {
			return true
		}
	case "date":
		if plainDate(s) {
			return true
		}
	}
	return f.Validate(b2s(s)) == nil
}

// plainDate reports whether s is YYYY-MM-DD naming a day that exists.
func plainDate(s []byte) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m-1]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return d <= days
}

// plainTime reports whether s is hh:mm:ss, an optional fraction, then Z
// or a ±hh:mm offset, every field in range and no leap second.
func plainTime(s []byte) bool {
	if len(s) < 9 || s[2] != ':' || s[5] != ':' {
		return false
	}
	h, ok1 := digits(s[0:2])
	m, ok2 := digits(s[3:5])
	sec, ok3 := digits(s[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
		return false
	}
	s = s[8:]
	if len(s) > 0 && s[0] == '.' {
		i := 1
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		s = s[i:]
	}
	if len(s) == 1 {
		return s[0] == 'Z' || s[0] == 'z'
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return false
	}
	zh, ok1 := digits(s[1:3])
	zm, ok2 := digits(s[4:6])
	return ok1 && ok2 && zh <= 23 && zm <= 59
}

// digits reads a run of ASCII digits.
func digits(s []byte) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
