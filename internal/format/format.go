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
}

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
	// connectTypes caches json-connect schemas by their text: a producer
	// sends the same schema with every record (at most 256 kept).
	connectTypes map[string]*codec.Type
}

// Reset frees what the previous Decode built.
func (s *Scratch) Reset() { s.Arena.Reset() }

// Decode decodes data, the key (what = "key") or the value (what = "value")
// of a record. It returns the canonical value (nil for a Connect or registry
// null: a tombstone) and the record's schema when the format has one. A
// record whose bytes are not what the format promises is a
// *codec.DecodeError whose Reason names what; a schema registry that cannot
// be reached or refuses is returned as the registry's error.
func (f *Format) Decode(ctx context.Context, data []byte, s *Scratch, what string) (*fastjson.Value, *codec.Type, error) {
	switch f.Name {
	case config.FormatString:
		return s.Arena.NewString(string(data)), nil, nil
	case config.FormatBytes:
		return s.Arena.NewString(base64.StdEncoding.EncodeToString(data)), nil, nil
	case config.FormatJSON, config.FormatJSONConnect:
		v, err := s.parser.ParseBytes(data)
		if err != nil {
			return nil, nil, codec.Errorf("%s is not valid JSON: %v", what, err)
		}
		if f.Name == config.FormatJSON {
			return v, nil, nil
		}
		var typ *codec.Type
		if s.WantTypes {
			typ = s.connectType(v.Get("schema"))
		}
		if v, err = unwrapConnect(v, &s.Arena); err != nil {
			return nil, nil, codec.Errorf("%v", err)
		}
		return v, typ, nil
	}
	v, typ, err := f.dec.Decode(ctx, data, &s.Arena)
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

// connectType returns the codec type of a Connect schema, converted once per
// distinct schema text.
func (s *Scratch) connectType(schema *fastjson.Value) *codec.Type {
	if schema == nil || schema.Type() != fastjson.TypeObject {
		return nil
	}
	text := string(schema.MarshalTo(nil))
	if t, ok := s.connectTypes[text]; ok {
		return t
	}
	if s.connectTypes == nil || len(s.connectTypes) >= 256 {
		s.connectTypes = map[string]*codec.Type{}
	}
	t, _ := connectSchemaType(schema, 0)
	if t != nil && t.Kind != codec.KindRecord {
		t = nil
	}
	s.connectTypes[text] = t
	return t
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
	return &Format{Name: name, Kind: Record, dec: dec}
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
