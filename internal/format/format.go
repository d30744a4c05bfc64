// Package format turns a configured format name (json, json-connect,
// string, bytes, avro, protobuf, json-schema) into one Format that decodes
// Kafka keys or values into package codec's canonical form. It is the only
// place that knows the names: the rest of kafka2pg asks a Format what it is
// (Kind) and to decode.
package format

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/codec/avro"
	"github.com/kafka2pg/kafka2pg/internal/codec/jsonschema"
	"github.com/kafka2pg/kafka2pg/internal/codec/protobuf"
	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/source"
)

// Kind is what a decoded key or value is.
type Kind uint8

const (
	// Record formats decode to an object whose fields map to columns:
	// json, json-connect, avro, protobuf, json-schema.
	Record Kind = iota + 1
	// Text is string: the bytes are one text value.
	Text
	// Binary is bytes: the bytes are one binary value (base64 in the
	// decoded form).
	Binary
)

// Format decodes keys or values of one configured format. It is safe for
// concurrent use; the memory a decode builds in is the caller's Scratch.
type Format struct {
	Name string
	Kind Kind
	dec  codec.Decoder // registry formats
	// pdec is dec when it can leave a value in the Scratch's parser
	// (json-schema), which spares copying it into the arena.
	pdec codec.ParsedDecoder
	// prover is dec when it can prove records valid from their bytes
	// (json-schema), writer when it can write them as JSON text (avro,
	// protobuf);
	// see JSONPayload.
	prover codec.JSONProver
	writer codec.JSONWriter
}

// JSONPayload returns JSON text whose value is what Decode would certainly
// return for data, a value in this format, with no error: json's own
// bytes, json-connect's payload with its logical types rewritten
// (connectText, with s's compiled schemas), json-schema's payload once its
// decoder proves the record valid (codec.JSONProver), or the text an avro
// or protobuf decoder writes (codec.JSONWriter). Written text goes to *buf, which keeps
// the memory for the next call. It reports false when it cannot tell; the
// caller then decodes data as usual.
func (f *Format) JSONPayload(data []byte, s *Scratch, buf *[]byte) ([]byte, bool) {
	switch {
	case f.Name == config.FormatJSON:
		return data, true
	case f.Name == config.FormatJSONConnect:
		return s.connectText(data, buf)
	case f.prover != nil:
		return f.prover.ProveJSON(data)
	case f.writer != nil:
		text, ok := f.writer.AppendJSON((*buf)[:0], data)
		*buf = text
		return text, ok
	}
	return nil, false
}

// PlainPayload reports whether every payload JSONPayload returns for this
// format is plain (see codec.JSONProver): json-schema's proved payloads.
func (f *Format) PlainPayload() bool { return f.prover != nil }

// WrittenPayload reports whether the payloads JSONPayload returns for this
// format are text its decoder wrote (codec.JSONWriter: avro, protobuf):
// valid UTF-8 JSON by RFC 8259 without whitespace (see codec.JSONWriter).
func (f *Format) WrittenPayload() bool { return f.writer != nil }

// Structured reports whether decoded values are records whose fields map to
// columns.
func (f *Format) Structured() bool { return f.Kind == Record }

// Scratch is one goroutine's memory for decoding one key or one value: the
// result of Decode lives in it until the next Decode with the same Scratch
// or Reset.
type Scratch struct {
	Arena fastjson.Arena
	// WantTypes asks json-connect to convert each record's schema to a
	// *codec.Type (auto_evolve, auto_create's inference); without it only
	// the registry formats return a type, which costs them nothing.
	WantTypes bool

	parser fastjson.Parser
	// connect caches json-connect schemas, compiled, by their text: a
	// producer sends the same schema with every record (at most 256 kept).
	connect map[string]*connectEntry
	// lastConnect is the entry of the last key (0) and value (1) envelope
	// decoded: the next record of a topic almost always carries the same
	// schema text, which sameSchema then recognises by comparing bytes.
	lastConnect [2]*connectEntry
	// Memory of json-connect conversions, reset with the arena: decimal
	// texts, and one parser per Json document.
	buf     []byte
	parsers []*fastjson.Parser
	used    int
	esc     []byte // codec.StringValue's scratch (format string)
}

// Reset frees what the previous Decode built.
func (s *Scratch) Reset() {
	s.Arena.Reset()
	s.buf = s.buf[:0]
	s.used = 0
}

