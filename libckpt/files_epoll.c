/* files_epoll.c - epoll descriptors in the files record: the interest list
 * is read from /proc/thread-self/fdinfo at checkpoint, checked against the
 * process's descriptors, and added again at restart once every other
 * descriptor is back (docs/files-and-state.md, "epoll").
 *
 * The capture side runs while the other threads are stopped: raw syscalls
 * and the caller's buffer only, messages built by hand. The restore side
 * reads checked data only (ckpt_epoll_data_check()).
 */
#define LOG_PREFIX "files: "

#include "files_epoll.h"
#include "files_msg.h"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc_read.h"

/* Every readiness bit an entry can wait for (not the flags, not ERR/HUP,
 * which the kernel always adds). */
#define EP_READY_BITS                                                                            \
	(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND | \
	 EPOLLMSG | EPOLLRDHUP)
/* What an EPOLLEXCLUSIVE entry may carry (the kernel refuses the rest). */
#define EP_EXCLUSIVE_OK \
	(EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE)

/* A message of the epoll saver, in its own buffer (files_msg.h). */
struct ep_msg {
	struct files_msg m;
	char s[640];
};

static struct ep_msg *ep_init(struct ep_msg *m)
{
	msg_init(&m->m, m->s, sizeof(m->s));
	return m;
}

static void ep_str(struct ep_msg *m, const char *s)
{
	msg_str(&m->m, s);
}

static void ep_u64(struct ep_msg *m, uint64_t v)
{
	msg_u64(&m->m, v);
}

/* Starts "pid P: fd E: epoll entry for fd T " and returns @m. */
static struct ep_msg *ep_begin(struct ep_msg *m, long pid, int epfd, int tfd)
{
	ep_init(m);
	ep_str(m, "pid ");
	ep_u64(m, (uint64_t)pid);
	ep_str(m, ": fd ");
	ep_u64(m, (uint64_t)epfd);
	ep_str(m, ": epoll ");
	if (tfd >= 0) {
		ep_str(m, "entry for fd ");
		ep_u64(m, (uint64_t)tfd);
		ep_str(m, " ");
	}
	return m;
}

/* Ends the message with the refusal and what the user can do (@advice). */
static void ep_refuse(struct ep_msg *m, void (*warn)(const char *msg), const char *advice)
{
	ep_str(m, "; checkpoint refused: ");
	ep_str(m, advice);
	if (warn)
		warn(m->s);
}

#define EP_ADVICE_DEL "remove an entry with EPOLL_CTL_DEL before closing its descriptor"

/* ---- fdinfo ------------------------------------------------------------ */

/* Skips blanks, then reads a number in base @base (10 or 16) with an
 * optional '-' (base 10 only). Returns the position after it, or NULL. */
static const char *ep_num(const char *p, const char *end, unsigned int base, bool neg_ok,
			  uint64_t *v, bool *neg)
{
	const char *start;

	*v = 0;
	*neg = false;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (neg_ok && p < end && *p == '-') {
		*neg = true;
		p++;
	}
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

/* Finds key @key (e.g. "events:") at or after @p; NULL if absent. */
static const char *ep_key(const char *p, const char *end, const char *key)
{
	size_t n = strlen(key);

	for (; p + n <= end; p++)
		if (memcmp(p, key, n) == 0)
			return p + n;
	return NULL;
}

int ckpt_epoll_fdinfo_line(const char *line, size_t len, struct ckpt_epoll_tfd *out)
{
	const char *end = line + len;
	const char *p;
	uint64_t v;
	bool neg;

	if (len < 4 || memcmp(line, "tfd:", 4) != 0)
		return 0;
	memset(out, 0, sizeof(*out));
	/* "tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x" */
	p = ep_num(line + 4, end, 10, false, &v, &neg);
	if (!p || v > INT32_MAX)
		return -EINVAL;
	out->tfd = (int32_t)v;
	p = ep_key(p, end, "events:");
	p = p ? ep_num(p, end, 16, false, &v, &neg) : NULL;
	if (!p || v > UINT32_MAX)
		return -EINVAL;
	out->events = (uint32_t)v;
	p = ep_key(p, end, "data:");
	p = p ? ep_num(p, end, 16, false, &out->data, &neg) : NULL;
	if (!p)
		return -EINVAL;
	p = ep_key(p, end, "pos:");
	p = p ? ep_num(p, end, 10, true, &v, &neg) : NULL;
	if (!p)
		return -EINVAL;
	p = ep_key(p, end, "ino:");
	p = p ? ep_num(p, end, 16, false, &out->ino, &neg) : NULL;
	if (!p)
		return -EINVAL;
	p = ep_key(p, end, "sdev:");
	p = p ? ep_num(p, end, 16, false, &v, &neg) : NULL;
	if (!p || v > UINT32_MAX)
		return -EINVAL;
	out->sdev = (uint32_t)v;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p == end ? 1 : -EINVAL;
}

int ckpt_epoll_fdinfo_parse(const char *text, size_t len, struct ckpt_epoll_tfd *out, size_t max)
{
	size_t n = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - text - pos) : len - pos;
		struct ckpt_epoll_tfd t;
		int r = ckpt_epoll_fdinfo_line(text + pos, l, &t);

		if (r < 0)
			return r;
		if (r == 1) {
			if (n >= max)
				return -E2BIG;
			out[n++] = t;
		}
		pos += l + 1;
	}
	return (int)n;
}

