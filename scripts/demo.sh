#!/usr/bin/env bash
# make demo: a local Kafka and PostgreSQL, an 8-partition "orders" topic with
# 100,000 sample order events, and kafka2pg upserting them into the "orders"
# table until it has caught up. Prints the row count, a few rows and rows/s.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh up)"
export DATABASE_URL="${KAFKA2PG_TEST_DATABASE_URL%%/postgres\?*}/kafka2pg_demo?sslmode=disable"
export KAFKA2PG_BROKERS="$KAFKA2PG_TEST_BROKERS"
COUNT="${DEMO_COUNT:-100000}"

psql -q "$KAFKA2PG_TEST_DATABASE_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = 'kafka2pg_demo'" | grep -q 1 ||
  psql -q "$KAFKA2PG_TEST_DATABASE_URL" -c "CREATE DATABASE kafka2pg_demo"
psql -q "$DATABASE_URL" -c "DROP TABLE IF EXISTS orders"
psql -q "$DATABASE_URL" -f examples/orders/schema.sql

echo "== producing $COUNT order events to topic orders (8 partitions)"
expected=$(go run ./examples/orders/produce -brokers "$KAFKA2PG_BROKERS" -topic orders -partitions 8 \
  -count "$COUNT" -recreate | sed -n 's/^expected_rows=//p')
# A fresh consumer group each run, so the demo always starts from the beginning.
group="orders-sink-demo-$(date +%s)"
sed "s/group: orders-sink/group: $group/" examples/orders/pipeline.yaml > bin/demo-pipeline.yaml

echo "== bin/kafka2pg check"
bin/kafka2pg check --config bin/demo-pipeline.yaml
echo "== bin/kafka2pg run --stop-at-end (kafka2pg exits once it has caught up)"
start=$(date +%s.%N)
bin/kafka2pg run --config bin/demo-pipeline.yaml --stop-at-end
end=$(date +%s.%N)

echo "== result"
psql -q "$DATABASE_URL" -c "SELECT count(*) AS rows, count(DISTINCT status) AS statuses, sum(amount) AS total_amount FROM orders"
psql -q "$DATABASE_URL" -c "SELECT order_id, customer_id, status, amount, currency, express, created_at, version FROM orders ORDER BY order_id LIMIT 5"
rows=$(psql -qtA "$DATABASE_URL" -c "SELECT count(*) FROM orders")
if [ "$rows" = "$expected" ]; then
  echo "the table holds $rows orders: exactly the orders alive after the last event (the producer's model)"
else
  echo "MISMATCH: the table holds $rows orders, the producer's model says $expected" >&2
  exit 1
fi
python3 - "$start" "$end" "$COUNT" <<'PY'
import sys
start, end, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
secs = end - start
print(f"kafka2pg applied {n} events in {secs:.2f} s (including start-up and group join): {n/secs:,.0f} events/s")
PY
