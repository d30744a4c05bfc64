#!/usr/bin/env bash
# shellcheck disable=SC2016 # backquotes in single quotes are Markdown, not shell
# scripts/bench-peers.sh — `make bench-peers`: kafka2pg side by side with the
# two things it replaces, on the same orders, in the same run:
#   kafka2pg   bin/kafka2pg run --stop-at-end (value format json-connect)
#   debezium   a Kafka Connect standalone worker (Apache Kafka's connect-runtime,
#              the broker's version) running Debezium's JDBC sink connector,
#              tuned as its documentation advises: tasks.max = partitions,
#              batch.size 10,000, the consumer sized to fill a batch, the
#              reduction buffer in upsert mode
#   python     the consumer a tutorial would write (bench/peers/consumer.py:
#              confluent-kafka + psycopg 3, one INSERT … ON CONFLICT and one
#              database commit per message, then a synchronous offset commit);
#              it is slow, so it runs on a smaller sample (PEERS_SAMPLE)
# and PostgreSQL's own ingest of the same rows (psql's \copy; upsert: \copy
# into a staging table + one INSERT … SELECT DISTINCT ON … ON CONFLICT), the
# ceiling of scripts/bench.sh.
#
# Data. For each mode (insert, upsert) examples/orders/produce writes
# PEERS_COUNT order events (8 partitions, no tombstones; upsert: PEERS_COUNT/2
# possible ids, so ids repeat with rising versions) to a plain JSON topic;
# bench/dumpcsv turns it into the CSV of the ceiling and gives the expected
# row count; bench/peers/peertool rewrites it, record by record into the same
# partition, as Kafka Connect JSON envelopes (schema + payload; amount a
# Connect Decimal, created_at a Connect Timestamp). kafka2pg and the Python
# consumer read a topic whose items field is an array of structs; Debezium's
# JDBC sink 3.6 cannot bind an array of structs to a jsonb column (it fails
# with a NullPointerException), so it reads a second topic with the same
# records where items is the array's JSON text, a string named
# io.debezium.data.Json (the form Debezium's own source connectors emit).
#
# Each repetition (PEERS_RUNS) runs ceiling, kafka2pg, debezium in turn, each
# on a fresh table (examples/orders/schema.sql; insert mode without its
# primary key) with a fresh consumer group, the backlog already in Kafka; a
# run ends when every row is in and the group's offsets are committed
# (kafka2pg and the Python consumer exit by themselves; the Connect worker,
# which never does, is stopped once the group's committed offsets reach the
# end of every partition, polled every 100 ms). Wall time counts from process
# start, JVM start-up included. Each run is checked: row count and an
# order-independent fingerprint of the table, equal to the ceiling's, and the
# group's committed offsets at the end of the topic. A wrong result stops the
# benchmark (exit 1).
# CPU: kafka2pg and Python through /usr/bin/time -v, the Connect JVM from
# /proc/<pid>/stat (utime + stime of all its threads, read before it is
# stopped), PostgreSQL backends from the postmaster's cutime + cstime (as in
# scripts/bench.sh; backends of other users of the server count too).
# Results: stdout, and the section between the peers markers of
# docs/benchmarks.md (rewritten; the rest of the file is kept).
#
# Environment:
#   PEERS_COUNT=1000000   events per mode for ceiling, kafka2pg and Debezium
#   PEERS_SAMPLE=20000    events per mode for the Python consumer (and one
#                         kafka2pg run on the same sample); 0 skips Python
#   PEERS_RUNS=3          repetitions per mode (medians are reported)
#   PEERS_MODES="insert upsert"
#   PEERS_BACKLOG=1       0: skip the upsert runs of kafka2pg with the backlog
#                         merge (its defaults in a --stop-at-end run; the other
#                         upsert runs set batch.backlog_merge: false)
#   PEERS_TIMEOUT=1200    seconds one peer run may take before it is stopped
#   PEERS_RETRIES=2       times a run is repeated when PostgreSQL or the Kafka
#                         broker restarted during it (the services are shared;
#                         a run that fails for any other reason stops the
#                         benchmark)
#   PEERS_ENFORCE=0       1: exit 2 when a target is missed
#   PEERS_DOC=docs/benchmarks.md   ("" = do not write it)
#   PEERS_WORK=bin/bench-peers     scratch files, logs, generated configs
#   PEERS_DB=kafka2pg_peers        database (dropped and created)
#   PEERS_PREFIX=peers_   prefix of every topic and consumer group (Connect
#                         names a sink's group connect-<connector name>, and
#                         the connector is named PEERS_PREFIX…); all are
#                         deleted on exit
#   PEERS_KEEP=0          1: keep the database, with each peer's final table
#                         of its last run renamed kept_<mode>_<dataset>_<peer>
#                         (the e2e test compares them)
#   PEERS_KAFKA2PG_BIN=bin/kafka2pg
#   PEERS_JDBC_PARAMS="stringtype=unspecified&reWriteBatchedInserts=true"
#                         query parameters of Debezium's connection.url
#   KAFKA2PG_CACHE=$HOME/.cache/kafka2pg   downloads, kept across runs:
#                         peers/connect-<v>/libs (mvn, bench/peers/pom.xml),
#                         peers/debezium-jdbc-<v> (the plugin archive from
#                         Maven Central), peers/venv-<hash> (pip,
#                         bench/peers/requirements.txt)
#
# Needs Go, Java 17, Maven, Python 3 and the services (scripts/services.sh up
# is run here); as root it apt-get installs what else is missing (time,
# python3-venv). Loads go to 127.0.0.1 only; every run is bounded by
# PEERS_TIMEOUT, and Connect and the consumers are stopped on exit.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and printf use '.' as the decimal point

cd "$(dirname "${BASH_SOURCE[0]}")/.."

COUNT=${PEERS_COUNT:-1000000}
SAMPLE=${PEERS_SAMPLE:-20000}
RUNS=${PEERS_RUNS:-3}
MODES=${PEERS_MODES:-insert upsert}
BACKLOG=${PEERS_BACKLOG:-1}
TIMEOUT=${PEERS_TIMEOUT:-1200}
ENFORCE=${PEERS_ENFORCE:-0}
DOC=${PEERS_DOC-docs/benchmarks.md}
WORK=${PEERS_WORK:-bin/bench-peers}
DB=${PEERS_DB:-kafka2pg_peers}
PREFIX=${PEERS_PREFIX:-peers_}
KEEP=${PEERS_KEEP:-0}
RETRIES=${PEERS_RETRIES:-2}
BIN=${PEERS_KAFKA2PG_BIN:-bin/kafka2pg}
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE="${KAFKA2PG_CACHE:-$HOME/.cache/kafka2pg}/peers"

PARTITIONS=8
BATCH=10000                             # kafka2pg batch.max_rows and Debezium batch.size
CONNECT_VERSION=4.1.1                   # Kafka Connect = the broker's version
DEBEZIUM_VERSIONS=(3.6.1.Final 3.6.0.Final) # the first one Maven Central serves wins
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
JVM_OPTS=(-Xms256m -Xmx2g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true) # connect-standalone.sh's defaults
JDBC_PARAMS=${PEERS_JDBC_PARAMS:-stringtype=unspecified&reWriteBatchedInserts=true} # Debezium's connection.url
declare -A TARGET=([debezium_speed]=10 [debezium_cpu]=15 [python_speed]=300)
COLS="order_id, customer_id, status, amount, currency, items, express, created_at, version"

