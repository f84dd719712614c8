/* replay.c - replays a fuzz target's corpus (FUZZ_CORPUS_DIR) through the
 * same body the libFuzzer program runs, so every normal and sanitizer build
 * re-checks the seeds and the inputs that once crashed. */
#include "corpus_replay.h"
#include "fuzz_target.h"

#include <criterion/criterion.h>

#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must name the corpus directory"
#endif
#ifndef FUZZ_CORPUS_MIN
#define FUZZ_CORPUS_MIN 5
#endif

Test(fuzz_corpus, replay_all)
{
	size_t count;

	fuzz_target_init();
	count = fuzz_corpus_replay(FUZZ_CORPUS_DIR, fuzz_target_one);
	cr_assert_geq(count, FUZZ_CORPUS_MIN, "corpus %s has only %zu entries", FUZZ_CORPUS_DIR,
		      count);
}
