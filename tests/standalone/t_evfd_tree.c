/* t_evfd_tree.c - for tree_evfd_refused.sh: an eventfd (fd 40) inherited
 * over fork() by a child, so held by two processes of the tree, which
 * libckpt cannot restore shared; and a timerfd (fd 41) the child makes
 * after the fork, which is its own. Prints "ready" once both processes
 * are set up, then waits to be killed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what)
{
	printf("FAIL: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	_exit(1);
}

static void idle(void)
{
	struct timespec t = { 0, 50 * 1000000L };

	for (;;)
		nanosleep(&t, NULL);
}

int main(void)
{
	int p[2];
	int e = eventfd(7, 0);
	pid_t pid;
	char c;

	if (e < 0 || dup2(e, 40) != 40 || pipe(p) < 0)
		fail("set-up");
	close(e);
	pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		int t = timerfd_create(CLOCK_MONOTONIC, 0);

		if (t < 0 || dup2(t, 41) != 41)
			fail("child timerfd");
		close(t);
		if (write(p[1], "x", 1) != 1)
			fail("child write");
		close(p[0]);
		close(p[1]);
		idle();
	}
	if (read(p[0], &c, 1) != 1)
		fail("parent read");
	close(p[0]);
	close(p[1]);
	printf("ready\n");
	fflush(stdout);
	idle();
}
