// Package srtest is an in-memory stand-in for a Confluent Schema Registry,
// written from the public REST API reference, for tests and runnable
// examples. It serves plain HTTP or TLS on a loopback address, and can
// require basic auth, delay answers and fail requests on demand.
//
// Endpoints (JSON in and out, errors as {"error_code","message"} with the
// registry's codes):
//
//	POST /subjects/{subject}/versions          {"schema","schemaType","references"} → {"id"}
//	GET  /schemas/ids/{id}                     → {"schema","schemaType","references"}
//	GET  /subjects                             → ["subject", ...]
//	GET  /subjects/{subject}/versions          → [1, 2, ...]
//	GET  /subjects/{subject}/versions/{v}      → {"subject","version","id","schema","schemaType","references"}
//
// {v} is a version number, "latest" or -1. As in the registry, schemaType
// is omitted for Avro and references when there are none. Unlike it, schemas
// are neither parsed, normalised nor checked for compatibility: two schemas
// are the same when text, type and references are equal byte for byte, and a
// reference must name an existing subject and explicit version.
package srtest

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kafka2pg/kafka2pg/internal/registry"
)

const contentType = "application/vnd.schemaregistry.v1+json"

// Server is a running stand-in registry. Its methods are safe for concurrent
// use, also while requests are being served.
type Server struct {
	ts        *httptest.Server
	quit      chan struct{} // closed by Close: ends latency waits
	closeOnce sync.Once

	mu         sync.Mutex
	schemas    []*entry         // schemas[id-1]
	ids        map[string]int   // identity (type, text, refs) → id
	subjects   map[string][]int // subject → ids; version v is [v-1]
	user, pass string           // basic auth required when user != ""
	failN      int
	failStatus int
	latency    time.Duration
	requests   map[string]int // URL path → requests received
}

type entry struct {
	typ, text string
	refs      []registry.Reference
}

// NewServer starts a stand-in on a random loopback port. The caller must
// Close it.
func NewServer() *Server { return start(nil, false) }

// NewTLS is NewServer serving https with httptest's self-signed certificate
// (valid for 127.0.0.1); trust it with TLSConfig, Client or Certificate.
func NewTLS() *Server { return start(nil, true) }

// NewServerAt starts a plain-HTTP stand-in listening on addr
// ("127.0.0.1:8081"). The caller must Close it.
func NewServerAt(addr string) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return start(l, false), nil
}

// New is NewServer for a test: the server is closed when t ends.
func New(t testing.TB) *Server {
	s := NewServer()
	t.Cleanup(s.Close)
	return s
}

func start(l net.Listener, useTLS bool) *Server {
	s := &Server{
		quit:     make(chan struct{}),
		ids:      make(map[string]int),
		subjects: make(map[string][]int),
		requests: make(map[string]int),
	}
	s.ts = httptest.NewUnstartedServer(s.handler())
	if l != nil {
		s.ts.Listener.Close()
		s.ts.Listener = l
	}
	if useTLS {
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	return s
}

// Close stops the server, aborting delayed requests, and waits for the
// requests in progress. It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.ts.Close()
	})
}

// URL returns the base URL, "http://127.0.0.1:port" or "https://...".
func (s *Server) URL() string { return s.ts.URL }

// Client returns an *http.Client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Certificate returns the TLS certificate of a NewTLS server, nil otherwise.
func (s *Server) Certificate() *x509.Certificate { return s.ts.Certificate() }

// TLSConfig returns a client configuration trusting a NewTLS server's
// certificate, nil for a plain server.
func (s *Server) TLSConfig() *tls.Config {
	cert := s.ts.Certificate()
	if cert == nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// SetBasicAuth makes every later request require these credentials; an
// empty user turns the check off.
func (s *Server) SetBasicAuth(user, pass string) {
	s.mu.Lock()
	s.user, s.pass = user, pass
	s.mu.Unlock()
}

// FailNext makes the next n requests, whatever their path, fail with HTTP
// status and body {"error_code": status, "message": "srtest: injected failure"}.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	s.failN, s.failStatus = n, status
	s.mu.Unlock()
}

