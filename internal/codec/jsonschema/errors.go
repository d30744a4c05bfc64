package jsonschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	jsv "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/registry"
)

// Limits of a validation failure's reason. The record's bytes appear in it
// twice at most, as the location and as one value, each cut to half of the
// 64 bytes codec.DecodeError allows.
const (
	maxReason      = 200
	maxQuotedInput = 32
)

// registryError classifies an error from the registry asked for schema id
// or, when ref is not empty, for that reference of it: a schema the
// registry does not know is a record error; anything else is wrapped for
// the caller to retry (UnavailableError) or stop on.
func registryError(id int, ref string, err error) error {
	what := fmt.Sprintf("schema id %d", id)
	if ref != "" {
		what += ": " + ref
	}
	var nf *registry.NotFoundError
	if errors.As(err, &nf) {
		return codec.Errorf("%s: %v", what, err)
	}
	return fmt.Errorf("jsonschema: fetching %s: %w", what, err)
}

// compileError describes a schema that does not compile; one that breaks
// its metaschema's rules is described like a record that breaks a schema.
func compileError(id int, err error) error {
	var se *jsv.SchemaValidationError
	var ve *jsv.ValidationError
	if errors.As(err, &se) && errors.As(se.Err, &ve) {
		return codec.Errorf("schema id %d does not compile: not valid against its metaschema: %s", id, clip(describe(leaf(ve)), 120))
	}
	return codec.Errorf("schema id %d does not compile: %s", id, clip(err.Error(), 160))
}

// payloadError is valid JSON the decoder refuses, at a location.
type payloadError struct {
	path []string // innermost first
	msg  string
}

func (e *payloadError) Error() string {
	loc := make([]string, 0, len(e.path))
	for i := len(e.path) - 1; i >= 0; i-- {
		loc = append(loc, e.path[i])
	}
	return location(loc) + ": " + e.msg
}

// invalid turns a validation failure into a *codec.DecodeError naming the
// schema id, the instance location and the keyword of the most specific
// failure: "schema id 7: /price: minimum: got -1, want >= 0".
func (c *compiled) invalid(err error) error {
	var ve *jsv.ValidationError
	if !errors.As(err, &ve) {
		return codec.Errorf("schema id %d: %s", c.id, clip(err.Error(), maxReason))
	}
	return &codec.DecodeError{Reason: clip(fmt.Sprintf("schema id %d: %s", c.id, describe(leaf(ve))), maxReason)}
}

// leaf picks the failure to report from the tree the validator returns:
// through groups and references to the first cause; for oneOf/anyOf, where
// every alternative failed, to the alternative that got furthest (the
// deepest instance location, then one where the type at least matched).
func leaf(e *jsv.ValidationError) *jsv.ValidationError {
	for len(e.Causes) > 0 {
		switch e.ErrorKind.(type) {
		case *kind.AnyOf, *kind.OneOf:
			if t := typeMismatch(e); t != nil {
				return t
			}
			best, bestRank := e.Causes[0], -1
			for _, c := range e.Causes {
				l := leaf(c)
				rank := 2 * len(l.InstanceLocation)
				if _, ok := l.ErrorKind.(*kind.Type); !ok {
					rank++
				}
				if rank > bestRank {
					best, bestRank = c, rank
				}
			}
			e = best
		default:
			e = e.Causes[0]
		}
	}
	return e
}

// typeMismatch returns one type failure listing every wanted type when
// each alternative of e failed on the type of the value itself, or nil.
func typeMismatch(e *jsv.ValidationError) *jsv.ValidationError {
	var got string
	var want []string
	for _, c := range e.Causes {
		l := leaf(c)
		k, ok := l.ErrorKind.(*kind.Type)
		if !ok || len(l.InstanceLocation) != len(e.InstanceLocation) {
			return nil
		}
		got = k.Got
		for _, w := range k.Want {
			if !slices.Contains(want, w) {
				want = append(want, w)
			}
		}
	}
	return &jsv.ValidationError{InstanceLocation: e.InstanceLocation, ErrorKind: &kind.Type{Got: got, Want: want}}
}

