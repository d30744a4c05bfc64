package expr

import (
	"bytes"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// FieldOp is a computed column's expression when it is one plain step from
// one top-level field of value: the field itself (value.a), int() of it,
// lowerAscii(), upperAscii() or trim() of it, or it plus, minus or times an
// int literal. Text then gives the column's value from the field's JSON
// text, without Vars, values or the interpreter: what the direct path
// needs (package transform).
type FieldOp struct {
	Field string
	op    string // "value", "int", "lowerAscii", "upperAscii", "trim", "_+_", "_-_", "_*_"
	k     int64
}

// FieldOp returns the expression as a FieldOp, when it is one.
func (p *Program) FieldOp() (FieldOp, bool) {
	if p.kind != Value {
		return FieldOp{}, false
	}
	top := func(n fastNode) (string, bool) {
		fp, ok := n.(fastPath)
		if !ok || fp.p.root != "value" || len(fp.p.fields) != 1 {
			return "", false
		}
		return fp.p.fields[0], true
	}
	if p.path != nil && p.path.root == "value" && len(p.path.fields) == 1 {
		return FieldOp{Field: p.path.fields[0], op: "value"}, true
	}
	switch n := p.fast.(type) {
	case fastUnary:
		if f, ok := top(n.arg); ok && n.op == "int" {
			return FieldOp{Field: f, op: "int"}, true
		}
	case fastStringFunc:
		if f, ok := top(n.arg); ok {
			return FieldOp{Field: f, op: n.name}, true
		}
	case fastBinary:
		switch n.op {
		case "_+_", "_-_", "_*_":
		default:
			return FieldOp{}, false
		}
		if f, ok := top(n.l); ok {
			if c, ok := n.r.(fastConst); ok && c.v.kind == fastInt {
				return FieldOp{Field: f, op: n.op, k: c.v.i}, true
			}
		}
		if f, ok := top(n.r); ok && n.op != "_-_" { // + and * commute, also on overflow
			if c, ok := n.l.(fastConst); ok && c.v.kind == fastInt {
				return FieldOp{Field: f, op: n.op, k: c.v.i}, true
			}
		}
	}
	return FieldOp{}, false
}

// Text appends the JSON text of the value Program.Value gives when the
// field's JSON text is raw (a complete, valid JSON value), and reports
// true; it reports false whenever it is not sure (the field is null, a
// string with an escape, a number CEL reads as a double, an overflow), and
// the program decides.
func (o FieldOp) Text(dst, raw []byte) ([]byte, bool) {
	if len(raw) == 0 {
		return dst, false
	}
	switch o.op {
	case "value":
		// As fieldPath.read: anything but null, a number only when CEL
		// keeps its text (an int64 written as AppendInt writes it).
		switch c := raw[0]; {
		case c == 'n':
			return dst, false
		case c == '-' || c >= '0' && c <= '9':
			if i, ok := jsonInt(raw); !ok || string(strconv.AppendInt(dst[len(dst):], i, 10)) != string(raw) {
				return dst, false
			}
		}
		return append(dst, raw...), true
	case "lowerAscii", "upperAscii", "trim":
		if raw[0] != '"' || codec.PlainStringEnd(raw, 1) != len(raw)-1 {
			return dst, false
		}
		s := raw[1 : len(raw)-1]
		if !utf8.Valid(s) { // as fastStringFunc: invalid UTF-8 is the program's
			return dst, false
		}
		dst = append(dst, '"')
		if o.op == "trim" {
			dst = append(dst, bytes.TrimSpace(s)...)
		} else {
			for _, c := range s {
				switch {
				case o.op == "lowerAscii" && 'A' <= c && c <= 'Z':
					c += 'a' - 'A'
				case o.op == "upperAscii" && 'a' <= c && c <= 'z':
					c -= 'a' - 'A'
				}
				dst = append(dst, c)
			}
		}
		return append(dst, '"'), true
	}
	i, ok := jsonInt(raw)
	if !ok {
		return dst, false
	}
	switch o.op {
	case "int":
	case "_+_", "_-_", "_*_":
		r, ok := fastBinary{op: o.op}.ints(i, o.k)
		if !ok {
			return dst, false
		}
		i = r
	default:
		return dst, false
	}
	return strconv.AppendInt(dst, i, 10), true
}

// jsonInt reads raw as fastPath reads a number into an int (fastjson's
// Int64): an integer without fraction or exponent, within int64.
func jsonInt(raw []byte) (int64, bool) {
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, false
	}
	i, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(raw), len(raw)), 10, 64)
	return i, err == nil
}
