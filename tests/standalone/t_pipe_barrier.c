/* t_pipe_barrier.c - numbered records from a parent to its child through a
 * pipe that never fills, for tree_pipe_barrier.sh (docs/process-trees.md,
 * "Pipes between processes of the tree").
 *
 * The parent makes a pipe of PIPE_SIZE bytes, larger than everything it
 * will ever write (RECORDS records of REC_LEN bytes), forks the reader and
 * closes its read end: the reader is the only holder of the read end, so
 * it is the process that saves the pipe's bytes at a checkpoint, and the
 * writer never blocks, so it writes into the pipe as soon as it runs again
 * after a checkpoint. It writes one record every WRITE_GAP_NS, so a
 * checkpoint taken after the first lines finds it in mid-stream.
 *
 * The reader checks that record n is followed by record n + 1, until end
 * of file after the last; a record that comes twice (saved in the pipe and
 * written again by a writer restored to before it wrote it) or not at all
 * prints a line starting with "FAIL" and makes both processes exit 1. It
 * prints "reader: N records" every PRINT_EVERY records.
 *
 *   t_pipe_barrier keep   the parent keeps its read end, so the parent (the
 *                         lower pid) saves the pipe's bytes, and the reader
 *                         takes one record every READ_GAP_NS, so the pipe
 *                         holds records at a checkpoint: a reader released
 *                         before the save would take records that are then
 *                         in neither its image nor the saved pipe.
 *   t_pipe_barrier hold   for measuring checkpoints (tree_pipe_bench.sh):
 *                         the parent writes every record at once, prints
 *                         "held", and both processes wait for a signal with
 *                         the records still in the pipe. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RECORDS	     8000
#define REC_LEN	     16 /* "%015u\n" */
#define PRINT_EVERY  500
#define PIPE_SIZE    (256 * 1024) /* > RECORDS * REC_LEN: the writer never blocks */
#define WRITE_GAP_NS 250000L	  /* 2 s for all records, at least */
#define READ_GAP_NS  1000000L	  /* keep: the reader is 4 times slower */

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

/* Reads exactly REC_LEN bytes. Returns 1, 0 at end of file before any
 * byte, -1 on error or a partial record. */
static int read_rec(int fd, char *r)
{
	size_t got = 0;

	while (got < REC_LEN) {
		ssize_t n = read(fd, r + got, REC_LEN - got);

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

static int reader(int fd, bool slow)
{
	struct timespec gap = { 0, READ_GAP_NS };
	char r[REC_LEN + 1];
	unsigned int want = 0;
	int ret;

	while ((ret = read_rec(fd, r)) == 1) {
		char *end = NULL;
		unsigned long got;

		r[REC_LEN] = '\0';
		got = strtoul(r, &end, 10);
		if (end != r + REC_LEN - 1 || *end != '\n') {
			printf("FAIL: malformed record after record %u: \"%.15s\"\n", want, r);
			return 1;
		}
		if (got != want) {
			printf("FAIL: record %lu where %u was expected (%s)\n", got, want,
			       got < want ? "a record came twice" : "records were lost");
			return 1;
		}
		want++;
		if (slow)
			nanosleep(&gap, NULL);
		if (want % PRINT_EVERY == 0) {
			printf("reader: %u records\n", want);
			fflush(stdout);
		}
	}
	if (ret < 0) {
		printf("FAIL: reading after record %u: %s\n", want,
		       errno ? strerror(errno) : "a partial record");
		return 1;
	}
	if (want != RECORDS) {
		printf("FAIL: end of file after %u of %d records\n", want, RECORDS);
		return 1;
	}
	printf("reader: all %d records, each once, in order\n", RECORDS);
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec gap = { 0, WRITE_GAP_NS };
	int hold = argc > 1 && !strcmp(argv[1], "hold");
	bool keep = argc > 1 && !strcmp(argv[1], "keep");
	int fds[2];
	int status;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pipe2(fds, O_CLOEXEC) < 0 || fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE) < PIPE_SIZE) {
		printf("FAIL: cannot make a pipe of %d bytes: %s\n", PIPE_SIZE, strerror(errno));
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		printf("FAIL: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(fds[1]);
		if (hold)
			for (;;)
				pause();
		exit(reader(fds[0], keep));
	}
	if (!keep)
		close(fds[0]);
	for (unsigned int n = 0; n < RECORDS; n++) {
		char r[REC_LEN + 1];

		snprintf(r, sizeof(r), "%015u\n", n);
		if (write_all(fds[1], r, REC_LEN) < 0) {
			printf("FAIL: writing record %u: %s\n", n, strerror(errno));
			return 1;
		}
		if (!hold)
			nanosleep(&gap, NULL);
	}
	if (hold) {
		printf("held\n");
		for (;;)
			pause();
	}
	close(fds[1]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		printf("FAIL: the reader did not exit normally (status %#x)\n", status);
		return 1;
	}
	return WEXITSTATUS(status);
}
