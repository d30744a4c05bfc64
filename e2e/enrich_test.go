package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// examples/enrich runs as documented: orders are enriched with their
// customer's tier from the lookup table, and the ones that break the rule
// or name an unknown customer are dead letters with the reason.
func TestExampleEnrich(t *testing.T) {
	parallel(t)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	bin := filepath.Join(t.TempDir(), "enrich")
	build := exec.Command("go", "build", "-race", "-o", bin, "./examples/enrich")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/enrich: %v\n%s", err, out)
	}
	e := newEnv(t, 3)
	schema, err := os.ReadFile(filepath.Join(root, "examples/enrich/schema.sql"))
	mustNoErr(t, err)
	testenv.Exec(t, e.pool, string(schema))
	testenv.Exec(t, e.pool, `INSERT INTO customers VALUES (1, 'gold'), (2, 'silver'), (3, 'bronze')`)
	var recs []*kgo.Record
	wantTier := map[int]string{}
	for i := 1; i <= 60; i++ {
		customer, amount := 1+i%3, fmt.Sprintf("%d.50", i*10)
		switch i {
		case 13:
			amount = "-5" // breaks the rule
		case 27:
			customer = 99 // unknown
		default:
			wantTier[i] = map[int]string{1: "gold", 2: "silver", 3: "bronze"}[customer]
		}
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i % 3),
			Value: fmt.Appendf(nil, `{"order_id": %d, "customer_id": %d, "amount": %q}`, i, customer, amount)})
	}
	testenv.Produce(t, testenv.Client(t), recs...)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, bin, "--config", filepath.Join(root, "examples/enrich/pipeline.yaml"), "--stop-at-end")
	run.Env = append(os.Environ(), "DATABASE_URL="+e.dbURL, "KAFKA2PG_BROKERS="+testenv.Brokers(t),
		"ENRICH_TOPIC="+e.topic, "ENRICH_GROUP="+e.group)
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("enrich: %v\n%s", err, tail(string(out), 30))
	}
	rows, err := e.pool.Query(context.Background(), `SELECT order_id, tier, discount = round(amount * CASE tier WHEN 'gold' THEN 0.10 WHEN 'silver' THEN 0.05 ELSE 0 END, 2) FROM orders_enriched`)
	mustNoErr(t, err)
	got := map[int]string{}
	for rows.Next() {
		var id int
		var tier string
		var discountOK bool
		mustNoErr(t, rows.Scan(&id, &tier, &discountOK))
		got[id] = tier
		if !discountOK {
			t.Errorf("order %d: wrong discount", id)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(wantTier) {
		t.Fatalf("orders_enriched:\n got %v\nwant %v", got, wantTier)
	}
	var dead []string
	rows, err = e.pool.Query(context.Background(), `SELECT stage || ': ' || error FROM kafka2pg_dlq ORDER BY error`)
	mustNoErr(t, err)
	for rows.Next() {
		var s string
		mustNoErr(t, rows.Scan(&s))
		dead = append(dead, s)
	}
	joined := strings.Join(dead, "\n")
	if len(dead) != 2 || !strings.Contains(joined, `order 13: amount "-5" is not between 0 and 10,000`) ||
		!strings.Contains(joined, "order 27: customer 99: unknown customer") || !strings.Contains(joined, "transform") {
		t.Fatalf("dead letters:\n%s", joined)
	}
}
