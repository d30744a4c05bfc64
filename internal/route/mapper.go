package route

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/ddl"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
	"github.com/kafka2pg/kafka2pg/internal/transform"
	"github.com/kafka2pg/kafka2pg/internal/transform/expr"
)

// ErrFlush is returned by Mapper.Map when a table has moved to a newer
// version while rows mapped for the older one are not written yet: the
// caller writes them, calls Flushed, and maps the record again.
var ErrFlush = errors.New("rows mapped for an older table version must be written first")

// Row is one mapped row and the table version it was mapped for.
type Row struct {
	B   *Binding
	Row table.Row
}

// Mapper maps one partition's records through the routes of their topic,
// following each table's versions. It is used by one goroutine.
type Mapper struct {
	catalog  table.Queryer // reads the tables table_expr names
	db       ddl.Beginner  // DDL of auto_create and auto_evolve; nil: none
	routes   []*state
	out      []Row
	filtered bool // the last record was filtered out by a route and made no row
	direct   int  // records a route mapped by the direct path (for tests)
	log      *slog.Logger
	m        *telemetry.Metrics
}

// state is one route as this mapper follows it.
type state struct {
	r       *Route
	reader  *transform.Reader
	vars    expr.Vars
	targets map[*Target]*tstate
	// list holds the tstates of targets, in the order they were added,
	// for the loops run on every record: ranging over a map starts an
	// iterator, which cost about a tenth of BenchmarkMapper's time per
	// record. Entries are added by target and never removed.
	list []*tstate
	// Go transform run ahead (Prefetch): results by offset, and the
	// readers of the goroutines that ran them.
	results map[int64]goResult
	readers chan *transform.Reader
	// computed is reused for each row's computed columns.
	computed []transform.Computed
	direct   directPlan
}

// target returns the tstate of t, adding an empty one the first time.
func (s *state) target(t *Target) *tstate {
	ts := s.targets[t]
	if ts == nil {
		ts = &tstate{}
		s.targets[t] = ts
		s.list = append(s.list, ts)
	}
	return ts
}

// tstate is one table of a route as this mapper follows it.
type tstate struct {
	b       *Binding
	tm      *transform.Mapper
	pending bool // rows mapped for b are not written yet
	added   bool // the record being mapped added rows for b
}

// NewMapper returns a mapper for the routes of one topic; catalog reads the
// tables a table_expr names. With db nil the tables are used as they are
// (dead-letter replay): no auto_create and no auto_evolve; a route whose
// table does not exist yet is an error.
func NewMapper(routes []*Route, catalog table.Queryer, db ddl.Beginner, log *slog.Logger, m *telemetry.Metrics) (*Mapper, error) {
	mp := &Mapper{catalog: catalog, db: db, log: log, m: m}
	for _, r := range routes {
		if db == nil && r.static != nil && r.Binding() == nil {
			return nil, fmt.Errorf("routes[%d] (table %s): the table does not exist yet (kafka2pg run creates it with auto_create)", r.Index, r.TableName)
		}
		mp.routes = append(mp.routes, &state{r: r, reader: transform.NewReader(r.base, r.base.Evolve && db != nil),
			targets: map[*Target]*tstate{}, direct: newDirectPlan(r)})
	}
	return mp, nil
}

// Tables names the tables of the mapper's routes, for messages and metrics.
func (m *Mapper) Tables() string {
	names := make([]string, len(m.routes))
	for i, s := range m.routes {
		names[i] = s.r.TableName
	}
	return strings.Join(names, ",")
}

// Flushed tells the mapper that every row it returned has been written (or
// dropped), so tables may move to newer versions.
func (m *Mapper) Flushed() {
	for _, s := range m.routes {
		for _, ts := range s.list {
			ts.pending = false
		}
	}
}

// Filtered reports whether the last record mapped made no row because a
// route's filter was false.
func (m *Mapper) Filtered() bool { return m.filtered }

