package admin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/format"
	"github.com/kafka2pg/kafka2pg/internal/pgdial"
	"github.com/kafka2pg/kafka2pg/internal/route"
	"github.com/kafka2pg/kafka2pg/internal/table"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
)

// PreviewOptions select what preview shows.
type PreviewOptions struct {
	// Route limits the preview to the route of that name.
	Route string
	// N is how many records of each topic are read (from the start).
	N   int
	Out io.Writer
}

// Preview reads the first records of each route's topics — without a
// consumer group, committing nothing — and prints the rows they would
// become, per table, or the error each would give. Nothing is written. A
// *config.ValidationError (an expression that does not compile) and a
// *UsageError (an unknown route) come before anything connects.
func Preview(ctx context.Context, cfg *config.Config, opts PreviewOptions) error {
	progs, err := route.Compile(cfg)
	if err != nil {
		return err
	}
	if opts.N <= 0 {
		opts.N = 5
	}
	var names []string
	selected := false
	for i := range cfg.Routes {
		names = append(names, cfg.Routes[i].RouteName())
		selected = selected || cfg.Routes[i].RouteName() == opts.Route
	}
	if opts.Route != "" && !selected {
		return &UsageError{Msg: fmt.Sprintf("--route %s: no route has that name (routes: %s)", opts.Route, strings.Join(names, ", "))}
	}
	conn, err := pgdial.Connect(ctx, cfg.Postgres, "kafka2pg preview")
	if err != nil {
		return cfg.RedactError(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	formats := format.NewSet(cfg.SchemaRegistry)
	var routes []*route.Route
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		if opts.Route != "" && rc.RouteName() != opts.Route {
			continue
		}
		r, err := route.Prepare(ctx, conn, i, rc, progs[i], formats, false)
		switch {
		case errors.Is(err, table.ErrTableNotFound) && rc.Mode == config.ModeRaw:
			fmt.Fprintf(opts.Out, "route %s: the raw table %s does not exist yet; run creates it\n", r.Name, r.TableName)
			continue
		case err != nil:
			return fmt.Errorf("routes[%d] (table %s): %w", i, r.TableName, err)
		case r.Static() != nil && r.Binding() == nil:
			fmt.Fprintf(opts.Out, "route %s: the table %s does not exist yet; run creates it from the first records (auto_create)\n", r.Name, r.TableName)
			continue
		}
		routes = append(routes, r)
	}
	set := route.NewSet(routes)
	var topics []string
	for _, r := range routes {
		for _, t := range r.Cfg.AllTopics() {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	log := discardLogger()
	for _, topic := range topics {
		recs, err := sampleTopics(ctx, cfg, []string{topic}, opts.N)
		if err != nil {
			return fmt.Errorf("reading topic %s: %w", topic, err)
		}
		m, err := route.NewMapper(set.ForTopic(topic), conn, nil, log, telemetry.NewMetrics())
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.Out, "topic %s: %d record(s) from the start\n", topic, len(recs))
		for i, r := range recs {
			previewRecord(ctx, opts.Out, m, r, recs[i:])
		}
	}
	return nil
}

func previewRecord(ctx context.Context, out io.Writer, m *route.Mapper, r *kgo.Record, rest []*kgo.Record) {
	key := "null"
	if r.Key != nil {
		key = clip(string(r.Key))
	}
	fmt.Fprintf(out, "  partition %d offset %d key %s:\n", r.Partition, r.Offset, key)
	rows, err := m.Map(ctx, r, rest)
	m.Flushed()
	switch {
	case err != nil:
		fmt.Fprintf(out, "    error: %v\n", err)
		return
	case len(rows) == 0 && m.Filtered():
		fmt.Fprintf(out, "    filtered out: no row\n")
		return
	case len(rows) == 0:
		fmt.Fprintf(out, "    no effect: no row\n")
		return
	}
	for _, row := range rows {
		t := row.B.Table
		var cols []string
		for _, i := range row.Row.Set.Indexes() {
			v := row.Row.Vals[i]
			if b, ok := v.([]byte); ok && t.Columns[i].Type != nil &&
				(t.Columns[i].Type.Kind == coerce.KindJSON || t.Columns[i].Type.Kind == coerce.KindJSONB) {
				v = string(b) // JSON text, not bytes
			}
			cols = append(cols, t.Columns[i].Name+"="+previewValue(v))
		}
		op := map[table.Op]string{table.OpWrite: "write", table.OpDelete: "delete", table.OpReplace: "replace the rows of"}[row.Row.Op]
		fmt.Fprintf(out, "    %s %s: %s\n", op, t, strings.Join(cols, " "))
	}
}

// previewValue renders a column value as a person reads it.
func previewValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return fmt.Sprintf("%q", clip(x))
	case []byte:
		return `\x` + hex.EncodeToString([]byte(clip(string(x))))
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case coerce.Decimal:
		return x.String()
	case pgtype.Numeric:
		if b, err := x.MarshalJSON(); err == nil {
			return string(b)
		}
	}
	return clip(fmt.Sprint(v))
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
