package coerce_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

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

// testConn connects with the session time zone set to UTC and the interval
// style to postgres, so that timestamptz and interval text is stable, and creates a schema of its own, dropped when
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
	cfg.RuntimeParams["intervalstyle"] = "postgres" // the default; interval text below is in this style
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
		{"time", []sample{
			{`"12:34:56.789"`, "12:34:56.789"},
			{`"24:00"`, "24:00:00"},
			{`"23:59:59.9999995"`, "24:00:00"},
			{`"00:00"`, "00:00:00"},
			{`"00:00:00.1234565"`, "00:00:00.123456"},
			{`"23:59:60"`, "24:00:00"},
		}},
		{"time(0)", []sample{{`"12:00:00.5"`, "12:00:01"}, {`"23:59:59.5"`, "24:00:00"}}},
		{"interval", []sample{
			{`"3600.5s"`, "01:00:00.5"},
			{`"-0.000001s"`, "-00:00:00.000001"},
			{`"P1Y2M3DT4H5M6.5S"`, "1 year 2 mons 3 days 04:05:06.5"},
			{`"1 day 02:03:04"`, "1 day 02:03:04"},
			{`"-00:00:01.5"`, "-00:00:01.5"},
			{`"3 mons 2 days"`, "3 mons 2 days"},
			{`"1 year"`, "1 year"},
			{`1500`, "00:00:01.5"},
			{`-86400000`, "-24:00:00"},
			{`"1 year 2 mons -3 days +04:05:06.789"`, "1 year 2 mons -3 days +04:05:06.789"},
			{`"P-1Y-2M3W"`, "-1 years -2 mons +21 days"},
			{`"2562047788:00:54.775807"`, "2562047788:00:54.775807"},
			{`"-178956970 years -8 mons -2147483648 days -2562047788 hours -54.775807 secs"`, "-178956970 years -8 mons -2147483648 days -2562047788:00:54.775807"},
		}},
		{"interval(0)", []sample{{`"1.5s"`, "00:00:02"}, {`"-2.5s"`, "-00:00:03"}, {`1499`, "00:00:01"}}},
		{"interval hour to minute", []sample{{`"1 day 02:03:04.5"`, "1 day 02:03:00"}, {`"P1Y2M"`, "1 year 2 mons"}}},
		{"interval year", []sample{{`"1 year 11 mons 3 days 04:00:00"`, "1 year"}}},
		{"time(3)[]", []sample{{`["12:00:00.0005", null, "24:00"]`, "{12:00:00.001,NULL,24:00:00}"}}},
		{"interval[]", []sample{{`["1 day", null, 1500, "PT1M"]`, `{"1 day",NULL,00:00:01.5,00:01:00}`}}},
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

