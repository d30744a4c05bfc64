package table

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// This file is what auto_create and auto_evolve decide: the PostgreSQL type
// of a schema field, and which changes let an existing table hold a newer
// schema — only those that cannot lose or reinterpret a stored value.
// Package ddl turns the decisions into DDL.

// ColumnType is the PostgreSQL type auto_create gives a field of type t.
// Nested and free-form data (records, maps, arrays, JSON) is jsonb.
func ColumnType(t *codec.Type) string {
	switch t.Kind {
	case codec.KindBool:
		return "boolean"
	case codec.KindInt32:
		return "integer"
	case codec.KindInt64:
		return "bigint"
	case codec.KindFloat32:
		return "real"
	case codec.KindFloat64:
		return "double precision"
	case codec.KindDecimal:
		if t.Precision > 0 && t.Precision <= 1000 && t.Scale >= 0 && t.Scale <= t.Precision {
			return fmt.Sprintf("numeric(%d,%d)", t.Precision, t.Scale)
		}
		return "numeric"
	case codec.KindString:
		if t.MaxLength > 0 && t.MaxLength <= 10485760 {
			return fmt.Sprintf("varchar(%d)", t.MaxLength)
		}
		return "text"
	case codec.KindBytes:
		return "bytea"
	case codec.KindDate:
		return "date"
	case codec.KindTime:
		return "time"
	case codec.KindTimestamp:
		return "timestamptz"
	case codec.KindLocalTimestamp:
		return "timestamp"
	case codec.KindUUID:
		return "uuid"
	case codec.KindDuration:
		return "interval"
	}
	return "jsonb"
}

// SchemaError is a record schema that the table cannot follow without a
// change auto_evolve must not make (a narrowing or an incompatible type), or
// that auto_create cannot turn into a table. It is a record error.
type SchemaError struct {
	Table  string // quoted name
	Field  string
	Column string
	Reason string
}

