#!/usr/bin/env bash
# shellcheck disable=SC2016 # backquotes in single quotes are Markdown, not shell
# scripts/bench-scaling.sh — `make bench-scaling`: how kafka2pg's throughput
# moves with the number of partitions, the number of instances in one
# consumer group, and batch.max_rows. kafka2pg only.
#
# Data: examples/orders/produce writes the same SCALING_COUNT JSON order
# events (same seed, no tombstones) into one topic per partition count
# (1, 2, 4, 8). bench/dumpcsv + psql's \copy of the 8-partition topic give
# the reference table (untimed), whose fingerprint every run must reproduce.
#
# Configurations, each measured SCALING_RUNS times, interleaved (run 1 of
# every configuration, then run 2, …) so that machine noise hits all alike:
#   partitions   1, 2, 4, 8 partitions; 1 instance; batch.max_rows 10,000
#   instances    1, 2, 3 instances in one consumer group, started together on
#                the 8-partition backlog; batch.max_rows 10,000
#   batch        batch.max_rows 1,000, 10,000, 50,000; 8 partitions; 1 instance
#                (the 8-partition, 1-instance, 10,000-row configuration is
#                measured once and appears in all three tables)
# Every other setting is the default of examples/orders/pipeline.yaml:
# max_conns 4, batch.max_bytes 16MiB, max_wait 100ms, the default
# batch.max_inflight_bytes (64MiB), at-least-once.
#
# A run: fresh table (examples/orders/schema.sql; insert mode: without its
# primary key), fresh consumer group, the backlog already in Kafka; all
# instances start at once (`kafka2pg run`, no --stop-at-end: that option
# waits for every partition to be committed by the instance itself, which
# does not hold in a group); the run ends when the group's committed offsets
# reach the end of every partition (bench/peers/peertool wait, polling every
# 100 ms). Then every instance gets SIGTERM and must drain and exit 0.
# rows/s = SCALING_COUNT ÷ (time from start to that commit). CPU: utime +
# stime of each instance (/proc/<pid>/stat, read before SIGTERM), summed.
# Each run is checked: row count and order-independent fingerprint equal to
# the reference's; a wrong result stops the benchmark (exit 1).
# Results: stdout, and the section between the scaling markers of
# docs/benchmarks.md (rewritten; the rest of the file is kept).
#
# Environment:
#   SCALING_COUNT=3000000   events per topic (without --stop-at-end, kafka2pg
#                           commits offsets on a 1 s tick, so the end of a run
#                           is known to within about 1 s: 3 M events make
#                           runs of 8-20 s here)
#   SCALING_RUNS=3          repetitions per configuration (medians reported)
#   SCALING_MODE=insert     insert | upsert (upsert: SCALING_COUNT/2 ids)
#   SCALING_TIMEOUT=600     seconds one run may take
#   SCALING_RETRIES=2       times a run is repeated when PostgreSQL or the Kafka
#                           broker restarted during it (the services are
#                           shared); any other failure stops the benchmark
#   SCALING_DOC=docs/benchmarks.md   ("" = do not write it)
#   SCALING_WORK=bin/bench-scaling   scratch files, logs, configs
#   SCALING_DB=kafka2pg_peers_scaling   database (dropped and created, dropped at exit)
#   SCALING_PREFIX=peers_scaling_  prefix of its topics and groups (deleted at exit)
#   SCALING_BIN=bin/kafka2pg
#
# Needs the services (scripts/services.sh up is run here), psql and
# bin/kafka2pg (`make bench-scaling` builds it first). Loads go to 127.0.0.1
# only; every run is bounded by SCALING_TIMEOUT and the instances are stopped
# on exit.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."

