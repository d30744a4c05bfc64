// Package admin is what kafka2pg does besides running a pipeline — check,
// the offsets listing and reset, dead-letter replay — for the command line
// and the Go API alike. Each entry point opens what it needs and closes it
// before returning.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/ddl"
	"github.com/kafka2pg/kafka2pg/internal/dlq"
	"github.com/kafka2pg/kafka2pg/internal/eos"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/pgdial"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/route"
	"github.com/kafka2pg/kafka2pg/internal/source"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// Check compiles every route's expressions, then connects to Kafka and
// PostgreSQL and reports, for every route, what it found and what would
// fail, without writing anything (raw tables that do not exist yet are
// reported, not created). It returns false when anything would stop the
// pipeline, and a *config.ValidationError (before connecting) when an
// expression does not compile.
func Check(ctx context.Context, cfg *config.Config, out io.Writer) (bool, error) {
	progs, err := route.Compile(cfg)
	if err != nil {
		return false, err
	}
	ok := true
	fail := func(format string, args ...any) {
		ok = false
		fmt.Fprintf(out, "  FAIL "+format+"\n", args...)
	}
	fmt.Fprintf(out, "config: ok (%d route(s))\n", len(cfg.Routes))
	check(ctx, cfg, progs, out, fail)
	if ok {
		fmt.Fprintln(out, "check: ok")
	} else {
		fmt.Fprintln(out, "check: FAILED")
	}
	return ok, nil
}

func check(ctx context.Context, cfg *config.Config, progs []*route.Programs, out io.Writer, fail func(string, ...any)) {

	// Kafka: reachable, topics exist, partition counts.
	fmt.Fprintf(out, "kafka: %s\n", strings.Join(cfg.Kafka.Brokers, ","))
	kopts, err := source.ClientOpts(cfg.Kafka)
	var topics kadm.TopicDetails
	if err == nil {
		var cl *kgo.Client
		cl, err = kgo.NewClient(kopts...)
		if err == nil {
			defer cl.Close()
			adm := kadm.NewClient(cl)
			topics, err = adm.ListTopics(ctx)
		}
	}
	if err != nil {
		fail("cannot reach Kafka: %v", err)
	} else {
		want := cfg.Kafka.Topics
		if cfg.Kafka.TopicPattern != "" {
			for _, r := range cfg.Routes {
				want = append(want, r.AllTopics()...)
			}
		}
		for _, t := range want {
			d, exists := topics[t]
			switch {
			case !exists:
				fail("topic %s does not exist", t)
			case d.Err != nil:
				fail("topic %s: %v", t, d.Err)
			default:
				fmt.Fprintf(out, "  ok   topic %s: %d partitions\n", t, len(d.Partitions))
			}
		}
	}

	// PostgreSQL: reachable, every route's table and columns.
	fmt.Fprintln(out, "postgres:")
	conn, err := pgdial.Connect(ctx, cfg.Postgres, "kafka2pg check")
	if err != nil {
		fail("cannot connect: %v", cfg.RedactError(err))
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err == nil {
		fmt.Fprintf(out, "  ok   connected, PostgreSQL %s\n", version)
	}
	if cfg.Delivery == config.DeliveryExactlyOnce {
		schema, table := cfg.Postgres.OffsetsTableName()
		store := eos.NewOffsetStore(schema, table, cfg.Kafka.Group)
		stored, err := store.List(ctx, conn)
		switch {
		case err == nil:
			fmt.Fprintf(out, "  ok   offset table %s: %d partition(s) stored for group %s\n", store.Table(), len(stored), cfg.Kafka.Group)
		case pgwrite.IsUndefinedTable(err):
			fmt.Fprintf(out, "  ok   offset table %s does not exist yet; run creates it\n", store.Table())
		default:
			fail("offset table %s: %v", store.Table(), err)
		}
	}
	switch {
	case cfg.Errors.DLQ.Table != "":
		d := dlq.NewTable(cfg.Errors.DLQ.Table, cfg.Kafka.Group)
		n, err := d.Count(ctx, conn)
		switch {
		case err == nil:
			fmt.Fprintf(out, "  ok   dead-letter table %s: %d dead letter(s) of group %s\n", d.Name(), n, cfg.Kafka.Group)
		case pgwrite.IsUndefinedTable(err):
			fmt.Fprintf(out, "  ok   dead-letter table %s does not exist yet; run creates it\n", d.Name())
		default:
			fail("dead-letter table %s: %v", d.Name(), err)
		}
	case cfg.Errors.DLQ.Topic != "":
		if _, exists := topics[cfg.Errors.DLQ.Topic]; topics != nil && !exists {
			fail("dead-letter topic %s does not exist", cfg.Errors.DLQ.Topic)
		} else if topics != nil {
			fmt.Fprintf(out, "  ok   dead-letter topic %s exists\n", cfg.Errors.DLQ.Topic)
		}
	}
	if cfg.Batch.BacklogMerge != config.BacklogMergeFalse &&
		slices.ContainsFunc(cfg.Routes, func(r config.Route) bool { return r.Mode == config.ModeUpsert }) {
		checkBacklogSchema(ctx, conn, cfg, out)
	}
	formats := format.NewSet(cfg.SchemaRegistry)
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		fmt.Fprintf(out, "routes[%d]: topics %s → ", i, strings.Join(rc.AllTopics(), ", "))
		r, err := route.Prepare(ctx, conn, i, rc, progs[i], formats, false)
		fmt.Fprintf(out, "table %s (mode %s)\n", r.TableName, rc.Mode)
		fmt.Fprintf(out, "  ok   value %s, key %s\n", rc.Value.Format, rc.Key.Format)
		if err != nil {
			if rc.Mode == "raw" && errors.Is(err, table.ErrTableNotFound) {
				fmt.Fprintf(out, "  ok   raw table does not exist yet; run creates it with:\n")
				printDDL(out, ddl.RawTableDDL(r.TableName, r.Base().Key.Structured()))
				continue
			}
			fail("%v", err)
			continue
		}
		if p := progs[i]; p != nil {
			fmt.Fprintf(out, "  ok   expressions compile:%s\n", describePrograms(p))
		}
		if r.Static() == nil {
			fmt.Fprintf(out, "  ok   the table is computed per record by table_expr; a table that does not exist is a record error%s\n",
				map[bool]string{true: " unless auto_create creates it", false: ""}[rc.AutoCreate])
			continue
		}
		if r.Binding() != nil {
			describeTable(out, r, fail)
			describePartitions(ctx, conn, out, r.Binding().Table, fail)
		}
		if rc.AutoCreate || rc.AutoEvolve {
			checkDDL(ctx, cfg, out, r, fail)
		}
	}
}

