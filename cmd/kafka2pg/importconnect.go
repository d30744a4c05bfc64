package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kafka2pg/kafka2pg/internal/connectconf"
)

// exitIncomplete is import-connect's exit code when the pipeline was
// written but some settings could not be carried over.
const exitIncomplete = 3

// cmdImportConnect converts a Kafka Connect JDBC sink configuration to a
// pipeline configuration on stdout; notes and what could not be carried
// over go to stderr.
func cmdImportConnect(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-connect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "", "Kafka brokers, host:port[,host:port...] (default: the placeholder ${KAFKA_BROKERS})")
	group := fs.String("group", "", "consumer group (default: connect-NAME, Connect's group for the connector, so that kafka2pg starts where it stopped)")
	topics := fs.String("topics", "", "for a connector with topics.regex: the topics it matches, topic[,topic...] (one route each)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: kafka2pg import-connect [--brokers HOST:PORT,...] [--group GROUP] [--topics T1,T2] FILE

Reads a Kafka Connect JDBC sink connector's configuration (Confluent's
io.confluent.connect.jdbc.JdbcSinkConnector or Debezium's
io.debezium.connector.jdbc.JdbcSinkConnector): the JSON posted to Connect's
REST API, a flat JSON object of settings or a .properties file (FILE - reads
stdin). Prints the equivalent kafka2pg pipeline configuration on stdout; notes,
the environment variables to set and every setting that could not be carried
over (key=value: reason) on stderr. Secrets are never printed.

Exit codes: 0 everything carried over, 3 some settings not carried over,
2 bad usage or an input that is not a JDBC sink configuration.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "kafka2pg import-connect: want one FILE (or - for stdin)")
		fs.Usage()
		return exitUsage
	}
	path := fs.Arg(0)
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "kafka2pg import-connect: %v\n", err)
		return exitUsage
	}
	c, err := connectconf.Parse(data)
	if err != nil {
		fmt.Fprintf(stderr, "kafka2pg import-connect: %s: %v\n", path, err)
		return exitUsage
	}
	res, err := connectconf.Convert(c, connectconf.Options{
		Brokers: splitList(*brokers),
		Group:   strings.TrimSpace(*group),
		Topics:  splitList(*topics),
	})
	if err != nil {
		fmt.Fprintf(stderr, "kafka2pg import-connect: %s: %v\n", path, err)
		return exitUsage
	}
	if _, err := stdout.Write(res.YAML); err != nil {
		fmt.Fprintf(stderr, "kafka2pg import-connect: writing the configuration: %v\n", err)
		return exitRuntime
	}
	name := res.Name
	if name == "" {
		name = "(unnamed)"
	}
	fmt.Fprintf(stderr, "kafka2pg import-connect: converted %s connector %s\n", res.Kind, name)
	if len(res.Env) > 0 {
		fmt.Fprintln(stderr, "Set these environment variables before running kafka2pg:")
		for _, e := range res.Env {
			fmt.Fprintf(stderr, "  %s: %s\n", e.Name, e.Purpose)
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	if res.Complete() {
		return exitOK
	}
	fmt.Fprintf(stderr, "Not carried over (%d):\n", len(res.Dropped))
	for _, d := range res.Dropped {
		fmt.Fprintln(stderr, d.String())
	}
	return exitIncomplete
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
