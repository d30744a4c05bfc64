package pgwrite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code}) }
	cases := []struct {
		name string
		err  error
		want Class
	}{
		{"serialization failure", pg("40001"), Transient},
		{"deadlock", pg("40P01"), Transient},
		{"admin shutdown", pg("57P01"), Transient},
		{"crash shutdown", pg("57P02"), Transient},
		{"cannot connect now", pg("57P03"), Transient},
		{"too many connections", pg("53300"), Transient},
		{"lock not available", pg("55P03"), Transient},
		{"query canceled", pg("57014"), Transient},
		{"connection failure", pg("08006"), Transient},
		{"value too long", pg("22001"), Data},
		{"invalid text", pg("22P02"), Data},
		{"not null violation", pg("23502"), Data},
		{"unique violation", pg("23505"), Data},
		{"foreign key", pg("23503"), Data},
		{"check", pg("23514"), Data},
		{"undefined table", pg("42P01"), Systemic},
		{"undefined column", pg("42703"), Systemic},
		{"permission denied", pg("42501"), Systemic},
		{"disk full", pg("53100"), Systemic},
		{"out of memory", pg("53200"), Systemic},
		{"read only after a failover", pg("25006"), Transient},
		{"connect error", &pgconn.ConnectError{}, Transient},
		{"login refused: password rotated", pg("28P01"), Transient},
		{"login refused: no pg_hba.conf entry", pg("28000"), Transient},
		{"net error", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, Transient},
		{"eof", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), Transient},
		{"conn closed", pgconn.ErrConnClosed, Transient},
		{"conn lost", &ConnLostError{Err: errors.New("whatever")}, Transient},
		{"context", context.DeadlineExceeded, Transient},
		{"encode bug", errors.New("unable to encode 1 into binary format for text (OID 25)"), Systemic},
	}
	for _, tc := range cases {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestWriteErrorNamesEverything(t *testing.T) {
	err := &WriteError{Table: `"public"."orders"`, Class: Data, Topic: "orders", Partition: 3, FirstOffset: 10, LastOffset: 19,
		Err: &pgconn.PgError{Code: "23514", Message: "new row violates check constraint", ConstraintName: "amount_positive", Detail: "Failing row contains (1)."}}
	want := `writing "public"."orders": data error for topic orders partition 3 offsets 10..19: new row violates check constraint (SQLSTATE 23514, constraint amount_positive): Failing row contains (1).`
	if err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err.Error(), want)
	}
}
