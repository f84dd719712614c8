/* libckpt.h - internal interfaces between the files of libckpt.so (the
 * preloaded checkpointer). Included by libckpt/ engine sources only; not by
 * the restorer, not by the subsystems (they see subsys.h).
 */
#ifndef CKPT_LIBCKPT_LIBCKPT_H
#define CKPT_LIBCKPT_LIBCKPT_H

#include "engine.h"
#include "proc_read.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- init.c: configuration and start-up --------------------------------- */

/* The quiesce signal; 0 while libckpt is dormant (CKPT_AGENT_SOCKET unset),
 * in which case every wrapper passes calls through unchanged. */
extern int eng_signal;
/* Offset of the tid field inside glibc's struct pthread, found at start-up. */
extern long eng_tid_offset;
/* Where the restorer tells a restored process about its new world. */
extern struct eng_restore_info eng_restore_info;

/* Starts the checkpoint thread (at start-up, and in a forked child).
 * Returns 0 or -errno (logged). */
int eng_ckpt_thread_start(void);
/* Raw gettid(): glibc 2.36 has gettid() but we want no dependency on it. */
pid_t eng_gettid(void);
/* CLOCK_MONOTONIC in milliseconds, with sub-millisecond resolution. */
double eng_clock_ms(void);
/* Moves @fd (close-on-exec) to a number above @floor if it is not already
 * there, closing the old number: the engine's descriptors never take the
 * application's standard ones (0-2), which a program may have closed and
 * still write to. Returns the descriptor, or -1 (errno) with @fd closed;
 * @fd < 0 is returned as is. */
int eng_fd_above(int fd, int floor);
/* The engine's own long-lived descriptors (its agent socket, the
 * userfaultfd and pagemap of incremental tracking, a trigger's socket)
 * live above this number: below it, shells pick the numbers of their
 * redirections ('exec 3>FILE', pipe ends, saved descriptors from 10 up)
 * and replace whatever is there with dup2(), which would silently close a
 * socket of ours at 3 and make our later close() close their file. */
#define ENG_FD_FLOOR 99
/* Moves @fd above ENG_FD_FLOOR, or, when RLIMIT_NOFILE is lower than that,
 * above the standard descriptors (eng_fd_above()). */
int eng_fd_engine(int fd);

/* ---- interpose.c: the real libc functions behind our wrappers ------------ */

/* The next definition of libc's @name (dlsym RTLD_NEXT); aborts when there
 * is none, which only a broken installation can cause. */
void *eng_libc_next(const char *name);
int eng_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
int eng_real_pthread_sigmask(int how, const sigset_t *set, sigset_t *old);

/* ---- quiesce.c: stopping and releasing the application threads ---------- */

/* Saves the callee-saved registers of the caller into @ctx. Returns 0 when
 * called, 1 when a restorer jumps back to @ctx (like setjmp). */
int eng_ctx_save(struct eng_ctx *ctx) __attribute__((returns_twice));

/* Installs the quiesce signal handler. Returns 0 or -errno. */
int eng_quiesce_install(void);
/* Stops every other thread of the process in the quiesce handler. On
 * failure every thread is released again. Returns 0, -ETIMEDOUT (a thread
 * did not answer within @timeout_ms), -E2BIG (too many threads), -errno. */
int eng_quiesce(int timeout_ms);
/* Most threads eng_quiesce_skip() can leave running. */
#define ENG_QUIESCE_SKIP_MAX 256u
/* For the next eng_quiesce(): leave the threads @tids running (the MPI lower
 * half's), and when @busy_probe is not NULL, ask it in the handler whether
 * the stopped thread is inside the MPI lower half: such a thread is let go
 * and signalled again until it is outside. */
void eng_quiesce_skip(const pid_t *tids, unsigned int n, int (*busy_probe)(void));
/* Makes the next eng_release() call @hook first (once). */
void eng_release_hook_set(void (*hook)(void));
/* Lets every thread stopped by eng_quiesce() continue. */
void eng_release(void);
/* True between a successful eng_quiesce() and eng_release(). */
bool eng_quiesced(void);
/* Bumped by every thread entering the quiesce handler: a sleep that
 * returns EINTR while it changed was interrupted by a checkpoint. */
extern uint32_t eng_checkpoint_count;
/* Fills @out (capacity @max) with the saved state of the stopped threads.
 * Returns how many were written. */
