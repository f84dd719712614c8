/* img_pagemap.c - runs of present pages from /proc/<pid>/pagemap.
 *
 * Only pages the process has touched are saved: reading an untouched page
 * of a huge sparse reservation would fault it in (zero-filled) and bloat
 * both memory and image. pagemap answers without faulting anything.
 * Runs in the raw-clone child: stack buffer, raw pread, no malloc.
 */
#include "img.h"
#include "img_sys.h"

#include <errno.h>
#include <unistd.h>

/* Entries per pagemap read: 4 KiB of stack covers 2 MiB of address space. */
#define IMG_PAGEMAP_BATCH 512u
/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define IMG_PM_PRESENT (1ull << 63)
#define IMG_PM_SWAPPED (1ull << 62)

int img_pagemap_runs(int pagemap_fd, uint64_t start, uint64_t end, img_run_fn fn, void *arg)
{
	uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE);
	/* Zeroed once: the raw pread is inline asm, so the compiler and the
	 * analyzer cannot see the kernel fill it; got is bounded by want. */
	uint64_t ent[IMG_PAGEMAP_BATCH] = { 0 };
	uint64_t run_start = 0;
	uint64_t run_len = 0;
	uint64_t page = start / ps;
	uint64_t last = end / ps;

	if ((start | end) & (ps - 1) || end < start)
		return -EINVAL;
	while (page < last) {
		uint64_t want = last - page < IMG_PAGEMAP_BATCH ? last - page : IMG_PAGEMAP_BATCH;
		long n = img_sys_pread(pagemap_fd, ent, want * sizeof(ent[0]),
				       page * sizeof(ent[0]));
		uint64_t got;

		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		got = (uint64_t)n / sizeof(ent[0]);
		if (got == 0)
			return -EIO; /* pagemap ends before the range does */
		if (got > want)
			return -EIO; /* the kernel never returns more than asked */
		for (uint64_t i = 0; i < got; i++) {
			uint64_t addr = (page + i) * ps;

			if (!(ent[i] & (IMG_PM_PRESENT | IMG_PM_SWAPPED)))
				continue;
			if (run_len && run_start + run_len == addr) {
				run_len += ps;
				continue;
			}
			if (run_len) {
				int err = fn(arg, run_start, run_len);

				if (err)
					return err;
			}
			run_start = addr;
			run_len = ps;
		}
		page += got;
	}
	return run_len ? fn(arg, run_start, run_len) : 0;
}
