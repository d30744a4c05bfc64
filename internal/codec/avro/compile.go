package avro

import (
	"fmt"
	"math"

	hamba "github.com/hamba/avro/v2"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// op is what the binary reader does for a node.
type op uint8

const (
	opNull op = iota
	opBool
	opInt
	opLong
	opFloat
	opDouble
	opString
	opBytes
	opFixed
	opEnum
	opArray
	opMap
	opRecord
	opUnion
	opDecimalBytes
	opDecimalFixed
	opDate
	opTimeMillis
	opTimeMicros
	opTimestampMillis
	opTimestampMicros
	opTimestampNanos
	opLocalTimestampMillis
	opLocalTimestampMicros
	opLocalTimestampNanos
	opUUIDString
	opUUIDFixed
	opDuration
)

// maxDecimalBytes bounds the unscaled value of a decimal (after dropping
// redundant sign bytes) whatever its declared precision: 1024 bytes hold
// about 2466 digits, more than PostgreSQL's numeric(p,s) allows (p ≤ 1000).
const maxDecimalBytes = 1024

// node is a compiled Avro schema node. The graph may be cyclic (recursive
// records); it is immutable after compile and shared by all goroutines.
type node struct {
	op        op
	size      int // opFixed, opDecimalFixed, opUUIDFixed, opDuration: bytes
	precision int // opDecimal*
	scale     int // opDecimal*
	maxBytes  int // opDecimal*: longest unscaled value the precision allows
	symbols   []string
	elem      *node   // opArray, opMap
	fields    []field // opRecord
	branches  []*node // opUnion
	// minSize is a lower bound of the encoded size in bytes; an array block
	// of count elements needs count*minSize bytes, which bounds count by the
	// remaining input before anything is allocated.
	minSize int
	sized   bool // minSize is computed
}

type field struct {
	name string
	key  []byte // the name as a JSON object key, with its colon (appendJSON)
	n    *node
}

// compile turns a parsed schema into the reader's node graph and the
// format-independent *codec.Type.
func compile(s hamba.Schema) (*node, *codec.Type, error) {
	c := compiler{named: map[string]*node{}}
	root := c.node(s)
	if c.err != nil {
		return nil, nil, c.err
	}
	for _, n := range c.all {
		sizeOf(n, map[*node]bool{})
	}
	t := typer{done: map[string]*codec.Type{}, open: map[string]bool{}}
	return root, t.typeOf(s), nil
}

type compiler struct {
	named map[string]*node // full name → node, for references and recursion
	all   []*node
	err   error
}

func (c *compiler) newNode(n *node) *node {
	c.all = append(c.all, n)
	return n
}

func (c *compiler) node(s hamba.Schema) *node {
	switch s := s.(type) {
	case *hamba.RefSchema:
		return c.node(s.Schema())
	case *hamba.NullSchema:
		return c.newNode(&node{op: opNull})
	case *hamba.RecordSchema:
		if n, ok := c.named[s.FullName()]; ok {
			return n
		}
		n := c.newNode(&node{op: opRecord})
		c.named[s.FullName()] = n // before the fields: they may refer to it
		n.fields = make([]field, len(s.Fields()))
		for i, f := range s.Fields() {
			n.fields[i] = field{name: f.Name(), key: append(codec.AppendJSONString(nil, f.Name()), ':'), n: c.node(f.Type())}
		}
		return n
	case *hamba.EnumSchema:
		if n, ok := c.named[s.FullName()]; ok {
			return n
		}
		n := c.newNode(&node{op: opEnum, symbols: s.Symbols()})
		c.named[s.FullName()] = n
		return n
	case *hamba.FixedSchema:
		if n, ok := c.named[s.FullName()]; ok {
			return n
		}
		n := c.newNode(&node{op: opFixed, size: s.Size()})
		switch l := s.Logical().(type) {
		case *hamba.DecimalLogicalSchema:
			setDecimal(n, opDecimalFixed, l)
		case *hamba.PrimitiveLogicalSchema:
			if l.Type() == hamba.Duration {
				n.op = opDuration
			}
		case nil:
			// hamba does not know uuid on fixed (Avro 1.12); it stays a property.
			if lt, _ := s.Prop("logicalType").(string); lt == string(hamba.UUID) && s.Size() == 16 {
				n.op = opUUIDFixed
			}
		}
		c.named[s.FullName()] = n
		return n
	case *hamba.ArraySchema:
		n := c.newNode(&node{op: opArray})
		n.elem = c.node(s.Items())
		return n
	case *hamba.MapSchema:
		n := c.newNode(&node{op: opMap})
		n.elem = c.node(s.Values())
		return n
	case *hamba.UnionSchema:
		n := c.newNode(&node{op: opUnion})
		for _, b := range s.Types() {
			n.branches = append(n.branches, c.node(b))
		}
		return n
	case *hamba.PrimitiveSchema:
		return c.newNode(primitive(s))
	}
	// hamba has no other schema types today.
	c.err = fmt.Errorf("unsupported schema type %q", s.Type())
	return &node{op: opNull}
}

func primitive(s *hamba.PrimitiveSchema) *node {
	n := &node{}
	switch s.Type() {
	case hamba.Boolean:
		n.op = opBool
	case hamba.Int:
		n.op = opInt
	case hamba.Long:
		n.op = opLong
	case hamba.Float:
		n.op = opFloat
	case hamba.Double:
		n.op = opDouble
	case hamba.String:
		n.op = opString
	case hamba.Bytes:
		n.op = opBytes
	default:
		n.op = opNull
	}
	switch l := s.Logical().(type) {
	case *hamba.DecimalLogicalSchema:
		setDecimal(n, opDecimalBytes, l)
	case *hamba.PrimitiveLogicalSchema:
		// hamba only returns a logical schema for a matching primitive.
		switch l.Type() {
		case hamba.UUID:
			n.op = opUUIDString
		case hamba.Date:
			n.op = opDate
		case hamba.TimeMillis:
			n.op = opTimeMillis
		case hamba.TimeMicros:
			n.op = opTimeMicros
		case hamba.TimestampMillis:
			n.op = opTimestampMillis
		case hamba.TimestampMicros:
			n.op = opTimestampMicros
		case hamba.LocalTimestampMillis:
			n.op = opLocalTimestampMillis
		case hamba.LocalTimestampMicros:
			n.op = opLocalTimestampMicros
		}
	case nil:
		// Avro 1.12's nanosecond timestamps, unknown to hamba v2.31.
		if s.Type() == hamba.Long {
			switch s.Prop("logicalType") {
			case "timestamp-nanos":
				n.op = opTimestampNanos
			case "local-timestamp-nanos":
				n.op = opLocalTimestampNanos
			}
		}
	}
	return n
}

func setDecimal(n *node, o op, l *hamba.DecimalLogicalSchema) {
	n.op = o
	n.precision = l.Precision()
	n.scale = l.Scale()
	// Two's complement of a p-digit number: p·log2(10) bits plus a sign bit.
	n.maxBytes = min(int(float64(n.precision)*math.Log2(10)/8)+2, maxDecimalBytes)
}

// sizeOf computes n.minSize. A record on the current path counts 0, a safe
// lower bound for recursive types.
func sizeOf(n *node, open map[*node]bool) int {
	if n.sized || open[n] {
		return n.minSize
	}
	s := 0
	switch n.op {
	case opNull:
	case opFloat:
		s = 4
	case opDouble:
		s = 8
	case opFixed, opDecimalFixed, opUUIDFixed, opDuration:
		s = n.size
	case opRecord:
		open[n] = true
		for _, f := range n.fields {
			s += sizeOf(f.n, open)
		}
		delete(open, n)
	case opArray, opMap:
		sizeOf(n.elem, open)
		s = 1 // the terminating zero count
	case opUnion:
		for _, b := range n.branches {
			sizeOf(b, open)
		}
		s = 1 // the branch index; the branch may be null
	default:
		s = 1 // boolean byte, varints, lengths
	}
	n.minSize, n.sized = s, true
	return s
}

// typer derives *codec.Type from the schema.
type typer struct {
	done map[string]*codec.Type // named types already derived, shared
	open map[string]bool        // records being derived: recursion
}

func (t *typer) typeOf(s hamba.Schema) *codec.Type {
	switch s := s.(type) {
	case *hamba.RefSchema:
		return t.typeOf(s.Schema())
	case *hamba.NullSchema:
		// Only ever null; free-form JSON is the closest honest kind.
		return &codec.Type{Kind: codec.KindJSON}
	case *hamba.RecordSchema:
		name := s.FullName()
		if ty, ok := t.done[name]; ok {
			return ty
		}
		if t.open[name] {
			// A recursive record: the nested value is decoded in full, but a
			// Type tree must be finite, so below this point it is free-form.
			return &codec.Type{Kind: codec.KindJSON, Name: name}
		}
		t.open[name] = true
		ty := &codec.Type{Kind: codec.KindRecord, Name: name, Fields: make([]codec.Field, len(s.Fields()))}
		for i, f := range s.Fields() {
			ft, optional := t.unionOrType(f.Type())
			ty.Fields[i] = codec.Field{Name: f.Name(), Type: ft, Optional: optional, HasDefault: f.HasDefault()}
		}
		delete(t.open, name)
		t.done[name] = ty
		return ty
	case *hamba.EnumSchema:
		return t.named(s.FullName(), codec.KindString)
	case *hamba.FixedSchema:
		switch l := s.Logical().(type) {
		case *hamba.DecimalLogicalSchema:
			return &codec.Type{Kind: codec.KindDecimal, Name: s.FullName(), Precision: l.Precision(), Scale: l.Scale()}
		case *hamba.PrimitiveLogicalSchema:
			if l.Type() == hamba.Duration {
				return &codec.Type{Kind: codec.KindJSON, Name: s.FullName()}
			}
		case nil:
			if lt, _ := s.Prop("logicalType").(string); lt == string(hamba.UUID) && s.Size() == 16 {
				return &codec.Type{Kind: codec.KindUUID, Name: s.FullName()}
			}
		}
		return t.named(s.FullName(), codec.KindBytes)
	case *hamba.ArraySchema:
		elem, _ := t.unionOrType(s.Items())
		return &codec.Type{Kind: codec.KindArray, Elem: elem}
	case *hamba.MapSchema:
		elem, _ := t.unionOrType(s.Values())
		return &codec.Type{Kind: codec.KindMap, Elem: elem}
	case *hamba.UnionSchema:
		ty, _ := t.unionOrType(s)
		return ty
	case *hamba.PrimitiveSchema:
		return primitiveType(primitive(s))
	}
	return &codec.Type{Kind: codec.KindJSON} // compile has failed already
}

func (t *typer) named(name string, k codec.Kind) *codec.Type {
	if ty, ok := t.done[name]; ok {
		return ty
	}
	ty := &codec.Type{Kind: k, Name: name}
	t.done[name] = ty
	return ty
}

// unionOrType returns the type of s and whether it admits null. A union of
// null and one other type is that type, nullable; a union of several
// non-null types is free-form JSON.
func (t *typer) unionOrType(s hamba.Schema) (*codec.Type, bool) {
	u, ok := s.(*hamba.UnionSchema)
	if !ok {
		return t.typeOf(s), false
	}
	var nonNull []hamba.Schema
	nullable := false
	for _, b := range u.Types() {
		if b.Type() == hamba.Null {
			nullable = true
		} else {
			nonNull = append(nonNull, b)
		}
	}
	if len(nonNull) == 1 {
		return t.typeOf(nonNull[0]), nullable
	}
	return &codec.Type{Kind: codec.KindJSON}, nullable
}

// primitiveType maps a compiled primitive node (with its logical type) to
// its Kind.
func primitiveType(n *node) *codec.Type {
	k := codec.KindJSON
	switch n.op {
	case opBool:
		k = codec.KindBool
	case opInt:
		k = codec.KindInt32
	case opLong:
		k = codec.KindInt64
	case opFloat:
		k = codec.KindFloat32
	case opDouble:
		k = codec.KindFloat64
	case opString:
		k = codec.KindString
	case opBytes:
		k = codec.KindBytes
	case opDecimalBytes:
		return &codec.Type{Kind: codec.KindDecimal, Precision: n.precision, Scale: n.scale}
	case opDate:
		k = codec.KindDate
	case opTimeMillis, opTimeMicros:
		k = codec.KindTime
	case opTimestampMillis, opTimestampMicros, opTimestampNanos:
		k = codec.KindTimestamp
	case opLocalTimestampMillis, opLocalTimestampMicros, opLocalTimestampNanos:
		k = codec.KindLocalTimestamp
	case opUUIDString:
		k = codec.KindUUID
	}
	return &codec.Type{Kind: k}
}
