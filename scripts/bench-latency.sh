#!/usr/bin/env bash
# shellcheck disable=SC2016 # backquotes in single quotes are Markdown, not shell
# scripts/bench-latency.sh — part of `make bench`: produce → row latency at a
# steady rate, and throughput on two row shapes (wide rows, large jsonb), as
# ratios of psql's \copy of the same rows.
#
# Latency probe (LATENCY_RATE records/s for LATENCY_SECONDS s, bench/shapes
# steady, LATENCY_RUNS repetitions, interleaved): kafka2pg runs with the
# default batching (adaptive, small batches of partitions grouped into one
# transaction), with `batch.group_rows: 0` (every partition's batch in its
# own transaction) and with `batch.linger: true` (a batch that is not full
# waits max_wait, 100 ms), on
# a table whose ingested_at defaults to clock_timestamp() and whose kafka_ts
# is the record's Kafka timestamp (a computed column, kafka.timestamp);
# latency = ingested_at − kafka_ts per row, p50 / p99 / max over every row.
# A first record, written before the probe starts, is left out (it waits for
# the group join).
#
# Shapes (SHAPES_RUNS repetitions, interleaved): `wide`, SHAPES_WIDE_COUNT
# records of 60 fields (bigint, text, numeric, boolean in turn), and `jsonb`,
# SHAPES_JSONB_COUNT records each holding a document of about 10 KiB stored
# as jsonb. Each run: psql \copy of the same rows (the ceiling), then
# kafka2pg run --stop-at-end on a fresh table (insert mode, defaults); both
# tables must have the same count and fingerprint. Reported: rows/s and MB/s
# of record values, ratios to the ceiling, kafka2pg CPU and peak RSS.
#
# Results: stdout and the section between the latency markers of
# docs/benchmarks.md (rewritten; the rest is kept).
#
# Environment: LATENCY_RATE=5000 LATENCY_SECONDS=30 LATENCY_RUNS=3 SHAPES_RUNS=3
#   SHAPES_WIDE_COUNT=200000 SHAPES_JSONB_COUNT=20000
#   LATENCY_DOC=$BENCH_DOC, else docs/benchmarks.md
#   LATENCY_WORK=bin/bench-latency LATENCY_RETRIES=3
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RATE=${LATENCY_RATE:-5000}
LRUNS=${LATENCY_RUNS:-3}
SECS=${LATENCY_SECONDS:-30}
RUNS=${SHAPES_RUNS:-3}
WIDE_COUNT=${SHAPES_WIDE_COUNT:-200000}
JSONB_COUNT=${SHAPES_JSONB_COUNT:-20000}
DOC=${LATENCY_DOC:-${BENCH_DOC:-docs/benchmarks.md}}
WORK=${LATENCY_WORK:-bin/bench-latency}
BIN=bin/kafka2pg
DB=kafka2pg_bench_shapes

log() { printf '[bench-latency] %s\n' "$*" >&2; }
die() { printf '[bench-latency] ERROR: %s\n' "$*" >&2; exit 1; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, v }'; }
fmt_rate() { printf '%s' "$(fmt "$1")" | rev | sed -E 's/([0-9]{3})/\1,/g; s/,$//' | rev; }
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) printf "%.6f", v[(NR + 1) / 2]; else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
range() { printf '%s\n' "$@" | sort -g | awk -v d="${D:-2}" 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.*f–%.*f", d, lo, d, hi }'; }

T_START=$SECONDS
eval "$(scripts/services.sh up)"
BROKERS=$KAFKA2PG_TEST_BROKERS
ADMIN_URL=$KAFKA2PG_TEST_DATABASE_URL
export BENCH_DATABASE_URL="${ADMIN_URL%%/postgres\?*}/$DB?sslmode=disable"
[ -x "$BIN" ] || make build >&2
case "$WORK" in "" | / | . | .. | "$HOME") die "LATENCY_WORK='$WORK' is not a scratch directory" ;; esac
rm -rf "$WORK"
mkdir -p "$WORK"
go build -o "$WORK/shapes" ./bench/shapes
psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" "$@"; }
pg() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$BENCH_DATABASE_URL" "$@"; }
pgv() { pg -A -t "$@"; }
psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DB"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

