package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kafka2pg/kafka2pg/config"
)

// The packaging and operations artefacts (Dockerfile, deploy/, the release
// target) checked without the services: they parse, agree with each other
// and with the binary's configuration, and the real tools (promtool,
// systemd-analyze, go build) accept them.

const (
	k8sDir      = "../deploy/kubernetes"
	systemdUnit = "../deploy/systemd/kafka2pg.service"
	opsDoc      = "../docs/operations.md"
)

// tool returns the path of a command-line tool, installing it with
// scripts/tools.sh when it is missing. Without it the test is skipped, and
// fails under CI=true: CI must never count a skipped check as a pass.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	out, err := exec.Command("../scripts/tools.sh", name).Output()
	if err == nil {
		if p := strings.TrimSpace(string(out)); p != "" {
			return p
		}
	}
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing and scripts/tools.sh %s could not install it: %v\n%s", name, name, err, stderr)
	}
	t.Skipf("%s is missing (scripts/tools.sh %s: %v; %s)", name, name, err, strings.TrimSpace(string(stderr)))
	return ""
}

func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// ---- Prometheus -------------------------------------------------------------

// promtool accepts the rules and their unit tests pass; the unit tests have,
// for every alert, a case where it fires and one where it does not.
func TestDeployAlertRulesPromtool(t *testing.T) {
	promtool := tool(t, "promtool")
	rules := alertRules(t)
	out, err := runTool(t, promtool, "check", "rules", alertsFile)
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(rules)); !strings.Contains(out, want) {
		t.Errorf("promtool check rules: want %q in\n%s", want, out)
	}
	out, err = runTool(t, promtool, "test", "rules", alertsTestFile)
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	b, err := os.ReadFile(alertsTestFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &tests); err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		if !fires[r.Alert] || !silent[r.Alert] {
			t.Errorf("%s: alert %s needs a test where it fires (%v) and one where it does not (%v)", alertsTestFile, r.Alert, fires[r.Alert], silent[r.Alert])
		}
	}
}

// Every alert has a severity, a summary and a runbook_url whose anchor is a
// heading of docs/operations.md.
func TestDeployAlertRunbooks(t *testing.T) {
	anchors := markdownAnchors(t, opsDoc)
	for _, r := range alertRules(t) {
		if r.Alert == "" {
			continue
		}
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, s)
		}
		if r.Annotations["summary"] == "" {
			t.Errorf("alert %s has no summary", r.Alert)
		}
		_, anchor, ok := strings.Cut(r.Annotations["runbook_url"], "docs/operations.md#")
		if !ok || !anchors[anchor] {
			t.Errorf("alert %s: runbook_url %q does not point at a heading of docs/operations.md", r.Alert, r.Annotations["runbook_url"])
		}
	}
}

// markdownAnchors returns GitHub's anchors of a Markdown file's headings.
func markdownAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var a strings.Builder
		for _, r := range h {
			switch {
			case r == ' ':
				a.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				a.WriteRune(r)
			}
		}
		anchors[a.String()] = true
	}
	return anchors
}

// The dashboard is valid JSON with the panels the operations guide promises,
// and promtool accepts each of its queries (Grafana's variables replaced).
func TestDeployDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string      `json:"uid"`
		Title  string      `json:"title"`
		Panels []dashPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: both must be set", d.UID, d.Title)
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q must use the ${datasource} variable", p.Title)
		}
	}

	// What the issue asks the dashboard to show, by the metric that shows it.
	names := map[string]bool{}
	for _, e := range dashboardExprs(t) {
		for _, n := range promqlMetricNames(e) {
			names[n] = true
		}
	}
	for what, metric := range map[string]string{
		"throughput records/s":       "kafka2pg_records_total",
		"throughput rows/s":          "kafka2pg_rows_written_total",
		"lag per partition":          "kafka2pg_partition_lag",
		"batch latency quantiles":    "kafka2pg_batch_write_seconds_bucket",
		"retries":                    "kafka2pg_write_retries_total",
		"DLQ rate":                   "kafka2pg_dead_letters_total",
		"readiness":                  "kafka2pg_ready",
		"RSS":                        "process_resident_memory_bytes",
		"in-flight bytes":            "kafka2pg_inflight_bytes",
		"backpressure (fetch pause)": "kafka2pg_fetch_paused",
	} {
		if !names[metric] {
			t.Errorf("the dashboard shows no %s (%s)", what, metric)
		}
	}
	if !strings.Contains(string(b), "histogram_quantile(0.99") {
		t.Errorf("the batch latency panel should show the p99 with histogram_quantile")
	}

	// Each query as a recording rule: promtool parses and type-checks it.
	promtool := tool(t, "promtool")
	vars := regexp.MustCompile(`\$\{?(\w+)\}?`)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range dashboardExprs(t) {
		e = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h").Replace(e)
		e = vars.ReplaceAllString(e, ".*")
		q, _ := json.Marshal(e) // a JSON string is a YAML double-quoted scalar
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runTool(t, promtool, "check", "rules", path); err != nil {
		t.Errorf("promtool rejects a dashboard query: %v\n%s\n%s", err, out, rules.String())
	}
}

