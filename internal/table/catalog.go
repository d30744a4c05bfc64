// Package table is kafka2pg's row model: a target table as the catalog
// declares it, the rows records become, their operations and key encoding,
// and which schema changes a table can take (auto_evolve). It writes no SQL
// of its own beyond reading the catalog; package pgwrite does the writing.
package table

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// Column is one column of a target table as the catalog declares it.
type Column struct {
	Name       string
	Type       *coerce.Type // nil when the type is not supported; TypeErr says why
	TypeErr    error
	TypeName   string // format_type() text
	NotNull    bool
	HasDefault bool // a default, an identity or a generated value
	Generated  bool // GENERATED ALWAYS AS (…) STORED: never written
}

// Table is a target table as read from the catalog at start.
type Table struct {
	Schema, Name string
	OID          uint32
	Columns      []Column
	PrimaryKey   []string   // empty when the table has none
	UniqueKeys   [][]string // every valid, non-partial, non-expression unique index, primary key included
	// Partitioned is true for a declaratively partitioned table (rows are
	// routed to its partitions; a row that fits none is rejected with
	// SQLSTATE 23514).
	Partitioned bool
	// PartitionKey lists the columns that the partition key of the table
	// or of any of its sub-partitioned partitions uses, alone or in an
	// expression: PostgreSQL cannot change their type.
	PartitionKey []string
	byName       map[string]int
}

// NewTable builds a table description without the catalog (for tests and
// for tables kafka2pg is about to create).
func NewTable(schema, name string, cols []Column, primaryKey []string) *Table {
	t := &Table{Schema: schema, Name: name, Columns: cols, PrimaryKey: primaryKey, byName: map[string]int{}}
	for i, c := range cols {
		t.byName[c.Name] = i
	}
	if len(primaryKey) > 0 {
		t.UniqueKeys = [][]string{primaryKey}
	}
	return t
}

// Ident is the quoted, schema-qualified name.
func (t *Table) Ident() pgx.Identifier {
	if t.Schema == "" {
		return pgx.Identifier{t.Name}
	}
	return pgx.Identifier{t.Schema, t.Name}
}

// String is the quoted name, for messages.
func (t *Table) String() string { return t.Ident().Sanitize() }

// Column returns the index of the named column, or -1.
func (t *Table) Column(name string) int {
	if i, ok := t.byName[name]; ok {
		return i
	}
	return -1
}

// HasUniqueKey reports whether cols (in any order) are exactly the columns of
// a unique index, which is what ON CONFLICT (cols) needs.
func (t *Table) HasUniqueKey(cols []string) bool {
	want := slices.Clone(cols)
	slices.Sort(want)
	for _, k := range t.UniqueKeys {
		got := slices.Clone(k)
		slices.Sort(got)
		if slices.Equal(got, want) {
			return true
		}
	}
	return false
}

// ErrTableNotFound is returned by LoadTable when the table does not exist.
var ErrTableNotFound = errors.New("table does not exist")

// Queryer is what LoadTable needs: a *pgx.Conn, a pool or a transaction.
type Queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const columnsSQL = `
SELECT a.attname::text,
       CASE WHEN t.typtype = 'd' AND a.atttypmod = -1 THEN t.typtypmod ELSE a.atttypmod END,
       a.attnotnull,
       a.atthasdef OR a.attidentity <> '' AS has_default,
       a.attgenerated <> '' AS generated,
       format_type(a.atttypid, a.atttypmod),
       t.oid, coalesce(b.typname, t.typname)::text, t.typtype::text,
       coalesce(e.oid, 0::oid), coalesce(e.typname::text, ''), coalesce(e.typtype::text, ' '), coalesce(format_type(e.oid, a.atttypmod), '')
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype -- a domain is read as its base type
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

const uniqueSQL = `
SELECT array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
GROUP BY i.indexrelid, i.indisprimary
ORDER BY i.indisprimary DESC, i.indexrelid`

const primarySQL = `
SELECT coalesce(array_agg(a.attname::text ORDER BY k.ord), '{}')
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1 AND i.indisprimary`

// partitionSQL says whether the table is partitioned and which columns the
// partition keys of its partition tree use: a column of a partition key,
// or one an expression of it reads, depends internally on its table.
const partitionSQL = `
WITH RECURSIVE tree(relid) AS (
  SELECT $1::oid
  UNION ALL
  SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid
)
SELECT EXISTS (SELECT FROM pg_partitioned_table WHERE partrelid = $1),
       coalesce(array_agg(DISTINCT a.attname::text) FILTER (WHERE a.attname IS NOT NULL), '{}')
