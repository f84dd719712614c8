/* test_files.c - unit tests of the files subsystem (libckpt/files.c): capture
 * the descriptor table, disturb it, restore, and check it is back; refuse
 * hostile records. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <linux/kcmp.h>

#include "files_sock.h"
#include "subsys_test.h"

static const struct ckpt_subsys *fs = &ckpt_files_subsys;
static char dir[64];

static void setup(void)
{
	test_setup();
	strcpy(dir, "/tmp/ckpt-files-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	unsetenv("CKPT_TRUNCATE_FILES");
	unsetenv("CKPT_MAX_UNLINKED_BYTES");
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(files, .init = setup, .fini = teardown);

/* Makes dir/@name with @len bytes of 'a'..'z' and opens it at @fd. */
static void make_file(const char *name, size_t len, int fd, int flags, char *path)
{
	int tmp;

	sprintf(path, "%s/%s", dir, name);
	tmp = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
	cr_assert_geq(tmp, 0);
	for (size_t i = 0; i < len; i++) {
		char c = (char)('a' + i % 26);

		cr_assert_eq(write(tmp, &c, 1), 1);
	}
	close(tmp);
	tmp = open(path, flags);
	cr_assert_geq(tmp, 0);
	cr_assert_eq(dup2(tmp, fd), fd);
	close(tmp);
}

static off_t fsize(int fd)
{
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	return st.st_size;
}

static bool fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

static uint32_t entry_u32(const char *rec, size_t pos, size_t off)
{
	uint32_t v;

	memcpy(&v, rec + pos + off, 4);
	return v;
}

Test(files, regular_file_back_at_same_number_offset_and_flags)
{
	char path[128];
	struct stat st0;
	struct stat st1;
	size_t len;
	char *rec;

	make_file("data", 100, 40, O_RDWR | O_APPEND | O_NONBLOCK, path);
	cr_assert_eq(lseek(40, 37, SEEK_SET), 37);
	cr_assert_eq(fcntl(40, F_SETFD, FD_CLOEXEC), 0);
	make_file("other", 10, 41, O_RDONLY, path);
	cr_assert_eq(fstat(40, &st0), 0);
	int fl0 = fcntl(40, F_GETFL);

	rec = test_capture(fs, &len);
	close(40);
	test_clobber(41);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);

	cr_assert_eq(fstat(40, &st1), 0);
	cr_assert_eq(st1.st_ino, st0.st_ino);
	cr_assert_eq(lseek(40, 0, SEEK_CUR), 37);
	cr_assert_eq(fcntl(40, F_GETFL), fl0);
	cr_assert_eq(fcntl(40, F_GETFD), FD_CLOEXEC);
	cr_assert_eq(fcntl(41, F_GETFD), 0);
	cr_assert_eq(fsize(41), 10, "fd 41 is the file again, not /dev/zero");
	free(rec);
}

Test(files, descriptor_above_the_current_soft_limit_is_placed)
{
	char path[128];
	struct rlimit rl;
	size_t len;
	char *rec;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_geq(rl.rlim_max, 400);
	make_file("high", 10, 300, O_RDONLY, path);
	rec = test_capture(fs, &len);
	close(300);
	rl.rlim_cur = 200;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fsize(300), 10);
	free(rec);
}

Test(files, written_file_is_cut_back_to_checkpoint_size)
{
	char path[128];
	size_t len;
	char *rec;

	make_file("out", 100, 42, O_WRONLY, path);
	cr_assert_eq(lseek(42, 100, SEEK_SET), 100);
	rec = test_capture(fs, &len);
	cr_assert_eq(write(42, "after checkpoint\n", 17), 17);
	close(42);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fsize(42), 100);
	cr_assert_eq(lseek(42, 0, SEEK_CUR), 100);
	cr_assert(strstr(test_logs, "cut") && strstr(test_logs, path), "%s", test_logs);
	free(rec);
}

Test(files, truncation_can_be_disabled)
{
	char path[128];
	size_t len;
	char *rec;

	setenv("CKPT_TRUNCATE_FILES", "0", 1);
	make_file("out", 100, 42, O_WRONLY | O_APPEND, path);
	rec = test_capture(fs, &len);
	cr_assert_eq(write(42, "more", 4), 4);
	close(42);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fsize(42), 104);
	free(rec);
}

Test(files, read_only_file_is_never_truncated)
{
	char path[128];
	size_t len;
	char *rec;
	int w;

	make_file("in", 50, 43, O_RDONLY, path);
	rec = test_capture(fs, &len);
	w = open(path, O_WRONLY | O_APPEND);
	cr_assert_eq(write(w, "grown", 5), 5);
	close(w);
	close(43);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fsize(43), 55);
	free(rec);
}

Test(files, missing_file_is_an_error_naming_it)
{
	char path[128];
	size_t len;
	char *rec;

	make_file("gone", 10, 44, O_RDONLY, path);
	rec = test_capture(fs, &len);
	close(44);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(fs->restore(rec, len), -ENOENT);
	cr_assert(strstr(test_logs, path), "%s", test_logs);
	free(rec);
}

Test(files, replaced_file_is_an_error_naming_it)
{
	char path[128];
	char path2[128];
	size_t len;
	char *rec;

	make_file("swapped", 10, 44, O_RDONLY, path);
	rec = test_capture(fs, &len);
	close(44);
	make_file("new", 10, 45, O_RDONLY, path2);
	cr_assert_eq(rename(path2, path), 0);
	close(45);
	cr_assert_eq(fs->restore(rec, len), -ESTALE);
	cr_assert(strstr(test_logs, path) && strstr(test_logs, "replaced"), "%s", test_logs);
	free(rec);
}

/* A path that has turned into a FIFO must not hang the restore in open(). */
Test(files, file_replaced_by_a_fifo_is_refused_without_blocking, .timeout = 10)
{
	char path[128];
	size_t len;
	char *rec;

	make_file("becomes-fifo", 10, 44, O_RDONLY, path);
	rec = test_capture(fs, &len);
	close(44);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(fs->restore(rec, len), -ESTALE);
	cr_assert(strstr(test_logs, path), "%s", test_logs);
	free(rec);
}