// describe says what failed where, in the shape "location: keyword: detail".
func describe(e *jsv.ValidationError) string {
	loc := e.InstanceLocation
	var kw, detail string
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		// The missing property's own path reads better than its parent's.
		loc = append(loc[:len(loc):len(loc)], k.Missing[0])
		kw, detail = "required", "missing"
		if n := len(k.Missing) - 1; n > 0 {
			detail += fmt.Sprintf(" (and %d more: %s)", n, strings.Join(k.Missing[1:], ", "))
		}
	case *kind.Type:
		kw, detail = "type", fmt.Sprintf("got %s, want %s", k.Got, strings.Join(k.Want, " or "))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = schemaValue(w)
		}
		kw, detail = "enum", fmt.Sprintf("got %s, want one of %s", inputValue(k.Got), strings.Join(want, ", "))
	case *kind.Const:
		kw, detail = "const", fmt.Sprintf("got %s, want %s", inputValue(k.Got), schemaValue(k.Want))
		switch k.Want.(type) {
		case map[string]any, []any:
			detail = "got a different value"
		}
	case *kind.Format:
		kw, detail = "format", fmt.Sprintf("got %s, want %s", inputValue(k.Got), k.Want)
	case *kind.Minimum:
		kw, detail = "minimum", fmt.Sprintf("got %s, want >= %s", rat(k.Got), rat(k.Want))
	case *kind.Maximum:
		kw, detail = "maximum", fmt.Sprintf("got %s, want <= %s", rat(k.Got), rat(k.Want))
	case *kind.ExclusiveMinimum:
		kw, detail = "exclusiveMinimum", fmt.Sprintf("got %s, want > %s", rat(k.Got), rat(k.Want))
	case *kind.ExclusiveMaximum:
		kw, detail = "exclusiveMaximum", fmt.Sprintf("got %s, want < %s", rat(k.Got), rat(k.Want))
	case *kind.MultipleOf:
		kw, detail = "multipleOf", fmt.Sprintf("got %s, want a multiple of %s", rat(k.Got), rat(k.Want))
	case *kind.MinLength:
		kw, detail = "minLength", fmt.Sprintf("got %d characters, want >= %d", k.Got, k.Want)
	case *kind.MaxLength:
		kw, detail = "maxLength", fmt.Sprintf("got %d characters, want <= %d", k.Got, k.Want)
	case *kind.MinItems:
		kw, detail = "minItems", fmt.Sprintf("got %d items, want >= %d", k.Got, k.Want)
	case *kind.MaxItems:
		kw, detail = "maxItems", fmt.Sprintf("got %d items, want <= %d", k.Got, k.Want)
	case *kind.MinProperties:
		kw, detail = "minProperties", fmt.Sprintf("got %d properties, want >= %d", k.Got, k.Want)
	case *kind.MaxProperties:
		kw, detail = "maxProperties", fmt.Sprintf("got %d properties, want <= %d", k.Got, k.Want)
	case *kind.Pattern:
		kw, detail = "pattern", fmt.Sprintf("got %s, want a match of %s", inputValue(k.Got), strconv.Quote(k.Want))
	case *kind.AdditionalProperties:
		kw, detail = "additionalProperties", "unexpected property "+quoteInput(k.Properties[0])
		if n := len(k.Properties) - 1; n > 0 {
			detail += fmt.Sprintf(" (and %d more)", n)
		}
	case *kind.PropertyNames:
		kw, detail = "propertyNames", "invalid property name "+quoteInput(k.Property)
	case *kind.DependentRequired:
		kw, detail = "dependentRequired", fmt.Sprintf("property %s needs %s", quoteInput(k.Prop), strings.Join(k.Missing, ", "))
	case *kind.Dependency:
		kw, detail = "dependencies", fmt.Sprintf("property %s needs %s", quoteInput(k.Prop), strings.Join(k.Missing, ", "))
	case *kind.UniqueItems:
		kw, detail = "uniqueItems", fmt.Sprintf("items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.OneOf:
		kw, detail = "oneOf", fmt.Sprintf("matches alternatives %v, want exactly one", k.Subschemas)
	case *kind.AnyOf:
		kw, detail = "anyOf", "matches no alternative"
	case *kind.Not:
		kw, detail = "not", "matches the schema it must not match"
	case *kind.FalseSchema:
		kw, detail = "false", "no value is allowed here"
	default:
		// The remaining kinds (contains, additionalItems, content...)
		// quote no input values, only counts and indexes. Their message
		// is the validator's, after its "at '<location>': ".
		if p := e.ErrorKind.KeywordPath(); len(p) > 0 {
			kw = p[len(p)-1]
		} else {
			kw = "validation"
		}
		detail = e.Error()
		if _, d, ok := strings.Cut(detail, "': "); ok {
			detail = d
		}
		detail = clip(detail, maxQuotedInput*2)
	}
	return location(loc) + ": " + kw + ": " + detail
}

// location renders an instance location as a JSON pointer, "/" for the
// whole record, keeping the end of a long one.
func location(tokens []string) string {
	if len(tokens) == 0 {
		return "/"
	}
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	s, prefix := sb.String(), ""
	if len(s) > maxQuotedInput {
		cut := len(s) - maxQuotedInput
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		s, prefix = s[cut:], "…"
	}
	q := strconv.QuoteToGraphic(s) // escapes control characters in keys
	return prefix + q[1:len(q)-1]
}

// inputValue shows a value from the record, cut to maxQuotedInput bytes.
func inputValue(v any) string {
	switch v := v.(type) {
	case string:
		return quoteInput(v)
	case json.Number:
		return clip(string(v), maxQuotedInput)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// schemaValue shows a value from the schema.
func schemaValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// quoteInput quotes a string from the record, cut to maxQuotedInput bytes.
func quoteInput(s string) string {
	if len(s) <= maxQuotedInput {
		return strconv.Quote(s)
	}
	return strconv.Quote(clip(s, maxQuotedInput)) + "…"
}

// rat shows an exact number: an integer as such, a fraction as a decimal.
func rat(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// clip cuts s to at most n bytes at a UTF-8 boundary, flattening newlines
// (compiler errors span several lines).
func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func itoa(i int) string { return strconv.Itoa(i) }
