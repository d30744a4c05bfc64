package route

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/ddl"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// ErrNoShape: none of the records seen says what the table should look like
// (they are tombstones, deletes or bad records).
var ErrNoShape = errors.New("no record to learn the table's shape from")

// DescribeLimit bounds how many records auto_create looks at.
const DescribeLimit = 1000

// CreateDDL is the CREATE TABLE auto_create runs for records like recs, and
// the shape it was learnt from.
func (t *Target) CreateDDL(ctx context.Context, recs []*kgo.Record) (string, *transform.Shape, error) {
	r := t.Route
	shape, err := transform.Describe(ctx, r.base, recs[:min(len(recs), DescribeLimit)])
	if err != nil {
		return "", nil, err
	}
	if shape == nil {
		return "", nil, ErrNoShape
	}
	fields := shape.Fields
	has := func(name string) bool {
		for _, f := range fields {
			if f.Name == name {
				return true
			}
		}
		return false
	}
	var key []string
	needKey := r.mode == table.Upsert || r.Cfg.DeleteOnTombstone
	switch {
	case len(r.Cfg.ConflictKey) > 0:
		key = r.Cfg.ConflictKey
	case needKey && len(shape.Key) > 0:
		for _, f := range shape.Key {
			key = append(key, f.Name)
		}
	case needKey:
		return "", nil, fmt.Errorf("auto_create: cannot tell the key of %s: the records have no structured key; set conflict_key", t.TableName)
	}
	for _, k := range key {
		if has(k) {
			continue
		}
		f := codec.Field{Name: k, Type: &codec.Type{Kind: codec.KindString}}
		for _, kf := range shape.Key {
			if kf.Name == k {
				f.Type = kf.Type
			}
		}
		if r.base.Key.Kind == format.Binary {
			f.Type = &codec.Type{Kind: codec.KindBytes}
		}
		fields = append(fields, f)
	}
	for _, extra := range []string{r.Cfg.VersionColumn, r.Cfg.SoftDeleteColumn} {
		if extra == "" || has(extra) {
			continue
		}
		typ := transform.DebeziumExtraType(extra)
		if extra == r.Cfg.SoftDeleteColumn {
			typ = &codec.Type{Kind: codec.KindTimestamp}
		}
		if typ == nil {
			return "", nil, fmt.Errorf("auto_create: version_column %q is not a field of the records", extra)
		}
		fields = append(fields, codec.Field{Name: extra, Type: typ, Optional: true})
	}
	stmt, err := ddl.CreateTableDDL(t.Ident(), fields, key)
	return stmt, shape, err
}

// Created says what Create did.
type Created struct {
	// DDL is the statement run; empty when another worker or instance had
	// created the table first.
	DDL string
	// From says what the table was learnt from, for the log.
	From string
}

// Create creates the route's table from recs (auto_create) and binds the
// route to it. Another worker of this process may have done it already;
// another instance may have too (the decision is taken under the DDL
// advisory lock, then the table as it is is read). ErrNoShape when recs say
// nothing of the table.
func (t *Target) Create(ctx context.Context, db ddl.Beginner, recs []*kgo.Record) (Created, error) {
	t.ddlMu.Lock()
	defer t.ddlMu.Unlock()
	if t.Binding() != nil {
		return Created{}, nil
	}
	stmt, shape, err := t.CreateDDL(ctx, recs)
	if err != nil {
		return Created{}, err
	}
	created, err := ddl.CreateTable(ctx, db, t.Ident(), stmt)
	if err != nil {
		return Created{}, fmt.Errorf("auto_create %s: %w", t.TableName, err)
	}
	tb, err := table.LoadTable(ctx, db, t.schema, t.name)
	if err != nil {
		return Created{}, err
	}
	b, err := t.bind(tb)
	if err != nil {
		return Created{}, fmt.Errorf("auto_create %s: the table created does not fit the route: %w", t.TableName, err)
	}
	t.cur.Store(b)
	if !created {
		return Created{}, nil
	}
	c := Created{DDL: stmt, From: "the record schema"}
	if shape.Inferred {
		c.From = fmt.Sprintf("%d schemaless records", shape.Records)
	}
	return c, nil
}

// Evolve applies auto_evolve for fields and rebinds the route to the table
// as it then is; it returns the statements it ran (none when another
// instance made the change first). A change that is not safe is a
// *table.SchemaError.
func (t *Target) Evolve(ctx context.Context, db ddl.Beginner, fields []codec.Field) ([]string, error) {
	t.ddlMu.Lock()
	defer t.ddlMu.Unlock()
	cur := t.Binding()
	stmts, tb, err := ddl.EvolveTable(ctx, db, t.schema, t.name, fields, cur.Spec.KeyCols)
	if err != nil {
		return nil, err
	}
	b, err := t.bind(tb)
	if err != nil {
		return nil, fmt.Errorf("auto_evolve %s: %w", t.TableName, err)
	}
	t.cur.Store(b)
	return stmts, nil
}
