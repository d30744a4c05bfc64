package expr

import (
	"bytes"
	"strconv"
	"unicode/utf8"
	"unsafe"

	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// A fast node evaluates a small part of CEL without the interpreter: field
// paths of value, key and item; kafka.topic, partition and offset; int,
// string and bool literals; comparisons, &&, ||, !; +, - and * of ints
// (+ of strings); lowerAscii, upperAscii and trim; int() of an int and
// string() of a string or an int. That is what most filters and computed
// columns are (value.type == 'order', value.email.trim().lowerAscii(),
// value.qty * 2), and the interpreter's cost per node — a CEL value for
// every field read, an interface call for every operator — is most of what
// they cost.
//
// eval's ok is false whenever the answer is not one of those plain cases:
// a missing or null field, a number CEL reads as a double, operands of
// different kinds, an overflow, a string that is not valid UTF-8. The
// program then runs and gives its own answer or error: a fast node never
// gives a result the program would not.
type fastNode interface {
	eval(v *Vars) (fastVal, bool)
}

type fastKind uint8

const (
	fastInt fastKind = iota + 1
	fastString
	fastBool
)

// fastVal is a value of a fast node. s may point into the decoded record
// or Vars' scratch: it is valid until the next record.
type fastVal struct {
	kind fastKind
	i    int64 // fastInt; fastBool: 0 or 1
	s    []byte
}

func fastBoolVal(b bool) fastVal {
	if b {
		return fastVal{kind: fastBool, i: 1}
	}
	return fastVal{kind: fastBool}
}

// compileFast returns the fast node of e, or nil when e is not entirely
// made of what fast nodes do.
func compileFast(e celast.Expr) fastNode {
	switch e.Kind() {
	case celast.LiteralKind:
		switch l := e.AsLiteral().(type) {
		case types.Int:
			return fastConst{fastVal{kind: fastInt, i: int64(l)}}
		case types.String:
			return fastConst{fastVal{kind: fastString, s: []byte(l)}}
		case types.Bool:
			return fastConst{fastBoolVal(bool(l))}
		}
		return nil
	case celast.SelectKind:
		if p := plainPath(e); p != nil {
			return fastPath{p}
		}
		sel := e.AsSelect()
		op := sel.Operand()
		if !sel.IsTestOnly() && op.Kind() == celast.IdentKind && op.AsIdent() == "kafka" {
			switch f := sel.FieldName(); f {
			case "topic", "partition", "offset":
				return fastKafka(f)
			}
		}
		return nil
	case celast.CallKind:
		return compileFastCall(e.AsCall())
	}
	return nil
}

func compileFastCall(c celast.CallExpr) fastNode {
	var args []fastNode
	if c.IsMemberFunction() {
		t := compileFast(c.Target())
		if t == nil {
			return nil
		}
		args = append(args, t)
	}
	for _, a := range c.Args() {
		n := compileFast(a)
		if n == nil {
			return nil
		}
		args = append(args, n)
	}
	name := c.FunctionName()
	switch {
	case len(args) == 1 && c.IsMemberFunction():
		switch name {
		case "lowerAscii", "upperAscii", "trim":
			return fastStringFunc{name: name, arg: args[0]}
		}
	case len(args) == 1:
		switch name {
		case "!_", "int", "string":
			return fastUnary{op: name, arg: args[0]}
		}
	case len(args) == 2 && !c.IsMemberFunction():
		switch name {
		case "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "_+_", "_-_", "_*_":
			return fastBinary{op: name, l: args[0], r: args[1]}
		}
	}
	if (name == "_&&_" || name == "_||_") && len(args) >= 2 && !c.IsMemberFunction() {
		return fastLogic{and: name == "_&&_", args: args}
	}
	return nil
}

type fastConst struct{ v fastVal }

func (n fastConst) eval(*Vars) (fastVal, bool) { return n.v, true }

type fastPath struct{ p *fieldPath }

// eval reads the field as wrap would make a CEL value of it.
func (n fastPath) eval(v *Vars) (fastVal, bool) {
	if v.raw && n.p.root == "value" {
		return rawField(v, n.p.fields)
	}
	jv := n.p.lookup(v)
	if jv == nil {
		return fastVal{}, false
	}
	switch jv.Type() {
	case fastjson.TypeString:
		return fastVal{kind: fastString, s: jv.GetStringBytes()}, true
	case fastjson.TypeNumber:
		if i, err := jv.Int64(); err == nil {
			return fastVal{kind: fastInt, i: i}, true
		}
	case fastjson.TypeTrue:
		return fastBoolVal(true), true
	case fastjson.TypeFalse:
		return fastBoolVal(false), true
	}
	return fastVal{}, false
}

// rawField reads a top-level field from Vars' raw texts as fastPath reads
// it from the decoded value: an int (a number fastjson's Int64 reads), a
// string without escapes (with one: not sure), true or false; anything
// else, or a missing field, is not a plain case.
func rawField(v *Vars, fields []string) (fastVal, bool) {
	if len(fields) != 1 {
		return fastVal{}, false
	}
	for k, name := range v.rawNames {
		if name != fields[0] {
			continue
		}
		raw := v.rawVals[k]
		switch c := raw[0]; {
		case c == '"':
			if codec.PlainStringEnd(raw, 1) != len(raw)-1 {
				return fastVal{}, false
			}
			return fastVal{kind: fastString, s: raw[1 : len(raw)-1]}, true
		case c == 't':
			return fastBoolVal(true), true
		case c == 'f':
			return fastBoolVal(false), true
		case c == '-' || c >= '0' && c <= '9':
			i, ok := jsonInt(raw)
			return fastVal{kind: fastInt, i: i}, ok
		}
		return fastVal{}, false
	}
	return fastVal{}, false
}

// RawOK reports whether the program can run on Vars set by ResetRaw: it
// has fast nodes (it may still answer ErrRaw for a record), and they read
// value only by top-level fields.
func (p *Program) RawOK() bool {
	return p.fast != nil && rawOK(p.fast)
}

func rawOK(n fastNode) bool {
	switch n := n.(type) {
	case fastPath:
		return n.p.root != "value" || len(n.p.fields) == 1
	case fastStringFunc:
		return rawOK(n.arg)
	case fastUnary:
		return rawOK(n.arg)
	case fastBinary:
		return rawOK(n.l) && rawOK(n.r)
	case fastLogic:
		for _, a := range n.args {
			if !rawOK(a) {
				return false
			}
		}
		return true
	}
	return true // constants, kafka.*
}

type fastKafka string

func (n fastKafka) eval(v *Vars) (fastVal, bool) {
	switch n {
	case "topic":
		return fastVal{kind: fastString, s: v.scratchString(v.Kafka.Topic)}, true
	case "partition":
		return fastVal{kind: fastInt, i: v.Kafka.Partition}, true
	}
	return fastVal{kind: fastInt, i: v.Kafka.Offset}, true
}

type fastStringFunc struct {
	name string
	arg  fastNode
}

func (n fastStringFunc) eval(v *Vars) (fastVal, bool) {
	a, ok := n.arg.eval(v)
	// CEL's lowerAscii and upperAscii go through runes, which turns
	// invalid UTF-8 into U+FFFD: such strings are left to the program.
	if !ok || a.kind != fastString || !utf8.Valid(a.s) {
		return fastVal{}, false
	}
	if n.name == "trim" {
		return fastVal{kind: fastString, s: bytes.TrimSpace(a.s)}, true
	}
	start := len(v.scratch)
	for _, c := range a.s {
		switch {
		case n.name == "lowerAscii" && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case n.name == "upperAscii" && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		v.scratch = append(v.scratch, c)
	}
	return fastVal{kind: fastString, s: v.scratch[start:len(v.scratch):len(v.scratch)]}, true
}

type fastUnary struct {
	op  string
	arg fastNode
}

func (n fastUnary) eval(v *Vars) (fastVal, bool) {
	a, ok := n.arg.eval(v)
	if !ok {
		return fastVal{}, false
	}
	switch {
	case n.op == "!_" && a.kind == fastBool:
		return fastBoolVal(a.i == 0), true
	case n.op == "int" && a.kind == fastInt:
		return a, true
	case n.op == "string" && a.kind == fastString:
		return a, true
	case n.op == "string" && a.kind == fastInt:
		start := len(v.scratch)
		v.scratch = strconv.AppendInt(v.scratch, a.i, 10)
		return fastVal{kind: fastString, s: v.scratch[start:len(v.scratch):len(v.scratch)]}, true
	}
	return fastVal{}, false
}

type fastBinary struct {
	op   string
	l, r fastNode
}

func (n fastBinary) eval(v *Vars) (fastVal, bool) {
	l, ok := n.l.eval(v)
	if !ok {
		return fastVal{}, false
	}
	r, ok := n.r.eval(v)
	if !ok || l.kind != r.kind {
		return fastVal{}, false
	}
	var cmp int
	switch l.kind {
	case fastInt:
		switch n.op {
		case "_+_", "_-_", "_*_":
			x, ok := n.ints(l.i, r.i)
			return fastVal{kind: fastInt, i: x}, ok
		}
		cmp = compareInt(l.i, r.i)
	case fastString:
		if n.op == "_+_" {
			start := len(v.scratch)
			v.scratch = append(append(v.scratch, l.s...), r.s...)
			return fastVal{kind: fastString, s: v.scratch[start:len(v.scratch):len(v.scratch)]}, true
		}
		cmp = bytes.Compare(l.s, r.s)
	case fastBool:
		switch n.op {
		case "_==_", "_!=_":
			cmp = compareInt(l.i, r.i)
		default:
			// CEL orders bools too, but nobody needs it fast.
			return fastVal{}, false
		}
	}
	switch n.op {
	case "_==_":
		return fastBoolVal(cmp == 0), true
	case "_!=_":
		return fastBoolVal(cmp != 0), true
	case "_<_":
		return fastBoolVal(cmp < 0), true
	case "_<=_":
		return fastBoolVal(cmp <= 0), true
	case "_>_":
		return fastBoolVal(cmp > 0), true
	case "_>=_":
		return fastBoolVal(cmp >= 0), true
	}
	return fastVal{}, false // arithmetic on bools or - and * on strings
}

// ints is l + r, l - r or l * r; ok is false on an overflow (CEL's error).
func (n fastBinary) ints(l, r int64) (int64, bool) {
	switch n.op {
	case "_+_":
		s := l + r
		return s, (s > l) == (r > 0)
	case "_-_":
		d := l - r
		return d, (d < l) == (r > 0)
	}
	p := l * r
	return p, l == 0 || p/l == r && !(l == -1 && r == -1<<63) && !(r == -1 && l == -1<<63)
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fastLogic is && or || over two or more operands. A decisive operand
// (false for &&, true for ||) decides whatever the others are, as in CEL,
// where it absorbs even an error; any other operand that is not a plain
// bool leaves the answer to the program.
type fastLogic struct {
	and  bool
	args []fastNode
}

func (n fastLogic) eval(v *Vars) (fastVal, bool) {
	unsure := false
	for _, a := range n.args {
		x, ok := a.eval(v)
		switch {
		case !ok || x.kind != fastBool:
			unsure = true
		case (x.i == 1) != n.and:
			return x, true
		}
	}
	if unsure {
		return fastVal{}, false
	}
	return fastBoolVal(n.and), true
}

// scratchString is s in v's scratch space.
func (v *Vars) scratchString(s string) []byte {
	start := len(v.scratch)
	v.scratch = append(v.scratch, s...)
	return v.scratch[start:len(v.scratch):len(v.scratch)]
}

// fastJSON is a fast value as a decoded value built in a. A number's text
// is written in v's scratch space (valid until the next record, like the
// value); a string is copied into a (codec.StringValue keeps control
// characters as they are).
func fastJSON(x fastVal, v *Vars, a *fastjson.Arena) *fastjson.Value {
	switch x.kind {
	case fastInt:
		start := len(v.scratch)
		v.scratch = strconv.AppendInt(v.scratch, x.i, 10)
		t := v.scratch[start:]
		return a.NewNumberString(unsafe.String(unsafe.SliceData(t), len(t)))
	case fastString:
		return codec.StringValue(a, x.s, &v.esc)
	}
	if x.i == 1 {
		return a.NewTrue()
	}
	return a.NewFalse()
}
