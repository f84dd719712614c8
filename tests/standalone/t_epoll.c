/* t_epoll.c - an epoll and its interest list across checkpoints: every step
 * writes to some of the watched descriptors and checks that epoll_wait()
 * reports exactly those, with their 64-bit data (docs/files-and-state.md,
 * "epoll").
 *
 *   t_epoll            pipes only (run_cycles.sh: one process, no tree)
 *   t_epoll sock       one target is a socketpair (tree_cycles.sh: a
 *                      socketpair comes back in a tree of 'ckpt run' only)
 *   t_epoll closed     refusal: a watched descriptor closed while its file
 *                      lives on in a dup; prints "ready" and waits
 *   t_epoll shared     refusal: a child holds the epoll it inherited; the
 *                      parent prints "ready" and waits
 *
 * Watched by the epoll ep (and, every other step, through its dup ep2):
 *   A  pipe a, level-triggered EPOLLIN
 *   B  pipe b, edge-triggered (EPOLLIN | EPOLLET)
 *   C  pipe c, or one end of a socketpair, level-triggered
 *   D  pipe d, EPOLLIN | EPOLLONESHOT: after it fires it must stay silent
 *      (its byte still unread) until the next step re-arms it with
 *      EPOLL_CTL_MOD
 *   E  an inner epoll watching pipe e (an epoll inside the epoll)
 * Each has its own 64-bit data value. A checkpoint interrupts epoll_wait()
 * with EINTR (docs/limitations.md): the wait is simply repeated. An
 * edge-triggered report with nothing to read (the extra wake-up a restore
 * may give) is dropped, as an edge-triggered program does. Any other
 * difference prints FAIL and ends with status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "end_gate.h"

#define STEPS 300
#define NT    5

static const char names[NT] = { 'A', 'B', 'C', 'D', 'E' };
/* Distinct 64-bit data values, high bits set so truncation shows. */
static const uint64_t tags[NT] = {
	0xa11ce00000000001ull, 0xb0b0000000000002ull, 0xc0ffee0000000003ull,
	0xd00d000000000004ull, 0xeeee0000deadbeefull,
};

static int rd[NT]; /* what is read: A-D watched directly, E's pipe */
static int wr[NT]; /* what is written */
static int ep;
static int ep2;
static int inner;

static void die(const char *what)
{
	printf("FAIL: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void watch(int epfd, int fd, uint32_t events, uint64_t data, int op)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(epfd, op, fd, &ev) < 0)
		die("epoll_ctl");
}

static void make_pipe(int i)
{
	int p[2];

	if (pipe2(p, O_NONBLOCK) < 0)
		die("pipe2");
	rd[i] = p[0];
	wr[i] = p[1];
}

static void setup(bool sock)
{
	int sv[2];

	for (int i = 0; i < NT; i++)
		if (i != 2 || !sock)
			make_pipe(i);
	if (sock) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
			die("socketpair");
		rd[2] = sv[0];
		wr[2] = sv[1];
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	inner = epoll_create1(0);
	if (ep < 0 || inner < 0)
		die("epoll_create1");
	watch(inner, rd[4], EPOLLIN, 0x1234, EPOLL_CTL_ADD);
	watch(ep, rd[0], EPOLLIN, tags[0], EPOLL_CTL_ADD);
	watch(ep, rd[1], EPOLLIN | EPOLLET, tags[1], EPOLL_CTL_ADD);
	watch(ep, rd[2], EPOLLIN, tags[2], EPOLL_CTL_ADD);
	watch(ep, rd[3], EPOLLIN | EPOLLONESHOT, tags[3], EPOLL_CTL_ADD);
	watch(ep, inner, EPOLLIN, tags[4], EPOLL_CTL_ADD);
	ep2 = dup(ep);
	if (ep2 < 0)
		die("dup");
}

/* Reads @fd to EAGAIN; returns the bytes read. */
static int drain(int fd)
{
	char buf[64];
	int total = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			total += (int)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			die("read");
		return total;
	}
}

