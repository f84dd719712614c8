/* t_fork_incr.c - a child forked after a checkpoint holds nothing of its
 * parent's incremental tracking (libckpt/incr.c, eng_incr_atfork_child).
 *
 *   t_fork_incr GATE
 *
 * Prints "ready", waits until GATE exists (the test creates it once a
 * checkpoint committed, so the parent's libckpt has opened its userfaultfd
 * and /proc/self/pagemap), then forks. Under 'ckpt run' (CKPT_PIDNS=1) the
 * child becomes a participant of its own; it lists its descriptors and
 * prints a line starting with "FAIL" for each pagemap file of another
 * process (a scan through it would re-protect the parent's pages and hide
 * the parent's writes from the parent's next incremental image) and each
 * userfaultfd (the parent's: the child opens its own only at its first
 * checkpoint), then "child checked N descriptors". The parent prints
 * "done" with the child's exit status and exits with it.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int child_check(void)
{
	char self[32];
	int bad = 0;
	int n = 0;
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");

	if (!d) {
		printf("FAIL cannot list /proc/self/fd\n");
		return 1;
	}
	snprintf(self, sizeof(self), "/proc/%d/", (int)getpid());
	while ((de = readdir(d))) {
		char link[300];
		char target[PATH_MAX];
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		n++;
		if (strstr(target, "/pagemap") && strncmp(target, self, strlen(self)) != 0) {
			printf("FAIL child fd %s: %s, another process's pagemap\n", de->d_name,
			       target);
			bad = 1;
		}
		if (strstr(target, "userfaultfd")) {
			printf("FAIL child fd %s: %s, its parent's\n", de->d_name, target);
			bad = 1;
		}
	}
	closedir(d);
	printf("child checked %d descriptors\n", n);
	fflush(stdout);
	return bad;
}

int main(int argc, char **argv)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	struct stat st;
	const char *ns = getenv("CKPT_PIDNS");
	pid_t pid;
	int status;

	if (argc != 2) {
		fprintf(stderr, "usage: t_fork_incr GATE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (stat(argv[1], &st) != 0)
		nanosleep(&nap, NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0)
		_exit(ns && !strcmp(ns, "1") ? child_check() : 0);
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 2;
	}
	printf("done %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
