package e2e

import (
	"context"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// exampleResult is the runner's last line (examples/formats/run).
var exampleResult = regexp.MustCompile(`(?m)^result: table=(\S+) rows=(\d+) expected_rows=(\d+) total_amount=(\S+) ok=(true|false)$`)

// debeziumOps is the debezium runner's count of change events by op.
var debeziumOps = regexp.MustCompile(`change events: (\d+) r, (\d+) c, (\d+) u, (\d+) d`)

// The examples in examples/formats run as documented: for each format, the
// runner produces sample orders in that format, runs the kafka2pg binary on
// the example's pipeline.yaml, and compares every row with its model. The
// test requires a clean exit and checks the outcome itself in the database
// the example wrote to: the row count (every order, less the one the
// json-connect example deletes with a tombstone; for debezium the rows the
// change events leave) and the total amount the runner reported.
func TestExamplesFormats(t *testing.T) {
	parallel(t)
	brokers, adminURL, bin := testenv.Brokers(t), testenv.DatabaseURL(t), testenv.Binary(t)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	runner := filepath.Join(t.TempDir(), "examples-run")
	build := exec.Command("go", "build", "-o", runner, "./examples/formats/run")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/formats/run: %v\n%s", err, out)
	}

	const count = 40
	for _, tc := range []struct {
		format string
		table  string
		rows   int // -1: the runner's model decides (debezium)
	}{
		{"avro", "orders_avro", count},
		{"protobuf", "orders_protobuf", count},
		{"json-schema", "orders_json_schema", count},
		{"json-connect", "orders_connect", count - 1},
		{"debezium", "orders_cdc", -1},
	} {
		t.Run(tc.format, func(t *testing.T) {
			dbURL, pool := testenv.NewDatabase(t)
			u, err := url.Parse(dbURL)
			mustNoErr(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, runner, "-format", tc.format, "-bin", bin, "-count", strconv.Itoa(count),
				"-brokers", brokers, "-admin-url", adminURL, "-database", strings.TrimPrefix(u.Path, "/"))
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the %s example failed (%v); output:\n%s", tc.format, err, tail(string(out), 60))
			}
			m := exampleResult.FindStringSubmatch(string(out))
			if m == nil {
				t.Fatalf("no result line in the output:\n%s", tail(string(out), 30))
			}
			table, reported, expected, total := m[1], m[2], m[3], m[4]
			if table != tc.table || m[5] != "true" {
				t.Fatalf("result line %q; want table=%s ok=true", m[0], tc.table)
			}
			if tc.rows >= 0 && expected != strconv.Itoa(tc.rows) {
				t.Fatalf("the runner expected %s rows, want %d", expected, tc.rows)
			}
			if tc.rows < 0 {
				if n, _ := strconv.Atoi(expected); n <= 0 || n >= count {
					t.Fatalf("debezium: the runner expected %s rows; want some, fewer than the %d events (deletes)", expected, count)
				}
				ops := debeziumOps.FindStringSubmatch(string(out))
				if ops == nil || ops[1] == "0" || ops[2] == "0" || ops[3] == "0" || ops[4] == "0" {
					t.Fatalf("debezium: want r, c, u and d events; the runner said %q", ops)
				}
			}
			var rows, sum string
			err = pool.QueryRow(context.Background(),
				"SELECT count(*)::text, coalesce(sum(amount), 0)::text FROM "+pgx.Identifier{table}.Sanitize()).Scan(&rows, &sum)
			mustNoErr(t, err)
			if rows != expected || rows != reported || sum != total {
				t.Fatalf("%s holds %s rows with total amount %s; the runner reported %s rows (%s expected), total %s",
					table, rows, sum, reported, expected, total)
			}
		})
	}
}
