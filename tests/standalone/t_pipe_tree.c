/* t_pipe_tree.c - numbered records through a pipe between two processes of
 * a tree, with bytes in flight at every checkpoint (docs/process-trees.md).
 *
 *   t_pipe_tree           the parent makes a pipe of PIPE_SIZE bytes, sets
 *                         O_NONBLOCK on its read end and forks a reader; the
 *                         parent writes RECORDS records as fast as the pipe
 *                         takes them while the reader reads one every
 *                         READ_DELAY_NS, so the pipe is full most of the
 *                         time. Both keep the read end (two holders of one
 *                         description); only the parent holds the write end.
 *   t_pipe_tree fifo      the same through a named pipe, $CKPT_DIR.fifo,
 *                         made afresh and opened by path (its read end
 *                         first, non-blocking, then its write end)
 *   t_pipe_tree produce   writes the records to stdout (a pipeline's left)
 *   t_pipe_tree consume   reads them from stdin (a pipeline's right)
 *
 * The reader checks that every record arrives once, in order and intact,
 * that the pipe keeps its size and the read end its O_NONBLOCK, and prints
 * a line every PRINT_EVERY records. Anything wrong prints a line starting
 * with "FAIL" and makes the process exit non-zero. Lines of different
 * processes interleave: compare outputs sorted. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "end_gate.h"

#define RECORDS	      3000
#define REC_LEN	      100 /* bytes of one record: "%08d " + filler + '\n' */
#define PRINT_EVERY   20
#define PIPE_SIZE     (128 * 1024) /* not the default 64 KiB: checks F_SETPIPE_SZ */
#define READ_DELAY_NS 2000000L

static void rec_make(char *r, int n)
{
	snprintf(r, REC_LEN, "%08d ", n);
	for (int i = 9; i < REC_LEN - 1; i++)
		r[i] = (char)('a' + (n * 7 + i) % 26);
	r[REC_LEN - 1] = '\n';
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly REC_LEN bytes, waiting in poll() on a non-blocking end.
 * Returns 1, 0 at end of file before any byte, -1 on error. */
static int read_rec(int fd, char *r)
{
	size_t got = 0;

	while (got < REC_LEN) {
		ssize_t n = read(fd, r + got, REC_LEN - got);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			poll(&p, 1, -1);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return got ? -1 : 0;
		got += (size_t)n;
	}
	return 1;
}

static int produce(int fd, const char *who)
{
	char r[REC_LEN];

	for (int n = 0; n < RECORDS; n++) {
		rec_make(r, n);
		if (write_all(fd, r, REC_LEN) < 0) {
			printf("FAIL %s: write of record %d: %s\n", who, n, strerror(errno));
			return 1;
		}
	}
	return 0;
}

/* @want_nonblock: the read end must have kept O_NONBLOCK; @want_size: the
 * pipe its size (0: not checked). */
static int consume(int fd, const char *who, int want_nonblock, int want_size)
{
	struct timespec delay = { 0, READ_DELAY_NS };
	char want[REC_LEN];
	char r[REC_LEN];
	int bad = 0;
	int n;

	for (n = 0;; n++) {
		int got = read_rec(fd, r);

		if (got == 0)
			break;
		if (got < 0) {
			printf("FAIL %s: read of record %d: %s\n", who, n, strerror(errno));
			return 1;
		}
		rec_make(want, n);
		if (memcmp(r, want, REC_LEN) != 0) {
			printf("FAIL %s: record %d is \"%.8s...\", wanted \"%.8s...\"\n", who, n, r,
			       want);
			return 1;
		}
		if (n % PRINT_EVERY == 0) {
			int fl = fcntl(fd, F_GETFL);
			int sz = fcntl(fd, F_GETPIPE_SZ);

			printf("%s: record %d ok\n", who, n);
			if (want_nonblock && !(fl & O_NONBLOCK)) {
				printf("FAIL %s: the read end lost O_NONBLOCK at record %d\n", who,
				       n);
				bad = 1;
			}
			if (want_size && sz != want_size) {
				printf("FAIL %s: the pipe has %d bytes at record %d, not %d\n", who,
				       sz, n, want_size);
				bad = 1;
			}
			fflush(stdout);
		}
		nanosleep(&delay, NULL);
	}
	end_gate();
	printf("%s: %d records%s\n", who, n, n == RECORDS ? "" : " (FAIL: records lost)");
	return bad || n != RECORDS;
}

/* Makes the named pipe $CKPT_DIR.fifo afresh and opens both its ends in
 * @p. Returns 0 or -1. */
static int fifo_open(int p[2])
{
	const char *dir = getenv("CKPT_DIR");
	char path[4096];

	if (!dir || snprintf(path, sizeof(path), "%s.fifo", dir) >= (int)sizeof(path))
		return -1;
	unlink(path);
	if (mkfifo(path, 0600) < 0)
		return -1;
	p[0] = open(path, O_RDONLY | O_NONBLOCK);
	p[1] = p[0] < 0 ? -1 : open(path, O_WRONLY);
	return p[1] < 0 ? -1 : 0;
}

static int tree(int named)
{
	int p[2];
	int status;
	pid_t pid;
	int bad;

	if ((named ? fifo_open(p) : pipe(p)) < 0 || fcntl(p[0], F_SETPIPE_SZ, PIPE_SIZE) < 0 ||
	    fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		printf("FAIL: %s: %s\n", named ? "named pipe" : "pipe", strerror(errno));
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("FAIL: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(p[1]);
		bad = consume(p[0], "reader", 1, PIPE_SIZE);
		fflush(stdout);
		_exit(bad);
	}
	/* The parent keeps its copy of the read end until the reader is done. */
	bad = produce(p[1], "writer");
	printf("writer: %d records written\n", RECORDS);
	fflush(stdout);
	close(p[1]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		printf("FAIL writer: the reader ended with wait status %#x\n", status);
		bad = 1;
	}
	if (!(fcntl(p[0], F_GETFL) & O_NONBLOCK)) {
		printf("FAIL writer: its copy of the read end lost O_NONBLOCK\n");
		bad = 1;
	}
	close(p[0]);
	printf("writer done\n");
	return bad;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "produce"))
		return produce(1, "producer");
	if (argc == 2 && !strcmp(argv[1], "consume"))
		return consume(0, "consumer", 0, 0);
	if (argc == 2 && !strcmp(argv[1], "fifo"))
		return tree(1);
	if (argc != 1) {
		fprintf(stderr, "usage: t_pipe_tree [produce|consume|fifo]\n");
		return 2;
	}
	return tree(0);
}
