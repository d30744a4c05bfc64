// Command run runs one of the format examples in examples/formats end to
// end against the local Kafka and PostgreSQL of scripts/services.sh:
//
//	go run ./examples/formats/run -format avro -bin bin/kafka2pg -count 20
//
// It starts an in-process Schema Registry stand-in on 127.0.0.1 (package
// srtest) and registers the example's schemas under "<topic>-value" (and
// "<topic>-key" where the key has a schema), recreates the topic, produces
// -count sample orders encoded as that format's producers encode them,
// drops and recreates the example's table in the database kafka2pg_examples
// (from schema.sql, or not at all when the pipeline has auto_create), runs
//
//	<bin> run --config examples/formats/<format>/pipeline.yaml --stop-at-end
//
// with KAFKA2PG_BROKERS, DATABASE_URL and SCHEMA_REGISTRY_URL set, and prints
// the table's columns and first rows. It exits 1 when kafka2pg fails or the
// table does not hold the rows and the total amount the producer's model
// expects, 2 on bad flags. Its last line is
//
//	result: table=<table> rows=<n> expected_rows=<n> total_amount=<sum> ok=<true|false>
//
// Runs take a PostgreSQL advisory lock, so that two of them (two terminals,
// or the end-to-end test next to `make example`) take turns on the shared
// topics instead of reading each other's records.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
)

// example is one format's producer side.
type example struct {
	// registry: the example needs the Schema Registry stand-in.
	registry bool
	// records registers the schemas the records need and encodes them.
	records func(p *producer) ([]*kgo.Record, expectation, error)
}

var examples = map[string]example{
	"avro":         {registry: true, records: avroRecords},
	"protobuf":     {registry: true, records: protobufRecords},
	"json-schema":  {registry: true, records: jsonSchemaRecords},
	"json-connect": {registry: false, records: connectRecords},
	"debezium":     {registry: true, records: debeziumRecords},
}

