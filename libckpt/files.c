/* files.c - the "files" subsystem: saves the descriptor table at checkpoint
 * and rebuilds it in the restored process.
 *
 * The record is a header and one entry per descriptor, in increasing fd
 * order; the layout and the restore rules (stdio, truncation, unlinked files,
 * pipes, what is left closed) are in docs/files-and-state.md.
 *
 * capture() runs while every other application thread is stopped in a signal
 * handler, so it uses raw syscalls and the caller's buffer only: no malloc,
 * no stdio, no snprintf (messages are built by hand in stack buffers).
 * restore() validates the whole record before it touches a descriptor, so a
 * hostile record changes nothing.
 */
#define LOG_PREFIX "files: "

#include "files.h"
#include "files_evfd.h"
#include "files_msg.h"
#include "files_epoll.h"
#include "files_inotify.h"
#include "files_memfd.h"
#include "files_sock.h"
#include "proc_read.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <linux/sockios.h>
#include <poll.h>
#include <time.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* "CFD1" little-endian: first word of the record. */
#define FILES_REC_MAGIC 0x31444643u
/* Bumped whenever the layout below changes. */
#define FILES_REC_VERSION 1u
/* Header flag: cut files open for writing back to their checkpoint size. */
#define FILES_REC_TRUNCATE (1u << 0)
/* Every header flag this version knows. */
#define FILES_REC_FLAGS_KNOWN FILES_REC_TRUNCATE

/* Default bound of one unlinked file's saved contents: larger files are
 * almost always scratch data the application can recreate; 64 MiB keeps the
 * image small. CKPT_MAX_UNLINKED_BYTES overrides it. */
#define FILES_UNLINKED_MAX_DEFAULT (64ull << 20)
/* Largest pipe the kernel can make (F_SETPIPE_SZ rounds to a power of two
 * and refuses more than 2^31 bytes). */
#define FILES_PIPE_SIZE_MAX (1ull << 31)
/* Smallest pipe: one page. */
#define FILES_PIPE_SIZE_MIN 4096u

/* The status and access flags F_GETFL reports that a re-open can carry.
 * Anything else (kernel-internal FMODE bits) is dropped at capture. */
#define FILES_OPEN_FLAGS_KNOWN                                                           \
	(O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECT | O_LARGEFILE | \
	 O_NOFOLLOW | O_NOATIME | O_PATH | O_DIRECTORY | O_ASYNC)

/* What an entry describes; values are pinned in the image format. */
enum files_kind {
	FILES_KIND_STDIO = 1,	    /* fd 0-2: left as the launcher gives them */
	FILES_KIND_REG = 2,	    /* regular file, re-opened by path */
	FILES_KIND_UNLINKED = 3,    /* deleted regular file, contents saved */
	FILES_KIND_DIR = 4,	    /* directory, re-opened by path */
	FILES_KIND_DEV = 5,	    /* stateless character device (/dev/null...) */
	FILES_KIND_PIPE = 6,	    /* pipe with both ends in the process */
	FILES_KIND_UNSUPPORTED = 7, /* reported at checkpoint, left closed */
	FILES_KIND_TREE_PIPE = 8,   /* pipe with a reader and a writer in the tree,
				     * an end in another process: re-created by
				     * 'ckpt restart' and handed over */
	FILES_KIND_TREE_SOCK = 9,   /* one end of a Unix socketpair whose two ends
				     * are held in the tree: re-created by 'ckpt
				     * restart' with its queues, handed over */
	/* eventfd, timerfd, signalfd: made again with the state their data
	 * carries (files_evfd.c) */
	FILES_KIND_EVENTFD = 10,
	FILES_KIND_TIMERFD = 11,
	FILES_KIND_SIGNALFD = 12,
	FILES_KIND_EPOLL = 13,	 /* epoll, its interest list in the data
				  * (files_epoll.c) */
	FILES_KIND_INOTIFY = 14, /* inotify, its watches and their paths in
				  * the data (files_inotify.c) */
	FILES_KIND_MEMFD = 15,	 /* memfd: seals, mappings and contents in the
				* data (files_memfd.c) */
	/* Never in a record: a Unix socket in a tree, until the tree pass
	 * makes it TREE_SOCK or UNSUPPORTED (named then). */
	FILES_KIND_SOCK_PENDING = 0x7f,
};

#define FILES_KIND_MAX FILES_KIND_MEMFD

/* Whether @k is one of the kinds of files_evfd.c. */
#define FILES_IS_EVFD(k) ((k) >= FILES_KIND_EVENTFD && (k) <= FILES_KIND_SIGNALFD)

/* Distinct pipes one capture follows across the tree; a process with more
 * keeps today's rule for the others (named, left closed). */
#define FILES_TREE_PIPES_MAX 64

/* Record header. */
struct files_rec_hdr {
	uint32_t magic;	  /* FILES_REC_MAGIC */
	uint32_t version; /* FILES_REC_VERSION */
	uint32_t count;	  /* number of entries that follow */
	uint32_t flags;	  /* FILES_REC_* */
};

/* One descriptor; followed by path[path_len] (NUL-terminated), then
 * data[data_len], then zero padding to a multiple of 8 bytes. */
struct files_rec_fd {
	uint32_t size;	     /* bytes of the entry: header, path, data, padding */
	int32_t fd;	     /* descriptor number; entries are in increasing order */
	uint32_t kind;	     /* enum files_kind */
	uint32_t open_flags; /* F_GETFL masked by FILES_OPEN_FLAGS_KNOWN */
	uint32_t fd_flags;   /* F_GETFD: FD_CLOEXEC or 0 */
	int32_t dup_of;	     /* lowest fd sharing this open file description, or -1 */
	int32_t same_as;     /* pipe/unlinked: earlier fd with another description
				 * of the same object, or -1 */
	uint32_t mode;	     /* st_mode */
	uint32_t path_len;   /* bytes of path including its NUL */
	uint32_t pipe_size;  /* pipes: F_GETPIPE_SZ; 0 otherwise */
	int64_t offset;	     /* lseek(SEEK_CUR), 0 where not seekable */
	uint64_t ino;	     /* st_ino (pipe id for pipes) */
	uint64_t dev;	     /* st_dev, for messages and matching */
	uint64_t rdev;	     /* st_rdev of devices, 0 otherwise */
	uint64_t file_size;  /* st_size at checkpoint */
	uint64_t data_len;   /* bytes of saved contents after the path */
};

/* Sizes are pinned in docs/files-and-state.md. */
_Static_assert(sizeof(struct files_rec_hdr) == 16, "files record header layout");
_Static_assert(sizeof(struct files_rec_fd) == 88, "files record entry layout");

/* State of one capture() call. */
struct files_cap {
	char *buf;		       /* caller's record buffer */
	size_t cap;		       /* its capacity */
	size_t len;		       /* bytes written so far */
	uint32_t count;		       /* entries written so far */
	int dirfd;		       /* open /proc/thread-self/fd */
	long pid;		       /* our pid, for kcmp() */
	bool kcmp_ok;		       /* false once kcmp() failed: dups not detected */
	bool in_tree;		       /* in a namespace of 'ckpt run' (files_in_tree()) */
	uint64_t unlinked_max;	       /* bound of one unlinked file's contents */
	void (*warn)(const char *msg); /* caller's warning sink, may be NULL */
};

/* A pipe of this process also held by other processes of the tree. */
struct files_tpipe {
	uint64_t ino;	   /* pipe id (st_ino) */
	uint64_t dev;	   /* a named pipe's st_dev (0 for a pipe) */
	bool fifo;	   /* a named pipe, opened by path */
	bool own_r;	   /* this process holds a read end */
	bool own_w;	   /* this process holds a write end */
	bool other_r;	   /* another process of the tree holds a read end */
	bool other_w;	   /* ... a write end */
	bool lower_reader; /* a process with a lower pid holds a read end */
	bool others;	   /* another process holds it at all */
	bool hup_known;	   /* hup was read (only read ends answer it) */
	bool hup;	   /* no writer is left anywhere */
};

/* A Unix socket of this process, in a tree: whether its other end is
 * held in the tree too, and who saves its receive queue. */
struct files_tsock {
	uint64_t ino;		     /* socket inode */
	struct ckpt_usock_info self; /* sock_diag of it */
	struct ckpt_usock_info peer; /* sock_diag of its peer */
	const char *why;	     /* NULL: the pair can be made again; else why not */
	bool peer_closed;	     /* a connected end whose peer's last holder closed it */
	bool lower_holder;	     /* a process with a lower pid holds it */
	bool peer_held;		     /* a process of the tree (us included) holds the peer */
	bool saved;		     /* an entry already carries its queue */
};

/* State of one restore() call. */
struct files_rst {
	const char *rec; /* the validated record */
	size_t len;	 /* its length */
	bool truncate;	 /* FILES_REC_TRUNCATE was set at capture */
};

/* Pipe ends 'ckpt restart' handed to this process (ckpt_files_use_tree_pipes). */
static struct ckpt_tree_pipe_fd files_handed[CKPT_TREE_PIPES_MAX];
/* Used entries of files_handed. */
static size_t files_nhanded;

/* Descriptors the engine hides from the walk (its agent socket...). */
static int files_excluded[CKPT_FILES_EXCLUDE_MAX];
/* Used slots of files_excluded. */
static unsigned int files_nexcluded;

int ckpt_files_exclude_fd(int fd)
{
	if (fd < 0)
		return -EBADF;
	if (ckpt_files_fd_excluded(fd))
		return 0;
	if (files_nexcluded >= CKPT_FILES_EXCLUDE_MAX)
		return -ENOSPC;
	files_excluded[files_nexcluded++] = fd;
	return 0;
}

void ckpt_files_include_fd(int fd)
{
	for (unsigned int i = 0; i < files_nexcluded; i++) {
		if (files_excluded[i] == fd) {
			files_excluded[i] = files_excluded[--files_nexcluded];
			return;
		}
	}
}

bool ckpt_files_fd_excluded(int fd)
{
	for (unsigned int i = 0; i < files_nexcluded; i++)
		if (files_excluded[i] == fd)
			return true;
	return false;
}

/* ---- raw syscalls returning -errno ------------------------------------- */

static long files_ret(long r)
{
	return r < 0 ? -errno : r;
}

static int files_openat(int dirfd, const char *path, int flags, unsigned int mode)
{
	return (int)files_ret(syscall(SYS_openat, dirfd, path, flags, mode));
}

static void files_close(int fd)
{
	syscall(SYS_close, fd);
}

static long files_fcntl(int fd, int cmd, long arg)
{
	return files_ret(syscall(SYS_fcntl, fd, cmd, arg));
}

static int files_fstat(int fd, struct stat *st)
{
	return (int)files_ret(syscall(SYS_fstat, fd, st));
}

static int64_t files_lseek(int fd, int64_t off, int whence)
{
	return files_ret(syscall(SYS_lseek, fd, off, whence));
}

/* ---- messages ---------------------------------------------------------- */

static void files_warn(const struct files_cap *c, const char *msg)
{
	if (c->warn)
		c->warn(msg);
}

/* Writes "/proc/thread-self/fd/N" into @p (at least 40 bytes). The
 * calling thread shares the descriptor table, and unlike /proc/self it stays
 * readable when the main thread has exited (pthread_exit) and is a zombie. */
static void files_proc_path(char *p, int fd)
{
	struct files_msg m;

	msg_init(&m, p, 40);
	msg_str(&m, "/proc/thread-self/fd/");
	msg_u64(&m, (uint64_t)fd);
}

/* ---- capture ----------------------------------------------------------- */

static bool files_name_fd(const char *name, int *fd);

/* Whether this process runs in the namespace of a tree 'ckpt run' made
 * (tree.c reads the same variable at start). getenv() takes no lock. */
static bool files_in_tree(void)
{
	const char *v = getenv("CKPT_PIDNS");

	return v && v[0] == '1' && v[1] == '\0';
}

/* Parses a byte count with an optional k/M/G suffix; false if malformed. */
static bool files_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int shift = 0;

	if (!*s)
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s == 'k' || *s == 'K')
		shift = 10;
	else if (*s == 'm' || *s == 'M')
		shift = 20;
	else if (*s == 'g' || *s == 'G')
		shift = 30;
	if (shift)
		s++;
	if (*s || v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/* Reads the two capture settings from the environment. getenv() takes no
 * lock, so it is safe while other threads are stopped. */
static uint32_t files_settings(struct files_cap *c)
{
	const char *t = getenv("CKPT_TRUNCATE_FILES");
	const char *m = getenv("CKPT_MAX_UNLINKED_BYTES");

	c->unlinked_max = FILES_UNLINKED_MAX_DEFAULT;
	if (m && !files_parse_size(m, &c->unlinked_max)) {
		c->unlinked_max = FILES_UNLINKED_MAX_DEFAULT;
		files_warn(c, "CKPT_MAX_UNLINKED_BYTES is not a byte count; using 64M");
	}
	return (t && t[0] == '0' && t[1] == '\0') ? 0 : FILES_REC_TRUNCATE;
}

static void files_get(const char *buf, size_t pos, struct files_rec_fd *e)
{
	memcpy(e, buf + pos, sizeof(*e));
}

static void files_put(char *buf, size_t pos, const struct files_rec_fd *e)
{
	memcpy(buf + pos, e, sizeof(*e));
}

static size_t files_align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Whether entry @e is a description of its own for pipe and unlinked-file
 * matching: neither stdio (replaced by the launcher's) nor a dup. */
static bool files_is_desc(const struct files_rec_fd *e)
{
	return e->fd > 2 && e->dup_of < 0;
}

/* Whether entry @e (path @path) is a named pipe (a FIFO opened by path). */
static bool files_is_fifo(const struct files_rec_fd *e, const char *path)
{
	return S_ISFIFO(e->mode) && path[0] == '/';
}

/* Finds the lowest earlier fd sharing @fd's open file description. Only
 * entries on the same inode can share it; kcmp() decides. */
static int files_find_dup(struct files_cap *c, int fd, const struct stat *st)
{
	size_t pos = sizeof(struct files_rec_hdr);

	while (c->kcmp_ok && pos < c->len) {
		struct files_rec_fd o;
		long r;

		files_get(c->buf, pos, &o);
		pos += o.size;
		if (o.ino != st->st_ino || o.dev != st->st_dev)
			continue;
		r = syscall(SYS_kcmp, c->pid, c->pid, KCMP_FILE, o.fd, fd);
		if (r == 0)
			return o.dup_of >= 0 ? o.dup_of : o.fd;
		if (r < 0) {
			c->kcmp_ok = false;
			files_warn(c, "kcmp() unavailable: descriptors sharing an offset "
				      "will be restored as separate opens");
		}
	}
	return -1;
}

/* Finds an earlier description of the same pipe or unlinked inode. With
 * @rdonly, only read ends count (the pipe's first reader saves its data). */
static int files_find_same(const struct files_cap *c, const struct files_rec_fd *e, bool rdonly)
{
	size_t pos = sizeof(struct files_rec_hdr);

	while (pos < c->len) {
		struct files_rec_fd o;

		files_get(c->buf, pos, &o);
		pos += o.size;
		if (o.kind == e->kind && o.ino == e->ino && o.dev == e->dev && files_is_desc(&o) &&
		    (!rdonly || (o.open_flags & O_ACCMODE) == O_RDONLY))
			return o.fd;
	}
	return -1;
}

/* Whether @rdev is a device whose open file holds no state worth saving. */
static bool files_dev_stateless(uint64_t rdev)
{
	unsigned int ma = major(rdev);
	unsigned int mi = minor(rdev);

	if (ma == 1) /* mem: null 3, zero 5, full 7, random 8, urandom 9 */
		return mi == 3 || mi == 5 || mi == 7 || mi == 8 || mi == 9;
	return ma == 5 && mi == 0; /* /dev/tty: the controlling terminal */
}

static void files_describe_addr(struct files_msg *m, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		const unsigned char *a = (const unsigned char *)&in->sin_addr;

		for (int i = 0; i < 4; i++) {
			if (i)
				msg_str(m, ".");
			msg_u64(m, a[i]);
		}
		msg_str(m, ":");
		msg_u64(m, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		const unsigned char *a = in6->sin6_addr.s6_addr;

		msg_str(m, "[");
		for (int i = 0; i < 16; i += 2) {
			if (i)
				msg_str(m, ":");
			msg_hex(m, (unsigned int)(a[i] << 8 | a[i + 1]));
		}
		msg_str(m, "]:");
		msg_u64(m, ntohs(in6->sin6_port));
	}
}

/* Describes a socket for the user: "TCP socket to 10.0.0.1:22". */
static void files_describe_socket(struct files_msg *m, int fd)
{
	struct sockaddr_storage self;
	struct sockaddr_storage peer;
	socklen_t slen = sizeof(self);
	socklen_t plen = sizeof(peer);
	socklen_t olen = sizeof(int);
	int domain = -1;
	int type = -1;
	bool has_self;
	bool has_peer;

	syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, &domain, &olen);
	olen = sizeof(int);
	syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &olen);
	memset(&self, 0, sizeof(self));
	memset(&peer, 0, sizeof(peer));
	has_self = syscall(SYS_getsockname, fd, &self, &slen) == 0;
	has_peer = syscall(SYS_getpeername, fd, &peer, &plen) == 0;

	switch (domain) {
	case AF_INET:
	case AF_INET6:
		msg_str(m, type == SOCK_STREAM	? "TCP socket"
			   : type == SOCK_DGRAM ? "UDP socket"
						: "IP socket");
		if (has_peer) {
			msg_str(m, " to ");
			files_describe_addr(m, &peer);
		} else if (has_self) {
			msg_str(m, " on ");
			files_describe_addr(m, &self);
		}
		break;
	case AF_UNIX: {
		const struct sockaddr_un *un =
			(const struct sockaddr_un *)(has_peer && plen > sizeof(sa_family_t)
							     ? &peer
							     : &self);

		msg_str(m, type == SOCK_STREAM	? "Unix stream socket"
			   : type == SOCK_DGRAM ? "Unix datagram socket"
						: "Unix socket");
		if (un->sun_path[0]) {
			msg_str(m, un == (const void *)&peer ? " to " : " at ");
			/* sun_path is NUL-padded: the memset above ends it. */
			msg_str(m, un->sun_path);
		} else if (un->sun_path[1]) {
			msg_str(m, " @");
			msg_str(m, un->sun_path + 1);
		}
		break;
	}
	case AF_NETLINK:
		msg_str(m, "netlink socket");
		break;
	default:
		msg_str(m, "socket of address family ");
		msg_u64(m, (uint64_t)(domain < 0 ? 0 : domain));
		break;
	}
}

