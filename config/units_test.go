package config

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    Duration
		wantErr string
	}{
		{in: "100ms", want: Duration(100 * time.Millisecond)},
		{in: "30s", want: Duration(30 * time.Second)},
		{in: "2m", want: Duration(2 * time.Minute)},
		{in: "1h30m", want: Duration(90 * time.Minute)},
		{in: " 1.5s ", want: Duration(1500 * time.Millisecond)},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "-1s", want: Duration(-time.Second)},
		{in: "100", wantErr: `need a unit, e.g. 100ms; got "100"`},
		{in: "1.5", wantErr: `need a unit, e.g. 100ms; got "1.5"`},
		{in: "-5", wantErr: "need a unit"},
		{in: "", wantErr: `want a duration such as 100ms, 30s or 2m; got ""`},
		{in: "soon", wantErr: "want a duration such as 100ms, 30s or 2m"},
		{in: "1d", wantErr: "want a duration such as"},
		{in: "10 s", wantErr: "want a duration such as"},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseDuration(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
		case err != nil || got != tt.want:
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr string
	}{
		{in: "1024", want: 1024},
		{in: "0", want: 0},
		{in: "1024B", want: 1024},
		{in: "512KiB", want: 512 * 1024},
		{in: "16MiB", want: 16 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "64MB", want: 64_000_000},
		{in: "1KB", want: 1000},
		{in: "3GB", want: 3_000_000_000},
		{in: "1TB", want: 1_000_000_000_000},
		{in: "16mib", want: 16 << 20},
		{in: "16 MiB", want: 16 << 20},
		{in: " 8kb ", want: 8000},
		{in: "", wantErr: "want a byte size such as 1024, 512KiB, 16MiB or 64MB"},
		{in: "16M", wantErr: `got "16M"`},
		{in: "MiB", wantErr: "want a byte size"},
		{in: "1.5GiB", wantErr: "want a byte size"},
		{in: "-1", wantErr: "want a byte size"},
		{in: "lots", wantErr: "want a byte size"},
		{in: "9223372036854775807", want: 9223372036854775807},
		{in: "9223372036854775808", wantErr: "too large"},
		{in: "9000000TiB", wantErr: `byte size "9000000TiB" is too large`},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseByteSize(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
		case err != nil || got != tt.want:
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1023, "1023"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{16 * MiB, "16MiB"},
		{64_000_000, "64MB"},
		{1024000, "1000KiB"},
		{GiB, "1GiB"},
		{1 << 40, "1TiB"},
		{-5, "-5"},
	}
	for _, tt := range tests {
		got := tt.in.String()
		if got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if tt.in >= 0 {
			back, err := parseByteSize(got)
			if err != nil || back != tt.in {
				t.Errorf("parseByteSize(%q) = %d, %v; want %d", got, back, err, tt.in)
			}
		}
	}
}

// TestUnitsYAML checks the types on their own, outside Parse, as other code
// decoding YAML with them sees them.
func TestUnitsYAML(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
		B ByteSize `yaml:"b"`
		N ByteSize `yaml:"size"`
	}
	if err := yaml.Unmarshal([]byte("d: 1m30s\nb: 16MiB\nsize: 1023\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.D != Duration(90*time.Second) || v.B != 16*MiB || v.N != 1023 {
		t.Errorf("decoded %+v", v)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "d: 1m30s\nb: 16MiB\nsize: 1023\n"; got != want {
		t.Errorf("Marshal = %q, want %q", got, want)
	}
	for _, doc := range []string{"d: 100\n", "b: 16M\n", "d: [1s]\n"} {
		if err := yaml.Unmarshal([]byte(doc), &v); err == nil {
			t.Errorf("Unmarshal(%q) succeeded", doc)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("250ms")); err != nil || d != Duration(250*time.Millisecond) {
		t.Errorf("UnmarshalText = %v, %v", d, err)
	}
	var b ByteSize
	if err := b.UnmarshalText([]byte("2KiB")); err != nil || b != 2048 {
		t.Errorf("UnmarshalText = %v, %v", b, err)
	}
}
