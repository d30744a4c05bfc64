#!/usr/bin/env bash
# Alternated whole-process rounds: a small difference between two kafka2pg
# binaries or two deliveries, measured the way a shared, noisy machine
# allows. Each round runs every variant once, in an order rotated from round
# to round, as `kafka2pg run --stop-at-end` over make bench's 1 M-order
# topic with make bench's configuration (a fresh consumer group and an
# emptied table each run); the summary gives each variant's medians and
# each variant's throughput ÷ the first variant's, pair by pair within a
# round, median and range.
#
# Needs a make bench run before it (its topics bench_orders_insert and
# bench_orders_upsert, and its generated configs in bin/bench). Writes to a
# database of its own (kafka2pg_rounds_<kind>) and prints; docs/benchmarks.md
# quotes its figures by hand.
#
# Environment:
#   ROUNDS_KIND=insert             insert | upsert
#   ROUNDS=12                      rounds
#   ROUNDS_VARIANTS="at-least-once:bin/kafka2pg exactly-once:bin/kafka2pg"
#                                  delivery:binary, space-separated; the
#                                  first is the reference
#   ROUNDS_MAX_ROWS=               batch.max_rows (default: make bench's)
#   ROUNDS_BACKLOG_MERGE=          batch.backlog_merge for upsert (default:
#                                  make bench's, false: batch by batch)
#   ROUNDS_TOMBSTONES=             upsert only: a fraction (e.g. 0.05); the
#                                  rounds then read a topic of their own
#                                  (bench_orders_upsert_tomb, produced first:
#                                  ROUNDS_TOMBSTONES_COUNT events, default
#                                  1000000, over half as many order ids, 8
#                                  partitions, that fraction of the events
#                                  tombstones) with delete_on_tombstone: true
#   ROUNDS_PG_ADDR=                host:port to reach PostgreSQL through
#                                  (e.g. bench/latproxy's), default the server's
#
#   make bench-rounds
#   ROUNDS_KIND=upsert ROUNDS_VARIANTS="at-least-once:/tmp/old at-least-once:bin/kafka2pg" make bench-rounds
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

KIND=${ROUNDS_KIND:-insert}
ROUNDS=${ROUNDS:-12}
VARIANTS=${ROUNDS_VARIANTS:-"at-least-once:bin/kafka2pg exactly-once:bin/kafka2pg"}
MAX_ROWS=${ROUNDS_MAX_ROWS:-}
MERGE=${ROUNDS_BACKLOG_MERGE:-}
TOMB=${ROUNDS_TOMBSTONES:-}
PG_ADDR=${ROUNDS_PG_ADDR:-}

log() { printf '[bench-rounds] %s\n' "$*" >&2; }
die() { printf '[bench-rounds] ERROR: %s\n' "$*" >&2; exit 1; }

case "$KIND" in insert | upsert) ;; *) die "ROUNDS_KIND must be insert or upsert, not '$KIND'" ;; esac
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, not '$ROUNDS'"
[ -z "$MAX_ROWS" ] || [[ "$MAX_ROWS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS_MAX_ROWS must be a positive integer, not '$MAX_ROWS'"
case "$MERGE" in "" | auto | true | false) ;; *) die "ROUNDS_BACKLOG_MERGE must be auto, true or false, not '$MERGE'" ;; esac
if [ -n "$TOMB" ]; then
  [ "$KIND" = upsert ] || die "ROUNDS_TOMBSTONES needs ROUNDS_KIND=upsert"
  [[ "$TOMB" =~ ^0?\.[0-9]+$ ]] || die "ROUNDS_TOMBSTONES must be a fraction such as 0.05, not '$TOMB'"
