/* tree.h - the process tree in libckpt (tree.c, docs/process-trees.md). */
#ifndef CKPT_LIBCKPT_TREE_H
#define CKPT_LIBCKPT_TREE_H

#include "subsys.h"

#include <stdbool.h>
#include <stddef.h>

/* Set from CKPT_PIDNS=1 ('ckpt run' made a namespace; every descendant
 * keeps it through fork and exec): the pids are the namespace's and are
 * to be kept. */
extern bool eng_tree_in_pidns;

/* At start-up of an active libckpt: reads CKPT_PIDNS and installs the fork
 * handler that makes every forked child a participant of its own. */
void eng_tree_init(void);

/* In libckpt's constructor, once the quiesce handler is installed and
 * before the checkpoint thread starts: discards a quiesce signal that was
 * pending through the exec that started this program (the exec wrappers
 * block it across the call) and unblocks it. */
void eng_tree_exec_arrived(void);

/* At write, with the process still stopped: whether every child the tree
 * record @rec (@len bytes, captured at prepare) lists as running still
 * runs (the agent's check of unregistered children ran in between,
 * tree_record.c). Returns 0, or -EAGAIN (a child exited since, named in
 * @why) or -EBADMSG. */
int eng_tree_record_recheck(const void *rec, size_t len, char *why, size_t why_len);

/* The "tree" subsystem: pid, parent, group, session, children. */
extern const struct ckpt_subsys ckpt_tree_subsys;

#endif
