/* cli_tree_check.c - the checks of a generation's tree records
 * (cli_tree_check.h).
 *
 * The records come from image files: a damaged or forged one must be
 * refused before the first process is created, never make a restart fail
 * part-way or leave part of the tree out. Pure logic over the records.
 */
#include "cli_tree_check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define TREE_PID_MAX 4194304 /* PID_MAX_LIMIT on 64-bit */

static bool pid_ok(int32_t pid)
{
	return pid > 1 && pid <= TREE_PID_MAX;
}

static const struct tree_check_proc *find(const struct tree_check_proc *v, size_t n, int32_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].rec->pid == pid)
			return &v[i];
	return NULL;
}

/* The ids of @p alone. */
static int check_ids(const struct tree_check_proc *p, char *why, size_t len)
{
	const struct tree_rec *r = p->rec;

	if (!(r->flags & TREE_REC_IN_PIDNS)) {
		snprintf(why, len,
			 "%s was taken outside a namespace of 'ckpt run' while other images of "
			 "the generation were inside one: refusing the mix",
			 p->image);
		return -EBADMSG;
	}
	if (!pid_ok(r->pid) || (r->ppid != 1 && !pid_ok(r->ppid)) || r->pgid < 0 ||
	    r->pgid > TREE_PID_MAX || r->sid < 0 || r->sid > TREE_PID_MAX) {
		snprintf(why, len,
			 "%s: impossible ids in the tree record (pid %d, parent %d, group %d, "
			 "session %d)",
			 p->image, r->pid, r->ppid, r->pgid, r->sid);
		return -EBADMSG;
	}
	return 0;
}

/* What to do about a running child without an image, per use. */
static const char *const missing_advice[] = {
	[CLI_TREE_CHECK_RESTART] = "restart an older generation (see 'ckpt list')",
	[CLI_TREE_CHECK_COMMIT] = "not committing it, the previous generation stays; try again",
};

/* The children @p lists: possible, and each running one with its image. */
static int check_children(const struct tree_check_proc *v, size_t n,
			  const struct tree_check_proc *p, enum cli_tree_check_use use, char *why,
			  size_t len)
{
	for (uint32_t k = 0; k < p->rec->nchildren; k++) {
		const struct tree_rec_child *c = &p->children[k];
		const struct tree_check_proc *cp = find(v, n, c->pid);

		if (!pid_ok(c->pid) ||
		    (c->state != TREE_CHILD_LIVE && c->state != TREE_CHILD_ZOMBIE)) {
			snprintf(why, len, "%s: impossible child (pid %d, state %u)", p->image,
				 c->pid, c->state);
			return -EBADMSG;
		}
		if (c->state == TREE_CHILD_LIVE && (!cp || cp->rec->ppid != p->rec->pid)) {
			snprintf(why, len,
				 "%s: its child pid %d was running at the checkpoint but has no "
				 "image in the generation and would be missing from it (parent "
				 "pid %d; the child was not registered yet, or runs without "
				 "libckpt): %s",
				 p->image, c->pid, p->rec->pid, missing_advice[use]);
			return -EBADMSG;
		}
		if (c->state == TREE_CHILD_ZOMBIE && cp) {
			snprintf(why, len,
				 "%s: pid %d is both a zombie child and a process with an image",
				 p->image, c->pid);
			return -EBADMSG;
		}
	}
	return 0;
}

/* @p's parent has an image that lists @p as running. */
static int check_parent(const struct tree_check_proc *v, size_t n, const struct tree_check_proc *p,
			char *why, size_t len)
{
	const struct tree_check_proc *parent;

	if (p->rec->ppid == 1)
		return 0;
	parent = find(v, n, p->rec->ppid);
	if (!parent) {
		snprintf(why, len, "%s: its parent, pid %d, has no image in the generation",
			 p->image, p->rec->ppid);
		return -EBADMSG;
	}
	for (uint32_t k = 0; k < parent->rec->nchildren; k++)
		if (parent->children[k].pid == p->rec->pid &&
		    parent->children[k].state == TREE_CHILD_LIVE)
			return 0;
	snprintf(why, len, "%s: pid %d says its parent is %d, which does not list it", p->image,
		 p->rec->pid, p->rec->ppid);
	return -EBADMSG;
}

/* Following parents from @p reaches the init within @n steps: a cycle
 * would never be reached by the re-creation, which starts at the init. */
static int check_ancestry(const struct tree_check_proc *v, size_t n,
			  const struct tree_check_proc *p, char *why, size_t len)
{
	const struct tree_check_proc *q = p;

	for (size_t steps = 0; q && q->rec->ppid != 1; steps++) {
		if (steps >= n) {
			snprintf(why, len,
				 "%s: following the parents of pid %d never reaches the init (a "
				 "cycle of parents)",
				 p->image, p->rec->pid);
			return -EBADMSG;
		}
		q = find(v, n, q->rec->ppid);
	}
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a;
	int32_t y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

/* No pid is listed as a child twice, by one parent or by two: it would be
 * created twice. */
static int check_children_once(const struct tree_check_proc *v, size_t n, char *why, size_t len)
{
	size_t total = 0;
	size_t k = 0;
	int32_t *pids;
	int ret = 0;

	for (size_t i = 0; i < n; i++)
		total += v[i].rec->nchildren;
	if (!total)
		return 0;
	pids = malloc(total * sizeof(*pids));
	if (!pids) {
		snprintf(why, len, "out of memory checking %zu children", total);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		for (uint32_t c = 0; c < v[i].rec->nchildren; c++)
			pids[k++] = v[i].children[c].pid;
	qsort(pids, total, sizeof(*pids), cmp_pid);
	for (k = 1; k < total && !ret; k++)
		if (pids[k] == pids[k - 1]) {
			snprintf(why, len, "pid %d is listed as a child twice in the generation",
				 pids[k]);
			ret = -EBADMSG;
		}
	free(pids);
	return ret;
}

int cli_tree_check(const struct tree_check_proc *v, size_t n, pid_t root, char *why, size_t why_len)
{
	return cli_tree_check_for(v, n, root, CLI_TREE_CHECK_RESTART, why, why_len);
}

int cli_tree_check_for(const struct tree_check_proc *v, size_t n, pid_t root,
		       enum cli_tree_check_use use, char *why, size_t why_len)
{
	int ret;

	for (size_t i = 0; i < n; i++) {
		const struct tree_check_proc *p = &v[i];

		ret = check_ids(p, why, why_len);
		if (!ret && find(v, i, p->rec->pid)) {
			snprintf(why, why_len, "%s: pid %d appears in two images of the generation",
				 p->image, p->rec->pid);
			ret = -EBADMSG;
		}
		if (!ret)
			ret = check_parent(v, n, p, why, why_len);
		if (!ret)
			ret = check_children(v, n, p, use, why, why_len);
		if (!ret)
			ret = check_ancestry(v, n, p, why, why_len);
		if (ret)
			return ret;
	}
	ret = check_children_once(v, n, why, why_len);
	if (ret)
		return ret;
	if (!find(v, n, root)) {
		snprintf(why, why_len,
			 "no image of the generation is pid %d, the program 'ckpt run' started",
			 (int)root);
		return -EBADMSG;
	}
	return 0;
}