log() { printf '[bench-peers] %s\n' "$*" >&2; }
die() { printf '[bench-peers] ERROR: %s\n' "$*" >&2; exit 1; }

posint() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
posint "$RUNS" || die "PEERS_RUNS must be a positive integer, not '$RUNS'"
{ posint "$COUNT" && [ "$COUNT" -ge 16 ]; } || die "PEERS_COUNT must be an integer ≥ 16, not '$COUNT'"
{ [ "$SAMPLE" = 0 ] || { posint "$SAMPLE" && [ "$SAMPLE" -ge 16 ]; }; } || die "PEERS_SAMPLE must be 0 or an integer ≥ 16, not '$SAMPLE'"
[[ "$RETRIES" =~ ^[0-9]+$ ]] || die "PEERS_RETRIES must be a number, not '$RETRIES'"
posint "$TIMEOUT" || die "PEERS_TIMEOUT must be a positive number of seconds, not '$TIMEOUT'"
for m in $MODES; do
  case "$m" in insert | upsert) ;; *) die "PEERS_MODES: unknown mode '$m' (insert, upsert)" ;; esac
done
[[ "$PREFIX" =~ ^[a-z][a-z0-9_]{4,}_$ ]] || die "PEERS_PREFIX='$PREFIX' must be lower case, at least 6 characters, ending with _"
[[ "$DB" =~ ^[a-z][a-z0-9_]*$ ]] || die "PEERS_DB='$DB' must be a lower-case identifier"
case "$WORK" in "" | / | . | .. | "$HOME") die "PEERS_WORK='$WORK' is not a scratch directory" ;; esac
if [ "$SAMPLE" -gt "$COUNT" ]; then SAMPLE=$COUNT; fi

T_START=$SECONDS

# ---- tools ------------------------------------------------------------------------
apt_install() { # packages…; only as root (CI), else say what is missing
  [ "$(id -u)" = 0 ] || die "missing: $* (install the Debian package(s) $*, or run as root)"
  log "installing $* (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null >&2 \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2 \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null >&2; } \
    || die "apt-get install $* failed"
}
command -v go >/dev/null || die "go is not installed"
command -v java >/dev/null || die "java is not installed (Kafka Connect needs Java 17+)"
command -v mvn >/dev/null || die "mvn is not installed (needed once to fetch Kafka Connect and Debezium)"
command -v python3 >/dev/null || die "python3 is not installed"
[ -x /usr/bin/time ] || apt_install time

