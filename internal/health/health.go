// Package health keeps /readyz honest while a pipeline runs. Besides the
// writers' retry loops (telemetry.RetryHooks), a Monitor looks every Tick at
// what no write would reveal — group membership, missing topics, a
// PostgreSQL that stopped answering while nothing was written, fetching that
// stopped while records wait — reports each as a reason to be unready, and
// logs a warning naming it within 10 seconds and again with backoff while it
// lasts.
package health

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

const (
	// Tick is how often the monitor looks.
	Tick = 2 * time.Second
	// checkEvery is how often topics and PostgreSQL are looked at.
	checkEvery = 5 * time.Second
	// warnAfter is how long the group may take to join before the first
	// warning (a join takes a few seconds normally).
	warnAfter = 10 * time.Second
	// FetchStallAfter is how long fetching may hand over no record while the
	// brokers report records beyond the fetched ones, and the in-flight
	// budget has room, before the instance says it is not ready.
	FetchStallAfter = 30 * time.Second
)

// Kafka is what the monitor asks of the consumer.
type Kafka interface {
	// Membership: a member of the group, and how many partitions it owns.
	Membership() (joined bool, partitions int)
	// MissingTopics lists configured topics that do not exist (or the
	// pattern no topic matches); Pattern is kafka.topic_pattern or "".
	MissingTopics(ctx context.Context) ([]string, error)
	Pattern() string
	// FetchLag: records beyond those fetched, and when records were last
	// handed over.
	FetchLag() (lag int64, progress time.Time)
	// BudgetFull: fetching waits for writes (backpressure, not a stall).
	BudgetFull() bool
	// LastHeard: when a broker last answered (zero: never yet).
	LastHeard() time.Time
}

// Reporter receives what /readyz says (telemetry.Metrics).
type Reporter interface {
	Unready(key, reason string)
	Note(key, text string)
	SetPartitions(n int)
}

// Monitor watches one pipeline.
type Monitor struct {
	Group string
	Kafka Kafka
	// Ping pings PostgreSQL on an idle connection; it returns ok false
	// without pinging when every connection is busy (the writes themselves
	// show the state then).
	Ping   func(ctx context.Context) (ok bool, err error)
	Report Reporter
	Log    *slog.Logger
	// Redact removes secrets from an error's text.
	Redact func(error) error
	// Silence is how long a member may hear nothing from the brokers before
	// it says it is not ready (SilenceBound of kafka.session_timeout).
	Silence time.Duration
}

// SilenceBound is how long a member may go without an answer from any
// broker before it counts as cut off: the session timeout (after which
// the group has given its partitions away), within 6–15 s. A member
// hears from the coordinator at every heartbeat (3 s) even with fetching
// paused, so a healthy one is never silent that long.
func SilenceBound(session time.Duration) time.Duration {
	return min(max(session, 6*time.Second), 15*time.Second)
}

// SilenceReason says why a member that has heard nothing from the brokers
// for silent is not ready, or "".
func SilenceReason(joined bool, silent, bound time.Duration) string {
	if !joined || bound <= 0 || silent <= bound {
		return ""
	}
	return fmt.Sprintf("kafka: no answer from any broker for %s", silent.Round(time.Second))
}

