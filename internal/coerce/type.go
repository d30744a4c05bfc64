package coerce

import (
	"fmt"
	"strings"
)

// Kind is the coercion family of a column type. Several PostgreSQL types share
// a Kind (text, varchar, bpchar, name and citext are all KindText); the
// differences that matter for checking are in Type.
type Kind uint8

// The kinds. The zero Kind is invalid.
const (
	KindInt2 Kind = iota + 1
	KindInt4
	KindInt8
	KindNumeric
	KindFloat4
	KindFloat8
	KindText // text, varchar(n), bpchar(n), name, citext
	KindBool
	KindTimestamptz
	KindTimestamp
	KindDate
	KindUUID
	KindJSON
	KindJSONB
	KindBytea
	KindEnum
	KindArray
	KindTime     // time without time zone, time(p)
	KindInterval // interval, with any fields and precision
)

var kindNames = [...]string{
	KindInt2:        "int2",
	KindInt4:        "int4",
	KindInt8:        "int8",
	KindNumeric:     "numeric",
	KindFloat4:      "float4",
	KindFloat8:      "float8",
	KindText:        "text",
	KindBool:        "bool",
	KindTimestamptz: "timestamptz",
	KindTimestamp:   "timestamp",
	KindDate:        "date",
	KindUUID:        "uuid",
	KindJSON:        "json",
	KindJSONB:       "jsonb",
	KindBytea:       "bytea",
	KindEnum:        "enum",
	KindArray:       "array",
	KindTime:        "time",
	KindInterval:    "interval",
}

// String returns the kind's short name ("int4", "text", "array", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Type describes one column's type, built by the catalog reader from
// pg_attribute/pg_type with TypeFor.
//
// A Type is immutable once built and its methods are safe for concurrent use.
// Build it with TypeFor: a Type written as a struct literal works, but loses
// what TypeFor derives from the typmod that has no exported field (the
// precision and scale of numeric(p,s), the precision of time(p) and
// interval(p), the fields of interval day to hour and the like) and the
// precomputed enum label index.
type Type struct {
	Kind   Kind
	OID    uint32   // the column's type OID (enums: the enum type's OID; arrays: the array type's OID)
	Name   string   // format_type() text, e.g. "character varying(20)", "integer[]", "order_status"; used in error reasons
	MaxLen int      // varchar(n)/bpchar(n): n in characters; 0 = unlimited
	Labels []string // enum labels (KindEnum), in sort order; must not be modified after TypeFor
	Elem   *Type    // element type (KindArray); never an array itself

	// maxBytes is the byte limit of the name type (63); 0 = none.
	maxBytes int

	// numeric(p,s): hasScale reports a typmod; precision and scale are p and s.
	hasScale  bool
	precision int32
	scale     int32

	// time(p), interval(p): roundFrac is set when a typmod limits the
	// fraction of a second to fracDigits digits.
	roundFrac  bool
	fracDigits int32

	// interval YEAR, DAY TO HOUR, ...: the fields below the last one named
	// are zeroed, as PostgreSQL does.
	ivTrunc ivTrunc

	// Enum label index: labelIndex is set for enums with many labels; boxed
	// holds each label already stored in an interface, so that returning a
	// label does not allocate.
	labelIndex map[string]int
	boxed      []any
}

// labelIndexMin is the label count from which an enum gets a map index; below
// it a linear scan is faster.
const labelIndexMin = 8

// pgNameMaxBytes is the longest name PostgreSQL stores (NAMEDATALEN-1).
const pgNameMaxBytes = 63

// nameOID is the OID of the "name" type; a Type literal with this OID gets
// the name length limit too.
const nameOID = 19

// baseKinds maps pg_type.typname of the supported base types to their kind.
var baseKinds = map[string]Kind{
	"int2":        KindInt2,
	"int4":        KindInt4,
	"int8":        KindInt8,
	"numeric":     KindNumeric,
	"float4":      KindFloat4,
	"float8":      KindFloat8,
	"text":        KindText,
	"varchar":     KindText,
	"bpchar":      KindText,
	"name":        KindText,
	"citext":      KindText,
	"bool":        KindBool,
	"timestamptz": KindTimestamptz,
	"timestamp":   KindTimestamp,
	"date":        KindDate,
	"uuid":        KindUUID,
	"json":        KindJSON,
	"jsonb":       KindJSONB,
	"bytea":       KindBytea,
	"time":        KindTime,
	"interval":    KindInterval,
}

