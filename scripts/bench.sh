#!/usr/bin/env bash
# shellcheck disable=SC2016 # backquotes in single quotes are Markdown, not shell
# scripts/bench.sh — `make bench`: kafka2pg's end-to-end throughput as a
# fraction of PostgreSQL's own ingest ceiling for the same rows, plus peak RSS.
#
# For each mode (insert, upsert) it produces BENCH_COUNT order events into an
# 8-partition topic (examples/orders/produce, no tombstones), dumps the rows
# kafka2pg would write to a CSV file (bench/dumpcsv, untimed), then repeats
# BENCH_RUNS times, interleaved so that machine noise hits every side:
#   ceiling   fresh table; psql: \copy the CSV into it (insert), or \copy into
#             a temp staging table + INSERT … SELECT DISTINCT ON (order_id) …
#             ON CONFLICT (order_id) DO UPDATE, in one transaction (upsert);
#             wall time of that psql process
#   kafka2pg  fresh table, fresh consumer group, the backlog already in Kafka;
#             wall time of `bin/kafka2pg run --stop-at-end` under
#             /usr/bin/time -v (peak RSS, CPU); at-least-once delivery; in
#             upsert mode with `batch.backlog_merge: false` (batch by batch),
#             as are the variants below but the backlog merge
#   kafka2pg transform (insert mode, BENCH_TRANSFORM=1): the same run with a
#             CEL mapping of five computed columns and a filter that every
#             record passes, computing the same values as the by-name
#             mapping (the table must match the ceiling's); reported as a
#             ratio of the by-name run of the same repetition
#   kafka2pg exactly-once (when BENCH_DELIVERIES has it): the same, with
#             `delivery: exactly-once` added to the same config (each batch's
#             transaction also updates the partition's row of the offset table
#             kafka2pg_offsets in the bench database); a fresh group, so no
#             stored offset exists for it (checked before the run); run
#             after the at-least-once run in odd repetitions and before it
#             in even ones
#   kafka2pg pooler (BENCH_POOLER=1): the at-least-once run through PgBouncer
#             in transaction mode (scripts/services.sh starts it) with
#             `postgres.pooler: transaction`: no prepared statements, staging
#             tables created in each batch's transaction; reported as a ratio
#             of the direct run of the same repetition
#   kafka2pg backlog merge (upsert mode, BENCH_BACKLOG=1): the at-least-once
#             run with `batch.backlog_merge` left at its default (auto: a
#             --stop-at-end run stages the backlog in unlogged tables and
#             merges it once per partition when it has caught up); reported
#             as a ratio of the ceiling and of the batch-by-batch run of the
#             same repetition
#   kafka2pg live (upsert mode, BENCH_BACKLOG=1): the same config in a run
#             that goes on (no --stop-at-end), started once the backlog is
#             at least batch.backlog_max_age (30 s) old, as a live pipeline
#             meets a backlog after an outage (auto merges a late backlog);
#             timed until kafka2pg_records_total on its metrics endpoint
#             reaches BENCH_COUNT (bench/waitrecords, polling every 10 ms),
#             then stopped with SIGTERM; reported like the backlog merge
# Each run is checked: row count (insert: BENCH_COUNT; upsert: the distinct
# order ids) and an order-independent fingerprint of the table's contents,
# which must equal the ceiling's; an exactly-once run must also leave its
# group's stored offsets at the end of the topic. A wrong result stops the
# benchmark (exit 1).
# A CHECKPOINT precedes every timed phase; autovacuum is off for the table.
# Results: stdout, and the section between the bench markers of
# docs/benchmarks.md (rewritten; the rest of the file is kept).
#
# Environment:
#   BENCH_COUNT=1000000  events per dataset
#   BENCH_RUNS=3         repetitions per mode (ceiling, kafka2pg [, exactly-once])
#   BENCH_MODES="insert upsert"
#   BENCH_DELIVERIES="at-least-once exactly-once"
#                        kafka2pg runs per repetition; at-least-once is the
#                        reference and must be there; "at-least-once" alone
#                        skips the exactly-once runs
#   BENCH_TRANSFORM=1    0: skip the transform runs
#   BENCH_POOLER=1       0: skip the runs through PgBouncer
#   BENCH_BACKLOG=1      0: skip the upsert runs with the backlog merge (the defaults)
#   BENCH_PROFILE=0      1: after the measured runs, one extra (unmeasured)
#                        kafka2pg run per mode under `perf record -a` with
#                        pg_stat_activity wait events sampled; adds where the
#                        CPU and the waits go to the report
#   BENCH_ENFORCE=0      1: exit 2 when a target is missed
#   BENCH_RETRIES=3      repetitions repeated when PostgreSQL or the broker
#                        restarted during them (the services are shared)
#   BENCH_DOC=docs/benchmarks.md   BENCH_WORK=bin/bench (scratch files)
#
# Needs the services (scripts/services.sh up is run here), psql, /usr/bin/time
# and bin/kafka2pg (`make bench` builds it first). Uses its own database
# kafka2pg_bench (dropped and created) and topics bench_orders_insert and
# bench_orders_upsert (recreated); consumer groups kafka2pg-bench-* are left.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and printf use '.' as the decimal point

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=${BENCH_RUNS:-3}
COUNT=${BENCH_COUNT:-1000000}
MODES=${BENCH_MODES:-insert upsert}
DELIVERIES=${BENCH_DELIVERIES:-at-least-once exactly-once}
PROFILE=${BENCH_PROFILE:-0}
TRANSFORM=${BENCH_TRANSFORM:-1}
POOLER=${BENCH_POOLER:-1}
BACKLOG=${BENCH_BACKLOG:-1}
ENFORCE=${BENCH_ENFORCE:-0}
DOC=${BENCH_DOC:-docs/benchmarks.md}
WORK=${BENCH_WORK:-bin/bench}
BIN=bin/kafka2pg
DB=kafka2pg_bench
PARTITIONS=8
declare -A TARGET=([insert]=0.90 [upsert]=0.85) # kafka2pg rows/s ÷ ceiling rows/s (issue #11)
TARGET_RSS_MIB=128
TARGET_EO=0.97 # exactly-once rows/s ÷ at-least-once rows/s
TARGET_CEL=0.80 # CEL-mapped rows/s ÷ by-name rows/s
TARGET_POOLER=0.80 # through PgBouncer (transaction mode) rows/s ÷ direct rows/s
OFFSETS_TABLE=kafka2pg_offsets # postgres.offsets_table's default
LIVE_AGE=31 # seconds: batch.backlog_max_age's default (30 s), and one more
COLS="order_id, customer_id, status, amount, currency, items, express, created_at, version"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, not '$RUNS'"
{ [[ "$COUNT" =~ ^[1-9][0-9]*$ ]] && [ "$COUNT" -ge 2 ]; } || die "BENCH_COUNT must be an integer ≥ 2, not '$COUNT'"
for m in $MODES; do
  case "$m" in insert | upsert) ;; *) die "BENCH_MODES: unknown mode '$m' (insert, upsert)" ;; esac
done
EO=0 ALO=0
for d in $DELIVERIES; do
  case "$d" in
    at-least-once) ALO=1 ;;
    exactly-once) EO=1 ;;
    *) die "BENCH_DELIVERIES: unknown delivery '$d' (at-least-once, exactly-once)" ;;
  esac
done
[ "$ALO" = 1 ] || die "BENCH_DELIVERIES='$DELIVERIES' must include at-least-once (the reference of the exactly-once runs)"
command -v psql >/dev/null || die "psql is not installed"
[ -x /usr/bin/time ] || die "/usr/bin/time is not installed (Debian package 'time')"

T_START=$SECONDS

