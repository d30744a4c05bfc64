package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"

	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// The operations artefacts in deploy/ (dashboard, alert rules, manifests)
// checked against the binary: every metric the dashboard and the alerts
// query is one that kafka2pg exports. deploy_manifests_test.go checks the
// artefacts themselves.

const (
	dashboardFile  = "../deploy/grafana/kafka2pg.json"
	alertsFile     = "../deploy/prometheus/alerts.yml"
	alertsTestFile = "../deploy/prometheus/alerts_test.yml"
)

// notExportedByKafka2pg lists metric names the dashboard or the alerts may
// query that no kafka2pg process exports, each with the reason. Empty: every
// name referenced must be scraped from the running binary.
var notExportedByKafka2pg = map[string]string{}

// A kafka2pg run that produces every labelled series at least once: rows
// (records, rows, batches, lag, offset commits), a record that does not
// decode (record errors, a dead letter), and a write retried while the
// table is locked (write retries). Then /metrics must export every metric
// name the dashboard and the alert rules use, and the probe paths the
// Kubernetes manifests use must answer 200.
func TestDeployMetricsExported(t *testing.T) {
	parallel(t)
	e := newEnv(t, 2)
	testenv.Exec(t, e.pool, `CREATE TABLE events (id bigint NOT NULL)`)
	// A locked table makes a write fail with lock_not_available (55P03),
	// which is retried.
	testenv.Exec(t, e.pool, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET lock_timeout = 100', current_database()); END $$")
	cfg := e.config(`http: {listen: "127.0.0.1:0"}
batch: {max_wait: 20ms}
errors:
  tolerance: all
  dlq: {table: kafka2pg_dlq}
  retry: {initial: 50ms, max: 200ms}
routes:
  - topic: {{topic}}
    table: events
`)
	p := start(t, "run", "--config", cfg)
	addr := servingAddr(t, p)

	cl := testenv.Client(t)
	var recs []*kgo.Record
	for i := range 200 {
		recs = append(recs, &kgo.Record{Topic: e.topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, `{"id": %d}`, i)})
	}
	recs = append(recs, &kgo.Record{Topic: e.topic, Partition: 1, Value: []byte(`{"id": `)})
	testenv.Produce(t, cl, recs...)
	eventually(t, 60*time.Second, "200 rows", func() bool { return e.count("events") == 200 })
	eventually(t, 60*time.Second, "the dead letter", func() bool { return e.count("kafka2pg_dlq") == 1 })

	ctx := context.Background()
	lockTx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockTx.Exec(ctx, `LOCK TABLE events IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	testenv.Produce(t, cl, &kgo.Record{Topic: e.topic, Partition: 0, Value: []byte(`{"id": 200}`)})
	eventually(t, 60*time.Second, "a retried write", func() bool { return scrape(t, addr)["kafka2pg_write_retries_total"] != "" })
	if err := lockTx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the row written after the retries", func() bool { return e.count("events") == 201 })
	// The lag gauge is set with the progress line, every 10 seconds, for the
	// partitions that had a write since they were assigned: after a
	// rebalance it needs another record.
	more, last := 0, time.Now()
	eventually(t, 60*time.Second, "kafka2pg_partition_lag", func() bool {
		if scrape(t, addr)["kafka2pg_partition_lag"] != "" {
			return true
		}
		if time.Since(last) > 4*time.Second {
			testenv.Produce(t, cl, &kgo.Record{Topic: e.topic, Partition: int32(more % 2), Value: fmt.Appendf(nil, `{"id": %d}`, 1000+more)})
			more, last = more+1, time.Now()
		}
		return false
	})

	exported := scrape(t, addr)
	names := referencedMetricNames(t)
	var missing []string
	for _, name := range names {
		if _, ok := notExportedByKafka2pg[name]; ok {
			continue
		}
		if !isExported(exported, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		var have []string
		for n, typ := range exported {
			have = append(have, n+" ("+typ+")")
		}
		sort.Strings(have)
		t.Errorf("the dashboard or the alert rules query metrics that /metrics does not export: %v\nexported:\n  %s",
			missing, strings.Join(have, "\n  "))
	} else {
		t.Logf("the %d metric names the dashboard and the alerts query are all exported: %v", len(names), names)
	}

	for _, path := range deploymentProbePaths(t) {
		if s := httpStatus(addr, path); s != http.StatusOK {
			t.Errorf("GET %s (a probe of deploy/kubernetes/deployment.yaml) = %d, want 200", path, s)
		}
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 40*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
}

var servingLine = regexp.MustCompile(`serving /metrics, /healthz and /readyz"? addr=(\S+)`)

// servingAddr waits for the log line naming the bound metrics address (the
// configuration asks for port 0).
func servingAddr(t *testing.T, p *proc) string {
	t.Helper()
	var addr string
	eventually(t, 60*time.Second, `the "serving /metrics" log line`, func() bool {
		if m := servingLine.FindStringSubmatch(p.out.String()); m != nil {
			addr = m[1]
			return true
		}
		return false
	})
	return addr
}

// scrape returns the metric families /metrics exports, by name, with their
// type from the "# TYPE" line; an empty map when the scrape fails.
func scrape(t *testing.T, addr string) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return map[string]string{}
	}
	defer resp.Body.Close()
	return parseTypeLines(resp.Body)
}

