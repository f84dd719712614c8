/* files_inotify.c - inotify descriptors in the files record: the watches
 * are read from /proc/thread-self/fdinfo at checkpoint, each with the path
 * it was added with (the kernel does not keep it: the inotify_add_watch()
 * wrapper of interpose.c records it in a table here), and added again at
 * restart so that each gets the watch descriptor the program knows
 * (docs/files-and-state.md, "inotify").
 *
 * The capture side runs while the other threads are stopped: raw syscalls
 * and the caller's buffer only, messages built by hand, the table read
 * without its lock. The restore side reads checked data only
 * (ckpt_inotify_data_check()).
 */
#define LOG_PREFIX "files: "

#include "files_inotify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "files_msg.h"
#include "log.h"
#include "proc_read.h"

_Static_assert(CKPT_INOTIFY_MASK_KNOWN ==
		       (IN_ALL_EVENTS | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_ONESHOT),
	       "inotify mask bits");
_Static_assert(CKPT_INOTIFY_LOOKUP_FLAGS == (IN_ONLYDIR | IN_DONT_FOLLOW), "lookup flags");

/* The /proc link of an inotify descriptor. */
#define INO_LINK "anon_inode:inotify"

/* Throwaway watches between two reads of the events they leave (one
 * IN_IGNORED each): well under the default queue of 16384 events. */
#define INO_DRAIN_EVERY 4096u

/* A message of the inotify saver, in its own buffer (files_msg.h): room
 * for a path and what is said about it. */
struct ino_msg {
	struct files_msg m;
	char s[PATH_MAX + 512];
};

static struct ino_msg *ino_init(struct ino_msg *m)
{
	msg_init(&m->m, m->s, sizeof(m->s));
	return m;
}

static void ino_str(struct ino_msg *m, const char *s)
{
	msg_str(&m->m, s);
}

static void ino_u64(struct ino_msg *m, uint64_t v)
{
	msg_u64(&m->m, v);
}

/* Starts "pid P: fd F: inotify " and, for @wd > 0, "watch wd W ". */
static struct ino_msg *ino_begin(struct ino_msg *m, long pid, int fd, int wd)
{
	ino_init(m);
	ino_str(m, "pid ");
	ino_u64(m, (uint64_t)pid);
	ino_str(m, ": fd ");
	ino_u64(m, (uint64_t)fd);
	ino_str(m, ": inotify ");
	if (wd > 0) {
		ino_str(m, "watch wd ");
		ino_u64(m, (uint64_t)wd);
		ino_str(m, " ");
	}
	return m;
}

static void ino_refuse(struct ino_msg *m, void (*warn)(const char *msg))
{
	ino_str(m, "; checkpoint refused");
	if (warn)
		warn(m->s);
}

/* ---- fdinfo ------------------------------------------------------------ */

/* Reads a number in base @base (10 or 16) at @p, blanks skipped first.
 * Returns the position after it, or NULL. */
static const char *ino_num(const char *p, const char *end, unsigned int base, uint64_t *v)
{
	const char *start;

	*v = 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	start = p;
	for (; p < end; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a' + 10);
		else
			break;
		if (*v > (UINT64_MAX - d) / base)
			return NULL;
		*v = *v * base + d;
	}
	return p == start ? NULL : p;
}

/* Expects @key right at @p (blanks skipped); returns what follows or NULL. */
static const char *ino_key(const char *p, const char *end, const char *key)
{
	size_t n = strlen(key);

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(end - p) < n || memcmp(p, key, n) != 0)
		return NULL;
	return p + n;
}

