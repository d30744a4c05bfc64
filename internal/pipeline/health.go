package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/retry"
	"github.com/kafka2pg/kafka2pg/internal/route"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// Health: what /readyz says while the pipeline runs. Besides the writers'
// retry loops (telemetry.RetryHooks), a loop looks every healthTick at what
// no write would reveal — group membership, missing topics, a PostgreSQL
// that stopped answering while nothing was written, fetching that stopped
// while records wait — reports each as a reason to be unready, and logs a
// warning naming it within 10 seconds and again with backoff while it lasts.

const (
	healthTick = 2 * time.Second
	// checkEvery is how often topics and PostgreSQL are looked at.
	checkEvery = 5 * time.Second
	// warnAfter is how long a condition may last before its first warning
	// (joining a group takes a few seconds normally).
	warnAfter = 10 * time.Second
	// fetchStallAfter is how long fetching may hand over no record while
	// the brokers report records beyond the fetched ones, and the in-flight
	// budget has room, before the instance says it is not ready.
	fetchStallAfter = 30 * time.Second
)

// warner spaces out the warnings of one condition: the first when due, then
// after 10s, 20s, 40s … up to 5 minutes.
type warner struct {
	since time.Time // when the condition began; zero: it holds not
	next  time.Time
	every time.Duration
}

// hold records that the condition holds at now, and reports whether a
// warning is due (after warnAfter of it, then with backoff).
func (w *warner) hold(now time.Time, after time.Duration) bool {
	if w.since.IsZero() {
		w.since = now
		w.next = now.Add(after)
	}
	if now.Before(w.next) {
		return false
	}
	w.every = min(max(2*w.every, 10*time.Second), 5*time.Minute)
	w.next = now.Add(w.every)
	return true
}

func (w *warner) clear() { *w = warner{} }

