/* auth_internal.h - the hello payload check of auth.c, exposed for the fuzz
 * target tests/fuzz/fuzz_auth.c and its corpus replay; included by nothing
 * else (components use proto_auth_check_hello()). */
#ifndef CKPT_PROTO_AUTH_INTERNAL_H
#define CKPT_PROTO_AUTH_INTERNAL_H

#include <stdbool.h>

/* True when the @len bytes at @buf (a decoded munge payload, not
 * NUL-terminated) are a hello made for @purpose; false for an invalid
 * @purpose too. The same check proto_auth_check_hello() applies. */
bool proto_auth_payload_check(const char *buf, int len, const char *purpose);

#endif
