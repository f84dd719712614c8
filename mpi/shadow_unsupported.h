/* shadow_unsupported.h - the end of every unsupported MPI function; included
 * by mpi/ sources only (also by the generated stubs, which must not see mpi.h).
 */
#ifndef CKPT_MPI_SHADOW_UNSUPPORTED_H
#define CKPT_MPI_SHADOW_UNSUPPORTED_H

#include <stdbool.h>

/* Symbols the shadow library exports to the application; all else is hidden. */
#define SHADOW_EXPORT __attribute__((visibility("default")))

/* Prints "slurm-ckpt: MPI function NAME is not supported yet under
 * checkpointing" and ends the job: MPI_Abort through the lower half when MPI
 * is running (so every rank stops), abort() otherwise. */
__attribute__((noreturn)) void shadow_unsupported(const char *name);

/* Prints "slurm-ckpt: mpi: MSG" and ends the process like shadow_unsupported. */
__attribute__((noreturn, format(printf, 1, 2))) void shadow_die(const char *fmt, ...);

#endif