/* ---- record data ------------------------------------------------------- */

void ckpt_epoll_hdr_get(const void *data, struct ckpt_epoll_hdr *out)
{
	memcpy(out, data, sizeof(*out));
}

void ckpt_epoll_depth_set(void *data, uint32_t depth)
{
	struct ckpt_epoll_hdr h;

	memcpy(&h, data, sizeof(h));
	h.depth = depth;
	memcpy(data, &h, sizeof(h));
}

void ckpt_epoll_item_get(const void *data, uint32_t i, struct ckpt_epoll_item *out)
{
	memcpy(out,
	       (const char *)data + sizeof(struct ckpt_epoll_hdr) +
		       (size_t)i * sizeof(struct ckpt_epoll_item),
	       sizeof(*out));
}

int ckpt_epoll_data_check(int epfd, const void *data, uint64_t len)
{
	struct ckpt_epoll_hdr h;
	int32_t prev = -1;

	if (len < sizeof(h)) {
		log_err("fd %d: epoll data of %llu bytes is too short", epfd,
			(unsigned long long)len);
		return -EINVAL;
	}
	memcpy(&h, data, sizeof(h));
	if (h.count > CKPT_EPOLL_ITEMS_MAX ||
	    len != sizeof(h) + (uint64_t)h.count * sizeof(struct ckpt_epoll_item) ||
	    h.depth > CKPT_EPOLL_NEST_MAX) {
		log_err("fd %d: epoll data of %llu bytes claims %u entries at depth %u "
			"(at most %u entries, depth %d)",
			epfd, (unsigned long long)len, h.count, h.depth, CKPT_EPOLL_ITEMS_MAX,
			CKPT_EPOLL_NEST_MAX);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < h.count; i++) {
		struct ckpt_epoll_item it;

		ckpt_epoll_item_get(data, i, &it);
		if (it.tfd <= prev || it.tfd == epfd) {
			log_err("fd %d: epoll entry %u watches fd %d: not above fd %d, or the "
				"epoll itself",
				epfd, i, it.tfd, prev);
			return -EINVAL;
		}
		if ((it.events & ~CKPT_EPOLL_EVENTS_KNOWN) ||
		    ((it.events & EPOLLEXCLUSIVE) && (it.events & ~(uint32_t)EP_EXCLUSIVE_OK))) {
			log_err("fd %d: epoll entry for fd %d has invalid events %#x", epfd, it.tfd,
				it.events);
			return -EINVAL;
		}
		prev = it.tfd;
	}
	return 0;
}

/* ---- capture ----------------------------------------------------------- */

