/* files.h - the kernel-state savers (files.c, attrs.c, signals.c): their
 * subsystem descriptors for subsys_table.c and the few calls the engine makes
 * besides the table. Included by libckpt/ sources and their unit tests only.
 *
 * Record layouts and restore rules: docs/files-and-state.md.
 */
#ifndef CKPT_LIBCKPT_FILES_H
#define CKPT_LIBCKPT_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "subsys.h"

/* Record types of the state savers, pinned forever. The range 0x100-0x3ff is
 * theirs: 0x1xx files, 0x2xx process attributes, 0x3xx signals and timers. */
#define CKPT_REC_FILES	 0x100u
#define CKPT_REC_ATTRS	 0x200u
#define CKPT_REC_SIGNALS 0x300u

/* Most descriptors the engine may hide from the fd walk at once (agent
 * socket, image file, log fd, ...): a dozen is plenty, 64 leaves room. */
#define CKPT_FILES_EXCLUDE_MAX 64

extern const struct ckpt_subsys ckpt_files_subsys;
extern const struct ckpt_subsys ckpt_attrs_subsys;
extern const struct ckpt_subsys ckpt_signals_subsys;

/*
 * Hides @fd (one of the engine's own descriptors, e.g. the agent socket) from
 * the files capture; at restore, a record that would place a descriptor on an
 * excluded number is refused with -EBUSY rather than clobbering it. These
 * lists live in the process memory, so a restored process sees the numbers of
 * the checkpointed one: the engine re-registers its new descriptors before it
 * calls the restore functions. Returns 0, -EBADF for a negative @fd, or
 * -ENOSPC when CKPT_FILES_EXCLUDE_MAX descriptors are already excluded.
 * Not thread-safe: called by the checkpoint thread only.
 */
int ckpt_files_exclude_fd(int fd);
/*
 * For the restorer: the files restore places descriptors on every number
 * below the value returned for record @rec of @len bytes, so the engine
 * moves its own descriptors (image, agent socket) to numbers at or above it
 * (F_DUPFD) and excludes them before calling restore. Returns that bound
 * (0 for a record without descriptors) or -EINVAL for an invalid record.
 */
int ckpt_files_fd_limit(const void *rec, size_t len);
/* Restorer record: the pipe ends 'ckpt restart' handed this process
 * (struct ckpt_tree_pipe_fd[]), from ckpt-restore to the files restore.
 * Pinned forever. */
#define ENG_REC_TREE_PIPES 0x454e0006u
/* Environment variable 'ckpt restart' passes ckpt-restore the handed ends
 * in: "FD:INO:r,FD:INO:w,FD:INO:s,..." (decimal; r a pipe's read end, w its
 * write end, s a socket, handed with acc O_RDWR). */
#define CKPT_TREE_PIPES_ENV "CKPT_TREE_PIPES"

/* Most pipe ends and sockets 'ckpt restart' hands one process
 * (docs/process-trees.md). */
#define CKPT_TREE_PIPES_MAX 64

/* Shared anonymous memory of a tree, restored shared (docs/process-trees.md):
 * 'ckpt restart' makes one memfd of this name per object and hands each
 * holder its descriptors in CKPT_TREE_SHM ("FD:DEV:INODE,..."), at most
 * CKPT_TREE_SHM_MAX. */
#define CKPT_SHARED_ANON_NAME "ckpt-shared-anon"
#define CKPT_SHARED_ANON_LEN  16
#define CKPT_TREE_SHM_ENV     "CKPT_TREE_SHM"
#define CKPT_TREE_SHM_MAX     64

/* One pipe end 'ckpt restart' made and handed to a restored process. */
struct ckpt_tree_pipe_fd {
	uint64_t ino; /* the pipe's id at the checkpoint (its entries' ino) */
	int32_t fd;   /* where the end is open in this process */
	uint32_t acc; /* O_RDONLY or O_WRONLY; O_RDWR: a socket */
};

/*
 * For the restorer, before the files restore: @v[0..@n) are the pipe ends
 * 'ckpt restart' made for the pipes this process shares with others of its
 * tree. The files restore places them on the recorded numbers, then closes
 * @v's descriptors. NULL/0 for none.
 */
void ckpt_files_use_tree_pipes(const struct ckpt_tree_pipe_fd *v, size_t n);
/*
 * At write time, every process of the tree stopped: saves the bytes
 * buffered in the pipes this process saves for the tree into files record
 * @rec of @len bytes (room was reserved at capture) and shrinks the record
 * to what they take. Returns the new length, or -errno.
 */