/* Reads an unlinked file's contents into @dst. A write-only or O_PATH
 * descriptor cannot be read, so a read-only one is opened through its
 * /proc/thread-self/fd link. */
static int files_save_unlinked(struct files_cap *c, const char *name, int fd, uint32_t flags,
			       char *dst, uint64_t size)
{
	int rfd = fd;
	uint64_t done = 0;
	int ret = 0;

	if ((flags & O_ACCMODE) == O_WRONLY || (flags & O_PATH)) {
		rfd = files_openat(c->dirfd, name, O_RDONLY | O_CLOEXEC, 0);
		if (rfd < 0)
			return rfd;
	}
	while (done < size) {
		long r = syscall(SYS_pread64, rfd, dst + done, size - done, done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? -errno : -EIO;
			break;
		}
		done += (uint64_t)r;
	}
	if (rfd != fd)
		files_close(rfd);
	return ret;
}

/* Copies the bytes buffered in the pipe read end @fd into @dst without
 * consuming them: tee(2) duplicates them into a scratch pipe, which is then
 * drained. Sets *@len; -ENOSPC when @room is too small. */
static int files_save_pipe(int fd, uint32_t pipe_size, char *dst, size_t room, uint64_t *len)
{
	int avail = 0;
	int tp[2];
	long n;
	size_t got = 0;
	int ret = 0;

	*len = 0;
	if (syscall(SYS_ioctl, fd, FIONREAD, &avail) < 0)
		return -errno;
	if (avail <= 0)
		return 0;
	if ((size_t)avail > room)
		return -ENOSPC;
	if (syscall(SYS_pipe2, tp, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* tee() copies buffer slots, not bytes: small writes can fill every
	 * slot of a large pipe, so the scratch pipe needs as many slots. */
	if (pipe_size > 65536 && files_fcntl(tp[1], F_SETPIPE_SZ, (long)pipe_size) < 0) {
		ret = -EMSGSIZE;
		goto out_close;
	}
	n = syscall(SYS_tee, fd, tp[1], (size_t)avail, SPLICE_F_NONBLOCK);
	if (n != avail) {
		ret = n < 0 ? -errno : -EIO;
		goto out_close;
	}
	while (got < (size_t)avail) {
		long r = syscall(SYS_read, tp[0], dst + got, (size_t)avail - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? -errno : -EIO;
			goto out_close;
		}
		got += (size_t)r;
	}
	*len = got;
out_close:
	files_close(tp[0]);
	files_close(tp[1]);
	return ret;
}

/* Tells the user that descriptor @fd cannot be restored. */
static void files_warn_unsupported(const struct files_cap *c, int fd, const char *desc)
{
	char buf[640];
	struct files_msg m;

	msg_init(&m, buf, sizeof(buf));
	msg_fd(&m, fd);
	msg_str(&m, desc);
	msg_str(&m, " cannot be restored; it will be left closed after a restart");
	files_warn(c, buf);
}

/* Turns entry @e into one of @kind described by @desc, which replaces the
 * path, within @room bytes. */
static void files_set_desc(struct files_rec_fd *e, uint32_t kind, char *path, size_t room,
			   const char *desc)
{
	size_t n = strlen(desc);

	if (n >= room)
		n = room - 1;
	memmove(path, desc, n);
	path[n] = '\0';
	e->kind = kind;
	e->path_len = (uint32_t)n + 1;
	e->data_len = 0;
	e->pipe_size = 0;
	e->same_as = -1;
}

/* Turns entry @e into an UNSUPPORTED one described by @desc and tells the
 * user. */
static void files_mark_unsupported(struct files_cap *c, struct files_rec_fd *e, char *path,
				   size_t room, const char *desc)
{
	files_set_desc(e, FILES_KIND_UNSUPPORTED, path, room, desc);
	files_warn_unsupported(c, e->fd, path);
}

/* Whether @fd is a Unix socket of a tree process: its fate is decided once
 * the whole table is read (files_tree_socks()), and only then said. */
static bool files_sock_deferred(const struct files_cap *c, int fd, const struct stat *st)
{
	int domain = -1;
	socklen_t olen = sizeof(domain);

	return c->in_tree && S_ISSOCK(st->st_mode) &&
	       syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_DOMAIN, &domain, &olen) == 0 &&
	       domain == AF_UNIX;
}

/* f_type of the mqueue file system (linux/magic.h). */
#define FILES_MQUEUE_MAGIC 0x19800202L

/* Whether @fd is a POSIX message queue: /proc shows it as a regular file
 * named after the queue ("/NAME"), which must never be re-opened as a
 * file of that path. */
static bool files_is_mqueue(int fd)
{
	struct statfs sf;

	return syscall(SYS_fstatfs, fd, &sf) == 0 && sf.f_type == FILES_MQUEUE_MAGIC;
}

/* Whether standard descriptor @fd is still the one the launcher gave,
 * which a restart replaces by its own launcher's. Outside a tree, always
 * (a Slurm task's or a 'ckpt-restore' process's standard descriptors are
 * its launcher's by design). In a tree, when it is the same open file as
 * our init's (pid 1 keeps the descriptors 'ckpt run' or 'ckpt restart'
 * was given) or init's is not readable: a script's 'exec >FILE 2>&1'
 * made it a file of its own, restored like any other descriptor, not
 * sent back to the launcher's output. */
static bool files_stdio_launchers(const struct files_cap *c, int fd)
{
	long r;

	if (!c->in_tree)
		return true;
	r = syscall(SYS_kcmp, c->pid, 1L, KCMP_FILE, fd, fd);
	return r == 0 || (r < 0 && errno == EPERM);
}

/* Sets e->kind from the object behind the descriptor, with a description in
 * @desc for what cannot be restored; @stdio: a standard descriptor that is
 * the launcher's. */
static void files_classify(struct files_rec_fd *e, const struct stat *st, const char *path,
			   bool stdio, struct files_msg *desc)
{
	bool abs = path[0] == '/';

	e->kind = FILES_KIND_UNSUPPORTED;
	if (stdio) {
		e->kind = FILES_KIND_STDIO;
	} else if (ckpt_evfd_kind_of(path) >= 0) {
		e->kind = FILES_KIND_EVENTFD + (uint32_t)ckpt_evfd_kind_of(path);
	} else if (strcmp(path, "anon_inode:[eventpoll]") == 0) {
		e->kind = FILES_KIND_EPOLL;
	} else if (strcmp(path, "anon_inode:inotify") == 0) {
		e->kind = FILES_KIND_INOTIFY;
	} else if (strncmp(path, "anon_inode:", 11) == 0) {
		msg_str(desc, path);
	} else if (S_ISREG(st->st_mode) && files_is_mqueue(e->fd)) {
		msg_str(desc, "POSIX message queue ");
		msg_str(desc, path);
	} else if (S_ISREG(st->st_mode) && abs && ckpt_memfd_is(path)) {
		e->kind = FILES_KIND_MEMFD;
	} else if (S_ISREG(st->st_mode) && abs) {
		e->kind = st->st_nlink == 0 ? FILES_KIND_UNLINKED : FILES_KIND_REG;
	} else if (S_ISDIR(st->st_mode) && abs) {
		e->kind = FILES_KIND_DIR;
	} else if (S_ISCHR(st->st_mode) && abs && files_dev_stateless(st->st_rdev)) {
		e->kind = FILES_KIND_DEV;
	} else if (S_ISCHR(st->st_mode)) {
		msg_str(desc, "character device ");
		msg_str(desc, path);
	} else if (S_ISFIFO(st->st_mode) && strncmp(path, "pipe:[", 6) == 0) {
		e->kind = FILES_KIND_PIPE;
	} else if (S_ISFIFO(st->st_mode)) {
		msg_str(desc, "named pipe ");
		msg_str(desc, path);
	} else if (S_ISSOCK(st->st_mode)) {
		files_describe_socket(desc, e->fd);
	} else {
		msg_str(desc, path);
		msg_str(desc, " (unsupported file type)");
	}
}

/* Strips the " (deleted)" the kernel appends to an unlinked file's link. */
static void files_strip_deleted(struct files_rec_fd *e, char *path)
{
	static const char suffix[] = " (deleted)";
	size_t n = e->path_len - 1;
	size_t s = sizeof(suffix) - 1;

	if (n > s && memcmp(path + n - s, suffix, s) == 0) {
		path[n - s] = '\0';
		e->path_len = (uint32_t)(n - s + 1);
	}
}

/* Saves a memfd's seals, mappings and contents after the path; one too
 * large, or a second description of one already saved, is named and left
 * closed like an unlinked file beyond its bound. */
static int files_capture_memfd(struct files_cap *c, struct files_rec_fd *e, char *path, size_t room,
			       char *dst, size_t left)
{
	const char *why = "";
	char buf[640];
	struct files_msg m;
	ssize_t n;

	msg_init(&m, buf, sizeof(buf));
	if (e->file_size > c->unlinked_max) {
		msg_str(&m, "memfd ");
		msg_str(&m, path);
		msg_str(&m, " (");
		msg_u64(&m, e->file_size);
		msg_str(&m, " bytes, more than CKPT_MAX_UNLINKED_BYTES=");
		msg_u64(&m, c->unlinked_max);
		msg_str(&m, "; raise it to save this memfd)");
		files_mark_unsupported(c, e, path, room, buf);
		return 0;
	}
	if (e->same_as >= 0) {
		msg_str(&m, "memfd ");
		msg_str(&m, path);
		msg_str(&m, " (a second open description of the memfd at fd ");
		msg_u64(&m, (uint64_t)e->same_as);
		msg_str(&m, ", which would come back as another object; use dup())");
		files_mark_unsupported(c, e, path, room, buf);
		return 0;
	}
	n = ckpt_memfd_capture(e->fd, e->ino, e->dev, e->file_size, dst, left, &why);
	if (n == -ENOSPC)
		return (int)n;
	if (n < 0) {
		msg_str(&m, "memfd ");
		msg_str(&m, path);
		msg_str(&m, " (");
		msg_str(&m, why);
		msg_str(&m, ")");
		files_mark_unsupported(c, e, path, room, buf);
		return 0;
	}
	e->data_len = (uint64_t)n;
	return 0;
}

/* Saves the contents of an unlinked file or a pipe after the path. */
static int files_capture_data(struct files_cap *c, const char *name, struct files_rec_fd *e,
			      char *path, size_t room)
{
	char *dst = path + e->path_len;
	/* Data may use the whole rest of the buffer, not just PATH_MAX. */
	size_t left = c->cap - c->len - sizeof(*e) - e->path_len;
	char buf[640];
	struct files_msg m;
	int ret;

	if (e->kind == FILES_KIND_EPOLL) {
		ssize_t n = ckpt_epoll_capture(c->pid, e->fd, c->dirfd, dst, left, c->warn);

		if (n < 0)
			return (int)n;
		e->data_len = (uint64_t)n;
	} else if (e->kind == FILES_KIND_INOTIFY) {
		ssize_t n = ckpt_inotify_capture(c->pid, e->fd, dst, left, c->warn);

		if (n >= 0 && c->in_tree)
			ret = ckpt_inotify_capture_shared(c->pid, e->fd, c->warn);
		else
			ret = n < 0 ? (int)n : 0;
		if (ret < 0)
			return ret;
		e->data_len = (uint64_t)n;
	} else if (e->kind == FILES_KIND_UNLINKED && e->dup_of < 0 && e->same_as < 0) {
		if (e->file_size > c->unlinked_max) {
			msg_init(&m, buf, sizeof(buf));
			msg_str(&m, "unlinked file ");
			msg_str(&m, path);
			msg_str(&m, " (");
			msg_u64(&m, e->file_size);
			msg_str(&m, " bytes, more than CKPT_MAX_UNLINKED_BYTES=");
			msg_u64(&m, c->unlinked_max);
			msg_str(&m, ")");
			files_mark_unsupported(c, e, path, room, buf);
			return 0;
		}
		if (e->file_size > left)
			return -ENOSPC;
		ret = files_save_unlinked(c, name, e->fd, e->open_flags, dst, e->file_size);
		if (ret < 0)
			return ret;
		e->data_len = e->file_size;
	} else if (e->kind == FILES_KIND_MEMFD) {
		return files_capture_memfd(c, e, path, room, dst, left);
	} else if (FILES_IS_EVFD(e->kind)) {
		struct ckpt_evfd_state st;
		const char *why = "";

		if (left < sizeof(st))
			return -ENOSPC;
		ret = ckpt_evfd_capture((int)(e->kind - FILES_KIND_EVENTFD), e->fd, &st, &why);
		if (ret < 0) {
			msg_init(&m, buf, sizeof(buf));
			msg_str(&m, path);
			msg_str(&m, " (");
			msg_str(&m, why);
			msg_str(&m, ")");
			files_mark_unsupported(c, e, path, room, buf);
			return 0;
		}
		memcpy(dst, &st, sizeof(st));
		e->data_len = sizeof(st);
	} else if (e->kind == FILES_KIND_PIPE && files_is_desc(e) &&
		   (e->open_flags & O_ACCMODE) == O_RDONLY && files_find_same(c, e, true) < 0) {
		ret = files_save_pipe(e->fd, e->pipe_size, dst, left, &e->data_len);
		if (ret == -ENOSPC)
			return ret;
		if (ret < 0) {
			msg_init(&m, buf, sizeof(buf));
			msg_str(&m, path);
			msg_str(&m, " (its buffered data could not be read)");
			files_mark_unsupported(c, e, path, room, buf);
		}
	}
	return 0;
}

/* Appends the entry of descriptor @fd (directory entry @name). */
static int files_capture_fd(struct files_cap *c, int fd, const char *name)
{
	struct files_rec_fd e;
	struct stat st;
	char *path;
	size_t room;
	long n;
	long fl;
	char desc[512];
	struct files_msg dm;
	int ret;

	if (c->cap - c->len < sizeof(e) + 8)
		return -ENOSPC;
	path = c->buf + c->len + sizeof(e);
	room = c->cap - c->len - sizeof(e);
	if (room > PATH_MAX)
		room = PATH_MAX;

	memset(&e, 0, sizeof(e));
	e.fd = fd;
	e.dup_of = -1;
	e.same_as = -1;
	n = syscall(SYS_readlinkat, c->dirfd, name, path, room);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno; /* closed meanwhile */
	if ((size_t)n >= room) {
		if (room < PATH_MAX)
			return -ENOSPC;
		n = 0; /* longer than PATH_MAX: described below */
	}
	path[n] = '\0';
	e.path_len = (uint32_t)n + 1;

	ret = files_fstat(fd, &st);
	if (ret < 0)
		return ret == -EBADF ? 0 : ret;
	fl = files_fcntl(fd, F_GETFL, 0);
	e.open_flags = fl < 0 ? 0 : (uint32_t)fl & FILES_OPEN_FLAGS_KNOWN;
	fl = files_fcntl(fd, F_GETFD, 0);
	e.fd_flags = fl < 0 ? 0 : (uint32_t)fl & FD_CLOEXEC;
	e.offset = files_lseek(fd, 0, SEEK_CUR);
	if (e.offset < 0)
		e.offset = 0;
	e.mode = st.st_mode;
	e.ino = st.st_ino;
	e.dev = st.st_dev;
	e.file_size = st.st_size < 0 ? 0 : (uint64_t)st.st_size;

	msg_init(&dm, desc, sizeof(desc));
	files_classify(&e, &st, path, fd <= 2 && files_stdio_launchers(c, fd), &dm);
	/* fcntl accepts O_APPEND and the like on these; they mean nothing
	 * there, and the restore makes them O_RDWR, O_NONBLOCK at most. */
	if (FILES_IS_EVFD(e.kind))
		e.open_flags &= (uint32_t)(O_ACCMODE | O_NONBLOCK);
	if (n == 0 && e.kind != FILES_KIND_STDIO) {
		e.kind = FILES_KIND_UNSUPPORTED;
		msg_init(&dm, desc, sizeof(desc));
		msg_str(&dm, "descriptor whose path is longer than PATH_MAX");
	}
	if (e.kind == FILES_KIND_DEV)
		e.rdev = st.st_rdev;
	/* In a tree a named pipe opened one way may be made again by 'ckpt
	 * restart' (files_tree_pipes()); until then it is a pipe, and one the
	 * tree does not hold whole is named by files_check_pipes(). */
	if (e.kind == FILES_KIND_UNSUPPORTED && c->in_tree && fd > 2 && S_ISFIFO(st.st_mode) &&
	    path[0] == '/' && (e.open_flags & O_ACCMODE) != O_RDWR)
		e.kind = FILES_KIND_PIPE;
	if (e.kind == FILES_KIND_PIPE) {
		fl = files_fcntl(fd, F_GETPIPE_SZ, 0);
		e.pipe_size = fl < FILES_PIPE_SIZE_MIN ? FILES_PIPE_SIZE_MIN : (uint32_t)fl;
	}
	if (e.kind == FILES_KIND_MEMFD)
		files_strip_deleted(&e, path);
	if (e.kind == FILES_KIND_UNLINKED) {
		/* Regular files are re-opened by path: never O_TMPFILE again. */
		e.open_flags &= ~(uint32_t)O_DIRECTORY;
		files_strip_deleted(&e, path);
	}
	if (e.kind != FILES_KIND_STDIO)
		e.dup_of = files_find_dup(c, fd, &st);
	if (e.dup_of < 0 && e.kind != FILES_KIND_STDIO &&
	    (e.kind == FILES_KIND_PIPE || e.kind == FILES_KIND_UNLINKED ||
	     e.kind == FILES_KIND_MEMFD))
		e.same_as = files_find_same(c, &e, false);

	if (e.kind == FILES_KIND_UNSUPPORTED && files_sock_deferred(c, fd, &st))
		files_set_desc(&e, FILES_KIND_SOCK_PENDING, path, room, desc);
	else if (e.kind == FILES_KIND_UNSUPPORTED)
		files_mark_unsupported(c, &e, path, room, desc);
	else if (e.kind != FILES_KIND_STDIO && e.dup_of < 0) {
		ret = files_capture_data(c, name, &e, path, room);
		if (ret < 0)
			return ret;
	}

	e.size = (uint32_t)files_align8(sizeof(e) + e.path_len + e.data_len);
	if (e.size > c->cap - c->len)
		return -ENOSPC;
	memset(c->buf + c->len + sizeof(e) + e.path_len + e.data_len, 0,
	       e.size - sizeof(e) - e.path_len - e.data_len);
	files_put(c->buf, c->len, &e);
	c->len += e.size;
	c->count++;
	return 0;
}

/* Whether pipe @ino has a reader and a writer among the process's own
 * descriptions (stdio excluded: the launcher replaces those), and none of
 * its descriptions was already found unrestorable (unreadable data). */
static bool files_pipe_complete(const struct files_cap *c, uint64_t ino, uint64_t dev)
{
	size_t pos = sizeof(struct files_rec_hdr);
	bool r = false;
	bool w = false;

	while (pos < c->len) {
		struct files_rec_fd o;

		files_get(c->buf, pos, &o);
		pos += o.size;
		if (o.ino != ino || o.dev != dev || !files_is_desc(&o))
			continue;
		if (o.kind == FILES_KIND_UNSUPPORTED && S_ISFIFO(o.mode))
			return false;
		if (o.kind != FILES_KIND_PIPE)
			continue;
		if ((o.open_flags & O_ACCMODE) == O_RDONLY)
			r = true;
		else
			w = true;
	}
	return r && w;
}

static int files_entry_resize(struct files_cap *c, size_t pos, struct files_rec_fd *e,
			      uint64_t data_len);

/* Whether pipe @ino is widowed: this process holds only read ends of it
 * (stdio excluded), their data could be saved, and no writer is left
 * anywhere, so a reader drains what the pipe holds and then sees end of
 * file. The kernel reports POLLHUP on a read end when the pipe has no
 * writer, whatever it still buffers; but not on a description opened
 * through /proc before the last writer came, so every read end is asked. */
static bool files_pipe_widowed(const struct files_cap *c, uint64_t ino, uint64_t dev)
{
	size_t pos = sizeof(struct files_rec_hdr);
	bool hup = false;

	while (pos < c->len) {
		struct files_rec_fd o;
		struct pollfd pf;
		struct timespec zero = { 0, 0 };

		files_get(c->buf, pos, &o);
		pos += o.size;
		if (o.ino != ino || o.dev != dev || !files_is_desc(&o) || !S_ISFIFO(o.mode))
			continue;
		if (o.kind != FILES_KIND_PIPE || (o.open_flags & O_ACCMODE) != O_RDONLY)
			return false;
		pf.fd = o.fd;
		pf.events = POLLIN;
		pf.revents = 0;
		if (!hup && syscall(SYS_ppoll, &pf, 1, &zero, NULL, 0) == 1 &&
		    (pf.revents & POLLHUP))
			hup = true;
	}
	return hup;
}

/* Saves again, into entry @e at @pos (the first read end of a widowed
 * pipe), the bytes the pipe holds now: a writer outside the process may
 * have added some since the entry was captured, before it ended; none can
 * come any more. Returns 0, -ENOSPC when the record buffer is too small,
 * or another -errno when the bytes cannot be read (the caller names the
 * pipe then). */
static int files_widow_save(struct files_cap *c, size_t pos, struct files_rec_fd *e)
{
	int avail = 0;
	size_t nsz;
	int ret;

	if (syscall(SYS_ioctl, e->fd, FIONREAD, &avail) < 0)
		return -errno;
	if (avail < 0 || (uint64_t)avail > e->pipe_size)
		return -EIO; /* the kernel's FIONREAD never says so */
	ret = files_entry_resize(c, pos, e, (uint64_t)avail);
	if (ret < 0)
		return ret;
	ret = files_save_pipe(e->fd, e->pipe_size, c->buf + pos + sizeof(*e) + e->path_len,
			      (size_t)avail, &e->data_len);
	if (ret < 0)
		return ret;
	/* Readers outside the process may only have taken bytes meanwhile:
	 * shrink the entry to what was read, keeping it. */
	nsz = files_align8(sizeof(*e) + e->path_len + e->data_len);
	memset(c->buf + pos + sizeof(*e) + e->path_len + e->data_len, 0,
	       nsz - sizeof(*e) - e->path_len - e->data_len);
	memmove(c->buf + pos + nsz, c->buf + pos + e->size, c->len - pos - e->size);
	c->len -= e->size - nsz;
	e->size = (uint32_t)nsz;
	files_put(c->buf, pos, e);
	return 0;
}

/* Whether entry @fd of the record so far is a standard descriptor left
 * the launcher's (FILES_KIND_STDIO). */
static bool files_fd_is_stdio(const struct files_cap *c, int fd)
{
	size_t pos = sizeof(struct files_rec_hdr);

	while (pos < c->len) {
		struct files_rec_fd o;

		files_get(c->buf, pos, &o);
		if (o.fd == fd)
			return o.kind == FILES_KIND_STDIO;
		pos += o.size;
	}
	return false;
}

/* Second pass: a pipe with an end outside the process cannot be rebuilt,
 * unless it is widowed (files_pipe_widowed(); outside a tree only: in a
 * tree the tree pass decides). Its entries (except dups of stdio, which
 * follow the launcher's stdio) become UNSUPPORTED and lose their data;
 * entries shrink in place, so the later ones move down. Returns 0 or
 * -errno. */
static int files_check_pipes(struct files_cap *c)
{
	size_t pos = sizeof(struct files_rec_hdr);

	while (pos < c->len) {
		struct files_rec_fd e;
		const char *path = c->buf + pos + sizeof(e);
		char desc[512];
		struct files_msg m;
		size_t old;
		int ret;

		files_get(c->buf, pos, &e);
		old = e.size;
		if (e.kind != FILES_KIND_PIPE ||
		    (e.dup_of >= 0 && files_fd_is_stdio(c, e.dup_of)) ||
		    (!files_is_fifo(&e, path) && files_pipe_complete(c, e.ino, e.dev))) {
			pos += old;
			continue;
		}
		ret = 0;
		if (!c->in_tree && !files_is_fifo(&e, path) &&
		    files_pipe_widowed(c, e.ino, e.dev)) {
			/* Its first read end carries the bytes (files_capture_data). */
			if (files_is_desc(&e) && files_find_same(c, &e, true) == e.fd)
				ret = files_widow_save(c, pos, &e);
			if (ret == -ENOSPC)
				return ret;
			if (ret == 0) {
				pos += e.size;
				continue;
			}
			/* Its bytes could not be read: named, as before. */
			old = e.size;
		}
		msg_init(&m, desc, sizeof(desc));
		if (ret < 0) {
			msg_str(&m, path);
			msg_str(&m, " (a pipe whose writers ended; its buffered bytes could not be "
				    "read)");
		} else if (files_is_fifo(&e, path)) {
			msg_str(&m, "named pipe ");
			msg_str(&m, path);
			msg_str(&m, " (the tree holds no reader of it, or a writer outside "
				    "the tree does)");
		} else {
			msg_str(&m, path);
			msg_str(&m, " (pipe to another process)");
		}
		files_warn_unsupported(c, e.fd, desc);
		e.kind = FILES_KIND_UNSUPPORTED;
		e.data_len = 0;
		e.pipe_size = 0;
		e.same_as = -1;
		e.size = (uint32_t)files_align8(sizeof(e) + e.path_len);
		memset(c->buf + pos + sizeof(e) + e.path_len, 0, e.size - sizeof(e) - e.path_len);
		files_put(c->buf, pos, &e);
		memmove(c->buf + pos + e.size, c->buf + pos + old, c->len - pos - old);
		c->len -= old - e.size;
		pos += e.size;
	}
	return 0;
}

/* ---- capture: pipes shared with other processes of the tree ----------- */

/* Whether entry @e (path @path) stands on a pipe: a pipe entry, or a
 * standard descriptor on one (the two ends of a shell pipeline). */
static bool files_on_pipe(const struct files_rec_fd *e, const char *path)
{
	return (e->kind == FILES_KIND_PIPE || e->kind == FILES_KIND_STDIO) && S_ISFIFO(e->mode) &&
	       (strncmp(path, "pipe:[", 6) == 0 || (e->kind == FILES_KIND_PIPE && path[0] == '/'));
}

/* Parses the id of a "pipe:[N]" link; false for anything else. */
static bool files_pipe_id(const char *link, uint64_t *ino)
{
	uint64_t v = 0;
	const char *p = link + 6;

	if (strncmp(link, "pipe:[", 6) != 0 || *p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*ino = v;
	return p[0] == ']' && p[1] == '\0';
}

/* Finds pipe @ino, or with @fifo named pipe @ino on device @dev (inode
 * numbers of different file systems, and pipe ids, may meet). */
static struct files_tpipe *files_tpipe_find(struct files_tpipe *t, size_t n, uint64_t ino,
					    bool fifo, uint64_t dev)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].ino == ino && t[i].fifo == fifo && (!fifo || t[i].dev == dev))
			return &t[i];
	return NULL;
}

