package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/source"
)

// Check connects to Kafka and PostgreSQL and reports, for every route, what
// it found and what would fail, without writing anything (raw tables that do
// not exist yet are reported, not created). It returns false when anything
// would stop the pipeline.
func Check(ctx context.Context, cfg *config.Config, out io.Writer) bool {
	ok := true
	fail := func(format string, args ...any) {
		ok = false
		fmt.Fprintf(out, "  FAIL "+format+"\n", args...)
	}
	fmt.Fprintf(out, "config: ok (%d route(s))\n", len(cfg.Routes))

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
	conn, err := pgx.Connect(ctx, cfg.Postgres.URL)
	if err != nil {
		fail("cannot connect: %v", RedactPassword(err, cfg.Postgres.URL))
		return false
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var version string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&version); err == nil {
		fmt.Fprintf(out, "  ok   connected, PostgreSQL %s\n", version)
	}
	if cfg.Delivery == config.DeliveryExactlyOnce {
		schema, table := cfg.Postgres.OffsetsTableName()
		store := pgwrite.NewOffsetStore(schema, table, cfg.Kafka.Group)
		stored, err := store.List(ctx, conn)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			fmt.Fprintf(out, "  ok   offset table %s: %d partition(s) stored for group %s\n", store.Table(), len(stored), cfg.Kafka.Group)
		case errors.As(err, &pgErr) && pgErr.Code == "42P01": // undefined_table
			fmt.Fprintf(out, "  ok   offset table %s does not exist yet; run creates it\n", store.Table())
		default:
			fail("offset table %s: %v", store.Table(), err)
		}
	}
	switch {
	case cfg.Errors.DLQ.Table != "":
		d := newDLQTable(cfg.Errors.DLQ.Table, cfg.Kafka.Group)
		var n int64
		err := conn.QueryRow(ctx, `SELECT count(*) FROM `+d.ident.Sanitize()+` WHERE "group" = $1`, cfg.Kafka.Group).Scan(&n)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			fmt.Fprintf(out, "  ok   dead-letter table %s: %d dead letter(s) of group %s\n", d.ident.Sanitize(), n, cfg.Kafka.Group)
		case errors.As(err, &pgErr) && pgErr.Code == "42P01":
			fmt.Fprintf(out, "  ok   dead-letter table %s does not exist yet; run creates it\n", d.ident.Sanitize())
		default:
			fail("dead-letter table %s: %v", d.ident.Sanitize(), err)
		}
	case cfg.Errors.DLQ.Topic != "":
		if _, exists := topics[cfg.Errors.DLQ.Topic]; topics != nil && !exists {
			fail("dead-letter topic %s does not exist", cfg.Errors.DLQ.Topic)
		} else if topics != nil {
			fmt.Fprintf(out, "  ok   dead-letter topic %s exists\n", cfg.Errors.DLQ.Topic)
		}
	}
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		fmt.Fprintf(out, "routes[%d]: topics %s → ", i, strings.Join(rc.AllTopics(), ", "))
		r, err := PrepareRoute(ctx, conn, rc, false)
		fmt.Fprintf(out, "table %s (mode %s)\n", r.tableName, rc.Mode)
		if err != nil {
			if rc.Mode == "raw" && errors.Is(err, pgwrite.ErrTableNotFound) {
				fmt.Fprintf(out, "  ok   raw table does not exist yet; run creates it\n")
				continue
			}
			fail("%v", err)
			continue
		}
		describeTable(out, r, fail)
	}
	if ok {
		fmt.Fprintln(out, "check: ok")
	} else {
		fmt.Fprintln(out, "check: FAILED")
	}
	return ok
}

func describeTable(out io.Writer, r *route, fail func(string, ...any)) {
	t := r.table
	if len(r.mapSpec.KeyCols) > 0 {
		fmt.Fprintf(out, "  ok   key (%s)\n", strings.Join(r.mapSpec.KeyCols, ", "))
	}
	for _, c := range t.Columns {
		var notes []string
		if c.NotNull {
			notes = append(notes, "not null")
		}
		if c.HasDefault {
			notes = append(notes, "has default")
		}
		if slices.Contains(r.mapSpec.KeyCols, c.Name) {
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

func versionType(c pgwrite.Column) bool {
	if c.Type == nil {
		return false
	}
	switch c.Type.Kind {
	case coerce.KindInt2, coerce.KindInt4, coerce.KindInt8, coerce.KindTimestamp, coerce.KindTimestamptz:
		return true
	}
	return false
}

func timestampType(c pgwrite.Column) bool {
	return c.Type != nil && (c.Type.Kind == coerce.KindTimestamp || c.Type.Kind == coerce.KindTimestamptz)
}
