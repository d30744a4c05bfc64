package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/internal/route"
	"github.com/kafka2pg/kafka2pg/internal/source"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
)

// --- dead-letter topic ---

// replayPart is one partition of the dead-letter topic being replayed.
type replayPart struct {
	next, stop int64 // next offset to replay; the end (exclusive)
	done       bool
}

// replayTopic replays the dead-letter topic from the replay group's position
// (or --from) to the end offsets seen at start (or --to).
func (rp *replayer) replayTopic(ctx context.Context) error {
	dlq := rp.cfg.Errors.DLQ.Topic
	group := rp.cfg.Kafka.Group + ReplayGroupSuffix
	kopts, err := source.ClientOpts(rp.cfg.Kafka)
	if err != nil {
		return err
	}
	admCl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	parts, err := rp.topicRange(ctx, adm, dlq, group)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return nil
	}
	offsets := map[int32]kgo.Offset{}
	pending := 0
	for p, st := range parts {
		if !st.done {
			offsets[p] = kgo.NewOffset().At(st.next)
			pending++
		}
	}
	if pending == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(kopts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{dlq: offsets}),
		kgo.FetchMaxBytes(int32(rp.cfg.Kafka.FetchMaxBytes)),
		kgo.FetchMaxPartitionBytes(int32(min(int64(rp.cfg.Kafka.FetchMaxBytes), 8<<20))),
	)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	// The dead letters that fail again go back to the topic.
	producer := NewTopic(dlq, cl, rp.policy, rp.log, telemetry.NewMetrics())

	for pending > 0 {
		fetches := cl.PollRecords(ctx, rp.batch)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			rp.log.Warn("fetch error; the client retries", "topic", topic, "partition", partition, "err", err)
		})
		var recs []*kgo.Record
		moved := map[int32]bool{}
		fetches.EachRecord(func(r *kgo.Record) {
			st, ok := parts[r.Partition]
			if r.Topic != dlq || !ok || st.done || r.Offset < st.next || r.Offset >= st.stop {
				return
			}
			recs = append(recs, r)
			st.next = r.Offset + 1
			moved[r.Partition] = true
			if st.next >= st.stop {
				st.done = true
				pending--
				cl.PauseFetchPartitions(map[string][]int32{dlq: {r.Partition}})
			}
		})
		if len(recs) == 0 {
			continue
		}
		if err := rp.topicBatch(ctx, recs, producer); err != nil {
			return err
		}
		if rp.opts.DryRun {
			continue
		}
		commits := kadm.Offsets{}
		for p := range moved {
			commits.Add(kadm.Offset{Topic: dlq, Partition: p, At: parts[p].next, LeaderEpoch: -1})
		}
		resp, err := adm.CommitOffsets(ctx, group, commits)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("committing the replay position to group %s (the last batch was written; the next replay writes it again): %w", group, err)
		}
	}
	return nil
}

