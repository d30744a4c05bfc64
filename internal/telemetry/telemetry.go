// Package telemetry holds kafka2pg's Prometheus metrics and serves them with
// the health and readiness endpoints. Metrics, not logs, describe normal
// operation.
package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kafka2pg/kafka2pg/internal/retry"
)

// Metrics are the pipeline's instruments. Create them with NewMetrics; all
// methods are safe for concurrent use.
type Metrics struct {
	Registry       *prometheus.Registry
	Records        *prometheus.CounterVec   // topic
	Rows           *prometheus.CounterVec   // table
	Skipped        *prometheus.CounterVec   // topic
	Filtered       *prometheus.CounterVec   // route
	Batches        *prometheus.CounterVec   // table
	BatchSeconds   *prometheus.HistogramVec // table
	BatchRows      *prometheus.HistogramVec // table
	Retries        *prometheus.CounterVec   // table
	Lag            *prometheus.GaugeVec     // topic, partition
	InflightBytes  prometheus.Gauge
	InflightLimit  prometheus.Gauge
	FetchPaused    prometheus.Gauge
	Assigned       prometheus.Gauge
	OffsetCommits  *prometheus.CounterVec // result
	RecordErrors   *prometheus.CounterVec // topic, stage
	Fenced         *prometheus.CounterVec // topic
	Superseded     *prometheus.CounterVec // table
	DeadLetters    prometheus.Counter
	SchemaChanges  *prometheus.CounterVec // table, kind (create, evolve)
	RegistryErrors prometheus.Counter
	// batch.backlog_merge
	BacklogStaged, BacklogMerged, BacklogReplays prometheus.Counter
	ready                                        atomic.Bool
	stalled                                      atomic.Int64 // writers currently retrying
	partitions                                   atomic.Int64 // owned, for /readyz
	readinessGauge                               prometheus.GaugeFunc

	mu      sync.Mutex
	reasons map[string]string // why not ready, by what reports it
	notes   map[string]string // what /readyz says besides, by key
}

// BuildVersion and BuildCommit label kafka2pg_build_info; the command sets
// them from its build stamp before it starts a pipeline.
var BuildVersion, BuildCommit = "dev", "unknown"

// NewMetrics registers every instrument on a fresh registry (plus the Go
// and process collectors).
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.Registry.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kafka2pg_build_info",
		Help: "1, labelled with the version and commit of the running binary."}, []string{"version", "commit"})
	build.WithLabelValues(BuildVersion, BuildCommit).Set(1)
	f(build)
	m.Records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_records_total",
		Help: "Records whose effect is durable: written as rows, filtered, skipped or dead-lettered."}, []string{"topic"})
	m.Rows = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_rows_written_total",
		Help: "Rows (inserts, upserts, deletes) committed to the table, before in-batch deduplication."}, []string{"table"})
	m.Skipped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_records_skipped_total",
		Help: "Records with no effect on any route (tombstones without delete_on_tombstone, Debezium truncates, empty each lists)."}, []string{"topic"})
	m.Filtered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_records_filtered_total",
		Help: "Records a route's filter excluded (they have no effect on that route; their offsets are committed)."}, []string{"route"})
	m.Batches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_batches_total",
		Help: "Batches committed."}, []string{"table"})
	m.BatchSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kafka2pg_batch_write_seconds",
		Help: "Time to write and commit one batch, retries included.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"table"})
	m.BatchRows = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kafka2pg_batch_rows",
		Help: "Rows per committed batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}, []string{"table"})
	m.Retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_write_retries_total",
		Help: "Batch writes retried after a transient PostgreSQL failure."}, []string{"table"})
	m.Lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kafka2pg_partition_lag",
		Help: "High watermark minus the next offset not yet durable, per assigned partition."}, []string{"topic", "partition"})
	m.InflightBytes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "kafka2pg_inflight_bytes",
		Help: "Bytes of records fetched but not yet durable."})
	m.InflightLimit = prometheus.NewGauge(prometheus.GaugeOpts{Name: "kafka2pg_inflight_limit_bytes",
		Help: "batch.max_inflight_bytes: fetching pauses above it."})
	m.FetchPaused = prometheus.NewGauge(prometheus.GaugeOpts{Name: "kafka2pg_fetch_paused",
		Help: "1 while fetching is paused because max_inflight_bytes are in flight (backpressure)."})
	m.Assigned = prometheus.NewGauge(prometheus.GaugeOpts{Name: "kafka2pg_assigned_partitions",
		Help: "Partitions this instance is working on."})
	m.OffsetCommits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_offset_commits_total",
		Help: "Offset commits to Kafka by result (ok, error)."}, []string{"result"})
	m.RecordErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_record_errors_total",
		Help: "Records that could not become rows, by stage."}, []string{"topic", "stage"})
	m.Fenced = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_partitions_fenced_total",
		Help: "Exactly-once: writes refused because another consumer had claimed the partition."}, []string{"topic"})
	m.Superseded = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_records_superseded_total",
		Help: "Upsert changes folded into a later change of the same key in the same batch (never sent on their own, so never checked by the database)."}, []string{"table"})
	m.DeadLetters = prometheus.NewCounter(prometheus.CounterOpts{Name: "kafka2pg_dead_letters_total",
		Help: "Records written to the dead-letter queue (errors.tolerance: all)."})
	m.SchemaChanges = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kafka2pg_schema_changes_total",
		Help: "Tables created (auto_create) and evolved (auto_evolve) by this instance."}, []string{"table", "kind"})
	m.RegistryErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "kafka2pg_schema_registry_retries_total",
		Help: "Schema registry lookups retried because the registry could not be reached."})
	m.BacklogStaged = prometheus.NewCounter(prometheus.CounterOpts{Name: "kafka2pg_backlog_staged_rows_total",
		Help: "batch.backlog_merge: rows staged for a merge (buffered, then copied into backlog staging tables) instead of written batch by batch."})
	m.BacklogMerged = prometheus.NewCounter(prometheus.CounterOpts{Name: "kafka2pg_backlog_merged_rows_total",
		Help: "batch.backlog_merge: rows inserted or updated by merges (each key once per merge)."})
	m.BacklogReplays = prometheus.NewCounter(prometheus.CounterOpts{Name: "kafka2pg_backlog_replays_total",
		Help: "batch.backlog_merge: merges that failed (a rejected row, a staging table emptied by a restart) and whose records were read again from Kafka and written batch by batch."})
	m.readinessGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kafka2pg_ready",
		Help: "1 when the pipeline is running and no write is stalled in retries."}, func() float64 {
		if m.Ready() {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.Records, m.Rows, m.Skipped, m.Filtered, m.Batches, m.BatchSeconds, m.BatchRows,
		m.Retries, m.Lag, m.InflightBytes, m.InflightLimit, m.FetchPaused, m.Assigned, m.OffsetCommits,
		m.RecordErrors, m.Fenced, m.Superseded, m.DeadLetters, m.SchemaChanges, m.RegistryErrors,
		m.BacklogStaged, m.BacklogMerged, m.BacklogReplays, m.readinessGauge} {
		f(c)
	}
	return m
}

