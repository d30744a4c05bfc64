package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
)

// Handler receives a Consumer's partitions and records.
//
// Records is called from the poll loop only, between a poll and the
// rebalance it allows, so never at the same time as Revoked or Lost.
// Revoked and Lost are called by kgo between polls.
type Handler interface {
	// Records hands over records of one partition in offset order. It must
	// not block: it queues them. It returns false when the partition's
	// records are not wanted (exactly-once: another consumer owns it).
	Records(tp TP, recs []*kgo.Record) bool
	// Revoked is called when partitions are taken away in a rebalance or
	// when leaving the group. It returns once every record it was handed of
	// them is durable (and marked durable) or given up; the Consumer then
	// commits their offsets and forgets them.
	Revoked(ctx context.Context, tps []TP)
	// Lost is called when partitions were lost without a clean revoke
	// (session expired, fenced): nothing more may be written or committed
	// for them. It returns once it has stopped working on them.
	Lost(tps []TP)
}

// Claimer moves the start offsets of newly assigned partitions before
// fetching begins (exactly-once: to the offsets stored in PostgreSQL).
type Claimer interface {
	Claim(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error)
}

// Consumer is kafka2pg's consumer group member: it fetches the configured
// topics, within the in-flight Budget, hands records to its Handler and
// commits durable offsets through its Committer.
type Consumer struct {
	cl        *kgo.Client
	h         Handler
	budget    *Budget
	committer *Committer
	log       *slog.Logger
	group     string
	topics    []string // kafka.topics; nil with a topic pattern
	pattern   string   // kafka.topic_pattern
	brokers   []string

	// heard is when a broker last answered this client (UnixNano; any
	// successful read: fetches, heartbeats, metadata).
	heard atomic.Int64

	mu       sync.Mutex
	joined   bool            // a member of the group (since the last assignment, until a loss)
	assigned map[TP]struct{} // the partitions this member owns
}

// NewConsumer creates the group client (nothing is fetched until Poll).
// claim may be nil.
func NewConsumer(cfg *config.Config, h Handler, claim Claimer, budget *Budget, log *slog.Logger, m *telemetry.Metrics) (*Consumer, error) {
	k := cfg.Kafka
	opts, err := ClientOpts(k)
	if err != nil {
		return nil, err
	}
	c := &Consumer{h: h, budget: budget, log: log, group: k.Group, brokers: k.Brokers, pattern: k.TopicPattern, assigned: map[TP]struct{}{}}
	reset := kgo.NewOffset().AtStart()
	if k.Start == config.StartLatest {
		reset = kgo.NewOffset().AtEnd()
	}
	opts = append(opts,
		kgo.ConsumerGroup(k.Group),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(reset),
		kgo.SessionTimeout(time.Duration(k.SessionTimeout)),
		kgo.FetchMaxBytes(int32(k.FetchMaxBytes)),
		// A partition's share of one fetch is a quarter of it (at most
		// 256 KiB), so a backlog in one partition cannot fill every fetch
		// and, with it, the whole in-flight budget while the others wait.
		// Small shares also keep less fetched data alive at a time: a
		// decompressed batch lives until its last record is mapped (1 MiB
		// shares cost about 10% more CPU in garbage collection on the
		// benchmark, docs/benchmarks.md).
		kgo.FetchMaxPartitionBytes(int32(max(min(int64(k.FetchMaxBytes)/4, 256<<10), 1))),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.WithHooks(heardHook{c}),
	)
	if claim != nil {
		opts = append(opts, kgo.AdjustFetchOffsetsFn(claim.Claim))
	}
	if k.TopicPattern != "" {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(k.TopicPattern))
	} else {
		c.topics = k.Topics
		opts = append(opts, kgo.ConsumeTopics(k.Topics...))
	}
	if c.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	c.committer = NewCommitter(c.cl, log, m)
	return c, nil
}

// Client is the consumer's Kafka client, also used to produce dead letters.
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Committer is the consumer's committer.
func (c *Consumer) Committer() *Committer { return c.committer }

// Budget is the in-flight budget the poll loop waits on.
func (c *Consumer) Budget() *Budget { return c.budget }

// Poll fetches and hands records to the Handler until ctx ends or the client
// is closed. Polls take at most as many records as fit the budget's free
// room at the average record cost seen so far, so one poll overshoots the
// limit by little; what a poll does not take stays in kgo's buffer (at most
// one fetch per broker, not refetched until consumed).
func (c *Consumer) Poll(ctx context.Context) {
	avg := int64(4096) // a cautious first guess; polls refine it
	for {
		free, err := c.budget.Wait(ctx)
		if err != nil {
			return
		}
		fetches := c.cl.PollRecords(ctx, int(min(max(free/avg, 16), 50000)))
		if fetches.IsClientClosed() || ctx.Err() != nil {
			c.cl.AllowRebalance()
			return
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			c.log.Warn("fetch error; the client retries", "topic", topic, "partition", partition, "err", err)
		})
		var polled, n int64
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			tp := TP{fp.Topic, fp.Partition}
			if len(fp.Records) == 0 {
				if fp.Err == nil && fp.HighWatermark > 0 {
					c.committer.SetHighWatermark(tp, fp.HighWatermark)
				}
				return
			}
			for _, r := range fp.Records {
				polled += RecordSize(r)
			}
			n += int64(len(fp.Records))
			// Known before the records are handed over: a worker's first
			// batch asks how far behind it is (batch.backlog_merge).
			c.committer.SetHighWatermark(tp, fp.HighWatermark)
			if failpointDir != "" {
				hold(ctx, "hold-fetch") // a test build's failpoint; nothing otherwise
			}
			if c.h.Records(tp, fp.Records) {
				c.committer.Fetched(tp, fp.Records[0].Offset, fp.Records[len(fp.Records)-1].Offset+1)
			}
		})
		if n > 0 {
			avg = max((avg*3+polled/n)/4, 64)
		}
		c.cl.AllowRebalance()
	}
}

