/* envprobe - prints, every step, what a task learns from its start: the
 * restart count and a TaskProlog export in its environment, TMPDIR and its
 * soft RLIMIT_NOFILE, plus a running checksum that a restart from scratch
 * (instead of a restore) would reset.
 *   envprobe STEPS MS_PER_STEP
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static const char *env_or_dash(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : "-";
}

int main(int argc, char **argv)
{
	long steps = argc > 1 ? atol(argv[1]) : 100;
	long ms = argc > 2 ? atol(argv[2]) : 100;
	struct timespec pause = { ms / 1000, (ms % 1000) * 1000000L };
	uint64_t sum = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (long i = 1; i <= steps; i++) {
		struct rlimit rl;

		sum = sum * 6364136223846793005ull + (uint64_t)i;
		getrlimit(RLIMIT_NOFILE, &rl);
		printf("step %ld sum %016llx restarts %s prolog %s tmpdir %s nofile %llu\n", i,
		       (unsigned long long)sum, env_or_dash("SLURM_RESTART_COUNT"),
		       env_or_dash("PROLOG_MARK"), env_or_dash("TMPDIR"),
		       (unsigned long long)rl.rlim_cur);
		nanosleep(&pause, NULL);
	}
	printf("done %ld sum %016llx\n", steps, (unsigned long long)sum);
	return 0;
}