config() { # $1 = topic, $2 = table, $3 = extra route lines, $4 = extra top-level lines
  cat <<EOF
kafka:
  brokers: ["$BROKERS"]
  group: bench-latency-$1-$(date +%s%N)
  topics: [$1]
  start: earliest
postgres:
  url: \${BENCH_DATABASE_URL}
  max_conns: 4
$4
routes:
  - topic: $1
    table: public.$2
    value: {format: json}
    key: {format: string}
    mode: insert
$3
EOF
}

# ---- latency probe ----------------------------------------------------------------
declare -A L_P50=() L_P99=() L_MAX=() L_BATCHES=() L_ROWS=()
latency_run() { # $1 = variant (adaptive | alone | linger), $2 = run
  local v=$1 r=$2 topic="bench_latency_$1" cfg="$WORK/latency-$1.yaml" lf="$WORK/latency-$1-$2.log" pid n want i
  pg -c "DROP TABLE IF EXISTS steady" \
    -c "CREATE TABLE steady (id bigint NOT NULL, note text, kafka_ts timestamptz NOT NULL, ingested_at timestamptz NOT NULL DEFAULT clock_timestamp())" \
    -c "ALTER TABLE steady SET (autovacuum_enabled = off)"
  "$WORK/shapes" wide -brokers "$BROKERS" -topic "$topic" -count 0 -csv "$WORK/empty.csv" >/dev/null # (re)creates the topic
  local extra=""
  [ "$v" = linger ] && extra=$'batch:\n  linger: true'
  [ "$v" = alone ] && extra=$'batch:\n  group_rows: 0'
  config "$topic" steady '    columns: {kafka_ts: kafka.timestamp}' "$extra" >"$cfg"
  "$BIN" run --config "$cfg" 2>"$lf" &
  pid=$!
  K2P_PID=$pid
  # A first record, written once the group has joined; not counted.
  printf '{"id": 0, "note": "warm-up"}' | kcat_produce "$topic"
  for i in $(seq 1 600); do
    [ "$(pgv -c "SELECT count(*) FROM steady" 2>/dev/null || echo 0)" -ge 1 ] && break
    kill -0 "$pid" 2>/dev/null || die "kafka2pg exited early (log: $lf)"
    sleep 0.1
  done
  log "latency ($v): producing $RATE records/s for $SECS s"
  "$WORK/shapes" steady -brokers "$BROKERS" -topic "$topic" -rate "$RATE" -seconds "$SECS" >&2
  want=$((RATE * SECS + 1))
  n=0
  for i in $(seq 1 600); do
    n=$(pgv -c "SELECT count(DISTINCT id) FROM steady" 2>/dev/null || echo 0)
    [ "$n" -ge "$want" ] && break
    sleep 0.1
  done
  kill -TERM "$pid"
  wait "$pid" || die "kafka2pg ($v) exited with an error (log: $lf)"
  K2P_PID=
  [ "$n" = "$want" ] || die "latency ($v): $n distinct ids, expected $want"
  local q
  # A row written twice (at-least-once after a lost connection) counts once,
  # at its first insertion.
  q=$(pgv -F' ' -c "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms), count(*)
    FROM (SELECT extract(epoch FROM min(ingested_at) - min(kafka_ts)) * 1000 AS ms FROM steady WHERE id > 0 GROUP BY id) s")
  read -r "L_P50[$v,$r]" "L_P99[$v,$r]" "L_MAX[$v,$r]" "L_ROWS[$v,$r]" <<<"$q"
  L_BATCHES[$v,$r]=$(sed -n 's/.* batches=\([0-9]*\).*/\1/p' "$lf" | tail -1)
  log "latency ($v, run $r): p50 $(fmt "${L_P50[$v,$r]}" 1) ms, p99 $(fmt "${L_P99[$v,$r]}" 1) ms, max $(fmt "${L_MAX[$v,$r]}" 1) ms, ${L_BATCHES[$v,$r]} batches"
}

# One record, id 0.
kcat_produce() { # $1 = topic
  "$WORK/shapes" steady -brokers "$BROKERS" -topic "$1" -rate 1 -seconds 1 -first 0 >/dev/null
}

# ---- shapes -----------------------------------------------------------------------
declare -A S_BYTES=() S_C=() S_K=() S_CPU=() S_RSS=()
shape_table() { # $1 = shape
  pg -c "DROP TABLE IF EXISTS shape_$1"
  if [ "$1" = wide ]; then
    local cols="id bigint NOT NULL" c t
    for c in $(seq 2 60); do
      case $((c % 4)) in 0) t=bigint ;; 1) t=text ;; 2) t=numeric ;; *) t=boolean ;; esac
      cols+=", c$c $t"
    done
    pg -c "CREATE TABLE shape_wide ($cols)"
  else
    pg -c "CREATE TABLE shape_jsonb (id bigint NOT NULL, doc jsonb)"
  fi
  pg -c "ALTER TABLE shape_$1 SET (autovacuum_enabled = off)"
}
fingerprint() { pgv -c "SELECT count(*) || ':' || coalesce(sum(hashtextextended(t::text, 0)), 0) FROM shape_$1 t"; }

