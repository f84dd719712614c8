/* eng_json.c - the field extractor behind agent_client.c's tiny codec: no
 * allocation, never reads past the NUL terminating its input (see
 * eng_json.h and the top of agent_client.c for why it is not json-c). */
#include "eng_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *eng_field(const char *json, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = json; (p = strchr(p, '"')); p++) {
		if (strncmp(p + 1, key, kl) != 0 || p[kl + 1] != '"')
			continue;
		const char *q = p + kl + 2;

		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q != ':')
			continue;
		q++;
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		return q;
	}
	return NULL;
}

bool eng_get_int(const char *json, const char *key, int64_t *v)
{
	const char *p = eng_field(json, key);
	char *end;

	if (!p)
		return false;
	errno = 0;
	*v = strtoll(p, &end, 10);
	return end != p && !errno;
}

bool eng_get_bool(const char *json, const char *key, bool *v)
{
	const char *p = eng_field(json, key);

	if (p && !strncmp(p, "true", 4))
		*v = true;
	else if (p && !strncmp(p, "false", 5))
		*v = false;
	else
		return false;
	return true;
}

/* Value of hex digit @c, or -1. A NUL is not a digit, so a caller testing
 * digits one at a time stops at the end of the string. */
static int eng_json_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the escape after the backslash at @p into *@c; returns the
 * number of bytes it spans after the backslash, or 0 if refused. */
static size_t eng_json_unescape(const char *p, char *c)
{
	int hi;
	int lo;

	if (*p == '"' || *p == '\\' || *p == '/') {
		*c = *p;
		return 1;
	}
	/* \u00XX: each byte tested before the next is read. */
	if (p[0] != 'u' || p[1] != '0' || p[2] != '0')
		return 0;
	hi = eng_json_hex(p[3]);
	if (hi < 0)
		return 0;
	lo = eng_json_hex(p[4]);
	if (lo < 0 || (hi == 0 && lo == 0))
		return 0;
	*c = (char)(hi << 4 | lo);
	return 5;
}

bool eng_get_str(const char *json, const char *key, char *out, size_t cap)
{
	const char *p = eng_field(json, key);
	size_t n = 0;

	if (!p || *p != '"')
		return false;
	for (p++; *p && *p != '"'; p++) {
		char c = *p;

		if (c == '\\') {
			size_t used = eng_json_unescape(p + 1, &c);

			if (!used)
				return false;
			p += used;
		}
		if (n + 1 >= cap)
			return false;
		out[n++] = c;
	}
	if (*p != '"')
		return false;
	out[n] = '\0';
	return true;
}
