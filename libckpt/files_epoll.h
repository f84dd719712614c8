/* files_epoll.h - epoll descriptors in the files record (files_epoll.c): the
 * data an EPOLL entry carries (its interest list), how it is read from
 * /proc/thread-self/fdinfo at checkpoint and put back at restart. Included by
 * libckpt/files.c and its unit tests only.
 *
 * Layout and rules: docs/files-and-state.md ("epoll").
 */
#ifndef CKPT_LIBCKPT_FILES_EPOLL_H
#define CKPT_LIBCKPT_FILES_EPOLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Most entries one epoll may carry in an image. A process watching more
 * descriptors with one epoll is refused at checkpoint time (named); 4096
 * entries are 64 KiB of record, and bound what a hostile image makes the
 * restore add. */
#define CKPT_EPOLL_ITEMS_MAX 4096u

/* Deepest nesting of epolls in epolls the restore accepts: the kernel
 * refuses more than 4 levels below the outermost (EP_MAX_NESTS), so a
 * record claiming more is not from a real process. */
#define CKPT_EPOLL_NEST_MAX 5

/* The event bits an interest-list entry may carry: what epoll_ctl() takes
 * (EPOLLIN ... EPOLLRDHUP) and the flags the kernel keeps with the entry
 * (EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET). */
#define CKPT_EPOLL_EVENTS_KNOWN 0xf00027dfu
/* Its flags only; an EPOLLONESHOT entry that fired keeps only these. */
#define CKPT_EPOLL_FLAGS 0xf0000000u

/* Start of the data of an EPOLL entry, pinned in docs/files-and-state.md;
 * @count items follow. */
struct ckpt_epoll_hdr {
	uint32_t count; /* interest-list entries that follow */
	uint32_t depth; /* 0: no epoll among its targets; else 1 + the deepest
			 * target epoll's depth (restore fills inner ones first) */
};

/* One interest-list entry, as epoll_ctl() took it. */
struct ckpt_epoll_item {
	int32_t tfd;	 /* the watched descriptor's number in the process */
	uint32_t events; /* the entry's events and flags, as fdinfo shows them */
	uint64_t data;	 /* the 64-bit user data */
};

_Static_assert(sizeof(struct ckpt_epoll_hdr) == 8, "EPOLL data layout");
_Static_assert(sizeof(struct ckpt_epoll_item) == 16, "EPOLL item layout");

/* One "tfd:" line of an epoll's fdinfo. */
struct ckpt_epoll_tfd {
	int32_t tfd;	 /* target descriptor number */
	uint32_t events; /* events and flags */
	uint64_t data;	 /* user data */
	uint64_t ino;	 /* the target file's inode */
	uint32_t sdev;	 /* its file system's device, kernel encoding (major << 20 | minor) */
};

/*
 * Parses one line of an epoll's fdinfo (@len bytes, no newline). Pure.
 * Returns 1 and fills @out for a "tfd:" line, 0 for another line (pos,
 * flags, mnt_id, ino), -EINVAL for a "tfd:" line that is malformed.
 */
int ckpt_epoll_fdinfo_line(const char *line, size_t len, struct ckpt_epoll_tfd *out);
/*
 * Parses a whole fdinfo text of @len bytes into @out[0..@max). Pure.
 * Returns how many entries, -E2BIG when more than @max, -EINVAL when a
 * "tfd:" line is malformed.
 */
int ckpt_epoll_fdinfo_parse(const char *text, size_t len, struct ckpt_epoll_tfd *out, size_t max);

/*
 * Checks the data of an EPOLL entry on descriptor @epfd, @len bytes at
 * @data: the header, a count up to CKPT_EPOLL_ITEMS_MAX filling the data
 * exactly, a depth up to CKPT_EPOLL_NEST_MAX, strictly increasing non-negative target numbers other than
 * @epfd, known event bits, no EPOLLEXCLUSIVE with EPOLLONESHOT. Pure; logs
 * what is wrong naming @epfd. Returns 0 or -EINVAL.
 */
int ckpt_epoll_data_check(int epfd, const void *data, uint64_t len);
/* Item @i of checked data (i < count). */
void ckpt_epoll_item_get(const void *data, uint32_t i, struct ckpt_epoll_item *out);
/* The header of checked data. */
void ckpt_epoll_hdr_get(const void *data, struct ckpt_epoll_hdr *out);
/* Sets the depth in captured data (files.c computes it once every epoll of
 * the process is captured). */
void ckpt_epoll_depth_set(void *data, uint32_t depth);

/* Why descriptor @tfd, the target of an entry, cannot come back after a
 * restart, or NULL when it can: the files saver's verdict (files.c). */
typedef const char *ckpt_epoll_why_fn(void *ctx, int tfd);

/*
 * At capture: reads the interest list of epoll @epfd from fdinfo and writes
 * its data at @dst (@room bytes). Each entry's target must still be the
 * descriptor of that number (fdinfo's inode and device against fstat, and
 * kcmp(KCMP_EPOLL_TFD) where the kernel has it); a number that is the
 * engine's (ckpt_files_exclude_fd()), @scratch_fd (the caller's own
 * descriptor) or the fdinfo being read counts as closed. A target closed or
 * replaced since it was added (epoll keeps the file alive; the program can
 * no longer name it) is refused: the message names @pid, @epfd, the target
 * and why, through @warn. Runs in the capture: raw syscalls, no allocation.
 * Returns the data length, -ENOSPC when @room is too small, or
 * -ENOTRECOVERABLE (said).
 */
ssize_t ckpt_epoll_capture(long pid, int epfd, int scratch_fd, void *dst, size_t room,
			   void (*warn)(const char *msg));
/*
 * At capture, once every descriptor is classified: refuses the epoll whose
 * checked data is @data if an entry's target will not be restored
 * (@why(@ctx, tfd) says why). Returns 0 or -ENOTRECOVERABLE (said).
 */
int ckpt_epoll_capture_targets(long pid, int epfd, const void *data, ckpt_epoll_why_fn *why,
			       void *ctx, void (*warn)(const char *msg));
/*
 * At capture, in a process tree: refuses epoll @epfd when another process
 * of the namespace holds the same open epoll (inherited over fork): the two
 * would come back as two epolls. Returns 0 or -ENOTRECOVERABLE (said).
 */
int ckpt_epoll_capture_shared(long pid, int epfd, void (*warn)(const char *msg));

/*
 * At restore: makes a new, empty epoll with FD_CLOEXEC (the files restore
 * places it with the saved flags). Returns the descriptor or -errno (said).
 */
int ckpt_epoll_create(int epfd, uint32_t open_flags);
/* What ckpt_epoll_fill() asks the files restore about a target. */
struct ckpt_epoll_targets {
	/* Whether @tfd is a standard descriptor, the launcher's now. */
	bool (*stdio_fd)(void *ctx, int tfd);
	/* Whether @tfd is the read end of a pipe no other process holds (it
	 * may be made readable for a moment). */
	bool (*own_pipe_reader)(void *ctx, int tfd);
};

/*
 * At restore, every other descriptor in place: adds the checked entries of
 * @data to the epoll at @epfd. An EPOLLONESHOT entry that had fired stays
 * disarmed where it can (docs/files-and-state.md). An entry whose target is
 * closed now (left closed by the files restore) is left out with a warning,
 * as the kernel would have dropped it when its file closed; so is one on a
 * standard descriptor (the launcher's now) the kernel will not watch.
 * Returns 0 or -errno (said).
 */
int ckpt_epoll_fill(int epfd, const void *data, const struct ckpt_epoll_targets *tg, void *ctx);

#endif