/* State of one ckpt_epoll_capture(). */
struct ep_cap {
	long pid;		       /* our pid, for kcmp() and messages */
	int epfd;		       /* the epoll */
	char *dst;		       /* its data */
	size_t room;		       /* bytes at dst */
	uint32_t count;		       /* items written */
	int scratch[2];		       /* the capture's own descriptors (its /proc
					* walk, the fdinfo being read): a number the
					* program closed may be one of them now */
	void (*warn)(const char *msg); /* the engine's warning sink */
};

/* Whether descriptor @fd is an anonymous inode (eventfd, epoll, timerfd,
 * ...), all of which share one inode number. */
static bool ep_anon_inode(int fd)
{
	char path[48] = "/proc/thread-self/fd/";
	char link[16];
	struct ep_msg m;
	long n;

	ep_u64(ep_init(&m), (uint64_t)fd);
	memcpy(path + strlen(path), m.s, m.m.len + 1);
	n = syscall(SYS_readlinkat, AT_FDCWD, path, link, sizeof(link));
	return n >= 11 && memcmp(link, "anon_inode:", 11) == 0;
}

/* Why target @t of the epoll is no longer the process's descriptor
 * t->tfd, or NULL when it still is. */
static const char *ep_target_stale(const struct ep_cap *c, const struct ckpt_epoll_tfd *t)
{
	struct kcmp_epoll_slot slot = { .efd = (uint32_t)c->epfd, .tfd = (uint32_t)t->tfd };
	struct stat st;
	long r;

	if (t->tfd == c->scratch[0] || t->tfd == c->scratch[1] || ckpt_files_fd_excluded(t->tfd) ||
	    syscall(SYS_fstat, t->tfd, &st) < 0)
		return "was closed since it was added (the epoll keeps the file alive, "
		       "but the program can no longer name it)";
	if ((uint64_t)st.st_ino != t->ino || major(st.st_dev) != t->sdev >> 20 ||
	    minor(st.st_dev) != (t->sdev & 0xfffff))
		return "was closed and the number reused for another file since it was added";
	/* Anonymous inodes (eventfd, epoll, ...) share one inode: kcmp tells
	 * the files apart, where the kernel has it. */
	r = syscall(SYS_kcmp, c->pid, c->pid, KCMP_EPOLL_TFD, t->tfd, &slot);
	if (r > 0)
		return "was closed and the number reused for another file since it was added";
	/* Without kcmp (seccomp, old kernels) an anonymous inode could be
	 * another file of its kind: refuse rather than watch the wrong one. */
	if (r < 0 && ep_anon_inode(t->tfd))
		return "cannot be told from another file of its kind (kcmp() failed)";
	return NULL;
}

/* One fdinfo line of the epoll being captured: a "tfd:" line becomes an
 * item, inserted in increasing target order. */
static int ep_cap_line(void *arg, const char *l, size_t n)
{
	struct ep_cap *c = arg;
	struct ckpt_epoll_tfd t;
	struct ckpt_epoll_item it;
	struct ep_msg m;
	const char *why;
	char *items = c->dst + sizeof(struct ckpt_epoll_hdr);
	uint32_t i;
	int r = ckpt_epoll_fdinfo_line(l, n, &t);

	if (r == 0)
		return 0;
	if (r < 0) {
		ep_str(ep_begin(&m, c->pid, c->epfd, -1), "interest list: unreadable fdinfo line");
		ep_refuse(&m, c->warn, "try again; if it persists, report the kernel version");
		return -ENOTRECOVERABLE;
	}
	if (c->count >= CKPT_EPOLL_ITEMS_MAX) {
		ep_str(ep_begin(&m, c->pid, c->epfd, -1), "watches more than ");
		ep_u64(&m, CKPT_EPOLL_ITEMS_MAX);
		ep_str(&m, " descriptors, more than an image may hold");
		ep_refuse(&m, c->warn, "watch fewer descriptors from one epoll");
		return -ENOTRECOVERABLE;
	}
	why = ep_target_stale(c, &t);
	if (why) {
		ep_str(ep_begin(&m, c->pid, c->epfd, t.tfd), "cannot be restored: fd ");
		ep_u64(&m, (uint64_t)t.tfd);
		ep_str(&m, " ");
		ep_str(&m, why);
		ep_refuse(&m, c->warn, EP_ADVICE_DEL);
		return -ENOTRECOVERABLE;
	}
	if (sizeof(struct ckpt_epoll_hdr) + (size_t)(c->count + 1) * sizeof(it) > c->room)
		return -ENOSPC;
	/* Insertion in target order; fdinfo lists them by file address. */
	for (i = c->count; i > 0; i--) {
		memcpy(&it, items + (size_t)(i - 1) * sizeof(it), sizeof(it));
		if (it.tfd < t.tfd)
			break;
		if (it.tfd == t.tfd) {
			/* Two files under one number: one was replaced. */
			ep_str(ep_begin(&m, c->pid, c->epfd, t.tfd),
			       "cannot be restored: the epoll watches two files under that "
			       "number (one was closed and the number reused)");
			ep_refuse(&m, c->warn, EP_ADVICE_DEL);
			return -ENOTRECOVERABLE;
		}
		memcpy(items + (size_t)i * sizeof(it), &it, sizeof(it));
	}
	it.tfd = t.tfd;
	/* epoll_ctl accepts and keeps bits it never reports (EPOLLNVAL,
	 * unused ones); the restore, which refuses unknown bits in an image,
	 * need not carry them. */
	it.events = t.events & CKPT_EPOLL_EVENTS_KNOWN;
	it.data = t.data;
	memcpy(items + (size_t)i * sizeof(it), &it, sizeof(it));
	c->count++;
	return 0;
}