// SetRunning marks the pipeline as started (true) or stopping (false).
func (m *Metrics) SetRunning(v bool) { m.ready.Store(v) }

// Stalled counts a writer entering (+1) or leaving (-1) a retry loop.
func (m *Metrics) Stalled(delta int64) { m.stalled.Add(delta) }

// Unready records why the pipeline is not ready, under key (one reason per
// key: "kafka", "postgres", a partition …); an empty reason clears it.
func (m *Metrics) Unready(key, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if reason == "" {
		delete(m.reasons, key)
		return
	}
	if m.reasons == nil {
		m.reasons = map[string]string{}
	}
	m.reasons[key] = reason
}

// Ready reports whether the pipeline runs, no write is stalled and nothing
// reported a reason to be unready.
func (m *Metrics) Ready() bool {
	if !m.ready.Load() || m.stalled.Load() != 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.reasons) == 0
}

// Note records something /readyz should say even when ready (one note per
// key); an empty text clears it.
func (m *Metrics) Note(key, text string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if text == "" {
		delete(m.notes, key)
		return
	}
	if m.notes == nil {
		m.notes = map[string]string{}
	}
	m.notes[key] = text
}

// SetPartitions records how many partitions this instance owns, for /readyz.
func (m *Metrics) SetPartitions(n int) { m.partitions.Store(int64(n)) }

// Notes lists the notes, sorted.
func (m *Metrics) Notes() []string {
	m.mu.Lock()
	out := make([]string, 0, len(m.notes))
	for _, n := range m.notes {
		out = append(out, n)
	}
	m.mu.Unlock()
	sort.Strings(out)
	return out
}

// Reasons lists why the pipeline is not ready, sorted; empty when it is.
func (m *Metrics) Reasons() []string {
	var out []string
	if !m.ready.Load() {
		out = append(out, "not running: starting or stopping")
	}
	if n := m.stalled.Load(); n > 0 {
		out = append(out, fmt.Sprintf("%d write(s) stalled in retries", n))
	}
	m.mu.Lock()
	for _, r := range m.reasons {
		out = append(out, r)
	}
	m.mu.Unlock()
	sort.Strings(out)
	return out
}

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen binds addr (host:port; port 0 picks one) and serves in the
// background until Close.
func Listen(addr string, m *Metrics) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		// 200 {"ready": true, "partitions": n, "notes": [...]} or
		// 503 {"ready": false, "reasons": [...], ...}.
		ready := m.Ready()
		body := struct {
			Ready      bool     `json:"ready"`
			Reasons    []string `json:"reasons,omitempty"`
			Partitions int64    `json:"partitions"`
			Notes      []string `json:"notes,omitempty"`
		}{Ready: ready, Partitions: m.partitions.Load(), Notes: m.Notes()}
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			body.Reasons = m.Reasons()
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener failed after start; nothing to return it to
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// RetryHooks are retry.Hooks that count a retry loop as a stalled writer
// (readiness goes to 503) from its first retry until it ends, and call log
// before each wait.
func (m *Metrics) RetryHooks(log func(attempt int, wait time.Duration, err error)) retry.Hooks {
	return retry.Hooks{
		Retrying: func(attempt int, wait time.Duration, err error) {
			if attempt == 1 {
				m.Stalled(1)
			}
			if log != nil {
				log(attempt, wait, err)
			}
		},
		Recovered: func(int) { m.Stalled(-1) },
	}
}
