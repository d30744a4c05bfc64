package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// viaPooler makes env.config point postgres.url at PgBouncer (pool_mode =
// transaction, started by scripts/services.sh) with postgres.pooler:
// transaction. Only TestPooler sets it.
var viaPooler bool

// TestPooler runs the suites that touch every kind of session state —
// staging tables, prepared statements, advisory locks, the offset table —
// through a real transaction-mode PgBouncer: insert, upsert with and without
// a version column, deletes, raw mode, exactly-once (with a crash between
// the PostgreSQL and Kafka commits), the dead-letter table and its replay,
// auto_create and auto_evolve, check and offsets, the backlog merge. Each
// subtest asserts what it asserts on a direct connection; PgBouncer's own counters prove the
// traffic went through it.
func TestPooler(t *testing.T) {
	admin := testenv.WithDatabase(t, testenv.PgBouncerURL(t), "/pgbouncer")
	before := pgbouncerTransactions(t, admin)
	viaPooler = true
	defer func() { viaPooler = false }()
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"insert", TestInsertMode},
		{"upsert", TestUpsertModel},
		{"version and soft delete", TestVersionAndSoftDelete},
		{"composite key deletes", TestJSONKeyCompositeDelete},
		{"raw", TestRawMode},
		{"restart resumes", TestRestartResumes},
		{"exactly-once crash between commits", TestExactlyOnceCrashBetweenCommits},
		{"dead-letter table and replay", TestDLQReplayTable},
		{"auto_create and auto_evolve", TestFormatsAutoCreateEvolve},
		{"check", TestCheck},
		{"offsets exactly-once", TestOffsetsExactlyOnce},
		{"backlog merge", TestBacklogMerge},
	} {
		t.Run(tc.name, tc.test)
	}
	// Small batches of several partitions share one transaction (group
	// commit), so the count depends on timing: 245 to well over 1,000 have
	// been seen. Without the pooler the pipelines would add none.
	// PgBouncer refreshes these totals every stats_period (1 s in
	// scripts/services.sh; 60 s by default, when one run read only 77):
	// wait for the last refresh.
	var n int64
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(500 * time.Millisecond) {
		if n = pgbouncerTransactions(t, admin) - before; n >= 100 {
			break
		}
	}
	if n < 100 {
		t.Errorf("PgBouncer counted %d transactions during the suite; the pipelines did not go through it", n)
	}
}

// pgbouncerTransactions is the total of SHOW STATS' total_xact_count over
// every database, from PgBouncer's admin console (simple protocol only).
func pgbouncerTransactions(t *testing.T, adminURL string) int64 {
	t.Helper()
	cc, err := pgx.ParseConfig(adminURL)
	mustNoErr(t, err)
	cc.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, cc)
	mustNoErr(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SHOW STATS")
	mustNoErr(t, err)
	defer rows.Close()
	var total int64
	for rows.Next() {
		vals, err := rows.Values()
		mustNoErr(t, err)
		for i, f := range rows.FieldDescriptions() {
			if f.Name == "total_xact_count" {
				n, ok := vals[i].(pgtype.Numeric)
				if !ok {
					t.Fatalf("SHOW STATS total_xact_count is a %T", vals[i])
				}
				v, err := n.Int64Value()
				mustNoErr(t, err)
				total += v.Int64
			}
		}
	}
	mustNoErr(t, rows.Err())
	return total
}
