package kafka2pg

import (
	"context"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/pipeline"
	"github.com/kafka2pg/kafka2pg/internal/route"
)

// Record is a Kafka record as a Go transform sees it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte // nil for a null key
	Headers   []Header
	Value     []byte // nil for a tombstone
	// Decoded is the value decoded by the route's value format, as plain
	// Go values: map[string]any for a record, []any, string, json.Number
	// (numbers stay exact), bool, nil. It is nil for a tombstone.
	Decoded any
	// DecodedKey is the key decoded by the route's key format, alike.
	DecodedKey any
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Op is what a Row does to its table.
type Op int

const (
	// Write inserts or upserts: as the route's mode says for the route's
	// table; for another table, an upsert on its primary key, or an insert
	// when it has none.
	Write Op = iota
	// Upsert inserts the row or updates the one with its primary key (the
	// route's conflict_key for the route's own table).
	Upsert
	// Insert appends the row.
	Insert
	// Delete deletes the row whose key Values hold.
	Delete
)

// Row is one row a Go transform makes.
type Row struct {
	// Table is "table" or "schema.table"; "" is the route's own table. A
	// table other than the route's must exist.
	Table string
	Op    Op
	// Values are the row's columns. They are coerced to the columns'
	// types as decoded fields are: strings, integers, floats, bool,
	// json.Number, time.Time, time.Duration, []byte, nil, and maps and
	// slices (for json and jsonb columns); other types go through
	// encoding/json. Columns left out get their default on insert and
	// keep their value on upsert.
	Values map[string]any
}

// TransformFunc turns one record into rows: zero, one or many, for one or
// many tables; they are written in the record's transaction, in record
// order. An error is a record error: the record goes to the dead-letter
// queue (errors.tolerance: all) or stops the pipeline. A panic is recovered
// and reported as a record error with the stack.
//
// A record may be transformed more than once (a retried or replayed batch):
// the function should be deterministic, and its calls to other services
// safe to repeat. It must be safe for concurrent use: partitions run in
// parallel, and within a partition up to WithTransformConcurrency records.
type TransformFunc func(ctx context.Context, r *Record) ([]Row, error)

// Retryable marks an error of a TransformFunc as transient (a service the
// enrichment needs cannot be reached): the record is transformed again
// after a backoff (errors.retry), /readyz answers 503 meanwhile, and it is
// never dead-lettered.
func Retryable(err error) error { return &route.RetryableError{Err: err} }

// WithTransform makes the route named route (routes[].name) produce its
// rows with fn instead of mapping fields to columns by name. The route's
// filter, formats and delete_on_tombstone still apply (fn sees tombstones
// when the route deletes on them); it cannot have columns, each or
// table_expr.
func WithTransform(route string, fn TransformFunc) Option {
	return func(o *pipeline.Options) {
		if o.Transforms == nil {
			o.Transforms = map[string]routeFunc{}
		}
		o.Transforms[route] = adapt(fn)
	}
}

// WithTransformConcurrency lets Go transforms run for up to n records of a
// partition at once (for enrichment that waits on other services); the rows
// are still written in record order, and memory stays within the in-flight
// budget. Default 1.
func WithTransformConcurrency(n int) Option {
	return func(o *pipeline.Options) { o.TransformConcurrency = n }
}

type routeFunc = route.Func

// adapt converts fn to the engine's form.
func adapt(fn TransformFunc) route.Func {
	return func(ctx context.Context, in *route.FuncRecord) ([]route.FuncRow, error) {
		r := &Record{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset, Timestamp: in.Timestamp,
			Key: in.Key, Value: in.Value, Decoded: in.Decoded, DecodedKey: in.DecodedKey}
		if len(in.Headers) > 0 {
			r.Headers = make([]Header, len(in.Headers))
			for i, h := range in.Headers {
				r.Headers[i] = Header{Key: h.Key, Value: h.Value}
			}
		}
		rows, err := fn(ctx, r)
		if err != nil {
			return nil, err
		}
		out := make([]route.FuncRow, len(rows))
		for i, row := range rows {
			out[i] = route.FuncRow{Table: row.Table, Op: route.FuncOp(row.Op), Values: row.Values}
		}
		return out, nil
	}
}