// TestTimeIntervalAgreeWithPostgres checks time and interval text against
// PostgreSQL's own input functions: for each input, FromText accepts it
// exactly when PostgreSQL accepts it as a literal stored into a column of
// the type (except for the forms listed as rejected on purpose), and the
// value FromText returns, written in binary, is stored exactly as the
// literal is.
func TestTimeIntervalAgreeWithPostgres(t *testing.T) {
	conn, _ := testConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cases := []struct {
		sqlType string
		typ     *coerce.Type
		inputs  []string
		// stricter are inputs PostgreSQL accepts that FromText rejects on
		// purpose (documented in the package documentation).
		stricter []string
	}{
		{"time", base(t, "time", -1, "time without time zone", pgtype.TimeOID), []string{
			"12:34:56", "12:34", "00:00", "24:00:00", "24:00", "23:59:60", "12:59:60.25", "23:59:60.5",
			"24:00:00.000001", "24:00:00.0000004", "24:00:00.0000005", "23:59:59.9999995", "23:59:59.9999994",
			"00:00:00.1234565", "00:00:00.1234575", "00:00:00.0000025", "00:00:00.0000015", "12:00:00.123456789",
			"00:00:00.000000001", "00:00:00.999999999", "12:60:00", "25:00:00", "12:00:61", "99:99",
		}, []string{"1:02:03", "12:34.5", "12:34:56+02", "04:05 PM", "allballs", "T12:34:56", "12:34:56.1234567890"}},
		{"time(0)", base(t, "time", 0, "time(0) without time zone", pgtype.TimeOID), []string{
			"23:59:59.5", "12:00:00.4999", "12:00:00.5", "00:00:00.4999999",
		}, nil},
		{"time(3)", base(t, "time", 3, "time(3) without time zone", pgtype.TimeOID), []string{
			"12:00:00.0005", "12:00:00.0004999", "12:00:00.0004994", "23:59:59.9996", "23:59:59.9994",
		}, nil},
		{"interval", base(t, "interval", -1, "interval", pgtype.IntervalOID), []string{
			"3600.5s", "-0.000001s", "0s", "-0.5s", "315576000000.999999999s",
			"0.0000005s", "0.0000015s", "0.0000025s", "1.0000005s", "-1.0000005s", "0.9999995s", "0.000000001s",
			"123456789.1234565s", "PT123456789.1234565S", "123456789.1234565 seconds", "0.1234565 hours",
			"PT0.1234565H", "1.999999999 minutes", "PT1.999999999M", "PT-0.0000005S", "PT-0.0000015S",
			"P1Y2M3DT4H5M6.5S", "P-1Y-2M", "PT-1.5S", "P1W", "P1Y2M3W4D", "PT1.5H", "PT1.123456789H",
			"PT36H", "P0D", "PT0S", "P-1W-1D", "P1Y-13M", "PT1H-61M",
			"1 day 02:03:04", "-00:00:01.5", "3 mons 2 days", "1 year", "1 years", "1 mon", "2 months",
			"1 year 2 mons -3 days +04:05:06.789", "-1 years -2 mons +3 days -04:05:06.789", "1 day -00:00:01",
			"00:00:00", "100:00:00", "01:02:60", "+01:02:03", "00:00:00.0000005", "00:00:00.0000015",
			"00:00:00.0000025", "00:00:00.999999999", "2 weeks", "1 WEEK 1 Day", "90 minutes", "90 mins",
			"1.5 hours", "1 month 1 hour 1 min 1.5 secs", "+3 days", "-0.5 hours", "0.5 minutes -30 seconds",
			"01:60:00", "00:00:61", "1 hour 00:30:00", "1 mon 1 month",
			"9223372036854.775807 seconds", "9223372036854.775808 seconds", "-9223372036854.775808 seconds",
			"-9223372036854.775809s", "9223372036855s", "99999999999999999999999s",
			"2147483647 days", "2147483648 days", "-2147483648 days", "-2147483649 days",
			"306783378 weeks", "306783379 weeks", "2147483647 mons", "2147483648 mons",
			"178956970 years 7 mons", "178956970 years 8 mons", "-178956970 years -8 mons", "-178956970 years -9 mons",
			"P178956970Y7M", "P178956971Y-5M", "P178956971Y", "PT2562047788H54.775807S", "PT2562047788H54.775808S",
			"PT-2562047788H-54.775808S", "PT2562047789H-3545.224193S", "2562047789 hours -3545.224193 seconds",
			"2562047788:00:54.775807", "2562047788:00:54.775808", "-2562047788:00:54.775808",
			// Added from the right, as PostgreSQL adds them: no overflow.
			"2562047788 hours 1 min -100 seconds",
			"P1000000000000000D", "PT1000000000000000S", "PT1000000000000001S", "P2147483648D",
			"1 fortnight", "",
		}, []string{
			"1500", "1.5", "-1", "1 day 5", "P0.5D", "P1.5M", "P0.5Y", "P1.0W", "1.5 days", "0.5 years",
			"P1DT", "PT", "P1D1Y", "PT1S1H", "@ 1 day", "1 day ago", "1:30", "1 day  2 hours", " 1 day",
			"1day", "+1.5s", ".5s", "1 d", "1 s", "5 milliseconds", "1 decade", "P0001-02-03T04:05:06",
			"1-2", "1.1234567891s", "PT1.1234567891S", "01:00:00 1 day", "1h30m",
		}},
		{"interval(0)", base(t, "interval", intervalMod(ivFull, 0), "interval(0)", pgtype.IntervalOID), []string{
			"1.5s", "-1.5s", "0.4999s", "2.5s", "-2.5s", "1 day 00:00:00.5", "PT0.5S",
		}, nil},
		{"interval(2)", base(t, "interval", intervalMod(ivFull, 2), "interval(2)", pgtype.IntervalOID), []string{
			"0.005s", "-0.005s", "-0.00499s", "1 mon 00:00:00.125",
		}, nil},
		{"interval hour to minute", base(t, "interval", intervalMod(ivHour|ivMinute, ivNoPrec), "interval hour to minute", pgtype.IntervalOID), []string{
			"1 day 02:03:04.5", "-02:03:59", "1 year 2 hours 30 mins", "PT1H59M59.999S",
		}, nil},
		{"interval year", base(t, "interval", intervalMod(ivYear, ivNoPrec), "interval year", pgtype.IntervalOID), []string{
			"1 year 11 mons 3 days 04:00:00", "-1 years -11 mons", "P1Y11M", "P-23M",
		}, nil},
		{"interval day to second(3)", base(t, "interval", intervalMod(ivDay|ivHour|ivMinute|ivSecond, 3), "interval day to second(3)", pgtype.IntervalOID), []string{
			"P1DT0.0015S", "1 day 00:00:00.0015", "0.0025s", "-0.0025s", "1 mon 1 day",
		}, nil},
	}
	for i, c := range cases {
		table := fmt.Sprintf("agree_ti%d", i)
		if _, err := conn.Exec(ctx, "create temp table "+table+" (id int4, lit "+c.sqlType+", bin "+c.sqlType+")"); err != nil {
			t.Fatal(err)
		}
		check := func(id int, in string, stricter bool) {
			t.Helper()
			ours, ourErr := c.typ.FromText(in)
			_, pgErr := conn.Exec(ctx, "insert into "+table+" (id, lit) values ($1, $2)", pgx.QueryExecModeSimpleProtocol, id, in)
			switch {
			case stricter:
				if ourErr == nil || pgErr != nil {
					t.Errorf("%s %q: listed as rejected on purpose and accepted by PostgreSQL, but coerce error %v, PostgreSQL error %v", c.sqlType, in, ourErr, pgErr)
				}
				return
			case (ourErr == nil) != (pgErr == nil):
				t.Errorf("%s %q: coerce error %v, PostgreSQL error %v", c.sqlType, in, ourErr, pgErr)
				return
			case ourErr != nil:
				return
			}
			if _, err := conn.Exec(ctx, "update "+table+" set bin = $1 where id = $2", ours, id); err != nil {
				t.Errorf("%s %q: writing %s in binary: %v", c.sqlType, in, show(ours), err)
				return
			}
			lit, bin := reflect.New(reflect.TypeOf(ours)), reflect.New(reflect.TypeOf(ours))
			if err := conn.QueryRow(ctx, "select lit, bin from "+table+" where id = $1", id).Scan(lit.Interface(), bin.Interface()); err != nil {
				t.Fatal(err)
			}
			l, b := lit.Elem().Interface(), bin.Elem().Interface()
			if !same(ours, l) || !same(b, l) {
				t.Errorf("%s %q: PostgreSQL stores the literal as %s; coerce gives %s, stored as %s", c.sqlType, in, show(l), show(ours), show(b))
			}
		}
		for j, in := range c.inputs {
			check(j, in, false)
		}
		for j, in := range c.stricter {
			check(len(c.inputs)+j, in, true)
		}
	}
}

