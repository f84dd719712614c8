/* fuzz_codec.c - libckpt's reader of the agent's messages (libckpt/
 * eng_json.c) on arbitrary payloads, NUL-terminated as eng_recv() leaves
 * them. A string it accepts fits its buffer and is terminated. */
#include "fuzz_target.h"

#include "eng_json.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void fuzz_target_init(void)
{
}

static void fuzz_str(const char *json, const char *key, size_t cap)
{
	char *out = malloc(cap);

	if (!out)
		abort();
	if (eng_get_str(json, key, out, cap) && strnlen(out, cap) >= cap)
		abort();
	free(out);
}

int fuzz_target_one(const uint8_t *data, size_t size)
{
	static const char *const ints[] = { "v", "gen", "status", "size", "level", "nthreads" };
	static const char *const bools[] = { "final", "hold" };
	char *json = fuzz_strndup(data, size);
	int64_t v;
	bool b;

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		eng_get_int(json, ints[i], &v);
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		eng_get_bool(json, bools[i], &b);
	/* The buffer sizes agent_client.c uses, and tiny ones for the edge. */
	fuzz_str(json, "type", 32);
	fuzz_str(json, "trigger", 32);
	fuzz_str(json, "path", 4096);
	fuzz_str(json, "type", 1);
	fuzz_str(json, "path", 2);
	free(json);
	return 0;
}
