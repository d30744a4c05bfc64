package coerce_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestTimestamptz(t *testing.T) {
	typ := base(t, "timestamptz", -1, "timestamp with time zone", pgtype.TimestamptzOID)
	checkJSON(t, typ, []ok{
		{`"2024-01-02T03:04:05Z"`, utc(2024, 1, 2, 3, 4, 5, 0)},
		{`"2024-01-02t03:04:05z"`, utc(2024, 1, 2, 3, 4, 5, 0)},
		{`"2024-01-02 03:04:05+02:00"`, utc(2024, 1, 2, 1, 4, 5, 0)},
		{`"2024-01-02T03:04:05-05:30"`, utc(2024, 1, 2, 8, 34, 5, 0)},
		{`"2024-01-02T03:04:05.5Z"`, utc(2024, 1, 2, 3, 4, 5, 500000000)},
		{`"2024-01-02T03:04:05.123456Z"`, utc(2024, 1, 2, 3, 4, 5, 123456000)},
		// Rounded to microseconds as PostgreSQL's own input rounds them.
		{`"2024-01-02T03:04:05.123456789Z"`, utc(2024, 1, 2, 3, 4, 5, 123457000)},
		{`"2024-01-02T03:04:05.1234565Z"`, utc(2024, 1, 2, 3, 4, 5, 123456000)},
		{`"2024-12-31T23:59:59.9999999Z"`, utc(2025, 1, 1, 0, 0, 0, 0)},
		{`"2024-02-29T00:00:00Z"`, utc(2024, 2, 29, 0, 0, 0, 0)},
		{`"2000-02-29T00:00:00Z"`, utc(2000, 2, 29, 0, 0, 0, 0)},
		{`"2016-12-31T23:59:60Z"`, utc(2017, 1, 1, 0, 0, 0, 0)},
		{`"0001-01-01T00:00:00+01:00"`, utc(0, 12, 31, 23, 0, 0, 0)},
		{`1700000000000`, time.UnixMilli(1700000000000).UTC()},
		{`1.7e12`, time.UnixMilli(1700000000000).UTC()},
		{`-1`, utc(1969, 12, 31, 23, 59, 59, 999000000)},
		{`0`, utc(1970, 1, 1, 0, 0, 0, 0)},
		{`"1700000000123"`, utc(2023, 11, 14, 22, 13, 20, 123000000)},
		{`-210866803200000`, utc(-4713, 11, 24, 0, 0, 0, 0)},
		{`9224318015999999`, utc(294276, 12, 31, 23, 59, 59, 999000000)},
	}, []bad{
		{`"2024-01-02T03:04:05"`, `"2024-01-02T03:04:05" has no time zone offset`},
		{`"2024-13-01"`, `"2024-13-01" is not an RFC 3339 timestamp`},
		{`"2024-13-01T00:00:00Z"`, `"2024-13-01T00:00:00Z" is not an RFC 3339 timestamp`},
		{`"2023-02-29T00:00:00Z"`, `"2023-02-29T00:00:00Z" is not an RFC 3339 timestamp`},
		{`"1900-02-29T00:00:00Z"`, `"1900-02-29T00:00:00Z" is not an RFC 3339 timestamp`},
		{`"2024-01-02T24:00:00Z"`, `"2024-01-02T24:00:00Z" is not an RFC 3339 timestamp`},
		{`"2024-01-02T03:04:61Z"`, `"2024-01-02T03:04:61Z" is not an RFC 3339 timestamp`},
		{`"2024-01-02T03:04:05.Z"`, `"2024-01-02T03:04:05.Z" is not an RFC 3339 timestamp`},
		{`"2024-01-02T03:04:05.1234567890Z"`, `"2024-01-02T03:04:05.1234567890Z" is not an RFC 3339 timestamp`},
		{`"2024-01-02T03:04:05+0200"`, `"2024-01-02T03:04:05+0200" is not an RFC 3339 timestamp`},
		{`"2024-01-02T03:04:05+24:00"`, `"2024-01-02T03:04:05+24:00" is not an RFC 3339 timestamp`},
		{`"2024-01-02T03:04:05 Z"`, `"2024-01-02T03:04:05 Z" is not an RFC 3339 timestamp`},
		{`"0000-01-01T00:00:00Z"`, `"0000-01-01T00:00:00Z" is not an RFC 3339 timestamp`},
		{`"2024-1-2T03:04:05Z"`, `"2024-1-2T03:04:05Z" is not an RFC 3339 timestamp`},
		{`""`, `"" is not an RFC 3339 timestamp`},
		{`"-"`, `"-" is not an RFC 3339 timestamp`},
		{`1.5`, `value 1.5 is not a whole number of epoch milliseconds`},
		{`-210866803200001`, `value -210866803200001 (epoch milliseconds) out of range for timestamp with time zone`},
		{`9224318016000000`, `value 9224318016000000 (epoch milliseconds) out of range for timestamp with time zone`},
		{`1e30`, `value 1e30 (epoch milliseconds) out of range for timestamp with time zone`},
		{`true`, `want an RFC 3339 string or epoch milliseconds for timestamp with time zone, got a boolean true`},
	})
	checkText(t, typ, []ok{
		{"2024-01-02T03:04:05Z", utc(2024, 1, 2, 3, 4, 5, 0)},
		{"1700000000000", time.UnixMilli(1700000000000).UTC()},
		{"-1", utc(1969, 12, 31, 23, 59, 59, 999000000)},
	}, []bad{
		{"2024-01-02 03:04:05", `"2024-01-02 03:04:05" has no time zone offset`},
		{"1.7e12", `"1.7e12" is not an RFC 3339 timestamp`},
		{"99999999999999999999", `value 99999999999999999999 (epoch milliseconds) out of range for timestamp with time zone`},
	})
}

