/* test_files_evfd.c - unit tests of eventfd, timerfd and signalfd in the
 * files subsystem (libckpt/files_evfd.c): fdinfo parsing, a round trip
 * through capture and restore, and hostile states refused. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>

#include "files_evfd.h"
#include "subsys_test.h"

#define NS 1000000000ll

static const struct ckpt_subsys *fs = &ckpt_files_subsys;

TestSuite(files_evfd, .init = test_setup);

/* dup2() drops close-on-exec: this keeps it. */
static void move_to_cloexec(int fd, int to)
{
	cr_assert_geq(fd, 0);
	cr_assert_eq(dup3(fd, to, O_CLOEXEC), to);
	close(fd);
}

static bool is_zero_dev(int fd)
{
	char link[64] = "";
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return readlink(p, link, sizeof(link) - 1) > 0 && strcmp(link, "/dev/zero") == 0;
}

static const char eventfd_info[] = "pos:\t0\nflags:\t02004002\nmnt_id:\t17\nino:\t1038\n"
				   "eventfd-count:              abc\neventfd-id: 2\n"
				   "eventfd-semaphore: 1\n";
static const char timerfd_info[] = "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1038\nclockid: 0\n"
				   "ticks: 7\nsettime flags: 03\nit_value: (999, 217067275)\n"
				   "it_interval: (2, 5)\n";
static const char signalfd_info[] = "pos:\t0\nflags:\t04002\nmnt_id:\t17\nino:\t1038\n"
				    "sigmask:\t0000000800000200\n";

Test(files_evfd, fdinfo_of_each_kind_is_parsed)
{
	struct ckpt_evfd_state st;
	const char *why = NULL;

	cr_assert_eq(ckpt_evfd_parse_fdinfo(CKPT_EVFD_EVENTFD, eventfd_info, &st, &why), 0);
	cr_assert_eq(st.count, 0xabc);
	cr_assert_eq(st.flags, CKPT_EVFD_SEMAPHORE);
	cr_assert_eq(ckpt_evfd_parse_fdinfo(CKPT_EVFD_TIMERFD, timerfd_info, &st, &why), 0);
	cr_assert_eq(st.clockid, CLOCK_REALTIME);
	cr_assert_eq(st.count, 7);
	cr_assert_eq(st.flags, 3);
	cr_assert_eq(st.value_ns, 999 * NS + 217067275);
	cr_assert_eq(st.interval_ns, 2 * NS + 5);
	cr_assert_eq(ckpt_evfd_parse_fdinfo(CKPT_EVFD_SIGNALFD, signalfd_info, &st, &why), 0);
	cr_assert_eq(st.sigmask, (1ull << (SIGUSR1 - 1)) | (1ull << 35));
}

