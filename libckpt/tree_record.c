/* tree_record.c - the "tree" subsystem (docs/process-trees.md): where the
 * process stands in its process tree — its pid, parent, group, session, and
 * its children, live or zombie with their exit status — so that 'ckpt
 * restart' re-creates the tree with the same pids (struct tree_rec,
 * tree_rec.h). Apart from tree.c so that it links into tests without the
 * engine.
 *
 * The capture runs while the application is stopped: raw system calls and
 * stack buffers only (subsys.h).
 */
#define LOG_PREFIX "libckpt: "
#include "libckpt.h"
#include "tree.h"
#include "tree_rec.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool eng_tree_in_pidns;

/* ---- capture ------------------------------------------------------------- */

/* From /proc/<pid>/status of a child: its state letter and its pid in our
 * namespace (the last NSpid field: /proc may be the outer namespace's).
 * Returns 0 or -errno (the child is gone). */
static int tree_child_status(long pid, char *state, int32_t *nspid)
{
	char path[64];
	char buf[2048];
	const char *p;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (eng_read_small(path, buf, sizeof(buf)) < 0)
		return -ESRCH;
	p = strstr(buf, "\nState:");
	if (!p)
		return -EBADMSG;
	p += strlen("\nState:");
	while (*p == ' ' || *p == '\t')
		p++;
	*state = *p;
	*nspid = (int32_t)pid;
	p = strstr(buf, "\nNSpid:");
	if (p) {
		p += strlen("\nNSpid:");
		while (*p && *p != '\n') {
			char *end;
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			*nspid = (int32_t)v;
			p = end;
		}
	}
	return 0;
}

/* How long a child whose main thread is a zombie may take to become
 * waitable (its other threads dying) before it is taken for a process that
 * lives on without its main thread. */
#define TREE_ZOMBIE_WAIT_MS 2000

/* The wait status a zombie child will give its parent, without reaping it.
 * /proc shows a child's state 'Z' as soon as its main thread has exited,
 * while its other threads (libckpt's checkpoint thread at least) may still
 * be dying from the exit_group(): it is not waitable yet, and reading it
 * then gave "No child processes" and a recorded status 0 (a bash subshell
 * '( exit 1 )' came back as exit 0 in test tree-bash-jobs). So wait,
 * bounded, until it is; -EBUSY if it stays alive (its main thread called
 * pthread_exit(): such a child cannot be recorded). */
