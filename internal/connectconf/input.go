package connectconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Connector is a Kafka Connect connector configuration as read from a file:
// its name and its flat key → value settings, all strings as Connect sees
// them.
type Connector struct {
	// Name is the connector's name ("name" next to "config" in the REST API
	// form, or the "name" key of a flat configuration); empty when the input
	// has none.
	Name string
	// Config holds every setting. When a key is given twice the last value
	// counts, as in Connect.
	Config map[string]string
	// Keys are Config's keys in input order, each once.
	Keys []string
	// Format is "json" or "properties".
	Format string
	// Repeated are the keys given more than once.
	Repeated []string
}

// Parse reads a connector configuration: the JSON posted to Connect's REST
// API ({"name": ..., "config": {...}}, also with the "tasks" and "type" keys
// that GET /connectors/NAME adds), a flat JSON object of settings, or a Java
// .properties file as connect-standalone reads it. Input whose first
// non-blank character is '{' is JSON, anything else properties. JSON values
// must be strings, numbers, booleans or null (null leaves the key out, as
// the REST API does). Parse does not check what the settings mean; see
// Convert. A problem is an *InputError.
func Parse(data []byte) (*Connector, error) {
	if !utf8.Valid(data) {
		return nil, inputErr("", "the input is not UTF-8 text")
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) == 0 {
		return nil, inputErr("", "the input is empty")
	}
	switch trimmed[0] {
	case '{':
		return parseJSON(trimmed)
	case '[':
		return nil, inputErr("", "invalid input: a JSON array; want one connector's configuration, a JSON object")
	}
	pairs, err := parseProperties(string(data))
	if err != nil {
		return nil, err
	}
	c := newConnector("properties")
	for _, p := range pairs {
		c.set(p[0], p[1])
	}
	c.Name = c.Config["name"]
	return c, nil
}

func newConnector(format string) *Connector {
	return &Connector{Config: map[string]string{}, Format: format}
}

func (c *Connector) set(k, v string) {
	if _, dup := c.Config[k]; dup {
		if !contains(c.Repeated, k) {
			c.Repeated = append(c.Repeated, k)
		}
	} else {
		c.Keys = append(c.Keys, k)
	}
	c.Config[k] = v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseJSON reads the REST API form or a flat object, keeping key order
// and noticing repeated keys (encoding/json would silently keep the last).
func parseJSON(data []byte) (*Connector, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	top, err := readObject(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, inputErr("", "invalid JSON: more after the top-level object")
	}
	var cfg *jsonObject
	for _, m := range top.members {
		if m.key == "config" {
			if m.obj == nil {
				return nil, inputErr("config", "want a JSON object of settings")
			}
			cfg = m.obj
		}
	}
	c := newConnector("json")
	if cfg == nil { // a flat object of settings
		if err := c.fill(top); err != nil {
			return nil, err
		}
		c.Name = c.Config["name"]
		return c, nil
	}
	for _, m := range top.members {
		switch m.key {
		case "config":
		case "name":
			if m.obj != nil || m.isNull {
				return nil, inputErr("name", "want a string")
			}
			c.Name = m.value
		case "tasks", "type": // added by GET /connectors/NAME; not settings
		default:
			return nil, inputErr(m.key, "unexpected next to \"config\": the REST API form is {\"name\": ..., \"config\": {...}}")
		}
	}
	if err := c.fill(cfg); err != nil {
		return nil, err
	}
	if n := c.Config["name"]; c.Name == "" {
		c.Name = n
	}
	return c, nil
}

func (c *Connector) fill(o *jsonObject) error {
	for _, m := range o.members {
		if m.obj != nil || m.isArray {
			return inputErr(m.key, "want a string value, as Connect settings are; got a JSON %s", map[bool]string{true: "array", false: "object"}[m.isArray])
		}
		if m.isNull {
			continue
		}
		c.set(m.key, m.value)
	}
	return nil
}

type jsonObject struct{ members []jsonMember }

type jsonMember struct {
	key     string
	value   string      // a scalar as text
	obj     *jsonObject // a nested object (only "config" may be one)
	isArray bool
	isNull  bool
}

// readObject reads one JSON object from dec, whose next token must be '{'.
func readObject(dec *json.Decoder) (*jsonObject, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, inputErr("", "invalid JSON: want an object")
	}
	return readMembers(dec)
}

// readMembers reads the members of an object whose '{' has been read, and
// its closing '}'. Nested objects are read whole; arrays are skipped and
// marked.
func readMembers(dec *json.Decoder) (*jsonObject, error) {
	o := &jsonObject{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, inputErr("", "invalid JSON: want a key")
		}
		m := jsonMember{key: key}
		tok, err = dec.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' {
				if m.obj, err = readMembers(dec); err != nil {
					return nil, err
				}
			} else { // '[': skip to its end
				m.isArray = true
				for depth := 1; depth > 0; {
					t, err := dec.Token()
					if err != nil {
						return nil, jsonErr(err)
					}
					if d, ok := t.(json.Delim); ok {
						if d == '[' || d == '{' {
							depth++
						} else {
							depth--
						}
					}
				}
			}
		case string:
			m.value = v
		case json.Number:
			m.value = v.String()
		case bool:
			m.value = fmt.Sprint(v)
		case nil:
			m.isNull = true
		}
		o.members = append(o.members, m)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, jsonErr(err)
	}
	return o, nil
}

func jsonErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return inputErr("", "invalid JSON at byte %d: %s", se.Offset, se.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return inputErr("", "invalid JSON: unexpected end of input")
	}
	return inputErr("", "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}
