package expr

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// functions are kafka2pg's helpers beyond CEL's standard library and the
// strings, encoders, math and lists extensions. Every one is a pure
// function of its arguments.
func functions() []cel.EnvOption {
	return []cel.EnvOption{
		// parseTimestamp("2024-05-01 12:00:00", "2006-01-02 15:04:05"): a
		// time in Go's reference layout; without a zone in the layout it
		// is UTC.
		cel.Function("parseTimestamp",
			cel.Overload("parseTimestamp_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.TimestampType,
				cel.BinaryBinding(func(s, layout ref.Val) ref.Val {
					t, err := time.Parse(string(layout.(types.String)), string(s.(types.String)))
					if err != nil {
						return types.NewErr("parseTimestamp: %v", err)
					}
					return types.Timestamp{Time: t}
				}))),
		// fromEpochSeconds(1714564800), fromEpochSeconds(1714564800.5),
		// fromEpochMillis(...), fromEpochMicros(...): instants from epoch
		// numbers.
		cel.Function("fromEpochSeconds",
			cel.Overload("fromEpochSeconds_int", []*cel.Type{cel.IntType}, cel.TimestampType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.Timestamp{Time: time.Unix(int64(v.(types.Int)), 0).UTC()} })),
			cel.Overload("fromEpochSeconds_double", []*cel.Type{cel.DoubleType}, cel.TimestampType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					f := float64(v.(types.Double))
					if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
						return types.NewErr("fromEpochSeconds: %v is out of range", f)
					}
					sec, frac := math.Modf(f)
					return types.Timestamp{Time: time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()}
				}))),
		cel.Function("fromEpochMillis",
			cel.Overload("fromEpochMillis_int", []*cel.Type{cel.IntType}, cel.TimestampType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.Timestamp{Time: time.UnixMilli(int64(v.(types.Int))).UTC()} }))),
		cel.Function("fromEpochMicros",
			cel.Overload("fromEpochMicros_int", []*cel.Type{cel.IntType}, cel.TimestampType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.Timestamp{Time: time.UnixMicro(int64(v.(types.Int))).UTC()} }))),
		// epochSeconds(ts), epochMillis(ts), epochMicros(ts): the reverse.
		cel.Function("epochSeconds",
			cel.Overload("epochSeconds_timestamp", []*cel.Type{cel.TimestampType}, cel.IntType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.Int(v.(types.Timestamp).Unix()) }))),
		cel.Function("epochMillis",
			cel.Overload("epochMillis_timestamp", []*cel.Type{cel.TimestampType}, cel.IntType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.Int(v.(types.Timestamp).UnixMilli()) }))),
		cel.Function("epochMicros",
			cel.Overload("epochMicros_timestamp", []*cel.Type{cel.TimestampType}, cel.IntType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.Int(v.(types.Timestamp).UnixMicro()) }))),
		// sha256("x"), sha256(b"x"): the SHA-256 digest in lower-case hex.
		cel.Function("sha256",
			cel.Overload("sha256_string", []*cel.Type{cel.StringType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return hexSHA256([]byte(v.(types.String))) })),
			cel.Overload("sha256_bytes", []*cel.Type{cel.BytesType}, cel.StringType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return hexSHA256([]byte(v.(types.Bytes))) }))),
		// uuid5(namespace, name): the name-based (SHA-1) UUID of name in
		// namespace — a UUID, or one of "dns", "url", "oid", "x500".
		cel.Function("uuid5",
			cel.Overload("uuid5_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.StringType,
				cel.BinaryBinding(func(ns, name ref.Val) ref.Val {
					u, err := uuid5(string(ns.(types.String)), string(name.(types.String)))
					if err != nil {
						return types.NewErr("uuid5: %v", err)
					}
					return types.String(u)
				}))),
	}
}

func hexSHA256(b []byte) ref.Val {
	sum := sha256.Sum256(b)
	return types.String(hex.EncodeToString(sum[:]))
}

// The namespaces of RFC 9562, section 6.6.
var uuidNamespaces = map[string]string{
	"dns":  "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
	"url":  "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
	"oid":  "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
	"x500": "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
}

// uuid5 is the version 5 UUID of name in namespace (RFC 9562).
func uuid5(namespace, name string) (string, error) {
	if ns, ok := uuidNamespaces[strings.ToLower(namespace)]; ok {
		namespace = ns
	}
	nsBytes, err := parseUUID(namespace)
	if err != nil {
		return "", err
	}
	h := sha1.New() //nolint:gosec // RFC 9562 defines version 5 with SHA-1
	h.Write(nsBytes[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	s := hex.EncodeToString(u[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:], nil
}

func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return u, fmt.Errorf("namespace %q is not a UUID nor one of dns, url, oid, x500", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return u, fmt.Errorf("namespace %q is not a UUID nor one of dns, url, oid, x500", s)
	}
	copy(u[:], b)
	return u, nil
}
