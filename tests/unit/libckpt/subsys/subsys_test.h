/* subsys_test.h - helpers shared by the unit tests of the state savers
 * (libckpt/files.c, attrs.c, signals.c). Included by those tests only. */
#ifndef CKPT_TESTS_SUBSYS_TEST_H
#define CKPT_TESTS_SUBSYS_TEST_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "log.h"

/* Room for any record the tests make (unlinked contents included). */
#define TEST_REC_CAP (4u << 20)

/* Record layout of docs/files-and-state.md (struct files_rec_hdr and
 * struct files_rec_fd), used to find and corrupt entries. */
#define HDR_SIZE    16
#define HDR_COUNT   8
#define E_SIZE	    0
#define E_FD	    4
#define E_KIND	    8
#define E_FLAGS	    12
#define E_DUP_OF    20
#define E_SAME_AS   24
#define E_PATH_LEN  32
#define E_PIPE_SIZE 36
#define E_DATA_LEN  80
#define E_HDR	    88

/* Warnings the last capture() reported, one per line. */
static char test_warnings[16384];
/* Messages the last restore() logged, one per line. */
static char test_logs[16384];

static void test_append(char *dst, size_t cap, const char *msg)
{
	size_t len = strlen(dst);

	snprintf(dst + len, cap - len, "%s\n", msg);
}

static void test_warn(const char *msg)
{
	test_append(test_warnings, sizeof(test_warnings), msg);
}

static void test_log_backend(enum log_level level, const char *msg)
{
	(void)level;
	test_append(test_logs, sizeof(test_logs), msg);
}

/* Hides the descriptors criterion's worker already holds (its channel to
 * the runner) from capture, as the engine hides its agent socket, and
 * collects log messages instead of printing them. */
static void test_setup(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd > 2 && fd != dirfd(d))
			cr_assert_eq(ckpt_files_exclude_fd(fd), 0);
	}
	closedir(d);
	test_warnings[0] = '\0';
	test_logs[0] = '\0';
	log_set_backend(test_log_backend);
	log_set_level(LOG_LEVEL_DEBUG);
}

/* Captures @s into a fresh buffer; returns the record and its length. */
static char *test_capture(const struct ckpt_subsys *s, size_t *len)
{
	char *buf = malloc(TEST_REC_CAP);
	ssize_t n;

	cr_assert_not_null(buf);
	test_warnings[0] = '\0';
	n = s->capture(buf, TEST_REC_CAP, test_warn);
	cr_assert_gt(n, 0, "%s capture failed: %zd", s->name, n);
	*len = (size_t)n;
	return buf;
}

/* Every shorter capacity than the record needs is refused with -ENOSPC. */
__attribute__((unused)) static void test_enospc(const struct ckpt_subsys *s, size_t len)
{
	char *buf = malloc(len);

	cr_assert_not_null(buf);
	for (size_t cap = 0; cap < len; cap += (cap < 256 || len - cap < 256) ? 1 : 97) {
		ssize_t n = s->capture(buf, cap, NULL);

		cr_assert_eq(n, -ENOSPC, "%s: capacity %zu of %zu gave %zd", s->name, cap, len, n);
	}
	free(buf);
}

/* Every truncation of a valid record is refused with -EINVAL; the copy is
 * exactly as long as the truncation so ASan sees any overread. */
__attribute__((unused)) static void test_truncations(const struct ckpt_subsys *s, const char *rec,
						     size_t len)
{
	for (size_t l = 0; l < len; l++) {
		char *c = malloc(l ? l : 1);

		cr_assert_not_null(c);
		memcpy(c, rec, l);
		cr_assert_eq(s->restore(c, l), -EINVAL, "%s: truncated to %zu of %zu", s->name, l,
			     len);
		free(c);
	}
	cr_assert_eq(s->restore(NULL, 0), -EINVAL);
}

/* Restores a copy of @rec with the 32-bit field at @off set to @v. */
__attribute__((unused)) static int test_restore_with_u32(const struct ckpt_subsys *s,
							 const char *rec, size_t len, size_t off,
							 uint32_t v)
{
	char *c = malloc(len);
	int ret;

	cr_assert_not_null(c);
	memcpy(c, rec, len);
	memcpy(c + off, &v, sizeof(v));
	ret = s->restore(c, len);
	free(c);
	return ret;
}

/* Moves the fresh descriptor @fd to number @to. */
__attribute__((unused)) static void test_move_to(int fd, int to)
{
	cr_assert_geq(fd, 0);
	cr_assert_eq(dup2(fd, to), to);
	close(fd);
}

/* Puts /dev/zero on @fd: a restore must replace whatever lies there. */
__attribute__((unused)) static void test_clobber(int fd)
{
	int z = open("/dev/zero", O_RDONLY);

	cr_assert_geq(z, 0);
	if (z != fd) {
		cr_assert_eq(dup2(z, fd), fd);
		close(z);
	}
}

/* Offset of the entry of descriptor @fd in the files record @rec. */
__attribute__((unused)) static size_t test_find_entry(const char *rec, size_t len, int fd)
{
	uint32_t count;
	size_t pos = HDR_SIZE;

	memcpy(&count, rec + HDR_COUNT, 4);
	for (uint32_t i = 0; i < count && pos < len; i++) {
		uint32_t size;
		int32_t efd;

		memcpy(&size, rec + pos + E_SIZE, 4);
		memcpy(&efd, rec + pos + E_FD, 4);
		if (efd == fd)
			return pos;
		pos += size;
	}
	cr_assert_fail("fd %d not in the record", fd);
	return 0;
}

/* Offset of the data (after the path) of the entry of @fd in @rec. */
__attribute__((unused)) static size_t test_data_of(const char *rec, size_t len, int fd)
{
	size_t pos = test_find_entry(rec, len, fd);
	uint32_t plen;

	memcpy(&plen, rec + pos + E_PATH_LEN, 4);
	return pos + E_HDR + plen;
}

/* Restores @iters copies of @rec with 1 to 4 bits flipped (seeded by
 * @seed), half of them in the @window bytes from @d, half anywhere: none
 * may crash or succeed with a positive value. @cleanup closes what a
 * restore made. */
__attribute__((unused)) static void test_flip_restore(const struct ckpt_subsys *s, const char *rec,
						      size_t len, size_t d, size_t window,
						      unsigned int seed, int iters,
						      void (*cleanup)(void))
{
	srand(seed);
	for (int iter = 0; iter < iters; iter++) {
		char *c = malloc(len);
		int ret;

		cr_assert_not_null(c);
		memcpy(c, rec, len);
		for (int k = 0; k < 1 + iter % 4; k++) {
			size_t at =
				k % 2 ? (size_t)rand() % len
				      : d + (size_t)rand() % (len - d < window ? len - d : window);

			c[at] ^= (char)(1 << (rand() % 8));
		}
		ret = s->restore(c, len);
		cr_assert_leq(ret, 0);
		free(c);
		cleanup();
	}
}

#endif
