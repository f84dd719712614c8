/* lh_shim_fd.c - the file descriptors of the lower half.
 *
 * A checkpoint leaves the lower half's fds out of the image (UCX's epoll
 * and event fds, its sockets and /dev/shm files, hwloc's sysfs directory):
 * they belong to the MPI library that is created anew at restart. So the
 * shim interposes every call the lower half's libraries make through their
 * PLT that creates or closes an fd (nm -D of MPICH, UCX, hwloc, rdma-core
 * and libnl lists which they import; the rest of the usual set is here so
 * that another build of them is covered too), and `syscall` does the same
 * for the raw numbers (lh_shim_map.c). What the lower half's libc opens
 * internally and closes before returning (getaddrinfo's sockets, scandir)
 * never appears; what it keeps open past the call (fopen, opendir, popen)
 * is recorded from the returned stream.
 *
 * Creation and closing of a recorded number are serialised with one lock
 * held across the kernel's close: otherwise another thread could be handed
 * the number just closed, record it, and have the closer forget it.
 */
/* Meson builds with 64-bit off_t, under which <fcntl.h> renames open to
 * open64; the shim defines both names, so it sees them as they are. */
#undef _FILE_OFFSET_BITS

#include "lh_shim_int.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* One bit per fd number below LH_SHIM_FDS_MAX (8 KiB of bss); a larger
 * number is counted in fd_overflow and makes the fd list incomplete. */
static unsigned long lh_fd_bits[LH_SHIM_FDS_MAX / (8 * sizeof(unsigned long))];
static pthread_mutex_t lh_fd_lock = PTHREAD_MUTEX_INITIALIZER;

#define LH_FD_WORD(fd) ((unsigned)(fd) / (8 * sizeof(unsigned long)))
#define LH_FD_BIT(fd)  (1UL << ((unsigned)(fd) % (8 * sizeof(unsigned long))))

void *lh_next_sym(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn)
		lh_die("the lower half's libc lacks a function the shim wraps");
	return fn;
}

/* The next definition of @name (the lower half's libc's), looked up once.
 * A race between two first callers stores the same value twice. */
#define LH_REAL(type, name)                                   \
	static __typeof__(type) *real_##name;                 \
	if (!__atomic_load_n(&real_##name, __ATOMIC_ACQUIRE)) \
	__atomic_store_n(&real_##name, (__typeof__(type) *)lh_next_sym(#name), __ATOMIC_RELEASE)

/* Records @fd as the lower half's; the lock is held. */
static void lh_fd_set_locked(int fd)
{
	if (fd < 0)
		return;
	if (fd >= LH_SHIM_FDS_MAX) {
		LH_COUNT(fd_overflow, 1);
		return;
	}
	/* fdopen/fdopendir hand over an fd recorded already: counted once. */
	if (!(lh_fd_bits[LH_FD_WORD(fd)] & LH_FD_BIT(fd)))
		LH_COUNT(fds_opened, 1);
	lh_fd_bits[LH_FD_WORD(fd)] |= LH_FD_BIT(fd);
}

static void lh_fd_clear_locked(int fd)
{
	if (fd < 0 || fd >= LH_SHIM_FDS_MAX)
		return;
	if (lh_fd_bits[LH_FD_WORD(fd)] & LH_FD_BIT(fd))
		LH_COUNT(fds_closed, 1);
	lh_fd_bits[LH_FD_WORD(fd)] &= ~LH_FD_BIT(fd);
}

/* Records the result of an fd-creating call; returns it unchanged. */
static int lh_fd_new(int fd)
{
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&lh_fd_lock);
	lh_fd_set_locked(fd);
	pthread_mutex_unlock(&lh_fd_lock);
	return fd;
}

static void lh_fd_new_pair(const int fds[2])
{
	pthread_mutex_lock(&lh_fd_lock);
	lh_fd_set_locked(fds[0]);
	lh_fd_set_locked(fds[1]);
	pthread_mutex_unlock(&lh_fd_lock);
}

void lh_fd_record(int fd)
{
	lh_fd_new(fd);
}

void lh_fd_record_pair(const int fds[2])
{
	lh_fd_new_pair(fds);
}

/* Closes @fd with @do_close (the kernel's or libc's close) and forgets it,
 * atomically for other threads' fd creation. Returns @do_close's result. */
long lh_fd_close_with(int fd, long (*do_close)(int fd, void *arg), void *arg)
{
	long rc;

	pthread_mutex_lock(&lh_fd_lock);
	rc = do_close(fd, arg);
	/* Linux releases the number even when close reports an error
	 * (EINTR, EIO), except for EBADF, where there was nothing. */
	lh_fd_clear_locked(fd);
	pthread_mutex_unlock(&lh_fd_lock);
	return rc;
}

LH_EXPORT size_t lh_shim_fds(int *out, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&lh_fd_lock);
	for (size_t w = 0; w < sizeof(lh_fd_bits) / sizeof(lh_fd_bits[0]); w++) {
		for (unsigned long bits = lh_fd_bits[w]; bits; bits &= bits - 1) {
			int fd = (int)(w * 8 * sizeof(unsigned long)) + __builtin_ctzl(bits);

			if (n < cap)
				out[n] = fd;
			n++;
		}
	}
	pthread_mutex_unlock(&lh_fd_lock);
	return n;
}

/* ---- open family: the mode argument only exists with O_CREAT/O_TMPFILE ---- */

static mode_t lh_open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

LH_EXPORT int open(const char *path, int flags, ...)
{
	LH_REAL(int(const char *, int, ...), open);
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = lh_open_mode(flags, ap);
	va_end(ap);
	return lh_fd_new(real_open(path, flags, mode));
}

LH_EXPORT int open64(const char *path, int flags, ...) __attribute__((alias("open")));

LH_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	LH_REAL(int(int, const char *, int, ...), openat);
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = lh_open_mode(flags, ap);
	va_end(ap);
	return lh_fd_new(real_openat(dirfd, path, flags, mode));
}