Test(files, written_file_shorter_than_checkpoint_is_an_error)
{
	char path[128];
	size_t len;
	char *rec;

	make_file("short", 100, 42, O_WRONLY, path);
	rec = test_capture(fs, &len);
	cr_assert_eq(ftruncate(42, 10), 0);
	close(42);
	cr_assert_eq(fs->restore(rec, len), -ESTALE);
	cr_assert(strstr(test_logs, path), "%s", test_logs);
	free(rec);
}

Test(files, unlinked_file_comes_back_with_content_and_offset)
{
	char path[128];
	char got[64];
	struct stat st;
	size_t len;
	char *rec;

	make_file("scratch", 40, 46, O_RDWR, path);
	make_file("wonly", 30, 47, O_WRONLY, path);
	cr_assert_eq(unlink(path), 0);
	sprintf(path, "%s/scratch", dir);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(lseek(46, 7, SEEK_SET), 7);
	cr_assert_eq(fchmod(46, 0640), 0);
	test_move_to(open("/proc/self/fd/46", O_RDONLY), 49);
	cr_assert_eq(lseek(49, 2, SEEK_SET), 2);

	rec = test_capture(fs, &len);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 49), E_SAME_AS), 46);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 49), E_DATA_LEN), 0,
		     "contents saved once per inode");
	close(46);
	close(47);
	close(49);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	struct stat st49;

	cr_assert_eq(fstat(49, &st49), 0);
	cr_assert_eq(fstat(46, &st), 0);
	cr_assert_eq(st49.st_ino, st.st_ino, "one inode, two descriptions");
	cr_assert_eq(lseek(49, 0, SEEK_CUR), 2);

	cr_assert_eq(fstat(46, &st), 0);
	cr_assert_eq(st.st_nlink, 0);
	cr_assert_eq(st.st_size, 40);
	cr_assert_eq(st.st_mode & 07777, 0640);
	cr_assert_eq(lseek(46, 0, SEEK_CUR), 7);
	cr_assert_eq(pread(46, got, 40, 0), 40);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(got[i], 'a' + i % 26);
	cr_assert_eq(fcntl(47, F_GETFL) & O_ACCMODE, O_WRONLY);
	cr_assert_eq(fcntl(46, F_GETFL) & O_NONBLOCK, 0);
	cr_assert_eq(fsize(47), 30);
	free(rec);
}

Test(files, unlinked_file_above_the_bound_is_reported_and_left_closed)
{
	char path[128];
	size_t len;
	char *rec;

	setenv("CKPT_MAX_UNLINKED_BYTES", "1k", 1);
	make_file("big", 2048, 48, O_RDWR, path);
	cr_assert_eq(unlink(path), 0);
	rec = test_capture(fs, &len);
	cr_assert(strstr(test_warnings, "fd 48: unlinked file") && strstr(test_warnings, path) &&
			  strstr(test_warnings, "CKPT_MAX_UNLINKED_BYTES"),
		  "%s", test_warnings);
	cr_assert_lt(len, 2048);
	test_clobber(48);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert(fd_closed(48));
	cr_assert(strstr(test_logs, "fd 48"), "%s", test_logs);
	free(rec);
}

Test(files, pipe_inside_process_round_trips_with_buffered_data)
{
	int p[2];
	char got[16] = { 0 };
	int avail = 0;
	size_t len;
	char *rec;

	cr_assert_eq(pipe2(p, 0), 0);
	cr_assert_eq(fcntl(p[0], F_SETPIPE_SZ, 1 << 17), 1 << 17);
	cr_assert_eq(dup2(p[0], 50), 50);
	cr_assert_eq(dup2(p[1], 51), 51);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(write(51, "buffered", 8), 8);

	rec = test_capture(fs, &len);
	cr_assert_eq(ioctl(50, FIONREAD, &avail), 0);
	cr_assert_eq(avail, 8, "capture must not consume pipe data");
	close(50);
	close(51);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);

	cr_assert_eq(fcntl(50, F_GETPIPE_SZ), 1 << 17);
	cr_assert_eq(read(50, got, sizeof(got)), 8);
	cr_assert_str_eq(got, "buffered");
	cr_assert_eq(write(51, "round", 5), 5);
	memset(got, 0, sizeof(got));
	cr_assert_eq(read(50, got, sizeof(got)), 5);
	cr_assert_str_eq(got, "round");
	free(rec);
}

Test(files, large_pipe_with_many_small_writes)
{
	int p[2];
	char got[300];
	size_t len;
	char *rec;

	/* Packet mode never merges writes: one slot per write, 200 slots in
	 * use for 200 bytes, more than a default pipe has. */
	cr_assert_eq(pipe2(p, O_DIRECT), 0);
	cr_assert_eq(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), 1 << 20);
	test_move_to(p[0], 50);
	test_move_to(p[1], 51);
	for (int i = 0; i < 200; i++) {
		char c = (char)i;

		cr_assert_eq(write(51, &c, 1), 1);
	}
	rec = test_capture(fs, &len);
	cr_assert_str_empty(test_warnings);
	close(50);
	close(51);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	/* Packet boundaries are not kept: the bytes come back as one packet. */
	cr_assert_eq(read(50, got, sizeof(got)), 200);
	cr_assert(fcntl(51, F_GETFL) & O_DIRECT, "packet mode kept by the write end");
	for (int i = 0; i < 200; i++)
		cr_assert_eq(got[i], (char)i);
	free(rec);
}

