package route

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// ErrFlush is returned by Mapper.Map when a route has moved to a newer
// version of its table while rows mapped for the older one are not written
// yet: the caller writes them, calls Flushed, and maps the record again.
var ErrFlush = errors.New("rows mapped for an older table version must be written first")

// Row is one mapped row and the table version it was mapped for.
type Row struct {
	B   *Binding
	Row table.Row
}

// Mapper maps one partition's records through the routes of their topic,
// following each route's table versions. It is used by one goroutine.
type Mapper struct {
	db     pgwrite.Beginner // DDL of auto_create and auto_evolve; nil: none
	routes []*state
	out    []Row
	log    *slog.Logger
	m      *telemetry.Metrics
}

// state is one route as this mapper follows it.
type state struct {
	r       *Route
	b       *Binding
	tm      *transform.Mapper
	pending bool // rows mapped for b are not written yet
	added   bool // the record being mapped added rows for b
}

// NewMapper returns a mapper for the routes of one topic. With db nil the
// tables are used as they are (dead-letter replay): no auto_create and no
// auto_evolve; a route whose table does not exist yet is an error.
func NewMapper(routes []*Route, db pgwrite.Beginner, log *slog.Logger, m *telemetry.Metrics) (*Mapper, error) {
	mp := &Mapper{db: db, log: log, m: m}
	for _, r := range routes {
		if db == nil && r.Binding() == nil {
			return nil, fmt.Errorf("routes[%d] (table %s): the table does not exist yet (kafka2pg run creates it with auto_create)", r.Index, r.TableName)
		}
		mp.routes = append(mp.routes, &state{r: r})
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
// dropped), so routes may move to newer table versions.
func (m *Mapper) Flushed() {
	for _, s := range m.routes {
		s.pending = false
	}
}

// Map maps r through every route of its topic; rest is r and the records
// after it, from which auto_create learns a table's shape. A record is all
// or nothing across its routes. It returns r's rows (valid until the next
// Map), none when r has no effect on any route (a tombstone a route does not
// delete on, a Debezium truncate), or an error:
//   - ErrFlush (see there);
//   - a record error (*transform.RecordError): r cannot become rows;
//   - an error a retry may cure (a schema registry that cannot be reached,
//     a lost connection or a lock timeout during DDL), returned as is;
//   - anything else: the pipeline cannot go on.
func (m *Mapper) Map(ctx context.Context, r *kgo.Record, rest []*kgo.Record) ([]Row, error) {
	m.out = m.out[:0]
	for _, s := range m.routes {
		s.added = false
		if err := m.mapRoute(ctx, s, r, rest); err != nil {
			m.out = m.out[:0]
			return nil, err
		}
	}
	for _, s := range m.routes {
		s.pending = s.pending || s.added
	}
	return m.out, nil
}

// maxEvolves bounds how often one record may evolve its route's table.
const maxEvolves = 3

func (m *Mapper) mapRoute(ctx context.Context, s *state, r *kgo.Record, rest []*kgo.Record) error {
	evolves := 0
	for {
		cur := s.r.Binding()
		if cur == nil {
			if err := m.create(ctx, s.r, rest); err == nil {
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
		if cur != s.b {
			if s.pending {
				return ErrFlush
			}
			spec := cur.Spec
			spec.Evolve = spec.Evolve && m.db != nil
			tm, err := transform.NewMapper(spec)
			if err != nil {
				return err
			}
			s.b, s.tm = cur, tm
		}
		if s.tm.Skip(r) {
			return nil
		}
		m.out = append(m.out, Row{B: s.b})
		row := &m.out[len(m.out)-1].Row
		err := s.tm.Map(ctx, r, row)
		if err == nil {
			s.added = true
			return nil
		}
		m.out = m.out[:len(m.out)-1]
		if errors.Is(err, transform.ErrSkip) {
			return nil
		}
		var change *transform.SchemaChange
		if !errors.As(err, &change) {
			return asRecordError(r, err, "auto_evolve")
		}
		if evolves++; evolves > maxEvolves {
			return fmt.Errorf("topic %s partition %d offset %d: auto_evolve changed %s %d times and the record still does not fit",
				r.Topic, r.Partition, r.Offset, s.r.TableName, maxEvolves)
		}
		stmts, err := s.r.Evolve(ctx, m.db, change.Fields)
		if err != nil {
			var se *table.SchemaError
			if errors.As(err, &se) {
				s.tm.Reject(change.Type, se)
			}
			return asRecordError(r, err, "auto_evolve")
		}
		if len(stmts) > 0 {
			m.m.SchemaChanges.WithLabelValues(s.r.TableName, "evolve").Inc()
			m.log.Info("auto_evolve: table changed", "table", s.r.TableName, "ddl", strings.Join(stmts, "; "))
		}
	}
}

// create runs auto_create for the route from rest.
func (m *Mapper) create(ctx context.Context, rt *Route, rest []*kgo.Record) error {
	c, err := rt.Create(ctx, m.db, rest)
	if err != nil {
		return err
	}
	if c.DDL == "" {
		m.log.Info("auto_create: the table exists (another worker or instance created it)", "table", rt.TableName)
		return nil
	}
	m.m.SchemaChanges.WithLabelValues(rt.TableName, "create").Inc()
	m.log.Info("auto_create: table created", "table", rt.TableName, "from", c.From, "ddl", c.DDL)
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
