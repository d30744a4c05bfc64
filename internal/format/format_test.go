package format

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kafka2pg/kafka2pg/config"
	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
	"github.com/kafka2pg/kafka2pg/internal/registry/srtest"
)

// schema_registry.password_file is read for every registry request: after
// the registry's password changes, requests fail (HTTP 401, the error
// showing neither password) until the file holds the new one, and then
// succeed, with no new Set or client. Schemas are cached by id, so each
// step decodes a record of a schema id not seen before.
func TestRegistryPasswordFile(t *testing.T) {
	const oldPW, newPW = "sr-old-Pa55-rotation", "sr-new-Pa55-rotation"
	s := srtest.New(t)
	s.SetBasicAuth("sink", oldPW)
	var ids []int
	for i, subject := range []string{"a-value", "b-value", "c-value"} {
		id, err := s.Register(subject, registry.TypeJSON, `{"type": "object", "title": "s`+string(rune('0'+i))+`"}`)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	file := filepath.Join(t.TempDir(), "registry-password")
	writePW := func(pw string) {
		if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePW(oldPW)
	f, err := NewSet(config.SchemaRegistry{URL: s.URL(), Username: "sink", PasswordFile: file, Timeout: config.Duration(5 * time.Second)}).Get(config.FormatJSONSchema)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(id int) error {
		var sc Scratch
		v, _, err := f.Decode(context.Background(), append(codec.AppendWire(nil, id), `{"n": 1}`...), &sc, "value")
		if err == nil && v.GetInt("n") != 1 {
			t.Fatalf("schema id %d: decoded %s", id, v)
		}
		return err
	}
	if err := decode(ids[0]); err != nil {
		t.Fatalf("with the password in the file: %v", err)
	}

	s.SetBasicAuth("sink", newPW) // rotated on the registry, not yet in the file
	err = decode(ids[1])
	// Retried like an outage (the file may be about to be rewritten), not
	// a configuration error that stops the pipeline.
	var ue *registry.UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("with the old password in the file: %v, want an UnavailableError for the 401", err)
	}
	if msg := err.Error(); strings.Contains(msg, oldPW) || strings.Contains(msg, newPW) {
		t.Fatalf("the error shows a password: %s", msg)
	}

	writePW(newPW)
	if err := decode(ids[1]); err != nil {
		t.Fatalf("after the file was rewritten: %v", err)
	}
	if err := decode(ids[2]); err != nil {
		t.Fatalf("a further schema after the rotation: %v", err)
	}
}

// format: string keeps every byte of the key or value, control characters
// and DEL included (fastjson's arena alone would leave Go's escapes as
// text in the value).
func TestStringFormatKeepsBytes(t *testing.T) {
	for _, in := range []string{"plain", "a\x01b", "q\"\x7f", "tab\t", "\U000e0001", "\xff"} {
		var s Scratch
		v, _, err := String.Decode(t.Context(), []byte(in), &s, "key")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(v.GetStringBytes()); got != in {
			t.Errorf("%q: decoded %q", in, got)
		}
	}
}
