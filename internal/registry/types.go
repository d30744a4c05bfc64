// Package registry is a client for a Confluent-compatible Schema Registry:
// it fetches schemas by id (cached: one request per new id, never per
// record), resolves references between schemas, and speaks basic auth and
// TLS. Package srtest is a small in-process stand-in for tests.
package registry

import (
	"context"
	"fmt"
)

// Schema types as the registry names them. An empty schemaType in a
// registry response means Avro.
const (
	TypeAvro     = "AVRO"
	TypeProtobuf = "PROTOBUF"
	TypeJSON     = "JSON"
)

// Schema is one registered schema.
type Schema struct {
	ID         int
	Type       string // TypeAvro, TypeProtobuf or TypeJSON (never empty)
	Schema     string // the schema text as registered
	References []Reference
}

// Reference names another registered schema that this one imports. Name is
// how the referring schema names it: for Avro the full record name, for
// Protobuf the import path ("other.proto"), for JSON Schema the $ref URL.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Source is what decoders need from a registry. *Client implements it; tests
// may use a map-backed fake. Implementations are safe for concurrent use.
type Source interface {
	// SchemaByID returns the schema with this global id.
	SchemaByID(ctx context.Context, id int) (*Schema, error)
	// SchemaByReference returns the schema a reference names (its subject
	// and version). The result's ID is the registry's id for it.
	SchemaByReference(ctx context.Context, ref Reference) (*Schema, error)
}

// NotFoundError is a schema id (or subject/version) the registry does not
// know. For a record it is a record error: retrying will not help.
type NotFoundError struct {
	What string // "schema id 42", "subject orders-value version 3"
}

func (e *NotFoundError) Error() string { return "schema registry has no " + e.What }

// UnavailableError is a registry that could not be asked or answered with a
// server error (network failure, timeout, HTTP 5xx, 429). It is transient:
// the caller retries, and never dead-letters a record because of it.
type UnavailableError struct {
	URL string // the registry's base URL, without credentials
	Err error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("schema registry %s unavailable: %v", e.URL, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// RequestError is any other refusal (401, 403, 4xx other than 404, a
// response that is not the registry's JSON). It is a configuration problem:
// the pipeline stops on it.
type RequestError struct {
	URL    string // base URL, without credentials
	Status int    // HTTP status, 0 when the body was the problem
	Msg    string
}

func (e *RequestError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("schema registry %s: %s", e.URL, e.Msg)
	}
	return fmt.Sprintf("schema registry %s: HTTP %d: %s", e.URL, e.Status, e.Msg)
}
