package connectconf

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The tests in this file keep docs/migrating-from-connect.md true to the
// key tables of this package.

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/migrating-from-connect.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the text from heading to the next heading of the same
// or a higher level.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs: no heading %q", heading)
	}
	level := strings.Count(strings.Fields(heading)[0], "#")
	for _, line := range strings.Split(rest, "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.Trim(f[0], "#") == "" && len(f[0]) <= level {
			rest, _, _ = strings.Cut(rest, "\n"+line+"\n")
			break
		}
	}
	return rest
}

var firstCellKeys = regexp.MustCompile("`([a-z][a-zA-Z0-9_.*-]*)`")

// tableKeys returns the backquoted names in the first column of every
// table row of text.
func tableKeys(text string) []string {
	var keys []string
	for _, line := range strings.Split(text, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "|") {
			continue
		}
		for _, m := range firstCellKeys.FindAllStringSubmatch(cells[1], -1) {
			keys = append(keys, m[1])
		}
	}
	return keys
}

func TestDocListsEveryKey(t *testing.T) {
	doc := readDoc(t)
	for _, tc := range []struct {
		heading string
		table   map[string]rule
	}{
		{"### Kafka Connect settings", frameworkKeys},
		{"### Confluent JDBC sink", confluentKeys},
		{"### Debezium JDBC sink", debeziumKeys},
	} {
		listed := map[string]bool{}
		for _, k := range tableKeys(section(t, doc, tc.heading)) {
			listed[k] = true
		}
		for k := range tc.table {
			name := k
			if strings.HasSuffix(k, ".") {
				name = k + "*"
			}
			if !listed[name] {
				t.Errorf("%s: %s is not in the table", tc.heading, name)
			}
		}
		for k := range listed {
			if strings.HasPrefix(k, "consumer.override.") && k != "consumer.override.*" {
				continue // documented one by one; the code handles them in consumerOverrides
			}
			key := strings.TrimSuffix(k, "*")
			if _, ok := lookupRule(key, tc.table); !ok {
				t.Errorf("%s: the table lists %s, which the converter does not know", tc.heading, k)
			}
		}
	}
}

func TestDocConverters(t *testing.T) {
	doc := section(t, readDoc(t), "### Converters")
	for _, c := range []string{jsonConverter, stringConverter, byteArrayConverter, avroConverter, protobufConverter, jsonSchemaConverter} {
		if !strings.Contains(doc, "`"+c+"`") {
			t.Errorf("converters: %s is not listed", c)
		}
	}
	for _, n := range registryHarmless {
		if strings.HasSuffix(n, ".") {
			n += "*"
		}
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("converters: %s is not listed", n)
		}
	}
}

func TestDocTransforms(t *testing.T) {
	doc := section(t, readDoc(t), "### Transforms")
	for _, c := range []string{extractNewRecordState, regexRouter, insertFieldValue, flattenValue} {
		if !strings.Contains(doc, "`"+c+"`") {
			t.Errorf("transforms: %s is not listed", c)
		}
	}
}
