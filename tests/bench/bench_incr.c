/* bench_incr.c - the process of the incremental checkpoint benchmark
 * (contrib/bench/incr).
 *
 *   bench_incr MIB DIR
 *
 * Fills MIB MiB (half-compressible data), rewrites 5 % of it once (pass 0:
 * the cost of that write with nothing tracked and no checkpoint taken),
 * prints "ready", then for k = 1, 2, ...: waits for DIR/go-k, rewrites the
 * next 5 % (every word of each page) and prints "step k pass_ms T": T is
 * what the application paid for that write right after a checkpoint
 * (copy-on-write faults of the forked writer, write-protection faults of
 * the dirty tracking). DIR/stop ends it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Rewrites [first, first + n) words with data derived from @seed. */
static void rewrite(uint64_t *m, size_t first, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = first; i < first + n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		m[i] = (i & 1) ? x : (x & 0xffff);
	}
}

static int exists(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

int main(int argc, char **argv)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	size_t words;
	size_t part;
	uint64_t *m;
	double t0;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_incr MIB DIR\n");
		return 2;
	}
	words = strtoul(argv[1], NULL, 10) << 17;
	part = words / 20;
	m = mmap(NULL, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 2;
	rewrite(m, 0, words, 1);
	t0 = now_ms();
	rewrite(m, 0, part, 2);
	printf("ready pass_ms %.1f\n", now_ms() - t0);
	fflush(stdout);
	for (unsigned int k = 1;; k++) {
		char go[32];

		snprintf(go, sizeof(go), "go-%u", k);
		while (!exists(argv[2], go)) {
			if (exists(argv[2], "stop"))
				return 0;
			nanosleep(&ts, NULL);
		}
		t0 = now_ms();
		rewrite(m, (k % 20) * part, part, k + 2);
		printf("step %u pass_ms %.1f\n", k, now_ms() - t0);
		fflush(stdout);
	}
}