ssize_t ckpt_epoll_capture(long pid, int epfd, int scratch_fd, void *dst, size_t room,
			   void (*warn)(const char *msg))
{
	struct ep_cap c = { .pid = pid,
			    .epfd = epfd,
			    .dst = dst,
			    .room = room,
			    .scratch = { scratch_fd, -1 },
			    .warn = warn };
	struct ckpt_epoll_hdr h = { 0 };
	struct ep_msg m;
	int ret;

	if (room < sizeof(h))
		return -ENOSPC;
	ret = eng_fdinfo_walk(epfd, &c.scratch[1], ep_cap_line, &c);
	if (ret == -ENOSPC || ret == -ENOTRECOVERABLE)
		return ret;
	if (ret < 0) {
		ep_str(ep_begin(&m, pid, epfd, -1), "interest list cannot be read from fdinfo");
		ep_refuse(&m, warn, "try again; if it persists, report the kernel version");
		return -ENOTRECOVERABLE;
	}
	h.count = c.count;
	memcpy(dst, &h, sizeof(h));
	return (ssize_t)(sizeof(h) + (size_t)c.count * sizeof(struct ckpt_epoll_item));
}

int ckpt_epoll_capture_targets(long pid, int epfd, const void *data, ckpt_epoll_why_fn *why,
			       void *ctx, void (*warn)(const char *msg))
{
	struct ckpt_epoll_hdr h;
	struct ep_msg m;

	ckpt_epoll_hdr_get(data, &h);
	for (uint32_t i = 0; i < h.count; i++) {
		struct ckpt_epoll_item it;
		const char *w;

		ckpt_epoll_item_get(data, i, &it);
		w = why(ctx, it.tfd);
		if (!w)
			continue;
		ep_str(ep_begin(&m, pid, epfd, it.tfd), "cannot be restored: fd ");
		ep_u64(&m, (uint64_t)it.tfd);
		ep_str(&m, " itself will not be restored (");
		ep_str(&m, w);
		ep_str(&m, ")");
		ep_refuse(&m, warn, "stop watching it, or close it, before the checkpoint");
		return -ENOTRECOVERABLE;
	}
	return 0;
}

/* Looks through the descriptors of process @other for the epoll @epfd of
 * process @pid. Returns the descriptor number holding it, -1 if none, or
 * -2 when kcmp() cannot tell (*@err set). */
static long ep_shared_in(long pid, int epfd, long other, int *err)
{
	uint64_t dbuf[128];
	struct eng_dir dir;
	const char *name;
	struct ep_msg m;
	long found = -1;
	int dfd;

	ep_str(ep_init(&m), "/proc/");
	ep_u64(&m, (uint64_t)other);
	ep_str(&m, "/fd");
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
		if (strcmp(link, "anon_inode:[eventpoll]") != 0)
			continue;
		r = syscall(SYS_kcmp, pid, other, KCMP_FILE, epfd, ofd);
		if (r == 0) {
			found = ofd;
		} else if (r < 0) {
			*err = errno;
			found = -2;
		}
	}
	syscall(SYS_close, dfd);
	return found;
}

