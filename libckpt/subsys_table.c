/* subsys_table.c - the state savers the engine runs, in order.
 *
 * The engine walks this table in the same order at capture and at restore.
 * At restore the order matters:
 *  - files first, while the restorer's own permissive limits still hold: it
 *    may need descriptor numbers above the application's RLIMIT_NOFILE (it
 *    raises the soft limit for that) and writes unlinked files' contents,
 *    which a small RLIMIT_FSIZE would stop with SIGXFSZ. Its paths are
 *    absolute, so the working directory does not matter yet.
 *  - attrs next: sets the application's working directory, umask and
 *    limits, tightening whatever files had to loosen.
 *  - signals last: re-armed timers and re-raised pending signals may fire at
 *    once, so they come when every other piece of kernel state is back, and
 *    the actions they need are installed just before.
 *  - mpi: only marks an MPI rank's image; the MPI lower half itself comes
 *    back later (eng_mpi_restart), once the restorer's region is gone.
 *  - tree: only checks that 'ckpt restart' gave the process its old pid.
 *  - sysv: writes nothing; its capture refuses a checkpoint of a process
 *    that uses a SysV semaphore set or message queue.
 */
#include "files.h"
#include "mpi_split.h"
#include "sysv_ipc.h"
#include "tree.h"

const struct ckpt_subsys *const ckpt_subsys_table[] = {
	&ckpt_files_subsys, &ckpt_attrs_subsys, &ckpt_signals_subsys,
	&ckpt_mpi_subsys,   &ckpt_tree_subsys,	&ckpt_sysv_subsys,
};

const size_t ckpt_subsys_count = sizeof(ckpt_subsys_table) / sizeof(ckpt_subsys_table[0]);
