/* t_compute.c - single-threaded compute loop whose heap and program break
 * grow as it runs. Prints one line per step and, at the end, a digest of
 * everything it allocated; exits 0 only if its own checks pass. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "end_gate.h"

#define STEPS 60

/* A little work per step so a run lasts about a second or two. */
static uint64_t t_mix(uint64_t x, long rounds)
{
	for (long i = 0; i < rounds; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

int main(void)
{
	uint64_t *blocks[STEPS];
	char *brk0 = sbrk(0);
	uint64_t acc = 1;

	for (int s = 0; s < STEPS; s++) {
		size_t n = 1024u * (size_t)(s + 1);

		/* Alternate malloc (heap/brk and mmap) and sbrk growth. */
		if (s % 3 == 2) {
			void *p = sbrk((intptr_t)(n * sizeof(uint64_t)));

			if ((intptr_t)p == -1)
				return 2;
			blocks[s] = p;
		} else {
			blocks[s] = malloc(n * sizeof(uint64_t));
			if (!blocks[s])
				return 2;
		}
		for (size_t i = 0; i < n; i++)
			blocks[s][i] = acc + i;
		acc = t_mix(acc ^ blocks[s][n - 1], 25000000);
		printf("step %d acc %016llx\n", s, (unsigned long long)acc);
		fflush(stdout);
	}
	/* Check every block still holds what was written. */
	uint64_t check = 1;

	for (int s = 0; s < STEPS; s++) {
		size_t n = 1024u * (size_t)(s + 1);

		for (size_t i = 1; i < n; i++)
			if (blocks[s][i] != blocks[s][0] + i)
				return 3;
		check = t_mix(check ^ blocks[s][n - 1], 1);
	}
	if ((char *)sbrk(0) <= brk0)
		return 4;
	end_gate();
	printf("done acc %016llx check %016llx\n", (unsigned long long)acc,
	       (unsigned long long)check);
	for (int s = 0; s < STEPS; s++)
		if (s % 3 != 2)
			free(blocks[s]);
	return 0;
}
