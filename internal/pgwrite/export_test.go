package pgwrite

import "github.com/kafka2pg/kafka2pg/internal/table"

// Waiting is how many transactions wait for the grouped transaction
// running now.
func (g *Group) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// Inserted reports whether the last Merge inserted without ON CONFLICT.
func (b *Backlog) Inserted() bool { return b.inserted }

// Conflicted reports whether a Merge's plain INSERT into b's table met a
// stored key.
func (b *Backlog) Conflicted() bool { return b.w.conflicted.Load() }

// Layers is how many rows of rows w writes in layers before its writes.
func Layers(w *Writer, rows []table.Row) int {
	n := 0
	for _, l := range w.prepare(rows).layers {
		n += len(l)
	}
	return n
}
