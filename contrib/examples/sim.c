/* sim.c - example application for the demo: a small multi-threaded
 * simulation that knows nothing of checkpointing.
 *
 *   sim STEPS [MS_PER_STEP]
 *
 * Two worker threads relax a 1-D field for STEPS steps, meeting at a barrier
 * after each; every step takes at least MS_PER_STEP milliseconds (default
 * 500), standing for real work. Every 10 steps it prints the step and a
 * checksum of the field; at the end "result CHECKSUM". The result depends
 * only on STEPS, so `sim STEPS 0` computes what a checkpointed run must end
 * with.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CELLS	65536 /* two halves of 256 KiB: enough memory to be worth saving */
#define WORKERS 2

static double field[2][CELLS];
static pthread_barrier_t step_barrier;
static long steps;

static void relax_half(int half, long step)
{
	const double *in = field[step % 2];
	double *out = field[(step + 1) % 2];
	size_t lo = (size_t)half * CELLS / WORKERS;
	size_t hi = lo + CELLS / WORKERS;

	for (size_t i = lo; i < hi; i++) {
		double left = in[(i + CELLS - 1) % CELLS];
		double right = in[(i + 1) % CELLS];

		out[i] = 0.25 * left + 0.5 * in[i] + 0.25 * right + 1e-6 * (double)(step % 7);
	}
}

static void *worker(void *arg)
{
	int half = *(const int *)arg;

	for (long s = 0; s < steps; s++) {
		relax_half(half, s);
		pthread_barrier_wait(&step_barrier);
		pthread_barrier_wait(&step_barrier); /* main prints between the two */
	}
	return NULL;
}

static uint64_t checksum(const double *f)
{
	uint64_t h = 1469598103934665603ull;
	uint64_t bits;

	for (size_t i = 0; i < CELLS; i++) {
		memcpy(&bits, &f[i], sizeof(bits));
		h = (h ^ bits) * 1099511628211ull;
	}
	return h;
}

int main(int argc, char **argv)
{
	pthread_t tids[WORKERS];
	static const int halves[WORKERS] = { 0, 1 };
	long ms = argc > 2 ? atol(argv[2]) : 500;
	struct timespec nap = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	steps = argc > 1 ? atol(argv[1]) : 0;
	if (steps <= 0 || ms < 0) {
		fprintf(stderr, "usage: %s STEPS [MS_PER_STEP]\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < CELLS; i++)
		field[0][i] = (double)(i % 97) / 97.0;
	pthread_barrier_init(&step_barrier, NULL, WORKERS + 1);
	for (int w = 0; w < WORKERS; w++)
		pthread_create(&tids[w], NULL, worker, (void *)&halves[w]);
	for (long s = 1; s <= steps; s++) {
		pthread_barrier_wait(&step_barrier);
		if (s % 10 == 0)
			printf("step %ld checksum %016" PRIx64 "\n", s, checksum(field[s % 2]));
		fflush(stdout);
		if (ms)
			nanosleep(&nap, NULL);
		pthread_barrier_wait(&step_barrier);
	}
	for (int w = 0; w < WORKERS; w++)
		pthread_join(tids[w], NULL);
	printf("result %016" PRIx64 "\n", checksum(field[steps % 2]));
	return 0;
}