LH_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
	__attribute__((alias("openat")));

/* _FORTIFY_SOURCE's checked variants (no mode: O_CREAT is refused there). */
LH_EXPORT int __open_2(const char *path, int flags)
{
	LH_REAL(int(const char *, int), __open_2);

	return lh_fd_new(real___open_2(path, flags));
}

LH_EXPORT int __open64_2(const char *path, int flags) __attribute__((alias("__open_2")));

LH_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	LH_REAL(int(int, const char *, int), __openat_2);

	return lh_fd_new(real___openat_2(dirfd, path, flags));
}

LH_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
	__attribute__((alias("__openat_2")));

LH_EXPORT int creat(const char *path, mode_t mode)
{
	LH_REAL(int(const char *, mode_t), creat);

	return lh_fd_new(real_creat(path, mode));
}

LH_EXPORT int creat64(const char *path, mode_t mode) __attribute__((alias("creat")));

LH_EXPORT int mkstemp(char *tmpl)
{
	LH_REAL(int(char *), mkstemp);

	return lh_fd_new(real_mkstemp(tmpl));
}

LH_EXPORT int mkstemp64(char *tmpl) __attribute__((alias("mkstemp")));

LH_EXPORT int mkostemp(char *tmpl, int flags)
{
	LH_REAL(int(char *, int), mkostemp);

	return lh_fd_new(real_mkostemp(tmpl, flags));
}

LH_EXPORT int mkostemp64(char *tmpl, int flags) __attribute__((alias("mkostemp")));

LH_EXPORT int shm_open(const char *name, int flags, mode_t mode)
{
	LH_REAL(int(const char *, int, mode_t), shm_open);

	return lh_fd_new(real_shm_open(name, flags, mode));
}

LH_EXPORT int memfd_create(const char *name, unsigned flags)
{
	LH_REAL(int(const char *, unsigned), memfd_create);

	return lh_fd_new(real_memfd_create(name, flags));
}

/* ---- sockets, pipes, event fds ---- */

LH_EXPORT int socket(int domain, int type, int proto)
{
	LH_REAL(int(int, int, int), socket);

	return lh_fd_new(real_socket(domain, type, proto));
}

