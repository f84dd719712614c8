/* timestr.c - Slurm time strings and checkpoint intervals. */
#include "timestr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SECS_PER_MIN  60
#define SECS_PER_HOUR 3600
#define SECS_PER_DAY  86400

/* Most fields in a Slurm time string: D-HH:MM:SS. */
#define TIME_FIELDS_MAX 4

static bool time_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reads a run of digits at *@p into @val, advancing *@p.
 * Returns 0, or -EINVAL when there is no digit or the value overflows. */
static int time_number(const char **p, int64_t *val)
{
	const char *s = *p;
	int64_t v = 0;

	if (!time_is_digit(*s))
		return -EINVAL;
	for (; time_is_digit(*s); s++) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *s - '0', &v))
			return -EINVAL;
	}
	*p = s;
	*val = v;
	return 0;
}

/* @a * @mul + @b without overflow. */
static int time_mul_add(int64_t a, int64_t mul, int64_t b, int64_t *out)
{
	if (__builtin_mul_overflow(a, mul, out) || __builtin_add_overflow(*out, b, out))
		return -EINVAL;
	return 0;
}

/* Splits "[D-]a[:b[:c]]" into @days (-1 when absent) and up to 3 colon
 * fields. Returns the number of colon fields or -EINVAL. */
static int time_split(const char *s, int64_t *days, int64_t *f)
{
	const char *p = s;
	int n = 0;

	*days = -1;
	if (strchr(s, '-')) {
		if (time_number(&p, days) || *p != '-')
			return -EINVAL;
		p++;
	}
	for (;;) {
		if (n == TIME_FIELDS_MAX - 1 || time_number(&p, &f[n]))
			return -EINVAL;
		n++;
		if (*p == '\0')
			return n;
		if (*p != ':')
			return -EINVAL;
		p++;
	}
}

/* Combines days and colon fields per Slurm's rules into seconds. */
static int time_combine(int64_t days, const int64_t *f, int n, int64_t *secs)
{
	int64_t h = 0;
	int64_t m = 0;
	int64_t sec = 0;
	int64_t t;

	if (days < 0) {
		/* MM, MM:SS, HH:MM:SS; the first field is unbounded. Right-align
		 * the fields on seconds, except a lone field, which is minutes. */
		h = n == 3 ? f[0] : 0;
		m = n == 3 ? f[1] : f[0];
		sec = n == 1 ? 0 : f[n - 1];
		if ((n >= 2 && sec >= 60) || (n == 3 && m >= 60))
			return -EINVAL;
	} else {
		/* D-HH, D-HH:MM, D-HH:MM:SS. */
		h = f[0];
		m = n >= 2 ? f[1] : 0;
		sec = n == 3 ? f[2] : 0;
		if (h >= 24 || m >= 60 || sec >= 60)
			return -EINVAL;
	}
	if (time_mul_add(days < 0 ? 0 : days, 24, h, &t) || time_mul_add(t, 60, m, &t) ||
	    time_mul_add(t, 60, sec, &t))
		return -EINVAL;
	*secs = t;
	return 0;
}

int proto_time_parse(const char *s, int64_t *secs)
{
	int64_t f[TIME_FIELDS_MAX - 1] = { 0 };
	int64_t days;
	int64_t t;
	int n;

	if (!s || !secs)
		return -EINVAL;
	n = time_split(s, &days, f);
	if (n < 0 || time_combine(days, f, n, &t))
		return -EINVAL;
	*secs = t;
	return 0;
}

/* Maps snprintf's result to 0 or -ENOSPC (output cut). */
static int time_print(size_t size, int n)
{
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return 0;
}

int proto_time_format(int64_t secs, char *buf, size_t size)
{
	int64_t d = secs / SECS_PER_DAY;
	int64_t r = secs % SECS_PER_DAY;
	int n;

	if (secs < 0 || !buf)
		return -EINVAL;
	if (d)
		n = snprintf(buf, size, "%lld-%02lld:%02lld:%02lld", (long long)d,
			     (long long)(r / SECS_PER_HOUR), (long long)(r % SECS_PER_HOUR / 60),
			     (long long)(r % 60));
	else
		n = snprintf(buf, size, "%02lld:%02lld:%02lld", (long long)(r / SECS_PER_HOUR),
			     (long long)(r % SECS_PER_HOUR / 60), (long long)(r % 60));
	return time_print(size, n);
}

int proto_time_format_hours(int64_t secs, char *buf, size_t size)
{
	int n;

	if (secs < 0 || !buf)
		return -EINVAL;
	n = snprintf(buf, size, "%02lld:%02lld:%02lld", (long long)(secs / SECS_PER_HOUR),
		     (long long)(secs % SECS_PER_HOUR / 60), (long long)(secs % 60));
	return time_print(size, n);
}

/* Seconds per unit letter, 0 for an unknown letter. */
static int64_t interval_unit(char c)
{
	switch (c) {
	case 'd':
		return SECS_PER_DAY;
	case 'h':
		return SECS_PER_HOUR;
	case 'm':
		return SECS_PER_MIN;
	case 's':
		return 1;
	}
	return 0;
}

/* "2d", "1h30m", "90s": units strictly decreasing, each at most once. */
static int interval_units(const char *s, int64_t *secs)
{
	int64_t last = INT64_MAX;
	int64_t total = 0;
	int64_t v;
	int64_t u;

	do {
		if (time_number(&s, &v))
			return -EINVAL;
		u = interval_unit(*s);
		if (!u || u >= last || time_mul_add(v, u, total, &total))
			return -EINVAL;
		last = u;
		s++;
	} while (*s);
	*secs = total;
	return 0;
}

int proto_interval_parse(const char *s, int64_t *secs)
{
	const char *p = s;
	int64_t v;

	if (!s || !secs)
		return -EINVAL;
	if (strpbrk(s, ":-"))
		return proto_time_parse(s, secs);
	if (time_number(&p, &v))
		return -EINVAL;
	if (*p == '\0') {
		*secs = v;
		return 0;
	}
	return interval_units(s, secs);
}