func formats() []string {
	names := make([]string, 0, len(examples))
	for n := range examples {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// producer is what an example's records function works with.
type producer struct {
	dir   string         // examples/formats/<format>
	topic string         // the route's topic
	count int            // -count
	sr    *srtest.Server // nil without registry
}

// file reads a file of the example's directory.
func (p *producer) file(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	return string(b), err
}

// register registers schema text under subject and returns its id.
func (p *producer) register(subject, schemaType, schema string) (int, error) {
	id, err := p.sr.Register(subject, schemaType, schema)
	if err != nil {
		return 0, fmt.Errorf("registering %s: %w", subject, err)
	}
	fmt.Printf("registered subject %s (%s): schema id %d\n", subject, typeName(schemaType), id)
	return id, nil
}

func typeName(schemaType string) string {
	if schemaType == "" {
		return "AVRO"
	}
	return schemaType
}

// expectation is what the table must hold once kafka2pg has caught up: the
// producer's model of the rows alive after the last record, by key.
type expectation map[int64]order

// total is the sum of the amounts.
func (e expectation) total() *big.Rat {
	t := new(big.Rat)
	for _, o := range e {
		t.Add(t, o.Amount)
	}
	return t
}

func main() { os.Exit(runMain()) }

// runMain returns the exit code: 0 when the table is as expected, 1 when
// it is not or the run failed, 2 for bad flags.
func runMain() int {
	var (
		format   = flag.String("format", "", "example to run: "+strings.Join(formats(), ", "))
		bin      = flag.String("bin", "bin/kafka2pg", "kafka2pg binary")
		count    = flag.Int("count", 20, "sample orders (for debezium: change events) to produce; at least 4")
		dir      = flag.String("dir", "examples/formats", "directory holding the examples")
		brokers  = flag.String("brokers", envOr("KAFKA2PG_TEST_BROKERS", "127.0.0.1:9092"), "Kafka bootstrap brokers")
		adminURL = flag.String("admin-url", os.Getenv("KAFKA2PG_TEST_DATABASE_URL"), "PostgreSQL URL of a superuser, used to create the example database")
		database = flag.String("database", "kafka2pg_examples", "database the example writes to (created when missing)")
		timeout  = flag.Duration("timeout", 3*time.Minute, "bound on the whole run")
	)
	flag.Parse()
	ex, ok := examples[*format]
	switch {
	case !ok:
		fmt.Fprintf(os.Stderr, "run: -format must be one of %s; got %q\n", strings.Join(formats(), ", "), *format)
		return 2
	case *count < 4:
		fmt.Fprintf(os.Stderr, "run: -count must be at least 4 (the first orders hold the interesting values); got %d\n", *count)
		return 2
	case *adminURL == "":
		fmt.Fprintln(os.Stderr, "run: -admin-url (or KAFKA2PG_TEST_DATABASE_URL) is not set; run `eval \"$(scripts/services.sh up)\"` first")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r := &runner{ex: ex, bin: *bin, count: *count, dir: filepath.Join(*dir, *format),
		brokers: *brokers, adminURL: *adminURL, database: *database}
	ok, err := r.run(ctx)
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "run %s: %v\n", *format, err)
		return 1
	case !ok:
		return 1
	}
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type runner struct {
	ex                 example
	bin, dir           string
	count              int
	brokers            string
	adminURL, database string
	dbURL              string // of database, set by run
}

// lockKey is the advisory lock (in the admin URL's database) that
// serialises example runs.
const lockKey = "kafka2pg examples/formats"

func (r *runner) run(ctx context.Context) (bool, error) {
	admin, err := pgx.Connect(ctx, r.adminURL)
	if err != nil {
		return false, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer admin.Close(context.Background()) // releases the lock
	if err := lock(ctx, admin); err != nil {
		return false, err
	}
	if r.dbURL, err = ensureDatabase(ctx, admin, r.adminURL, r.database); err != nil {
		return false, err
	}

	var sr *srtest.Server
	if r.ex.registry {
		if sr, err = srtest.NewServerAt("127.0.0.1:0"); err != nil {
			return false, fmt.Errorf("starting the Schema Registry stand-in: %w", err)
		}
		defer sr.Close()
		fmt.Printf("== Schema Registry stand-in on %s\n", sr.URL())
	}
	// The pipeline's ${VARIABLES}; kafka2pg inherits them.
	env := map[string]string{"KAFKA2PG_BROKERS": r.brokers, "DATABASE_URL": r.dbURL, "SCHEMA_REGISTRY_URL": ""}
	if sr != nil {
		env["SCHEMA_REGISTRY_URL"] = sr.URL()
	}
	for k, v := range env {
		if err := os.Setenv(k, v); err != nil {
			return false, err
		}
	}
	cfgPath := filepath.Join(r.dir, "pipeline.yaml")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return false, err
	}
	route := &cfg.Routes[0]
	topic := route.AllTopics()[0]
	schema, table := route.TableName()
	if schema != "" {
		table = schema + "." + table
	}

	p := &producer{dir: r.dir, topic: topic, count: r.count, sr: sr}
	recs, want, err := r.ex.records(p)
	if err != nil {
		return false, err
	}
	fmt.Printf("== topic %s: recreating it and producing %d records\n", topic, len(recs))
	if err := produce(ctx, r.brokers, topic, cfg.Kafka.Group, recs); err != nil {
		return false, err
	}

	db, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return false, fmt.Errorf("connecting to %s: %w", r.database, err)
	}
	defer db.Close(context.Background())
	if err := r.resetTable(ctx, db, table, route.AutoCreate); err != nil {
		return false, err
	}

	fmt.Printf("== %s run --config %s --stop-at-end\n", r.bin, cfgPath)
	cmd := exec.CommandContext(ctx, r.bin, "run", "--config", cfgPath, "--stop-at-end")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("kafka2pg: %w", err)
	}

	return r.report(ctx, db, table, want)
}

