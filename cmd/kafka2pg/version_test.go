package main

import (
	"runtime/debug"
	"testing"
)

// -ldflags values win; what they leave unset comes from the build info.
func TestFromBuildInfo(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name         string
		info         debug.BuildInfo
		v, c, d      string
		wantV, wantC string
		wantD        string
	}{
		{"ldflags win", debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}, Settings: vcs("vcs.revision", "ffffffffffffffff", "vcs.time", "2000-01-01T00:00:00Z")},
			"v1.2.3", "abc", "2026-01-02T03:04:05Z", "v1.2.3", "abc", "2026-01-02T03:04:05Z"},
		{"go install module@version", debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}},
			"dev", "", "", "v1.4.0", "", ""},
		{"checkout, modified", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-05-01T12:00:00Z", "vcs.modified", "true")},
			"dev", "", "", "dev", "0123456789ab-dirty", "2026-05-01T12:00:00Z"},
		{"short revision", debug.BuildInfo{Settings: vcs("vcs.revision", "abc")},
			"dev", "", "", "dev", "abc", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, c, d := fromBuildInfo(&tc.info, tc.v, tc.c, tc.d)
			if v != tc.wantV || c != tc.wantC || d != tc.wantD {
				t.Errorf("got (%q, %q, %q), want (%q, %q, %q)", v, c, d, tc.wantV, tc.wantC, tc.wantD)
			}
		})
	}
}