// checkBacklogSchema says where a backlog merge makes its staging tables
// (the schema of postgres.offsets_table, or the first of the search path),
// and warns when the role may not create tables there: the upsert backlogs
// are then written batch by batch, which works, more slowly.
func checkBacklogSchema(ctx context.Context, conn *pgx.Conn, cfg *config.Config, out io.Writer) {
	when := "in runs with --stop-at-end, and of late backlogs in others (batch.backlog_merge: auto)"
	if cfg.Batch.BacklogMerge == config.BacklogMergeTrue {
		when = "in every run (batch.backlog_merge: true)"
	}
	const fallback = "upsert backlogs are written batch by batch"
	schema, _ := cfg.Postgres.OffsetsTableName()
	var name *string
	var can bool
	err := conn.QueryRow(ctx, `SELECT s, CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = s)
		THEN has_schema_privilege(s, 'CREATE') ELSE false END
		FROM (SELECT coalesce(nullif($1::text, ''), current_schema()) AS s) x`, schema).Scan(&name, &can)
	switch {
	case err != nil:
		fmt.Fprintf(out, "  warn backlog merge %s: cannot tell whether staging tables can be made: %v\n", when, cfg.RedactError(err))
	case name == nil:
		fmt.Fprintf(out, "  warn backlog merge %s: no schema of the search path exists to make staging tables in; %s (name a schema in postgres.offsets_table, or set batch.backlog_merge: false)\n", when, fallback)
	case !can:
		q := pgx.Identifier{*name}.Sanitize()
		fmt.Fprintf(out, "  warn backlog merge %s: no right to create tables in schema %s; %s (GRANT CREATE ON SCHEMA %s to the role, name another schema in postgres.offsets_table, or set batch.backlog_merge: false)\n",
			when, q, fallback, q)
	default:
		fmt.Fprintf(out, "  ok   backlog merge %s: staging tables in schema %s\n", when, pgx.Identifier{*name}.Sanitize())
	}
}