FROM tree
JOIN pg_partitioned_table p ON p.partrelid = tree.relid
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = tree.relid AND d.objsubid > 0
  AND d.refclassid = 'pg_class'::regclass AND d.refobjid = tree.relid AND d.refobjsubid = 0 AND d.deptype = 'i'
JOIN pg_attribute a ON a.attrelid = tree.relid AND a.attnum = d.objsubid`

// LoadTable reads a table's columns, types and unique keys. schema "" means
// the first match on the connection's search_path. Enum labels are read so
// that a label can be checked before the row reaches the server.
func LoadTable(ctx context.Context, q Queryer, schema, name string) (*Table, error) {
	ident := pgx.Identifier{name}
	if schema != "" {
		ident = pgx.Identifier{schema, name}
	}
	var oid uint32
	var gotSchema string
	// to_regclass takes the quoted name as a bound value: nothing is spliced.
	err := q.QueryRow(ctx, `SELECT c.oid, n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`, ident.Sanitize()).Scan(&oid, &gotSchema)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", ident.Sanitize(), ErrTableNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading catalog for %s: %w", ident.Sanitize(), err)
	}
	t := &Table{Schema: gotSchema, Name: name, OID: oid, byName: map[string]int{}}

	rows, err := q.Query(ctx, columnsSQL, oid)
	if err != nil {
		return nil, fmt.Errorf("reading columns of %s: %w", t, err)
	}
	type rawCol struct {
		c                          Column
		typmod                     int32
		typOID, elemOID            uint32
		typname, elemName, elemFmt string
		typtype, elemType          string
	}
	var raws []rawCol
	for rows.Next() {
		var r rawCol
		if err := rows.Scan(&r.c.Name, &r.typmod, &r.c.NotNull, &r.c.HasDefault, &r.c.Generated, &r.c.TypeName,
			&r.typOID, &r.typname, &r.typtype, &r.elemOID, &r.elemName, &r.elemType, &r.elemFmt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading columns of %s: %w", t, err)
		}
		raws = append(raws, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading columns of %s: %w", t, err)
	}
	for _, r := range raws {
		c := r.c
		var elem *coerce.Type
		var elemErr error
		if r.elemOID != 0 {
			labels, err := enumLabels(ctx, q, r.elemType, r.elemOID)
			if err != nil {
				return nil, fmt.Errorf("reading enum labels for %s.%s: %w", t, c.Name, err)
			}
			// Element typmod is the array column's typmod (varchar(5)[] has 9).
			elem, elemErr = coerce.TypeFor(r.elemName, r.elemType[0], r.typmod, r.elemFmt, r.elemOID, nil, labels)
		}
		if elemErr != nil {
			c.TypeErr = elemErr
		} else {
			labels, err := enumLabels(ctx, q, r.typtype, r.typOID)
			if err != nil {
				return nil, fmt.Errorf("reading enum labels for %s.%s: %w", t, c.Name, err)
			}
			c.Type, c.TypeErr = coerce.TypeFor(r.typname, r.typtype[0], r.typmod, c.TypeName, r.typOID, elem, labels)
		}
		t.byName[c.Name] = len(t.Columns)
		t.Columns = append(t.Columns, c)
	}
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("%s has no columns", t)
	}

	if err := q.QueryRow(ctx, primarySQL, oid).Scan(&t.PrimaryKey); err != nil {
		return nil, fmt.Errorf("reading primary key of %s: %w", t, err)
	}
	urows, err := q.Query(ctx, uniqueSQL, oid)
	if err != nil {
		return nil, fmt.Errorf("reading unique indexes of %s: %w", t, err)
	}
	t.UniqueKeys, err = pgx.CollectRows(urows, pgx.RowTo[[]string])
	if err != nil {
		return nil, fmt.Errorf("reading unique indexes of %s: %w", t, err)
	}
	if err := q.QueryRow(ctx, partitionSQL, oid).Scan(&t.Partitioned, &t.PartitionKey); err != nil {
		return nil, fmt.Errorf("reading the partitioning of %s: %w", t, err)
	}
	return t, nil
}

func enumLabels(ctx context.Context, q Queryer, typtype string, oid uint32) ([]string, error) {
	if typtype != "e" {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT enumlabel::text FROM pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder`, oid)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// RegisterTypes teaches a connection's type map the types pgx does not know by
// OID (enums and their arrays). Call it from pgxpool's AfterConnect.
func RegisterTypes(m *pgtype.Map, tables []*Table) {
	for _, t := range tables {
		for _, c := range t.Columns {
			if c.Type != nil {
				coerce.Register(m, c.Type)
			}
		}
	}
}
