/* bench_tree - the costs a process tree pays under libckpt
 * (contrib/bench/tree runs it natively and under `ckpt run` side by side).
 *
 *   bench_tree MODE N
 *
 * MODE:
 *   fork      N times: fork, the child exit()s at once, the parent waits
 *   forkexec  N times: fork, the child execs /bin/true, the parent waits
 *   pingpong  a child echoes 1 byte back over a second pipe, N round trips
 *   stream    N MiB through a pipe to a child, 64 KiB writes
 *   compute   a loop of N million integer steps in one process (the
 *             compute-bound baseline: nothing of libckpt is on its path)
 *
 * Prints "MODE N ELAPSED_NS CPU_NS" on stdout (CPU_NS: user + system time
 * of the process and its reaped children, which a loaded machine inflates
 * far less than the elapsed time); exit status 0 on success.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t tv_ns(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

/* User + system time of this process and of its reaped children. */
static int64_t cpu_ns(void)
{
	struct rusage self, kids;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return tv_ns(self.ru_utime) + tv_ns(self.ru_stime) + tv_ns(kids.ru_utime) +
	       tv_ns(kids.ru_stime);
}

static void die(const char *what)
{
	fprintf(stderr, "bench_tree: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_tree: child %d ended with status 0x%x\n", (int)pid, st);
		exit(1);
	}
}

static void run_fork(long n, int exec_true)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			if (exec_true) {
				execl("/bin/true", "true", (char *)NULL);
				_exit(127);
			}
			exit(0);
		}
		reap(pid);
	}
}

static void full_write(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		buf += w;
		len -= (size_t)w;
	}
}

/* Reads exactly @len bytes; 0 at end of file before the first byte. */
static size_t full_read(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read");
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return got;
}

static void run_pingpong(long n)
{
	int to_child[2], to_parent[2];
	char c = 'x';
	pid_t pid;

	if (pipe(to_child) || pipe(to_parent))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		while (full_read(to_child[0], &c, 1) == 1)
			full_write(to_parent[1], &c, 1);
		exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
	for (long i = 0; i < n; i++) {
		full_write(to_child[1], &c, 1);
		if (full_read(to_parent[0], &c, 1) != 1)
			die("echo");
	}
	close(to_child[1]);
	reap(pid);
}

static void run_stream(long mib)
{
	static char buf[64 * 1024];
	int p[2];
	pid_t pid;

	if (pipe(p))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		uint64_t total = 0;
		size_t r;

		close(p[1]);
		while ((r = full_read(p[0], buf, sizeof(buf))) > 0)
			total += r;
		exit(total == (uint64_t)mib << 20 ? 0 : 1);
	}
	close(p[0]);
	memset(buf, 'y', sizeof(buf));
	for (long i = 0; i < mib * 16; i++)
		full_write(p[1], buf, sizeof(buf));
	close(p[1]);
	reap(pid);
}

static void run_compute(long millions)
{
	volatile uint64_t x = 88172645463325252u;

	for (long i = 0; i < millions * 1000000; i++) {
		uint64_t v = x;

		v ^= v << 13;
		v ^= v >> 7;
		v ^= v << 17;
		x = v;
	}
}

int main(int argc, char **argv)
{
	const char *mode;
	int64_t t0, c0;
	long n;

	if (argc != 3 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: bench_tree fork|forkexec|pingpong|stream|compute N\n");
		return 2;
	}
	mode = argv[1];
	t0 = now_ns();
	c0 = cpu_ns();
	if (!strcmp(mode, "fork"))
		run_fork(n, 0);
	else if (!strcmp(mode, "forkexec"))
		run_fork(n, 1);
	else if (!strcmp(mode, "pingpong"))
		run_pingpong(n);
	else if (!strcmp(mode, "stream"))
		run_stream(n);
	else if (!strcmp(mode, "compute"))
		run_compute(n);
	else {
		fprintf(stderr, "bench_tree: unknown mode '%s'\n", mode);
		return 2;
	}
	printf("%s %ld %" PRId64 " %" PRId64 "\n", mode, n, now_ns() - t0, cpu_ns() - c0);
	return 0;
}
