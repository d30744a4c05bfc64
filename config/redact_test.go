package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestRedactedFull(t *testing.T) {
	cfg := mustParseFile(t, "testdata/full.yaml", fullEnv)
	cfg.SchemaRegistry.Password = "reg-secret-3"
	out := cfg.Redacted()
	for _, secret := range []string{"k-secret-1", "pg-secret-2", "reg-secret-3"} {
		if strings.Contains(out, secret) {
			t.Errorf("Redacted() contains %q:\n%s", secret, out)
		}
	}
	if strings.Contains(out, "\n") {
		t.Errorf("Redacted() is not one line:\n%s", out)
	}
	// The line is valid YAML holding the effective values.
	var back struct {
		Kafka struct {
			SASL SASL `yaml:"sasl"`
		} `yaml:"kafka"`
		Postgres       Postgres       `yaml:"postgres"`
		SchemaRegistry SchemaRegistry `yaml:"schema_registry"`
		Batch          Batch          `yaml:"batch"`
		Routes         []Route        `yaml:"routes"`
	}
	if err := yaml.Unmarshal([]byte(out), &back); err != nil {
		t.Fatalf("Redacted() is not YAML: %v\n%s", err, out)
	}
	if got, want := back.Postgres.URL, "postgres://sink:xxxxx@db.internal:5432/shop?sslmode=verify-full"; got != want {
		t.Errorf("postgres.url = %q, want %q", got, want)
	}
	if back.Kafka.SASL.Password != "[redacted]" || back.Kafka.SASL.Username != "orders-sink" {
		t.Errorf("kafka.sasl = %+v", back.Kafka.SASL)
	}
	if back.SchemaRegistry.Password != "[redacted]" {
		t.Errorf("schema_registry.password = %q", back.SchemaRegistry.Password)
	}
	if back.Batch != cfg.Batch || len(back.Routes) != 6 || back.Routes[0].ConflictKey[0] != "order_id" {
		t.Errorf("round trip lost values: batch %+v, routes %+v", back.Batch, back.Routes)
	}
	// The Config itself is untouched.
	if cfg.Kafka.SASL.Password != "k-secret-1" || !strings.Contains(cfg.Postgres.URL, "pg-secret-2") {
		t.Errorf("Redacted modified the config")
	}
}

func mustParseFile(t *testing.T, path string, vars map[string]string) *Config {
	t.Helper()
	for k, v := range vars {
		t.Setenv(k, v)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return cfg
}

func TestRedactedPostgresURL(t *testing.T) {
	tests := []struct {
		url    string
		secret string
		want   string // the redacted url as it appears in the output
	}{
		{"postgres://u:s3cr3t@h/db", "s3cr3t", "postgres://u:xxxxx@h/db"},
		{"postgresql://u:p%40ss%2Fw0rd@h:5432/db?sslmode=require", "p%40ss", "postgresql://u:xxxxx@h:5432/db?sslmode=require"},
		{"postgres://u@h/db?password=s3cr3t&sslmode=disable", "s3cr3t", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"postgres://h/db?sslpassword=k3ypass", "k3ypass", "postgres://h/db?sslpassword=xxxxx"},
		{"postgres://u:s3cr3t@h1:5432,h2:5433/db", "s3cr3t", "postgres://u:xxxxx@h1:5432,h2:5433/db"},
		{"postgres://u:s3cr3t@h:port/db", "s3cr3t", "'[redacted]'"},
		{"host=h user=u password=s3cr3t dbname=db", "s3cr3t", "host=h user=u password=xxxxx dbname=db"},
		{"host=h PASSWORD = s3cr3t dbname=db", "s3cr3t", "host=h PASSWORD = xxxxx dbname=db"},
		{`host=h password='s3 cr\'3t' sslpassword=k3y\ pass`, "cr", `host=h password=xxxxx sslpassword=xxxxx`},
		{"host=h password='s3cr3t", "s3cr3t", "'[redacted]'"},
		{"s3cr3t", "s3cr3t", "'[redacted]'"},
	}
	for _, tt := range tests {
		c := &Config{Postgres: Postgres{URL: tt.url}}
		out := c.Redacted()
		if strings.Contains(out, tt.secret) {
			t.Errorf("Redacted() with url %q leaks %q: %s", tt.url, tt.secret, out)
		}
		if !strings.Contains(out, tt.want) {
			t.Errorf("Redacted() with url %q = %s; want it to contain %s", tt.url, out, tt.want)
		}
	}
}

func TestRedactedOtherSecrets(t *testing.T) {
	c := &Config{
		Kafka: Kafka{
			ClientID: "client-hunter2-x", // the secret pasted elsewhere by mistake
			SASL:     &SASL{Mechanism: "PLAIN", Username: "u", Password: "hunter2"},
		},
		SchemaRegistry: SchemaRegistry{URL: "https://reg:t0ps3cret@registry:8081", Password: "an0ther"},
	}
	out := c.Redacted()
	for _, secret := range []string{"hunter2", "t0ps3cret", "an0ther"} {
		if strings.Contains(out, secret) {
			t.Errorf("Redacted() leaks %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, "https://reg:xxxxx@registry:8081") {
		t.Errorf("Redacted() = %s; want the registry URL with its password masked", out)
	}
	if c.Kafka.SASL.Password != "hunter2" {
		t.Errorf("Redacted modified the config")
	}
}

func TestProblemsDoNotLeakPostgresURL(t *testing.T) {
	for _, url := range []string{"mysql://u:s3cr3t@h/db", "postgres://u:s3cr3t@h:port/db", "s3cr3t", "postgres://u:s3cr3t@h\x7f/db"} {
		_, err := Parse([]byte("postgres: {url: \""+url+"\"}\n"), env(nil))
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Parse with url %q: error leaks the password: %v", url, err)
		}
	}
}

// RedactError hides every secret of the configuration in an error's text,
// in URL and key=value connection strings alike, and keeps the chain.
func TestRedactError(t *testing.T) {
	base := errors.New("dial failed")
	for _, url := range []string{
		"postgres://u:s3cr%40t@db:5432/app",
		"host=db user=u password='s3cr@t' dbname=app",
		`host=db password=s3cr\@t`,
	} {
		c := &Config{Postgres: Postgres{URL: url}, Kafka: Kafka{SASL: &SASL{Password: "kafka-pw"}}}
		err := fmt.Errorf("connecting with s3cr@t and kafka-pw: %w", base)
		got := c.RedactError(err)
		if strings.Contains(got.Error(), "s3cr@t") || strings.Contains(got.Error(), "kafka-pw") {
			t.Errorf("%s: %q still holds a secret", url, got)
		}
		if !errors.Is(got, base) {
			t.Errorf("%s: the chain is lost", url)
		}
	}
	c := &Config{Postgres: Postgres{URL: "postgres://u@db/app"}}
	if err := errors.New("plain"); c.RedactError(err) != err {
		t.Error("an error without secrets must come back as is")
	}
	if c.RedactError(nil) != nil {
		t.Error("nil in, nil out")
	}
}
