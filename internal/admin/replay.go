package admin

import (
	"context"
	"errors"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/dlq"
)

// Dead-letter replay (`kafka2pg dlq replay`), see dlq.Replay.
type (
	ReplayOptions = dlq.ReplayOptions
	ReplayResult  = dlq.ReplayResult
	ReplayBound   = dlq.ReplayBound
)

// ParseReplayBound parses the value of --from or --to.
func ParseReplayBound(flag, s string) (ReplayBound, error) { return dlq.ParseReplayBound(flag, s) }

// Replay feeds the dead letters of cfg's dead-letter queue back through
// their routes into the tables. A *dlq.ReplayUsageError is bad usage.
func Replay(ctx context.Context, cfg *config.Config, opts ReplayOptions) (ReplayResult, error) {
	return dlq.Replay(ctx, cfg, opts)
}

// IsUsage reports an error that is bad usage of an admin command (exit 2 on
// the command line).
func IsUsage(err error) bool {
	var ue *UsageError
	var re *dlq.ReplayUsageError
	var ve *config.ValidationError
	return errors.As(err, &ue) || errors.As(err, &re) || errors.As(err, &ve)
}
