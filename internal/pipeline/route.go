package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// route is one config route and the table it writes. The table can change
// while the pipeline runs (auto_create creates it from the first records,
// auto_evolve adds and widens columns): each version is a bound, swapped
// atomically; a worker writes what it mapped for one bound with that
// bound's writer, and moves to a new bound between batches.
type route struct {
	cfg          *config.Route
	tableName    string // quoted, for messages and metrics
	schema, name string // raw identifiers; schema "" = search_path
	mode         table.Mode
	base         transform.Spec // formats, decoders and flags; no table or key yet
	cur          atomic.Pointer[bound]
	ddlMu        sync.Mutex // serialises this route's DDL within the process
}

// bound is a route bound to one version of its table.
type bound struct {
	table  *table.Table
	writer *pgwrite.Writer
	spec   transform.Spec
}

// ident is the table's name as an identifier.
func (r *route) ident() pgx.Identifier {
	if r.schema == "" {
		return pgx.Identifier{r.name}
	}
	return pgx.Identifier{r.schema, r.name}
}

// bound returns the current binding; nil while an auto_create table does
// not exist yet.
func (r *route) bound() *bound { return r.cur.Load() }

// PrepareRoute loads the route's table and checks the route against it. With
// create set, a raw-mode table is created when missing. With auto_create and
// no table yet, the route is returned unbound (see route.bound). The
// returned route is non-nil (for its table name) even on error.
func PrepareRoute(ctx context.Context, conn *pgx.Conn, rc *config.Route, create bool, formats *format.Set) (*route, error) {
	schema, name := rc.TableName()
	r := &route{cfg: rc, schema: schema, name: name, tableName: pgx.Identifier{name}.Sanitize()}
	if schema != "" {
		r.tableName = pgx.Identifier{schema, name}.Sanitize()
	}
	spec := transform.Spec{DeleteOnTombstone: rc.DeleteOnTombstone, Flatten: rc.Flatten, Evolve: rc.AutoEvolve,
		Debezium: rc.Unwrap == config.UnwrapDebezium, TruncateFail: rc.Debezium.OnTruncate == config.TruncateFail}
	var err error
	if spec.Key, err = formats.Get(rc.Key.Format); err != nil {
		return r, err
	}
	if spec.Value, err = formats.Get(rc.Value.Format); err != nil {
		return r, err
	}
	r.mode = table.Insert
	switch rc.Mode {
	case config.ModeUpsert:
		r.mode = table.Upsert
	case config.ModeRaw:
		r.mode = table.Raw
		if create {
			if err := pgwrite.CreateIfMissing(ctx, conn, pgwrite.RawTableDDL(r.tableName, spec.Key.Structured())); err != nil {
				return r, fmt.Errorf("creating raw table: %w", err)
			}
		}
	}
	spec.Mode = r.mode
	r.base = spec
	t, err := table.LoadTable(ctx, conn, schema, name)
	if errors.Is(err, table.ErrTableNotFound) && rc.AutoCreate {
		return r, nil // created from the first records
	}
	if err != nil {
		return r, err
	}
	b, err := r.bind(t)
	if err != nil {
		return r, err
	}
	r.cur.Store(b)
	return r, nil
}

// keyColumns are the columns that identify a row of t under this route.
func (r *route) keyColumns(t *table.Table) ([]string, error) {
	rc := r.cfg
	keyCols := rc.ConflictKey
	if len(keyCols) == 0 && r.mode != table.Raw {
		keyCols = t.PrimaryKey
	}
	if r.mode == table.Raw {
		keyCols = nil
	}
	if (r.mode == table.Upsert || rc.DeleteOnTombstone) && len(keyCols) == 0 {
		what := "mode upsert"
		if r.mode != table.Upsert {
			what = "delete_on_tombstone"
		}
		return nil, fmt.Errorf("%s needs a key, but %s has no primary key and conflict_key is not set", what, t)
	}
	if r.mode == table.Insert && !rc.DeleteOnTombstone {
		keyCols = nil // insert mode without deletes has no use for a key
	}
	return keyCols, nil
}

// bind checks the route against a version of its table and builds the
// writer and mapper spec for it.
func (r *route) bind(t *table.Table) (*bound, error) {
	rc := r.cfg
	keyCols, err := r.keyColumns(t)
	if err != nil {
		return nil, err
	}
	for _, c := range keyCols {
		if t.Column(c) < 0 {
			return nil, fmt.Errorf("conflict_key: %s has no column %q", t, c)
		}
	}
	if rc.VersionColumn != "" {
		i := t.Column(rc.VersionColumn)
		if i < 0 {
			return nil, fmt.Errorf("version_column: %s has no column %q", t, rc.VersionColumn)
		}
		if !versionType(t.Columns[i]) {
			return nil, fmt.Errorf("version_column: column %q is %s; it must be smallint, integer, bigint, timestamp or timestamptz", rc.VersionColumn, t.Columns[i].TypeName)
		}
	}
	if rc.SoftDeleteColumn != "" {
		i := t.Column(rc.SoftDeleteColumn)
		if i < 0 {
			return nil, fmt.Errorf("soft_delete_column: %s has no column %q", t, rc.SoftDeleteColumn)
		}
		if !timestampType(t.Columns[i]) {
			return nil, fmt.Errorf("soft_delete_column: column %q is %s; it must be timestamp or timestamptz", rc.SoftDeleteColumn, t.Columns[i].TypeName)
		}
	}
	w, err := pgwrite.NewWriter(pgwrite.Spec{Table: t, Mode: r.mode, KeyCols: keyCols,
		VersionCol: rc.VersionColumn, SoftDeleteCol: rc.SoftDeleteColumn})
	if err != nil {
		return nil, err
	}
	spec := r.base
	spec.Table, spec.KeyCols = t, keyCols
	if _, err := transform.NewMapper(spec); err != nil {
		return nil, err
	}
	return &bound{table: t, writer: w, spec: spec}, nil
}