// randomIntervalText returns interval text of a random accepted shape (a
// Protobuf duration, ISO 8601, or PostgreSQL's style), with numbers from
// small to beyond every field and fractions rich in 0, 5 and 9 digits, where
// rounding differs.
func randomIntervalText(r *rand.Rand) string {
	num := func(frac bool, signs string) string {
		var sb strings.Builder
		if r.IntN(3) == 0 {
			sb.WriteByte(signs[r.IntN(len(signs))])
		}
		sb.WriteString(strconv.FormatInt([]int64{r.Int64N(100), r.Int64N(1e7), r.Int64N(1e13), r.Int64()}[r.IntN(4)], 10))
		if frac && r.IntN(2) == 0 {
			sb.WriteByte('.')
			for range 1 + r.IntN(9) {
				sb.WriteByte("0123456789000555999"[r.IntN(19)])
			}
		}
		return sb.String()
	}
	var sb strings.Builder
	switch r.IntN(3) {
	case 0:
		return num(true, "-") + "s"
	case 1:
		sb.WriteByte('P')
		for _, d := range "YMWD" {
			if r.IntN(2) == 0 {
				sb.WriteString(num(false, "-") + string(d))
			}
		}
		if sb.Len() == 1 || r.IntN(2) == 0 {
			sb.WriteString("T" + num(true, "-") + "S")
		}
		return sb.String()
	}
	clock := r.IntN(2) == 0
	for i, u := range []string{"years", "mons", "weeks", "days", "hours", "mins", "secs"} {
		if clock && i >= 4 {
			break
		}
		if r.IntN(2) == 0 {
			sb.WriteString(num(i >= 4, "+-") + " " + u + " ")
		}
	}
	if clock || sb.Len() == 0 {
		fmt.Fprintf(&sb, "%s%02d:%02d:%02d", []string{"", "-", "+"}[r.IntN(3)], r.Int64N(3e9), r.IntN(60), r.IntN(61))
		if r.IntN(2) == 0 {
			sb.WriteString("." + strconv.Itoa(1e9 + r.IntN(1e9))[1:2+r.IntN(9)])
		}
	}
	return strings.TrimSuffix(sb.String(), " ")
}

