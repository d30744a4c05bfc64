#!/usr/bin/env bash
# make example FORMAT=avro: runs one of the format examples in
# examples/formats (avro, protobuf, json-schema, json-connect, debezium; or
# all of them with FORMAT=all) against the local Kafka and PostgreSQL. The
# runner starts a Schema Registry stand-in, produces sample orders in that
# format, runs bin/kafka2pg on examples/formats/<format>/pipeline.yaml until
# it has caught up, then prints the table and checks its row count.
# Extra arguments go to the runner (e.g. -count 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
formats=(avro protobuf json-schema json-connect debezium)
format="${1:-}"
if [ -z "$format" ]; then
  echo "usage: scripts/example.sh <format> [runner flags]   (make example FORMAT=<format>)" >&2
  echo "formats: ${formats[*]} all" >&2
  exit 2
fi
shift
eval "$(scripts/services.sh up)"
mkdir -p bin
go build -o bin/kafka2pg ./cmd/kafka2pg
if [ "$format" = all ]; then
  for f in "${formats[@]}"; do
    echo "==== example $f"
    go run ./examples/formats/run -format "$f" -bin bin/kafka2pg "$@"
  done
else
  go run ./examples/formats/run -format "$format" -bin bin/kafka2pg "$@"
fi
