/* test_util.h - helpers shared by the proto unit tests; only they include it. */
#ifndef CKPT_TEST_PROTO_UTIL_H
#define CKPT_TEST_PROTO_UTIL_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Builds a frame from @payload of @len bytes: big-endian prefix + bytes. */
static inline char *test_frame(const char *payload, size_t len, size_t *out_len)
{
	char *buf = malloc(len + 4);

	buf[0] = (char)(len >> 24);
	buf[1] = (char)(len >> 16);
	buf[2] = (char)(len >> 8);
	buf[3] = (char)len;
	memcpy(buf + 4, payload, len);
	*out_len = len + 4;
	return buf;
}

/* Same for a NUL-terminated payload. */
static inline char *test_frame_str(const char *payload, size_t *out_len)
{
	return test_frame(payload, strlen(payload), out_len);
}

#endif
