package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestExpandEnv(t *testing.T) {
	vars := env(map[string]string{"A": "alpha", "EMPTY": "", "N": "42", "DOLLAR": "$B"})
	tests := []struct {
		in   string
		want string
		errs []string // fragments, one per expected message
	}{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-${N}", want: "x-alpha-42"},
		{in: "${MISSING:-def}", want: "def"},
		{in: "${EMPTY:-def}", want: "def"},
		{in: "${A:-def}", want: "alpha"},
		{in: "${MISSING:-}", want: ""},
		{in: "${EMPTY}", want: ""},
		{in: "${MISSING:-a b:c}", want: "a b:c"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "$$$${A}", want: "$${A}"},
		{in: "cost $5 $", want: "cost $5 $"},
		{in: "$A", want: "$A"},
		{in: "${DOLLAR}", want: "$B"}, // values are not expanded again
		{in: "${MISSING}", errs: []string{"environment variable MISSING is not set"}},
		{in: "${M1}/${M2}", errs: []string{"M1 is not set", "M2 is not set"}},
		{in: "${A", errs: []string{"unterminated ${"}},
		{in: "${}", errs: []string{"invalid environment variable reference ${}"}},
		{in: "${A-b}", errs: []string{"invalid environment variable reference ${A-b}"}},
		{in: "${9A}", errs: []string{"invalid environment variable reference ${9A}"}},
	}
	for _, tt := range tests {
		got, errs := expandEnv(tt.in, vars)
		if len(errs) != len(tt.errs) {
			t.Errorf("expandEnv(%q) errors = %q, want %d", tt.in, errs, len(tt.errs))
			continue
		}
		for i := range errs {
			if !strings.Contains(errs[i], tt.errs[i]) {
				t.Errorf("expandEnv(%q) error %q, want it to contain %q", tt.in, errs[i], tt.errs[i])
			}
		}
		if tt.errs == nil && got != tt.want {
			t.Errorf("expandEnv(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandEnvDoesNotLeakValues(t *testing.T) {
	_, errs := expandEnv("${SECRET}${MISSING}", env(map[string]string{"SECRET": "hunter2"}))
	if !reflect.DeepEqual(errs, []string{"environment variable MISSING is not set"}) {
		t.Errorf("errors = %q", errs)
	}
}