shape_prepare() { # $1 = shape, $2 = count
  log "[$1] producing $2 records and their CSV"
  local out
  out=$("$WORK/shapes" "$1" -brokers "$BROKERS" -topic "bench_shape_$1" -count "$2" -csv "$WORK/$1.csv")
  S_BYTES[$1]=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$out")
  config "bench_shape_$1" "shape_$1" "" "" >"$WORK/$1.yaml.in"
}

shape_run() { # $1 = shape, $2 = run, $3 = count
  local s=$1 r=$2 t0 t1 fp ref tf="$WORK/$1-$2.time" lf="$WORK/$1-$2.log"
  shape_table "$s"
  pg -c CHECKPOINT
  t0=$EPOCHREALTIME
  pg -c "\\copy shape_$s FROM '$WORK/$s.csv' WITH (FORMAT csv)"
  t1=$EPOCHREALTIME
  S_C[$s,$r]=$(calc "$t1 - $t0")
  ref=$(fingerprint "$s")
  [ "${ref%%:*}" = "$3" ] || die "[$s] the ceiling left ${ref%%:*} rows, expected $3"
  shape_table "$s"
  pg -c CHECKPOINT
  sed "s/group: \(.*\)/group: \1-$r/" "$WORK/$s.yaml.in" >"$WORK/$s-$r.yaml"
  t0=$EPOCHREALTIME
  /usr/bin/time -v -o "$tf" "$BIN" run --config "$WORK/$s-$r.yaml" --stop-at-end 2>"$lf" || die "[$s] kafka2pg run $r failed (log: $lf)"
  t1=$EPOCHREALTIME
  S_K[$s,$r]=$(calc "$t1 - $t0")
  fp=$(fingerprint "$s")
  [ "$fp" = "$ref" ] || die "[$s] run $r: kafka2pg's table differs from the ceiling's ($fp, expected $ref)"
  S_CPU[$s,$r]=$(awk '/User time|System time/ { s += $NF } END { print s }' "$tf")
  S_RSS[$s,$r]=$(awk '/Maximum resident/ { printf "%.0f", $NF / 1024 }' "$tf")
  log "[$s] run $r: ceiling $(fmt "${S_C[$s,$r]}" 2) s, kafka2pg $(fmt "${S_K[$s,$r]}" 2) s ($(fmt "$(calc "${S_C[$s,$r]} / ${S_K[$s,$r]}")" 2) of \\copy), RSS ${S_RSS[$s,$r]} MiB"
}

# A kafka2pg left running by a failure is stopped.
K2P_PID=
trap '[ -z "$K2P_PID" ] || kill "$K2P_PID" 2>/dev/null || true' EXIT

