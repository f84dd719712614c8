/* test_files_widow.c - unit tests of widowed pipes in the files subsystem
 * (libckpt/files.c): a pipe read end whose writers have all ended, held by
 * this process outside a tree, comes back with its buffered bytes and no
 * writer; hostile records of such pipes are refused. */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/kcmp.h>

#include "subsys_test.h"

static const struct ckpt_subsys *fs = &ckpt_files_subsys;

static void setup(void)
{
	test_setup();
	unsetenv("CKPT_PIDNS");
	unsetenv("CKPT_TRUNCATE_FILES");
}

TestSuite(files_widow, .init = setup);

static uint32_t entry_u32(const char *rec, size_t pos, size_t off)
{
	uint32_t v;

	memcpy(&v, rec + pos + off, 4);
	return v;
}

static bool fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* A pipe on @rfd holding @len bytes of a known pattern, whose only writer
 * (a child) wrote them and ended. */
static void widow_pipe(int rfd, size_t len)
{
	int p[2];
	int st;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		for (size_t i = 0; i < len; i++) {
			char c = (char)(i * 7 + 3);

			if (write(p[1], &c, 1) != 1)
				_exit(1);
		}
		_exit(0);
	}
	close(p[1]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	test_move_to(p[0], rfd);
}

/* Reads @rfd to its end: @len bytes of the pattern, then end of file. */
static void expect_pattern_then_eof(int rfd, size_t len)
{
	char buf[4096];
	size_t got = 0;
	ssize_t n;

	while ((n = read(rfd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			cr_assert_eq(buf[i], (char)((got + (size_t)i) * 7 + 3), "byte %zu",
				     got + (size_t)i);
		got += (size_t)n;
	}
	cr_assert_eq(n, 0, "end of file expected, got %zd (%s)", n, strerror(errno));
	cr_assert_eq(got, len);
}

static void close_50(void)
{
	close(50);
}

Test(files_widow, read_end_comes_back_with_its_bytes_and_then_eof)
{
	size_t len;
	size_t pos;
	char *rec;
	char one;
	long pid = getpid();

	widow_pipe(50, 3000);
	cr_assert_eq(read(50, &one, 1), 1, "read some of it first");
	cr_assert_eq(dup2(50, 53), 53);
	rec = test_capture(fs, &len);
	cr_assert_str_empty(test_warnings, "no warning for a widowed pipe: %s", test_warnings);
	pos = test_find_entry(rec, len, 50);
	cr_assert_eq(entry_u32(rec, pos, E_KIND), 6);
	cr_assert_eq(entry_u32(rec, pos, E_DATA_LEN), 2999);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 53), E_DUP_OF), 50);
	close(50);
	close(53);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	/* The dup is the same description, not a second open. */
	cr_assert_eq(syscall(SYS_kcmp, pid, pid, KCMP_FILE, 50, 53), 0);
	cr_assert_eq(read(53, &one, 1), 1);
	cr_assert_eq(one, (char)(1 * 7 + 3));
	{
		char buf[4096];
		size_t got = 2;
		ssize_t n;

		while ((n = read(50, buf, sizeof(buf))) > 0) {
			for (ssize_t i = 0; i < n; i++)
				cr_assert_eq(buf[i], (char)((got + (size_t)i) * 7 + 3));
			got += (size_t)n;
		}
		cr_assert_eq(n, 0, "end of file after the bytes");
		cr_assert_eq(got, 3000);
	}
	free(rec);
}

Test(files_widow, empty_widowed_pipe_reads_eof_at_once)
{
	size_t len;
	char *rec;
	char one;

	widow_pipe(51, 0);
	cr_assert_eq(fcntl(51, F_SETFL, O_NONBLOCK), 0);
	rec = test_capture(fs, &len);
	cr_assert_str_empty(test_warnings, "%s", test_warnings);
	close(51);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert(fcntl(51, F_GETFL) & O_NONBLOCK, "status flags kept");
	cr_assert_eq(read(51, &one, 1), 0, "end of file, not EAGAIN");
	free(rec);
}

Test(files_widow, lone_write_end_is_refused)
{
	size_t len;
	char *rec;

	widow_pipe(50, 0);
	rec = test_capture(fs, &len);
	close(50);
	cr_assert_eq(test_restore_with_u32(fs, rec, len, test_find_entry(rec, len, 50) + E_FLAGS,
					   O_WRONLY),
		     -EINVAL);
	cr_assert(strstr(test_logs, "fd 50: pipe without a description of its other end"), "%s",
		  test_logs);
	cr_assert(fd_closed(50));
	free(rec);
}

Test(files_widow, second_description_and_full_large_pipe)
{
	size_t len;
	size_t pos;
	char *rec;
	char path[64];
	int p[2];

	/* 200 KiB in a 256 KiB pipe, and a second description through /proc. */
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fcntl(p[0], F_SETPIPE_SZ, 1 << 18), 1 << 18);
	for (size_t i = 0; i < 200 * 1024; i++) {
		char c = (char)(i * 7 + 3);

		cr_assert_eq(write(p[1], &c, 1), 1);
	}
	close(p[1]);
	test_move_to(p[0], 60);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", 60);
	test_move_to(open(path, O_RDONLY), 62);
	rec = test_capture(fs, &len);
	cr_assert_str_empty(test_warnings, "%s", test_warnings);
	pos = test_find_entry(rec, len, 62);
	cr_assert_eq(entry_u32(rec, pos, E_SAME_AS), 60);
	cr_assert_eq(entry_u32(rec, pos, E_DATA_LEN), 0, "the first reader carries the bytes");
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 60), E_DATA_LEN), 200 * 1024);
	close(60);
	close(62);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fcntl(60, F_GETPIPE_SZ), 1 << 18);
	cr_assert(!fd_closed(62));
	expect_pattern_then_eof(62, 200 * 1024);
	cr_assert_eq(read(60, path, 1), 0);
	free(rec);
}

Test(files_widow, pipe_with_a_live_writer_elsewhere_stays_named)
{
	size_t len;
	char *rec;
	int p[2];
	int go[2];
	pid_t pid;
	char c = 0;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pipe(go), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[0]);
		close(go[1]);
		/* Holds the write end until the parent is done. */
		(void)!read(go[0], &c, 1);
		_exit(0);
	}
	close(p[1]);
	close(go[0]);
	test_move_to(p[0], 55);
	test_move_to(go[1], 56);
	rec = test_capture(fs, &len);
	cr_assert(strstr(test_warnings, "fd 55: pipe:[") &&
			  strstr(test_warnings, "another process"),
		  "%s", test_warnings);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 55), E_KIND), 7);
	close(56);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	close(55);
	free(rec);
}

Test(files_widow, widowed_pipe_in_a_record_is_validated)
{
	size_t len;
	size_t pos;
	char *rec;

	widow_pipe(50, 10);
	rec = test_capture(fs, &len);
	pos = test_find_entry(rec, len, 50);
	close(50);
	/* A pipe with one description only must be a widowed read end (here
	 * the bytes on a write end are refused first). */
	cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_FLAGS, O_WRONLY), -EINVAL);
	test_truncations(fs, rec, len);
	test_flip_restore(fs, rec, len, pos, E_HDR, 11, 500, close_50);
	cr_assert(fd_closed(50), "a refused record changes nothing");
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	expect_pattern_then_eof(50, 10);
	free(rec);
}