LH_EXPORT int socketpair(int domain, int type, int proto, int sv[2])
{
	LH_REAL(int(int, int, int, int[2]), socketpair);
	int rc = real_socketpair(domain, type, proto, sv);

	if (rc == 0)
		lh_fd_new_pair(sv);
	return rc;
}

LH_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	LH_REAL(int(int, struct sockaddr *, socklen_t *), accept);

	return lh_fd_new(real_accept(fd, addr, len));
}

LH_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	LH_REAL(int(int, struct sockaddr *, socklen_t *, int), accept4);

	return lh_fd_new(real_accept4(fd, addr, len, flags));
}

LH_EXPORT int pipe(int fds[2])
{
	LH_REAL(int(int[2]), pipe);
	int rc = real_pipe(fds);

	if (rc == 0)
		lh_fd_new_pair(fds);
	return rc;
}

LH_EXPORT int pipe2(int fds[2], int flags)
{
	LH_REAL(int(int[2], int), pipe2);
	int rc = real_pipe2(fds, flags);

	if (rc == 0)
		lh_fd_new_pair(fds);
	return rc;
}

LH_EXPORT int eventfd(unsigned initval, int flags)
{
	LH_REAL(int(unsigned, int), eventfd);

	return lh_fd_new(real_eventfd(initval, flags));
}

LH_EXPORT int epoll_create(int size)
{
	LH_REAL(int(int), epoll_create);

	return lh_fd_new(real_epoll_create(size));
}

LH_EXPORT int epoll_create1(int flags)
{
	LH_REAL(int(int), epoll_create1);

	return lh_fd_new(real_epoll_create1(flags));
}

LH_EXPORT int timerfd_create(int clockid, int flags)
{
	LH_REAL(int(int, int), timerfd_create);

	return lh_fd_new(real_timerfd_create(clockid, flags));
}

/* signalfd with fd -1 creates one; with an fd it changes that one's mask. */
LH_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
	LH_REAL(int(int, const sigset_t *, int), signalfd);

	return lh_fd_new(real_signalfd(fd, mask, flags));
}

LH_EXPORT int inotify_init(void)
{
	LH_REAL(int(void), inotify_init);

	return lh_fd_new(real_inotify_init());
}

LH_EXPORT int inotify_init1(int flags)
{
	LH_REAL(int(int), inotify_init1);

	return lh_fd_new(real_inotify_init1(flags));
}

/* ---- duplication: the new number is the lower half's ---- */

LH_EXPORT int dup(int fd)
{
	LH_REAL(int(int), dup);

	return lh_fd_new(real_dup(fd));
}

/* dup2/dup3 close @nfd first if it is open: under the lock like close. */
LH_EXPORT int dup2(int ofd, int nfd)
{
	LH_REAL(int(int, int), dup2);
	int rc;

	pthread_mutex_lock(&lh_fd_lock);
	rc = real_dup2(ofd, nfd);
	if (rc >= 0)
		lh_fd_set_locked(rc);
	pthread_mutex_unlock(&lh_fd_lock);
	return rc;
}

LH_EXPORT int dup3(int ofd, int nfd, int flags)
{
	LH_REAL(int(int, int, int), dup3);
	int rc;

	pthread_mutex_lock(&lh_fd_lock);
	rc = real_dup3(ofd, nfd, flags);
	if (rc >= 0)
		lh_fd_set_locked(rc);
	pthread_mutex_unlock(&lh_fd_lock);
	return rc;
}

/* fcntl's third argument is an int or a pointer; passed on as a word, as
 * glibc's own fcntl reads it. F_DUPFD* make a new fd. */
LH_EXPORT int fcntl(int fd, int cmd, ...)
{
	LH_REAL(int(int, int, ...), fcntl);
	unsigned long arg;
	va_list ap;
	int rc;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	rc = real_fcntl(fd, cmd, arg);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		lh_fd_new(rc);
	return rc;
}

LH_EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

/* ---- close ---- */

static long lh_libc_close(int fd, void *arg)
{
	int (*real)(int) = (int (*)(int))arg;

	return real(fd);
}