/* Which targets epoll @epfd reports now (bit i: target i). */
static unsigned int reported(int epfd)
{
	struct epoll_event evs[8];
	unsigned int got = 0;
	int n;

	do
		n = epoll_wait(epfd, evs, 8, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		die("epoll_wait");
	for (int k = 0; k < n; k++) {
		int i;

		for (i = 0; i < NT && tags[i] != evs[k].data.u64; i++)
			;
		if (i == NT || !(evs[k].events & EPOLLIN) || (got & (1u << i))) {
			printf("FAIL: epoll_wait reported data %#llx events %#x\n",
			       (unsigned long long)evs[k].data.u64, evs[k].events);
			fflush(stdout);
			exit(1);
		}
		got |= 1u << i;
	}
	return got;
}

static void run(void)
{
	bool d_fired = false;

	for (int step = 0; step < STEPS; step++) {
		struct timespec nap = { 0, 10 * 1000000L };
		/* A different mix every step, D only while armed. */
		unsigned int want = ((unsigned int)step * 7u + 3u) % 32u;
		unsigned int got;
		int epfd = step % 2 ? ep2 : ep;

		if (d_fired)
			want &= ~(1u << 3);
		nanosleep(&nap, NULL);
		for (int i = 0; i < NT; i++)
			if ((want & (1u << i)) && write(wr[i], "x", 1) != 1)
				die("write");
		got = reported(epfd);
		/* An edge-triggered report with nothing to read is the extra
		 * wake-up a restore may give: drop it. */
		if ((got & ~want & (1u << 1)) && drain(rd[1]) == 0)
			got &= ~(1u << 1);
		if (d_fired && (got & (1u << 3))) {
			printf("FAIL: step %d: the one-shot entry fired again before it was "
			       "re-armed\n",
			       step);
			fflush(stdout);
			exit(1);
		}
		if (got != want) {
			printf("FAIL: step %d: reported %#x, wanted %#x\n", step, got, want);
			fflush(stdout);
			exit(1);
		}
		printf("step %d:", step);
		for (int i = 0; i < NT; i++)
			if (got & (1u << i))
				printf(" %c=%016llx", names[i], (unsigned long long)tags[i]);
		printf("%s\n", d_fired ? " (D disarmed)" : "");
		fflush(stdout);
		/* Level-triggered and edge-triggered ones are drained; D's byte
		 * stays one step: it fired, so it must stay silent. */
		for (int i = 0; i < NT; i++)
			if (i != 3 && drain(rd[i]) != ((want & (1u << i)) ? 1 : 0))
				die("drain: not the bytes written");
		if (d_fired) {
			if (drain(rd[3]) != 1)
				die("drain D");
			watch(ep, rd[3], EPOLLIN | EPOLLONESHOT, tags[3], EPOLL_CTL_MOD);
			d_fired = false;
		} else if (got & (1u << 3)) {
			d_fired = true;
		}
	}
}

/* Refusal cases: the program holds an epoll the checkpoint must refuse,
 * says so and waits to be killed. */
static void refuse(const char *mode)
{
	int p[2];

	if (pipe(p) < 0)
		die("pipe");
	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	watch(ep, p[0], EPOLLIN, 7, EPOLL_CTL_ADD);
	if (strcmp(mode, "closed") == 0) {
		/* fd 40 keeps the file alive, so the entry stays; the program
		 * can no longer name it as fd p[0]. */
		if (dup2(p[0], 40) < 0)
			die("dup2");
		close(p[0]);
		printf("ready: epoll fd %d watches closed fd %d\n", ep, p[0]);
	} else {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			for (;;)
				pause();
		}
		printf("ready: epoll fd %d shared with pid %d\n", ep, (int)pid);
	}
	fflush(stdout);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "closed") == 0 || strcmp(mode, "shared") == 0)
		refuse(mode);
	setup(strcmp(mode, "sock") == 0);
	run();
	end_gate();
	printf("done\n");
	return 0;
}