# The services are shared: a step during which PostgreSQL or the broker
# restarted (another user's test) is repeated, up to LATENCY_RETRIES times;
# results come back from a subshell through a file.
RETRIES=${LATENCY_RETRIES:-3}
services_epoch() {
  printf '%s/%s' "$(pgv -c "SELECT pg_postmaster_start_time()" 2>/dev/null || echo down)" \
    "$(tr -dc '0-9' <"$(dirname "$KAFKA2PG_KAFKA_HOME")/kafka.pid" 2>/dev/null || echo down)"
}
step() { # a command (latency_run … or shape_run …), repeated after a restart
  local attempt epoch rc state="$WORK/state.sh"
  for attempt in $(seq 0 "$RETRIES"); do
    epoch=$(services_epoch)
    rc=0
    (
      trap '[ -z "$K2P_PID" ] || kill "$K2P_PID" 2>/dev/null || true' EXIT
      "$@"
      declare -p L_P50 L_P99 L_MAX L_BATCHES L_ROWS S_C S_K S_CPU S_RSS >"$state"
    ) &
    wait $! || rc=$?
    if [ "$rc" = 0 ]; then
      # shellcheck disable=SC1090 # written just above
      source <(sed 's/^declare -A /declare -gA /' "$state")
      return 0
    fi
    for _ in $(seq 1 120); do pgv -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
    if [ "$(services_epoch)" = "$epoch" ] || [ "$attempt" = "$RETRIES" ]; then
      die "$* failed (see above)"
    fi
    log "PostgreSQL or the broker restarted during '$*' (shared services); repeating it"
  done
}

for r in $(seq 1 "$LRUNS"); do
  for v in adaptive alone linger; do step latency_run "$v" "$r"; done
done
shape_prepare wide "$WIDE_COUNT"
shape_prepare jsonb "$JSONB_COUNT"
for r in $(seq 1 "$RUNS"); do
  step shape_run wide "$r" "$WIDE_COUNT"
  step shape_run jsonb "$r" "$JSONB_COUNT"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T_START))
