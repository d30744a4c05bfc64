package avro

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

const (
	// maxDepth bounds nesting of records, arrays and maps, so a recursive
	// schema and hostile input cannot exhaust the stack.
	maxDepth = 64
	// maxEmptyItems bounds, per datum, array items whose encoding may take
	// zero bytes (null, a record of nulls): their count is not bounded by
	// the input length.
	maxEmptyItems = 1 << 16
)

// reader decodes one datum. It is pooled for its scratch buffer.
type reader struct {
	buf        []byte
	pos        int
	a          *fastjson.Arena
	depth      int
	emptyItems int    // budget of zero-size array items left
	scratch    []byte // formatting buffer; contents are copied into the arena

	// text: the datum is written as JSON text to out instead of built in
	// a (appendJSON); value then returns nil values.
	text bool
	out  []byte
	keys [][]byte // the keys of the maps being written (text), to refuse duplicates
}

var readerPool = sync.Pool{New: func() any { return &reader{scratch: make([]byte, 0, 128)} }}

// maxPooledScratch: a reader that formatted a huge bytes value is not kept.
const maxPooledScratch = 64 << 10

// decode decodes payload, which must hold exactly one datum of c.
func (c *compiled) decode(payload []byte, a *fastjson.Arena) (*fastjson.Value, error) {
	r := readerPool.Get().(*reader)
	r.buf, r.pos, r.a, r.depth, r.emptyItems, r.text = payload, 0, a, 0, maxEmptyItems, false
	v, err := r.value(c.root)
	if err == nil && r.pos != len(r.buf) {
		err = fmt.Errorf("%d trailing bytes after the datum", len(r.buf)-r.pos)
	}
	r.buf, r.a = nil, nil
	if cap(r.scratch) <= maxPooledScratch {
		readerPool.Put(r)
	}
	if err != nil {
		return nil, decodeError(c.id, err)
	}
	return v, nil
}

// appendJSON writes the datum in payload, which must hold exactly one datum
// of c, to dst as the JSON text of the value decode would build: the same
// numbers as the same text, the same strings, objects with their keys in
// the same order. It reports false for a payload decode would refuse, and
// for one whose value the text cannot give: a map with a key twice (decode
// keeps the last; the text would hold both).
func (c *compiled) appendJSON(dst, payload []byte) ([]byte, bool) {
	r := readerPool.Get().(*reader)
	r.buf, r.pos, r.a, r.depth, r.emptyItems = payload, 0, nil, 0, maxEmptyItems
	r.text, r.out, r.keys = true, dst, r.keys[:0]
	_, err := r.value(c.root)
	out, ok := r.out, err == nil && r.pos == len(r.buf)
	r.buf, r.out, r.text = nil, nil, false
	clear(r.keys)
	if cap(r.scratch) <= maxPooledScratch {
		readerPool.Put(r)
	}
	return out, ok
}

// errDuplicateKey is a map key met twice in text mode (see appendJSON).
var errDuplicateKey = errors.New("a map key twice")

// The writers of scalar values: JSON text in text mode, an arena value
// otherwise.

func (r *reader) newNull() *fastjson.Value {
	if r.text {
		r.out = append(r.out, "null"...)
		return nil
	}
	return r.a.NewNull()
}

func (r *reader) newBool(b bool) *fastjson.Value {
	switch {
	case r.text:
		r.out = strconv.AppendBool(r.out, b)
		return nil
	case b:
		return r.a.NewTrue()
	}
	return r.a.NewFalse()
}

// newText is a string that needs no escaping in either mode (formatted
// dates and numbers, enum symbols).
func (r *reader) newText(b []byte) *fastjson.Value {
	if r.text {
		r.out = append(append(append(r.out, '"'), b...), '"')
		return nil
	}
	return r.a.NewStringBytes(b)
}