// Map maps r through every route of its topic; rest is r and the records
// after it, from which auto_create learns a table's shape. A record is all
// or nothing across its routes. It returns r's rows (valid until the next
// Map), none when r has no effect on any route (a filter was false, a
// tombstone a route does not delete on, a Debezium truncate), or an error:
//   - ErrFlush (see there);
//   - a record error (*transform.RecordError): r cannot become rows;
//   - an error a retry may cure (a schema registry that cannot be reached,
//     a lost connection or a lock timeout during DDL), returned as is;
//   - anything else: the pipeline cannot go on.
func (m *Mapper) Map(ctx context.Context, r *kgo.Record, rest []*kgo.Record) ([]Row, error) {
	m.out = m.out[:0]
	m.filtered = false
	for _, s := range m.routes {
		for _, ts := range s.list {
			ts.added = false
		}
		if err := m.mapRoute(ctx, s, r, rest); err != nil {
			m.out = m.out[:0]
			return nil, err
		}
	}
	for _, s := range m.routes {
		for _, ts := range s.list {
			ts.pending = ts.pending || ts.added
		}
	}
	if len(m.out) > 0 {
		m.filtered = false
	}
	return m.out, nil
}

// PrefetchWindow is how many records the caller should hand Prefetch at a
// time; 0 when no route runs a Go transform concurrently.
func (m *Mapper) PrefetchWindow() int {
	w := 0
	for _, s := range m.routes {
		if s.r.Func != nil && s.r.Concurrency > 1 {
			w = max(w, 4*s.r.Concurrency)
		}
	}
	return w
}

