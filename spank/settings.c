/* settings.c - strict parsing of job options and site settings (settings.h). */
#include "settings.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timestr.h"

/* Built-in site defaults; each can be changed on the plugstack.conf line. */
#define DEFAULT_DIR_PATTERN "%h/.slurm-ckpt"
/* Two generations: the newest, and the one before in case the newest is bad. */
#define DEFAULT_KEEP 2
/* zstd level 1: fast enough to stay near disk speed while shrinking typical heaps. */
#define DEFAULT_COMPRESS 1
/* Ten minutes: room to write a few GiB per node before the first measurement. */
#define DEFAULT_MARGIN_S 600
/* zstd's level range; higher levels cost far more time than they save space. */
#define COMPRESS_MAX 19
/* More generations than this only fill disks. */
#define KEEP_MAX 100

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void settings_site_defaults(struct site_settings *site)
{
	memset(site, 0, sizeof(*site));
	(void)snprintf(site->dir_pattern, sizeof(site->dir_pattern), "%s", DEFAULT_DIR_PATTERN);
	site->keep = DEFAULT_KEEP;
	site->compress_level = DEFAULT_COMPRESS;
	site->margin_s = DEFAULT_MARGIN_S;
}

/* Parses a decimal unsigned integer in [min, max]; nothing else on the string. */
static int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parses a byte size with an optional K/M/G/T suffix (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
	static const char suffixes[] = "KMGT";
	size_t len = strlen(s);
	unsigned shift = 0;
	char digits[32];
	uint64_t v;

	if (len == 0 || len >= sizeof(digits))
		return -EINVAL;
	const char *suffix = strchr(suffixes, s[len - 1]);
	if (suffix) {
		shift = 10 * (unsigned)(suffix - suffixes + 1);
		len--;
	}
	memcpy(digits, s, len);
	digits[len] = '\0';
	if (parse_uint(digits, 0, UINT64_MAX >> shift, &v))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

static int parse_name_list(const char *value, char list[][SETTINGS_NAME_MAX], size_t *count,
			   const char *key, char *err, size_t errlen)
{
	const char *p = value;

	*count = 0;
	while (*p) {
		size_t len = strcspn(p, ",");

		if (len == 0 || len >= SETTINGS_NAME_MAX)
			return fail(err, errlen, "%s=%s: empty or longer than %d characters name",
				    key, value, SETTINGS_NAME_MAX - 1);
		if (*count == SETTINGS_LIST_MAX)
			return fail(err, errlen, "%s: more than %d names", key, SETTINGS_LIST_MAX);
		memcpy(list[*count], p, len);
		list[*count][len] = '\0';
		(*count)++;
		p += len;
		if (*p == ',')
			p++;
	}
	if (*count == 0)
		return fail(err, errlen, "%s: give at least one name", key);
	return 0;
}

static int parse_dir(char *dst, const char *value, const char *what, char *err, size_t errlen)
{
	size_t len = strlen(value);

	if (len == 0 || value[0] != '/')
		return fail(err, errlen, "%s=%s: give an absolute path", what, value);
	if (len >= SETTINGS_DIR_MAX)
		return fail(err, errlen, "%s: path longer than %d characters", what,
			    SETTINGS_DIR_MAX - 1);
	memcpy(dst, value, len + 1);
	return 0;
}

int settings_site_parse_arg(struct site_settings *site, const char *arg, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');
	char key[32];
	uint64_t v;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(key))
		return fail(err, errlen, "plugstack.conf argument '%s': expected key=value", arg);
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	const char *value = eq + 1;

	if (!strcmp(key, "dir"))
		return parse_dir(site->dir_pattern, value, "dir", err, errlen);
	if (!strcmp(key, "keep")) {
		if (parse_uint(value, 1, KEEP_MAX, &v))
			return fail(err, errlen, "keep=%s: give a number from 1 to %d", value,
				    KEEP_MAX);
		site->keep = (unsigned)v;
		return 0;
	}
	if (!strcmp(key, "compress")) {
		if (parse_uint(value, 0, COMPRESS_MAX, &v))
			return fail(err, errlen,
				    "compress=%s: give a zstd level from 0 (none) to %d", value,
				    COMPRESS_MAX);
		site->compress_level = (int)v;
		return 0;
	}
	if (!strcmp(key, "margin")) {
		int64_t secs;

		if (proto_time_parse(value, &secs) || secs <= 0)
			return fail(err, errlen, "margin=%s: give a Slurm time such as 10:00",
				    value);
		site->margin_s = (uint64_t)secs;
		return 0;
	}
	if (!strcmp(key, "phase_timeout")) {
		int64_t secs;

		/* The agent takes at most a day: a bound, not a way to switch it off. */
		if (proto_time_parse(value, &secs) || secs <= 0 || secs > 86400)
			return fail(err, errlen,
				    "phase_timeout=%s: give a Slurm time from 1 s to 1-00:00:00, "
				    "such as 30:00",
				    value);
		site->phase_timeout_s = (uint64_t)secs;
		return 0;
	}
	if (!strcmp(key, "ports")) {
		uint64_t lo;
		uint64_t hi;
		const char *dash = strchr(value, '-');
		char lo_s[8] = "";

		if (dash && (size_t)(dash - value) < sizeof(lo_s))
			memcpy(lo_s, value, (size_t)(dash - value));
		if (!dash || parse_uint(lo_s, 1024, 65535, &lo) ||
		    parse_uint(dash + 1, 1024, 65535, &hi) || hi < lo)
			return fail(
				err, errlen,
				"ports=%s: give a range of TCP ports LOW-HIGH within 1024-65535",
				value);
		site->port_lo = (unsigned)lo;
		site->port_hi = (unsigned)hi;
		return 0;
	}
	if (!strcmp(key, "max_image_size")) {
		if (parse_size(value, &site->max_image_bytes))
			return fail(err, errlen,
				    "max_image_size=%s: give bytes with K/M/G/T suffix", value);
		return 0;
	}
	if (!strcmp(key, "allow_users"))
		return parse_name_list(value, site->allow_users, &site->n_allow_users, key, err,
				       errlen);
	if (!strcmp(key, "allow_partitions"))
		return parse_name_list(value, site->allow_partitions, &site->n_allow_partitions,
				       key, err, errlen);
	return fail(err, errlen,
		    "plugstack.conf argument '%s': unknown key '%s' (known: dir, keep, compress, "
		    "margin, phase_timeout, ports, max_image_size, allow_users, "
		    "allow_partitions)",
		    arg, key);
}

