package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/admin"
)

const dlqUsage = `usage: kafka2pg dlq replay --config FILE [--from X] [--to Y] [--dry-run]`

// cmdDLQ is `kafka2pg dlq replay [flags]`.
func cmdDLQ(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "kafka2pg dlq: a subcommand is required\n%s\n", dlqUsage)
		return exitUsage
	}
	switch args[0] {
	case "replay":
		return cmdDLQReplay(args[1:], stdout, stderr)
	case "help", "--help", "-h":
		fmt.Fprintln(stdout, dlqUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "kafka2pg dlq: unknown subcommand %q\n%s\n", args[0], dlqUsage)
	return exitUsage
}

// cmdDLQReplay feeds the dead letters of the configuration's dead-letter
// queue back through their routes into the tables. Exit 0 when the replay
// ran (even if some dead letters failed again), 1 on a runtime failure, 2 on
// bad usage.
func cmdDLQReplay(args []string, stdout, stderr io.Writer) int {
	const name = "kafka2pg dlq replay"
	var c commonFlags
	fs := newFlagSet("dlq replay", stderr, &c)
	from := fs.String("from", "", "first dead letter: a dead-letter table id or a dead-letter topic offset (integer), or an RFC 3339 time (the table's dead_at, the topic's record timestamp); inclusive")
	to := fs.String("to", "", "last dead letter, as --from; inclusive (default: the last one present at start)")
	dryRun := fs.Bool("dry-run", false, "map the dead letters and report what would happen; write, delete, produce and commit nothing")
	cfg, code := loadConfig(fs, &c, args, stderr)
	if cfg == nil {
		return code
	}
	if cfg.Errors.Tolerance != config.ToleranceAll {
		fmt.Fprintf(stderr, "%s: errors.tolerance is %s: this configuration has no dead-letter queue to replay; set errors.tolerance: all with errors.dlq.table or errors.dlq.topic\n", name, cfg.Errors.Tolerance)
		return exitUsage
	}
	fromB, err := admin.ParseReplayBound("--from", *from)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	toB, err := admin.ParseReplayBound("--to", *to)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	}

	// SIGINT/SIGTERM: the transaction in flight rolls back; every batch
	// committed before it stays replayed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := admin.Replay(ctx, cfg, admin.ReplayOptions{From: fromB, To: toB, DryRun: *dryRun, Out: stdout, Logger: log})
	if admin.IsUsage(err) {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	if err != nil {
		if res.Replayed+res.FailedAgain+res.NoRoute > 0 {
			fmt.Fprintf(stdout, "stopped early: %s\n", res.Summary())
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitRuntime
	}
	fmt.Fprintln(stdout, res.Summary())
	return exitOK
}
