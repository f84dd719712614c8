/* dirty.c - which pages were written since the last checkpoint, from the
 * kernel's userfaultfd write-protection in asynchronous mode.
 *
 * Every private writable area is registered with a userfaultfd
 * (UFFD_USER_MODE_ONLY: unprivileged processes need it when
 * vm.unprivileged_userfaultfd is 0) in write-protect mode with
 * UFFD_FEATURE_WP_ASYNC: a write to a protected page is resolved by the
 * kernel itself (no fault handler thread), which only clears the page's
 * protection. At each checkpoint, while the threads are stopped and just
 * before the writer is cloned, PAGEMAP_SCAN (kernel >= 6.7) reports the
 * pages written since the previous scan and protects them again in the same
 * call (PM_SCAN_WP_MATCHING). PM_SCAN_CHECK_WPASYNC makes the scan fail on an
 * area that is not registered, so an area that appeared, moved (mremap
 * drops the registration) or was replaced since the last round is never
 * taken as clean: it is registered now and counts as written this round.
 *
 * Only the checkpoint thread calls these, with the application stopped; the
 * writer child reads the lists through its copy-on-write snapshot.
 */
#define LOG_PREFIX "libckpt: "
#include "files.h"
#include "incr.h"
#include "libckpt.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The build host's kernel headers may predate these (Linux 6.7 UAPI). */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1u << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1u << 15)
#endif
#ifndef PAGEMAP_SCAN
struct page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define PAGEMAP_SCAN	      _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING   (1u << 0)
#define PM_SCAN_CHECK_WPASYNC (1u << 1)
#define PAGE_IS_WRITTEN	      (1u << 1)
#endif

/* Ranges kept per round. 65536 areas: vm.max_map_count; 1 Mi written
 * ranges: beyond that, every window counts as written (overflow). */
#define DIRTY_AREAS_MAX	 65536u
#define DIRTY_RANGES_MAX (1u << 20)
/* page_region entries per PAGEMAP_SCAN call. */
#define DIRTY_VEC 1024u

struct dirty_range {
	uint64_t lo; /* first byte */
	uint64_t hi; /* one past the last */
};

/* The lists, in one private MAP_NORESERVE mapping left out of the image:
 * touched only as far as used. */
struct dirty_mem {
	struct dirty_range clean[DIRTY_AREAS_MAX];  /* areas proven this round */
	struct dirty_range dirty[DIRTY_RANGES_MAX]; /* written ranges, ascending */
	struct page_region vec[DIRTY_VEC];	    /* PAGEMAP_SCAN output */
};

static int dirty_uffd = -1;	    /* the userfaultfd, -1 if none */
static int dirty_pagemap = -1;	    /* /proc/self/pagemap for PAGEMAP_SCAN */
static struct dirty_mem *dirty_mem; /* lists, NULL before the probe */
static uint32_t dirty_nclean;	    /* entries of clean */
static uint32_t dirty_ndirty;	    /* entries of dirty */
static bool dirty_overflow;	    /* dirty list full: nothing is clean */
static bool dirty_trusted;	    /* this round's protection is proven */
/* Written between the scan and the clone by the checkpoint thread itself
 * (its stack and TLS, libckpt's data): never proven clean, see
 * dirty_volatile(). */
static int dirty_data_marker = 1;

static bool dirty_volatile(uint64_t start, uint64_t end)
{
	uint64_t marks[3];

	marks[0] = (uintptr_t)&dirty_data_marker;
	marks[1] = (uintptr_t)&dirty_uffd;
	marks[2] = (uintptr_t)__builtin_frame_address(0);
	for (unsigned int i = 0; i < 3; i++)
		if (marks[i] >= start && marks[i] < end)
			return true;
	return false;
}

/* One PAGEMAP_SCAN pass over [start, end) that protects what it reports;
 * with @record, the written ranges go to the dirty list. */
