/* test_img_pagemap.c - present-page runs from a real mapping. */
#include "img_test_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PS 4096u

struct runs {
	uint64_t addr[16]; /* run starts */
	uint64_t len[16];  /* run lengths */
	int n;		   /* runs seen */
	int stop_after;	   /* return -ECANCELED after this many, 0: never */
};

static int collect(void *arg, uint64_t addr, uint64_t len)
{
	struct runs *r = arg;

	if (r->n < 16) {
		r->addr[r->n] = addr;
		r->len[r->n] = len;
	}
	r->n++;
	if (r->stop_after && r->n == r->stop_after)
		return -ECANCELED;
	return 0;
}

static uint8_t *map64(void)
{
	uint8_t *m = mmap(NULL, 64u << 20, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	cr_assert_neq(m, MAP_FAILED);
	/* A huge page would make 512 pages present at the first touch. */
	madvise(m, 64u << 20, MADV_NOHUGEPAGE);
	return m;
}

Test(img_pagemap, touched_pages_only)
{
	uint8_t *m = map64();
	uint64_t base = (uintptr_t)m;
	struct runs r = { 0 };
	int fd = open("/proc/self/pagemap", O_RDONLY);

	cr_assert_geq(fd, 0);
	m[0] = 1;
	m[5 * PS] = 1;
	m[6 * PS + 100] = 1;
	m[1000 * PS] = 1;
	cr_assert_eq(img_pagemap_runs(fd, base, base + (64u << 20), collect, &r), 0);
	cr_assert_eq(r.n, 3);
	cr_expect_eq(r.addr[0], base);
	cr_expect_eq(r.len[0], PS);
	cr_expect_eq(r.addr[1], base + 5 * PS);
	cr_expect_eq(r.len[1], 2 * PS);
	cr_expect_eq(r.addr[2], base + 1000 * PS);
	cr_expect_eq(r.len[2], PS);

	/* A sub-range cuts runs at its edges; batches of 512 entries meet
	 * inside a run without splitting it. */
	for (int i = 500; i < 530; i++)
		m[(size_t)i * PS] = 1;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(img_pagemap_runs(fd, base + 6 * PS, base + 520 * PS, collect, &r), 0);
	cr_assert_eq(r.n, 2);
	cr_expect_eq(r.addr[0], base + 6 * PS);
	cr_expect_eq(r.len[0], PS);
	cr_expect_eq(r.addr[1], base + 500 * PS);
	cr_expect_eq(r.len[1], 20 * PS);

	/* The callback's error stops the walk and comes back. */
	memset(&r, 0, sizeof(r));
	r.stop_after = 2;
	cr_expect_eq(img_pagemap_runs(fd, base, base + (64u << 20), collect, &r), -ECANCELED);
	cr_expect_eq(r.n, 2);

	cr_expect_eq(img_pagemap_runs(fd, base + 1, base + PS, collect, &r), -EINVAL);
	cr_expect_eq(img_pagemap_runs(-1, base, base + PS, collect, &r), -EBADF);
	close(fd);
	munmap(m, 64u << 20);
}

/* Nothing touched, nothing reported. */
Test(img_pagemap, untouched_mapping)
{
	uint8_t *m = map64();
	struct runs r = { 0 };
	int fd = open("/proc/self/pagemap", O_RDONLY);

	cr_assert_eq(img_pagemap_runs(fd, (uintptr_t)m, (uintptr_t)m + (64u << 20), collect, &r),
		     0);
	cr_expect_eq(r.n, 0);
	close(fd);
	munmap(m, 64u << 20);
}

struct feed {
	struct img_writer *w; /* writer to feed */
	uint64_t start;	      /* area start */
	const uint8_t *base;  /* the area's mapping, at start */
};

static int feed_run(void *arg, uint64_t addr, uint64_t len)
{
	struct feed *f = arg;

	return img_writer_area_run(f->w, addr - f->start, f->base + (addr - f->start), len);
}

/* The engine's pipeline: pagemap runs straight into the writer; the
 * restored area has the touched pages and nothing else. */
Test(img_pagemap, pagemap_to_image)
{
	uint8_t *m = map64();
	uint64_t base = (uintptr_t)m;
	struct img_writer_opts o = {
		.log_fd = 2, .level = 3, .nthreads = 2, .no_fsync = true, .max_chunks = 64
	};
	struct img_header h = { .pid = 7 };
	struct img_area a = { .start = base,
			      .len = 64u << 20,
			      .prot = PROT_READ | PROT_WRITE,
			      .flags = IMG_AREA_PRIVATE | IMG_AREA_ANON };
	char *dir = tdir_make();
	char *path = tpath(dir, "p.img");
	int fd = open("/proc/self/pagemap", O_RDONLY);
	struct img_reader *r;
	struct img_writer *w;
	struct feed f;
	uint8_t *dest;
	size_t asz;
	void *arena;

	for (int i = 0; i < 3000; i += 7)
		memset(m + (size_t)i * PS, i & 0xff, 10);
	img_writer_opts_defaults(&o);
	asz = img_writer_arena_size(&o);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(img_writer_begin(&w, &o, &h, arena, asz), 0);
	cr_assert_eq(img_writer_area_begin(w, &a), 0);
	f.w = w;
	f.start = base;
	f.base = m;
	cr_assert_eq(img_pagemap_runs(fd, base, base + a.len, feed_run, &f), 0);
	cr_assert_eq(img_writer_finish(w, NULL), 0);
	img_writer_free(w);
	close(o.fd);
	munmap(arena, asz);

	cr_assert_eq(img_reader_open(path, IMG_VERIFY_ALL, &r), 0, "%s", img_reader_error(r));
	cr_expect_eq(img_reader_area(r, 0)->present_pages, (3000 + 6) / 7);
	dest = map64();
	cr_assert_eq(img_reader_area_load(r, 0, dest), 0, "%s", img_reader_error(r));
	cr_expect_eq(memcmp(dest, m, 4000 * PS), 0);
	img_reader_free(r);
	munmap(dest, 64u << 20);
	munmap(m, 64u << 20);
	close(fd);
	free(path);
	tdir_remove(dir);
}
