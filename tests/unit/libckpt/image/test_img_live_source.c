/* test_img_live_source.c - memory written to while the writer reads it
 * (shared memory is read live; the kernel stores into a registered rseq
 * area) still gives an image whose every chunk verifies: a chunk's
 * checksums must describe the bytes stored, not the source read twice. */
#include "img_test_util.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PS 4096u
/* 8 MiB of source: two full 4 MiB chunks read in place plus small ones. */
#define LIVE_PAGES 2048u
/* Writes per configuration: without the copy, one is nearly always enough
 * to store a chunk its own checksum refuses; a dozen make it certain. */
#define LIVE_ROUNDS 12
/* Fake address of the first area: anything page aligned in user space. */
#define LIVE_BASE 0x100000000ull

/* Single-run areas (chunks the writer reads in place) of several sizes, and
 * one sparse area (chunks gathered from several runs), in pages. */
static const struct {
	uint32_t first; /* first source page */
	uint32_t len;	/* pages of the area */
	uint32_t step;	/* 0: one run; else one page of every step */
} live_areas[] = {
	{ 0, 1, 0 }, { 1, 5, 0 }, { 6, 1024, 0 }, { 1030, 3, 0 }, { 1033, 96, 3 }, { 1129, 919, 0 },
};

/* The thread that keeps writing the first word of every page. */
struct perturber {
	uint64_t *mem; /* LIVE_PAGES pages, shared mapping */
	int stop;      /* set to end the thread; atomic */
	uint64_t laps; /* passes over the pages; atomic */
};

static char *dir;
static uint8_t *src;
static uint8_t *expect;
static struct perturber pt;
static pthread_t pt_thread;

static void *perturber_main(void *arg)
{
	struct perturber *p = arg;

	while (!__atomic_load_n(&p->stop, __ATOMIC_RELAXED)) {
		for (size_t i = 0; i < LIVE_PAGES; i++)
			__atomic_add_fetch(&p->mem[i * (PS / 8)], 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&p->laps, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void setup(void)
{
	dir = tdir_make();
	src = mmap(NULL, LIVE_PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		   0);
	cr_assert_neq(src, MAP_FAILED);
	expect = malloc(LIVE_PAGES * PS);
	cr_assert_not_null(expect);
	/* Compressible text, so that level > 0 stores zstd frames. */
	for (size_t i = 0; i < LIVE_PAGES * PS; i++)
		src[i] = (uint8_t)("live source page data "[i % 22] + (i / PS) % 7);
	memcpy(expect, src, LIVE_PAGES * PS);
	pt.mem = (uint64_t *)src;
	pt.stop = 0;
	pt.laps = 0;
	cr_assert_eq(pthread_create(&pt_thread, NULL, perturber_main, &pt), 0);
	/* The writes below must overlap the perturber at work. */
	while (__atomic_load_n(&pt.laps, __ATOMIC_RELAXED) < 2)
		sched_yield();
}

static void teardown(void)
{
	__atomic_store_n(&pt.stop, 1, __ATOMIC_RELAXED);
	pthread_join(pt_thread, NULL);
	munmap(src, LIVE_PAGES * PS);
	free(expect);
	tdir_remove(dir);
}

TestSuite(img_live_source, .init = setup, .fini = teardown, .timeout = 60);

static uint64_t area_start(size_t i)
{
	return LIVE_BASE + (uint64_t)live_areas[i].first * PS + i * PS; /* one page gap */
}

static int live_areas_write(struct img_writer *w)
{
	int err = 0;

	for (size_t i = 0; !err && i < sizeof(live_areas) / sizeof(live_areas[0]); i++) {
		uint32_t len = live_areas[i].len;
		uint32_t step = live_areas[i].step;
		struct img_area a = { .start = area_start(i),
				      .len = (uint64_t)len * PS,
				      .prot = PROT_READ | PROT_WRITE,
				      .flags = IMG_AREA_SHARED | IMG_AREA_ANON };
		const uint8_t *p = src + (size_t)live_areas[i].first * PS;

		err = img_writer_area_begin(w, &a);
		for (uint32_t pg = 0; !err && pg < len; pg += step ? step : len)
			err = img_writer_area_run(w, (uint64_t)pg * PS, p + (size_t)pg * PS,
						  (uint64_t)(step ? 1 : len) * PS);
		if (!err)
			err = img_writer_area_end(w);
	}
	return err;
}

static void live_write(const char *path, int level, unsigned int nthreads)
{
	struct img_writer_opts o = { .log_fd = 2, .level = level, .nthreads = nthreads };
	struct img_header h = { .pid = 1 };
	struct img_writer *w = NULL;
	size_t asz;
	void *arena;
	int err;

	o.no_fsync = true;
	o.max_areas = 16;
	o.max_records = 1;
	o.max_chunks = 64;
	img_writer_opts_defaults(&o);
	asz = img_writer_arena_size(&o);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	cr_assert_neq(arena, MAP_FAILED);
	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(o.fd, 0);
	err = img_writer_begin(&w, &o, &h, arena, asz);
	if (!err)
		err = live_areas_write(w);
	if (!err)
		err = img_writer_finish(w, NULL);
	img_writer_free(w);
	close(o.fd);
	munmap(arena, asz);
	cr_assert_eq(err, 0, "write: %d", err);
}

/* Every chunk verifies, and every stored page is the source page except
 * for the word the perturber writes. */
static void live_check(const char *path)
{
	struct img_reader *r = NULL;
	int err = img_reader_open(path, IMG_VERIFY_ALL, &r);
	uint8_t *buf = malloc(1024 * PS);

	cr_assert_not_null(buf);
	cr_assert_eq(err, 0, "%s", r ? img_reader_error(r) : "out of memory");
	for (uint32_t i = 0; i < img_reader_area_count(r); i++) {
		const struct img_area *a = img_reader_area(r, i);
		uint32_t step = live_areas[i].step;
		const uint8_t *want = expect + (size_t)live_areas[i].first * PS;

		cr_assert_leq(a->len, 1024 * PS);
		memcpy(buf, want, a->len);
		cr_assert_eq(img_reader_area_load(r, i, buf), 0, "%s", img_reader_error(r));
		for (uint64_t pg = 0; pg < a->len / PS; pg += step ? step : 1)
			cr_assert_arr_eq(buf + pg * PS + 8, want + pg * PS + 8, PS - 8,
					 "area %u page %llu differs", i, (unsigned long long)pg);
	}
	free(buf);
	img_reader_free(r);
}

static void live_rounds(int level, unsigned int nthreads)
{
	char *path = tpath(dir, "live.img");

	for (int round = 0; round < LIVE_ROUNDS; round++) {
		live_write(path, level, nthreads);
		live_check(path);
	}
	free(path);
}

Test(img_live_source, level1_threads4)
{
	live_rounds(1, 4);
}

Test(img_live_source, level1_threads3)
{
	live_rounds(1, 3);
}

Test(img_live_source, level3_threads1)
{
	live_rounds(3, 1);
}

/* Stored raw: the bytes written must be the bytes hashed. */
Test(img_live_source, level0_threads3)
{
	live_rounds(0, 3);
}