Test(files_evfd, fdinfo_with_missing_or_bad_lines_is_refused)
{
	static const char *const bad_eventfd[] = {
		"eventfd-count: 5\n", /* no semaphore line (kernel < 6.5) */
		"eventfd-count: zz\neventfd-semaphore: 0\n",
		"eventfd-count: ffffffffffffffff\neventfd-semaphore: 0\n",
		"eventfd-count: 1ffffffffffffffff\neventfd-semaphore: 0\n",
		"eventfd-count: 5\neventfd-semaphore: 2\n",
		"",
	};
	static const char *const bad_timerfd[] = {
		"clockid: 1\nticks: 0\nsettime flags: 00\nit_value: (0, 0)\n",
		"clockid: 1\nticks: 0\nsettime flags: 04\nit_value: (0, 0)\nit_interval: (0, 0)\n",
		"clockid: 1\nticks: 0\nsettime flags: 00\nit_value: (0, 1000000000)\n"
		"it_interval: (0, 0)\n",
		"clockid: 1\nticks: 0\nsettime flags: 00\nit_value: (-1, 0)\nit_interval: (0, 0)\n",
		"clockid: 1\nticks: 0\nsettime flags: 00\nit_value: (99999999999999, 0)\n"
		"it_interval: (0, 0)\n",
		"ticks: 0\nsettime flags: 00\nit_value: (0, 0)\nit_interval: (0, 0)\n",
	};
	struct ckpt_evfd_state st;
	const char *why;

	for (size_t i = 0; i < sizeof(bad_eventfd) / sizeof(bad_eventfd[0]); i++) {
		why = NULL;
		cr_assert_eq(ckpt_evfd_parse_fdinfo(CKPT_EVFD_EVENTFD, bad_eventfd[i], &st, &why),
			     -EINVAL, "accepted: %s", bad_eventfd[i]);
		cr_assert_not_null(why);
	}
	for (size_t i = 0; i < sizeof(bad_timerfd) / sizeof(bad_timerfd[0]); i++) {
		why = NULL;
		cr_assert_eq(ckpt_evfd_parse_fdinfo(CKPT_EVFD_TIMERFD, bad_timerfd[i], &st, &why),
			     -EINVAL, "accepted: %s", bad_timerfd[i]);
		cr_assert_not_null(why);
	}
	cr_assert_eq(ckpt_evfd_parse_fdinfo(CKPT_EVFD_SIGNALFD, "sigmask:\t\n", &st, &why),
		     -EINVAL);
	cr_assert_eq(ckpt_evfd_kind_of("anon_inode:[eventfd]"), CKPT_EVFD_EVENTFD);
	cr_assert_eq(ckpt_evfd_kind_of("anon_inode:[timerfd]"), CKPT_EVFD_TIMERFD);
	cr_assert_eq(ckpt_evfd_kind_of("anon_inode:[signalfd]"), CKPT_EVFD_SIGNALFD);
	cr_assert_eq(ckpt_evfd_kind_of("anon_inode:[eventpoll]"), -1);
	cr_assert_eq(ckpt_evfd_kind_of("anon_inode:[eventfd]x"), -1);
}

static long long left_ns(int fd)
{
	struct itimerspec its;

	cr_assert_eq(timerfd_gettime(fd, &its), 0);
	return its.it_value.tv_sec * NS + its.it_value.tv_nsec;
}

static long long interval_ns(int fd)
{
	struct itimerspec its;

	cr_assert_eq(timerfd_gettime(fd, &its), 0);
	return its.it_interval.tv_sec * NS + its.it_interval.tv_nsec;
}

static void arm(int fd, int flags, long long v, long long iv)
{
	struct itimerspec its = { { iv / NS, iv % NS }, { v / NS, v % NS } };

	cr_assert_eq(timerfd_settime(fd, flags, &its, NULL), 0);
}