// Decode decodes data, the key (what = "key") or the value (what = "value")
// of a record. It returns the canonical value (nil for a Connect or registry
// null: a tombstone) and the record's schema when the format has one. A
// record whose bytes are not what the format promises is a
// *codec.DecodeError whose Reason names what; a schema registry that cannot
// be reached or refuses is returned as the registry's error.
func (f *Format) Decode(ctx context.Context, data []byte, s *Scratch, what string) (*fastjson.Value, *codec.Type, error) {
	switch f.Name {
	case config.FormatString:
		return codec.StringValue(&s.Arena, data, &s.esc), nil, nil
	case config.FormatBytes:
		return s.Arena.NewString(base64.StdEncoding.EncodeToString(data)), nil, nil
	case config.FormatJSON:
		v, err := s.parser.ParseBytes(data)
		if err != nil {
			return nil, nil, codec.Errorf("%s is not valid JSON: %v", what, err)
		}
		return v, nil, nil
	case config.FormatJSONConnect:
		return s.decodeConnect(data, what)
	}
	var v *fastjson.Value
	var typ *codec.Type
	var err error
	if f.pdec != nil {
		v, typ, err = f.pdec.DecodeParsed(ctx, data, &s.parser)
	} else {
		v, typ, err = f.dec.Decode(ctx, data, &s.Arena)
	}
	if err != nil {
		var de *codec.DecodeError
		if errors.As(err, &de) {
			return nil, nil, codec.Errorf("%s: %s", what, de.Reason)
		}
		var nf *registry.NotFoundError
		if errors.As(err, &nf) {
			return nil, nil, codec.Errorf("%s: %v", what, nf)
		}
		return nil, nil, err
	}
	return v, typ, nil
}

// decodeConnect decodes a Connect JSON envelope: the schema's span is
// looked up among the compiled schemas (compiled on first sight), and only
// the payload is parsed and converted.
func (s *Scratch) decodeConnect(data []byte, what string) (*fastjson.Value, *codec.Type, error) {
	slot := 1
	if what == "key" {
		slot = 0
	}
	if e := s.lastConnect[slot]; e != nil {
		// The schema text of the last envelope, at the place the common
		// layout puts it: only the payload is left to find and parse. Any
		// other layout, or a payload that is not one JSON value (more keys
		// after it), takes the general path below, which decides.
		if payload, ok := sameSchema(data, e.key); ok {
			if v, err := s.parser.ParseBytes(payload); err == nil {
				return s.convertConnect(e, v)
			}
		}
	}
	schema, payload, ok := envelopeSpans(data)
	if !ok {
		// Not a plain envelope: parse it all for the precise error.
		v, err := s.parser.ParseBytes(data)
		if err != nil {
			return nil, nil, codec.Errorf("%s is not valid JSON: %v", what, err)
		}
		if v.Type() != fastjson.TypeObject {
			return nil, nil, codec.Errorf("a Connect JSON value must be an object with schema and payload, got a JSON %s", v.Type())
		}
		if v.Get("schema") == nil || v.Get("payload") == nil {
			return nil, nil, codec.Errorf("%v", errNoEnvelope)
		}
		// A valid envelope the scanner did not take (it is strict about
		// layout only): take the spans from the parsed value.
		schema, payload = v.Get("schema").MarshalTo(nil), v.Get("payload").MarshalTo(nil)
	}
	e, err := s.connectEntry(schema, what)
	if err != nil {
		return nil, nil, err
	}
	s.lastConnect[slot] = e
	v, err := s.parser.ParseBytes(payload)
	if err != nil {
		return nil, nil, codec.Errorf("%s is not valid JSON: %v", what, err)
	}
	return s.convertConnect(e, v)
}

// convertConnect converts v, an envelope's parsed payload, with e, its
// compiled schema.
func (s *Scratch) convertConnect(e *connectEntry, v *fastjson.Value) (*fastjson.Value, *codec.Type, error) {
	var typ *codec.Type
	if s.WantTypes {
		typ = e.codecType()
	}
	if v.Type() == fastjson.TypeNull {
		return nil, typ, nil // a tombstone
	}
	cx := connectCtx{a: &s.Arena, buf: &s.buf, parsers: &s.parsers, used: &s.used}
	out, cerr := e.conv.convert(v, &cx, 0)
	if cerr != nil {
		return nil, nil, codec.Errorf("%v", cerr)
	}
	return out, typ, nil
}

