package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Defaults, in one place. docs/configuration.md lists the same values.
const (
	defaultClientID         = "kafka2pg"
	defaultSessionTimeout   = Duration(45 * time.Second)
	defaultFetchMaxBytes    = 4 * MiB
	defaultMaxConns         = 4
	defaultMaxRows          = 10000
	defaultMaxBytes         = 16 * MiB
	defaultMaxWait          = Duration(100 * time.Millisecond)
	defaultGroupRows        = 1000
	defaultMaxInflightBytes = 64 * MiB
	defaultRetryInitial     = Duration(100 * time.Millisecond)
	defaultRetryMax         = Duration(30 * time.Second)
	defaultShutdownTimeout  = Duration(30 * time.Second)
	defaultLogFormat        = "text"
	defaultRegistryTimeout  = Duration(10 * time.Second)
	defaultLogLevel         = "info"
	defaultIOTimeout        = Duration(30 * time.Second)
)

// setDefaults gives every field the document did not set its default.
// isSet reports whether the document gave the field at a path a non-null
// value; a field set explicitly keeps its value even when it is the zero
// value, so that `max_rows: 0` is reported instead of silently replaced and
// `max_wait: 0` means zero.
func (c *Config) setDefaults(isSet func(path string) bool) {
	str := func(path string, f *string, v string) {
		if !isSet(path) {
			*f = v
		}
	}
	dur := func(path string, f *Duration, v Duration) {
		if !isSet(path) {
			*f = v
		}
	}
	size := func(path string, f *ByteSize, v ByteSize) {
		if !isSet(path) {
			*f = v
		}
	}
	num := func(path string, f *int, v int) {
		if !isSet(path) {
			*f = v
		}
	}

	str("kafka.start", &c.Kafka.Start, StartEarliest)
	str("kafka.client_id", &c.Kafka.ClientID, defaultClientID)
	dur("kafka.session_timeout", &c.Kafka.SessionTimeout, defaultSessionTimeout)
	size("kafka.fetch_max_bytes", &c.Kafka.FetchMaxBytes, defaultFetchMaxBytes)
	num("postgres.max_conns", &c.Postgres.MaxConns, defaultMaxConns)
	str("postgres.offsets_table", &c.Postgres.OffsetsTable, "kafka2pg_offsets")
	str("postgres.pooler", &c.Postgres.Pooler, PoolerNone)
	dur("postgres.io_timeout", &c.Postgres.IOTimeout, defaultIOTimeout)
	str("delivery", &c.Delivery, DeliveryAtLeastOnce)
	num("batch.max_rows", &c.Batch.MaxRows, defaultMaxRows)
	size("batch.max_bytes", &c.Batch.MaxBytes, defaultMaxBytes)
	dur("batch.max_wait", &c.Batch.MaxWait, defaultMaxWait)
	num("batch.group_rows", &c.Batch.GroupRows, defaultGroupRows)
	str("batch.backlog_merge", &c.Batch.BacklogMerge, BacklogMergeAuto)
	num("batch.backlog_max_rows", &c.Batch.BacklogMaxRows, 1000000)
	dur("batch.backlog_max_age", &c.Batch.BacklogMaxAge, Duration(30*time.Second))
	size("batch.max_inflight_bytes", &c.Batch.MaxInflightBytes, defaultMaxInflightBytes)
	str("errors.tolerance", &c.Errors.Tolerance, ToleranceNone)
	dur("errors.retry.initial", &c.Errors.Retry.Initial, defaultRetryInitial)
	dur("errors.retry.max", &c.Errors.Retry.Max, defaultRetryMax)
	// errors.retry.max_elapsed: 0 (retry forever) is the zero value.
	// http.listen: "" (no HTTP server) is the zero value.
	str("log.format", &c.Log.Format, defaultLogFormat)
	str("log.level", &c.Log.Level, defaultLogLevel)
	dur("shutdown_timeout", &c.ShutdownTimeout, defaultShutdownTimeout)

	for i := range c.Routes {
		r := &c.Routes[i]
		p := fmt.Sprintf("routes[%d].", i)
		if topics := r.AllTopics(); len(topics) > 0 && r.TableExpr == "" {
			str(p+"table", &r.Table, SanitiseIdent(topics[0]))
		}
		str(p+"value.format", &r.Value.Format, FormatJSON)
		str(p+"key.format", &r.Key.Format, FormatString)
		str(p+"mode", &r.Mode, ModeInsert)
		str(p+"debezium.on_truncate", &r.Debezium.OnTruncate, debeziumDefaultT)
	}
	dur("schema_registry.timeout", &c.SchemaRegistry.Timeout, defaultRegistryTimeout)
}

// normalise rewrites values that are accepted in more than one spelling into
// the one the rest of the program compares against.
func (c *Config) normalise() {
	// backlog_merge: True, FALSE, Auto, as YAML's booleans are spelt.
	if m := strings.ToLower(c.Batch.BacklogMerge); slices.Contains(backlogMerges, m) {
		c.Batch.BacklogMerge = m
	}
	// An unknown mechanism stays as written, for Validate's message.
	if s := c.Kafka.SASL; s != nil && slices.Contains(mechanisms, strings.ToUpper(s.Mechanism)) {
		s.Mechanism = strings.ToUpper(s.Mechanism)
	}
}