func (r *reader) value(n *node) (*fastjson.Value, error) {
	a := r.a
	switch n.op {
	case opNull:
		return r.newNull(), nil
	case opBool:
		if r.pos >= len(r.buf) {
			return nil, errEOF
		}
		b := r.buf[r.pos]
		r.pos++
		switch b {
		case 0:
			return r.newBool(false), nil
		case 1:
			return r.newBool(true), nil
		}
		return nil, fmt.Errorf("invalid boolean byte 0x%02x", b)
	case opInt:
		v, err := r.int()
		if err != nil {
			return nil, err
		}
		return r.newInt64(int64(v)), nil
	case opLong:
		v, err := r.long()
		if err != nil {
			return nil, err
		}
		return r.newInt64(v), nil
	case opFloat:
		b, err := r.next(4)
		if err != nil {
			return nil, err
		}
		return r.newFloat32(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
	case opDouble:
		b, err := r.next(8)
		if err != nil {
			return nil, err
		}
		return r.newFloat64(math.Float64frombits(binary.LittleEndian.Uint64(b))), nil
	case opString:
		b, err := r.bytes()
		if err != nil {
			return nil, err
		}
		if !utf8.Valid(b) {
			return nil, errUTF8
		}
		return r.newString(b), nil
	case opBytes:
		b, err := r.bytes()
		if err != nil {
			return nil, err
		}
		return r.newBase64(b), nil
	case opFixed:
		b, err := r.next(n.size)
		if err != nil {
			return nil, err
		}
		return r.newBase64(b), nil
	case opEnum:
		i, err := r.int()
		if err != nil {
			return nil, err
		}
		if i < 0 || int(i) >= len(n.symbols) {
			return nil, fmt.Errorf("enum index %d out of range for %d symbols", i, len(n.symbols))
		}
		if r.text {
			return r.newText([]byte(n.symbols[i])), nil
		}
		return a.NewString(n.symbols[i]), nil
	case opRecord:
		if r.depth >= maxDepth {
			return nil, errTooDeep
		}
		r.depth++
		if r.text {
			r.out = append(r.out, '{')
			for i := range n.fields {
				f := &n.fields[i]
				if i > 0 {
					r.out = append(r.out, ',')
				}
				r.out = append(r.out, f.key...)
				if _, err := r.value(f.n); err != nil {
					return nil, atField(err, f.name)
				}
			}
			r.out = append(r.out, '}')
			r.depth--
			return nil, nil
		}
		o := a.NewObject()
		for i := range n.fields {
			f := &n.fields[i]
			v, err := r.value(f.n)
			if err != nil {
				return nil, atField(err, f.name)
			}
			o.Set(f.name, v)
		}
		r.depth--
		return o, nil
	case opUnion:
		i, err := r.long()
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(n.branches)) {
			return nil, fmt.Errorf("union branch %d out of range for %d branches", i, len(n.branches))
		}
		return r.value(n.branches[i])
	case opArray:
		return r.array(n)
	case opMap:
		return r.mapValue(n)
	default:
		return r.logical(n)
	}
}

func (r *reader) array(n *node) (*fastjson.Value, error) {
	if r.depth >= maxDepth {
		return nil, errTooDeep
	}
	r.depth++
	var arr *fastjson.Value
	if r.text {
		r.out = append(r.out, '[')
	} else {
		arr = r.a.NewArray()
	}
	i := 0
	for {
		count, err := r.blockCount()
		if err != nil {
			return nil, err
		}
		if count == 0 {
			break
		}
		if n.elem.minSize == 0 {
			if count > int64(r.emptyItems) {
				return nil, errTooMany
			}
			r.emptyItems -= int(count)
		} else if count > int64((len(r.buf)-r.pos)/n.elem.minSize) {
			return nil, errEOF
		}
		for range count {
			if r.text && i > 0 {
				r.out = append(r.out, ',')
			}
			v, err := r.value(n.elem)
			if err != nil {
				return nil, atIndex(err, i)
			}
			if !r.text {
				arr.SetArrayItem(i, v)
			}
			i++
		}
	}
	r.depth--
	if r.text {
		r.out = append(r.out, ']')
	}
	return arr, nil
}

