package coerce_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// testDatabaseURL returns the PostgreSQL superuser URL for tests that need a
// server, from KAFKA2PG_TEST_DATABASE_URL (set by `eval $(scripts/services.sh
// up)`). Without it the test is skipped, except in CI (CI=true), where tests
// that need services must fail rather than pass silently.
func testDatabaseURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("KAFKA2PG_TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KAFKA2PG_TEST_DATABASE_URL is not set; in CI the PostgreSQL tests must run (scripts/services.sh up)")
		}
		t.Skip("KAFKA2PG_TEST_DATABASE_URL is not set")
	}
	return url
}

// testConn connects with the session time zone set to UTC, so that
// timestamptz text is stable, and creates a schema of its own, dropped when
// the test ends. The schema is first on the search path.
func testConn(t *testing.T) (*pgx.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := pgx.ParseConfig(testDatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["timezone"] = "UTC"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("coerce_test_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := conn.Exec(ctx, "drop schema if exists "+schema+" cascade"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		conn.Close(ctx)
	})
	if _, err := conn.Exec(ctx, "create schema "+schema+"; set search_path = "+schema+", public"); err != nil {
		t.Fatal(err)
	}
	return conn, schema
}

// readCatalog builds the Type of each column of table the way the catalog
// reader does: TypeFor from pg_attribute/pg_type, array element types
// first, enum labels from pg_enum.
func readCatalog(ctx context.Context, t *testing.T, conn *pgx.Conn, table string) ([]string, []*coerce.Type) {
	t.Helper()
	type col struct {
		name, typname, typtype, formatted       string
		typmod                                  int32
		oid, elemOID                            uint32
		elemTypname, elemTyptype, elemFormatted string
	}
	rows, err := conn.Query(ctx, `
		select a.attname, t.typname, t.typtype::text, format_type(a.atttypid, a.atttypmod), a.atttypmod,
		       a.atttypid, coalesce(et.oid, 0), coalesce(et.typname, ''), coalesce(et.typtype::text, ''),
		       coalesce(format_type(et.oid, null), '')
		from pg_attribute a
		join pg_type t on t.oid = a.atttypid
		left join pg_type et on et.oid = t.typelem and t.typcategory = 'A'
		where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped
		order by a.attnum`, table)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (col, error) {
		var c col
		err := r.Scan(&c.name, &c.typname, &c.typtype, &c.formatted, &c.typmod, &c.oid,
			&c.elemOID, &c.elemTypname, &c.elemTyptype, &c.elemFormatted)
		return c, err
	})
	if err != nil {
		t.Fatal(err)
	}
	labels := func(oid uint32) []string {
		rows, _ := conn.Query(ctx, "select enumlabel from pg_enum where enumtypid = $1 order by enumsortorder", oid)
		l, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	var names []string
	var types []*coerce.Type
	for _, c := range cols {
		var elem *coerce.Type
		if c.elemOID != 0 {
			var err error
			elem, err = coerce.TypeFor(c.elemTypname, c.elemTyptype[0], -1, c.elemFormatted, c.elemOID, nil, labels(c.elemOID))
			if err != nil {
				t.Fatalf("column %s: %v", c.name, err)
			}
		}
		typ, err := coerce.TypeFor(c.typname, c.typtype[0], c.typmod, c.formatted, c.oid, elem, labels(c.oid))
		if err != nil {
			t.Fatalf("column %s: %v", c.name, err)
		}
		names = append(names, c.name)
		types = append(types, typ)
	}
	return names, types
}

// sample is a JSON input and the text PostgreSQL shows for the stored value
// (col::text); "NULL" for SQL NULL.
type sample struct{ in, want string }

