#!/usr/bin/env bash
# shellcheck disable=SC2016 # backquotes in single quotes are Markdown, not shell
# scripts/backpressure.sh — `make backpressure`: what kafka2pg does with a big
# backlog in Kafka when PostgreSQL is slow. It should stop fetching once
# batch.max_inflight_bytes are in flight, instead of buffering the backlog.
#
#   1. BP_COUNT small order events (examples/orders/produce, 8 partitions, no
#      tombstones) wait in the topic bp_orders (recreated).
#   2. PostgreSQL is slowed down artificially: the target table (an append-only
#      copy of examples/orders/schema.sql, insert mode) has a BEFORE INSERT
#      row trigger that runs pg_sleep(BP_ROW_SLEEP) for every row, COPY
#      included.
#   3. kafka2pg runs (at-least-once, default in-flight budget and fetch size,
#      http.listen on a free loopback port); every 0.5 s for BP_SECONDS the
#      script samples its RSS (/proc/PID/status VmRSS) and, from /metrics,
#      kafka2pg_inflight_bytes, kafka2pg_fetch_paused,
#      kafka2pg_rows_written_total and the summed kafka2pg_partition_lag.
#   4. SIGTERM: kafka2pg must drain and exit 0. Afterwards the table must hold
#      exactly as many rows as the group's committed offsets add up to
#      (`kafka2pg offsets` gives the backlog left).
#
# Results: stdout, and the section between the backpressure markers of
# docs/benchmarks.md (rewritten; the rest of the file, including the
# bench markers' section, is kept). Exit 1 when a check fails.
#
# Environment:
#   BP_COUNT=2000000   events in the backlog
#   BP_SECONDS=60      sampling window (samples every 0.5 s)
#   BP_ROW_SLEEP=0.0005  seconds of pg_sleep per inserted row
#   BP_DOC=docs/benchmarks.md   BP_WORK=bin/backpressure (scratch files)
#   BP_BIN=bin/kafka2pg
#   BP_SHUTDOWN_TIMEOUT=120s  kafka2pg's shutdown_timeout: the drain after
#                      SIGTERM writes everything in flight, slowly (the
#                      default 30s is too short with the default slowdown)
#
# Needs the services (scripts/services.sh up is run here), psql and curl.
# Uses its own database kafka2pg_bp (dropped and created) and the topic
# bp_orders (recreated). Bounded: about 2 min with the defaults, at most
# 5 min (each phase has a timeout). Do not run it next to `make bench`: both
# load the same machine.
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."

COUNT=${BP_COUNT:-2000000}
SECS=${BP_SECONDS:-60}
ROW_SLEEP=${BP_ROW_SLEEP:-0.0005}
DOC=${BP_DOC:-docs/benchmarks.md}
WORK=${BP_WORK:-bin/backpressure}
BIN=${BP_BIN:-bin/kafka2pg}
SHUTDOWN_TIMEOUT=${BP_SHUTDOWN_TIMEOUT:-120s}
DB=kafka2pg_bp
TOPIC=bp_orders
PARTITIONS=8
DEADLINE=$((SECONDS + 300)) # the whole script
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

log() { printf '[backpressure] %s\n' "$*" >&2; }
die() { printf '[backpressure] ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$COUNT" =~ ^[1-9][0-9]*$ ]] || die "BP_COUNT must be a positive integer, not '$COUNT'"
{ [[ "$SECS" =~ ^[1-9][0-9]*$ ]] && [ "$SECS" -le 150 ]; } || die "BP_SECONDS must be an integer in 1..150, not '$SECS'"
[[ "$SHUTDOWN_TIMEOUT" =~ ^[1-9][0-9]*s$ ]] || die "BP_SHUTDOWN_TIMEOUT must be whole seconds such as 120s, not '$SHUTDOWN_TIMEOUT'"
[[ "$ROW_SLEEP" =~ ^[0-9]*\.?[0-9]+$ ]] || die "BP_ROW_SLEEP must be a number of seconds, not '$ROW_SLEEP'"
command -v psql >/dev/null || die "psql is not installed"
command -v curl >/dev/null || die "curl is not installed"
case "$WORK" in "" | / | . | .. | "$HOME") die "BP_WORK='$WORK' is not a scratch directory" ;; esac

