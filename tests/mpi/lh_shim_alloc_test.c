/* lh_shim_alloc_test.c - the lower-half shim's allocator under load.
 *
 * Loads libckpt-lhshim.so into a new link-map namespace (as the shadow
 * library does) and hammers its malloc family from 4 threads: random sizes
 * from 0 B to 1 MiB (so both size classes and large blocks), realloc up and
 * down, calloc, every alignment from 16 B to 64 KiB through memalign,
 * posix_memalign and aligned_alloc, valloc/pvalloc. Every block is filled
 * with a pattern that is checked before it is freed; alignment and
 * malloc_usable_size are checked on every block. At the end at most the 8
 * large blocks the shim keeps for reuse may remain recorded, and a pointer from the upper half's malloc passed to
 * the shim's free is handed back to the upper half's free.
 * Usage: lh_shim_alloc_test SHIM.so. Prints "ok: ..." and exits 0.
 *
 * lh_shim_alloc_test SHIM.so bench: nanoseconds per malloc+free pair of the
 * shim and of this process's glibc, 1 and 4 threads (docs/mpi.md).
 */
#include "lh_shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 4
#define SLOTS	512
#define OPS	50000

static struct {
	void *(*malloc)(size_t n);
	void *(*calloc)(size_t c, size_t n);
	void *(*realloc)(void *p, size_t n);
	void (*free)(void *p);
	void *(*memalign)(size_t a, size_t n);
	int (*posix_memalign)(void **p, size_t a, size_t n);
	void *(*aligned_alloc)(size_t a, size_t n);
	void *(*valloc)(size_t n);
	void *(*pvalloc)(size_t n);
	size_t (*usable)(void *p);
	lh_shim_regions_fn *regions;
	lh_shim_stats_fn *stats;
	lh_shim_set_upper_fn *set_upper;
} sh;

static int failures;

struct slot {
	unsigned char *p;
	size_t n;
	unsigned char fill;
};

static void bad(const char *what, size_t n, size_t align)
{
	fprintf(stderr, "BAD %s (size %zu, align %zu)\n", what, n, align);
	__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
}

static unsigned next(unsigned *seed)
{
	*seed = *seed * 1103515245 + 12345;
	return *seed >> 8;
}

/* Mostly small, some mid-sized, a few large (own mapping). */
static size_t pick_size(unsigned *seed)
{
	unsigned r = next(seed) % 100;

	if (r < 80)
		return next(seed) % 512;
	if (r < 97)
		return next(seed) % (200 << 10);
	return next(seed) % (1 << 20);
}

static bool intact(const struct slot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->p[i] != s->fill)
			return false;
	}
	return true;
}

static void *alloc_one(unsigned *seed, size_t n, size_t *align)
{
	void *p = NULL;

	*align = 16;
	switch (next(seed) % 8) {
	case 0:
		*align = (size_t)16 << (next(seed) % 13); /* 16 B .. 64 KiB */
		return sh.memalign(*align, n);
	case 1:
		*align = (size_t)8 << (next(seed) % 10);
		if (sh.posix_memalign(&p, *align, n))
			return NULL;
		return p;
	case 2:
		*align = 64;
		return sh.aligned_alloc(64, n);
	case 3:
		*align = 4096;
		return next(seed) % 2 ? sh.valloc(n) : sh.pvalloc(n);
	case 4:
		p = sh.calloc(1, n);
		for (size_t i = 0; p && i < n; i++) {
			if (((unsigned char *)p)[i]) {
				bad("calloc not zeroed", n, 16);
				break;
			}
		}
		return p;
	default:
		return sh.malloc(n);
	}
}

static void *worker(void *arg)
{
	unsigned seed = *(const unsigned *)arg * 7919 + 1;
	struct slot *slots = calloc(SLOTS, sizeof(*slots));

	for (int op = 0; slots && op < OPS; op++) {
		struct slot *s = &slots[next(&seed) % SLOTS];
		size_t n = pick_size(&seed);
		size_t align;

		if (s->p && !intact(s))
			bad("block contents changed", s->n, 0);
		if (s->p && next(&seed) % 3 == 0) {
			/* realloc keeps the common prefix. */
			unsigned char *q = sh.realloc(s->p, n);

			if (!q && n) {
				bad("realloc failed", n, 0);
				continue;
			}
			s->p = q;
			s->n = n < s->n ? n : s->n;
			if (q && !intact(s))
				bad("realloc lost data", n, 0);
			s->n = n;
			if (q)
				memset(q, s->fill, n);
			continue;
		}
		sh.free(s->p);
		s->p = alloc_one(&seed, n, &align);
		s->n = n;
		if (!s->p) {
			bad("allocation failed", n, align);
			continue;
		}
		if ((uintptr_t)s->p % align)
			bad("misaligned", n, align);
		if (sh.usable(s->p) < n)
			bad("malloc_usable_size too small", n, align);
		s->fill = (unsigned char)next(&seed);
		memset(s->p, s->fill, n);
	}
	for (int i = 0; slots && i < SLOTS; i++) {
		if (slots[i].p && !intact(&slots[i]))
			bad("block contents changed", slots[i].n, 0);
		sh.free(slots[i].p);
	}
	free(slots);
	return NULL;
}