int ckpt_inotify_fdinfo_line(const char *line, size_t len, struct ckpt_inotify_mark *out)
{
	const char *end = line + len;
	const char *p;
	uint64_t v;

	if (len < 8 || memcmp(line, "inotify ", 8) != 0)
		return 0;
	memset(out, 0, sizeof(*out));
	/* "inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x" and the
	 * file handle, which is not used (opening by handle needs
	 * CAP_DAC_READ_SEARCH). */
	p = ino_key(line + 8, end, "wd:");
	p = p ? ino_num(p, end, 16, &v) : NULL;
	if (!p || v == 0 || v > INT32_MAX)
		return -EINVAL;
	out->wd = (int32_t)v;
	p = ino_key(p, end, "ino:");
	p = p ? ino_num(p, end, 16, &out->ino) : NULL;
	if (!p)
		return -EINVAL;
	p = ino_key(p, end, "sdev:");
	p = p ? ino_num(p, end, 16, &v) : NULL;
	if (!p || v > UINT32_MAX)
		return -EINVAL;
	out->sdev = (uint32_t)v;
	p = ino_key(p, end, "mask:");
	p = p ? ino_num(p, end, 16, &v) : NULL;
	if (!p || v > UINT32_MAX)
		return -EINVAL;
	out->mask = (uint32_t)v;
	p = ino_key(p, end, "ignored_mask:");
	p = p ? ino_num(p, end, 16, &v) : NULL;
	/* Never set for inotify; a kernel that sets it means something new. */
	if (!p || v != 0 || (p < end && *p != ' ' && *p != '\t'))
		return -EINVAL;
	return 1;
}

/* ---- the path table ---------------------------------------------------- */

/* States of a slot; read and written with __atomic builtins. */
enum {
	INO_FREE = 0, /* unused */
	INO_BUSY = 1, /* being changed by the writer holding the lock */
	INO_SET = 2,  /* holds a watch's path */
};

/* What one watch was added with. */
struct ino_slot {
	int state;	/* INO_* */
	int32_t fd;	/* the descriptor the watch was added through */
	int32_t wd;	/* the watch descriptor the kernel returned */
	uint32_t flags; /* the lookup flags it was added with */
	char *path;	/* absolute path, malloc'd */
};

static struct ino_slot ino_table[CKPT_INOTIFY_WATCHES_MAX];
/* Writers' lock (a spin lock: the capture never takes it, so a thread
 * stopped while holding it cannot block a checkpoint). */
static int ino_lock;

