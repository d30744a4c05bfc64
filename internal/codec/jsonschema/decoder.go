package jsonschema

import (
	"context"

	jsv "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

// Decoder decodes records in the Confluent JSON Schema wire format. It
// implements codec.Decoder and is safe for concurrent use.
type Decoder struct {
	src     registry.Source
	schemas codec.Cache[*compiled]
}

// New returns a Decoder that fetches schemas from src.
func New(src registry.Source) *Decoder {
	return &Decoder{src: src}
}

// compiled is everything derived from one schema id, built once and shared
// by all goroutines; it is never modified after compile returns it.
type compiled struct {
	id     int
	schema *jsv.Schema
	typ    *codec.Type
	keys   map[string]string // property names in the schema, shared by decoded objects
	fast   *fastNode         // schema as the fast check reads it
}

var _ codec.ParsedDecoder = (*Decoder)(nil)

// Decode decodes one record: the wire header, the schema it names (fetched
// and compiled on first use), then the JSON payload, which is validated
// against the schema. The result is the payload's JSON value, numbers kept
// exactly as their text, and the schema's *codec.Type (the same pointer for
// every record of a schema id).
//
// The value is built in a and is valid until a is reset.
//
// The first Decode of a schema id asks the registry, with ctx, for the
// schema and its references; concurrent Decodes of the same new id wait for
// that one request and share its outcome, including an error caused by the
// first caller's ctx ending. A failure is not cached: the next record of the
// id asks again.
//
// Errors follow codec.Decoder: *codec.DecodeError for a record that does not
// decode or validate, for a schema id the registry does not know and for a
// schema that is not a usable JSON Schema; registry errors otherwise,
// wrapped.
func (d *Decoder) Decode(ctx context.Context, data []byte, a *fastjson.Arena) (*fastjson.Value, *codec.Type, error) {
	c, payload, err := d.framed(ctx, data)
	if err != nil {
		return nil, nil, err
	}
	v, err := c.decode(payload, a)
	if err != nil {
		return nil, nil, err
	}
	return v, c.typ, nil
}

// DecodeParsed is Decode with the value left in p, the caller's parser,
// instead of copied into an arena: it is valid until p parses again. The
// same records are accepted and rejected, with the same errors.
func (d *Decoder) DecodeParsed(ctx context.Context, data []byte, p *fastjson.Parser) (*fastjson.Value, *codec.Type, error) {
	c, payload, err := d.framed(ctx, data)
	if err != nil {
		return nil, nil, err
	}
	v, err := c.decodeParsed(payload, p)
	if err != nil {
		return nil, nil, err
	}
	return v, c.typ, nil
}

// framed reads the wire framing of data: the compiled schema of its id
// and the payload.
func (d *Decoder) framed(ctx context.Context, data []byte) (*compiled, []byte, error) {
	id, payload, err := codec.ParseWire(data)
	if err != nil {
		return nil, nil, err
	}
	c, err := d.schema(ctx, id)
	return c, payload, err
}

// schema returns the compiled schema for id, compiling it on first use.
func (d *Decoder) schema(ctx context.Context, id int) (*compiled, error) {
	if c, ok := d.schemas.Load(id); ok {
		return c, nil
	}
	return d.schemas.Get(ctx, id, d.compile)
}