// The lexer that finds metric names, on the constructs the dashboard and
// the rules use.
func TestPromQLMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`kafka2pg_ready == 0`, []string{"kafka2pg_ready"}},
		{`sum by (job, topic) (rate(kafka2pg_records_total{job=~"$job", topic!="a,b)"}[$__rate_interval]))`, []string{"kafka2pg_records_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(kafka2pg_batch_write_seconds_bucket[5m])))`, []string{"kafka2pg_batch_write_seconds_bucket"}},
		{"a_total / on (job) group_left (x) b_total offset 5m", []string{"a_total", "b_total"}},
		{`(x > 0 unless on (job, instance) sum(rate(y[15m])) by (job) > 0) or on (job) max(z) == 0`, []string{"x", "y", "z"}},
		{`changes(process_start_time_seconds[1h]) > 1 and on (job, instance) group by (job, instance) (max_over_time(kafka2pg_ready[1h]))`,
			[]string{"process_start_time_seconds", "kafka2pg_ready"}},
		{`time() - process_start_time_seconds{job=~"$job"}`, []string{"process_start_time_seconds"}},
		{`max_over_time(rate(m[5m])[1h:1m]) > 1e3`, []string{"m"}},
		{`label_replace(up, "dst", "$1", "src", "(.*)")`, []string{"up"}},
		{`sum without (instance) (k:recorded:rate5m)`, []string{"k:recorded:rate5m"}},
	} {
		if got := promqlMetricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("promqlMetricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
	if !isExported(map[string]string{"h": "histogram"}, "h_bucket") || isExported(map[string]string{"s": "summary"}, "s_bucket") ||
		!isExported(map[string]string{"c_total": "counter"}, "c_total") || isExported(map[string]string{"c_total": "counter"}, "c_total_sum") {
		t.Error("isExported: histogram suffixes are mishandled")
	}
}

// ---- Kubernetes -------------------------------------------------------------

// yamlDocs returns the documents of a YAML file as generic maps.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// dig follows map keys (string) and list indexes (int) through a decoded
// YAML value; nil when a step is missing.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// k8sObjects returns the objects of kustomization.yaml's resources by kind,
// requiring one of each kind.
func k8sObjects(t *testing.T) map[string]map[string]any {
	t.Helper()
	k := yamlDocs(t, filepath.Join(k8sDir, "kustomization.yaml"))
	if len(k) != 1 {
		t.Fatalf("kustomization.yaml: %d documents", len(k))
	}
	objs := map[string]map[string]any{}
	res, _ := k[0]["resources"].([]any)
	if len(res) == 0 {
		t.Fatal("kustomization.yaml lists no resources")
	}
	for _, r := range res {
		for _, d := range yamlDocs(t, filepath.Join(k8sDir, str(r))) {
			kind := str(d["kind"])
			if kind == "" || str(d["apiVersion"]) == "" || str(dig(d, "metadata", "name")) == "" {
				t.Fatalf("%s: an object without kind, apiVersion or metadata.name", r)
			}
			if _, dup := objs[kind]; dup {
				t.Fatalf("two objects of kind %s", kind)
			}
			objs[kind] = d
		}
	}
	return objs
}

func kafka2pgContainer(t *testing.T) map[string]any {
	t.Helper()
	d := k8sObjects(t)["Deployment"]
	cs, _ := dig(d, "spec", "template", "spec", "containers").([]any)
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok && str(m["name"]) == "kafka2pg" {
			return m
		}
	}
	t.Fatal("deployment.yaml: no container named kafka2pg")
	return nil
}

// quantity parses a Kubernetes memory quantity or a GOMEMLIMIT (binary
// suffixes only; that is all the manifests use).
func quantity(t *testing.T, s string) int64 {
	t.Helper()
	for suffix, mult := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err == nil {
				return v * mult
			}
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("quantity %q", s)
	}
	return v
}

