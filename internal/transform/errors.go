package transform

import (
	"fmt"
	"strings"
)

// Stage names where in the flow a record failed.
type Stage string

const (
	StageDecode Stage = "decode" // the bytes are not what the format promises
	StageMap    Stage = "map"    // a field does not fit its column, a required column is missing
	// StageTransform: an expression (filter, columns, each, table_expr) or
	// a Go transform failed on the record.
	StageTransform Stage = "transform"
	StageWrite     Stage = "write" // the database rejected the row (SQLSTATE class 22 or 23)
)

// RecordError is a record that cannot become a row. It names the record by
// topic, partition and offset, and the field and column at fault when known.
// Retrying cannot help: the pipeline stops on it (or, later, sends the record
// to a dead-letter queue).
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Stage     Stage
	Field     string // JSON field (or "key"), when known
	Column    string // target column, when known
	Reason    string
}

func (e *RecordError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "topic %s partition %d offset %d: %s", e.Topic, e.Partition, e.Offset, e.Stage)
	switch {
	case e.Field != "" && e.Column != "" && e.Field != e.Column:
		fmt.Fprintf(&b, ": field %q (column %q)", e.Field, e.Column)
	case e.Column != "":
		fmt.Fprintf(&b, ": column %q", e.Column)
	case e.Field != "":
		fmt.Fprintf(&b, ": field %q", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}
