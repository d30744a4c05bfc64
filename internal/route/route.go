// Package route binds each configured route to its tables: it reads a table
// from the catalog, checks the route against it, and follows the table as it
// changes (auto_create creates it from the first records, auto_evolve adds
// and widens columns, under the DDL lock). A route writes one table, or with
// table_expr a table per record. Its Mapper turns one partition's records
// into rows for every route of their topic.
package route

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/ddl"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// Route is one configured route. A Route is safe for concurrent use.
type Route struct {
	// Index is the route's position in the configuration (routes[Index]);
	// tables of earlier routes are written first in a transaction.
	Index int
	// Name names the route in metrics and logs (config.Route.RouteName).
	Name string
	Cfg  *config.Route
	// TableName is the quoted name of the route's table, or its table_expr
	// for messages.
	TableName string
	// Programs are the route's expressions; nil without any.
	Programs *Programs

	mode   table.Mode
	base   transform.Spec // formats and flags; no table or key yet
	static *Target        // the table; nil with table_expr

	mu      sync.Mutex
	dynamic map[string]*Target // table_expr: by table name as computed
	foreign map[string]*Target // Go transform rows: by mode and name
	// Func is the route's Go transform (kafka2pg.WithTransform), and
	// Concurrency how many records of a partition it may run at once.
	Func        Func
	Concurrency int
}

// Target is a table a route writes. The table can change while the
// pipeline runs: each version is a Binding, swapped atomically; a Mapper
// maps for one Binding and moves to a newer one between batches.
type Target struct {
	Route *Route
	// TableName is the quoted, schema-qualified (when configured) name.
	TableName    string
	schema, name string // raw identifiers; schema "" = search_path
	cur          atomic.Pointer[Binding]
	ddlMu        sync.Mutex // serialises this table's DDL within the process
	// foreign: a table a Go transform names, written as its operation
	// says (mode; 0: upsert with a primary key, else insert) rather than
	// as the route's settings say.
	foreign bool
	mode    table.Mode
}

// Binding is a route bound to one version of a table.
type Binding struct {
	Route  *Route
	Target *Target
	Table  *table.Table
	Writer *pgwrite.Writer
	Spec   transform.Spec
}

// Ident is the table's name as an identifier.
func (t *Target) Ident() pgx.Identifier {
	if t.schema == "" {
		return pgx.Identifier{t.name}
	}
	return pgx.Identifier{t.schema, t.name}
}

// Binding returns the current binding; nil while an auto_create table does
// not exist yet.
func (t *Target) Binding() *Binding { return t.cur.Load() }

// Binding returns the current binding of the route's table; nil while an
// auto_create table does not exist yet, and for a table_expr route.
func (r *Route) Binding() *Binding {
	if r.static == nil {
		return nil
	}
	return r.static.Binding()
}

// Static is the route's table; nil for a table_expr route.
func (r *Route) Static() *Target { return r.static }

// Base is the route's mapping spec without a table: formats and flags.
func (r *Route) Base() transform.Spec { return r.base }

// Prepare loads the table of routes[index] and checks the route against it.
// With createRaw, a raw-mode table is created when missing. With
// auto_create and no table yet, the route is returned unbound (see
// Binding). A table_expr route has no table until records name one. The
// returned route is non-nil (for its table name) even on error.
func Prepare(ctx context.Context, db ddl.Execer, index int, rc *config.Route, progs *Programs, formats *format.Set, createRaw bool) (*Route, error) {
	r := &Route{Index: index, Name: rc.RouteName(), Cfg: rc, Programs: progs, dynamic: map[string]*Target{}, foreign: map[string]*Target{}}
	if rc.TableExpr != "" {
		r.TableName = "(" + rc.TableExpr + ")"
	} else {
		schema, name := rc.TableName()
		r.static = &Target{Route: r, schema: schema, name: name}
		r.static.TableName = r.static.Ident().Sanitize()
		r.TableName = r.static.TableName
	}
	spec := transform.Spec{DeleteOnTombstone: rc.DeleteOnTombstone, Flatten: rc.Flatten, Evolve: rc.AutoEvolve,
		Debezium: rc.Unwrap == config.UnwrapDebezium, TruncateFail: rc.Debezium.OnTruncate == config.TruncateFail,
		Each: rc.Each != "", ReplaceBy: rc.ReplaceBy}
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
		if createRaw {
			if err := ddl.CreateIfMissing(ctx, db, ddl.RawTableDDL(r.TableName, spec.Key.Structured())); err != nil {
				return r, fmt.Errorf("creating raw table: %w", err)
			}
		}
	}
	spec.Mode = r.mode
	r.base = spec
	if r.static == nil {
		return r, nil
	}
	err = r.static.load(ctx, db)
	if errors.Is(err, table.ErrTableNotFound) && rc.AutoCreate {
		return r, nil // created from the first records
	}
	return r, err
}

