package registry_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
)

const (
	avroOrder = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`
	secret    = "hunter2-very-secret"
)

func newClient(t *testing.T, cfg registry.Config) *registry.Client {
	t.Helper()
	c, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func register(t *testing.T, s *srtest.Server, subject, typ, schema string, refs ...registry.Reference) int {
	t.Helper()
	id, err := s.Register(subject, typ, schema, refs...)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSchemaByID(t *testing.T) {
	s := srtest.New(t)
	avroID := register(t, s, "orders-value", "", avroOrder)
	register(t, s, "common", registry.TypeProtobuf, `syntax = "proto3"; message Money { int64 units = 1; }`)
	ref := registry.Reference{Name: "common.proto", Subject: "common", Version: 1}
	protoID := register(t, s, "payments-value", registry.TypeProtobuf, `import "common.proto";`, ref)
	c := newClient(t, registry.Config{URL: s.URL()})

	for _, want := range []*registry.Schema{
		{ID: avroID, Type: registry.TypeAvro, Schema: avroOrder}, // schemaType absent on the wire
		{ID: protoID, Type: registry.TypeProtobuf, Schema: `import "common.proto";`, References: []registry.Reference{ref}},
	} {
		got, err := c.SchemaByID(context.Background(), want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("SchemaByID(%d) = %+v, want %+v", want.ID, got, want)
		}
	}
}

func TestSchemaByReference(t *testing.T) {
	s := srtest.New(t)
	register(t, s, "orders value/v", "", avroOrder)
	const v2 = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}`
	id2 := register(t, s, "orders value/v", "", v2)
	c := newClient(t, registry.Config{URL: s.URL() + "/"}) // trailing slash is fine

	got, err := c.SchemaByReference(context.Background(), registry.Reference{Name: "Order", Subject: "orders value/v", Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := (&registry.Schema{ID: id2, Type: registry.TypeAvro, Schema: v2}); !reflect.DeepEqual(got, want) {
		t.Errorf("SchemaByReference = %+v, want %+v", got, want)
	}
	// The id learnt from the subject costs no further request.
	if byID, err := c.SchemaByID(context.Background(), id2); err != nil || byID != got {
		t.Errorf("SchemaByID after reference = %p, %v; want the cached %p", byID, err, got)
	}
	if n := c.Requests(); n != 1 {
		t.Errorf("Requests = %d, want 1", n)
	}
	if _, err := c.SchemaByReference(context.Background(), registry.Reference{Name: "x", Subject: "orders", Version: -1}); err == nil {
		t.Error("version -1 (latest) accepted")
	}
}

func TestResolve(t *testing.T) {
	s := srtest.New(t)
	register(t, s, "money", registry.TypeProtobuf, `syntax = "proto3"; message Money {}`)
	money := registry.Reference{Name: "money.proto", Subject: "money", Version: 1}
	register(t, s, "line", registry.TypeProtobuf, `import "money.proto"; message Line {}`, money)
	line := registry.Reference{Name: "line.proto", Subject: "line", Version: 1}
	// order imports line and money; line imports money again.
	top := register(t, s, "orders-value", registry.TypeProtobuf, `import "line.proto"; import "money.proto";`, line, money)
	c := newClient(t, registry.Config{URL: s.URL()})
	ctx := context.Background()

	root, err := c.SchemaByID(ctx, top)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := c.Resolve(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 2 || deps["line.proto"] == nil || deps["money.proto"] == nil ||
		!strings.Contains(deps["line.proto"].Schema, "message Line") || !strings.Contains(deps["money.proto"].Schema, "message Money") {
		t.Fatalf("Resolve = %v", deps)
	}
	if n := s.Requests("/subjects/"); n != 2 {
		t.Errorf("subject requests = %d, want 2 (money once)", n)
	}
	if deps, err := c.Resolve(ctx, &registry.Schema{ID: 99}); err != nil || len(deps) != 0 {
		t.Errorf("Resolve without references = %v, %v", deps, err)
	}
}

// refServer serves subject sN version 1 whose references are next(N), and
// checks the Accept header.
func refServer(t *testing.T, next func(n int) []registry.Reference) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Accept"); !strings.Contains(a, "application/vnd.schemaregistry.v1+json") {
			t.Errorf("Accept = %q", a)
		}
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/subjects/s%d/versions/1", &n); err != nil {
			http.Error(w, `{"error_code":40401,"message":"no"}`, 404)
			return
		}
		refs := ""
		for i, ref := range next(n) {
			if i > 0 {
				refs += ","
			}
			refs += fmt.Sprintf(`{"name":%q,"subject":%q,"version":1}`, ref.Name, ref.Subject)
		}
		fmt.Fprintf(w, `{"subject":"s%d","version":1,"id":%d,"schema":"s%d","references":[%s]}`, n, n+1, n, refs)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func sref(n int) registry.Reference {
	return registry.Reference{Name: "n" + strconv.Itoa(n), Subject: "s" + strconv.Itoa(n), Version: 1}
}

func TestResolveCycleAndDepth(t *testing.T) {
	ctx := context.Background()
	// s0 → s1 → s0.
	cyc := refServer(t, func(n int) []registry.Reference { return []registry.Reference{sref(1 - n)} })
	c := newClient(t, registry.Config{URL: cyc.URL})
	deps, err := c.Resolve(ctx, &registry.Schema{ID: 7, References: []registry.Reference{sref(0)}})
	if err != nil || len(deps) != 2 || deps["n0"].Schema != "s0" || deps["n1"].Schema != "s1" {
		t.Fatalf("Resolve of a cycle = %v, %v", deps, err)
	}

	// sN → sN+1 without end.
	deep := refServer(t, func(n int) []registry.Reference { return []registry.Reference{sref(n + 1)} })
	c = newClient(t, registry.Config{URL: deep.URL})
	_, err = c.Resolve(ctx, &registry.Schema{ID: 7, References: []registry.Reference{sref(0)}})
	if err == nil || !strings.Contains(err.Error(), "deeper than 32") {
		t.Fatalf("Resolve of an endless chain = %v", err)
	}
	if n := c.Requests(); n != 32 {
		t.Errorf("Requests = %d, want 32", n)
	}

	// One name bound to two subjects.
	clash := refServer(t, func(n int) []registry.Reference {
		if n == 0 {
			return []registry.Reference{{Name: "dup", Subject: "s1"}}
		}
		return nil
	})
	c = newClient(t, registry.Config{URL: clash.URL})
	_, err = c.Resolve(ctx, &registry.Schema{ID: 7, References: []registry.Reference{{Name: "dup", Subject: "s0", Version: 1}}})
	if err == nil || !strings.Contains(err.Error(), `"dup" names both`) {
		t.Fatalf("Resolve of a name clash = %v", err)
	}
}

func TestCacheOneRequestPerID(t *testing.T) {
	s := srtest.New(t)
	id := register(t, s, "orders-value", "", avroOrder)
	c := newClient(t, registry.Config{URL: s.URL()})
	s.SetLatency(50 * time.Millisecond) // keep the first request in flight while the others arrive

	const n = 100
	got := make([]*registry.Schema, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = c.SchemaByID(context.Background(), id) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("caller %d: %p, %v; want shared %p", i, got[i], errs[i], got[0])
		}
	}
	if r := s.Requests("/schemas/ids/"); r != 1 || c.Requests() != 1 {
		t.Fatalf("requests = %d (client %d), want 1", r, c.Requests())
	}
	if again, err := c.SchemaByID(context.Background(), id); err != nil || again != got[0] {
		t.Fatalf("cached SchemaByID = %p, %v", again, err)
	}
	if r := s.Requests(""); r != 1 {
		t.Errorf("requests after a cached call = %d, want 1", r)
	}
}

