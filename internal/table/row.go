package table

import "time"

// Mode is how rows reach the table.
type Mode int

const (
	// Insert appends rows with COPY straight into the table.
	Insert Mode = iota + 1
	// Upsert copies rows into a staging table, then runs one
	// INSERT … SELECT … ON CONFLICT (key) DO UPDATE.
	Upsert
	// Raw is Insert into kafka2pg's raw table with ON CONFLICT DO NOTHING on
	// (topic, partition, offset), so a replayed record is not stored twice.
	Raw
)

// Op is what one record does to its row.
type Op uint8

const (
	OpWrite   Op = iota // insert or upsert the row
	OpDelete            // delete the row with this key (or soft-delete it)
	OpReplace           // the record's rows are its parent's whole set (replace_by): Vals holds the parent's columns

)

// Row is one record's effect on the table. Vals has one slot per table
// column; only the slots whose bit is set in Set are written (a column the
// record did not mention is left out of the statement, so it gets its default
// on insert and keeps its stored value on update).
type Row struct {
	Op   Op
	Vals []any
	Set  Bitset
	// Key is the encoded key (see AppendKey): the identity used to keep the
	// last change per key inside a batch and to sort rows. Empty in insert
	// and raw mode without deletes.
	Key string
	// Timestamp is the Kafka record timestamp, stored by soft deletes.
	Timestamp time.Time
	// Offset is the Kafka record's offset (to isolate a row the database
	// rejects and to advance the stored offset past it).
	Offset int64
}
