package transform

import (
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"

	"github.com/kafka2pg/kafka2pg/internal/codec"
	"github.com/kafka2pg/kafka2pg/internal/table"
)

// Debezium change events (unwrap: debezium) carry the row before and after
// the change, the operation and where it came from:
//
//	{"before": {...}|null, "after": {...}|null, "op": "c"|"r"|"u"|"d"|"t"|"m",
//	 "source": {"lsn": 123, "ts_ms": ..., "table": "orders", ...}, "ts_ms": ...}
//
// c (create), r (snapshot read) and u (update) upsert "after"; d deletes the
// row by key (the Kafka key's fields, else "before"'s); t (truncate) is
// ignored or a record error (debezium.on_truncate); m (a logical decoding
// message) is skipped. The metadata is offered to the mapping as extra
// fields with the names Debezium's ExtractNewRecordState transform gives
// them (add.fields=op,lsn,source.ts_ms,table,ts_ms), so a table that has such
// a column gets the value and version_column can name one.
const unavailable = "__debezium_unavailable_value"

// unavailableBase64 is the placeholder of a binary column (the placeholder's
// bytes, in the canonical base64 of bytes).
const unavailableBase64 = "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="

// debeziumExtras are the metadata fields and their types.
var debeziumExtras = []struct {
	name string
	typ  codec.Kind
}{
	{"__op", codec.KindString},
	{"__lsn", codec.KindInt64},
	{"__source_ts_ms", codec.KindInt64},
	{"__table", codec.KindString},
	{"__ts_ms", codec.KindInt64},
}

type debeziumEvent struct {
	op     string
	source *fastjson.Value
	ts     *fastjson.Value
}

// extra returns the value of a metadata field, or nil.
func (e *debeziumEvent) extra(name string, a *fastjson.Arena) *fastjson.Value {
	switch name {
	case "__op":
		return a.NewString(e.op)
	case "__lsn":
		return e.source.Get("lsn")
	case "__source_ts_ms":
		return e.source.Get("ts_ms")
	case "__table":
		return e.source.Get("table")
	case "__ts_ms":
		return e.ts
	}
	return nil
}

func (rd *reader) unwrapDebezium(r *kgo.Record, v *fastjson.Value, typ *codec.Type, d *decoded) error {
	if v.Type() != fastjson.TypeObject {
		return recErr(r, StageDecode, "", "", "a Debezium change event must be a record, got a %s", describe(v))
	}
	opv := v.Get("op")
	if opv == nil || opv.Type() != fastjson.TypeString {
		return recErr(r, StageDecode, "op", "", `not a Debezium change event: no "op" string (is unwrap: debezium right for this topic?)`)
	}
	ev := &debeziumEvent{op: string(opv.GetStringBytes()), source: v.Get("source"), ts: v.Get("ts_ms")}
	if ev.source == nil {
		ev.source = rd.value.Arena.NewObject()
	}
	d.dbz = ev
	var rowTyp *codec.Type
	if typ != nil {
		if f := typ.Field("after"); f != nil && f.Type.Kind == codec.KindRecord {
			rowTyp = f.Type
		}
	}
	switch ev.op {
	case "c", "r", "u":
		after := v.Get("after")
		if after == nil || after.Type() != fastjson.TypeObject {
			return recErr(r, StageDecode, "after", "", `Debezium %q event without an "after" record`, ev.op)
		}
		d.op, d.value, d.typ = table.OpWrite, after, rowTyp
	case "d":
		d.op = table.OpDelete
		if before := v.Get("before"); before != nil && before.Type() == fastjson.TypeObject {
			d.value = before // only its key columns are used
		}
	case "t":
		if !rd.spec.TruncateFail {
			d.skipped = true
			return nil
		}
		return recErr(r, StageMap, "op", "", "Debezium truncate event; debezium.on_truncate is fail")
	case "m":
		d.skipped = true
	default:
		return recErr(r, StageDecode, "op", "", "unknown Debezium op %q", clip(ev.op))
	}
	return nil
}

// isUnavailable reports a Debezium placeholder for an unchanged TOASTed
// value, which must leave the stored column as it is.
func isUnavailable(v *fastjson.Value) bool {
	if v.Type() == fastjson.TypeArray { // an array column: [placeholder]
		a := v.GetArray()
		return len(a) == 1 && isUnavailable(a[0])
	}
	if v.Type() != fastjson.TypeString {
		return false
	}
	s := v.GetStringBytes()
	return string(s) == unavailable || string(s) == unavailableBase64
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