static void fdinfo(int fd, char *buf, size_t cap)
{
	char p[64];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	f = fopen(p, "r");
	cr_assert_not_null(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

Test(files_evfd, every_kind_round_trips_with_its_state)
{
	struct timespec now;
	uint64_t v;
	sigset_t set;
	char info[1024];
	char want[64];
	size_t len;
	char *rec;

	test_move_to(eventfd(0x123456789ull & 0xffffffff, EFD_NONBLOCK), 70);
	v = 0x100000000ull; /* beyond eventfd()'s unsigned int */
	cr_assert_eq(write(70, &v, sizeof(v)), sizeof(v));
	cr_assert_eq(dup2(70, 71), 71);
	move_to_cloexec(eventfd(3, EFD_SEMAPHORE | EFD_CLOEXEC), 72);
	test_move_to(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), 73);
	arm(73, 0, 1000000, 1000 * NS); /* expires once soon, then every 1000 s */
	test_move_to(timerfd_create(CLOCK_BOOTTIME, 0), 74);
	arm(74, 0, 500 * NS, 0);
	move_to_cloexec(timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC), 75);
	clock_gettime(CLOCK_REALTIME, &now);
	arm(75, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, (now.tv_sec + 3600) * NS, 0);
	test_move_to(timerfd_create(CLOCK_MONOTONIC, 0), 76); /* never armed */
	test_move_to(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), 77);
	arm(77, 0, 1, 0); /* a one-shot expired, not read */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMIN + 3);
	test_move_to(signalfd(-1, &set, SFD_NONBLOCK), 78);
	usleep(20000); /* 73 and 77 expire */

	rec = test_capture(fs, &len);
	cr_assert_null(strstr(test_warnings, "cannot be restored"), "%s", test_warnings);
	for (int fd = 70; fd <= 78; fd++)
		test_clobber(fd);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);

	/* eventfd: the counter, the flags, one description for 70 and 71. */
	cr_assert_eq(syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 70, 71), 0);
	cr_assert(fcntl(71, F_GETFL) & O_NONBLOCK);
	cr_assert_eq(fcntl(70, F_GETFD), 0);
	cr_assert_eq(read(71, &v, sizeof(v)), sizeof(v));
	cr_assert_eq(v, 0x123456789ull);
	cr_assert_eq(read(70, &v, sizeof(v)), -1);
	cr_assert_eq(errno, EAGAIN);
	/* semaphore: three units, one at a time; close-on-exec. */
	cr_assert_eq(fcntl(72, F_GETFD), FD_CLOEXEC);
	fdinfo(72, info, sizeof(info));
	cr_assert(strstr(info, "eventfd-semaphore: 1"), "%s", info);
	cr_assert(strstr(info, "eventfd-count:                3"), "%s", info);
	cr_assert_eq(read(72, &v, sizeof(v)), sizeof(v));
	cr_assert_eq(v, 1);
	/* periodic timer: its unread expiration, its period, armed again. */
	cr_assert(fcntl(73, F_GETFL) & O_NONBLOCK);
	cr_assert_eq(read(73, &v, sizeof(v)), sizeof(v));
	cr_assert_eq(v, 1);
	cr_assert_eq(interval_ns(73), 1000 * NS);
	cr_assert(left_ns(73) > 990 * NS && left_ns(73) <= 1000 * NS);
	/* relative one-shot: the time left, on its clock */
	fdinfo(74, info, sizeof(info));
	cr_assert(strstr(info, "clockid: 7"), "%s", info);
	cr_assert(left_ns(74) > 490 * NS && left_ns(74) <= 500 * NS);
	/* absolute on the wall clock: the same time, the same flags */
	fdinfo(75, info, sizeof(info));
	cr_assert(strstr(info, "clockid: 0"), "%s", info);
	cr_assert(strstr(info, "settime flags: 03"), "%s", info);
	cr_assert(left_ns(75) > 3590 * NS && left_ns(75) <= 3600 * NS);
	cr_assert_eq(fcntl(75, F_GETFD), FD_CLOEXEC);
	cr_assert_eq(left_ns(76), 0);
	/* expired one-shot: one expiration to read, then disarmed */
	cr_assert_eq(read(77, &v, sizeof(v)), sizeof(v));
	cr_assert_eq(v, 1);
	cr_assert_eq(left_ns(77), 0);
	/* signalfd: its mask */
	fdinfo(78, info, sizeof(info));
	snprintf(want, sizeof(want), "sigmask:\t%016llx",
		 (1ull << (SIGUSR2 - 1)) | (1ull << (SIGRTMIN + 3 - 1)));
	cr_assert(strstr(info, want), "%s", info);
	cr_assert(fcntl(78, F_GETFL) & O_NONBLOCK);
	for (int fd = 70; fd <= 78; fd++)
		close(fd);
	free(rec);
}

/* One hostile change to the state of an entry. */
struct spoil {
	size_t off;	    /* offset in struct ckpt_evfd_state, or (size_t)-1: open flags */
	uint64_t value;	    /* written there (4 or 8 bytes, per @width) */
	const char *expect; /* text the refusal must contain */
	int fd;		    /* entry */
	int width;	    /* 4 or 8 */
};