// SetLatency delays every later request by d before it is answered (or
// failed). A client giving up or Close ends the wait.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// Requests returns how many HTTP requests arrived whose URL path starts with
// prefix ("" for all, "/schemas/ids/" for lookups by id), including those
// failed by FailNext or basic auth. Register calls are not counted.
func (s *Server) Requests(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, c := range s.requests {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

// Register registers a schema under subject as POST
// /subjects/{subject}/versions does, and returns its id: the existing id
// when the same text, type and references are registered under any subject,
// a new one otherwise. The subject gets a new version unless it already has
// this schema. An empty schemaType means Avro.
func (s *Server) Register(subject, schemaType, schema string, refs ...registry.Reference) (int, error) {
	id, err := s.register(subject, schemaType, schema, refs)
	if err != nil {
		return 0, err
	}
	return id, nil
}

// apiError is a registry error answer.
type apiError struct {
	status int
	Code   int    `json:"error_code"`
	Msg    string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("srtest: HTTP %d: error %d: %s", e.status, e.Code, e.Msg)
}

func invalidSchema(format string, args ...any) *apiError {
	return &apiError{http.StatusUnprocessableEntity, 42201, "Invalid schema: " + fmt.Sprintf(format, args...)}
}

func (s *Server) register(subject, typ, text string, refs []registry.Reference) (int, *apiError) {
	if typ == "" {
		typ = registry.TypeAvro
	}
	switch {
	case subject == "":
		return 0, invalidSchema("empty subject")
	case typ != registry.TypeAvro && typ != registry.TypeProtobuf && typ != registry.TypeJSON:
		return 0, invalidSchema("unknown schemaType %q", typ)
	case text == "":
		return 0, invalidSchema("empty schema")
	}
	if len(refs) == 0 {
		refs = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range refs {
		if r.Version < 1 || r.Version > len(s.subjects[r.Subject]) {
			return 0, invalidSchema("reference %q: subject %q has no version %d", r.Name, r.Subject, r.Version)
		}
	}
	key, _ := json.Marshal([]any{typ, text, refs})
	id, ok := s.ids[string(key)]
	if !ok {
		s.schemas = append(s.schemas, &entry{typ: typ, text: text, refs: slices.Clone(refs)})
		id = len(s.schemas)
		s.ids[string(key)] = id
	}
	if !slices.Contains(s.subjects[subject], id) {
		s.subjects[subject] = append(s.subjects[subject], id)
	}
	return id, nil
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /subjects/{subject}/versions", s.postVersion)
	mux.HandleFunc("GET /schemas/ids/{id}", s.getSchema)
	mux.HandleFunc("GET /subjects", s.getSubjects)
	mux.HandleFunc("GET /subjects/{subject}/versions", s.getVersions)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", s.getVersion)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, http.StatusNotFound, "HTTP 404 Not Found"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[r.URL.Path]++
		latency := s.latency
		fail := s.failN > 0
		status := s.failStatus
		if fail {
			s.failN--
		}
		user, pass := s.user, s.pass
		s.mu.Unlock()

		if latency > 0 {
			t := time.NewTimer(latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-s.quit:
				t.Stop()
				return
			}
		}
		if fail {
			writeError(w, &apiError{status, status, "srtest: injected failure"})
			return
		}
		if user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
				subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="srtest"`)
				writeError(w, &apiError{http.StatusUnauthorized, http.StatusUnauthorized, "Unauthorized"})
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// schemaJSON is the wire form of a schema; Subject and Version are set only
// for /subjects/{subject}/versions/{version}.
type schemaJSON struct {
	Subject    string               `json:"subject,omitempty"`
	Version    int                  `json:"version,omitempty"`
	ID         int                  `json:"id,omitempty"`
	SchemaType string               `json:"schemaType,omitempty"`
	Schema     string               `json:"schema"`
	References []registry.Reference `json:"references,omitempty"`
}

func (e *entry) wire() schemaJSON {
	j := schemaJSON{Schema: e.text, References: e.refs}
	if e.typ != registry.TypeAvro {
		j.SchemaType = e.typ
	}
	return j
}

func (s *Server) postVersion(w http.ResponseWriter, r *http.Request) {
	var req schemaJSON
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&req); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, http.StatusBadRequest, "Malformed JSON: " + err.Error()})
		return
	}
	id, err := s.register(r.PathValue("subject"), req.SchemaType, req.Schema, req.References)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"id": id})
}

func (s *Server) getSchema(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	var e *entry
	if err == nil && id >= 1 && id <= len(s.schemas) {
		e = s.schemas[id-1]
	}
	s.mu.Unlock()
	if e == nil {
		writeError(w, &apiError{http.StatusNotFound, 40403, "Schema not found"})
		return
	}
	writeJSON(w, http.StatusOK, e.wire())
}

func (s *Server) getSubjects(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	list := make([]string, 0, len(s.subjects))
	for sub := range s.subjects {
		list = append(list, sub)
	}
	s.mu.Unlock()
	sort.Strings(list)
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getVersions(w http.ResponseWriter, r *http.Request) {
	subject := r.PathValue("subject")
	s.mu.Lock()
	n := len(s.subjects[subject])
	s.mu.Unlock()
	if n == 0 {
		writeError(w, subjectNotFound(subject))
		return
	}
	versions := make([]int, n)
	for i := range versions {
		versions[i] = i + 1
	}
	writeJSON(w, http.StatusOK, versions)
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) {
	subject, v := r.PathValue("subject"), r.PathValue("version")
	version, err := strconv.Atoi(v)
	if v == "latest" {
		version, err = -1, nil
	}
	if err != nil || version == 0 || version < -1 {
		writeError(w, &apiError{http.StatusUnprocessableEntity, 42202,
			fmt.Sprintf("The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)})
		return
	}
	s.mu.Lock()
	ids := s.subjects[subject]
	if version == -1 {
		version = len(ids)
	}
	var e *entry
	id := 0
	if version >= 1 && version <= len(ids) {
		id = ids[version-1]
		e = s.schemas[id-1]
	}
	s.mu.Unlock()
	switch {
	case len(ids) == 0:
		writeError(w, subjectNotFound(subject))
	case e == nil:
		writeError(w, &apiError{http.StatusNotFound, 40402, fmt.Sprintf("Version %d not found.", version)})
	default:
		j := e.wire()
		j.Subject, j.Version, j.ID = subject, version, id
		writeJSON(w, http.StatusOK, j)
	}
}

func subjectNotFound(subject string) *apiError {
	return &apiError{http.StatusNotFound, 40401, fmt.Sprintf("Subject '%s' not found.", subject)}
}

func writeError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.status, e) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a write error means the client left
}
