/* test_files_epoll.c - unit tests of libckpt/files_epoll.c and its hooks in
 * files.c: the fdinfo parser, the strict check of an EPOLL entry's data,
 * an epoll's interest list captured and restored (nested, dup'd, one-shot
 * disarmed), and the refusals: a watched descriptor closed since, a target
 * that is not restored, hostile records. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "files_epoll.h"
#include "subsys_test.h"

static const struct ckpt_subsys *fs = &ckpt_files_subsys;

TestSuite(files_epoll, .init = test_setup);

/* ---- fdinfo parser ------------------------------------------------------ */

Test(files_epoll, parses_a_kernel_tfd_line)
{
	static const char l[] = "tfd:       12 events:       19 data: a11ce00000000001  pos:0 "
				"ino:1a2b sdev:f";
	struct ckpt_epoll_tfd t;

	cr_assert_eq(ckpt_epoll_fdinfo_line(l, sizeof(l) - 1, &t), 1);
	cr_assert_eq(t.tfd, 12);
	cr_assert_eq(t.events, 0x19);
	cr_assert_eq(t.data, 0xa11ce00000000001ull);
	cr_assert_eq(t.ino, 0x1a2b);
	cr_assert_eq(t.sdev, 0xf);
}

Test(files_epoll, other_lines_are_skipped_and_malformed_ones_refused)
{
	static const char *const bad[] = {
		"tfd: x events: 1 data: 0 pos:0 ino:1 sdev:1",
		"tfd: 3 events: 1 pos:0 ino:1 sdev:1",
		"tfd: 3 events: 1 data: 0 pos:0 ino:1",
		"tfd: 3 events: 100000000 data: 0 pos:0 ino:1 sdev:1",
		"tfd: 3 events: 1 data: 10000000000000000 pos:0 ino:1 sdev:1",
		"tfd: 99999999999 events: 1 data: 0 pos:0 ino:1 sdev:1",
		"tfd: 3 events: 1 data: 0 pos:0 ino:1 sdev:1 junk",
		"tfd:",
	};
	struct ckpt_epoll_tfd t;

	cr_assert_eq(ckpt_epoll_fdinfo_line("pos:\t0", 6, &t), 0);
	cr_assert_eq(ckpt_epoll_fdinfo_line("flags:\t02", 9, &t), 0);
	cr_assert_eq(ckpt_epoll_fdinfo_line("", 0, &t), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(ckpt_epoll_fdinfo_line(bad[i], strlen(bad[i]), &t), -EINVAL, "%s",
			     bad[i]);
}

Test(files_epoll, parses_the_fdinfo_of_a_real_epoll)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = 0xfeedface12345678ull };
	struct ckpt_epoll_tfd t[4];
	struct stat st;
	char path[64];
	char text[4096];
	int p[2];
	int ep = epoll_create1(0);
	int fd;
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), 0);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
	fd = open(path, O_RDONLY);
	n = read(fd, text, sizeof(text));
	cr_assert_gt(n, 0);
	cr_assert_eq(ckpt_epoll_fdinfo_parse(text, (size_t)n, t, 4), 1, "%.*s", (int)n, text);
	cr_assert_eq(fstat(p[0], &st), 0);
	cr_assert_eq(t[0].tfd, p[0]);
	cr_assert_eq(t[0].events, EPOLLIN | EPOLLET | EPOLLERR | EPOLLHUP);
	cr_assert_eq(t[0].data, 0xfeedface12345678ull);
	cr_assert_eq(t[0].ino, st.st_ino);
	cr_assert_eq(t[0].sdev >> 20, major(st.st_dev));
	cr_assert_eq(t[0].sdev & 0xfffff, minor(st.st_dev));
	cr_assert_eq(ckpt_epoll_fdinfo_parse(text, (size_t)n, t, 0), -E2BIG);
}

/* ---- data check ---------------------------------------------------------- */

