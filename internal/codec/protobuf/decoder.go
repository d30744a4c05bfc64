package protobuf

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/valyala/fastjson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

const (
	// maxIndexes bounds the message-index list. Real paths are one or two
	// deep; the bound keeps a hostile count from costing anything.
	maxIndexes = 32
	// recursionLimit bounds message nesting in a record (the protobuf
	// default is 10000); conversion recurses once per level.
	recursionLimit = 1000
)

// Decoder decodes Kafka keys or values in the Confluent Protobuf wire format
// into canonical values (see package codec). It implements codec.Decoder.
//
// A Decoder is safe for concurrent use. It asks its registry.Source once per
// new schema id, however many goroutines decode records of that id at the
// same time, and keeps the compiled schema for its lifetime; failures are
// not cached, so the next record with that id asks again.
type Decoder struct {
	src registry.Source

	schemas codec.Cache[*schema]
}

// New returns a Decoder that fetches schemas from src.
func New(src registry.Source) *Decoder {
	return &Decoder{src: src}
}

var _ codec.Decoder = (*Decoder)(nil)

// Decode decodes one record: the wire header, the message-index list, then
// the message, built in a. It returns the message's *codec.Type, the same
// pointer for every record of the same schema id and message.
//
// Errors are a *codec.DecodeError for bytes that do not decode (bad header,
// garbage index list, unknown schema id, a schema that is not Protobuf or
// does not compile, an index path with no message, a message that does not
// unmarshal); an error wrapping the registry's error otherwise (for example
// *registry.UnavailableError, which is worth a retry); or ctx's error when
// ctx ends while the schema is being fetched.
func (d *Decoder) Decode(ctx context.Context, data []byte, a *fastjson.Arena) (*fastjson.Value, *codec.Type, error) {
	id, payload, err := codec.ParseWire(data)
	if err != nil {
		return nil, nil, err
	}
	var path [maxIndexes]int
	n, body, reason := parseIndexes(payload, path[:])
	if reason != "" {
		return nil, nil, codec.Errorf("schema id %d: %s", id, reason)
	}
	s, err := d.schema(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	msg, err := s.message(path[:n])
	if err != nil {
		return nil, nil, err
	}
	v, err := msg.decode(id, body, a)
	if err != nil {
		return nil, nil, err
	}
	return v, msg.typ, nil
}

// decode converts body, a message of msg, into a: by the wire path when it
// can (see wire.go), else by the reflective path, which words every error.
func (msg *message) decode(id int, body []byte, a *fastjson.Arena) (*fastjson.Value, error) {
	if msg.plan != nil {
		if v, ok := msg.decodeWire(body, a); ok {
			return v, nil
		}
	}
	return msg.decodeReflect(id, body, a)
}

// decodeWire is the wire path; false means the record needs the
// reflective one.
func (msg *message) decodeWire(body []byte, a *fastjson.Arena) (*fastjson.Value, bool) {
	st := wirePool.Get().(*wireState)
	c := converter{a: a, buf: st.buf[:0], slots: st.slots[:0]}
	v, ok := c.wireRecord(msg.plan, body)
	st.buf, st.slots = c.buf[:0], c.slots[:0]
	wirePool.Put(st)
	return v, ok
}

// decodeReflect unmarshals body into a dynamic message and converts that.
// Errors are *codec.DecodeError naming schema id and message.
func (msg *message) decodeReflect(id int, body []byte, a *fastjson.Arena) (*fastjson.Value, error) {
	m := dynamicpb.NewMessage(msg.desc)
	if err := unmarshal(msg.unmarshal, body, m); err != nil {
		return nil, codec.Errorf("schema id %d: message %s does not decode: %v", id, msg.desc.FullName(), err)
	}
	var scratch [64]byte
	c := converter{a: a, buf: scratch[:0]}
	v, err := c.record(m)
	if err != nil {
		return nil, codec.Errorf("schema id %d: message %s: %v", id, msg.desc.FullName(), err)
	}
	return v, nil
}

// unmarshal is opts.Unmarshal, with a panic turned into an error. The
// reflective decoding path that dynamic messages take panics on some
// malformed input (protobuf-go v1.36: a map entry that repeats its key
// field with the wrong wire type leaves an invalid key), and m is this
// call's own message, so nothing is left half-changed.
func unmarshal(opts proto.UnmarshalOptions, b []byte, m proto.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed message (unmarshal panicked: %v)", r)
		}
	}()
	return opts.Unmarshal(b, m)
}

// parseIndexes reads the message-index list at the start of p into dst: a
// zigzag varint count, then that many zigzag varint indexes; a count of 0
// means [0]. It returns the number of indexes, the rest of p, and a reason
// when the list is malformed.
func parseIndexes(p []byte, dst []int) (n int, rest []byte, reason string) {
	count, k := binary.Varint(p)
	if k <= 0 {
		return 0, nil, "message-index list is truncated or malformed"
	}
	p = p[k:]
	if count == 0 {
		dst[0] = 0
		return 1, p, ""
	}
	if count < 0 || count > int64(len(dst)) {
		return 0, nil, fmt.Sprintf("message-index count %d is out of range 0..%d", count, len(dst))
	}
	for i := range int(count) {
		x, k := binary.Varint(p)
		if k <= 0 {
			return 0, nil, "message-index list is truncated or malformed"
		}
		if x < 0 || x > math.MaxInt32 {
			return 0, nil, fmt.Sprintf("message index %d is out of range", x)
		}
		dst[i] = int(x)
		p = p[k:]
	}
	return int(count), p, ""
}

// schema returns the compiled schema id, fetching and compiling it on first
// use. Concurrent callers for the same new id share one fetch.
func (d *Decoder) schema(ctx context.Context, id int) (*schema, error) {
	if c, ok := d.schemas.Load(id); ok {
		return c, nil
	}
	return d.schemas.Get(ctx, id, func(ctx context.Context, id int) (*schema, error) { return load(ctx, d.src, id) })
}
