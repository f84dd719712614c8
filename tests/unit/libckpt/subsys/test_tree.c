/* The tree record rechecked at write (eng_tree_record_recheck(), tree.h): a
 * child recorded running at prepare that exited before write refuses the
 * generation, naming it; running children and zombies of the capture pass.
 * Without it a child that exited between its parent's capture and the
 * agent's check of unregistered children made a generation 'ckpt restart'
 * refused (tree-dash, docs/process-trees.md Status item 9). */
#include "tree.h"
#include "tree_rec.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP (sizeof(struct tree_rec) + 16 * sizeof(struct tree_rec_child))

/* A child that exits with @status once @fd (a pipe's read end) reads EOF. */
static pid_t child_until_eof(int fd[2], int status)
{
	pid_t pid;
	char c;

	cr_assert_eq(pipe(fd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Only its own read end: a write end of another child's pipe
		 * held here would keep that child from reading EOF. */
		for (int i = 3; i < 1024; i++)
			if (i != fd[0])
				close(i);
		while (read(fd[0], &c, 1) > 0)
			;
		_exit(status);
	}
	close(fd[0]);
	return pid;
}

/* Waits (bounded, 10 s) until @pid is a waitable zombie, without reaping. */
static void until_zombie(pid_t pid)
{
	struct timespec tick = { 0, 1000000 };

	for (int i = 0; i < 10000; i++) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		cr_assert_eq(waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT), 0);
		if (si.si_pid == pid)
			return;
		nanosleep(&tick, NULL);
	}
	cr_assert_fail("child %d did not exit in 10 s", (int)pid);
}

static const struct tree_rec_child *find(const struct tree_rec *r, pid_t pid)
{
	for (uint32_t i = 0; i < r->nchildren; i++)
		if (r->children[i].pid == pid)
			return &r->children[i];
	return NULL;
}

static ssize_t capture(void *buf)
{
	ssize_t n = ckpt_tree_subsys.capture(buf, CAP, NULL);

	cr_assert_gt(n, 0, "capture: %zd", n);
	return n;
}

Test(tree_recheck, a_child_that_exited_since_the_capture_is_refused_by_name)
{
	_Alignas(struct tree_rec) unsigned char buf[CAP];
	const struct tree_rec *r = (const void *)buf;
	char why[256] = "";
	int fd[2];
	pid_t pid = child_until_eof(fd, 7);
	ssize_t n = capture(buf);
	char want[64];
	int status;

	cr_assert(find(r, pid) && find(r, pid)->state == TREE_CHILD_LIVE);
	cr_assert_eq(eng_tree_record_recheck(buf, (size_t)n, why, sizeof(why)), 0, "%s", why);
	close(fd[1]);
	until_zombie(pid);
	cr_assert_eq(eng_tree_record_recheck(buf, (size_t)n, why, sizeof(why)), -EAGAIN);
	snprintf(want, sizeof(want), "child pid %d of pid %d exited", (int)pid, (int)getpid());
	cr_assert(strstr(why, want), "%s", why);
	cr_assert(strstr(why, "would be missing from"), "%s", why);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	/* Reaped too (as the kernel does when SIGCHLD is ignored). */
	cr_assert_eq(eng_tree_record_recheck(buf, (size_t)n, why, sizeof(why)), -EAGAIN);
}

/* A zombie at the capture stays one: its signal came before the capture. */
Test(tree_recheck, running_children_and_zombies_of_the_capture_pass)
{
	_Alignas(struct tree_rec) unsigned char buf[CAP];
	char why[256] = "";
	int run_fd[2];
	int dead_fd[2];
	pid_t run = child_until_eof(run_fd, 0);
	pid_t dead = child_until_eof(dead_fd, 3);
	ssize_t n;
	int status;

	close(dead_fd[1]);
	until_zombie(dead);
	n = capture(buf);
	cr_assert_eq(find((const void *)buf, dead)->state, TREE_CHILD_ZOMBIE);
	cr_assert_eq(eng_tree_record_recheck(buf, (size_t)n, why, sizeof(why)), 0, "%s", why);
	close(run_fd[1]);
	cr_assert_eq(waitpid(run, &status, 0), run);
	cr_assert_eq(waitpid(dead, &status, 0), dead);
}

Test(tree_recheck, a_record_whose_length_disagrees_is_refused)
{
	_Alignas(struct tree_rec) unsigned char buf[CAP];
	char why[256] = "";
	ssize_t n = capture(buf);

	cr_assert_eq(eng_tree_record_recheck(buf, (size_t)n + 1, why, sizeof(why)), -EBADMSG);
}

/* At restore, a child that already exited (a zombie re-created by 'ckpt
 * restart', or a restored child that ended before its parent's signal
 * actions were back) gets its parent a SIGCHLD: the one the kernel sent
 * went to the restorer's default action. None while every child runs. */
Test(tree_restore, sigchld_again_for_a_waitable_child_only)
{
	_Alignas(struct tree_rec) unsigned char buf[CAP];
	sigset_t chld;
	sigset_t pending;
	int fd[2];
	pid_t pid = child_until_eof(fd, 5);
	ssize_t n = capture(buf);
	int status;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &chld, NULL), 0);
	cr_assert_eq(ckpt_tree_subsys.restore(buf, (size_t)n), 0);
	cr_assert_eq(sigpending(&pending), 0);
	cr_assert(!sigismember(&pending, SIGCHLD), "SIGCHLD raised while the child runs");
	close(fd[1]);
	until_zombie(pid);
	/* The kernel's own SIGCHLD of that exit: discarded, as the restorer's
	 * default action does. */
	cr_assert_eq(signal(SIGCHLD, SIG_IGN) == SIG_ERR, 0);
	cr_assert_eq(signal(SIGCHLD, SIG_DFL) == SIG_ERR, 0);
	cr_assert_eq(sigpending(&pending), 0);
	cr_assert(!sigismember(&pending, SIGCHLD));
	cr_assert_eq(ckpt_tree_subsys.restore(buf, (size_t)n), 0);
	cr_assert_eq(sigpending(&pending), 0);
	cr_assert(sigismember(&pending, SIGCHLD), "no SIGCHLD for the waitable child");
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert_eq(WEXITSTATUS(status), 5);
}
