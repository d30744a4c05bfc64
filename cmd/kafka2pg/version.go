package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// commit and date are set at build time with -ldflags "-X main.commit=…
// -X main.date=…", as version is (see the Makefile's build and release
// targets and the Dockerfile). A binary built without them falls back to the
// VCS stamp that `go build` records in a git checkout.
var (
	commit = ""
	date   = ""
)

// writeVersion prints one line:
//
//	kafka2pg v1.4.0 (commit 0f370c6a1b2c, built 2026-05-01T12:00:00Z, go1.26.0 linux/amd64)
func writeVersion(w io.Writer) {
	v, c, d := buildStamp()
	fmt.Fprintf(w, "kafka2pg %s (commit %s, built %s, %s %s/%s)\n",
		v, orUnknown(c), orUnknown(d), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildStamp is the version, commit and date of this binary.
func buildStamp() (v, c, d string) {
	v, c, d = version, commit, date
	if info, ok := debug.ReadBuildInfo(); ok {
		v, c, d = fromBuildInfo(info, v, c, d)
	}
	return v, c, d
}

// fromBuildInfo fills what -ldflags left unset: the module version of `go
// install …@vX`, and the vcs.revision and vcs.time of a build in a checkout.
func fromBuildInfo(info *debug.BuildInfo, v, c, d string) (string, string, string) {
	if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	var modified bool
	var rev, at string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if c == "" && rev != "" {
		c = rev[:min(len(rev), 12)]
		if modified {
			c += "-dirty"
		}
	}
	if d == "" {
		d = at
	}
	return v, c, d
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