/* EPOLL data of @n items (tfd 10, 11, ...) in @buf; returns its length. */
static size_t make_data(unsigned char *buf, uint32_t n, uint32_t depth)
{
	struct ckpt_epoll_hdr h = { .count = n, .depth = depth };

	memcpy(buf, &h, sizeof(h));
	for (uint32_t i = 0; i < n; i++) {
		struct ckpt_epoll_item it = { .tfd = (int32_t)(10 + i),
					      .events = EPOLLIN | EPOLLERR | EPOLLHUP,
					      .data = i };

		memcpy(buf + sizeof(h) + i * sizeof(it), &it, sizeof(it));
	}
	return sizeof(h) + n * sizeof(struct ckpt_epoll_item);
}

static void set_item(unsigned char *buf, uint32_t i, int32_t tfd, uint32_t events)
{
	struct ckpt_epoll_item it = { .tfd = tfd, .events = events };

	memcpy(buf + sizeof(struct ckpt_epoll_hdr) + i * sizeof(it), &it, sizeof(it));
}

Test(files_epoll, data_check_refuses_bad_counts_fds_and_events)
{
	static unsigned char buf[sizeof(struct ckpt_epoll_hdr) +
				 (CKPT_EPOLL_ITEMS_MAX + 1) * sizeof(struct ckpt_epoll_item)];
	size_t len = make_data(buf, 3, 0);

	cr_assert_eq(ckpt_epoll_data_check(5, buf, len), 0);
	cr_assert_eq(ckpt_epoll_data_check(5, buf, 4), -EINVAL);
	cr_assert_eq(ckpt_epoll_data_check(5, buf, len - 1), -EINVAL);
	cr_assert_eq(ckpt_epoll_data_check(5, buf, len + 16), -EINVAL);
	len = make_data(buf, 3, CKPT_EPOLL_NEST_MAX + 1);
	cr_assert_eq(ckpt_epoll_data_check(5, buf, len), -EINVAL, "depth");
	len = make_data(buf, CKPT_EPOLL_ITEMS_MAX + 1, 0);
	cr_assert_eq(ckpt_epoll_data_check(5, buf, len), -EINVAL, "count");
	cr_assert(strstr(test_logs, "fd 5: epoll data"), "%s", test_logs);

	len = make_data(buf, 3, 0);
	set_item(buf, 1, 10, EPOLLIN); /* not increasing */
	cr_assert_eq(ckpt_epoll_data_check(5, buf, len), -EINVAL);
	set_item(buf, 1, -1, EPOLLIN);
	cr_assert_eq(ckpt_epoll_data_check(5, buf, len), -EINVAL);
	set_item(buf, 1, 11, EPOLLIN);
	cr_assert_eq(ckpt_epoll_data_check(11, buf, len), -EINVAL, "the epoll itself");
	set_item(buf, 1, 11, 0x20); /* POLLNVAL */
	cr_assert_eq(ckpt_epoll_data_check(5, buf, len), -EINVAL);
	set_item(buf, 1, 11, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT);
	cr_assert_eq(ckpt_epoll_data_check(5, buf, len), -EINVAL);
	set_item(buf, 1, 11, EPOLLPRI | EPOLLEXCLUSIVE);
	cr_assert_eq(ckpt_epoll_data_check(5, buf, len), -EINVAL);
	set_item(buf, 1, 11, EPOLLONESHOT | EPOLLET); /* a fired one-shot */
	cr_assert_eq(ckpt_epoll_data_check(5, buf, len), 0);
}

/* ---- capture and restore -------------------------------------------------- */

static void add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
}

/* What @ep reports now, as a bit per data value 1..8. */
static unsigned int ready(int ep)
{
	struct epoll_event evs[16];
	unsigned int got = 0;
	int n = epoll_wait(ep, evs, 16, 0);

	cr_assert_geq(n, 0);
	for (int i = 0; i < n; i++) {
		cr_assert(evs[i].data.u64 >= 1 && evs[i].data.u64 <= 8);
		got |= 1u << evs[i].data.u64;
	}
	return got;
}

