package coerce

import (
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"
)

// builtinOID is the OID of a built-in type whose codec serves kind k.
func builtinOID(k Kind) uint32 {
	switch k {
	case KindInt2:
		return pgtype.Int2OID
	case KindInt4:
		return pgtype.Int4OID
	case KindInt8:
		return pgtype.Int8OID
	case KindNumeric:
		return pgtype.NumericOID
	case KindFloat4:
		return pgtype.Float4OID
	case KindFloat8:
		return pgtype.Float8OID
	case KindText:
		return pgtype.TextOID
	case KindBool:
		return pgtype.BoolOID
	case KindTimestamptz:
		return pgtype.TimestamptzOID
	case KindTimestamp:
		return pgtype.TimestampOID
	case KindDate:
		return pgtype.DateOID
	case KindTime:
		return pgtype.TimeOID
	case KindInterval:
		return pgtype.IntervalOID
	case KindUUID:
		return pgtype.UUIDOID
	case KindJSON:
		return pgtype.JSONOID
	case KindJSONB:
		return pgtype.JSONBOID
	case KindBytea:
		return pgtype.ByteaOID
	}
	return 0
}

// Register makes the type map m able to encode t's OID in binary: it
// registers enum types (with pgtype.EnumCodec), array types whose OID pgx
// does not know (with pgtype.ArrayCodec over the element type, e.g. arrays of
// enums), and other OIDs pgx does not know, such as citext or a domain's
// array element, with the codec of the built-in type of the same kind. OIDs
// m already knows are left alone, so Register is idempotent and never
// replaces pgx's own types.
//
// Call it for every column type on each new connection, e.g. from
// pgxpool.Config.AfterConnect with conn.TypeMap(). Like pgtype.Map itself it
// is not safe for concurrent use on the same m.
func Register(m *pgtype.Map, t *Type) {
	if t.Kind == KindArray {
		if t.Elem == nil {
			return
		}
		et := registerScalar(m, t.Elem)
		if et == nil {
			return
		}
		if _, ok := m.TypeForOID(t.OID); !ok {
			m.RegisterType(&pgtype.Type{
				Name:  freeName(m, t.name(), t.OID),
				OID:   t.OID,
				Codec: &pgtype.ArrayCodec{ElementType: et},
			})
		}
		return
	}
	registerScalar(m, t)
}

// registerScalar registers a non-array t if m does not know its OID and
// returns m's type for it (nil if none can be made).
func registerScalar(m *pgtype.Map, t *Type) *pgtype.Type {
	if pt, ok := m.TypeForOID(t.OID); ok {
		return pt
	}
	var codec pgtype.Codec
	if t.Kind == KindEnum {
		codec = &pgtype.EnumCodec{}
	} else if base, ok := m.TypeForOID(builtinOID(t.Kind)); ok {
		codec = base.Codec
	} else {
		return nil
	}
	pt := &pgtype.Type{Name: freeName(m, t.name(), t.OID), OID: t.OID, Codec: codec}
	m.RegisterType(pt)
	return pt
}

// freeName returns name, or name with the OID appended when m already has a
// type of that name: pgtype.Map indexes types by name too, and replacing a
// built-in's name entry would change how pgx picks types for Go values.
func freeName(m *pgtype.Map, name string, oid uint32) string {
	if _, ok := m.TypeForName(name); ok {
		return name + " (oid " + strconv.FormatUint(uint64(oid), 10) + ")"
	}
	return name
}