Test(files_evfd, hostile_states_are_refused_naming_the_fd)
{
	static const struct spoil spoils[] = {
		{ .fd = 80,
		  .off = offsetof(struct ckpt_evfd_state, flags),
		  .value = 2,
		  .width = 4,
		  .expect = "fd 80: invalid eventfd" },
		{ .fd = 80,
		  .off = offsetof(struct ckpt_evfd_state, count),
		  .value = UINT64_MAX,
		  .width = 8,
		  .expect = "fd 80: invalid eventfd" },
		{ .fd = 80,
		  .off = offsetof(struct ckpt_evfd_state, value_ns),
		  .value = 5,
		  .width = 8,
		  .expect = "fd 80: invalid eventfd" },
		{ .fd = 80,
		  .off = (size_t)-1,
		  .value = O_WRONLY,
		  .width = 4,
		  .expect = "fd 80: eventfd with open flags" },
		{ .fd = 81,
		  .off = offsetof(struct ckpt_evfd_state, clockid),
		  .value = 3,
		  .width = 4,
		  .expect = "fd 81: timerfd on unknown clock 3" },
		{ .fd = 81,
		  .off = offsetof(struct ckpt_evfd_state, clockid),
		  .value = (uint32_t)-7,
		  .width = 4,
		  .expect = "fd 81: timerfd on unknown clock -7" },
		{ .fd = 81,
		  .off = offsetof(struct ckpt_evfd_state, flags),
		  .value = 8,
		  .width = 4,
		  .expect = "fd 81: timerfd with invalid" },
		{ .fd = 81,
		  .off = offsetof(struct ckpt_evfd_state, flags),
		  .value = 2,
		  .width = 4,
		  .expect = "fd 81: timerfd with invalid" },
		{ .fd = 81,
		  .off = offsetof(struct ckpt_evfd_state, value_ns),
		  .value = (uint64_t)-5,
		  .width = 8,
		  .expect = "fd 81: invalid timerfd times" },
		{ .fd = 81,
		  .off = offsetof(struct ckpt_evfd_state, interval_ns),
		  .value = (uint64_t)-1,
		  .width = 8,
		  .expect = "fd 81: invalid timerfd times" },
		{ .fd = 81,
		  .off = offsetof(struct ckpt_evfd_state, abs_ns),
		  .value = 12345,
		  .width = 8,
		  .expect = "fd 81: invalid timerfd times" },
		{ .fd = 81,
		  .off = offsetof(struct ckpt_evfd_state, count),
		  .value = 2,
		  .width = 8,
		  .expect = "fd 81: invalid timerfd times" },
		{ .fd = 81,
		  .off = offsetof(struct ckpt_evfd_state, reserved),
		  .value = 1,
		  .width = 8,
		  .expect = "reserved" },
		{ .fd = 82,
		  .off = offsetof(struct ckpt_evfd_state, count),
		  .value = 1,
		  .width = 8,
		  .expect = "fd 82: invalid signalfd" },
		{ .fd = 82,
		  .off = offsetof(struct ckpt_evfd_state, clockid),
		  .value = 1,
		  .width = 4,
		  .expect = "fd 82: invalid signalfd" },
	};
	sigset_t set;
	size_t len;
	char *rec;

	test_move_to(eventfd(5, 0), 80);
	test_move_to(timerfd_create(CLOCK_MONOTONIC, 0), 81);
	arm(81, 0, 100 * NS, 0); /* one-shot: more than one unread is a lie */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	test_move_to(signalfd(-1, &set, 0), 82);
	rec = test_capture(fs, &len);
	for (int fd = 80; fd <= 82; fd++)
		test_clobber(fd);

	for (size_t i = 0; i < sizeof(spoils) / sizeof(spoils[0]); i++) {
		const struct spoil *s = &spoils[i];
		char *c = malloc(len);
		char *p;

		cr_assert_not_null(c);
		memcpy(c, rec, len);
		if (s->off == (size_t)-1)
			p = c + test_find_entry(c, len, s->fd) + E_FLAGS;
		else
			p = c + test_data_of(c, len, s->fd) + s->off;
		if (s->width == 4) {
			uint32_t v32 = (uint32_t)s->value;

			memcpy(p, &v32, 4);
		} else {
			memcpy(p, &s->value, 8);
		}
		test_logs[0] = '\0';
		cr_assert_eq(fs->restore(c, len), -EINVAL, "spoil %zu accepted", i);
		cr_assert(strstr(test_logs, s->expect), "spoil %zu: %s", i, test_logs);
		/* Refused before any descriptor is touched. */
		for (int fd = 80; fd <= 82; fd++)
			cr_assert(is_zero_dev(fd), "spoil %zu: fd %d changed", i, fd);
		free(c);
	}
	/* Untouched, it restores. */
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert(!is_zero_dev(80) && !is_zero_dev(81) && !is_zero_dev(82));
	for (int fd = 80; fd <= 82; fd++)
		close(fd);
	free(rec);
}

