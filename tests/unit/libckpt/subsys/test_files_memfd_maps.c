/* test_files_memfd_maps.c - the capture of a memfd finds its mappings in
 * /proc/self/maps (libckpt/files_memfd.c) even when another mapping's name
 * is longer than the reader's buffer: the kernel prints a file's whole
 * path, which a deep directory tree makes longer than PATH_MAX. Such a line
 * must neither fail the capture nor hide the lines around it. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "files_memfd.h"

#define PG 4096
/* Directory levels of 250-byte names: a path of about 15 KiB, past the
 * reader's 8 KiB buffer and past PATH_MAX. */
#define DEPTH 60

static char top[] = "/tmp/ckpt-memfd-maps-XXXXXX";

static void teardown(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", top);
}

/* Makes a one-page file DEPTH directories below a new directory, walking
 * down by descriptor (no path of its length is ever passed to the kernel);
 * returns it open for reading. */
static int deep_file(void)
{
	char name[251];
	int dir;
	int fd;

	cr_assert_not_null(mkdtemp(top));
	memset(name, 'd', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	dir = open(top, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dir, 0);
	for (int i = 0; i < DEPTH; i++) {
		int next;

		cr_assert_eq(mkdirat(dir, name, 0700), 0, "level %d: %s", i, strerror(errno));
		next = openat(dir, name, O_RDONLY | O_DIRECTORY);
		cr_assert_geq(next, 0, "level %d: %s", i, strerror(errno));
		close(dir);
		dir = next;
	}
	fd = openat(dir, "f", O_RDWR | O_CREAT, 0600);
	cr_assert_geq(fd, 0, "%s", strerror(errno));
	cr_assert_eq(ftruncate(fd, PG), 0);
	close(dir);
	return fd;
}

/* The longest line of /proc/self/maps. */
static size_t maps_longest_line(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	size_t cur = 0;
	size_t most = 0;
	int c;

	cr_assert_not_null(f);
	while ((c = fgetc(f)) != EOF) {
		cur = c == '\n' ? 0 : cur + 1;
		if (cur > most)
			most = cur;
	}
	fclose(f);
	return most;
}

TestSuite(files_memfd_maps, .fini = teardown);

/* Pages 0 and 2 of a three-page window map the memfd, page 1 the deep
 * file: the long line sits between the two lines the capture must find. */
Test(files_memfd_maps, a_name_longer_than_the_buffer_is_skipped_not_fatal)
{
	int mfd = memfd_create("maps", 0);
	int deep = deep_file();
	unsigned char out[sizeof(struct ckpt_memfd_hdr) + 8 * sizeof(struct ckpt_memfd_map) + PG];
	struct ckpt_memfd_hdr h;
	const char *why = "";
	struct stat st;
	char *win;
	ssize_t n;

	cr_assert_geq(mfd, 0);
	cr_assert_eq(ftruncate(mfd, PG), 0);
	win = mmap(NULL, 3 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(win, MAP_FAILED);
	cr_assert_eq(mmap(win, PG, PROT_READ, MAP_SHARED | MAP_FIXED, mfd, 0), win);
	cr_assert_eq(mmap(win + PG, PG, PROT_READ, MAP_SHARED | MAP_FIXED, deep, 0), win + PG);
	cr_assert_eq(mmap(win + 2 * PG, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd, 0),
		     win + 2 * PG);
	cr_assert_gt(maps_longest_line(), 8192, "the test needs a maps line past the buffer");

	cr_assert_eq(fstat(mfd, &st), 0);
	n = ckpt_memfd_capture(mfd, st.st_ino, st.st_dev, PG, out, sizeof(out), &why);
	cr_assert_gt(n, 0, "capture failed: %s (%zd)", why, n);
	memcpy(&h, out, sizeof(h));
	cr_assert_eq(h.nmaps, 2, "found %u of the 2 mappings", h.nmaps);
	munmap(win, 3 * PG);
	close(deep);
	close(mfd);
}
