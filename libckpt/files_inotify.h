/* files_inotify.h - inotify descriptors in the files record (files_inotify.c):
 * the table of the paths watches were added with (filled by the
 * inotify_add_watch() wrapper of interpose.c), the data an INOTIFY entry
 * carries, how it is read from /proc/thread-self/fdinfo at checkpoint and
 * how the watches are added again, with the same watch descriptors, at
 * restart. Included by libckpt/files.c, libckpt/interpose.c and their unit
 * tests only.
 *
 * Layout and rules: docs/files-and-state.md ("inotify").
 */
#ifndef CKPT_LIBCKPT_FILES_INOTIFY_H
#define CKPT_LIBCKPT_FILES_INOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Most watches one inotify may carry in an image, and most (descriptor,
 * watch) paths the table remembers: 1024 slots of 24 bytes, and every
 * watch of a real program that watches a few directories. A watch beyond
 * them has an unknown path and is refused at checkpoint, named. */
#define CKPT_INOTIFY_WATCHES_MAX 1024u

/* Most throwaway watches one restore adds (and removes) to reach the watch
 * descriptors the program knows: the kernel hands them out in increasing
 * order and never gives one back (docs/files-and-state.md). 2^18 of them
 * took 2.2-2.3 s here (about 9 us each, on /dev/null, measured); an
 * inotify whose gaps need more is refused at checkpoint, named. */
#define CKPT_INOTIFY_SKIP_MAX (1u << 18)

/* The mask bits an entry may carry: the events and flags the kernel keeps
 * with a watch (what fdinfo shows: IN_ALL_EVENTS, IN_EXCL_UNLINK,
 * IN_ONESHOT) and the lookup flags the program added it with, which the
 * kernel does not keep (IN_DONT_FOLLOW, IN_ONLYDIR). */
#define CKPT_INOTIFY_MASK_KNOWN 0x87000fffu
/* The lookup flags among them, remembered by the table. */
#define CKPT_INOTIFY_LOOKUP_FLAGS 0x03000000u

/* Start of the data of an INOTIFY entry, pinned in docs/files-and-state.md:
 * @count watches follow, then their paths one after the other. */
struct ckpt_inotify_hdr {
	uint32_t count;	   /* watches that follow */
	uint32_t reserved; /* 0 */
};

/* One watch, as it is added again. */
struct ckpt_inotify_watch {
	int32_t wd;	   /* watch descriptor the program knows; increasing */
	uint32_t mask;	   /* events and flags (CKPT_INOTIFY_MASK_KNOWN) */
	uint64_t ino;	   /* the watched inode at checkpoint (for messages) */
	uint32_t sdev;	   /* its file system, kernel encoding (major << 20 | minor) */
	uint32_t path_len; /* bytes of its path in the path area, NUL included */
};

_Static_assert(sizeof(struct ckpt_inotify_hdr) == 8, "INOTIFY data layout");
_Static_assert(sizeof(struct ckpt_inotify_watch) == 24, "INOTIFY watch layout");

/* One "inotify wd:" line of an inotify's fdinfo. */
struct ckpt_inotify_mark {
	int32_t wd;    /* watch descriptor */
	uint32_t mask; /* events and kept flags */
	uint64_t ino;  /* watched inode */
	uint32_t sdev; /* its file system, kernel encoding */
};

/*
 * Parses one line of an inotify's fdinfo (@len bytes, no newline). Pure.
 * Returns 1 and fills @out for an "inotify wd:" line, 0 for another line
 * (pos, flags, mnt_id, ino), -EINVAL for an "inotify" line that is
 * malformed (a wd outside 1..INT32_MAX included).
 */
int ckpt_inotify_fdinfo_line(const char *line, size_t len, struct ckpt_inotify_mark *out);

/* ---- the path table (in process memory, so in the image) -------------- */

/*
 * Remembers that watch @wd of inotify @fd was added with @path (absolute,
 * or made so against the current directory) and the lookup flags of @mask.
 * Replaces what the table held for (@fd, @wd). Called by the wrapper after
 * the kernel accepted the watch; takes a writers' lock, allocates. Returns
 * 0, -ENAMETOOLONG or -ENOSPC (the table is full even after dropping the
 * slots of closed descriptors and removed watches).
 */