/* Lists the pipes this process holds, with the ends it holds; returns how
 * many (at most FILES_TREE_PIPES_MAX: the others keep today's rule). */
static size_t files_tree_own(const struct files_cap *c, struct files_tpipe *t)
{
	size_t pos = sizeof(struct files_rec_hdr);
	size_t n = 0;

	while (pos < c->len) {
		struct files_rec_fd e;
		const char *path = c->buf + pos + sizeof(e);
		struct files_tpipe *p;

		files_get(c->buf, pos, &e);
		pos += e.size;
		if (!files_on_pipe(&e, path))
			continue;
		p = files_tpipe_find(t, n, e.ino, files_is_fifo(&e, path), e.dev);
		if (!p && n < FILES_TREE_PIPES_MAX) {
			p = &t[n++];
			memset(p, 0, sizeof(*p));
			p->ino = e.ino;
			p->fifo = files_is_fifo(&e, path);
			p->dev = p->fifo ? e.dev : 0;
		}
		if (!p)
			continue;
		if ((e.open_flags & O_ACCMODE) == O_RDONLY)
			p->own_r = true;
		else
			p->own_w = true;
	}
	return n;
}

/* The access mode of descriptor @name of process @pid, from the "flags:"
 * line of its fdinfo (octal); -1 if unreadable. */
