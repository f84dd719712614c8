/* t_bigmem.c - about 1 GiB of resident, moderately compressible memory that
 * keeps changing; used to measure pause and write times (not in the cycle
 * suite by default: it needs 2+ GiB of free memory and a few seconds).
 * Usage: t_bigmem [MiB] [steps] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
	int steps = argc > 2 ? atoi(argv[2]) : 20;
	size_t n = mib * (1u << 20) / sizeof(uint64_t);
	uint64_t *a = malloc(n * sizeof(*a));
	uint64_t x = 88172645463325252ull;

	if (!a)
		return 2;
	for (size_t i = 0; i < n; i++) {
		/* xorshift in the low half, a counter in the high half: about
		 * 2:1 with zstd -1, like numerical data. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		a[i] = (x & 0xffffffffu) | ((uint64_t)(i >> 10) << 32);
	}
	for (int s = 0; s < steps; s++) {
		uint64_t sum = 0;

		for (size_t i = (size_t)s; i < n; i += 7) {
			a[i] += (uint64_t)s;
			sum += a[i];
		}
		printf("step %d sum %016llx\n", s, (unsigned long long)sum);
		fflush(stdout);
	}
	free(a);
	return 0;
}