Test(files, pipe_with_write_end_first_and_dups)
{
	int p[2];
	char got[8] = { 0 };
	size_t len;
	char *rec;
	long pid = getpid();

	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	cr_assert_eq(dup2(p[1], 52), 52);
	cr_assert_eq(dup2(p[0], 53), 53);
	cr_assert_eq(dup2(p[1], 54), 54);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(write(54, "xy", 2), 2);

	rec = test_capture(fs, &len);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 54), E_DUP_OF), 52);
	close(52);
	close(53);
	close(54);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);

	cr_assert_eq(syscall(SYS_kcmp, pid, pid, KCMP_FILE, 52, 54), 0);
	cr_assert(fcntl(53, F_GETFL) & O_NONBLOCK);
	cr_assert_eq(read(53, got, sizeof(got)), 2);
	cr_assert_str_eq(got, "xy");
	cr_assert_eq(read(53, got, sizeof(got)), -1, "empty nonblocking pipe");
	cr_assert_eq(errno, EAGAIN);
	free(rec);
}

/* pipe2() at restore returns the two lowest free numbers; with the write end
 * saved on the lower one they come back crossed. */
Test(files, pipe_on_lowest_free_numbers_write_end_first)
{
	int p[2];
	int low = open("/dev/null", O_RDONLY);
	char got[4] = { 0 };
	size_t len;
	char *rec;

	cr_assert_geq(low, 3);
	close(low);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(p[0], low);
	cr_assert_eq(dup2(p[1], low + 1), low + 1, "only if low+1 was free too");
	cr_assert_eq(dup2(p[0], low + 2), low + 2);
	close(p[0]);
	test_move_to(low + 1, low);
	test_move_to(low + 2, low + 1);
	cr_assert_eq(fcntl(low, F_GETFL) & O_ACCMODE, O_WRONLY);
	cr_assert_eq(write(low, "wr", 2), 2);

	rec = test_capture(fs, &len);
	close(low);
	close(low + 1);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fcntl(low, F_GETFL) & O_ACCMODE, O_WRONLY);
	cr_assert_eq(fcntl(low + 1, F_GETFL) & O_ACCMODE, O_RDONLY);
	cr_assert_eq(read(low + 1, got, 2), 2);
	cr_assert_str_eq(got, "wr");
	cr_assert_eq(write(low, "ok", 2), 2);
	cr_assert_eq(read(low + 1, got, 2), 2);
	cr_assert_str_eq(got, "ok");
	free(rec);
}

Test(files, shared_offset_survives_as_one_description)
{
	char path[128];
	size_t len;
	char *rec;

	make_file("shared", 100, 55, O_RDONLY, path);
	cr_assert_eq(dup2(55, 56), 56);
	cr_assert_eq(lseek(55, 20, SEEK_SET), 20);
	rec = test_capture(fs, &len);
	close(55);
	close(56);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(lseek(56, 0, SEEK_CUR), 20);
	cr_assert_eq(lseek(55, 33, SEEK_SET), 33);
	cr_assert_eq(lseek(56, 0, SEEK_CUR), 33);
	free(rec);
}

Test(files, devices_and_directories_are_reopened)
{
	struct stat st0;
	struct stat st1;
	size_t len;
	char *rec;
	int fd;

	fd = open("/dev/null", O_WRONLY);
	cr_assert_eq(dup2(fd, 57), 57);
	close(fd);
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	cr_assert_eq(dup3(fd, 58, O_CLOEXEC), 58);
	close(fd);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(dup2(fd, 59), 59);
	close(fd);
	cr_assert_eq(fstat(59, &st0), 0);

	rec = test_capture(fs, &len);
	close(57);
	close(58);
	close(59);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fstat(57, &st1), 0);
	cr_assert_eq(st1.st_rdev, makedev(1, 3));
	cr_assert_eq(fcntl(57, F_GETFL) & O_ACCMODE, O_WRONLY);
	cr_assert_eq(fstat(58, &st1), 0);
	cr_assert_eq(st1.st_rdev, makedev(1, 9));
	cr_assert_eq(fcntl(58, F_GETFD), FD_CLOEXEC);
	cr_assert_eq(fstat(59, &st1), 0);
	cr_assert_eq(st1.st_ino, st0.st_ino);
	cr_assert(S_ISDIR(st1.st_mode));
	free(rec);
}

Test(files, sockets_and_anon_inodes_are_named_and_left_closed)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	char want[128];
	size_t len;
	char *rec;
	int l;
	int c;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(dup2(l, 60), 60);
	cr_assert_eq(dup2(c, 61), 61);
	close(l);
	close(c);
	/* An anonymous inode of a kind no saver handles (inotify has its
	 * own since kind 14). */
	test_move_to((int)syscall(SYS_pidfd_open, getpid(), 0), 62);
	/* A POSIX message queue, which /proc shows as a regular file "/NAME":
	 * never re-opened as a file of that path. */
	snprintf(want, sizeof(want), "/ckpt-test-mq-%d", (int)getpid());
	mqd_t q = mq_open(want, O_CREAT | O_RDWR, 0600, NULL);

	cr_assert_neq(q, (mqd_t)-1);
	cr_assert_eq(mq_unlink(want), 0);
	test_move_to((int)q, 63);

	rec = test_capture(fs, &len);
	cr_assert(strstr(test_warnings, "fd 63: POSIX message queue /ckpt-test-mq-"), "%s",
		  test_warnings);
	snprintf(want, sizeof(want), "fd 61: TCP socket to 127.0.0.1:%d cannot be restored",
		 ntohs(a.sin_port));
	cr_assert(strstr(test_warnings, want), "%s", test_warnings);
	snprintf(want, sizeof(want), "fd 60: TCP socket on 127.0.0.1:%d", ntohs(a.sin_port));
	cr_assert(strstr(test_warnings, want), "%s", test_warnings);
	cr_assert(strstr(test_warnings, "fd 62: anon_inode:[pidfd]"), "%s", test_warnings);

	test_clobber(60);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert(fd_closed(60) && fd_closed(61) && fd_closed(62) && fd_closed(63));
	cr_assert(strstr(test_logs, "fd 61: TCP socket to 127.0.0.1"), "%s", test_logs);
	free(rec);
}

