/* test_img_roundtrip.c - images written and read back bit-exact. */
#include "img_test_util.h"

#include <criterion/criterion.h>
#include <malloc.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

static char *dir;

static void setup(void)
{
	dir = tdir_make();
}

static void teardown(void)
{
	tdir_remove(dir);
}

TestSuite(img_roundtrip, .init = setup, .fini = teardown);

/* Writes the standard image and checks it, plus the writer's result. */
static void roundtrip(enum tarea_data kind, int level, unsigned int nthreads, bool in_child)
{
	struct timage t;
	char *path = tpath(dir, "a.img");
	uint8_t *file;
	size_t len;
	int err;

	timage_build(&t, kind, false);
	err = in_child ? timage_write_in_child(&t, path, level, nthreads)
		       : timage_write(&t, path, level, nthreads);
	cr_assert_eq(err, 0, "write: %d", err);
	file = tfile_read(path, &len);
	cr_expect_eq(t.res.size, len);
	cr_expect_eq(t.res.xxh64, XXH64(file, len, 0));
	cr_expect_eq(t.res.data_bytes, (2051ull + 3004 + 96 + 1 + 2048) * 4096);
	if (level > 0 && kind != TDATA_RANDOM)
		cr_expect_lt(t.res.stored_bytes, t.res.data_bytes / 4,
			     "compressible data stored %llu of %llu",
			     (unsigned long long)t.res.stored_bytes,
			     (unsigned long long)t.res.data_bytes);
	else
		cr_expect_eq(t.res.stored_bytes, t.res.data_bytes);
	cr_expect(timage_check(&t, path, 0));
	cr_expect(timage_check(&t, path, IMG_VERIFY_ALL));
	free(file);
	free(path);
	timage_free(&t);
}

Test(img_roundtrip, text_level0_threads1)
{
	roundtrip(TDATA_TEXT, 0, 1, false);
}
Test(img_roundtrip, text_level0_threads2)
{
	roundtrip(TDATA_TEXT, 0, 2, false);
}
Test(img_roundtrip, text_level3_threads1)
{
	roundtrip(TDATA_TEXT, 3, 1, false);
}
Test(img_roundtrip, text_level3_threads2)
{
	roundtrip(TDATA_TEXT, 3, 2, false);
}
Test(img_roundtrip, random_level0_threads1)
{
	roundtrip(TDATA_RANDOM, 0, 1, false);
}
Test(img_roundtrip, random_level3_threads1)
{
	roundtrip(TDATA_RANDOM, 3, 1, false);
}
Test(img_roundtrip, random_level3_threads2)
{
	roundtrip(TDATA_RANDOM, 3, 2, false);
}
Test(img_roundtrip, zero_level1_threads4)
{
	roundtrip(TDATA_ZERO, 1, 4, false);
}
Test(img_roundtrip, default_threads)
{
	roundtrip(TDATA_TEXT, 3, 0, false);
}

/* The engine's way: a raw clone() child writes with compression threads,
 * and allocates nothing while doing so. */
Test(img_roundtrip, raw_clone_child_threads2)
{
	roundtrip(TDATA_TEXT, 3, 2, true);
}
Test(img_roundtrip, raw_clone_child_threads1_raw)
{
	roundtrip(TDATA_RANDOM, 0, 1, true);
}

/* Same content, same layout, whatever the thread count: chunks are
 * written in order, so the files differ only in the creation time. */
Test(img_roundtrip, threads_do_not_change_data)
{
	struct timage t;
	char *p1 = tpath(dir, "t1.img");
	char *p2 = tpath(dir, "t2.img");

	timage_build(&t, TDATA_TEXT, false);
	cr_assert_eq(timage_write(&t, p1, 3, 1), 0);
	uint64_t s1 = t.res.size;
	cr_assert_eq(timage_write(&t, p2, 3, 3), 0);
	cr_expect_eq(t.res.size, s1);
	free(p1);
	free(p2);
	timage_free(&t);
}

Test(img_roundtrip, empty_image)
{
	struct img_writer_opts o = { .log_fd = 2, .level = 3, .nthreads = 2, .no_fsync = true };
	struct img_header h = { .pid = 1 };
	char *path = tpath(dir, "e.img");
	struct img_writer_result res;
	struct img_reader *r;
	struct img_writer *w;
	size_t asz;
	void *arena;

	img_writer_opts_defaults(&o);
	asz = img_writer_arena_size(&o);
	arena = mmap(NULL, asz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		     -1, 0);
	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(img_writer_begin(&w, &o, &h, arena, asz), 0);
	cr_assert_eq(img_writer_finish(w, &res), 0);
	img_writer_free(w);
	close(o.fd);
	munmap(arena, asz);
	cr_assert_eq(img_reader_open(path, IMG_VERIFY_ALL, &r), 0, "%s", img_reader_error(r));
	cr_expect_eq(img_reader_area_count(r), 0);
	cr_expect_eq(img_reader_record_count(r), 0);
	cr_expect_eq(img_reader_header(r)->argc, 0);
	cr_expect_str_eq(img_reader_error(r), "");
	img_reader_free(r);
	free(path);
}

