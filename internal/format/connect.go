package format

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
)

// Kafka Connect's JsonConverter (schemas.enable=true) wraps each value in an
// envelope {"schema": {...}, "payload": ...}. Logical types travel in an
// encoding that says nothing without the schema: a Decimal is the base64 of
// its unscaled two's-complement integer, a Date a day count, a Time a
// millisecond count. unwrapConnect returns the payload with those values
// rewritten into what the column coercion reads: a decimal string, an
// RFC 3339 date, "HH:MM:SS.mmm", epoch milliseconds.
const (
	connectDecimal   = "org.apache.kafka.connect.data.Decimal"
	connectDate      = "org.apache.kafka.connect.data.Date"
	connectTime      = "org.apache.kafka.connect.data.Time"
	connectTimestamp = "org.apache.kafka.connect.data.Timestamp"
)

// maxConnectDecimalBytes bounds the unscaled integer of a Decimal (1 KiB is
// about 2,500 digits, far beyond PostgreSQL's numeric) against hostile input.
const maxConnectDecimalBytes = 1024

// unwrapConnect checks the envelope and returns its payload, converted per
// the schema, built in a (which the caller resets per record). A null
// payload is returned as nil (a tombstone).
func unwrapConnect(v *fastjson.Value, a *fastjson.Arena) (*fastjson.Value, error) {
	if v.Type() != fastjson.TypeObject {
		return nil, fmt.Errorf("a Connect JSON value must be an object with schema and payload, got a JSON %s", v.Type())
	}
	schema, payload := v.Get("schema"), v.Get("payload")
	if schema == nil || payload == nil {
		return nil, fmt.Errorf(`a Connect JSON value needs "schema" and "payload" (is the producer's JsonConverter set to schemas.enable=false? then use format json)`)
	}
	if payload.Type() == fastjson.TypeNull {
		return nil, nil
	}
	return convertConnect(schema, payload, a, "payload", 0)
}

func convertConnect(schema, v *fastjson.Value, a *fastjson.Arena, path string, depth int) (*fastjson.Value, error) {
	if depth > 32 {
		return nil, fmt.Errorf("%s: schema nested deeper than 32 levels", path)
	}
	if v.Type() == fastjson.TypeNull || schema == nil || schema.Type() != fastjson.TypeObject {
		return v, nil
	}
	switch string(schema.GetStringBytes("name")) {
	case connectDecimal:
		return connectDecimalValue(schema, v, a, path)
	case connectDate:
		days, err := v.Int64()
		if err != nil {
			return nil, fmt.Errorf("%s: Date must be a day count: %v", path, err)
		}
		return a.NewString(time.Unix(0, 0).UTC().AddDate(0, 0, int(days)).Format("2006-01-02")), nil
	case connectTime:
		ms, err := v.Int64()
		if err != nil || ms < 0 || ms >= 24*3600*1000 {
			return nil, fmt.Errorf("%s: Time must be milliseconds of the day, got %s", path, v)
		}
		return a.NewString(time.UnixMilli(ms).UTC().Format("15:04:05.000")), nil
	case connectTimestamp:
		if _, err := v.Int64(); err != nil {
			return nil, fmt.Errorf("%s: Timestamp must be epoch milliseconds: %v", path, err)
		}
		return v, nil // epoch milliseconds is what timestamp columns read
	}
	switch string(schema.GetStringBytes("type")) {
	case "struct":
		obj, err := v.Object()
		if err != nil {
			return nil, fmt.Errorf("%s: schema says struct, payload is a JSON %s", path, v.Type())
		}
		fields := map[string]*fastjson.Value{}
		for _, f := range schema.GetArray("fields") {
			fields[string(f.GetStringBytes("field"))] = f
		}
		out := a.NewObject()
		var ferr error
		obj.Visit(func(k []byte, fv *fastjson.Value) {
			if ferr != nil {
				return
			}
			cv, err := convertConnect(fields[string(k)], fv, a, path+"."+string(k), depth+1)
			if err != nil {
				ferr = err
				return
			}
			out.Set(string(k), cv)
		})
		return out, ferr
	case "array":
		items, err := v.Array()
		if err != nil {
			return nil, fmt.Errorf("%s: schema says array, payload is a JSON %s", path, v.Type())
		}
		out := a.NewArray()
		for i, it := range items {
			cv, err := convertConnect(schema.Get("items"), it, a, path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			out.SetArrayItem(i, cv)
		}
		return out, nil
	}
	return v, nil
}

func connectDecimalValue(schema, v *fastjson.Value, a *fastjson.Arena, path string) (*fastjson.Value, error) {
	scaleText := string(schema.Get("parameters").GetStringBytes("scale"))
	scale, err := strconv.Atoi(scaleText)
	if err != nil || scale < 0 || scale > 1000 {
		return nil, fmt.Errorf("%s: Decimal schema has no usable parameters.scale (%q)", path, scaleText)
	}
	b64, err := v.StringBytes()
	if err != nil {
		return nil, fmt.Errorf("%s: Decimal must be a base64 string, got a JSON %s", path, v.Type())
	}
	if base64.StdEncoding.DecodedLen(len(b64)) > maxConnectDecimalBytes {
		return nil, fmt.Errorf("%s: Decimal of more than %d bytes", path, maxConnectDecimalBytes)
	}
	raw, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("%s: Decimal is not valid base64", path)
	}
	n := new(big.Int).SetBytes(raw)
	if raw[0]&0x80 != 0 { // two's complement: negative
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(raw))*8))
	}
	return a.NewNumberString(decimalString(n, scale)), nil
}

