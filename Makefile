# kafka2pg — the two commands a newcomer needs are `make demo` and `make test`.
# Both start (and, when missing, install) a local Apache Kafka broker and a
# PostgreSQL server through scripts/services.sh.

GO      ?= go
BIN     := bin/kafka2pg
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
SERVICES := scripts/services.sh
TEST_TIMEOUT ?= 25m

.PHONY: all build test test-unit vet demo bench bench-peers bench-scaling backpressure chaos services-up services-down clean

all: build

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/kafka2pg

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Every test, unit and end-to-end, against the real services. -p 1: one
# package at a time, because end-to-end tests restart PostgreSQL.
# The end-to-end tests run a -race build of the binary.
test: vet
	$(GO) build -race -o bin/kafka2pg-race ./cmd/kafka2pg
	@env_lines=$$($(SERVICES) up) || exit 1; eval "$$env_lines"; \
	KAFKA2PG_BIN=$(CURDIR)/bin/kafka2pg-race $(GO) test -race -p 1 -count=1 -timeout $(TEST_TIMEOUT) ./...

# Unit tests only; no services needed.
test-unit:
	$(GO) test -race -short -count=1 ./...

# The exactly-once end-to-end tests with 60 kill/restart cycles in
# TestExactlyOnceChaos (make test runs 8).
chaos: build
	@env_lines=$$($(SERVICES) up) || exit 1; eval "$$env_lines"; \
	KAFKA2PG_CHAOS_CYCLES=60 KAFKA2PG_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 30m -run 'TestExactlyOnce' ./e2e/

demo: build
	@bash scripts/demo.sh

# End-to-end throughput against the real services (scripts/bench.sh), then
# per-format decode throughput per core (scripts/bench-decode.sh); both write
# their results to docs/benchmarks.md.
bench: build
	@bash scripts/bench.sh
	@bash scripts/bench-decode.sh

# The same 1M orders through kafka2pg, Kafka Connect + Debezium's JDBC sink and
# a row-at-a-time Python consumer (on PEERS_SAMPLE=20000 events), against
# psql's \copy; rows/s, ratios, CPU per row (scripts/bench-peers.sh, about
# 25 minutes; the first run fetches Connect, the connector and a Python venv
# into the cache). Results in docs/benchmarks.md.
bench-peers: build
	@bash scripts/bench-peers.sh

# kafka2pg's rows/s by partitions (1, 2, 4, 8), by instances in one consumer
# group (1, 2, 3) and by batch.max_rows (1k, 10k, 50k), on 3 M events
# (scripts/bench-scaling.sh, about 15 minutes; results in docs/benchmarks.md).
bench-scaling: build
	@bash scripts/bench-scaling.sh

# Records/s per core that Mapper.Map decodes and coerces, per value format
# (json, json-connect, avro, protobuf, json-schema); no services needed.
# DECODE_RUNS=5 by default.
.PHONY: bench-decode
bench-decode:
	@bash scripts/bench-decode.sh

# Backpressure under a slow database: 2 M events waiting in Kafka, a table
# that sleeps per inserted row; RSS, in-flight bytes, paused fetching, rows/s
# (scripts/backpressure.sh, about 2 minutes; results in docs/benchmarks.md).
backpressure: build
	@bash scripts/backpressure.sh

services-up:
	@$(SERVICES) up

services-down:
	@$(SERVICES) down

clean:
	rm -rf bin

# One of the runnable format examples in examples/formats (avro, protobuf,
# json-schema, json-connect, debezium, or all): sample orders in that format
# through kafka2pg into PostgreSQL, then the table and a row-count check.
.PHONY: example
example: ## make example FORMAT=avro
	@bash scripts/example.sh $(FORMAT)
