/* env_fresh.h - the environment of a task restored by Slurm: what the
 * restarting step gives a fresh task (SLURM_* of this start, TaskProlog's
 * exports, TMPDIR) merged into the saved process's environment, keeping the
 * changes the program made itself. Included by libckpt/ sources, by
 * ckpt-restore (the record type) and by the unit test of the merge.
 */
#ifndef CKPT_LIBCKPT_ENV_FRESH_H
#define CKPT_LIBCKPT_ENV_FRESH_H

#include <stddef.h>

/* Restorer record: the restarting step's environment, NUL-separated
 * strings, handed over only when the task is restored by the Slurm plugin
 * (ckpt-restore started with CKPT_RESTORE_IMAGE). Pinned forever. */
#define ENG_REC_ENV_FRESH 0x454e0004u
/* Restorer record, given with the one above: the resource limits
 * slurmstepd set for this start (struct ckpt_rlim[], indexed by RLIMIT_*),
 * read by ckpt-restore before it changed any. Pinned forever. */
#define ENG_REC_RLIMITS_FRESH 0x454e0005u

/*
 * Three-way merge of environments, allocation-free. @start is the
 * environment the process started with, @now the one it has at restore
 * (saved in the image), @fresh the restarting step's. For every variable:
 *  - libckpt's own (CKPT_*, LD_PRELOAD) keep their @now value;
 *  - one the program set, changed or unset since @start keeps @now's state;
 *  - any other takes @fresh's state (changed, added or removed by Slurm).
 * Writes at most @cap pointers (into the strings of @now and @fresh) to
 * @out, NULL-terminated; returns the number of variables, which is >= @cap
 * when @out was too small (nothing usable was written then).
 */
size_t eng_env_merge(const char *const *start, const char *const *now, const char *const *fresh,
		     const char **out, size_t cap);

/* Copies the NUL-separated strings of a restorer record into a private
 * mapping and returns them as a NULL-terminated array, or NULL. No malloc:
 * it runs while application threads, which may hold malloc's lock, are
 * stopped. */
char **eng_env_from_record(const void *rec, size_t len);

/* libckpt.so's constructor: remembers the environment the program starts
 * with (the @start of eng_env_merge). */
void eng_env_start_save(void);

/* In a restored process, with application threads stopped: replaces
 * environ by the merge of the saved environment with @fresh (NULL-ended). */
void eng_env_refresh(char **fresh);

#endif