fi
[ -x /usr/bin/time ] || die "/usr/bin/time is not installed (Debian package 'time')"
SRC=bin/bench/pipeline-$KIND-1.yaml
[ -f "$SRC" ] || die "$SRC is missing: run make bench first (its topics and configs are what the rounds replay)"
read -r -a VARS <<<"$VARIANTS"
[ "${#VARS[@]}" -ge 2 ] || die "ROUNDS_VARIANTS needs at least two delivery:binary variants"
for v in "${VARS[@]}"; do
  d=${v%%:*} b=${v#*:}
  case "$d" in at-least-once | exactly-once) ;; *) die "variant '$v': delivery must be at-least-once or exactly-once" ;; esac
  [ -x "$b" ] || die "variant '$v': $b is not an executable"
done

eval "$(scripts/services.sh up)"
ADMIN_URL=$KAFKA2PG_TEST_DATABASE_URL
DB=kafka2pg_rounds_$KIND
URL="${ADMIN_URL%%/postgres\?*}/$DB?sslmode=disable"
[ "$URL" != "$ADMIN_URL" ] || die "cannot derive the rounds database URL from $ADMIN_URL"
RUN_URL=$URL
if [ -n "$PG_ADDR" ]; then
  RUN_URL=$(printf '%s' "$URL" | sed -E "s#@[^/]+/#@$PG_ADDR/#")
fi
pg() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 "$@"; }
pg "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
if [ "$KIND" = insert ]; then
  sed 's/ PRIMARY KEY//' examples/orders/schema.sql | pg "$URL" -f -
else
  pg "$URL" -f examples/orders/schema.sql
fi
pg "$URL" -c "ALTER TABLE orders SET (autovacuum_enabled = off)"

if [ -n "$TOMB" ]; then
  count=${ROUNDS_TOMBSTONES_COUNT:-1000000}
  log "producing $count events to bench_orders_upsert_tomb ($TOMB tombstones)"
  go run ./examples/orders/produce -brokers "${KAFKA2PG_TEST_BROKERS:-127.0.0.1:9092}" -topic bench_orders_upsert_tomb \
    -partitions 8 -count "$count" -keys $((count / 2)) -tombstones "$TOMB" -recreate >&2
fi

# PostgreSQL's CPU: the postmaster's reaped children (backends that have
# exited) plus the live ones, in clock ticks.
PM=$(pgrep -x postgres -o) || die "no postgres process"
pgticks() {
  local t p s
  t=$(awk '{ print $16 + $17 }' "/proc/$PM/stat")
  for p in $(pgrep -x postgres); do
    s=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
    t=$((t + ${s:-0}))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)
# settle waits for the backends of the rounds' database to be gone and
# reaped (their CPU then moves to the postmaster's children's count): a
# backend ends after its client does.
settle() {
  local i
  for i in $(seq 100); do
    [ "$(pg "$ADMIN_URL" -A -t -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'")" = 0 ] && break
    sleep 0.05
  done
  sleep 0.2
}

