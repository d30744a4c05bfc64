package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// The peer benchmark's harness (scripts/bench-peers.sh, `make bench-peers`)
// on a small backlog: kafka2pg and Kafka Connect with Debezium's JDBC sink on
// peersCount events, the row-at-a-time Python consumer (and kafka2pg again)
// on peersSample events, in insert and upsert modes. The script checks each
// run itself and stops on a wrong table; this test then compares every peer's
// final table, row for row, with the ceiling's (psql's \copy of the rows
// dumped from the same topic), so a harness that checked nothing would not
// pass. The first run downloads Kafka Connect, the Debezium plugin and the
// Python packages into the cache directory; later runs take about a minute.
func TestPeersHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Kafka Connect and a Python consumer; not with -short")
	}
	testenv.Brokers(t)
	admin := testenv.DatabaseURL(t)
	for _, tool := range []string{"java", "mvn", "python3", "psql"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; the peer harness needs it", tool)
			}
			t.Skipf("%s is not installed; the peer harness needs it", tool)
		}
	}
	const peersCount, peersSample = 3000, 500
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	db := testenv.Name("kafka2pg_peers_e2e")
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
	})

	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "scripts/bench-peers.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"PEERS_COUNT="+strconv.Itoa(peersCount),
		"PEERS_SAMPLE="+strconv.Itoa(peersSample),
		"PEERS_RUNS=1",
		"PEERS_MODES=insert upsert",
		"PEERS_TIMEOUT=240",
		"PEERS_DOC=",
		"PEERS_WORK="+t.TempDir(),
		"PEERS_DB="+db,
		"PEERS_PREFIX="+testenv.Name("peers_e2e")+"_",
		"PEERS_KEEP=1",
		"PEERS_KAFKA2PG_BIN="+testenv.Binary(t),
	)
	// SIGTERM lets the script's trap stop the Connect worker and delete the
	// topics and groups.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/bench-peers.sh: %v\n%s", err, tail(string(out), 60))
	}
	t.Logf("scripts/bench-peers.sh took %s", time.Since(start).Round(time.Second))

	u, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Database = db
	conn, err := pgx.ConnectConfig(context.Background(), u)
	if err != nil {
		t.Fatalf("connecting to %s: %v", db, err)
	}
	defer conn.Close(context.Background())
	const cols = "order_id, customer_id, status, amount, currency, items, express, created_at, version"
	count := func(table string) int64 {
		var n int64
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
			t.Fatalf("counting %s: %v", table, err)
		}
		return n
	}
	for _, mode := range []string{"insert", "upsert"} {
		for _, c := range []struct {
			dataset string
			events  int64
			peers   []string
		}{
			{"full", peersCount, []string{"kafka2pg", "debezium"}},
			{"sample", peersSample, []string{"kafka2pg", "python"}},
		} {
			ceiling := "kept_" + mode + "_" + c.dataset + "_ceiling"
			want := count(ceiling)
			if mode == "insert" && want != c.events {
				t.Errorf("%s: %d rows, want one per event (%d)", ceiling, want, c.events)
			}
			if mode == "upsert" {
				if want == 0 || want >= c.events {
					t.Errorf("%s: %d rows, want one per distinct order id, fewer than the %d events", ceiling, want, c.events)
				}
				var distinct int64
				if err := conn.QueryRow(context.Background(), "SELECT count(DISTINCT order_id) FROM "+pgx.Identifier{ceiling}.Sanitize()).Scan(&distinct); err != nil || distinct != want {
					t.Errorf("%s: %d distinct order ids in %d rows (%v)", ceiling, distinct, want, err)
				}
			}
			for _, peer := range c.peers {
				table := "kept_" + mode + "_" + c.dataset + "_" + peer
				if got := count(table); got != want {
					t.Errorf("%s %s: %d rows, want %d (the ceiling's)", mode, peer, got, want)
					continue
				}
				// Multiset difference both ways: equal contents, duplicates included.
				var missing, extra int64
				q := "SELECT (SELECT count(*) FROM (SELECT " + cols + " FROM " + pgx.Identifier{ceiling}.Sanitize() +
					" EXCEPT ALL SELECT " + cols + " FROM " + pgx.Identifier{table}.Sanitize() + ") a), " +
					"(SELECT count(*) FROM (SELECT " + cols + " FROM " + pgx.Identifier{table}.Sanitize() +
					" EXCEPT ALL SELECT " + cols + " FROM " + pgx.Identifier{ceiling}.Sanitize() + ") b)"
				if err := conn.QueryRow(context.Background(), q).Scan(&missing, &extra); err != nil {
					t.Fatalf("comparing %s with %s: %v", table, ceiling, err)
				}
				if missing != 0 || extra != 0 {
					t.Errorf("%s %s (%s): %d of the ceiling's rows missing, %d rows not in the ceiling", mode, peer, c.dataset, missing, extra)
				}
			}
		}
	}
}
