// Command enrich is kafka2pg with a transform written in Go: each order is
// enriched with its customer's tier from a lookup table in PostgreSQL (read
// through a small cache) and checked against a domain rule; an order that
// breaks it becomes a dead letter instead of a row.
//
//	DATABASE_URL=postgres://… go run ./examples/enrich --config examples/enrich/pipeline.yaml
//
// An order is {"order_id": 1, "customer_id": 7, "amount": "19.90"}. The
// rules: the amount is positive and at most 10,000, and the customer is
// known. The discount follows the tier.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kafka2pg/kafka2pg"
	"github.com/kafka2pg/kafka2pg/config"
)

func main() {
	cfgPath := flag.String("config", "examples/enrich/pipeline.yaml", "pipeline configuration")
	stopAtEnd := flag.Bool("stop-at-end", false, "exit once caught up with the end offsets seen at start")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*cfgPath, *stopAtEnd, log); err != nil {
		log.Error("enrich stopped", "err", err)
		os.Exit(1)
	}
}

func run(cfgPath string, stopAtEnd bool, log *slog.Logger) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lookup, err := pgxpool.New(ctx, cfg.Postgres.URL)
	if err != nil {
		return cfg.RedactError(err)
	}
	defer lookup.Close()
	e := &enricher{db: lookup, ttl: time.Minute, tiers: map[int64]cached{}}

	opts := []kafka2pg.Option{kafka2pg.WithLogger(log),
		kafka2pg.WithTransform("orders", e.transform),
		// Lookups wait on the database: run a few records of a partition
		// at once; rows are still written in record order.
		kafka2pg.WithTransformConcurrency(4)}
	if stopAtEnd {
		opts = append(opts, kafka2pg.WithStopAtEnd())
	}
	p, err := kafka2pg.New(ctx, cfg, opts...)
	if err != nil {
		return err
	}
	return p.Run(ctx)
}

// order is one event of the orders topic.
type order struct {
	OrderID    int64       `json:"order_id"`
	CustomerID int64       `json:"customer_id"`
	Amount     json.Number `json:"amount"`
}

// enricher looks customers' tiers up, through a cache: a tier is read from
// PostgreSQL at most once a ttl per customer.
type enricher struct {
	db    *pgxpool.Pool
	ttl   time.Duration
	mu    sync.Mutex
	tiers map[int64]cached
}

type cached struct {
	tier string
	at   time.Time
}

var discountPercent = map[string]int64{"bronze": 0, "silver": 5, "gold": 10}

// parseCents reads a decimal amount with at most two decimals ("19.9",
// "19.90", "20") as integer cents.
func parseCents(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	f := int64(0)
	if frac != "" {
		if f, err = strconv.ParseInt((frac + "0")[:2], 10, 64); err != nil || f < 0 {
			return 0, false
		}
	}
	if strings.HasPrefix(whole, "-") {
		return w*100 - f, true
	}
	return w*100 + f, true
}

func formatCents(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// transform is the route's kafka2pg.TransformFunc.
func (e *enricher) transform(ctx context.Context, r *kafka2pg.Record) ([]kafka2pg.Row, error) {
	var o order
	if err := json.Unmarshal(r.Value, &o); err != nil {
		return nil, fmt.Errorf("not an order: %w", err)
	}
	cents, ok := parseCents(string(o.Amount))
	if !ok || cents <= 0 || cents > 1_000_000 {
		return nil, fmt.Errorf("order %d: amount %q is not between 0 and 10,000", o.OrderID, o.Amount)
	}
	tier, err := e.tier(ctx, o.CustomerID)
	if err != nil {
		return nil, fmt.Errorf("order %d: %w", o.OrderID, err)
	}
	return []kafka2pg.Row{{Values: map[string]any{
		"order_id": o.OrderID, "customer_id": o.CustomerID, "amount": o.Amount, "tier": tier,
		"discount":    formatCents((cents*discountPercent[tier] + 50) / 100), // money in integer cents, rounded half up
		"enriched_at": r.Timestamp,                                           // the record's time, not now(): a replay writes the same row
	}}}, nil
}

var errUnknownCustomer = errors.New("unknown customer")

func (e *enricher) tier(ctx context.Context, customer int64) (string, error) {
	e.mu.Lock()
	c, ok := e.tiers[customer]
	e.mu.Unlock()
	if ok && time.Since(c.at) < e.ttl {
		return c.tier, nil
	}
	var tier string
	err := e.db.QueryRow(ctx, `SELECT tier FROM customers WHERE id = $1`, customer).Scan(&tier)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("customer %d: %w", customer, errUnknownCustomer)
	}
	if err != nil {
		return "", kafka2pg.Retryable(err) // the lookup is down: retry, do not dead-letter
	}
	e.mu.Lock()
	e.tiers[customer] = cached{tier: tier, at: time.Now()}
	e.mu.Unlock()
	return tier, nil
}