WORK=$(mktemp -d /tmp/kafka2pg-rounds.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
OUT=$WORK/runs.txt
n=${#VARS[@]}
log "$ROUNDS rounds of ${VARS[*]} ($KIND${MAX_ROWS:+, max_rows $MAX_ROWS}${MERGE:+, backlog_merge $MERGE}${PG_ADDR:+, PostgreSQL through $PG_ADDR})"
for ((r = 1; r <= ROUNDS; r++)); do
  for ((k = 0; k < n; k++)); do
    i=$(((k + r) % n))
    v=${VARS[$i]} d=${v%%:*} b=${v#*:}
    cfg=$WORK/pipeline.yaml
    edits=(-e "s/^  group: .*/  group: kafka2pg-rounds-$KIND-$r-$i-$RANDOM$RANDOM/")
    [ -z "$MAX_ROWS" ] || edits+=(-e "s/max_rows: [0-9]*/max_rows: $MAX_ROWS/")
    [ -z "$MERGE" ] || edits+=(-e "s/backlog_merge: .*/backlog_merge: $MERGE/")
    sed "${edits[@]}" "$SRC" >"$cfg"
    [ -z "$MERGE" ] || grep -q "backlog_merge: $MERGE" "$cfg" || die "$SRC has no batch.backlog_merge line to set"
    if [ -n "$TOMB" ]; then
      sed -i -e "s/bench_orders_upsert\b/bench_orders_upsert_tomb/g" -e "s/^    mode: upsert$/    mode: upsert\n    delete_on_tombstone: true/" "$cfg"
      grep -q "delete_on_tombstone: true" "$cfg" || die "$SRC has no '    mode: upsert' line to add delete_on_tombstone to"
    fi
    grep -q '^delivery:' "$cfg" && die "$SRC sets delivery; the variants set it"
    echo "delivery: $d" >>"$cfg"
    pg "$URL" -c "TRUNCATE orders"
    settle
    a=$(pgticks)
    s=$(date +%s.%N)
    BENCH_DATABASE_URL=$RUN_URL /usr/bin/time -f '%U %S' -o "$WORK/time" "$b" run --config "$cfg" --stop-at-end >"$WORK/log" 2>&1 ||
      { tail -5 "$WORK/log" >&2; die "variant $v failed in round $r"; }
    e=$(date +%s.%N)
    settle
    z=$(pgticks)
    rows=$(pg "$URL" -A -t -c "SELECT count(*) FROM orders")
    # The table's contents but ingested_at, order-independent.
    fp=$(pg "$URL" -A -t -c "SELECT md5(string_agg(md5(row(order_id, customer_id, status, amount, currency, items, express, created_at, version)::text), '' ORDER BY order_id)) FROM orders")
    want=${want:-$rows} wantfp=${wantfp:-$fp}
    [ "$rows" = "$want" ] || die "variant $v left $rows rows in round $r, the first run left $want"
    [ "$fp" = "$wantfp" ] || die "variant $v left other contents in round $r than the first run (fingerprint $fp, first $wantfp)"
    wall=$(echo "$e - $s" | bc)
    cpu=$(awk '{ print $1 + $2 }' "$WORK/time")
    pgcpu=$(echo "scale=2; ($z - $a) / $HZ" | bc)
    printf '%d %d %s %s %s %s %s\n' "$r" "$i" "$v" "$wall" "$cpu" "$pgcpu" "$rows" >>"$OUT"
    log "round $r: $v  wall ${wall}s  kafka2pg CPU ${cpu}s  PostgreSQL CPU ${pgcpu}s  rows $rows"
  done
done

python3 - "$OUT" "$n" "${VARS[@]}" <<'PY'
import statistics as st, sys
out, n, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
runs = {}
rows = {}
for line in open(out):
    r, i, v, wall, cpu, pgcpu, nrows = line.split()
    runs[(int(r), int(i))] = (float(wall), float(cpu), float(pgcpu))
    rows.setdefault(int(i), set()).add(nrows)
rounds = sorted({r for r, _ in runs})
print("| variant | wall s | kafka2pg CPU s | PostgreSQL CPU s | rows | throughput ÷ the first (median, range) |")
print("|---|---:|---:|---:|---:|---:|")
for i, name in enumerate(names):
    w = [runs[(r, i)][0] for r in rounds]
    c = [runs[(r, i)][1] for r in rounds]
    p = [runs[(r, i)][2] for r in rounds]
    ratio = "reference"
    if i > 0:
        rs = sorted(runs[(r, 0)][0] / runs[(r, i)][0] for r in rounds)
        ratio = f"{st.median(rs):.3f} ({rs[0]:.3f}–{rs[-1]:.3f})"
    print(f"| {i + 1}. {name} | {st.median(w):.2f} ({min(w):.2f}–{max(w):.2f}) | {st.median(c):.2f} | {st.median(p):.2f} | {'/'.join(sorted(rows[i]))} | {ratio} |")
print(f"\n{len(rounds)} rounds, medians (range); the order of the variants rotated each round.")
PY
