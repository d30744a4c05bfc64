package connectconf

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kafka2pg/kafka2pg/config"
	kroute "github.com/kafka2pg/kafka2pg/internal/route"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// placeholders supplies the environment variables the converted
// configurations refer to, so that config.Parse can check them.
var placeholders = map[string]string{
	"KAFKA_BROKERS":            "127.0.0.1:9092",
	"KAFKA_GROUP":              "g",
	"KAFKA_PASSWORD":           "kafka-secret",
	"POSTGRES_PASSWORD":        "pg-secret",
	"DATABASE_URL":             "postgres://u@db/app",
	"SCHEMA_REGISTRY_URL":      "http://registry:8081",
	"SCHEMA_REGISTRY_PASSWORD": "sr-secret",
	"TOPIC":                    "placeholder",
}

func lookup(name string) (string, bool) {
	v, ok := placeholders[name]
	return v, ok
}

// fixture reads a testdata file: the leading comment lines (// in JSON, #
// in properties) cite its source and may hold "args: --flag value ..."
// for the conversion; they are not part of the input for JSON.
func fixture(t *testing.T, path string) ([]byte, Options) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var opts Options
	var body []string
	inHeader := true
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		isComment := strings.HasPrefix(trimmed, "//") || strings.HasPrefix(trimmed, "#")
		if inHeader && isComment {
			text := strings.TrimSpace(strings.TrimLeft(trimmed, "/#"))
			if args, ok := strings.CutPrefix(text, "args:"); ok {
				opts = parseArgs(t, strings.Fields(args))
			}
			if strings.HasSuffix(path, ".json") {
				continue
			}
		} else if trimmed != "" {
			inHeader = false
		}
		body = append(body, line)
	}
	return []byte(strings.Join(body, "\n")), opts
}

func parseArgs(t *testing.T, args []string) Options {
	var o Options
	for i := 0; i+1 < len(args); i += 2 {
		list := strings.Split(args[i+1], ",")
		switch args[i] {
		case "--brokers":
			o.Brokers = list
		case "--group":
			o.Group = args[i+1]
		case "--topics":
			o.Topics = list
		default:
			t.Fatalf("fixture args: unknown flag %s", args[i])
		}
	}
	return o
}

// report renders a conversion as the golden files hold it: the exit code
// import-connect would give, the YAML, and what it says on stderr.
func report(res *Result, err error) string {
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "exit 2\n---- error\n%v\n", err)
		return b.String()
	}
	code := 0
	if !res.Complete() {
		code = 3
	}
	fmt.Fprintf(&b, "exit %d\n---- stdout\n%s---- stderr\n", code, res.YAML)
	for _, e := range res.Env {
		fmt.Fprintf(&b, "env %s: %s\n", e.Name, e.Purpose)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, d := range res.Dropped {
		fmt.Fprintln(&b, d.String())
	}
	return b.String()
}

// checkYAML parses the converted configuration with config.Parse, and
// compiles its computed columns the way the engine does before it connects.
func checkYAML(t *testing.T, res *Result, extra ...string) {
	t.Helper()
	env := func(name string) (string, bool) {
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i] == name {
				return extra[i+1], true
			}
		}
		return lookup(name)
	}
	cfg, err := config.Parse(res.YAML, env)
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, res.YAML)
	}
	if _, err := kroute.Compile(cfg); err != nil {
		t.Fatalf("the computed columns do not compile: %v\n%s", err, res.YAML)
	}
	generated := false
	for _, r := range cfg.Routes {
		generated = generated || len(r.Columns) > 0
	}
	if generated != res.Columns {
		t.Errorf("the configuration has computed columns: %v, but the conversion says it generated them: %v", generated, res.Columns)
	}
}

// TestGolden converts every fixture under testdata/ (real connector
// configurations, each citing its source) and compares with its .golden
// file; go test -update rewrites them.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	props, _ := filepath.Glob("testdata/*.properties")
	files = append(files, props...)
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		t.Run(name, func(t *testing.T) {
			data, opts := fixture(t, path)
			c, err := Parse(data)
			var res *Result
			if err == nil {
				res, err = Convert(c, opts)
			}
			got := report(res, err)
			golden := strings.TrimSuffix(path, filepath.Ext(path)) + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run go test -update)", rerr)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, diff(string(want), got))
			}
			if res != nil {
				checkYAML(t, res)
				noSecrets(t, data, got)
			}
		})
	}
}

// noSecrets fails when a password of the input appears in the output.
func noSecrets(t *testing.T, input []byte, output string) {
	t.Helper()
	for _, s := range []string{"pgpassword", "postgrespw", "adminpassword", "s3cr3t", "sr-pa55", "kafka-pa55"} {
		if bytes.Contains(input, []byte(s)) && strings.Contains(output, s) {
			t.Errorf("the output contains the input's password %q", s)
		}
	}
}

func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}
