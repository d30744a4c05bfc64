// Package route binds each configured route to its table: it reads the
// table from the catalog, checks the route against it, and follows the
// table as it changes (auto_create creates it from the first records,
// auto_evolve adds and widens columns, under the DDL lock). Its Mapper turns
// one partition's records into rows for every route of their topic.
package route

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// Route is one configured route and the table it writes. The table can
// change while the pipeline runs: each version is a Binding, swapped
// atomically; a Mapper maps for one Binding and moves to a newer one between
// batches. A Route is safe for concurrent use.
type Route struct {
	// Index is the route's position in the configuration (routes[Index]).
	Index int
	Cfg   *config.Route
	// TableName is the quoted, schema-qualified (when configured) name,
	// for messages and metrics.
	TableName string

	schema, name string // raw identifiers; schema "" = search_path
	mode         table.Mode
	base         transform.Spec // formats and flags; no table or key yet
	cur          atomic.Pointer[Binding]
	ddlMu        sync.Mutex // serialises this route's DDL within the process
}

// Binding is a route bound to one version of its table.
type Binding struct {
	Route  *Route
	Table  *table.Table
	Writer *pgwrite.Writer
	Spec   transform.Spec
}

// Ident is the table's name as an identifier.
func (r *Route) Ident() pgx.Identifier {
	if r.schema == "" {
		return pgx.Identifier{r.name}
	}
	return pgx.Identifier{r.schema, r.name}
}

// Binding returns the current binding; nil while an auto_create table does
// not exist yet.
func (r *Route) Binding() *Binding { return r.cur.Load() }

// Base is the route's mapping spec without a table: formats and flags.
func (r *Route) Base() transform.Spec { return r.base }

// Prepare loads the table of routes[index] and checks the route against it.
// With createRaw, a raw-mode table is created when missing. With
// auto_create and no table yet, the route is returned unbound (see
// Binding). The returned route is non-nil (for its table name) even on
// error.
func Prepare(ctx context.Context, db pgwrite.Execer, index int, rc *config.Route, formats *format.Set, createRaw bool) (*Route, error) {
	schema, name := rc.TableName()
	r := &Route{Index: index, Cfg: rc, schema: schema, name: name}
	r.TableName = r.Ident().Sanitize()
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
		if createRaw {
			if err := pgwrite.CreateIfMissing(ctx, db, pgwrite.RawTableDDL(r.TableName, spec.Key.Structured())); err != nil {
				return r, fmt.Errorf("creating raw table: %w", err)
			}
		}
	}
	spec.Mode = r.mode
	r.base = spec
	t, err := table.LoadTable(ctx, db, schema, name)
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

// bind checks the route against a version of its table and builds the
// writer and mapper spec for it.
func (r *Route) bind(t *table.Table) (*Binding, error) {
	rc := r.Cfg
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
	return &Binding{Route: r, Table: t, Writer: w, Spec: spec}, nil
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
		if b := r.Binding(); b != nil {
			out = append(out, b.Table)
		}
	}
	return out
}
