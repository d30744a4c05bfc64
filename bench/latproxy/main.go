// Command latproxy is a TCP proxy that delays every byte from the upstream
// (PostgreSQL's answers) by a fixed latency: a database farther away than
// loopback, where each round trip of a batch's transaction costs that much
// more. It uses toxiproxy's Go module in-process, as the e2e fault suite
// does, and runs until interrupted. docs/benchmarks.md ("a batch in two
// round trips") has the figures it was used for.
//
//	go run ./bench/latproxy -listen 127.0.0.1:55499 -upstream 127.0.0.1:55432 -latency 10ms
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:55499", "address to listen on (loopback)")
	upstream := flag.String("upstream", "127.0.0.1:55432", "address to forward to")
	latency := flag.Duration("latency", 10*time.Millisecond, "delay added to everything the upstream sends")
	flag.Parse()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "latproxy", *listen, *upstream)
	if err := p.Start(); err != nil {
		log.Fatalf("latproxy: %v", err)
	}
	toxic := fmt.Sprintf(`{"name":"latency","type":"latency","stream":"downstream","attributes":{"latency":%d,"jitter":0}}`,
		latency.Milliseconds())
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		log.Fatalf("latproxy: %v", err)
	}
	fmt.Printf("latproxy: %s -> %s, %s added to the upstream's bytes\n", *listen, *upstream, *latency)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	p.Stop()
}