static int files_fdinfo_acc(long pid, const char *name)
{
	char path[64];
	char buf[256];
	struct files_msg m;
	const char *p;
	long fd;
	long n;
	uint32_t fl = 0;

	msg_init(&m, path, sizeof(path));
	msg_str(&m, "/proc/");
	msg_u64(&m, (uint64_t)pid);
	msg_str(&m, "/fdinfo/");
	msg_str(&m, name);
	fd = files_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	files_close((int)fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "flags:");
	if (!p)
		return -1;
	for (p += 6; *p == ' ' || *p == '\t'; p++)
		;
	for (; *p >= '0' && *p <= '7'; p++)
		fl = fl * 8 + (uint32_t)(*p - '0');
	return (int)(fl & O_ACCMODE);
}

/* Parses the id of a "socket:[N]" link; false for anything else. */
static bool files_sock_id(const char *link, uint64_t *ino)
{
	uint64_t v = 0;
	const char *p = link + 8;

	if (strncmp(link, "socket:[", 8) != 0 || *p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*ino = v;
	return p[0] == ']' && p[1] == '\0';
}

/* What the tree holds of this process's pipes and Unix sockets. */
struct files_tree {
	struct files_tpipe *pipes; /* our pipes */
	size_t npipes;		   /* entries of pipes */
	struct files_tsock *socks; /* our Unix sockets */
	size_t nsocks;		   /* entries of socks */
};

/* Socket link @ino held by process @pid: notes whether it is one of ours
 * (held by a lower pid) or the peer of one of ours. */
static void files_tree_note_sock(const struct files_cap *c, long pid, struct files_tree *t,
				 uint64_t ino)
{
	for (size_t i = 0; i < t->nsocks; i++) {
		if (t->socks[i].ino == ino && pid < c->pid)
			t->socks[i].lower_holder = true;
		if (t->socks[i].self.peer == ino)
			t->socks[i].peer_held = true;
	}
}

/* Notes in @t which of our pipes process @pid holds, and which ends, and
 * which of our sockets or their peers. A process whose descriptors we may
 * not read (not dumpable) is skipped: its pipes and sockets then look like
 * ones to outside the tree, which stay named. */
static void files_tree_scan_pid(const struct files_cap *c, long pid, struct files_tree *tr)
{
	struct files_tpipe *t = tr->pipes;
	size_t n = tr->npipes;

	uint64_t dbuf[128];
	struct eng_dir dir;
	const char *name;
	char path[64];
	struct files_msg m;
	int dfd;

	msg_init(&m, path, sizeof(path));
	msg_str(&m, "/proc/");
	msg_u64(&m, (uint64_t)pid);
	msg_str(&m, "/fd");
	dfd = files_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return;
	eng_dir_start(&dir, dfd, dbuf, sizeof(dbuf));
	while ((name = eng_dir_next(&dir))) {
		char link[64];
		struct files_tpipe *p;
		uint64_t ino;
		long len;
		int acc;

		len = syscall(SYS_readlinkat, dfd, name, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (files_sock_id(link, &ino)) {
			files_tree_note_sock(c, pid, tr, ino);
			continue;
		}
		if (link[0] == '/') {
			/* A named pipe: known by the inode the link leads to. */
			struct stat st;

			if (syscall(SYS_newfstatat, dfd, name, &st, 0) < 0 || !S_ISFIFO(st.st_mode))
				continue;
			p = files_tpipe_find(t, n, st.st_ino, true, st.st_dev);
		} else if (files_pipe_id(link, &ino)) {
			p = files_tpipe_find(t, n, ino, false, 0);
		} else {
			continue;
		}
		acc = p ? files_fdinfo_acc(pid, name) : -1;
		if (acc < 0)
			continue;
		p->others = true;
		if (acc == O_RDONLY) {
			p->other_r = true;
			if (pid < c->pid)
				p->lower_reader = true;
		} else {
			p->other_w = true;
		}
	}
	files_close(dfd);
}

/* Reads the descriptors of every other process of the namespace (its /proc
 * is ours: 'ckpt run' mounted it) except pid 1, our init, which 'ckpt
 * restart' re-creates without them. Every process of the tree is stopped
 * in the same checkpoint, so what they hold does not change meanwhile. */
static void files_tree_scan(const struct files_cap *c, struct files_tree *t)
{
	uint64_t dbuf[256];
	int dfd = files_openat(AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	struct eng_dir dir;
	const char *name;

	if (dfd < 0)
		return;
	eng_dir_start(&dir, dfd, dbuf, sizeof(dbuf));
	while ((name = eng_dir_next(&dir))) {
		int pid;

		if (!files_name_fd(name, &pid) || pid <= 1 || pid == c->pid)
			continue;
		files_tree_scan_pid(c, pid, t);
	}
	files_close(dfd);
}

/* Rewrites the entry at @pos as @e with @data_len bytes of data (zeroed:
 * filled at write time), moving the later entries. */
static int files_entry_resize(struct files_cap *c, size_t pos, struct files_rec_fd *e,
			      uint64_t data_len)
{
	struct files_rec_fd old;
	size_t nsz = files_align8(sizeof(*e) + e->path_len + data_len);

	files_get(c->buf, pos, &old);
	if (nsz > old.size && nsz - old.size > c->cap - c->len)
		return -ENOSPC;
	memmove(c->buf + pos + nsz, c->buf + pos + old.size, c->len - pos - old.size);
	c->len = c->len - old.size + nsz;
	e->data_len = data_len;
	e->size = (uint32_t)nsz;
	memset(c->buf + pos + sizeof(*e) + e->path_len, 0, nsz - sizeof(*e) - e->path_len);
	files_put(c->buf, pos, e);
	return 0;
}

/* Whether pipe @p (our entry @e on it) can be made again by the tree: a
 * reader in the tree, and a writer in the tree or none left anywhere (the
 * writer ended or closed it: the readers still drain what it wrote, then
 * see end of file; poll() tells by POLLHUP). A pipe whose ends are all in
 * this process keeps its own rule, and one with a writer or only readers
 * outside the tree is named. */
static bool files_tree_pipe_whole(struct files_tpipe *p, const struct files_rec_fd *e)
{
	bool own_only = !p->others;

	if (!(p->own_r || p->other_r))
		return false;
	/* A named pipe is made again by path even when one process holds it
	 * whole: the process could not re-open it alone without blocking. */
	if (p->own_w || p->other_w)
		return !own_only || p->fifo;
	if (!p->own_r)
		return false;
	if (!p->hup_known) {
		struct pollfd pf = { .fd = e->fd, .events = POLLIN };
		struct timespec zero = { 0, 0 };

		/* Only a read end answers: @e may be a dup of stdio... */
		if ((e->open_flags & O_ACCMODE) != O_RDONLY)
			return false;
		p->hup_known = true;
		p->hup = syscall(SYS_ppoll, &pf, 1, &zero, NULL, 0) == 1 && (pf.revents & POLLHUP);
	}
	return p->hup;
}

/* Pipes held by other processes of the tree, with a reader and a writer in
 * the tree, become TREE_PIPE entries: 'ckpt restart' makes each one once
 * and hands it to every holder. Their buffered bytes are saved once, by the
 * lowest pid holding a read end, on its first read-end description: room
 * for a full pipe is reserved here and filled at write time, when every
 * process of the tree is stopped (ckpt_files_tree_pipes_fill()). Pipes
 * with an end outside the tree keep the rules below (named, left closed;
 * standard descriptors stay the launcher's). */
static int files_tree_pipes(struct files_cap *c, struct files_tpipe *t, size_t n)
{
	bool saved[FILES_TREE_PIPES_MAX];
	size_t pos = sizeof(struct files_rec_hdr);

	if (!n)
		return 0;
	memset(saved, 0, sizeof(saved));
	while (pos < c->len) {
		struct files_rec_fd e;
		const char *path = c->buf + pos + sizeof(e);
		struct files_tpipe *p;
		uint64_t data = 0;
		long sz;
		int ret;

		files_get(c->buf, pos, &e);
		p = files_on_pipe(&e, path)
			    ? files_tpipe_find(t, n, e.ino, files_is_fifo(&e, path), e.dev)
			    : NULL;
		if (!p || !files_tree_pipe_whole(p, &e)) {
			pos += e.size;
			continue;
		}
		sz = files_fcntl(e.fd, F_GETPIPE_SZ, 0);
		e.pipe_size = sz < FILES_PIPE_SIZE_MIN ? FILES_PIPE_SIZE_MIN : (uint32_t)sz;
		e.kind = FILES_KIND_TREE_PIPE;
		e.same_as = -1;
		if (!p->lower_reader && e.dup_of < 0 && (e.open_flags & O_ACCMODE) == O_RDONLY &&
		    !saved[p - t]) {
			saved[p - t] = true;
			data = e.pipe_size;
		}
		ret = files_entry_resize(c, pos, &e, data);
		if (ret < 0)
			return ret;
		pos += e.size;
	}
	return 0;
}

/* ---- capture: socketpairs shared with other processes of the tree ----- */

/* Whether entry @e (path @path) stands on a socket the tree pass decides
 * about: a Unix socket put aside by files_capture_fd(), or a standard
 * descriptor on a socket (non-Unix ones are told apart by sock_diag). */
static bool files_on_sock(const struct files_rec_fd *e, const char *path)
{
	return e->kind == FILES_KIND_SOCK_PENDING ||
	       (e->kind == FILES_KIND_STDIO && S_ISSOCK(e->mode) &&
		strncmp(path, "socket:[", 8) == 0);
}

static struct files_tsock *files_tsock_find(struct files_tsock *t, size_t n, uint64_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].ino == ino)
			return &t[i];
	return NULL;
}

/* Lists the sockets this process holds (at most FILES_TREE_PIPES_MAX: the
 * others are named); returns how many. */
static size_t files_tree_own_socks(const struct files_cap *c, struct files_tsock *t)
{
	size_t pos = sizeof(struct files_rec_hdr);
	size_t n = 0;

	while (pos < c->len) {
		struct files_rec_fd e;
		const char *path = c->buf + pos + sizeof(e);

		files_get(c->buf, pos, &e);
		pos += e.size;
		if (!files_on_sock(&e, path) || files_tsock_find(t, n, e.ino) ||
		    n == FILES_TREE_PIPES_MAX)
			continue;
		memset(&t[n], 0, sizeof(t[n]));
		t[n].ino = e.ino;
		n++;
	}
	return n;
}

/* Decides from sock_diag whether socket @t and its peer form a socketpair
 * 'ckpt restart' can make again: both unnamed, each the other's peer, of a
 * type it knows, connected. Sets t->why otherwise. Whether the tree holds
 * the peer is known only after the scan. */
static void files_tsock_judge(int nl, struct files_tsock *t)
{
	uint32_t ty;

	t->why = "a socket sock_diag does not describe";
	if (nl < 0 || ckpt_usock_diag(nl, t->ino, &t->self) < 0)
		return;
	ty = t->self.type;
	t->why = "bound to a name: a listening socket, or a connection through one";
	if (t->self.named)
		return;
	t->why = "of a type other than stream, datagram or seqpacket";
	if (ty != SOCK_STREAM && ty != SOCK_DGRAM && ty != SOCK_SEQPACKET)
		return;
	t->why = "not connected";
	if (t->self.state != 1 /* TCP_ESTABLISHED */)
		return;
	/* Still connected, to a peer whose last holder closed it: its queue
	 * is all there will be (then end of file), made again with the other
	 * end closed. */
	if (!t->self.peer) {
		t->peer_closed = true;
		t->why = NULL;
		return;
	}
	t->why = "whose other end sock_diag does not describe";
	if (ckpt_usock_diag(nl, t->self.peer, &t->peer) < 0)
		return;
	t->why = "connected through a named socket";
	if (t->peer.named)
		return;
	t->why = "whose peer is connected elsewhere";
	if (t->peer.peer != t->ino || t->peer.type != ty)
		return;
	t->why = NULL;
}

/* Writes the TREE_SOCK header of socket @p, entry @e, at @dst. */
static void files_tsock_hdr(const struct files_tsock *p, const struct files_rec_fd *e, bool queue,
			    void *dst)
{
	struct ckpt_usock_hdr h;
	socklen_t olen = sizeof(int);
	int v;

	memset(&h, 0, sizeof(h));
	h.peer = p->self.peer;
	h.type = p->self.type;
	h.shut = p->self.shut;
	h.flags = queue ? CKPT_USOCK_QUEUE : 0;
	v = -1;
	if (syscall(SYS_getsockopt, e->fd, SOL_SOCKET, SO_PEEK_OFF, &v, &olen) == 0 && v >= -1)
		h.peek_off = v;
	else
		h.peek_off = -1;
	v = 0;
	olen = sizeof(int);
	if (syscall(SYS_getsockopt, e->fd, SOL_SOCKET, SO_SNDBUF, &v, &olen) == 0 && v > 0)
		h.sndbuf = (uint32_t)v;
	v = 0;
	olen = sizeof(int);
	if (syscall(SYS_getsockopt, e->fd, SOL_SOCKET, SO_RCVBUF, &v, &olen) == 0 && v > 0)
		h.rcvbuf = (uint32_t)v;
	v = 0;
	olen = sizeof(int);
	if (syscall(SYS_getsockopt, e->fd, SOL_SOCKET, SO_PASSCRED, &v, &olen) == 0 && v)
		h.flags |= CKPT_USOCK_PASSCRED;
	memcpy(dst, &h, sizeof(h));
}

/* Default SO_SNDBUF of a Unix socket (net.core.wmem_default): the least a
 * queue's room is sized for when sock_diag gives no budget. */
#define FILES_SNDBUF_DEFAULT 212992u

/* Unix sockets whose peer is held in the tree too become TREE_SOCK entries:
 * 'ckpt restart' makes each pair once with its queues and hands the ends to
 * their holders. A socket's receive queue is saved once, by the lowest pid
 * holding it, on its first entry: room for what its peer can queue (its
 * SO_SNDBUF) is reserved here and filled at write time, every process of
 * the tree stopped (ckpt_files_tree_pipes_fill()). Any other Unix socket is
 * named here and left closed at restart; standard descriptors on sockets
 * outside the tree stay the launcher's. */
static int files_tree_socks(struct files_cap *c, struct files_tsock *t, size_t n)
{
	size_t pos = sizeof(struct files_rec_hdr);

	while (pos < c->len) {
		struct files_rec_fd e;
		char *path = c->buf + pos + sizeof(e);
		struct files_tsock *p;
		const char *why;
		uint64_t data = 0;
		bool queue = false;
		int ret;

		files_get(c->buf, pos, &e);
		if (!files_on_sock(&e, path)) {
			pos += e.size;
			continue;
		}
		p = files_tsock_find(t, n, e.ino);
		if (p && !p->why && !p->peer_held && !p->peer_closed)
			p->why = "its other end is held outside the tree";
		why = p ? p->why : "more than 64 Unix sockets in one process";
		if (why && e.kind == FILES_KIND_STDIO) {
			pos += e.size;
			continue;
		}
		if (why) {
			char desc[640];
			struct files_msg m;

			/* The entry keeps its short description; the user
			 * reads why. */
			msg_init(&m, desc, sizeof(desc));
			msg_str(&m, path);
			msg_str(&m, " (");
			msg_str(&m, why);
			msg_str(&m, ")");
			e.kind = FILES_KIND_UNSUPPORTED;
			files_put(c->buf, pos, &e);
			files_warn_unsupported(c, e.fd, desc);
			pos += e.size;
			continue;
		}
		e.kind = FILES_KIND_TREE_SOCK;
		e.same_as = -1;
		e.pipe_size = 0;
		if (e.dup_of < 0) {
			uint32_t sb = p->peer.sndbuf > FILES_SNDBUF_DEFAULT ? p->peer.sndbuf
									    : FILES_SNDBUF_DEFAULT;
			uint64_t room;
			int inq = 0;

			/* A closed peer sends no more: what is queued now is all. */
			if (p->peer_closed && syscall(SYS_ioctl, e.fd, SIOCINQ, &inq) == 0 &&
			    inq > 0 && (uint64_t)inq * 2 > sb)
				sb = (uint32_t)((uint64_t)inq * 2 > UINT32_MAX ? UINT32_MAX
									       : (uint64_t)inq * 2);
			room = ckpt_usock_queue_room(sb);

			queue = !p->lower_holder && !p->saved;
			if (room > CKPT_USOCK_QUEUE_MAX)
				room = CKPT_USOCK_QUEUE_MAX;
			data = sizeof(struct ckpt_usock_hdr) + (queue ? room : 0);
			p->saved |= queue;
		}
		ret = files_entry_resize(c, pos, &e, data);
		if (ret < 0)
			return ret;
		if (data)
			files_tsock_hdr(p, &e, queue, c->buf + pos + sizeof(e) + e.path_len);
		pos += e.size;
	}
	return 0;
}

/* The tree passes: pipes and Unix sockets this process shares with other
 * processes of the tree (one scan of their descriptors for both). */
static int files_tree(struct files_cap *c)
{
	struct files_tpipe pipes[FILES_TREE_PIPES_MAX];
	struct files_tsock socks[FILES_TREE_PIPES_MAX];
	struct files_tree t = { .pipes = pipes, .socks = socks };
	int nl = -1;
	int ret;

	t.npipes = files_tree_own(c, pipes);
	t.nsocks = files_tree_own_socks(c, socks);
	if (!t.npipes && !t.nsocks)
		return 0;
	if (t.nsocks)
		nl = ckpt_usock_diag_open();
	for (size_t i = 0; i < t.nsocks; i++) {
		files_tsock_judge(nl, &socks[i]);
		/* Its peer in this very process: a pair the process holds alone. */
		if (!socks[i].why && files_tsock_find(socks, t.nsocks, socks[i].self.peer))
			socks[i].peer_held = true;
	}
	if (nl >= 0)
		files_close(nl);
	files_tree_scan(c, &t);
	ret = files_tree_pipes(c, pipes, t.npipes);
	if (ret == 0)
		ret = files_tree_socks(c, socks, t.nsocks);
	return ret;
}

/* The eventfds, timerfds and signalfds this process shares with another
 * process of the tree (inherited over fork) would come back as two objects:
 * the checkpoint is refused, naming each. Returns 0 or -ENOTSUP. */
static int files_tree_evfd(const struct files_cap *c)
{
	size_t pos = sizeof(struct files_rec_hdr);
	int ret = 0;

	while (pos < c->len) {
		struct files_rec_fd e;
		char buf[640];
		struct files_msg m;
		long pid = 0;
		int pfd = -1;
		int r;

		files_get(c->buf, pos, &e);
		pos += e.size;
		if (!FILES_IS_EVFD(e.kind) || e.dup_of >= 0)
			continue;
		r = ckpt_evfd_tree_shared((int)(e.kind - FILES_KIND_EVENTFD), e.fd, c->pid, &pid,
					  &pfd);
		if (r == 0)
			continue;
		msg_init(&m, buf, sizeof(buf));
		msg_fd(&m, e.fd);
		msg_str(&m, ckpt_evfd_kind_name((int)(e.kind - FILES_KIND_EVENTFD)));
		msg_str(&m, r > 0 ? " is shared with fd " : " may be shared with fd ");
		msg_u64(&m, (uint64_t)pfd);
		msg_str(&m, " of process ");
		msg_u64(&m, (uint64_t)pid);
		msg_str(&m, r > 0 ? " of the tree, which cannot be restored shared"
				  : " of the tree (kcmp failed), which cannot be restored shared");
		msg_str(&m, ": checkpoint refused; let one process close it, or create it "
			    "after fork()");
		files_warn(c, buf);
		ret = -ENOTSUP;
	}
	return ret;
}

/* A memfd this process shares with another process of the tree would come
 * back as two objects: the checkpoint is refused, naming each. Returns 0
 * or -ENOTSUP. */
static int files_tree_memfd(const struct files_cap *c)
{
	size_t pos = sizeof(struct files_rec_hdr);
	int ret = 0;

	while (pos < c->len) {
		struct files_rec_fd e;
		char buf[640];
		struct files_msg m;
		long pid = 0;
		int pfd = -1;

		files_get(c->buf, pos, &e);
		pos += e.size;
		if (e.kind != FILES_KIND_MEMFD || e.dup_of >= 0 ||
		    ckpt_memfd_tree_shared(e.ino, e.dev, c->pid, &pid, &pfd) == 0)
			continue;
		msg_init(&m, buf, sizeof(buf));
		msg_fd(&m, e.fd);
		msg_str(&m, "memfd ");
		msg_str(&m, c->buf + pos - e.size + sizeof(e));
		msg_str(&m, " is shared with fd ");
		msg_u64(&m, (uint64_t)pfd);
		msg_str(&m, " of process ");
		msg_u64(&m, (uint64_t)pid);
		msg_str(&m, " of the tree, which cannot be restored shared: checkpoint refused; "
			    "let one process close it, or create it after fork()");
		files_warn(c, buf);
		ret = -ENOTSUP;
	}
	return ret;
}

/* Whether @name is a descriptor number; stores it in *@fd. */
static bool files_name_fd(const char *name, int *fd)
{
	long v = 0;

	if (!*name)
		return false;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || v > INT_MAX / 10)
			return false;
		v = v * 10 + (*name - '0');
	}
	if (v > INT_MAX)
		return false;
	*fd = (int)v;
	return true;
}

