/* corpus_replay.h - runs every file of a fuzz corpus directory through a
 * fuzz body, inside a criterion test: shared by the replay tests of the fuzz
 * targets (replay.c) and of the frame fuzzer (tests/unit/proto/test_corpus.c). */
#ifndef CKPT_FUZZ_CORPUS_REPLAY_H
#define CKPT_FUZZ_CORPUS_REPLAY_H

#include <stddef.h>
#include <stdint.h>

/* Runs each regular file of @dir through @one, which must return 0 (a
 * crash or a sanitizer report is the other finding); fails the running
 * test, naming the file, otherwise. Returns the number of files run. */
size_t fuzz_corpus_replay(const char *dir, int (*one)(const uint8_t *data, size_t size));

#endif