static int dirty_scan(uint64_t start, uint64_t end, bool record)
{
	uint64_t pos = start;

	while (pos < end) {
		struct pm_scan_arg a;
		long n;

		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
		a.start = pos;
		a.end = end;
		a.vec = (uintptr_t)dirty_mem->vec;
		a.vec_len = DIRTY_VEC;
		a.category_mask = PAGE_IS_WRITTEN;
		a.return_mask = PAGE_IS_WRITTEN;
		n = ioctl(dirty_pagemap, PAGEMAP_SCAN, &a);
		if (n < 0)
			return -errno;
		for (long i = 0; record && i < n; i++) {
			if (dirty_ndirty >= DIRTY_RANGES_MAX) {
				dirty_overflow = true;
				break;
			}
			dirty_mem->dirty[dirty_ndirty].lo = dirty_mem->vec[i].start;
			dirty_mem->dirty[dirty_ndirty].hi = dirty_mem->vec[i].end;
			dirty_ndirty++;
		}
		if (a.walk_end <= pos)
			return -EIO; /* no progress: never loop forever */
		pos = a.walk_end;
	}
	return 0;
}

int eng_dirty_probe(void)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	struct uffdio_register reg;
	char *test = MAP_FAILED;
	int ret;

	if (!dirty_mem) {
		void *m = mmap(NULL, sizeof(*dirty_mem), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (m == MAP_FAILED)
			return -errno;
		dirty_mem = m;
	}
	/* Never on a number the program may take (ENG_FD_FLOOR). */
	dirty_uffd = eng_fd_engine(
		(int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
	if (dirty_uffd < 0)
		return -errno;
	if (ioctl(dirty_uffd, UFFDIO_API, &api) < 0) {
		ret = -errno;
		goto out_close;
	}
	dirty_pagemap = eng_fd_engine(
		(int)syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
	if (dirty_pagemap < 0) {
		ret = -errno;
		goto out_close;
	}
	/* A page written after protection must be reported: the test that
	 * this kernel does what the rest relies on. */
	test = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (test == MAP_FAILED) {
		ret = -errno;
		goto out_close;
	}
	test[0] = 1;
	reg.range.start = (uintptr_t)test;
	reg.range.len = 2 * 4096;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	ret = ioctl(dirty_uffd, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
	if (!ret)
		ret = dirty_scan((uintptr_t)test, (uintptr_t)test + 2 * 4096, false);
	if (!ret) {
		dirty_ndirty = 0;
		dirty_overflow = false;
		test[4096] = 2;
		ret = dirty_scan((uintptr_t)test, (uintptr_t)test + 2 * 4096, true);
		if (!ret && (dirty_ndirty != 1 || dirty_mem->dirty[0].lo != (uintptr_t)test + 4096))
			ret = -ENOTSUP;
		dirty_ndirty = 0;
	}
	munmap(test, 2 * 4096);
	if (ret)
		goto out_close;
	ckpt_files_exclude_fd(dirty_uffd);
	ckpt_files_exclude_fd(dirty_pagemap);
	return 0;

out_close:
	if (dirty_pagemap >= 0)
		close(dirty_pagemap);
	close(dirty_uffd);
	dirty_pagemap = -1;
	dirty_uffd = -1;
	return ret;
}

void eng_dirty_round_begin(bool trusted)
{
	dirty_nclean = 0;
	dirty_ndirty = 0;
	dirty_overflow = false;
	dirty_trusted = trusted;
}

void eng_dirty_area(uint64_t start, uint64_t end)
{
	struct uffdio_register reg;

	if (dirty_uffd < 0 || !dirty_mem)
		return;
	/* Registered since an earlier round: what it reports is complete. */
	if (dirty_scan(start, end, true) == 0) {
		if (dirty_trusted && !dirty_volatile(start, end) &&
		    dirty_nclean < DIRTY_AREAS_MAX) {
			dirty_mem->clean[dirty_nclean].lo = start;
			dirty_mem->clean[dirty_nclean].hi = end;
			dirty_nclean++;
		}
		return;
	}
	/* New to the tracking (or moved, replaced): register and protect;
	 * it counts as written this round. Areas the kernel will not
	 * register stay with the content comparison. */
	reg.range.start = start;
	reg.range.len = end - start;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	if (ioctl(dirty_uffd, UFFDIO_REGISTER, &reg) == 0)
		dirty_scan(start, end, false);
}

void eng_dirty_round_end(void)
{
	uint64_t clean = 0;
	uint64_t written = 0;

	/* Nothing kept across rounds: the kernel's registration is the
	 * memory of which areas are tracked. */
	for (uint32_t i = 0; i < dirty_nclean; i++)
		clean += dirty_mem->clean[i].hi - dirty_mem->clean[i].lo;
	for (uint32_t i = 0; i < dirty_ndirty; i++)
		written += dirty_mem->dirty[i].hi - dirty_mem->dirty[i].lo;
	log_debug("write-protection: %u areas (%llu MiB) tracked, %llu KiB written in %u ranges%s",
		  dirty_nclean, (unsigned long long)(clean >> 20),
		  (unsigned long long)(written >> 10), dirty_ndirty,
		  dirty_overflow ? " (overflow)" : "");
}

/* Index of the first range of @r[0..n) ending after @lo. */
static uint32_t dirty_find(const struct dirty_range *r, uint32_t n, uint64_t lo)
{
	uint32_t a = 0;
	uint32_t b = n;

	while (a < b) {
		uint32_t m = a + (b - a) / 2;

		if (r[m].hi <= lo)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

enum eng_win_state eng_dirty_window(uint64_t lo, uint64_t hi)
{
	uint32_t i;

	if (!dirty_mem || dirty_overflow || !dirty_trusted)
		return ENG_WIN_UNKNOWN;
	i = dirty_find(dirty_mem->clean, dirty_nclean, lo);
	if (i >= dirty_nclean || dirty_mem->clean[i].lo > lo || dirty_mem->clean[i].hi < hi)
		return ENG_WIN_UNKNOWN;
	i = dirty_find(dirty_mem->dirty, dirty_ndirty, lo);
	return i >= dirty_ndirty || dirty_mem->dirty[i].lo >= hi ? ENG_WIN_CLEAN : ENG_WIN_WRITTEN;
}

void eng_dirty_exclude(void)
{
	if (dirty_mem)
		eng_snapshot_exclude((uintptr_t)dirty_mem,
				     (sizeof(*dirty_mem) + 4095) & ~(size_t)4095);
}

void eng_dirty_atfork_child(void)
{
	/* /proc/self/pagemap was opened by the parent and names it: a scan
	 * through it would re-protect the parent's pages and hide its writes
	 * from the parent's next round. The child's copies are closed; the
	 * parent's stay open. */
	if (dirty_uffd >= 0) {
		ckpt_files_include_fd(dirty_uffd);
		close(dirty_uffd);
	}
	if (dirty_pagemap >= 0) {
		ckpt_files_include_fd(dirty_pagemap);
		close(dirty_pagemap);
	}
	dirty_uffd = -1;
	dirty_pagemap = -1;
	dirty_nclean = 0;
	dirty_ndirty = 0;
	dirty_overflow = false;
	dirty_trusted = false;
}

void eng_dirty_reset(void)
{
	/* The numbers belong to the restored files now: forget, never close. */
	if (dirty_uffd >= 0)
		ckpt_files_include_fd(dirty_uffd);
	if (dirty_pagemap >= 0)
		ckpt_files_include_fd(dirty_pagemap);
	dirty_uffd = -1;
	dirty_pagemap = -1;
	dirty_mem = NULL; /* left out of the image: not mapped any more */
	dirty_nclean = 0;
	dirty_ndirty = 0;
	dirty_trusted = false;
	(void)dirty_data_marker;
}
