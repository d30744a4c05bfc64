package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/coerce"
	"github.com/kafka2pg/kafka2pg/internal/pgwrite"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// deadLetter is a record that could not become a row, with why. With
// errors.tolerance: all it goes to the dead-letter queue; its offset is
// committed only once the dead letter is durable.
type deadLetter struct {
	rec    *kgo.Record
	stage  transform.Stage // decode, map, write
	class  string          // record (decode/map) or the SQLSTATE class name
	reason string
}

func deadFromError(r *kgo.Record, err error) deadLetter {
	d := deadLetter{rec: r, class: "record", reason: err.Error()}
	var re *transform.RecordError
	if errors.As(err, &re) {
		d.stage = re.Stage
	}
	return d
}

// Dead-letter topic headers, added to the record's own.
const (
	hdrClass     = "kafka2pg.error.class"
	hdrMessage   = "kafka2pg.error.message"
	hdrStage     = "kafka2pg.error.stage"
	hdrTopic     = "kafka2pg.source.topic"
	hdrPartition = "kafka2pg.source.partition"
	hdrOffset    = "kafka2pg.source.offset"
	hdrTimestamp = "kafka2pg.source.timestamp"
)

// dlqTable is the dead-letter table; it is written in the same transaction
// as the batch, so a dead letter is durable exactly when the batch is.
type dlqTable struct {
	ident pgx.Identifier
	group string
	jsonb *coerce.Type
}

func newDLQTable(name, group string) *dlqTable {
	ident := pgx.Identifier{name}
	if s, t := config.SplitTableName(name); s != "" {
		ident = pgx.Identifier{s, t}
	}
	jsonb, _ := coerce.TypeFor("jsonb", 'b', -1, "jsonb", 3802, nil, nil)
	return &dlqTable{ident: ident, group: group, jsonb: jsonb}
}

func (d *dlqTable) ensure(ctx context.Context, conn pgwrite.Execer) error {
	err := pgwrite.CreateIfMissing(ctx, conn, `CREATE TABLE IF NOT EXISTS `+d.ident.Sanitize()+` (
  "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "group" text NOT NULL,
  "topic" text NOT NULL,
  "partition" integer NOT NULL,
  "offset" bigint NOT NULL,
  "key" bytea,
  "value" bytea,
  "value_json" jsonb,
  "headers" jsonb NOT NULL,
  "timestamp" timestamptz NOT NULL,
  "stage" text NOT NULL,
  "error_class" text NOT NULL,
  "error" text NOT NULL,
  "dead_at" timestamptz NOT NULL DEFAULT now(),
  UNIQUE ("group", "topic", "partition", "offset")
)`)
	if err != nil {
		return fmt.Errorf("creating dead-letter table %s: %w", d.ident.Sanitize(), err)
	}
	return nil
}

// write inserts dead letters inside tx; a record already dead-lettered by
// an earlier attempt (at-least-once replay) is not stored twice.
func (d *dlqTable) write(ctx context.Context, tx pgx.Tx, dead []deadLetter) error {
	if len(dead) == 0 {
		return nil
	}
	sql := `INSERT INTO ` + d.ident.Sanitize() + ` ("group", "topic", "partition", "offset", "key", "value", "value_json", "headers", "timestamp", "stage", "error_class", "error")
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT ("group", "topic", "partition", "offset") DO NOTHING`
	var b pgx.Batch
	var p fastjson.Parser
	for _, dl := range dead {
		r := dl.rec
		var valueJSON any
		if r.Value != nil {
			if v, err := p.ParseBytes(r.Value); err == nil {
				if j, err := d.jsonb.FromJSON(v); err == nil {
					valueJSON = j
				}
			}
		}
		b.Queue(sql, d.group, r.Topic, r.Partition, r.Offset, r.Key, r.Value, valueJSON,
			transform.HeadersJSON(r.Headers), r.Timestamp, string(dl.stage), dl.class, dl.reason)
	}
	return tx.SendBatch(ctx, &b).Close()
}

// dlqTopic produces dead letters to a Kafka topic: the original key, value
// and headers plus kafka2pg.* headers saying what failed where.
type dlqTopic struct {
	topic string
}

func (d *dlqTopic) records(dead []deadLetter) []*kgo.Record {
	out := make([]*kgo.Record, 0, len(dead))
	for _, dl := range dead {
		r := dl.rec
		hs := append([]kgo.RecordHeader(nil), r.Headers...)
		hs = append(hs,
			kgo.RecordHeader{Key: hdrClass, Value: []byte(dl.class)},
			kgo.RecordHeader{Key: hdrMessage, Value: []byte(dl.reason)},
			kgo.RecordHeader{Key: hdrStage, Value: []byte(dl.stage)},
			kgo.RecordHeader{Key: hdrTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: hdrPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: hdrOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
			kgo.RecordHeader{Key: hdrTimestamp, Value: []byte(r.Timestamp.UTC().Format(time.RFC3339Nano))},
		)
		out = append(out, &kgo.Record{Topic: d.topic, Key: r.Key, Value: r.Value, Headers: hs, Timestamp: r.Timestamp})
	}
	return out
}

// produceDead writes dead letters to the dead-letter topic and waits until
// Kafka acknowledged them, retrying (with the write retry policy) while the
// topic is unreachable. It runs before the batch's transaction, so a dead
// letter is durable before the offset past it is committed.
func (p *Pipeline) produceDead(ctx context.Context, dead []deadLetter) error {
	if len(dead) == 0 || p.dlqTopic == nil {
		return nil
	}
	recs := p.dlqTopic.records(dead)
	bo := newBackoff(p.cfg.Errors.Retry)
	stalled := false
	defer func() {
		if stalled {
			p.m.Stalled(-1)
		}
	}()
	for attempt := 1; ; attempt++ {
		err := p.client.ProduceSync(ctx, recs...).FirstErr()
		if err == nil {
			p.m.DeadLetters.Add(float64(len(dead)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if bo.exhausted() {
			return fmt.Errorf("dead-letter topic %s: gave up after %d attempts over %s (errors.retry.max_elapsed): %w", p.dlqTopic.topic, attempt, bo.elapsed(), err)
		}
		wait := bo.next()
		p.log.Warn("writing to the dead-letter topic failed, retrying", "topic", p.dlqTopic.topic, "attempt", attempt,
			"backoff", wait.Round(time.Millisecond), "err", err)
		if !stalled {
			stalled = true
			p.m.Stalled(1)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}
