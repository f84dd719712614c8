/* t_evfd.c - eventfd, timerfd and signalfd descriptors across checkpoints
 * (libckpt/files_evfd.c). Each step leaves state in the kernel objects that
 * the next step checks, so a checkpoint between two steps must carry it:
 *
 * - an eventfd (non-blocking) written through a dup and read through the
 *   original: the counter the previous step wrote, exactly, and one shared
 *   description;
 * - a semaphore eventfd (close-on-exec) written 2 and read once: the next
 *   step reads 1 more, then EAGAIN;
 * - a periodic timer (5 ms) read blocking each step: it keeps firing;
 * - a one-shot timer armed 1 ms and a periodic one (first 1 ms, then every
 *   1000 s), each waited for with poll() but not read: the next step reads
 *   exactly one expiration of each, and the periodic one is still armed;
 * - a one-shot timer far in the future (1000 s, relative, CLOCK_MONOTONIC)
 *   and one at an absolute CLOCK_REALTIME time a day ahead: armed, with a
 *   sane time left;
 * - a signalfd for SIGUSR2 and SIGWINCH (blocked), sent to itself at a
 *   step and read at the next.
 *
 * Output depends on nothing but the step number; any failure prints FAIL
 * and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "end_gate.h"

#define STEPS 200
#define NS    1000000000ll

static void fail(int step, const char *what)
{
	printf("FAIL: step %d: %s (%s)\n", step, what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void arm(int fd, int flags, long long value_ns, long long interval_ns)
{
	struct itimerspec its = {
		.it_interval = { interval_ns / NS, interval_ns % NS },
		.it_value = { value_ns / NS, value_ns % NS },
	};

	if (timerfd_settime(fd, flags, &its, NULL) < 0)
		fail(-1, "timerfd_settime");
}

static long long left_ns(int fd, int step)
{
	struct itimerspec its;

	if (timerfd_gettime(fd, &its) < 0)
		fail(step, "timerfd_gettime");
	return its.it_value.tv_sec * NS + its.it_value.tv_nsec;
}

/* Reads one uint64_t from non-blocking @fd: -1 on EAGAIN. */
static long long read_u64(int fd, int step, const char *what)
{
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));

	if (n < 0 && errno == EAGAIN)
		return -1;
	if (n != sizeof(v))
		fail(step, what);
	return (long long)v;
}

static void wait_readable(int fd, int step, const char *what)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, 10000);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		fail(step, what);
}

int main(void)
{
	struct timespec nap = { 0, 10 * 1000000L };
	struct timespec now;
	sigset_t set;
	int efd, efd_dup, sem, tper, tshot, tonce, tfar, treal, sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGWINCH);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		fail(-1, "sigprocmask");
	efd = eventfd(0, EFD_NONBLOCK);
	sem = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
	tper = timerfd_create(CLOCK_MONOTONIC, 0);
	tshot = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	tonce = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
	tfar = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	treal = timerfd_create(CLOCK_REALTIME, 0);
	sfd = signalfd(-1, &set, SFD_NONBLOCK);
	if (efd < 0 || sem < 0 || tper < 0 || tshot < 0 || tonce < 0 || tfar < 0 || treal < 0 ||
	    sfd < 0)
		fail(-1, "create");
	efd_dup = dup(efd);
	if (efd_dup < 0)
		fail(-1, "dup");
	arm(tper, 0, 5000000, 5000000);
	arm(tfar, 0, 1000 * NS, 0);
	clock_gettime(CLOCK_REALTIME, &now);
	arm(treal, TFD_TIMER_ABSTIME, (now.tv_sec + 86400) * NS, 0);

	for (int i = 0; i < STEPS; i++) {
		struct signalfd_siginfo si;
		long long v;
		long long left;

		nanosleep(&nap, NULL);
		/* What the previous step left. */
		if (i > 0) {
			v = read_u64(efd, i, "read eventfd");
			if (v != i)
				fail(i, "eventfd counter is not what the last step wrote");
			v = read_u64(sem, i, "read semaphore");
			if (v != 1)
				fail(i, "semaphore eventfd did not hold one unit");
			v = read_u64(sem, i, "read semaphore again");
			if (v != -1)
				fail(i, "semaphore eventfd held more than one unit");
			if (read_u64(tshot, i, "read one-shot") != 1)
				fail(i, "one-shot timer: not exactly one expiration left unread");
			if (read_u64(tonce, i, "read periodic") != 1)
				fail(i, "slow periodic timer: not exactly one expiration unread");
			left = left_ns(tonce, i);
			if (left <= 0 || left > 1000 * NS)
				fail(i, "slow periodic timer not armed for its next period");
			for (int k = 0; k < 2; k++) {
				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					fail(i,
					     "signalfd: a signal sent at the last step is missing");
				if (si.ssi_signo != (uint32_t)(k ? SIGWINCH : SIGUSR2) &&
				    si.ssi_signo != (uint32_t)(k ? SIGUSR2 : SIGWINCH))
					fail(i, "signalfd: unexpected signal");
			}
			if (read(sfd, &si, sizeof(si)) >= 0 || errno != EAGAIN)
				fail(i, "signalfd: more signals than were sent");
		}
		/* Flags survive. */
		if (!(fcntl(efd_dup, F_GETFL) & O_NONBLOCK) ||
		    (fcntl(tper, F_GETFL) & O_NONBLOCK) || !(fcntl(sem, F_GETFD) & FD_CLOEXEC) ||
		    !(fcntl(tfar, F_GETFD) & FD_CLOEXEC) || (fcntl(efd, F_GETFD) & FD_CLOEXEC))
			fail(i, "descriptor flags changed");
		/* The fast periodic timer goes on firing. */
		wait_readable(tper, i, "periodic timer does not fire");
		v = read_u64(tper, i, "read periodic timer");
		if (v < 1)
			fail(i, "periodic timer read no expiration");
		left = left_ns(tfar, i);
		if (left <= 0 || left > 1000 * NS)
			fail(i, "far timer is not armed with a sane time left");
		left = left_ns(treal, i);
		if (left <= 0 || left > 86400 * NS)
			fail(i, "realtime absolute timer is not armed with a sane time left");

		/* State for the next step. */
		v = i + 1;
		if (write(efd_dup, &v, sizeof(v)) != sizeof(v))
			fail(i, "write eventfd");
		v = 2;
		if (write(sem, &v, sizeof(v)) != sizeof(v) ||
		    read_u64(sem, i, "read semaphore") != 1)
			fail(i, "semaphore eventfd");
		arm(tshot, 0, 1000000, 0);
		arm(tonce, 0, 1000000, 1000 * NS);
		wait_readable(tshot, i, "one-shot timer does not fire");
		wait_readable(tonce, i, "slow periodic timer does not fire");
		if (kill(getpid(), SIGUSR2) < 0 || kill(getpid(), SIGWINCH) < 0)
			fail(i, "kill");
		printf("step %d: eventfd %d, semaphore, timers armed: yes, signals ok\n", i, i + 1);
		fflush(stdout);
	}
	end_gate();
	printf("done\n");
	return 0;
}
