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

func tod(h, m, s, us int64) pgtype.Time {
	return pgtype.Time{Microseconds: ((h*60+m)*60+s)*1_000_000 + us, Valid: true}
}

func TestTime(t *testing.T) {
	typ := base(t, "time", -1, "time without time zone", pgtype.TimeOID)
	const notTime = " is not a valid time without time zone (want HH:MM[:SS[.fraction]])"
	const timeRange = " out of range for time without time zone (00:00:00 to 24:00:00)"
	checkJSON(t, typ, []ok{
		{`"12:34:56"`, tod(12, 34, 56, 0)},
		{`"12:34"`, tod(12, 34, 0, 0)},
		{`"00:00"`, tod(0, 0, 0, 0)},
		{`"00:00:00.000001"`, tod(0, 0, 0, 1)},
		{`"12:00:00.5"`, tod(12, 0, 0, 500000)},
		{`"24:00:00"`, tod(24, 0, 0, 0)},
		{`"24:00"`, tod(24, 0, 0, 0)},
		{`"23:59:60"`, tod(24, 0, 0, 0)}, // a leap second is the next minute, as in PostgreSQL
		{`"12:59:60.25"`, tod(13, 0, 0, 250000)},
		// Rounded to microseconds as PostgreSQL rounds: half to even of
		// the double value.
		{`"12:00:00.123456789"`, tod(12, 0, 0, 123457)},
		{`"00:00:00.1234565"`, tod(0, 0, 0, 123456)},
		{`"00:00:00.1234575"`, tod(0, 0, 0, 123458)},
		{`"00:00:00.0000025"`, tod(0, 0, 0, 2)},
		{`"23:59:59.9999995"`, tod(24, 0, 0, 0)},
		{`"24:00:00.0000004"`, tod(24, 0, 0, 0)},
	}, []bad{
		{`"24:00:00.000001"`, `"24:00:00.000001"` + timeRange},
		{`"23:59:60.5"`, `"23:59:60.5"` + timeRange},
		{`"25:00:00"`, `"25:00:00"` + timeRange},
		{`"12:60:00"`, `"12:60:00"` + timeRange},
		{`"12:00:61"`, `"12:00:61"` + timeRange},
		{`"99:99"`, `"99:99"` + timeRange},
		{`"1:02:03"`, `"1:02:03"` + notTime},
		{`"12:34.5"`, `"12:34.5"` + notTime}, // PostgreSQL reads this as 00:12:34.5
		{`"12:34:56."`, `"12:34:56."` + notTime},
		{`"12:34:56.1234567890"`, `"12:34:56.1234567890"` + notTime},
		{`"12:34:5"`, `"12:34:5"` + notTime},
		{`"12:34:56Z"`, `"12:34:56Z"` + notTime},
		{`"12:34:56+02"`, `"12:34:56+02"` + notTime},
		{`"12:34:56 "`, `"12:34:56 "` + notTime},
		{`"1a:00"`, `"1a:00"` + notTime},
		{`"12h34"`, `"12h34"` + notTime},
		{`""`, `""` + notTime},
		{`43200`, `want an "HH:MM:SS" string for time without time zone, got a number 43200`},
	})
	checkText(t, typ, []ok{{"08:15:00", tod(8, 15, 0, 0)}}, []bad{{"8:15", `"8:15"` + notTime}})
}

func TestTimePrecision(t *testing.T) {
	t0 := base(t, "time", 0, "time(0) without time zone", pgtype.TimeOID)
	checkText(t, t0, []ok{
		{"23:59:59.5", tod(24, 0, 0, 0)},
		{"12:00:00.4999", tod(12, 0, 0, 0)},
		{"12:00:00.5", tod(12, 0, 1, 0)},
		{"24:00:00", tod(24, 0, 0, 0)},
	}, nil)
	t3 := base(t, "time", 3, "time(3) without time zone", pgtype.TimeOID)
	checkText(t, t3, []ok{
		{"12:00:00.0005", tod(12, 0, 0, 1000)},
		{"12:00:00.0004994", tod(12, 0, 0, 0)},
		{"12:00:00.0004999", tod(12, 0, 0, 1000)}, // to 500µs first, then up: as PostgreSQL does
		{"12:00:00.4999", tod(12, 0, 0, 500000)},
		{"23:59:59.9996", tod(24, 0, 0, 0)},
	}, nil)
	t6 := base(t, "time", 6, "time(6) without time zone", pgtype.TimeOID)
	checkText(t, t6, []ok{{"12:00:00.000001", tod(12, 0, 0, 1)}}, nil)
}