/* Pipes at 70/71 (LT), 72/73 (ET), 74/75 (one-shot, fired, byte unread),
 * 76/77 (one-shot, fired, empty), 78/79 (in the inner epoll 81); the epoll
 * at 80 (O_NONBLOCK, FD_CLOEXEC) watches them and 81; 82 is a dup of 80. */
static void build(void)
{
	int p[2];

	for (int fd = 70; fd < 80; fd += 2) {
		cr_assert_eq(pipe(p), 0);
		test_move_to(p[0], fd);
		test_move_to(p[1], fd + 1);
	}
	test_move_to(epoll_create1(EPOLL_CLOEXEC), 80);
	cr_assert_eq(fcntl(80, F_SETFD, FD_CLOEXEC), 0); /* dup2 dropped it */
	cr_assert_eq(fcntl(80, F_SETFL, O_NONBLOCK), 0);
	test_move_to(epoll_create1(0), 81);
	add(81, 78, EPOLLIN, 99);
	add(80, 70, EPOLLIN, 1);
	add(80, 72, EPOLLIN | EPOLLET, 2);
	add(80, 74, EPOLLIN | EPOLLONESHOT, 3);
	add(80, 76, EPOLLIN | EPOLLONESHOT, 4);
	add(80, 81, EPOLLIN, 5);
	cr_assert_eq(dup2(80, 82), 82);
	/* Fire both one-shots; 74 keeps its byte. */
	cr_assert_eq(write(75, "x", 1), 1);
	cr_assert_eq(write(77, "x", 1), 1);
	cr_assert_eq(ready(80), (1u << 3) | (1u << 4));
	cr_assert_eq(read(76, p, 1), 1);
}

static void close_all(void)
{
	for (int fd = 70; fd <= 82; fd++)
		close(fd);
}

Test(files_epoll, interest_list_comes_back_nested_dup_and_one_shots_disarmed)
{
	size_t len;
	char *rec;

	build();
	rec = test_capture(fs, &len);
	cr_assert_eq(test_warnings[0], '\0', "%s", test_warnings);
	close_all();
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);

	cr_assert_eq(fcntl(80, F_GETFD), FD_CLOEXEC);
	cr_assert(fcntl(80, F_GETFL) & O_NONBLOCK);
	cr_assert_eq(fcntl(81, F_GETFD), 0);
	/* 74 has a byte but its one-shot fired: silent. */
	cr_assert_eq(ready(80), 0);
	cr_assert_eq(write(71, "a", 1), 1);
	cr_assert_eq(write(73, "b", 1), 1);
	cr_assert_eq(write(77, "c", 1), 1);
	cr_assert_eq(write(79, "d", 1), 1);
	cr_assert_eq(ready(82), (1u << 1) | (1u << 2) | (1u << 5), "through the dup");
	/* Level-triggered ones report again, the edge-triggered one not. */
	cr_assert_eq(ready(80), (1u << 1) | (1u << 5));
	/* Re-armed through the dup (one description), the one-shots report. */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 3 };

	cr_assert_eq(epoll_ctl(82, EPOLL_CTL_MOD, 74, &ev), 0);
	ev.data.u64 = 4;
	cr_assert_eq(epoll_ctl(82, EPOLL_CTL_MOD, 76, &ev), 0);
	cr_assert_eq(ready(80), (1u << 1) | (1u << 3) | (1u << 4) | (1u << 5));
	cr_assert_eq(ready(80), (1u << 1) | (1u << 5), "one-shots fired again");
	close_all();
	free(rec);
}

