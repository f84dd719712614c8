/* subsys_test.h - helpers shared by the unit tests of the state savers
 * (libckpt/files.c, attrs.c, signals.c). Included by those tests only. */
#ifndef CKPT_TESTS_SUBSYS_TEST_H
#define CKPT_TESTS_SUBSYS_TEST_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "log.h"

/* Room for any record the tests make (unlinked contents included). */
#define TEST_REC_CAP (4u << 20)

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

#endif
