package coerce_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestJSON(t *testing.T) {
	typ := base(t, "json", -1, "json", pgtype.JSONOID)
	checkJSON(t, typ, []ok{
		{`{"a": 1, "b": [true, null, "x\"y"]}`, []byte(`{"a":1,"b":[true,null,"x\"y"]}`)},
		{` "str" `, []byte(`"str"`)},
		{`42`, []byte(`42`)},
		{`-1.5e-3`, []byte(`-1.5e-3`)},
		{`false`, []byte(`false`)},
		{`[]`, []byte(`[]`)},
		{`{}`, []byte(`{}`)},
		{`{"k\"ey\u0001": "\u00e9\n\t\\/"}`, []byte(`{"k\"ey\u0001":"é\n\t\\/"}`)},
		{`{"a": 1, "a": 2}`, []byte(`{"a":1,"a":2}`)},
		{`"\u0000"`, []byte(`"\u0000"`)},
		{`"\ud83d\ude00"`, []byte(`"😀"`)},
	}, []bad{
		{`NaN`, `number NaN is not valid JSON`},
		{`[01]`, `number 01 is not valid JSON`},
		{`{"a": [1, 1.]}`, `number 1. is not valid JSON`},
		{`{"a": [+1]}`, `number +1 is not valid JSON`},
		{"[\"\xff\"]", `string is not valid UTF-8`},
	})
	checkText(t, typ, []ok{
		{`he said "hi"`, []byte(`"he said \"hi\""`)},
		{"a\x00", []byte(`"a\u0000"`)},
		{"", []byte(`""`)},
	}, []bad{{"\xff", `string is not valid UTF-8`}})
}

func TestJSONB(t *testing.T) {
	typ := base(t, "jsonb", -1, "jsonb", pgtype.JSONBOID)
	checkJSON(t, typ, []ok{
		{`{"a": {"b": [1, 2]}}`, []byte(`{"a":{"b":[1,2]}}`)},
		{`"\\u0000"`, []byte(`"\\u0000"`)},
	}, []bad{
		{`"\u0000"`, `string contains \u0000, which jsonb cannot store`},
		{`{"a\u0000": 1}`, `string contains \u0000, which jsonb cannot store`},
		{`[{"a": "x\u0000"}]`, `string contains \u0000, which jsonb cannot store`},
	})
	checkText(t, typ, []ok{{"k-1", []byte(`"k-1"`)}}, []bad{
		{"a\x00", `string contains \u0000, which jsonb cannot store`},
	})
}

// The result must not share memory with the parsed value: fastjson reuses it.
func TestJSONResultIsACopy(t *testing.T) {
	typ := base(t, "jsonb", -1, "jsonb", pgtype.JSONBOID)
	text := base(t, "text", -1, "text", pgtype.TextOID)
	raw := []byte(`{"a":"bbbb"}`)
	var p fastjsonParser
	v, err := p.ParseBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	j, err := typ.FromJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	s, err := text.FromJSON(v.Get("a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse(`{"a":"cccc"}`); err != nil {
		t.Fatal(err)
	}
	if string(j.([]byte)) != `{"a":"bbbb"}` || s.(string) != "bbbb" {
		t.Errorf("results changed after the parser was reused: %s %s", j, s)
	}
}