eval "$(scripts/services.sh up)"
BROKERS=$KAFKA2PG_TEST_BROKERS
ADMIN_URL=$KAFKA2PG_TEST_DATABASE_URL
command -v psql >/dev/null || die "psql is not installed"
# postgres://user:password@host:port/postgres?params
[[ "$ADMIN_URL" =~ ^postgres(ql)?://([^:@/]+):([^@/]*)@([^:/]+):([0-9]+)/[^?]*(\?.*)?$ ]] \
  || die "cannot parse KAFKA2PG_TEST_DATABASE_URL (want postgres://user:password@host:port/db)"
PG_USER=${BASH_REMATCH[2]} PG_HOST=${BASH_REMATCH[4]} PG_PORT=${BASH_REMATCH[5]}
# Connect and the Python consumer read the password from the environment.
export PEERS_PG_PASSWORD=${BASH_REMATCH[3]}
export PEERS_DATABASE_URL="postgres://$PG_USER:$PEERS_PG_PASSWORD@$PG_HOST:$PG_PORT/$DB?sslmode=disable"
[[ "$PEERS_PG_PASSWORD" != *%* ]] || die "a percent-encoded password in KAFKA2PG_TEST_DATABASE_URL is not supported"

# ---- installs, cached and idempotent --------------------------------------------------
mkdir -p "$CACHE"
exec 8>"$CACHE/.lock"
flock -w 1800 8 || die "could not take the lock $CACHE/.lock"

CONNECT_HOME="$CACHE/connect-$CONNECT_VERSION"
if [ ! -f "$CONNECT_HOME/.complete" ]; then
  log "fetching Kafka Connect $CONNECT_VERSION (connect-runtime and its dependencies) from Maven Central into $CONNECT_HOME"
  rm -rf "$CONNECT_HOME"
  mkdir -p "$CONNECT_HOME"
  mvn -B -q -Dstyle.color=never -f bench/peers/pom.xml "$DEP_PLUGIN:copy-dependencies" \
    -Dconnect.version="$CONNECT_VERSION" -DincludeScope=runtime -DoutputDirectory="$CONNECT_HOME/libs" \
    </dev/null >"$CONNECT_HOME/mvn.log" 2>&1 \
    || { tail -n 30 "$CONNECT_HOME/mvn.log" >&2; die "mvn could not fetch Kafka Connect $CONNECT_VERSION"; }
  [ -f "$CONNECT_HOME/libs/connect-runtime-$CONNECT_VERSION.jar" ] || die "connect-runtime-$CONNECT_VERSION.jar missing after mvn"
  touch "$CONNECT_HOME/.complete"
fi

DEBEZIUM_VERSION="" DEBEZIUM_HOME=""
for v in "${DEBEZIUM_VERSIONS[@]}"; do
  if [ -f "$CACHE/debezium-jdbc-$v/.complete" ]; then DEBEZIUM_VERSION=$v DEBEZIUM_HOME="$CACHE/debezium-jdbc-$v"; break; fi
done
if [ -z "$DEBEZIUM_VERSION" ]; then
  for v in "${DEBEZIUM_VERSIONS[@]}"; do
    d="$CACHE/debezium-jdbc-$v"
    rm -rf "$d"
    mkdir -p "$d/archive" "$d/plugins"
    log "fetching io.debezium:debezium-connector-jdbc:$v:tar.gz:plugin from Maven Central"
    # The plugin archive, not the artifact's dependency list (3.6.0's does not
    # resolve on Maven Central).
    if mvn -B -q -Dstyle.color=never "$DEP_PLUGIN:copy" -Dartifact="io.debezium:debezium-connector-jdbc:$v:tar.gz:plugin" \
      -DoutputDirectory="$d/archive" </dev/null >"$d/mvn.log" 2>&1; then
      tar -xzf "$d/archive/debezium-connector-jdbc-$v-plugin.tar.gz" -C "$d/plugins" \
        || die "cannot unpack the Debezium JDBC plugin archive $v"
      [ -f "$d/plugins/debezium-connector-jdbc/debezium-connector-jdbc-$v.jar" ] || die "unexpected layout of the Debezium JDBC plugin archive $v"
      rm -rf "$d/archive"
      touch "$d/.complete"
      DEBEZIUM_VERSION=$v DEBEZIUM_HOME=$d
      break
    fi
    log "Debezium JDBC $v is not on Maven Central (see $d/mvn.log); trying the next version"
  done
  [ -n "$DEBEZIUM_VERSION" ] || die "no Debezium JDBC plugin archive of ${DEBEZIUM_VERSIONS[*]} could be fetched"
fi

VENV="$CACHE/venv-$(sha256sum <bench/peers/requirements.txt | cut -c1-12)"
if [ "$SAMPLE" != 0 ] && [ ! -f "$VENV/.complete" ]; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >&2; then
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV" >&2 || die "python3 -m venv failed"
  fi
  log "installing $(grep -v '^#' bench/peers/requirements.txt | tr '\n' ' ')into $VENV (pip)"
  "$VENV/bin/pip" install -q --disable-pip-version-check --only-binary=:all: -r bench/peers/requirements.txt >&2 \
    || die "pip install -r bench/peers/requirements.txt failed"
  touch "$VENV/.complete"
fi
exec 8>&-

# ---- scratch, binaries, cleanup -------------------------------------------------------
rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
case "$WORK" in *"'"* | *" "*) die "the scratch path $WORK contains a quote or a space" ;; esac
if [ ! -x "$BIN" ]; then
  [ "$BIN" = bin/kafka2pg ] || die "PEERS_KAFKA2PG_BIN=$BIN is not executable"
  make build >&2
fi
log "building the producer, bench/dumpcsv and bench/peers/peertool"
go build -o "$WORK/produce" ./examples/orders/produce
go build -o "$WORK/dumpcsv" ./bench/dumpcsv
go build -o "$WORK/peertool" ./bench/peers/peertool

# Every long-lived process a run starts (the Connect JVM, kafka2pg and the
# Python consumer under timeout, peertool wait) is tracked by a file named
# after its pid, so that it is stopped whatever happens: at exit, and after a
# run (which runs in a subshell; see attempt below) failed.
PIDDIR="$WORK/pids"
mkdir -p "$PIDDIR"
track() { : >"$PIDDIR/$1"; }
untrack() { rm -f "$PIDDIR/$1"; }
stop_pid() { # $1 = pid; TERM, then KILL after 10 s
  kill -TERM "$1" 2>/dev/null || return 0
  local _
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
stop_tracked() {
  local f
  for f in "$PIDDIR"/*; do
    [ -e "$f" ] || continue
    stop_pid "${f##*/}"
    rm -f "$f"
  done
}

psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$ADMIN_URL" "$@"; }
pg() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$PEERS_DATABASE_URL" "$@"; }
pgv() { pg -A -t "$@"; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
fmt() { awk -v v="$1" -v d="${2:-0}" 'BEGIN { if (v == "n/a" || v == "") print "n/a"; else printf "%.*f", d, v }'; }
fmt_rate() { printf '%s' "$(fmt "$1")" | rev | sed -E 's/([0-9]{3})/\1,/g; s/,$//' | rev; }
median() { # numbers as arguments
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) printf "%.6f", v[(NR + 1) / 2]; else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
spread() { # numbers as arguments → "min–max"
  printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s %s", lo, hi }'
}

cleanup() {
  local rc=$?
  stop_tracked
  "$WORK/peertool" cleanup -brokers "$BROKERS" -prefix "$PREFIX" 2>/dev/null || true
  if [ "$KEEP" != 1 ]; then
    psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" 2>/dev/null || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- CPU accounting (as scripts/bench.sh) --------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
proc_ticks() { # $1 = pid, $2 = self | children
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 0
  local st
  st=$(cat "/proc/$1/stat") || return 0
  st=${st##*) }
  if [ "$2" = self ]; then awk '{ print $12 + $13 }' <<<"$st"; else awk '{ print $14 + $15 }' <<<"$st"; fi
}
ticks_delta_s() { if [ -n "$1" ] && [ -n "$2" ]; then calc "($2 - $1) / $CLK_TCK"; else printf 'n/a'; fi; }
wait_backends_gone() {
  local _ n
  for _ in $(seq 1 100); do
    n=$(pgv -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    [ "$n" = 0 ] && return 0
    sleep 0.1
  done
  log "warning: $n backends of $DB still alive"
}
time_field() { # $1 = /usr/bin/time -v file, $2 = field label
  sed -n "s/^[[:space:]]*$2: //p" "$1"
}

# ---- database and tables ---------------------------------------------------------------
log "recreating database $DB"
psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
psql_admin -c "CREATE DATABASE $DB"
# The checkpointer's parent is the postmaster; attempt looks it up before
# every run, since another user of the server may have restarted it.
postmaster_pid() {
  awk '{ print $4 }' "/proc/$(pgv -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")/stat" 2>/dev/null || true
}
POSTMASTER_PID=$(postmaster_pid)
[ -n "$POSTMASTER_PID" ] || log "warning: cannot find the postmaster's pid; PostgreSQL CPU will read n/a"

create_table() { # $1 = mode
  pg -c "DROP TABLE IF EXISTS orders"
  if [ "$1" = insert ]; then
    sed 's/ PRIMARY KEY//' examples/orders/schema.sql | pg -f -
  else
    pg -f examples/orders/schema.sql
  fi
  pg -c "ALTER TABLE orders SET (autovacuum_enabled = off)"
  local pk want=1
  [ "$1" = insert ] && want=0
  pk=$(pgv -c "SELECT count(*) FROM pg_index WHERE indrelid = 'orders'::regclass AND indisprimary")
  [ "$pk" = "$want" ] || die "orders table for $1 mode: expected $want primary key(s), found $pk"
}
fingerprint() {
  pgv -c "SELECT count(*) || ':' || coalesce(sum(hashtextextended(($COLS)::text, 0)::numeric), 0) FROM orders"
}
checkpoint() { pg -c CHECKPOINT; }

# ---- datasets ----------------------------------------------------------------------------
# A dataset is "<mode>:full" (PEERS_COUNT events) or "<mode>:sample"
# (PEERS_SAMPLE events; the full one when the sizes are equal).
declare -A DS_COUNT=() DS_ROWS=() DS_TOPIC=() DS_DBZ_TOPIC=() DS_BYTES=() DS_DBZ_BYTES=() REF_FP=()

prepare_dataset() { # $1 = mode, $2 = full | sample, $3 = events
  local mode=$1 kind=$2 n=$3 ds="$1:$2" plain keys out events distinct csv
  plain="${PREFIX}${mode}_${kind}_plain"
  keys=$n
  [ "$mode" = upsert ] && keys=$((n / 2))
  log "[$ds] producing $n events ($keys possible order ids, no tombstones) to $plain ($PARTITIONS partitions)"
  "$WORK/produce" -brokers "$BROKERS" -topic "$plain" -partitions "$PARTITIONS" -count "$n" -keys "$keys" -tombstones 0 -recreate >&2
  csv="$WORK/$mode-$kind.csv"
  out=$("$WORK/dumpcsv" -brokers "$BROKERS" -topic "$plain" -out "$csv")
  log "[$ds] $out"
  events=$(sed -n 's/.*events=\([0-9]*\).*/\1/p' <<<"$out")
  distinct=$(sed -n 's/.*distinct_keys=\([0-9]*\).*/\1/p' <<<"$out")
  [ "$events" = "$n" ] || die "[$ds] the topic holds $events events, expected $n"
  DS_COUNT[$ds]=$n
  if [ "$mode" = insert ]; then DS_ROWS[$ds]=$n; else DS_ROWS[$ds]=$distinct; fi

  DS_TOPIC[$ds]="${PREFIX}${mode}_${kind}"
  DS_DBZ_TOPIC[$ds]="${PREFIX}${mode}_${kind}_dbz"
  out=$("$WORK/peertool" envelope -brokers "$BROKERS" -from "$plain" -to "${DS_TOPIC[$ds]}" -items struct)
  DS_BYTES[$ds]=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$out")
  if [ "$kind" = full ]; then
    out=$("$WORK/peertool" envelope -brokers "$BROKERS" -from "$plain" -to "${DS_DBZ_TOPIC[$ds]}" -items json-string)
    DS_DBZ_BYTES[$ds]=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$out")
  fi
  log "[$ds] Connect JSON envelopes: ${DS_TOPIC[$ds]} ($(calc "${DS_BYTES[$ds]} / $n" | cut -d. -f1) bytes/event)${DS_DBZ_BYTES[$ds]:+, ${DS_DBZ_TOPIC[$ds]} ($(calc "${DS_DBZ_BYTES[$ds]} / $n" | cut -d. -f1) bytes/event)}"

  if [ "$mode" = insert ]; then
    printf '\\copy orders (%s) FROM %s WITH (FORMAT csv)\n' "$COLS" "'$csv'" >"$WORK/ceiling-$mode-$kind.sql"
  else
    local set="" c
    for c in ${COLS//,/}; do
      [ "$c" = order_id ] && continue
      set+="${set:+, }$c = EXCLUDED.$c"
    done
    cat >"$WORK/ceiling-$mode-$kind.sql" <<EOF
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
}

# Per-run results, keyed "<dataset>,<peer>,<run>". A run executes in a
# subshell (attempt below): save_results hands them back through RUN_ENV.
declare -A SECS=() CPU=() PGCPU=() RSS=() FIRST=()
RUN_ENV="$WORK/run.env"
save_results() { # $1 = dataset, $2 = peer, $3 = run
  local k="$1,$2,$3"
  {
    [ -z "${SECS[$k]+x}" ] || printf 'SECS[%q]=%q\n' "$k" "${SECS[$k]}"
    [ -z "${CPU[$k]+x}" ] || printf 'CPU[%q]=%q\n' "$k" "${CPU[$k]}"
    [ -z "${RSS[$k]+x}" ] || printf 'RSS[%q]=%q\n' "$k" "${RSS[$k]}"
    [ -z "${PGCPU[$k]+x}" ] || printf 'PGCPU[%q]=%q\n' "$k" "${PGCPU[$k]}"
    [ -z "${FIRST[$k]+x}" ] || printf 'FIRST[%q]=%q\n' "$k" "${FIRST[$k]}"
    printf 'REF_FP[%q]=%q\n' "$1" "${REF_FP[$1]}"
  } >"$RUN_ENV"
}

# The services are shared: another user may restart PostgreSQL or the broker
# during a run, which fails the run or slows it down. services_epoch changes
# when either restarts; attempt repeats a run during which it changed (up to
# PEERS_RETRIES times), and fails on any other error.
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
attempt() { # $1 = run function, $2 = dataset, $3 = run
  local try rc pid before after
  for try in $(seq 0 "$RETRIES"); do
    before=$(services_epoch)
    POSTMASTER_PID=$(postmaster_pid)
    : >"$RUN_ENV"
    rc=0
    ("$@") &
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
    log "[$2] PostgreSQL or the Kafka broker restarted during $1 run $3 (attempt $((try + 1))); repeating the run"
  done
  die "[$2] $1 run $3 was disturbed by service restarts $((RETRIES + 1)) times"
}

# check_run verifies the table and the group's committed offsets, then keeps
# the table (PEERS_KEEP=1) and records the first-row time.
check_run() { # $1 = dataset, $2 = peer, $3 = run, $4 = group ("" for the ceiling), $5 = topic, $6 = t0
  local ds=$1 peer=$2 run=$3 group=$4 topic=$5 t0=$6 fp n what="$2 (run $3)"
  fp=$(fingerprint)
  n=${fp%%:*}
  [ "$n" = "${DS_ROWS[$ds]}" ] || die "[$ds] $what left $n rows in orders, expected ${DS_ROWS[$ds]}"
  if [ -z "${REF_FP[$ds]:-}" ]; then
    REF_FP[$ds]=$fp
  elif [ "$fp" != "${REF_FP[$ds]}" ]; then
    die "[$ds] $what: the table's contents differ from the ceiling's (fingerprint $fp, expected ${REF_FP[$ds]})"
  fi
  if [ -n "$group" ]; then
    "$WORK/peertool" wait -brokers "$BROKERS" -group "$group" -topic "$topic" -timeout 30s >/dev/null \
      || die "[$ds] $what: group $group has not committed the end offsets of $topic"
  fi
  local first
  first=$(pgv -c "SELECT extract(epoch FROM min(ingested_at)) FROM orders")
  FIRST[$ds,$peer,$run]=$(calc "$first - $t0")
  if [ "$KEEP" = 1 ]; then
    local kept="kept_${ds/:/_}_$peer"
    pg -c "DROP TABLE IF EXISTS $kept" -c "ALTER TABLE orders RENAME TO $kept"
  fi
}

# ---- the peers -----------------------------------------------------------------------------
run_ceiling() { # $1 = dataset, $2 = run
  local ds=$1 run=$2 mode=${1%%:*} kind=${1#*:} t0 t1 c0 c1
  create_table "$mode"
  checkpoint
  wait_backends_gone
  c0=$(proc_ticks "$POSTMASTER_PID" children)
  t0=$EPOCHREALTIME
  psql -X -q -v ON_ERROR_STOP=1 "$PEERS_DATABASE_URL" -f "$WORK/ceiling-$mode-$kind.sql" </dev/null >/dev/null \
    || die "[$ds] the ceiling's psql failed"
  t1=$EPOCHREALTIME
  wait_backends_gone
  c1=$(proc_ticks "$POSTMASTER_PID" children)
  SECS[$ds,ceiling,$run]=$(calc "$t1 - $t0")
  PGCPU[$ds,ceiling,$run]=$(ticks_delta_s "$c0" "$c1")
  check_run "$ds" ceiling "$run" "" "" "$t0"
  save_results "$ds" ceiling "$run"
  log "[$ds] run $run ceiling:  $(fmt "${SECS[$ds,ceiling,$run]}" 2) s, $(fmt_rate "$(calc "${DS_COUNT[$ds]} / ${SECS[$ds,ceiling,$run]}")") rows/s"
}

run_kafka2pg() { # $1 = dataset, $2 = run; $3 = kafka2pg_bl for the upsert run with the backlog merge
  local ds=$1 run=$2 mode=${1%%:*} topic=${DS_TOPIC[$1]} peer=${3:-kafka2pg} group cfg tf lf t0 t1 c0 c1 pid rc=0 extra=""
  # Upsert batch by batch unless this is the backlog merge's run, which
  # keeps the default (auto: a --stop-at-end run merges).
  if [ "$mode" = upsert ] && [ "$peer" = kafka2pg ]; then extra="  backlog_merge: false"; fi
  group="${PREFIX}k2p_${mode}_${ds#*:}_${run}_$(date +%s%N)"
  cfg="$WORK/$peer-${ds/:/-}-$run.yaml" tf="$WORK/$peer-${ds/:/-}-$run.time" lf="$WORK/$peer-${ds/:/-}-$run.log"
  cat >"$cfg" <<EOF
# Generated by scripts/bench-peers.sh.
kafka:
  brokers: ["$BROKERS"]
  group: $group
  topics: [$topic]
  start: earliest
postgres:
  url: \${PEERS_DATABASE_URL}
  max_conns: 4
batch:
  max_rows: $BATCH
  max_bytes: 16MiB
  max_wait: 100ms
$extra
routes:
  - topic: $topic
    table: public.orders
    value: {format: json-connect}
    key: {format: string}
    mode: $mode
EOF
  create_table "$mode"
  checkpoint
  wait_backends_gone
  c0=$(proc_ticks "$POSTMASTER_PID" children)
  t0=$EPOCHREALTIME
  timeout -k 10 "$TIMEOUT" /usr/bin/time -v -o "$tf" "$BIN" run --config "$cfg" --stop-at-end 2>"$lf" &
  pid=$!
  track "$pid"
  wait "$pid" || rc=$?
  t1=$EPOCHREALTIME
  untrack "$pid"
  if [ "$rc" != 0 ]; then
    tail -n 20 "$lf" >&2
    die "[$ds] $peer run $run exited with status $rc (log: $lf)"
  fi
  wait_backends_gone
  c1=$(proc_ticks "$POSTMASTER_PID" children)
  SECS[$ds,$peer,$run]=$(calc "$t1 - $t0")
  CPU[$ds,$peer,$run]=$(calc "$(time_field "$tf" 'User time (seconds)') + $(time_field "$tf" 'System time (seconds)')")
  RSS[$ds,$peer,$run]=$(calc "$(time_field "$tf" 'Maximum resident set size (kbytes)') / 1024")
  PGCPU[$ds,$peer,$run]=$(ticks_delta_s "$c0" "$c1")
  check_run "$ds" "$peer" "$run" "$group" "$topic" "$t0"
  save_results "$ds" "$peer" "$run"
  log "[$ds] run $run $peer: $(fmt "${SECS[$ds,$peer,$run]}" 2) s, $(fmt_rate "$(calc "${DS_COUNT[$ds]} / ${SECS[$ds,$peer,$run]}")") rows/s, CPU $(fmt "${CPU[$ds,$peer,$run]}" 1) s"
}

connector_props() { # $1 = mode, $2 = connector name, $3 = topic; prints the connector's properties
  sed -e "s|@NAME@|$2|g" -e "s|@TOPIC@|$3|g" -e "s|@TASKS@|$PARTITIONS|g" -e "s|@BATCH@|$BATCH|g" \
    -e "s|@PG_HOST@|$PG_HOST|g" -e "s|@PG_PORT@|$PG_PORT|g" -e "s|@PG_DB@|$DB|g" -e "s|@PG_USER@|$PG_USER|g" \
    -e "s|@JDBC_PARAMS@|${JDBC_PARAMS//&/\\&}|g" -e "s|@TABLE@|orders|g" bench/peers/debezium-jdbc-sink.properties.in
  if [ "$1" = insert ]; then
    printf '%s\n' '# insert mode: every record is a new row; the table has no primary key.' \
      'insert.mode=insert' 'primary.key.mode=none'
  else
    printf '%s\n' '# upsert mode: INSERT … ON CONFLICT (order_id) DO UPDATE; the reduction' \
      '# buffer keeps the last record per key within a batch (a batch must not' \
      '# update a row twice).' \
      'insert.mode=upsert' 'primary.key.mode=record_value' 'primary.key.fields=order_id' 'use.reduction.buffer=true'
  fi
}

run_debezium() { # $1 = dataset, $2 = run
  local ds=$1 run=$2 mode=${1%%:*} topic=${DS_DBZ_TOPIC[$1]} name worker conn lf wf t0 t1 c0 c1 j1 hwm jpid waitpid out
  name="${PREFIX}dbz_${mode}_${run}_$(date +%s%N)"
  worker="$WORK/connect-worker-${ds/:/-}-$run.properties" conn="$WORK/debezium-${ds/:/-}-$run.properties"
  lf="$WORK/connect-${ds/:/-}-$run.log" wf="$WORK/connect-${ds/:/-}-$run.wait"
  sed -e "s|@BROKERS@|$BROKERS|g" -e "s|@WORK@|$WORK|g" -e "s|@NAME@|$name|g" -e "s|@BATCH@|$BATCH|g" \
    -e "s|@PLUGIN_PATH@|$DEBEZIUM_HOME/plugins|g" bench/peers/connect-worker.properties.in >"$worker"
  connector_props "$mode" "$name" "$topic" >"$conn"
  create_table "$mode"
  checkpoint
  wait_backends_gone
  c0=$(proc_ticks "$POSTMASTER_PID" children)
  t0=$EPOCHREALTIME
  java "${JVM_OPTS[@]}" -Dlog4j2.configurationFile="$PWD/bench/peers/connect-log4j2.properties" \
    -cp "$CONNECT_HOME/libs/*" org.apache.kafka.connect.cli.ConnectStandalone "$worker" "$conn" >"$lf" 2>&1 &
  jpid=$!
  track "$jpid"
  "$WORK/peertool" wait -brokers "$BROKERS" -group "connect-$name" -topic "$topic" -timeout "${TIMEOUT}s" >"$wf" 2>&1 &
  waitpid=$!
  track "$waitpid"
  while kill -0 "$waitpid" 2>/dev/null; do
    if ! kill -0 "$jpid" 2>/dev/null || grep -q 'Task is being killed and will not recover' "$lf"; then
      grep -m5 -E 'ERROR|Caused by' "$lf" >&2 || tail -n 20 "$lf" >&2
      die "[$ds] the Connect worker or a Debezium task failed in run $run (log: $lf)"
    fi
    sleep 0.2
  done
  if ! wait "$waitpid"; then
    grep -m5 -E 'ERROR|Caused by' "$lf" >&2 || true
    die "[$ds] Debezium run $run: $(cat "$wf") (log: $lf)"
  fi
  untrack "$waitpid"
  j1=$(proc_ticks "$jpid" self)
  hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$jpid/status" 2>/dev/null || true)
  stop_pid "$jpid"
  untrack "$jpid"
  out=$(cat "$wf")
  t1=$(sed -n 's/.*done_at=\([0-9.]*\).*/\1/p' <<<"$out")
  [ -n "$t1" ] || die "[$ds] Debezium run $run: no completion time from peertool wait ($out)"
  wait_backends_gone
  c1=$(proc_ticks "$POSTMASTER_PID" children)
  SECS[$ds,debezium,$run]=$(calc "$t1 - $t0")
  CPU[$ds,debezium,$run]=$(ticks_delta_s 0 "$j1")
  RSS[$ds,debezium,$run]=$(if [ -n "$hwm" ]; then calc "$hwm / 1024"; else printf 'n/a'; fi)
  PGCPU[$ds,debezium,$run]=$(ticks_delta_s "$c0" "$c1")
  check_run "$ds" debezium "$run" "connect-$name" "$topic" "$t0"
  save_results "$ds" debezium "$run"
  log "[$ds] run $run debezium: $(fmt "${SECS[$ds,debezium,$run]}" 2) s, $(fmt_rate "$(calc "${DS_COUNT[$ds]} / ${SECS[$ds,debezium,$run]}")") rows/s, JVM CPU $(fmt "${CPU[$ds,debezium,$run]}" 1) s"
}

run_python() { # $1 = dataset, $2 = run
  local ds=$1 run=$2 mode=${1%%:*} topic=${DS_TOPIC[$1]} group tf lf t0 t1 c0 c1 pid rc=0
  group="${PREFIX}py_${mode}_${run}_$(date +%s%N)"
  tf="$WORK/python-${ds/:/-}-$run.time" lf="$WORK/python-${ds/:/-}-$run.log"
  create_table "$mode"
  checkpoint
  wait_backends_gone
  c0=$(proc_ticks "$POSTMASTER_PID" children)
  t0=$EPOCHREALTIME
  DATABASE_URL=$PEERS_DATABASE_URL timeout -k 10 "$TIMEOUT" /usr/bin/time -v -o "$tf" \
    "$VENV/bin/python" bench/peers/consumer.py --brokers "$BROKERS" --topic "$topic" --group "$group" \
    --table orders --mode "$mode" --timeout "$TIMEOUT" >"$lf" 2>&1 &
  pid=$!
  track "$pid"
  wait "$pid" || rc=$?
  t1=$EPOCHREALTIME
  untrack "$pid"
  if [ "$rc" != 0 ]; then
    tail -n 20 "$lf" >&2
    die "[$ds] the Python consumer exited with status $rc in run $run (log: $lf)"
  fi
  wait_backends_gone
  c1=$(proc_ticks "$POSTMASTER_PID" children)
  SECS[$ds,python,$run]=$(calc "$t1 - $t0")
  CPU[$ds,python,$run]=$(calc "$(time_field "$tf" 'User time (seconds)') + $(time_field "$tf" 'System time (seconds)')")
  RSS[$ds,python,$run]=$(calc "$(time_field "$tf" 'Maximum resident set size (kbytes)') / 1024")
  PGCPU[$ds,python,$run]=$(ticks_delta_s "$c0" "$c1")
  check_run "$ds" python "$run" "$group" "$topic" "$t0"
  save_results "$ds" python "$run"
  log "[$ds] run $run python: $(fmt "${SECS[$ds,python,$run]}" 2) s, $(fmt_rate "$(calc "${DS_COUNT[$ds]} / ${SECS[$ds,python,$run]}")") rows/s"
}

# ---- versions and machine ------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
PG_VERSION=$(pgv -c "SHOW server_version")
PG_SETTINGS=$(pgv -F' ' -c "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'max_wal_size', 'fsync', 'synchronous_commit')")
KAFKA_VERSION=$(cat "$KAFKA2PG_KAFKA_HOME/VERSION" 2>/dev/null || echo unknown)
GO_VERSION=$(go env GOVERSION)
K2P_VERSION=$("$BIN" version 2>/dev/null || echo unknown)
JAVA_VERSION=$(java -version 2>&1 | head -n1 | tr -d '"')
PG_JDBC=$(basename "$(compgen -G "$DEBEZIUM_HOME/plugins/debezium-connector-jdbc/postgresql-*.jar" | head -n1)" .jar)
HIBERNATE=$(basename "$(compgen -G "$DEBEZIUM_HOME/plugins/debezium-connector-jdbc/hibernate-core-*.jar" | head -n1)" .jar)
PY_VERSIONS=""
if [ "$SAMPLE" != 0 ]; then
  PY_VERSIONS=$("$VENV/bin/python" -c 'import sys, confluent_kafka, psycopg
v, lib, pq = confluent_kafka.version(), confluent_kafka.libversion(), psycopg.pq.version()
v = v[0] if isinstance(v, tuple) else v
print("Python %s; confluent-kafka %s (librdkafka %s); psycopg %s (libpq %d.%d)" % (sys.version.split()[0],
  v, lib[0], psycopg.__version__, pq // 10000, pq % 100))')
fi
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_GIB=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
NPROC=$(nproc)
KERNEL=$(uname -sr)

# ---- the runs ------------------------------------------------------------------------------
PY_DS=""
for mode in $MODES; do
  prepare_dataset "$mode" full "$COUNT"
  if [ "$SAMPLE" != 0 ] && [ "$SAMPLE" != "$COUNT" ]; then prepare_dataset "$mode" sample "$SAMPLE"; fi
  for run in $(seq 1 "$RUNS"); do
    attempt run_ceiling "$mode:full" "$run"
    attempt run_kafka2pg "$mode:full" "$run"
    if [ "$BACKLOG" = 1 ] && [ "$mode" = upsert ]; then attempt run_kafka2pg "$mode:full" "$run" kafka2pg_bl; fi
    attempt run_debezium "$mode:full" "$run"
  done
  if [ "$SAMPLE" != 0 ]; then
    if [ "$SAMPLE" = "$COUNT" ]; then
      PY_DS="$mode:full"
    else
      PY_DS="$mode:sample"
      attempt run_ceiling "$PY_DS" 1
      attempt run_kafka2pg "$PY_DS" 1
    fi
    attempt run_python "$PY_DS" 1
  fi
  rm -f "$WORK/$mode-"*.csv
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$((SECONDS - T_START))

# ---- report ----------------------------------------------------------------------------------
verdict() { if [ "$1" = 1 ]; then printf 'met'; else printf '**not met**'; fi; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
rate() { calc "${DS_COUNT[$1]} / ${SECS[$1,$2,$3]}"; }              # dataset, peer, run
per_m() { calc "${2} * 1000000 / ${DS_COUNT[$1]}"; }                  # dataset, seconds → s per 1M rows
med_of() { # $1 = dataset, $2 = peer, $3 = name of a per-run array; median over the runs
  local -n arr=$3
  local vals=() r
  for r in $(seq 1 "$RUNS"); do vals+=("${arr[$1,$2,$r]}"); done
  median "${vals[@]}"
}
declare -A MED_KD=() MED_KRATE=() MED_CPU=() MED_PY=()
ALL_MET=1
RESULTS="$WORK/results.md"
cmd_env="PEERS_COUNT=$COUNT PEERS_SAMPLE=$SAMPLE PEERS_RUNS=$RUNS"
[ "$MODES" = "insert upsert" ] || cmd_env+=" PEERS_MODES=\"$MODES\""
{
  printf '_Generated by `make bench-peers` (scripts/bench-peers.sh) on %s; do not edit by hand._\n\n' "$(date -u +'%Y-%m-%d %H:%M UTC')"
  printf 'Command: `%s make bench-peers` (scripts/bench-peers.sh took %d min %02d s, after `make build`).\n\n' "$cmd_env" $((ELAPSED / 60)) $((ELAPSED % 60))
  printf '| machine and versions | |\n|---|---|\n'
  printf '| CPU | %s × %s |\n' "$NPROC" "$CPU_MODEL"
  printf '| memory | %s GiB |\n' "$MEM_GIB"
  printf '| kernel | %s |\n' "$KERNEL"
  printf '| PostgreSQL | %s (%s) |\n' "$PG_VERSION" "$PG_SETTINGS"
  printf '| Kafka | %s (KRaft, one node, loopback), %d partitions |\n' "$KAFKA_VERSION" "$PARTITIONS"
  printf '| kafka2pg | %s, %s; batch.max_rows %d, max_conns 4, value format json-connect, at-least-once |\n' "${K2P_VERSION#kafka2pg }" "$GO_VERSION" "$BATCH"
  printf '| Kafka Connect | connect-runtime %s, standalone worker, %s, `%s` |\n' "$CONNECT_VERSION" "$JAVA_VERSION" "${JVM_OPTS[*]}"
  printf '| Debezium JDBC sink | %s (plugin archive from Maven Central; %s, %s); tasks.max %d, batch.size %d, JDBC `%s` |\n' \
    "$DEBEZIUM_VERSION" "$PG_JDBC" "$HIBERNATE" "$PARTITIONS" "$BATCH" "$JDBC_PARAMS"
  [ -z "$PY_VERSIONS" ] || printf '| Python consumer | %s |\n' "$PY_VERSIONS"
  printf '| load average | %s before, %s after |\n\n' "$LOAD_BEFORE" "$LOAD_AFTER"

  printf 'Confluent'"'"'s JDBC sink connector is not on Maven Central (it is distributed through Confluent Hub under the Confluent Community License), so it is not measured.\n\n'

  for mode in $MODES; do
    ds="$mode:full"
    if [ "$mode" = insert ]; then
      printf '### insert: %s events, all appended (table without primary key)\n\n' "$COUNT"
    else
      printf '### upsert: %s events, %s distinct order ids (primary key order_id)\n\n' "$COUNT" "${DS_ROWS[$ds]}"
    fi
    printf 'Envelopes: %s bytes/event on average (Debezium'"'"'s topic: %s). Every run left %s rows, fingerprint equal to the ceiling'"'"'s, offsets committed to the end.\n\n' \
      "$(fmt "$(calc "${DS_BYTES[$ds]} / $COUNT")")" "$(fmt "$(calc "${DS_DBZ_BYTES[$ds]} / $COUNT")")" "${DS_ROWS[$ds]}"
    printf '| run | ceiling rows/s | kafka2pg rows/s | Debezium rows/s | kafka2pg ÷ Debezium | kafka2pg ÷ ceiling | Debezium ÷ ceiling |\n|---:|---:|---:|---:|---:|---:|---:|\n'
    cr=() kr=() dr=() kd=() kc=() dc=()
    for run in $(seq 1 "$RUNS"); do
      cr+=("$(rate "$ds" ceiling "$run")") kr+=("$(rate "$ds" kafka2pg "$run")") dr+=("$(rate "$ds" debezium "$run")")
      kd+=("$(calc "${SECS[$ds,debezium,$run]} / ${SECS[$ds,kafka2pg,$run]}")")
      kc+=("$(calc "${SECS[$ds,ceiling,$run]} / ${SECS[$ds,kafka2pg,$run]}")")
      dc+=("$(calc "${SECS[$ds,ceiling,$run]} / ${SECS[$ds,debezium,$run]}")")
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$run" "$(fmt_rate "${cr[-1]}")" "$(fmt_rate "${kr[-1]}")" "$(fmt_rate "${dr[-1]}")" \
        "$(fmt "${kd[-1]}" 1)" "$(fmt "${kc[-1]}" 2)" "$(fmt "${dc[-1]}" 3)"
    done
    read -r lo hi <<<"$(spread "${kd[@]}")"
    MED_KD[$mode]=$(median "${kd[@]}")
    MED_KRATE[$mode]=$(median "${kr[@]}")
    printf '| **median** | **%s** | **%s** | **%s** | **%s** (%s–%s) | **%s** | **%s** |\n\n' \
      "$(fmt_rate "$(median "${cr[@]}")")" "$(fmt_rate "${MED_KRATE[$mode]}")" "$(fmt_rate "$(median "${dr[@]}")")" \
      "$(fmt "${MED_KD[$mode]}" 1)" "$(fmt "$lo" 1)" "$(fmt "$hi" 1)" "$(fmt "$(median "${kc[@]}")" 2)" "$(fmt "$(median "${dc[@]}")" 3)"

    printf 'Per peer (medians of the runs; CPU = user + system seconds; PostgreSQL = its backends, all users of the server; "first row after": seconds from process start to the first committed row, `min(ingested_at)`, mostly start-up):\n\n'
    printf '| peer | wall s per million rows | process CPU s per million rows | PostgreSQL CPU s per million rows | peak RSS MiB | first row after s | rows/s after the first row |\n|---|---:|---:|---:|---:|---:|---:|\n'
    for peer in ceiling kafka2pg debezium; do
      w=$(per_m "$ds" "$(med_of "$ds" $peer SECS)")
      p=n/a r=n/a g=n/a
      if [ "$peer" != ceiling ]; then
        p=$(per_m "$ds" "$(med_of "$ds" $peer CPU)")
        r=$(med_of "$ds" $peer RSS)
      fi
      pgs=() after=()
      for run in $(seq 1 "$RUNS"); do
        pgs+=("${PGCPU[$ds,$peer,$run]}")
        after+=("$(calc "${DS_COUNT[$ds]} / (${SECS[$ds,$peer,$run]} - ${FIRST[$ds,$peer,$run]})")")
      done
      [[ " ${pgs[*]} " == *" n/a "* ]] || g=$(per_m "$ds" "$(median "${pgs[@]}")")
      f=$(med_of "$ds" $peer FIRST)
      label=$peer
      [ "$peer" = ceiling ] && label='ceiling (psql)'
      [ "$peer" = debezium ] && label='Debezium (Connect JVM)'
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(fmt "$w" 1)" "$(fmt "$p" 1)" "$(fmt "$g" 1)" "$(fmt "$r")" "$(fmt "$f" 2)" "$(fmt_rate "$(median "${after[@]}")")"
    done
    if [ "$BACKLOG" = 1 ] && [ "$mode" = upsert ]; then
      printf '\nThe kafka2pg runs above write batch by batch (`batch.backlog_merge: false`). With the defaults, a `--stop-at-end` run merges the backlog (`auto`: staged in unlogged tables and merged once per partition when caught up; docs/operations.md, "Backlog merge"), same data, same repetitions:\n\n'
      printf '| run | kafka2pg backlog merge rows/s | ÷ Debezium | ÷ ceiling | ÷ kafka2pg batch by batch | process CPU s per million rows | PostgreSQL CPU s per million rows |\n|---:|---:|---:|---:|---:|---:|---:|\n'
      bd=() br=() bc=() bk=()
      for run in $(seq 1 "$RUNS"); do
        br+=("$(rate "$ds" kafka2pg_bl "$run")")
        bd+=("$(calc "${SECS[$ds,debezium,$run]} / ${SECS[$ds,kafka2pg_bl,$run]}")")
        bc+=("$(calc "${SECS[$ds,ceiling,$run]} / ${SECS[$ds,kafka2pg_bl,$run]}")")
        bk+=("$(calc "${SECS[$ds,kafka2pg,$run]} / ${SECS[$ds,kafka2pg_bl,$run]}")")
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$run" "$(fmt_rate "${br[-1]}")" "$(fmt "${bd[-1]}" 1)" "$(fmt "${bc[-1]}" 2)" "$(fmt "${bk[-1]}" 2)" \
          "$(fmt "$(per_m "$ds" "${CPU[$ds,kafka2pg_bl,$run]}")" 1)" "$(fmt "$(per_m "$ds" "${PGCPU[$ds,kafka2pg_bl,$run]}")" 1)"
      done
      read -r lo hi <<<"$(spread "${bd[@]}")"
      MED_BD=$(median "${bd[@]}")
      printf '| **median** | **%s** | **%s** (%s–%s) | **%s** | **%s** | | |\n' "$(fmt_rate "$(median "${br[@]}")")" "$(fmt "$MED_BD" 1)" \
        "$(fmt "$lo" 1)" "$(fmt "$hi" 1)" "$(fmt "$(median "${bc[@]}")" 2)" "$(fmt "$(median "${bk[@]}")" 2)"
    fi
    cpu_ratio=()
    for run in $(seq 1 "$RUNS"); do cpu_ratio+=("$(calc "${CPU[$ds,debezium,$run]} / ${CPU[$ds,kafka2pg,$run]}")"); done
    MED_CPU[$mode]=$(median "${cpu_ratio[@]}")
    read -r lo hi <<<"$(spread "${cpu_ratio[@]}")"
    printf '\nDebezium'"'"'s JVM used %s× the CPU of kafka2pg per row (median; runs %s–%s).\n\n' \
      "$(fmt "${MED_CPU[$mode]}" 1)" "$(fmt "$lo" 1)" "$(fmt "$hi" 1)"
  done

  if [ "$SAMPLE" != 0 ]; then
    printf '### The row-at-a-time Python consumer: %s events per mode\n\n' "$SAMPLE"
    printf 'One run per mode (it is slow): one INSERT, one database commit and one synchronous offset commit per message. '
    printf 'Ratios compare kafka2pg'"'"'s median rows/s on the %s-event backlog above with the Python consumer'"'"'s on the %s-event sample' "$COUNT" "$SAMPLE"
    if [ "$SAMPLE" != "$COUNT" ]; then
      printf '; kafka2pg also ran once on the same sample (start-up and the final commit weigh more on a short run).\n\n'
    else
      printf '.\n\n'
    fi
    printf '| mode | Python rows/s | kafka2pg rows/s (same sample) | kafka2pg (%s events) ÷ Python | Python CPU s per million rows | PostgreSQL CPU s per million rows | peak RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|\n' "$COUNT"
    for mode in $MODES; do
      ds=$mode:sample
      [ "$SAMPLE" = "$COUNT" ] && ds=$mode:full
      pr=$(rate "$ds" python 1)
      MED_PY[$mode]=$(calc "${MED_KRATE[$mode]} / $pr")
      g=n/a
      [ "${PGCPU[$ds,python,1]}" = n/a ] || g=$(per_m "$ds" "${PGCPU[$ds,python,1]}")
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$mode" "$(fmt_rate "$pr")" "$(fmt_rate "$(rate "$ds" kafka2pg 1)")" \
        "$(fmt "${MED_PY[$mode]}")" "$(fmt "$(per_m "$ds" "${CPU[$ds,python,1]}")" 1)" "$(fmt "$g" 1)" "$(fmt "${RSS[$ds,python,1]}")"
    done
    printf '\n'
  fi

  printf '### Targets\n\n| target | measured | |\n|---|---|---|\n'
  for mode in $MODES; do
    met=0
    ge "${MED_KD[$mode]}" "${TARGET[debezium_speed]}" && met=1
    [ "$met" = 1 ] || ALL_MET=0
    label=$mode
    [ "$mode" = upsert ] && label='upsert batch by batch (`batch.backlog_merge: false`)'
    printf '| %s: kafka2pg ≥ %d× the Debezium JDBC sink'"'"'s rows/s | %s× (median of %d) | %s |\n' "$label" "${TARGET[debezium_speed]}" "$(fmt "${MED_KD[$mode]}" 1)" "$RUNS" "$(verdict $met)"
  done
  if [ -n "${MED_BD:-}" ]; then
    met=0
    ge "$MED_BD" "${TARGET[debezium_speed]}" && met=1
    printf '| upsert with the defaults (a `--stop-at-end` run merges the backlog): kafka2pg ≥ %d× the Debezium JDBC sink'"'"'s rows/s | %s× (median of %d) | %s |\n' "${TARGET[debezium_speed]}" "$(fmt "$MED_BD" 1)" "$RUNS" "$(verdict $met)"
  fi
  for mode in $MODES; do
    met=0
    ge "${MED_CPU[$mode]}" "${TARGET[debezium_cpu]}" && met=1
    [ "$met" = 1 ] || ALL_MET=0
    printf '| %s: kafka2pg ≥ %d× less CPU per row than the Connect JVM | %s× (median of %d) | %s |\n' "$mode" "${TARGET[debezium_cpu]}" "$(fmt "${MED_CPU[$mode]}" 1)" "$RUNS" "$(verdict $met)"
  done
  if [ "$SAMPLE" != 0 ]; then
    for mode in $MODES; do
      met=0
      ge "${MED_PY[$mode]}" "${TARGET[python_speed]}" && met=1
      [ "$met" = 1 ] || ALL_MET=0
      printf '| %s: kafka2pg ≥ %d× the row-at-a-time consumer | %s× (Python on %s events) | %s |\n' "$mode" "${TARGET[python_speed]}" "$(fmt "${MED_PY[$mode]}")" "$SAMPLE" "$(verdict $met)"
    done
  fi

  last_mode=${MODES##* }
  printf '\n<details><summary>Connect worker and Debezium JDBC sink settings (%s, run 1)</summary>\n\n```properties\n' "$last_mode"
  grep -v -e '^#' -e '^$' "$WORK/connect-worker-$last_mode-full-1.properties" | grep -v -e '^offset.storage.file.filename' -e '^bootstrap.servers' -e '^plugin.path'
  printf '\n'
  grep -v -e '^#' -e '^$' "$WORK/debezium-$last_mode-full-1.properties" | sed -E 's/^name=.*/name=…/; s/^topics=.*/topics=…/'
  printf '```\n\n</details>\n'
} >"$RESULTS"

# ---- docs/benchmarks.md: replace what is between the markers ----------------------------------
if [ -n "$DOC" ]; then
  BEGIN_MARK='<!-- peers:begin -->'
  END_MARK='<!-- peers:end -->'
  mkdir -p "$(dirname "$DOC")"
  if [ ! -f "$DOC" ]; then
    printf '# Benchmarks\n\n## Side by side with Kafka Connect and a Python consumer\n\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >"$DOC"
  elif ! grep -qxF "$BEGIN_MARK" "$DOC" || ! grep -qxF "$END_MARK" "$DOC"; then
    printf '\n## Side by side with Kafka Connect and a Python consumer\n\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >>"$DOC"
  fi
  awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$RESULTS" '
    $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$DOC" >"$DOC.tmp"
  mv "$DOC.tmp" "$DOC"
fi

cat "$RESULTS"
log "done in $((ELAPSED / 60)) min $((ELAPSED % 60)) s${DOC:+; results written to $DOC}"
if [ "$ENFORCE" = 1 ] && [ "$ALL_MET" != 1 ]; then
  log "a target was missed (PEERS_ENFORCE=1)"
  exit 2
fi