LH_EXPORT int close(int fd)
{
	LH_REAL(int(int), close);

	return (int)lh_fd_close_with(fd, lh_libc_close, (void *)real_close);
}

LH_EXPORT int __close(int fd) __attribute__((alias("close")));

/* ---- streams and directories: libc opens their fds internally ---- */

LH_EXPORT FILE *fopen(const char *path, const char *mode)
{
	LH_REAL(FILE * (const char *, const char *), fopen);
	LH_REAL(int(FILE *), fileno);
	FILE *f = real_fopen(path, mode);

	if (f)
		lh_fd_new(real_fileno(f));
	return f;
}

LH_EXPORT FILE *fopen64(const char *path, const char *mode) __attribute__((alias("fopen")));

/* freopen closes the stream's old fd and opens a new one. */
LH_EXPORT FILE *freopen(const char *path, const char *mode, FILE *f)
{
	LH_REAL(FILE * (const char *, const char *, FILE *), freopen);
	LH_REAL(int(FILE *), fileno);
	int old = real_fileno(f);
	FILE *nf;

	pthread_mutex_lock(&lh_fd_lock);
	nf = real_freopen(path, mode, f);
	lh_fd_clear_locked(old);
	if (nf)
		lh_fd_set_locked(real_fileno(nf));
	pthread_mutex_unlock(&lh_fd_lock);
	return nf;
}

LH_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *f)
	__attribute__((alias("freopen")));

/* The fd now belongs to the stream, which the lower half will fclose. */
LH_EXPORT FILE *fdopen(int fd, const char *mode)
{
	LH_REAL(FILE * (int, const char *), fdopen);
	FILE *f = real_fdopen(fd, mode);

	if (f)
		lh_fd_new(fd);
	return f;
}

LH_EXPORT FILE *tmpfile(void)
{
	LH_REAL(FILE * (void), tmpfile);
	LH_REAL(int(FILE *), fileno);
	FILE *f = real_tmpfile();

	if (f)
		lh_fd_new(real_fileno(f));
	return f;
}

LH_EXPORT FILE *tmpfile64(void) __attribute__((alias("tmpfile")));

LH_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	LH_REAL(FILE * (const char *, const char *), popen);
	LH_REAL(int(FILE *), fileno);
	FILE *f = real_popen(cmd, mode);

	if (f)
		lh_fd_new(real_fileno(f));
	return f;
}

static long lh_libc_fclose(int fd, void *arg)
{
	LH_REAL(int(FILE *), fclose);

	(void)fd;
	return real_fclose(arg);
}

static long lh_libc_pclose(int fd, void *arg)
{
	LH_REAL(int(FILE *), pclose);

	(void)fd;
	return real_pclose(arg);
}

LH_EXPORT int fclose(FILE *f)
{
	LH_REAL(int(FILE *), fileno);

	return (int)lh_fd_close_with(real_fileno(f), lh_libc_fclose, f);
}

LH_EXPORT int pclose(FILE *f)
{
	LH_REAL(int(FILE *), fileno);

	return (int)lh_fd_close_with(real_fileno(f), lh_libc_pclose, f);
}

LH_EXPORT DIR *opendir(const char *path)
{
	LH_REAL(DIR * (const char *), opendir);
	LH_REAL(int(DIR *), dirfd);
	DIR *d = real_opendir(path);

	if (d)
		lh_fd_new(real_dirfd(d));
	return d;
}

/* fdopendir takes over an fd the lower half opened (recorded then). */
LH_EXPORT DIR *fdopendir(int fd)
{
	LH_REAL(DIR * (int), fdopendir);
	DIR *d = real_fdopendir(fd);

	if (d)
		lh_fd_new(fd);
	return d;
}

static long lh_libc_closedir(int fd, void *arg)
{
	LH_REAL(int(DIR *), closedir);

	(void)fd;
	return real_closedir(arg);
}

LH_EXPORT int closedir(DIR *d)
{
	LH_REAL(int(DIR *), dirfd);

	return (int)lh_fd_close_with(real_dirfd(d), lh_libc_closedir, d);
}