Test(files_epoll, a_second_cycle_captures_the_same_list)
{
	size_t len;
	size_t len2;
	char *rec;
	char *rec2;

	build();
	rec = test_capture(fs, &len);
	close_all();
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	rec2 = test_capture(fs, &len2);
	/* The pipes are new (other inodes); the epolls' data is the same. */
	for (int fd = 80; fd <= 81; fd++) {
		size_t a = test_data_of(rec, len, fd);
		size_t b = test_data_of(rec2, len2, fd);
		uint32_t n;

		memcpy(&n, rec + a, 4);
		cr_assert_eq(memcmp(rec + a, rec2 + b, 8 + 16 * n), 0,
			     "epoll %d differs after a restore", fd);
	}
	close_all();
	free(rec);
	free(rec2);
}

Test(files_epoll, eventfd_target_comes_back_watched)
{
	uint64_t one = 1;
	size_t len;
	char *rec;

	test_move_to(eventfd(0, EFD_NONBLOCK), 70);
	test_move_to(epoll_create1(0), 80);
	add(80, 70, EPOLLIN | EPOLLET, 6);
	rec = test_capture(fs, &len);
	cr_assert_eq(test_warnings[0], '\0', "%s", test_warnings);
	close_all();
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(ready(80), 0);
	cr_assert_eq(write(70, &one, sizeof(one)), (ssize_t)sizeof(one));
	cr_assert_eq(ready(80), 1u << 6);
	close_all();
	free(rec);
}

Test(files_epoll, closed_target_is_refused_naming_it)
{
	char buf[4096];
	int p[2];

	cr_assert_eq(pipe(p), 0);
	test_move_to(p[0], 70);
	test_move_to(p[1], 71);
	test_move_to(epoll_create1(0), 80);
	add(80, 70, EPOLLIN, 1);
	cr_assert_eq(dup2(70, 72), 72); /* keeps the file alive: the entry stays */
	close(70);
	test_warnings[0] = '\0';
	cr_assert_eq(fs->capture(buf, sizeof(buf), test_warn), -ENOTRECOVERABLE);
	cr_assert(strstr(test_warnings, ": fd 80: epoll entry for fd 70 cannot be restored: fd 70 "
					"was closed since it was added"),
		  "%s", test_warnings);
	/* The number taken by another file: still refused. */
	test_move_to(open("/dev/null", O_RDONLY), 70);
	test_warnings[0] = '\0';
	cr_assert_eq(fs->capture(buf, sizeof(buf), test_warn), -ENOTRECOVERABLE);
	cr_assert(strstr(test_warnings, "fd 70 was closed and the number reused"), "%s",
		  test_warnings);
	close_all();
}

Test(files_epoll, target_that_is_not_restored_is_refused_naming_it)
{
	char buf[8192];
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	test_move_to(sv[0], 70);
	test_move_to(sv[1], 71);
	test_move_to(epoll_create1(0), 80);
	add(80, 71, EPOLLIN, 1);
	test_warnings[0] = '\0';
	cr_assert_eq(fs->capture(buf, sizeof(buf), test_warn), -ENOTRECOVERABLE);
	cr_assert(strstr(test_warnings, ": fd 80: epoll entry for fd 71 cannot be restored: fd 71 "
					"itself will not be restored (Unix stream socket"),
		  "%s", test_warnings);
	close_all();
}

/* ---- hostile records ------------------------------------------------------ */

/* A captured record holding the epolls of build(), and the offset of the
 * data of the epoll at fd 80. */
static char *hostile_base(size_t *len, size_t *data80)
{
	char *rec;

	build();
	rec = test_capture(fs, len);
	close_all();
	*data80 = test_data_of(rec, *len, 80);
	return rec;
}

/* Closes what a restore of a hostile_base() record may have made. */
static void close_restored(void)
{
	for (int fd = 70; fd <= 82; fd++)
		close(fd);
}

/* Restores a copy of @rec with the 32-bit word at @off set to @v. */
static int restore_with(const char *rec, size_t len, size_t off, uint32_t v)
{
	int ret = test_restore_with_u32(fs, rec, len, off, v);

	close_restored();
	return ret;
}