static int parse_mode(struct job_settings *job, const char *value, char *err, size_t errlen)
{
	if (!value || (strcmp(value, "auto") != 0 && strcmp(value, "off") != 0))
		return fail(err, errlen, "--checkpoint=%s: give auto or off", value ? value : "");
	job->mode = strcmp(value, "auto") == 0 ? CKPT_MODE_AUTO : CKPT_MODE_OFF;
	return 0;
}

int settings_job_parse_option(struct job_settings *job, const char *name, const char *value,
			      char *err, size_t errlen)
{
	int64_t secs;
	uint64_t v;

	if (!strcmp(name, "checkpoint"))
		return parse_mode(job, value, err, errlen);
	if (!value)
		return fail(err, errlen, "--%s: needs a value", name);
	if (!strcmp(name, "checkpoint-interval")) {
		if (proto_interval_parse(value, &secs) || secs <= 0)
			return fail(
				err, errlen,
				"--checkpoint-interval=%s: give a time such as 1h, 30m, 2:00:00",
				value);
		job->interval_s = (uint64_t)secs;
		return 0;
	}
	if (!strcmp(name, "checkpoint-dir"))
		return parse_dir(job->dir, value, "--checkpoint-dir", err, errlen);
	if (!strcmp(name, "checkpoint-keep")) {
		if (parse_uint(value, 1, KEEP_MAX, &v))
			return fail(err, errlen, "--checkpoint-keep=%s: give a number from 1 to %d",
				    value, KEEP_MAX);
		job->keep = (unsigned)v;
		return 0;
	}
	return fail(err, errlen, "--%s: not an option of slurm-ckpt", name);
}

static int append(char *out, size_t outlen, size_t *pos, const char *s, size_t len)
{
	if (*pos + len >= outlen)
		return -ENAMETOOLONG;
	memcpy(out + *pos, s, len);
	*pos += len;
	return 0;
}

int settings_expand_dir(const char *pattern, const char *user, const char *home, uint32_t jobid,
			char *out, size_t outlen)
{
	size_t pos = 0;
	char num[16];
	int rc = 0;

	for (const char *p = pattern; *p && !rc; p++) {
		if (*p != '%') {
			rc = append(out, outlen, &pos, p, 1);
			continue;
		}
		switch (*++p) {
		case 'u':
			rc = append(out, outlen, &pos, user, strlen(user));
			break;
		case 'h':
			rc = append(out, outlen, &pos, home, strlen(home));
			break;
		case 'j':
			(void)snprintf(num, sizeof(num), "%" PRIu32, jobid);
			rc = append(out, outlen, &pos, num, strlen(num));
			break;
		case '%':
			rc = append(out, outlen, &pos, "%", 1);
			break;
		default:
			return -EINVAL;
		}
	}
	if (rc)
		return rc;
	if (pos >= outlen)
		return -ENAMETOOLONG;
	out[pos] = '\0';
	return 0;
}

static bool name_listed(const char (*list)[SETTINGS_NAME_MAX], size_t count, const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (!strcmp(list[i], name))
			return true;
	return false;
}

bool settings_site_allows_user(const struct site_settings *site, const char *user)
{
	return !site->n_allow_users || name_listed(site->allow_users, site->n_allow_users, user);
}

bool settings_site_allows_partition(const struct site_settings *site, const char *partition)
{
	return !site->n_allow_partitions ||
	       name_listed(site->allow_partitions, site->n_allow_partitions, partition);
}
