/* lh_shim_map.c - the lower-half shim's record of mappings, and the mmap,
 * munmap, mremap, shmat and shmdt the lower half's libraries bind to.
 *
 * Every mapping made through these functions (by MPICH, UCX, hwloc, or the
 * lower half's libc when it calls them through its PLT) is recorded with its
 * kind; the allocator (lh_shim_alloc.c) and the thread stacks
 * (lh_shim_thread.c) record theirs here too. The shadow library reads the
 * table with lh_shim_regions(). What the lower half's libc and ld.so map
 * internally (library segments, ...) never passes here: docs/mpi.md.
 */
/* Meson builds with 64-bit off_t, under which <sys/mman.h> renames mmap to
 * mmap64; the shim defines both names, so it sees them as they are. */
#undef _FILE_OFFSET_BITS

#include "lh_shim_int.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Live regions at once (LH_SHIM_REGIONS_MAX, 4096 * 40 bytes = 160 KiB of
 * the shim's bss, copied into the LH snapshot). MPICH+UCX keep ~40: their
 * mappings, the arenas, live large blocks. Beyond it mappings still work
 * but are counted in region_overflow, which the shadow library reports as
 * an incomplete list. */
static struct lh_shim_region lh_regions[LH_SHIM_REGIONS_MAX];
static size_t lh_nregions;
static pthread_mutex_t lh_region_lock = PTHREAD_MUTEX_INITIALIZER;

struct lh_shim_stats lh_stats;
struct lh_shim_upper lh_upper;

void lh_die(const char *msg)
{
	static const char pre[] = "slurm-ckpt: lh-shim: ";
	ssize_t rc = write(2, pre, sizeof(pre) - 1);

	if (rc > 0)
		rc = write(2, msg, strlen(msg));
	if (rc > 0)
		rc = write(2, "\n", 1);
	(void)rc;
	abort();
}

/* A system call without libc: the shim's own `syscall` is the one the
 * lower half binds to, so the shim must not call it for itself. Returns
 * the kernel's result (-errno on failure). */
static long lh_raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long ret;
#if defined(__x86_64__)
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a1;
	register long x1 __asm__("x1") = a2;
	register long x2 __asm__("x2") = a3;
	register long x3 __asm__("x3") = a4;
	register long x4 __asm__("x4") = a5;
	register long x5 __asm__("x5") = a6;

	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	ret = x0;
#else
#error "lh_raw_syscall: add this architecture"
#endif
	return ret;
}

/* The kernel's result as libc returns it: -1 with errno, else the value. */
static long lh_sys_result(long rc)
{
	if (rc < 0 && rc > -4096) {
		errno = (int)-rc;
		return -1;
	}
	return rc;
}

void *lh_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return lh_ptr((uintptr_t)lh_sys_result(
		lh_raw_syscall(SYS_mmap, (long)addr, (long)len, prot, flags, fd, (long)off)));
}

int lh_sys_munmap(void *addr, size_t len)
{
	return (int)lh_sys_result(lh_raw_syscall(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0));
}

int lh_sys_mprotect(void *addr, size_t len, int prot)
{
	return (int)lh_sys_result(
		lh_raw_syscall(SYS_mprotect, (long)addr, (long)len, prot, 0, 0, 0));
}

/* Appends one entry; the lock is held. */
static void lh_region_push(uintptr_t start, size_t len, uint32_t kind, uint32_t flags, int prot)
{
	struct lh_shim_region *r;

	if (lh_nregions == LH_SHIM_REGIONS_MAX) {
		LH_COUNT(region_overflow, 1);
		return;
	}
	r = &lh_regions[lh_nregions++];
	r->start = start;
	r->len = len;
	r->kind = kind;
	r->flags = flags;
	r->used = len;
	r->prot = prot;
}

