package pgwrite

// Waiting is how many transactions wait for the grouped transaction
// running now.
func (g *Group) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// Inserted reports whether the last Merge found its table empty and
// inserted without ON CONFLICT.
func (b *Backlog) Inserted() bool { return b.inserted }
