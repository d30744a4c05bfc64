package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The tests in this file keep docs/configuration.md true to the code.

func readDocs(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// yamlBlockAfter returns the first ```yaml block after the heading.
func yamlBlockAfter(t *testing.T, docs, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(docs, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs: no heading %q", heading)
	}
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	if !ok {
		t.Fatalf("docs: no yaml block after %q", heading)
	}
	block, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatalf("docs: unterminated yaml block after %q", heading)
	}
	return block
}

func TestDocsFullExampleIsTestdata(t *testing.T) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := yamlBlockAfter(t, readDocs(t), "## Full example"); got != string(full) {
		t.Errorf("the full example in docs/configuration.md differs from testdata/full.yaml")
	}
}

func TestDocsMinimalExample(t *testing.T) {
	block := yamlBlockAfter(t, readDocs(t), "## Minimal example")
	cfg := mustParse(t, []byte(block), map[string]string{"DATABASE_URL": "postgres://u@h/db"})
	if s, tb := cfg.Routes[0].TableName(); s != "" || tb != "orders" {
		t.Errorf("minimal example table = %q.%q", s, tb)
	}
}

// docKeys returns every key path of type t as the docs spell it
// ("routes[].value.format"), and the subset that needs a reference row: all
// but the plain sections (kafka, errors.retry, ...), whose keys have rows.
func docKeys(prefix string, t reflect.Type) (all, rows []string) {
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" {
			continue
		}
		p := joinPath(prefix, name)
		all = append(all, p)
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			rows = append(rows, p)
			a, r := docKeys(p+"[]", ft.Elem())
			all, rows = append(all, a...), append(rows, r...)
		case ft.Kind() == reflect.Pointer:
			rows = append(rows, p) // an optional section
			a, r := docKeys(p, ft.Elem())
			all, rows = append(all, a...), append(rows, r...)
		case ft.Kind() == reflect.Struct && ft != durationType && ft != byteSizeType:
			a, r := docKeys(p, ft)
			all, rows = append(all, a...), append(rows, r...)
		default:
			rows = append(rows, p)
		}
	}
	return all, rows
}

var docRow = regexp.MustCompile("(?m)^\\| `([a-z_.\\[\\]]+)` \\| ([^|]+) \\| ([^|]+) \\|")

func TestDocsListEveryKeyWithItsDefault(t *testing.T) {
	docs := readDocs(t)
	rows := map[string]string{} // path → default column
	for _, m := range docRow.FindAllStringSubmatch(docs, -1) {
		rows[m[1]] = strings.TrimSpace(m[3])
	}
	keys, needRows := docKeys("", configType)
	for _, k := range needRows {
		if _, ok := rows[k]; !ok {
			t.Errorf("docs/configuration.md has no reference row for `%s`", k)
		}
	}
	for path := range rows {
		if !slices.Contains(keys, path) {
			t.Errorf("docs/configuration.md documents `%s`, which is not a key", path)
		}
	}

	// A default written as `value` must be what Parse fills in.
	cfg := mustParse(t, replaced(4, "  topics: [orders]\n  tls: {}"), nil)
	for path, def := range rows {
		m := regexp.MustCompile("^`([^`]*)`").FindStringSubmatch(def)
		if m == nil {
			continue // "—", or a default described in words
		}
		field, ok := fieldByPath(reflect.ValueOf(cfg).Elem(), path)
		if !ok {
			t.Errorf("docs default for %s: no such field in a parsed config", path)
			continue
		}
		want := reflect.New(field.Type())
		if err := yaml.Unmarshal([]byte(m[1]), want.Interface()); err != nil {
			t.Errorf("docs default for %s: %q does not parse: %v", path, m[1], err)
			continue
		}
		if !reflect.DeepEqual(want.Elem().Interface(), field.Interface()) {
			t.Errorf("docs say %s defaults to %s; Parse gives %v", path, m[1], field.Interface())
		}
	}
}

// fieldByPath follows a docs path through v, taking routes[] as routes[0].
func fieldByPath(v reflect.Value, path string) (reflect.Value, bool) {
	for _, part := range strings.Split(path, ".") {
		name, isList := strings.CutSuffix(part, "[]")
		found := false
		for i := 0; i < v.NumField(); i++ {
			tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			if tag == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return v, false
		}
		if isList {
			if v.Len() == 0 {
				return v, false
			}
			v = v.Index(0)
		}
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return v, false
			}
			v = v.Elem()
		}
	}
	return v, true
}
