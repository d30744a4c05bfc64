package protobuf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

const (
	// maxRefDepth and maxRefFiles bound the import graph fetched for one
	// schema, so that a reference cycle or a runaway graph ends.
	maxRefDepth = 16
	maxRefFiles = 256
)

// standardImports are the files protocompile.WithStandardImports serves.
// References with these names are not fetched: the built-in descriptors
// are the ones the well-known-type conversions recognise.
var standardImports = map[string]bool{
	"google/protobuf/any.proto":             true,
	"google/protobuf/api.proto":             true,
	"google/protobuf/compiler/plugin.proto": true,
	"google/protobuf/descriptor.proto":      true,
	"google/protobuf/duration.proto":        true,
	"google/protobuf/empty.proto":           true,
	"google/protobuf/field_mask.proto":      true,
	"google/protobuf/go_features.proto":     true,
	"google/protobuf/source_context.proto":  true,
	"google/protobuf/struct.proto":          true,
	"google/protobuf/timestamp.proto":       true,
	"google/protobuf/type.proto":            true,
	"google/protobuf/wrappers.proto":        true,
	"google/protobuf/cpp_features.proto":    true,
	"google/protobuf/java_features.proto":   true,
}

// schema is one compiled registry schema. file is immutable; msgs grows by
// copy on write as index paths are first seen.
type schema struct {
	id   int
	file protoreflect.FileDescriptor

	mu   sync.Mutex                          // serializes writers of msgs
	msgs atomic.Pointer[map[string]*message] // key: index path as uvarints
}

// message is one message of a schema and its derived type.
type message struct {
	desc protoreflect.MessageDescriptor
	typ  *codec.Type
	// unmarshal checks required fields only for messages that can have
	// some (proto2); the check costs a walk of every record otherwise.
	unmarshal proto.UnmarshalOptions
	// plan is for the wire path (wire.go); nil when every record takes
	// the reflective path (required fields, which only unmarshal checks;
	// a message set).
	plan *msgPlan
}

// load fetches schema id and its references from src and compiles it.
func load(ctx context.Context, src registry.Source, id int) (*schema, error) {
	sch, err := src.SchemaByID(ctx, id)
	if err != nil {
		if nf := (*registry.NotFoundError)(nil); errors.As(err, &nf) {
			return nil, codec.Errorf("unknown schema id %d", id)
		}
		return nil, fmt.Errorf("fetching protobuf schema id %d: %w", id, err)
	}
	if sch.Type != registry.TypeProtobuf {
		return nil, codec.Errorf("schema id %d is a %s schema, not %s", id, sch.Type, registry.TypeProtobuf)
	}
	files, err := fetchReferences(ctx, src, id, sch.References)
	if err != nil {
		return nil, err
	}
	// The registry gives the root schema no file name; this one cannot be
	// an import path that another schema uses by accident.
	root := fmt.Sprintf("kafka2pg-registry/schema-id-%d.proto", id)
	files[root] = sch.Schema
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: func(path string) (io.ReadCloser, error) {
				text, ok := files[path]
				if !ok {
					text, ok = bundledImports[path]
				}
				if !ok {
					return nil, fmt.Errorf("%q is neither a reference of the schema nor a built-in import: %w", path, fs.ErrNotExist)
				}
				return io.NopCloser(strings.NewReader(text)), nil
			},
		}),
	}
	compiled, err := compiler.Compile(ctx, root)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("compiling protobuf schema id %d: %w", id, ctx.Err())
		}
		return nil, codec.Errorf("schema id %d does not compile: %v", id, err)
	}
	return &schema{id: id, file: compiled[0]}, nil
}

// fetchReferences returns the text of every file the root schema imports,
// directly or not, by import path.
func fetchReferences(ctx context.Context, src registry.Source, id int, refs []registry.Reference) (map[string]string, error) {
	type pending struct {
		ref   registry.Reference
		depth int
	}
	files := make(map[string]string)
	var queue []pending
	for _, r := range refs {
		queue = append(queue, pending{r, 1})
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		name := p.ref.Name
		if _, seen := files[name]; seen || standardImports[name] {
			continue
		}
		if p.depth > maxRefDepth {
			return nil, codec.Errorf("schema id %d: references nest deeper than %d (at %q)", id, maxRefDepth, name)
		}
		if len(files) >= maxRefFiles {
			return nil, codec.Errorf("schema id %d: references more than %d files", id, maxRefFiles)
		}
		s, err := src.SchemaByReference(ctx, p.ref)
		if err != nil {
			if nf := (*registry.NotFoundError)(nil); errors.As(err, &nf) {
				return nil, codec.Errorf("schema id %d: reference %q (subject %s version %d) is not in the registry",
					id, name, p.ref.Subject, p.ref.Version)
			}
			return nil, fmt.Errorf("fetching reference %q of protobuf schema id %d: %w", name, id, err)
		}
		if s.Type != registry.TypeProtobuf {
			return nil, codec.Errorf("schema id %d: reference %q is a %s schema, not %s", id, name, s.Type, registry.TypeProtobuf)
		}
		files[name] = s.Schema
		for _, r := range s.References {
			queue = append(queue, pending{r, p.depth + 1})
		}
	}
	return files, nil
}

// message returns the message at path (top-level index, then nested
// indexes) and its type, deriving and caching both on first use.
func (s *schema) message(path []int) (*message, error) {
	var buf [maxIndexes * binary.MaxVarintLen32]byte
	key := buf[:0]
	for _, i := range path {
		key = binary.AppendUvarint(key, uint64(i))
	}
	if m := s.msgs.Load(); m != nil {
		if msg, ok := (*m)[string(key)]; ok {
			return msg, nil
		}
	}
	return s.derive(path, string(key))
}

func (s *schema) derive(path []int, key string) (*message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old map[string]*message
	if m := s.msgs.Load(); m != nil {
		old = *m
		if msg, ok := old[key]; ok {
			return msg, nil
		}
	}
	var md protoreflect.MessageDescriptor
	mds := s.file.Messages()
	for _, i := range path {
		if i >= mds.Len() {
			return nil, codec.Errorf("schema id %d has no message at index %v", s.id, slices.Clone(path))
		}
		md = mds.Get(i)
		mds = md.Messages()
	}
	b := typeBuilder{memo: map[protoreflect.FullName]*codec.Type{}, active: map[protoreflect.FullName]bool{}}
	typ, _ := b.record(md)
	msg := &message{desc: md, typ: typ, unmarshal: proto.UnmarshalOptions{
		RecursionLimit: recursionLimit,
		AllowPartial:   !hasRequired(md, map[protoreflect.FullName]bool{}),
	}}
	if msg.unmarshal.AllowPartial {
		msg.plan = newPlan(md)
	}
	next := make(map[string]*message, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = msg
	s.msgs.Store(&next)
	return msg, nil
}

// hasRequired reports whether md or a message it contains has a required
// field.
func hasRequired(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	if md.RequiredNumbers().Len() > 0 {
		return true
	}
	fds := md.Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if fd.Message() != nil && hasRequired(fd.Message(), seen) {
			return true
		}
	}
	return false
}
