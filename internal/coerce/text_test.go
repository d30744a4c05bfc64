package coerce_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestText(t *testing.T) {
	typ := base(t, "text", -1, "text", pgtype.TextOID)
	checkJSON(t, typ, []ok{
		{`"héllo"`, "héllo"},
		{`""`, ""},
		{`"a\"b\\c\n"`, "a\"b\\c\n"},
		{`"\u00e9\ud83d\ude00"`, "é😀"},
		{`42.50`, "42.50"},
		{`-1e5`, "-1e5"},
		{`true`, "true"},
		{`false`, "false"},
		{`{"a": [1, 2.0, "x\u0000"], "b": {}}`, `{"a":[1,2.0,"x\u0000"],"b":{}}`},
		{`[ ]`, `[]`},
	}, []bad{
		{`"a\u0000b"`, `string contains U+0000 (NUL), which text cannot store`},
		{"\"\xff\xfe\"", `string is not valid UTF-8`},
		{"[\"\xff\"]", `string is not valid UTF-8`},
		{`01`, `number 01 is not valid JSON`},
	})
	checkText(t, typ, []ok{
		{"héllo", "héllo"},
		{"", ""},
	}, []bad{
		{"a\x00b", `string contains U+0000 (NUL), which text cannot store`},
		{"\xc3", `string is not valid UTF-8`},
	})
}

func TestVarchar(t *testing.T) {
	typ := base(t, "varchar", varcharMod(5), "character varying(5)", pgtype.VarcharOID)
	if typ.MaxLen != 5 {
		t.Fatalf("MaxLen = %d, want 5", typ.MaxLen)
	}
	checkJSON(t, typ, []ok{
		{`"héllö"`, "héllö"},    // 5 characters, 7 bytes
		{`"日本語日本"`, "日本語日本"},    // 5 characters, 15 bytes
		{`"abcde   "`, "abcde"}, // excess spaces are cut, as PostgreSQL does
		{`"ab   "`, "ab   "},    // spaces within the limit are kept
		{`12345`, "12345"},
		{`false`, "false"},
		{`"😀😀😀😀😀"`, "😀😀😀😀😀"}, // 5 characters, 20 bytes
		{`"😀😀😀😀😀 "`, "😀😀😀😀😀"},
		{`[1,2]`, "[1,2]"},
	}, []bad{
		{`"héllöx"`, `string of 6 characters exceeds character varying(5)`},
		{`"日本語日本語"`, `string of 6 characters exceeds character varying(5)`},
		{`"abcde  x"`, `string of 8 characters exceeds character varying(5)`},
		{`"abcde\t"`, `string of 6 characters exceeds character varying(5)`},
		{`123456`, `string of 6 characters exceeds character varying(5)`},
		{`{"a":1}`, `string of 7 characters exceeds character varying(5)`},
	})
	checkText(t, typ, []ok{{"héllö", "héllö"}, {"abcde ", "abcde"}}, []bad{
		{"héllöx", `string of 6 characters exceeds character varying(5)`},
	})
	short := base(t, "varchar", varcharMod(3), "character varying(3)", pgtype.VarcharOID)
	checkJSON(t, short, []ok{{`"abc"`, "abc"}}, []bad{
		{`false`, `string of 5 characters exceeds character varying(3)`},
	})
}

func TestBpchar(t *testing.T) {
	typ := base(t, "bpchar", varcharMod(3), "character(3)", pgtype.BPCharOID)
	checkJSON(t, typ, []ok{
		{`"ab"`, "ab"},
		{`"abc"`, "abc"},
		{`"abc  "`, "abc"},
		{`"äöü "`, "äöü"},
	}, []bad{
		{`"abcd"`, `string of 4 characters exceeds character(3)`},
		{`"ab cd"`, `string of 5 characters exceeds character(3)`},
	})
}

func TestName(t *testing.T) {
	typ := base(t, "name", -1, "name", pgtype.NameOID)
	checkJSON(t, typ, []ok{
		{`"` + strings.Repeat("x", 63) + `"`, strings.Repeat("x", 63)},
	}, []bad{
		{`"` + strings.Repeat("x", 64) + `"`, `string of 64 bytes exceeds name (at most 63 bytes)`},
		{`"` + strings.Repeat("é", 32) + `"`, `string of 64 bytes exceeds name (at most 63 bytes)`},
	})
}

