/* Replays the fuzzer's regression corpus (tests/fuzz/corpus) through the
 * same body the libFuzzer target runs, so every normal and sanitizer build
 * re-checks the inputs that once mattered. */
#include "corpus_replay.h"
#include "fuzz_frame_one.h"

#include <criterion/criterion.h>

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name tests/fuzz/corpus"
#endif

Test(corpus, replay_all)
{
	size_t count;

	fuzz_quiet();
	count = fuzz_corpus_replay(FUZZ_CORPUS_DIR, fuzz_frame_one);
	cr_assert_geq(count, 20, "corpus has only %zu entries", count);
}
