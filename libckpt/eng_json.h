/* eng_json.h - libckpt's reader of the node agent's messages (eng_json.c).
 * Included by libckpt/agent_client.c and the fuzz target tests/fuzz.
 *
 * The messages libckpt reads are flat JSON objects with a few scalar fields,
 * read while the application may be stopped inside malloc: these functions
 * allocate nothing and read only up to the NUL terminating @json.
 */
#ifndef CKPT_LIBCKPT_ENG_JSON_H
#define CKPT_LIBCKPT_ENG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value of the first "@key": in the NUL-terminated @json, with surrounding
 * blanks skipped; NULL when absent. */
const char *eng_field(const char *json, const char *key);
/* Decimal integer value of @key in *@v. False when absent or not a number. */
bool eng_get_int(const char *json, const char *key, int64_t *v);
/* Boolean value of @key in *@v. False when absent or not true/false. */
bool eng_get_bool(const char *json, const char *key, bool *v);
/* String value of @key, unescaped, NUL-terminated in @out (@cap bytes).
 * Undoes the escapes a JSON encoder uses for paths (\" \\ \/ and \u00XX
 * with two hex digits, except \u0000); false for any other escape, an
 * unterminated string, or a value that does not fit. */
bool eng_get_str(const char *json, const char *key, char *out, size_t cap);

#endif
