/* t_tree.c - a process tree that relies on its pids (docs/process-trees.md).
 *
 *   R (root) ── W1 (its own session)
 *            ├─ W2 (its own process group) ── W2a (in W2's group)
 *            └─ Z  (exits at once with 7; R reaps it only at the end)
 *
 * Every process computes and prints one line per step ("NAME step I
 * VALUE"), and at each step checks that getpid(), getppid(), its group
 * and session are what they were at its start; R also checks with kill(pid,
 * 0) that W1 and W2 still exist under their pids. At the end R waits for
 * each child by its pid and checks its exit status (W1 0, W2 3, Z 7), W2 for
 * W2a (0). Anything wrong prints a line starting with "FAIL" and makes the
 * root exit non-zero. Lines of different processes interleave: compare
 * outputs sorted. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "end_gate.h"

#define STEPS 25

struct ids {
	pid_t pid, ppid, pgid, sid;
};

static const char *t_name = "R";
static struct ids t_ids;

static void t_ids_get(struct ids *v)
{
	v->pid = getpid();
	v->ppid = getppid();
	v->pgid = getpgid(0);
	v->sid = getsid(0);
}

static int t_check(int step)
{
	struct ids now;

	t_ids_get(&now);
	if (now.pid != t_ids.pid || now.ppid != t_ids.ppid || now.pgid != t_ids.pgid ||
	    now.sid != t_ids.sid) {
		printf("FAIL %s step %d: pid/ppid/pgid/sid %d/%d/%d/%d, were %d/%d/%d/%d\n", t_name,
		       step, now.pid, now.ppid, now.pgid, now.sid, t_ids.pid, t_ids.ppid,
		       t_ids.pgid, t_ids.sid);
		fflush(stdout);
		return -1;
	}
	return 0;
}

static uint64_t t_mix(uint64_t x, long rounds)
{
	for (long i = 0; i < rounds; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

/* The steps of one process; returns 0 or -1 (a check failed). */
static int t_work(uint64_t seed, long rounds)
{
	uint64_t acc = seed;
	int ret = 0;

	t_ids_get(&t_ids);
	for (int s = 0; s < STEPS; s++) {
		acc = t_mix(acc, rounds);
		printf("%s step %d %016llx\n", t_name, s, (unsigned long long)acc);
		fflush(stdout);
		if (t_check(s))
			ret = -1;
	}
	return ret;
}

static int t_wait(pid_t pid, const char *who, int want)
{
	int status;

	if (waitpid(pid, &status, 0) != pid) {
		printf("FAIL %s: waitpid(%s) : %s\n", t_name, who, strerror(errno));
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != want) {
		printf("FAIL %s: %s ended with wait status %#x, wanted exit %d\n", t_name, who,
		       status, want);
		return -1;
	}
	printf("%s: %s exited with %d\n", t_name, who, want);
	return 0;
}

static pid_t t_fork(const char *name)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("FAIL fork %s: %s\n", name, strerror(errno));
		fflush(stdout);
		exit(1);
	}
	if (pid == 0)
		t_name = name;
	return pid;
}

int main(void)
{
	pid_t w1, w2, w2a, z;
	int bad = 0;

	z = t_fork("Z");
	if (z == 0)
		_exit(7);
	w1 = t_fork("W1");
	if (w1 == 0) {
		if (setsid() < 0)
			return 1;
		return t_work(11, 20000000) ? 1 : 0;
	}
	w2 = t_fork("W2");
	if (w2 == 0) {
		if (setpgid(0, 0) < 0)
			return 1;
		w2a = t_fork("W2a");
		if (w2a == 0)
			return t_work(23, 22000000) ? 1 : 0;
		bad |= t_work(17, 18000000);
		bad |= t_wait(w2a, "W2a", 0);
		fflush(stdout);
		return bad ? 1 : 3;
	}
	t_ids_get(&t_ids);
	for (int s = 0; s < STEPS; s++) {
		printf("R step %d\n", s);
		fflush(stdout);
		bad |= t_check(s);
		if (kill(w1, 0) < 0 || kill(w2, 0) < 0) {
			printf("FAIL R step %d: kill(W1 or W2, 0): %s\n", s, strerror(errno));
			bad = 1;
		}
		t_mix(s, 20000000);
	}
	end_gate();
	bad |= t_wait(w1, "W1", 0);
	bad |= t_wait(w2, "W2", 3);
	bad |= t_wait(z, "Z", 7);
	printf("R done%s\n", bad ? " with failures" : "");
	return bad ? 1 : 0;
}