/* ---- capture: epoll interest lists (files_epoll.c) --------------------- */

static bool files_lookup(const char *rec, size_t end, int fd, struct files_rec_fd *out,
			 const char **path);

/* files_lookup() from entry offset *@pos on, for increasing @fd in turn (an
 * epoll's targets are sorted, like the entries): *@pos stays at the first
 * entry not below @fd, so one epoll costs one walk of the record. */
static bool files_lookup_from(const char *rec, size_t end, size_t *pos, int fd,
			      struct files_rec_fd *out, const char **path)
{
	while (*pos < end) {
		files_get(rec, *pos, out);
		if (out->fd >= fd) {
			*path = rec + *pos + sizeof(*out);
			return out->fd == fd;
		}
		*pos += out->size;
	}
	return false;
}

/* An epoll's targets looked up in a capture in progress, in increasing order. */
struct files_epoll_walk {
	const struct files_cap *c; /* the capture */
	size_t pos;		   /* files_lookup_from() cursor */
};

/* Entry @e with a duplicate resolved to the description it duplicates. */
static void files_resolve_dup(const char *rec, size_t end, struct files_rec_fd *e,
			      const char **path)
{
	struct files_rec_fd o;
	const char *opath;

	if (e->dup_of >= 0 && files_lookup(rec, end, e->dup_of, &o, &opath)) {
		*e = o;
		*path = opath;
	}
}

/* Why descriptor @tfd, an epoll's target, will not be restored; NULL if it
 * will (ckpt_epoll_why_fn over a capture in progress). */
static const char *files_epoll_why(void *ctx, int tfd)
{
	struct files_epoll_walk *w = ctx;
	const struct files_cap *c = w->c;
	struct files_rec_fd e;
	const char *path;

	if (!files_lookup_from(c->buf, c->len, &w->pos, tfd, &e, &path))
		return ckpt_files_fd_excluded(tfd) ? "one of the checkpointer's own descriptors"
						   : "not in the descriptor table";
	files_resolve_dup(c->buf, c->len, &e, &path);
	if (e.kind == FILES_KIND_UNSUPPORTED || e.kind == FILES_KIND_SOCK_PENDING)
		return path;
	return NULL;
}

/* Nesting depth of the epoll of entry @e among the entries captured so far,
 * from its targets' recorded depths. */
static uint32_t files_epoll_depth(const struct files_cap *c, const struct files_rec_fd *e,
				  const char *data)
{
	struct ckpt_epoll_hdr h;
	uint32_t depth = 0;
	size_t pos = sizeof(struct files_rec_hdr);

	ckpt_epoll_hdr_get(data, &h);
	for (uint32_t i = 0; i < h.count; i++) {
		struct ckpt_epoll_item it;
		struct files_rec_fd t;
		struct ckpt_epoll_hdr th;
		const char *tpath;

		ckpt_epoll_item_get(data, i, &it);
		if (!files_lookup_from(c->buf, c->len, &pos, it.tfd, &t, &tpath))
			continue;
		files_resolve_dup(c->buf, c->len, &t, &tpath);
		if (t.kind != FILES_KIND_EPOLL || t.fd == e->fd)
			continue;
		ckpt_epoll_hdr_get(tpath + t.path_len, &th);
		if (th.depth + 1 > depth)
			depth = th.depth + 1;
	}
	return depth > CKPT_EPOLL_NEST_MAX ? CKPT_EPOLL_NEST_MAX : depth;
}

/* Last capture pass: every epoll's targets must come back (else the
 * checkpoint is refused, naming them), an epoll shared with another
 * process of the tree is refused, and each epoll gets its nesting depth
 * (the kernel keeps nesting acyclic and shallow, so CKPT_EPOLL_NEST_MAX + 1
 * passes settle it). */
static int files_check_epolls(struct files_cap *c)
{
	for (int pass = 0; pass <= CKPT_EPOLL_NEST_MAX + 1; pass++) {
		size_t pos = sizeof(struct files_rec_hdr);

		while (pos < c->len) {
			struct files_rec_fd e;
			char *data;
			int ret;

			files_get(c->buf, pos, &e);
			data = c->buf + pos + sizeof(e) + e.path_len;
			pos += e.size;
			if (e.kind != FILES_KIND_EPOLL || e.dup_of >= 0)
				continue;
			if (pass == 0) {
				struct files_epoll_walk w = { c, sizeof(struct files_rec_hdr) };

				ret = ckpt_epoll_capture_targets(c->pid, e.fd, data,
								 files_epoll_why, &w, c->warn);
				if (ret == 0 && c->in_tree)
					ret = ckpt_epoll_capture_shared(c->pid, e.fd, c->warn);
				if (ret < 0)
					return ret;
			}
			ckpt_epoll_depth_set(data, files_epoll_depth(c, &e, data));
		}
	}
	return 0;
}

static ssize_t files_capture(void *buf, size_t cap, void (*warn)(const char *msg))
{
	struct files_cap c = {
		.buf = buf,
		.cap = cap,
		.len = sizeof(struct files_rec_hdr),
		.kcmp_ok = true,
		.in_tree = files_in_tree(),
		.warn = warn,
	};
	struct files_rec_hdr hdr;
	/* getdents64 buffer: 8-aligned for the dirent structs. */
	uint64_t dbuf[256];
	struct eng_dir dir;
	const char *name;
	int prev = -1;
	ssize_t ret;

	if (cap < sizeof(hdr))
		return -ENOSPC;
	hdr.magic = FILES_REC_MAGIC;
	hdr.version = FILES_REC_VERSION;
	hdr.flags = files_settings(&c);
	c.pid = syscall(SYS_getpid);
	/* thread-self: see files_proc_path(). */
	c.dirfd = files_openat(AT_FDCWD, "/proc/thread-self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC,
			       0);
	if (c.dirfd < 0)
		return c.dirfd;

	eng_dir_start(&dir, c.dirfd, dbuf, sizeof(dbuf));
	while ((name = eng_dir_next(&dir))) {
		int fd;

		if (!files_name_fd(name, &fd) || fd == c.dirfd || ckpt_files_fd_excluded(fd))
			continue;
		/* procfs lists descriptors in increasing order; the record
		 * depends on it, so make sure. */
		if (fd <= prev) {
			ret = -EIO;
			goto out_close;
		}
		prev = fd;
		ret = files_capture_fd(&c, fd, name);
		if (ret < 0)
			goto out_close;
	}
	if (dir.err) {
		ret = dir.err;
		goto out_close;
	}
	/* Only in the namespace 'ckpt run' made: there /proc lists the tree. */
	if (c.in_tree) {
		ret = files_tree(&c);
		if (ret == 0)
			ret = files_tree_evfd(&c);
		if (ret == 0)
			ret = files_tree_memfd(&c);
		if (ret < 0)
			goto out_close;
	}
	ret = files_check_pipes(&c);
	if (ret == 0)
		ret = files_check_epolls(&c);
	if (ret < 0)
		goto out_close;
	hdr.count = c.count;
	memcpy(buf, &hdr, sizeof(hdr));
	ret = (ssize_t)c.len;
out_close:
	files_close(c.dirfd);
	return ret;
}

/* At write time: copies the receive queue of the socket of entry @e into
 * its reserved room after the header at @data, when @e carries it, with
 * the shutdown state as it is now (*@nl: a sock_diag socket, opened on
 * first use). Sets *@len to the data's new length. Returns 0 or -errno
 * (said). */
static int files_tsock_fill(int *nl, const struct files_rec_fd *e, const char *path, char *data,
			    uint64_t *len)
{
	struct ckpt_usock_info info;
	struct ckpt_usock_hdr h;
	size_t used = 0;
	int ret;

	*len = e->data_len;
	if (e->data_len < sizeof(h))
		return -EINVAL;
	memcpy(&h, data, sizeof(h));
	if (!(h.flags & CKPT_USOCK_QUEUE))
		return 0;
	if (*nl < 0)
		*nl = ckpt_usock_diag_open();
	if (*nl >= 0 && ckpt_usock_diag(*nl, e->ino, &info) == 0)
		h.shut = info.shut;
	ret = ckpt_usock_queue_save(e->fd, h.type, h.shut & CKPT_USOCK_SHUT_RD, data + sizeof(h),
				    e->data_len - sizeof(h), &h.nmsgs, &h.qbytes, &used);
	if (ret == -EBADE) {
		log_err("fd %d: %s socket:[%llu] has descriptors in flight (SCM_RIGHTS), which "
			"cannot be restored: checkpoint refused; try again once they are received",
			e->fd, path, (unsigned long long)e->ino);
		return ret;
	}
	if (ret < 0) {
		errno = -ret;
		log_perror("fd %d: cannot save the queue of %s socket:[%llu] (%llu bytes reserved)",
			   e->fd, path, (unsigned long long)e->ino,
			   (unsigned long long)(e->data_len - sizeof(h)));
		return ret;
	}
	memcpy(data, &h, sizeof(h));
	*len = sizeof(h) + used;
	return 0;
}

ssize_t ckpt_files_tree_pipes_fill(void *rec, size_t len)
{
	char *buf = rec;
	size_t pos = sizeof(struct files_rec_hdr);
	ssize_t out = (ssize_t)len;
	int nl = -1;

	if (len < pos)
		return (ssize_t)len;
	while (pos < len) {
		struct files_rec_fd e;
		const char *path = buf + pos + sizeof(e);
		size_t old;
		uint64_t got = 0;
		int ret;

		files_get(buf, pos, &e);
		old = e.size;
		if ((e.kind != FILES_KIND_TREE_PIPE && e.kind != FILES_KIND_TREE_SOCK) ||
		    e.dup_of >= 0 || !e.data_len) {
			pos += old;
			continue;
		}
		if (e.kind == FILES_KIND_TREE_SOCK)
			ret = files_tsock_fill(&nl, &e, path, buf + pos + sizeof(e) + e.path_len,
					       &got);
		else
			ret = files_save_pipe(e.fd, e.pipe_size, buf + pos + sizeof(e) + e.path_len,
					      e.data_len, &got);
		if (ret < 0 && e.kind == FILES_KIND_TREE_PIPE) {
			errno = -ret;
			log_perror("fd %d: cannot save the bytes buffered in %s", e.fd, path);
		}
		if (ret < 0) {
			out = ret;
			break;
		}
		e.data_len = got;
		e.size = (uint32_t)files_align8(sizeof(e) + e.path_len + got);
		memset(buf + pos + sizeof(e) + e.path_len + got, 0,
		       e.size - sizeof(e) - e.path_len - got);
		files_put(buf, pos, &e);
		memmove(buf + pos + e.size, buf + pos + old, len - pos - old);
		len -= old - e.size;
		pos += e.size;
	}
	if (nl >= 0)
		files_close(nl);
	return out < 0 ? out : (ssize_t)len;
}