func TestBool(t *testing.T) {
	typ := base(t, "bool", -1, "boolean", pgtype.BoolOID)
	checkJSON(t, typ, []ok{
		{`true`, true},
		{`false`, false},
		{`"TRUE"`, true},
		{`"f"`, false},
		{`"Yes"`, true},
		{`"no"`, false},
		{`"1"`, true},
		{`"0"`, false},
		{`"on"`, true},
		{`"OFF"`, false},
		{`1`, true},
		{`0`, false},
		{`1.0`, true},
	}, []bad{
		{`2`, `value 2 is not a valid boolean (want 0 or 1)`},
		{`0.5`, `value 0.5 is not a valid boolean (want 0 or 1)`},
		{`"maybe"`, `"maybe" is not a valid boolean`},
		{`""`, `"" is not a valid boolean`},
		{`{}`, `want a boolean for boolean, got an object`},
	})
	checkText(t, typ, []ok{{"t", true}, {"false", false}}, []bad{{"2", `"2" is not a valid boolean`}})
}

func TestUUID(t *testing.T) {
	typ := base(t, "uuid", -1, "uuid", pgtype.UUIDOID)
	want := [16]byte{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}
	checkJSON(t, typ, []ok{
		{`"123e4567-e89b-12d3-a456-426614174000"`, want},
		{`"123E4567-E89B-12D3-A456-426614174000"`, want},
		{`"123e4567e89b12d3a456426614174000"`, want},
		{`"{123e4567-e89b-12d3-a456-426614174000}"`, want},
		{`"{123e4567e89b12d3a456426614174000}"`, want},
	}, []bad{
		{`"abc"`, `"abc" is not a valid uuid`},
		{`"123e4567-e89b-12d3-a456-42661417400g"`, `"123e4567-e89b-12d3-a456-42661417400g" is not a valid uuid`},
		{`"123e4567e-89b-12d3-a456-426614174000"`, `"123e4567e-89b-12d3-a456-426614174000" is not a valid uuid`},
		{`"{123e4567-e89b-12d3-a456-426614174000"`, `"{123e4567-e89b-12d3-a456-426614174000" is not a valid uuid`},
		{`"123e4567-e89b-12d3-a456-4266141740000"`, `"123e4567-e89b-12d3-a456-4266141740000" is not a valid uuid`},
		{`42`, `want a string for uuid, got a number 42`},
	})
	checkText(t, typ, []ok{{"123e4567-e89b-12d3-a456-426614174000", want}}, []bad{{"", `"" is not a valid uuid`}})
}

func TestBytea(t *testing.T) {
	typ := base(t, "bytea", -1, "bytea", pgtype.ByteaOID)
	checkJSON(t, typ, []ok{
		{`"AQID"`, []byte{1, 2, 3}},
		{`"AQI="`, []byte{1, 2}},
		{`"AQI"`, []byte{1, 2}},
		{`"AQ=="`, []byte{1}},
		{`"AQ"`, []byte{1}},
		{`"+/8="`, []byte{0xfb, 0xff}},
		{`"-_8"`, []byte{0xfb, 0xff}},
		{`"-_8="`, []byte{0xfb, 0xff}},
		{`""`, []byte{}},
	}, []bad{
		{`"AQI=="`, `"AQI==" is not valid base64 for bytea`},
		{`"A"`, `"A" is not valid base64 for bytea`},
		{`"!!"`, `"!!" is not valid base64 for bytea`},
		{`"+-AA"`, `"+-AA" is not valid base64 for bytea`},
		{`"AQ==AQ=="`, `"AQ==AQ==" is not valid base64 for bytea`},
		{`"AQ\nID"`, `"AQ\nID" is not valid base64 for bytea`},
		{`5`, `want a base64 string for bytea, got a number 5`},
	})
	checkText(t, typ, []ok{
		{"ab\x00\xff", []byte("ab\x00\xff")},
		{"", []byte{}},
	}, nil)
}

func TestEnum(t *testing.T) {
	typ := statusType(t)
	checkJSON(t, typ, []ok{
		{`"new"`, "new"},
		{`"shipped"`, "shipped"},
	}, []bad{
		{`"purple"`, `"purple" is not a label of enum order_status (one of: new, paid, shipped)`},
		{`"PAID"`, `"PAID" is not a label of enum order_status (one of: new, paid, shipped)`},
		{`1`, `want a string for order_status, got a number 1`},
	})
	checkText(t, typ, []ok{{"paid", "paid"}}, []bad{
		{"", `"" is not a label of enum order_status (one of: new, paid, shipped)`},
	})

	// Enough labels for the map index, and a list cut in the reason.
	var labels []string
	for i := range 12 {
		labels = append(labels, string(rune('a'+i)))
	}
	many := mustType(t, "letters", 'e', -1, "public.letters", 70100, nil, labels)
	checkJSON(t, many, []ok{{`"a"`, "a"}, {`"l"`, "l"}}, []bad{
		{`"z"`, `"z" is not a label of enum public.letters (one of: a, b, c, d, e, f, g, h, i, j, ...)`},
	})
}

// A label is returned without allocating.
func TestEnumDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not stable under the race detector")
	}
	typ := statusType(t)
	v := parseJSON(t, `"shipped"`)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := typ.FromJSON(v); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("FromJSON of an enum label allocates %v times", allocs)
	}
}
