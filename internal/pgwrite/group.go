package pgwrite

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafka2pg/kafka2pg/internal/pgtx"
)

// Group commits small transactions of several partitions as one: group
// commit across partitions. At a steady low rate every partition writes a
// few rows as soon as its previous write has finished, and each of those
// transactions waits for its own WAL flush; grouped, one flush serves them
// all, which is what keeps the produce-to-row latency low when there are
// many partitions.
//
// A small transaction (at most MaxRows rows) that finds no grouped
// transaction running starts one at once, alone; one that finds one running
// waits for it to finish and then goes with every other that waited, in one
// transaction started by the first of them. A transaction bigger than
// MaxRows, or any transaction when MaxRows is 0, is committed on its own
// at once. The caller sees what it would see on its own: its changes
// and hook committed or not, and an error only when they were not. When a
// grouped transaction fails and the connection is still up (so it certainly
// rolled back: a constraint, a fenced offset, a bad value), every member
// commits again on its own, so one partition's failure is never another's;
// when the connection is lost every member gets that error, and its retry
// finds out, as after any lost COMMIT, what became of it.
type Group struct {
	Pool    *pgxpool.Pool
	MaxRows int

	mu      sync.Mutex
	running bool
	queue   []*groupReq
}

type groupReq struct {
	ctx     context.Context
	changes []Change
	hook    func(context.Context, *pgtx.Tx) error
	// wake is sent on once: lead is then set (this request starts the
	// next grouped transaction) or err is its outcome.
	wake chan struct{}
	lead bool
	err  error
}

// errAlone is a grouped transaction's failure that rolled back: its
// members commit again on their own.
var errAlone = errors.New("grouped transaction rolled back")

// Commit commits changes and hook like Commit, grouped with other small
// transactions when there are any waiting.
func (g *Group) Commit(ctx context.Context, changes []Change, hook func(context.Context, *pgtx.Tx) error) error {
	if g.MaxRows <= 0 || countRows(changes) > g.MaxRows {
		return Commit(ctx, g.Pool, changes, hook)
	}
	r := &groupReq{ctx: ctx, changes: changes, hook: hook, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	if !g.running {
		g.running = true
		g.mu.Unlock()
		r.lead = true
	} else {
		g.queue = append(g.queue, r)
		g.mu.Unlock()
		<-r.wake
	}
	if r.lead {
		g.lead(r)
	}
	if r.err == errAlone {
		return Commit(ctx, g.Pool, changes, hook)
	}
	return r.err
}

// lead runs one grouped transaction: r and every request waiting, then
// hands the running state to the first request that queued meanwhile.
func (g *Group) lead(r *groupReq) {
	g.mu.Lock()
	// A leader woken from the queue is its first; one that found no group
	// running is not in it.
	members := g.queue
	if len(members) == 0 || members[0] != r {
		members = append([]*groupReq{r}, members...)
	}
	g.queue = nil
	g.mu.Unlock()

	err := g.commitMembers(members)
	for _, m := range members {
		m.err = err
		if m != r {
			m.wake <- struct{}{}
		}
	}
	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.lead = true
		next.wake <- struct{}{}
	} else {
		g.running = false
	}
	g.mu.Unlock()
}

// commitMembers commits every member's changes and hooks in one
// transaction. Its context ends only when every member's has.
func (g *Group) commitMembers(members []*groupReq) error {
	if len(members) == 1 {
		m := members[0]
		return Commit(m.ctx, g.Pool, m.changes, m.hook)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(members[0].ctx))
	defer cancel()
	live := int32(len(members))
	for _, m := range members {
		stop := context.AfterFunc(m.ctx, func() {
			if atomic.AddInt32(&live, -1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	// One change per writer, in the order writers first appear (every
	// member lists its route's tables parents first), its rows in member
	// order.
	var changes []Change
	at := map[*Writer]int{}
	for _, m := range members {
		for _, c := range m.changes {
			i, ok := at[c.W]
			if !ok {
				at[c.W] = len(changes)
				changes = append(changes, Change{W: c.W})
				i = len(changes) - 1
			}
			changes[i].Rows = append(changes[i].Rows, c.Rows...)
		}
	}
	var hook func(context.Context, *pgtx.Tx) error
	for _, m := range members {
		if m.hook != nil {
			hook = func(ctx context.Context, tx *pgtx.Tx) error {
				for _, m := range members {
					if m.hook != nil {
						if err := m.hook(ctx, tx); err != nil {
							return err
						}
					}
				}
				return nil
			}
			break
		}
	}
	err := Commit(ctx, g.Pool, changes, hook)
	if err == nil {
		// The superseded rows of a writer are counted once, on the first
		// member that wrote to it.
		for _, m := range members {
			for i, c := range m.changes {
				if j, ok := at[c.W]; ok {
					m.changes[i].Superseded = changes[j].Superseded
					delete(at, c.W)
				}
			}
		}
		return nil
	}
	var lost *ConnLostError
	if errors.As(err, &lost) {
		return err
	}
	return errAlone
}

func countRows(changes []Change) int {
	n := 0
	for _, c := range changes {
		n += len(c.Rows)
	}
	return n
}