func TestNotFound(t *testing.T) {
	s := srtest.New(t)
	register(t, s, "orders-value", "", avroOrder)
	c := newClient(t, registry.Config{URL: s.URL()})
	ctx := context.Background()

	for _, tc := range []struct {
		get  func() error
		what string
	}{
		{func() error { _, err := c.SchemaByID(ctx, 2); return err }, "schema id 2"},
		{func() error {
			_, err := c.SchemaByReference(ctx, registry.Reference{Subject: "nope", Version: 1})
			return err
		}, "subject nope version 1"},
		{func() error {
			_, err := c.SchemaByReference(ctx, registry.Reference{Subject: "orders-value", Version: 3})
			return err
		}, "subject orders-value version 3"},
	} {
		var nf *registry.NotFoundError
		if err := tc.get(); !errors.As(err, &nf) || nf.What != tc.what {
			t.Errorf("error = %v, want NotFoundError for %q", err, tc.what)
		}
	}

	// Not cached: once registered, id 2 is found.
	id := register(t, s, "other", registry.TypeJSON, `{"type":"object"}`)
	if got, err := c.SchemaByID(ctx, id); id != 2 || err != nil || got.Type != registry.TypeJSON {
		t.Errorf("SchemaByID(%d) after registering = %v, %v", id, got, err)
	}

	// A 404 that is not the registry's (wrong path prefix) is configuration.
	wrong := newClient(t, registry.Config{URL: s.URL() + "/prefix"})
	var re *registry.RequestError
	if _, err := wrong.SchemaByID(ctx, 1); !errors.As(err, &re) || re.Status != 404 {
		t.Errorf("wrong prefix: %v, want RequestError 404", err)
	}
}

