package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in YAML as a Go duration string with a
// unit: "100ms", "30s", "2m", "1h30m". A bare number other than 0 is rejected
// ("need a unit, e.g. 100ms") because "100" could mean milliseconds or seconds.
type Duration time.Duration

// String returns the duration in Go notation ("100ms", "1m30s", "0s"), which
// Duration parses back.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler with String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with the YAML rules.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler: a scalar with a unit.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 100ms, 30s or 2m; got %s", n.Line, describe(n))
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

var bareNumber = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$`)

func parseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		// Zero needs no unit; time.ParseDuration agrees.
		return 0, nil
	}
	if bareNumber.MatchString(t) {
		return 0, fmt.Errorf("need a unit, e.g. 100ms; got %q", s)
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 100ms, 30s or 2m; got %q", s)
	}
	return Duration(v), nil
}

// ByteSize is a number of bytes written in YAML either as a bare integer
// (bytes) or as an integer with a unit: B; KB, MB, GB, TB (powers of 1000);
// KiB, MiB, GiB, TiB (powers of 1024). Units are case-insensitive and may be
// separated from the number by spaces. Fractions and negative sizes are
// rejected.
type ByteSize int64

// Byte size units.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
)

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// byteUnitsDesc lists the units String may use, largest first.
var byteUnitsDesc = []struct {
	name string
	size int64
}{
	{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9},
	{"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3},
}

// String returns the size with the largest unit that divides it exactly
// ("16MiB", "64MB"), or the bare number of bytes ("1023", "0"). ByteSize
// parses the result back to the same value.
func (b ByteSize) String() string {
	if b > 0 {
		for _, u := range byteUnitsDesc {
			if int64(b)%u.size == 0 {
				return strconv.FormatInt(int64(b)/u.size, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalText implements encoding.TextMarshaler with String.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// MarshalYAML writes a bare integer when no unit fits, else String.
func (b ByteSize) MarshalYAML() (any, error) {
	s := b.String()
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return int64(b), nil
	}
	return s, nil
}

// UnmarshalText implements encoding.TextUnmarshaler with the YAML rules.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := parseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler: a bare integer or a scalar with
// a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a byte size such as 1024, 512KiB, 16MiB or 64MB; got %s", n.Line, describe(n))
	}
	v, err := parseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

func parseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	mult, ok := byteUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if i == 0 || !ok {
		return 0, fmt.Errorf("want a byte size such as 1024, 512KiB, 16MiB or 64MB; got %q", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("byte size %q is too large", s)
	}
	return ByteSize(n * mult), nil
}