COUNT=${SCALING_COUNT:-3000000}
RUNS=${SCALING_RUNS:-3}
MODE=${SCALING_MODE:-insert}
TIMEOUT=${SCALING_TIMEOUT:-600}
RETRIES=${SCALING_RETRIES:-2}
DOC=${SCALING_DOC-docs/benchmarks.md}
WORK=${SCALING_WORK:-bin/bench-scaling}
DB=${SCALING_DB:-kafka2pg_peers_scaling}
PREFIX=${SCALING_PREFIX:-peers_scaling_}
BIN=${SCALING_BIN:-bin/kafka2pg}
PARTITION_COUNTS=(1 2 4 8)
INSTANCE_COUNTS=(1 2 3)
BATCH_ROWS=(1000 10000 50000)
DEFAULT_BATCH=10000
# Configurations "partitions:instances:batch rows", in table order, no repeats.
CONFIGS=()
for p in "${PARTITION_COUNTS[@]}"; do CONFIGS+=("$p:1:$DEFAULT_BATCH"); done
for i in "${INSTANCE_COUNTS[@]}"; do [ "$i" = 1 ] || CONFIGS+=("8:$i:$DEFAULT_BATCH"); done
for b in "${BATCH_ROWS[@]}"; do [ "$b" = "$DEFAULT_BATCH" ] || CONFIGS+=("8:1:$b"); done
COLS="order_id, customer_id, status, amount, currency, items, express, created_at, version"

log() { printf '[bench-scaling] %s\n' "$*" >&2; }
die() { printf '[bench-scaling] ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "SCALING_RUNS must be a positive integer, not '$RUNS'"
{ [[ "$COUNT" =~ ^[1-9][0-9]*$ ]] && [ "$COUNT" -ge 16 ]; } || die "SCALING_COUNT must be an integer ≥ 16, not '$COUNT'"
[[ "$RETRIES" =~ ^[0-9]+$ ]] || die "SCALING_RETRIES must be a number, not '$RETRIES'"
[[ "$TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "SCALING_TIMEOUT must be a positive number of seconds, not '$TIMEOUT'"
case "$MODE" in insert | upsert) ;; *) die "SCALING_MODE must be insert or upsert, not '$MODE'" ;; esac
[[ "$PREFIX" =~ ^[a-z][a-z0-9_]{4,}_$ ]] || die "SCALING_PREFIX='$PREFIX' must be lower case, at least 6 characters, ending with _"
[[ "$DB" =~ ^[a-z][a-z0-9_]*$ ]] || die "SCALING_DB='$DB' must be a lower-case identifier"
case "$WORK" in "" | / | . | .. | "$HOME") die "SCALING_WORK='$WORK' is not a scratch directory" ;; esac
command -v psql >/dev/null || die "psql is not installed"

T_START=$SECONDS
eval "$(scripts/services.sh up)"
BROKERS=$KAFKA2PG_TEST_BROKERS
ADMIN_URL=$KAFKA2PG_TEST_DATABASE_URL
export SCALING_DATABASE_URL="${ADMIN_URL%%/postgres\?*}/$DB?sslmode=disable"
[ "$SCALING_DATABASE_URL" != "$ADMIN_URL" ] || die "cannot derive the scaling database URL from $ADMIN_URL"

if [ ! -x "$BIN" ]; then
  [ "$BIN" = bin/kafka2pg ] || die "SCALING_BIN=$BIN is not executable"
  make build >&2
fi
rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
case "$WORK" in *"'"*) die "the scratch path $WORK contains a quote" ;; esac
log "building the producer, bench/dumpcsv and bench/peers/peertool"
go build -o "$WORK/produce" ./examples/orders/produce
go build -o "$WORK/dumpcsv" ./bench/dumpcsv
go build -o "$WORK/peertool" ./bench/peers/peertool

psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" "$@"; }
pg() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$SCALING_DATABASE_URL" "$@"; }
pgv() { pg -A -t "$@"; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, v }'; }
fmt_rate() { printf '%s' "$(fmt "$1")" | rev | sed -E 's/([0-9]{3})/\1,/g; s/,$//' | rev; }
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) printf "%.6f", v[(NR + 1) / 2]; else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
spread() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s %s", lo, hi }'; }
CLK_TCK=$(getconf CLK_TCK)
proc_ticks() { # $1 = pid: utime + stime of the process (all its threads)
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  st=${st##*) }
  awk '{ print $12 + $13 }' <<<"$st"
}
wait_backends_gone() {
  local _ n
  for _ in $(seq 1 100); do
    n=$(pgv -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    [ "$n" = 0 ] && return 0
    sleep 0.1
  done
  log "warning: $n backends of $DB still alive"
}

# Every process a run starts (the instances, peertool wait) is tracked by a
# file named after its pid, so that it is stopped whatever happens: at exit,
# and after a run (which runs in a subshell; see attempt below) failed.
PIDDIR="$WORK/pids"
mkdir -p "$PIDDIR"
track() { : >"$PIDDIR/$1"; }
untrack() { rm -f "$PIDDIR/$1"; }
stop_tracked() { # TERM to all, then KILL what is left after 30 s
  local f _
  for f in "$PIDDIR"/*; do [ -e "$f" ] && kill -TERM "${f##*/}" 2>/dev/null; done
  for f in "$PIDDIR"/*; do
    [ -e "$f" ] || continue
    for _ in $(seq 1 300); do
      kill -0 "${f##*/}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${f##*/}" 2>/dev/null || true
    rm -f "$f"
  done
}
cleanup() {
  local rc=$?
  stop_tracked
  "$WORK/peertool" cleanup -brokers "$BROKERS" -prefix "$PREFIX" 2>/dev/null || true
  psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- database, data, reference ----------------------------------------------------------
log "recreating database $DB"
psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DB"

create_table() {
  pg -c "DROP TABLE IF EXISTS orders"
  if [ "$MODE" = insert ]; then
    sed 's/ PRIMARY KEY//' examples/orders/schema.sql | pg -f -
  else
    pg -f examples/orders/schema.sql
  fi
  pg -c "ALTER TABLE orders SET (autovacuum_enabled = off)"
}
fingerprint() {
  pgv -c "SELECT count(*) || ':' || coalesce(sum(hashtextextended(($COLS)::text, 0)::numeric), 0) FROM orders"
}

KEYS=$COUNT
[ "$MODE" = upsert ] && KEYS=$((COUNT / 2))
for p in "${PARTITION_COUNTS[@]}"; do
  log "producing $COUNT events ($KEYS possible order ids) to ${PREFIX}p$p ($p partitions)"
  "$WORK/produce" -brokers "$BROKERS" -topic "${PREFIX}p$p" -partitions "$p" -count "$COUNT" -keys "$KEYS" -tombstones 0 -recreate >/dev/null 2>"$WORK/produce-p$p.log" \
    || { cat "$WORK/produce-p$p.log" >&2; die "producing to ${PREFIX}p$p failed"; }
done
out=$("$WORK/dumpcsv" -brokers "$BROKERS" -topic "${PREFIX}p8" -out "$WORK/rows.csv")
log "reference: $out"
[ "$(sed -n 's/.*events=\([0-9]*\).*/\1/p' <<<"$out")" = "$COUNT" ] || die "the 8-partition topic does not hold $COUNT events"
create_table
if [ "$MODE" = insert ]; then
  pg -c "\\copy orders ($COLS) FROM '$WORK/rows.csv' WITH (FORMAT csv)"
else
  pg -c "CREATE TEMP TABLE stage AS SELECT * FROM orders WITH NO DATA" \
    -c "\\copy stage ($COLS) FROM '$WORK/rows.csv' WITH (FORMAT csv)" \
    -c "INSERT INTO orders ($COLS) SELECT DISTINCT ON (order_id) $COLS FROM stage ORDER BY order_id, version DESC"
fi
REF_FP=$(fingerprint)
ROWS=${REF_FP%%:*}
rm -f "$WORK/rows.csv"
log "reference table: $ROWS rows"

# ---- one run --------------------------------------------------------------------------
declare -A SECS=() CPU=() BATCHROWS=() PGCPU=()
# The checkpointer's parent is the postmaster; attempt looks it up before
# every run, since another user of the server may have restarted it.
postmaster_pid() {
  awk '{ print $4 }' "/proc/$(pgv -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")/stat" 2>/dev/null || true
}
POSTMASTER_PID=""
postmaster_children_ticks() {
  local st
  [ -n "$POSTMASTER_PID" ] || return 0
  st=$(cat "/proc/$POSTMASTER_PID/stat" 2>/dev/null) || return 0
  st=${st##*) }
  awk '{ print $14 + $15 }' <<<"$st"
}

run_config() { # $1 = "partitions:instances:batch", $2 = run
  local cfgkey=$1 run=$2 parts inst batch topic group cfg wf i pid t0 t1 c0 c1 ticks=0 batches=0 records=0 out fp pids=()
  IFS=: read -r parts inst batch <<<"$cfgkey"
  topic="${PREFIX}p$parts"
  group="${PREFIX}g_${parts}_${inst}_${batch}_${run}_$(date +%s%N)"
  cfg="$WORK/p$parts-i$inst-b$batch-r$run.yaml"
  cat >"$cfg" <<EOF
# Generated by scripts/bench-scaling.sh.
kafka:
  brokers: ["$BROKERS"]
  group: $group
  topics: [$topic]
  start: earliest
postgres:
  url: \${SCALING_DATABASE_URL}
  max_conns: 4
batch:
  max_rows: $batch
  max_bytes: 16MiB
  max_wait: 100ms
routes:
  - topic: $topic
    table: public.orders
    value: {format: json}
    key: {format: string}
    mode: $MODE
EOF
  create_table
  pg -c CHECKPOINT
  wait_backends_gone
  c0=$(postmaster_children_ticks)
  t0=$EPOCHREALTIME
  for i in $(seq 1 "$inst"); do
    "$BIN" run --config "$cfg" 2>"$WORK/p$parts-i$inst-b$batch-r$run-$i.log" &
    pids+=("$!")
    track "$!"
  done
  wf="$WORK/p$parts-i$inst-b$batch-r$run.wait"
  "$WORK/peertool" wait -brokers "$BROKERS" -group "$group" -topic "$topic" -timeout "${TIMEOUT}s" >"$wf" 2>&1 &
  local waitpid=$!
  track "$waitpid"
  while kill -0 "$waitpid" 2>/dev/null; do
    for pid in "${pids[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 20 "$WORK/p$parts-i$inst-b$batch-r$run-"*.log >&2
        die "[$cfgkey] an instance exited before the group was done (run $run; logs in $WORK)"
      fi
    done
    sleep 0.2
  done
  wait "$waitpid" || die "[$cfgkey] run $run: $(cat "$wf")"
  untrack "$waitpid"
  for pid in "${pids[@]}"; do ticks=$((ticks + $(proc_ticks "$pid"))); done
  out=$(cat "$wf")
  t1=$(sed -n 's/.*done_at=\([0-9.]*\).*/\1/p' <<<"$out")
  [ -n "$t1" ] || die "[$cfgkey] run $run: no completion time from peertool wait ($out)"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    local rc=0
    wait "$pid" || rc=$?
    untrack "$pid"
    [ "$rc" = 0 ] || die "[$cfgkey] run $run: an instance exited $rc after SIGTERM (logs in $WORK)"
  done
  wait_backends_gone
  c1=$(postmaster_children_ticks)
  for i in $(seq 1 "$inst"); do
    local totals
    totals=$(grep -m1 'msg=totals' "$WORK/p$parts-i$inst-b$batch-r$run-$i.log" || true)
    batches=$((batches + $(sed -n 's/.* batches=\([0-9]*\).*/\1/p' <<<"$totals")))
    records=$((records + $(sed -n 's/.* records=\([0-9]*\).*/\1/p' <<<"$totals")))
  done
  fp=$(fingerprint)
  [ "$fp" = "$REF_FP" ] || die "[$cfgkey] run $run: the table (${fp%%:*} rows, fingerprint $fp) differs from the reference ($REF_FP); instances wrote $records records"
  SECS[$cfgkey,$run]=$(calc "$t1 - $t0")
  CPU[$cfgkey,$run]=$(calc "$ticks / $CLK_TCK")
  BATCHROWS[$cfgkey,$run]=$(calc "$records / ($batches > 0 ? $batches : 1)")
  if [ -n "$c0" ] && [ -n "$c1" ]; then PGCPU[$cfgkey,$run]=$(calc "($c1 - $c0) / $CLK_TCK"); else PGCPU[$cfgkey,$run]=nan; fi
  local k="$cfgkey,$run"
  printf 'SECS[%q]=%q\nCPU[%q]=%q\nBATCHROWS[%q]=%q\nPGCPU[%q]=%q\n' "$k" "${SECS[$k]}" "$k" "${CPU[$k]}" "$k" "${BATCHROWS[$k]}" "$k" "${PGCPU[$k]}" >"$RUN_ENV"
  log "[$parts partitions, $inst instance(s), batch.max_rows $batch] run $run: $(fmt "${SECS[$cfgkey,$run]}" 2) s, $(fmt_rate "$(calc "$COUNT / ${SECS[$cfgkey,$run]}")") rows/s, CPU $(fmt "${CPU[$cfgkey,$run]}" 1) s, $(fmt "${BATCHROWS[$cfgkey,$run]}") records/batch"
}

# The services are shared: another user may restart PostgreSQL or the broker
# during a run, which fails the run or slows it down. services_epoch changes
# when either restarts; attempt runs run_config in a subshell and repeats a
# run during which it changed (up to SCALING_RETRIES times); any other
# failure stops the benchmark. Results come back through RUN_ENV.
RUN_ENV="$WORK/run.env"
KAFKA_PIDFILE="$(dirname "$KAFKA2PG_KAFKA_HOME")/kafka.pid"
services_epoch() {
  printf '%s/%s' "$(pgv -c 'SELECT pg_postmaster_start_time()' 2>/dev/null || echo down)" \
    "$(tr -dc '0-9' <"$KAFKA_PIDFILE" 2>/dev/null || echo down)"
}
wait_services() { # until PostgreSQL and the broker answer again, at most 5 minutes
  local _ host=${BROKERS%%,*}
  for _ in $(seq 1 300); do
    if pgv -c 'SELECT 1' >/dev/null 2>&1 && timeout 2 bash -c "exec 3<>/dev/tcp/${host%:*}/${host##*:}" 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  die "PostgreSQL or the Kafka broker did not come back within 5 minutes"
}
attempt() { # $1 = configuration, $2 = run
  local try rc pid before after
  for try in $(seq 0 "$RETRIES"); do
    before=$(services_epoch)
    POSTMASTER_PID=$(postmaster_pid)
    : >"$RUN_ENV"
    rc=0
    (run_config "$1" "$2") &
    pid=$!
    track "$pid"
    wait "$pid" || rc=$?
    untrack "$pid"
    stop_tracked
    wait_services
    after=$(services_epoch)
    if [ "$before" = "$after" ] && [[ "$before" != *down* ]]; then
      [ "$rc" = 0 ] || exit "$rc"
      # shellcheck source=/dev/null
      source "$RUN_ENV"
      return 0
    fi
    log "[$1] PostgreSQL or the Kafka broker restarted during run $2 (attempt $((try + 1))); repeating the run"
  done
  die "[$1] run $2 was disturbed by service restarts $((RETRIES + 1)) times"
}

# ---- the runs -------------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for run in $(seq 1 "$RUNS"); do
  for c in "${CONFIGS[@]}"; do attempt "$c" "$run"; done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T_START))