Test(files_evfd, state_of_the_wrong_length_is_refused)
{
	size_t pos;
	size_t len;
	char *rec;
	uint64_t dl;
	uint32_t size;

	test_move_to(eventfd(1, 0), 83);
	rec = test_capture(fs, &len);
	pos = test_find_entry(rec, len, 83);
	/* The entry claims 3 bytes more of data and 3 less of padding: its
	 * size stays consistent, the state is not one. */
	memcpy(&dl, rec + pos + 80, 8);
	memcpy(&size, rec + pos, 4);
	cr_assert_eq(dl, sizeof(struct ckpt_evfd_state));
	cr_assert_geq(size - E_HDR - 21 - dl, 3, "no padding to take: %u", size);
	dl += 3;
	memcpy(rec + pos + 80, &dl, 8);
	test_logs[0] = '\0';
	cr_assert_neq(fs->restore(rec, len), 0);
	cr_assert(strstr(test_logs, "fd 83"), "%s", test_logs);
	close(83);
	free(rec);
}

/* The files record has no libFuzzer target: random bit flips over a record
 * of the three kinds stand in for one (run under ASan by contrib/run-tests).
 * Whatever a flip makes of it, restore refuses it or restores it, and never
 * reads outside it. */
Test(files_evfd, random_corruption_never_crashes)
{
	sigset_t set;
	size_t len;
	char *rec;

	test_move_to(eventfd(9, EFD_SEMAPHORE), 84);
	test_move_to(timerfd_create(CLOCK_REALTIME, 0), 85);
	arm(85, TFD_TIMER_ABSTIME, 4000000000ll * NS, 3 * NS);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	test_move_to(signalfd(-1, &set, 0), 86);
	cr_assert_eq(dup2(84, 87), 87);
	rec = test_capture(fs, &len);

	srand(7);
	for (int iter = 0; iter < 3000; iter++) {
		char *c = malloc(len);

		cr_assert_not_null(c);
		memcpy(c, rec, len);
		for (int k = 0; k < 1 + iter % 4; k++)
			c[(size_t)rand() % len] ^= (char)(1 << (rand() % 8));
		cr_assert_leq(fs->restore(c, len), 0);
		free(c);
	}
	free(rec);
}

/* States the kernel lets a program reach, which the restore's checks once
 * refused: the image was committed and could never be restored. Each must
 * round-trip (review of 2026-12-07, findings 2-4). */
