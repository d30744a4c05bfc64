// Package expr is kafka2pg's expression language: CEL (cel.dev) over a
// record — key, value, headers, kafka (topic, partition, offset, timestamp)
// and, for `each`, item and index. Expressions are compiled and
// type-checked once at start; a compile error names the route key and the
// position in the expression. Evaluation reads the decoded record in place
// (no copy into Go maps) and returns values in the canonical decoded form,
// so that computed columns are coerced like fields.
//
// There is no now() and no randomness: a record evaluates to the same rows
// every time it is replayed.
package expr

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// Kafka is the record's place in Kafka, the CEL variable kafka.
type Kafka struct {
	Topic     string    `cel:"topic"`
	Partition int64     `cel:"partition"`
	Offset    int64     `cel:"offset"`
	Timestamp time.Time `cel:"timestamp"`
}

// Kind is what an expression must produce.
type Kind uint8

const (
	// Value is any value (a computed column).
	Value Kind = iota + 1
	// Bool is a filter.
	Bool
	// List is the list of each.
	List
	// String is a table name (table_expr).
	String
)

// Env compiles expressions. It is safe for concurrent use, and so are its
// Programs.
type Env struct {
	cel *cel.Env
}

// NewEnv returns the environment every route's expressions compile in.
func NewEnv() (*Env, error) {
	opts := []cel.EnvOption{
		cel.Variable("key", cel.DynType),
		cel.Variable("value", cel.DynType),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
		ext.NativeTypes(reflect.TypeFor[Kafka](), ext.ParseStructTags(true)),
		cel.Variable("kafka", cel.ObjectType("expr.Kafka")),
		cel.Variable("item", cel.DynType),
		cel.Variable("index", cel.IntType),
		ext.Strings(ext.StringsVersion(4)),
		ext.Encoders(),
		ext.Math(),
		ext.Lists(),
		cel.OptionalTypes(),
	}
	opts = append(opts, functions()...)
	e, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	return &Env{cel: e}, nil
}

// Program is one compiled expression.
type Program struct {
	Source string
	kind   Kind
	prg    cel.Program
	// path is set when the expression only selects a field of a variable
	// (value.a.b, key.id, item.sku): Value then reads the field in place
	// and runs the program only when that does not give the same result
	// it would (a missing field, a non-object, a number CEL would rewrite).
	path *fieldPath
	// fast is set when every part of the expression is something fast
	// nodes do (fast.go): it is tried first, and the program runs when it
	// cannot answer.
	fast fastNode
	// fields are the top-level fields of value the expression reads;
	// fieldsOK is false when it uses value otherwise (see ValueFields).
	fields   []string
	fieldsOK bool
}

// ValueFields returns the top-level fields of value that the expression
// reads, and whether that is all it reads of value: every use of value is
// a field selection (value.a, value.a.b, has(value.a)). The expression
// then gives the same result on an object holding only those fields of the
// record (as the record has them) as on the whole record.
func (p *Program) ValueFields() ([]string, bool) { return p.fields, p.fieldsOK }

// valueFields adds to out the top-level fields of value that e selects and
// reports whether e uses value only that way.
func valueFields(e celast.Expr, out map[string]bool) bool {
	all := func(es ...celast.Expr) bool {
		for _, x := range es {
			if x != nil && !valueFields(x, out) {
				return false
			}
		}
		return true
	}
	switch e.Kind() {
	case celast.LiteralKind:
		return true
	case celast.IdentKind:
		return e.AsIdent() != "value"
	case celast.SelectKind:
		sel := e.AsSelect()
		if op := sel.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == "value" {
			out[sel.FieldName()] = true
			return true
		}
		return valueFields(sel.Operand(), out)
	case celast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() && !valueFields(c.Target(), out) {
			return false
		}
		return all(c.Args()...)
	case celast.ListKind:
		return all(e.AsList().Elements()...)
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			if !all(me.Key(), me.Value()) {
				return false
			}
		}
		return true
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			if !all(f.AsStructField().Value()) {
				return false
			}
		}
		return true
	case celast.ComprehensionKind:
		c := e.AsComprehension()
		return all(c.IterRange(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result())
	}
	return false
}