Test(files_epoll, hostile_epoll_entries_are_refused)
{
	size_t len;
	size_t d = 0;
	char *rec = hostile_base(&len, &d);
	/* Items sorted by target: 70 72 74 76 81. */
	size_t item0 = d + sizeof(struct ckpt_epoll_hdr);
	size_t item4 = item0 + 4 * sizeof(struct ckpt_epoll_item);

	cr_assert_neq(d, 0);
	cr_assert_eq(restore_with(rec, len, d, 6), -EINVAL, "count beyond the data");
	cr_assert_eq(restore_with(rec, len, d, 0xffffffffu), -EINVAL, "huge count");
	cr_assert_eq(restore_with(rec, len, d + 4, 0), -EINVAL, "outer at the inner's depth");
	cr_assert_eq(restore_with(rec, len, d + 4, 9), -EINVAL, "too deep");
	cr_assert_eq(restore_with(rec, len, item0, 69), -EINVAL, "target not in the record");
	cr_assert(strstr(test_logs, "fd 80: epoll entry for fd 69, which the record does not hold"),
		  "%s", test_logs);
	cr_assert_eq(restore_with(rec, len, item4, 82), -EINVAL, "its own dup as inner epoll");
	cr_assert_eq(restore_with(rec, len, item0 + 4, 0x20), -EINVAL, "POLLNVAL");
	cr_assert_eq(restore_with(rec, len, item0, 0x7fffffff), -EINVAL, "order");
	cr_assert_eq(restore_with(rec, len, 0, 0), -EINVAL, "header");
	/* The untouched record still restores. */
	cr_assert_eq(restore_with(rec, len, d + 4, 1), 0, "%s", test_logs);
	free(rec);
}

Test(files_epoll, random_corruption_never_crashes)
{
	size_t len;
	size_t d = 0;
	char *rec = hostile_base(&len, &d);

	/* Half the flips in the 96 bytes of the epoll data, half anywhere. */
	test_flip_restore(fs, rec, len, d, 96, 7, 3000, close_restored);
	free(rec);
}

/* epoll_ctl accepts bits it never reports (EPOLLNVAL, unused ones); an
 * image once kept them and its restore refused them (review finding 1). */
Test(files_epoll, bits_the_kernel_accepts_but_ignores_round_trip)
{
	uint64_t one = 1;
	size_t len;
	char *rec;

	test_move_to(eventfd(0, EFD_NONBLOCK), 70);
	test_move_to(epoll_create1(0), 80);
	add(80, 70, EPOLLIN | 0x20u /* EPOLLNVAL */ | (1u << 20), 4);
	rec = test_capture(fs, &len);
	cr_assert_eq(test_warnings[0], '\0', "%s", test_warnings);
	close_all();
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(write(70, &one, sizeof(one)), (ssize_t)sizeof(one));
	cr_assert_eq(ready(80), 1u << 4);
	close_all();
	free(rec);
}

/* kcmp() made to fail with EPERM in this test's process, as a seccomp
 * profile of a container may. */
static void deny_kcmp(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kcmp, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

/* Without kcmp an eventfd target cannot be told from another eventfd put
 * under its number (they share one inode): refused, not guessed. */
Test(files_epoll, anonymous_target_without_kcmp_is_refused)
{
	char buf[4096];

	test_move_to(eventfd(0, 0), 70);
	test_move_to(epoll_create1(0), 80);
	add(80, 70, EPOLLIN, 1);
	deny_kcmp();
	test_warnings[0] = '\0';
	cr_assert_eq(fs->capture(buf, sizeof(buf), test_warn), -ENOTRECOVERABLE);
	cr_assert(strstr(test_warnings, ": fd 80: epoll entry for fd 70 cannot be restored: fd 70 "
					"cannot be told from another file of its kind"),
		  "%s", test_warnings);
	close_all();
}
