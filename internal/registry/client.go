package registry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultTimeout bounds one registry request when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

const (
	accept     = "application/vnd.schemaregistry.v1+json, application/json"
	maxBody    = 64 << 20 // a response larger than this is refused, not truncated
	maxMessage = 512      // bytes of a registry error message kept in an error
	maxDepth   = 32       // reference nesting Resolve follows
)

// Config configures a Client.
type Config struct {
	// URL is the registry's base URL, http or https, optionally with a path
	// prefix ("https://sr.example.com/registry"). Credentials in its userinfo
	// are moved to basic auth; giving them there and in Username is an error.
	URL string
	// Username and Password are sent with HTTP basic auth when Username is
	// set. Password never appears in an error.
	Username, Password string
	// PasswordFunc, when set, gives the password for every request instead
	// of Password (a secret file read again, so rotation needs no restart).
	// Its error must not quote the secret.
	PasswordFunc func() (string, error)
	// TLS configures an https URL; nil means the system roots. Setting it
	// for an http URL is an error (the user expects encryption).
	TLS *tls.Config
	// Timeout bounds one HTTP request, from dial to the end of the body.
	// Zero means DefaultTimeout.
	Timeout time.Duration
}

// validate checks cfg and returns the base URL (no userinfo, no trailing
// slash: safe to show) and the basic-auth credentials to use. Its errors
// never quote the password.
func (cfg *Config) validate() (base, user, pass string, err error) {
	if cfg.URL == "" {
		return "", "", "", errors.New("registry: url is required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Error quotes the whole URL, and its inner error can quote part
		// of a malformed userinfo, so the detail is kept only without one.
		var ue *url.Error
		if !strings.Contains(cfg.URL, "@") && errors.As(err, &ue) {
			return "", "", "", fmt.Errorf("registry: url is not a valid URL: %v", ue.Err)
		}
		return "", "", "", errors.New("registry: url is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "", "", fmt.Errorf("registry: url must be http or https; got scheme %q", u.Scheme)
	case u.Host == "":
		return "", "", "", errors.New("registry: url has no host")
	case u.RawQuery != "" || u.Fragment != "":
		return "", "", "", errors.New("registry: url must not have a query or fragment")
	case (cfg.Password != "" || cfg.PasswordFunc != nil) && cfg.Username == "":
		return "", "", "", errors.New("registry: username is required when password is set")
	case u.User != nil && cfg.Username != "":
		return "", "", "", errors.New("registry: url has credentials and username is set; give them one way")
	case cfg.TLS != nil && u.Scheme != "https":
		return "", "", "", errors.New("registry: tls is set but url is http; use https")
	case cfg.Timeout < 0:
		return "", "", "", fmt.Errorf("registry: timeout must not be negative; got %s", cfg.Timeout)
	}
	user, pass = cfg.Username, cfg.Password
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
		u.User = nil
	}
	return strings.TrimRight(u.String(), "/"), user, pass, nil
}

// Client fetches schemas from a Confluent-compatible Schema Registry. It
// implements Source.
//
// Schemas by id and by subject and explicit version are immutable in the
// registry, so every schema fetched is cached for the Client's lifetime;
// failures are not cached. Concurrent requests for the same key share one
// HTTP request.
//
// A Client is safe for concurrent use and needs no Close. The only goroutine
// it starts is the one running a shared request, which ends within Timeout.
type Client struct {
	base     string // base URL without credentials; used in requests and errors
	user     string // basic auth when non-empty
	pass     string
	passFn   func() (string, error)
	timeout  time.Duration
	http     *http.Client
	requests atomic.Int64
	flight   singleflight.Group

	mu    sync.RWMutex
	byID  map[int]*Schema
	byRef map[refKey]*Schema
}

type refKey struct {
	subject string
	version int
}

// New returns a Client for cfg after validating it. It does not contact the
// registry.
func New(cfg Config) (*Client, error) {
	base, user, pass, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.TLS != nil {
		tr.TLSClientConfig = cfg.TLS.Clone()
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Client{
		base:    base,
		user:    user,
		pass:    pass,
		passFn:  cfg.PasswordFunc,
		timeout: timeout,
		http:    &http.Client{Transport: tr},
		byID:    make(map[int]*Schema),
		byRef:   make(map[refKey]*Schema),
	}, nil
}

// URL returns the registry's base URL without credentials.
func (c *Client) URL() string { return c.base }

// Requests returns the number of HTTP requests the Client has sent, cache
// misses only. It is safe to call concurrently.
func (c *Client) Requests() int64 { return c.requests.Load() }

// SchemaByID returns the schema with this global id (GET /schemas/ids/{id}).
// The result is shared between callers and must not be modified.
//
// Errors: *NotFoundError when the registry does not know the id;
// *UnavailableError for network failures, timeouts, HTTP 5xx and 429
// (transient); *RequestError for any other refusal, an undecodable answer or
// a failed TLS verification (configuration); ctx.Err() when ctx ends first.
func (c *Client) SchemaByID(ctx context.Context, id int) (*Schema, error) {
	c.mu.RLock()
	s := c.byID[id]
	c.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	return c.shared(ctx, "id:"+strconv.Itoa(id), func(ctx context.Context) (*Schema, error) {
		c.mu.RLock()
		s := c.byID[id]
		c.mu.RUnlock()
		if s != nil { // filled by a request that ended after our first look
			return s, nil
		}
		var r response
		if err := c.get(ctx, "/schemas/ids/"+strconv.Itoa(id), fmt.Sprintf("schema id %d", id), &r); err != nil {
			return nil, err
		}
		r.ID = id
		s, err := c.schema(&r)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.byID[id] = s
		c.mu.Unlock()
		return s, nil
	})
}

// SchemaByReference returns the schema ref names
// (GET /subjects/{subject}/versions/{version}); ref.Name is not used. The
// version must be explicit (>= 1): "latest" is not immutable and so not
// cacheable, and is refused with a plain error. The result is shared and
// must not be modified. Errors are as for SchemaByID.
func (c *Client) SchemaByReference(ctx context.Context, ref Reference) (*Schema, error) {
	if ref.Subject == "" || ref.Version < 1 {
		return nil, fmt.Errorf("registry: reference %q names subject %q version %d; need a subject and an explicit version", ref.Name, ref.Subject, ref.Version)
	}
	key := refKey{ref.Subject, ref.Version}
	c.mu.RLock()
	s := c.byRef[key]
	c.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	// The version's digits end at the first ':', so keys cannot collide.
	flightKey := "ref:" + strconv.Itoa(ref.Version) + ":" + ref.Subject
	return c.shared(ctx, flightKey, func(ctx context.Context) (*Schema, error) {
		c.mu.RLock()
		s := c.byRef[key]
		c.mu.RUnlock()
		if s != nil {
			return s, nil
		}
		var r response
		path := "/subjects/" + url.PathEscape(ref.Subject) + "/versions/" + strconv.Itoa(ref.Version)
		if err := c.get(ctx, path, fmt.Sprintf("subject %s version %d", ref.Subject, ref.Version), &r); err != nil {
			return nil, err
		}
		if r.ID < 1 {
			return nil, &RequestError{URL: c.base, Msg: "GET " + path + ": response has no schema id"}
		}
		s, err := c.schema(&r)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.byRef[key] = s
		if c.byID[s.ID] == nil { // same immutable schema: spare a later SchemaByID
			c.byID[s.ID] = s
		}
		c.mu.Unlock()
		return s, nil
	})
}

// Resolve returns every schema that s references, directly or through other
// references, keyed by Reference.Name; s itself is included only when a
// reference cycle leads back to it. Each is fetched with SchemaByReference,
// so cached ones cost nothing. References are followed depth-first, each
// name once (cycles end there), at most 32 levels deep.
//
// Errors are those of SchemaByReference, wrapped with the reference's name,
// and plain errors for a chain deeper than 32 levels or a name that two
// references bind to different subjects or versions.
func (c *Client) Resolve(ctx context.Context, s *Schema) (map[string]*Schema, error) {
	out := make(map[string]*Schema)
	bound := make(map[string]Reference)
	var walk func(refs []Reference, depth int) error
	walk = func(refs []Reference, depth int) error {
		for _, ref := range refs {
			if prev, ok := bound[ref.Name]; ok {
				if prev.Subject != ref.Subject || prev.Version != ref.Version {
					return fmt.Errorf("registry: schema id %d: reference %q names both subject %s version %d and subject %s version %d",
						s.ID, ref.Name, prev.Subject, prev.Version, ref.Subject, ref.Version)
				}
				continue
			}
			if depth > maxDepth {
				return fmt.Errorf("registry: schema id %d: references nest deeper than %d levels (at %q)", s.ID, maxDepth, ref.Name)
			}
			bound[ref.Name] = ref
			dep, err := c.SchemaByReference(ctx, ref)
			if err != nil {
				return fmt.Errorf("resolving reference %q of schema id %d: %w", ref.Name, s.ID, err)
			}
			out[ref.Name] = dep
			if err := walk(dep.References, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(s.References, 1); err != nil {
		return nil, err
	}
	return out, nil
}

// shared runs load once for all concurrent callers with the same key. load
// runs in its own goroutine under a context that keeps ctx's values but not
// its cancellation, bounded by the Client's timeout: a caller giving up does
// not fail the others waiting on the same key. Each caller stops waiting when
// its own ctx ends and gets ctx.Err().
func (c *Client) shared(ctx context.Context, key string, load func(context.Context) (*Schema, error)) (*Schema, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch := c.flight.DoChan(key, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		return load(lctx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Schema), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// response is the registry's answer for /schemas/ids/{id} and
// /subjects/{subject}/versions/{version} (the latter adds subject, version
// and id).
type response struct {
	ID         int         `json:"id"`
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []Reference `json:"references"`
}

func (c *Client) schema(r *response) (*Schema, error) {
	if r.Schema == "" {
		return nil, &RequestError{URL: c.base, Msg: fmt.Sprintf("schema id %d: response has no schema text", r.ID)}
	}
	typ := r.SchemaType
	if typ == "" {
		typ = TypeAvro
	}
	return &Schema{ID: r.ID, Type: typ, Schema: r.Schema, References: r.References}, nil
}

// get sends GET base+path and decodes a 2xx JSON body into out; what names
// the object for a *NotFoundError. ctx bounds the whole exchange.
func (c *Client) get(ctx context.Context, path, what string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil { // base was validated and path escaped: not expected
		return &RequestError{URL: c.base, Msg: fmt.Sprintf("GET %s: %v", path, err)}
	}
	req.Header.Set("Accept", accept)
	pass := c.pass
	if c.passFn != nil {
		if pass, err = c.passFn(); err != nil {
			return &RequestError{URL: c.base, Msg: fmt.Sprintf("GET %s: password: %v", path, err)}
		}
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, pass)
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return c.transportError(ctx, err)
	}
	if len(body) > maxBody {
		return &RequestError{URL: c.base, Status: resp.StatusCode, Msg: fmt.Sprintf("GET %s: response larger than %d bytes", path, maxBody)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(body, out); err != nil {
			return &RequestError{URL: c.base, Msg: fmt.Sprintf("GET %s: response is not the registry's JSON: %v", path, err)}
		}
		return nil
	}
	return c.statusError(resp.StatusCode, path, what, body, pass)
}

// transportError classifies a failure to send or read: a server
// certificate that does not verify is configuration (*RequestError);
// anything else is transient.
func (c *Client) transportError(ctx context.Context, err error) error {
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return &RequestError{URL: c.base, Msg: err.Error()}
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("no answer within %s: %w", c.timeout, err)
	}
	return &UnavailableError{URL: c.base, Err: err}
}

// statusError classifies a non-2xx answer by status and Confluent error
// code. A 404 without a registry error code comes from something other than
// the registry (a wrong path prefix, a proxy): that is configuration, not a
// missing schema, so it must not dead-letter records.
func (c *Client) statusError(status int, path, what string, body []byte, pass string) error {
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &e) // a body that is not the registry's leaves both zero
	msg := e.Message
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "..."
	}
	if pass != "" { // a registry or proxy echoing credentials must not leak them
		msg = strings.ReplaceAll(msg, pass, "[redacted]")
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	switch {
	case status == http.StatusNotFound && (e.Code == 40401 || e.Code == 40402 || e.Code == 40403):
		return &NotFoundError{What: what}
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return &UnavailableError{URL: c.base, Err: fmt.Errorf("GET %s: HTTP %d: %s", path, status, msg)}
	case (status == http.StatusUnauthorized || status == http.StatusForbidden) && c.passFn != nil:
		// The password comes from a file that may be in the middle of a
		// rotation (the registry already has the new one, the file not
		// yet): retried, like an outage, until the file catches up.
		return &UnavailableError{URL: c.base, Err: fmt.Errorf("GET %s: HTTP %d: %s (retried: the password file may be being rotated)", path, status, msg)}
	case status == http.StatusNotFound:
		msg += " (no registry error code: is the url the registry's base URL?)"
	}
	return &RequestError{URL: c.base, Status: status, Msg: "GET " + path + ": " + msg}
}

var _ Source = (*Client)(nil)