eval "$(scripts/services.sh up)"
BROKERS=$KAFKA2PG_TEST_BROKERS
ADMIN_URL=$KAFKA2PG_TEST_DATABASE_URL
# kafka2pg reads the URL from the environment (${BENCH_DATABASE_URL} in its
# config), so no password is written to the scratch directory.
export BENCH_DATABASE_URL="${ADMIN_URL%%/postgres\?*}/$DB?sslmode=disable"
[ "$BENCH_DATABASE_URL" != "$ADMIN_URL" ] || die "cannot derive the bench database URL from $ADMIN_URL"
export BENCH_POOLER_URL="${KAFKA2PG_TEST_PGBOUNCER_URL%%/postgres\?*}/$DB?sslmode=disable"
[ "$POOLER" = 0 ] || [ "$BENCH_POOLER_URL" != "$KAFKA2PG_TEST_PGBOUNCER_URL" ] || die "cannot derive the bench database URL through PgBouncer from $KAFKA2PG_TEST_PGBOUNCER_URL"

[ -x "$BIN" ] || make build >&2
case "$WORK" in "" | / | . | .. | "$HOME") die "BENCH_WORK='$WORK' is not a scratch directory" ;; esac
rm -rf "$WORK"
mkdir -p "$WORK"
LIVE_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log "building the producer, bench/dumpcsv and bench/waitrecords"
go build -o "$WORK/produce" ./examples/orders/produce
go build -o "$WORK/dumpcsv" ./bench/dumpcsv
go build -o "$WORK/waitrecords" ./bench/waitrecords

psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" "$@"; }
pg() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$BENCH_DATABASE_URL" "$@"; }
pgv() { pg -A -t "$@"; } # one value
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f", d, v }'; }
# Thousands separators for rows/s.
fmt_rate() { printf '%s' "$(fmt "$1")" | rev | sed -E 's/([0-9]{3})/\1,/g; s/,$//' | rev; }

