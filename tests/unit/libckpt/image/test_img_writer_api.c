/* test_img_writer_api.c - the writer refuses misuse with the documented
 * error, and a failed write is reported, never a half image. */
#include "img_test_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PS 4096u

static char *dir;
static char *path;
static struct img_writer_opts opts;
static void *arena;
static size_t asz;
static struct img_writer *w;
static uint8_t page[4 * PS];

static void setup(void)
{
	struct img_header h = { .pid = 1 };

	dir = tdir_make();
	path = tpath(dir, "w.img");
	memset(&opts, 0, sizeof(opts));
	opts.log_fd = -1;
	opts.level = 1;
	opts.nthreads = 2;
	opts.no_fsync = true;
	opts.max_areas = 4;
	opts.max_records = 2;
	opts.max_chunks = 4;
	img_writer_opts_defaults(&opts);
	asz = img_writer_arena_size(&opts);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	cr_assert_neq(arena, MAP_FAILED);
	opts.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(img_writer_begin(&w, &opts, &h, arena, asz), 0);
}

static void teardown(void)
{
	img_writer_free(w);
	close(opts.fd);
	munmap(arena, asz);
	free(path);
	tdir_remove(dir);
}

TestSuite(img_writer_api, .init = setup, .fini = teardown);

static struct img_area area(uint64_t start, uint64_t len)
{
	struct img_area a = { .start = start,
			      .len = len,
			      .prot = PROT_READ,
			      .flags = IMG_AREA_PRIVATE | IMG_AREA_ANON };
	return a;
}

Test(img_writer_api, options)
{
	struct img_writer_opts o = { .level = 99, .nthreads = 1 };
	struct img_header h = { 0 };
	struct img_writer *x;

	img_writer_opts_defaults(&o);
	cr_expect_eq(img_writer_arena_size(&o), 0);
	o.level = 3;
	cr_expect_gt(img_writer_arena_size(&o), 0);
	o.log_fd = -1;
	cr_expect_eq(img_writer_begin(&x, &o, &h, arena, 4096), -EINVAL);
	cr_expect_null(x);
	o.nthreads = 0;
	img_writer_opts_defaults(&o);
	cr_expect_geq(o.nthreads, 1);
}

Test(img_writer_api, records)
{
	cr_expect_eq(img_writer_add_record(w, 1, page, 10), 0);
	cr_expect_eq(img_writer_add_record(w, 1, NULL, (uint64_t)IMG_RECORD_MAX + 1), -EINVAL);
	cr_expect_eq(img_writer_add_record(w, 1, page, (uint64_t)IMG_RECORD_MAX + 1), -E2BIG);
	cr_expect_eq(img_writer_add_record(w, 2, page, 0), 0);
	cr_expect_eq(img_writer_add_record(w, 3, page, 1), -ENOSPC);
}

Test(img_writer_api, record_after_area)
{
	struct img_area a = area(0x10000, PS);

	cr_assert_eq(img_writer_area_begin(w, &a), 0);
	cr_expect_eq(img_writer_add_record(w, 1, page, 10), -EINVAL);
}

Test(img_writer_api, bad_areas)
{
	struct img_area a = area(0x10001, PS);

	cr_expect_eq(img_writer_area_begin(w, &a), -EINVAL); /* unaligned */
	a = area(0x10000, PS + 1);
	cr_expect_eq(img_writer_area_begin(w, &a), -EINVAL);
	a = area(0x10000, 0);
	cr_expect_eq(img_writer_area_begin(w, &a), -EINVAL);
	a = area(0xffffffffff600000ull, PS); /* vsyscall */
	cr_expect_eq(img_writer_area_begin(w, &a), -EINVAL);
	a = area(0x10000, PS);
	a.flags = IMG_AREA_ANON; /* neither kind */
	cr_expect_eq(img_writer_area_begin(w, &a), -EINVAL);
	a = area(0x10000, PS);
	a.prot = 0x10;
	cr_expect_eq(img_writer_area_begin(w, &a), -EINVAL);
	a = area(0x10000, 4 * PS);
	cr_assert_eq(img_writer_area_begin(w, &a), 0);
	cr_expect_eq(img_writer_area_begin(w, &a), -EINVAL); /* still open */
	cr_assert_eq(img_writer_area_end(w), 0);
	a = area(0x12000, PS); /* overlaps */
	cr_expect_eq(img_writer_area_begin(w, &a), -EINVAL);
	a = area(0x14000, PS); /* adjacent: fine */
	cr_expect_eq(img_writer_area_begin(w, &a), 0);
}