# ---- report ---------------------------------------------------------------------------
PG_VERSION=$(pgv -c "SHOW server_version")
KAFKA_VERSION=$(cat "$KAFKA2PG_KAFKA_HOME/VERSION" 2>/dev/null || echo unknown)
K2P_VERSION=$("$BIN" version 2>/dev/null || echo unknown)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_GIB=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
NPROC=$(nproc)

declare -A MED_RATE=()
for c in "${CONFIGS[@]}"; do
  rates=()
  for run in $(seq 1 "$RUNS"); do rates+=("$(calc "$COUNT / ${SECS[$c,$run]}")"); done
  MED_RATE[$c]=$(median "${rates[@]}")
done
row() { # $1 = label, $2 = config, $3 = reference config
  local c=$2 rates=() cpus=() brs=() pgs=() run lo hi
  for run in $(seq 1 "$RUNS"); do
    rates+=("$(calc "$COUNT / ${SECS[$c,$run]}")")
    cpus+=("$(calc "${CPU[$c,$run]} * 1000000 / $COUNT")")
    brs+=("${BATCHROWS[$c,$run]}")
    pgs+=("$(calc "${PGCPU[$c,$run]} * 1000000 / $COUNT")")
  done
  read -r lo hi <<<"$(spread "${rates[@]}")"
  printf '| %s | **%s** | %s–%s | %s | %s | %s | %s |\n' "$1" "$(fmt_rate "${MED_RATE[$c]}")" "$(fmt_rate "$lo")" "$(fmt_rate "$hi")" \
    "$(fmt "$(calc "${MED_RATE[$c]} / ${MED_RATE[$3]}")" 2)" "$(fmt "$(median "${cpus[@]}")" 1)" "$(fmt "$(median "${pgs[@]}")" 1)" "$(fmt "$(median "${brs[@]}")")"
}
HEAD='| rows/s (median) | range | × the first row | kafka2pg CPU s per million rows | PostgreSQL CPU s per million rows | records per batch |\n|---:|---:|---:|---:|---:|---:|---:|\n'
RESULTS="$WORK/results.md"
{
  printf '_Generated by `make bench-scaling` (scripts/bench-scaling.sh) on %s; do not edit by hand._\n\n' "$(date -u +'%Y-%m-%d %H:%M UTC')"
  printf 'Command: `SCALING_COUNT=%s SCALING_RUNS=%s SCALING_MODE=%s make bench-scaling` (took %d min %02d s). ' "$COUNT" "$RUNS" "$MODE" $((ELAPSED / 60)) $((ELAPSED % 60))
  printf 'Machine: %s × %s, %s GiB; PostgreSQL %s, Kafka %s (one node, loopback), kafka2pg %s. Load average %s before, %s after.\n\n' \
    "$NPROC" "$CPU_MODEL" "$MEM_GIB" "$PG_VERSION" "$KAFKA_VERSION" "${K2P_VERSION#kafka2pg }" "$LOAD_BEFORE" "$LOAD_AFTER"
  printf '%s mode, %s events (%s rows); runs per configuration: %d. Every run left the reference table.\n\n' "$MODE" "$COUNT" "$ROWS" "$RUNS"

  printf '#### Partitions (1 instance, batch.max_rows %d)\n\n| partitions %b' "$DEFAULT_BATCH" "$HEAD"
  for p in "${PARTITION_COUNTS[@]}"; do row "$p" "$p:1:$DEFAULT_BATCH" "1:1:$DEFAULT_BATCH"; done
  printf '\n#### Instances in one consumer group (8 partitions, batch.max_rows %d)\n\n| instances %b' "$DEFAULT_BATCH" "$HEAD"
  for i in "${INSTANCE_COUNTS[@]}"; do row "$i" "8:$i:$DEFAULT_BATCH" "8:1:$DEFAULT_BATCH"; done
  printf '\n#### batch.max_rows (8 partitions, 1 instance)\n\n| batch.max_rows %b' "$HEAD"
  for b in "${BATCH_ROWS[@]}"; do row "$(fmt_rate "$b")" "8:1:$b" "8:1:${BATCH_ROWS[0]}"; done
  printf '\nrows/s counts from the start of the instances to the moment the group'"'"'s committed offsets reached the end of every partition. '
  printf 'CPU: user + system of the kafka2pg processes (summed over instances) and of the PostgreSQL backends (all users of the server), per million rows. '
  printf '"Records per batch": records ÷ batches written, from the instances'"'"' totals lines.\n'
} >"$RESULTS"

if [ -n "$DOC" ]; then
  BEGIN_MARK='<!-- scaling:begin -->'
  END_MARK='<!-- scaling:end -->'
  mkdir -p "$(dirname "$DOC")"
  if [ ! -f "$DOC" ]; then
    printf '# Benchmarks\n\n## Scaling\n\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >"$DOC"
  elif ! grep -qxF "$BEGIN_MARK" "$DOC" || ! grep -qxF "$END_MARK" "$DOC"; then
    printf '\n## Scaling\n\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >>"$DOC"
  fi
  awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$RESULTS" '
    $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$DOC" >"$DOC.tmp"
  mv "$DOC.tmp" "$DOC"
fi
cat "$RESULTS"
log "done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s${DOC:+; results written to $DOC}"
