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
#include <stdint.h>
#include <sys/types.h>

/* Whether @pid (in the agent's pid namespace) is a participant. */
typedef bool (*agent_is_part_fn)(void *arg, pid_t pid);

/* Checks the children of participant @pid, a process of this node. Returns
 * 0 when each live child is a participant (or @pid is not in a namespace of
 * its own, or is gone), or -EAGAIN with the child named in @why. */
int agent_tree_check_children(pid_t pid, agent_is_part_fn is_part, void *arg, char *why,
			      size_t why_len);

/* What a restart does with a MAP_SHARED object, from its line in
 * /proc/PID/maps (docs/process-trees.md, "Memory shared between
 * processes"). */
enum agent_shm_kind {
	AGENT_SHM_FILE = 0,    /* a regular file that exists at its path: mapped again, shared */
	AGENT_SHM_ANON = 1,    /* MAP_SHARED|MAP_ANONYMOUS ("/dev/zero (deleted)"), or the
				* memfd ckpt restart made for it ("/memfd:ckpt-shared-anon") */
	AGENT_SHM_MEMFD = 2,   /* memfd_create ("/memfd:NAME (deleted)"), also the memfd
				* ckpt restart made for an object below */
	AGENT_SHM_SYSV = 3,    /* System V segment ("/SYSVKEY") */
	AGENT_SHM_DELETED = 4, /* an unlinked file outside /dev/shm (unlink) */
	AGENT_SHM_OTHER = 5,   /* path replaced, unreadable, or not a regular file */
	AGENT_SHM_SHM_DELETED = 6, /* an unlinked object of /dev/shm: shm_unlink, and every
				    * sem_open semaphore ("/dev/shm/NAME (deleted)") */
};

/* The kinds that come back shared when several processes of a tree map
 * them (a bit per kind): a file mapped again by path; shared anonymous
 * memory, memfds and unlinked /dev/shm objects saved with their contents
 * and re-created once by 'ckpt restart' (nodeagent/cli_tree_shm.c). */
#define AGENT_SHM_RESTORABLE                                                         \
	((1u << AGENT_SHM_FILE) | (1u << AGENT_SHM_ANON) | (1u << AGENT_SHM_MEMFD) | \
	 (1u << AGENT_SHM_SHM_DELETED))
/* Of those, the kinds a process can also hold a descriptor on: the restore
 * makes that descriptor an object of its own (libckpt/files_memfd.c,
 * files.c's unlinked files), so it must not be held while the object is
 * handed over. */
#define AGENT_SHM_FD_KINDS ((1u << AGENT_SHM_MEMFD) | (1u << AGENT_SHM_SHM_DELETED))

/* One mapping of a tree member, from a line of /proc/PID/maps. */
struct agent_shm_map {
	uint64_t start;		  /* first byte */
	uint64_t end;		  /* past the last byte */
	uint64_t offset;	  /* in the object */
	uint64_t dev;		  /* kernel dev_t (major << 20 | minor) of the object */
	uint64_t inode;		  /* of the object: (dev, inode) names it */
	pid_t pid;		  /* holder, as the agent sees it */
	bool shared;		  /* MAP_SHARED ('s') */
	enum agent_shm_kind kind; /* set by the collector */
	char name[224];		  /* the object for a message, printable */
};

/* Parses one line of /proc/PID/maps (untrusted: each field is checked)
 * into @m, the fields other than pid, kind and name; *@path points at the
 * path part of @line ("" for none). Returns 0 or -EINVAL. */
int agent_tree_maps_line_parse(const char *line, struct agent_shm_map *m, const char **path);

/* Sorts @maps and finds an object mapped by two or more processes whose
 * kind is not in @restorable. Returns 0, or -EAGAIN with both holders, their
 * address ranges, the object and what to do in @why. */
int agent_tree_shm_judge(struct agent_shm_map *maps, size_t n, unsigned int restorable, char *why,
			 size_t why_len);

/* Descriptor @fd of @pid (the agent's pid) is on the object (@dev as in
 * struct agent_shm_map, @inode). With @maps as agent_tree_shm_judge() left
 * them (sorted, no object refused): whether that object is one of the
 * AGENT_SHM_FD_KINDS mapped by two or more processes, which a restart
 * hands over as one memfd to the mappings only. Returns 0, or -EAGAIN
 * with the object, the descriptor, two holders and what to do in @why. */
int agent_tree_shm_fd_judge(const struct agent_shm_map *maps, size_t n, pid_t pid, int fd,
			    uint64_t dev, uint64_t inode, char *why, size_t why_len);

/* Checks the MAP_SHARED mappings of the participants @pids that run in a
 * tree (a pid namespace of their own): an object two or more of them map
 * must come back shared after a restart, and none of them may hold a
 * descriptor on such an object that the restart re-creates. Called at the end of PREPARE,
 * every participant stopped. Returns 0, or -errno with the reason (the
 * first such object, both holders, their ranges, what to do) in @why. */
int agent_tree_check_shared(const pid_t *pids, size_t npids, char *why, size_t why_len);

/* Whether @pid runs in another pid namespace than the agent: a member of
 * a tree 'ckpt run' made. False for a process that is gone. */
bool agent_tree_member(pid_t pid);

#endif
