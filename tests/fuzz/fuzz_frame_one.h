/* fuzz_frame_one.h - one fuzz input through the frame decoder and the message
 * validators; included by the libFuzzer target and the corpus replay test. */
#ifndef CKPT_FUZZ_FRAME_ONE_H
#define CKPT_FUZZ_FRAME_ONE_H

#include <stddef.h>
#include <stdint.h>

/* Runs @data through every decoding path; aborts when an invariant breaks
 * (a decoded message that fails its own envelope check, an encode/decode
 * round trip that changes the message). Returns 0. */
int fuzz_frame_one(const uint8_t *data, size_t size);

/* Silences logging: the validators log refusals by design. */
void fuzz_quiet(void);

#endif