func TestUnavailableIsRetried(t *testing.T) {
	for _, status := range []int{503, 500, 429} {
		s := srtest.New(t)
		id := register(t, s, "orders-value", "", avroOrder)
		c := newClient(t, registry.Config{URL: s.URL()})
		s.FailNext(1, status)
		var ue *registry.UnavailableError
		if _, err := c.SchemaByID(context.Background(), id); !errors.As(err, &ue) || ue.URL != s.URL() ||
			!strings.Contains(err.Error(), strconv.Itoa(status)) {
			t.Fatalf("HTTP %d: %v, want UnavailableError", status, err)
		}
		got, err := c.SchemaByID(context.Background(), id)
		if err != nil || got.Schema != avroOrder {
			t.Fatalf("retry after HTTP %d: %v, %v", status, got, err)
		}
		if n := s.Requests(""); n != 2 {
			t.Errorf("requests = %d, want 2", n)
		}
	}

	// Nothing listening.
	s := srtest.NewServer()
	url := s.URL()
	s.Close()
	c := newClient(t, registry.Config{URL: url})
	var ue *registry.UnavailableError
	if _, err := c.SchemaByID(context.Background(), 1); !errors.As(err, &ue) {
		t.Errorf("closed server: %v, want UnavailableError", err)
	}
}