Test(files_evfd, odd_states_the_kernel_allows_round_trip)
{
	uint64_t v;
	size_t len;
	char *rec;

	/* O_APPEND set with fcntl on an eventfd: meaningless, accepted. */
	test_move_to(eventfd(5, EFD_NONBLOCK), 70);
	cr_assert_eq(fcntl(70, F_SETFL, O_APPEND | O_NONBLOCK), 0);
	/* CANCEL_ON_SET on a relative monotonic timer: kept, never honoured. */
	test_move_to(timerfd_create(CLOCK_MONOTONIC, 0), 71);
	arm(71, TFD_TIMER_CANCEL_ON_SET, 100 * NS, 0);
	/* An absolute wall-clock timer whose period is shorter than capture's
	 * reads: no time left is seen, one period is taken as the time left. */
	test_move_to(timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK), 72);
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		arm(72, TFD_TIMER_ABSTIME, (long long)now.tv_sec * NS + now.tv_nsec, 1000);
	}
	rec = test_capture(fs, &len);
	cr_assert_null(strstr(test_warnings, "cannot be restored"), "%s", test_warnings);
	for (int fd = 70; fd <= 72; fd++)
		test_clobber(fd);
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(read(70, &v, sizeof(v)), sizeof(v));
	cr_assert_eq(v, 5);
	cr_assert(left_ns(71) > 90 * NS && left_ns(71) <= 100 * NS);
	cr_assert_eq(interval_ns(72), 1000);
	cr_assert_eq(read(72, &v, sizeof(v)), sizeof(v));
	cr_assert(v >= 1);
	for (int fd = 70; fd <= 72; fd++)
		close(fd);
	free(rec);
}

/* Unread expirations plus those due by the time the timer is armed again:
 * none is lost to TFD_IOC_SET_TICKS (review finding 5). A wall-clock timer
 * keeps its deadline; here it passes while the process is down. */
Test(files_evfd, expirations_due_at_restore_are_added_to_the_unread_ones)
{
	struct timespec now;
	uint64_t v;
	size_t len;
	char *rec;

	test_move_to(timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK), 70);
	clock_gettime(CLOCK_REALTIME, &now);
	/* Started 1.05 s ago with a 500 ms period: 3 expirations unread, the
	 * next one due in about 450 ms. */
	arm(70, TFD_TIMER_ABSTIME, (long long)now.tv_sec * NS + now.tv_nsec - 1050000000ll,
	    500000000ll);
	rec = test_capture(fs, &len);
	cr_assert_null(strstr(test_warnings, "cannot be restored"), "%s", test_warnings);
	test_clobber(70);
	usleep(470000); /* the next deadline passes before the restore */
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	usleep(20000);
	cr_assert_eq(read(70, &v, sizeof(v)), sizeof(v));
	cr_assert(v >= 4, "read %llu expirations, expected the 3 saved and the one due since",
		  (unsigned long long)v);
	close(70);
	free(rec);
}

/* A duplicate must name its first holder: a chain of duplicates could hide
 * a cycle of epolls from the depth check (review finding 6). */
Test(files_evfd, a_duplicate_of_a_duplicate_is_refused)
{
	const size_t e_dup_of = 20; /* struct files_rec_fd, docs/files-and-state.md */
	int32_t dup_of;
	size_t len;
	char *rec;

	test_move_to(eventfd(1, 0), 70);
	cr_assert_eq(dup2(70, 71), 71);
	cr_assert_eq(dup2(70, 72), 72);
	rec = test_capture(fs, &len);
	memcpy(&dup_of, rec + test_find_entry(rec, len, 72) + e_dup_of, 4);
	cr_assert_eq(dup_of, 70, "capture names the first holder");
	dup_of = 71;
	memcpy(rec + test_find_entry(rec, len, 72) + e_dup_of, &dup_of, 4);
	for (int fd = 70; fd <= 72; fd++)
		test_clobber(fd);
	cr_assert_eq(fs->restore(rec, len), -EINVAL);
	cr_assert(strstr(test_logs, "fd 72: duplicate of fd 71, which is not an earlier original"),
		  "%s", test_logs);
	for (int fd = 70; fd <= 72; fd++)
		close(fd);
	free(rec);
}
