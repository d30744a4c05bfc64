package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The walk checks the document's node tree against the Config type before
// anything is decoded, so that every unknown key and every value of the wrong
// type is reported with its path and line, not just the first one yaml.Decode
// trips over. Along the way it expands environment variables, records the
// line of every path, and rewrites accepted scalars into the canonical form
// Decode wants (a quoted "4" for an integer field becomes a plain 4). Values it
// rejects are removed (or, in lists, replaced by a zero value so indexes stay stable),
// so Decode then succeeds and Validate still sees everything else.

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

type valueStatus int

const (
	valueOK   valueStatus = iota
	valueNull             // null, or empty after expansion: the key counts as not set
	valueBad              // a problem was recorded
)

type walker struct {
	lookupEnv func(string) (string, bool)
	problems  []Problem
	lines     map[string]int      // every path in the document → its line
	set       map[string]bool     // paths whose value was accepted and not null
	expanded  map[*yaml.Node]bool // scalars already expanded (aliases share nodes)
	fields    map[reflect.Type]fieldSet
}

type fieldSet struct {
	names []string // in declaration order, for suggestions
	types map[string]reflect.Type
}

func (w *walker) problem(path string, line int, format string, args ...any) {
	w.problems = append(w.problems, Problem{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// walk checks n against t. allowNull says whether null is acceptable (struct
// fields: yes, it means "not set"; list items and map values: no).
func (w *walker) walk(path string, n *yaml.Node, t reflect.Type, allowNull bool) valueStatus {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode {
		if !w.expand(path, n) {
			return valueBad
		}
		if isNull(n) {
			if allowNull {
				return valueNull
			}
			w.problem(path, n.Line, "want %s, got null", want(t))
			return valueBad
		}
	}
	switch t {
	case durationType:
		return w.scalar(path, n, t, func() error { _, err := parseDuration(n.Value); return err })
	case byteSizeType:
		return w.scalar(path, n, t, func() error { _, err := parseByteSize(n.Value); return err })
	}
	switch t.Kind() {
	case reflect.Struct:
		return w.mapping(path, n, t)
	case reflect.Map:
		return w.stringMap(path, n, t)
	case reflect.Slice:
		return w.sequence(path, n, t)
	case reflect.String:
		return w.scalar(path, n, t, func() error {
			setCanonical(n, "!!str", n.Value)
			return nil
		})
	case reflect.Bool:
		return w.scalar(path, n, t, func() error {
			switch n.Value {
			case "true", "True", "TRUE":
				setCanonical(n, "!!bool", "true")
			case "false", "False", "FALSE":
				setCanonical(n, "!!bool", "false")
			default:
				return fmt.Errorf("want true or false, got %q", n.Value)
			}
			return nil
		})
	case reflect.Int:
		return w.scalar(path, n, t, func() error {
			v, err := strconv.Atoi(strings.TrimSpace(n.Value))
			if err != nil {
				return fmt.Errorf("want an integer, got %q", n.Value)
			}
			setCanonical(n, "!!int", strconv.Itoa(v))
			return nil
		})
	}
	panic(fmt.Sprintf("config: walk: no rule for %s", t))
}

// scalar requires n to be a scalar and runs check on it.
func (w *walker) scalar(path string, n *yaml.Node, t reflect.Type, check func() error) valueStatus {
	if n.Kind != yaml.ScalarNode {
		w.problem(path, n.Line, "want %s, got %s", want(t), describe(n))
		return valueBad
	}
	if err := check(); err != nil {
		w.problem(path, n.Line, "%s", err)
		return valueBad
	}
	return valueOK
}

// setCanonical makes Decode read n as the given tag whatever its quoting.
func setCanonical(n *yaml.Node, tag, value string) {
	n.Tag, n.Value = tag, value
	n.Style &^= yaml.SingleQuotedStyle | yaml.DoubleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
}

func (w *walker) mapping(path string, n *yaml.Node, t reflect.Type) valueStatus {
	return w.mappingSkip(path, n, t, nil)
}

// mappingSkip checks the keys of a mapping against the fields of struct type
// t. Keys in skip were given explicitly by a mapping that merges this one
// (<<: *anchor); they win and are not checked here.
func (w *walker) mappingSkip(path string, n *yaml.Node, t reflect.Type, skip map[string]bool) valueStatus {
	if n.Kind != yaml.MappingNode {
		w.problem(path, n.Line, "want a mapping, got %s", describe(n))
		return valueBad
	}
	fs := w.fieldsOf(t)
	seen := map[string]int{}
	var merges []*yaml.Node
	kept := make([]*yaml.Node, 0, len(n.Content))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			merges = append(merges, v)
			kept = append(kept, k, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.problem(path, k.Line, "a key must be a plain string, got %s", describe(k))
			continue
		}
		p := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.problem(p, k.Line, "duplicate key; first given at line %d", first)
			continue
		}
		seen[k.Value] = k.Line
		if skip[k.Value] {
			kept = append(kept, k, v)
			continue
		}
		ft, ok := fs.types[k.Value]
		if !ok {
			w.problem(p, k.Line, "%s", unknownKey(k.Value, fs.names))
			continue
		}
		w.lines[p] = k.Line
		switch w.walk(p, v, ft, true) {
		case valueOK:
			w.set[p] = true
			kept = append(kept, k, v)
		case valueNull:
			// Left out so that Decode keeps the default.
		case valueBad:
		}
	}
	n.Content = kept
	if len(merges) > 0 {
		explicit := map[string]bool{}
		for k := range seen {
			explicit[k] = true
		}
		for k := range skip {
			explicit[k] = true
		}
		for _, m := range merges {
			w.merge(path, m, t, explicit)
		}
	}
	return valueOK
}

// merge checks the value of a merge key (<<): a mapping, an alias of one, or a
// list of those.
func (w *walker) merge(path string, m *yaml.Node, t reflect.Type, explicit map[string]bool) {
	if m.Kind == yaml.AliasNode && m.Alias != nil {
		m = m.Alias
	}
	switch m.Kind {
	case yaml.MappingNode:
		w.mappingSkip(path, m, t, explicit)
	case yaml.SequenceNode:
		for _, item := range m.Content {
			if item.Kind == yaml.AliasNode && item.Alias != nil {
				item = item.Alias
			}
			if item.Kind != yaml.MappingNode {
				w.problem(path, item.Line, "<< must merge a mapping or a list of mappings, got %s", describe(item))
				continue
			}
			w.mappingSkip(path, item, t, explicit)
		}
	default:
		w.problem(path, m.Line, "<< must merge a mapping or a list of mappings, got %s", describe(m))
	}
}

func (w *walker) stringMap(path string, n *yaml.Node, t reflect.Type) valueStatus {
	if n.Kind != yaml.MappingNode {
		w.problem(path, n.Line, "want a mapping, got %s", describe(n))
		return valueBad
	}
	seen := map[string]int{}
	kept := make([]*yaml.Node, 0, len(n.Content))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isMerge(k) {
			w.problem(path, k.Line, "a key must be a plain string, got %s", describe(k))
			continue
		}
		p := joinPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.problem(p, k.Line, "duplicate key; first given at line %d", first)
			continue
		}
		seen[k.Value] = k.Line
		w.lines[p] = k.Line
		setCanonical(k, "!!str", k.Value)
		if w.walk(p, v, t.Elem(), false) == valueOK {
			w.set[p] = true
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
	return valueOK
}

func (w *walker) sequence(path string, n *yaml.Node, t reflect.Type) valueStatus {
	if n.Kind != yaml.SequenceNode {
		w.problem(path, n.Line, "want a list, got %s", describe(n))
		return valueBad
	}
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		w.lines[p] = item.Line
		if w.walk(p, item, t.Elem(), false) == valueOK {
			w.set[p] = true
			continue
		}
		// Keep the index of every later item (Decode skips null items):
		// a rejected item decodes as its zero value, and its problem
		// covers the semantic ones.
		n.Content[i] = zeroNode(t.Elem(), item.Line)
	}
	return valueOK
}

