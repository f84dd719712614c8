/* t_incr.c - a process with a large memory that changes a small part of it
 * between checkpoints (tests/standalone/incr.sh).
 *
 *   t_incr MIB DIR
 *
 * Fills MIB MiB with data that is a function of (page, version) and prints
 * "ready". Then, for k = 1, 2, ...: waits until the file DIR/go-k exists,
 * checks that every page holds what its version says (a restore that
 * brought back wrong memory is caught here), rewrites 5 % of the pages (a
 * contiguous range that moves with k) with version k, and prints
 * "step k ok". DIR/stop ends the program after the same check ("end ok").
 * Any mismatch prints "MISMATCH page P" and exits 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static uint64_t *mem;	   /* the data */
static uint32_t *versions; /* version of each page */
static size_t npages;	   /* pages of mem */

static void page_fill(size_t p, uint32_t v, uint64_t *out)
{
	uint64_t x = (p + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)v << 32 | v);

	for (size_t i = 0; i < PAGE / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* half the words small: compressible like real heaps */
		out[i] = (i & 1) ? x : (x & 0xff);
	}
}

static int check_all(void)
{
	uint64_t want[PAGE / 8];

	for (size_t p = 0; p < npages; p++) {
		page_fill(p, versions[p], want);
		if (memcmp(want, mem + p * (PAGE / 8), PAGE) != 0) {
			printf("MISMATCH page %zu\n", p);
			fflush(stdout);
			return -1;
		}
	}
	return 0;
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
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	size_t mib;

	if (argc != 3) {
		fprintf(stderr, "usage: t_incr MIB DIR\n");
		return 2;
	}
	mib = strtoul(argv[1], NULL, 10);
	npages = mib * 256;
	mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	versions = calloc(npages, sizeof(*versions));
	if (mem == MAP_FAILED || !versions)
		return 2;
	for (size_t p = 0; p < npages; p++)
		page_fill(p, 0, mem + p * (PAGE / 8));
	printf("ready\n");
	fflush(stdout);
	for (uint32_t k = 1;; k++) {
		char go[32];
		size_t n = npages / 20;
		size_t first = (k * 7 % 20) * n;

		snprintf(go, sizeof(go), "go-%u", k);
		while (!exists(argv[2], go) && !exists(argv[2], "stop"))
			nanosleep(&ts, NULL);
		if (check_all() < 0)
			return 1;
		if (!exists(argv[2], go)) {
			printf("end ok\n");
			return 0;
		}
		for (size_t p = first; p < first + n && p < npages; p++) {
			versions[p] = k;
			page_fill(p, k, mem + p * (PAGE / 8));
		}
		printf("step %u ok\n", k);
		fflush(stdout);
	}
}