func TestTimestamp(t *testing.T) {
	typ := base(t, "timestamp", -1, "timestamp without time zone", pgtype.TimestampOID)
	checkJSON(t, typ, []ok{
		{`"2024-01-02T03:04:05"`, utc(2024, 1, 2, 3, 4, 5, 0)},
		{`"2024-01-02 03:04:05.000001"`, utc(2024, 1, 2, 3, 4, 5, 1000)},
		{`"2024-01-02T03:04:05+02:00"`, utc(2024, 1, 2, 1, 4, 5, 0)},
		{`"2024-01-02T03:04:05Z"`, utc(2024, 1, 2, 3, 4, 5, 0)},
		{`-86400000`, utc(1969, 12, 31, 0, 0, 0, 0)},
	}, []bad{
		{`"2024-01-02"`, `"2024-01-02" is not an RFC 3339 timestamp`},
		{`9224318016000000`, `value 9224318016000000 (epoch milliseconds) out of range for timestamp without time zone`},
	})
}

func TestDate(t *testing.T) {
	typ := base(t, "date", -1, "date", pgtype.DateOID)
	checkJSON(t, typ, []ok{
		{`"2024-02-29"`, utc(2024, 2, 29, 0, 0, 0, 0)},
		{`"0001-01-01"`, utc(1, 1, 1, 0, 0, 0, 0)},
		{`"9999-12-31"`, utc(9999, 12, 31, 0, 0, 0, 0)},
	}, []bad{
		{`"2023-02-29"`, `"2023-02-29" is not a valid date (want YYYY-MM-DD)`},
		{`"2024-04-31"`, `"2024-04-31" is not a valid date (want YYYY-MM-DD)`},
		{`"2024-1-2"`, `"2024-1-2" is not a valid date (want YYYY-MM-DD)`},
		{`"2024-01-02T00:00:00Z"`, `"2024-01-02T00:00:00Z" is not a valid date (want YYYY-MM-DD)`},
		{`"0000-01-01"`, `"0000-01-01" is not a valid date (want YYYY-MM-DD)`},
		{`20240101`, `want a "YYYY-MM-DD" string for date, got a number 20240101`},
	})
	checkText(t, typ, []ok{{"2024-02-29", utc(2024, 2, 29, 0, 0, 0, 0)}}, []bad{
		{"2024-02-30", `"2024-02-30" is not a valid date (want YYYY-MM-DD)`},
	})
}