// zeroNode returns a node that decodes into the zero value of t.
func zeroNode(t reflect.Type, line int) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Line: line}
	switch {
	case t == durationType || t == byteSizeType:
		n.Tag, n.Value = "!!str", "0"
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		n.Kind, n.Tag = yaml.MappingNode, "!!map"
	case t.Kind() == reflect.Slice:
		n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
	case t.Kind() == reflect.Bool:
		n.Tag, n.Value = "!!bool", "false"
	case t.Kind() == reflect.Int:
		n.Tag, n.Value = "!!int", "0"
	default:
		n.Tag = "!!str"
	}
	return n
}

// expand replaces environment variable references in scalar n, once per
// node. A plain (unquoted) scalar that changed is typed again from its new
// text, so `max_conns: ${N}` is an integer and an empty expansion is null.
func (w *walker) expand(path string, n *yaml.Node) bool {
	if w.expanded[n] {
		return true
	}
	w.expanded[n] = true
	if !strings.Contains(n.Value, "$") {
		return true
	}
	v, errs := expandEnv(n.Value, w.lookupEnv)
	for _, e := range errs {
		w.problem(path, n.Line, "%s", e)
	}
	if len(errs) > 0 {
		return false
	}
	if v != n.Value {
		n.Value = v
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = ""
		}
	}
	return true
}

func (w *walker) fieldsOf(t reflect.Type) fieldSet {
	if w.fields == nil {
		w.fields = map[reflect.Type]fieldSet{}
	}
	if fs, ok := w.fields[t]; ok {
		return fs
	}
	fs := fieldSet{types: map[string]reflect.Type{}}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		fs.names = append(fs.names, name)
		fs.types[name] = f.Type
	}
	w.fields[t] = fs
	return fs
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMerge(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && (n.Tag == "" || n.Tag == "!" || n.ShortTag() == "!!merge")
}

// describe names what a node holds for "got ..." messages.
func describe(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// want names what a value of type t looks like for "want ..." messages.
func want(t reflect.Type) string {
	switch t {
	case durationType:
		return "a duration such as 100ms, 30s or 2m"
	case byteSizeType:
		return "a byte size such as 1024, 512KiB, 16MiB or 64MB"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	}
	return t.String()
}

// unknownKey builds the message for key, which is not one of names: a
// suggestion when one name is a small edit away, else the list of keys.
func unknownKey(key string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(key), n); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best != "" && bestDist < len(key) {
		return "unknown key; did you mean " + best + "?"
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return "unknown key; want one of " + strings.Join(sorted, ", ")
}

// editDistance is the Levenshtein distance between a and b, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
