/* late_exec.c - a task that registers late (tests/slurm/late_rank.sh).
 *
 * Usage: late-exec FILE PROGRAM ARGS...
 * Waits until FILE exists, then executes PROGRAM. Linked statically, so the
 * LD_PRELOAD of libckpt does not load into it: nothing registers with the
 * job's agents until PROGRAM (dynamic) starts. The test decides when.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Ten minutes: longer than any test waits, short enough not to linger. */
#define LATE_EXEC_WAIT_MAX_S 600

int main(int argc, char **argv)
{
	const struct timespec tick = { .tv_nsec = 100 * 1000 * 1000 };
	int i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s FILE PROGRAM [ARGS...]\n", argv[0]);
		return 2;
	}
	for (i = 0; access(argv[1], F_OK) != 0; i++) {
		if (i >= LATE_EXEC_WAIT_MAX_S * 10) {
			fprintf(stderr, "late-exec: %s did not appear in %d s\n", argv[1],
				LATE_EXEC_WAIT_MAX_S);
			return 1;
		}
		nanosleep(&tick, NULL);
	}
	execv(argv[2], argv + 2);
	fprintf(stderr, "late-exec: cannot execute %s: %s\n", argv[2], strerror(errno));
	return 127;
}
