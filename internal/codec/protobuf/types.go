package protobuf

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// wkt is a well-known type with its own canonical form.
type wkt uint8

const (
	wktNone wkt = iota
	wktTimestamp
	wktDuration
	wktWrapper
	wktStruct
	wktValue
	wktListValue
	wktAny
)

// wktFile maps each well-known message to the file that must define it:
// a message that merely borrows the name from some other file is an
// ordinary message.
var wktFile = map[protoreflect.FullName]struct {
	path string
	kind wkt
}{
	"google.protobuf.Timestamp":   {"google/protobuf/timestamp.proto", wktTimestamp},
	"google.protobuf.Duration":    {"google/protobuf/duration.proto", wktDuration},
	"google.protobuf.DoubleValue": {"google/protobuf/wrappers.proto", wktWrapper},
	"google.protobuf.FloatValue":  {"google/protobuf/wrappers.proto", wktWrapper},
	"google.protobuf.Int64Value":  {"google/protobuf/wrappers.proto", wktWrapper},
	"google.protobuf.UInt64Value": {"google/protobuf/wrappers.proto", wktWrapper},
	"google.protobuf.Int32Value":  {"google/protobuf/wrappers.proto", wktWrapper},
	"google.protobuf.UInt32Value": {"google/protobuf/wrappers.proto", wktWrapper},
	"google.protobuf.BoolValue":   {"google/protobuf/wrappers.proto", wktWrapper},
	"google.protobuf.StringValue": {"google/protobuf/wrappers.proto", wktWrapper},
	"google.protobuf.BytesValue":  {"google/protobuf/wrappers.proto", wktWrapper},
	"google.protobuf.Struct":      {"google/protobuf/struct.proto", wktStruct},
	"google.protobuf.Value":       {"google/protobuf/struct.proto", wktValue},
	"google.protobuf.ListValue":   {"google/protobuf/struct.proto", wktListValue},
	"google.protobuf.Any":         {"google/protobuf/any.proto", wktAny},
}

func wktOf(md protoreflect.MessageDescriptor) wkt {
	w, ok := wktFile[md.FullName()]
	if !ok || md.ParentFile() == nil || md.ParentFile().Path() != w.path {
		return wktNone
	}
	return w.kind
}

// typeBuilder derives the *codec.Type of one top-level message.
//
// A message that contains itself, directly or not, has no finite record
// type: where a message would nest inside itself its type is KindJSON (the
// value is still the nested object). memo shares the types of messages
// whose subtree needed no such cut, so a schema that uses one message in
// many places costs its type once.
type typeBuilder struct {
	memo   map[protoreflect.FullName]*codec.Type
	active map[protoreflect.FullName]bool
}

// record returns md's type as a record and whether a recursive message was
// cut somewhere below it.
func (b *typeBuilder) record(md protoreflect.MessageDescriptor) (*codec.Type, bool) {
	name := md.FullName()
	if t, ok := b.memo[name]; ok {
		return t, false
	}
	b.active[name] = true
	defer delete(b.active, name)
	fds := md.Fields()
	t := &codec.Type{Kind: codec.KindRecord, Name: string(name), Fields: make([]codec.Field, 0, fds.Len())}
	cut := false
	for i := range fds.Len() {
		f, c := b.field(fds.Get(i))
		cut = cut || c
		t.Fields = append(t.Fields, f)
	}
	if !cut {
		b.memo[name] = t
	}
	return t, cut
}

func (b *typeBuilder) field(fd protoreflect.FieldDescriptor) (codec.Field, bool) {
	f := codec.Field{Name: string(fd.Name())}
	var cut bool
	switch {
	case fd.IsMap():
		var elem *codec.Type
		elem, cut = b.single(fd.MapValue())
		f.Type = &codec.Type{Kind: codec.KindMap, Elem: elem}
	case fd.IsList():
		var elem *codec.Type
		elem, cut = b.single(fd)
		f.Type = &codec.Type{Kind: codec.KindArray, Elem: elem}
	default:
		f.Type, cut = b.single(fd)
		// Presence: message fields (wrappers included), proto3 optional,
		// oneof members and proto2 optional; a proto2 required field is
		// always there (unmarshal checks).
		f.Optional = fd.HasPresence() && fd.Cardinality() != protoreflect.Required
		f.HasDefault = !fd.HasPresence()
	}
	return f, cut
}

// single is the type of one value of fd (an element, for repeated fields).
func (b *typeBuilder) single(fd protoreflect.FieldDescriptor) (*codec.Type, bool) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return &codec.Type{Kind: codec.KindBool}, false
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return &codec.Type{Kind: codec.KindInt32}, false
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return &codec.Type{Kind: codec.KindInt64}, false
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return &codec.Type{Kind: codec.KindDecimal, Precision: 20, Scale: 0}, false
	case protoreflect.FloatKind:
		return &codec.Type{Kind: codec.KindFloat32}, false
	case protoreflect.DoubleKind:
		return &codec.Type{Kind: codec.KindFloat64}, false
	case protoreflect.StringKind:
		return &codec.Type{Kind: codec.KindString}, false
	case protoreflect.BytesKind:
		return &codec.Type{Kind: codec.KindBytes}, false
	case protoreflect.EnumKind:
		return &codec.Type{Kind: codec.KindString, Name: string(fd.Enum().FullName())}, false
	default: // MessageKind, GroupKind
		return b.message(fd.Message())
	}
}

func (b *typeBuilder) message(md protoreflect.MessageDescriptor) (*codec.Type, bool) {
	switch wktOf(md) {
	case wktTimestamp:
		return &codec.Type{Kind: codec.KindTimestamp}, false
	case wktDuration:
		return &codec.Type{Kind: codec.KindDuration}, false
	case wktWrapper:
		return b.single(md.Fields().ByNumber(1))
	case wktStruct, wktValue, wktListValue, wktAny:
		return &codec.Type{Kind: codec.KindJSON, Name: string(md.FullName())}, false
	}
	if b.active[md.FullName()] {
		return &codec.Type{Kind: codec.KindJSON, Name: string(md.FullName())}, true
	}
	return b.record(md)
}
