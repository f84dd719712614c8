/* t_spawn.c - a process that starts its children every way libc offers:
 * vfork + exec, posix_spawn, popen and system (issue 11, item 1;
 * docs/process-trees.md).
 *
 *   t_spawn             the parent: ROUNDS rounds, each starting one child
 *                       with each of the four calls, one after the other;
 *                       it checks every child's exit status (and for popen
 *                       the line it read from it) and prints one line per
 *                       child
 *   t_spawn child K N   a child: sleeps CHILD_NS (so that most checkpoints find
 *                       children running), prints "child K N" and exits
 *                       with status N % 7
 *
 * A child is in its start-up window (forked, not yet registered) for a few
 * milliseconds; a checkpoint that begins then is aborted and retried
 * (tree_cycles.sh), so children live CHILD_NS, long against that window,
 * and ten aborts in a row stay unlikely on a loaded machine.
 *
 * system() runs the child through /bin/sh, so at some checkpoints the tree
 * is parent -> sh -> child, with the parent blocked in waitpid() and
 * SIGCHLD blocked; popen() adds a pipe from the child to the parent; vfork
 * leaves the parent suspended until the child has executed. Anything wrong
 * prints a line starting with "FAIL" and makes the parent exit non-zero.
 * Lines of different processes interleave: compare outputs sorted. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "end_gate.h"

#define ROUNDS	 12
#define CHILD_NS 100000000L

extern char **environ;

/* This program's own path (from /proc/self/exe: the test may run it by a
 * relative one), which every child executes. */
static char t_self[4096];

static int child(const char *kind, const char *n)
{
	struct timespec d = { 0, CHILD_NS };

	nanosleep(&d, NULL);
	printf("child %s %s\n", kind, n);
	fflush(stdout);
	return atoi(n) % 7;
}

/* Checks a child's wait status @st against the exit code child() gives @n. */
static int check_status(const char *kind, int n, int st)
{
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != n % 7) {
		printf("FAIL %s %d: wait status %#x, wanted exit %d\n", kind, n, st, n % 7);
		return 1;
	}
	printf("parent %s %d: exit %d\n", kind, n, n % 7);
	return 0;
}

static int by_vfork(int n)
{
	char num[16];
	pid_t pid;
	int st = -1;

	snprintf(num, sizeof(num), "%d", n);
	fflush(stdout);
	/* vfork is what is tested here. */
	pid = vfork(); // NOLINT(clang-analyzer-security.insecureAPI.vfork)
	if (pid == 0) {
		execl(t_self, t_self, "child", "vfork", num, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid) {
		printf("FAIL vfork %d: %s\n", n, strerror(errno));
		return 1;
	}
	return check_status("vfork", n, st);
}

static int by_posix_spawn(int n)
{
	char num[16];
	char *argv[] = { t_self, "child", "posix_spawn", num, NULL };
	pid_t pid;
	int st = -1;
	int err;

	snprintf(num, sizeof(num), "%d", n);
	fflush(stdout);
	err = posix_spawn(&pid, t_self, NULL, NULL, argv, environ);
	if (err || waitpid(pid, &st, 0) != pid) {
		printf("FAIL posix_spawn %d: %s\n", n, strerror(err ? err : errno));
		return 1;
	}
	return check_status("posix_spawn", n, st);
}

static int by_popen(int n)
{
	char cmd[4200];
	char line[128] = "";
	char want[128];
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "'%s' child popen %d", t_self, n);
	snprintf(want, sizeof(want), "child popen %d\n", n);
	fflush(stdout);
	f = popen(cmd, "r");
	if (!f) {
		printf("FAIL popen %d: %s\n", n, strerror(errno));
		return 1;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	st = pclose(f);
	if (strcmp(line, want) != 0) {
		printf("FAIL popen %d: read \"%s\"\n", n, line);
		return 1;
	}
	printf("parent read %s", line);
	return check_status("popen", n, st);
}

static int by_system(int n)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "'%s' child system %d", t_self, n);
	fflush(stdout);
	return check_status("system", n, system(cmd));
}

int main(int argc, char **argv)
{
	int bad = 0;

	ssize_t n;

	if (argc == 4 && !strcmp(argv[1], "child"))
		return child(argv[2], argv[3]);
	n = readlink("/proc/self/exe", t_self, sizeof(t_self) - 1);
	if (n > 0)
		t_self[n] = '\0';
	if (argc != 1 || n <= 0 || strchr(t_self, '\'')) {
		fprintf(stderr, "usage: t_spawn (its path without quotes)\n");
		return 2;
	}
	for (int r = 0; r < ROUNDS; r++) {
		bad |= by_vfork(4 * r);
		bad |= by_posix_spawn(4 * r + 1);
		bad |= by_popen(4 * r + 2);
		bad |= by_system(4 * r + 3);
		fflush(stdout);
	}
	end_gate();
	printf("parent done\n");
	return bad;
}
