/* Unit tests of proto/timestr.c: Slurm time strings and intervals. */
#include "timestr.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>

static int64_t parse_ok(const char *s)
{
	int64_t v = -1;

	cr_assert_eq(proto_time_parse(s, &v), 0, "\"%s\" should parse", s);
	return v;
}

static void parse_bad(const char *s)
{
	int64_t v = 12345;

	cr_assert_eq(proto_time_parse(s, &v), -EINVAL, "\"%s\" should be refused", s);
	cr_assert_eq(v, 12345, "\"%s\": output untouched", s);
}

Test(timestr, slurm_forms)
{
	cr_assert_eq(parse_ok("0"), 0);
	cr_assert_eq(parse_ok("90"), 90 * 60);	       /* MM, unbounded */
	cr_assert_eq(parse_ok("5:30"), 5 * 60 + 30);   /* MM:SS */
	cr_assert_eq(parse_ok("120:00"), 120 * 60);    /* MM:SS, MM unbounded */
	cr_assert_eq(parse_ok("01:02:03"), 3723);      /* HH:MM:SS */
	cr_assert_eq(parse_ok("96:00:00"), 96 * 3600); /* NERSC comment */
	cr_assert_eq(parse_ok("2-12"), 2 * 86400 + 12 * 3600);
	cr_assert_eq(parse_ok("2-12:30"), 2 * 86400 + 12 * 3600 + 30 * 60);
	cr_assert_eq(parse_ok("1-00:00:01"), 86401);
	cr_assert_eq(parse_ok("0-00:00:00"), 0);
	cr_assert_eq(parse_ok("00:59:59"), 3599);
	cr_assert_eq(parse_ok("365-23:59:59"), 365 * 86400 + 86399);
}

Test(timestr, strict_refusals)
{
	const char *bad[] = {
		"",	     "-",	 ":",	      "1:",	  ":1",	  "1::2",
		"1:2:3:4",   "-1",	 "+1",	      " 1",	  "1 ",	  "1s",
		"1-",	     "1--2",	 "1-2-3",     "a",	  "1:60", "1:00:60",
		"1:60:00",   "1-24",	 "1-23:60",   "1-1:1:60", "0x10", "1.5",
		"UNLIMITED", "INFINITE", "1-2:3:4:5", "１",	  "1\n",  "1-:1",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		parse_bad(bad[i]);
	cr_assert_eq(proto_time_parse(NULL, NULL), -EINVAL);
}

Test(timestr, overflow_refused)
{
	parse_bad("99999999999999999999");
	parse_bad("9223372036854775807"); /* minutes * 60 overflows */
	parse_bad("153722867280912931");  /* * 60 > INT64_MAX */
	parse_bad("2562047788015216:00:00");
	parse_bad("106751991167301-00:00:00");
	cr_assert_eq(parse_ok("153722867280912930"), 153722867280912930LL * 60);
}

static const char *fmt(int64_t s, char *buf)
{
	cr_assert_eq(proto_time_format(s, buf, PROTO_TIME_STR_MAX), 0);
	return buf;
}

Test(timestr, format_canonical_and_roundtrip)
{
	char b[PROTO_TIME_STR_MAX];
	int64_t vals[] = {
		0, 1, 59, 60, 3599, 3600, 86399, 86400, 86401, 345600, 360000, INT64_MAX
	};
	size_t i;

	cr_assert_str_eq(fmt(0, b), "00:00:00");
	cr_assert_str_eq(fmt(3723, b), "01:02:03");
	cr_assert_str_eq(fmt(86399, b), "23:59:59");
	cr_assert_str_eq(fmt(86400, b), "1-00:00:00");
	cr_assert_str_eq(fmt(96 * 3600, b), "4-00:00:00");
	cr_assert_str_eq(fmt(INT64_MAX, b), "106751991167300-15:30:07");
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		cr_assert_eq(parse_ok(fmt(vals[i], b)), vals[i], "%s", b);
}

Test(timestr, format_hours_for_comment)
{
	char b[PROTO_TIME_STR_MAX];

	cr_assert_eq(proto_time_format_hours(96 * 3600, b, sizeof(b)), 0);
	cr_assert_str_eq(b, "96:00:00");
	cr_assert_eq(proto_time_format_hours(5, b, sizeof(b)), 0);
	cr_assert_str_eq(b, "00:00:05");
	cr_assert_eq(proto_time_format_hours(1000 * 3600 + 61, b, sizeof(b)), 0);
	cr_assert_str_eq(b, "1000:01:01");
	cr_assert_eq(parse_ok(b), 1000 * 3600 + 61);
	cr_assert_eq(proto_time_format_hours(-1, b, sizeof(b)), -EINVAL);
}

Test(timestr, format_errors)
{
	char b[9];

	cr_assert_eq(proto_time_format(-1, b, sizeof(b)), -EINVAL);
	cr_assert_eq(proto_time_format(3600, b, sizeof(b)), 0); /* "01:00:00" fits 9 */
	cr_assert_eq(proto_time_format(86400, b, sizeof(b)), -ENOSPC);
	cr_assert_eq(proto_time_format(1, b, 0), -ENOSPC);
	cr_assert_eq(proto_time_format(1, NULL, 10), -EINVAL);
}

static int64_t ival_ok(const char *s)
{
	int64_t v = -1;

	cr_assert_eq(proto_interval_parse(s, &v), 0, "\"%s\" should parse", s);
	return v;
}

Test(timestr, intervals)
{
	int64_t v = 7;
	const char *bad[] = { "",   "h",    "1x",  "1h1h", "30m1h", "1hh", "1 h",  "-1h",
			      "1H", "1.5h", "1h-", "+30",  "1d2",   "s",   "1h30", "1s1m" };
	size_t i;

	cr_assert_eq(ival_ok("3600"), 3600);
	cr_assert_eq(ival_ok("0"), 0);
	cr_assert_eq(ival_ok("1h"), 3600);
	cr_assert_eq(ival_ok("30m"), 1800);
	cr_assert_eq(ival_ok("90s"), 90);
	cr_assert_eq(ival_ok("2d"), 172800);
	cr_assert_eq(ival_ok("1h30m"), 5400);
	cr_assert_eq(ival_ok("1d2h3m4s"), 86400 + 7200 + 184);
	cr_assert_eq(ival_ok("01:00:00"), 3600);
	cr_assert_eq(ival_ok("1-00:00"), 86400);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(proto_interval_parse(bad[i], &v), -EINVAL, "\"%s\"", bad[i]);
		cr_assert_eq(v, 7);
	}
	cr_assert_eq(proto_interval_parse("99999999999999999999", &v), -EINVAL);
	cr_assert_eq(proto_interval_parse("9999999999999999d", &v), -EINVAL);
	cr_assert_eq(proto_interval_parse(NULL, &v), -EINVAL);
}
