package e2e

// Fault injection for the fault suite (faults_test.go) and the soak
// (soak_test.go): toxiproxy (github.com/Shopify/toxiproxy/v2) used as a
// library, one in-process proxy between kafka2pg and a server, with toxics
// added and removed while traffic flows. Toxics apply to the connections
// already open as well as to new ones.
//
// PostgreSQL: the proxy listens on an ephemeral port and kafka2pg's
// postgres.url points at it; the test's own pool connects directly.
//
// Kafka: a client bootstraps and then connects to the address the broker
// advertises, so the broker has a listener of its own for this
// (scripts/services.sh: it listens on KAFKA2PG_TEST_PROXIED_UPSTREAM and
// advertises KAFKA2PG_TEST_PROXIED_BROKERS, where the test's proxy listens).
// That address is fixed: one test at a time holds it (a file lock).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// needEnv returns the variable, skipping the test when it is unset, or
// failing it under CI=true (like internal/testenv).
func needEnv(t *testing.T, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set; run the tests through `make test` (scripts/services.sh up provides it)", name)
	}
	t.Skipf("%s is not set; `eval \"$(scripts/services.sh up)\"` starts the services", name)
	return ""
}

// faultProxy is one toxiproxy proxy; its methods are safe to call from the
// test goroutine while kafka2pg's traffic flows through it.
type faultProxy struct {
	t     *testing.T
	p     *toxiproxy.Proxy
	added map[string]time.Time // toxic name → when it was added
}

func newFaultProxy(t *testing.T, name, listen, upstream string) *faultProxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, listen, upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("starting the %s proxy on %s: %v", name, listen, err)
	}
	t.Cleanup(p.Stop)
	return &faultProxy{t: t, p: p, added: map[string]time.Time{}}
}

// addr is where the proxy listens.
func (f *faultProxy) addr() string { return f.p.Listen }

// add adds a toxic: typ is toxiproxy's type (timeout, latency, bandwidth,
// reset_peer, …), stream "upstream" (to the server) or "downstream", attrs
// its attributes; toxicity 1 (every connection).
func (f *faultProxy) add(name, typ, stream string, attrs map[string]any) {
	f.t.Helper()
	f.addWith(name, typ, stream, 1, attrs)
}

func (f *faultProxy) addWith(name, typ, stream string, toxicity float64, attrs map[string]any) {
	f.t.Helper()
	b, err := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": toxicity, "attributes": attrs})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.p.Toxics.AddToxicJson(strings.NewReader(string(b))); err != nil {
		f.t.Fatalf("adding toxic %s (%s %s) to %s: %v", name, typ, stream, f.p.Name, err)
	}
	f.added[name] = time.Now()
}

// remove removes a toxic. Removing a timeout toxic closes the connections
// it held, as a healed path would reset them.
func (f *faultProxy) remove(name string) {
	f.t.Helper()
	if err := f.p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		f.t.Fatalf("removing toxic %s from %s: %v", name, f.p.Name, err)
	}
	delete(f.added, name)
}

// blackhole makes the path swallow bytes: accepted, never delivered or
// answered, no reset (toxiproxy's timeout toxic with timeout 0) in the
// given directions.
func (f *faultProxy) blackhole(streams ...string) {
	f.t.Helper()
	for _, s := range streams {
		f.add("blackhole_"+s, "timeout", s, map[string]any{"timeout": 0})
	}
}

// heal removes every toxic.
func (f *faultProxy) heal() {
	f.t.Helper()
	for name := range f.added {
		f.remove(name)
	}
}

// pgProxy starts a proxy in front of the test PostgreSQL server for dbURL
// and returns it with dbURL pointing at it.
func pgProxy(t *testing.T, dbURL string) (*faultProxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	fp := newFaultProxy(t, "postgres", "127.0.0.1:0", u.Host)
	u.Host = fp.addr()
	return fp, u.String()
}

// brokerProxy takes the proxied broker address (one test at a time) and
// starts a proxy there; Kafka clients bootstrapped on the returned address
// talk to the broker only through it.
func brokerProxy(t *testing.T) (*faultProxy, string) {
	t.Helper()
	listen := needEnv(t, "KAFKA2PG_TEST_PROXIED_BROKERS")
	upstream := needEnv(t, "KAFKA2PG_TEST_PROXIED_UPSTREAM")
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "kafka2pg-proxied-broker.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("another test has held %s for 10 minutes", lock.Name())
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() { _ = lock.Close() }) // after the proxy stops (cleanups run last-in first-out)
	if c, err := net.DialTimeout("tcp", upstream, 2*time.Second); err != nil {
		t.Fatalf("the broker's PROXIED listener %s does not answer (%v); `scripts/services.sh up` restarts the broker with it", upstream, err)
	} else {
		_ = c.Close()
	}
	fp := newFaultProxy(t, "kafka", listen, upstream)
	return fp, listen
}

// readiness is one answer of /readyz.
type readiness struct {
	Status  int      // 0 when it did not answer
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons"`
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

func probeReadyz(addr string) readiness {
	resp, err := probeClient.Get("http://" + addr + "/readyz")
	if err != nil {
		return readiness{}
	}
	defer resp.Body.Close()
	var r readiness
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &r)
	r.Status = resp.StatusCode
	return r
}

func (r readiness) String() string {
	if r.Status == 0 {
		return "no answer"
	}
	return fmt.Sprintf("%d %v", r.Status, r.Reasons)
}

// metricSum adds up every sample of a metric on /metrics, whatever its
// labels (0 when it has none yet).
func metricSum(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := probeClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}