/* Cuts [start, end) out of every entry; the lock is held. */
static void lh_region_cut(uintptr_t start, uintptr_t end)
{
	size_t i = 0;

	while (i < lh_nregions) {
		struct lh_shim_region *r = &lh_regions[i];
		uintptr_t rs = r->start;
		uintptr_t re = r->start + r->len;

		if (re <= start || rs >= end) {
			i++;
			continue;
		}
		if (rs < start && re > end) {
			/* The cut is inside: keep the head here, push the tail. */
			struct lh_shim_region head = *r;

			r->len = start - rs;
			lh_region_push(end, re - end, head.kind, head.flags, head.prot);
			i++;
		} else if (rs < start) {
			r->len = start - rs;
			i++;
		} else if (re > end) {
			r->len = re - end;
			r->start = end;
			i++;
		} else {
			*r = lh_regions[--lh_nregions];
		}
	}
}

void lh_region_add(uintptr_t start, size_t len, uint32_t kind, uint32_t flags, int prot)
{
	pthread_mutex_lock(&lh_region_lock);
	lh_region_cut(start, start + len);
	lh_region_push(start, len, kind, flags, prot);
	pthread_mutex_unlock(&lh_region_lock);
}

/* The entry containing @addr, or NULL; the lock is held. */
static struct lh_shim_region *lh_region_at(uintptr_t addr)
{
	for (size_t i = 0; i < lh_nregions; i++) {
		if (addr >= lh_regions[i].start && addr - lh_regions[i].start < lh_regions[i].len)
			return &lh_regions[i];
	}
	return NULL;
}

bool lh_region_is_heap(uintptr_t addr)
{
	struct lh_shim_region *r;
	bool heap;

	pthread_mutex_lock(&lh_region_lock);
	r = lh_region_at(addr);
	heap = r && r->kind == LH_SHIM_HEAP;
	pthread_mutex_unlock(&lh_region_lock);
	return heap;
}

void lh_region_set_flags(uintptr_t start, uint32_t flags)
{
	struct lh_shim_region *r;

	pthread_mutex_lock(&lh_region_lock);
	r = lh_region_at(start);
	if (r && r->start == start)
		r->flags |= flags;
	pthread_mutex_unlock(&lh_region_lock);
}

static void lh_record_mmap(void *p, size_t len, int prot, int flags, int fd)
{
	uint32_t kind = (flags & MAP_TYPE) == MAP_PRIVATE ? LH_SHIM_MMAP : LH_SHIM_SHM;
	uint32_t f = (flags & MAP_ANONYMOUS) || fd < 0 ? 0 : LH_SHIM_F_FILE;

	LH_COUNT(mmaps, 1);
	lh_region_add((uintptr_t)p, lh_round_up(len, LH_PAGE), kind, f, prot);
}

/* Unmapping and forgetting happen under the region lock, so that a range
 * the kernel hands to another thread's mmap right after the unmap is never
 * forgotten after that thread recorded it. These return the kernel's result. */
static long lh_do_munmap(void *addr, size_t len)
{
	long rc;

	pthread_mutex_lock(&lh_region_lock);
	rc = lh_raw_syscall(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0);
	if (rc == 0) {
		LH_COUNT(munmaps, 1);
		lh_region_cut((uintptr_t)addr, (uintptr_t)addr + lh_round_up(len, LH_PAGE));
	}
	pthread_mutex_unlock(&lh_region_lock);
	return rc;
}

int lh_unmap(void *addr, size_t len)
{
	return (int)lh_sys_result(lh_do_munmap(addr, len));
}

static long lh_do_mremap(void *old, size_t old_len, size_t new_len, int flags, void *want)
{
	struct lh_shim_region *r;
	uint32_t kind = LH_SHIM_MMAP;
	uint32_t rflags = 0;
	int prot = PROT_READ | PROT_WRITE;
	long rc;
	uintptr_t p;

	pthread_mutex_lock(&lh_region_lock);
	rc = lh_raw_syscall(SYS_mremap, (long)old, (long)old_len, (long)new_len, flags, (long)want,
			    0);
	if (rc < 0 && rc > -4096)
		goto out;
	LH_COUNT(mremaps, 1);
	p = (uintptr_t)rc;
	r = lh_region_at((uintptr_t)old);
	if (r) {
		kind = r->kind;
		rflags = r->flags;
		prot = r->prot;
	}
	/* old_len 0 duplicates a shared mapping and leaves the old one. */
	if (old_len)
		lh_region_cut((uintptr_t)old, (uintptr_t)old + lh_round_up(old_len, LH_PAGE));
	lh_region_cut(p, p + lh_round_up(new_len, LH_PAGE));
	lh_region_push(p, lh_round_up(new_len, LH_PAGE), kind, rflags, prot);
out:
	pthread_mutex_unlock(&lh_region_lock);
	return rc;
}