median() { # numbers as arguments
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) printf "%.6f", v[(NR + 1) / 2]; else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- CPU accounting -----------------------------------------------------------
# PostgreSQL backends are children of the postmaster: when one exits, its CPU
# time is added to the postmaster's cutime/cstime. The delta over a phase is
# the CPU of the backends that ended in it (ours; and those of anything else
# using the server at the same time: the machine is shared).
CLK_TCK=$(getconf CLK_TCK)
KAFKA_PID=$(tr -dc '0-9' <"$(dirname "$KAFKA2PG_KAFKA_HOME")/kafka.pid" 2>/dev/null || true)
proc_ticks() { # $1 = pid, $2 = "self" or "children"; prints clock ticks or nothing
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 0
  local st
  st=$(cat "/proc/$1/stat") || return 0
  st=${st##*) } # fields from 3 (state) on
  if [ "$2" = self ]; then
    awk '{ print $12 + $13 }' <<<"$st" # utime stime (fields 14 15)
  else
    awk '{ print $14 + $15 }' <<<"$st" # cutime cstime (fields 16 17)
  fi
}
ticks_delta_s() { # $1 = before, $2 = after; seconds or "n/a"
  if [ -n "$1" ] && [ -n "$2" ]; then calc "($2 - $1) / $CLK_TCK"; else printf 'n/a'; fi
}

# Waits until no backend of the bench database but ours is left, so that the
# postmaster has collected their CPU time.
wait_backends_gone() {
  local i n
  for i in $(seq 1 50); do
    n=$(pgv -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    [ "$n" = 0 ] && return 0
    [ "$i" -lt 50 ] && sleep 0.1
  done
  log "warning: $n backends of $DB still alive"
}

# ---- database and tables ------------------------------------------------------
log "recreating database $DB"
psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DB"
# The checkpointer lives as long as the postmaster: its parent is the postmaster.
POSTMASTER_PID=$(awk '{ print $4 }' "/proc/$(pgv -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")/stat" 2>/dev/null || true)
[ -n "$POSTMASTER_PID" ] || log "warning: cannot find the postmaster's pid; PostgreSQL CPU will read n/a"

# The table of examples/orders/schema.sql; in insert mode without its primary
# key (the producer draws order ids at random, so ids repeat even with
# -keys N, and an insert-mode table is an append-only log of events).
create_table() { # $1 = mode
  pg -c "DROP TABLE IF EXISTS orders"
  if [ "$1" = insert ]; then
    sed 's/ PRIMARY KEY//' examples/orders/schema.sql | pg -f -
  else
    pg -f examples/orders/schema.sql
  fi
  # No autovacuum on the benchmark's table: kafka2pg commits as it goes and
  # would meet an autovacuum/analyze worker at a random point of its run,
  # while the ceiling commits once at the end; that is noise, not a property
  # of either side.
  pg -c "ALTER TABLE orders SET (autovacuum_enabled = off)"
  local pk want=1
  [ "$1" = insert ] && want=0
  pk=$(pgv -c "SELECT count(*) FROM pg_index WHERE indrelid = 'orders'::regclass AND indisprimary")
  [ "$pk" = "$want" ] || die "orders table for $1 mode: expected $want primary key(s), found $pk (did examples/orders/schema.sql change?)"
}

# An order-independent fingerprint of the rows (every column kafka2pg writes;
# ingested_at is left to its default on both sides).
fingerprint() {
  pgv -c "SELECT count(*) || ':' || coalesce(sum(hashtextextended(($COLS)::text, 0)::numeric), 0) FROM orders"
}

checkpoint() { pg -c CHECKPOINT; }

# ---- datasets -----------------------------------------------------------------
declare -A EXPECTED_ROWS=() REF_FP=() PRODUCED_AT=()
declare -A C_SECS=() C_PGCPU=() K_SECS=() K_INPROC=() K_TAIL=() K_LAST=() K_RSS=() K_LOGRSS=() K_CPU=() K_PGCPU=() K_KCPU=()

prepare_dataset() { # $1 = mode
  local mode=$1 topic="bench_orders_$1" keys out events distinct
  keys=$COUNT
  [ "$mode" = upsert ] && keys=$((COUNT / 2))
  log "[$mode] producing $COUNT events ($keys possible order ids, no tombstones) to $topic ($PARTITIONS partitions)"
  "$WORK/produce" -brokers "$BROKERS" -topic "$topic" -partitions "$PARTITIONS" \
    -count "$COUNT" -keys "$keys" -tombstones 0 -recreate >&2
  PRODUCED_AT[$mode]=$EPOCHREALTIME # after the newest record's timestamp
  log "[$mode] dumping the rows to $WORK/$mode.csv (untimed)"
  out=$("$WORK/dumpcsv" -brokers "$BROKERS" -topic "$topic" -out "$WORK/$mode.csv")
  log "[$mode] $out"
  events=$(sed -n 's/.*events=\([0-9]*\).*/\1/p' <<<"$out")
  distinct=$(sed -n 's/.*distinct_keys=\([0-9]*\).*/\1/p' <<<"$out")
  [ "$events" = "$COUNT" ] || die "[$mode] the topic holds $events events, expected $COUNT"
  if [ "$mode" = insert ]; then EXPECTED_ROWS[$mode]=$COUNT; else EXPECTED_ROWS[$mode]=$distinct; fi

  local csv
  csv="$(cd "$WORK" && pwd)/$mode.csv"
  case "$csv" in *"'"*) die "the scratch path $csv contains a quote" ;; esac
  if [ "$mode" = insert ]; then
    cat >"$WORK/ceiling-insert.sql" <<EOF
\\copy orders ($COLS) FROM '$csv' WITH (FORMAT csv)
EOF
  else
    local set="" c
    for c in ${COLS//,/}; do
      [ "$c" = order_id ] && continue
      set+="${set:+, }$c = EXCLUDED.$c"
    done
    cat >"$WORK/ceiling-upsert.sql" <<EOF
BEGIN;
CREATE TEMP TABLE stage ON COMMIT DROP AS SELECT * FROM orders WITH NO DATA;
\\copy stage ($COLS) FROM '$csv' WITH (FORMAT csv)
INSERT INTO orders AS t ($COLS)
  SELECT DISTINCT ON (order_id) $COLS FROM stage ORDER BY order_id, version DESC
  ON CONFLICT (order_id) DO UPDATE SET $set
  WHERE t.version IS NULL OR EXCLUDED.version > t.version;
COMMIT;
EOF
  fi

  cat >"$WORK/pipeline-$mode.yaml.in" <<EOF
# Generated by scripts/bench.sh; the group is set per run.
kafka:
  brokers: ["$BROKERS"]
  group: @GROUP@
  topics: [$topic]
  start: earliest
postgres:
  url: \${BENCH_DATABASE_URL}
  max_conns: 4
batch:
  max_rows: 10000
  max_bytes: 16MiB
  max_wait: 100ms
$(if [ "$mode" = upsert ]; then echo "  backlog_merge: false"; fi)
routes:
  - topic: $topic
    table: public.orders
    value: {format: json}
    key: {format: string}
    mode: $mode
EOF
  if [ "$mode" = upsert ]; then
    printf '    version_column: version\n' >>"$WORK/pipeline-$mode.yaml.in"
  fi
  # The pooler variant: the same through PgBouncer in transaction mode.
  sed -e 's|url: \${BENCH_DATABASE_URL}|url: ${BENCH_POOLER_URL}\n  pooler: transaction|' \
    "$WORK/pipeline-$mode.yaml.in" >"$WORK/pipeline-$mode-pool.yaml.in"
  grep -q 'pooler: transaction' "$WORK/pipeline-$mode-pool.yaml.in" || die "could not make the pooler variant of the config"
  # The backlog merge variant (upsert): the same with batch.backlog_merge
  # left at its default (auto: a --stop-at-end run merges).
  sed -e '/^  backlog_merge: false$/d' -e '/^$/d' \
    "$WORK/pipeline-$mode.yaml.in" >"$WORK/pipeline-$mode-bl.yaml.in"
  ! grep -q 'backlog_merge' "$WORK/pipeline-$mode-bl.yaml.in" || die "could not make the backlog merge variant of the config"
  # The live variant: the same with a metrics endpoint to time it by.
  { cat "$WORK/pipeline-$mode-bl.yaml.in"; printf 'http:\n  listen: 127.0.0.1:%s\n' "$LIVE_PORT"; } >"$WORK/pipeline-$mode-live.yaml.in"
  # The transform variant: five computed columns and a filter, giving the
  # values the by-name mapping gives (so the table matches the ceiling's).
  cp "$WORK/pipeline-$mode.yaml.in" "$WORK/pipeline-$mode-cel.yaml.in"
  cat >>"$WORK/pipeline-$mode-cel.yaml.in" <<'EOF'
    filter: value.order_id > 0 && value.status != 'test'
    columns:
      order_id: value.order_id
      customer_id: int(value.customer_id)
      status: value.status.lowerAscii()
      currency: value.currency.upperAscii()
      version: value.version + 0
EOF
}

check_rows() { # $1 = mode, $2 = what; checks count and fingerprint
  local fp n
  fp=$(fingerprint)
  n=${fp%%:*}
  [ "$n" = "${EXPECTED_ROWS[$1]}" ] || die "[$1] $2 left $n rows in orders, expected ${EXPECTED_ROWS[$1]}"
  if [ -z "${REF_FP[$1]:-}" ]; then
    REF_FP[$1]=$fp
  elif [ "$fp" != "${REF_FP[$1]}" ]; then
    die "[$1] $2: the table's contents differ from the ceiling's (fingerprint $fp, expected ${REF_FP[$1]})"
  fi
}

# ---- one ceiling run -------------------------------------------------------------
run_ceiling() { # $1 = mode, $2 = run
  local mode=$1 run=$2 t0 t1 c0 c1
  create_table "$mode"
  checkpoint
  wait_backends_gone
  c0=$(proc_ticks "$POSTMASTER_PID" children)
  t0=$EPOCHREALTIME
  psql -X -q -v ON_ERROR_STOP=1 "$BENCH_DATABASE_URL" -f "$WORK/ceiling-$mode.sql" </dev/null >/dev/null \
    || die "[$mode] the ceiling's psql failed"
  t1=$EPOCHREALTIME
  wait_backends_gone
  c1=$(proc_ticks "$POSTMASTER_PID" children)
  C_SECS[$mode,$run]=$(calc "$t1 - $t0")
  C_PGCPU[$mode,$run]=$(ticks_delta_s "$c0" "$c1")
  check_rows "$mode" "the ceiling (run $run)"
  log "[$mode] run $run ceiling:  $(fmt "${C_SECS[$mode,$run]}" 2) s, $(fmt_rate "$(calc "$COUNT / ${C_SECS[$mode,$run]}")") rows/s"
}

log_ts() { # $1 = log file, $2 = msg; prints the epoch seconds of its first line
  local ts
  ts=$(grep -m1 -E "msg=\"?$2\"? " "$1" | sed -n 's/^time=\([^ ]*\) .*/\1/p')
  [ -n "$ts" ] && date -d "$ts" +%s.%N
}

# ---- one kafka2pg run -------------------------------------------------------------
# Results go to the K_* arrays under the key "mode,run" for at-least-once and
# "mode,run,eo" for exactly-once.
stored_offsets() { # $1 = group; prints "rows:sum of next_offset" (0:0 without the table)
  if [ -z "$(pgv -c "SELECT to_regclass('$OFFSETS_TABLE')")" ]; then
    printf '0:0'
    return 0
  fi
  pgv -c "SELECT count(*) || ':' || coalesce(sum(greatest(next_offset, 0)), 0) FROM $OFFSETS_TABLE WHERE \"group\" = '$1'"
}

run_kafka2pg() { # $1 = mode, $2 = run label, $3 = delivery; $4 = 1 for a profiled run
  local mode=$1 run=$2 delivery=$3 profiled=${4:-0} cfg tf lf t0 t1 c0 c1 k0 k1 rc=0 group key=$1,$2 what="kafka2pg" sfx="" tmpl
  tmpl="$WORK/pipeline-$mode.yaml.in"
  if [ "$delivery" = exactly-once ]; then key+=,eo what+=" exactly-once" sfx=-eo; fi
  if [ "$delivery" = transform ]; then key+=,cel what+=" transform" sfx=-cel tmpl="$WORK/pipeline-$mode-cel.yaml.in"; fi
  if [ "$delivery" = pooler ]; then key+=,pool what+=" through PgBouncer" sfx=-pool tmpl="$WORK/pipeline-$mode-pool.yaml.in"; fi
  if [ "$delivery" = backlog ]; then key+=,bl what+=" backlog merge" sfx=-bl tmpl="$WORK/pipeline-$mode-bl.yaml.in"; fi
  if [ "$delivery" = live ]; then key+=,live what+=" backlog merge, a run that goes on" sfx=-live tmpl="$WORK/pipeline-$mode-live.yaml.in"; fi
  group="kafka2pg-bench-$mode-$run$sfx-$(date +%s%N)"
  cfg="$WORK/pipeline-$mode-$run$sfx.yaml"
  tf="$WORK/kafka2pg-$mode-$run$sfx.time"
  lf="$WORK/kafka2pg-$mode-$run$sfx.log"
  sed "s/@GROUP@/$group/" "$tmpl" >"$cfg"
  if [ "$delivery" = exactly-once ]; then
    printf 'delivery: exactly-once\n' >>"$cfg"
    # A fresh group has no stored offset; one would make the run resume from it.
    [ "$(stored_offsets "$group")" = 0:0 ] || die "[$mode] $OFFSETS_TABLE already holds offsets for group $group"
  fi
  if [ "$delivery" = live ]; then
    # A live pipeline meeting a backlog at least backlog_max_age late.
    local age
    age=$(calc "$EPOCHREALTIME - ${PRODUCED_AT[$mode]}")
    if awk -v a="$age" -v b="$LIVE_AGE" 'BEGIN { exit !(a < b) }'; then
      log "[$mode] waiting $(fmt "$(calc "$LIVE_AGE - $age")" 1) s until the backlog is $LIVE_AGE s old (untimed)"
      sleep "$(calc "$LIVE_AGE - $age")"
    fi
  fi
  create_table "$mode"
  checkpoint
  wait_backends_gone
  if [ "$profiled" = 1 ]; then profile_start "$mode"; fi
  c0=$(proc_ticks "$POSTMASTER_PID" children)
  k0=$(proc_ticks "$KAFKA_PID" self)
  if [ "$delivery" = live ]; then
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$tf" "$BIN" run --config "$cfg" 2>"$lf" &
    local tpid=$! kpid
    t1=$("$WORK/waitrecords" -url "http://127.0.0.1:$LIVE_PORT/metrics" -want "$COUNT" -timeout 600s) || rc=$?
    kpid=$(pgrep -P "$tpid" || true)
    [ -z "$kpid" ] || kill -TERM "$kpid"
    wait "$tpid" || rc=$?
  else
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$tf" "$BIN" run --config "$cfg" --stop-at-end 2>"$lf" || rc=$?
    t1=$EPOCHREALTIME
  fi
  k1=$(proc_ticks "$KAFKA_PID" self)
  if [ "$profiled" = 1 ]; then profile_stop "$mode"; fi
  if [ "$rc" != 0 ]; then
    tail -n 30 "$lf" >&2
    die "[$mode] $what run $run exited with status $rc (log: $lf)"
  fi
  wait_backends_gone
  c1=$(proc_ticks "$POSTMASTER_PID" children)

  local totals records
  totals=$(grep -m1 'msg=totals' "$lf" || true)
  records=$(sed -n 's/.* records=\([0-9]*\).*/\1/p' <<<"$totals")
  [ "$records" = "$COUNT" ] || die "[$mode] $what run $run: totals line says records=${records:-?}, expected $COUNT (log: $lf)"
  check_rows "$mode" "$what (run $run)"
  if [ "$delivery" = exactly-once ]; then
    # The topic was created for this dataset, so its end offsets add up to
    # BENCH_COUNT: the group's stored offsets must too (proof that the
    # offset table was written, i.e. that the run was exactly-once).
    local so
    so=$(stored_offsets "$group")
    [ "${so#*:}" = "$COUNT" ] || die "[$mode] $what run $run: $OFFSETS_TABLE holds ${so%%:*} rows for group $group with next offsets adding up to ${so#*:}, expected $COUNT (log: $lf)"
  fi
  if [ "$profiled" = 1 ]; then return 0; fi

  local s e user sys rss last
  K_SECS[$key]=$(calc "$t1 - $t0")
  # ingested_at defaults to now(): the start of the transaction that
  # inserted the row. The wall time after the newest one is the last
  # batch's write plus the wait for the offset commit that --stop-at-end
  # waits for, plus the exit.
  last=$(pgv -c "SELECT extract(epoch FROM max(ingested_at)) FROM orders")
  K_TAIL[$key]=$(calc "$t1 - $last")
  K_LAST[$key]=$(calc "$last - $t0")
  s=$(log_ts "$lf" "kafka2pg starting" || true)
  e=$(log_ts "$lf" "totals" || true)
  if [ -n "$s" ] && [ -n "$e" ]; then K_INPROC[$key]=$(calc "$e - $s"); else K_INPROC[$key]=nan; fi
  user=$(sed -n 's/^[[:space:]]*User time (seconds): //p' "$tf")
  sys=$(sed -n 's/^[[:space:]]*System time (seconds): //p' "$tf")
  rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$tf")
  [ -n "$rss" ] || die "no 'Maximum resident set size' in $tf"
  K_CPU[$key]=$(calc "$user + $sys")
  K_RSS[$key]=$(calc "$rss / 1024")
  K_LOGRSS[$key]=$(sed -n 's/.* peak_rss_mib=\([0-9]*\).*/\1/p' <<<"$totals")
  K_PGCPU[$key]=$(ticks_delta_s "$c0" "$c1")
  K_KCPU[$key]=$(ticks_delta_s "$k0" "$k1")
  local vs=""
  if [ "$delivery" != at-least-once ] && [ -n "${K_SECS[$mode,$run]:-}" ]; then
    vs=", $(fmt "$(calc "${K_SECS[$mode,$run]} / ${K_SECS[$key]}")" 2) × at-least-once by name"
  fi
  log "[$mode] run $run $what: $(fmt "${K_SECS[$key]}" 2) s, $(fmt_rate "$(calc "$COUNT / ${K_SECS[$key]}")") rows/s$vs, peak RSS $(fmt "${K_RSS[$key]}") MiB (log: ${K_LOGRSS[$key]:-?} MiB)"
}

# ---- profiling (BENCH_PROFILE=1) ----------------------------------------------------
declare -A PROFILE_MD=()
profile_start() { # $1 = mode
  local d="$WORK/profile-$1"
  mkdir -p "$d"
  rm -f "$d/stop"
  # One psql session samples the wait events of kafka2pg's backends every 100 ms.
  {
    while [ ! -e "$d/stop" ]; do
      printf "SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') || ':' || state FROM pg_stat_activity WHERE application_name = 'kafka2pg' AND datname = current_database() AND state <> 'idle';\n"
      sleep 0.1
    done
  } | psql -X -q -A -t "$BENCH_DATABASE_URL" >"$d/waits.txt" 2>/dev/null &
  PROFILE_SAMPLER=$!
  PROFILE_PERF=""
  if command -v perf >/dev/null 2>&1; then
    perf record -q -a -F 199 -o "$d/perf.data" >/dev/null 2>"$d/perf.err" &
    PROFILE_PERF=$!
    sleep 0.5 # let perf start before the run
  fi
}

profile_stop() { # $1 = mode
  local d="$WORK/profile-$1"
  touch "$d/stop"
  wait "$PROFILE_SAMPLER" 2>/dev/null || true
  if [ -n "$PROFILE_PERF" ]; then
    kill -INT "$PROFILE_PERF" 2>/dev/null || true
    wait "$PROFILE_PERF" 2>/dev/null || true
  fi
  local md="" total
  total=$(grep -c . "$d/waits.txt" || true)
  md+="**$1, kafka2pg's PostgreSQL sessions** ($total non-idle samples of pg_stat_activity every 100 ms; wait_event_type:wait_event:state):"$'\n\n'
  md+='```'$'\n'
  md+="$(sort "$d/waits.txt" | uniq -c | sort -rn | sed -n 1,12p)"$'\n'
  md+='```'$'\n\n'
  if [ -s "$d/perf.data" ]; then
    local comm_share k2p_syms pg_syms
    # Lines are "<thread name> <pid>"; thread names may contain spaces.
    comm_share=$(perf script -i "$d/perf.data" -F comm,pid 2>/dev/null | awk -v k="$KAFKA_PID" '
      NF >= 2 { n++; p = $NF; c = $0; sub(/^[ \t]+/, "", c); sub(/[ \t]+[0-9]+[ \t]*$/, "", c)
        if (p == 0) g = "idle"
        else if (p == k) g = "kafka broker (java)"
        else if (c == "postgres") g = "postgres"
        else if (c == "kafka2pg") g = "kafka2pg"
        else g = "other (" c ")"
        s[g]++ }
      END { for (g in s) printf "%6.1f%%  %s\n", 100 * s[g] / n, g }' | sort -rn | sed -n 1,12p)
    k2p_syms=$(perf report -i "$d/perf.data" --stdio --no-children --comm kafka2pg --sort sym 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | sed -n 1,20p)
    pg_syms=$(perf report -i "$d/perf.data" --stdio --no-children --comm postgres --sort dso,sym 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | sed -n 1,15p)
    md+="**$1, CPU of the whole machine during the run** (perf record -a, 199 Hz, both cores):"$'\n\n''```'$'\n'"$comm_share"$'\n''```'$'\n\n'
    md+="**$1, kafka2pg's hottest functions** (share of all samples):"$'\n\n''```'$'\n'"$k2p_syms"$'\n''```'$'\n\n'
    md+="**$1, PostgreSQL's hottest functions** (share of all samples):"$'\n\n''```'$'\n'"$pg_syms"$'\n''```'$'\n'
  else
    md+="(perf unavailable: $(head -c 300 "$d/perf.err" 2>/dev/null))"$'\n'
  fi
  PROFILE_MD[$1]=$md
}

# ---- machine ---------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
PG_VERSION=$(pgv -c "SHOW server_version")
PG_SETTINGS=$(pgv -F' ' -c "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'max_wal_size', 'fsync', 'synchronous_commit', 'full_page_writes', 'wal_level')")
KAFKA_VERSION=$(cat "$KAFKA2PG_KAFKA_HOME/VERSION" 2>/dev/null || echo unknown)
GO_VERSION=$(go env GOVERSION)
K2P_VERSION=$("$BIN" version 2>/dev/null || echo unknown)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_GIB=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
NPROC=$(nproc)
KERNEL=$(uname -sr)

# ---- the runs --------------------------------------------------------------------
# The services are shared: another user's test may restart PostgreSQL or
# the broker during a repetition. Each repetition runs in a subshell whose
# results come back through a file; one that failed while a service
# restarted is repeated (BENCH_RETRIES times), any other failure stops the
# benchmark.
RETRIES=${BENCH_RETRIES:-3}
services_epoch() { # PostgreSQL's start time and the broker's pid
  printf '%s/%s' "$(pgv -c "SELECT pg_postmaster_start_time()" 2>/dev/null || echo down)" \
    "$(tr -dc '0-9' <"$(dirname "$KAFKA2PG_KAFKA_HOME")/kafka.pid" 2>/dev/null || echo down)"
}
wait_services() {
  local i
  for i in $(seq 1 120); do
    pgv -c "SELECT 1" >/dev/null 2>&1 && return 0
    sleep 1
  done
  die "PostgreSQL did not come back"
}
repetition() { # $1 = mode, $2 = run
  local mode=$1 run=$2 attempt epoch state="$WORK/state-$1-$2.sh"
  for attempt in $(seq 0 "$RETRIES"); do
    epoch=$(services_epoch)
    # A background subshell and wait: set -e holds inside it (it would not
    # in the condition of an if).
    local rc=0
    (
      run_ceiling "$mode" "$run"
      # At-least-once and exactly-once in alternating order (odd
      # repetitions at-least-once first), so that whatever one run leaves
      # the server (a checkpoint, dirty buffers) falls on each as often.
      if [ "$EO" = 1 ] && [ $((run % 2)) = 0 ]; then run_kafka2pg "$mode" "$run" exactly-once; fi
      run_kafka2pg "$mode" "$run" at-least-once
      if [ "$EO" = 1 ] && [ $((run % 2)) = 1 ]; then run_kafka2pg "$mode" "$run" exactly-once; fi
      if [ "$TRANSFORM" = 1 ] && [ "$mode" = insert ]; then run_kafka2pg "$mode" "$run" transform; fi
      if [ "$POOLER" = 1 ]; then run_kafka2pg "$mode" "$run" pooler; fi
      if [ "$BACKLOG" = 1 ] && [ "$mode" = upsert ]; then
        run_kafka2pg "$mode" "$run" backlog
        run_kafka2pg "$mode" "$run" live
      fi
      declare -p C_SECS C_PGCPU K_SECS K_INPROC K_TAIL K_LAST K_RSS K_LOGRSS K_CPU K_PGCPU K_KCPU REF_FP EXPECTED_ROWS >"$state"
    ) &
    wait $! || rc=$?
    if [ "$rc" = 0 ]; then
      # shellcheck disable=SC1090 # written just above
      source <(sed 's/^declare -A /declare -gA /' "$state")
      return 0
    fi
    wait_services
    if [ "$(services_epoch)" = "$epoch" ] || [ "$attempt" = "$RETRIES" ]; then
      die "[$mode] repetition $run failed (see above)"
    fi
    log "[$mode] PostgreSQL or the broker restarted during repetition $run (shared services); repeating it"
    POSTMASTER_PID=$(awk '{ print $4 }' "/proc/$(pgv -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")/stat" 2>/dev/null || true)
    KAFKA_PID=$(tr -dc '0-9' <"$(dirname "$KAFKA2PG_KAFKA_HOME")/kafka.pid" 2>/dev/null || true)
  done
}

for mode in $MODES; do
  prepare_dataset "$mode"
  for run in $(seq 1 "$RUNS"); do
    repetition "$mode" "$run"
  done
  if [ "$PROFILE" = 1 ]; then
    log "[$mode] profiled kafka2pg run (not measured)"
    run_kafka2pg "$mode" profile at-least-once 1
  fi
  rm -f "$WORK/$mode.csv"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T_START))

# ---- report ------------------------------------------------------------------------
RESULTS="$WORK/results.md"
verdict() { # $1 = 1 if met
  if [ "$1" = 1 ]; then printf 'met'; else printf '**not met**'; fi
}

# variant_table MODE KEY NAME TARGET WHAT: the table of a variant's runs
# (KEY: cel, pool) against the by-name at-least-once run of the same
# repetitions, its median ratio and verdict (MAX_RSS, ALL_MET updated).
variant_table() {
  local mode=$1 key=$2 name=$3 target=$4 what=$5 run ks vs ratio rss mv met
  local ratios=() vrates=() krates=()
  printf '| run | by name rows/s | %s rows/s | %s ÷ by name | %s ÷ ceiling | kafka2pg CPU s (%s / by name) |\n|---:|---:|---:|---:|---:|---:|\n' \
    "$name" "$name" "$name" "$name"
  for run in $(seq 1 "$RUNS"); do
    ks=${K_SECS[$mode,$run]}
    vs=${K_SECS[$mode,$run,$key]}
    ratio=$(calc "$ks / $vs")
    ratios+=("$ratio") vrates+=("$(calc "$COUNT / $vs")") krates+=("$(calc "$COUNT / $ks")")
    rss=${K_RSS[$mode,$run,$key]}
    if awk -v a="$rss" -v b="$MAX_RSS" 'BEGIN { exit !(a > b) }'; then MAX_RSS=$rss; fi
    printf '| %s | %s | %s | %s | %s | %s / %s |\n' "$run" "$(fmt_rate "$(calc "$COUNT / $ks")")" "$(fmt_rate "$(calc "$COUNT / $vs")")" \
      "$(fmt "$ratio" 2)" "$(fmt "$(calc "${C_SECS[$mode,$run]} / $vs")" 2)" "$(fmt "${K_CPU[$mode,$run,$key]}" 1)" "$(fmt "${K_CPU[$mode,$run]}" 1)"
  done
  mv=$(median "${ratios[@]}")
  met=0
  awk -v a="$mv" -v b="$target" 'BEGIN { exit !(a >= b) }' && met=1
  [ "$met" = 1 ] || ALL_MET=0
  printf '| **median** | **%s** | **%s** | **%s** | | |\n\n' "$(fmt_rate "$(median "${krates[@]}")")" "$(fmt_rate "$(median "${vrates[@]}")")" "$(fmt "$mv" 2)"
  printf 'Target: %s ≥ %d%% of the by-name run'"'"'s throughput; median %d%%: %s.\n\n' \
    "$what" "$(fmt "$(calc "$target * 100")")" "$(fmt "$(calc "$mv * 100")")" "$(verdict "$met")"
}
# backlog_table mode key name: the runs of variant key (bl, live) against
# the ceiling and the batch-by-batch run; sets TABLE_MEDIAN (÷ ceiling) and
# TABLE_MET.
backlog_table() {
  local mode=$1 key=$2 name=$3 run bs br cr bratio bkratio rss pgc
  local bratios=() bkratios=() brates=() crates=()
  printf '| run | ceiling rows/s | %s rows/s | ÷ ceiling | ÷ batch by batch | kafka2pg CPU s (%s / batch by batch) | PostgreSQL backends CPU s (ceiling / batch by batch / %s) | peak RSS MiB |\n' "$name" "$name" "$name"
  printf '|---:|---:|---:|---:|---:|---:|---:|---:|\n'
  for run in $(seq 1 "$RUNS"); do
    bs=${K_SECS[$mode,$run,$key]}
    br=$(calc "$COUNT / $bs")
    cr=$(calc "$COUNT / ${C_SECS[$mode,$run]}")
    bratio=$(calc "${C_SECS[$mode,$run]} / $bs")
    bkratio=$(calc "${K_SECS[$mode,$run]} / $bs")
    bratios+=("$bratio") bkratios+=("$bkratio") brates+=("$br") crates+=("$cr")
    rss=${K_RSS[$mode,$run,$key]}
    if awk -v a="$rss" -v b="$MAX_RSS" 'BEGIN { exit !(a > b) }'; then MAX_RSS=$rss; fi
    pgc="${C_PGCPU[$mode,$run]} / ${K_PGCPU[$mode,$run]} / ${K_PGCPU[$mode,$run,$key]}"
    [ "${K_PGCPU[$mode,$run,$key]}" = n/a ] || pgc="$(fmt "${C_PGCPU[$mode,$run]}" 1) / $(fmt "${K_PGCPU[$mode,$run]}" 1) / $(fmt "${K_PGCPU[$mode,$run,$key]}" 1)"
    printf '| %s | %s | %s | %s | %s | %s / %s | %s | %s |\n' "$run" "$(fmt_rate "$cr")" "$(fmt_rate "$br")" \
      "$(fmt "$bratio" 2)" "$(fmt "$bkratio" 2)" "$(fmt "${K_CPU[$mode,$run,$key]}" 1)" "$(fmt "${K_CPU[$mode,$run]}" 1)" "$pgc" "$(fmt "$rss")"
  done
  TABLE_MEDIAN=$(median "${bratios[@]}")
  TABLE_MET=0
  awk -v a="$TABLE_MEDIAN" -v b="${TARGET[$mode]}" 'BEGIN { exit !(a >= b) }' && TABLE_MET=1
  printf '| **median** | **%s** | **%s** | **%s** | **%s** | | | |\n\n' "$(fmt_rate "$(median "${crates[@]}")")" \
    "$(fmt_rate "$(median "${brates[@]}")")" "$(fmt "$TABLE_MEDIAN" 2)" "$(fmt "$(median "${bkratios[@]}")" 2)"
}
ALL_MET=1
MAX_RSS=0
{
  printf '_Generated by `make bench` (scripts/bench.sh) on %s; do not edit by hand._\n\n' "$(date -u +'%Y-%m-%d %H:%M UTC')"
  dlv_env=""
  [ "$EO" = 1 ] || dlv_env="BENCH_DELIVERIES=at-least-once "
  [ "$PROFILE" = 1 ] && dlv_env+="BENCH_PROFILE=1 "
  printf 'Command: `BENCH_COUNT=%s BENCH_RUNS=%s %smake bench` (scripts/bench.sh took %d min %02d s, after `make build`).\n\n' "$COUNT" "$RUNS" "$dlv_env" $((ELAPSED / 60)) $((ELAPSED % 60))
  printf '| machine | |\n|---|---|\n'
  printf '| CPU | %s × %s |\n' "$NPROC" "$CPU_MODEL"
  printf '| memory | %s GiB |\n' "$MEM_GIB"
  printf '| kernel | %s |\n' "$KERNEL"
  printf '| PostgreSQL | %s (%s) |\n' "$PG_VERSION" "$PG_SETTINGS"
  printf '| Kafka | %s (KRaft, one node, loopback) |\n' "$KAFKA_VERSION"
  printf '| Go | %s; kafka2pg %s |\n' "$GO_VERSION" "${K2P_VERSION#kafka2pg }"
  printf '| load average | %s before, %s after |\n\n' "$LOAD_BEFORE" "$LOAD_AFTER"

  for mode in $MODES; do
    target=${TARGET[$mode]}
    if [ "$mode" = insert ]; then
      printf '### insert: %s events, all appended (table without primary key)\n\n' "$COUNT"
      printf 'Ceiling: `\\copy orders FROM csv`.\n\n'
    else
      printf '### upsert: %s events, %s distinct order ids (primary key order_id, version_column: version)\n\n' "$COUNT" "${EXPECTED_ROWS[$mode]}"
      printf 'Ceiling: `\\copy` into a temp table + `INSERT … SELECT DISTINCT ON (order_id) … ON CONFLICT (order_id) DO UPDATE`, one transaction.\n\n'
      printf 'kafka2pg batch by batch: `batch.backlog_merge: false`, each batch upserted as it comes, as the defaults write a steady stream, or a backlog younger than `batch.backlog_max_age` (30 s) in a run that goes on; the defaults merge the backlog instead in a `--stop-at-end` run ([below](#backlog-merge)) and in a run that goes on once the backlog is that late ([below](#backlog-merge-live)).\n\n'
    fi
    printf '| run | ceiling rows/s | kafka2pg rows/s | ratio | kafka2pg peak RSS MiB |\n|---:|---:|---:|---:|---:|\n'
    ratios=() crates=() krates=() outside=() tails=()
    for run in $(seq 1 "$RUNS"); do
      cs=${C_SECS[$mode,$run]}
      ks=${K_SECS[$mode,$run]}
      cr=$(calc "$COUNT / $cs")
      kr=$(calc "$COUNT / $ks")
      ratio=$(calc "$cs / $ks")
      ratios+=("$ratio") crates+=("$cr") krates+=("$kr")
      outside+=("$(calc "$ks - ${K_INPROC[$mode,$run]}")") tails+=("${K_TAIL[$mode,$run]}")
      rss=${K_RSS[$mode,$run]}
      if awk -v a="$rss" -v b="$MAX_RSS" 'BEGIN { exit !(a > b) }'; then MAX_RSS=$rss; fi
      printf '| %s | %s | %s | %s | %s |\n' "$run" "$(fmt_rate "$cr")" "$(fmt_rate "$kr")" "$(fmt "$ratio" 2)" "$(fmt "$rss")"
    done
    mr=$(median "${ratios[@]}")
    met=0
    awk -v a="$mr" -v b="$target" 'BEGIN { exit !(a >= b) }' && met=1
    [ "$met" = 1 ] || ALL_MET=0
    printf '| **median** | **%s** | **%s** | **%s** | |\n\n' \
      "$(fmt_rate "$(median "${crates[@]}")")" "$(fmt_rate "$(median "${krates[@]}")")" "$(fmt "$mr" 2)"
    who=kafka2pg
    [ "$mode" = upsert ] && who='kafka2pg batch by batch'
    printf 'Target: %s ≥ %d%% of the ceiling; median ratio %d%%: %s.\n\n' "$who" \
      "$(fmt "$(calc "$target * 100")")" "$(fmt "$(calc "$mr * 100")")" "$(verdict "$met")"

    printf 'Details (seconds; CPU = user + system):\n\n'
    printf '| run | ceiling wall | kafka2pg wall | outside the log span | last batch began at | after it | ratio up to it | kafka2pg CPU | PostgreSQL backends CPU (ceiling / kafka2pg) | Kafka broker CPU (kafka2pg) |\n'
    printf '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
    lratios=()
    for run in $(seq 1 "$RUNS"); do
      pgc="${C_PGCPU[$mode,$run]} / ${K_PGCPU[$mode,$run]}"
      [ "${C_PGCPU[$mode,$run]}" = n/a ] || pgc="$(fmt "${C_PGCPU[$mode,$run]}" 1) / $(fmt "${K_PGCPU[$mode,$run]}" 1)"
      kc=${K_KCPU[$mode,$run]}
      [ "$kc" = n/a ] || kc=$(fmt "$kc" 1)
      lratio=$(calc "${C_SECS[$mode,$run]} / ${K_LAST[$mode,$run]}")
      lratios+=("$lratio")
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$run" \
        "$(fmt "${C_SECS[$mode,$run]}" 2)" "$(fmt "${K_SECS[$mode,$run]}" 2)" \
        "$(fmt "$(calc "${K_SECS[$mode,$run]} - ${K_INPROC[$mode,$run]}")" 2)" \
        "$(fmt "${K_LAST[$mode,$run]}" 2)" "$(fmt "${K_TAIL[$mode,$run]}" 2)" "$(fmt "$lratio" 2)" \
        "$(fmt "${K_CPU[$mode,$run]}" 1)" "$pgc" "$kc"
    done
    printf '\n"Outside the log span": wall time before the log'"'"'s "kafka2pg starting" and after its "totals" line (process start-up, exit). '
    printf '"Last batch began at": the newest `ingested_at` (the start of the last transaction that inserted a row; updates in upsert mode do not change it), in seconds after the process started; '
    printf '"after it": the rest of the wall time: that batch'"'"'s write, the offset commit to Kafka that `--stop-at-end` waits for (made as soon as a partition reaches its end offset), and the exit; '
    printf '"ratio up to it": ceiling wall ÷ "last batch began at", an optimistic ratio that leaves that tail out (median %s). ' "$(fmt "$(median "${lratios[@]}")" 2)"
    printf 'The headline ratio is the end-to-end one.\n\n'

    if [ "$EO" = 1 ]; then
      printf '#### exactly-once: `delivery: exactly-once`, same data, same repetitions\n\n'
      printf 'Each repetition ran the ceiling, then kafka2pg at-least-once and exactly-once in alternating order (odd repetitions at-least-once first), each on a fresh table with a fresh consumer group; every batch'"'"'s transaction also updates its partition'"'"'s row of `%s`.\n\n' "$OFFSETS_TABLE"
      printf '| run | at-least-once rows/s | exactly-once rows/s | exactly-once ÷ ceiling | exactly-once ÷ at-least-once | offset write cost | exactly-once peak RSS MiB |\n'
      printf '|---:|---:|---:|---:|---:|---:|---:|\n'
      eratios=() ecratios=() erates=() krates=()
      for run in $(seq 1 "$RUNS"); do
        ks=${K_SECS[$mode,$run]}
        es=${K_SECS[$mode,$run,eo]}
        kr=$(calc "$COUNT / $ks")
        er=$(calc "$COUNT / $es")
        ecr=$(calc "${C_SECS[$mode,$run]} / $es")
        eratio=$(calc "$ks / $es")
        krates+=("$kr") erates+=("$er") ecratios+=("$ecr") eratios+=("$eratio")
        rss=${K_RSS[$mode,$run,eo]}
        if awk -v a="$rss" -v b="$MAX_RSS" 'BEGIN { exit !(a > b) }'; then MAX_RSS=$rss; fi
        printf '| %s | %s | %s | %s | %s | %s%% | %s |\n' "$run" "$(fmt_rate "$kr")" "$(fmt_rate "$er")" \
          "$(fmt "$ecr" 2)" "$(fmt "$eratio" 3)" "$(fmt "$(calc "(1 - $eratio) * 100")" 1)" "$(fmt "$rss")"
      done
      me=$(median "${eratios[@]}")
      met=0
      awk -v a="$me" -v b="$TARGET_EO" 'BEGIN { exit !(a >= b) }' && met=1
      [ "$met" = 1 ] || ALL_MET=0
      printf '| **median** | **%s** | **%s** | **%s** | **%s** | **%s%%** | |\n\n' \
        "$(fmt_rate "$(median "${krates[@]}")")" "$(fmt_rate "$(median "${erates[@]}")")" \
        "$(fmt "$(median "${ecratios[@]}")" 2)" "$(fmt "$me" 3)" "$(fmt "$(calc "(1 - $me) * 100")" 1)"
      printf 'Target: exactly-once ≥ %d%% of at-least-once throughput; median ratio %s%% (offset write cost %s%%): %s. ' \
        "$(fmt "$(calc "$TARGET_EO * 100")")" "$(fmt "$(calc "$me * 100")" 1)" "$(fmt "$(calc "(1 - $me) * 100")" 1)" "$(verdict "$met")"
      printf '"Offset write cost" = 1 − exactly-once ÷ at-least-once, per run (negative: the exactly-once run was the faster one); the median row shows the median of each column.\n\n'

      printf 'Details of the exactly-once runs (seconds; columns as above):\n\n'
      printf '| run | exactly-once wall | outside the log span | last batch began at | after it | kafka2pg CPU | PostgreSQL backends CPU (at-least-once / exactly-once) | Kafka broker CPU |\n'
      printf '|---:|---:|---:|---:|---:|---:|---:|---:|\n'
      for run in $(seq 1 "$RUNS"); do
        pgc="${K_PGCPU[$mode,$run]} / ${K_PGCPU[$mode,$run,eo]}"
        [ "${K_PGCPU[$mode,$run,eo]}" = n/a ] || pgc="$(fmt "${K_PGCPU[$mode,$run]}" 1) / $(fmt "${K_PGCPU[$mode,$run,eo]}" 1)"
        kc=${K_KCPU[$mode,$run,eo]}
        [ "$kc" = n/a ] || kc=$(fmt "$kc" 1)
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$run" \
          "$(fmt "${K_SECS[$mode,$run,eo]}" 2)" \
          "$(fmt "$(calc "${K_SECS[$mode,$run,eo]} - ${K_INPROC[$mode,$run,eo]}")" 2)" \
          "$(fmt "${K_LAST[$mode,$run,eo]}" 2)" "$(fmt "${K_TAIL[$mode,$run,eo]}" 2)" \
          "$(fmt "${K_CPU[$mode,$run,eo]}" 1)" "$pgc" "$kc"
      done
      printf '\n'
    fi
    if [ "$TRANSFORM" = 1 ] && [ "$mode" = insert ]; then
      printf '<a id="transforms"></a>\n\n#### transforms: five CEL columns and a filter, same data, same repetitions\n\n'
      printf 'The route of the by-name run plus `filter: value.order_id > 0 && value.status != '"'"'test'"'"'` (every record passes) and `columns` for order_id, customer_id, status (`lowerAscii()`), currency (`upperAscii()`) and version (`+ 0`); the table ends equal to the ceiling'"'"'s.\n\n'
      variant_table "$mode" cel CEL "$TARGET_CEL" "CEL mapping"
    fi
    if [ "$POOLER" = 1 ]; then
      printf '<a id="pooler-%s"></a>\n\n#### %s through PgBouncer (pool_mode = transaction, `postgres.pooler: transaction`), same data, same repetitions\n\n' "$mode" "$mode"
      printf 'No prepared statements (every statement is sent unnamed), and the staging tables are created in every batch'"'"'s transaction (`ON COMMIT DROP`) instead of once per connection.\n\n'
      variant_table "$mode" pool PgBouncer "$TARGET_POOLER" "through a transaction-mode pooler"
    fi
    if [ "$BACKLOG" = 1 ] && [ "$mode" = upsert ]; then
      printf '<a id="backlog-merge"></a>\n\n#### upsert with the defaults (`batch.backlog_merge: auto`: a `--stop-at-end` run merges), same data, same repetitions\n\n'
      printf 'The at-least-once config without `backlog_merge: false`: while a partition is behind, its batches are copied into an unlogged staging table, and merged into the table once, each key with its last change, when the partition has caught up (docs/operations.md, "Backlog merge"). The table ends equal to the ceiling'"'"'s.\n\n'
      backlog_table "$mode" bl "backlog merge"
      BL_MEDIAN=$TABLE_MEDIAN
      printf 'Target (issue #11): upsert ≥ %d%% of the ceiling; with the backlog merge, median %d%%: %s.\n\n' \
        "$(fmt "$(calc "${TARGET[$mode]} * 100")")" "$(fmt "$(calc "$BL_MEDIAN * 100")")" "$(verdict "$TABLE_MET")"
      printf '<a id="backlog-merge-live"></a>\n\n#### upsert with the defaults in a run that goes on, meeting a late backlog, same data, same repetitions\n\n'
      printf 'The same config in a run without `--stop-at-end` (a live pipeline), started once the newest record is at least %s s old: with `auto`, a run that goes on merges a backlog whose records are at least `batch.backlog_max_age` (30 s) old, as after an outage or a deploy, and writes a steady stream batch by batch (docs/operations.md, "Which runs merge by default"). Timed from the start until `kafka2pg_records_total` reached %s (bench/waitrecords polls the metrics endpoint every 10 ms), then stopped with SIGTERM; CPU and RSS include the stop. The table ends equal to the ceiling'"'"'s.\n\n' "$LIVE_AGE" "$COUNT"
      backlog_table "$mode" live "live"
      LIVE_MEDIAN=$TABLE_MEDIAN
      printf 'Target (issue #11): upsert ≥ %d%% of the ceiling; a live pipeline with the defaults meeting a late backlog, median %d%%: %s.\n\n' \
        "$(fmt "$(calc "${TARGET[$mode]} * 100")")" "$(fmt "$(calc "$LIVE_MEDIAN * 100")")" "$(verdict "$TABLE_MET")"
    fi
  done

  rss_met=0
  awk -v a="$MAX_RSS" -v b="$TARGET_RSS_MIB" 'BEGIN { exit !(a <= b) }' && rss_met=1
  [ "$rss_met" = 1 ] || ALL_MET=0
  printf '### Summary\n\n| target | measured | |\n|---|---|---|\n'
  for mode in $MODES; do
    target=${TARGET[$mode]}
    ratios=()
    for run in $(seq 1 "$RUNS"); do ratios+=("$(calc "${C_SECS[$mode,$run]} / ${K_SECS[$mode,$run]}")"); done
    mr=$(median "${ratios[@]}")
    met=0
    awk -v a="$mr" -v b="$target" 'BEGIN { exit !(a >= b) }' && met=1
    label=$mode
    [ "$mode" = upsert ] && label='upsert batch by batch (`batch.backlog_merge: false`; with the defaults, a steady stream, or a backlog younger than `backlog_max_age` in a run that goes on)'
    printf '| %s ≥ %d%% of the ceiling | %d%% (median of %s) | %s |\n' "$label" \
      "$(fmt "$(calc "$target * 100")")" "$(fmt "$(calc "$mr * 100")")" "$RUNS" "$(verdict "$met")"
  done
  if [ "$BACKLOG" = 1 ] && [ -n "${BL_MEDIAN:-}" ]; then
    met=0
    awk -v a="$BL_MEDIAN" -v b="${TARGET[upsert]}" 'BEGIN { exit !(a >= b) }' && met=1
    printf '| upsert with the defaults (a `--stop-at-end` run merges the backlog) ≥ %d%% of the ceiling | %d%% (median of %s) | %s |\n' \
      "$(fmt "$(calc "${TARGET[upsert]} * 100")")" "$(fmt "$(calc "$BL_MEDIAN * 100")")" "$RUNS" "$(verdict "$met")"
    met=0
    awk -v a="$LIVE_MEDIAN" -v b="${TARGET[upsert]}" 'BEGIN { exit !(a >= b) }' && met=1
    printf '| upsert with the defaults, a run that goes on meeting a late backlog ≥ %d%% of the ceiling | %d%% (median of %s) | %s |\n' \
      "$(fmt "$(calc "${TARGET[upsert]} * 100")")" "$(fmt "$(calc "$LIVE_MEDIAN * 100")")" "$RUNS" "$(verdict "$met")"
  fi
  if [ "$EO" = 1 ]; then
    for mode in $MODES; do
      ratios=()
      for run in $(seq 1 "$RUNS"); do ratios+=("$(calc "${K_SECS[$mode,$run]} / ${K_SECS[$mode,$run,eo]}")"); done
      me=$(median "${ratios[@]}")
      met=0
      awk -v a="$me" -v b="$TARGET_EO" 'BEGIN { exit !(a >= b) }' && met=1
      printf '| %s exactly-once ≥ %d%% of at-least-once throughput | %s%% (median of %s; offset write cost %s%%) | %s |\n' "$mode" \
        "$(fmt "$(calc "$TARGET_EO * 100")")" "$(fmt "$(calc "$me * 100")" 1)" "$RUNS" "$(fmt "$(calc "(1 - $me) * 100")" 1)" "$(verdict "$met")"
    done
  fi
  printf '| peak RSS ≤ %d MiB | %s MiB (max of all runs) | %s |\n' "$TARGET_RSS_MIB" "$(fmt "$MAX_RSS")" "$(verdict "$rss_met")"
  for mode in $MODES; do
    cpus=() pgcpus=()
    for run in $(seq 1 "$RUNS"); do
      cpus+=("$(calc "${K_CPU[$mode,$run]} * 1000000 / $COUNT")")
      [ "${K_PGCPU[$mode,$run]}" = n/a ] || pgcpus+=("$(calc "${K_PGCPU[$mode,$run]} * 1000000 / $COUNT")")
    done
    pgm=n/a
    [ "${#pgcpus[@]}" = 0 ] || pgm=$(fmt "$(median "${pgcpus[@]}")" 2)
    printf '| %s: kafka2pg CPU-seconds per million rows (user + system, at-least-once) | %s (median of %s; PostgreSQL backends %s) | reported |\n' \
      "$mode" "$(fmt "$(median "${cpus[@]}")" 2)" "$RUNS" "$pgm"
  done

  if [ "$PROFILE" = 1 ]; then
    printf '\n### Where the time goes (BENCH_PROFILE=1: one extra, unmeasured run per mode)\n\n'
    for mode in $MODES; do printf '%s\n' "${PROFILE_MD[$mode]:-}"; done
  fi
} >"$RESULTS"

# ---- docs/benchmarks.md: replace what is between the markers ------------------------
BEGIN_MARK='<!-- bench:begin -->'
END_MARK='<!-- bench:end -->'
mkdir -p "$(dirname "$DOC")"
if [ ! -f "$DOC" ]; then
  printf '# Benchmarks\n\nRun `make bench`; see scripts/bench.sh.\n\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >"$DOC"
elif ! grep -qxF "$BEGIN_MARK" "$DOC" || ! grep -qxF "$END_MARK" "$DOC"; then
  printf '\n## Results\n\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >>"$DOC"
fi
awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$RESULTS" '
  $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
  $0 == e { skip = 0 }
  !skip { print }' "$DOC" >"$DOC.tmp"
mv "$DOC.tmp" "$DOC"

cat "$RESULTS"
log "results written to $DOC ($((ELAPSED / 60)) min $((ELAPSED % 60)) s)"
if [ "$ENFORCE" = 1 ] && [ "$ALL_MET" != 1 ]; then
  log "a target was missed (BENCH_ENFORCE=1)"
  exit 2
fi