eval "$(scripts/services.sh up)"
BROKERS=$KAFKA2PG_TEST_BROKERS
ADMIN_URL=$KAFKA2PG_TEST_DATABASE_URL
export BP_DATABASE_URL="${ADMIN_URL%%/postgres\?*}/$DB?sslmode=disable"
[ "$BP_DATABASE_URL" != "$ADMIN_URL" ] || die "cannot derive the database URL from $ADMIN_URL"

[ -x "$BIN" ] || make build >&2
rm -rf "$WORK"
mkdir -p "$WORK"
go build -o "$WORK/produce" ./examples/orders/produce

psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" "$@"; }
pg() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$BP_DATABASE_URL" "$@"; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, v }'; }
fmt_int() { printf '%s' "$(fmt "$1")" | rev | sed -E 's/([0-9]{3})/\1,/g; s/,$//' | rev; }

# ---- the backlog ---------------------------------------------------------------
PRODUCE_CMD="go run ./examples/orders/produce -brokers $BROKERS -topic $TOPIC -partitions $PARTITIONS -count $COUNT -tombstones 0 -recreate"
log "producing $COUNT events into $TOPIC ($PRODUCE_CMD)"
t0=$EPOCHREALTIME
timeout 120 "$WORK/produce" -brokers "$BROKERS" -topic "$TOPIC" -partitions "$PARTITIONS" \
  -count "$COUNT" -tombstones 0 -recreate >"$WORK/produce.out" 2>"$WORK/produce.err" \
  || { cat "$WORK/produce.err" >&2; die "producing the backlog failed"; }
PRODUCE_SECS=$(calc "$EPOCHREALTIME - $t0")
log "$(tail -n 1 "$WORK/produce.err")"

# ---- the slow table ---------------------------------------------------------------
psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
pg -f examples/orders/schema.sql
pg <<EOF
ALTER TABLE orders DROP CONSTRAINT orders_pkey;   -- append-only: every event is a row
ALTER TABLE orders SET (autovacuum_enabled = false);
CREATE FUNCTION kafka2pg_bp_slow() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  PERFORM pg_sleep($ROW_SLEEP);
  RETURN NEW;
END \$\$;
CREATE TRIGGER kafka2pg_bp_slow BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION kafka2pg_bp_slow();
CREATE TABLE bp_calibrate (x int);
CREATE TRIGGER kafka2pg_bp_slow BEFORE INSERT ON bp_calibrate FOR EACH ROW EXECUTE FUNCTION kafka2pg_bp_slow();
EOF
# What one row really costs through the trigger (pg_sleep waits in whole
# milliseconds at least): one session inserting CALIB rows.
CALIB=1000
t0=$EPOCHREALTIME
pg -c "INSERT INTO bp_calibrate SELECT generate_series(1, $CALIB)"
ROW_COST=$(calc "($EPOCHREALTIME - $t0) / $CALIB")
pg -c "DROP TABLE bp_calibrate"
log "one row through the trigger costs $(fmt "$(calc "$ROW_COST * 1000")" 3) ms"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 19187)
ADDR=127.0.0.1:$PORT
GROUP="kafka2pg-bp-$(date +%s%N)"
CFG="$WORK/pipeline.yaml"
cat >"$CFG" <<EOF
# Generated by scripts/backpressure.sh.
kafka:
  brokers: ["$BROKERS"]
  group: $GROUP
  topics: [$TOPIC]
  start: earliest
postgres:
  url: \${BP_DATABASE_URL}
  max_conns: 4
batch:
  max_rows: 10000
  max_bytes: 16MiB
  max_wait: 100ms
http:
  listen: "$ADDR"
shutdown_timeout: $SHUTDOWN_TIMEOUT
routes:
  - topic: $TOPIC
    table: public.orders
    value: {format: json}
    key: {format: string}
    mode: insert
EOF