// pipelineFromConfigMap returns the ConfigMap's pipeline.yaml, parsed with
// config.Parse. The *_password_file keys are being added to the
// configuration; until config.Parse knows them, only the problems they cause
// (an unknown key, the sibling password missing) are tolerated, and the rest
// is checked with each password_file replaced by a password.
func pipelineFromConfigMap(t *testing.T) (*config.Config, map[string]any) {
	t.Helper()
	text := str(dig(k8sObjects(t)["ConfigMap"], "data", "pipeline.yaml"))
	if text == "" {
		t.Fatal("configmap.yaml: no data.pipeline.yaml")
	}
	var raw map[string]any
	if err := yaml.Unmarshal([]byte(text), &raw); err != nil {
		t.Fatalf("configmap.yaml pipeline.yaml: %v", err)
	}
	cfg, err := config.Parse([]byte(text), func(string) (string, bool) { return "", false })
	if err == nil {
		return cfg, raw
	}
	var verr *config.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("configmap.yaml pipeline.yaml: %v", err)
	}
	for _, p := range verr.Problems {
		if !strings.HasSuffix(p.Path, ".password_file") && !strings.HasSuffix(p.Path, ".password") {
			t.Fatalf("configmap.yaml pipeline.yaml: %v", err)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	withoutPasswordFiles(&doc, "")
	replaced, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = config.Parse(replaced, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("configmap.yaml pipeline.yaml with password for password_file: %v", err)
	}
	t.Logf("config.Parse does not know *_password_file yet; checked the rest of pipeline.yaml")
	return cfg, raw
}

// withoutPasswordFiles turns kafka.sasl.password_file and
// schema_registry.password_file into password, and drops
// postgres.password_file (the URL carries PostgreSQL's password today).
func withoutPasswordFiles(n *yaml.Node, path string) {
	for _, c := range n.Content {
		if n.Kind == yaml.DocumentNode {
			withoutPasswordFiles(c, path)
		}
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "password_file" {
			if path == "postgres" {
				n.Content = append(n.Content[:i], n.Content[i+2:]...)
				i -= 2
				continue
			}
			k.Value, v.Value = "password", "from-a-file"
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		withoutPasswordFiles(v, p)
	}
}

// The Kubernetes manifests parse, and agree with each other and with the
// configuration: probes on the port http.listen binds, secrets as files
// where the configuration reads them, a grace period above
// shutdown_timeout, memory sized for the documented budget, non-root.
func TestDeployKubernetesManifests(t *testing.T) {
	objs := k8sObjects(t)
	for _, kind := range []string{"ConfigMap", "Deployment", "PodDisruptionBudget"} {
		if objs[kind] == nil {
			t.Fatalf("kustomization.yaml has no %s", kind)
		}
	}
	cfg, raw := pipelineFromConfigMap(t)
	dep := objs["Deployment"]
	pod := dig(dep, "spec", "template", "spec")
	c := kafka2pgContainer(t)

	// Probes on the container port that http.listen binds.
	_, port, err := splitHostPort(cfg.HTTP.Listen)
	if err != nil {
		t.Fatalf("pipeline.yaml http.listen %q: %v", cfg.HTTP.Listen, err)
	}
	if host, _, _ := splitHostPort(cfg.HTTP.Listen); host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("pipeline.yaml http.listen %q: the kubelet probes the pod IP; bind all interfaces", cfg.HTTP.Listen)
	}
	if got := str(dig(c, "ports", 0, "containerPort")); got != port || str(dig(c, "ports", 0, "name")) != "http" {
		t.Errorf("container port %s (%v), want %s named http", got, dig(c, "ports", 0, "name"), port)
	}
	for probe, path := range map[string]string{"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if got := str(dig(c, probe, "httpGet", "path")); got != path {
			t.Errorf("%s path %q, want %s", probe, got, path)
		}
		if got := str(dig(c, probe, "httpGet", "port")); got != "http" && got != port {
			t.Errorf("%s port %q, want http (%s)", probe, got, port)
		}
	}
	if got := str(dig(dep, "spec", "template", "metadata", "annotations", "prometheus.io/port")); got != port {
		t.Errorf("prometheus.io/port annotation %q, want %s", got, port)
	}

	// Graceful stop: SIGKILL only after shutdown_timeout.
	grace, _ := dig(pod, "terminationGracePeriodSeconds").(int)
	if shutdown := time.Duration(cfg.ShutdownTimeout); time.Duration(grace)*time.Second <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %d must exceed shutdown_timeout %s", grace, shutdown)
	}

	// Non-root, read-only, nothing extra.
	if dig(pod, "securityContext", "runAsNonRoot") != true || str(dig(pod, "securityContext", "runAsUser")) == "0" {
		t.Error("the pod must run as non-root")
	}
	if dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Error("the container must have a read-only root file system and no privilege escalation")
	}

	// Memory: the request covers the documented peak (about 200 MiB with
	// the default budget, docs/operations.md) and GOMEMLIMIT sits between
	// the in-flight budget and the limit.
	req := quantity(t, str(dig(c, "resources", "requests", "memory")))
	limit := quantity(t, str(dig(c, "resources", "limits", "memory")))
	var gomemlimit int64
	envs, _ := c["env"].([]any)
	for _, e := range envs {
		if str(dig(e, "name")) == "GOMEMLIMIT" {
			gomemlimit = quantity(t, str(dig(e, "value")))
		}
	}
	budget := int64(cfg.Batch.MaxInflightBytes) + int64(cfg.Kafka.FetchMaxBytes)
	if req < 200<<20 || limit < req || gomemlimit <= 2*budget || gomemlimit >= limit {
		t.Errorf("memory: request %d, limit %d, GOMEMLIMIT %d; want request >= 200Mi, 2 x (max_inflight_bytes + fetch_max_bytes) = %d < GOMEMLIMIT < limit",
			req, limit, gomemlimit, 2*budget)
	}

	// Secrets as files: every *password_file in pipeline.yaml lies in the
	// directory where the Secret is mounted, under one of its keys; no
	// password is written in the ConfigMap.
	var secretDir, secretName string
	vols, _ := dig(pod, "volumes").([]any)
	mounts, _ := c["volumeMounts"].([]any)
	for _, v := range vols {
		if name := str(dig(v, "secret", "secretName")); name != "" {
			secretName = name
			for _, m := range mounts {
				if str(dig(m, "name")) == str(dig(v, "name")) {
					secretDir = str(dig(m, "mountPath"))
				}
			}
		}
	}
	if secretDir == "" {
		t.Fatal("deployment.yaml mounts no Secret volume")
	}
	example := yamlDocs(t, filepath.Join(k8sDir, "secret.example.yaml"))
	if len(example) != 1 || str(dig(example[0], "metadata", "name")) != secretName {
		t.Fatalf("secret.example.yaml must be the Secret %q the Deployment mounts", secretName)
	}
	files := map[string]string{}
	walkYAML(raw, "", func(path string, v any) {
		switch {
		case strings.HasSuffix(path, "password_file"):
			files[path] = str(v)
		case strings.HasSuffix(path, "password"):
			t.Errorf("configmap.yaml pipeline.yaml: %s holds a password; use %s_file", path, path)
		}
	})
	for _, want := range []string{"postgres.password_file", "kafka.sasl.password_file", "schema_registry.password_file"} {
		f, ok := files[want]
		if !ok {
			t.Errorf("pipeline.yaml has no %s", want)
			continue
		}
		if filepath.Dir(f) != secretDir || dig(example[0], "stringData", filepath.Base(f)) == nil {
			t.Errorf("%s = %q: want a key of the Secret mounted at %s", want, f, secretDir)
		}
	}

	// The PodDisruptionBudget selects the Deployment's pods.
	pdb := objs["PodDisruptionBudget"]
	podLabels, _ := dig(dep, "spec", "template", "metadata", "labels").(map[string]any)
	sel, _ := dig(pdb, "spec", "selector", "matchLabels").(map[string]any)
	if len(sel) == 0 {
		t.Error("the PodDisruptionBudget selects nothing")
	}
	for k, v := range sel {
		if podLabels[k] != v {
			t.Errorf("the PodDisruptionBudget selects %s=%v; the pods have %v", k, v, podLabels[k])
		}
	}
	if got := str(dig(dep, "spec", "selector", "matchLabels", "app.kubernetes.io/name")); got != str(podLabels["app.kubernetes.io/name"]) {
		t.Errorf("the Deployment's selector does not match its pods")
	}

	// The image kustomization.yaml sets is the container's.
	k := yamlDocs(t, filepath.Join(k8sDir, "kustomization.yaml"))[0]
	if got := str(dig(k, "images", 0, "name")); got != str(c["image"]) {
		t.Errorf("kustomization images[0].name %q, container image %q", got, c["image"])
	}
}

