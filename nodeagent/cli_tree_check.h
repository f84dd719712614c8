/* cli_tree_check.h - the checks 'ckpt restart' makes of a generation's tree
 * records before it creates any process (cli_tree_check.c). */
#ifndef CKPT_NODEAGENT_CLI_TREE_CHECK_H
#define CKPT_NODEAGENT_CLI_TREE_CHECK_H

#include "tree_rec.h"

#include <stddef.h>
#include <sys/types.h>

/* The pid 'ckpt run' gives the program it starts (the init is 1). */
#define CLI_TREE_ROOT 2

/* One image's tree record, as read from the file (untrusted). */
struct tree_check_proc {
	const struct tree_rec *rec;
	const struct tree_rec_child *children; /* rec->nchildren entries */
	const char *image;		       /* its file, for messages */
};

/* Everything the re-creation relies on: ids in range, one image per pid,
 * each parent with an image that lists the child, each running child with
 * an image, each child listed once in the whole generation, every image
 * descending from the init (no cycle of parents), and an image for @root
 * (the program 'ckpt run' started). Returns 0, or -EBADMSG with the first
 * problem found in @why. */
int cli_tree_check(const struct tree_check_proc *v, size_t n, pid_t root, char *why,
		   size_t why_len);

/* Who asks, for the advice a refusal ends with. */
enum cli_tree_check_use {
	CLI_TREE_CHECK_RESTART = 0, /* 'ckpt restart': restart an older generation */
	CLI_TREE_CHECK_COMMIT = 1,  /* the agent, before it commits: try again */
};

/* cli_tree_check() with the advice for @use. */
int cli_tree_check_for(const struct tree_check_proc *v, size_t n, pid_t root,
		       enum cli_tree_check_use use, char *why, size_t why_len);

#endif
