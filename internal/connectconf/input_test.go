package connectconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseForms(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		wantName string
		want     map[string]string
		keys     []string
		repeated []string
		format   string
	}{
		{"REST API form", `{"name": "s", "config": {"connector.class": "C", "tasks.max": 2, "delete.enabled": true, "pk.fields": null}}`,
			"s", map[string]string{"connector.class": "C", "tasks.max": "2", "delete.enabled": "true"}, []string{"connector.class", "tasks.max", "delete.enabled"}, nil, "json"},
		{"GET /connectors/NAME answer", `{"name": "s", "config": {"connector.class": "C", "name": "s"}, "tasks": [{"connector": "s", "task": 0}], "type": "sink"}`,
			"s", map[string]string{"connector.class": "C", "name": "s"}, []string{"connector.class", "name"}, nil, "json"},
		{"flat object (PUT /connectors/NAME/config)", "\ufeff  {\"name\": \"flat\", \"connector.class\": \"C\"}",
			"flat", map[string]string{"name": "flat", "connector.class": "C"}, []string{"name", "connector.class"}, nil, "json"},
		{"repeated key: the last wins", `{"config": {"topics": "a", "topics": "b"}}`,
			"", map[string]string{"topics": "b"}, []string{"topics"}, []string{"topics"}, "json"},
		{"properties", "# comment\n! also a comment\nname = p\nconnector.class:C\ntopics   a,\\\n    b\nempty=\nkey\\ with\\ blanks=v\\u00e9\\n\n",
			"p", map[string]string{"name": "p", "connector.class": "C", "topics": "a,b", "empty": "", "key with blanks": "vé\n"},
			[]string{"name", "connector.class", "topics", "empty", "key with blanks"}, nil, "properties"},
		{"properties with CRLF", "name=w\r\nconnector.class=C\r\n", "w", map[string]string{"name": "w", "connector.class": "C"}, []string{"name", "connector.class"}, nil, "properties"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tc.wantName || !reflect.DeepEqual(c.Config, tc.want) || !reflect.DeepEqual(c.Keys, tc.keys) ||
				!reflect.DeepEqual(c.Repeated, tc.repeated) || c.Format != tc.format {
				t.Errorf("got name %q config %q keys %q repeated %q format %s", c.Name, c.Config, c.Keys, c.Repeated, c.Format)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "the input is empty"},
		{"  \n", "the input is empty"},
		{"\xff\xfe", "not UTF-8"},
		{`{"name": "s", "config": {"a": "b"}`, "invalid JSON"},
		{`{"name": "s", "config": {"a": "b"}} {}`, "more after the top-level object"},
		{`{"name": "s", "config": "x"}`, "config: want a JSON object"},
		{`{"name": "s", "config": {"a": {"b": 1}}}`, "a: want a string value"},
		{`{"name": "s", "config": {"a": [1]}}`, "a: want a string value, as Connect settings are; got a JSON array"},
		{`{"name": "s", "config": {}, "other": 1}`, `other: unexpected next to "config"`},
		{`[1, 2]`, "invalid"},
		{"a=\\u12", "malformed \\uXXXX"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.in))
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an InputError containing %q", tc.in, err, tc.want)
		}
	}
}

func TestJDBCURL(t *testing.T) {
	cases := []struct {
		in    string
		hosts []string
		db    string
		param [][2]string
	}{
		{"jdbc:postgresql://h/db", []string{"h"}, "db", nil},
		{"jdbc:postgresql://h:5433/db?sslmode=require&currentSchema=a%2Cb", []string{"h:5433"}, "db", [][2]string{{"sslmode", "require"}, {"currentSchema", "a,b"}}},
		{"jdbc:postgresql://h1:5432,h2,[::1]:6543/db", []string{"h1:5432", "h2", "[::1]:6543"}, "db", nil},
		{"jdbc:postgresql://h/", []string{"h"}, "", nil},
		{"jdbc:postgresql://h", []string{"h"}, "", nil},
		{"jdbc:postgresql:shop", []string{"localhost"}, "shop", nil},
		{"jdbc:postgresql:/", []string{"localhost"}, "", nil},
		{"jdbc:postgresql://h/my%20db?ApplicationName=a+b", []string{"h"}, "my db", [][2]string{{"ApplicationName", "a b"}}},
	}
	for _, tc := range cases {
		u, err := parseJDBCURL(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(u.hosts, tc.hosts) || u.database != tc.db || !reflect.DeepEqual(u.params, tc.param) {
			t.Errorf("%s: got %q %q %q", tc.in, u.hosts, u.database, u.params)
		}
	}
	for in, want := range map[string]string{
		"jdbc:mysql://h/db":                   "a jdbc:mysql URL: kafka2pg writes to PostgreSQL only",
		"jdbc:sqlserver://h;databaseName=x":   "a jdbc:sqlserver URL",
		"postgres://u:secret@h/db":            "not a JDBC URL",
		"jdbc:postgresql://h1,,h2/db":         "empty host",
		"jdbc:postgresql://h/db?password=%zz": "parameter password has a bad %-escape",
	} {
		_, err := parseJDBCURL(in)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: got %v, want %q (and no password)", in, err, want)
		}
	}
}

func TestShownHidesSecrets(t *testing.T) {
	cases := []struct{ key, value, want string }{
		{"connection.password", "hunter2", "[hidden]"},
		{"consumer.override.sasl.jaas.config", `x required username="u" password="p";`, "[hidden]"},
		{"value.converter.basic.auth.user.info", "u:p", "[hidden]"},
		{"connection.url", "jdbc:postgresql://h/db?user=u&password=hunter2&ssl=true", "jdbc:postgresql://h/db?user=u&password=[hidden]&ssl=true"},
		{"value.converter.schema.registry.url", "https://u:hunter2@registry:8081", "https://u:[hidden]@registry:8081"},
		{"topics", "a,b", "a,b"},
	}
	for _, tc := range cases {
		if got := shown(tc.key, tc.value); got != tc.want {
			t.Errorf("shown(%s, %q) = %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
}

func TestLitAndQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":     "plain",
		"a$b":       "a$b",
		"${x}":      "$${x}",
		"$$":        "$$$",
		"end$":      "end$",
		"^(?:a.*)$": "^(?:a.*)$",
	} {
		if got := lit(in); got != want {
			t.Errorf("lit(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"orders":        "orders",
		"shop.orders":   "shop.orders",
		"true":          `"true"`,
		"No":            `"No"`,
		"0123":          `"0123"`,
		"3s":            "3s",
		"a b":           `"a b"`,
		"${KAFKA}":      `"${KAFKA}"`,
		`quote"d`:       `"quote\"d"`,
		"":              `""`,
		"-leading-dash": `"-leading-dash"`,
	} {
		if got := q(in); got != want {
			t.Errorf("q(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestJavaRegexp(t *testing.T) {
	re, reason := javaRegexp(`shop\..*`)
	if re == nil || !re.MatchString("shop.orders") || re.MatchString("xshop.orders") || re.MatchString("shop") {
		t.Errorf("shop\\..*: %v %s (want anchored whole-name matching)", re, reason)
	}
	for _, bad := range []string{`a(?=b)`, `a*+`, `(a)\1`, `[a-z&&[^b]]`} {
		if re, _ := javaRegexp(bad); re != nil {
			t.Errorf("%s compiled as %s; want it refused", bad, re)
		}
	}
	tmpl, ok := javaReplacement(`$3_\$x_${name}$12`, 3)
	if !ok || tmpl != `${3}_$$x_${name}${1}2` {
		t.Errorf("javaReplacement = %q %v", tmpl, ok)
	}
}