Test(img_roundtrip, record_find)
{
	struct timage t;
	char *path = tpath(dir, "f.img");
	struct img_reader *r;
	const void *data;
	uint64_t len;
	uint32_t i = 0;

	timage_build(&t, TDATA_TEXT, true);
	cr_assert_eq(timage_write(&t, path, 1, 1), 0);
	cr_assert_eq(img_reader_open(path, 0, &r), 0, "%s", img_reader_error(r));
	cr_expect_eq(img_reader_record_find(r, 0xfeedbeef, &i, &data, &len), 0);
	cr_expect_eq(i, 2);
	cr_expect_eq(len, t.rec_len[2]);
	i = 3;
	cr_expect_eq(img_reader_record_find(r, 0xfeedbeef, &i, &data, &len), -ENOENT);
	cr_expect_eq(img_reader_record(r, 3, NULL, NULL, NULL), -ENOENT);
	cr_expect_null(img_reader_area(r, 3));
	cr_expect_eq(img_reader_area_load(r, 3, &len), -ENOENT);
	img_reader_free(r);
	free(path);
	timage_free(&t);
}

Test(img_roundtrip, inspect_print)
{
	struct timage t;
	char *path = tpath(dir, "i.img");
	struct img_reader *r;
	char *buf = NULL;
	size_t blen = 0;
	FILE *out = open_memstream(&buf, &blen);

	timage_build(&t, TDATA_TEXT, false);
	cr_assert_eq(timage_write(&t, path, 3, 2), 0);
	cr_assert_eq(img_reader_open(path, 0, &r), 0, "%s", img_reader_error(r));
	cr_assert_eq(img_inspect_print(r, out, true), 0);
	fclose(out);
	cr_expect_not_null(strstr(buf, "pid 4242"));
	cr_expect_not_null(strstr(buf, "records:  3"));
	cr_expect_not_null(strstr(buf, "areas:    5"));
	cr_expect_not_null(strstr(buf, "[stack]"));
	cr_expect_not_null(strstr(buf, "libfoo.so.1"));
	cr_expect_not_null(strstr(buf, "argv[1] = \"--size\""));
	cr_expect_not_null(strstr(buf, "8.0 MiB / 8.0 MiB"), "%s", buf);
	free(buf);
	img_reader_free(r);
	free(path);
	timage_free(&t);
}

/* Not built under ASan: mallinfo2 does not see ASan's allocator. */
#if !defined(__SANITIZE_ADDRESS__)
/* Loading allocates nothing: open made every buffer, so a restorer may
 * map areas at fixed addresses between open and load. */
Test(img_roundtrip, load_allocates_nothing)
{
	struct timage t;
	char *path = tpath(dir, "m.img");
	struct img_reader *r;
	uint8_t *dest[5];
	struct mallinfo2 before;
	struct mallinfo2 after;

	timage_build(&t, TDATA_TEXT, false);
	cr_assert_eq(timage_write(&t, path, 3, 2), 0);
	cr_assert_eq(img_reader_open(path, 0, &r), 0, "%s", img_reader_error(r));
	for (uint32_t i = 0; i < t.nareas; i++) {
		dest[i] = mmap(NULL, t.areas[i].a.len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		cr_assert_neq(dest[i], MAP_FAILED);
	}
	before = mallinfo2();
	for (uint32_t i = 0; i < t.nareas; i++)
		cr_assert_eq(img_reader_area_load(r, i, dest[i]), 0, "%s", img_reader_error(r));
	after = mallinfo2();
	cr_expect_eq(after.uordblks, before.uordblks);
	cr_expect_eq(after.hblkhd, before.hblkhd);
	for (uint32_t i = 0; i < t.nareas; i++)
		munmap(dest[i], t.areas[i].a.len);
	img_reader_free(r);
	free(path);
	timage_free(&t);
}
#endif

/* Strings from the file reach the terminal escaped. */
Test(img_roundtrip, inspect_escapes_control_characters)
{
	struct timage t;
	char *path = tpath(dir, "esc.img");
	struct img_reader *r;
	char *buf = NULL;
	size_t blen = 0;
	FILE *out = open_memstream(&buf, &blen);

	timage_build(&t, TDATA_TEXT, true);
	t.areas[0].a.name = "\x1b[2Jevil";
	cr_assert_eq(timage_write(&t, path, 1, 1), 0);
	cr_assert_eq(img_reader_open(path, 0, &r), 0, "%s", img_reader_error(r));
	cr_assert_eq(img_inspect_print(r, out, false), 0);
	fclose(out);
	cr_expect_null(strchr(buf, '\x1b'));
	cr_expect_not_null(strstr(buf, "\\x1b[2Jevil"), "%s", buf);
	free(buf);
	img_reader_free(r);
	free(path);
	timage_free(&t);
}
