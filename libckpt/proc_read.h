/* proc_read.h - reading /proc with raw system calls and caller-owned
 * buffers only: no malloc, no stdio, no locks. Capture calls these while
 * the application's other threads are stopped, one of them maybe holding
 * the malloc or a stdio lock (files.c, files_evfd.c, files_epoll.c,
 * files_inotify.c).
 * Included by libckpt/ sources only.
 */
#ifndef CKPT_LIBCKPT_PROC_READ_H
#define CKPT_LIBCKPT_PROC_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads up to @cap - 1 bytes of @path into @buf, NUL-terminated (cut at
 * @cap - 1: what a caller needs of a /proc file comes first). Returns the
 * length, or -errno. Raw system calls only (proc_read.c). */
ssize_t eng_read_small(const char *path, char *buf, size_t cap);

/* A walk over the entries of an open directory, such as /proc or
 * /proc/PID/fd, by getdents64(2) into the caller's buffer (opendir()
 * mallocs). */
struct eng_dir {
	int fd;	       /* the directory, opened and closed by the caller */
	uint64_t *buf; /* the caller's buffer: 8-aligned for the dirents */
	size_t cap;    /* its size in bytes */
	long got;      /* bytes the last getdents64 returned */
	long off;      /* offset of the next entry in it */
	int err;       /* 0, or -errno once getdents64 failed */
};

/* Starts a walk over directory @fd with the @cap-byte buffer @buf. */
void eng_dir_start(struct eng_dir *d, int fd, uint64_t *buf, size_t cap);
/* The name of the next entry ("." and ".." included), or NULL at the end
 * of the directory or when reading it failed (then d->err is -errno). */
const char *eng_dir_next(struct eng_dir *d);

/* Whether @name (a /proc entry: a pid, a descriptor number) is a decimal
 * number of at most 9 digits; stores it in *@v only then. */
bool eng_proc_num(const char *name, long *v);

/* Writes @v in decimal at @s + @len and a NUL after it (the caller's
 * buffer has room for 21 more characters); returns the new length. No
 * snprintf: this runs while the process's other threads are stopped. */
size_t eng_append_num(char *s, size_t len, unsigned long v);

/* Writes "/proc/thread-self/fdinfo/@fd" into @path (room for any int). */
#define ENG_FDINFO_PATH_MAX 48
void eng_fdinfo_path(char path[ENG_FDINFO_PATH_MAX], int fd);

/* Calls @line for each line of the fdinfo of our descriptor @fd, without
 * its newline; stops at the first non-zero return of @line and returns it.
 * A line longer than ENG_FDINFO_LINE_MAX is refused (-EINVAL) rather than
 * passed cut. Stores the descriptor the walk opens in *@own_fd (if not
 * NULL) for a caller that must tell it from the program's. 0 at the end,
 * -errno when the file cannot be read. An inotify line with the longest
 * file handle (128 bytes, in hex) fits. */
#define ENG_FDINFO_LINE_MAX 512
int eng_fdinfo_walk(int fd, int *own_fd, int (*line)(void *arg, const char *l, size_t n),
		    void *arg);

#endif
