package source

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
)

// ReadRange reads tp's records from offset from through offset to with a
// client of its own (outside the consumer group, whose position it does not
// touch) and hands them to fn in offset order, one fetched batch at a time;
// records after to are not handed over. It ends when a record at or after
// to has been read (records deleted since, by retention or compaction, are
// skipped), when fn returns false, or with ctx. A backlog merge that failed
// reads its records again this way (batch.backlog_merge).
func ReadRange(ctx context.Context, k config.Kafka, tp TP, from, to int64, fn func([]*kgo.Record) bool) error {
	opts, err := ClientOpts(k)
	if err != nil {
		return err
	}
	opts = append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{tp.Topic: {tp.Partition: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxBytes(int32(k.FetchMaxBytes)),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = fmt.Errorf("reading topic %s partition %d again from offset %d: %w", t, p, from, err)
		})
		if ferr != nil {
			return ferr
		}
		done := false
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if done || p.Topic != tp.Topic || p.Partition != tp.Partition {
				return
			}
			recs := p.Records
			for i, r := range recs {
				if r.Offset > to {
					recs, done = recs[:i], true
					break
				}
			}
			if len(recs) > 0 && recs[len(recs)-1].Offset >= to {
				done = true
			}
			if len(recs) > 0 && !fn(recs) {
				done = true
			}
		})
		if done {
			return nil
		}
	}
}