Test(files, pipe_to_another_process_is_reported)
{
	int p[2];
	size_t len;
	char *rec;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(dup2(p[1], 63), 63);
	test_move_to(open("/proc/self/fd/63", O_WRONLY), 65);
	close(p[0]);
	close(p[1]);
	rec = test_capture(fs, &len);
	cr_assert(strstr(test_warnings, "fd 63: pipe:[") &&
			  strstr(test_warnings, "another process"),
		  "%s", test_warnings);
	cr_assert(strstr(test_warnings, "fd 65: pipe:["), "%s", test_warnings);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 63), E_KIND), 7);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 65), E_KIND), 7);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert(fd_closed(63) && fd_closed(65));
	free(rec);
}

Test(files, stdio_is_left_to_the_launcher)
{
	struct stat st0;
	struct stat st1;
	size_t len;
	char *rec;
	int save = dup(1);
	int n = open("/dev/null", O_WRONLY);

	cr_assert_eq(dup2(n, 1), 1);
	rec = test_capture(fs, &len);
	cr_assert_eq(dup2(save, 1), 1);
	cr_assert_eq(fstat(1, &st0), 0);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fstat(1, &st1), 0);
	cr_assert_eq(st1.st_ino, st0.st_ino);
	cr_assert_eq(st1.st_dev, st0.st_dev);
	close(n);
	close(save);
	free(rec);
}

Test(files, excluded_descriptors_are_skipped_and_protected)
{
	char path[128];
	size_t len;
	char *rec;
	uint32_t count;

	make_file("agent", 10, 64, O_RDONLY, path);
	cr_assert_eq(ckpt_files_exclude_fd(64), 0);
	rec = test_capture(fs, &len);
	memcpy(&count, rec + HDR_COUNT, 4);
	for (size_t pos = HDR_SIZE, i = 0; i < count; i++) {
		cr_assert_neq((int)entry_u32(rec, pos, E_FD), 64);
		pos += entry_u32(rec, pos, E_SIZE);
	}
	free(rec);

	ckpt_files_include_fd(64);
	rec = test_capture(fs, &len);
	test_find_entry(rec, len, 64);
	cr_assert_geq(ckpt_files_fd_limit(rec, len), 65);
	cr_assert_eq(ckpt_files_fd_limit(rec, len - 1), -EINVAL);
	cr_assert_eq(ckpt_files_exclude_fd(64), 0);
	cr_assert_eq(fs->restore(rec, len), -EBUSY);
	cr_assert_eq(ckpt_files_exclude_fd(-1), -EBADF);
	free(rec);
}

Test(files, exclusion_table_is_bounded)
{
	int ret = 0;

	for (int fd = 1000; fd < 1000 + CKPT_FILES_EXCLUDE_MAX + 1 && ret == 0; fd++)
		ret = ckpt_files_exclude_fd(fd);
	cr_assert_eq(ret, -ENOSPC);
}

Test(files, too_small_buffer_is_enospc)
{
	char path[128];
	size_t len;
	char *rec;
	int p[2];

	make_file("a", 300, 40, O_RDWR, path);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "zz", 2), 2);
	rec = test_capture(fs, &len);
	test_enospc(fs, len);
	free(rec);
}

/* A record with every restorable kind, for the corruption tests. */
static char *hostile_base(size_t *len)
{
	char path[128];
	int p[2];

	make_file("h1", 20, 40, O_RDWR, path);
	make_file("h2", 20, 41, O_RDONLY, path);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(dup2(40, 42), 42);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(dup2(p[0], 43), 43);
	cr_assert_eq(dup2(p[1], 44), 44);
	cr_assert_eq(write(44, "abc", 3), 3);
	close(p[0]);
	close(p[1]);
	test_move_to(open("/proc/self/fd/43", O_RDONLY), 45);
	test_move_to(open("/dev/null", O_RDONLY), 46);
	return test_capture(fs, len);
}

Test(files, hostile_truncations_are_refused)
{
	size_t len;
	char *rec = hostile_base(&len);

	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 45), E_SAME_AS), 43);
	test_truncations(fs, rec, len);
	/* Nothing was touched by the refused records; the full one works. */
	for (int fd = 40; fd <= 46; fd++)
		close(fd);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	char got[4] = { 0 };

	cr_assert_eq(read(45, got, 3), 3, "second read description of the pipe");
	cr_assert_str_eq(got, "abc");
	cr_assert_eq(lseek(42, 0, SEEK_CUR), lseek(40, 0, SEEK_CUR));
	free(rec);
}

