/* files_memfd.c - memfd descriptors: name, contents, seals and the shared
 * mappings of the object are saved at checkpoint; at restart a new memfd is
 * made with them, and every mapping of the old object in the process is
 * mapped from the new one, at the same address, offset and protection: the
 * descriptor and the mappings come back as one object (the restorer's own
 * copy of a mapped memfd, restore.c, is replaced).
 *
 * Capture runs while the other threads of the process are stopped in a
 * signal handler (files.c): raw system calls and stack buffers only.
 * Restore trusts nothing it did not check: ckpt_memfd_check() runs on every
 * entry before any descriptor is touched. Rules: docs/files-and-state.md.
 */
#define LOG_PREFIX "files: "

#include "files_memfd.h"
#include "proc_read.h"

#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"

/* Seals the kernel knows (F_SEAL_EXEC since Linux 6.3). */
#define MEMFD_SEALS_KNOWN 0x3fu
/* Longest memfd name (the kernel's 249 bytes after "memfd:"). */
#define MEMFD_NAME_MAX 249u
/* Top of user space with 4-level paging. */
#define MEMFD_TASK_SIZE (1ull << 47)
#define MEMFD_PAGE	4096ull

/* Kernel dirent layout of getdents64(2). */
struct memfd_dirent {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

int ckpt_memfd_is(const char *link)
{
	return strncmp(link, "/memfd:", 7) == 0;
}

static uint64_t memfd_hex(const char **pp)
{
	uint64_t v = 0;
	const char *p = *pp;

	for (;; p++) {
		int d = *p >= '0' && *p <= '9'	 ? *p - '0'
			: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
						 : -1;

		if (d < 0)
			break;
		v = v * 16 + (uint64_t)d;
	}
	*pp = p;
	return v;
}

/* Parses one line of /proc/self/maps; true if it is a shared mapping of
 * inode @ino on device @dev, stored in @m. */
static bool memfd_map_line(const char *p, uint64_t ino, uint64_t dev, struct ckpt_memfd_map *m)
{
	uint64_t start = memfd_hex(&p);
	uint64_t end;
	uint64_t off;
	uint64_t maj;
	uint64_t min;
	uint64_t i = 0;
	char perms[4];

	if (*p++ != '-')
		return false;
	end = memfd_hex(&p);
	if (*p++ != ' ' || !p[0] || !p[1] || !p[2] || !p[3])
		return false;
	memcpy(perms, p, 4);
	p += 4;
	if (*p++ != ' ')
		return false;
	off = memfd_hex(&p);
	if (*p++ != ' ')
		return false;
	maj = memfd_hex(&p);
	if (*p++ != ':')
		return false;
	min = memfd_hex(&p);
	if (*p++ != ' ')
		return false;
	for (; *p >= '0' && *p <= '9'; p++)
		i = i * 10 + (uint64_t)(*p - '0');
	if (perms[3] != 's' || i != ino || makedev(maj, min) != dev || end <= start)
		return false;
	m->start = start;
	m->len = end - start;
	m->offset = off;
	m->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	m->reserved = 0;
	return true;
}

/* Bytes of /proc/self/maps held at once. A line is its fields (at most
 * ~110 bytes: two 16-digit addresses, perms, offset, device, a 20-digit
 * inode and padding) and then the mapping's name, which has no bound the
 * reader can rely on: the kernel prints d_path() into a buffer it grows as
 * needed, so a file reached through a deep directory tree (made with
 * relative paths) has a name far past PATH_MAX, plus " (deleted)". Only the
 * fields matter here, so a longer line is parsed from its first bytes and
 * the rest of it skipped. */
#define MEMFD_MAPS_BUF 8192u

/* Adds line @line of the maps to @maps (@n so far) if it is a shared
 * mapping of (@ino, @dev). Returns the new count, or -E2BIG past
 * CKPT_MEMFD_MAPS_MAX (@maps has room for one more, written first). */
static int memfd_maps_add(const char *line, uint64_t ino, uint64_t dev, struct ckpt_memfd_map *maps,
			  int n)
{
	if (!memfd_map_line(line, ino, dev, &maps[n]))
		return n;
	return (unsigned int)n == CKPT_MEMFD_MAPS_MAX ? -E2BIG : n + 1;
}

/* Fills @maps with the shared mappings of (@ino, @dev); returns how many,
 * or -errno (-E2BIG past CKPT_MEMFD_MAPS_MAX, or the read's error). */
static int memfd_maps(uint64_t ino, uint64_t dev, struct ckpt_memfd_map *maps)
{
	char buf[MEMFD_MAPS_BUF + 1]; /* + its NUL */
	size_t have = 0;
	bool skip = false; /* inside a line already parsed from its start */
	int n = 0;
	long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	for (;;) {
		long got = syscall(SYS_read, (int)fd, buf + have, MEMFD_MAPS_BUF - have);
		char *line = buf;
		char *nl;

		if (got < 0) {
			n = -errno;
			break;
		}
		have += (size_t)got;
		buf[have] = '\0';
		while (n >= 0 && (nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			*nl = '\0';
			if (!skip)
				n = memfd_maps_add(line, ino, dev, maps, n);
			skip = false;
			line = nl + 1;
		}
		if (n < 0)
			break;
		have -= (size_t)(line - buf);
		if (have == MEMFD_MAPS_BUF) {
			/* No newline in a full buffer: parse the fields at its
			 * start once, drop the name's bytes up to the newline. */
			if (!skip)
				n = memfd_maps_add(line, ino, dev, maps, n);
			if (n < 0)
				break;
			skip = true;
			have = 0;
		}
		memmove(buf, line, have);
		if (got == 0)
			break;
	}
	syscall(SYS_close, (int)fd);
	return n;
}

ssize_t ckpt_memfd_capture(int fd, uint64_t ino, uint64_t dev, uint64_t size, void *dst,
			   size_t room, const char **why)
{
	struct ckpt_memfd_map maps[CKPT_MEMFD_MAPS_MAX + 1];
	struct ckpt_memfd_hdr h = { 0 };
	unsigned char *out = dst;
	uint64_t done = 0;
	size_t head;
	long seals;
	int n;

	seals = syscall(SYS_fcntl, fd, F_GET_SEALS, 0);
	if (seals < 0) {
		*why = "F_GET_SEALS failed";
		return -errno;
	}
	n = memfd_maps(ino, dev, maps);
	if (n < 0) {
		*why = n == -E2BIG ? "mapped more than 64 times" : "cannot read /proc/self/maps";
		return n;
	}
	h.seals = (uint32_t)seals;
	h.nmaps = (uint32_t)n;
	head = sizeof(h) + (size_t)n * sizeof(maps[0]);
	if (head > room || size > room - head)
		return -ENOSPC;
	memcpy(out, &h, sizeof(h));
	memcpy(out + sizeof(h), maps, (size_t)n * sizeof(maps[0]));
	while (done < size) {
		long got = syscall(SYS_pread64, fd, out + head + done, size - done, (off_t)done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			*why = got < 0 ? "cannot read its contents" : "shrank while it was read";
			return got < 0 ? -errno : -EIO;
		}
		done += (uint64_t)got;
	}
	return (ssize_t)(head + size);
}

int ckpt_memfd_check(int fd, uint32_t open_flags, uint64_t size, const void *data, uint64_t len)
{
	const unsigned char *p = data;
	struct ckpt_memfd_hdr h;
	uint64_t head;

	(void)open_flags;
	if (len < sizeof(h)) {
		log_err("fd %d: memfd entry of %llu bytes, shorter than its header", fd,
			(unsigned long long)len);
		return -EINVAL;
	}
	memcpy(&h, p, sizeof(h));
	head = sizeof(h) + (uint64_t)h.nmaps * sizeof(struct ckpt_memfd_map);
	if (h.reserved || (h.seals & ~MEMFD_SEALS_KNOWN) || h.nmaps > CKPT_MEMFD_MAPS_MAX ||
	    head > len || len - head != size) {
		log_err("fd %d: invalid memfd header (seals %#x, %u mappings, %llu of %llu bytes)",
			fd, h.seals, h.nmaps, (unsigned long long)(len - sizeof(h)),
			(unsigned long long)size);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < h.nmaps; i++) {
		struct ckpt_memfd_map m;

		memcpy(&m, p + sizeof(h) + i * sizeof(m), sizeof(m));
		if (m.reserved || (m.start | m.len | m.offset) & (MEMFD_PAGE - 1) || !m.len ||
		    m.start >= MEMFD_TASK_SIZE || m.len > MEMFD_TASK_SIZE - m.start ||
		    m.offset > (uint64_t)INT64_MAX - m.len ||
		    (m.prot & ~(uint32_t)(PROT_READ | PROT_WRITE | PROT_EXEC)) ||
		    ((h.seals & F_SEAL_WRITE) && (m.prot & PROT_WRITE))) {
			log_err("fd %d: memfd mapping %u (%#llx+%#llx at offset %#llx, prot %u) is "
				"invalid",
				fd, i, (unsigned long long)m.start, (unsigned long long)m.len,
				(unsigned long long)m.offset, m.prot);
			return -EINVAL;
		}
	}
	return 0;
}

/* Maps the saved mappings of @data from @mfd in place of what is there. */
static int memfd_remap(int fd, int mfd, const struct ckpt_memfd_hdr *h, const unsigned char *p)
{
	for (uint32_t i = 0; i < h->nmaps; i++) {
		struct ckpt_memfd_map m;
		void *at;

		memcpy(&m, p + sizeof(*h) + i * sizeof(m), sizeof(m));
		at = eng_ptr(m.start);
		if (mmap(at, m.len, (int)m.prot, MAP_SHARED | MAP_FIXED, mfd, (off_t)m.offset) !=
		    at) {
			log_perror("fd %d: cannot map the memfd again at %#llx+%#llx", fd,
				   (unsigned long long)m.start, (unsigned long long)m.len);
			return -errno;
		}
	}
	return 0;
}

int ckpt_memfd_restore(int fd, const char *path, uint32_t open_flags, int64_t offset, uint64_t size,
		       const void *data)
{
	const unsigned char *p = data;
	char name[MEMFD_NAME_MAX + 1];
	struct ckpt_memfd_hdr h;
	const unsigned char *contents;
	uint32_t acc = open_flags & O_ACCMODE;
	uint64_t done = 0;
	int mfd;
	int ret;

	memcpy(&h, p, sizeof(h));
	contents = p + sizeof(h) + (size_t)h.nmaps * sizeof(struct ckpt_memfd_map);
	snprintf(name, sizeof(name), "%s", ckpt_memfd_is(path) ? path + 7 : path);
	mfd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0) {
		log_perror("fd %d: cannot create memfd %s", fd, name);
		return -errno;
	}
	if (ftruncate(mfd, (off_t)size) < 0) {
		ret = -errno;
		log_perror("fd %d: cannot size memfd %s to %llu bytes", fd, name,
			   (unsigned long long)size);
		goto out_close;
	}
	while (done < size) {
		ssize_t w = pwrite(mfd, contents + done, size - done, (off_t)done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = w < 0 ? -errno : -EIO;
			log_perror("fd %d: cannot write the contents of memfd %s", fd, name);
			goto out_close;
		}
		done += (uint64_t)w;
	}
	/* F_SEAL_WRITE before the mappings (all read-only, checked): the
	 * kernel then lets them never become writable, as at checkpoint.
	 * Other seals after, as F_SEAL_FUTURE_WRITE refuses a writable
	 * mapping made after it. */
	if ((h.seals & F_SEAL_WRITE) && fcntl(mfd, F_ADD_SEALS, (int)h.seals) < 0) {
		ret = -errno;
		log_perror("fd %d: cannot seal memfd %s (%#x)", fd, name, h.seals);
		goto out_close;
	}
	ret = memfd_remap(fd, mfd, &h, p);
	if (ret < 0)
		goto out_close;
	if (!(h.seals & F_SEAL_WRITE) && h.seals && fcntl(mfd, F_ADD_SEALS, (int)h.seals) < 0) {
		ret = -errno;
		log_perror("fd %d: cannot seal memfd %s (%#x)", fd, name, h.seals);
		goto out_close;
	}
	if (acc != O_RDWR) {
		/* A description opened again read-only or write-only through
		 * /proc/PID/fd: the same object, its own access mode. */
		char self[40];
		int nfd;

		snprintf(self, sizeof(self), "/proc/self/fd/%d", mfd);
		nfd = open(self, (int)acc | O_CLOEXEC);
		if (nfd < 0) {
			ret = -errno;
			log_perror("fd %d: cannot open memfd %s with its saved access mode", fd,
				   name);
			goto out_close;
		}
		close(mfd);
		mfd = nfd;
	}
	if (fcntl(mfd, F_SETFL, (int)(open_flags & (O_APPEND | O_NONBLOCK))) < 0 ||
	    lseek(mfd, (off_t)offset, SEEK_SET) < 0) {
		ret = -errno;
		log_perror("fd %d: cannot set the flags or offset %lld of memfd %s", fd,
			   (long long)offset, name);
		goto out_close;
	}
	return mfd;

out_close:
	close(mfd);
	return ret;
}

/* Looks in process @pid's descriptors for one on the memfd (@ino, @dev). */
static int memfd_scan_pid(uint64_t ino, uint64_t dev, long pid, int *pfd)
{
	char path[48] = "/proc/";
	char digits[24];
	size_t nd = 0;
	size_t len = 6;
	uint64_t dbuf[128];
	long dfd;
	int ret = 0;

	/* No snprintf: this runs while the other threads are stopped. */
	do
		digits[nd++] = (char)('0' + pid % 10);
	while ((pid /= 10) > 0);
	while (nd)
		path[len++] = digits[--nd];
	memcpy(path + len, "/fd", 4);
	dfd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0; /* gone, or not ours to read */
	for (;;) {
		long got = syscall(SYS_getdents64, (int)dfd, dbuf, sizeof(dbuf));

		if (got <= 0)
			break;
		for (long off = 0; off < got && ret == 0;) {
			const struct memfd_dirent *d =
				(const struct memfd_dirent *)((char *)dbuf + off);
			char link[16];
			struct stat st;
			long ofd;
			long l;

			off += d->d_reclen;
			if (!eng_proc_num(d->d_name, &ofd))
				continue;
			l = syscall(SYS_readlinkat, (int)dfd, d->d_name, link, sizeof(link) - 1);
			if (l < 7)
				continue;
			link[l] = '\0';
			if (!ckpt_memfd_is(link) ||
			    syscall(SYS_newfstatat, (int)dfd, d->d_name, &st, 0) < 0)
				continue;
			if (st.st_ino == ino && st.st_dev == dev) {
				*pfd = (int)ofd;
				ret = 1;
			}
		}
		if (ret)
			break;
	}
	syscall(SYS_close, (int)dfd);
	return ret;
}

int ckpt_memfd_tree_shared(uint64_t ino, uint64_t dev, long self, long *pid, int *pfd)
{
	uint64_t dbuf[256];
	long dfd = syscall(SYS_openat, AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (dfd < 0)
		return 0;
	for (;;) {
		long got = syscall(SYS_getdents64, (int)dfd, dbuf, sizeof(dbuf));

		if (got <= 0)
			break;
		for (long off = 0; off < got && ret == 0;) {
			const struct memfd_dirent *d =
				(const struct memfd_dirent *)((char *)dbuf + off);
			long p;

			off += d->d_reclen;
			/* pid 1 is 'ckpt run''s init, without the program's
			 * descriptors. */
			if (!eng_proc_num(d->d_name, &p) || p <= 1 || p == self)
				continue;
			ret = memfd_scan_pid(ino, dev, p, pfd);
			if (ret)
				*pid = p;
		}
		if (ret)
			break;
	}
	syscall(SYS_close, (int)dfd);
	return ret;
}
