package dlq

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// --- dead-letter table ---

// replayTable replays the group's dead letters of the table, topic by topic
// (a batch writes one route's table), in (partition, offset) order. Only
// the dead letters present at start are read: by default every id up to the
// largest one of the group at start.
func (rp *replayer) replayTable(ctx context.Context) error {
	tbl := rp.table.Name()
	group := rp.table.group
	var maxID int64
	if err := rp.db().QueryRow(ctx, `SELECT coalesce(max("id"), 0) FROM `+tbl+` WHERE "group" = $1`, group).Scan(&maxID); err != nil {
		return fmt.Errorf("reading the dead-letter table: %w", err)
	}
	lo, hi := int64(math.MinInt64), maxID
	var fromT, toT *time.Time
	if f := rp.opts.From; f.Set {
		if f.IsTime {
			fromT = &f.Time
		} else {
			lo = f.N
		}
	}
	if t := rp.opts.To; t.Set {
		if t.IsTime {
			toT = &t.Time
		} else {
			hi = min(hi, t.N)
		}
	}
	const filter = `"group" = $1 AND "id" >= $2 AND "id" <= $3 AND ($4::timestamptz IS NULL OR "dead_at" >= $4) AND ($5::timestamptz IS NULL OR "dead_at" <= $5)`
	args := []any{group, lo, hi, fromT, toT}

	type topicCount struct {
		topic string
		n     int64
	}
	var topics []topicCount
	rows, err := rp.db().Query(ctx, `SELECT "topic", count(*) FROM `+tbl+` WHERE `+filter+` GROUP BY "topic" ORDER BY "topic"`, args...)
	if err != nil {
		return fmt.Errorf("reading the dead-letter table: %w", err)
	}
	for rows.Next() {
		var tc topicCount
		if err := rows.Scan(&tc.topic, &tc.n); err != nil {
			rows.Close()
			return fmt.Errorf("reading the dead-letter table: %w", err)
		}
		topics = append(topics, tc)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the dead-letter table: %w", err)
	}

	for _, tc := range topics {
		m, err := rp.mapper(tc.topic)
		if err != nil {
			return err
		}
		if m == nil {
			rp.res.NoRoute += tc.n
			fmt.Fprintf(rp.opts.Out, "topic %s: %d dead letter(s) with no route in this configuration; left in place\n", tc.topic, tc.n)
			continue
		}
		lastPart, lastOff := int32(math.MinInt32), int64(math.MinInt64)
		for {
			items, err := rp.readTable(ctx, filter, args, tc.topic, lastPart, lastOff)
			if err != nil {
				return err
			}
			if len(items) == 0 {
				break
			}
			last := items[len(items)-1].rec
			lastPart, lastOff = last.Partition, last.Offset
			var t tally
			if err := rp.replayItems(ctx, m, items, &t, nil); err != nil {
				return err
			}
			if rp.opts.DryRun {
				rp.res.Replayed += t.replayed
				rp.res.FailedAgain += t.failed
			}
			first := items[0].rec
			rp.printBatch(t, fmt.Sprintf("topic %s partition %d offset %d to partition %d offset %d → %s",
				tc.topic, first.Partition, first.Offset, last.Partition, last.Offset, topicTables(rp.routes.ForTopic(tc.topic))))
			if len(items) < rp.batch {
				break
			}
		}
	}
	return nil
}

// readTable reads the next batch of a topic's dead letters after (part, off).
func (rp *replayer) readTable(ctx context.Context, filter string, args []any, topic string, part int32, off int64) ([]replayItem, error) {
	q := `SELECT "id", "partition", "offset", "key", "value", "headers", "timestamp" FROM ` + rp.table.Name() +
		` WHERE ` + filter + ` AND "topic" = $6 AND ("partition", "offset") > ($7, $8) ORDER BY "partition", "offset" LIMIT $9`
	rows, err := rp.db().Query(ctx, q, append(slices.Clone(args), topic, part, off, rp.batch)...)
	if err != nil {
		return nil, fmt.Errorf("reading the dead-letter table: %w", err)
	}
	defer rows.Close()
	var items []replayItem
	for rows.Next() {
		r := &kgo.Record{Topic: topic}
		var id int64
		var headers []byte
		if err := rows.Scan(&id, &r.Partition, &r.Offset, &r.Key, &r.Value, &headers, &r.Timestamp); err != nil {
			return nil, fmt.Errorf("reading the dead-letter table: %w", err)
		}
		if r.Headers, err = headersFromJSON(headers); err != nil {
			return nil, fmt.Errorf("dead letter id %d: headers: %w", id, err)
		}
		items = append(items, replayItem{id: id, rec: r})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the dead-letter table: %w", err)
	}
	return items, nil
}