Test(files, hostile_lengths_and_references_are_refused)
{
	static const uint32_t bad[] = { 0, 1, 7, 8, 64, 0x7fffffff, 0x80000000, 0xffffffff };
	size_t len;
	char *rec = hostile_base(&len);
	uint32_t count;
	size_t pos = HDR_SIZE;

	memcpy(&count, rec + HDR_COUNT, 4);
	cr_assert_eq(test_restore_with_u32(fs, rec, len, HDR_COUNT, count + 1), -EINVAL);
	cr_assert_eq(test_restore_with_u32(fs, rec, len, HDR_COUNT, count - 1), -EINVAL);
	cr_assert_eq(test_restore_with_u32(fs, rec, len, HDR_COUNT, 0xffffffff), -EINVAL);
	cr_assert_eq(test_restore_with_u32(fs, rec, len, 0, 0x12345678), -EINVAL);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t size = entry_u32(rec, pos, E_SIZE);
		uint32_t plen = entry_u32(rec, pos, E_PATH_LEN);
		uint32_t dlen = entry_u32(rec, pos, E_DATA_LEN);
		uint32_t fd = entry_u32(rec, pos, E_FD);

		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			/* Sizes: any other value than the true one. */
			cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_SIZE,
							   bad[b] == 0 ? 0 : size + bad[b]),
				     -EINVAL, "entry %u size +%u", i, bad[b]);
			/* Path lengths: the NUL must be exactly at the end. */
			cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_PATH_LEN,
							   bad[b] == 0 ? 0 : plen + bad[b]),
				     -EINVAL, "entry %u path_len +%u", i, bad[b]);
			/* Data lengths: a change of 8 or more moves the end. */
			if (bad[b] >= 8 && dlen + (uint64_t)bad[b] <= 0xffffffffu)
				cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_DATA_LEN,
								   dlen + bad[b]),
					     -EINVAL, "entry %u data_len +%u", i, bad[b]);
		}
		if (plen > 1)
			cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_PATH_LEN,
							   plen - 1),
				     -EINVAL);
		if (size >= E_HDR + 8)
			cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_SIZE, size - 8),
				     -EINVAL);
		cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_PATH_LEN, 4097), -EINVAL);
		cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_KIND, 0), -EINVAL);
		cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_KIND, 9), -EINVAL);
		/* A pipe shared in the tree has no same_as nor a path's pipe_size 0. */
		if (fd > 2 && entry_u32(rec, pos, E_SAME_AS) != 0xffffffffu)
			cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_KIND, 8), -EINVAL);
		cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_FD, 0xffffffff), -EINVAL);
		cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_DUP_OF, fd), -EINVAL);
		cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_DUP_OF, 999), -EINVAL);
		cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_SAME_AS, fd + 1), -EINVAL);
		cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_FLAGS, 3), -EINVAL);
		if (fd > 2)
			cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_FD, 1), -EINVAL);
		if (dlen)
			cr_assert_eq(test_restore_with_u32(fs, rec, len, pos + E_PIPE_SIZE, 1),
				     -EINVAL);
		pos += size;
	}
	free(rec);
}

Test(files, hostile_unterminated_paths_are_refused)
{
	size_t len;
	char *rec = hostile_base(&len);
	uint32_t count;
	size_t pos = HDR_SIZE;

	memcpy(&count, rec + HDR_COUNT, 4);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t size = entry_u32(rec, pos, E_SIZE);
		uint32_t plen = entry_u32(rec, pos, E_PATH_LEN);
		char *c = malloc(len);

		memcpy(c, rec, len);
		c[pos + E_HDR + plen - 1] = 'x';
		cr_assert_eq(fs->restore(c, len), -EINVAL, "entry %u", i);
		memcpy(c, rec, len);
		if (plen > 2) {
			c[pos + E_HDR + plen / 2] = '\0';
			cr_assert_eq(fs->restore(c, len), -EINVAL, "entry %u inner NUL", i);
		}
		free(c);
		pos += size;
	}
	free(rec);
}

/* Random corruption must never crash; whatever the result, it is 0 or a
 * negative errno. A corrupted record that still validates acts only on the
 * test's own files and descriptors (criterion's are excluded). */
Test(files, random_corruption_never_crashes)
{
	size_t len;
	char *rec = hostile_base(&len);

	srand(42);
	for (int iter = 0; iter < 3000; iter++) {
		char *c = malloc(len);
		int ret;

		memcpy(c, rec, len);
		for (int k = 0; k < 1 + iter % 4; k++)
			c[(size_t)rand() % len] ^= (char)(1 << (rand() % 8));
		ret = fs->restore(c, len);
		cr_assert_leq(ret, 0);
		free(c);
	}
	free(rec);
}

/* ---- pipes shared with other processes of the tree ---------------------- */

/* A child holding the write end of the pipe whose read end the test keeps
 * at @rfd, with "hello" buffered; returns its pid (killed by the caller). */
static pid_t tree_pipe_child(int rfd, int wfd_in_child)
{
	int p[2];
	int go[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(fcntl(p[0], F_SETPIPE_SZ, 128 * 1024), 128 * 1024);
	cr_assert_eq(write(p[1], "hello", 5), 5);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(p[1], wfd_in_child);
		close(p[0]);
		close(p[1]);
		close(go[0]);
		close(go[1]); /* tells the parent the child holds only its end */
		pause();
		_exit(0);
	}
	close(go[1]);
	cr_assert_eq(read(go[0], &c, 1), 0);
	close(go[0]);
	test_move_to(p[0], rfd);
	close(p[1]);
	return pid;
}

/* The listed end on @fd: criterion's own standard descriptors may be pipes
 * shared with its runner, listed too. */
static const struct ckpt_tree_pipe_ent *tree_end(const struct ckpt_tree_pipe_ent *v, int n, int fd)
{
	for (int i = 0; i < n; i++)
		if (v[i].fd == fd)
			return &v[i];
	cr_assert_fail("fd %d is not listed", fd);
	return NULL;
}

Test(files, pipe_shared_in_the_tree_is_saved_once_at_write_time)
{
	struct ckpt_tree_pipe_ent all[8];
	const struct ckpt_tree_pipe_ent *ends;
	struct stat st;
	size_t len;
	ssize_t n;
	int k;
	char *rec;
	pid_t child = tree_pipe_child(50, 60);

	setenv("CKPT_PIDNS", "1", 1);
	rec = test_capture(fs, &len);
	unsetenv("CKPT_PIDNS");
	cr_assert(!strstr(test_warnings, "fd 50"), "%s", test_warnings);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 50), E_KIND), 8);
	/* Room for a full pipe is reserved at capture... */
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 50), E_DATA_LEN), 128 * 1024);
	/* ... and the record shrinks to the bytes read at write time. */
	n = ckpt_files_tree_pipes_fill(rec, len);
	cr_assert_gt(n, 0, "%zd: %s", n, test_logs);
	cr_assert_lt((size_t)n, len);
	len = (size_t)n;
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 50), E_DATA_LEN), 5);
	k = ckpt_files_tree_pipe_ends(rec, len, all, 8);
	cr_assert_geq(k, 1);
	ends = tree_end(all, k, 50);
	cr_assert_eq(fstat(50, &st), 0);
	cr_assert_eq(ends[0].ino, (uint64_t)st.st_ino);
	cr_assert_eq(ends[0].fd, 50);
	cr_assert_eq(ends[0].acc, (uint32_t)O_RDONLY);
	cr_assert_eq(ends[0].pipe_size, 128 * 1024);
	cr_assert_eq(ends[0].data_len, 5);
	cr_assert_eq(memcmp(ends[0].data, "hello", 5), 0);
	cr_assert_eq(ckpt_files_tree_pipe_ends(rec, len, all, 0), -E2BIG);
	/* The application's pipe was not consumed. */
	char got[8] = { 0 };

	cr_assert_eq(read(50, got, sizeof(got)), 5);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	free(rec);
}