bool ckpt_files_tree_pipes_saved(const void *rec, size_t len)
{
	const char *buf = rec;
	size_t pos = sizeof(struct files_rec_hdr);

	while (pos + sizeof(struct files_rec_fd) <= len) {
		struct files_rec_fd e;

		files_get(buf, pos, &e);
		/* The queues of socketpairs in the tree are saved with the
		 * pipes, and so wait for the same barrier. */
		if ((e.kind == FILES_KIND_TREE_PIPE || e.kind == FILES_KIND_TREE_SOCK) &&
		    e.dup_of < 0 && e.data_len)
			return true;
		if (!e.size)
			break;
		pos += e.size;
	}
	return false;
}

/* ---- restore: validation ----------------------------------------------- */

/* Finds the entry of descriptor @fd among the first @end bytes (entries
 * already validated) and its path; false if none. */
static bool files_lookup(const char *rec, size_t end, int fd, struct files_rec_fd *out,
			 const char **path)
{
	size_t pos = sizeof(struct files_rec_hdr);

	while (pos < end) {
		files_get(rec, pos, out);
		if (out->fd == fd) {
			*path = rec + pos + sizeof(*out);
			return true;
		}
		pos += out->size;
	}
	return false;
}

/* Finds the partner of pipe creator @c in a validated record: its first
 * other description opened the other way. The creator places it. */
static bool files_pipe_partner(const char *rec, size_t len, const struct files_rec_fd *c,
			       struct files_rec_fd *out, const char **path)
{
	uint32_t acc = c->open_flags & O_ACCMODE;
	size_t pos = sizeof(struct files_rec_hdr);

	while (pos < len) {
		files_get(rec, pos, out);
		if (out->kind == FILES_KIND_PIPE && out->same_as == c->fd && out->dup_of < 0 &&
		    (out->open_flags & O_ACCMODE) != acc) {
			*path = rec + pos + sizeof(*out);
			return true;
		}
		pos += out->size;
	}
	return false;
}

static const char *files_kind_name(uint32_t kind)
{
	static const char *const names[] = {
		"?",
		"stdio",
		"regular file",
		"unlinked file",
		"directory",
		"device",
		"pipe",
		"unsupported",
		"pipe shared in the tree",
		"socket shared in the tree",
		"eventfd",
		"timerfd",
		"signalfd",
		"epoll",
		"inotify",
		"memfd",
	};

	return kind <= FILES_KIND_MAX ? names[kind] : names[0];
}

/* Checks the fields of entry @e (at @pos, already known to lie inside
 * @len bytes) that do not depend on other entries. */
static int files_check_entry(const char *rec, size_t pos, const struct files_rec_fd *e, uint32_t i)
{
	const char *path = rec + pos + sizeof(*e);
	uint32_t acc = e->open_flags & O_ACCMODE;
	uint64_t need;

	if (e->path_len == 0 || e->path_len > PATH_MAX) {
		log_err("entry %u: path length %u out of range", i, e->path_len);
		return -EINVAL;
	}
	if (e->data_len > e->size) {
		log_err("entry %u: data length %llu beyond the entry", i,
			(unsigned long long)e->data_len);
		return -EINVAL;
	}
	need = files_align8(sizeof(*e) + e->path_len + e->data_len);
	if (need != e->size) {
		log_err("entry %u: size %u does not match its contents (%llu)", i, e->size,
			(unsigned long long)need);
		return -EINVAL;
	}
	if (path[e->path_len - 1] != '\0' || memchr(path, '\0', e->path_len - 1)) {
		log_err("entry %u: path is not one NUL-terminated string", i);
		return -EINVAL;
	}
	/* Only a standard descriptor can be the launcher's; one a tree member
	 * made its own (a pipe, a file of 'exec >FILE') is any other kind. */
	if (e->fd < 0 || e->kind == 0 || e->kind > FILES_KIND_MAX ||
	    (e->fd > 2 && e->kind == FILES_KIND_STDIO)) {
		log_err("entry %u: fd %d of kind %u is invalid", i, e->fd, e->kind);
		return -EINVAL;
	}
	if ((e->open_flags & ~(uint32_t)FILES_OPEN_FLAGS_KNOWN) || acc == O_ACCMODE ||
	    (e->fd_flags & ~(uint32_t)FD_CLOEXEC) || e->offset < 0) {
		log_err("fd %d: invalid flags 0%o/%u or offset %lld", e->fd, e->open_flags,
			e->fd_flags, (long long)e->offset);
		return -EINVAL;
	}
	if ((e->kind == FILES_KIND_REG || e->kind == FILES_KIND_DIR || e->kind == FILES_KIND_DEV ||
	     e->kind == FILES_KIND_UNLINKED) &&
	    path[0] != '/') {
		log_err("fd %d: %s path \"%s\" is not absolute", e->fd, files_kind_name(e->kind),
			path);
		return -EINVAL;
	}
	if (e->kind == FILES_KIND_TREE_PIPE && !S_ISFIFO(e->mode)) {
		log_err("fd %d: a pipe shared in the tree that is no pipe (mode 0%o)", e->fd,
			e->mode);
		return -EINVAL;
	}
	if (e->kind == FILES_KIND_PIPE || e->kind == FILES_KIND_TREE_PIPE) {
		if (e->pipe_size < FILES_PIPE_SIZE_MIN || e->pipe_size > FILES_PIPE_SIZE_MAX ||
		    e->data_len > e->pipe_size || acc == O_RDWR) {
			log_err("fd %d: pipe of %u bytes with %llu buffered is invalid", e->fd,
				e->pipe_size, (unsigned long long)e->data_len);
			return -EINVAL;
		}
		if (e->data_len && (acc != O_RDONLY || e->dup_of >= 0)) {
			log_err("fd %d: pipe data on an entry that cannot carry it", e->fd);
			return -EINVAL;
		}
	} else if (e->pipe_size) {
		log_err("fd %d: pipe size on a %s", e->fd, files_kind_name(e->kind));
		return -EINVAL;
	}
	if (e->kind == FILES_KIND_UNLINKED && e->dup_of < 0 && e->same_as < 0) {
		if (e->data_len != e->file_size) {
			log_err("fd %d: unlinked file %s has %llu of %llu bytes saved", e->fd, path,
				(unsigned long long)e->data_len, (unsigned long long)e->file_size);
			return -EINVAL;
		}
	} else if (e->kind == FILES_KIND_TREE_SOCK && e->dup_of < 0) {
		struct ckpt_usock_hdr h;

		if (!S_ISSOCK(e->mode) ||
		    ckpt_usock_data_check(path + e->path_len, e->data_len, &h) < 0 ||
		    h.peer == e->ino) {
			log_err("fd %d: invalid description of a socket shared in the tree", e->fd);
			return -EINVAL;
		}
	} else if (e->kind == FILES_KIND_MEMFD && e->dup_of < 0) {
		if (!ckpt_memfd_is(path) || ckpt_memfd_check(e->fd, e->open_flags, e->file_size,
							     path + e->path_len, e->data_len) < 0) {
			log_err("fd %d: invalid memfd entry (%s)", e->fd, path);
			return -EINVAL;
		}
	} else if (FILES_IS_EVFD(e->kind) && e->dup_of < 0) {
		return ckpt_evfd_check((int)(e->kind - FILES_KIND_EVENTFD), e->fd, e->open_flags,
				       path + e->path_len, e->data_len);
	} else if (e->kind == FILES_KIND_EPOLL && e->dup_of < 0) {
		if (ckpt_epoll_data_check(e->fd, path + e->path_len, e->data_len) < 0)
			return -EINVAL;
	} else if (e->kind == FILES_KIND_INOTIFY && e->dup_of < 0) {
		if (ckpt_inotify_data_check(e->fd, e->open_flags, path + e->path_len, e->data_len) <
		    0)
			return -EINVAL;
	} else if (e->kind != FILES_KIND_PIPE && e->kind != FILES_KIND_TREE_PIPE &&
		   e->kind != FILES_KIND_TREE_SOCK && e->data_len) {
		log_err("fd %d: data on a %s entry", e->fd, files_kind_name(e->kind));
		return -EINVAL;
	}
	return 0;
}

/* Checks @e's references to earlier entries (the first @pos bytes). */
static int files_check_refs(const char *rec, size_t pos, const struct files_rec_fd *e)
{
	struct files_rec_fd o;
	const char *opath;

	if (e->dup_of >= 0) {
		/* Capture names the first holder, never another duplicate: a
		 * chain could hide a cycle from the epoll depth check. */
		if (e->dup_of >= e->fd || e->same_as >= 0 || e->data_len ||
		    !files_lookup(rec, pos, e->dup_of, &o, &opath) || o.dup_of >= 0) {
			log_err("fd %d: duplicate of fd %d, which is not an earlier original entry",
				e->fd, e->dup_of);
			return -EINVAL;
		}
		if ((e->kind == FILES_KIND_TREE_PIPE || o.kind == FILES_KIND_TREE_PIPE ||
		     e->kind == FILES_KIND_TREE_SOCK || o.kind == FILES_KIND_TREE_SOCK) &&
		    (e->kind != o.kind || e->ino != o.ino)) {
			log_err("fd %d: duplicate of fd %d, which is not the same pipe or socket",
				e->fd, e->dup_of);
			return -EINVAL;
		}
		if ((e->kind == FILES_KIND_EPOLL) != (o.kind == FILES_KIND_EPOLL)) {
			log_err("fd %d: duplicate of fd %d, which is not the same epoll", e->fd,
				e->dup_of);
			return -EINVAL;
		}
		if ((e->kind == FILES_KIND_INOTIFY) != (o.kind == FILES_KIND_INOTIFY)) {
			log_err("fd %d: duplicate of fd %d, which is not the same inotify", e->fd,
				e->dup_of);
			return -EINVAL;
		}
		if ((e->kind == FILES_KIND_MEMFD) != (o.kind == FILES_KIND_MEMFD)) {
			log_err("fd %d: duplicate of fd %d, which is not the same memfd", e->fd,
				e->dup_of);
			return -EINVAL;
		}
	} else if (e->dup_of != -1) {
		log_err("fd %d: invalid dup_of %d", e->fd, e->dup_of);
		return -EINVAL;
	}
	if (e->same_as >= 0) {
		if (e->same_as >= e->fd || e->fd <= 2 ||
		    (e->kind != FILES_KIND_PIPE && e->kind != FILES_KIND_UNLINKED) ||
		    !files_lookup(rec, pos, e->same_as, &o, &opath) || o.kind != e->kind ||
		    o.ino != e->ino || o.dev != e->dev || o.dup_of >= 0 || o.same_as >= 0 ||
		    o.fd <= 2) {
			log_err("fd %d: refers to fd %d, which is not the same object", e->fd,
				e->same_as);
			return -EINVAL;
		}
	} else if (e->same_as != -1) {
		log_err("fd %d: invalid same_as %d", e->fd, e->same_as);
		return -EINVAL;
	}
	return 0;
}

/* Second validation pass, once every entry is known to be sound: each
 * pipe's creator has a partner (else its re-opens could block for ever)
 * or is the read end of a widowed pipe (no write end at all), and saved
 * bytes sit only on the pipe's first reader, creator or partner. */
static int files_check_pipes_rec(const char *rec, size_t len)
{
	size_t pos = sizeof(struct files_rec_hdr);

	while (pos < len) {
		struct files_rec_fd e;
		struct files_rec_fd c;
		struct files_rec_fd p;
		const char *path;

		files_get(rec, pos, &e);
		pos += e.size;
		if (e.kind != FILES_KIND_PIPE || e.dup_of >= 0)
			continue;
		if (e.same_as < 0) {
			c = e;
		} else if (!files_lookup(rec, len, e.same_as, &c, &path)) {
			return -EINVAL; /* ruled out by files_check_refs() */
		}
		if (files_pipe_partner(rec, len, &c, &p, &path)) {
			/* the creator places the partner */
		} else if ((c.open_flags & O_ACCMODE) == O_RDONLY) {
			p = c; /* widowed: every description is a read end */
		} else {
			log_err("fd %d: pipe without a description of its other end", c.fd);
			return -EINVAL;
		}
		if (e.data_len && e.fd != c.fd && e.fd != p.fd) {
			log_err("fd %d: pipe data on a description that cannot carry it", e.fd);
			return -EINVAL;
		}
	}
	return 0;
}

/* Checks target @tfd of the epoll of entry @e (depth @depth): an entry of
 * the record the kernel can watch, an inner epoll of a lower depth. */
static int files_check_epoll_target(const char *rec, size_t len, const struct files_rec_fd *e,
				    uint32_t depth, int tfd, size_t *pos)
{
	struct files_rec_fd t;
	struct ckpt_epoll_hdr th;
	const char *tpath;

	if (!files_lookup_from(rec, len, pos, tfd, &t, &tpath)) {
		log_err("fd %d: epoll entry for fd %d, which the record does not hold", e->fd, tfd);
		return -EINVAL;
	}
	files_resolve_dup(rec, len, &t, &tpath);
	if (t.kind == FILES_KIND_UNSUPPORTED || t.kind == FILES_KIND_REG ||
	    t.kind == FILES_KIND_DIR || t.kind == FILES_KIND_UNLINKED) {
		log_err("fd %d: epoll entry for fd %d, a %s, which no epoll can watch or which "
			"is not restored",
			e->fd, tfd, files_kind_name(t.kind));
		return -EINVAL;
	}
	if (t.kind != FILES_KIND_EPOLL)
		return 0;
	ckpt_epoll_hdr_get(tpath + t.path_len, &th);
	if (t.fd == e->fd || th.depth >= depth) {
		log_err("fd %d: epoll (depth %u) watches epoll fd %d of depth %u: not an inner "
			"one",
			e->fd, depth, tfd, th.depth);
		return -EINVAL;
	}
	return 0;
}

/* Third validation pass, every entry sound: each epoll's targets are
 * entries of the record, and epolls in epolls nest strictly (the restore
 * fills the inner ones first). */
