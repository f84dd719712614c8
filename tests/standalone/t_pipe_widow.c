/* t_pipe_widow.c - a pipe whose only writer has ended, read slowly across
 * checkpoints: a restored process must find the bytes still buffered and
 * then end of file, never a closed descriptor or an early end of file.
 *
 * A child writes BYTES bytes of a known pattern into the pipe and exits;
 * the parent waits for it, then reads CHUNK bytes per step from the read
 * end and its dup alternately (non-blocking: with no writer left the bytes
 * are there or it is the end), checks every byte, prints the step, and
 * after the last one expects end of file on both. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "end_gate.h"

#define STEPS 300
#define CHUNK 200
#define BYTES (STEPS * CHUNK)

static void fail(const char *what, int step)
{
	printf("FAIL: %s at step %d: %s\n", what, step, strerror(errno));
	fflush(stdout);
	exit(1);
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251 + 3);
}

/* Forks the writer; returns the read end once it has ended. */
static int widowed_pipe(void)
{
	unsigned char buf[BYTES];
	int p[2];
	int st;
	pid_t pid;

	if (pipe(p) < 0)
		fail("pipe", -1);
	for (size_t i = 0; i < BYTES; i++)
		buf[i] = pattern(i);
	pid = fork();
	if (pid < 0)
		fail("fork", -1);
	if (pid == 0) {
		close(p[0]);
		_exit(write(p[1], buf, BYTES) == BYTES ? 0 : 1);
	}
	close(p[1]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("writer", -1);
	return p[0];
}

int main(void)
{
	struct timespec nap = { 0, 10 * 1000000L };
	int fd[2];
	size_t at = 0;
	char c;

	fd[0] = widowed_pipe();
	fd[1] = dup(fd[0]);
	if (fd[1] < 0 || fcntl(fd[0], F_SETFL, O_NONBLOCK) < 0)
		fail("dup/fcntl", -1);
	for (int i = 0; i < STEPS; i++) {
		unsigned char buf[CHUNK];
		ssize_t n;

		nanosleep(&nap, NULL);
		/* One description: the dup sees the O_NONBLOCK set on fd[0]. */
		if (!(fcntl(fd[1], F_GETFL) & O_NONBLOCK))
			fail("dup is not the same description", i);
		n = read(fd[i % 2], buf, CHUNK);
		if (n != CHUNK) {
			printf("FAIL: step %d: read %zd of %d bytes\n", i, n, CHUNK);
			fail("read", i);
		}
		for (int k = 0; k < CHUNK; k++, at++)
			if (buf[k] != pattern(at)) {
				printf("FAIL: byte %zu is %u, not %u\n", at, buf[k], pattern(at));
				fail("pattern", i);
			}
		printf("step %d\n", i);
		fflush(stdout);
	}
	if (read(fd[0], &c, 1) != 0 || read(fd[1], &c, 1) != 0)
		fail("end of file expected", STEPS);
	end_gate();
	printf("done: %zu bytes then end of file\n", at);
	return 0;
}