Test(files, pipe_outside_the_tree_stays_named)
{
	size_t len;
	char *rec;
	pid_t child = tree_pipe_child(50, 60);

	/* Outside a namespace of ours the other process is not looked for. */
	rec = test_capture(fs, &len);
	cr_assert(strstr(test_warnings, "fd 50: pipe:["), "%s", test_warnings);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 50), E_KIND), 7);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	free(rec);
}

/* Captures fd 50 (read end, shared with a child) and fd 51 (a dup of it)
 * as tree pipe entries, with "hello" saved. */
static char *tree_pipe_record(size_t *len)
{
	pid_t child = tree_pipe_child(50, 60);
	ssize_t n;
	char *rec;

	cr_assert_eq(fcntl(50, F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(dup2(50, 51), 51);
	setenv("CKPT_PIDNS", "1", 1);
	rec = test_capture(fs, len);
	unsetenv("CKPT_PIDNS");
	n = ckpt_files_tree_pipes_fill(rec, *len);
	cr_assert_gt(n, 0);
	*len = (size_t)n;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(50);
	close(51);
	return rec;
}

Test(files, handed_pipe_end_is_placed_and_the_handed_fd_closed)
{
	struct ckpt_tree_pipe_fd h;
	struct ckpt_tree_pipe_ent ends[8];
	size_t len;
	char *rec = tree_pipe_record(&len);
	int p[2];
	char got[8] = { 0 };
	int k = ckpt_files_tree_pipe_ends(rec, len, ends, 8);

	cr_assert_geq(k, 1);
	for (int i = 0; i < k; i++)
		cr_assert_neq(ends[i].fd, 51, "the dup is left out");
	/* What 'ckpt restart' does: one pipe, its bytes, the end's flags. */
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "hello", 5), 5);
	cr_assert_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	test_move_to(p[0], 70);
	h.ino = tree_end(ends, k, 50)->ino;
	h.fd = 70;
	h.acc = O_RDONLY;
	test_clobber(50);
	ckpt_files_use_tree_pipes(&h, 1);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert(fd_closed(70), "the handed end must not stay open");
	cr_assert(!ckpt_files_fd_excluded(70));
	cr_assert(fcntl(50, F_GETFL) & O_NONBLOCK);
	cr_assert_eq(syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 50, 51), 0);
	cr_assert_eq(read(51, got, sizeof(got)), 5);
	cr_assert_str_eq(got, "hello");
	/* Once the last write end is closed (none is held here): end of file. */
	close(p[1]);
	cr_assert_eq(read(50, got, sizeof(got)), 0);
	close(50);
	close(51);
	free(rec);
}

Test(files, entry_with_other_flags_gets_a_description_of_its_own)
{
	struct ckpt_tree_pipe_fd h;
	size_t len;
	char *rec = tree_pipe_record(&len);
	struct stat st;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	test_move_to(p[0], 70); /* blocking, the entry was O_NONBLOCK */
	cr_assert_eq(fstat(70, &st), 0);
	h.ino = entry_u32(rec, test_find_entry(rec, len, 50), 48) |
		(uint64_t)entry_u32(rec, test_find_entry(rec, len, 50), 52) << 32;
	h.fd = 70;
	h.acc = O_RDONLY;
	ckpt_files_use_tree_pipes(&h, 1);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	/* The handed description stayed blocking: 50 is one of its own. */
	cr_assert(fcntl(50, F_GETFL) & O_NONBLOCK);
	struct stat st50;

	cr_assert_eq(fstat(50, &st50), 0);
	cr_assert_eq(st50.st_ino, st.st_ino, "the same pipe");
	close(50);
	close(51);
	close(p[1]);
	free(rec);
}

Test(files, tree_pipe_not_handed_over_is_left_closed)
{
	size_t len;
	char *rec = tree_pipe_record(&len);

	test_clobber(50);
	ckpt_files_use_tree_pipes(NULL, 0);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert(fd_closed(50) && fd_closed(51));
	cr_assert(strstr(test_logs, "not handed over"), "%s", test_logs);
	free(rec);
}

Test(files, hostile_tree_pipe_entries_are_refused)
{
	struct ckpt_tree_pipe_ent ends[8];
	size_t len;
	char *rec = tree_pipe_record(&len);
	size_t p50 = test_find_entry(rec, len, 50);
	size_t p51 = test_find_entry(rec, len, 51);

	cr_assert_eq(entry_u32(rec, p51, E_DUP_OF), 50);
	/* Data on a write end. */
	cr_assert_eq(test_restore_with_u32(fs, rec, len, p50 + E_FLAGS, O_WRONLY), -EINVAL);
	/* No or an impossible size, fewer bytes room than saved. */
	cr_assert_eq(test_restore_with_u32(fs, rec, len, p50 + E_PIPE_SIZE, 0), -EINVAL);
	cr_assert_eq(test_restore_with_u32(fs, rec, len, p50 + E_PIPE_SIZE, 4), -EINVAL);
	cr_assert_eq(test_restore_with_u32(fs, rec, len, p50 + E_PIPE_SIZE, 0x80000001u), -EINVAL);
	/* A same_as, which tree pipes do not use. */
	char *c = malloc(len);
	int32_t v = -1;

	memcpy(c, rec, len);
	memcpy(c + p51 + E_DUP_OF, &v, 4);
	v = 50;
	memcpy(c + p51 + E_SAME_AS, &v, 4);
	cr_assert_eq(fs->restore(c, len), -EINVAL);
	/* A dup of it that is not the same pipe, or not a tree pipe. */
	cr_assert_eq(test_restore_with_u32(fs, rec, len, p51 + 48, 12345), -EINVAL);
	cr_assert_eq(test_restore_with_u32(fs, rec, len, p51 + E_KIND, 6), -EINVAL);
	/* The lister validates as the restore does. */
	memcpy(c, rec, len);
	memset(c + p50 + E_PIPE_SIZE, 0, 4);
	cr_assert_eq(ckpt_files_tree_pipe_ends(c, len, ends, 8), -EINVAL);
	free(c);
	free(rec);
}

