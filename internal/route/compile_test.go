package route

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/kafka2pg/kafka2pg/config"
)

// The reference configuration's expressions compile.
func TestCompileFullExample(t *testing.T) {
	data, err := os.ReadFile("../../config/testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PGPASSWORD": "p", "KAFKA_PASSWORD": "k", "REGISTRY_PASSWORD": "r"}
	cfg, err := config.Parse(data, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	progs, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if progs[0] == nil || progs[0].Filter == nil || len(progs[0].Columns) != 1 || progs[1].Each == nil || progs[2] != nil {
		t.Fatalf("programs %+v", progs)
	}
}

// Every expression that does not compile is reported at once, with its
// route key, line and position.
func TestCompileErrors(t *testing.T) {
	doc := `kafka: {brokers: ["a:1"], group: g, topics: [t]}
postgres: {url: "host=h"}
routes:
  - topic: t
    filter: value.a ==
    columns:
      b: valu.b
      c: kafka.offset + 'x'
    each: kafka.topic
`
	cfg, err := config.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compile(cfg)
	var ve *config.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 4 {
		t.Fatalf("Compile = %v, want four problems", err)
	}
	msg := err.Error()
	for _, w := range []string{
		"routes[0].filter (line 5): ERROR: <input>:1:11: Syntax error",
		"routes[0].columns.b (line 7): ERROR: <input>:1:1: undeclared reference to 'valu'",
		"routes[0].columns.c (line 8):",
		"routes[0].each (line 9): must be a list; this expression is a string",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
}
