/* t_mainexit.c - the main thread calls pthread_exit() early and the work
 * goes on in other threads; the last one ends the process with exit(0) after
 * checking its results. The exited main thread lingers as a zombie thread
 * group leader, which a checkpoint must skip rather than wait for. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "end_gate.h"

#define STEPS 40

static pthread_barrier_t barrier;
static uint64_t partial[2];

static uint64_t work(uint64_t x, long n)
{
	for (long i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

static void *helper(void *arg)
{
	(void)arg;
	for (int s = 0; s < STEPS; s++) {
		partial[1] = work(partial[1] + (uint64_t)s, 6000000);
		pthread_barrier_wait(&barrier);
		pthread_barrier_wait(&barrier);
	}
	return NULL;
}

static void *leader(void *arg)
{
	pthread_t h = *(pthread_t *)arg;

	for (int s = 0; s < STEPS; s++) {
		partial[0] = work(partial[0] ^ (uint64_t)s, 6000000);
		pthread_barrier_wait(&barrier);
		printf("step %d %016llx %016llx\n", s, (unsigned long long)partial[0],
		       (unsigned long long)partial[1]);
		fflush(stdout);
		pthread_barrier_wait(&barrier);
	}
	pthread_join(h, NULL);
	end_gate();
	printf("done\n");
	exit(0);
}

int main(void)
{
	static pthread_t h;
	pthread_t l;

	pthread_barrier_init(&barrier, NULL, 2);
	if (pthread_create(&h, NULL, helper, NULL) || pthread_create(&l, NULL, leader, &h))
		return 2;
	pthread_exit(NULL);
}
