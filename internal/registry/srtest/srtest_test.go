package srtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
)

// call sends one request and returns status and decoded JSON body.
func call(t *testing.T, c *http.Client, method, u, body string) (int, map[string]any, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m) // arrays leave m nil; callers use raw
	return resp.StatusCode, m, raw
}

func TestRegisterAndRead(t *testing.T) {
	s := srtest.New(t)
	c := s.Client()
	u := s.URL()

	const avro = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`
	st, m, _ := call(t, c, "POST", u+"/subjects/orders-value/versions", `{"schema":`+quote(avro)+`}`)
	if st != 200 || m["id"] != 1.0 {
		t.Fatalf("register: %d %v", st, m)
	}
	// Same schema under another subject: same id, version 1 there.
	id, err := s.Register("orders-copy", "", avro)
	if err != nil || id != 1 {
		t.Fatalf("Register same schema = %d, %v; want 1", id, err)
	}
	// Same schema under the same subject: no new version.
	if id, _ := s.Register("orders-value", "AVRO", avro); id != 1 {
		t.Fatalf("re-register = %d", id)
	}
	const proto = `syntax = "proto3"; message A { int64 id = 1; }`
	ref := registry.Reference{Name: "a.proto", Subject: "a", Version: 1}
	if _, err := s.Register("a", registry.TypeProtobuf, proto); err != nil {
		t.Fatal(err)
	}
	id2, err := s.Register("orders-value", registry.TypeProtobuf, `import "a.proto";`, ref)
	if err != nil || id2 != 3 {
		t.Fatalf("Register new version = %d, %v; want 3", id2, err)
	}

	// By id: Avro omits schemaType, Protobuf carries it and its references.
	_, m, raw := call(t, c, "GET", u+"/schemas/ids/1", "")
	if m["schema"] != avro || strings.Contains(string(raw), "schemaType") || strings.Contains(string(raw), "references") {
		t.Errorf("GET id 1 = %s", raw)
	}
	_, _, raw = call(t, c, "GET", u+"/schemas/ids/3", "")
	var got struct {
		SchemaType string               `json:"schemaType"`
		References []registry.Reference `json:"references"`
	}
	if err := json.Unmarshal(raw, &got); err != nil || got.SchemaType != "PROTOBUF" || !reflect.DeepEqual(got.References, []registry.Reference{ref}) {
		t.Errorf("GET id 3 = %s", raw)
	}

	_, _, raw = call(t, c, "GET", u+"/subjects", "")
	if string(raw) != `["a","orders-copy","orders-value"]`+"\n" {
		t.Errorf("subjects = %s", raw)
	}
	_, _, raw = call(t, c, "GET", u+"/subjects/orders-value/versions", "")
	if string(raw) != "[1,2]\n" {
		t.Errorf("versions = %s", raw)
	}
	for _, v := range []string{"2", "latest", "-1"} {
		_, m, _ = call(t, c, "GET", u+"/subjects/orders-value/versions/"+v, "")
		if m["id"] != 3.0 || m["version"] != 2.0 || m["subject"] != "orders-value" || m["schemaType"] != "PROTOBUF" {
			t.Errorf("version %s = %v", v, m)
		}
	}
}

func TestErrors(t *testing.T) {
	s := srtest.New(t)
	if _, err := s.Register("x", "", `"string"`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path, body string
		status, code       int
	}{
		{"GET", "/schemas/ids/2", "", 404, 40403},
		{"GET", "/schemas/ids/abc", "", 404, 40403},
		{"GET", "/subjects/nope/versions", "", 404, 40401},
		{"GET", "/subjects/nope/versions/1", "", 404, 40401},
		{"GET", "/subjects/nope/versions/latest", "", 404, 40401},
		{"GET", "/subjects/x/versions/2", "", 404, 40402},
		{"GET", "/subjects/x/versions/zero", "", 422, 42202},
		{"GET", "/subjects/x/versions/0", "", 422, 42202},
		{"GET", "/nothing/here", "", 404, 404},
		{"POST", "/subjects/y/versions", `{"schema":""}`, 422, 42201},
		{"POST", "/subjects/y/versions", `{"schema":"x","schemaType":"XML"}`, 422, 42201},
		{"POST", "/subjects/y/versions", `{"schema":"x","references":[{"name":"n","subject":"x","version":9}]}`, 422, 42201},
		{"POST", "/subjects/y/versions", `{"schema":`, 400, 400},
	} {
		st, m, raw := call(t, s.Client(), tc.method, s.URL()+tc.path, tc.body)
		if st != tc.status || m["error_code"] != float64(tc.code) || m["message"] == "" {
			t.Errorf("%s %s = %d %s; want %d error_code %d", tc.method, tc.path, st, raw, tc.status, tc.code)
		}
	}
	if _, err := s.Register("y", "", ""); err == nil {
		t.Error("Register of an empty schema succeeded")
	}
}

func TestEscapedSubject(t *testing.T) {
	s := srtest.New(t)
	id, err := s.Register("team/orders", "", `"long"`)
	if err != nil {
		t.Fatal(err)
	}
	st, m, raw := call(t, s.Client(), "GET", s.URL()+"/subjects/"+url.PathEscape("team/orders")+"/versions/1", "")
	if st != 200 || m["id"] != float64(id) || m["subject"] != "team/orders" {
		t.Fatalf("GET escaped subject = %d %s", st, raw)
	}
}

func TestAuthFailuresAndCounting(t *testing.T) {
	s := srtest.New(t)
	if _, err := s.Register("x", "", `"string"`); err != nil {
		t.Fatal(err)
	}
	s.SetBasicAuth("sink", "s3cret")
	if st, _, _ := call(t, s.Client(), "GET", s.URL()+"/schemas/ids/1", ""); st != 401 {
		t.Errorf("no credentials: %d, want 401", st)
	}
	withAuth := s.URL()[:len("http://")] + "sink:s3cret@" + s.URL()[len("http://"):]
	if st, _, _ := call(t, s.Client(), "GET", withAuth+"/schemas/ids/1", ""); st != 200 {
		t.Errorf("credentials: %d, want 200", st)
	}

	s.FailNext(2, 503)
	for i := range 2 {
		if st, m, _ := call(t, s.Client(), "GET", withAuth+"/schemas/ids/1", ""); st != 503 || m["error_code"] != 503.0 {
			t.Errorf("injected failure %d: %d %v", i, st, m)
		}
	}
	if st, _, _ := call(t, s.Client(), "GET", withAuth+"/schemas/ids/1", ""); st != 200 {
		t.Errorf("after injected failures: %d, want 200", st)
	}
	if n := s.Requests("/schemas/ids/"); n != 5 {
		t.Errorf("Requests(/schemas/ids/) = %d, want 5", n)
	}
	if n := s.Requests("/subjects"); n != 0 {
		t.Errorf("Requests(/subjects) = %d, want 0 (Register is not counted)", n)
	}
}

func TestNewServerAtAndTLS(t *testing.T) {
	s, err := srtest.NewServerAt("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || s.TLSConfig() != nil {
		t.Errorf("URL = %s", s.URL())
	}
	if st, _, _ := call(t, http.DefaultClient, "GET", s.URL()+"/subjects", ""); st != 200 {
		t.Errorf("GET /subjects = %d", st)
	}

	ts := srtest.NewTLS()
	defer ts.Close()
	if !strings.HasPrefix(ts.URL(), "https://") || ts.Certificate() == nil {
		t.Fatalf("TLS URL = %s", ts.URL())
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: ts.TLSConfig()}}
	if st, _, _ := call(t, c, "GET", ts.URL()+"/subjects", ""); st != 200 {
		t.Errorf("GET /subjects over TLS = %d", st)
	}
	ts.Close() // twice is fine
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