int ckpt_epoll_capture_shared(long pid, int epfd, void (*warn)(const char *msg))
{
	uint64_t dbuf[256];
	struct eng_dir dir;
	const char *name;
	struct ep_msg m;
	int ret = 0;
	int dfd =
		(int)syscall(SYS_openat, AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

	if (dfd < 0)
		return 0;
	eng_dir_start(&dir, dfd, dbuf, sizeof(dbuf));
	while (!ret && (name = eng_dir_next(&dir))) {
		long other;
		long ofd;
		int err = 0;

		/* pid 1 is the tree's init, re-created without descriptors. */
		if (!eng_proc_num(name, &other) || other <= 1 || other == pid)
			continue;
		ofd = ep_shared_in(pid, epfd, other, &err);
		if (ofd == -1)
			continue;
		ep_begin(&m, pid, epfd, -1);
		if (ofd >= 0) {
			ep_str(&m, "is shared with pid ");
			ep_u64(&m, (uint64_t)other);
			ep_str(&m, " (its fd ");
			ep_u64(&m, (uint64_t)ofd);
			ep_str(&m, ", inherited over fork): it would come back as two "
				   "epolls");
		} else {
			ep_str(&m, "may be shared with pid ");
			ep_u64(&m, (uint64_t)other);
			ep_str(&m, ": kcmp() cannot tell (errno ");
			ep_u64(&m, (uint64_t)err);
			ep_str(&m, ")");
		}
		ep_refuse(&m, warn, "create the epoll after fork(), or close the child's copy");
		ret = -ENOTRECOVERABLE;
	}
	syscall(SYS_close, dfd);
	return ret;
}

/* ---- restore ----------------------------------------------------------- */

int ckpt_epoll_create(int epfd, uint32_t open_flags)
{
	int fd = (int)syscall(SYS_epoll_create1, EPOLL_CLOEXEC);

	if (fd < 0) {
		log_perror("fd %d: cannot create an epoll", epfd);
		return -errno;
	}
	/* O_NONBLOCK is the only status flag an epoll description keeps. */
	if ((open_flags & O_NONBLOCK) && syscall(SYS_fcntl, fd, F_SETFL, O_NONBLOCK) < 0) {
		log_perror("fd %d: cannot set O_NONBLOCK on the epoll", epfd);
		syscall(SYS_close, fd);
		return -errno;
	}
	return fd;
}

/* An EPOLLONESHOT entry that fired: only its flags are left. */
static bool ep_fired(uint32_t events)
{
	return (events & EPOLLONESHOT) && !(events & ~(uint32_t)CKPT_EPOLL_FLAGS);
}

/* Adds target @it to @epfd with @events. A target closed now, or a
 * standard descriptor (the launcher's now) the kernel will not watch, is
 * left out with a warning; anything else that fails is an error. */
static int ep_add(int epfd, const struct ckpt_epoll_item *it, uint32_t events,
		  const struct ckpt_epoll_targets *tg, void *ctx, bool *added)
{
	struct epoll_event ev = { .events = events, .data.u64 = it->data };

	*added = false;
	if (syscall(SYS_fcntl, it->tfd, F_GETFD) < 0) {
		log_warn("fd %d: epoll entry for fd %d left out: fd %d was left closed by the "
			 "restore",
			 epfd, it->tfd, it->tfd);
		return 0;
	}
	if (syscall(SYS_epoll_ctl, epfd, EPOLL_CTL_ADD, it->tfd, &ev) == 0) {
		*added = true;
		return 0;
	}
	if (tg->stdio_fd && tg->stdio_fd(ctx, it->tfd)) {
		log_warn("fd %d: epoll entry for fd %d (the launcher's now) left out: %s", epfd,
			 it->tfd, strerror(errno));
		return 0;
	}
	log_perror("fd %d: cannot add fd %d to the epoll (events %#x)", epfd, it->tfd, events);
	return -errno;
}

/* Reports every ready entry of @epfd (only fired one-shots are in it yet),
 * which disarms them. Each report disarms one: @count + 1 rounds bound it. */
static int ep_fire(int epfd, uint32_t count)
{
	for (uint32_t round = 0; round <= count; round++) {
		struct epoll_event evs[16];
		long n = syscall(SYS_epoll_pwait, epfd, evs, 16, 0, NULL, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_perror("fd %d: cannot disarm its fired one-shot entries", epfd);
			return -errno;
		}
		if (n == 0)
			break;
	}
	return 0;
}

/* Makes the empty read end @tfd of a pipe this process alone holds
 * readable for a moment: one byte through a write end of its own (opened
 * through /proc; the pipe has a reader, so it does not block). Returns that
 * write end, or -1. ep_unprime() takes the byte back. */
static int ep_prime(int tfd)
{
	char path[48] = "/proc/thread-self/fd/";
	struct ep_msg m;
	int w;

	ep_u64(ep_init(&m), (uint64_t)tfd);
	memcpy(path + strlen(path), m.s, m.m.len + 1);
	w = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0);
	if (w < 0)
		return -1;
	if (syscall(SYS_write, w, "", 1) != 1) {
		syscall(SYS_close, w);
		return -1;
	}
	return w;
}

