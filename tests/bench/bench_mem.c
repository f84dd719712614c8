/* bench_mem.c - the process the checkpoint benchmark saves and restores.
 *
 *   bench_mem MIB compressible|random STOPFILE GAPFILE
 *
 * Fills MIB MiB of heap with data of the given kind, prints "ready", then
 * spins reading CLOCK_MONOTONIC and records the longest gap between two
 * readings: that gap is the application pause a checkpoint caused, as the
 * application itself sees it. Each new maximum is written to GAPFILE (in
 * microseconds), because a final checkpoint kills the process. The program
 * exits 0 as soon as STOPFILE exists (checked every 10 ms), after verifying
 * its data is intact, so a restore is timed to its first useful work.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Heap-like data: words drawn at random from a small vocabulary, mixed with
 * random 64-bit values (pointers, counters); zstd level 1 shrinks it 1.9x,
 * level 3 2.0x. img_bench -H fills the same data (keep the two in step). */
static void fill_compressible(uint64_t *p, size_t words)
{
	static const char *const vocab[] = { "node ",  "rank ",	 "step ", "value ",
					     "count ", "index ", "mesh ", "cell ",
					     "flux ",  "grid ",	 "time ", "iter ",
					     "solve ", "halo ",	 "data ", "field " };
	uint64_t x = 2463534242ull;
	char *c = (char *)p;
	size_t len = words * 8;
	size_t i = 0;

	memset(c + len - 8, 0, 8); /* the tail no word fits in */

	while (i + 8 <= len) {
		uint64_t r = xorshift(&x);

		if ((r & 3) == 0) {
			memcpy(c + i, &r, 8);
			i += 8;
			continue;
		}
		const char *w = vocab[(r >> 8) % 16];
		size_t n = strlen(w);

		memcpy(c + i, w, n < len - i ? n : len - i);
		i += n;
	}
}

static void fill_random(uint64_t *p, size_t words)
{
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < words; i++)
		p[i] = xorshift(&x);
}

static uint64_t checksum(const uint64_t *p, size_t words)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < words; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void record_gap(int fd, uint64_t gap_us)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)gap_us);

	if (pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) != 0)
		perror("bench_mem: cannot record gap");
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s MIB compressible|random STOPFILE GAPFILE\n", argv[0]);
		return 2;
	}
	size_t words = (size_t)strtoull(argv[1], NULL, 10) << 17;
	uint64_t *data = malloc(words * sizeof(*data));
	int gap_fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (!data || gap_fd < 0) {
		perror("bench_mem");
		free(data);
		return 2;
	}
	if (!strcmp(argv[2], "random"))
		fill_random(data, words);
	else
		fill_compressible(data, words);
	uint64_t sum = checksum(data, words);

	printf("ready\n");
	fflush(stdout);
	uint64_t last = now_us();
	uint64_t last_poll = last;
	uint64_t max_gap = 0;
	for (;;) {
		uint64_t t = now_us();

		if (t - last > max_gap) {
			max_gap = t - last;
			record_gap(gap_fd, max_gap);
		}
		last = t;
		if (t - last_poll >= 10000) {
			last_poll = t;
			if (access(argv[3], F_OK) == 0)
				break;
			last = now_us();
		}
	}
	int intact = checksum(data, words) == sum;

	free(data);
	if (!intact) {
		fprintf(stderr, "bench_mem: data changed across checkpoint/restart\n");
		return 1;
	}
	printf("intact\n");
	return 0;
}