// errNoShape: none of the records seen says what the table should look like
// (they are tombstones, deletes or bad records).
var errNoShape = errors.New("no record to learn the table's shape from")

// createDDL is the CREATE TABLE auto_create runs for records like recs.
func (r *route) createDDL(ctx context.Context, recs []*kgo.Record) (string, *transform.Shape, error) {
	shape, err := transform.Describe(ctx, r.base, recs)
	if err != nil {
		return "", nil, err
	}
	if shape == nil {
		return "", nil, errNoShape
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
	needKey := r.mode == table.Upsert || r.cfg.DeleteOnTombstone
	switch {
	case len(r.cfg.ConflictKey) > 0:
		key = r.cfg.ConflictKey
	case needKey && len(shape.Key) > 0:
		for _, f := range shape.Key {
			key = append(key, f.Name)
		}
	case needKey:
		return "", nil, fmt.Errorf("auto_create: cannot tell the key of %s: the records have no structured key; set conflict_key", r.tableName)
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
	for _, extra := range []string{r.cfg.VersionColumn, r.cfg.SoftDeleteColumn} {
		if extra == "" || has(extra) {
			continue
		}
		typ := transform.DebeziumExtraType(extra)
		if extra == r.cfg.SoftDeleteColumn {
			typ = &codec.Type{Kind: codec.KindTimestamp}
		}
		if typ == nil {
			return "", nil, fmt.Errorf("auto_create: version_column %q is not a field of the records", extra)
		}
		fields = append(fields, codec.Field{Name: extra, Type: typ, Optional: true})
	}
	ddl, err := pgwrite.CreateTableDDL(r.ident(), fields, key)
	return ddl, shape, err
}

// createTable creates the route's table from recs (auto_create) and binds
// the route to it. Another worker of this process may have done it already;
// another instance may have too (CREATE TABLE IF NOT EXISTS under the DDL
// advisory lock, then the table as it is is read).
func (p *Pipeline) createTable(ctx context.Context, r *route, recs []*kgo.Record) error {
	r.ddlMu.Lock()
	defer r.ddlMu.Unlock()
	if r.bound() != nil {
		return nil
	}
	ddl, shape, err := r.createDDL(ctx, recs[:min(len(recs), describeLimit)])
	if err != nil {
		return err
	}
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// Another instance may have created it since this one started.
	created, err := pgwrite.CreateTable(ctx, conn, r.ident(), ddl)
	if err != nil {
		return fmt.Errorf("auto_create %s: %w", r.tableName, err)
	}
	t, err := table.LoadTable(ctx, conn, r.schema, r.name)
	if err != nil {
		return err
	}
	b, err := r.bind(t)
	if err != nil {
		return fmt.Errorf("auto_create %s: the table created does not fit the route: %w", r.tableName, err)
	}
	r.cur.Store(b)
	if !created {
		p.log.Info("auto_create: the table exists (another instance created it)", "table", r.tableName)
		return nil
	}
	from := "the record schema"
	if shape.Inferred {
		from = fmt.Sprintf("%d schemaless records", shape.Records)
	}
	p.m.SchemaChanges.WithLabelValues(r.tableName, "create").Inc()
	p.log.Info("auto_create: table created", "table", r.tableName, "from", from, "ddl", ddl)
	return nil
}

// describeLimit bounds how many records auto_create looks at.
const describeLimit = 1000

// evolve applies auto_evolve for fields and rebinds the route to the table
// as it then is. A change that is not safe is a *table.SchemaError.
func (p *Pipeline) evolve(ctx context.Context, r *route, fields []codec.Field) error {
	r.ddlMu.Lock()
	defer r.ddlMu.Unlock()
	cur := r.bound()
	stmts, t, err := pgwrite.EvolveTable(ctx, p.pool, r.schema, r.name, fields, cur.spec.KeyCols)
	if err != nil {
		return err
	}
	b, err := r.bind(t)
	if err != nil {
		return fmt.Errorf("auto_evolve %s: %w", r.tableName, err)
	}
	r.cur.Store(b)
	if len(stmts) > 0 {
		p.m.SchemaChanges.WithLabelValues(r.tableName, "evolve").Inc()
		p.log.Info("auto_evolve: table changed", "table", r.tableName, "ddl", strings.Join(stmts, "; "))
	}
	return nil
}