static int tree_zombie_status(int32_t pid, int32_t *status)
{
	struct timespec tick = { 0, 1000000 };
	siginfo_t si;
	int waited;

	for (waited = 0;; waited++) {
		memset(&si, 0, sizeof(si));
		if (syscall(SYS_waitid, P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT, NULL) < 0)
			return -errno;
		if (si.si_pid == pid)
			break;
		if (waited >= TREE_ZOMBIE_WAIT_MS)
			return -EBUSY;
		syscall(SYS_nanosleep, &tick, NULL); /* raw: no wrapper while quiesced */
	}
	switch (si.si_code) {
	case CLD_EXITED:
		*status = (si.si_status & 0xff) << 8;
		return 0;
	case CLD_KILLED:
		*status = si.si_status & 0x7f;
		return 0;
	case CLD_DUMPED:
		*status = (si.si_status & 0x7f) | 0x80;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Adds the children listed in @list (a /proc children file) to @r. */
static int tree_add_children(struct tree_rec *r, size_t max, char *list,
			     void (*warn)(const char *msg))
{
	char *p = list;

	for (;;) {
		struct tree_rec_child *c;
		char state = '?';
		int32_t nspid = 0;
		char *end;
		long pid = strtol(p, &end, 10);

		if (end == p)
			return 0;
		p = end;
		if (tree_child_status(pid, &state, &nspid) < 0 || state == 'X')
			continue; /* reaped meanwhile */
		if (r->nchildren >= max)
			return -E2BIG;
		c = &r->children[r->nchildren];
		memset(c, 0, sizeof(*c));
		c->pid = nspid;
		c->state = state == 'Z' ? TREE_CHILD_ZOMBIE : TREE_CHILD_LIVE;
		if (c->state == TREE_CHILD_ZOMBIE) {
			int ret = tree_zombie_status(nspid, &c->status);

			if (ret == -EBUSY) {
				log_err("child %d of process %d lives on after its main thread "
					"exited (pthread_exit): its tree record cannot hold it; "
					"refusing the checkpoint",
					(int)nspid, (int)r->pid);
				return -EBUSY;
			}
			if (ret < 0) {
				char msg[160];

				snprintf(msg, sizeof(msg),
					 "cannot read the exit status of zombie child %d: %s; it "
					 "will be restored as exited with status 0",
					 (int)nspid, strerror(-ret));
				if (warn)
					warn(msg);
				c->status = 0;
			}
		}
		r->nchildren++;
	}
}

static ssize_t tree_capture(void *buf, size_t cap, void (*warn)(const char *msg))
{
	struct tree_rec *r = buf;
	char dents[4096];
	size_t max;
	long dfd;
	int ret = 0;

	if (cap < sizeof(*r))
		return -ENOSPC;
	max = (cap - sizeof(*r)) / sizeof(r->children[0]);
	if (max > TREE_REC_CHILDREN_MAX)
		max = TREE_REC_CHILDREN_MAX;
	memset(r, 0, sizeof(*r));
	r->magic = TREE_REC_MAGIC;
	r->version = TREE_REC_VERSION;
	r->flags = eng_tree_in_pidns ? TREE_REC_IN_PIDNS : 0;
	r->pid = (int32_t)syscall(SYS_getpid);
	r->ppid = (int32_t)syscall(SYS_getppid);
	r->pgid = (int32_t)syscall(SYS_getpgid, 0);
	r->sid = (int32_t)syscall(SYS_getsid, 0);

	/* Children are per thread: a child's parent is the thread that forked. */
	dfd = syscall(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, dfd, dents, sizeof(dents));

		if (n < 0)
			ret = -errno;
		if (n <= 0)
			break;
		for (long off = 0; off < n && !ret;) {
			const struct dirent64 *d = (const struct dirent64 *)(dents + off);
			char path[300];
			char list[8192];

			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%s/children", d->d_name);
			if (eng_read_small(path, list, sizeof(list)) < 0)
				continue; /* the thread ended */
			ret = tree_add_children(r, max, list, warn);
		}
		if (ret)
			break;
	}
	syscall(SYS_close, dfd);
	if (ret == -E2BIG)
		log_err("process %d has more than %zu children, more than its tree record holds: "
			"refusing the checkpoint",
			(int)r->pid, max);
	if (ret)
		return ret;
	return (ssize_t)(sizeof(*r) + r->nchildren * sizeof(r->children[0]));
}

/* ---- recheck at write ----------------------------------------------------- */

/* Whether @pid is still a child of this process that has not exited:
 * waitid() answers ECHILD once the kernel reaped it (SIGCHLD ignored), a
 * pid when it is waitable; a zombie main thread in our /proc means it is
 * exiting (its other threads dying). */
static bool tree_child_running(int32_t pid)
{
	siginfo_t si;
	char state = '?';
	int32_t nspid = 0;

	memset(&si, 0, sizeof(si));
	if (syscall(SYS_waitid, P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT, NULL) < 0)
		return false;
	if (si.si_pid == pid)
		return false;
	return !(tree_child_status(pid, &state, &nspid) == 0 && nspid == pid && state == 'Z');
}

/*
 * The record was captured at prepare, when this process stopped; the
 * agent checks that every live child is a participant later, once every
 * process is stopped. A child that was not a participant (just forked, or
 * executing a program) and exited in between passed that check as a
 * zombie while this record still said "running": the generation committed
 * and 'ckpt restart' refused it ("its child pid 50 was running at the
 * checkpoint but has no image", tree-dash). Recording it as a zombie here
 * would not do: its SIGCHLD came after the signals were captured, and a
 * restored shell waiting in sigsuspend() for it would wait for good. So
 * the generation is refused, naming the child; the next one finds it a
 * zombie at prepare, its signal delivered or pending there.
 */
int eng_tree_record_recheck(const void *rec, size_t len, char *why, size_t why_len)
{
	const struct tree_rec *r = rec;

	if (len < sizeof(*r) || len != sizeof(*r) + r->nchildren * sizeof(r->children[0])) {
		snprintf(why, why_len, "the tree record is %zu bytes for %u children", len,
			 r->nchildren);
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < r->nchildren; i++) {
		const struct tree_rec_child *c = &r->children[i];

		if (c->state != TREE_CHILD_LIVE || tree_child_running(c->pid))
			continue;
		snprintf(why, why_len,
			 "child pid %d of pid %d exited after its parent's tree record was taken: "
			 "its exit would be missing from the checkpoint; try again",
			 (int)c->pid, (int)r->pid);
		return -EAGAIN;
	}
	return 0;
}

/* ---- restore --------------------------------------------------------------- */

/* 'ckpt restart' re-created the tree before this process was restored:
 * here we only check that it did, and say so when it could not. */
static int tree_check(const void *rec, size_t len)
{
	struct tree_rec r;

	if (len < sizeof(r)) {
		log_err("the tree record of this image is %zu bytes, too short", len);
		return -EBADMSG;
	}
	memcpy(&r, rec, sizeof(r));
	if (r.magic != TREE_REC_MAGIC || r.version != TREE_REC_VERSION ||
	    r.nchildren > TREE_REC_CHILDREN_MAX ||
	    len != sizeof(r) + r.nchildren * sizeof(struct tree_rec_child)) {
		log_err("the tree record of this image is malformed (magic %#x, version %u, %u "
			"children, %zu bytes)",
			r.magic, r.version, r.nchildren, len);
		return -EBADMSG;
	}
	return 0;
}

/* Whether one of the @n children of the record at @kids (maybe not
 * aligned: read by copy) is waitable now (a zombie), without reaping it. */
static bool tree_child_waitable(const char *kids, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct tree_rec_child c;
		siginfo_t si;

		memcpy(&c, kids + (size_t)i * sizeof(c), sizeof(c));
		memset(&si, 0, sizeof(si));
		if (c.pid > 0 &&
		    waitid(P_PID, (id_t)c.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == c.pid)
			return true;
	}
	return false;
}

static int tree_restore(const void *rec, size_t len)
{
	struct tree_rec r;
	long pid;
	int ret = tree_check(rec, len);

	if (ret < 0)
		return ret;
	memcpy(&r, rec, sizeof(r));
	pid = syscall(SYS_getpid);
	if ((r.flags & TREE_REC_IN_PIDNS) && pid != r.pid)
		log_warn("this process had pid %d at the checkpoint and has pid %ld now: it was "
			 "not restored by 'ckpt restart' in a namespace; its children and the "
			 "processes that know its pid will not find it",
			 (int)r.pid, pid);
	/* 'ckpt restart' re-creates a zombie child by letting it exit, and
	 * restores a live one beside us: either may end before our signal
	 * actions were back (the signals subsystem, just before), its
	 * SIGCHLD then discarded by the restorer's default action, and a
	 * shell waiting in sigsuspend() for it waits for good (tree-dash).
	 * One SIGCHLD more, while a child is waitable, costs a handler a
	 * waitpid() that finds it. */
	if (r.nchildren && tree_child_waitable((const char *)rec + sizeof(r), r.nchildren))
		syscall(SYS_kill, pid, SIGCHLD);
	return 0;
}

const struct ckpt_subsys ckpt_tree_subsys = {
	.name = "tree",
	.record_type = CKPT_REC_TREE,
	.capture = tree_capture,
	.check = tree_check,
	.restore = tree_restore,
};
