package source

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kafka2pg/kafka2pg/internal/retry"
)

// Offsets are one partition's positions in Kafka: the log start offset, the
// end offset (high watermark) and the group's committed offset.
type Offsets struct {
	Topic     string
	Partition int32
	Start     int64
	End       int64
	// Committed is the group's committed offset; HasCommitted is false when
	// the group has none for the partition.
	Committed    int64
	HasCommitted bool
}

// ErrTopicMissing is returned (wrapped, naming the topic) by ListOffsets for
// a topic Kafka does not have.
var ErrTopicMissing = errors.New("does not exist in Kafka")

// ListOffsets lists every partition of topics, sorted by topic and
// partition, with its start, end and (when group is not empty) committed
// offsets. A group coordinator that is not ready yet (a new group, a broker
// that just started) is waited for, up to 30 seconds.
func ListOffsets(ctx context.Context, adm *kadm.Client, group string, topics ...string) ([]Offsets, error) {
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	var out []Offsets
	for _, t := range topics {
		d, ok := details[t]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			return nil, fmt.Errorf("topic %s %w", t, ErrTopicMissing)
		case d.Err != nil:
			return nil, fmt.Errorf("topic %s: %w", t, d.Err)
		}
		for p := range d.Partitions {
			out = append(out, Offsets{Topic: t, Partition: p})
		}
	}
	slices.SortFunc(out, func(a, b Offsets) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing log start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	var committed kadm.OffsetResponses
	if group != "" {
		p := retry.Policy{Initial: 500 * time.Millisecond, Max: 500 * time.Millisecond, MaxElapsed: 30 * time.Second}
		err = retry.Do(ctx, p, kerr.IsRetriable, retry.Hooks{}, func(int) error {
			committed, err = adm.FetchOffsets(ctx, group)
			if errors.Is(err, kerr.GroupIDNotFound) {
				return nil
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("fetching the committed offsets of group %s: %w", group, err)
		}
	}
	for i := range out {
		o := &out[i]
		st, ok := starts.Lookup(o.Topic, o.Partition)
		en, ok2 := ends.Lookup(o.Topic, o.Partition)
		if !ok || !ok2 {
			return nil, fmt.Errorf("topic %s partition %d: no offsets listed by Kafka", o.Topic, o.Partition)
		}
		o.Start, o.End = st.Offset, en.Offset
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok {
			if c.Err != nil {
				return nil, fmt.Errorf("committed offset of topic %s partition %d: %w", o.Topic, o.Partition, c.Err)
			}
			if c.At >= 0 {
				o.Committed, o.HasCommitted = c.At, true
			}
		}
	}
	return out, nil
}