// TestRoundTrip writes coerced values with binary COPY into a table with a
// column of every supported type and reads them back as text: the values
// PostgreSQL stored must be the ones the JSON meant.
func TestRoundTrip(t *testing.T) {
	conn, schema := testConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if _, err := conn.Exec(ctx, "create type order_status as enum ('new', 'paid', 'shipped')"); err != nil {
		t.Fatal(err)
	}
	haveCitext := true
	if _, err := conn.Exec(ctx, "create extension if not exists citext schema "+schema); err != nil {
		t.Logf("citext not available, its columns are left out: %v", err)
		haveCitext = false
	}

	columns := []struct {
		ddl     string
		samples []sample
	}{
		{"int2", []sample{{`32767`, "32767"}, {`-32768`, "-32768"}, {`"42"`, "42"}, {`1e3`, "1000"}, {`5.0`, "5"}}},
		{"int4", []sample{{`2147483647`, "2147483647"}, {`-2147483648`, "-2147483648"}}},
		{"int8", []sample{{`9223372036854775807`, "9223372036854775807"}, {`-9223372036854775808`, "-9223372036854775808"}, {`9.2e18`, "9200000000000000000"}}},
		{"numeric", []sample{
			{`0.1`, "0.1"},
			{`123456789012345678901234567890.123456789`, "123456789012345678901234567890.123456789"},
			{`-0.000001`, "-0.000001"},
			{`1e-20`, "0.00000000000000000001"},
			{`1E+5`, "100000"},
			{`1.50`, "1.50"},
			{`0.00`, "0.00"},
			{`-0`, "0"},
			{`"NaN"`, "NaN"},
			{`"Infinity"`, "Infinity"},
			{`"-Infinity"`, "-Infinity"},
			{`-99999999999999999999.5`, "-99999999999999999999.5"},
		}},
		{"numeric(10,2)", []sample{
			{`12345678.994`, "12345678.99"},
			{`-12345678.994`, "-12345678.99"},
			{`0.005`, "0.01"},
			{`-0.005`, "-0.01"},
			{`12`, "12.00"},
			{`"NaN"`, "NaN"},
			{`99999999.99`, "99999999.99"},
		}},
		{"numeric(3,-1)", []sample{{`1234`, "1230"}, {`5`, "10"}, {`4`, "0"}}},
		{"real", []sample{{`1.5`, "1.5"}, {`0.1`, "0.1"}, {`3.4028235e38`, "3.4028235e+38"}, {`1e-45`, "1e-45"}, {`"NaN"`, "NaN"}, {`"-Infinity"`, "-Infinity"}}},
		{"double precision", []sample{{`0.1`, "0.1"}, {`1e308`, "1e+308"}, {`-2.5e-3`, "-0.0025"}, {`"Infinity"`, "Infinity"}}},
		{"text", []sample{{`"héllo"`, "héllo"}, {`42.50`, "42.50"}, {`true`, "true"}, {`{"a": [1, "x\u0000"]}`, `{"a":[1,"x\u0000"]}`}, {`""`, ""}}},
		{"varchar(5)", []sample{{`"héllö"`, "héllö"}, {`"日本語日本"`, "日本語日本"}, {`"abcde   "`, "abcde"}, {`"😀😀😀😀😀"`, "😀😀😀😀😀"}}},
		{"char(3)", []sample{{`"ab"`, "ab"}, {`"abc  "`, "abc"}}},
		{"name", []sample{{`"` + strings.Repeat("n", 63) + `"`, strings.Repeat("n", 63)}}},
		{"boolean", []sample{{`true`, "true"}, {`"f"`, "false"}, {`1`, "true"}, {`"NO"`, "false"}}},
		{"timestamptz", []sample{
			{`"2024-01-02T03:04:05.123456789+02:00"`, "2024-01-02 01:04:05.123457+00"},
			{`"2024-01-02T03:04:05.1234565Z"`, "2024-01-02 03:04:05.123456+00"},
			{`"2024-02-29 12:00:00z"`, "2024-02-29 12:00:00+00"},
			{`"2016-12-31T23:59:60Z"`, "2017-01-01 00:00:00+00"},
			{`-1`, "1969-12-31 23:59:59.999+00"},
			{`1700000000000`, "2023-11-14 22:13:20+00"},
			{`-210866803200000`, "4714-11-24 00:00:00+00 BC"},
			{`9224318015999999`, "294276-12-31 23:59:59.999+00"},
			{`"0001-01-01T00:00:00+01:00"`, "0001-12-31 23:00:00+00 BC"},
		}},
		{"timestamp", []sample{
			{`"2024-01-02T03:04:05"`, "2024-01-02 03:04:05"},
			{`"2024-01-02T03:04:05.5+02:00"`, "2024-01-02 01:04:05.5"},
			{`1700000000000`, "2023-11-14 22:13:20"},
		}},
		{"date", []sample{{`"2024-02-29"`, "2024-02-29"}, {`"0001-01-01"`, "0001-01-01"}, {`"9999-12-31"`, "9999-12-31"}}},
		{"uuid", []sample{
			{`"123E4567-E89B-12D3-A456-426614174000"`, "123e4567-e89b-12d3-a456-426614174000"},
			{`"{123e4567e89b12d3a456426614174000}"`, "123e4567-e89b-12d3-a456-426614174000"},
		}},
		{"json", []sample{{`{"b": 1, "a": [true, null]}`, `{"b":1,"a":[true,null]}`}, {`"\u0000"`, `"\u0000"`}, {`"str"`, `"str"`}, {`1.50`, `1.50`}}},
		{"jsonb", []sample{{`{"b": 1, "a": "é\n"}`, `{"a": "é\n", "b": 1}`}, {`[1, 2.50]`, `[1, 2.50]`}, {`"x"`, `"x"`}, {`false`, `false`}}},
		{"bytea", []sample{{`"AQID"`, `\x010203`}, {`""`, `\x`}, {`"-_8"`, `\xfbff`}}},
		{"order_status", []sample{{`"paid"`, "paid"}, {`"new"`, "new"}}},
		{"int4[]", []sample{{`[1, null, 3]`, "{1,NULL,3}"}, {`[]`, "{}"}, {`[2147483647]`, "{2147483647}"}}},
		{"text[]", []sample{{`["a", "b c", null, "\""]`, `{a,"b c",NULL,"\""}`}}},
		{"uuid[]", []sample{{`["123e4567-e89b-12d3-a456-426614174000", null]`, "{123e4567-e89b-12d3-a456-426614174000,NULL}"}}},
		{"order_status[]", []sample{{`["new", "shipped"]`, "{new,shipped}"}, {`[]`, "{}"}, {`["paid", null]`, "{paid,NULL}"}}},
		{"varchar(5)[]", []sample{{`["héllö", "abcde  "]`, "{héllö,abcde}"}}},
		{"numeric(4,1)[]", []sample{{`[1.25, null, "-1"]`, "{1.3,NULL,-1.0}"}}},
		{"jsonb[]", []sample{{`[{"a": 1}]`, `{"{\"a\": 1}"}`}}},
		{"timestamptz[]", []sample{{`[0]`, `{"1970-01-01 00:00:00+00"}`}}},
		{"bytea[]", []sample{{`["AQID"]`, `{"\\x010203"}`}}},
	}
	if haveCitext {
		columns = append(columns,
			struct {
				ddl     string
				samples []sample
			}{"citext", []sample{{`"MiXeD"`, "MiXeD"}}},
			struct {
				ddl     string
				samples []sample
			}{"citext[]", []sample{{`["A", null]`, "{A,NULL}"}}},
		)
	}

	var ddl strings.Builder
	ddl.WriteString("create temp table rt (id int4")
	nrows := 0
	for i, c := range columns {
		fmt.Fprintf(&ddl, ", c%d %s", i, c.ddl)
		nrows = max(nrows, len(c.samples))
	}
	ddl.WriteString(")")
	if _, err := conn.Exec(ctx, ddl.String()); err != nil {
		t.Fatal(err)
	}
	names, types := readCatalog(ctx, t, conn, "rt")
	for _, typ := range types {
		coerce.Register(conn.TypeMap(), typ)
	}

	rows := make([][]any, nrows)
	for r := range rows {
		rows[r] = make([]any, len(names))
		rows[r][0] = int32(r)
		for i, c := range columns {
			in := "null"
			if r < len(c.samples) {
				in = c.samples[r].in
			}
			v, err := types[i+1].FromJSON(parseJSON(t, in))
			if err != nil {
				t.Fatalf("%s: FromJSON(%s): %v", types[i+1].Name, in, err)
			}
			rows[r][i+1] = v
		}
	}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"rt"}, names, pgx.CopyFromRows(rows))
	if err != nil {
		t.Fatalf("binary COPY: %v", err)
	}
	if n != int64(nrows) {
		t.Fatalf("COPY wrote %d rows, want %d", n, nrows)
	}

	var sel strings.Builder
	sel.WriteString("select id")
	for i := range columns {
		fmt.Fprintf(&sel, ", c%d::text", i)
	}
	sel.WriteString(" from rt order by id")
	got, err := conn.Query(ctx, sel.String())
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	for got.Next() {
		var id int32
		texts := make([]*string, len(columns))
		dest := []any{&id}
		for i := range texts {
			dest = append(dest, &texts[i])
		}
		if err := got.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		for i, c := range columns {
			in, want := "null", "NULL"
			if int(id) < len(c.samples) {
				in, want = c.samples[id].in, c.samples[id].want
			}
			g := "NULL"
			if texts[i] != nil {
				g = *texts[i]
			}
			if g != want {
				t.Errorf("%s: %s stored as %q, want %q", types[i+1].Name, in, g, want)
			}
		}
	}
	if err := got.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestAgreesWithPostgres checks boundary inputs against PostgreSQL's own