Test(files, tree_pipe_may_sit_on_a_standard_descriptor)
{
	struct ckpt_tree_pipe_fd h;
	struct stat st;
	size_t len;
	ssize_t n;
	char *rec;
	char got[8] = { 0 };
	int save = fcntl(0, F_DUPFD, 90);
	pid_t child = tree_pipe_child(50, 60);
	int p[2];

	if (save < 0) /* criterion's stdin may be closed */
		save = open("/dev/null", O_RDONLY);
	cr_assert_geq(save, 0);

	/* The right of a pipeline: its stdin is the pipe. */
	cr_assert_eq(dup2(50, 0), 0);
	close(50);
	setenv("CKPT_PIDNS", "1", 1);
	rec = test_capture(fs, &len);
	unsetenv("CKPT_PIDNS");
	n = ckpt_files_tree_pipes_fill(rec, len);
	cr_assert_gt(n, 0);
	len = (size_t)n;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 0), E_KIND), 8);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 0), E_DATA_LEN), 5);
	cr_assert_eq(fstat(0, &st), 0);
	/* Restored over the launcher's stdin. */
	cr_assert_eq(dup2(save, 0), 0);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "hello", 5), 5);
	close(p[1]);
	test_move_to(p[0], 70);
	h.ino = st.st_ino;
	h.fd = 70;
	h.acc = O_RDONLY;
	ckpt_files_use_tree_pipes(&h, 1);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(read(0, got, sizeof(got)), 5);
	cr_assert_str_eq(got, "hello");
	/* fd 90 was in the record too (and may be gone if it was a pipe of
	 * criterion's runner, which is not handed over here). */
	close(save);
	free(rec);
}

Test(files, pipe_whose_writers_are_gone_keeps_its_bytes_in_the_tree)
{
	struct ckpt_tree_pipe_ent all[8];
	size_t len;
	ssize_t n;
	char *rec;
	int k;
	int p[2];

	/* The writer wrote and ended: only the read end is left, with bytes. */
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "tail", 4), 4);
	close(p[1]);
	test_move_to(p[0], 50);
	setenv("CKPT_PIDNS", "1", 1);
	rec = test_capture(fs, &len);
	unsetenv("CKPT_PIDNS");
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 50), E_KIND), 8, "%s", test_warnings);
	n = ckpt_files_tree_pipes_fill(rec, len);
	cr_assert_gt(n, 0);
	k = ckpt_files_tree_pipe_ends(rec, (size_t)n, all, 8);
	cr_assert_eq(tree_end(all, k, 50)->data_len, 4);
	close(50);
	free(rec);
}

/* The lister 'ckpt restart' runs on every image is as robust as the
 * restore: random damage to a record with tree pipes never crashes it, and
 * whatever it lists lies inside the record. */
Test(files, random_corruption_of_tree_pipes_never_crashes)
{
	struct ckpt_tree_pipe_ent ends[8];
	size_t len;
	char *rec = tree_pipe_record(&len);

	srand(7);
	for (int iter = 0; iter < 3000; iter++) {
		char *c = malloc(len);
		int n;

		memcpy(c, rec, len);
		for (int k = 0; k < 1 + iter % 4; k++)
			c[(size_t)rand() % len] ^= (char)(1 << (rand() % 8));
		n = ckpt_files_tree_pipe_ends(c, len, ends, 8);
		cr_assert(n == -EINVAL || (n >= 0 && n <= 8));
		for (int i = 0; i < n; i++) {
			cr_assert_leq(ends[i].data_len, ends[i].pipe_size);
			cr_assert(ends[i].acc == O_RDONLY || ends[i].acc == O_WRONLY);
			cr_assert_geq((const char *)ends[i].data, c);
			cr_assert_leq((const char *)ends[i].data + ends[i].data_len, c + len);
		}
		ckpt_files_use_tree_pipes(NULL, 0);
		cr_assert_leq(fs->restore(c, len), 0);
		free(c);
	}
	free(rec);
}

/* ---- sockets shared in the tree (kind 9) ---------------------------------- */

/* The listed socket on @fd. */
static const struct ckpt_tree_sock_ent *sock_end(const struct ckpt_tree_sock_ent *v, int n, int fd)
{
	for (int i = 0; i < n; i++)
		if (v[i].fd == fd)
			return &v[i];
	cr_assert_fail("fd %d is not listed", fd);
	return NULL;
}

/* A socketpair of @type on fds 50 and 51 (and 52 = dup of 50), "ping"
 * queued towards 50 and "pong!" towards 51, captured in a tree and filled
 * as at write time. */
