/* proc_read.c - reading a small file such as one of /proc in one go, and
 * walking a directory such as /proc/PID/fd, with raw system calls only:
 * callable from a signal handler or while the application's threads are
 * stopped (libckpt.h, proc_read.h). */
#include "libckpt.h"
#include "proc_read.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

ssize_t eng_read_small(const char *path, char *buf, size_t cap)
{
	long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return -errno;
	while (off < cap - 1) {
		long n = syscall(SYS_read, fd, buf + off, cap - 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	syscall(SYS_close, fd);
	buf[off] = '\0';
	return (ssize_t)off;
}

/* Kernel dirent layout of getdents64(2). */
struct eng_dirent {
	uint64_t d_ino;		 /* inode number */
	int64_t d_off;		 /* cookie of the next entry */
	unsigned short d_reclen; /* bytes of this entry */
	unsigned char d_type;	 /* DT_* */
	char d_name[];		 /* NUL-terminated name */
};

void eng_dir_start(struct eng_dir *d, int fd, uint64_t *buf, size_t cap)
{
	d->fd = fd;
	d->buf = buf;
	d->cap = cap;
	d->got = 0;
	d->off = 0;
	d->err = 0;
}

const char *eng_dir_next(struct eng_dir *d)
{
	const struct eng_dirent *e;

	if (d->off >= d->got) {
		if (d->got < 0 || d->err)
			return NULL;
		d->got = syscall(SYS_getdents64, d->fd, d->buf, d->cap);
		d->off = 0;
		if (d->got < 0)
			d->err = -errno;
		if (d->got <= 0)
			return NULL;
	}
	e = (const struct eng_dirent *)((const char *)d->buf + d->off);
	d->off += e->d_reclen;
	return e->d_name;
}

bool eng_proc_num(const char *name, long *v)
{
	long n = 0;

	if (!*name)
		return false;
	for (; *name; name++) {
		if (*name < '0' || *name > '9' || n > 100000000)
			return false;
		n = n * 10 + (*name - '0');
	}
	*v = n;
	return true;
}

size_t eng_append_num(char *s, size_t len, unsigned long v)
{
	char digits[24];
	size_t n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		s[len++] = digits[--n];
	s[len] = '\0';
	return len;
}

void eng_fdinfo_path(char path[ENG_FDINFO_PATH_MAX], int fd)
{
	static const char prefix[] = "/proc/thread-self/fdinfo/";

	memcpy(path, prefix, sizeof(prefix));
	eng_append_num(path, sizeof(prefix) - 1, (unsigned int)fd);
}

/* State of one eng_fdinfo_walk(): the line being gathered. */
struct eng_lines {
	char cur[ENG_FDINFO_LINE_MAX];
	size_t len;
	bool overlong;
};

/* Ends the line gathered in @s: hands it to @line, or refuses it when it
 * was cut. */
static int eng_line_end(struct eng_lines *s, int (*line)(void *, const char *, size_t), void *arg)
{
	int ret = s->overlong ? -EINVAL : line(arg, s->cur, s->len);

	s->len = 0;
	s->overlong = false;
	return ret;
}

int eng_fdinfo_walk(int fd, int *own_fd, int (*line)(void *arg, const char *l, size_t n), void *arg)
{
	char path[ENG_FDINFO_PATH_MAX];
	char buf[4096];
	struct eng_lines s = { .len = 0, .overlong = false };
	long f;
	int ret = 0;

	eng_fdinfo_path(path, fd);
	f = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	if (f < 0)
		return -errno;
	if (own_fd)
		*own_fd = (int)f;
	while (ret == 0) {
		long n = syscall(SYS_read, f, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ret = -errno;
		if (n <= 0)
			break;
		for (long i = 0; i < n && ret == 0; i++) {
			if (buf[i] == '\n')
				ret = eng_line_end(&s, line, arg);
			else if (s.len < sizeof(s.cur))
				s.cur[s.len++] = buf[i];
			else
				s.overlong = true;
		}
	}
	if (ret == 0 && (s.len || s.overlong))
		ret = eng_line_end(&s, line, arg);
	syscall(SYS_close, f);
	return ret;
}