// describePrograms lists a route's expressions.
func describePrograms(p *route.Programs) string {
	var parts []string
	if p.Filter != nil {
		parts = append(parts, "filter")
	}
	if p.Each != nil {
		parts = append(parts, "each")
	}
	if p.Table != nil {
		parts = append(parts, "table_expr")
	}
	for _, c := range p.Columns {
		parts = append(parts, "columns."+c.Name)
	}
	return " " + strings.Join(parts, ", ")
}

func describeTable(out io.Writer, r *route.Route, fail func(string, ...any)) {
	t := r.Binding().Table
	keyCols := r.Binding().Spec.KeyCols
	if len(keyCols) > 0 {
		fmt.Fprintf(out, "  ok   key (%s)\n", strings.Join(keyCols, ", "))
	}
	for _, c := range t.Columns {
		var notes []string
		if c.NotNull {
			notes = append(notes, "not null")
		}
		if c.HasDefault {
			notes = append(notes, "has default")
		}
		if slices.Contains(keyCols, c.Name) {
			notes = append(notes, "key")
		}
		note := ""
		if len(notes) > 0 {
			note = " (" + strings.Join(notes, ", ") + ")"
		}
		switch {
		case c.Generated:
			fmt.Fprintf(out, "  ok   column %s %s: generated, never written\n", c.Name, c.TypeName)
		case c.Type == nil && c.NotNull && !c.HasDefault:
			fail("column %s %s: %v, and it is NOT NULL without a default: no record can be written", c.Name, c.TypeName, c.TypeErr)
		case c.Type == nil:
			fmt.Fprintf(out, "  warn column %s %s: %v; a record with this field stops the pipeline\n", c.Name, c.TypeName, c.TypeErr)
		default:
			fmt.Fprintf(out, "  ok   column %s %s%s\n", c.Name, c.TypeName, note)
		}
	}
}

// partitionsSQL lists the partition tree under a partitioned table, a row
// a partition, parents before their partitions: the partition's name,
// its parent, its bound (FOR VALUES …, or DEFAULT) and, for a partition
// that is partitioned in turn, its partition key (RANGE (…), LIST (…),
// HASH (…)).
const partitionsSQL = `
WITH RECURSIVE tree(relid, parent) AS (
  SELECT i.inhrelid, i.inhparent FROM pg_inherits i WHERE i.inhparent = $1
  UNION ALL
  SELECT i.inhrelid, i.inhparent FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid
)
SELECT tree.relid, tree.parent, c.oid::regclass::text, coalesce(pg_get_expr(c.relpartbound, c.oid), ''),
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) ELSE '' END
FROM tree JOIN pg_class c ON c.oid = tree.relid
ORDER BY pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', c.oid::regclass::text`

// describePartitions shows the partitions of a partitioned table, with
// their bounds, as a tree: a row that fits no partition is rejected by
// PostgreSQL (a record error), so what the bounds cover matters.
func describePartitions(ctx context.Context, conn *pgx.Conn, out io.Writer, t *table.Table, fail func(string, ...any)) {
	if !t.Partitioned {
		return
	}
	var keyDef string
	if err := conn.QueryRow(ctx, "SELECT pg_get_partkeydef($1)", t.OID).Scan(&keyDef); err != nil {
		fail("reading the partition key of %s: %v", t, err)
		return
	}
	type part struct {
		oid, parent     uint32
		name, bound, by string
	}
	rows, err := conn.Query(ctx, partitionsSQL, t.OID)
	var parts []part
	if err == nil {
		parts, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (part, error) {
			var p part
			err := row.Scan(&p.oid, &p.parent, &p.name, &p.bound, &p.by)
			return p, err
		})
	}
	if err != nil {
		fail("reading the partitions of %s: %v", t, err)
		return
	}
	var leaves int
	var defaults []string
	for _, p := range parts {
		if p.by == "" {
			leaves++
		}
		if p.bound == "DEFAULT" && p.parent == t.OID {
			defaults = append(defaults, p.name)
		}
	}
	switch {
	case len(parts) == 0:
		fmt.Fprintf(out, "  warn partitioned by %s, with no partitions: PostgreSQL rejects every row (SQLSTATE 23514), each a record error\n", keyDef)
		return
	case len(defaults) > 0:
		fmt.Fprintf(out, "  ok   partitioned by %s: %d partition(s), %d leaf partition(s); the default partition %s takes rows no other bound covers\n",
			keyDef, len(parts), leaves, defaults[0])
	default:
		fmt.Fprintf(out, "  ok   partitioned by %s: %d partition(s), %d leaf partition(s), no default partition: a row no bound covers is a record error (SQLSTATE 23514)\n",
			keyDef, len(parts), leaves)
	}
	var walk func(parent uint32, depth int)
	walk = func(parent uint32, depth int) {
		for _, p := range parts {
			if p.parent != parent {
				continue
			}
			line := p.name + " " + p.bound
			if p.by != "" {
				line += ", partitioned by " + p.by
			}
			fmt.Fprintf(out, "         %s%s\n", strings.Repeat("  ", depth), line)
			if p.by != "" {
				walk(p.oid, depth+1)
			}
		}
	}
	walk(t.OID, 0)
}