ssize_t ckpt_files_tree_pipes_fill(void *rec, size_t len);
/* Whether the captured files record @rec of @len bytes holds room for the
 * bytes of a pipe or a socketpair's queue this process saves for its tree:
 * it then takes part in the pipe barrier (docs/process-trees.md). */
bool ckpt_files_tree_pipes_saved(const void *rec, size_t len);
/* One description of a pipe shared in the tree, as a files record holds
 * it: for 'ckpt restart', which makes each such pipe once. */
struct ckpt_tree_pipe_ent {
	uint64_t ino;	    /* the pipe's id at the checkpoint */
	int32_t fd;	    /* descriptor number in the process */
	uint32_t acc;	    /* O_RDONLY or O_WRONLY */
	uint32_t status;    /* its O_NONBLOCK and O_DIRECT */
	uint32_t pipe_size; /* F_GETPIPE_SZ at the checkpoint */
	const void *data;   /* the bytes buffered in the pipe (inside the record) */
	uint64_t data_len;  /* their length; 0 on every description but one */
	const char *path;   /* a named pipe's absolute path (inside the record),
			     * NULL for a pipe */
};

/*
 * Validates files record @rec of @len bytes (as the restore does) and
 * lists its descriptions of pipes shared in the tree (duplicates, which
 * follow their original, are left out) in @out[0..@max). Returns how many,
 * -EINVAL for an invalid record (said), or -E2BIG when more than @max.
 */
int ckpt_files_tree_pipe_ends(const void *rec, size_t len, struct ckpt_tree_pipe_ent *out,
			      size_t max);
/* One description of a Unix socket shared in the tree (one end of a
 * socketpair), as a files record holds it: for 'ckpt restart', which makes
 * each pair once. */
struct ckpt_tree_sock_ent {
	uint64_t ino;	   /* the socket's inode at the checkpoint */
	int32_t fd;	   /* descriptor number in the process */
	uint32_t status;   /* its O_NONBLOCK */
	const void *data;  /* struct ckpt_usock_hdr and the queue, if this one
			    * carries it (files_sock.h; inside the record) */
	uint64_t data_len; /* their length, checked by ckpt_usock_data_check() */
};

/*
 * Validates files record @rec of @len bytes and lists its descriptions of
 * sockets shared in the tree (duplicates left out) in @out[0..@max).
 * Returns how many, -EINVAL for an invalid record (said), or -E2BIG when
 * more than @max.
 */
int ckpt_files_tree_sock_ends(const void *rec, size_t len, struct ckpt_tree_sock_ent *out,
			      size_t max);
/* Undoes ckpt_files_exclude_fd(); unknown numbers are ignored. */
void ckpt_files_include_fd(int fd);
/* Whether @fd is currently excluded. */
bool ckpt_files_fd_excluded(int fd);

/*
 * Names the engine's checkpoint signal: its action is neither captured nor
 * restored and it is never re-raised as pending. 0 clears it. Returns 0, or
 * -EINVAL for a number outside 1..64.
 */
int ckpt_signals_set_reserved(int signo);

/* Resource limits as prlimit64(2) gives them, for the restore below. */
struct ckpt_rlim {
	uint64_t cur; /* soft limit, RLIM_INFINITY = ~0 */
	uint64_t max; /* hard limit */
};

/* libckpt.so's constructor: remembers the resource limits the program
 * starts with, to tell its own setrlimit() calls from the launcher's. */
void ckpt_attrs_start_save(void);

/*
 * In a task restored by Slurm, before the table's restore functions run:
 * @fresh[0..@count) are the limits slurmstepd gave this start (read by
 * ckpt-restore before it changed any). The attrs restore then applies, for
 * each limit, the saved value if the program had changed it since its start
 * and this start's otherwise, as a fresh task would get. No-op for NULL.
 */
void ckpt_attrs_use_fresh_limits(const struct ckpt_rlim *fresh, size_t count);

/*
 * Reads the value of the line "@key:" of /proc/thread-self/status into @val
 * (NUL-terminated, leading blanks skipped) with raw syscalls and no
 * allocation, for the capture functions. Returns the value length, -ENOENT
 * when the key is absent, -ENOSPC when @cap is too small, or -errno.
 */
ssize_t ckpt_proc_status_field(const char *key, char *val, size_t cap);

#endif
