#!/usr/bin/env bash
# shellcheck disable=SC2016 # backquotes in single quotes are Markdown, not shell
# scripts/bench-decode.sh — `make bench-decode` (also run by `make bench`):
# records per second per core that one worker maps, for the same order in
# each value format (json, json-connect, avro, protobuf, json-schema).
#
# Runs BenchmarkMapFormats (internal/transform/bench_formats_test.go):
# Mapper.Map, decoding and coercing into typed column values, with -cpu 1,
# 2 s per format. The machine is shared and its speed drifts by tens of
# percent from one minute to the next, so the formats are interleaved:
# DECODE_RUNS rounds, each one run of every format in turn, and each
# format's ratio to json is taken within a round; the table gives the
# medians of the rounds, with their range. Needs neither Kafka nor
# PostgreSQL.
# Results: stdout, and the section between the decode markers of
# docs/benchmarks.md (rewritten; created under "## Decoding" when missing;
# the rest of the file is kept). A failed or incomplete benchmark run leaves
# the file alone (exit 1).
#
# Environment:
#   DECODE_RUNS=5                  -count of go test
#   DECODE_DOC=$BENCH_DOC, else docs/benchmarks.md
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=${DECODE_RUNS:-5}
DOC=${DECODE_DOC:-${BENCH_DOC:-docs/benchmarks.md}}
FORMATS="json json-connect avro protobuf json-schema" # table order; json is the reference

log() { printf '[bench-decode] %s\n' "$*" >&2; }
die() { printf '[bench-decode] ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "DECODE_RUNS must be a positive integer, not '$RUNS'"
command -v go >/dev/null || die "go is not installed"

CMD_TEXT="go test -c ./internal/transform/, then $RUNS rounds of: transform.test -test.run '^\$' -test.bench BenchmarkMapFormats -test.benchtime 2s -test.cpu 1"

loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || printf 'n/a'; }
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
CPU_COUNT=$(grep -c '^processor' /proc/cpuinfo 2>/dev/null || true)
GO_VERSION=$(go version)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')

OUT=$(mktemp)
RESULTS=$(mktemp)
TESTBIN=$(mktemp)
trap 'rm -f "$OUT" "$RESULTS" "$TESTBIN"' EXIT

go test -c -o "$TESTBIN" ./internal/transform/ || die "could not build the benchmark; $DOC is unchanged"
LOAD_BEFORE=$(loadavg)
log "running: $CMD_TEXT (about $((RUNS * 5 * 3)) s)"
for round in $(seq 1 "$RUNS"); do
  (cd internal/transform && "$TESTBIN" -test.run '^$' -test.bench BenchmarkMapFormats -test.benchtime 2s -test.cpu 1) |
    tee -a "$OUT" >&2 || die "the benchmark failed in round $round; $DOC is unchanged"
done
LOAD_AFTER=$(loadavg)

# One line per run and format:
#   BenchmarkMapFormats/avro  1000000  2405 ns/op  415769 records/s  91.00 value-bytes  560 B/op  22 allocs/op
# (a -N suffix on the name when GOMAXPROCS is not 1).
TABLE=$(awk -v formats="$FORMATS" -v runs="$RUNS" '
  function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
  function median(a, n) { sort(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  function rate(x,   s, r) { s = sprintf("%.0f", x); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }; return s r }
  $1 ~ /^BenchmarkMapFormats\// {
    name = $1; sub(/^BenchmarkMapFormats\//, "", name); sub(/-[0-9]+$/, "", name)
    r = t = ""
    for (i = 3; i < NF; i++) {
      if ($(i + 1) == "records/s") r = $i
      if ($(i + 1) == "ns/op") t = $i
      if ($(i + 1) == "value-bytes") size[name] = $i
    }
    if (r != "" && t != "") { n[name]++; rps[name, n[name]] = r; ns[name, n[name]] = t }
  }
  END {
    nf = split(formats, f, " ")
    for (k = 1; k <= nf; k++) {
      name = f[k]
      if (n[name] != runs) { printf "format %s: %d results, want %d\n", name, n[name], runs > "/dev/stderr"; exit 1 }
      delete a; delete b; delete q
      # Result i of every format is from round i: the ratio to json is
      # taken within the round.
      for (i = 1; i <= runs; i++) { a[i] = rps[name, i] + 0; b[i] = ns[name, i] + 0; q[i] = a[i] / rps["json", i] }
      med[name] = median(a, runs); lo[name] = a[1]; hi[name] = a[runs]; mns[name] = median(b, runs)
      rel[name] = median(q, runs); rlo[name] = q[1]; rhi[name] = q[runs]
    }
    print "| format | records/s per core (median of " runs ") | min–max | ns/record | relative to json (median of the rounds) | min–max |"
    print "|---|---:|---:|---:|---:|---:|"
    for (k = 1; k <= nf; k++) {
      name = f[k]
      printf "| %s | %s | %s–%s | %s | %.2f× | %.2f–%.2f |\n", name, rate(med[name]), rate(lo[name]), rate(hi[name]), rate(mns[name]), rel[name], rlo[name], rhi[name]
    }
    printf "\nValue sizes (bytes, wire header included):"
    for (k = 1; k <= nf; k++) printf " %s %d%s", f[k], size[f[k]], k < nf ? ";" : "."
    print ""
  }' "$OUT") || die "could not read the benchmark output; $DOC is unchanged"

{
  printf '_Generated by `make bench-decode` (scripts/bench-decode.sh) on %s; do not edit by hand._\n\n' "$DATE"
  printf 'Command: `%s` (%d rounds; in each, every format runs 2 s on one core, and its ratio to json is taken within the round).\n\n' "$CMD_TEXT" "$RUNS"
  printf 'Machine: %s × %s; %s; load average %s before, %s after (the machine is shared: read the medians).\n\n' \
    "${CPU_COUNT:-?}" "${CPU_MODEL:-unknown CPU}" "$GO_VERSION" "$LOAD_BEFORE" "$LOAD_AFTER"
  printf '%s\n' "$TABLE"
} >"$RESULTS"

# ---- docs/benchmarks.md: replace what is between the markers ------------------------
BEGIN_MARK='<!-- decode:begin -->'
END_MARK='<!-- decode:end -->'
SECTION_TEXT='How many records per second one worker maps on one core, per value format: `Mapper.Map` decoding the same ten-field order and coercing it into typed column values (BenchmarkMapFormats in internal/transform/bench_formats_test.go). Run `make bench-decode` (scripts/bench-decode.sh); needs neither Kafka nor PostgreSQL.'
mkdir -p "$(dirname "$DOC")"
if [ ! -f "$DOC" ]; then
  printf '# Benchmarks\n\n## Decoding\n\n%s\n\n%s\n%s\n' "$SECTION_TEXT" "$BEGIN_MARK" "$END_MARK" >"$DOC"
elif ! grep -qxF "$BEGIN_MARK" "$DOC" || ! grep -qxF "$END_MARK" "$DOC"; then
  printf '\n## Decoding\n\n%s\n\n%s\n%s\n' "$SECTION_TEXT" "$BEGIN_MARK" "$END_MARK" >>"$DOC"
fi
awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$RESULTS" '
  $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
  $0 == e { skip = 0 }
  !skip { print }' "$DOC" >"$DOC.tmp"
mv "$DOC.tmp" "$DOC"

cat "$RESULTS"
log "results written to $DOC"
