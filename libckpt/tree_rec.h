/* tree_rec.h - the tree record of an image (CKPT_REC_TREE): where the
 * process stood in its process tree at the checkpoint. Written by the "tree"
 * subsystem of libckpt (tree.c), read by 'ckpt restart' to re-create the
 * tree with the same pids (docs/process-trees.md). Header only: the layout
 * is the contract between the two.
 */
#ifndef CKPT_LIBCKPT_TREE_REC_H
#define CKPT_LIBCKPT_TREE_REC_H

#include <stdint.h>

#define CKPT_REC_TREE 0x500u

/* "TRE1" little-endian: first word of the record. */
#define TREE_REC_MAGIC 0x31455254u
/* Bumped whenever the layout below changes. */
#define TREE_REC_VERSION 1u
/* The process ran in the user+PID namespace 'ckpt run' made: its pids are
 * the namespace's and a restart must re-create them. */
#define TREE_REC_IN_PIDNS 0x1u
/* Most children one record lists; a process with more refuses the
 * checkpoint by name. */
#define TREE_REC_CHILDREN_MAX 4096u

enum tree_child_state {
	TREE_CHILD_LIVE = 1,   /* running: must have its own image */
	TREE_CHILD_ZOMBIE = 2, /* exited, not reaped: re-created as a zombie */
};

struct tree_rec_child {
	int32_t pid;	/* as the parent sees it */
	uint32_t state; /* enum tree_child_state */
	int32_t status; /* a zombie's wait status (as waitpid() returns it) */
	uint32_t pad;	/* 0 */
};

struct tree_rec {
	uint32_t magic;	    /* TREE_REC_MAGIC */
	uint32_t version;   /* TREE_REC_VERSION */
	uint32_t flags;	    /* TREE_REC_* */
	uint32_t nchildren; /* entries in children[] */
	int32_t pid;	    /* getpid() */
	int32_t ppid;	    /* getppid() */
	int32_t pgid;	    /* getpgid(0) */
	int32_t sid;	    /* getsid(0) */
	struct tree_rec_child children[];
};

_Static_assert(sizeof(struct tree_rec) == 32, "tree record layout");
_Static_assert(sizeof(struct tree_rec_child) == 16, "tree record child layout");

#endif