Test(img_writer_api, bad_runs)
{
	struct img_area a = area(0x10000, 4 * PS);

	cr_expect_eq(img_writer_area_run(w, 0, page, PS), -EINVAL); /* no area */
	cr_assert_eq(img_writer_area_begin(w, &a), 0);
	cr_expect_eq(img_writer_area_run(w, 1, page, PS), -EINVAL);
	cr_expect_eq(img_writer_area_run(w, 0, page, 100), -EINVAL);
	cr_expect_eq(img_writer_area_run(w, 0, page, 5 * PS), -EINVAL);
	cr_expect_eq(img_writer_area_run(w, 4 * PS, page, PS), -EINVAL);
	cr_expect_eq(img_writer_area_run(w, 2 * PS, page, 2 * PS), 0);
	cr_expect_eq(img_writer_area_run(w, PS, page, PS), -EINVAL);	 /* order */
	cr_expect_eq(img_writer_area_run(w, 3 * PS, page, PS), -EINVAL); /* overlap */
	cr_expect_eq(img_writer_area_end(w), 0);
	cr_expect_eq(img_writer_area_end(w), -EINVAL);
	cr_expect_eq(img_writer_finish(w, NULL), 0);
	cr_expect_eq(img_writer_finish(w, NULL), -EINVAL);
}

Test(img_writer_api, too_many_chunks)
{
	static uint8_t big[5 * IMG_CHUNK_SIZE];
	struct img_area a = area(0x10000, sizeof(big));

	cr_assert_eq(img_writer_area_begin(w, &a), 0);
	cr_expect_eq(img_writer_area_run(w, 0, big, sizeof(big)), -ENOSPC);
	/* The writer stays failed. */
	cr_expect_eq(img_writer_area_end(w), -ENOSPC);
	cr_expect_eq(img_writer_finish(w, NULL), -ENOSPC);
}

/* A write error (here: a read-only fd) fails the image. */
Test(img_writer_api, write_error)
{
	struct img_writer_opts o = opts;
	struct img_header h = { .pid = 1 };
	struct img_area a = area(0x10000, 4 * PS);
	struct img_writer *x = NULL;
	int err;

	img_writer_free(w);
	w = NULL;
	o.fd = open(path, O_RDONLY);
	err = img_writer_begin(&x, &o, &h, arena, asz);
	if (!err)
		err = img_writer_area_begin(x, &a);
	if (!err)
		err = img_writer_area_run(x, 0, page, 4 * PS);
	if (!err)
		err = img_writer_finish(x, NULL);
	cr_expect_eq(err, -EBADF);
	img_writer_free(x);
	close(o.fd);
}

/* The fault points fail the image with the documented error; what a
 * failed write leaves on disk is never accepted by the reader (after a
 * failed fsync the file is whole, and the coordinator drops it on the
 * error alone). */
static void fault_expect(const char *point, int level, unsigned int nthreads, int want,
			 bool left_valid)
{
	struct timage t;
	char *p = tpath(dir, "fault.img");
	struct img_reader *r;

	setenv("CKPT_FAULT", point, 1);
	timage_build(&t, TDATA_TEXT, true);
	cr_expect_eq(timage_write(&t, p, level, nthreads), want, "fault %s", point);
	unsetenv("CKPT_FAULT");
	cr_expect_eq(img_reader_open(p, 0, &r) == 0, left_valid, "image left by %s: %s", point,
		     img_reader_error(r));
	img_reader_free(r);
	timage_free(&t);
	free(p);
}

Test(img_writer_api, fault_points)
{
	fault_expect("img_write", 1, 1, -ENOSPC, false);
	fault_expect("other,img_write", 0, 2, -ENOSPC, false);
	fault_expect("img_compress", 3, 2, -ENOMEM, false);
	fault_expect("img_compress", 3, 1, -ENOMEM, false);
	fault_expect("img_writ", 3, 1, 0, true); /* whole names only */
	fault_expect("x,img_fsync,y", 3, 2, -EIO, true);
}

/* Threads that cannot start cost speed, not the image. */
Test(img_writer_api, no_threads_fallback)
{
	struct timage t;
	char *p = tpath(dir, "nothreads.img");

	setenv("CKPT_FAULT", "img_thread", 1);
	timage_build(&t, TDATA_TEXT, false);
	cr_expect_eq(timage_write(&t, p, 3, 4), 0);
	unsetenv("CKPT_FAULT");
	cr_expect(timage_check(&t, p, IMG_VERIFY_ALL));
	timage_free(&t);
	free(p);
}