// topicRange resolves where each partition of the dead-letter topic starts
// and stops: from the later of the log start, --from and the replay group's
// committed position, to the end offset now or --to, whichever is first.
func (rp *replayer) topicRange(ctx context.Context, adm *kadm.Client, dlq, group string) (map[int32]*replayPart, error) {
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	details, err := adm.ListTopics(actx, dlq)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	d, ok := details[dlq]
	switch {
	case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		return nil, fmt.Errorf("dead-letter topic %s does not exist in Kafka", dlq)
	case d.Err != nil:
		return nil, fmt.Errorf("dead-letter topic %s: %w", dlq, d.Err)
	}
	starts, err := adm.ListStartOffsets(actx, dlq)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the log start offsets of %s: %w", dlq, err)
	}
	ends, err := adm.ListEndOffsets(actx, dlq)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the end offsets of %s: %w", dlq, err)
	}
	committed, err := adm.FetchOffsets(actx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("fetching the replay position (group %s): %w", group, err)
	}
	byTime := func(b ReplayBound, milli int64) (kadm.ListedOffsets, error) {
		if !b.Set || !b.IsTime {
			return nil, nil
		}
		lo, err := adm.ListOffsetsAfterMilli(actx, milli, dlq)
		if err == nil {
			err = lo.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("listing offsets of %s at %s: %w", dlq, b, err)
		}
		return lo, nil
	}
	fromT, err := byTime(rp.opts.From, rp.opts.From.Time.UnixMilli())
	if err != nil {
		return nil, err
	}
	// The first record after --to ends the range.
	toT, err := byTime(rp.opts.To, rp.opts.To.Time.UnixMilli()+1)
	if err != nil {
		return nil, err
	}
	parts := map[int32]*replayPart{}
	for p := range d.Partitions {
		st, ok1 := starts.Lookup(dlq, p)
		en, ok2 := ends.Lookup(dlq, p)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("dead-letter topic %s partition %d: no offsets listed by Kafka", dlq, p)
		}
		next, stop := st.Offset, en.Offset
		if f := rp.opts.From; f.Set {
			if f.IsTime {
				if lo, ok := fromT.Lookup(dlq, p); ok && lo.Offset >= 0 {
					next = max(next, lo.Offset)
				} else {
					next = stop
				}
			} else {
				next = max(next, f.N)
			}
		}
		if c, ok := committed.Lookup(dlq, p); ok && c.Err == nil && c.At > next {
			level := slog.LevelDebug
			if rp.opts.From.Set {
				level = slog.LevelInfo // --from asked for earlier records
			}
			rp.log.Log(ctx, level, "starting at the replay group's committed position: the records before it were replayed already",
				"group", group, "partition", p, "offset", c.At)
			next = c.At
		}
		if t := rp.opts.To; t.Set {
			if t.IsTime {
				if lo, ok := toT.Lookup(dlq, p); ok && lo.Offset >= 0 {
					stop = min(stop, lo.Offset)
				}
			} else if t.N < math.MaxInt64 {
				stop = min(stop, t.N+1)
			}
		}
		parts[p] = &replayPart{next: next, stop: stop, done: next >= stop}
	}
	return parts, nil
}

// topicBatch replays records read from the dead-letter topic: each route's
// share in its own transaction(s), then the ones that failed again are
// produced to the topic again, acknowledged before the caller commits the
// position past them.
func (rp *replayer) topicBatch(ctx context.Context, recs []*kgo.Record, producer *Topic) error {
	var order []string
	byTopic := map[string][]replayItem{}
	var noRoute int64
	for _, dr := range recs {
		rec, ok := sourceRecord(dr)
		if !ok || len(rp.routes.ForTopic(rec.Topic)) == 0 {
			noRoute++
			rp.log.Warn("dead letter with no route in this configuration; left in the topic",
				"dlq_partition", dr.Partition, "dlq_offset", dr.Offset, "source_topic", rec.Topic)
			continue
		}
		if _, seen := byTopic[rec.Topic]; !seen {
			order = append(order, rec.Topic)
		}
		byTopic[rec.Topic] = append(byTopic[rec.Topic], replayItem{rec: rec})
	}
	var t tally
	var failed []replayFailure
	for _, topic := range order {
		m, err := rp.mapper(topic)
		if err != nil {
			return err
		}
		if err := rp.replayItems(ctx, m, byTopic[topic], &t, &failed); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		dead := make([]Letter, len(failed))
		for i, f := range failed {
			dead[i] = f.dl
		}
		if err := producer.Produce(ctx, dead); err != nil {
			return fmt.Errorf("producing the dead letters that failed again (the rows of this batch were written; the next replay writes them again): %w", err)
		}
	}
	rp.res.Replayed += t.replayed
	rp.res.FailedAgain += t.failed
	rp.res.NoRoute += noRoute
	if t.replayed+t.failed > 0 {
		first, last := recs[0], recs[len(recs)-1]
		where := fmt.Sprintf("%d record(s) of %s", len(recs), first.Topic)
		if first.Partition == last.Partition {
			where = fmt.Sprintf("%s partition %d offsets %d..%d", first.Topic, first.Partition, first.Offset, last.Offset)
		}
		rp.printBatch(t, where)
	}
	return nil
}

// topicTables names the tables of a topic's routes, for messages.
func topicTables(routes []*route.Route) string {
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = r.TableName
	}
	return strings.Join(names, ", ")
}
