package route

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// Func is a transform written in Go (kafka2pg.WithTransform): it returns a
// record's rows, for one or many tables. An error is a record error; a
// panic is recovered and becomes one, with the stack.
type Func func(ctx context.Context, r *FuncRecord) ([]FuncRow, error)

// FuncRecord is what a Func sees of a record.
type FuncRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Headers   []kgo.RecordHeader
	Value     []byte
	// Decoded is the value decoded by the route's format as Go values
	// (map[string]any, []any, string, json.Number, bool, nil); nil for a
	// tombstone.
	Decoded any
	// DecodedKey is the key, decoded alike.
	DecodedKey any
}

// FuncOp is what a FuncRow does.
type FuncOp int

const (
	// OpWrite inserts or upserts as the route's mode says for its own
	// table; for another table it upserts on the primary key, or inserts
	// when the table has none.
	OpWrite FuncOp = iota
	OpUpsert
	OpInsert
	OpDelete // by the table's primary key (the route's conflict_key for its own table)
)

// FuncRow is one row a Func returns.
type FuncRow struct {
	// Table is "table" or "schema.table"; "" is the route's table.
	Table  string
	Op     FuncOp
	Values map[string]any
}

// RetryableError marks a Func's error as transient (a lookup service that
// cannot be reached): the record is transformed again after a backoff,
// like a database outage, and never dead-lettered.
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// IsRetryable reports an error a Func marked as transient.
func IsRetryable(err error) bool {
	var re *RetryableError
	return errors.As(err, &re)
}

// goResult is a Func's outcome for one record.
type goResult struct {
	rows []FuncRow
	err  error
}

// callFunc calls fn for rec, turning a panic into a record error.
func callFunc(ctx context.Context, fn Func, rec *transform.Record) (res goResult) {
	r := rec.R
	in := &FuncRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
		Key: r.Key, Headers: r.Headers, Value: r.Value}
	if v := rec.Value(); v != nil && !rec.Tombstone() {
		in.Decoded = transform.Native(v)
	}
	if k := rec.Key(ctx); k != nil {
		in.DecodedKey = transform.Native(k)
	}
	defer func() {
		if p := recover(); p != nil {
			res = goResult{err: &transform.RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
				Stage: transform.StageTransform, Reason: fmt.Sprintf("the Go transform panicked: %v\n%s", p, debug.Stack())}}
		}
	}()
	rows, err := fn(ctx, in)
	var re *RetryableError
	if errors.As(err, &re) {
		return goResult{err: err} // transient: the record is mapped again after a backoff
	}
	if err != nil {
		return goResult{err: &transform.RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
			Stage: transform.StageTransform, Reason: err.Error()}}
	}
	return goResult{rows: rows}
}

// funcRows maps a Func's rows for rec into m.out.
func (m *Mapper) funcRows(ctx context.Context, s *state, rec *transform.Record, res goResult) error {
	if res.err != nil {
		return res.err
	}
	r := rec.R
	for i, fr := range res.rows {
		t, err := m.funcTarget(ctx, s, fr)
		if err != nil {
			return &transform.RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
				Stage: transform.StageTransform, Field: fmt.Sprintf("rows[%d]", i), Reason: err.Error()}
		}
		b := t.Binding()
		if b == nil {
			return &transform.RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
				Stage: transform.StageTransform, Field: fmt.Sprintf("rows[%d]", i), Reason: fmt.Sprintf("table %s does not exist", t.TableName)}
		}
		ts := s.target(t)
		if ts.b != b {
			if ts.pending {
				return ErrFlush
			}
			tm, err := transform.NewMapper(b.Spec)
			if err != nil {
				return err
			}
			ts.b, ts.tm = b, tm
		}
		computed := make([]transform.Computed, 0, len(fr.Values))
		for col, v := range fr.Values {
			jv, err := transform.FromNative(rec.Arena(), v)
			if err != nil {
				return &transform.RecordError{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
					Stage: transform.StageTransform, Field: fmt.Sprintf("rows[%d]", i), Column: col, Reason: err.Error()}
			}
			computed = append(computed, transform.Computed{Column: col, Value: jv})
		}
		m.out = append(m.out, Row{B: b})
		row := &m.out[len(m.out)-1].Row
		op := table.OpWrite
		if fr.Op == OpDelete {
			op = table.OpDelete
		}
		if err := ts.tm.MapValues(r, op, computed, row); err != nil {
			return err
		}
		ts.added = true
	}
	return nil
}

// funcTarget is the table a FuncRow names, bound for its operation.
func (m *Mapper) funcTarget(ctx context.Context, s *state, fr FuncRow) (*Target, error) {
	own := fr.Table == "" || (s.r.static != nil && fr.Table == s.r.Cfg.Table)
	if own && s.r.static != nil && (fr.Op == OpWrite || fr.Op == OpDelete ||
		(fr.Op == OpUpsert && s.r.mode == table.Upsert) || (fr.Op == OpInsert && s.r.mode == table.Insert)) {
		return s.r.static, nil
	}
	name := fr.Table
	if name == "" {
		return nil, fmt.Errorf("a row without a table on a route whose table is computed (table_expr)")
	}
	mode := table.Mode(0) // as the table's primary key allows
	switch fr.Op {
	case OpUpsert, OpDelete:
		mode = table.Upsert
	case OpInsert:
		mode = table.Insert
	}
	return s.r.Foreign(ctx, m.catalog, name, mode)
}
