package coerce_test

import (
	"math"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kafka2pg/kafka2pg/internal/coerce"
)

// Interval typmods: the field mask (bits as in PostgreSQL's dt.h) in the
// high 16 bits, the precision in the low 16 (0xffff: none).
const (
	ivFull   = 0x7fff
	ivYear   = 1 << 2
	ivDay    = 1 << 3
	ivHour   = 1 << 10
	ivMinute = 1 << 11
	ivSecond = 1 << 12
	ivNoPrec = 0xffff
)

func intervalMod(fields, precision int32) int32 { return fields<<16 | precision }

func iv(months, days int32, usec int64) pgtype.Interval {
	return pgtype.Interval{Microseconds: usec, Days: days, Months: months, Valid: true}
}

// microseconds
const (
	usSec  = 1_000_000
	usMin  = 60 * usSec
	usHour = 60 * usMin
)

func TestInterval(t *testing.T) {
	typ := base(t, "interval", -1, "interval", pgtype.IntervalOID)
	const notIv = ` is not a valid interval (want e.g. "90s", "PT1H30M" or "1 day 02:00:00")`
	const ivRange = " out of range for interval"
	const noUnit = ` has no unit (want e.g. "90s" or "90 seconds")`
	const ivFrac = ": only hours, minutes and seconds may have a fraction"
	checkJSON(t, typ, []ok{
		// Protobuf JSON durations.
		{`"3600.5s"`, iv(0, 0, 3600*usSec+500000)},
		{`"-0.000001s"`, iv(0, 0, -1)},
		{`"0s"`, iv(0, 0, 0)},
		{`"-0.5s"`, iv(0, 0, -500000)},
		{`"315576000000.999999999s"`, iv(0, 0, 315576000000*usSec+1000000)},
		// A fraction of a unit is rounded half toward zero, as PostgreSQL
		// rounds "n.nnn seconds" (its clock form rounds half to even).
		{`"0.0000015s"`, iv(0, 0, 1)},
		{`"1.0000005s"`, iv(0, 0, usSec)},
		{`"-0.0000015s"`, iv(0, 0, -1)},
		// ISO 8601.
		{`"P1Y2M3DT4H5M6.5S"`, iv(14, 3, 4*usHour+5*usMin+6*usSec+500000)},
		{`"P-1Y-2M"`, iv(-14, 0, 0)},
		{`"PT-1.5S"`, iv(0, 0, -1500000)},
		{`"P1W"`, iv(0, 7, 0)},
		{`"P1Y2M3W4D"`, iv(14, 25, 0)},
		{`"PT1.5H"`, iv(0, 0, 90*usMin)},
		{`"PT1.123456789H"`, iv(0, 0, 4044444440)},
		{`"PT0.0000015S"`, iv(0, 0, 1)},
		{`"PT36H"`, iv(0, 0, 36*usHour)},
		{`"P0D"`, iv(0, 0, 0)},
		{`"PT2562047788H54.775807S"`, iv(0, 0, math.MaxInt64)},
		// PostgreSQL's output style.
		{`"1 day 02:03:04"`, iv(0, 1, 2*usHour+3*usMin+4*usSec)},
		{`"-00:00:01.5"`, iv(0, 0, -1500000)},
		{`"3 mons 2 days"`, iv(3, 2, 0)},
		{`"1 year"`, iv(12, 0, 0)},
		{`"1 year 2 mons -3 days +04:05:06.789"`, iv(14, -3, 4*usHour+5*usMin+6789000)},
		{`"-1 years -2 mons +3 days -04:05:06.789"`, iv(-14, 3, -(4*usHour + 5*usMin + 6789000))},
		{`"1 day -00:00:01"`, iv(0, 1, -usSec)},
		{`"00:00:00"`, iv(0, 0, 0)},
		{`"100:00:00"`, iv(0, 0, 100*usHour)},
		{`"01:02:60"`, iv(0, 0, 63*usMin)},
		{`"00:00:00.0000015"`, iv(0, 0, 2)},
		{`"2 weeks"`, iv(0, 14, 0)},
		{`"1 WEEK 1 Day"`, iv(0, 8, 0)},
		{`"90 minutes"`, iv(0, 0, 90*usMin)},
		{`"1.5 hours"`, iv(0, 0, 90*usMin)},
		{`"1 month 1 hour 1 min 1.5 secs"`, iv(1, 0, usHour+usMin+1500000)},
		{`"2562047788:00:54.775807"`, iv(0, 0, math.MaxInt64)},
		{`"-2562047788 hours -54.775808 seconds"`, iv(0, 0, math.MinInt64)},
		{`"178956970 years 7 mons"`, iv(math.MaxInt32, 0, 0)},
		{`"-178956970 years -8 mons"`, iv(math.MinInt32, 0, 0)},
		{`"2147483647 days"`, iv(0, math.MaxInt32, 0)},
		{`"178956970 years 7 mons 2147483647 days 2562047788:00:54.775806"`, iv(math.MaxInt32, math.MaxInt32, math.MaxInt64-1)},
		// Milliseconds.
		{`1500`, iv(0, 0, 1500000)},
		{`-1`, iv(0, 0, -1000)},
		{`1.5e3`, iv(0, 0, 1500000)},
		{`0`, iv(0, 0, 0)},
		{`9223372036854775`, iv(0, 0, 9223372036854775000)},
		{`-9223372036854775`, iv(0, 0, -9223372036854775000)},
	}, []bad{
		{`"1500"`, `"1500"` + noUnit},
		{`"1.5"`, `"1.5"` + noUnit},
		{`"1 day 5"`, `"1 day 5"` + noUnit},
		{`""`, `""` + notIv},
		{`"P"`, `"P"` + notIv},
		{`"PT"`, `"PT"` + notIv},
		{`"P1DT"`, `"P1DT"` + notIv},
		{`"P1D1Y"`, `"P1D1Y"` + notIv},
		{`"PT1H1H"`, `"PT1H1H"` + notIv},
		{`"P1H"`, `"P1H"` + notIv},
		{`"PT1D"`, `"PT1D"` + notIv},
		{`"P1DTT1H"`, `"P1DTT1H"` + notIv},
		{`"p1d"`, `"p1d"` + notIv},
		{`"-P1D"`, `"-P1D"` + notIv},
		{`"P+1D"`, `"P+1D"` + notIv},
		{`"P1"`, `"P1"` + notIv},
		{`"P0001-02-03T04:05:06"`, `"P0001-02-03T04:05:06"` + notIv},
		{`"P0.5D"`, `"P0.5D"` + ivFrac},
		{`"P1.0Y"`, `"P1.0Y"` + ivFrac},
		{`"1.5 days"`, `"1.5 days"` + ivFrac},
		{`"0.5 weeks"`, `"0.5 weeks"` + ivFrac},
		{`"1 mon 1 month"`, `"1 mon 1 month"` + notIv},
		{`"1 day 1 year"`, `"1 day 1 year"` + notIv},
		{`"01:00:00 1 day"`, `"01:00:00 1 day"` + notIv},
		{`"1 hour 00:30:00"`, `"1 hour 00:30:00"` + notIv},
		{`"1  day"`, `"1  day"` + notIv},
		{`" 1 day"`, `" 1 day"` + notIv},
		{`"1 day "`, `"1 day "` + notIv},
		{`"@ 1 day"`, `"@ 1 day"` + notIv},
		{`"1 day ago"`, `"1 day ago"` + notIv},
		{`"1 fortnight"`, `"1 fortnight"` + notIv},
		{`"1h30m"`, `"1h30m"` + notIv},
		{`"1.1234567891s"`, `"1.1234567891s"` + notIv},
		{`"+1.5s"`, `"+1.5s"` + notIv},
		{`".5s"`, `".5s"` + notIv},
		{`"1:30"`, `"1:30"` + notIv},
		{`"00:00:00."`, `"00:00:00."` + notIv},
		{`"infinity"`, `"infinity"` + notIv},
		{`"01:60:00"`, `"01:60:00"` + ivRange},
		{`"00:00:61"`, `"00:00:61"` + ivRange},
		{`"9223372036854.775808 seconds"`, `"9223372036854.775808 seconds"` + ivRange},
		{`"9223372036855s"`, `"9223372036855s"` + ivRange},
		{`"99999999999999999999999s"`, `"99999999999999999999999s"` + ivRange},
		{`"2147483648 mons"`, `"2147483648 mons"` + ivRange},
		{`"178956970 years 8 mons"`, `"178956970 years 8 mons"` + ivRange},
		{`"306783379 weeks"`, `"306783379 weeks"` + ivRange},
		{`"P1000000000000000D"`, `"P1000000000000000D"` + ivRange},
		{`"PT1000000000000001S"`, `"PT1000000000000001S"` + ivRange},
		{`"2562047788:00:54.775808"`, `"2562047788:00:54.775808"` + ivRange},
		{`"-2562047788:00:54.775808"`, `"-2562047788:00:54.775808"` + ivRange},
		{`"2562047788 hours 2562047788:00:00"`, `"2562047788 hours 2562047788:00:00"` + notIv},
		// PostgreSQL 17 reads these fields as ±infinity.
		{`"178956970 years 7 mons 2147483647 days 2562047788:00:54.775807"`, `"178956970 years 7 mons 2147483647 days 2562047788:00:54.775807"` + ivRange},
		{`"-178956970 years -8 mons -2147483648 days -2562047788 hours -54.775808 secs"`, `"-178956970 years -8 mons -2147483648 days -2562047788 hours -54...."` + ivRange},
		{`1.5`, `value 1.5 is not a whole number of milliseconds`},
		{`9223372036854776`, `value 9223372036854776 (milliseconds) out of range for interval`},
		{`1e30`, `value 1e30 (milliseconds) out of range for interval`},
		{`true`, `want a duration string or milliseconds for interval, got a boolean true`},
	})
	checkText(t, typ, []ok{
		{"1.5s", iv(0, 0, 1500000)},
		{"P1D", iv(0, 1, 0)},
		{"1 day", iv(0, 1, 0)},
	}, []bad{
		{"1500", `"1500"` + noUnit},
		{"-1", `"-1"` + noUnit},
	})
}