func printDDL(out io.Writer, ddl string) {
	for _, line := range strings.Split(ddl, "\n") {
		fmt.Fprintf(out, "         %s\n", line)
	}
}

// checkDDL samples the route's topics (from the start, without a consumer
// group: nothing is committed) and prints the DDL auto_create and
// auto_evolve would run for those records.
func checkDDL(ctx context.Context, cfg *config.Config, out io.Writer, r *route.Route, fail func(string, ...any)) {
	recs, err := sampleTopics(ctx, cfg, r.Cfg.AllTopics(), route.DescribeLimit)
	if err != nil {
		fail("sampling %s: %v", strings.Join(r.Cfg.AllTopics(), ", "), err)
		return
	}
	b := r.Binding()
	if b == nil {
		ddl, shape, err := r.Static().CreateDDL(ctx, recs)
		switch {
		case errors.Is(err, route.ErrNoShape):
			fmt.Fprintf(out, "  ok   table does not exist; run creates it from the first records (none to learn from yet in %d sampled)\n", len(recs))
		case err != nil:
			fail("auto_create: %v", err)
		default:
			from := "the record schema"
			if shape.Inferred {
				from = fmt.Sprintf("%d schemaless records sampled", shape.Records)
			}
			fmt.Fprintf(out, "  ok   table does not exist; run creates it (from %s) with:\n", from)
			printDDL(out, ddl+";")
		}
		return
	}
	if !r.Cfg.AutoEvolve {
		return
	}
	m, err := transform.NewMapper(b.Spec)
	if err != nil {
		fail("%v", err)
		return
	}
	var stmts []string
	for _, rec := range recs {
		var row table.Row
		var change *transform.SchemaChange
		if err := m.Map(ctx, rec, &row); errors.As(err, &change) {
			more, err := ddl.EvolveDDL(b.Table, change.Fields, b.Spec.KeyCols)
			if err != nil {
				fail("auto_evolve: offset %d of %s[%d]: %v", rec.Offset, rec.Topic, rec.Partition, err)
				continue
			}
			for _, s := range more {
				if !slices.Contains(stmts, s) {
					stmts = append(stmts, s)
				}
			}
		}
	}
	if len(stmts) == 0 {
		fmt.Fprintf(out, "  ok   auto_evolve: the %d records sampled need no change to the table\n", len(recs))
		return
	}
	fmt.Fprintf(out, "  ok   auto_evolve: the %d records sampled would make run change the table with:\n", len(recs))
	for _, s := range stmts {
		printDDL(out, s+";")
	}
}

// sampleTopics reads up to limit records from the start of topics without a
// group, stopping at the end of every partition or after 5 seconds.
func sampleTopics(ctx context.Context, cfg *config.Config, topics []string, limit int) ([]*kgo.Record, error) {
	kopts, err := source.ClientOpts(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	kopts = append(kopts, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	left := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			if left[o.Topic] == nil {
				left[o.Topic] = map[int32]int64{}
			}
			left[o.Topic][o.Partition] = o.Offset
		}
	})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(left) > 0 && len(recs) < limit && ctx.Err() == nil {
		fs := cl.PollRecords(ctx, limit-len(recs))
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, r)
			if end, ok := left[r.Topic][r.Partition]; ok && r.Offset+1 >= end {
				delete(left[r.Topic], r.Partition)
				if len(left[r.Topic]) == 0 {
					delete(left, r.Topic)
				}
			}
		})
	}
	return recs, nil
}
