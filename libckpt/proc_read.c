/* proc_read.c - reading a small file such as one of /proc in one go, with
 * raw system calls only: callable from a signal handler or while the
 * application's threads are stopped (libckpt.h). */
#include "libckpt.h"

#include <errno.h>
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