static void ep_unprime(int tfd, int w)
{
	char c;

	/* The pipe was empty: the one byte in it is ours. */
	while (syscall(SYS_read, tfd, &c, 1) < 0 && errno == EINTR)
		;
	syscall(SYS_close, w);
}

/* A fired one-shot entry must stay disarmed, but epoll_ctl() always arms an
 * entry for EPOLLERR and EPOLLHUP at least. So one whose target is ready
 * now is added armed for everything and made to fire once more here, which
 * disarms it as the kernel does; so is one on the empty read end of a pipe
 * the process alone holds, made readable by one byte for the moment. Any
 * other is added with its flags only, armed for errors and hang-ups alone.
 * Done before the other entries are added, so the wait reports these only. */
static int ep_fill_fired(int epfd, const void *data, uint32_t count,
			 const struct ckpt_epoll_targets *tg, void *ctx)
{
	for (uint32_t i = 0; i < count; i++) {
		struct ckpt_epoll_item it;
		struct pollfd pf;
		struct timespec zero = { 0, 0 };
		uint32_t ev;
		int w = -1;
		bool ready;
		bool added;
		int ret;

		ckpt_epoll_item_get(data, i, &it);
		if (!ep_fired(it.events))
			continue;
		pf.fd = it.tfd;
		pf.events = (short)EP_READY_BITS;
		pf.revents = 0;
		ready = syscall(SYS_ppoll, &pf, 1, &zero, NULL, 0) == 1 &&
			(pf.revents & (EP_READY_BITS | POLLERR | POLLHUP));
		if (!ready && tg->own_pipe_reader && tg->own_pipe_reader(ctx, it.tfd)) {
			w = ep_prime(it.tfd);
			ready = w >= 0;
		}
		ev = ready ? it.events | EP_READY_BITS : it.events;
		ret = ep_add(epfd, &it, ev, tg, ctx, &added);
		if (ret == 0 && added && ev != it.events)
			ret = ep_fire(epfd, count);
		if (w >= 0)
			ep_unprime(it.tfd, w);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int ckpt_epoll_fill(int epfd, const void *data, const struct ckpt_epoll_targets *tg, void *ctx)
{
	struct ckpt_epoll_hdr h;
	int ret;

	ckpt_epoll_hdr_get(data, &h);
	ret = ep_fill_fired(epfd, data, h.count, tg, ctx);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < h.count; i++) {
		struct ckpt_epoll_item it;
		bool added;

		ckpt_epoll_item_get(data, i, &it);
		if (ep_fired(it.events))
			continue;
		ret = ep_add(epfd, &it, it.events, tg, ctx, &added);
		if (ret < 0)
			return ret;
	}
	return 0;
}