func TestUndecodableResponse(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/schemas/ids/1":
			fmt.Fprint(w, "<html>proxy login</html>")
		case "/schemas/ids/2":
			fmt.Fprint(w, `{"schemaType":"AVRO"}`)
		default:
			w.WriteHeader(403)
			fmt.Fprint(w, `{"error_code":40301,"message":"User is denied operation Read on Subject"}`)
		}
	}))
	defer ts.Close()
	c := newClient(t, registry.Config{URL: ts.URL})
	for id, want := range map[int]string{1: "not the registry's JSON", 2: "no schema text", 3: "HTTP 403: GET /schemas/ids/3: User is denied"} {
		var re *registry.RequestError
		if _, err := c.SchemaByID(context.Background(), id); !errors.As(err, &re) || !strings.Contains(err.Error(), want) {
			t.Errorf("id %d: %v, want RequestError with %q", id, err, want)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	s := srtest.New(t)
	id := register(t, s, "orders-value", "", avroOrder)
	s.SetBasicAuth("sink", "right")
	host := strings.TrimPrefix(s.URL(), "http://")

	for name, cfg := range map[string]registry.Config{
		"fields":   {URL: s.URL(), Username: "sink", Password: secret},
		"userinfo": {URL: "http://sink:" + secret + "@" + host},
	} {
		c := newClient(t, cfg)
		_, err := c.SchemaByID(context.Background(), id)
		var re *registry.RequestError
		if !errors.As(err, &re) || re.Status != 401 {
			t.Errorf("%s: %v, want RequestError 401", name, err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
		if strings.Contains(c.URL(), secret) || strings.Contains(c.URL(), "sink") {
			t.Errorf("%s: URL() = %s", name, c.URL())
		}
	}
	for name, cfg := range map[string]registry.Config{
		"fields":   {URL: s.URL(), Username: "sink", Password: "right"},
		"userinfo": {URL: "http://sink:right@" + host},
	} {
		if got, err := newClient(t, cfg).SchemaByID(context.Background(), id); err != nil || got.Schema != avroOrder {
			t.Errorf("%s with the right password: %v, %v", name, got, err)
		}
	}
	// Transient errors do not show it either.
	s.FailNext(1, 503)
	c := newClient(t, registry.Config{URL: "http://sink:" + secret + "@" + host})
	if _, err := c.SchemaByID(context.Background(), id); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("503 error = %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, tc := range []struct {
		cfg  registry.Config
		want string
	}{
		{registry.Config{}, "url is required"},
		{registry.Config{URL: "ftp://x"}, "http or https"},
		{registry.Config{URL: "http://"}, "no host"},
		{registry.Config{URL: "http://x?a=1"}, "query"},
		{registry.Config{URL: "http://u:" + secret + "@x", Username: "u"}, "one way"},
		{registry.Config{URL: "http://x", Password: secret}, "username is required"},
		{registry.Config{URL: "http://x", TLS: &tls.Config{}}, "use https"},
		{registry.Config{URL: "http://x", Timeout: -time.Second}, "negative"},
		{registry.Config{URL: "http://u:" + secret + "@x:port"}, "not a valid URL"},
		{registry.Config{URL: "http://u:" + secret + "/@x"}, "not a valid URL"},
		{registry.Config{URL: "http://x:1:2:3"}, "not a valid URL: "},
	} {
		_, err := registry.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q) = %v, want %q", strings.ReplaceAll(tc.cfg.URL, secret, "***"), err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret[:8]) {
			t.Errorf("New error shows the password: %v", err)
		}
	}
	c, err := registry.New(registry.Config{URL: "https://u:p@sr.example.com:8081/base/"})
	if err != nil || c.URL() != "https://sr.example.com:8081/base" {
		t.Errorf("URL() = %v, %v", c, err)
	}
}

func TestTLS(t *testing.T) {
	s := srtest.NewTLS()
	defer s.Close()
	id := register(t, s, "orders-value", "", avroOrder)

	c := newClient(t, registry.Config{URL: s.URL(), TLS: s.TLSConfig()})
	if got, err := c.SchemaByID(context.Background(), id); err != nil || got.Schema != avroOrder {
		t.Fatalf("over TLS: %v, %v", got, err)
	}
	// Without the test root the certificate is unknown: configuration, not transient.
	c = newClient(t, registry.Config{URL: s.URL()})
	var re *registry.RequestError
	if _, err := c.SchemaByID(context.Background(), id); !errors.As(err, &re) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v, want RequestError", err)
	}
}

func TestContext(t *testing.T) {
	s := srtest.New(t)
	id := register(t, s, "orders-value", "", avroOrder)
	s.SetLatency(10 * time.Second)
	c := newClient(t, registry.Config{URL: s.URL(), Timeout: 300 * time.Millisecond})

	// An ended ctx sends nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.SchemaByID(ctx, id); !errors.Is(err, context.Canceled) || c.Requests() != 0 {
		t.Fatalf("cancelled ctx: %v, %d requests", err, c.Requests())
	}

	// A caller's cancel returns at once, without failing other callers.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.SchemaByID(ctx, id); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel during request: %v", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("cancel took %s", d)
	}

	// The per-request timeout makes a slow registry unavailable.
	var ue *registry.UnavailableError
	if _, err := c.SchemaByID(context.Background(), id); !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow registry: %v, want UnavailableError", err)
	}

	// A waiter whose ctx is alive is not failed by the leader's cancel.
	s.SetLatency(100 * time.Millisecond)
	c = newClient(t, registry.Config{URL: s.URL()})
	leader, cancelLeader := context.WithCancel(context.Background())
	before := s.Requests("")
	done := make(chan error, 1)
	go func() { _, err := c.SchemaByID(leader, id); done <- err }()
	for deadline := time.Now().Add(5 * time.Second); s.Requests("") == before; { // the leader's request arrived
		if time.Now().After(deadline) {
			t.Fatal("leader's request never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	go func() { time.Sleep(10 * time.Millisecond); cancelLeader() }()
	if got, err := c.SchemaByID(context.Background(), id); err != nil || got.Schema != avroOrder {
		t.Fatalf("waiter after leader cancel: %v, %v", got, err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v", err)
	}
	if c.Requests() != 1 {
		t.Errorf("requests = %d, want 1 shared", c.Requests())
	}
}