func lock(ctx context.Context, admin *pgx.Conn) error {
	var got bool
	if err := admin.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", lockKey).Scan(&got); err != nil {
		return fmt.Errorf("taking the examples lock: %w", err)
	}
	if got {
		return nil
	}
	fmt.Println("waiting for another example run to finish")
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", lockKey); err != nil {
		return fmt.Errorf("waiting for the examples lock: %w", err)
	}
	return nil
}

// ensureDatabase creates the database when missing and returns its URL:
// the admin URL with the database name replaced.
func ensureDatabase(ctx context.Context, admin *pgx.Conn, adminURL, name string) (string, error) {
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("creating database %s: %w", name, err)
		}
		fmt.Printf("created database %s\n", name)
	}
	u, err := url.Parse(adminURL)
	if err != nil || u.Scheme == "" {
		return "", errors.New("the admin URL must be a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String(), nil
}

// resetTable drops the example's table and, unless kafka2pg creates it
// (auto_create), creates it again from schema.sql.
func (r *runner) resetTable(ctx context.Context, db *pgx.Conn, table string, autoCreate bool) error {
	if _, err := db.Exec(ctx, "DROP TABLE IF EXISTS "+ident(table)); err != nil {
		return fmt.Errorf("dropping %s: %w", table, err)
	}
	if autoCreate {
		fmt.Printf("== table %s dropped: kafka2pg creates it (auto_create)\n", table)
		return nil
	}
	ddl, err := os.ReadFile(filepath.Join(r.dir, "schema.sql"))
	if err != nil {
		return err
	}
	if _, err := db.Exec(ctx, string(ddl)); err != nil {
		return fmt.Errorf("%s/schema.sql: %w", r.dir, err)
	}
	fmt.Printf("== table %s created from %s/schema.sql\n", table, r.dir)
	return nil
}

func ident(table string) string {
	schema, name := config.SplitTableName(table)
	if schema == "" {
		return pgx.Identifier{name}.Sanitize()
	}
	return pgx.Identifier{schema, name}.Sanitize()
}

// produce recreates the topic (3 partitions), forgets the group's offsets
// and writes recs, keyed records by the hash of their key.
func produce(ctx context.Context, brokers, topic, group string, recs []*kgo.Record) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.DeleteTopics(ctx, topic); err != nil {
		return fmt.Errorf("deleting topic %s: %w", topic, err)
	}
	// Deletion is asynchronous: creation fails until it is done.
	for attempt := 0; ; attempt++ {
		resp, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err == nil {
			break
		}
		if attempt >= 60 || !errors.Is(err, kerr.TopicAlreadyExists) && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("creating topic %s: %w", topic, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// A group that read an earlier incarnation of the topic must start from
	// the beginning again.
	resp, err := adm.DeleteGroup(ctx, group)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("deleting consumer group %s (is another kafka2pg consuming as this group?): %w", group, err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("producing to %s: %w", topic, err)
	}
	return nil
}

// report prints the table and compares it with want.
func (r *runner) report(ctx context.Context, db *pgx.Conn, table string, want expectation) (bool, error) {
	if _, err := db.Exec(ctx, "SET TimeZone = 'UTC'"); err != nil {
		return false, err
	}
	rows, err := db.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
		FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
		ident(table))
	if err != nil {
		return false, err
	}
	var cols, defs []string
	for rows.Next() {
		var col, typ string
		var notNull bool
		if err := rows.Scan(&col, &typ, &notNull); err != nil {
			return false, err
		}
		def := col + " " + typ
		if notNull {
			def += " NOT NULL"
		}
		cols, defs = append(cols, col), append(defs, def)
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	if len(cols) == 0 {
		return false, fmt.Errorf("table %s does not exist after the run", table)
	}
	fmt.Printf("\n== table %s (%s)\n", table, strings.Join(defs, ", "))

	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = fmt.Sprintf("coalesce(%s::text, 'NULL')", pgx.Identifier{c}.Sanitize())
	}
	// The first rows hold the edge cases (see sampleOrder); the last ones,
	// the latest records (in the avro example, those of schema version 2).
	const first, last = 6, 3
	key := pgx.Identifier{cols[0]}.Sanitize()
	rows, err = db.Query(ctx, fmt.Sprintf(`SELECT n > %[4]d + %[5]d AND rn = n - %[5]d + 1, %[1]s FROM (
		SELECT *, row_number() OVER (ORDER BY %[3]s) AS rn, count(*) OVER () AS n FROM %[2]s) t
		WHERE rn <= %[4]d OR rn > n - %[5]d ORDER BY rn`,
		strings.Join(exprs, ", "), ident(table), key, first, last))
	if err != nil {
		return false, err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for rows.Next() {
		var gap bool
		vals := make([]string, len(cols))
		ptrs := []any{&gap}
		for i := range vals {
			ptrs = append(ptrs, &vals[i])
		}
		if err := rows.Scan(ptrs...); err != nil {
			return false, err
		}
		if gap {
			fmt.Fprintln(tw, "…"+strings.Repeat("\t", len(cols)-1)) // tabs keep the columns aligned
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	tw.Flush()

	var n int
	var total string
	if err := db.QueryRow(ctx, "SELECT count(*), coalesce(sum(amount), 0)::text FROM "+ident(table)).Scan(&n, &total); err != nil {
		return false, err
	}
	diffs, err := compare(ctx, db, table, cols[0], want)
	if err != nil {
		return false, err
	}
	ok := n == len(want) && len(diffs) == 0
	fmt.Println()
	if ok {
		fmt.Printf("the table holds %d rows, total amount %s: every row as the producer's model has it\n", n, total)
	} else {
		fmt.Fprintf(os.Stderr, "MISMATCH: the table holds %d rows, total amount %s; the producer's model has %d rows, total amount %s\n",
			n, total, len(want), want.total().FloatString(2))
		for i, d := range diffs {
			if i == 10 {
				fmt.Fprintf(os.Stderr, "  … %d more\n", len(diffs)-i)
				break
			}
			fmt.Fprintln(os.Stderr, "  "+d)
		}
	}
	fmt.Printf("result: table=%s rows=%d expected_rows=%d total_amount=%s ok=%t\n", table, n, len(want), total, ok)
	return ok, nil
}

// compare reads the columns every example's table has and returns the rows
// that differ from the model, one line each.
func compare(ctx context.Context, db *pgx.Conn, table, keyCol string, want expectation) ([]string, error) {
	rows, err := db.Query(ctx, fmt.Sprintf(`SELECT %s, amount::text, customer, currency::text, status,
		to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), delivery_date::text, note FROM %[2]s ORDER BY %[1]s`,
		pgx.Identifier{keyCol}.Sanitize(), ident(table)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[int64]bool{}
	var diffs []string
	for rows.Next() {
		var id int64
		var got rowText
		if err := rows.Scan(&id, &got.amount, &got.customer, &got.currency, &got.status, &got.created, &got.delivery, &got.note); err != nil {
			return nil, err
		}
		seen[id] = true
		o, ok := want[id]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s %d: in the table, not in the model", keyCol, id))
			continue
		}
		if w := o.text(); got.String() != w.String() {
			diffs = append(diffs, fmt.Sprintf("%s %d: got %v, want %v", keyCol, id, got, w))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(want))
	for id := range want {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		diffs = append(diffs, fmt.Sprintf("%s %d: in the model, not in the table", keyCol, id))
	}
	return diffs, nil
}

// rowText is a row's compared columns as PostgreSQL prints them.
type rowText struct {
	amount, customer, currency, status, created string
	delivery, note                              *string
}

func (t rowText) String() string {
	s := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return strconv.Quote(*p)
	}
	return fmt.Sprintf("{amount %s, customer %q, currency %q, status %s, created_at %s, delivery_date %s, note %s}",
		t.amount, t.customer, t.currency, t.status, t.created, s(t.delivery), s(t.note))
}

// text is how the order's row must read.
func (o *order) text() rowText {
	return rowText{amount: o.amountText(), customer: o.Customer, currency: o.Currency, status: o.Status,
		created: o.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"), delivery: o.dateText(), note: o.Note}
}
