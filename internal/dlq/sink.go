package dlq

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/ddl"
	"github.com/kafka2pg/kafka2pg/internal/pgtx"
	"github.com/kafka2pg/kafka2pg/internal/retry"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// Table is the dead-letter table (errors.dlq.table). Its letters are
// inserted in the batch's transaction, so a letter is durable exactly when
// the batch is. A Table is safe for concurrent use.
type Table struct {
	ident pgx.Identifier
	group string
	jsonb *coerce.Type
}

// NewTable is the dead-letter table name ("table" or "schema.table") of the
// consumer group.
func NewTable(name, group string) *Table {
	ident := pgx.Identifier{name}
	if s, t := config.SplitTableName(name); s != "" {
		ident = pgx.Identifier{s, t}
	}
	jsonb, _ := coerce.TypeFor("jsonb", 'b', -1, "jsonb", 3802, nil, nil)
	return &Table{ident: ident, group: group, jsonb: jsonb}
}

// Name is the quoted table name.
func (d *Table) Name() string { return d.ident.Sanitize() }

// Ensure creates the table when it does not exist.
func (d *Table) Ensure(ctx context.Context, db ddl.Execer) error {
	if err := ddl.CreateIfMissing(ctx, db, ddl.DLQTableDDL(d.ident)); err != nil {
		return fmt.Errorf("creating dead-letter table %s: %w", d.Name(), err)
	}
	return nil
}

// Count is the number of the group's letters in the table.
func (d *Table) Count(ctx context.Context, db ddl.Execer) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT count(*) FROM `+d.Name()+` WHERE "group" = $1`, d.group).Scan(&n)
	return n, err
}

// Insert writes letters inside tx; a record already dead-lettered by an
// earlier attempt (at-least-once replay) is not stored twice. The inserts
// are deferred: they travel with the transaction's next statement (at the
// latest COMMIT), and that call returns their error.
func (d *Table) Insert(tx *pgtx.Tx, letters []Letter) {
	if len(letters) == 0 {
		return
	}
	sql := `INSERT INTO ` + d.Name() + ` ("group", "topic", "partition", "offset", "key", "value", "value_json", "headers", "timestamp", "stage", "error_class", "error")
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT ("group", "topic", "partition", "offset") DO NOTHING`
	fail := func(err error) error { return fmt.Errorf("writing the dead-letter table %s: %w", d.Name(), err) }
	var p fastjson.Parser
	for _, dl := range letters {
		r := dl.Rec
		var valueJSON any
		if r.Value != nil {
			if v, err := p.ParseBytes(r.Value); err == nil {
				if j, err := d.jsonb.FromJSON(v); err == nil {
					valueJSON = j
					if b, ok := j.([]byte); ok {
						// As text: a []byte of unknown type is sent as bytea's
						// hex text when statements are not described first
						// (postgres.pooler: transaction).
						valueJSON = string(b)
					}
				}
			}
		}
		tx.Defer(sql, fail, d.group, r.Topic, r.Partition, r.Offset, r.Key, r.Value, valueJSON,
			string(transform.HeadersJSON(r.Headers)), r.Timestamp, string(dl.Stage), dl.Class, dl.Reason)
	}
}

// Topic is the dead-letter topic (errors.dlq.topic). Its letters are
// produced and acknowledged before the batch's transaction, so a letter is
// durable before the offset past it is committed. A Topic is safe for
// concurrent use.
type Topic struct {
	Name   string
	cl     *kgo.Client
	policy retry.Policy
	log    *slog.Logger
	m      *telemetry.Metrics
}

// NewTopic produces to the topic name with cl, retrying with policy.
func NewTopic(name string, cl *kgo.Client, policy retry.Policy, log *slog.Logger, m *telemetry.Metrics) *Topic {
	return &Topic{Name: name, cl: cl, policy: policy, log: log, m: m}
}

// Produce writes letters to the topic and waits until Kafka acknowledged
// them, retrying while the topic is unreachable.
func (d *Topic) Produce(ctx context.Context, letters []Letter) error {
	if len(letters) == 0 {
		return nil
	}
	recs := topicRecords(d.Name, letters)
	hooks := d.m.RetryHooks(func(attempt int, wait time.Duration, err error) {
		d.log.Warn("writing to the dead-letter topic failed, retrying", "topic", d.Name, "attempt", attempt,
			"backoff", wait.Round(time.Millisecond), "err", err)
	})
	err := retry.Do(ctx, d.policy, nil, hooks, func(int) error {
		return d.cl.ProduceSync(ctx, recs...).FirstErr()
	})
	if err != nil {
		return fmt.Errorf("dead-letter topic %s: %w", d.Name, err)
	}
	d.m.DeadLetters.Add(float64(len(letters)))
	return nil
}