static void ino_table_lock(void)
{
	while (__atomic_exchange_n(&ino_lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void ino_table_unlock(void)
{
	__atomic_store_n(&ino_lock, 0, __ATOMIC_RELEASE);
}

/* In a child made by fork() only the forking thread lives on: a lock
 * another thread of the parent held would stay held for ever. The slot it
 * was changing stays busy (skipped, never reused): one slot lost. */
static void ino_atfork_child(void)
{
	__atomic_store_n(&ino_lock, 0, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void ino_init_atfork(void)
{
	/* Without the handler a fork racing an add could only hang the
	 * child's next add; nothing better to do than go on. */
	(void)pthread_atfork(NULL, NULL, ino_atfork_child);
}

static int ino_state(const struct ino_slot *s)
{
	return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

/* Frees slot @s (the lock held). */
static void ino_slot_clear(struct ino_slot *s)
{
	char *p = s->path;

	__atomic_store_n(&s->state, INO_BUSY, __ATOMIC_SEQ_CST);
	s->path = NULL;
	free(p);
	__atomic_store_n(&s->state, INO_FREE, __ATOMIC_RELEASE);
}

/* Whether descriptor @fd of this process is the same open file as @other. */
static bool ino_same_file(long pid, int fd, int other)
{
	return fd == other || syscall(SYS_kcmp, pid, pid, KCMP_FILE, fd, other) == 0;
}

/* State of a search for one wd in an fdinfo. */
struct ino_listed {
	int32_t wd; /* the wd looked for */
	bool found; /* it is listed */
};

static int ino_listed_line(void *arg, const char *l, size_t n)
{
	struct ino_listed *s = arg;
	struct ckpt_inotify_mark mk;

	if (ckpt_inotify_fdinfo_line(l, n, &mk) == 1 && mk.wd == s->wd)
		s->found = true;
	return 0;
}

/* Whether slot @s still describes a watch: its descriptor is an inotify
 * whose fdinfo lists its wd. */
static bool ino_slot_live(const struct ino_slot *s)
{
	char path[48] = "/proc/thread-self/fd/";
	char link[32];
	struct ino_msg m;
	struct ino_listed st = { .wd = s->wd };
	long n;

	ino_u64(ino_init(&m), (uint64_t)s->fd);
	memcpy(path + strlen(path), m.s, m.m.len + 1);
	n = syscall(SYS_readlinkat, AT_FDCWD, path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	if (strcmp(link, INO_LINK) != 0)
		return false;
	return eng_fdinfo_walk(s->fd, NULL, ino_listed_line, &st) == 0 && st.found;
}

/* The table is full: drops the slots of closed descriptors and of watches
 * the kernel removed (IN_ONESHOT, deleted files). The lock held. */
static void ino_table_compact(void)
{
	for (unsigned int i = 0; i < CKPT_INOTIFY_WATCHES_MAX; i++)
		if (ino_state(&ino_table[i]) == INO_SET && !ino_slot_live(&ino_table[i]))
			ino_slot_clear(&ino_table[i]);
}

/* A free slot, or NULL. The lock held. */
static struct ino_slot *ino_free_slot(void)
{
	for (unsigned int i = 0; i < CKPT_INOTIFY_WATCHES_MAX; i++)
		if (ino_state(&ino_table[i]) == INO_FREE)
			return &ino_table[i];
	return NULL;
}

/* @path made absolute against the current directory, malloc'd; NULL with
 * errno set. */
static char *ino_abs_path(const char *path)
{
	char cwd[PATH_MAX];
	size_t cl;
	size_t pl = strlen(path);
	char *out;

	if (path[0] == '/') {
		if (pl >= PATH_MAX) {
			errno = ENAMETOOLONG;
			return NULL;
		}
		return strdup(path);
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	cl = strlen(cwd);
	if (cl + 1 + pl >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	out = malloc(cl + 1 + pl + 1);
	if (!out)
		return NULL;
	memcpy(out, cwd, cl);
	out[cl] = '/';
	memcpy(out + cl + 1, path, pl + 1);
	return out;
}

int ckpt_inotify_table_add(int fd, int wd, const char *path, uint32_t mask)
{
	struct ino_slot *s = NULL;
	char *abs = ino_abs_path(path);
	int ret = 0;

	if (!abs)
		return errno == ENAMETOOLONG ? -ENAMETOOLONG : -ENOMEM;
	ino_table_lock();
	for (unsigned int i = 0; i < CKPT_INOTIFY_WATCHES_MAX && !s; i++)
		if (ino_state(&ino_table[i]) == INO_SET && ino_table[i].fd == fd &&
		    ino_table[i].wd == wd)
			s = &ino_table[i];
	if (s) {
		ino_slot_clear(s);
	} else {
		s = ino_free_slot();
		if (!s) {
			ino_table_compact();
			s = ino_free_slot();
		}
		if (!s) {
			ret = -ENOSPC;
			free(abs);
			goto out_unlock;
		}
	}
	__atomic_store_n(&s->state, INO_BUSY, __ATOMIC_SEQ_CST);
	s->fd = fd;
	s->wd = wd;
	s->flags = mask & CKPT_INOTIFY_LOOKUP_FLAGS;
	s->path = abs;
	__atomic_store_n(&s->state, INO_SET, __ATOMIC_RELEASE);
out_unlock:
	ino_table_unlock();
	return ret;
}

void ckpt_inotify_table_remove(int fd, int wd)
{
	long pid = syscall(SYS_getpid);

	ino_table_lock();
	for (unsigned int i = 0; i < CKPT_INOTIFY_WATCHES_MAX; i++) {
		struct ino_slot *s = &ino_table[i];

		if (ino_state(s) == INO_SET && s->wd == wd && ino_same_file(pid, fd, s->fd))
			ino_slot_clear(s);
	}
	ino_table_unlock();
}

void ckpt_inotify_table_reset(void)
{
	ino_table_lock();
	for (unsigned int i = 0; i < CKPT_INOTIFY_WATCHES_MAX; i++)
		if (ino_state(&ino_table[i]) == INO_SET)
			ino_slot_clear(&ino_table[i]);
	ino_table_unlock();
}

const char *ckpt_inotify_table_find(long pid, int fd, int wd, uint32_t *flags, unsigned int *cursor)
{
	/* Cursor 0: the exact slot; 1 + i: slot i onwards, dups only. */
	if (*cursor == 0) {
		*cursor = 1;
		for (unsigned int i = 0; i < CKPT_INOTIFY_WATCHES_MAX; i++) {
			const struct ino_slot *s = &ino_table[i];

			if (ino_state(s) == INO_SET && s->fd == fd && s->wd == wd) {
				*flags = s->flags;
				return s->path;
			}
		}
	}
	for (unsigned int i = *cursor - 1; i < CKPT_INOTIFY_WATCHES_MAX; i++) {
		const struct ino_slot *s = &ino_table[i];

		if (ino_state(s) != INO_SET || s->wd != wd || s->fd == fd ||
		    !ino_same_file(pid, fd, s->fd))
			continue;
		*cursor = i + 2;
		*flags = s->flags;
		return s->path;
	}
	*cursor = CKPT_INOTIFY_WATCHES_MAX + 1;
	return NULL;
}

/* ---- record data ------------------------------------------------------- */

void ckpt_inotify_hdr_get(const void *data, struct ckpt_inotify_hdr *out)
{
	memcpy(out, data, sizeof(*out));
}

void ckpt_inotify_watch_get(const void *data, uint32_t i, size_t off,
			    struct ckpt_inotify_watch *out, const char **path)
{
	struct ckpt_inotify_hdr h;
	const char *d = data;

	memcpy(&h, d, sizeof(h));
	memcpy(out, d + sizeof(h) + (size_t)i * sizeof(*out), sizeof(*out));
	*path = d + sizeof(h) + (size_t)h.count * sizeof(*out) + off;
}

int ckpt_inotify_data_check(int fd, uint32_t open_flags, const void *data, uint64_t len)
{
	struct ckpt_inotify_hdr h;
	uint64_t paths;
	uint64_t off = 0;
	int32_t prev = 0;

	if ((open_flags & ~(uint32_t)(O_NONBLOCK | O_LARGEFILE)) != O_RDONLY) {
		log_err("fd %d: inotify with open flags 0%o", fd, open_flags);
		return -EINVAL;
	}
	if (len < sizeof(h)) {
		log_err("fd %d: inotify data of %llu bytes is too short", fd,
			(unsigned long long)len);
		return -EINVAL;
	}
	memcpy(&h, data, sizeof(h));
	if (h.reserved) {
		log_err("fd %d: inotify data with reserved bits %#x", fd, h.reserved);
		return -EINVAL;
	}
	if (h.count > CKPT_INOTIFY_WATCHES_MAX ||
	    len < sizeof(h) + (uint64_t)h.count * sizeof(struct ckpt_inotify_watch)) {
		log_err("fd %d: inotify data of %llu bytes claims %u watches (at most %u)", fd,
			(unsigned long long)len, h.count, CKPT_INOTIFY_WATCHES_MAX);
		return -EINVAL;
	}
	paths = len - sizeof(h) - (uint64_t)h.count * sizeof(struct ckpt_inotify_watch);
	for (uint32_t i = 0; i < h.count; i++) {
		struct ckpt_inotify_watch w;
		const char *path;

		ckpt_inotify_watch_get(data, i, 0, &w, &path);
		if (w.wd <= prev) {
			log_err("fd %d: inotify watch %u has wd %d, not above %d", fd, i, w.wd,
				prev);
			return -EINVAL;
		}
		/* Watches 1..wd minus those before: the throwaways to add. */
		if ((uint64_t)w.wd - 1 - i > CKPT_INOTIFY_SKIP_MAX) {
			log_err("fd %d: inotify watch wd %d would need %llu throwaway watches "
				"(at most %u)",
				fd, w.wd, (unsigned long long)((uint64_t)w.wd - 1 - i),
				CKPT_INOTIFY_SKIP_MAX);
			return -EINVAL;
		}
		if ((w.mask & ~CKPT_INOTIFY_MASK_KNOWN) || !(w.mask & IN_ALL_EVENTS)) {
			log_err("fd %d: inotify watch wd %d has invalid mask %#x", fd, w.wd,
				w.mask);
			return -EINVAL;
		}
		if (w.path_len < 2 || w.path_len > PATH_MAX || w.path_len > paths - off) {
			log_err("fd %d: inotify watch wd %d has a path of %u bytes (%llu left)", fd,
				w.wd, w.path_len, (unsigned long long)(paths - off));
			return -EINVAL;
		}
		ckpt_inotify_watch_get(data, i, (size_t)off, &w, &path);
		if (path[0] != '/' || path[w.path_len - 1] != '\0' ||
		    memchr(path, '\0', w.path_len - 1)) {
			log_err("fd %d: inotify watch wd %d: path is not one absolute "
				"NUL-terminated string",
				fd, w.wd);
			return -EINVAL;
		}
		off += w.path_len;
		prev = w.wd;
	}
	if (off != paths) {
		log_err("fd %d: inotify data has %llu bytes after its last path", fd,
			(unsigned long long)(paths - off));
		return -EINVAL;
	}
	return 0;
}

/* ---- capture ----------------------------------------------------------- */

/* State of one ckpt_inotify_capture(). */
struct ino_cap {
	long pid;		       /* our pid, for kcmp() and messages */
	int fd;			       /* the inotify */
	char *dst;		       /* its data */
	size_t room;		       /* bytes at dst */
	uint32_t count;		       /* watches written */
	void (*warn)(const char *msg); /* the engine's warning sink */
};

/* One fdinfo line of the inotify being captured: an "inotify wd:" line
 * becomes a watch, inserted in increasing wd order (fdinfo lists them
 * newest first). */
static int ino_cap_line(void *arg, const char *l, size_t n)
{
	struct ino_cap *c = arg;
	struct ckpt_inotify_mark mk;
	struct ckpt_inotify_watch w;
	struct ino_msg m;
	char *items = c->dst + sizeof(struct ckpt_inotify_hdr);
	uint32_t i;
	int r = ckpt_inotify_fdinfo_line(l, n, &mk);

	if (r == 0)
		return 0;
	if (r < 0) {
		ino_str(ino_begin(&m, c->pid, c->fd, 0), "watches: unreadable fdinfo line");
		ino_refuse(&m, c->warn);
		return -ENOTRECOVERABLE;
	}
	if (c->count >= CKPT_INOTIFY_WATCHES_MAX) {
		ino_str(ino_begin(&m, c->pid, c->fd, 0), "has more than ");
		ino_u64(&m, CKPT_INOTIFY_WATCHES_MAX);
		ino_str(&m, " watches, more than an image may hold");
		ino_refuse(&m, c->warn);
		return -ENOTRECOVERABLE;
	}
	if (sizeof(struct ckpt_inotify_hdr) + (size_t)(c->count + 1) * sizeof(w) > c->room)
		return -ENOSPC;
	for (i = c->count; i > 0; i--) {
		memcpy(&w, items + (size_t)(i - 1) * sizeof(w), sizeof(w));
		if (w.wd < mk.wd)
			break;
		if (w.wd == mk.wd) {
			ino_str(ino_begin(&m, c->pid, c->fd, mk.wd), "is listed twice in fdinfo");
			ino_refuse(&m, c->warn);
			return -ENOTRECOVERABLE;
		}
		memcpy(items + (size_t)i * sizeof(w), &w, sizeof(w));
	}
	memset(&w, 0, sizeof(w));
	w.wd = mk.wd;
	w.mask = mk.mask & CKPT_INOTIFY_MASK_KNOWN;
	w.ino = mk.ino;
	w.sdev = mk.sdev;
	memcpy(items + (size_t)i * sizeof(w), &w, sizeof(w));
	c->count++;
	return 0;
}

/* Whether @path (lstat for IN_DONT_FOLLOW) names the inode of @w now;
 * *@err is the errno of a failed lookup, else 0. */
static bool ino_path_matches(const char *path, uint32_t flags, const struct ckpt_inotify_watch *w,
			     int *err)
{
	struct stat st;

	*err = 0;
	if (syscall(SYS_newfstatat, AT_FDCWD, path, &st,
		    (flags & IN_DONT_FOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) < 0) {
		*err = errno;
		return false;
	}
	return (uint64_t)st.st_ino == w->ino && major(st.st_dev) == w->sdev >> 20 &&
	       minor(st.st_dev) == (w->sdev & 0xfffff);
}

/* Finds the path of watch @w in the table and appends it to the path area
 * at *@off; refuses (said) when none names the watched inode. */
static int ino_cap_path(struct ino_cap *c, struct ckpt_inotify_watch *w, size_t paths_at,
			size_t *off)
{
	unsigned int cursor = 0;
	const char *first = NULL;
	int first_err = 0;
	uint32_t flags = 0;
	struct ino_msg m;
	const char *p;
	size_t n;

	while ((p = ckpt_inotify_table_find(c->pid, c->fd, w->wd, &flags, &cursor))) {
		int err;

		if (ino_path_matches(p, flags, w, &err))
			break;
		if (!first) {
			first = p;
			first_err = err;
		}
	}
	if (!p) {
		ino_begin(&m, c->pid, c->fd, w->wd);
		if (!first) {
			ino_str(&m, "(inode ");
			ino_u64(&m, w->ino);
			ino_str(&m, ") cannot be restored: its path is unknown (added before "
				    "libckpt was loaded, by a raw system call, or beyond the ");
			ino_u64(&m, CKPT_INOTIFY_WATCHES_MAX);
			ino_str(&m, " watches libckpt remembers); remove the watch or add it "
				    "through inotify_add_watch()");
		} else {
			ino_str(&m, "on ");
			ino_str(&m, first);
			ino_str(&m, " cannot be restored: ");
			ino_str(&m, first_err ? "that path is gone (renamed or deleted)"
					      : "that path names another file now (the watched "
						"one was renamed, or deleted and replaced)");
			ino_str(&m, ", so the watch could not be added again; remove the "
				    "watch, or add it again on the new path");
		}
		ino_refuse(&m, c->warn);
		return -ENOTRECOVERABLE;
	}
	n = strlen(p) + 1;
	if (paths_at + *off + n > c->room)
		return -ENOSPC;
	memcpy(c->dst + paths_at + *off, p, n);
	*off += n;
	w->path_len = (uint32_t)n;
	w->mask |= flags & CKPT_INOTIFY_LOOKUP_FLAGS;
	return 0;
}

ssize_t ckpt_inotify_capture(long pid, int fd, void *dst, size_t room,
			     void (*warn)(const char *msg))
{
	struct ino_cap c = { .pid = pid, .fd = fd, .dst = dst, .room = room, .warn = warn };
	struct ckpt_inotify_hdr h = { 0 };
	struct ino_msg m;
	size_t paths_at;
	size_t off = 0;
	int unread = 0;
	int ret;

	if (room < sizeof(h))
		return -ENOSPC;
	if (syscall(SYS_ioctl, fd, FIONREAD, &unread) == 0 && unread > 0) {
		ino_str(ino_begin(&m, pid, fd, 0), "has ");
		ino_u64(&m, (uint64_t)unread);
		ino_str(&m, " bytes of events not read yet, which cannot be saved without "
			    "taking them from the program (they would be lost at a restart)");
		ino_refuse(&m, warn);
		return -ENOTRECOVERABLE;
	}
	ret = eng_fdinfo_walk(fd, NULL, ino_cap_line, &c);
	if (ret == -ENOSPC || ret == -ENOTRECOVERABLE)
		return ret;
	if (ret < 0) {
		ino_str(ino_begin(&m, pid, fd, 0), "watches cannot be read from fdinfo");
		ino_refuse(&m, warn);
		return -ENOTRECOVERABLE;
	}
	paths_at = sizeof(h) + (size_t)c.count * sizeof(struct ckpt_inotify_watch);
	for (uint32_t i = 0; i < c.count; i++) {
		struct ckpt_inotify_watch w;
		char *at = c.dst + sizeof(h) + (size_t)i * sizeof(w);

		memcpy(&w, at, sizeof(w));
		if ((uint64_t)w.wd - 1 - i > CKPT_INOTIFY_SKIP_MAX) {
			ino_str(ino_begin(&m, pid, fd, w.wd), "cannot be restored with that wd: ");
			ino_u64(&m, (uint64_t)w.wd - 1 - i);
			ino_str(&m, " throwaway watches would be needed to reach it (at most ");
			ino_u64(&m, CKPT_INOTIFY_SKIP_MAX);
			ino_str(&m, ")");
			ino_refuse(&m, warn);
			return -ENOTRECOVERABLE;
		}
		ret = ino_cap_path(&c, &w, paths_at, &off);
		if (ret < 0)
			return ret;
		memcpy(at, &w, sizeof(w));
	}
	h.count = c.count;
	memcpy(dst, &h, sizeof(h));
	return (ssize_t)(paths_at + off);
}

/* Looks through the descriptors of process @other for inotify @fd of
 * process @pid. Returns the descriptor number holding it, -1 if none, or
 * -2 when kcmp() cannot tell. */
static long ino_shared_in(long pid, int fd, long other)
{
	uint64_t dbuf[128];
	struct eng_dir dir;
	const char *name;
	struct ino_msg m;
	long found = -1;
	int dfd;

	ino_str(ino_init(&m), "/proc/");
	ino_u64(&m, (uint64_t)other);
	ino_str(&m, "/fd");
	dfd = (int)syscall(SYS_openat, AT_FDCWD, m.s, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return -1; /* gone, or not ours to read */
	eng_dir_start(&dir, dfd, dbuf, sizeof(dbuf));
	while (found == -1 && (name = eng_dir_next(&dir))) {
		char link[32];
		long ofd;
		long n;
		long r;

		if (!eng_proc_num(name, &ofd))
			continue;
		n = syscall(SYS_readlinkat, dfd, name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, INO_LINK) != 0)
			continue;
		r = syscall(SYS_kcmp, pid, other, KCMP_FILE, fd, ofd);
		if (r == 0)
			found = ofd;
		else if (r < 0)
			found = -2;
	}
	syscall(SYS_close, dfd);
	return found;
}

int ckpt_inotify_capture_shared(long pid, int fd, void (*warn)(const char *msg))
{
	uint64_t dbuf[256];
	struct eng_dir dir;
	const char *name;
	struct ino_msg m;
	int ret = 0;
	int dfd =
		(int)syscall(SYS_openat, AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

	if (dfd < 0)
		return 0;
	eng_dir_start(&dir, dfd, dbuf, sizeof(dbuf));
	while (!ret && (name = eng_dir_next(&dir))) {
		long other;
		long ofd;

		/* pid 1 is 'ckpt run''s init, re-created without
		 * descriptors of the program. */
		if (!eng_proc_num(name, &other) || other <= 1 || other == pid)
			continue;
		ofd = ino_shared_in(pid, fd, other);
		if (ofd == -1)
			continue;
		ino_begin(&m, pid, fd, 0);
		ino_str(&m, ofd >= 0 ? "is shared with pid " : "may be shared with pid ");
		ino_u64(&m, (uint64_t)other);
		if (ofd >= 0) {
			ino_str(&m, " (its fd ");
			ino_u64(&m, (uint64_t)ofd);
			ino_str(&m, ", inherited over fork)");
		} else {
			ino_str(&m, " (kcmp failed)");
		}
		ino_str(&m, ", which cannot be restored shared; let one process close "
			    "it, or create it after fork()");
		ino_refuse(&m, warn);
		ret = -ENOTRECOVERABLE;
	}
	syscall(SYS_close, dfd);
	return ret;
}

/* ---- restore ----------------------------------------------------------- */

/* Reads away the events the throwaway watches left (IN_IGNORED). An event
 * of a real watch read here happened during the restore, while the program
 * was not running: lost like those of the time it was down. */
static void ino_drain(int t)
{
	char buf[4096];

	for (unsigned int i = 0; i < (1u << 20); i++) {
		long n = syscall(SYS_read, t, buf, sizeof(buf));

		if (n <= 0 && !(n < 0 && errno == EINTR))
			return;
	}
}

/* Adds a throwaway watch to @t and returns its wd, or -1 with errno set.
 * On a device node first: adding or removing a watch on a directory makes
 * the kernel walk its cached children (measured: 0.8 ms per add and remove
 * on a busy /tmp, 6 us on /dev/null). A spare the program watches too
 * (EEXIST: already added again) is passed over; the last resort is @path,
 * the next watch's own path, not watched yet. */
static long ino_throwaway(int t, const char *path, uint32_t lookup)
{
	static const char *const spares[] = { "/dev/null", "/dev/zero", "/dev/full" };

	for (size_t i = 0; i < sizeof(spares) / sizeof(spares[0]); i++) {
		long r = syscall(SYS_inotify_add_watch, t, spares[i], IN_ATTRIB | IN_MASK_CREATE);

		if (r >= 0)
			return r;
	}
	return syscall(SYS_inotify_add_watch, t, path, lookup | IN_ATTRIB | IN_MASK_CREATE);
}

/* Adds watch @w on @path to @t, first skipping the wds below it with
 * throwaway watches. *@next is the wd the kernel hands out next; *@skips
 * counts the throwaways since the last drain. */
static int ino_add_at(int t, int fd, const struct ckpt_inotify_watch *w, const char *path,
		      int32_t *next, unsigned int *skips)
{
	uint32_t lookup = w->mask & CKPT_INOTIFY_LOOKUP_FLAGS;
	long r;

	while (*next < w->wd) {
		r = ino_throwaway(t, path, lookup);
		if (r < 0)
			goto out_fail;
		if (r >= w->wd) {
			log_err("fd %d: inotify watch wd %d on %s: a throwaway watch got wd %ld "
				"(the kernel no longer hands wds out in increasing order?); "
				"cannot restart",
				fd, w->wd, path, r);
			return -EPROTO;
		}
		syscall(SYS_inotify_rm_watch, t, (int)r);
		*next = (int32_t)r + 1;
		if (++*skips % INO_DRAIN_EVERY == 0)
			ino_drain(t);
	}
	r = syscall(SYS_inotify_add_watch, t, path, w->mask | IN_MASK_CREATE);
	if (r < 0)
		goto out_fail;
	if (r != w->wd) {
		log_err("fd %d: inotify watch on %s came back as wd %ld instead of wd %d; cannot "
			"restart",
			fd, path, r, w->wd);
		return -EPROTO;
	}
	*next = (int32_t)r + 1;
	return 0;
out_fail:
	if (errno == EEXIST) {
		log_err("fd %d: inotify watch wd %d on %s cannot be added again: the file it "
			"names now is already watched by wd %d or below; cannot restart",
			fd, w->wd, path, w->wd);
		return -EEXIST;
	}
	r = -errno;
	log_perror("fd %d: inotify watch wd %d on %s cannot be added again (mask %#x); "
		   "cannot restart, put the path back first",
		   fd, w->wd, path, w->mask);
	return (int)r;
}

int ckpt_inotify_restore(int fd, uint32_t open_flags, const void *data)
{
	struct ckpt_inotify_hdr h;
	int32_t next = 1;
	unsigned int skips = 0;
	size_t off = 0;
	long t;
	int ret = 0;

	ckpt_inotify_hdr_get(data, &h);
	t = syscall(SYS_inotify_init1, IN_CLOEXEC | IN_NONBLOCK);
	if (t < 0) {
		ret = -errno;
		log_perror("fd %d: cannot make a new inotify", fd);
		return ret;
	}
	for (uint32_t i = 0; i < h.count; i++) {
		struct ckpt_inotify_watch w;
		struct stat st;
		const char *path;

		ckpt_inotify_watch_get(data, i, off, &w, &path);
		off += w.path_len;
		ret = ino_add_at((int)t, fd, &w, path, &next, &skips);
		if (ret < 0)
			goto out_close;
		if (syscall(SYS_newfstatat, AT_FDCWD, path, &st,
			    (w.mask & IN_DONT_FOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) == 0 &&
		    (uint64_t)st.st_ino != w.ino)
			log_warn("fd %d: inotify watch wd %d: %s is another file than at "
				 "checkpoint time (inode %llu, was %llu); watching it",
				 fd, w.wd, path, (unsigned long long)st.st_ino,
				 (unsigned long long)w.ino);
	}
	if (skips)
		ino_drain((int)t);
	if (!(open_flags & O_NONBLOCK) && syscall(SYS_fcntl, (int)t, F_SETFL, 0L) < 0) {
		ret = -errno;
		log_perror("fd %d: cannot make the new inotify blocking", fd);
		goto out_close;
	}
	if (skips)
		log_debug("fd %d: inotify: %u watches added again, %u throwaway watches to "
			  "reach their wds",
			  fd, h.count, skips);
	return (int)t;
out_close:
	syscall(SYS_close, (int)t);
	return ret;
}