// connectEntry returns the compiled schema of the schema text span.
func (s *Scratch) connectEntry(span []byte, what string) (*connectEntry, error) {
	if e, ok := s.connect[string(span)]; ok {
		return e, nil
	}
	p := &fastjson.Parser{}
	sv, err := p.ParseBytes(span)
	if err != nil {
		return nil, codec.Errorf("%s is not valid JSON: %v", what, err)
	}
	e := &connectEntry{conv: compileConnect(sv, 0), schema: sv, parser: p, key: string(span)}
	if s.connect == nil || len(s.connect) >= 256 {
		s.connect = map[string]*connectEntry{}
	}
	s.connect[e.key] = e
	return e, nil
}

// codecType is the record type of the entry's schema (nil when the schema
// is not a struct), converted on first use.
func (e *connectEntry) codecType() *codec.Type {
	if !e.typDone {
		if e.schema != nil && e.schema.Type() == fastjson.TypeObject {
			t, _ := connectSchemaType(e.schema, 0)
			if t != nil && t.Kind == codec.KindRecord {
				e.typ = t
			}
		}
		e.typDone, e.schema, e.parser = true, nil, nil
	}
	return e.typ
}

// The formats that need no schema registry.
var (
	JSON    = &Format{Name: config.FormatJSON, Kind: Record}
	Connect = &Format{Name: config.FormatJSONConnect, Kind: Record}
	String  = &Format{Name: config.FormatString, Kind: Text}
	Bytes   = &Format{Name: config.FormatBytes, Kind: Binary}
)

// Set makes the Formats of one configuration. The registry formats share
// one registry client and one decoder per format (schemas are cached per id
// by the decoder). A Set is safe for concurrent use.
type Set struct {
	sr   config.SchemaRegistry
	once sync.Once
	src  *registry.Client
	err  error
	mu   sync.Mutex
	by   map[string]*Format
}

// NewSet returns a Set reading registry schemas as sr says.
func NewSet(sr config.SchemaRegistry) *Set {
	return &Set{sr: sr, by: map[string]*Format{}}
}

// Get returns the Format named name (a config.Format* value).
func (s *Set) Get(name string) (*Format, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.by[name]; ok {
		return f, nil
	}
	var f *Format
	switch name {
	case config.FormatJSON:
		return JSON, nil
	case config.FormatJSONConnect:
		return Connect, nil
	case config.FormatString:
		return String, nil
	case config.FormatBytes:
		return Bytes, nil
	case config.FormatAvro, config.FormatProtobuf, config.FormatJSONSchema:
		src, err := s.registry()
		if err != nil {
			return nil, err
		}
		switch name {
		case config.FormatAvro:
			f = WithDecoder(name, avro.New(src))
		case config.FormatProtobuf:
			f = WithDecoder(name, protobuf.New(src))
		default:
			f = WithDecoder(name, jsonschema.New(src))
		}
	default:
		return nil, fmt.Errorf("unknown format %q", name)
	}
	s.by[name] = f
	return f, nil
}

// WithDecoder is the record format name (avro, protobuf, json-schema)
// decoding with dec.
func WithDecoder(name string, dec codec.Decoder) *Format {
	pdec, _ := dec.(codec.ParsedDecoder)
	prover, _ := dec.(codec.JSONProver)
	writer, _ := dec.(codec.JSONWriter)
	return &Format{Name: name, Kind: Record, dec: dec, pdec: pdec, prover: prover, writer: writer}
}

// registry returns the shared registry client, made on first use.
func (s *Set) registry() (*registry.Client, error) {
	s.once.Do(func() {
		sr := s.sr
		rc := registry.Config{URL: sr.URL, Username: sr.Username, Password: sr.Password, Timeout: time.Duration(sr.Timeout)}
		if f := sr.PasswordFile; f != "" {
			rc.PasswordFunc = func() (string, error) { return config.ReadSecret(f) }
		}
		if sr.TLS != nil {
			if rc.TLS, s.err = source.TLSConfig(sr.TLS, "schema_registry.tls"); s.err != nil {
				return
			}
		}
		if s.src, s.err = registry.New(rc); s.err != nil {
			s.err = fmt.Errorf("schema_registry: %w", s.err)
		}
	})
	return s.src, s.err
}
