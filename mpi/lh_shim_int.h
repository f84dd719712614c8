/* lh_shim_int.h - internals shared by the lower-half shim's sources
 * (lh_shim_map.c, lh_shim_alloc.c, lh_shim_thread.c, lh_shim_fd.c); included
 * by them only.
 *
 * The shim calls the kernel directly for its own mappings (never its own
 * interposed mmap), so that the allocator's arenas are recorded once, as
 * heap, and nothing recurses.
 */
#ifndef CKPT_MPI_LH_SHIM_INT_H
#define CKPT_MPI_LH_SHIM_INT_H

#include "lh_shim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Symbols the lower half binds to; everything else stays hidden. */
#define LH_EXPORT __attribute__((visibility("default")))

#define LH_PAGE 4096UL

/* An address as a pointer: the shim hands out addresses it computed. */
static inline void *lh_ptr(uintptr_t a)
{
	return (void *)a; /* NOLINT(performance-no-int-to-ptr) */
}

static inline size_t lh_round_up(size_t n, size_t to)
{
	return (n + to - 1) & ~(to - 1);
}

/* Raw mmap/munmap/mprotect: a mapping, or MAP_FAILED with errno set. */
void *lh_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int lh_sys_munmap(void *addr, size_t len);

/* munmap and forget the range, atomically with respect to other threads'
 * mappings: 0, or -1 with errno. */
int lh_unmap(void *addr, size_t len);
int lh_sys_mprotect(void *addr, size_t len, int prot);

/* Records [start, start+len) as a region of @kind, replacing whatever was
 * recorded there before (a MAP_FIXED mapping replaces the old one). */
void lh_region_add(uintptr_t start, size_t len, uint32_t kind, uint32_t flags, int prot);

/* True if @addr lies in a heap region (an arena or a large block). */
bool lh_region_is_heap(uintptr_t addr);

/* Sets flags on the region starting at @start. */
void lh_region_set_flags(uintptr_t start, uint32_t flags);

/* Bytes handed out from the arena at @start (its whole length unless it is
 * the arena the allocator carves from). Called with the region lock held. */
size_t lh_alloc_arena_used(uintptr_t start, size_t len);

/* Writes "slurm-ckpt: lh-shim: MSG" to stderr and aborts: the lower half's
 * memory is not what the shim believes, and running on would corrupt it. */
__attribute__((noreturn)) void lh_die(const char *msg);

/* The counters; updated with relaxed atomics. */
extern struct lh_shim_stats lh_stats;
#define LH_COUNT(field, n) __atomic_fetch_add(&lh_stats.field, (n), __ATOMIC_RELAXED)

/* The upper half's allocator (NULL until the shadow library sets it). */
extern struct lh_shim_upper lh_upper;

/* The next definition of @name after the shim (the lower half's libc's);
 * stops the program when there is none (lh_shim_fd.c). */
void *lh_next_sym(const char *name);

/* Records fds the lower half created through syscall() (lh_shim_fd.c). */
void lh_fd_record(int fd);
void lh_fd_record_pair(const int fds[2]);

/* Closes @fd with @do_close and forgets it, under the fd lock so that no
 * other thread records the freed number in between; returns do_close's
 * result. */
long lh_fd_close_with(int fd, long (*do_close)(int fd, void *arg), void *arg);

/* Copies the thread table (lh_shim_thread.c). */
size_t lh_thread_copy(struct lh_shim_thread *out, size_t cap);

#endif
