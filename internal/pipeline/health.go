package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/health"
	"github.com/kafka2pg/kafka2pg/internal/retry"
	"github.com/kafka2pg/kafka2pg/internal/route"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// monitor is the pipeline's health.Monitor (see package health).
func (p *Pipeline) monitor() *health.Monitor {
	return &health.Monitor{
		Group:   p.cfg.Kafka.Group,
		Kafka:   healthKafka{p},
		Report:  p.m,
		Log:     p.log,
		Redact:  p.cfg.RedactError,
		Silence: health.SilenceBound(time.Duration(p.cfg.Kafka.SessionTimeout)),
		Ping: func(ctx context.Context) (bool, error) {
			st := p.pool.Stat()
			if st.IdleConns() == 0 && st.TotalConns() >= st.MaxConns() {
				return false, nil
			}
			return true, p.pool.Ping(ctx)
		},
	}
}

// healthKafka is the consumer and budget as health.Kafka.
type healthKafka struct{ p *Pipeline }

func (k healthKafka) Membership() (bool, int) { return k.p.consumer.Membership() }
func (k healthKafka) MissingTopics(ctx context.Context) ([]string, error) {
	return k.p.consumer.MissingTopics(ctx)
}
func (k healthKafka) Pattern() string              { return k.p.consumer.Pattern() }
func (k healthKafka) FetchLag() (int64, time.Time) { return k.p.consumer.Committer().FetchLag() }
func (k healthKafka) BudgetFull() bool             { return k.p.budget.Full() }
func (k healthKafka) LastHeard() time.Time         { return k.p.consumer.LastHeard() }

// awaitTables waits for the tables of the routes prepared without one
// (static table, no auto_create), warning and reporting each as a reason to
// be unready meanwhile: a sink deployed before its migration starts working
// when the table appears.
func (p *Pipeline) awaitTables(ctx context.Context) error {
	if len(p.missing) == 0 {
		return nil
	}
	policy := retry.Policy{Initial: time.Second, Max: 30 * time.Second}
	var w health.Warner
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
		if now := time.Now(); w.Hold(now, 0) {
			p.log.Warn("waiting for tables that do not exist (create them, or set auto_create: true)",
				"tables", strings.Join(names, ","), "for", now.Sub(w.Since()).Round(time.Second))
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
