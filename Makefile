# kafka2pg — the two commands a newcomer needs are `make demo` and `make test`.
# Both start (and, when missing, install) a local Apache Kafka broker and a
# PostgreSQL server through scripts/services.sh.

GO      ?= go
BIN     := bin/kafka2pg
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
SERVICES := scripts/services.sh
TEST_TIMEOUT ?= 25m
TEST_PARALLEL ?= 4

.PHONY: all build test test-unit vet demo bench bench-peers bench-rounds bench-scaling backpressure chaos faults soak services-up services-down clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(VERSION_LDFLAGS)" -o $(BIN) ./cmd/kafka2pg

# gofmt, go vet and staticcheck (pinned in go.mod's tool directive; its
# default checks: bugs, simplifications and style rules without false
# positives, such as unused code and error strings).
vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Every test, unit and end-to-end, against the real services. -p 1: one
# package at a time, because end-to-end tests restart PostgreSQL. Inside the
# end-to-end package the tests that restart a service run first, one at a
# time; then up to TEST_PARALLEL of the others at once (see parallel() in
# e2e/harness_test.go).
# The end-to-end tests run a -race build of the binary, with the test-only
# failpoint (build tag failpoint, internal/eos).
test: vet
	$(GO) build -race -tags failpoint -o bin/kafka2pg-race ./cmd/kafka2pg
	@env_lines=$$($(SERVICES) up) || exit 1; eval "$$env_lines"; \
	KAFKA2PG_BIN=$(CURDIR)/bin/kafka2pg-race $(GO) test -race -p 1 -parallel $(TEST_PARALLEL) -count=1 -timeout $(TEST_TIMEOUT) ./...

# Unit tests only; no services needed.
test-unit:
	$(GO) test -race -short -count=1 ./...

# The exactly-once end-to-end tests with 60 kill/restart cycles in
# TestExactlyOnceChaos (make test runs 8).
# The binary has the test-only failpoint (build tag failpoint) that the
# crash-between-commits tests use.
chaos:
	$(GO) build -tags failpoint -o bin/kafka2pg-failpoint ./cmd/kafka2pg
	@env_lines=$$($(SERVICES) up) || exit 1; eval "$$env_lines"; \
	KAFKA2PG_CHAOS_CYCLES=60 KAFKA2PG_BIN=$(CURDIR)/bin/kafka2pg-failpoint $(GO) test -count=1 -timeout 30m -run 'TestExactlyOnce' ./e2e/

# The fault suite at full length (e2e/faults_test.go, about 8 minutes):
# PostgreSQL blackholed for 60 s mid-COPY and mid-COMMIT, the broker
# blackholed past the session timeout, 200 ms + 1 MB/s for a minute, a minute
# of random connection resets, 30 s read-only; exactly-once and
# at-least-once. make test runs the same tests with durations of seconds.
# See docs/reliability.md.
faults:
	$(GO) build -race -tags failpoint -o bin/kafka2pg-race ./cmd/kafka2pg
	@env_lines=$$($(SERVICES) up) || exit 1; eval "$$env_lines"; \
	KAFKA2PG_FAULTS=full KAFKA2PG_BIN=$(CURDIR)/bin/kafka2pg-race $(GO) test -race -count=1 -timeout 30m -run 'TestFault' -v ./e2e/

# The soak (e2e/soak_test.go): SOAK_DURATION (default 30m) of steady load
# with poison records, two exactly-once instances and a random fault every
# 3 minutes, PostgreSQL and broker restarts included; then tables = model,
# dead letters = poison, lag, RSS and goroutines checked. A plain (not
# -race) build with the failpoints, so that memory is as in production.
# make test runs a 3-minute version. See docs/reliability.md.
SOAK_DURATION ?= 30m
SOAK_TIMEOUT ?= 2h
soak:
	$(GO) build -tags failpoint -o bin/kafka2pg-failpoint ./cmd/kafka2pg
	@env_lines=$$($(SERVICES) up) || exit 1; eval "$$env_lines"; \
	SOAK_DURATION=$(SOAK_DURATION) KAFKA2PG_BIN=$(CURDIR)/bin/kafka2pg-failpoint $(GO) test -count=1 -timeout $(SOAK_TIMEOUT) -run 'TestSoak' -v ./e2e/

demo: build
	@bash scripts/demo.sh

# End-to-end throughput against the real services (scripts/bench.sh), the
# produce → row latency at a steady 5,000 records/s and wide / large-jsonb rows
# against \copy (scripts/bench-latency.sh), then per-format decode throughput
# per core (scripts/bench-decode.sh); all write their results to
# docs/benchmarks.md.
bench: build
	@bash scripts/bench.sh
	@bash scripts/bench-latency.sh
	@bash scripts/bench-decode.sh

# The same 1M orders through kafka2pg, Kafka Connect + Debezium's JDBC sink and
# a row-at-a-time Python consumer (on PEERS_SAMPLE=20000 events), against
# psql's \copy; rows/s, ratios, CPU per row (scripts/bench-peers.sh, about
# 25 minutes; the first run fetches Connect, the connector and a Python venv
# into the cache). Results in docs/benchmarks.md.
bench-peers: build
	@bash scripts/bench-peers.sh

# Alternated whole-process rounds after a make bench: two or more variants
# (delivery:binary) of kafka2pg over its 1M-order topic, their medians and
# throughput ratios pair by pair (scripts/bench-rounds.sh; defaults:
# at-least-once against exactly-once, 12 rounds of inserts, a few minutes).
bench-rounds: build
	@bash scripts/bench-rounds.sh

# kafka2pg's rows/s by partitions (1, 2, 4, 8), by instances in one consumer
# group (1, 2, 3) and by batch.max_rows (1k, 10k, 50k), on 3 M events
# (scripts/bench-scaling.sh, about 15 minutes; results in docs/benchmarks.md).
bench-scaling: build
	@bash scripts/bench-scaling.sh

# Records/s per core that Mapper.Map decodes and coerces, per value format
# (json, json-connect, avro, protobuf, json-schema), in DECODE_RUNS=5
# interleaved rounds (ratios to json taken within a round); no services needed.
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
	rm -rf bin $(DIST)

# Release binaries: static (CGO_ENABLED=0), stripped, one per platform in
# PLATFORMS, named kafka2pg-VERSION-OS-ARCH in $(DIST), with SHA256SUMS.
# `kafka2pg version` prints VERSION, COMMIT and DATE. DATE is the commit's
# time, so two builds of one commit are byte-identical.
#   make release VERSION=v1.4.0
#   make release PLATFORMS=linux/arm64 DIST=/tmp/out
.PHONY: release
PLATFORMS ?= linux/amd64 linux/arm64
DIST      ?= dist
COMMIT    ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
DATE      ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION_LDFLAGS = -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

release:
	@mkdir -p $(DIST) && rm -f $(DIST)/kafka2pg-* $(DIST)/SHA256SUMS && echo '*' > $(DIST)/.gitignore
	@set -e; for p in $(PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; out=$(DIST)/kafka2pg-$(VERSION)-$$os-$$arch; \
	  echo "building $$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=false \
	    -ldflags "-s -w $(VERSION_LDFLAGS)" -o $$out ./cmd/kafka2pg; \
	done
	@cd $(DIST) && sha256sum kafka2pg-* > SHA256SUMS && cat SHA256SUMS

# One of the runnable format examples in examples/formats (avro, protobuf,
# json-schema, json-connect, debezium, or all): sample orders in that format
# through kafka2pg into PostgreSQL, then the table and a row-count check.
.PHONY: example
example: ## make example FORMAT=avro
	@bash scripts/example.sh $(FORMAT)
