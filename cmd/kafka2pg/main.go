// Command kafka2pg streams Kafka topics into PostgreSQL tables.
//
//	kafka2pg run   --config FILE [--log-format text|json] [--stop-at-end]
//	kafka2pg check --config FILE
//	kafka2pg preview --config FILE [--route NAME] [-n 5]
//	kafka2pg offsets --config FILE
//	kafka2pg offsets reset --config FILE --to earliest|latest|OFFSET|TIME [--topic T [--partition P]] [--dry-run]
//	kafka2pg dlq replay --config FILE [--from X] [--to Y] [--dry-run]
//	kafka2pg version
//
// Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad usage or bad config,
// 3 import-connect could not carry every setting over.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // only served with --pprof
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kafka2pg/kafka2pg"
	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/admin"
	"github.com/kafka2pg/kafka2pg/internal/telemetry"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `kafka2pg streams Kafka topics into PostgreSQL tables.

Usage:
  kafka2pg run   --config FILE [--log-format text|json] [--log-level LEVEL] [--stop-at-end]
  kafka2pg check --config FILE
  kafka2pg preview --config FILE [--route NAME] [-n 5]
  kafka2pg offsets --config FILE
  kafka2pg offsets reset --config FILE --to earliest|latest|OFFSET|RFC3339-TIME
                         [--topic T [--partition P]] [--dry-run]
  kafka2pg dlq replay --config FILE [--from ID|OFFSET|RFC3339-TIME] [--to ID|OFFSET|RFC3339-TIME] [--dry-run]
  kafka2pg import-connect [--brokers HOST:PORT,...] [--group GROUP] [--topics T,...] FILE   (a Kafka Connect JDBC sink config → pipeline.yaml)
  kafka2pg version

Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad usage or bad config,
3 import-connect could not carry every setting over.
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "preview":
		return cmdPreview(args[1:], stdout, stderr)
	case "offsets":
		return cmdOffsets(args[1:], stdout, stderr)
	case "dlq":
		return cmdDLQ(args[1:], stdout, stderr)
	case "import-connect":
		return cmdImportConnect(args[1:], os.Stdin, stdout, stderr)
	case "version", "--version", "-v":
		writeVersion(stdout)
		return exitOK
	case "help", "--help", "-h":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "kafka2pg: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

type commonFlags struct {
	config    string
	logFormat string
	logLevel  string
}

func newFlagSet(name string, stderr io.Writer, c *commonFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.config, "config", "", "pipeline configuration file (YAML)")
	fs.StringVar(&c.config, "c", "", "shorthand for --config")
	fs.StringVar(&c.logFormat, "log-format", "", "log format: text or json (overrides log.format)")
	fs.StringVar(&c.logLevel, "log-level", "", "log level: debug, info, warn, error (overrides log.level)")
	return fs
}

// loadConfig parses flags and the config file; it returns a non-zero exit
// code when either is bad.
func loadConfig(fs *flag.FlagSet, c *commonFlags, args []string, stderr io.Writer) (*config.Config, int) {
	if err := fs.Parse(args); err != nil {
		return nil, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kafka2pg %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return nil, exitUsage
	}
	if c.config == "" {
		fmt.Fprintf(stderr, "kafka2pg %s: --config FILE is required\n", fs.Name())
		return nil, exitUsage
	}
	cfg, err := config.Load(c.config)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitUsage
	}
	if c.logFormat != "" {
		cfg.Log.Format = c.logFormat
	}
	if c.logLevel != "" {
		cfg.Log.Level = c.logLevel
	}
	return cfg, exitOK
}

func newLogger(cfg config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.Format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", cfg.Format)
}

func cmdRun(args []string, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("run", stderr, &c)
	stopAtEnd := fs.Bool("stop-at-end", false, "exit 0 once everything up to the end offsets seen at start is written and committed (upsert backlogs are merged unless batch.backlog_merge is false)")
	pprofAddr := fs.String("pprof", "", "serve Go's /debug/pprof on this host:port (for diagnosing CPU and memory; keep it on loopback)")
	if v, c, _ := buildStamp(); v != "" {
		telemetry.BuildVersion, telemetry.BuildCommit = v, orUnknown(c)
	}
	cfg, code := loadConfig(fs, &c, args, stderr)
	if cfg == nil {
		return code
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kafka2pg run:", err)
		return exitUsage
	}
	if *pprofAddr != "" {
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			fmt.Fprintln(stderr, "kafka2pg run: --pprof:", err)
			return exitUsage
		}
		srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln) //nolint:errcheck // diagnostics only
		defer srv.Close()
		log.Info("serving /debug/pprof", "addr", ln.Addr().String())
	}

	// First SIGINT/SIGTERM: soft stop (drain, commit, leave the group).
	// Second: abort at once, committing nothing that is not durable.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	// A signal during start-up cancels it: a clean stop, nothing was
	// consumed.
	startCtx, cancelStart := context.WithTimeout(ctx, 60*time.Second)
	started := make(chan struct{})
	var signalled atomic.Bool
	go func() {
		select {
		case <-sigs:
			signalled.Store(true)
			cancelStart()
		case <-started:
		}
	}()
	opts := []kafka2pg.Option{kafka2pg.WithLogger(log)}
	if *stopAtEnd {
		opts = append(opts, kafka2pg.WithStopAtEnd())
	}
	p, err := kafka2pg.New(startCtx, cfg, opts...)
	close(started)
	cancelStart()
	var verr *config.ValidationError
	if errors.As(err, &verr) {
		fmt.Fprintln(stderr, err) // an expression that does not compile
		return exitUsage
	}
	if err != nil && signalled.Load() {
		log.Info("signal received during start-up: stopped before consuming anything")
		return exitOK
	}
	if err != nil {
		log.Error("kafka2pg cannot start", "err", err)
		return exitRuntime
	}
	go func() {
		sig := <-sigs
		log.Info("signal received: stopping (send it again to abort at once)", "signal", sig.String())
		stop()
		sig = <-sigs
		log.Warn("second signal: aborting without draining", "signal", sig.String())
		p.Abort()
	}()
	err = p.Run(ctx)
	switch {
	case err == nil:
		log.Info("kafka2pg stopped cleanly")
		return exitOK
	case errors.Is(err, kafka2pg.ErrAborted):
		log.Warn("kafka2pg aborted")
		return exitRuntime
	default:
		log.Error("kafka2pg stopped on error", "err", err)
		return exitRuntime
	}
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("check", stderr, &c)
	cfg, code := loadConfig(fs, &c, args, stderr)
	if cfg == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, err := admin.Check(ctx, cfg, stdout)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if !ok {
		return exitRuntime
	}
	return exitOK
}

// cmdPreview is `kafka2pg preview`: the rows the first records of each
// route's topics would become, without writing or committing anything.
func cmdPreview(args []string, stdout, stderr io.Writer) int {
	var c commonFlags
	fs := newFlagSet("preview", stderr, &c)
	routeName := fs.String("route", "", "preview only the route of this name (routes[].name)")
	n := fs.Int("n", 5, "records to read from the start of each topic")
	cfg, code := loadConfig(fs, &c, args, stderr)
	if cfg == nil {
		return code
	}
	if *n < 1 || *n > 1000 {
		fmt.Fprintf(stderr, "kafka2pg preview: -n %d: must be between 1 and 1000\n", *n)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := admin.Preview(ctx, cfg, admin.PreviewOptions{Route: *routeName, N: *n, Out: stdout})
	switch {
	case err == nil:
		return exitOK
	case admin.IsUsage(err):
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "kafka2pg preview: %v\n", err)
	return exitRuntime
}
