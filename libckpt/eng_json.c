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

bool eng_get_str(const char *json, const char *key, char *out, size_t cap)
{
	const char *p = eng_field(json, key);
	size_t n = 0;

	if (!p || *p != '"')
		return false;
	for (p++; *p && *p != '"'; p++) {
		char c = *p;

		if (c == '\\') {
			p++;
			if (*p == '"' || *p == '\\' || *p == '/') {
				c = *p;
			} else if (*p == 'u' && p[1] == '0' && p[2] == '0') {
				char hex[3] = { p[3], p[4], 0 };

				c = (char)strtol(hex, NULL, 16);
				p += 4;
				if (!c)
					return false;
			} else {
				return false;
			}
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
