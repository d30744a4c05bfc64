package avro

import (
	"context"
	"errors"
	"fmt"

	hamba "github.com/hamba/avro/v2"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

// maxRefDepth bounds how deep schema references may nest (a reference of a
// reference of ...). Real schemas nest a few levels; the bound turns a
// misconfigured registry into an error instead of unbounded requests.
const maxRefDepth = 16

// Decoder decodes Avro records in the Confluent wire format. It is safe for
// concurrent use: compiled schemas are cached per schema id for the life of
// the Decoder, and concurrent first uses of an id share one registry lookup.
type Decoder struct {
	src     registry.Source
	schemas codec.Cache[*compiled]
}

// compiled is one schema id, ready to decode. Immutable once stored.
type compiled struct {
	id   int
	root *node
	typ  *codec.Type
}

var _ codec.Decoder = (*Decoder)(nil)

// New returns a Decoder that fetches writer schemas from src.
func New(src registry.Source) *Decoder {
	return &Decoder{src: src}
}

// Decode decodes one Confluent-framed Avro datum into a canonical value built
// in a (see package codec), and returns the *codec.Type of the writer schema:
// the same pointer for every record of a schema id.
//
// The first record of a schema id fetches the schema and its references with
// ctx; concurrent first records of that id wait for the same fetch, and if
// the fetching caller's ctx is canceled the others retry with their own.
// Failures are not cached: the next record of the id asks again.
//
// Errors: a *codec.DecodeError for bytes that are not a valid datum of the
// schema (bad framing, unknown schema id, a schema that is not Avro,
// truncated or trailing bytes, invalid UTF-8, out-of-range values); any
// other registry error is returned wrapped, so errors.As finds
// *registry.UnavailableError (transient) or *registry.RequestError.
func (d *Decoder) Decode(ctx context.Context, data []byte, a *fastjson.Arena) (*fastjson.Value, *codec.Type, error) {
	id, payload, err := codec.ParseWire(data)
	if err != nil {
		return nil, nil, err
	}
	c, err := d.schema(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	v, err := c.decode(payload, a)
	if err != nil {
		return nil, nil, err
	}
	return v, c.typ, nil
}

var _ codec.JSONWriter = (*Decoder)(nil)

// AppendJSON writes to dst the JSON text of the value Decode would return
// for data, and reports whether it could: not for a record Decode would
// refuse, a schema id no Decode has loaded yet (it never asks the
// registry), or a map with a key twice (Decode keeps the last value).
func (d *Decoder) AppendJSON(dst, data []byte) ([]byte, bool) {
	id, payload, err := codec.ParseWire(data)
	if err != nil {
		return dst, false
	}
	c, ok := d.schemas.Load(id)
	if !ok {
		return dst, false
	}
	return c.appendJSON(dst, payload)
}

// schema returns the compiled schema for id, loading it on first use.
func (d *Decoder) schema(ctx context.Context, id int) (*compiled, error) {
	if c, ok := d.schemas.Load(id); ok {
		return c, nil
	}
	return d.schemas.Get(ctx, id, d.load)
}

// load fetches the schema id and its references and compiles it.
func (d *Decoder) load(ctx context.Context, id int) (*compiled, error) {
	s, err := d.src.SchemaByID(ctx, id)
	if err != nil {
		return nil, registryError(id, "", err)
	}
	if s.Type != registry.TypeAvro && s.Type != "" {
		return nil, codec.Errorf("schema id %d is a %s schema, not Avro", id, s.Type)
	}
	// A fresh cache per id: named types of one schema never leak into
	// another, and hamba's global DefaultSchemaCache is not touched.
	r := refResolver{ctx: ctx, src: d.src, id: id, cache: &hamba.SchemaCache{}, state: map[refKey]bool{}}
	for _, ref := range s.References {
		if err := r.resolve(ref, 1); err != nil {
			return nil, err
		}
	}
	sch, err := hamba.ParseWithCache(s.Schema, "", r.cache)
	if err != nil {
		return nil, codec.Errorf("schema id %d: invalid Avro schema: %v", id, err)
	}
	root, typ, err := compile(sch)
	if err != nil {
		return nil, codec.Errorf("schema id %d: %v", id, err)
	}
	return &compiled{id: id, root: root, typ: typ}, nil
}

// registryError classifies a registry failure for schema id: a schema the
// registry does not have is a record error (retrying will not help), any
// other failure is wrapped for the caller to classify.
func registryError(id int, ref string, err error) error {
	var nf *registry.NotFoundError
	if errors.As(err, &nf) {
		return codec.Errorf("unknown schema id %d: %s%v", id, ref, err)
	}
	return fmt.Errorf("avro: fetching schema id %d: %s%w", id, ref, err)
}

type refKey struct {
	subject string
	version int
}

// refResolver parses referenced schemas into one cache, each after its own
// references, so that the referring schema can name their types.
type refResolver struct {
	ctx   context.Context
	src   registry.Source
	id    int
	cache *hamba.SchemaCache
	state map[refKey]bool // false: being resolved, true: parsed
}

func (r *refResolver) resolve(ref registry.Reference, depth int) error {
	what := fmt.Sprintf("reference %s (subject %s version %d): ", ref.Name, ref.Subject, ref.Version)
	if depth > maxRefDepth {
		return codec.Errorf("schema id %d: %sreferences nest deeper than %d", r.id, what, maxRefDepth)
	}
	key := refKey{ref.Subject, ref.Version}
	if done, seen := r.state[key]; seen {
		if done {
			return nil
		}
		return codec.Errorf("schema id %d: %sreference cycle", r.id, what)
	}
	r.state[key] = false
	s, err := r.src.SchemaByReference(r.ctx, ref)
	if err != nil {
		return registryError(r.id, what, err)
	}
	if s.Type != registry.TypeAvro && s.Type != "" {
		return codec.Errorf("schema id %d: %sis a %s schema, not Avro", r.id, what, s.Type)
	}
	for _, sub := range s.References {
		if err := r.resolve(sub, depth+1); err != nil {
			return err
		}
	}
	if _, err := hamba.ParseWithCache(s.Schema, "", r.cache); err != nil {
		return codec.Errorf("schema id %d: %sinvalid Avro schema: %v", r.id, what, err)
	}
	r.state[key] = true
	return nil
}