func (r *reader) mapValue(n *node) (*fastjson.Value, error) {
	if r.depth >= maxDepth {
		return nil, errTooDeep
	}
	r.depth++
	if r.text {
		return nil, r.mapText(n)
	}
	o := r.a.NewObject()
	var large *largeMap
	entries := 0
	for {
		count, err := r.blockCount()
		if err != nil {
			return nil, err
		}
		if count == 0 {
			break
		}
		// Each entry takes at least its key's length byte.
		if count > int64((len(r.buf)-r.pos)/(1+n.elem.minSize)) {
			return nil, errEOF
		}
		for range count {
			k, err := r.bytes()
			if err != nil {
				return nil, err
			}
			if !utf8.Valid(k) {
				return nil, fmt.Errorf("map key %s: %w", quote(k), errUTF8)
			}
			v, err := r.value(n.elem)
			if err != nil {
				return nil, atKey(err, k)
			}
			// The key must outlive data, which the caller may reuse.
			key := string(k)
			switch {
			case large != nil:
				large.set(key, v)
			case entries < linearSetLimit:
				o.Set(key, v)
			default:
				large = newLargeMap(o)
				large.set(key, v)
			}
			entries++
		}
	}
	r.depth--
	if large != nil {
		return large.object(r), nil
	}
	return o, nil
}

// mapText is mapValue in text mode, after the depth check. A key met
// twice ends it with errDuplicateKey (decode keeps the last value, in the
// first one's place).
func (r *reader) mapText(n *node) error {
	start := len(r.keys)
	defer func() { clear(r.keys[start:]); r.keys = r.keys[:start] }()
	var seen map[string]bool // past linearSetLimit keys
	r.out = append(r.out, '{')
	for {
		count, err := r.blockCount()
		if err != nil {
			return err
		}
		if count == 0 {
			break
		}
		if count > int64((len(r.buf)-r.pos)/(1+n.elem.minSize)) {
			return errEOF
		}
		for range count {
			k, err := r.bytes()
			if err != nil {
				return err
			}
			if !utf8.Valid(k) {
				return fmt.Errorf("map key %s: %w", quote(k), errUTF8)
			}
			switch entries := len(r.keys) - start; {
			case seen != nil:
				if seen[string(k)] {
					return errDuplicateKey
				}
				seen[string(k)] = true
			case entries == linearSetLimit:
				seen = make(map[string]bool, 2*linearSetLimit)
				for _, prev := range r.keys[start:] {
					seen[string(prev)] = true
				}
				if seen[string(k)] {
					return errDuplicateKey
				}
				seen[string(k)] = true
			default:
				for _, prev := range r.keys[start:] {
					if string(prev) == string(k) {
						return errDuplicateKey
					}
				}
			}
			if len(r.keys) > start {
				r.out = append(r.out, ',')
			}
			r.keys = append(r.keys, k)
			r.out = append(codec.AppendJSONString(r.out, k), ':')
			if _, err := r.value(n.elem); err != nil {
				return atKey(err, k)
			}
		}
	}
	r.out = append(r.out, '}')
	r.depth--
	return nil
}

// linearSetLimit is the number of map entries up to which the map's object
// is built with Object.Set, whose linear key lookup makes n entries cost
// n²/2 string comparisons; larger maps are built by largeMap in linear
// time. largeMap's own cost (a Go map, a parser, the values it parses)
// makes Set cheaper for objects of up to about 200 entries; the limit is
// lower to bound the cost per input byte of hostile maps. Records are
// always built with Set: their width is the schema's, not the input's.
const linearSetLimit = 64

// largeMap collects the entries of a large map in linear time, the last of
// duplicate keys winning as with Object.Set.
type largeMap struct {
	index map[string]int
	keys  []string
	vals  []*fastjson.Value
}

func newLargeMap(o *fastjson.Value) *largeMap {
	m := &largeMap{index: map[string]int{}}
	o.GetObject().Visit(func(k []byte, v *fastjson.Value) { m.set(string(k), v) })
	return m
}

func (m *largeMap) set(k string, v *fastjson.Value) {
	if i, ok := m.index[k]; ok {
		m.vals[i] = v
		return
	}
	m.index[k] = len(m.keys)
	m.keys = append(m.keys, k)
	m.vals = append(m.vals, v)
}

// object builds the map's JSON object in linear time. fastjson appends
// object entries without a key lookup only while parsing, so the keys are
// parsed from JSON text (into values of a parser of their own: an arena
// cannot parse), each with a placeholder value that is then overwritten
// with the decoded value. The placeholder is a number because parsed null,
// true and false are shared singletons that must not be overwritten.
func (m *largeMap) object(r *reader) *fastjson.Value {
	text := append(r.scratch[:0], '{')
	for i, k := range m.keys {
		if i > 0 {
			text = append(text, ',')
		}
		text = codec.AppendJSONString(text, k)
		text = append(text, ":0"...)
	}
	text = append(text, '}')
	r.scratch = text
	o, err := fastjson.ParseBytes(text)
	if err != nil {
		panic("avro: bug: map keys do not parse: " + err.Error())
	}
	i := 0
	o.GetObject().Visit(func(_ []byte, slot *fastjson.Value) {
		*slot = *m.vals[i]
		i++
	})
	return o
}

