/* fuzz_auth.c - the hello payload check (proto/auth.c) on arbitrary decoded
 * munge payloads. Input: a purpose, a NUL, then the payload; without a NUL
 * the whole input is the payload, checked against fixed purposes. The
 * payload is copied to a buffer of exactly its length, as munge_decode()
 * returns it, so a read past it shows under ASan. */
#include "fuzz_target.h"

#include "auth_internal.h"

#include <stdlib.h>
#include <string.h>

/* Payload tag of auth.c: an accepted payload starts with it. */
static const char fuzz_tag[] = "slurm-ckpt-hello/1 ";

void fuzz_target_init(void)
{
	fuzz_log_quiet();
}

static void fuzz_check(const uint8_t *payload, size_t len, const char *purpose)
{
	char *buf = calloc(1, len ? len : 1);
	size_t plen = strlen(purpose);

	if (!buf)
		abort();
	if (len)
		memcpy(buf, payload, len);
	if (len <= INT32_MAX && proto_auth_payload_check(buf, (int)len, purpose)) {
		/* Accepted: tag, the exact purpose, a space, 32 hex digits. */
		if (len != sizeof(fuzz_tag) - 1 + plen + 1 + 32 ||
		    memcmp(buf, fuzz_tag, sizeof(fuzz_tag) - 1) != 0 ||
		    memcmp(buf + sizeof(fuzz_tag) - 1, purpose, plen) != 0)
			abort();
	}
	free(buf);
}

int fuzz_target_one(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);

	if (nul) {
		char *purpose = fuzz_strndup(data, (size_t)(nul - data));

		fuzz_check(nul + 1, size - (size_t)(nul - data) - 1, purpose);
		free(purpose);
		return 0;
	}
	fuzz_check(data, size, "coord:1234");
	fuzz_check(data, size, "agent:77:cn1");
	return 0;
}
