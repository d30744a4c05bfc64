package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

var supersededLine = regexp.MustCompile(`msg=totals .*superseded=(\d+)`)

// The documented semantics of superseded changes (docs/errors.md): within
// an upsert batch the last change to a key wins, and an earlier change of
// the key is folded into it without being sent, so a database constraint
// it would break is never checked and it is not dead-lettered; it is
// counted as superseded. Where batches split decides it: the same records
// one per batch dead-letter the bad change.
func TestSupersededChanges(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxRows    int
		wantDead   []string // keys of the dead letters, sorted
		superseded string
	}{
		{"one batch", 1000, []string{"b"}, "1"},
		{"a batch per record", 1, []string{"a", "b"}, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			testenv.Exec(t, e.pool, `CREATE TABLE kv (k text PRIMARY KEY, n int NOT NULL CHECK (n >= 0))`)
			rec := func(k string, n int) *kgo.Record {
				return &kgo.Record{Topic: e.topic, Key: []byte(k), Value: fmt.Appendf(nil, `{"n": %d}`, n)}
			}
			testenv.Produce(t, testenv.Client(t),
				rec("a", -1), // breaks the CHECK; superseded by a=5 when in one batch
				rec("a", 5),
				rec("b", -1), // breaks the CHECK; nothing follows it
				rec("c", 3),
			)
			out := runToEnd(t, e.config(fmt.Sprintf(`batch: {max_rows: %d, max_wait: 2s}
errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
routes:
  - topic: {{topic}}
    table: kv
    mode: upsert
`, tc.maxRows)))
			var got []string
			rows, err := e.pool.Query(context.Background(), `SELECT k || '=' || n FROM kv ORDER BY k`)
			mustNoErr(t, err)
			for rows.Next() {
				var s string
				mustNoErr(t, rows.Scan(&s))
				got = append(got, s)
			}
			if strings.Join(got, ",") != "a=5,c=3" {
				t.Errorf("kv = %v, want a=5,c=3", got)
			}
			var dead []string
			rows, err = e.pool.Query(context.Background(), `SELECT convert_from(key, 'UTF8') FROM kafka2pg_dlq ORDER BY "offset"`)
			mustNoErr(t, err)
			for rows.Next() {
				var k string
				mustNoErr(t, rows.Scan(&k))
				dead = append(dead, k)
			}
			if strings.Join(dead, ",") != strings.Join(tc.wantDead, ",") {
				t.Errorf("dead letters for keys %v, want %v", dead, tc.wantDead)
			}
			m := supersededLine.FindStringSubmatch(out)
			if m == nil || m[1] != tc.superseded {
				t.Errorf("totals line: superseded=%v, want %s:\n%s", m, tc.superseded, tail(out, 3))
			}
		})
	}
}