// blockCount reads an array or map block header. A negative count is
// followed by the block's size in bytes, which is not needed here.
func (r *reader) blockCount() (int64, error) {
	count, err := r.long()
	if err != nil {
		return 0, err
	}
	if count < 0 {
		if count == math.MinInt64 {
			return 0, errNegCount
		}
		count = -count
		size, err := r.long()
		if err != nil {
			return 0, err
		}
		if size < 0 {
			return 0, errNegLength
		}
	}
	return count, nil
}

// long reads a zigzag varint of up to 64 bits.
func (r *reader) long() (int64, error) {
	var u uint64
	buf := r.buf
	for i, shift := r.pos, uint(0); i < len(buf); i, shift = i+1, shift+7 {
		b := buf[i]
		if shift == 63 && b > 1 {
			return 0, errVarint
		}
		u |= uint64(b&0x7f) << shift
		if b < 0x80 {
			r.pos = i + 1
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errEOF
}

// int reads a zigzag varint that must fit 32 bits.
func (r *reader) int() (int32, error) {
	v, err := r.long()
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, errIntRange
	}
	return int32(v), nil
}

// next returns the next n bytes of the input, which the caller must not
// keep beyond the datum.
func (r *reader) next(n int) ([]byte, error) {
	if n > len(r.buf)-r.pos {
		return nil, errEOF
	}
	b := r.buf[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return b, nil
}

// bytes reads a length-prefixed byte string. The length is checked against
// the remaining input before anything is allocated.
func (r *reader) bytes() ([]byte, error) {
	n, err := r.long()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, errNegLength
	}
	if n > int64(len(r.buf)-r.pos) {
		return nil, errEOF
	}
	return r.next(int(n))
}

func (r *reader) newInt64(v int64) *fastjson.Value {
	if r.text {
		r.out = strconv.AppendInt(r.out, v, 10)
		return nil
	}
	if strconv.IntSize == 64 {
		return r.a.NewNumberInt(int(v))
	}
	return r.a.NewNumberString(strconv.FormatInt(v, 10))
}

func (r *reader) newFloat64(f float64) *fastjson.Value {
	switch {
	case math.IsNaN(f):
		return r.newText([]byte("NaN"))
	case math.IsInf(f, 1):
		return r.newText([]byte("Infinity"))
	case math.IsInf(f, -1):
		return r.newText([]byte("-Infinity"))
	case r.text:
		r.out = codec.AppendFloat64(r.out, f) // as NewNumberFloat64 writes it
		return nil
	}
	return r.a.NewNumberFloat64(f)
}

// newFloat32 writes f's shortest float32 text ("0.1", not the float64
// widening 0.10000000149011612). The arena only formats float64s, so the
// text goes through the float64 nearest to it, whose shortest text it is.
func (r *reader) newFloat32(f float32) *fastjson.Value {
	f64 := float64(f)
	if math.IsNaN(f64) || math.IsInf(f64, 0) {
		return r.newFloat64(f64)
	}
	r.scratch = strconv.AppendFloat(r.scratch[:0], f64, 'g', -1, 32)
	// ParseFloat keeps its argument only in an error, and this text parses.
	f64, _ = strconv.ParseFloat(unsafe.String(unsafe.SliceData(r.scratch), len(r.scratch)), 64)
	return r.newFloat64(f64)
}

func (r *reader) newBase64(b []byte) *fastjson.Value {
	if r.text {
		r.out = append(base64.StdEncoding.AppendEncode(append(r.out, '"'), b), '"')
		return nil
	}
	r.scratch = base64.StdEncoding.AppendEncode(r.scratch[:0], b)
	return r.a.NewStringBytes(r.scratch)
}

// newString returns a JSON string value holding b, which is valid UTF-8
// (see codec.StringValue).
func (r *reader) newString(b []byte) *fastjson.Value {
	if r.text {
		r.out = codec.AppendJSONString(r.out, b)
		return nil
	}
	return codec.StringValue(r.a, b, &r.scratch)
}
