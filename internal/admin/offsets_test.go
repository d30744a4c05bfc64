package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/eos"
	"github.com/kafka2pg/kafka2pg/internal/pipeline"
	"github.com/kafka2pg/kafka2pg/internal/testenv"
)

// The two-phase reset of `kafka2pg offsets reset` against the real broker
// and PostgreSQL: refused while the group has members; in exactly-once mode
// the offset table and Kafka move together; and a crash between the Kafka
// half and the PostgreSQL half leaves the offset table — the authoritative
// position — as it was, so the next run neither skips nor repeats a record
// and brings Kafka's committed offsets back in line.

type resetEnv struct {
	cfg   *config.Config
	topic string
	store *eos.OffsetStore
	pool  *pgxpool.Pool
}

func newResetEnv(t *testing.T, records int) *resetEnv {
	t.Helper()
	dbURL, pool := testenv.NewDatabase(t)
	testenv.Exec(t, pool, `CREATE TABLE ev (n bigint PRIMARY KEY)`)
	topic, group := testenv.Name("t"), testenv.Name("g")
	testenv.CreateTopic(t, topic, 1)
	cl := testenv.Client(t)
	for i := range records {
		testenv.Produce(t, cl, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, `{"n": %d}`, i)})
	}
	doc := fmt.Sprintf(`kafka: {brokers: [%q], group: %s, topics: [%s]}
postgres: {url: %q}
delivery: exactly-once
routes: [{topic: %s, table: ev, mode: insert}]
`, testenv.Brokers(t), group, topic, dbURL, topic)
	cfg, err := config.Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &resetEnv{cfg: cfg, topic: topic, store: eos.NewOffsetStore("", "kafka2pg_offsets", group), pool: pool}
}

// run runs the pipeline until it has caught up, and returns the rows it wrote.
func (e *resetEnv) run(t *testing.T) int64 {
	t.Helper()
	p, err := pipeline.New(context.Background(), e.cfg, pipeline.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return p.Stats().Rows
}

func (e *resetEnv) stored(t *testing.T) int64 {
	t.Helper()
	st, ok, err := e.store.Read(context.Background(), e.pool, e.topic, 0)
	if err != nil || !ok {
		t.Fatalf("stored offset: %v (row %v)", err, ok)
	}
	return st.Next
}

func (e *resetEnv) committed(t *testing.T) int64 {
	t.Helper()
	return testenv.Committed(t, e.cfg.Kafka.Group, e.topic)[0]
}

func TestResetOffsetsRefusedWhileConsuming(t *testing.T) {
	e := newResetEnv(t, 10)
	if rows := e.run(t); rows != 10 {
		t.Fatalf("first run wrote %d rows", rows)
	}
	// A member of the group that is consuming.
	member := testenv.Client(t, kgo.ConsumerGroup(e.cfg.Kafka.Group), kgo.ConsumeTopics(e.topic))
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		member.PollRecords(pctx, 1) // joins the group; nothing is left to fetch
		cancel()
		groups, err := kadm.NewClient(testenv.Client(t)).DescribeGroups(context.Background(), e.cfg.Kafka.Group)
		if err == nil && len(groups[e.cfg.Kafka.Group].Members) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the member did not join")
		}
	}
	_, err := ResetOffsets(context.Background(), e.cfg, ResetOptions{To: ResetTarget{Kind: "earliest"}})
	if !IsActiveMembers(err) {
		t.Fatalf("reset while consuming: %v, want a refusal naming the members", err)
	}
	if s, c := e.stored(t), e.committed(t); s != 10 || c != 10 {
		t.Fatalf("stored %d, committed %d after a refused reset; want 10 and 10", s, c)
	}
	// A dry run only warns.
	res, err := ResetOffsets(context.Background(), e.cfg, ResetOptions{To: ResetTarget{Kind: "earliest"}, DryRun: true})
	if err != nil || res.Warning == "" || len(res.Moves) != 1 || res.Moves[0].New != 0 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
}

func TestResetOffsetsBothHalves(t *testing.T) {
	e := newResetEnv(t, 10)
	e.run(t)
	res, err := ResetOffsets(context.Background(), e.cfg, ResetOptions{To: ResetTarget{Kind: "offset", Offset: 4}})
	if err != nil || len(res.Moves) != 1 || res.Moves[0].Old != 10 || res.Moves[0].New != 4 {
		t.Fatalf("reset: %+v, %v", res, err)
	}
	if s, c := e.stored(t), e.committed(t); s != 4 || c != 4 {
		t.Fatalf("stored %d, committed %d; want 4 and 4", s, c)
	}
	// The next run writes offsets 4..9 again: insert mode, rows 4..9
	// already there, so the run stops on the duplicate key — proof that it
	// started at 4. Clear them first to see it land cleanly.
	testenv.Exec(t, e.pool, `DELETE FROM ev WHERE n >= 4`)
	if rows := e.run(t); rows != 6 {
		t.Fatalf("the run after the reset wrote %d rows, want 6 (offsets 4..9)", rows)
	}
}

func TestResetOffsetsCrashBetweenHalves(t *testing.T) {
	e := newResetEnv(t, 10)
	e.run(t)
	crash := errors.New("killed between the Kafka commit and the PostgreSQL commit")
	_, err := ResetOffsets(context.Background(), e.cfg, ResetOptions{To: ResetTarget{Kind: "earliest"}, afterKafka: func() error { return crash }})
	if !errors.Is(err, crash) {
		t.Fatalf("reset: %v", err)
	}
	// Kafka moved, the offset table did not: it is the authority.
	if s, c := e.stored(t), e.committed(t); s != 10 || c != 0 {
		t.Fatalf("after the crash: stored %d, committed %d; want 10 and 0", s, c)
	}
	// The next run starts at the stored offset: nothing is written again
	// (a second write would hit the primary key), and Kafka's committed
	// offset is brought back to the stored one.
	if rows := e.run(t); rows != 0 {
		t.Fatalf("the run after the crash wrote %d rows, want none", rows)
	}
	if s, c := e.stored(t), e.committed(t); s != 10 || c != 10 {
		t.Fatalf("after the next run: stored %d, committed %d; want 10 and 10", s, c)
	}
}