// TestIntervalRandomAgreesWithPostgres compares random interval texts of the
// accepted shapes with PostgreSQL's input function, with and without
// typmods: the same texts accepted, to the same values.
func TestIntervalRandomAgreesWithPostgres(t *testing.T) {
	conn, _ := testConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := rand.New(rand.NewPCG(2024, 5))
	for _, c := range []struct {
		sqlType string
		typmod  int32
	}{
		{"interval", -1},
		{"interval(0)", intervalMod(ivFull, 0)},
		{"interval(4)", intervalMod(ivFull, 4)},
		{"interval hour to minute", intervalMod(ivHour|ivMinute, ivNoPrec)},
		{"interval day", intervalMod(ivDay, ivNoPrec)},
		{"interval year", intervalMod(ivYear, ivNoPrec)},
	} {
		typ := base(t, "interval", c.typmod, c.sqlType, pgtype.IntervalOID)
		accepted := 0
		for range 500 {
			in := randomIntervalText(r)
			ours, ourErr := typ.FromText(in)
			var pg pgtype.Interval
			pgErr := conn.QueryRow(ctx, "select $1::text::"+c.sqlType, in).Scan(&pg)
			switch {
			case (ourErr == nil) != (pgErr == nil):
				t.Errorf("%s %q: coerce error %v, PostgreSQL error %v", c.sqlType, in, ourErr, pgErr)
			case ourErr == nil && ours != pg:
				t.Errorf("%s %q: coerce gives %+v, PostgreSQL %+v", c.sqlType, in, ours, pg)
			case ourErr == nil:
				accepted++
			}
		}
		t.Logf("%s: %d of 500 random inputs accepted, to PostgreSQL's values", c.sqlType, accepted)
		if accepted < 100 {
			t.Errorf("%s: only %d of 500 random inputs accepted: the generator does not exercise the parser", c.sqlType, accepted)
		}
	}
}
