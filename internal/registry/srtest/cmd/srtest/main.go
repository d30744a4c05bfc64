// Command srtest serves the in-memory stand-in Schema Registry of package
// srtest until SIGINT or SIGTERM, for runnable examples:
//
//	srtest -listen 127.0.0.1:8081
//
// It prints its base URL on standard output once it is listening. Schemas
// live in memory only and are lost when it exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on")
	user := flag.String("user", "", "require HTTP basic auth with this user name and the password in $SRTEST_PASSWORD")
	flag.Parse()

	s, err := srtest.NewServerAt(*listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "srtest:", err)
		os.Exit(1)
	}
	defer s.Close()
	if *user != "" {
		// From the environment, not a flag, so that it stays out of ps.
		s.SetBasicAuth(*user, os.Getenv("SRTEST_PASSWORD"))
	}
	fmt.Println(s.URL())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}