static char *tree_sock_record(int type, size_t *len)
{
	int sv[2];
	ssize_t n;
	char *rec;

	cr_assert_eq(socketpair(AF_UNIX, type, 0, sv), 0);
	test_move_to(sv[0], 50);
	test_move_to(sv[1], 51);
	cr_assert_eq(dup2(50, 52), 52);
	cr_assert_eq(fcntl(50, F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(send(51, "ping", 4, 0), 4);
	cr_assert_eq(send(50, "pong!", 5, 0), 5);
	cr_assert_eq(shutdown(51, SHUT_WR), 0);
	setenv("CKPT_PIDNS", "1", 1);
	rec = test_capture(fs, len);
	unsetenv("CKPT_PIDNS");
	n = ckpt_files_tree_pipes_fill(rec, *len);
	cr_assert_gt(n, 0, "%zd: %s", n, test_logs);
	*len = (size_t)n;
	return rec;
}

Test(files, socketpair_in_the_tree_is_saved_with_its_queues)
{
	struct ckpt_tree_sock_ent all[16];
	struct ckpt_usock_hdr h;
	const struct ckpt_tree_sock_ent *e;
	size_t len;
	char *rec = tree_sock_record(SOCK_SEQPACKET, &len);
	uint64_t pos = 0;
	const void *m;
	uint32_t ml;
	char got[8] = { 0 };
	int k;

	cr_assert(!strstr(test_warnings, "fd 50"), "%s", test_warnings);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 50), E_KIND), 9);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 51), E_KIND), 9);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 52), E_KIND), 9);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 52), E_DATA_LEN), 0,
		     "a dup carries none");
	k = ckpt_files_tree_sock_ends(rec, len, all, 16);
	cr_assert_geq(k, 2, "%d", k);
	e = sock_end(all, k, 50);
	cr_assert_eq(ckpt_usock_data_check(e->data, e->data_len, &h), 0);
	cr_assert_eq(h.type, SOCK_SEQPACKET);
	cr_assert_eq(h.flags & CKPT_USOCK_QUEUE, CKPT_USOCK_QUEUE);
	cr_assert_eq(h.shut, CKPT_USOCK_SHUT_RD, "the peer's SHUT_WR: %u", h.shut);
	cr_assert_eq(h.peer, sock_end(all, k, 51)->ino);
	cr_assert_eq(e->status, (uint32_t)O_NONBLOCK);
	cr_assert_eq(ckpt_usock_msg_next(e->data, e->data_len, &pos, &m, &ml), 1);
	cr_assert_eq(ml, 4);
	cr_assert_eq(memcmp(m, "ping", 4), 0);
	e = sock_end(all, k, 51);
	cr_assert_eq(ckpt_usock_data_check(e->data, e->data_len, &h), 0);
	cr_assert_eq(h.shut, CKPT_USOCK_SHUT_WR);
	cr_assert_eq(h.qbytes, 5);
	cr_assert_eq(ckpt_files_tree_sock_ends(rec, len, all, 1), -E2BIG);
	/* Nothing consumed. */
	cr_assert_eq(recv(50, got, sizeof(got), 0), 4);
	cr_assert_eq(recv(51, got, sizeof(got), 0), 5);
	close(50);
	close(51);
	close(52);
	free(rec);
}

Test(files, handed_socket_is_placed_and_one_not_handed_left_closed)
{
	struct ckpt_tree_sock_ent all[16];
	struct ckpt_tree_pipe_fd h;
	size_t len;
	char *rec = tree_sock_record(SOCK_STREAM, &len);
	int k = ckpt_files_tree_sock_ends(rec, len, all, 16);
	int sv[2];
	char got[8] = { 0 };

	cr_assert_geq(k, 2);
	close(50);
	close(51);
	close(52);
	/* What 'ckpt restart' hands: the socket for fd 50, with its queue. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(send(sv[1], "ping", 4, 0), 4);
	test_move_to(sv[0], 70);
	h.ino = sock_end(all, k, 50)->ino;
	h.fd = 70;
	h.acc = O_RDWR;
	test_clobber(51);
	ckpt_files_use_tree_pipes(&h, 1);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert(fd_closed(70), "the handed socket must not stay open");
	cr_assert(fd_closed(51), "a socket not handed over stays closed");
	cr_assert(strstr(test_logs, "not handed over"), "%s", test_logs);
	cr_assert_eq(syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 50, 52), 0);
	cr_assert_eq(recv(52, got, sizeof(got), 0), 4);
	cr_assert_str_eq(got, "ping");
	close(50);
	close(52);
	close(sv[1]);
	free(rec);
}

Test(files, unix_socket_bound_to_a_name_is_named_in_a_tree)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t len;
	char *rec;
	int l = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s/listen.sock", dir);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 1), 0);
	test_move_to(l, 50);
	setenv("CKPT_PIDNS", "1", 1);
	rec = test_capture(fs, &len);
	unsetenv("CKPT_PIDNS");
	cr_assert(strstr(test_warnings, "fd 50: Unix stream socket at "), "%s", test_warnings);
	cr_assert(strstr(test_warnings, "bound to a name"), "%s", test_warnings);
	cr_assert_eq(entry_u32(rec, test_find_entry(rec, len, 50), E_KIND), 7);
	close(50);
	free(rec);
}

/* The lister 'ckpt restart' runs is as robust for sockets: random damage
 * never crashes it, and what it lists is valid data inside the record. */
Test(files, random_corruption_of_tree_sockets_never_crashes)
{
	struct ckpt_tree_sock_ent ends[16];
	struct ckpt_usock_hdr h;
	size_t len;
	char *rec = tree_sock_record(SOCK_DGRAM, &len);

	close(50);
	close(51);
	close(52);
	srand(11);
	for (int iter = 0; iter < 3000; iter++) {
		char *c = malloc(len);
		int n;

		memcpy(c, rec, len);
		for (int k = 0; k < 1 + iter % 4; k++)
			c[(size_t)rand() % len] ^= (char)(1 << (rand() % 8));
		n = ckpt_files_tree_sock_ends(c, len, ends, 16);
		cr_assert(n == -EINVAL || (n >= 0 && n <= 16));
		for (int i = 0; i < n; i++) {
			cr_assert_eq(ckpt_usock_data_check(ends[i].data, ends[i].data_len, &h), 0);
			cr_assert_geq((const char *)ends[i].data, c);
			cr_assert_leq((const char *)ends[i].data + ends[i].data_len, c + len);
		}
		ckpt_files_use_tree_pipes(NULL, 0);
		cr_assert_leq(fs->restore(c, len), 0);
		free(c);
	}
	free(rec);
}
