/* cli_tree_shm.h - memory shared in a tree (shared anonymous memory, memfds,
 * unlinked /dev/shm objects: POSIX shm, named semaphores), made shared again
 * by 'ckpt restart' (docs/process-trees.md, "Memfds and unlinked /dev/shm
 * objects come back shared", "Shared anonymous memory comes back shared").
 * For nodeagent/cli_tree.c only.
 *
 * Before the tree is re-created, one memfd per object that two or more
 * images map (same device and inode at the checkpoint) is made and filled
 * from the images; the init and every process inherit it, each keeps the
 * ones it maps and names them to ckpt-restore in CKPT_TREE_SHM.
 */
#ifndef CKPT_NODEAGENT_CLI_TREE_SHM_H
#define CKPT_NODEAGENT_CLI_TREE_SHM_H

#include <stddef.h>
#include <sys/types.h>

struct cli_tree_shm;

/* Reads the areas of shared objects of the @n images @images (process @pids)
 * and makes the memfds, at numbers @base and up, filled with the lowest
 * pid's bytes where holders overlap. *@out is NULL-safe to free. Returns 0
 * or -errno (said). */
int cli_tree_shm_make(const char *const *images, const pid_t *pids, size_t n, int base,
		      struct cli_tree_shm **out);

/* In the process that becomes @pid: closes the memfds it does not map and
 * names the others in CKPT_TREE_SHM. Returns 0 or -errno (said). */
int cli_tree_shm_hand(const struct cli_tree_shm *s, pid_t pid);

/* Closes every memfd (the init, which maps none). */
void cli_tree_shm_close(const struct cli_tree_shm *s);

/* Closes the memfds and frees @s; NULL is fine. */
void cli_tree_shm_free(struct cli_tree_shm *s);

#endif