int ckpt_inotify_table_add(int fd, int wd, const char *path, uint32_t mask);
/* Forgets watch @wd of inotify @fd (and of its dups): inotify_rm_watch()
 * succeeded. */
void ckpt_inotify_table_remove(int fd, int wd);
/* Forgets everything (unit tests). */
void ckpt_inotify_table_reset(void);
/*
 * A path watch @wd of inotify @fd may have been added with, and the lookup
 * flags it was added with in *@flags; NULL when there is none left. Call
 * with *@cursor 0 first, then again while the path returned does not name
 * the watched inode: the slot of (@fd, @wd) comes first, then those of other
 * descriptors on the same open inotify (dups: kcmp). Reads without the
 * lock: called while every other thread is stopped (a slot being changed
 * is skipped).
 */
const char *ckpt_inotify_table_find(long pid, int fd, int wd, uint32_t *flags,
				    unsigned int *cursor);

/* ---- record data -------------------------------------------------------- */

/*
 * Checks the data of an INOTIFY entry on descriptor @fd with open flags
 * @open_flags, @len bytes at @data: the header, a count up to
 * CKPT_INOTIFY_WATCHES_MAX, strictly increasing positive wds whose gaps
 * need at most CKPT_INOTIFY_SKIP_MAX throwaway watches, known mask bits
 * with at least one event, absolute NUL-terminated paths filling the data
 * exactly. Pure; logs what is wrong naming @fd. Returns 0 or -EINVAL.
 */
int ckpt_inotify_data_check(int fd, uint32_t open_flags, const void *data, uint64_t len);
/* The header of checked data. */
void ckpt_inotify_hdr_get(const void *data, struct ckpt_inotify_hdr *out);
/* Watch @i of checked data (i < count), and its path in *@path. @off is the
 * offset of its path in the path area: 0 for the first watch, then the
 * previous one's plus its path_len. */
void ckpt_inotify_watch_get(const void *data, uint32_t i, size_t off,
			    struct ckpt_inotify_watch *out, const char **path);

/* ---- capture ------------------------------------------------------------ */

/*
 * At capture: reads the watches of inotify @fd from fdinfo and writes its
 * data at @dst (@room bytes). Each watch's path comes from the table and
 * must still name the watched inode (stat, lstat for IN_DONT_FOLLOW); a
 * watch whose path is unknown or names another file now, unread events
 * (FIONREAD), or gaps between wds needing more than CKPT_INOTIFY_SKIP_MAX
 * throwaway watches refuse the checkpoint: the message names @pid, @fd,
 * the wd and why, through @warn. Runs in the capture: raw syscalls, no
 * allocation. Returns the data length, -ENOSPC when @room is too small, or
 * -ENOTRECOVERABLE (said).
 */
ssize_t ckpt_inotify_capture(long pid, int fd, void *dst, size_t room,
			     void (*warn)(const char *msg));
/*
 * At capture, in a process tree: refuses inotify @fd when another process
 * of the namespace holds the same open inotify (inherited over fork): the
 * two would come back as two inotifys. Returns 0 or -ENOTRECOVERABLE
 * (said).
 */
int ckpt_inotify_capture_shared(long pid, int fd, void (*warn)(const char *msg));

/* ---- restore ------------------------------------------------------------ */

/*
 * At restore: makes a new inotify with the O_NONBLOCK of @open_flags,
 * close-on-exec (the files restore places it with the saved flag), and adds
 * the watches of checked @data so that each gets its saved wd: in
 * increasing order, with throwaway watches (on /dev/null, ...) added and
 * removed to skip the gaps, and the events those leave behind read away. A wd that cannot be
 * reproduced (the path is gone, or names a file already watched) fails the
 * restore, named. Returns the descriptor or -errno (said).
 */
int ckpt_inotify_restore(int fd, uint32_t open_flags, const void *data);

#endif
