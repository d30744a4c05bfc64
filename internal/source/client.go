// Package source builds the Kafka client kafka2pg consumes with, from the
// kafka section of the configuration.
package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kafka2pg/kafka2pg/config"
)

// ClientOpts returns the connection options (brokers, client id, TLS, SASL)
// shared by the consumer and by the admin commands.
func ClientOpts(k config.Kafka) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.Brokers...),
		kgo.ClientID(k.ClientID),
		kgo.DialTimeout(10 * time.Second),
	}
	if k.TLS != nil {
		tc, err := TLSConfig(k.TLS, "kafka.tls")
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if s := k.SASL; s != nil {
		mech, err := saslMechanism(s)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// TLSConfig builds a client TLS configuration; path names the config
// section in errors ("kafka.tls", "schema_registry.tls").
func TLSConfig(t *config.TLS, path string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in by the user
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", path, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: no PEM certificate in %s", path, t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file/key_file: %w", path, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// saslMechanism is kafka.sasl's mechanism. With password_file the password
// is read at every new broker connection, so a rotated password is used from
// the next reconnect on without a restart.
func saslMechanism(s *config.SASL) (sasl.Mechanism, error) {
	password := func() (string, error) {
		if s.PasswordFile == "" {
			return s.Password, nil
		}
		pw, err := config.ReadSecret(s.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("kafka.sasl.password_file: %w", err)
		}
		return pw, nil
	}
	if _, err := password(); err != nil {
		return nil, err // an unreadable file is a start-up error, not a retry loop
	}
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN":
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			pw, err := password()
			return plain.Auth{User: s.Username, Pass: pw}, err
		}), nil
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		auth := func(context.Context) (scram.Auth, error) {
			pw, err := password()
			return scram.Auth{User: s.Username, Pass: pw}, err
		}
		if strings.ToUpper(s.Mechanism) == "SCRAM-SHA-256" {
			return scram.Sha256(auth), nil
		}
		return scram.Sha512(auth), nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism: unsupported %q", s.Mechanism)
}
