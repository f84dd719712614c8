/* lh_shim.h - the interface between the lower-half shim (libckpt-lhshim.so,
 * lh_shim_*.c) and the shadow library that loads it (shadow_lh.c); included
 * by those mpi/ sources only.
 *
 * The shim is the first object of the lower half's link-map namespace, so
 * every library of that namespace (its libc too) binds malloc, mmap, shmat
 * and pthread_create to it. It records what the lower half maps and which
 * threads it starts; the shadow library reads the records through the
 * functions below, resolved with dlsym on the shim's handle.
 */
#ifndef CKPT_MPI_LH_SHIM_H
#define CKPT_MPI_LH_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bumped when a structure below changes: the shadow library refuses a shim
 * of another version (both are installed together, but LD_LIBRARY_PATH and
 * CKPT_MPI_LH_SHIM can mix builds). */
#define LH_SHIM_VERSION 2

/* Live regions the shim records at most (lh_shim_map.c). */
#define LH_SHIM_REGIONS_MAX 4096

/* fd numbers the shim records (lh_shim_fd.c): below this, one bit each. */
#define LH_SHIM_FDS_MAX 65536

/* What a region recorded by the shim is. */
enum lh_shim_kind {
	LH_SHIM_HEAP = 1,  /* malloc arena or one large malloc block */
	LH_SHIM_MMAP = 2,  /* private mmap made by lower-half code */
	LH_SHIM_SHM = 3,   /* MAP_SHARED mmap or shmat segment */
	LH_SHIM_STACK = 4, /* stack (with guard page) of a lower-half thread */
};

/* Region flags. */
#define LH_SHIM_F_FILE	 0x1u /* mmap of a file (fd != -1) */
#define LH_SHIM_F_SYSV	 0x2u /* shmat segment */
#define LH_SHIM_F_ARENA	 0x4u /* heap arena: only `used` bytes were ever handed out */
#define LH_SHIM_F_EXITED 0x8u /* stack of a thread that has ended (detached, not reclaimed) */

struct lh_shim_region {
	uintptr_t start;
	size_t len;
	uint32_t kind;	/* enum lh_shim_kind */
	uint32_t flags; /* LH_SHIM_F_* */
	size_t used;	/* bytes from start that may hold data (len unless an arena) */
	int prot;	/* protection at map time (the shim does not follow mprotect) */
};

/* Thread states. */
enum lh_shim_thread_state {
	LH_SHIM_T_STARTING = 1, /* created, start routine not entered yet (tid 0) */
	LH_SHIM_T_RUNNING = 2,
	LH_SHIM_T_EXITED = 3, /* start routine returned or pthread_exit */
};

struct lh_shim_thread {
	pid_t tid;
	int state;	   /* enum lh_shim_thread_state */
	uintptr_t stack;   /* the stack region the shim gave it (0: caller's own) */
	size_t stack_len;  /* guard page included */
	unsigned long pth; /* its pthread_t */
};

/* Counters, for tests and the figures in docs/mpi.md. */
struct lh_shim_stats {
	uint64_t mallocs;	  /* malloc family calls served */
	uint64_t frees;		  /* free calls of shim blocks */
	uint64_t large;		  /* blocks served by their own mapping */
	uint64_t foreign_frees;	  /* free/realloc of pointers the shim did not hand out */
	uint64_t mmaps;		  /* mmap/mmap64 calls that succeeded */
	uint64_t munmaps;	  /* munmap calls that succeeded */
	uint64_t mremaps;	  /* mremap calls that succeeded */
	uint64_t shmats;	  /* shmat calls that succeeded */
	uint64_t shmdts;	  /* shmdt calls that succeeded */
	uint64_t threads;	  /* pthread_create calls that succeeded */
	uint64_t stacks_freed;	  /* stacks unmapped after pthread_join */
	uint64_t region_overflow; /* mappings not recorded: the table was full */
	uint64_t arena_bytes;	  /* bytes of heap arenas mapped */
	uint64_t fds_opened;	  /* fds the lower half created (recorded; < FDS_MAX) */
	uint64_t fds_closed;	  /* recorded fds it closed */
	uint64_t fd_overflow;	  /* fds >= LH_SHIM_FDS_MAX: not recorded */
};

/* Callbacks into the upper half. */
struct lh_shim_upper {
	/* free and realloc for pointers the lower half got from the upper
	 * half's allocator (ld.so allocates with the base namespace's malloc). */
	void (*free)(void *p);
	void *(*realloc)(void *p, size_t n);
	/* Called before the lower half starts a thread: the upper half's libc
	 * must stop assuming it is single-threaded, because LH threads call the
	 * upper half's malloc (through ld.so's TLS allocation). */
	void (*thread_starting)(void);
};

/* Exported by the shim (resolved by name). */
typedef int lh_shim_version_fn(void);
typedef size_t lh_shim_regions_fn(struct lh_shim_region *out, size_t cap);
typedef size_t lh_shim_threads_fn(struct lh_shim_thread *out, size_t cap);
typedef void lh_shim_stats_fn(struct lh_shim_stats *out);
typedef void lh_shim_set_upper_fn(const struct lh_shim_upper *upper);
/* The open fds the lower half created: up to @cap into @out, sorted;
 * returns how many there are. */
typedef size_t lh_shim_fds_fn(int *out, size_t cap);
/* dl_iterate_phdr called from inside the LH namespace: glibc lists only the
 * caller's namespace, so this is how the upper half sees the LH's objects. */
struct dl_phdr_info;
typedef int lh_shim_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg);
typedef int lh_shim_iterate_phdr_fn(lh_shim_phdr_cb *cb, void *arg);

#endif
