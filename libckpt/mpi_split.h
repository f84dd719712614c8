/* mpi_split.h - libckpt's side of the split-process MPI layer (docs/mpi.md):
 * when the application runs under the shadow libmpich.so.12, a checkpoint
 * brings its MPI to a consistent cut and drains it, leaves the MPI lower
 * half (memory, threads, descriptors) out of the image, and a restart
 * re-creates the lower half before the application runs again. Included by
 * libckpt/ engine sources only.
 */
#ifndef CKPT_LIBCKPT_MPI_SPLIT_H
#define CKPT_LIBCKPT_MPI_SPLIT_H

#include "subsys.h"

#include <stdbool.h>
#include <stddef.h>

/* Metadata record of the "mpi" subsystem: present (non-empty) when the
 * process ran under the shadow library. Pinned forever. */
#define CKPT_REC_MPI 0x400u
/* Restorer record: the restarting step's environment, NUL-separated
 * strings ("EN" + number, like the engine's records). */
#define ENG_REC_ENV 0x454e0003u

extern const struct ckpt_subsys ckpt_mpi_subsys;
/* Set once eng_mpi_bind() found the shadow library (mpi_record.c). */
extern bool eng_mpi_rank;

/* Looks for the shadow library's checkpoint interface. Returns true when
 * this process is an MPI rank under it. Called by the checkpoint thread
 * with the application running (dlsym may allocate). Stops nothing. */
bool eng_mpi_bind(void);

/* Application running: the consistent cut (shadow_ckpt_prepare); then
 * sets up the quiesce to leave the lower half's threads running and to
 * wait for threads inside it. Returns 0 or -errno with @why. On failure the
 * cut is undone. */
int eng_mpi_prepare(char *why, size_t len);

/* Application stopped: drains MPI and hides the lower half's descriptors
 * from the files capture. Returns 0 or -errno with @why. */
int eng_mpi_drain(char *why, size_t len);

/* After eng_snapshot_prepare(): leaves the lower half's memory out of the
 * image. Returns 0 or -errno with @why. */
int eng_mpi_exclude_memory(char *why, size_t len);

/* Called when the application threads are released (every path): lets MPI
 * go on (shadow_ckpt_resume) and puts the descriptors back in the capture. */
void eng_mpi_resume(void);

/* In a restored process, before the restorer's region is unmapped: keeps
 * the restarting step's environment (from the ENG_REC_ENV record). */
void eng_mpi_keep_env(const void *rec, size_t len);

/* In a restored process, once the restorer is gone and before the
 * application runs: re-creates the lower half and MPI. Ends the process
 * with a message when that fails: a rank without MPI cannot go on. */
void eng_mpi_restart(void);

#endif