func (e *SchemaError) Error() string {
	var b strings.Builder
	b.WriteString(e.Table)
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	if e.Field != "" && e.Field != e.Column {
		fmt.Fprintf(&b, " (field %q)", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// ChangeKind is one kind of change Fit asks of a table.
type ChangeKind uint8

const (
	AddColumn   ChangeKind = iota + 1 // a nullable column for a new field
	WidenColumn                       // a safe widening of the column's type
	DropNotNull                       // the field became optional
)

// Change is one change a table needs to hold records of a schema.
type Change struct {
	Kind   ChangeKind
	Column string
	Type   string // AddColumn, WidenColumn: the PostgreSQL type
}

// Fit returns the changes that let t hold records of fields: a nullable
// column for a field without one, and the safe widenings — smallint →
// integer → bigint, real → double precision, a longer varchar (or text),
// numeric(p,s) → numeric(p',s) with p' > p, and dropping NOT NULL for a field
// that became optional (never on a key column). A widening of a column of a
// partition key is a *SchemaError: PostgreSQL refuses it. Any other mismatch between a
// field and its column is a *SchemaError: never a silent cast. No changes and
// no error means t already fits.
func Fit(t *Table, fields []codec.Field, key []string) ([]Change, error) {
	ident := t.String()
	var out []Change
	for _, f := range fields {
		i := t.Column(f.Name)
		if i < 0 {
			if len(f.Name) > 63 {
				return nil, &SchemaError{Table: ident, Field: f.Name, Reason: "new field's name is longer than PostgreSQL's 63-byte identifier limit"}
			}
			out = append(out, Change{Kind: AddColumn, Column: f.Name, Type: ColumnType(f.Type)})
			continue
		}
		c := &t.Columns[i]
		if c.Generated {
			return nil, &SchemaError{Table: ident, Field: f.Name, Column: c.Name, Reason: "column is generated; a field cannot write it"}
		}
		widen, err := widening(c, f.Type)
		if err != nil {
			return nil, &SchemaError{Table: ident, Field: f.Name, Column: c.Name, Reason: err.Error()}
		}
		if widen != "" && slices.Contains(t.PartitionKey, c.Name) {
			return nil, &SchemaError{Table: ident, Field: f.Name, Column: c.Name, Reason: fmt.Sprintf(
				"column is %s and the field is now %s: widening it is not possible, the column is in the table's partition key (PostgreSQL cannot change its type); recreate the table with the wider type or route the records elsewhere",
				c.TypeName, widen)}
		}
		if widen != "" {
			out = append(out, Change{Kind: WidenColumn, Column: c.Name, Type: widen})
		}
		if (f.Optional || f.HasDefault) && c.NotNull && !c.HasDefault && !slices.Contains(key, c.Name) {
			out = append(out, Change{Kind: DropNotNull, Column: c.Name})
		}
	}
	return out, nil
}

// widening decides whether column c can take values of field type f: "" and
// nil when it can as it is, the wider type when a safe widening makes it
// fit, an error when it cannot.
func widening(c *Column, f *codec.Type) (string, error) {
	if c.Type == nil {
		return "", fmt.Errorf("%v", c.TypeErr)
	}
	k := c.Type.Kind
	bad := func() (string, error) {
		return "", fmt.Errorf("column is %s and the field is now %s (%s): not a safe change; alter the table or route the records elsewhere",
			c.TypeName, f.Kind, ColumnType(f))
	}
	switch k {
	case coerce.KindJSON, coerce.KindJSONB:
		return "", nil // any value has a JSON form
	case coerce.KindText:
		switch f.Kind {
		case codec.KindRecord, codec.KindMap, codec.KindArray, codec.KindJSON, codec.KindBytes:
			return bad()
		}
		if c.Type.MaxLen > 0 && f.Kind == codec.KindString && (f.MaxLength == 0 || f.MaxLength > c.Type.MaxLen) &&
			strings.HasPrefix(c.TypeName, "character varying") {
			return ColumnType(f), nil // varchar(n) → varchar(m), m > n, or text
		}
		return "", nil
	case coerce.KindInt2, coerce.KindInt4, coerce.KindInt8:
		switch {
		case f.Kind == codec.KindInt64 && k != coerce.KindInt8:
			return "bigint", nil
		case f.Kind == codec.KindInt32 && k == coerce.KindInt2:
			return "integer", nil
		case f.Kind == codec.KindInt32 || f.Kind == codec.KindInt64:
			return "", nil
		case f.Kind == codec.KindDecimal && f.Scale == 0 && f.Precision > 0 && f.Precision <= 18 && k == coerce.KindInt8:
			return "", nil
		}
		return bad()
	case coerce.KindNumeric:
		p, s, constrained := c.Type.NumericTypmod()
		switch f.Kind {
		case codec.KindInt32, codec.KindInt64:
			if constrained && p-s < 19 {
				return bad()
			}
			return "", nil
		case codec.KindDecimal:
			if !constrained {
				return "", nil
			}
			if f.Precision == 0 {
				return "numeric", nil
			}
			if f.Scale != s {
				return bad() // a different scale would round stored or incoming values
			}
			if f.Precision > p {
				return fmt.Sprintf("numeric(%d,%d)", f.Precision, s), nil
			}
			return "", nil
		}
		return bad()
	case coerce.KindFloat4:
		switch f.Kind {
		case codec.KindFloat32:
			return "", nil
		case codec.KindFloat64:
			return "double precision", nil
		}
		return bad()
	case coerce.KindFloat8:
		if f.Kind == codec.KindFloat32 || f.Kind == codec.KindFloat64 || f.Kind == codec.KindInt32 {
			return "", nil
		}
		return bad()
	}
	want := map[coerce.Kind][]codec.Kind{
		coerce.KindBool:        {codec.KindBool},
		coerce.KindTimestamptz: {codec.KindTimestamp},
		coerce.KindTimestamp:   {codec.KindLocalTimestamp, codec.KindTimestamp},
		coerce.KindDate:        {codec.KindDate},
		coerce.KindUUID:        {codec.KindUUID},
		coerce.KindBytea:       {codec.KindBytes},
		coerce.KindEnum:        {codec.KindString},
		coerce.KindArray:       {codec.KindArray},
		coerce.KindTime:        {codec.KindTime},
		coerce.KindInterval:    {codec.KindDuration},
	}[k]
	for _, w := range want {
		if f.Kind == w {
			return "", nil
		}
	}
	return bad()
}
