package pgwrite

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// This file is auto_create and auto_evolve: the PostgreSQL type of a schema
// field, the CREATE TABLE for a record schema, and the ALTER TABLE
// statements that bring an existing table up to a newer schema — only the
// changes that cannot lose or reinterpret a stored value.

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

// CreateTableDDL is the CREATE TABLE IF NOT EXISTS statement for a table
// named ident with one column per field, in order. Key columns are NOT
// NULL and form the primary key (none when key is empty); other fields are
// NOT NULL only when the schema requires them (not optional, no default).
// A key column missing from fields is an error.
func CreateTableDDL(ident pgx.Identifier, fields []codec.Field, key []string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", ident.Sanitize())
	isKey := map[string]bool{}
	for _, k := range key {
		isKey[k] = true
	}
	seen := map[string]bool{}
	for i, f := range fields {
		if seen[f.Name] {
			return "", &SchemaError{Table: ident.Sanitize(), Field: f.Name, Reason: "two fields map to the same column"}
		}
		seen[f.Name] = true
		if len(f.Name) > 63 {
			return "", &SchemaError{Table: ident.Sanitize(), Field: f.Name, Reason: "field name is longer than PostgreSQL's 63-byte identifier limit"}
		}
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  %s %s", pgx.Identifier{f.Name}.Sanitize(), ColumnType(f.Type))
		if isKey[f.Name] || (!f.Optional && !f.HasDefault) {
			b.WriteString(" NOT NULL")
		}
	}
	for _, k := range key {
		if !seen[k] {
			return "", &SchemaError{Table: ident.Sanitize(), Column: k, Reason: "key column is not a field of the record or key schema"}
		}
	}
	if len(key) > 0 {
		fmt.Fprintf(&b, ",\n  PRIMARY KEY (%s)", quoteList(key, ""))
	}
	b.WriteString("\n)")
	return b.String(), nil
}

// EvolveDDL returns the statements that let t hold records of fields: ADD
// COLUMN IF NOT EXISTS (nullable) for a field without a column, and the safe
// widenings — smallint → integer → bigint, real → double precision, a
// longer varchar (or text), numeric(p,s) → numeric(p',s) with p' > p, and
// DROP NOT NULL for a field that became optional (never on a key column).
// Any other mismatch between a field and its column is a *SchemaError:
// never a silent cast. No statements and no error means t already fits.
func EvolveDDL(t *Table, fields []codec.Field, key []string) ([]string, error) {
	ident := t.Ident().Sanitize()
	var stmts []string
	for _, f := range fields {
		i := t.Column(f.Name)
		if i < 0 {
			if len(f.Name) > 63 {
				return nil, &SchemaError{Table: ident, Field: f.Name, Reason: "new field's name is longer than PostgreSQL's 63-byte identifier limit"}
			}
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s",
				ident, pgx.Identifier{f.Name}.Sanitize(), ColumnType(f.Type)))
			continue
		}
		c := &t.Columns[i]
		col := pgx.Identifier{c.Name}.Sanitize()
		if c.Generated {
			return nil, &SchemaError{Table: ident, Field: f.Name, Column: c.Name, Reason: "column is generated; a field cannot write it"}
		}
		widen, err := widening(c, f.Type)
		if err != nil {
			return nil, &SchemaError{Table: ident, Field: f.Name, Column: c.Name, Reason: err.Error()}
		}
		if widen != "" {
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE %s", ident, col, widen))
		}
		if (f.Optional || f.HasDefault) && c.NotNull && !c.HasDefault && !contains(key, c.Name) {
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL", ident, col))
		}
	}
	return stmts, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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

// Beginner is what EvolveTable needs: a connection or a pool.
type Beginner interface {
	Queryer
	Begin(ctx context.Context) (pgx.Tx, error)
}

// EvolveTable brings the table up to fields (see EvolveDDL) in one
// transaction under the DDL advisory lock: the table is read again inside
// the lock, so an instance that lost the race finds the change made and runs
// nothing. It returns the statements it ran and the table as it now is. A
// lock wait is bounded (lock_timeout 30s, SQLSTATE 55P03, transient).
func EvolveTable(ctx context.Context, db Beginner, schema, name string, fields []codec.Field, key []string) ([]string, *Table, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '30s'"); err != nil {
		return nil, nil, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(ddlLockKey)); err != nil {
		return nil, nil, err
	}
	t, err := LoadTable(ctx, tx, schema, name)
	if err != nil {
		return nil, nil, err
	}
	stmts, err := EvolveDDL(t, fields, key)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", s, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, nil, err
	}
	if len(stmts) > 0 {
		if t, err = LoadTable(ctx, db, schema, name); err != nil {
			return nil, nil, err
		}
	}
	return stmts, t, nil
}

// CreateTable runs ddl (a CREATE TABLE) for the table ident unless it
// exists, deciding under the DDL advisory lock, so that of instances racing
// to create it exactly one does (created is true for that one).
func CreateTable(ctx context.Context, db Beginner, ident pgx.Identifier, ddl string) (created bool, err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '30s'"); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(ddlLockKey)); err != nil {
		return false, err
	}
	var missing bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NULL", ident.Sanitize()).Scan(&missing); err != nil {
		return false, err
	}
	if missing {
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return false, err
		}
	}
	return missing, tx.Commit(ctx)
}
