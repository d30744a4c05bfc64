package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kafka2pg/kafka2pg/internal/retry"
)

// Connect waits until a broker answers. While none does, it logs a warning
// naming the brokers and the cause — within the first attempt's timeout
// (at most 10 seconds) and again with backoff — and reports the reason
// through unready ("" when connected). A failure that retrying cannot cure
// (a certificate the client does not trust, a name the certificate does not
// carry, a refused SASL login, a missing authorisation) is returned at once.
func (c *Consumer) Connect(ctx context.Context, policy retry.Policy, unready func(reason string)) error {
	brokers := strings.Join(c.brokers, ",")
	hooks := retry.Hooks{Retrying: func(attempt int, wait time.Duration, err error) {
		reason := fmt.Sprintf("kafka: no broker of %s answers: %v", brokers, err)
		unready(reason)
		c.log.Warn("cannot reach Kafka; retrying", "brokers", brokers, "attempt", attempt,
			"backoff", wait.Round(time.Millisecond), "err", err)
	}}
	err := retry.Do(ctx, policy.Forever(), func(err error) bool { return !Permanent(err) }, hooks, func(int) error {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return c.cl.Ping(pctx)
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("kafka: cannot connect to %s: %w", brokers, err)
	}
	unready("")
	return nil
}

// Permanent reports a Kafka connection error that retrying cannot cure: TLS
// verification, SASL authentication and authorisation failures.
func Permanent(err error) bool {
	var cve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var alert tls.AlertError
	switch {
	case errors.As(err, &cve), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci), errors.As(err, &alert):
		return true
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState),
		errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.ClusterAuthorizationFailed),
		errors.Is(err, kerr.GroupAuthorizationFailed), errors.Is(err, kerr.TopicAuthorizationFailed):
		return true
	}
	return false
}