// fieldPath is a chain of field selections from a variable.
type fieldPath struct {
	root   string   // "value", "key" or "item"
	fields []string // outermost last
}

// plainPath returns the field path of an expression that is nothing but
// field selections (no has(), no optional selection) from value, key or
// item, or nil.
func plainPath(e celast.Expr) *fieldPath {
	var fields []string
	for e.Kind() == celast.SelectKind {
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return nil
		}
		fields = append(fields, sel.FieldName())
		e = sel.Operand()
	}
	if e.Kind() != celast.IdentKind || len(fields) == 0 {
		return nil
	}
	switch root := e.AsIdent(); root {
	case "value", "key", "item":
		return &fieldPath{root: root, fields: fields}
	}
	return nil
}

// CompileError is an expression that does not parse or type-check. Msg
// names the position (line:column in the expression) and shows the
// expression with a caret under it.
type CompileError struct{ Msg string }

func (e *CompileError) Error() string { return e.Msg }

// Compile parses and type-checks src as kind.
func (e *Env) Compile(src string, kind Kind) (*Program, error) {
	ast, iss := e.cel.Compile(src)
	if iss.Err() != nil {
		return nil, &CompileError{Msg: strings.TrimSpace(iss.Err().Error())}
	}
	want := map[Kind]*cel.Type{Bool: cel.BoolType, String: cel.StringType, List: cel.ListType(cel.DynType)}[kind]
	if out := ast.OutputType(); want != nil && !out.IsAssignableType(want) && !out.IsExactType(cel.DynType) {
		return nil, &CompileError{Msg: fmt.Sprintf("must be a %s; this expression is a %s", kindName(kind), out)}
	}
	prg, err := e.cel.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, &CompileError{Msg: err.Error()}
	}
	pr := &Program{Source: src, kind: kind, prg: prg}
	if kind == Value {
		pr.path = plainPath(ast.NativeRep().Expr())
	}
	if pr.path == nil && kind != List {
		pr.fast = compileFast(ast.NativeRep().Expr())
	}
	fields := map[string]bool{}
	if pr.fieldsOK = valueFields(ast.NativeRep().Expr(), fields); pr.fieldsOK {
		pr.fields = slices.Sorted(maps.Keys(fields))
	}
	return pr, nil
}

func kindName(k Kind) string {
	switch k {
	case Bool:
		return "bool"
	case List:
		return "list"
	case String:
		return "string"
	}
	return "value"
}

// EvalError is an expression that failed on one record: a missing field, a
// wrong type, a division by zero. It is a record error.
type EvalError struct {
	Source string
	Err    error
}

func (e *EvalError) Error() string { return fmt.Sprintf("%s: %v", e.Source, e.Err) }
func (e *EvalError) Unwrap() error { return e.Err }

// eval runs the program over vars.
func (p *Program) eval(v *Vars) (ref.Val, error) {
	if v.raw {
		return nil, ErrRaw // no decoded value to run on
	}
	out, _, err := p.prg.Eval(v)
	if err != nil {
		return nil, &EvalError{Source: p.Source, Err: err}
	}
	return out, nil
}

// Bool evaluates a filter.
func (p *Program) Bool(v *Vars) (bool, error) {
	if p.fast != nil {
		if x, ok := p.fast.eval(v); ok && x.kind == fastBool {
			return x.i == 1, nil
		}
	}
	out, err := p.eval(v)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, &EvalError{Source: p.Source, Err: fmt.Errorf("gave a %s, not a bool", out.Type().TypeName())}
	}
	return bool(b), nil
}

// String evaluates a table name.
func (p *Program) String(v *Vars) (string, error) {
	if p.fast != nil {
		if x, ok := p.fast.eval(v); ok && x.kind == fastString {
			return string(x.s), nil
		}
	}
	out, err := p.eval(v)
	if err != nil {
		return "", err
	}
	s, ok := out.(types.String)
	if !ok {
		return "", &EvalError{Source: p.Source, Err: fmt.Errorf("gave a %s, not a string", out.Type().TypeName())}
	}
	return string(s), nil
}

// errNotList is the error of an each expression that is not a list.
var errNotList = errors.New("not a list")
