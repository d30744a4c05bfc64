package kafka2pg

import (
	"context"
	"log/slog"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/pipeline"
	"github.com/kafka2pg/kafka2pg/internal/transform"
)

// RecordError is a record that cannot become a row: it does not decode, or a
// field does not fit its column. Run returns it (wrapped) when it stops on
// one.
type RecordError = transform.RecordError

// ErrAborted is returned by Run after Abort.
var ErrAborted = pipeline.ErrAborted

// Option adjusts a Pipeline.
type Option func(*pipeline.Options)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *pipeline.Options) { o.Logger = l } }

// WithStopAtEnd makes Run return nil once everything up to the end offsets
// seen at start is written and committed. Such a run is a catch-up job: with
// batch.backlog_merge at its default (auto), its upsert routes merge the
// backlog instead of writing it batch by batch (docs/operations.md,
// "Backlog merge"); a run that goes on merges only a backlog already
// batch.backlog_max_age late.
func WithStopAtEnd() Option { return func(o *pipeline.Options) { o.StopAtEnd = true } }

// Pipeline is a running kafka2pg instance.
type Pipeline struct{ p *pipeline.Pipeline }

// Stats are running totals.
type Stats = pipeline.Stats

// New connects to PostgreSQL and Kafka, reads every route's table from the
// catalog and checks the routes against them. cfg must have been validated
// (config.Load and config.Parse do that).
func New(ctx context.Context, cfg *config.Config, opts ...Option) (*Pipeline, error) {
	var o pipeline.Options
	for _, opt := range opts {
		opt(&o)
	}
	p, err := pipeline.New(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	return &Pipeline{p: p}, nil
}

// Run consumes until ctx is cancelled (soft stop), a record or write fails
// for good (the error is returned after the soft stop), or Abort. It may be
// called once.
func (p *Pipeline) Run(ctx context.Context) error { return p.p.Run(ctx) }

// Abort stops at once; safe from any goroutine.
func (p *Pipeline) Abort() { p.p.Abort() }

// Stats returns running totals; safe from any goroutine.
func (p *Pipeline) Stats() Stats { return p.p.Stats() }