// Prefetch runs the Go transforms of routes with a concurrency above one
// for recs ahead of Map, up to that many records at once; Map then takes
// their results in record order. A record Prefetch could not decode is left
// for Map to report.
func (m *Mapper) Prefetch(ctx context.Context, recs []*kgo.Record) {
	for _, s := range m.routes {
		n := s.r.Concurrency
		if s.r.Func == nil || n <= 1 {
			continue
		}
		if s.readers == nil {
			s.results = map[int64]goResult{}
			s.readers = make(chan *transform.Reader, n)
			for range n {
				s.readers <- transform.NewReader(s.r.base, false)
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, r := range recs {
			mu.Lock()
			_, done := s.results[r.Offset]
			mu.Unlock()
			if done {
				continue
			}
			rd := <-s.readers // at most n at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { s.readers <- rd }()
				rec, err := rd.Read(ctx, r)
				if err != nil || rec.Skipped() {
					return
				}
				if p := s.r.Programs; p != nil && p.Filter != nil && !rec.Tombstone() {
					var v expr.Vars
					v.Reset(rec.Key(ctx), rec.Value(), r)
					if ok, err := p.Filter.Bool(&v); err != nil || !ok {
						return // Map filters it, or reports the error
					}
				}
				res := callFunc(ctx, s.r.Func, rec)
				mu.Lock()
				s.results[r.Offset] = res
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
}

// maxEvolves bounds how often one record may evolve a table.
const maxEvolves = 3

func (m *Mapper) mapRoute(ctx context.Context, s *state, r *kgo.Record, rest []*kgo.Record) error {
	if s.r.mode == table.Raw {
		return m.mapRaw(ctx, s, r)
	}
	if m.mapDirect(ctx, s, r) {
		return nil
	}
	rec, err := s.reader.Read(ctx, r)
	if err != nil || rec.Skipped() {
		return err
	}
	p := s.r.Programs
	if p != nil {
		var value = rec.Value()
		s.vars.Reset(rec.Key(ctx), value, r)
	}
	if p != nil && p.Filter != nil && !rec.Tombstone() {
		ok, err := p.Filter.Bool(&s.vars)
		if err != nil {
			return exprError(r, "filter", err)
		}
		if !ok {
			m.filtered = true
			m.m.Filtered.WithLabelValues(s.r.Name).Inc()
			return nil
		}
	}
	if s.r.Func != nil {
		if rec.Tombstone() && !s.r.Cfg.DeleteOnTombstone {
			return nil // no effect: the transform sees tombstones only when the route deletes on them
		}
		res, ok := s.results[r.Offset]
		if !ok {
			res = callFunc(ctx, s.r.Func, rec)
		}
		err := m.funcRows(ctx, s, rec, res)
		if err == nil || IsRetryable(err) {
			delete(s.results, r.Offset) // a retry calls the transform again
		}
		return err
	}
	t, learn, err := m.target(ctx, s, r, rest)
	if err != nil {
		return err
	}
	for evolves := 0; ; {
		b := t.Binding()
		if b == nil {
			if err := m.create(ctx, t, learn); err == nil {
				continue
			} else if !errors.Is(err, ErrNoShape) {
				return asRecordError(r, err, "auto_create")
			}
			// Nothing from r on says what the table looks like: r is a
			// tombstone, a delete or a bad record.
			if _, err := transform.Describe(ctx, s.r.base, []*kgo.Record{r}); isRecordError(err) {
				return err
			}
			return nil
		}
		ts := s.target(t)
		if ts.b != b {
			if ts.pending {
				return ErrFlush
			}
			spec := b.Spec
			spec.Evolve = spec.Evolve && m.db != nil
			tm, err := transform.NewMapper(spec)
			if err != nil {
				return err
			}
			ts.b, ts.tm = b, tm
		}
		n := len(m.out)
		err := m.rows(ctx, s, ts, rec)
		if err == nil {
			ts.added = ts.added || len(m.out) > n
			return nil
		}
		m.out = m.out[:n]
		var change *transform.SchemaChange
		if !errors.As(err, &change) {
			return asRecordError(r, err, "auto_evolve")
		}
		if evolves++; evolves > maxEvolves {
			return fmt.Errorf("topic %s partition %d offset %d: auto_evolve changed %s %d times and the record still does not fit",
				r.Topic, r.Partition, r.Offset, t.TableName, maxEvolves)
		}
		stmts, err := t.Evolve(ctx, m.db, change.Fields)
		if err != nil {
			var se *table.SchemaError
			if errors.As(err, &se) {
				ts.tm.Reject(change.Type, se)
			}
			return asRecordError(r, err, "auto_evolve")
		}
		if len(stmts) > 0 {
			m.m.SchemaChanges.WithLabelValues(t.TableName, "evolve").Inc()
			m.log.Info("auto_evolve: table changed", "table", t.TableName, "ddl", strings.Join(stmts, "; "))
		}
	}
}

// directPlan says how a route takes the direct path: with its
// expressions, what they read of the record and which columns they compute.
type directPlan struct {
	ok bool
	in *transform.DirectInput // nil: a route without expressions
	// cel are the computed columns evaluated by their programs: those
	// that are not in.Ops.
	cel []Column
}

// newDirectPlan is r's plan: the direct path is for routes of one table
// without a Go transform, each or table_expr, whose expressions read the
// record's value only by its top-level fields (expr.Program.ValueFields).
func newDirectPlan(r *Route) directPlan {
	p := r.Programs
	if r.Func != nil || r.static == nil {
		return directPlan{}
	}
	if p == nil {
		return directPlan{ok: true}
	}
	if p.Each != nil || p.Table != nil {
		return directPlan{}
	}
	in := &transform.DirectInput{NoByName: r.Cfg.ColumnsOnly, Fields: map[string]bool{}}
	var cel []Column
	progs := []*expr.Program{}
	if p.Filter != nil {
		progs = append(progs, p.Filter)
	}
	for _, c := range p.Columns {
		in.Computed = append(in.Computed, c.Name)
		// One plain step from one field is written from the field's text
		// (at most one such column per field); the others run.
		if op, ok := c.P.FieldOp(); ok && !slices.ContainsFunc(in.Ops, func(o transform.DirectOp) bool { return o.Field == op.Field }) {
			in.Ops = append(in.Ops, transform.DirectOp{Column: c.Name, Field: op.Field, Text: op})
			continue
		}
		progs = append(progs, c.P)
		cel = append(cel, c)
	}
	// The programs that run read the fields as JSON texts when they can
	// all answer from their fast nodes (a record they are not sure of goes
	// the usual way).
	in.Raw = true
	for _, pr := range progs {
		in.Raw = in.Raw && pr.RawOK()
	}
	for _, pr := range progs {
		fields, ok := pr.ValueFields()
		if !ok {
			return directPlan{}
		}
		for _, f := range fields {
			in.Fields[f] = true
		}
	}
	return directPlan{ok: true, in: in, cel: cel}
}

// mapDirect maps r through a route of one table by the direct path
// (transform.Mapper.DirectScan and DirectFinish, with the route's filter
// and computed columns evaluated in between), when the route's plan allows
// it and its table's current version is the one its rows are mapped for.
// It reports false when r must go the usual way, which maps it from
// scratch and reports any error.
func (m *Mapper) mapDirect(ctx context.Context, s *state, r *kgo.Record) bool {
	if !s.direct.ok || r.Value == nil {
		return false
	}
	b := s.r.static.Binding()
	if b == nil {
		return false
	}
	ts := s.target(s.r.static)
	if ts.b != b || !ts.tm.Direct() {
		return false
	}
	n := len(m.out)
	m.out = append(m.out, Row{B: b})
	row := &m.out[n].Row
	drop := func() bool { m.out = m.out[:n]; return false }
	in := s.direct.in
	if !ts.tm.DirectScan(r, row, in) {
		return drop()
	}
	var computed []transform.Computed
	if p := s.r.Programs; p != nil && (p.Filter != nil || len(s.direct.cel) > 0) {
		if in.Raw {
			s.vars.ResetRaw(ts.tm.DirectKey(ctx, r), in.RawNames, in.RawVals, r)
		} else {
			s.vars.Reset(ts.tm.DirectKey(ctx, r), in.Value, r)
		}
		if p.Filter != nil {
			ok, err := p.Filter.Bool(&s.vars)
			if err != nil {
				return drop() // the usual path reports it
			}
			if !ok {
				drop()
				m.filtered = true
				m.m.Filtered.WithLabelValues(s.r.Name).Inc()
				m.direct++
				return true
			}
		}
		c, err := computeColumns(r, &s.vars, s.direct.cel, ts.tm.DirectArena(), nil, s.computed)
		if err != nil {
			return drop()
		}
		s.computed, computed = c, c
	}
	if !ts.tm.DirectFinish(r, row, computed) {
		return drop()
	}
	ts.added = true
	m.direct++
	return true
}

// mapRaw maps r into a raw table: the record itself, whatever it holds.
func (m *Mapper) mapRaw(ctx context.Context, s *state, r *kgo.Record) error {
	b := s.r.Binding()
	ts := s.target(s.r.static)
	if ts.b != b {
		tm, err := transform.NewMapper(b.Spec)
		if err != nil {
			return err
		}
		*ts = tstate{b: b, tm: tm}
	}
	m.out = append(m.out, Row{B: b})
	if err := ts.tm.Map(ctx, r, &m.out[len(m.out)-1].Row); err != nil {
		m.out = m.out[:len(m.out)-1]
		return err
	}
	ts.added = true
	return nil
}

// target is the table r goes to under the route: its table, or the one its
// table_expr computes; learn are the records auto_create may learn a new
// table's shape from.
func (m *Mapper) target(ctx context.Context, s *state, r *kgo.Record, rest []*kgo.Record) (*Target, []*kgo.Record, error) {
	if s.r.static != nil {
		return s.r.static, rest, nil
	}
	name, err := s.r.Programs.Table.String(&s.vars)
	if err != nil {
		return nil, nil, exprError(r, "table_expr", err)
	}
	t, err := s.r.Dynamic(ctx, m.catalog, name)
	var ne *NameError
	switch {
	case errors.As(err, &ne), errors.Is(err, ErrNoTable):
		return nil, nil, &transform.RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
			Stage: transform.StageTransform, Field: "table_expr", Reason: err.Error()}
	case err != nil:
		return nil, nil, err
	}
	// Other records of the batch may go to other tables: a new table is
	// learnt from this record alone.
	return t, []*kgo.Record{r}, nil
}

// rows maps rec under one table into m.out.
func (m *Mapper) rows(ctx context.Context, s *state, ts *tstate, rec *transform.Record) error {
	spec, p := &ts.b.Spec, s.r.Programs
	add := func() *table.Row {
		m.out = append(m.out, Row{B: ts.b})
		return &m.out[len(m.out)-1].Row
	}
	drop := func() { m.out = m.out[:len(m.out)-1] }
	mapped := func(err error) error {
		if errors.Is(err, transform.ErrSkip) {
			drop()
			return nil
		}
		return err
	}
	if rec.Tombstone() || p == nil {
		if rec.Tombstone() && spec.Each {
			// Tombstones bypass each: with replace_by, the key names the
			// parent whose rows all go.
			if len(spec.ReplaceBy) == 0 || !spec.DeleteOnTombstone {
				return nil
			}
			return ts.tm.MapParent(rec, nil, add())
		}
		return mapped(ts.tm.MapRecord(rec, nil, add()))
	}
	arena := rec.Arena()
	if p.Each == nil {
		computed, err := computeColumns(rec.R, &s.vars, p.Columns, arena, nil, s.computed)
		if err != nil {
			return err
		}
		s.computed = computed
		return mapped(ts.tm.MapRecord(rec, &transform.Input{NoByName: s.r.Cfg.ColumnsOnly, Computed: computed}, add()))
	}
	items, err := p.Each.List(&s.vars, arena)
	if err != nil {
		return exprError(rec.R, "each", err)
	}
	if len(spec.ReplaceBy) > 0 {
		// The parent's columns must not depend on item: they are evaluated
		// once, without one.
		s.vars.Item, s.vars.Index = nil, -1
		computed, err := computeColumns(rec.R, &s.vars, p.Columns, arena, spec.ReplaceBy, nil)
		if err != nil {
			return err
		}
		if err := ts.tm.MapParent(rec, computed, add()); err != nil {
			return err
		}
	}
	for i, item := range items {
		s.vars.Item, s.vars.Index = item, i
		computed, err := computeColumns(rec.R, &s.vars, p.Columns, arena, nil, s.computed)
		if err != nil {
			return err
		}
		s.computed = computed
		if err := mapped(ts.tm.MapRecord(rec, &transform.Input{Src: item, NoByName: s.r.Cfg.ColumnsOnly, Computed: computed}, add())); err != nil {
			return err
		}
	}
	return nil
}

// computeColumns evaluates the computed columns (only those named in only,
// when it is not nil).
func computeColumns(r *kgo.Record, v *expr.Vars, cols []Column, arena *fastjson.Arena, only []string, out []transform.Computed) ([]transform.Computed, error) {
	out = out[:0]
	for _, c := range cols {
		if only != nil && !slices.Contains(only, c.Name) {
			continue
		}
		val, err := c.P.Value(v, arena)
		if err != nil {
			return nil, exprError(r, "columns."+c.Name, err)
		}
		out = append(out, transform.Computed{Column: c.Name, Value: val})
	}
	return out, nil
}

// exprError is an expression's failure on r as a record error of stage
// transform, naming the route key (filter, columns.X, each, table_expr).
func exprError(r *kgo.Record, key string, err error) error {
	return &transform.RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Stage: transform.StageTransform, Field: key, Reason: err.Error()}
}

// create runs auto_create for the target from recs.
func (m *Mapper) create(ctx context.Context, t *Target, recs []*kgo.Record) error {
	if m.db == nil {
		return fmt.Errorf("%s does not exist; dead-letter replay does not create tables", t.TableName)
	}
	c, err := t.Create(ctx, m.db, recs)
	if err != nil {
		return err
	}
	if c.DDL == "" {
		m.log.Info("auto_create: the table exists (another worker or instance created it)", "table", t.TableName)
		return nil
	}
	m.m.SchemaChanges.WithLabelValues(t.TableName, "create").Inc()
	m.log.Info("auto_create: table created", "table", t.TableName, "from", c.From, "ddl", c.DDL)
	return nil
}

// asRecordError turns a schema change the table cannot take (auto_create,
// auto_evolve) into a record error of r; other errors are returned as is.
func asRecordError(r *kgo.Record, err error, stage string) error {
	var se *table.SchemaError
	if errors.As(err, &se) {
		return &transform.RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Stage: transform.StageMap,
			Field: se.Field, Column: se.Column, Reason: stage + ": " + se.Reason}
	}
	return err
}

// isRecordError reports an error that belongs to one record: it goes to
// the dead-letter queue or stops the pipeline, and is never retried.
func isRecordError(err error) bool {
	var re *transform.RecordError
	var se *table.SchemaError
	return errors.As(err, &re) || errors.As(err, &se)
}

// IsRecordError reports an error that belongs to one record (see Map).
func IsRecordError(err error) bool { return isRecordError(err) }

// Changes groups rows by table version into changes for pgwrite.Commit, in
// the order of the routes in the configuration (parents before children),
// each change's rows in record order.
func Changes(rows []Row) []pgwrite.Change {
	type group struct {
		b    *Binding
		rows []table.Row
	}
	var gs []group
	for _, r := range rows {
		i := slices.IndexFunc(gs, func(g group) bool { return g.b == r.B })
		if i < 0 {
			i = len(gs)
			gs = append(gs, group{b: r.B})
		}
		gs[i].rows = append(gs[i].rows, r.Row)
	}
	slices.SortStableFunc(gs, func(a, b group) int { return cmp.Compare(a.b.Route.Index, b.b.Route.Index) })
	out := make([]pgwrite.Change, len(gs))
	for i, g := range gs {
		out[i] = pgwrite.Change{W: g.b.Writer, Rows: g.rows}
	}
	return out
}
