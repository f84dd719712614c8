/* fuzz_target.h - what each fuzz target body (fuzz_<target>.c) provides;
 * included by the bodies, the libFuzzer entry fuzz_main.c and the corpus
 * replay test replay.c. One body is linked into each program. */
#ifndef CKPT_FUZZ_TARGET_H
#define CKPT_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

/* Prepares the process once (scratch files, quiet logging). */
void fuzz_target_init(void);
/* Runs one input through the code under test; aborts when an invariant of
 * the result breaks (a crash or a sanitizer report is the other finding).
 * Returns 0. */
int fuzz_target_one(const uint8_t *data, size_t size);

/* Helpers shared by the bodies (fuzz_util.c). */

/* Drops every log message: the code under test logs refusals by design. */
void fuzz_log_quiet(void);
/* Path of a scratch regular file (a memfd) holding exactly @data; the same
 * path is reused by every call. Aborts if the file cannot be written. */
const char *fuzz_file_put(const uint8_t *data, size_t size);
/* malloc'd copy of @data with a NUL after its @size bytes. */
char *fuzz_strndup(const uint8_t *data, size_t size);

#endif