// healthLoop runs until ctx ends.
func (p *Pipeline) healthLoop(ctx context.Context) {
	var join, topics, pg, stall warner
	var nextCheck time.Time
	tick := time.NewTicker(healthTick)
	defer tick.Stop()
	for {
		now := time.Now()
		joined, owned := p.consumer.Membership()
		p.m.SetPartitions(owned)
		switch {
		case !joined:
			p.m.Unready("group", "kafka: joining consumer group "+p.cfg.Kafka.Group)
			p.m.Note("partitions", "")
			if join.hold(now, warnAfter) {
				p.log.Warn("not yet a member of the consumer group", "group", p.cfg.Kafka.Group,
					"for", now.Sub(join.since).Round(time.Second))
			}
		default:
			p.m.Unready("group", "")
			join.clear()
			if owned == 0 {
				p.m.Note("partitions", "no partitions assigned: the group has more members than the topics have partitions, so this instance stands by")
			} else {
				p.m.Note("partitions", "")
			}
		}
		if !now.Before(nextCheck) {
			nextCheck = now.Add(checkEvery)
			p.checkTopics(ctx, now, &topics)
			p.checkPostgres(ctx, now, &pg)
		}
		lag, progress := p.consumer.Committer().FetchLag()
		if reason := stallReason(joined && owned > 0, lag, p.budget.Full(), now.Sub(progress)); reason != "" {
			p.m.Unready("fetch", reason)
			if stall.hold(now, 0) {
				p.log.Warn("fetching has stalled while records wait", "for", now.Sub(progress).Round(time.Second), "waiting", lag)
			}
		} else {
			p.m.Unready("fetch", "")
			stall.clear()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// stallReason says why fetching counts as stalled — records wait beyond
// those fetched (lag), nothing was handed over for fetchStallAfter, and not
// because the in-flight budget is full (that is writes being slower, not a
// stall) — or "".
func stallReason(owning bool, lag int64, budgetFull bool, idle time.Duration) string {
	if !owning || lag <= 0 || budgetFull || idle <= fetchStallAfter {
		return ""
	}
	return fmt.Sprintf("kafka: no records fetched for %s while %d are waiting", idle.Round(time.Second), lag)
}

// checkTopics reports topics of kafka.topics that do not exist (or a
// kafka.topic_pattern no topic matches). A failed lookup says nothing: the
// broker's own trouble is reported by the client and the group.
func (p *Pipeline) checkTopics(ctx context.Context, now time.Time, w *warner) {
	cctx, cancel := context.WithTimeout(ctx, checkEvery)
	defer cancel()
	missing, err := p.consumer.MissingTopics(cctx)
	if err != nil {
		return
	}
	if len(missing) == 0 {
		p.m.Unready("topics", "")
		w.clear()
		return
	}
	var reason string
	if pat := p.consumer.Pattern(); pat != "" {
		reason = fmt.Sprintf("kafka: no topic matches kafka.topic_pattern %q", pat)
	} else {
		reason = "kafka: topic " + strings.Join(missing, ", ") + " does not exist"
	}
	p.m.Unready("topics", reason)
	if w.hold(now, 0) {
		p.log.Warn("waiting for topics that do not exist", "topics", strings.Join(missing, ","),
			"for", now.Sub(w.since).Round(time.Second))
	}
}

// checkPostgres pings PostgreSQL on an idle pooled connection. With every
// connection busy it says nothing: the writes themselves show the state.
func (p *Pipeline) checkPostgres(ctx context.Context, now time.Time, w *warner) {
	st := p.pool.Stat()
	if st.IdleConns() == 0 && st.TotalConns() >= st.MaxConns() {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, checkEvery)
	defer cancel()
	err := p.pool.Ping(cctx)
	if err == nil || ctx.Err() != nil {
		p.m.Unready("postgres", "")
		w.clear()
		return
	}
	p.m.Unready("postgres", "postgres: no answer: "+p.cfg.RedactError(err).Error())
	if w.hold(now, 0) {
		p.log.Warn("PostgreSQL does not answer", "err", p.cfg.RedactError(err), "for", now.Sub(w.since).Round(time.Second))
	}
}

// awaitTables waits for the tables of the routes prepared without one
// (static table, no auto_create), warning and reporting each as a reason to
// be unready meanwhile: a sink deployed before its migration starts working
// when the table appears.
func (p *Pipeline) awaitTables(ctx context.Context) error {
	if len(p.missing) == 0 {
		return nil
	}
	policy := retry.Policy{Initial: time.Second, Max: 30 * time.Second}
	var w warner
	transient := func(err error) bool { var perm *permanent; return !errors.As(err, &perm) }
	err := retry.Do(ctx, policy.Forever(), transient, retry.Hooks{}, func(int) error {
		var left []*route.Route
		var names []string
		for _, r := range p.missing {
			err := r.LoadStatic(ctx, p.pool)
			switch {
			case errors.Is(err, table.ErrTableNotFound):
				left = append(left, r)
				names = append(names, r.TableName)
				p.m.Unready("table "+r.TableName, fmt.Sprintf("postgres: table %s of routes[%d] does not exist (create it, or set auto_create: true)", r.TableName, r.Index))
			case err != nil:
				return &permanent{fmt.Errorf("routes[%d] (table %s): %w", r.Index, r.TableName, err)}
			default:
				p.m.Unready("table "+r.TableName, "")
				p.log.Info("table found; starting", "table", r.TableName, "route", r.Index)
			}
		}
		p.missing = left
		if len(left) == 0 {
			return nil
		}
		if now := time.Now(); w.hold(now, 0) {
			p.log.Warn("waiting for tables that do not exist (create them, or set auto_create: true)",
				"tables", strings.Join(names, ","), "for", now.Sub(w.since).Round(time.Second))
		}
		return errors.New("tables missing")
	})
	var perm *permanent
	if errors.As(err, &perm) {
		return perm.err
	}
	return err
}

// permanent ends awaitTables' retries.
type permanent struct{ err error }

func (e *permanent) Error() string { return e.err.Error() }