static void lh_record_shmat(void *p, int id, int flags)
{
	struct shmid_ds ds = { 0 };
	int prot = flags & SHM_RDONLY ? PROT_READ : PROT_READ | PROT_WRITE;

	LH_COUNT(shmats, 1);
	if (lh_raw_syscall(SYS_shmctl, id, IPC_STAT, (long)&ds, 0, 0, 0) == 0)
		lh_region_add((uintptr_t)p, lh_round_up(ds.shm_segsz, LH_PAGE), LH_SHIM_SHM,
			      LH_SHIM_F_SYSV, prot);
	else
		LH_COUNT(region_overflow, 1);
}

/* shmdt: the segment's length is the recorded one. */
static long lh_do_shmdt(const void *addr)
{
	struct lh_shim_region *r;
	size_t len = 0;
	long rc;

	pthread_mutex_lock(&lh_region_lock);
	r = lh_region_at((uintptr_t)addr);
	if (r && r->start == (uintptr_t)addr)
		len = r->len;
	rc = lh_raw_syscall(SYS_shmdt, (long)addr, 0, 0, 0, 0, 0);
	if (rc == 0) {
		LH_COUNT(shmdts, 1);
		lh_region_cut((uintptr_t)addr, (uintptr_t)addr + len);
	}
	pthread_mutex_unlock(&lh_region_lock);
	return rc;
}

LH_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = lh_sys_mmap(addr, len, prot, flags, fd, off);

	if (p != MAP_FAILED)
		lh_record_mmap(p, len, prot, flags, fd);
	return p;
}

LH_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
	__attribute__((alias("mmap")));

LH_EXPORT int munmap(void *addr, size_t len)
{
	return lh_unmap(addr, len);
}

LH_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *want = NULL;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		want = va_arg(ap, void *);
		va_end(ap);
	}
	return lh_ptr((uintptr_t)lh_sys_result(lh_do_mremap(old, old_len, new_len, flags, want)));
}

LH_EXPORT void *shmat(int id, const void *addr, int flags)
{
	void *p = lh_ptr((uintptr_t)lh_sys_result(
		lh_raw_syscall(SYS_shmat, id, (long)addr, flags, 0, 0, 0)));

	if (p != MAP_FAILED)
		lh_record_shmat(p, id, flags);
	return p;
}

LH_EXPORT int shmdt(const void *addr)
{
	return (int)lh_sys_result(lh_do_shmdt(addr));
}

static long lh_kernel_close(int fd, void *arg)
{
	(void)arg;
	return lh_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
}

/* The fds a successful raw system call @nr (arguments @a, result @rc) made:
 * the same set lh_shim_fd.c covers for the libc functions. */
static void lh_record_syscall_fds(long nr, const long *a, long rc)
{
	switch (nr) {
#ifdef SYS_open
	case SYS_open:
	case SYS_creat:
	case SYS_dup2:
	case SYS_epoll_create:
	case SYS_eventfd:
	case SYS_inotify_init:
	case SYS_signalfd:
#endif
	case SYS_openat:
	case SYS_openat2:
	case SYS_open_by_handle_at:
	case SYS_socket:
	case SYS_accept:
	case SYS_accept4:
	case SYS_dup:
	case SYS_dup3:
	case SYS_eventfd2:
	case SYS_epoll_create1:
	case SYS_timerfd_create:
	case SYS_signalfd4:
	case SYS_memfd_create:
	case SYS_inotify_init1:
	case SYS_userfaultfd:
	case SYS_perf_event_open:
	case SYS_pidfd_open:
	case SYS_pidfd_getfd:
	case SYS_fanotify_init:
		lh_fd_record((int)rc);
		break;
	case SYS_fcntl:
		if (a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC)
			lh_fd_record((int)rc);
		break;
#ifdef SYS_pipe
	case SYS_pipe:
#endif
	case SYS_pipe2:
		lh_fd_record_pair(lh_ptr((uintptr_t)a[0]));
		break;
	case SYS_socketpair:
		lh_fd_record_pair(lh_ptr((uintptr_t)a[3]));
		break;
	default:
		break;
	}
}

