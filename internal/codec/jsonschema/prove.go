package jsonschema

import (
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// Proving a record from its bytes: the fast check (fast.go) of a record
// made in one pass over its payload, without parsing it into a tree. It
// serves callers that read the payload's JSON themselves (package
// transform's direct path): ProveJSON tells them that Decode would return
// the payload's JSON value, and they map the bytes.
//
// It proves what verify proves, for the records it takes: every node on
// the way must be simple (see fastNode) or the schema true, no string has
// an escape (none to check) or a control character, every string is valid
// UTF-8 (outside strings, JSON's syntax allows ASCII only), every number is
// in JSON's grammar (codec.NumberEnd) and within checkNumber's limits, no
// object has a key twice, and nesting is at most maxProvedDepth. Anything
// else is not proved, and the caller decodes the record as usual, which
// decides and words any error. TestFastCheckAgrees, TestFastCheckRandom
// and FuzzFastCheck hold it to the validator (compareFast).

var _ codec.JSONProver = (*Decoder)(nil)

// maxProvedDepth is the deepest nesting prove walks (fastjson's parser
// allows 300).
const maxProvedDepth = 64

// ProveJSON reports whether data, a record in the wire format, is certainly
// valid against its schema, and returns its JSON payload: Decode would
// return that payload's JSON value. It only uses a schema already compiled
// (by an earlier Decode): it never asks the registry, and answers false
// for an id it has not seen. It does not allocate.
func (d *Decoder) ProveJSON(data []byte) ([]byte, bool) {
	id, payload, err := codec.ParseWire(data)
	if err != nil {
		return nil, false
	}
	c, ok := d.schemas.Load(id)
	if !ok || !c.proves() {
		return nil, false
	}
	w := workPool.Get().(*work)
	ok = c.prove(w, payload)
	w.release()
	return payload, ok
}

// proves reports whether prove may be tried: the schema has a fast check.
func (c *compiled) proves() bool { return c.fast != nil }

// prove proves payload, one JSON value with no backslash, valid against
// c.fast (see ProveJSON).
func (c *compiled) prove(w *work, payload []byte) bool {
	end, ok := w.proveValue(c.fast, payload, codec.SkipSpace(payload, 0), 0)
	return ok && codec.SkipSpace(payload, end) == len(payload)
}

// proveValue proves the value at data[i] valid against n (nil: anything
// goes) and returns where it ends.
func (w *work) proveValue(n *fastNode, data []byte, i, depth int) (int, bool) {
	if i >= len(data) || depth > maxProvedDepth {
		return 0, false
	}
	if n != nil && !n.simple {
		if n.bool_ == nil || !*n.bool_ {
			return 0, false
		}
		n = nil // true: anything goes
	}
	var t fastjson.Type
	var text []byte // a string's bytes, a number's text
	end := 0
	switch c := data[i]; c {
	case '{':
		t = fastjson.TypeObject
	case '[':
		t = fastjson.TypeArray
	case '"':
		e := codec.PlainStringEnd(data, i+1)
		if e < 0 || !codec.ValidUTF8(data[i+1:e]) {
			return 0, false
		}
		t, text, end = fastjson.TypeString, data[i+1:e], e+1
	case 't', 'f', 'n':
		t = fastjson.TypeNull
		switch c {
		case 't':
			t = fastjson.TypeTrue
		case 'f':
			t = fastjson.TypeFalse
		}
		if end = codec.LiteralEnd(data, i); end < 0 {
			return 0, false
		}
	default:
		if end = codec.NumberEnd(data, i); end < 0 {
			return 0, false
		}
		t, text = fastjson.TypeNumber, data[i:end]
		if !plainNumber(text) && checkNumber(text) != nil {
			return 0, false
		}
	}
	if n != nil && n.ownVerdict(t, text) != valid {
		return 0, false
	}
	switch t {
	case fastjson.TypeObject:
		return w.proveObject(n, data, i+1, depth)
	case fastjson.TypeArray:
		return w.proveArray(n, data, i+1, depth)
	}
	return end, true
}

// proveObject proves the object whose first key (or closing brace) is at
// or after data[i], as verify does: properties told apart by a bit each,
// other keys compared with each other.
func (w *work) proveObject(n *fastNode, data []byte, i, depth int) (int, bool) {
	start := len(w.keys)
	end, ok := w.proveMembers(n, data, i, depth, start)
	w.keys = w.keys[:start]
	return end, ok
}

// proveMembers is proveObject's walk; the keys it compares go on w.keys
// from start.
func (w *work) proveMembers(n *fastNode, data []byte, i, depth, start int) (int, bool) {
	if n != nil && len(n.requiredOther) > 0 {
		return 0, false
	}
	masked := n != nil && len(n.plist) <= maxMaskedProps
	var ms members
	count := 0
	// prev is where the hint of the next property is (n.follows).
	hints := n != nil && len(n.follows) == len(n.plist)+1
	prev := 0
	if hints {
		prev = len(n.plist)
	}
	i = codec.SkipSpace(data, i)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return 0, false
			}
			// The key is compared in place with the property that came
			// next last time, when its name needs no escape (so that no
			// other key's text can equal it); else scanned and looked up.
			e, p := -1, -1
			if hints {
				if q := int(n.follows[prev].Load()) - 1; q >= 0 && n.plist[q].plain {
					key := n.plist[q].key
					if x := i + 1 + len(key); x < len(data) && data[x] == '"' && string(data[i+1:x]) == key {
						e, p = x, q
					}
				}
			}
			if e < 0 {
				if e = codec.PlainStringEnd(data, i+1); e < 0 || !codec.ValidUTF8(data[i+1:e]) {
					return 0, false
				}
				if n != nil {
					if p = n.lookup(data[i+1 : e]); p >= 0 && hints {
						n.follows[prev].Store(int32(p + 1))
					}
				}
			}
			k := data[i+1 : e]
			i = codec.SkipSpace(data, e+1)
			if i >= len(data) || data[i] != ':' {
				return 0, false
			}
			var child *fastNode
			var ok bool
			if n != nil {
				child, p, ok = n.memberAt(p, masked, &ms)
			} else {
				ok = true
			}
			if !ok {
				return 0, false
			}
			if p >= 0 {
				prev = p
			}
			if p < 0 || !masked {
				if len(w.keys)-start >= maxScannedKeys {
					return 0, false
				}
				for _, prev := range w.keys[start:] {
					if string(prev) == string(k) {
						return 0, false
					}
				}
				w.keys = append(w.keys, k)
			}
			end, ok := w.proveValue(child, data, codec.SkipSpace(data, i+1), depth+1)
			if !ok {
				return 0, false
			}
			count++
			var more bool
			if i, more, ok = next(data, end, '}'); !ok {
				return 0, false
			}
			if !more {
				break
			}
		}
	}
	switch {
	case n == nil:
		return i, true
	case n.minProps >= 0 && count < n.minProps || n.maxProps >= 0 && count > n.maxProps:
		return 0, false
	}
	return i, n.requiredSeen(masked, &ms)
}

// proveArray proves the array whose first item (or closing bracket) is at
// or after data[i].
func (w *work) proveArray(n *fastNode, data []byte, i, depth int) (int, bool) {
	var items *fastNode
	if n != nil {
		items = n.items
	}
	count := 0
	i = codec.SkipSpace(data, i)
	if i < len(data) && data[i] == ']' {
		i++
	} else {
		for {
			end, ok := w.proveValue(items, data, i, depth+1)
			if !ok {
				return 0, false
			}
			count++
			var more bool
			if i, more, ok = next(data, end, ']'); !ok {
				return 0, false
			}
			if !more {
				break
			}
		}
	}
	if n != nil && (n.minItems >= 0 && count < n.minItems || n.maxItems >= 0 && count > n.maxItems) {
		return 0, false
	}
	return i, true
}

// next reads what follows a member or an item that ends at data[end]: a
// comma (more, i at the next one) or the closing byte (i after it).
func next(data []byte, end int, closing byte) (i int, more, ok bool) {
	i = codec.SkipSpace(data, end)
	switch {
	case i < len(data) && data[i] == ',':
		return codec.SkipSpace(data, i+1), true, true
	case i < len(data) && data[i] == closing:
		return i + 1, false, true
	}
	return 0, false, false
}