// Run watches until ctx ends. Membership, broker silence and fetch stalls
// are looked at every Tick; the topic and PostgreSQL checks, which ask a
// broker or the database and may wait up to checkEvery for an answer, run
// every checkEvery in a goroutine of their own, so that a broker or a
// database that does not answer never holds the other checks up.
func (m *Monitor) Run(ctx context.Context) {
	slow := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var topics, pg Warner
		for {
			select {
			case <-ctx.Done():
				return
			case <-slow:
			}
			now := time.Now()
			m.checkTopics(ctx, now, &topics)
			m.checkPostgres(ctx, now, &pg)
		}
	}()
	defer func() { <-done }()
	var join, stall, silence Warner
	var nextCheck time.Time
	tick := time.NewTicker(Tick)
	defer tick.Stop()
	for {
		now := time.Now()
		joined, owned := m.Kafka.Membership()
		m.Report.SetPartitions(owned)
		switch {
		case !joined:
			m.Report.Unready("group", "kafka: joining consumer group "+m.Group)
			m.Report.Note("partitions", "")
			if join.Hold(now, warnAfter) {
				m.Log.Warn("not yet a member of the consumer group", "group", m.Group, "for", now.Sub(join.since).Round(time.Second))
			}
		default:
			m.Report.Unready("group", "")
			join.Clear()
			if owned == 0 {
				m.Report.Note("partitions", "no partitions assigned: the group has more members than the topics have partitions, so this instance stands by")
			} else {
				m.Report.Note("partitions", "")
			}
		}
		if heard := m.Kafka.LastHeard(); !heard.IsZero() {
			if reason := SilenceReason(joined, now.Sub(heard), m.Silence); reason != "" {
				m.Report.Unready("brokers", reason)
				if silence.Hold(now, 0) {
					m.Log.Warn("no answer from any broker; the group may have given this instance's partitions to others", "for", now.Sub(heard).Round(time.Second))
				}
			} else {
				m.Report.Unready("brokers", "")
				silence.Clear()
			}
		}
		if !now.Before(nextCheck) {
			nextCheck = now.Add(checkEvery)
			select {
			case slow <- struct{}{}:
			default: // the previous checks still wait for an answer
			}
		}
		lag, progress := m.Kafka.FetchLag()
		if reason := StallReason(joined && owned > 0, lag, m.Kafka.BudgetFull(), now.Sub(progress)); reason != "" {
			m.Report.Unready("fetch", reason)
			if stall.Hold(now, 0) {
				m.Log.Warn("fetching has stalled while records wait", "for", now.Sub(progress).Round(time.Second), "waiting", lag)
			}
		} else {
			m.Report.Unready("fetch", "")
			stall.Clear()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// StallReason says why fetching counts as stalled — records wait beyond
// those fetched (lag), nothing was handed over for FetchStallAfter, and not
// because the in-flight budget is full (that is writes being slower, not a
// stall) — or "".
func StallReason(owning bool, lag int64, budgetFull bool, idle time.Duration) string {
	if !owning || lag <= 0 || budgetFull || idle <= FetchStallAfter {
		return ""
	}
	return fmt.Sprintf("kafka: no records fetched for %s while %d are waiting", idle.Round(time.Second), lag)
}

// checkTopics reports topics of kafka.topics that do not exist (or a
// kafka.topic_pattern no topic matches). A failed lookup says nothing: the
// broker's own trouble shows in the group's membership.
func (m *Monitor) checkTopics(ctx context.Context, now time.Time, w *Warner) {
	cctx, cancel := context.WithTimeout(ctx, checkEvery)
	defer cancel()
	missing, err := m.Kafka.MissingTopics(cctx)
	if err != nil {
		return
	}
	if len(missing) == 0 {
		m.Report.Unready("topics", "")
		w.Clear()
		return
	}
	var reason string
	if pat := m.Kafka.Pattern(); pat != "" {
		reason = fmt.Sprintf("kafka: no topic matches kafka.topic_pattern %q", pat)
	} else {
		reason = "kafka: topic " + strings.Join(missing, ", ") + " does not exist"
	}
	m.Report.Unready("topics", reason)
	if w.Hold(now, 0) {
		m.Log.Warn("waiting for topics that do not exist", "topics", strings.Join(missing, ","), "for", now.Sub(w.since).Round(time.Second))
	}
}

// checkPostgres pings PostgreSQL when a connection is idle.
func (m *Monitor) checkPostgres(ctx context.Context, now time.Time, w *Warner) {
	cctx, cancel := context.WithTimeout(ctx, checkEvery)
	defer cancel()
	pinged, err := m.Ping(cctx)
	if !pinged {
		return
	}
	if err == nil || ctx.Err() != nil {
		m.Report.Unready("postgres", "")
		w.Clear()
		return
	}
	err = m.Redact(err)
	m.Report.Unready("postgres", "postgres: no answer: "+err.Error())
	if w.Hold(now, 0) {
		m.Log.Warn("PostgreSQL does not answer", "err", err, "for", now.Sub(w.since).Round(time.Second))
	}
}

// Warner spaces out the warnings of one condition: the first when due, then
// after 10s, 20s, 40s … up to 5 minutes.
type Warner struct {
	since time.Time // when the condition began; zero: it holds not
	next  time.Time
	every time.Duration
}

// Hold records that the condition holds at now, and reports whether a
// warning is due (after the given delay of it, then with backoff).
func (w *Warner) Hold(now time.Time, after time.Duration) bool {
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

// Since is when the condition began (zero when it does not hold).
func (w *Warner) Since() time.Time { return w.since }

// Clear records that the condition ended.
func (w *Warner) Clear() { *w = Warner{} }