/* UCX's memory hooks (libucm, installed when libucs loads) patch the lower
 * half's GOT entries of mmap, munmap, mremap, shmat and shmdt and make the
 * real calls with syscall(): so syscall is interposed too, and the mapping
 * calls among them are recorded like the functions above; so are the fds
 * a raw call creates or closes (lh_shim_fd.c). */
LH_EXPORT long syscall(long nr, ...)
{
	long a[6];
	long rc;
	va_list ap;

	/* Like glibc's: always six arguments, whatever the call takes. */
	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	switch (nr) {
	case SYS_munmap:
		return lh_sys_result(lh_do_munmap(lh_ptr((uintptr_t)a[0]), (size_t)a[1]));
	case SYS_mremap:
		return lh_sys_result(lh_do_mremap(lh_ptr((uintptr_t)a[0]), (size_t)a[1],
						  (size_t)a[2], (int)a[3],
						  lh_ptr((uintptr_t)a[4])));
	case SYS_shmdt:
		return lh_sys_result(lh_do_shmdt(lh_ptr((uintptr_t)a[0])));
	case SYS_close:
		return lh_sys_result(lh_fd_close_with((int)a[0], lh_kernel_close, NULL));
	default:
		break;
	}
	rc = lh_raw_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (rc < 0 && rc > -4096)
		return lh_sys_result(rc);
	if (nr == SYS_mmap)
		lh_record_mmap(lh_ptr((uintptr_t)rc), (size_t)a[1], (int)a[2], (int)a[3],
			       (int)a[4]);
	else if (nr == SYS_shmat)
		lh_record_shmat(lh_ptr((uintptr_t)rc), (int)a[0], (int)a[2]);
	else
		lh_record_syscall_fds(nr, a, rc);
	return rc;
}

LH_EXPORT int lh_shim_version(void)
{
	return LH_SHIM_VERSION;
}

/* Copies the regions (at most @cap) and returns how many there are. */
LH_EXPORT size_t lh_shim_regions(struct lh_shim_region *out, size_t cap)
{
	size_t n;

	pthread_mutex_lock(&lh_region_lock);
	n = lh_nregions;
	for (size_t i = 0; i < n && i < cap; i++) {
		out[i] = lh_regions[i];
		if (out[i].flags & LH_SHIM_F_ARENA)
			out[i].used = lh_alloc_arena_used(out[i].start, out[i].len);
	}
	pthread_mutex_unlock(&lh_region_lock);
	return n;
}

LH_EXPORT size_t lh_shim_threads(struct lh_shim_thread *out, size_t cap)
{
	return lh_thread_copy(out, cap);
}

LH_EXPORT void lh_shim_stats(struct lh_shim_stats *out)
{
	memcpy(out, &lh_stats, sizeof(*out));
}

/* glibc picks the namespace from the return address of dl_iterate_phdr's
 * caller: the call must not become a tail call (that would return into the
 * upper half and list the base namespace). */
LH_EXPORT int lh_shim_iterate_phdr(lh_shim_phdr_cb *cb, void *arg)
{
	int rc = dl_iterate_phdr(cb, arg);

	__asm__ volatile("" ::: "memory");
	return rc;
}

LH_EXPORT void lh_shim_set_upper(const struct lh_shim_upper *upper)
{
	lh_upper = *upper;
}