// decimalString renders unscaled × 10^-scale exactly.
func decimalString(unscaled *big.Int, scale int) string {
	neg := unscaled.Sign() < 0
	digits := new(big.Int).Abs(unscaled).String()
	if scale > 0 {
		for len(digits) <= scale {
			digits = "0" + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// connectSchemaType converts a Kafka Connect schema to a codec type.
func connectSchemaType(s *fastjson.Value, depth int) (*codec.Type, bool) {
	if s == nil || s.Type() != fastjson.TypeObject || depth > 32 {
		return &codec.Type{Kind: codec.KindJSON}, true
	}
	optional := s.GetBool("optional")
	switch string(s.GetStringBytes("name")) {
	case connectDecimal:
		scale, _ := strconv.Atoi(string(s.Get("parameters").GetStringBytes("scale")))
		prec, _ := strconv.Atoi(string(s.Get("parameters").GetStringBytes("connect.decimal.precision")))
		if prec < scale {
			prec = 0
		}
		return &codec.Type{Kind: codec.KindDecimal, Precision: prec, Scale: scale}, optional
	case connectDate:
		return &codec.Type{Kind: codec.KindDate}, optional
	case connectTime:
		return &codec.Type{Kind: codec.KindTime}, optional
	case connectTimestamp:
		return &codec.Type{Kind: codec.KindTimestamp}, optional
	}
	switch string(s.GetStringBytes("type")) {
	case "int8", "int16", "int32":
		return &codec.Type{Kind: codec.KindInt32}, optional
	case "int64":
		return &codec.Type{Kind: codec.KindInt64}, optional
	case "float", "float32":
		return &codec.Type{Kind: codec.KindFloat32}, optional
	case "double", "float64":
		return &codec.Type{Kind: codec.KindFloat64}, optional
	case "boolean":
		return &codec.Type{Kind: codec.KindBool}, optional
	case "string":
		return &codec.Type{Kind: codec.KindString}, optional
	case "bytes":
		return &codec.Type{Kind: codec.KindBytes}, optional
	case "array":
		elem, _ := connectSchemaType(s.Get("items"), depth+1)
		return &codec.Type{Kind: codec.KindArray, Elem: elem}, optional
	case "map":
		elem, _ := connectSchemaType(s.Get("values"), depth+1)
		return &codec.Type{Kind: codec.KindMap, Elem: elem}, optional
	case "struct":
		t := &codec.Type{Kind: codec.KindRecord, Name: string(s.GetStringBytes("name"))}
		for _, f := range s.GetArray("fields") {
			ft, opt := connectSchemaType(f, depth+1)
			_, hasDef := f.Get("default"), f.Exists("default")
			t.Fields = append(t.Fields, codec.Field{Name: string(f.GetStringBytes("field")), Type: ft, Optional: opt, HasDefault: hasDef})
		}
		return t, optional
	}
	return &codec.Type{Kind: codec.KindJSON}, optional
}
