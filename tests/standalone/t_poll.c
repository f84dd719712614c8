/* t_poll.c - threads blocked in poll(), ppoll(), select() and pselect()
 * across checkpoints: none of them may see EINTR (libckpt resumes the wait
 * when only the checkpoint interrupted it).
 *
 * A relay of bytes: main writes step i into pipe a; the relay thread waits
 * on a with poll/ppoll (alternating) and copies the byte into pipe b; main
 * waits on b with select/pselect (alternating, 5 s timeout) and prints the
 * step. Any -1/EINTR or timeout ends the program with status 1.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "end_gate.h"

#define STEPS 300

static int pipe_a[2];
static int pipe_b[2];

static void die(const char *what)
{
	printf("FAIL: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void *relay(void *arg)
{
	(void)arg;
	for (int i = 0; i < STEPS; i++) {
		struct pollfd pfd = { .fd = pipe_a[0], .events = POLLIN };
		unsigned char c;
		int ret = i % 2 ? poll(&pfd, 1, -1) : ppoll(&pfd, 1, NULL, NULL);

		if (ret != 1)
			die(i % 2 ? "poll" : "ppoll");
		if (read(pipe_a[0], &c, 1) != 1 || write(pipe_b[1], &c, 1) != 1)
			die("relay read/write");
	}
	return NULL;
}

static int wait_b(int i)
{
	fd_set rd;

	FD_ZERO(&rd);
	FD_SET(pipe_b[0], &rd);
	if (i % 2) {
		struct timeval tv = { 5, 0 };

		return select(pipe_b[0] + 1, &rd, NULL, NULL, &tv);
	}
	struct timespec ts = { 5, 0 };

	return pselect(pipe_b[0] + 1, &rd, NULL, NULL, &ts, NULL);
}

int main(void)
{
	struct timespec nap = { 0, 10 * 1000000L };
	pthread_t tid;

	if (pipe(pipe_a) || pipe(pipe_b))
		die("pipe");
	if (pthread_create(&tid, NULL, relay, NULL))
		die("pthread_create");
	for (int i = 0; i < STEPS; i++) {
		unsigned char c = (unsigned char)i;
		unsigned char back;

		nanosleep(&nap, NULL);
		if (write(pipe_a[1], &c, 1) != 1)
			die("write a");
		if (wait_b(i) != 1)
			die(i % 2 ? "select" : "pselect");
		if (read(pipe_b[0], &back, 1) != 1 || back != c)
			die("read b");
		printf("step %d\n", i);
		fflush(stdout);
	}
	pthread_join(tid, NULL);
	end_gate();
	printf("done\n");
	return 0;
}
