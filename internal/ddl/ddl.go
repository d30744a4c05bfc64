// Package ddl is the SQL text of the tables kafka2pg creates and changes,
// and the advisory lock it runs that DDL under: auto_create's CREATE TABLE,
// auto_evolve's ALTER TABLE statements, the raw and dead-letter tables, and
// CreateIfMissing for tables kafka2pg owns (the offset table among them).
package ddl

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// This file is the DDL of auto_create and auto_evolve: the CREATE TABLE for
// a record schema and the ALTER TABLE statements that bring an existing table
// up to a newer schema (package table decides which changes are safe).

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
			return "", &table.SchemaError{Table: ident.Sanitize(), Field: f.Name, Reason: "two fields map to the same column"}
		}
		seen[f.Name] = true
		if len(f.Name) > 63 {
			return "", &table.SchemaError{Table: ident.Sanitize(), Field: f.Name, Reason: "field name is longer than PostgreSQL's 63-byte identifier limit"}
		}
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  %s %s", pgx.Identifier{f.Name}.Sanitize(), table.ColumnType(f.Type))
		if isKey[f.Name] || (!f.Optional && !f.HasDefault) {
			b.WriteString(" NOT NULL")
		}
	}
	for _, k := range key {
		if !seen[k] {
			return "", &table.SchemaError{Table: ident.Sanitize(), Column: k, Reason: "key column is not a field of the record or key schema"}
		}
	}
	if len(key) > 0 {
		fmt.Fprintf(&b, ",\n  PRIMARY KEY (%s)", QuoteList(key, ""))
	}
	b.WriteString("\n)")
	return b.String(), nil
}

// EvolveDDL returns the statements that let t hold records of fields (see
// table.Fit). No statements and no error means t already fits.
func EvolveDDL(t *table.Table, fields []codec.Field, key []string) ([]string, error) {
	changes, err := table.Fit(t, fields, key)
	if err != nil {
		return nil, err
	}
	ident := t.String()
	stmts := make([]string, 0, len(changes))
	for _, c := range changes {
		col := pgx.Identifier{c.Column}.Sanitize()
		switch c.Kind {
		case table.AddColumn:
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", ident, col, c.Type))
		case table.WidenColumn:
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s TYPE %s", ident, col, c.Type))
		case table.DropNotNull:
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s DROP NOT NULL", ident, col))
		}
	}
	return stmts, nil
}

// Beginner is what EvolveTable needs: a connection or a pool.
type Beginner interface {
	table.Queryer
	Begin(ctx context.Context) (pgx.Tx, error)
}

// EvolveTable brings the table up to fields (see EvolveDDL) in one
// transaction under the DDL advisory lock: the table is read again inside
// the lock, so an instance that lost the race finds the change made and runs
// nothing. It returns the statements it ran and the table as it now is. A
// lock wait is bounded (lock_timeout 30s, SQLSTATE 55P03, transient).
func EvolveTable(ctx context.Context, db Beginner, schema, name string, fields []codec.Field, key []string) ([]string, *table.Table, error) {
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
	t, err := table.LoadTable(ctx, tx, schema, name)
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
		if t, err = table.LoadTable(ctx, db, schema, name); err != nil {
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

// RawTableDDL is the statement that creates kafka2pg's raw table named
// quotedName; the key column is jsonb for a structured key, else text.
func RawTableDDL(quotedName string, jsonKey bool) string {
	keyType := "text"
	if jsonKey {
		keyType = "jsonb"
	}
	return `CREATE TABLE IF NOT EXISTS ` + quotedName + ` (
  "topic" text NOT NULL,
  "partition" integer NOT NULL,
  "offset" bigint NOT NULL,
  "key" ` + keyType + `,
  "value" jsonb,
  "headers" jsonb NOT NULL DEFAULT '[]',
  "timestamp" timestamptz NOT NULL,
  PRIMARY KEY ("topic", "partition", "offset")
)`
}

// DLQTableDDL is the statement that creates the dead-letter table named
// ident.
func DLQTableDDL(ident pgx.Identifier) string {
	return `CREATE TABLE IF NOT EXISTS ` + ident.Sanitize() + ` (
  "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "group" text NOT NULL,
  "topic" text NOT NULL,
  "partition" integer NOT NULL,
  "offset" bigint NOT NULL,
  "key" bytea,
  "value" bytea,
  "value_json" jsonb,
  "headers" jsonb NOT NULL,
  "timestamp" timestamptz NOT NULL,
  "stage" text NOT NULL,
  "error_class" text NOT NULL,
  "error" text NOT NULL,
  "dead_at" timestamptz NOT NULL DEFAULT now(),
  UNIQUE ("group", "topic", "partition", "offset")
)`
}