// onAssigned is called after every join of the group, with the partitions
// newly assigned (possibly none).
func (c *Consumer) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	c.joined = true
	for _, tp := range tpList(assigned) {
		c.assigned[tp] = struct{}{}
	}
	n := len(c.assigned)
	c.mu.Unlock()
	if len(assigned) > 0 {
		c.log.Info("partitions assigned", "partitions", assigned, "owned", n)
	}
}

// heardHook records when a broker last answered.
type heardHook struct{ c *Consumer }

func (h heardHook) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		h.c.heard.Store(time.Now().UnixNano())
	}
}

// LastHeard is when a broker last answered this client (zero before the
// first answer). A member hears from the coordinator at every heartbeat
// (3 s) and from a partition's leader at least every fetch wait, so a long
// silence means the brokers cannot be reached, even while the client still
// believes it is a member.
func (c *Consumer) LastHeard() time.Time {
	if n := c.heard.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Membership reports whether this consumer is a member of its group and
// how many partitions it owns.
func (c *Consumer) Membership() (joined bool, partitions int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.joined, len(c.assigned)
}

func (c *Consumer) unassign(tps []TP, lost bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range tps {
		delete(c.assigned, tp)
	}
	if lost {
		c.joined = false // kgo rejoins; onAssigned says when
	}
}

func (c *Consumer) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	tps := tpList(revoked)
	if len(tps) == 0 {
		return
	}
	defer c.unassign(tps, false)
	c.h.Revoked(ctx, tps)
	if err := c.committer.Commit(ctx, tps); err != nil {
		c.log.Warn("commit on revoke failed; the new owner replays from the last committed offset", "err", err)
	}
	c.committer.Forget(tps)
	c.log.Info("partitions revoked", "partitions", revoked)
}

func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	tps := tpList(lost)
	c.unassign(tps, true)
	c.h.Lost(tps)
	c.committer.Forget(tps)
	if len(tps) > 0 {
		c.log.Warn("partitions lost", "partitions", lost)
	}
}

func tpList(m map[string][]int32) []TP {
	var out []TP
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, TP{t, p})
		}
	}
	return out
}

// StopAtEnd makes the Committer's AtEnd close once every partition of the
// topics has committed the end offset it has now; partitions that are
// empty or already committed that far count as done.
func (c *Consumer) StopAtEnd(ctx context.Context) error {
	if c.topics == nil {
		return errors.New("stopping at the end offsets needs kafka.topics, not kafka.topic_pattern")
	}
	offs, err := ListOffsets(ctx, kadm.NewClient(c.cl), c.group, c.topics...)
	if err != nil {
		return err
	}
	ends := map[TP]int64{}
	for _, o := range offs {
		if o.Start >= o.End || (o.HasCommitted && o.Committed >= o.End) {
			continue // empty, or already done
		}
		ends[TP{o.Topic, o.Partition}] = o.End
	}
	c.committer.StopAt(ends)
	return nil
}

// Close leaves the group. With graceful, revoke callbacks run (workers drain
// and commit); otherwise the client closes at once.
func (c *Consumer) Close(graceful bool) {
	if graceful {
		c.cl.CloseAllowingRebalance()
	} else {
		c.cl.Close()
	}
}

// RecordSize is what a record costs the in-flight budget: an estimate of the
// memory it holds from fetch to commit — the payload, the decoded row (about
// as large again: strings, numerics, JSON copies) and the fixed cost of the
// kgo.Record and the row's slots (measured at about 700 bytes for a
// ten-column row).
func RecordSize(r *kgo.Record) int64 {
	n := int64(len(r.Key)+len(r.Value))*2 + 768
	for _, h := range r.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}

// MissingTopics lists the topics of kafka.topics that the cluster does not
// have; with kafka.topic_pattern, the pattern when no topic matches it.
func (c *Consumer) MissingTopics(ctx context.Context) ([]string, error) {
	adm := kadm.NewClient(c.cl)
	if c.pattern != "" {
		re, err := regexp.Compile(c.pattern)
		if err != nil {
			return nil, err
		}
		td, err := adm.ListTopics(ctx)
		if err != nil {
			return nil, err
		}
		for name := range td {
			if re.MatchString(name) {
				return nil, nil
			}
		}
		return []string{c.pattern}, nil
	}
	td, err := adm.ListTopics(ctx, c.topics...)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, t := range c.topics {
		if d, ok := td[t]; !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			missing = append(missing, t)
		}
	}
	return missing, nil
}

// Pattern is kafka.topic_pattern ("" with kafka.topics).
func (c *Consumer) Pattern() string { return c.pattern }