// LoadStatic reads the route's table again and binds it (for a route
// prepared while its table did not exist).
func (r *Route) LoadStatic(ctx context.Context, db table.Queryer) error {
	if r.static == nil {
		return nil
	}
	return r.static.load(ctx, db)
}

// load reads the target's table and binds it.
func (t *Target) load(ctx context.Context, db table.Queryer) error {
	tb, err := table.LoadTable(ctx, db, t.schema, t.name)
	if err != nil {
		return err
	}
	b, err := t.bind(tb)
	if err != nil {
		return err
	}
	t.cur.Store(b)
	return nil
}

// maxDynamic bounds the tables one table_expr route may name.
const maxDynamic = 1024

// ErrNoTable: the table a table_expr computed does not exist, and the route
// does not create tables.
var ErrNoTable = errors.New("does not exist")

// Dynamic returns the target of the table a table_expr computed, reading it
// from the catalog on first use. A name that is not a valid identifier, or
// a table that does not exist without auto_create, is an error the caller
// makes a record error (errors wrapping ErrNoTable and *NameError).
func (r *Route) Dynamic(ctx context.Context, db table.Queryer, name string) (*Target, error) {
	if msg := config.CheckTableName(name); msg != "" {
		return nil, &NameError{Name: name, Msg: msg}
	}
	t, err := r.cached(r.dynamic, name, "table_expr", func() *Target {
		schema, tname := config.SplitTableName(name)
		return &Target{Route: r, schema: schema, name: tname}
	})
	if err != nil {
		return nil, err
	}
	err = t.bound(ctx, db)
	switch {
	case err == nil:
		return t, nil
	case errors.Is(err, table.ErrTableNotFound) && r.Cfg.AutoCreate:
		return t, nil // created from the records
	case errors.Is(err, table.ErrTableNotFound):
		return nil, fmt.Errorf("table %s %w (table_expr gave %q)", t.TableName, ErrNoTable, name)
	}
	return nil, err
}

// Foreign returns the target of a table a Go transform's row names, for the
// row's operation (mode 0: upsert when the table has a primary key, else
// insert). The table must exist.
func (r *Route) Foreign(ctx context.Context, db table.Queryer, name string, mode table.Mode) (*Target, error) {
	if msg := config.CheckTableName(name); msg != "" {
		return nil, fmt.Errorf("table %q: %s", name, msg)
	}
	t, err := r.cached(r.foreign, fmt.Sprintf("%d|%s", mode, name), "the Go transform", func() *Target {
		schema, tname := config.SplitTableName(name)
		return &Target{Route: r, schema: schema, name: tname, foreign: true, mode: mode}
	})
	if err != nil {
		return nil, err
	}
	if err := t.bound(ctx, db); err != nil {
		return nil, err
	}
	return t, nil
}

// cached returns the target cached in m under key, or makes one with mk
// and caches it (at most maxDynamic; what names who asks, for the error).
func (r *Route) cached(m map[string]*Target, key, what string, mk func() *Target) (*Target, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := m[key]; ok {
		return t, nil
	}
	if len(m) >= maxDynamic {
		return nil, fmt.Errorf("%s named more than %d tables", what, maxDynamic)
	}
	t := mk()
	t.TableName = t.Ident().Sanitize()
	m[key] = t
	return t, nil
}

// bound reads t's table and binds it unless it is bound; concurrent callers
// wait for one read.
func (t *Target) bound(ctx context.Context, db table.Queryer) error {
	if t.Binding() != nil {
		return nil
	}
	t.ddlMu.Lock()
	defer t.ddlMu.Unlock()
	if t.Binding() != nil {
		return nil
	}
	return t.load(ctx, db)
}

// NameError is a table name computed by table_expr that cannot be a table.
type NameError struct {
	Name, Msg string
}

func (e *NameError) Error() string { return fmt.Sprintf("table_expr gave %q: %s", e.Name, e.Msg) }