func parseTypeLines(r io.Reader) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}

// isExported reports whether a name used in PromQL is a series of an
// exported family: the family itself, or a histogram's (summary's)
// _bucket, _sum and _count series.
func isExported(families map[string]string, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		switch families[base] {
		case "histogram":
			return true
		case "summary":
			return suffix != "_bucket"
		}
	}
	return false
}

// referencedMetricNames returns, sorted, every metric name in the
// dashboard's queries and the alert rules' expressions.
func referencedMetricNames(t *testing.T) []string {
	t.Helper()
	set := map[string]bool{}
	for _, expr := range append(dashboardExprs(t), alertExprs(t)...) {
		for _, n := range promqlMetricNames(expr) {
			set[n] = true
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// dashboardExprs returns the PromQL of every panel target (rows' nested
// panels included) and every query variable of the Grafana dashboard.
// label_values(METRIC_SELECTOR, LABEL) contributes METRIC_SELECTOR.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var exprs []string
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if tg.Expr != "" {
					exprs = append(exprs, tg.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct{ Query string }
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Fatalf("%s: templating query %s: %v", dashboardFile, v.Query, err)
			}
			q = obj.Query
		}
		if m := labelValuesQuery.FindStringSubmatch(q); m != nil {
			q = m[1]
		}
		exprs = append(exprs, q)
	}
	return exprs
}

type dashPanel struct {
	Type    string      `json:"type"`
	Title   string      `json:"title"`
	Panels  []dashPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
}

// label_values(selector, label); label_values(label) has no metric.
var labelValuesQuery = regexp.MustCompile(`^\s*label_values\(\s*(.+)\s*,\s*\w+\s*\)\s*$`)

// alertRules returns the rules of alerts.yml.
func alertRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var rules []alertRule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no rules", alertsFile)
	}
	return rules
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func alertExprs(t *testing.T) []string {
	t.Helper()
	var exprs []string
	for _, r := range alertRules(t) {
		exprs = append(exprs, r.Expr)
	}
	return exprs
}

// promqlMetricNames returns the metric names a PromQL expression selects,
// in order of first appearance. It is a small lexer, not a parser: it drops
// string literals, label matchers {…}, ranges and subqueries […], and the
// label lists of by/without/on/ignoring/group_left/group_right; what is left
// that is an identifier, not followed by "(" (a function or aggregation) and
// not a keyword, is a metric name. Grafana's $variables only appear inside
// the parts it drops.
func promqlMetricNames(expr string) []string {
	s := promqlStrings.ReplaceAllString(expr, " ")
	s = dropBalanced(s, '{', '}')
	s = dropBalanced(s, '[', ']')
	s = promqlLabelLists.ReplaceAllString(s, " ")
	var names []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c == '.':
			// A number or a duration (5m, 1e3, 0.99): skip it whole.
			for i < len(s) && (isIdentByte(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentByte(c):
			j := i
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
				k++
			}
			isCall := k < len(s) && s[k] == '('
			if !isCall && !promqlKeywords[strings.ToLower(word)] && !slices.Contains(names, word) {
				names = append(names, word)
			}
			i = j
		default:
			i++
		}
	}
	return names
}

var (
	promqlStrings    = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promqlLabelLists = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlKeywords   = map[string]bool{"and": true, "or": true, "unless": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "bool": true, "offset": true,
		"inf": true, "nan": true, "atan2": true}
)

func isIdentByte(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// dropBalanced replaces every open…close span (nesting counted) with a space.
func dropBalanced(s string, open, close byte) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == open:
			if depth == 0 {
				b.WriteByte(' ')
			}
			depth++
		case s[i] == close && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// deploymentProbePaths returns the HTTP paths of the kafka2pg container's
// startup, liveness and readiness probes.
func deploymentProbePaths(t *testing.T) []string {
	t.Helper()
	c := kafka2pgContainer(t)
	var paths []string
	for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
		if p := str(dig(c, probe, "httpGet", "path")); p != "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		t.Fatal("deployment.yaml: the kafka2pg container has no HTTP probes")
	}
	return paths
}