func TestIntervalTypmod(t *testing.T) {
	i0 := base(t, "interval", intervalMod(ivFull, 0), "interval(0)", pgtype.IntervalOID)
	checkJSON(t, i0, []ok{
		{`"1.5s"`, iv(0, 0, 2*usSec)},
		{`"-1.5s"`, iv(0, 0, -2*usSec)},
		{`"0.4999s"`, iv(0, 0, 0)},
		{`"1 day 00:00:00.5"`, iv(0, 1, usSec)},
		{`1499`, iv(0, 0, usSec)},
	}, []bad{
		{`"2562047788:00:54.775807"`, `"2562047788:00:54.775807" out of range for interval(0)`},
		{`9223372036854775`, `value 9223372036854775 (milliseconds) out of range for interval(0)`},
	})
	i2 := base(t, "interval", intervalMod(ivFull, 2), "interval(2)", pgtype.IntervalOID)
	checkText(t, i2, []ok{{"0.005s", iv(0, 0, 10000)}, {"-0.00499s", iv(0, 0, 0)}}, nil)
	hm := base(t, "interval", intervalMod(ivHour|ivMinute, ivNoPrec), "interval hour to minute", pgtype.IntervalOID)
	checkText(t, hm, []ok{
		{"1 day 02:03:04.5", iv(0, 1, 2*usHour+3*usMin)},
		{"-02:03:59", iv(0, 0, -(2*usHour + 3*usMin))},
	}, nil)
	yr := base(t, "interval", intervalMod(ivYear, ivNoPrec), "interval year", pgtype.IntervalOID)
	checkText(t, yr, []ok{
		{"1 year 11 mons 3 days 04:00:00", iv(12, 0, 0)},
		{"-1 years -11 mons", iv(-12, 0, 0)},
	}, nil)
	ds3 := base(t, "interval", intervalMod(ivDay|ivHour|ivMinute|ivSecond, 3), "interval day to second(3)", pgtype.IntervalOID)
	checkText(t, ds3, []ok{{"P1DT0.0015S", iv(0, 1, 2000)}}, nil)
	d := base(t, "interval", intervalMod(ivDay, ivNoPrec), "interval day", pgtype.IntervalOID)
	checkText(t, d, []ok{{"1 mon 2 days 03:00:00", iv(1, 2, 0)}}, nil)
}