// Tables returns the tables the route is bound to now.
func (r *Route) Tables() []*table.Table {
	var out []*table.Table
	if b := r.Binding(); b != nil {
		out = append(out, b.Table)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ts := range []map[string]*Target{r.dynamic, r.foreign} {
		for _, t := range ts {
			if b := t.Binding(); b != nil {
				out = append(out, b.Table)
			}
		}
	}
	return out
}

// keyColumns are the columns that identify a row of t under this route.
func (r *Route) keyColumns(t *table.Table) ([]string, error) {
	rc := r.Cfg
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

// bind checks the route against a version of the target's table and builds
// the writer and mapper spec for it.
func (t *Target) bind(tb *table.Table) (*Binding, error) {
	if t.foreign {
		return t.bindForeign(tb)
	}
	r := t.Route
	rc := r.Cfg
	keyCols, err := r.keyColumns(tb)
	if err != nil {
		return nil, err
	}
	for _, c := range keyCols {
		if tb.Column(c) < 0 {
			return nil, fmt.Errorf("conflict_key: %s has no column %q", tb, c)
		}
	}
	if rc.VersionColumn != "" {
		i := tb.Column(rc.VersionColumn)
		if i < 0 {
			return nil, fmt.Errorf("version_column: %s has no column %q", tb, rc.VersionColumn)
		}
		if !versionType(tb.Columns[i]) {
			return nil, fmt.Errorf("version_column: column %q is %s; it must be smallint, integer, bigint, timestamp or timestamptz", rc.VersionColumn, tb.Columns[i].TypeName)
		}
	}
	if rc.SoftDeleteColumn != "" {
		i := tb.Column(rc.SoftDeleteColumn)
		if i < 0 {
			return nil, fmt.Errorf("soft_delete_column: %s has no column %q", tb, rc.SoftDeleteColumn)
		}
		if !timestampType(tb.Columns[i]) {
			return nil, fmt.Errorf("soft_delete_column: column %q is %s; it must be timestamp or timestamptz", rc.SoftDeleteColumn, tb.Columns[i].TypeName)
		}
	}
	for _, c := range rc.ReplaceBy {
		if !slices.Contains(keyCols, c) {
			return nil, fmt.Errorf("replace_by: column %q is not in the key (%v) of %s", c, keyCols, tb)
		}
	}
	if r.Programs != nil {
		for _, c := range r.Programs.Columns {
			i := tb.Column(c.Name)
			switch {
			case i < 0:
				return nil, fmt.Errorf("columns: %s has no column %q", tb, c.Name)
			case tb.Columns[i].Generated:
				return nil, fmt.Errorf("columns: column %q of %s is generated; it cannot be written", c.Name, tb)
			}
		}
	}
	w, err := pgwrite.NewWriter(pgwrite.Spec{Table: tb, Mode: r.mode, KeyCols: keyCols,
		VersionCol: rc.VersionColumn, SoftDeleteCol: rc.SoftDeleteColumn, ReplaceBy: rc.ReplaceBy})
	if err != nil {
		return nil, err
	}
	spec := r.base
	spec.Table, spec.KeyCols = tb, keyCols
	if _, err := transform.NewMapper(spec); err != nil {
		return nil, err
	}
	return &Binding{Route: r, Target: t, Table: tb, Writer: w, Spec: spec}, nil
}

// bindForeign binds a table a Go transform names: keyed on its primary key.
func (t *Target) bindForeign(tb *table.Table) (*Binding, error) {
	mode := t.mode
	if mode == 0 {
		mode = table.Insert
		if len(tb.PrimaryKey) > 0 {
			mode = table.Upsert
		}
	}
	if mode == table.Upsert && len(tb.PrimaryKey) == 0 {
		return nil, fmt.Errorf("%s has no primary key to upsert or delete on", tb)
	}
	w, err := pgwrite.NewWriter(pgwrite.Spec{Table: tb, Mode: mode, KeyCols: tb.PrimaryKey})
	if err != nil {
		return nil, err
	}
	spec := transform.Spec{Table: tb, Mode: mode, KeyCols: tb.PrimaryKey, Key: t.Route.base.Key, Value: t.Route.base.Value}
	if _, err := transform.NewMapper(spec); err != nil {
		return nil, err
	}
	return &Binding{Route: t.Route, Target: t, Table: tb, Writer: w, Spec: spec}, nil
}

func versionType(c table.Column) bool {
	if c.Type == nil {
		return false
	}
	switch c.Type.Kind {
	case coerce.KindInt2, coerce.KindInt4, coerce.KindInt8, coerce.KindTimestamp, coerce.KindTimestamptz:
		return true
	}
	return false
}

func timestampType(c table.Column) bool {
	return c.Type != nil && (c.Type.Kind == coerce.KindTimestamp || c.Type.Kind == coerce.KindTimestamptz)
}

// Set is every route of a configuration, by topic, in configuration order.
type Set struct {
	Routes  []*Route
	byTopic map[string][]*Route
}

// NewSet indexes routes by their topics.
func NewSet(routes []*Route) *Set {
	s := &Set{Routes: routes, byTopic: map[string][]*Route{}}
	for _, r := range routes {
		for _, t := range r.Cfg.AllTopics() {
			s.byTopic[t] = append(s.byTopic[t], r)
		}
	}
	return s
}

// ForTopic returns the routes of topic, in configuration order (nil when
// none names it).
func (s *Set) ForTopic(topic string) []*Route { return s.byTopic[topic] }

// Tables returns the tables the routes are bound to now.
func (s *Set) Tables() []*table.Table {
	var out []*table.Table
	for _, r := range s.Routes {
		out = append(out, r.Tables()...)
	}
	return out
}