unsigned int eng_threads_saved(struct eng_thread *out, unsigned int max);
/* In a restored process: waits until the @n application threads re-created
 * by the restorer are all back in the quiesce handler. Returns 0 or
 * -ETIMEDOUT. */
int eng_wait_restored_threads(unsigned int n, int timeout_ms);
/* Finds ld.so's recursive locks; at start-up, while none is held. */
void eng_rtld_locks_find(void);
/* In a restored process, before eng_release(): gives each ld.so lock that a
 * restored thread held at the checkpoint that thread's new tid as owner. */
void eng_rtld_locks_fix(void);
/* Saves the calling thread's own record (fs base, robust list, altstack). */
void eng_thread_self_fill(struct eng_thread *t);

/* ---- snapshot.c: capture and forked writing ----------------------------- */

struct eng_write_req {
	const char *path;      /* image file to create (0600) */
	int level;	       /* zstd level */
	unsigned int nthreads; /* compression threads, 0: automatic */
	bool final;	       /* keep the application stopped afterwards */
	int64_t gen;	       /* generation number (incremental chain) */
};

struct eng_write_res {
	uint64_t size;	     /* bytes in the image file */
	uint64_t xxh64;	     /* checksum of the whole file */
	uint64_t data_bytes; /* page bytes stored in it */
	uint64_t ref_bytes;  /* page bytes referred to in earlier images */
	double write_ms;     /* time from clone to the child's exit */
	double released_ms;  /* CLOCK_MONOTONIC ms when the threads went on */
	char reason[256];    /* failure explanation, "" on success */
};

/* Prepares a checkpoint while the application is quiesced: maps the writer
 * arena and runs every subsystem capture. Returns 0 or -errno with the
 * reason in @why (capacity @why_len). */
int eng_snapshot_prepare(char *why, size_t why_len);
/* After eng_snapshot_prepare(): leaves [start, start + len) out of the
 * image (the MPI lower half). Returns 0, -E2BIG when too many ranges. */
int eng_snapshot_exclude(uint64_t start, uint64_t len);
/* After eng_snapshot_prepare(): whether this process saves the bytes of
 * pipes shared in its tree, and so answers "save_pipes" (the pipe barrier,
 * docs/process-trees.md). */
bool eng_snapshot_saves_pipes(void);
/* After eng_snapshot_prepare(), every process of the generation stopped:
 * reads the bytes of those pipes into the image's files record, once
 * (eng_snapshot_write() does it itself when this was not called). Returns
 * 0 or -errno with the reason in @why. */
int eng_snapshot_save_pipes(char *why, size_t why_len);
/* Drops what eng_snapshot_prepare() set up (after abort or after writing). */
void eng_snapshot_discard(void);
/* Writes the image of the quiesced process in a raw-clone()d child. Calls
 * eng_release() right after the clone unless @req->final. Returns 0, 1 when
 * this call returns in a restored process (the image was restored), or
 * -errno with @res->reason set. */
int eng_snapshot_write(const struct eng_write_req *req, struct eng_write_res *res);
/* Threads (checkpoint thread included) in the last image written; in a
 * restored process, the number the restorer re-created. */
extern uint32_t eng_saved_nthreads;
/* In a restored process: runs every subsystem restore. Returns 0 or -errno. */
int eng_snapshot_restore_subsys(void);
/* In a restored process: hands the restarting step's environment, if the
 * restorer passed it, to the MPI layer (before the restorer's region goes). */
void eng_snapshot_restore_env(void);

/* ---- agent_client.c: the checkpoint thread ------------------------------ */

/* Copies what the checkpoint thread reads of the environment (the agent's
 * socket, CKPT_DIR, the step and rank): called by the constructor, before
 * the application runs. The thread runs beside the application, which may
 * rewrite environ meanwhile (bash does as it starts), and getenv() then
 * races with it: bash as a tree's root once registered as "(unset)". */
void eng_agent_env_capture(void);
/* Body of the checkpoint thread: talks to the agent until the process ends. */
void *eng_agent_thread(void *arg);
/* In a child made by fork(): forgets the parent's agent connection (the
 * child's copy of the descriptor only) and that the parent was a restored
 * process, so that the child's checkpoint thread registers anew. */
void eng_agent_atfork_child(void);

#endif
