// Command waitrecords polls a kafka2pg metrics endpoint until the records
// made durable (kafka2pg_records_total, summed over topics) reach -want,
// then prints the time it saw them as Unix seconds and exits 0 (1 at
// -timeout). make bench uses it to time a run that goes on (no
// --stop-at-end): polling in-process every -every costs far less than a
// curl per poll on a 2-core machine.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	url := flag.String("url", "", "the metrics URL (http://127.0.0.1:PORT/metrics)")
	metric := flag.String("metric", "kafka2pg_records_total", "the counter to sum over its labels")
	want := flag.Float64("want", 0, "the sum to wait for")
	every := flag.Duration("every", 10*time.Millisecond, "how often to poll")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	if *url == "" || *want <= 0 {
		fmt.Fprintln(os.Stderr, "waitrecords: -url and -want (> 0) are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	last := -1.0
	for {
		if got, err := sum(ctx, client, *url, *metric); err == nil {
			last = got
			if got >= *want {
				now := time.Now()
				fmt.Printf("%d.%06d\n", now.Unix(), now.Nanosecond()/1000)
				return
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(os.Stderr, "waitrecords: %s reached %v, not %v, in %s\n", *metric, last, *want, *timeout)
			os.Exit(1)
		case <-time.After(*every):
		}
	}
}

// sum adds up every sample of metric (a counter without a suffix) at url.
func sum(ctx context.Context, c *http.Client, url, metric string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metric)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("%q: %w", line, err)
		}
		total += v
	}
	return total, sc.Err()
}
