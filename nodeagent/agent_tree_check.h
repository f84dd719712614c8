/* agent_tree_check.h - at the end of PREPARE, every live child of a process
 * in a tree 'ckpt run' made is itself a participant of the generation.
 *
 * A tree member's image names its live children (the tree record), and
 * 'ckpt restart' needs an image of each. A child that has not registered (it
 * was forked just before the generation, or runs without libckpt: a static
 * program, LD_PRELOAD removed) would make a generation that commits and
 * cannot be restored; the coordinator aborts it instead, naming the child.
 * Processes outside such a namespace (Slurm tasks, MPI ranks) keep their
 * children out of their checkpoints by design and are not checked.
 */
#ifndef CKPT_NODEAGENT_AGENT_TREE_CHECK_H
#define CKPT_NODEAGENT_AGENT_TREE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Whether @pid (in the agent's pid namespace) is a participant. */
typedef bool (*agent_is_part_fn)(void *arg, pid_t pid);

/* Checks the children of participant @pid, a process of this node. Returns
 * 0 when each live child is a participant (or @pid is not in a namespace of
 * its own, or is gone), or -EAGAIN with the child named in @why. */
int agent_tree_check_children(pid_t pid, agent_is_part_fn is_part, void *arg, char *why,
			      size_t why_len);

#endif