// input functions: FromText must accept exactly the texts PostgreSQL accepts
// as a literal stored into a column of the type.
func TestAgreesWithPostgres(t *testing.T) {
	conn, _ := testConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := conn.Exec(ctx, "create type order_status as enum ('new', 'paid', 'shipped')"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sqlType string
		typ     *coerce.Type
		inputs  []string
	}{
		{"smallint", base(t, "int2", -1, "smallint", 21), []string{"32767", "32768", "-32768", "-32769"}},
		{"bigint", base(t, "int8", -1, "bigint", 20), []string{"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809"}},
		{"numeric(5,2)", base(t, "numeric", numericMod(5, 2), "numeric(5,2)", 1700), []string{"999.994", "999.995", "-999.995", "0.005", "1234.5", "Infinity", "NaN"}},
		{"numeric(2,5)", base(t, "numeric", numericMod(2, 5), "numeric(2,5)", 1700), []string{"0.00099", "0.000994999", "0.00099999", "0.0012"}},
		{"numeric(3,-1)", base(t, "numeric", numericMod(3, -1), "numeric(3,-1)", 1700), []string{"9994", "9995"}},
		{"varchar(5)", base(t, "varchar", varcharMod(5), "character varying(5)", 1043), []string{"héllö", "héllöx", "abcde   ", "abcde  x", "abcde\t"}},
		{"char(3)", base(t, "bpchar", varcharMod(3), "character(3)", 1042), []string{"abc  ", "abcd"}},
		{"real", base(t, "float4", -1, "real", 700), []string{"3.4028235e38", "3.5e38", "1e39", "1e-45", "1e-50", "-Infinity", "nan"}},
		{"double precision", base(t, "float8", -1, "double precision", 701), []string{"1e308", "1e309", "1e-400", "4.9e-324"}},
		{"date", base(t, "date", -1, "date", 1082), []string{"2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "0000-01-01", "0001-01-01"}},
		{"timestamptz", base(t, "timestamptz", -1, "timestamp with time zone", 1184), []string{"2016-12-31T23:59:60Z", "2024-02-30T00:00:00Z", "2024-01-02T03:04:05.999999999+14:00"}},
		{"uuid", base(t, "uuid", -1, "uuid", 2950), []string{"{123e4567e89b12d3a456426614174000}", "123E4567-E89B-12D3-A456-426614174000", "abc"}},
		{"boolean", base(t, "bool", -1, "boolean", 16), []string{"yes", "Off", "T", "maybe"}},
		{"order_status", statusType(t), []string{"paid", "PAID"}},
		{"text", base(t, "text", -1, "text", 25), []string{"héllo", "\xff"}},
	}
	for i, c := range cases {
		// Storing a literal into a column is what COPY does: an explicit cast
		// would differ (it truncates varchar silently).
		table := fmt.Sprintf("agree%d", i)
		if _, err := conn.Exec(ctx, "create temp table "+table+" (c "+c.sqlType+")"); err != nil {
			t.Fatal(err)
		}
		for _, in := range c.inputs {
			_, ourErr := c.typ.FromText(in)
			_, pgErr := conn.Exec(ctx, "insert into "+table+" values ($1)", pgx.QueryExecModeSimpleProtocol, in)
			if (ourErr == nil) != (pgErr == nil) {
				t.Errorf("%s %q: coerce error %v, PostgreSQL error %v", c.sqlType, in, ourErr, pgErr)
			}
		}
	}
}
