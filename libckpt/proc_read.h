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

#endif
