/* counter.c - a self-checking program for the end-to-end restart test.
 *
 * Counts to N, extending a hash chain at each step and printing the step
 * and the chain value; every value is also kept in a heap array, and at the
 * end the whole chain is recomputed and compared, so a restore that lost or
 * corrupted memory makes it fail loudly instead of printing a plausible end.
 *
 * Usage: counter [N [MS [MIB]]]   N steps (default 300), MS milliseconds
 * each (10), MIB MiB of incompressible ballast (0): filled before the first
 * step and checked at the end, it makes the image that large (the tests of
 * a restore that reads each byte once, and of a corrupt last chunk).
 * With CKPT_TEST_END_GATE=PATH it waits before its check and last line until
 * PATH exists (end_gate.h), so a test decides when it may end.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../end_gate.h"

/* FNV-1a constants: any cheap, order-sensitive mixing would do. */
#define CHAIN_SEED  0xcbf29ce484222325ull
#define CHAIN_PRIME 0x100000001b3ull

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 300;
	long ms = argc > 2 ? atol(argv[2]) : 10;
	struct timespec nap = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	uint64_t *chain = calloc((size_t)(n > 0 ? n : 1), sizeof(*chain));
	long mib = argc > 3 ? atol(argv[3]) : 0;
	size_t words = (size_t)(mib > 0 ? mib : 0) << 17;
	uint64_t *ballast = words ? malloc(words * sizeof(*ballast)) : NULL;
	uint64_t h = CHAIN_SEED;
	uint64_t x = CHAIN_SEED;
	long i;

	if (!chain || n <= 0 || mib < 0 || (words && !ballast)) {
		free(chain);
		free(ballast);
		return 2;
	}
	/* xorshift64: zstd cannot shrink it, so the image holds every byte. */
	for (size_t k = 0; k < words; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ballast[k] = x;
	}
	for (i = 0; i < n; i++) {
		h = (h ^ (uint64_t)(i + 1)) * CHAIN_PRIME;
		chain[i] = h;
		printf("%ld %016" PRIx64 "\n", i + 1, h);
		fflush(stdout);
		nanosleep(&nap, NULL);
	}
	end_gate();
	h = CHAIN_SEED;
	for (i = 0; i < n; i++) {
		h = (h ^ (uint64_t)(i + 1)) * CHAIN_PRIME;
		if (chain[i] != h) {
			printf("CORRUPT at step %ld\n", i + 1);
			free(chain);
			return 1;
		}
	}
	x = CHAIN_SEED;
	for (size_t k = 0; k < words; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (ballast[k] != x) {
			printf("CORRUPT ballast at word %zu\n", k);
			free(chain);
			free(ballast);
			return 1;
		}
	}
	printf("done %ld %016" PRIx64 "\n", n, h);
	free(chain);
	free(ballast);
	return 0;
}
