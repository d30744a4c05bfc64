package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// order is the test model of one row of the orders table.
type order struct {
	ID      int64  `json:"id"`
	Status  string `json:"status"`
	Amount  string `json:"amount"`
	Version int64  `json:"version"`
}

const ordersDDL = `CREATE TABLE orders (
  id bigint PRIMARY KEY,
  status text NOT NULL,
  amount numeric(12,2) NOT NULL,
  version bigint NOT NULL,
  note text DEFAULT 'none'
)`

// model is the expected table state, computed independently of kafka2pg:
// the last event per key wins, a tombstone removes the key.
type model map[int64]order

// orderGen produces order events with repeated keys and tombstones; a key
// always goes to the same partition, as with Kafka's key partitioner.
type orderGen struct {
	rng        *rand.Rand
	topic      string
	partitions int
	keys       int
	tombstones float64
	versions   map[int64]int64
	perPart    map[int32]int64
}

func newOrderGen(topic string, partitions, keys int, tombstones float64, seed uint64) *orderGen {
	return &orderGen{rng: rand.New(rand.NewPCG(seed, 7)), topic: topic, partitions: partitions, keys: keys,
		tombstones: tombstones, versions: map[int64]int64{}, perPart: map[int32]int64{}}
}

func partitionOf(key []byte, n int) int32 {
	h := fnv.New32a()
	h.Write(key)
	return int32(h.Sum32() % uint32(n))
}

// next returns n events and applies them to m.
func (g *orderGen) next(n int, m model) []*kgo.Record {
	recs := make([]*kgo.Record, 0, n)
	for range n {
		id := int64(g.rng.IntN(g.keys)) + 1
		g.versions[id]++
		key := []byte(strconv.FormatInt(id, 10))
		r := &kgo.Record{Topic: g.topic, Key: key, Partition: partitionOf(key, g.partitions)}
		if g.rng.Float64() < g.tombstones {
			delete(m, id)
		} else {
			o := order{ID: id, Status: []string{"new", "paid", "shipped"}[g.rng.IntN(3)],
				Amount: fmt.Sprintf("%d.%02d", g.rng.IntN(10000), g.rng.IntN(100)), Version: g.versions[id]}
			r.Value, _ = json.Marshal(o)
			m[id] = o
		}
		g.perPart[r.Partition]++
		recs = append(recs, r)
	}
	return recs
}

// assertOrders compares the orders table with the model, row by row.
func (e *env) assertOrders(m model) {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), "SELECT id, status, amount::text, version FROM orders")
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	got := model{}
	for rows.Next() {
		var o order
		if err := rows.Scan(&o.ID, &o.Status, &o.Amount, &o.Version); err != nil {
			e.t.Fatal(err)
		}
		got[o.ID] = o
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	diffs := 0
	for id, want := range m {
		if g, ok := got[id]; !ok {
			diffs++
			if diffs <= 5 {
				e.t.Errorf("order %d missing from the table (want %+v)", id, want)
			}
		} else if g != want {
			diffs++
			if diffs <= 5 {
				e.t.Errorf("order %d = %+v, want %+v", id, g, want)
			}
		}
	}
	for id, g := range got {
		if _, ok := m[id]; !ok {
			diffs++
			if diffs <= 5 {
				e.t.Errorf("order %d in the table but deleted or never produced: %+v", id, g)
			}
		}
	}
	if diffs > 0 {
		e.t.Fatalf("table differs from the model in %d rows (table %d rows, model %d)", diffs, len(got), len(m))
	}
}

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