static int files_check_epolls_rec(const char *rec, size_t len)
{
	size_t pos = sizeof(struct files_rec_hdr);

	while (pos < len) {
		struct files_rec_fd e;
		struct ckpt_epoll_hdr h;
		const char *data;

		files_get(rec, pos, &e);
		data = rec + pos + sizeof(e) + e.path_len;
		pos += e.size;
		if (e.kind != FILES_KIND_EPOLL || e.dup_of >= 0)
			continue;
		size_t tpos = sizeof(struct files_rec_hdr);

		ckpt_epoll_hdr_get(data, &h);
		for (uint32_t i = 0; i < h.count; i++) {
			struct ckpt_epoll_item it;
			int ret;

			ckpt_epoll_item_get(data, i, &it);
			ret = files_check_epoll_target(rec, len, &e, h.depth, it.tfd, &tpos);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* Validates the whole record. Returns 0, -EINVAL, or -EBUSY when
 * @check_excluded and an entry lies on an excluded number; *@maxfd gets the
 * highest descriptor number (-1 for none). */
static int files_validate(const char *rec, size_t len, bool check_excluded, int *maxfd)
{
	struct files_rec_hdr hdr;
	size_t pos = sizeof(hdr);
	int prev = -1;
	int ret;

	if (!rec || len < sizeof(hdr)) {
		log_err("record of %zu bytes is too short", len);
		return -EINVAL;
	}
	memcpy(&hdr, rec, sizeof(hdr));
	if (hdr.magic != FILES_REC_MAGIC || hdr.version != FILES_REC_VERSION ||
	    (hdr.flags & ~FILES_REC_FLAGS_KNOWN)) {
		log_err("bad record header (magic %#x version %u flags %#x)", hdr.magic,
			hdr.version, hdr.flags);
		return -EINVAL;
	}
	if (hdr.count > (len - sizeof(hdr)) / sizeof(struct files_rec_fd)) {
		log_err("record claims %u entries in %zu bytes", hdr.count, len);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < hdr.count; i++) {
		struct files_rec_fd e;

		if (len - pos < sizeof(e)) {
			log_err("entry %u truncated", i);
			return -EINVAL;
		}
		files_get(rec, pos, &e);
		if (e.size < sizeof(e) || e.size % 8 || e.size > len - pos) {
			log_err("entry %u: size %u out of range", i, e.size);
			return -EINVAL;
		}
		ret = files_check_entry(rec, pos, &e, i);
		if (ret < 0)
			return ret;
		if (e.fd <= prev) {
			log_err("entry %u: fd %d not above the previous fd %d", i, e.fd, prev);
			return -EINVAL;
		}
		ret = files_check_refs(rec, pos, &e);
		if (ret < 0)
			return ret;
		if (check_excluded && ckpt_files_fd_excluded(e.fd)) {
			log_err("fd %d of the image is in use by the checkpointer itself", e.fd);
			return -EBUSY;
		}
		prev = e.fd;
		pos += e.size;
	}
	if (pos != len) {
		log_err("%zu bytes after the last entry", len - pos);
		return -EINVAL;
	}
	ret = files_check_pipes_rec(rec, len);
	if (ret == 0)
		ret = files_check_epolls_rec(rec, len);
	if (ret < 0)
		return ret;
	*maxfd = prev;
	return 0;
}

int ckpt_files_fd_limit(const void *rec, size_t len)
{
	int maxfd = -1;
	int ret = files_validate(rec, len, false, &maxfd);

	return ret < 0 ? ret : maxfd + 1;
}

/* Validates files record @rec of @len bytes and lists each entry of @kind
 * that is not a dup in @out[0..@max): @put copies into @out[n] what 'ckpt
 * restart' needs of entry @e, whose path and data follow at @at. Returns
 * how many, -EINVAL for an invalid record (said), or -E2BIG when more than
 * @max. */
static int files_tree_ends(const void *rec, size_t len, uint32_t kind,
			   void (*put)(void *out, size_t n, const struct files_rec_fd *e,
				       const char *at),
			   void *out, size_t max)
{
	const char *buf = rec;
	size_t pos = sizeof(struct files_rec_hdr);
	size_t n = 0;
	int maxfd = -1;
	int ret = files_validate(rec, len, false, &maxfd);

	if (ret < 0)
		return ret;
	while (pos < len) {
		struct files_rec_fd e;

		files_get(buf, pos, &e);
		if (e.kind == kind && e.dup_of < 0) {
			if (n >= max)
				return -E2BIG;
			put(out, n, &e, buf + pos + sizeof(e));
			n++;
		}
		pos += e.size;
	}
	return (int)n;
}

static void files_pipe_end_put(void *out, size_t n, const struct files_rec_fd *e, const char *at)
{
	struct ckpt_tree_pipe_ent *p = (struct ckpt_tree_pipe_ent *)out + n;

	p->ino = e->ino;
	p->fd = e->fd;
	p->acc = e->open_flags & O_ACCMODE;
	p->status = e->open_flags & (O_NONBLOCK | O_DIRECT);
	p->pipe_size = e->pipe_size;
	p->data = at + e->path_len;
	p->data_len = e->data_len;
	p->path = at[0] == '/' ? at : NULL;
}

int ckpt_files_tree_pipe_ends(const void *rec, size_t len, struct ckpt_tree_pipe_ent *out,
			      size_t max)
{
	return files_tree_ends(rec, len, FILES_KIND_TREE_PIPE, files_pipe_end_put, out, max);
}

static void files_sock_end_put(void *out, size_t n, const struct files_rec_fd *e, const char *at)
{
	struct ckpt_tree_sock_ent *s = (struct ckpt_tree_sock_ent *)out + n;

	s->ino = e->ino;
	s->fd = e->fd;
	s->status = e->open_flags & O_NONBLOCK;
	s->data = at + e->path_len;
	s->data_len = e->data_len;
}

int ckpt_files_tree_sock_ends(const void *rec, size_t len, struct ckpt_tree_sock_ent *out,
			      size_t max)
{
	return files_tree_ends(rec, len, FILES_KIND_TREE_SOCK, files_sock_end_put, out, max);
}

/* ---- restore: actions -------------------------------------------------- */

/* Moves the fresh descriptor @tmp onto @e->fd with the saved FD_CLOEXEC;
 * consumes @tmp. */
static int files_place(int tmp, const struct files_rec_fd *e)
{
	long r;

	if (tmp == e->fd) {
		r = files_fcntl(tmp, F_SETFD, (long)e->fd_flags);
	} else {
		r = files_ret(
			syscall(SYS_dup3, tmp, e->fd, (e->fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0));
		files_close(tmp);
	}
	if (r < 0) {
		errno = (int)-r;
		log_perror("fd %d: cannot place the descriptor", e->fd);
		return (int)r;
	}
	return 0;
}

/* Leaves @e->fd closed (an unsupported or unrestorable descriptor), so the
 * application never mistakes a stray descriptor of the restorer for it. */
static void files_leave_closed(const struct files_rec_fd *e, const char *path, const char *why)
{
	files_close(e->fd);
	log_warn("fd %d: %s %s; left closed", e->fd, path, why);
}

/* Flags for re-opening a regular file, directory or device. O_NONBLOCK is
 * always added, so that a path that has become a FIFO or a terminal cannot
 * block the restore in open(); files_open_done() puts the saved value back
 * once the type has been checked. */
static int files_reopen_flags(const struct files_rec_fd *e)
{
	/* O_ASYNC needs an owner (F_SETOWN) we do not record: dropped. */
	int fl = (int)(e->open_flags & ~(uint32_t)O_ASYNC) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

	if (e->kind != FILES_KIND_DIR)
		fl &= ~O_DIRECTORY;
	return fl;
}

/* Drops the O_NONBLOCK files_reopen_flags() added, unless it was saved. */
static int files_open_done(int fd, const struct files_rec_fd *e, const char *path)
{
	long fl;

	if (e->open_flags & (O_NONBLOCK | O_PATH))
		return 0;
	fl = files_fcntl(fd, F_GETFL, 0);
	if (fl >= 0)
		fl = files_fcntl(fd, F_SETFL, fl & ~(long)O_NONBLOCK);
	if (fl < 0) {
		errno = (int)-fl;
		log_perror("fd %d: cannot set the flags of %s", e->fd, path);
		return (int)fl;
	}
	return 0;
}

static bool files_writable(const struct files_rec_fd *e)
{
	return (e->open_flags & O_ACCMODE) != O_RDONLY && !(e->open_flags & O_PATH);
}

/* Seeks to the saved offset; O_PATH descriptors and directories that
 * refuse it only lose the position, which is worth a warning. */
static int files_seek(int fd, const struct files_rec_fd *e, const char *path)
{
	if (e->open_flags & O_PATH || e->offset == 0)
		return 0;
	if (files_lseek(fd, e->offset, SEEK_SET) == e->offset)
		return 0;
	if (e->kind == FILES_KIND_DIR) {
		log_warn("fd %d: cannot restore the position in directory %s", e->fd, path);
		return 0;
	}
	log_perror("fd %d: cannot seek %s to %lld", e->fd, path, (long long)e->offset);
	return -EIO;
}

/* Regular file or directory: re-open by path, check it is the same inode,
 * cut it back to its checkpoint size if the process was writing it. */
static int files_restore_path(const struct files_rec_fd *e, const char *path, bool truncate)
{
	struct stat st;
	int fd;
	int ret;

	fd = files_openat(AT_FDCWD, path, files_reopen_flags(e), 0);
	if (fd < 0) {
		errno = -fd;
		log_perror("fd %d: cannot re-open %s %s", e->fd, files_kind_name(e->kind), path);
		return fd;
	}
	ret = files_fstat(fd, &st);
	if (ret < 0)
		goto out_close;
	if ((uint64_t)st.st_ino != e->ino || (st.st_mode & S_IFMT) != (e->mode & S_IFMT)) {
		log_err("fd %d: %s was replaced since the checkpoint (inode %llu, was %llu)", e->fd,
			path, (unsigned long long)st.st_ino, (unsigned long long)e->ino);
		ret = -ESTALE;
		goto out_close;
	}
	if (e->kind == FILES_KIND_REG && files_writable(e)) {
		if ((uint64_t)st.st_size < e->file_size) {
			log_err("fd %d: %s is shorter (%lld bytes) than at the checkpoint "
				"(%llu): output written before it was lost",
				e->fd, path, (long long)st.st_size,
				(unsigned long long)e->file_size);
			ret = -ESTALE;
			goto out_close;
		}
		if (truncate && (uint64_t)st.st_size > e->file_size) {
			ret = (int)files_ret(syscall(SYS_ftruncate, fd, e->file_size));
			if (ret < 0) {
				log_perror("fd %d: cannot truncate %s to %llu bytes", e->fd, path,
					   (unsigned long long)e->file_size);
				goto out_close;
			}
			log_info("fd %d: cut %s back to its checkpoint size %llu (was %lld)", e->fd,
				 path, (unsigned long long)e->file_size, (long long)st.st_size);
		}
	} else if (e->kind == FILES_KIND_REG && (uint64_t)st.st_size != e->file_size) {
		log_warn("fd %d: %s changed size since the checkpoint (%lld, was %llu)", e->fd,
			 path, (long long)st.st_size, (unsigned long long)e->file_size);
	}
	ret = files_seek(fd, e, path);
	if (ret == 0)
		ret = files_open_done(fd, e, path);
	if (ret < 0)
		goto out_close;
	return files_place(fd, e);

out_close:
	files_close(fd);
	return ret;
}

/* Stateless device: re-open by path; a missing one (no controlling
 * terminal for /dev/tty) leaves the descriptor closed. */
static int files_restore_dev(const struct files_rec_fd *e, const char *path)
{
	struct stat st;
	int fd;

	fd = files_openat(AT_FDCWD, path, files_reopen_flags(e), 0);
	if (fd < 0) {
		files_leave_closed(e, path, "cannot be re-opened");
		return 0;
	}
	if (files_fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || (uint64_t)st.st_rdev != e->rdev) {
		files_close(fd);
		files_leave_closed(e, path, "is no longer the same device");
		return 0;
	}
	if (files_open_done(fd, e, path) < 0) {
		files_close(fd);
		return -EIO;
	}
	return files_place(fd, e);
}

/* Re-opens another description of the object already restored at fd
 * @e->same_as through its /proc/thread-self/fd link. */
static int files_reopen_same(const struct files_rec_fd *e, const char *path, int flags)
{
	char proc[40];
	int fd;

	files_proc_path(proc, e->same_as);
	fd = files_openat(AT_FDCWD, proc, flags | O_CLOEXEC, 0);
	if (fd < 0) {
		errno = -fd;
		log_perror("fd %d: cannot open another description of %s (fd %d)", e->fd, path,
			   e->same_as);
	}
	return fd;
}

static int files_write_all(int fd, const char *data, uint64_t len, uint64_t off, bool positional)
{
	uint64_t done = 0;

	while (done < len) {
		long r = positional ? syscall(SYS_pwrite64, fd, data + done, len - done, off + done)
				    : syscall(SYS_write, fd, data + done, len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (uint64_t)r;
	}
	return 0;
}

/* Creates an anonymous file in @dir (O_TMPFILE) holding @e's contents. */
static int files_make_tmpfile(const struct files_rec_fd *e, const char *dir, const char *data)
{
	int fd;
	int ret;

	fd = files_openat(AT_FDCWD, dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return fd;
	ret = files_write_all(fd, data, e->data_len, 0, true);
	if (ret == 0)
		ret = (int)files_ret(syscall(SYS_fchmod, fd, e->mode & 07777));
	if (ret < 0) {
		files_close(fd);
		return ret;
	}
	return fd;
}

/* Unlinked file: the first description re-creates it, unlinked, in its old
 * directory (or /tmp when that is gone or has no O_TMPFILE support), then
 * opens it with the saved flags through /proc; others open that one. */
static int files_restore_unlinked(const struct files_rec_fd *e, const char *path)
{
	int flags = files_reopen_flags(e);
	char dir[PATH_MAX];
	char proc[40];
	const char *slash;
	int tmp;
	int fd;
	int ret;

	if (e->same_as >= 0) {
		fd = files_reopen_same(e, path, flags);
		if (fd < 0)
			return fd;
		goto out_seek;
	}
	slash = strrchr(path, '/');
	if (slash == path)
		slash++; /* a file in / keeps "/" as its directory */
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	tmp = files_make_tmpfile(e, dir, path + e->path_len);
	if (tmp < 0)
		tmp = files_make_tmpfile(e, "/tmp", path + e->path_len);
	if (tmp < 0) {
		errno = -tmp;
		log_perror("fd %d: cannot re-create unlinked file %s (%llu bytes)", e->fd, path,
			   (unsigned long long)e->data_len);
		return tmp;
	}
	files_proc_path(proc, tmp);
	fd = files_openat(AT_FDCWD, proc, flags, 0);
	files_close(tmp);
	if (fd < 0) {
		errno = -fd;
		log_perror("fd %d: cannot open re-created unlinked file %s", e->fd, path);
		return fd;
	}
out_seek:
	ret = files_seek(fd, e, path);
	if (ret == 0)
		ret = files_open_done(fd, e, path);
	if (ret < 0) {
		files_close(fd);
		return ret;
	}
	return files_place(fd, e);
}

/* Sets the status flags a pipe end keeps per description. O_DIRECT (packet
 * mode) cannot be given to open(), only to pipe2() and F_SETFL. */
static int files_pipe_status(int fd, const struct files_rec_fd *e)
{
	long r = files_fcntl(fd, F_SETFL, (long)(e->open_flags & (O_NONBLOCK | O_DIRECT)));

	if (r < 0) {
		errno = (int)-r;
		log_perror("fd %d: cannot set the pipe's flags", e->fd);
	}
	return (int)r;
}

/* Writes a pipe's saved bytes into its fresh write end @w (non-blocking:
 * the pipe was sized for them, a short write means it could not be). */
static int files_pipe_refill(int w, const struct files_rec_fd *e, const char *path)
{
	int ret = files_write_all(w, path + e->path_len, e->data_len, 0, false);

	if (ret < 0) {
		errno = -ret;
		log_perror("fd %d: cannot refill %s with %llu bytes", e->fd, path,
			   (unsigned long long)e->data_len);
	}
	return ret;
}

/* Places the fresh descriptors @a on @ea->fd and @b on @eb->fd. pipe2()
 * hands out the lowest free numbers, which are often the very targets,
 * possibly crossed (write end first): never let one dup3() close the
 * other fresh descriptor. */
static int files_place_pair(int a, const struct files_rec_fd *ea, int b,
			    const struct files_rec_fd *eb)
{
	int ret;

	if (a == eb->fd && b == ea->fd) {
		/* Crossed: move @a to a third number while both are held. */
		int t = (int)files_fcntl(a, F_DUPFD_CLOEXEC, 0);

		if (t < 0) {
			errno = -t;
			log_perror("fd %d: cannot move a descriptor", ea->fd);
			files_close(a);
			files_close(b);
			return t;
		}
		files_close(a);
		a = t;
	}
	if (b == ea->fd) {
		ret = files_place(b, eb);
		if (ret < 0) {
			files_close(a);
			return ret;
		}
		return files_place(a, ea);
	}
	ret = files_place(a, ea);
	if (ret < 0) {
		files_close(b);
		return ret;
	}
	return files_place(b, eb);
}

/* Widowed pipe (its writers had all ended), read end @e: makes the pipe at
 * the saved size with its buffered bytes and closes the write end, so the
 * reader drains them and then sees end of file, as it would have. */
static int files_restore_pipe_widowed(const struct files_rec_fd *e, const char *path)
{
	int p[2];
	int ret;

	if (syscall(SYS_pipe2, p, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_perror("fd %d: cannot create a pipe", e->fd);
		return -errno;
	}
	if (files_fcntl(p[0], F_SETPIPE_SZ, (long)e->pipe_size) < 0)
		log_warn("fd %d: cannot resize %s to %u bytes", e->fd, path, e->pipe_size);
	ret = e->data_len ? files_pipe_refill(p[1], e, path) : 0;
	files_close(p[1]);
	if (ret == 0)
		ret = files_pipe_status(p[0], e);
	if (ret < 0) {
		files_close(p[0]);
		return ret;
	}
	return files_place(p[0], e);
}

/* Pipe, first description (the creator): makes the pipe at the saved size
 * with its buffered bytes, keeps its own end and places the other end on
 * the partner entry at once, so the pipe always has a reader and a writer
 * and the /proc re-opens of its other descriptions never block. */
static int files_restore_pipe_creator(const struct files_rst *r, const struct files_rec_fd *e,
				      const char *path)
{
	bool reader = (e->open_flags & O_ACCMODE) == O_RDONLY;
	struct files_rec_fd pe;
	const char *ppath;
	const struct files_rec_fd *re;
	const char *rpath;
	int p[2];
	int ret;

	/* Validation made sure the partner exists, or that it is widowed. */
	if (!files_pipe_partner(r->rec, r->len, e, &pe, &ppath))
		return reader ? files_restore_pipe_widowed(e, path) : -EINVAL;
	if (syscall(SYS_pipe2, p, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_perror("fd %d: cannot create a pipe", e->fd);
		return -errno;
	}
	if (files_fcntl(p[0], F_SETPIPE_SZ, (long)e->pipe_size) < 0)
		log_warn("fd %d: cannot resize %s to %u bytes", e->fd, path, e->pipe_size);
	/* The saved bytes ride on the first reader: the creator or its partner. */
	re = reader ? e : &pe;
	rpath = reader ? path : ppath;
	ret = re->data_len ? files_pipe_refill(p[1], re, rpath) : 0;
	if (ret == 0)
		ret = files_pipe_status(p[0], reader ? e : &pe);
	if (ret == 0)
		ret = files_pipe_status(p[1], reader ? &pe : e);
	if (ret < 0) {
		files_close(p[0]);
		files_close(p[1]);
		return ret;
	}
	return files_place_pair(p[reader ? 0 : 1], e, p[reader ? 1 : 0], &pe);
}

/* Pipe: the creator makes it (above); its partner is then already in
 * place; every other description opens it through /proc/thread-self/fd. */
static int files_restore_pipe(const struct files_rst *r, const struct files_rec_fd *e,
			      const char *path)
{
	bool reader = (e->open_flags & O_ACCMODE) == O_RDONLY;
	struct files_rec_fd ce;
	struct files_rec_fd pe;
	const char *cpath;
	const char *ppath;
	int fd;
	int ret;

	if (e->same_as < 0)
		return files_restore_pipe_creator(r, e, path);
	if (files_lookup(r->rec, r->len, e->same_as, &ce, &cpath) &&
	    files_pipe_partner(r->rec, r->len, &ce, &pe, &ppath) && pe.fd == e->fd)
		return 0;
	fd = files_reopen_same(e, path, (reader ? O_RDONLY : O_WRONLY) | O_NONBLOCK);
	if (fd < 0)
		return fd;
	ret = files_pipe_status(fd, e);
	if (ret < 0) {
		files_close(fd);
		return ret;
	}
	return files_place(fd, e);
}

/* The descriptor 'ckpt restart' handed over for end @acc of pipe @ino,
 * or -1. */
static int files_handed_fd(uint64_t ino, uint32_t acc)
{
	for (size_t i = 0; i < files_nhanded; i++)
		if (files_handed[i].ino == ino && files_handed[i].acc == acc)
			return files_handed[i].fd;
	return -1;
}

/* Pipe shared in the tree: 'ckpt restart' made it once, with its bytes, and
 * handed this process the ends it holds. An entry whose status flags are
 * those of the handed description shares it (as after fork); one with
 * other flags was a description of its own and gets one, opened through
 * /proc (never blocks: the tree holds both ends). */
static int files_restore_tree_pipe(const struct files_rec_fd *e, const char *path)
{
	uint32_t acc = e->open_flags & O_ACCMODE;
	uint32_t want = e->open_flags & (O_NONBLOCK | O_DIRECT);
	int h = files_handed_fd(e->ino, acc);
	char proc[40];
	long fl;
	int fd;

	if (h < 0) {
		files_leave_closed(e, path, "was not handed over by 'ckpt restart'");
		return 0;
	}
	fl = files_fcntl(h, F_GETFL, 0);
	if (fl >= 0 && ((uint32_t)fl & (O_NONBLOCK | O_DIRECT)) == want) {
		fd = (int)files_fcntl(h, F_DUPFD_CLOEXEC, 0);
	} else {
		files_proc_path(proc, h);
		fd = files_openat(AT_FDCWD, proc, (int)acc | O_NONBLOCK | O_CLOEXEC, 0);
		if (fd >= 0 && files_pipe_status(fd, e) < 0) {
			files_close(fd);
			return -EIO;
		}
	}
	if (fd < 0) {
		errno = -fd;
		log_perror("fd %d: cannot take %s from descriptor %d", e->fd, path, h);
		return fd;
	}
	return files_place(fd, e);
}

/* Socket shared in the tree: 'ckpt restart' made the pair once, with its
 * queues, and handed this process the ends it holds. A socket has one
 * description whoever holds it, so the entry shares the handed one. */
static int files_restore_tree_sock(const struct files_rec_fd *e, const char *path)
{
	int h = files_handed_fd(e->ino, O_RDWR);
	int fd;

	if (h < 0) {
		files_leave_closed(e, path, "was not handed over by 'ckpt restart'");
		return 0;
	}
	fd = (int)files_fcntl(h, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		errno = -fd;
		log_perror("fd %d: cannot take %s from descriptor %d", e->fd, path, h);
		return fd;
	}
	return files_place(fd, e);
}

/* Closes the handed pipe ends once every entry took its own: an end left
 * open here would keep a reader from ever seeing end of file. */
static void files_handed_close(void)
{
	for (size_t i = 0; i < files_nhanded; i++) {
		ckpt_files_include_fd(files_handed[i].fd);
		files_close(files_handed[i].fd);
	}
	files_nhanded = 0;
}

void ckpt_files_use_tree_pipes(const struct ckpt_tree_pipe_fd *v, size_t n)
{
	files_nhanded = 0;
	for (size_t i = 0; v && i < n && i < CKPT_TREE_PIPES_MAX; i++) {
		/* Hidden from capture, and a record entry on one is refused. */
		if (ckpt_files_exclude_fd(v[i].fd) < 0)
			continue;
		files_handed[files_nhanded++] = v[i];
	}
}

/* A duplicate of an earlier descriptor; if that one stayed closed, so does
 * this one. */
static int files_restore_dup(const struct files_rec_fd *e, const char *path)
{
	int r;

	if (files_fcntl(e->dup_of, F_GETFD, 0) < 0) {
		files_leave_closed(e, path, "duplicates a descriptor that is closed");
		return 0;
	}
	r = (int)files_ret(
		syscall(SYS_dup3, e->dup_of, e->fd, (e->fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0));
	if (r < 0) {
		errno = -r;
		log_perror("fd %d: cannot duplicate fd %d", e->fd, e->dup_of);
		return r;
	}
	return 0;
}

static int files_restore_one(const struct files_rst *r, const struct files_rec_fd *e,
			     const char *path)
{
	if (e->kind == FILES_KIND_STDIO) {
		log_debug("fd %d: was %s; keeping the launcher's", e->fd, path);
		return 0;
	}
	if (e->kind == FILES_KIND_UNSUPPORTED) {
		files_leave_closed(e, path, "was not restorable");
		return 0;
	}
	if (e->dup_of >= 0)
		return files_restore_dup(e, path);
	switch (e->kind) {
	case FILES_KIND_REG:
	case FILES_KIND_DIR:
		return files_restore_path(e, path, r->truncate);
	case FILES_KIND_DEV:
		return files_restore_dev(e, path);
	case FILES_KIND_UNLINKED:
		return files_restore_unlinked(e, path);
	case FILES_KIND_PIPE:
		return files_restore_pipe(r, e, path);
	case FILES_KIND_TREE_PIPE:
		return files_restore_tree_pipe(e, path);
	case FILES_KIND_TREE_SOCK:
		return files_restore_tree_sock(e, path);
	case FILES_KIND_EVENTFD:
	case FILES_KIND_TIMERFD:
	case FILES_KIND_SIGNALFD: {
		int t = ckpt_evfd_restore((int)(e->kind - FILES_KIND_EVENTFD), e->fd, e->open_flags,
					  path + e->path_len);

		return t < 0 ? t : files_place(t, e);
	}
	case FILES_KIND_EPOLL: {
		/* Empty for now: filled once every descriptor is back. */
		int fd = ckpt_epoll_create(e->fd, e->open_flags);

		return fd < 0 ? fd : files_place(fd, e);
	}
	case FILES_KIND_INOTIFY: {
		int fd = ckpt_inotify_restore(e->fd, e->open_flags, path + e->path_len);

		return fd < 0 ? fd : files_place(fd, e);
	}
	case FILES_KIND_MEMFD: {
		int fd = ckpt_memfd_restore(e->fd, path, e->open_flags, e->offset, e->file_size,
					    path + e->path_len);

		return fd < 0 ? fd : files_place(fd, e);
	}
	}
	return -EINVAL;
}

/* Spare descriptor numbers above the highest one restored: an unlinked
 * file briefly needs two fresh descriptors at once, a pipe two as well. */
#define FILES_FD_SLACK 8

/* Descriptors up to @maxfd, plus a few scratch ones, must fit under
 * RLIMIT_NOFILE while they are placed; the attrs subsystem, restored next,
 * sets the saved limit again. */
static int files_make_room(int maxfd)
{
	struct rlimit rl;
	uint64_t want = (uint64_t)maxfd + 1 + FILES_FD_SLACK;

	if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && (uint64_t)maxfd >= rl.rlim_max) {
		log_err("fd %d is above the hard limit of open files (%llu)", maxfd,
			(unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	rl.rlim_cur = want;
	if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, NULL) < 0) {
		log_perror("cannot raise the open files limit to %llu", (unsigned long long)want);
		return -errno;
	}
	return 0;
}

/* Whether the record of @count descriptors has one at number @fd. */
static bool files_rec_has_fd(const struct files_rst *r, uint32_t count, int fd)
{
	size_t pos = sizeof(struct files_rec_hdr);

	for (uint32_t i = 0; i < count; i++) {
		struct files_rec_fd e;

		files_get(r->rec, pos, &e);
		if (e.fd == fd)
			return true;
		pos += e.size;
	}
	return false;
}

/* A standard descriptor the program had closed is closed again: the one
 * the launcher of this start gave would otherwise receive what the program
 * still writes to it, and take a number the program's next open() expects. */
static void files_close_closed_stdio(const struct files_rst *r, uint32_t count)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (files_rec_has_fd(r, count, fd) || ckpt_files_fd_excluded(fd))
			continue;
		log_debug("fd %d: closed by the program; closing the launcher's", fd);
		close(fd);
	}
}

/* Whether @tfd is a standard descriptor the launcher gave this start
 * (ckpt_epoll_fill()'s question over the record being restored). */
static bool files_epoll_stdio(void *ctx, int tfd)
{
	const struct files_rst *r = ctx;
	struct files_rec_fd e;
	const char *path;

	return tfd <= 2 && files_lookup(r->rec, r->len, tfd, &e, &path) &&
	       e.kind == FILES_KIND_STDIO;
}

/* Whether @tfd is the read end of a pipe of this process alone (a PIPE
 * entry: a pipe another process holds is a tree pipe). */
static bool files_epoll_own_pipe_reader(void *ctx, int tfd)
{
	const struct files_rst *r = ctx;
	struct files_rec_fd e;
	const char *path;

	if (!files_lookup(r->rec, r->len, tfd, &e, &path))
		return false;
	files_resolve_dup(r->rec, r->len, &e, &path);
	return e.kind == FILES_KIND_PIPE && (e.open_flags & O_ACCMODE) == O_RDONLY;
}

/* Last restore pass, every descriptor in place: fills the epolls, inner
 * ones (lower depth) before the outer ones that watch them. */
static int files_fill_epolls(const struct files_rst *r)
{
	static const struct ckpt_epoll_targets tg = {
		.stdio_fd = files_epoll_stdio,
		.own_pipe_reader = files_epoll_own_pipe_reader,
	};

	for (uint32_t depth = 0; depth <= CKPT_EPOLL_NEST_MAX; depth++) {
		size_t pos = sizeof(struct files_rec_hdr);

		while (pos < r->len) {
			struct files_rec_fd e;
			struct ckpt_epoll_hdr h;
			const char *data;
			int ret;

			files_get(r->rec, pos, &e);
			data = r->rec + pos + sizeof(e) + e.path_len;
			pos += e.size;
			if (e.kind != FILES_KIND_EPOLL || e.dup_of >= 0)
				continue;
			ckpt_epoll_hdr_get(data, &h);
			if (h.depth != depth)
				continue;
			ret = ckpt_epoll_fill(e.fd, data, &tg, (void *)r);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int files_restore(const void *rec, size_t len)
{
	struct files_rst r = { .rec = rec, .len = len };
	struct files_rec_hdr hdr;
	size_t pos = sizeof(hdr);
	int maxfd = -1;
	int ret;

	ret = files_validate(r.rec, len, true, &maxfd);
	if (ret < 0)
		goto out_handed;
	memcpy(&hdr, r.rec, sizeof(hdr));
	r.truncate = hdr.flags & FILES_REC_TRUNCATE;
	if (maxfd >= 0) {
		ret = files_make_room(maxfd);
		if (ret < 0)
			goto out_handed;
	}
	for (uint32_t i = 0; i < hdr.count; i++) {
		struct files_rec_fd e;

		files_get(r.rec, pos, &e);
		ret = files_restore_one(&r, &e, r.rec + pos + sizeof(e));
		if (ret < 0)
			goto out_handed;
		pos += e.size;
	}
	ret = files_fill_epolls(&r);
	if (ret < 0)
		goto out_handed;
	files_close_closed_stdio(&r, hdr.count);
out_handed:
	files_handed_close();
	return ret;
}

/* The restore's validation, without the descriptors the checkpointer holds:
 * at capture they are its own, at restore they are moved away first. */
static int files_check(const void *rec, size_t len)
{
	int maxfd = -1;

	return files_validate(rec, len, false, &maxfd);
}

const struct ckpt_subsys ckpt_files_subsys = {
	.name = "files",
	.record_type = CKPT_REC_FILES,
	.capture = files_capture,
	.check = files_check,
	.restore = files_restore,
};
