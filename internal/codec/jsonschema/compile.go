package jsonschema

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"

	jsv "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

// maxReferences bounds the registered schemas one schema may pull in,
// counted transitively, so that a cycle of references or a runaway graph
// ends in a record error instead of endless registry requests.
const maxReferences = 256

// baseURL is where a schema without an absolute "$id" is placed for the
// compiler, which resolves every "$ref" to an absolute URL. The .invalid
// top-level domain (RFC 2606) cannot exist, and nothing is fetched anyway.
const baseURL = "https://schema-registry.invalid/schemas/ids/"

// document is one schema text, the record's own or a registered reference.
type document struct {
	name string          // Reference.Name; "" for the record's own schema
	url  string          // absolute URL its relative "$ref"s resolve against
	raw  *fastjson.Value // for type derivation: keeps property order
	doc  any             // for the compiler
}

// schemaSet is a record's schema with the references it needs.
type schemaSet struct {
	id   int
	root *document
	refs []*document // breadth-first from the root, first name wins
}

// compile fetches schema id with its references and compiles it.
func (d *Decoder) compile(ctx context.Context, id int) (*compiled, error) {
	s, err := d.src.SchemaByID(ctx, id)
	if err != nil {
		return nil, registryError(id, "", err)
	}
	if s.Type != registry.TypeJSON {
		return nil, codec.Errorf("schema id %d is a %s schema, not JSON Schema", id, s.Type)
	}
	set := &schemaSet{id: id}
	if set.root, err = parseDocument(id, "", s.Schema); err != nil {
		return nil, err
	}
	set.root.url = baseURL + fmt.Sprint(id)
	if u := idOf(set.root.raw); isAbsolute(u) {
		set.root.url = u
	}
	if err := d.fetchReferences(ctx, set, s.References); err != nil {
		return nil, err
	}

	c := jsv.NewCompiler()
	// Confluent's default when a schema has no "$schema".
	c.DefaultDraft(jsv.Draft7)
	c.AssertFormat()
	if set.hasModernDraft() {
		// Draft 2019-09 and later only annotate formats. The four
		// formats that choose a column type stay asserted (a record
		// PostgreSQL would reject must fail here, as a record error);
		// the others are not checked, as those drafts say.
		for _, name := range annotatedFormats {
			c.RegisterFormat(&jsv.Format{Name: name, Validate: func(any) error { return nil }})
		}
	}
	c.UseLoader(&referenceLoader{set: set})
	rootURL := baseURL + fmt.Sprint(id)
	if err := c.AddResource(rootURL, set.root.doc); err != nil {
		return nil, compileError(id, err)
	}
	sch, err := c.Compile(rootURL)
	if err != nil {
		return nil, compileError(id, err)
	}
	typ, keys := deriveType(set)
	return &compiled{id: id, schema: sch, typ: typ, keys: keys, fast: newFastNode(sch)}, nil
}

// annotatedFormats are the formats the compiler knows besides date-time,
// date, time and uuid ("regex" cannot be overridden and is always checked).
var annotatedFormats = []string{
	"json-pointer", "relative-json-pointer", "duration", "period", "ipv4", "ipv6",
	"hostname", "email", "uri", "iri", "uri-reference", "iri-reference", "uri-template", "semver",
}

// fetchReferences adds the registered schemas that refs names, and theirs,
// to set.
func (d *Decoder) fetchReferences(ctx context.Context, set *schemaSet, refs []registry.Reference) error {
	type pending struct {
		ref  registry.Reference
		from *document
	}
	var queue []pending
	for _, r := range refs {
		queue = append(queue, pending{r, set.root})
	}
	seenName := map[string]bool{}
	fetched := map[registry.Reference]*document{} // by subject and version
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seenName[p.ref.Name] {
			continue
		}
		seenName[p.ref.Name] = true
		if len(set.refs) == maxReferences {
			return codec.Errorf("schema id %d has more than %d references", set.id, maxReferences)
		}
		key := registry.Reference{Subject: p.ref.Subject, Version: p.ref.Version}
		if prev := fetched[key]; prev != nil {
			// The same schema under another name: serve it under
			// this one too, without asking again.
			alias := *prev
			alias.name, alias.url = p.ref.Name, resolveURL(p.from.url, p.ref.Name)
			set.refs = append(set.refs, &alias)
			continue
		}
		what := fmt.Sprintf("reference %q (subject %s version %d)", p.ref.Name, p.ref.Subject, p.ref.Version)
		s, err := d.src.SchemaByReference(ctx, p.ref)
		if err != nil {
			return registryError(set.id, what, err)
		}
		if s.Type != registry.TypeJSON {
			return codec.Errorf("schema id %d: %s is a %s schema, not JSON Schema", set.id, what, s.Type)
		}
		doc, err := parseDocument(set.id, p.ref.Name, s.Schema)
		if err != nil {
			return err
		}
		doc.url = resolveURL(p.from.url, p.ref.Name)
		set.refs = append(set.refs, doc)
		fetched[key] = doc
		for _, r := range s.References {
			queue = append(queue, pending{r, doc})
		}
	}
	return nil
}