func splitHostPort(s string) (string, string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", fmt.Errorf("no port")
	}
	return strings.Trim(s[:i], "[]"), s[i+1:], nil
}

func walkYAML(v any, path string, f func(string, any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkYAML(e, p, f)
		}
	case []any:
		for i, e := range x {
			walkYAML(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	default:
		f(path, v)
	}
}

// ---- systemd ----------------------------------------------------------------

// unitFile parses a systemd unit: section → key → values in order.
func unitFile(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: cannot parse %q", path, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// The systemd unit is hardened, restarts on failure but not on a bad
// configuration, stops with SIGTERM and waits longer than shutdown_timeout;
// systemd-analyze finds nothing to complain about and rates its exposure
// at most 2.0 ("OK").
func TestDeploySystemdUnit(t *testing.T) {
	u := unitFile(t, systemdUnit)
	s := u["Service"]
	one := func(key string) string {
		if len(s[key]) != 1 {
			t.Errorf("[Service] %s: %q, want one value", key, s[key])
			return ""
		}
		return s[key][0]
	}
	if got := one("ExecStart"); !strings.HasPrefix(got, "/usr/local/bin/kafka2pg run --config ") {
		t.Errorf("ExecStart=%s", got)
	}
	for key, want := range map[string]string{"Restart": "on-failure", "KillSignal": "SIGTERM", "NoNewPrivileges": "yes",
		"ProtectSystem": "strict", "DynamicUser": "yes", "RestartPreventExitStatus": "2"} {
		if got := one(key); got != want {
			t.Errorf("%s=%s, want %s", key, got, want)
		}
	}
	if len(s["LoadCredential"]) == 0 && len(s["EnvironmentFile"]) == 0 {
		t.Error("no LoadCredential= or EnvironmentFile= for the secrets")
	}
	stop, err := time.ParseDuration(strings.ReplaceAll(one("TimeoutStopSec"), "min", "m"))
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	def, err := config.Parse([]byte("kafka: {brokers: [k:9092], group: g, topics: [t]}\npostgres: {url: postgres://h/db}\nroutes: [{topic: t}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if stop <= time.Duration(def.ShutdownTimeout) {
		t.Errorf("TimeoutStopSec %s must exceed the default shutdown_timeout %s", stop, time.Duration(def.ShutdownTimeout))
	}

	analyze := tool(t, "systemd-analyze")
	abs, err := filepath.Abs(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	// verify exits 1 here because /usr/local/bin/kafka2pg is not installed;
	// what counts is that it reports no problem at a line of the file.
	out, _ := runTool(t, analyze, "verify", "--man=no", abs)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, abs+":") || strings.Contains(line, "Unknown key") || strings.Contains(line, "Unknown section") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
	out, err = runTool(t, analyze, "security", "--offline=true", "--threshold=20", abs)
	if err != nil {
		level := regexp.MustCompile(`Overall exposure level.*`).FindString(out)
		t.Errorf("systemd-analyze security: %v: %s", err, level)
	}
}

// ---- Docker -----------------------------------------------------------------

// dockerInstructions returns the Dockerfile's instructions (continuation
// lines joined) as [keyword, arguments].
func dockerInstructions(t *testing.T) [][2]string {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if c, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur += c + " "
			continue
		}
		cur += trimmed
		kw, args, _ := strings.Cut(cur, " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(args)})
		cur = ""
	}
	return out
}

// The Dockerfile builds a static binary with the version stamped in and
// runs it as non-root on a minimal base; the .dockerignore'd build context
// still builds.
func TestDeployDockerfile(t *testing.T) {
	ins := dockerInstructions(t)
	var froms []int
	for i, in := range ins {
		if in[0] == "FROM" {
			froms = append(froms, i)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got %d FROM", len(froms))
	}
	build, final := ins[froms[0]:froms[len(froms)-1]], ins[froms[len(froms)-1]:]
	base := strings.Fields(final[0][1])[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final base image %s, want distroless static or scratch", base)
	}
	var buildCmd string
	for _, in := range build {
		if in[0] == "RUN" && strings.Contains(in[1], "go build") {
			buildCmd = in[1]
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "-X main.commit=", "-X main.date=", "./cmd/kafka2pg"} {
		if !strings.Contains(buildCmd, want) {
			t.Errorf("the go build step lacks %q: %s", want, buildCmd)
		}
	}
	var user, entrypoint, expose, copied string
	for _, in := range final {
		switch in[0] {
		case "USER":
			user = in[1]
		case "ENTRYPOINT":
			entrypoint = in[1]
		case "EXPOSE":
			expose = in[1]
		case "COPY":
			if f := strings.Fields(in[1]); len(f) >= 3 && strings.HasPrefix(f[0], "--from=") {
				copied = f[len(f)-1]
			}
		}
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %q: the image must run as non-root", user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) == 0 || ep[0] != copied {
		t.Errorf("ENTRYPOINT %s must be the exec form of the copied binary %s", entrypoint, copied)
	}
	cfg, _ := pipelineFromConfigMap(t)
	if _, port, _ := splitHostPort(cfg.HTTP.Listen); expose != port {
		t.Errorf("EXPOSE %s, want the http.listen port %s of deploy/kubernetes", expose, port)
	}

	// The build context after .dockerignore still builds the binary.
	if testing.Short() {
		t.Skip("-short: not building the binary from the .dockerignore'd context")
	}
	patterns := dockerignore(t)
	ctxDir := t.TempDir()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("..", path)
		if rel == "." {
			return nil
		}
		if ignored(patterns, filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := filepath.Join(ctxDir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{".git", "bin", "dist", "e2e"} {
		if _, err := os.Stat(filepath.Join(ctxDir, gone)); err == nil {
			t.Errorf(".dockerignore should leave %s out of the build context", gone)
		}
	}
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", filepath.Join(t.TempDir(), "kafka2pg"), "./cmd/kafka2pg")
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go build in the .dockerignore'd context: %v\n%s", err, out)
	}
}

func dockerignore(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") || strings.Contains(l, "**") {
			t.Fatalf(".dockerignore pattern %q: this test only understands plain patterns", l)
		}
		ps = append(ps, strings.Trim(l, "/"))
	}
	return ps
}

// ignored matches like Docker for plain patterns: a pattern matches a path
// relative to the context root (or one of its parent directories).
func ignored(patterns []string, rel string) bool {
	for _, p := range patterns {
		for q := rel; q != "."; q = filepath.Dir(q) {
			if ok, _ := filepath.Match(p, q); ok {
				return true
			}
		}
	}
	return false
}

// ---- release ------------------------------------------------------------------

// `make release` for the host's platform (the others are the same command
// with another GOARCH): a static binary whose `version` prints the version,
// commit and date given to make, and a SHA256SUMS that matches it. `make
// build` stamps the same three values.
func TestDeployRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building a release binary")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("release binaries are for linux; this is %s", runtime.GOOS)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is missing")
	}
	const version, commit, date = "v9.9.9-test", "0123456789ab", "2026-01-02T03:04:05Z"
	vars := []string{"VERSION=" + version, "COMMIT=" + commit, "DATE=" + date}

	out, err := exec.Command("make", "-C", "..", "-n", "release", "DIST=/nonexistent").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "linux/amd64 linux/arm64") {
		t.Errorf("make release should build linux/amd64 and linux/arm64 by default: %v\n%s", err, out)
	}
	out, err = exec.Command("make", append([]string{"-C", "..", "-n", "build"}, vars...)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-X main.version="+version+" -X main.commit="+commit+" -X main.date="+date) {
		t.Errorf("make build should stamp version, commit and date: %v\n%s", err, out)
	}

	dist := t.TempDir()
	platform := "linux/" + runtime.GOARCH
	args := append([]string{"-C", "..", "-s", "release", "PLATFORMS=" + platform, "DIST=" + dist}, vars...)
	if out, err := exec.Command("make", args...).CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	name := "kafka2pg-" + version + "-linux-" + runtime.GOARCH
	bin := filepath.Join(dist, name)

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (program header %s)", name, p.Type)
		}
	}
	f.Close()

	out, err = exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", name, err)
	}
	want := regexp.MustCompile(`^kafka2pg ` + regexp.QuoteMeta(version) + ` \(commit ` + commit + `, built ` + date +
		`, go\S+ linux/` + runtime.GOARCH + `\)\n$`)
	if !want.Match(out) {
		t.Errorf("%s version printed %q, want %s", name, out, want)
	}

	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got, want := string(sums), hex.EncodeToString(sum[:])+"  "+name+"\n"; got != want {
		t.Errorf("SHA256SUMS = %q, want %q", got, want)
	}
}
