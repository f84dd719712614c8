/* shadow_ckpt.h - checkpoint and restart of an MPI rank: what libckpt calls
 * in the shadow libmpich.so.12, and the hooks between the parts of the
 * shadow library that take part (docs/mpi.md, "Checkpointing").
 *
 * libckpt resolves the shadow_ckpt_* entry points with dlsym(RTLD_DEFAULT)
 * (they exist only when the shadow library is loaded) and checks
 * shadow_ckpt_api() first. The order at a checkpoint, in libckpt's
 * checkpoint thread:
 *
 *   shadow_ckpt_prepare()   application threads still run: collectives are
 *                           brought to a consistent cut (per-communicator
 *                           sequence numbers), new collectives wait at entry
 *   (libckpt stops every application thread; none is inside the lower half)
 *   shadow_ckpt_drain()     messages in flight received into upper-half
 *                           buffers, pending requests completed or cancelled
 *   (libckpt saves memory, leaving out shadow_lh_areas(), shadow_lh_threads()
 *    and shadow_lh_fds(); shadow_lh_prepare_image() first)
 *   shadow_ckpt_resume()    cancelled receives posted again, collectives free
 *   (libckpt lets the application threads go)
 *
 * and at restart, in the restored process's checkpoint thread before any
 * application thread runs: shadow_ckpt_restart().
 */
#ifndef CKPT_MPI_SHADOW_CKPT_H
#define CKPT_MPI_SHADOW_CKPT_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Version of this interface: shadow_ckpt_api() returns it. */
#define SHADOW_CKPT_API 1

/* ---- entry points for libckpt (exported, default visibility) ---- */

int shadow_ckpt_api(void);

/* Brings this rank to the job's consistent cut: when it returns 0, every
 * collective any rank has entered has been entered by all its members,
 * no further collective will be entered until shadow_ckpt_resume(), and
 * every application thread inside the lower half is on its way out. Every
 * rank of the job calls it (they all get the agent's request). Returns 0,
 * or -errno with a sentence in @why (e.g. -ETIMEDOUT after @timeout_ms);
 * the caller then aborts the checkpoint and calls shadow_ckpt_resume(). */
int shadow_ckpt_prepare(int timeout_ms, char *why, size_t len);

/* Called with every application thread stopped outside the lower half.
 * Receives every message sent to this rank and not yet received into
 * upper-half buffers (served later to receives and probes in MPI order),
 * completes the requests that can complete and cancels pending receives.
 * Returns 0, or -errno with a sentence in @why. */
int shadow_ckpt_drain(int timeout_ms, char *why, size_t len);

/* After the image is written or the checkpoint was aborted (prepare or
 * drain may have failed half way): posts the cancelled receives again and
 * lets collectives enter. Safe to call more than once. */
void shadow_ckpt_resume(void);

/* With the application stopped, before its image is written: records
 * whether MPI is initialised and not finalised (what a restart must
 * re-create). */
void shadow_ckpt_note_state(void);

/* Slurm's PMI socket the lower half talks through (PMI_FD of the
 * environment the lower half sees), or -1: left out of the image. */
int shadow_ckpt_pmi_fd(void);

/* Whether the calling thread is inside the lower half (a signal handler
 * asks: async-signal-safe). */
int shadow_ckpt_thread_in_lh(void);

/* In the restored process, before any application thread runs: puts the
 * lower half back as it was before MPI_Init (shadow_lh_restore), and if
 * the application had initialised MPI and not finalised it, initialises
 * it again with @env (the new step's environment: PMI_FD, PMI_RANK,
 * SLURM_*), rebuilds every communicator, group, datatype, operation,
 * errhandler and info behind the same virtual handles, and posts pending
 * receives and persistent requests again. Returns 0, or -errno with a
 * sentence in @why (the restart must fail). */
int shadow_ckpt_restart(char *const *env, char *why, size_t len);

/* ---- hooks between the parts of the shadow library (hidden) ---- */

/* shadow_consist.c: MPI_Init/MPI_Init_thread succeeded (also at restart,
 * with @restart true): sets up the control communicator. */
int shadow_consist_mpi_initialized(bool restart);

/* shadow_consist.c: a communicator was created (@vcomm the application's
 * handle, @lh the lower half's). Agrees on the communicator's job-wide id
 * with its members (a collective on @lh) unless @replay, when the id
 * recorded before the checkpoint stays. */
int shadow_consist_comm_created(MPI_Comm vcomm, MPI_Comm lh, bool replay);

/* shadow_consist.c: the communicator is being freed. */
void shadow_consist_comm_freed(MPI_Comm vcomm);

/* shadow_replay.c: after MPI is initialised again at restart, re-creates
 * every live communicator, group, datatype, operation, errhandler and info
 * in creation order and points its virtual handle at the new lower-half
 * value. Returns 0 or -errno with a sentence in @why. */
int shadow_replay_all(char *why, size_t len);

/* shadow_consist.c: after shadow_replay_all at restart: posts the receives
 * that were cancelled at the checkpoint and re-creates inactive persistent
 * requests. Returns 0 or -errno with a sentence in @why. */
int shadow_consist_restart_requests(char *why, size_t len);

/* shadow_lh_restore.c: in the restored process, puts the lower half back
 * at its addresses as it was when shadow_lh_snapshot() was taken (library
 * files checked first: -ESTALE and shadow_lh_libs_check's sentence), drops
 * ld.so's record of lower-half threads that no longer exist, restores the
 * main thread's lower-half TLS, and makes the lower half's libc see @env.
 * Returns 0 or -errno with a sentence in @why. */
int shadow_lh_restore(char *const *env, char *why, size_t len);

#endif