// parseDocument parses a schema text twice: with fastjson, which keeps the
// order of properties for type derivation, and for the compiler, which
// wants encoding/json values with exact numbers.
func parseDocument(id int, name, text string) (*document, error) {
	what := "schema"
	if name != "" {
		what = fmt.Sprintf("reference %q", name)
	}
	var p fastjson.Parser // not reused: raw stays valid as long as it is referenced
	raw, err := p.Parse(text)
	if err == nil {
		err = fastjson.Validate(text)
	}
	if err != nil {
		return nil, codec.Errorf("schema id %d: %s is not valid JSON: %s", id, what, clip(err.Error(), 120))
	}
	doc, err := jsv.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, codec.Errorf("schema id %d: %s is not valid JSON: %s", id, what, clip(err.Error(), 120))
	}
	return &document{name: name, raw: raw, doc: doc}, nil
}

// hasModernDraft reports whether a document of the set declares draft
// 2019-09 or later.
func (s *schemaSet) hasModernDraft() bool {
	modern := func(d *document) bool {
		m := string(d.raw.GetStringBytes("$schema"))
		return strings.Contains(m, "/draft/20") || strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m, "http://"), "https://"), "#") == "json-schema.org/schema"
	}
	if modern(s.root) {
		return true
	}
	for _, d := range s.refs {
		if modern(d) {
			return true
		}
	}
	return false
}

// find returns the document an absolute URL (without fragment) names: the
// record's schema, a reference whose name is that URL or resolves to it
// from its referrer, or else the reference whose relative name is the
// longest suffix of the URL's path (a "$ref" resolved against an "$id" the
// referrer declares for itself).
func (s *schemaSet) find(u string) *document {
	if u == s.root.url || u == baseURL+fmt.Sprint(s.id) {
		return s.root
	}
	for _, d := range s.refs {
		if d.name == u || d.url == u {
			return d
		}
	}
	var best *document
	bestLen := 0
	for _, d := range s.refs {
		if isAbsolute(d.name) {
			continue
		}
		rel := relativeName(d.name)
		if rel != "" && len(rel) > bestLen && strings.HasSuffix(u, "/"+rel) {
			best, bestLen = d, len(rel)
		}
	}
	return best
}

// referenceLoader serves the compiler the registered references and
// nothing else: no file and no network is ever read.
type referenceLoader struct {
	set *schemaSet
}

func (l *referenceLoader) Load(u string) (any, error) {
	if d := l.set.find(u); d != nil {
		return d.doc, nil
	}
	return nil, fmt.Errorf("not a reference registered with schema id %d (remote schemas are never fetched)", l.set.id)
}

// idOf returns a schema's "$id" (draft 6 and later) or "id" (draft 4)
// without its fragment.
func idOf(v *fastjson.Value) string {
	id := v.GetStringBytes("$id")
	if id == nil {
		id = v.GetStringBytes("id")
	}
	s, _, _ := strings.Cut(string(id), "#")
	return s
}

func isAbsolute(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.IsAbs()
}

// resolveURL resolves ref against base; a ref that does not parse is kept
// as written.
func resolveURL(base, ref string) string {
	b, err1 := url.Parse(base)
	r, err2 := url.Parse(ref)
	if err1 != nil || err2 != nil {
		return ref
	}
	u := b.ResolveReference(r)
	u.Fragment = ""
	return u.String()
}

// relativeName cleans a relative reference name for suffix matching:
// "./a/b.json" and "../a/b.json" become "a/b.json".
func relativeName(name string) string {
	name, _, _ = strings.Cut(name, "#")
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}