// A time or an interval costs one allocation: the value in its interface.
func TestTimeIntervalAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not stable under the race detector")
	}
	tm := base(t, "time", 3, "time(3) without time zone", pgtype.TimeOID)
	ivl := base(t, "interval", intervalMod(ivFull, 3), "interval(3)", pgtype.IntervalOID)
	for _, c := range []struct {
		typ *coerce.Type
		in  string
	}{
		{tm, `"12:34:56.789123"`},
		{tm, `"12:34:56.123456789"`},
		{ivl, `"3600.5s"`},
		{ivl, `"P1Y2M3DT4H5M6.123456789S"`},
		{ivl, `"1 year 2 mons -3 days +04:05:06.789"`},
		{ivl, `"1.5 hours 30 secs"`},
		{ivl, `86400000`},
	} {
		v := parseJSON(t, c.in)
		got := testing.AllocsPerRun(200, func() {
			if _, err := c.typ.FromJSON(v); err != nil {
				t.Fatal(err)
			}
		})
		if got > 1 {
			t.Errorf("%s: FromJSON(%s): %v allocations, want 1", c.typ.Name, c.in, got)
		}
	}
}

func BenchmarkTimeInterval(b *testing.B) {
	tm := base(b, "time", -1, "time without time zone", pgtype.TimeOID)
	ivl := base(b, "interval", -1, "interval", pgtype.IntervalOID)
	for _, c := range []struct {
		typ *coerce.Type
		in  string
	}{
		{tm, `"12:34:56.789123"`},
		{ivl, `"3600.5s"`},
		{ivl, `"P1Y2M3DT4H5M6.5S"`},
		{ivl, `"1 year 2 mons -3 days +04:05:06.789"`},
		{ivl, `86400000`},
	} {
		v := parseJSON(b, c.in)
		b.Run(c.in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.typ.FromJSON(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