# ---- kafka2pg under the slowdown ---------------------------------------------------
KPID=""
cleanup() {
  if [ -n "$KPID" ] && kill -0 "$KPID" 2>/dev/null; then
    kill -KILL "$KPID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

"$BIN" run --config "$CFG" >"$WORK/kafka2pg.log" 2>&1 &
KPID=$!
T_START=$EPOCHREALTIME
for _ in $(seq 1 100); do
  curl -fsS -m 1 "http://$ADDR/healthz" >/dev/null 2>&1 && break
  kill -0 "$KPID" 2>/dev/null || { tail -n 20 "$WORK/kafka2pg.log" >&2; die "kafka2pg exited at start"; }
  sleep 0.1
done

SAMPLES="$WORK/samples.tsv"
printf 't\trss_kib\tinflight\tlimit\tpaused\trows\tlag\n' >"$SAMPLES"
sample() { # one line of $SAMPLES
  local rss m
  rss=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$KPID/status" 2>/dev/null || true)
  m=$(curl -fsS -m 2 "http://$ADDR/metrics" 2>/dev/null || true)
  awk -v t="$(calc "$EPOCHREALTIME - $T_START")" -v rss="${rss:-0}" '
    $1 == "kafka2pg_inflight_bytes" { inflight = $2 }
    $1 == "kafka2pg_inflight_limit_bytes" { limit = $2 }
    $1 == "kafka2pg_fetch_paused" { paused = $2 }
    $1 ~ /^kafka2pg_rows_written_total[{ ]/ { rows += $NF }
    $1 ~ /^kafka2pg_partition_lag[{ ]/ { lag += $NF; havelag = 1 }
    END { printf "%.2f\t%d\t%.0f\t%.0f\t%d\t%.0f\t%s\n", t, rss, inflight, limit, paused, rows, havelag ? sprintf("%.0f", lag) : "" }' <<<"$m" >>"$SAMPLES"
}
log "kafka2pg (pid $KPID) running against a table that sleeps ${ROW_SLEEP}s per row; sampling every 0.5 s for ${SECS} s"
N=$((SECS * 2))
for i in $(seq 1 "$N"); do
  next=$(calc "$T_START + $i * 0.5")
  kill -0 "$KPID" 2>/dev/null || { tail -n 20 "$WORK/kafka2pg.log" >&2; die "kafka2pg exited during the measurement"; }
  sample
  wait_s=$(calc "$next - $EPOCHREALTIME")
  awk -v w="$wait_s" 'BEGIN { exit !(w > 0) }' && sleep "$wait_s"
done
T_STOP=$EPOCHREALTIME

log "SIGTERM"
kill -TERM "$KPID"
rc=0
drain_limit=$((DEADLINE - SECONDS))
[ "$drain_limit" -gt 150 ] && drain_limit=150
[ "$drain_limit" -lt 30 ] && drain_limit=30
for _ in $(seq 1 $((drain_limit * 10))); do
  kill -0 "$KPID" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$KPID" 2>/dev/null; then
  tail -n 20 "$WORK/kafka2pg.log" >&2
  die "kafka2pg did not exit within ${drain_limit}s of SIGTERM"
fi
wait "$KPID" || rc=$?
KPID=""
DRAIN_SECS=$(calc "$EPOCHREALTIME - $T_STOP")
[ "$rc" = 0 ] || { tail -n 20 "$WORK/kafka2pg.log" >&2; die "kafka2pg exited $rc after SIGTERM, want 0"; }

# ---- after the stop: rows = committed offsets; the backlog left --------------------
"$BIN" offsets --config "$CFG" >"$WORK/offsets.out" 2>"$WORK/offsets.err" \
  || { cat "$WORK/offsets.err" >&2; die "kafka2pg offsets failed"; }
LAG_AFTER=$(sed -n 's/^total lag: \([0-9]*\).*/\1/p' "$WORK/offsets.out")
[ -n "$LAG_AFTER" ] || die "no 'total lag' in the output of kafka2pg offsets"
COMMITTED=$((COUNT - LAG_AFTER))
ROWS_AFTER=$(pg -A -t -c "SELECT count(*) FROM orders")
[ "$ROWS_AFTER" = "$COMMITTED" ] || die "the table holds $ROWS_AFTER rows but the committed offsets add up to $COMMITTED"
PEAK_RSS_LOG=$(sed -n 's/.*peak_rss_mib=\([0-9.]*\).*/\1/p' "$WORK/kafka2pg.log" | tail -n 1)

# ---- figures -------------------------------------------------------------------------
read -r NS MAX_RSS_KIB MAX_INFLIGHT LIMIT PAUSED_N ROWS_END LAG_END T_LAST T_FIRST_ROWS ROWS_AT_10 T_AT_10 < <(awk -F'\t' '
  NR == 1 { next }
  { n++; if ($2 > rss) rss = $2; if ($3 > inf) inf = $3; if ($4 > lim) lim = $4; paused += $5
    rows = $6; lag = $7; t = $1
    if (first == "" && $6 > 0) first = $1
    if (r10 == "" && $1 >= 10) { r10 = $6; t10 = $1 } }
  END { printf "%d %d %.0f %.0f %d %.0f %s %.2f %s %s %s\n", n, rss, inf, lim, paused, rows, (lag == "" ? "nan" : lag), t,
        (first == "" ? "nan" : first), (r10 == "" ? 0 : r10), (t10 == "" ? 0 : t10) }' "$SAMPLES")
[ "$NS" -gt 0 ] || die "no samples"
MAX_RSS_MIB=$(calc "$MAX_RSS_KIB / 1024")
PAUSED_FRAC=$(calc "$PAUSED_N / $NS")
RATE=$(calc "$ROWS_END / $T_LAST")
if awk -v a="$T_LAST" -v b="$T_AT_10" 'BEGIN { exit !(a - b > 5) }'; then
  RATE_STEADY=$(calc "($ROWS_END - $ROWS_AT_10) / ($T_LAST - $T_AT_10)")
else
  RATE_STEADY=$RATE
fi
CEILING=$(calc "4 / $ROW_COST") # max_conns connections, each one row per measured row cost
# Partitions that got anything written, from `kafka2pg offsets`.
PARTS_WRITTEN=$(awk -v t="$TOPIC" '$1 == t && $4 ~ /^[0-9]+$/ && $4 > 0 { n++ } END { print n + 0 }' "$WORK/offsets.out")
PER_PART=$(awk -v t="$TOPIC" '$1 == t { printf "%s%s: %s", sep, $2, ($4 == "-" ? 0 : $4); sep = ", " }' "$WORK/offsets.out")
INFLIGHT_RATIO=$(calc "$MAX_INFLIGHT / $LIMIT")

# Paused fraction over the second half of the window (after the budget filled).
PAUSED_LATE=$(awk -F'\t' -v h="$(calc "$T_LAST / 2")" 'NR > 1 && $1 >= h { n++; p += $5 } END { printf "%.6f", n ? p / n : 0 }' "$SAMPLES")
# How long until fetching first paused.
T_PAUSE=$(awk -F'\t' 'NR > 1 && $5 == 1 { print $1; exit }' "$SAMPLES")

RESULTS="$WORK/results.md"
{
  printf '_Generated by `make backpressure` (scripts/backpressure.sh) on %s; do not edit by hand._\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf 'Command: `make backpressure` (BP_COUNT=%s BP_SECONDS=%s BP_ROW_SLEEP=%s). The backlog: `%s`. ' "$COUNT" "$SECS" "$ROW_SLEEP" "$PRODUCE_CMD"
  printf 'kafka2pg: `bin/kafka2pg run --config %s` (insert mode, `postgres.max_conns: 4`, batch defaults, `batch.max_inflight_bytes` and `kafka.fetch_max_bytes` at their defaults), sampled every 0.5 s for %s s, then SIGTERM.\n\n' "$CFG" "$SECS"
  printf 'Machine: %s × %s, %s, PostgreSQL %s, Kafka %s; load average before the run %s.\n\n' \
    "$(nproc)" "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo | awk '{ print $1, $2 }')" \
    "$(awk '/^MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)" \
    "$(pg -A -t -c 'SHOW server_version' | awk '{ print $1 }')" "$(cat "$KAFKA2PG_KAFKA_HOME/VERSION" 2>/dev/null || echo '?')" "$LOAD_BEFORE"
  printf '| | measured |\n|---|---:|\n'
  printf '| backlog produced | %s events in %s s |\n' "$(fmt_int "$COUNT")" "$(fmt "$PRODUCE_SECS" 1)"
  printf '| slowdown | `pg_sleep(%s)` per row in a BEFORE INSERT trigger; one row measured at %s ms, so 4 connections can write at most %s rows/s |\n' "$ROW_SLEEP" "$(fmt "$(calc "$ROW_COST * 1000")" 3)" "$(fmt_int "$CEILING")"
  printf '| samples | %d over %s s |\n' "$NS" "$(fmt "$T_LAST" 1)"
  printf '| max RSS | **%s MiB** (log'"'"'s `peak_rss_mib`: %s) |\n' "$(fmt "$MAX_RSS_MIB")" "${PEAK_RSS_LOG:-n/a}"
  printf '| max in-flight bytes | **%s MiB** of the %s MiB limit (%s%%) |\n' "$(fmt "$(calc "$MAX_INFLIGHT / 1048576")" 1)" "$(fmt "$(calc "$LIMIT / 1048576")")" "$(fmt "$(calc "$INFLIGHT_RATIO * 100")")"
  printf '| fetching paused | **%s%%** of the samples (%s%% in the second half); first paused at %s s |\n' "$(fmt "$(calc "$PAUSED_FRAC * 100")")" "$(fmt "$(calc "$PAUSED_LATE * 100")")" "${T_PAUSE:-never}"
  printf '| rows written | %s in %s s: **%s rows/s** (%s rows/s after the first 10 s, %s%% of what 4 connections could write); first rows at %s s |\n' "$(fmt_int "$ROWS_END")" "$(fmt "$T_LAST" 1)" "$(fmt_int "$RATE")" "$(fmt_int "$RATE_STEADY")" "$(fmt "$(calc "$RATE_STEADY * 100 / $CEILING")")" "$T_FIRST_ROWS"
  printf '| partitions written | %d of %d by the end of the drain (committed offsets: %s) |\n' "$PARTS_WRITTEN" "$PARTITIONS" "$PER_PART"
  printf '| backlog remaining | **%s** events not yet written at the last sample; the summed `kafka2pg_partition_lag` said %s; %s after the drain (`kafka2pg offsets`) |\n' "$(fmt_int "$((COUNT - ${ROWS_END%.*}))")" "$(fmt_int "${LAG_END/nan/0}")" "$(fmt_int "$LAG_AFTER")"
  printf '| SIGTERM → exit | %s s (`shutdown_timeout: %s`; the default is 30s), exit 0; table rows = committed offsets = %s |\n' "$(fmt "$DRAIN_SECS" 1)" "$SHUTDOWN_TIMEOUT" "$(fmt_int "$COMMITTED")"
  printf '\nThe samples (time, VmRSS, in-flight bytes, paused, rows written, lag) are in `%s`.\n' "$SAMPLES"
} >"$RESULTS"

# ---- docs/benchmarks.md: replace what is between the backpressure markers ------------
BEGIN_MARK='<!-- backpressure:begin -->'
END_MARK='<!-- backpressure:end -->'
if [ ! -f "$DOC" ]; then
  printf '# Benchmarks\n' >"$DOC"
fi
if ! grep -qxF "$BEGIN_MARK" "$DOC" || ! grep -qxF "$END_MARK" "$DOC"; then
  printf '\n## Backpressure under a slow database\n\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >>"$DOC"
fi
awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$RESULTS" '
  $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
  $0 == e { skip = 0 }
  !skip { print }' "$DOC" >"$DOC.tmp.$$"
mv "$DOC.tmp.$$" "$DOC"

cat "$RESULTS"
log "results written to $DOC ($SECONDS s)"