// TypeFor builds a Type from catalog facts:
//
//   - typname is pg_type.typname of the column's type ("int4", "varchar",
//     "_int4" for an array of int4, "order_status" for an enum);
//   - typtype is pg_type.typtype: 'b' base, 'e' enum, 'd' domain. For a
//     domain, pass the base type's typname and typmod (pg_type.typbasetype
//     and typtypmod): a domain is converted as its base type and PostgreSQL
//     checks the domain's constraints when the row is written;
//   - typmod is pg_attribute.atttypmod (-1 when none). For an array column
//     it applies to the elements, as in PostgreSQL: elem may be built with
//     typmod -1 and TypeFor applies the column's typmod to a copy of it;
//   - formatted is format_type(atttypid, atttypmod), used in error reasons;
//   - oid is the column's type OID;
//   - elem is the element Type of an array type (typname starting with "_"),
//     nil otherwise;
//   - labels are the labels of an enum type (typtype 'e'), in enumsortorder.
//     TypeFor keeps the slice: do not modify it afterwards.
//
// Any other type (point, timetz, hstore, money, inet, composite, range,
// multidimensional arrays of arrays ...) is rejected with an error wrapping
// ErrUnsupportedType whose message is "unsupported column type <formatted>";
// the caller adds the table and column.
func TypeFor(typname string, typtype byte, typmod int32, formatted string, oid uint32, elem *Type, labels []string) (*Type, error) {
	if typtype == 'e' {
		t := &Type{Kind: KindEnum, OID: oid, Name: formatted, Labels: labels}
		t.indexLabels()
		return t, nil
	}
	if typtype != 'b' && typtype != 'd' {
		return nil, fmt.Errorf("%w %s", ErrUnsupportedType, formatted)
	}
	if strings.HasPrefix(typname, "_") && elem != nil {
		if elem.Kind == KindArray || elem.Kind == 0 {
			return nil, fmt.Errorf("%w %s", ErrUnsupportedType, formatted)
		}
		e := *elem
		if typmod >= 0 {
			e.applyTypmod(typmod)
			e.Name = strings.TrimSuffix(formatted, "[]")
		}
		return &Type{Kind: KindArray, OID: oid, Name: formatted, Elem: &e}, nil
	}
	kind, ok := baseKinds[typname]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnsupportedType, formatted)
	}
	t := &Type{Kind: kind, OID: oid, Name: formatted}
	t.applyTypmod(typmod)
	if typname == "name" {
		t.maxBytes = pgNameMaxBytes
	}
	return t, nil
}

// applyTypmod derives the length or precision limits of t from a typmod.
func (t *Type) applyTypmod(typmod int32) {
	const varhdrsz = 4
	if typmod < 0 {
		return
	}
	switch t.Kind {
	case KindText:
		if typmod >= varhdrsz {
			t.MaxLen = int(typmod - varhdrsz)
		}
	case KindNumeric:
		if typmod < varhdrsz {
			return
		}
		// PostgreSQL 15+: ((precision << 16) | (scale & 0x7ff)) + VARHDRSZ, the
		// scale being an 11-bit two's complement number (it may be negative).
		tm := typmod - varhdrsz
		t.hasScale = true
		t.precision = (tm >> 16) & 0xffff
		t.scale = ((tm & 0x7ff) ^ 1024) - 1024
	case KindTime:
		// time(p): the typmod is p.
		if typmod <= maxFracDigits {
			t.roundFrac, t.fracDigits = true, typmod
		}
	case KindInterval:
		t.applyIntervalTypmod(typmod)
	}
}

// indexLabels precomputes the enum label lookup and the boxed labels.
func (t *Type) indexLabels() {
	t.boxed = make([]any, len(t.Labels))
	for i, l := range t.Labels {
		t.boxed[i] = l
	}
	if len(t.Labels) >= labelIndexMin {
		t.labelIndex = make(map[string]int, len(t.Labels))
		for i, l := range t.Labels {
			t.labelIndex[l] = i
		}
	}
}

// name returns the type's name for error reasons.
func (t *Type) name() string {
	if t.Name != "" {
		return t.Name
	}
	return t.Kind.String()
}
