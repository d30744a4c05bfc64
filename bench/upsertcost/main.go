// Command upsertcost measures what PostgreSQL's backend spends applying
// one million upsert events (500,000 possible order ids, versions rising
// per id, eight partitions by id) to the orders table of
// examples/orders/schema.sql, batch by batch as kafka2pg writes them: each
// batch deduplicated by key, then either COPY into a temp staging table +
// INSERT … SELECT … ORDER BY key ON CONFLICT DO UPDATE (kafka2pg's
// statement, -variant stage) or one INSERT … SELECT FROM unnest(arrays)
// (-variant unnest), or COPY into an unlogged staging table that the
// partition's whole backlog accumulates in, merged once with DISTINCT ON
// (-variant deferred: what a server-side staging design would cost). It
// prints the batches, the wall time and the backend's CPU seconds (user +
// system from /proc/PID/stat, so the server must run on this machine),
// after checking that the table holds one row per order id.
// docs/benchmarks.md ("What the batch size does to an upsert") has the
// figures.
//
//	go run ./bench/upsertcost -url postgres://… -variant stage -batch 8000
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

type row struct {
	id, cust int64
	status   string
	amount   string
	cur      string
	items    string
	express  bool
	created  time.Time
	version  int64
}

// ticks is the CPU time (user + system, in clock ticks of 1/100 s) of
// the local process pid.
func ticks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	must(err)
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+2:])
	u, err := strconv.ParseInt(f[11], 10, 64)
	must(err)
	s, err := strconv.ParseInt(f[12], 10, 64)
	must(err)
	return u + s
}

// exec runs q in tx, or exits.
func exec(ctx context.Context, tx pgx.Tx, q string, args ...any) {
	_, err := tx.Exec(ctx, q, args...)
	must(err)
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "upsertcost:", err)
		os.Exit(1)
	}
}

const cols = "order_id, customer_id, status, amount, currency, items, express, created_at, version"

var colNames = strings.Split(strings.ReplaceAll(cols, " ", ""), ",")

const set = "customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, amount = EXCLUDED.amount, currency = EXCLUDED.currency, items = EXCLUDED.items, express = EXCLUDED.express, created_at = EXCLUDED.created_at, version = EXCLUDED.version WHERE t.version IS NULL OR EXCLUDED.version > t.version"