rm -f "$WORK"/*.csv

RESULTS="$WORK/results.md"
{
  printf '_Generated by `make bench` (scripts/bench-latency.sh) on %s; do not edit by hand._\n\n' "$(date -u +'%Y-%m-%d %H:%M UTC')"
  printf 'Command: `LATENCY_RATE=%s LATENCY_SECONDS=%s LATENCY_RUNS=%s SHAPES_RUNS=%s SHAPES_WIDE_COUNT=%s SHAPES_JSONB_COUNT=%s bash scripts/bench-latency.sh` (took %d min %02d s). kafka2pg %s; load average %s before, %s after.\n\n' \
    "$RATE" "$SECS" "$LRUNS" "$RUNS" "$WIDE_COUNT" "$JSONB_COUNT" $((ELAPSED / 60)) $((ELAPSED % 60)) "$("$BIN" version 2>/dev/null | awk '{print $2}')" "$LOAD_BEFORE" "$LOAD_AFTER"
  printf '### Latency at a steady %s records/s (8 partitions, %s s)\n\n' "$RATE" "$SECS"
  printf 'Produce → row: `ingested_at` (`clock_timestamp()` when the row is inserted) − the record'"'"'s Kafka timestamp, over all %s rows of a run; %s runs per batching mode, interleaved, medians (and the spread of the runs). "Partition batches" are the workers'"'"' batches, several of which a grouped transaction can carry.\n\n' "${L_ROWS[adaptive,1]}" "$LRUNS"
  printf '| batching | p50 ms | p99 ms | max ms | partition batches | rows per batch |\n|---|---:|---:|---:|---:|---:|\n'
  for v in adaptive alone linger; do
    case $v in
      adaptive) name='adaptive, small batches grouped (default)' ;;
      alone) name='adaptive, `group_rows: 0` (every batch its own transaction)' ;;
      *) name='`linger: true` (max_wait 100 ms)' ;;
    esac
    p50=() p99=() mx=() nb=() rpb=()
    for r in $(seq 1 "$LRUNS"); do
      p50+=("${L_P50[$v,$r]}") p99+=("${L_P99[$v,$r]}") mx+=("${L_MAX[$v,$r]}") nb+=("${L_BATCHES[$v,$r]}")
      rpb+=("$(calc "${L_ROWS[$v,$r]} / ${L_BATCHES[$v,$r]}")")
    done
    [ "$v" = adaptive ] && P99_DEFAULT=$(median "${p99[@]}")
    printf '| %s | %s (%s) | %s (%s) | %s | %s | %s |\n' "$name" "$(fmt "$(median "${p50[@]}")" 1)" "$(D=1 range "${p50[@]}")" \
      "$(fmt "$(median "${p99[@]}")" 1)" "$(D=1 range "${p99[@]}")" "$(fmt "$(median "${mx[@]}")" 1)" \
      "$(fmt "$(median "${nb[@]}")" 0)" "$(fmt "$(median "${rpb[@]}")" 0)"
  done
  printf '\nTarget: p99 ≤ 25 ms with the defaults: median %s ms, %s.\n\n' "$(fmt "$P99_DEFAULT" 1)" "$(awk -v a="$P99_DEFAULT" 'BEGIN { print (a <= 25 ? "met" : "**not met**") }')"
  for s in wide jsonb; do
    count=$WIDE_COUNT what="60 columns (bigint, text, numeric, boolean), $(fmt "$(calc "${S_BYTES[$s]} / $WIDE_COUNT")") bytes of JSON per record"
    if [ "$s" = jsonb ]; then count=$JSONB_COUNT what="a jsonb document of $(fmt "$(calc "${S_BYTES[$s]} / $JSONB_COUNT / 1024")" 1) KiB per record"; fi
    printf '### %s: %s records, %s\n\n' "$s" "$count" "$what"
    printf '| run | \\copy rows/s | kafka2pg rows/s | kafka2pg MB/s | ratio | kafka2pg CPU s | peak RSS MiB |\n|---:|---:|---:|---:|---:|---:|---:|\n'
    ratios=() kr=() cr=() mb=()
    for r in $(seq 1 "$RUNS"); do
      ratios+=("$(calc "${S_C[$s,$r]} / ${S_K[$s,$r]}")") kr+=("$(calc "$count / ${S_K[$s,$r]}")") cr+=("$(calc "$count / ${S_C[$s,$r]}")")
      mb+=("$(calc "${S_BYTES[$s]} / 1000000 / ${S_K[$s,$r]}")")
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$r" "$(fmt_rate "${cr[-1]}")" "$(fmt_rate "${kr[-1]}")" "$(fmt "${mb[-1]}" 1)" \
        "$(fmt "${ratios[-1]}" 2)" "$(fmt "${S_CPU[$s,$r]}" 1)" "${S_RSS[$s,$r]}"
    done
    printf '| **median** | **%s** | **%s** | **%s** | **%s** (%s) | | |\n\n' "$(fmt_rate "$(median "${cr[@]}")")" "$(fmt_rate "$(median "${kr[@]}")")" \
      "$(fmt "$(median "${mb[@]}")" 1)" "$(fmt "$(median "${ratios[@]}")" 2)" "$(range "${ratios[@]}")"
  done
  printf 'kafka2pg wall time includes start-up, the group join and the wait for the last offset commit (`--stop-at-end`); MB/s counts record values.\n'
} >"$RESULTS"

BEGIN_MARK='<!-- latency:begin -->'
END_MARK='<!-- latency:end -->'
if ! grep -qxF "$BEGIN_MARK" "$DOC" || ! grep -qxF "$END_MARK" "$DOC"; then
  printf '\n## Latency and row shapes\n\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >>"$DOC"
fi
awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$RESULTS" '
  $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
  $0 == e { skip = 0 }
  !skip { print }' "$DOC" >"$DOC.tmp"
mv "$DOC.tmp" "$DOC"
cat "$RESULTS"
psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
log "results written to $DOC ($((ELAPSED / 60)) min $((ELAPSED % 60)) s)"
