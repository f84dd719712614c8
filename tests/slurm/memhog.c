/* memhog.c - a task with a lot of incompressible memory, for the fault
 * tests of cluster checkpoints (cluster_fault_task.sh, cluster_fault_disk.sh).
 *
 *   memhog MIB STEPS MS [GROW_FILE GROW_MIB]
 *
 * Fills MIB MiB with pseudo-random bytes (zstd cannot shrink them, so an
 * image is as large as the memory and writing it takes seconds), then runs
 * STEPS steps of MS milliseconds, printing "step I SUM" after each, SUM
 * being a checksum of one word of every page, so a restore that lost or
 * corrupted memory shows. When GROW_FILE exists at the start of a step, it adds
 * GROW_MIB MiB more (once) and prints "grown to N MiB": the test makes the
 * processes outgrow the checkpoint file system. Ends with "done STEPS SUM".
 * Exit status 0, or 2 for bad arguments or no memory.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One MiB in 64-bit words. */
#define WORDS_PER_MIB ((size_t)(1024 * 1024 / sizeof(uint64_t)))

/* The memory the task holds: one or two random areas. */
struct hog {
	uint64_t *area[2]; /* the initial area, then the grown one */
	size_t words[2];   /* their lengths in words */
	uint64_t rng;	   /* xorshift64 state: same bytes on every run */
};

/* xorshift64 (Marsaglia): fast, and its output does not compress. */
static uint64_t hog_rand(struct hog *h)
{
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return h->rng;
}

/* Allocates area @i of @mib MiB and fills it. Returns 0 or -1. */
static int hog_fill(struct hog *h, int i, long mib)
{
	size_t n = (size_t)mib * WORDS_PER_MIB;
	size_t k;

	h->area[i] = malloc(n * sizeof(*h->area[i]));
	if (!h->area[i])
		return -1;
	for (k = 0; k < n; k++)
		h->area[i][k] = hog_rand(h);
	h->words[i] = n;
	return 0;
}

/* Words between two summed ones: one per 4 KiB page, so every page counts
 * and a step costs microseconds, not a pass over hundreds of MiB. */
#define SUM_STRIDE 512

/* An order-sensitive checksum of one word of every page held. */
static uint64_t hog_sum(const struct hog *h)
{
	uint64_t s = 0;
	size_t k;
	int i;

	for (i = 0; i < 2; i++) {
		if (!h->area[i])
			continue;
		for (k = 0; k < h->words[i]; k += SUM_STRIDE)
			s = (s ^ h->area[i][k]) * 0x100000001b3ull;
	}
	return s;
}

int main(int argc, char **argv)
{
	struct hog h = { .rng = 0x9e3779b97f4a7c15ull };
	long mib;
	long steps;
	long ms;
	const char *grow_file = argc > 5 ? argv[4] : NULL;
	long grow_mib = argc > 5 ? atol(argv[5]) : 0;
	struct timespec nap;
	int ret = 2;
	long i;

	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: memhog MIB STEPS MS [GROW_FILE GROW_MIB]\n");
		return 2;
	}
	mib = atol(argv[1]);
	steps = atol(argv[2]);
	ms = atol(argv[3]);
	nap = (struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	if (mib <= 0 || steps <= 0 || ms < 0 || hog_fill(&h, 0, mib)) {
		fprintf(stderr, "memhog: bad arguments or out of memory\n");
		return 2;
	}
	printf("filled %ld MiB\n", mib);
	fflush(stdout);
	for (i = 0; i < steps; i++) {
		if (grow_file && !h.area[1] && access(grow_file, F_OK) == 0) {
			if (hog_fill(&h, 1, grow_mib)) {
				fprintf(stderr, "memhog: out of memory growing by %ld MiB\n",
					grow_mib);
				goto out;
			}
			printf("grown to %ld MiB\n", mib + grow_mib);
		}
		printf("step %ld %016" PRIx64 "\n", i + 1, hog_sum(&h));
		fflush(stdout);
		nanosleep(&nap, NULL);
	}
	printf("done %ld %016" PRIx64 "\n", steps, hog_sum(&h));
	ret = 0;
out:
	free(h.area[0]);
	free(h.area[1]);
	return ret;
}