static int resolve(void *h)
{
	sh.malloc = dlsym(h, "malloc");
	sh.calloc = dlsym(h, "calloc");
	sh.realloc = dlsym(h, "realloc");
	sh.free = dlsym(h, "free");
	sh.memalign = dlsym(h, "memalign");
	sh.posix_memalign = dlsym(h, "posix_memalign");
	sh.aligned_alloc = dlsym(h, "aligned_alloc");
	sh.valloc = dlsym(h, "valloc");
	sh.pvalloc = dlsym(h, "pvalloc");
	sh.usable = dlsym(h, "malloc_usable_size");
	sh.regions = (lh_shim_regions_fn *)dlsym(h, "lh_shim_regions");
	sh.stats = (lh_shim_stats_fn *)dlsym(h, "lh_shim_stats");
	sh.set_upper = (lh_shim_set_upper_fn *)dlsym(h, "lh_shim_set_upper");
	return sh.malloc && sh.calloc && sh.realloc && sh.free && sh.memalign &&
			       sh.posix_memalign && sh.aligned_alloc && sh.valloc && sh.pvalloc &&
			       sh.usable && sh.regions && sh.stats && sh.set_upper
		       ? 0
		       : -1;
}

/* Large blocks still recorded: all were freed, so only those the shim keeps
 * for reuse (at most 8). */
static size_t large_left(void)
{
	static struct lh_shim_region r[LH_SHIM_REGIONS_MAX];
	size_t n = sh.regions(r, LH_SHIM_REGIONS_MAX);
	size_t left = 0;

	for (size_t i = 0; i < n; i++)
		left += r[i].kind == LH_SHIM_HEAP && !(r[i].flags & LH_SHIM_F_ARENA);
	return left;
}

struct bench_arg {
	void *(*alloc)(size_t n);
	void (*release)(void *p);
	size_t size;
	double ns;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* 16 live blocks, replaced round-robin: a malloc+free pair per step. */
static void *bench_loop(void *arg)
{
	struct bench_arg *b = arg;
	void *live[16] = { 0 };
	int steps = b->size > 4096 ? 200000 : 2000000;
	double t0 = now_ns();

	for (int i = 0; i < steps; i++) {
		b->release(live[i & 15]);
		live[i & 15] = b->alloc(b->size);
		*(volatile char *)live[i & 15] = 1;
	}
	b->ns = (now_ns() - t0) / steps;
	for (int i = 0; i < 16; i++)
		b->release(live[i]);
	return NULL;
}

static double bench(void *(*alloc)(size_t), void (*release)(void *), size_t size, int threads)
{
	struct bench_arg a[THREADS];
	pthread_t t[THREADS];
	double worst = 0;

	for (int i = 0; i < threads; i++) {
		a[i] = (struct bench_arg){ .alloc = alloc, .release = release, .size = size };
		pthread_create(&t[i], NULL, bench_loop, &a[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		worst = a[i].ns > worst ? a[i].ns : worst;
	}
	return worst;
}

static int run_bench(void)
{
	static const size_t sizes[] = { 64, 4096, 256 << 10 };

	printf("%-22s %10s %10s\n", "ns per malloc+free", "shim", "glibc");
	for (int threads = 1; threads <= THREADS; threads += THREADS - 1) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			printf("%7zu B, %d thread%s %10.1f %10.1f\n", sizes[i], threads,
			       threads > 1 ? "s" : " ",
			       bench(sh.malloc, sh.free, sizes[i], threads),
			       bench(malloc, free, sizes[i], threads));
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct lh_shim_upper upper = { .free = free, .realloc = realloc };
	struct lh_shim_stats st;
	pthread_t t[THREADS];
	unsigned ids[THREADS];
	void *h;
	void *p = NULL;
	size_t left;
	char *uh;

	if (argc < 2) {
		fprintf(stderr, "usage: lh_shim_alloc_test SHIM.so [bench]\n");
		return 2;
	}
	h = dlmopen(LM_ID_NEWLM, argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h || resolve(h)) {
		fprintf(stderr, "cannot load the shim: %s\n", h ? "symbols missing" : dlerror());
		return 1;
	}
	sh.set_upper(&upper);
	if (argc > 2 && strcmp(argv[2], "bench") == 0)
		return run_bench();
	if (sh.posix_memalign(&p, 24, 8) != EINVAL || sh.posix_memalign(&p, 4, 8) != EINVAL)
		bad("posix_memalign accepts a bad alignment", 8, 24);
	if (sh.calloc(SIZE_MAX / 2, 4) || sh.malloc(SIZE_MAX - 8))
		bad("overflowing size served", SIZE_MAX, 0);
	if (sh.realloc(sh.malloc(10), 0))
		bad("realloc(p, 0) did not free", 0, 0);
	for (unsigned i = 0; i < THREADS; i++) {
		ids[i] = i;
		pthread_create(&t[i], NULL, worker, &ids[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	left = large_left();
	if (left > 8)
		bad("more than 8 large blocks mapped after all were freed", left, 0);
	uh = malloc(100);
	sh.free(uh); /* handed back to this (the upper half's) free */
	sh.stats(&st);
	if (st.foreign_frees != 1)
		bad("a foreign pointer was not handed back", st.foreign_frees, 0);
	if (failures)
		return 1;
	printf("ok: %d threads x %d operations, %llu allocations (%llu large), %llu KiB of "
	       "arenas\n",
	       THREADS, OPS, (unsigned long long)st.mallocs, (unsigned long long)st.large,
	       (unsigned long long)(st.arena_bytes >> 10));
	return 0;
}