func main() {
	ctx := context.Background()
	url := flag.String("url", "", "PostgreSQL URL (the orders table is dropped and created there)")
	variant := flag.String("variant", "stage", "stage, unnest or deferred")
	batch := flag.Int("batch", 8000, "events per batch, within one partition")
	schemaFile := flag.String("schema", "examples/orders/schema.sql", "the table's DDL")
	flag.Parse()
	bs := *batch
	switch {
	case *variant != "stage" && *variant != "unnest" && *variant != "deferred":
		must(fmt.Errorf("-variant %q: stage, unnest or deferred", *variant))
	case bs < 1:
		must(fmt.Errorf("-batch %d: at least 1", bs))
	}
	conn, err := pgx.Connect(ctx, *url)
	must(err)
	schema, err := os.ReadFile(*schemaFile)
	must(err)
	for _, q := range []string{"DROP TABLE IF EXISTS orders, stage_u", string(schema),
		"ALTER TABLE orders SET (autovacuum_enabled = off)", "CHECKPOINT"} {
		_, err := conn.Exec(ctx, q)
		must(err)
	}
	var pid int
	must(conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	// 8 partitions by key, 125k events each, batches of 8000 deduped by key
	rng := rand.New(rand.NewPCG(1, 2))
	versions := map[int64]int64{}
	parts := make([][]row, 8)
	st := []string{"new", "paid", "shipped", "delivered", "cancelled"}
	for i := 0; i < 1000000; i++ {
		id := 1 + rng.Int64N(500000)
		versions[id]++
		r := row{id, rng.Int64N(10000), st[rng.IntN(5)], fmt.Sprintf("%d.%02d", rng.IntN(1000), rng.IntN(100)), "EUR",
			`[{"sku": "SKU-0001", "qty": 2, "price": 19.99}]`, rng.IntN(2) == 0, time.Unix(1700000000+int64(i), 0), versions[id]}
		p := int(uint64(id*2654435761) % 8)
		parts[p] = append(parts[p], r)
	}
	c0, t0 := ticks(pid), time.Now()
	nb := 0
	for _, pr := range parts {
		for s := 0; s < len(pr); s += bs {
			b := pr[s:min(s+bs, len(pr))]
			m := map[int64]row{}
			for _, r := range b {
				m[r.id] = r
			}
			tx, err := conn.Begin(ctx)
			must(err)
			n := len(m)
			ids, custs, vers := make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
			sts, amts, curs, items := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
			exps, cre := make([]bool, 0, n), make([]time.Time, 0, n)
			var rowsv [][]any
			for _, r := range m {
				ids, custs, vers = append(ids, r.id), append(custs, r.cust), append(vers, r.version)
				sts, amts, curs, items = append(sts, r.status), append(amts, r.amount), append(curs, r.cur), append(items, r.items)
				exps, cre = append(exps, r.express), append(cre, r.created)
				rowsv = append(rowsv, []any{r.id, r.cust, r.status, r.amount, r.cur, r.items, r.express, r.created, r.version})
			}
			switch *variant {
			case "deferred":
				// The batch goes to an unlogged staging table that the
				// partition's backlog accumulates in; it is merged into
				// orders once, after the partition's last batch.
				exec(ctx, tx, "CREATE UNLOGGED TABLE IF NOT EXISTS stage_u AS SELECT * FROM orders WITH NO DATA")
				_, err = tx.CopyFrom(ctx, pgx.Identifier{"stage_u"}, colNames, pgx.CopyFromRows(rowsv))
				must(err)
				if s+bs >= len(pr) {
					exec(ctx, tx, "INSERT INTO orders AS t ("+cols+") SELECT DISTINCT ON (order_id) "+cols+" FROM stage_u ORDER BY order_id, version DESC ON CONFLICT (order_id) DO UPDATE SET "+set)
					exec(ctx, tx, "TRUNCATE stage_u")
				}
			case "stage":
				exec(ctx, tx, "CREATE TEMP TABLE IF NOT EXISTS stage ON COMMIT DELETE ROWS AS SELECT * FROM orders WITH NO DATA")
				_, err = tx.CopyFrom(ctx, pgx.Identifier{"stage"}, colNames, pgx.CopyFromRows(rowsv))
				must(err)
				exec(ctx, tx, "INSERT INTO orders AS t ("+cols+") SELECT "+cols+" FROM stage ORDER BY order_id ON CONFLICT (order_id) DO UPDATE SET "+set)
			case "unnest":
				// pgx sends the arrays in binary; text arrays are cast.
				q := "INSERT INTO orders AS t (" + cols + ") SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[]::order_status[], $4::text[]::numeric[], $5::text[]::char(3)[], $6::text[]::jsonb[], $7::bool[], $8::timestamptz[], $9::int8[]) AS s(" + cols + ") ORDER BY order_id ON CONFLICT (order_id) DO UPDATE SET " + set
				exec(ctx, tx, q, ids, custs, sts, amts, curs, items, exps, cre, vers)
			}
			must(tx.Commit(ctx))
			nb++
		}
	}
	el := time.Since(t0)
	var cnt int64
	must(conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&cnt))
	if cnt != int64(len(versions)) {
		must(fmt.Errorf("orders holds %d rows, expected %d (one per order id)", cnt, len(versions)))
	}
	fmt.Printf("variant=%s batch=%d batches=%d wall=%.2fs backendCPU=%.2fs rows=%d\n", *variant, bs, nb, el.Seconds(), float64(ticks(pid)-c0)/100, cnt)
}
