/* lh_shim_alloc.c - the malloc family of the lower half.
 *
 * Every library of the lower half's namespace, its libc included (glibc
 * calls malloc through its PLT so that it can be replaced), allocates here,
 * so the lower half's heap is a set of regions the shim mapped and recorded:
 *
 * - blocks up to 128 KiB come from power-of-two size classes (32 B to
 *   128 KiB), carved from 4 MiB arenas and kept on one free list per class
 *   when freed; an arena is never returned to the kernel;
 * - larger blocks get their own mapping; free keeps up to 8 of them (64 MiB)
 *   for reuse and unmaps the others.
 *
 * Every block starts with a 16-byte header right before the pointer handed
 * out, so pointers are 16-byte aligned and free finds the block and its
 * size; larger alignments shift the pointer inside a larger block. One
 * mutex serialises the allocator: the lower half allocates little on MPI's
 * fast paths (see the figures in docs/mpi.md).
 */
#include "lh_shim_int.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#define LH_ALLOC_MIN_SHIFT 5  /* 32 B: header + 16 bytes */
#define LH_ALLOC_MAX_SHIFT 17 /* 128 KiB: above, a mapping of its own */
#define LH_ALLOC_CLASSES   (LH_ALLOC_MAX_SHIFT - LH_ALLOC_MIN_SHIFT + 1)
#define LH_ALLOC_ARENA	   (4UL << 20) /* 32 of the largest class; few regions */
#define LH_ALLOC_HDR	   16
#define LH_ALLOC_LARGE	   0xffff /* cls of a block with its own mapping */
#define LH_ALLOC_MAGIC	   0x4c48 /* "LH": a live block */
#define LH_ALLOC_FREED	   0x4648 /* "FH": a freed block (double free check) */

/* Right before every pointer handed out. */
struct lh_alloc_hdr {
	uint16_t magic;
	uint16_t cls; /* size class, or LH_ALLOC_LARGE */
	uint32_t off; /* pointer - block start */
	uint64_t len; /* block size (class size, or the mapping's length) */
};

_Static_assert(sizeof(struct lh_alloc_hdr) == LH_ALLOC_HDR, "header is 16 bytes");

/* A freed block links to the next one of its class 8 bytes in, so that the
 * header's magic (at the start when the block was not aligned) says freed. */
struct lh_alloc_free {
	uint64_t unused;
	struct lh_alloc_free *next;
};

static pthread_mutex_t lh_alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lh_alloc_free *lh_free_lists[LH_ALLOC_CLASSES];
static uintptr_t lh_arena_base; /* the arena blocks are carved from (0: none yet) */
static uintptr_t lh_arena_bump; /* its first byte not handed out */
/* Every arena, so that free tells the shim's pointers from others. 1024
 * arenas are 4 GiB of small blocks; more stops the program. */
#define LH_ALLOC_ARENAS_MAX 1024
static uintptr_t lh_arenas[LH_ALLOC_ARENAS_MAX];
static size_t lh_narenas; /* appended under the lock, read without */

size_t lh_alloc_arena_used(uintptr_t start, size_t len)
{
	uintptr_t base = __atomic_load_n(&lh_arena_base, __ATOMIC_RELAXED);
	uintptr_t bump = __atomic_load_n(&lh_arena_bump, __ATOMIC_RELAXED);

	return base == start ? bump - base : len;
}

/* A fresh heap mapping of @len bytes, recorded; NULL with errno ENOMEM. */
static void *lh_heap_map(size_t len, uint32_t flags)
{
	void *p =
		lh_sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	lh_region_add((uintptr_t)p, len, LH_SHIM_HEAP, flags, PROT_READ | PROT_WRITE);
	return p;
}

/* Smallest class whose blocks hold @need bytes (need >= 1). */
static unsigned lh_class_of(size_t need)
{
	unsigned shift = need <= 1 ? 0 : 64 - (unsigned)__builtin_clzl(need - 1);

	return shift <= LH_ALLOC_MIN_SHIFT ? 0 : shift - LH_ALLOC_MIN_SHIFT;
}

/* Freed large blocks kept for reuse: MPICH allocates a temporary buffer for
 * each large collective, and a fresh mapping every time (mmap, page faults,
 * munmap) would cost more than the collective itself. A kept block serves
 * a request of half its length or more, best fit first; it stays recorded
 * as a heap region. */
#define LH_LARGE_KEEP	    8
#define LH_LARGE_KEEP_BYTES (64UL << 20)

struct lh_large {
	uintptr_t b; /* 0: slot empty */
	size_t len;
};

static struct lh_large lh_large_kept[LH_LARGE_KEEP];
static size_t lh_large_kept_bytes;

/* A kept block for @*len bytes (its length into @*len), or 0; the lock is held. */
static uintptr_t lh_large_take(size_t *len)
{
	struct lh_large *best = NULL;
	uintptr_t b;

	for (int i = 0; i < LH_LARGE_KEEP; i++) {
		struct lh_large *k = &lh_large_kept[i];

		if (k->b && k->len >= *len && k->len / 2 <= *len && (!best || k->len < best->len))
			best = k;
	}
	if (!best)
		return 0;
	b = best->b;
	*len = best->len;
	lh_large_kept_bytes -= best->len;
	best->b = 0;
	return b;
}

/* Keeps a freed large block if there is room; the lock is held. */
static bool lh_large_keep(uintptr_t b, size_t len)
{
	if (len > LH_LARGE_KEEP_BYTES - lh_large_kept_bytes)
		return false;
	for (int i = 0; i < LH_LARGE_KEEP; i++) {
		if (!lh_large_kept[i].b) {
			lh_large_kept[i] = (struct lh_large){ .b = b, .len = len };
			lh_large_kept_bytes += len;
			return true;
		}
	}
	return false;
}

/* A block of class @cls; the allocator lock is held. */
static void *lh_class_block(unsigned cls)
{
	size_t size = (size_t)1 << (cls + LH_ALLOC_MIN_SHIFT);
	struct lh_alloc_free *f = lh_free_lists[cls];
	void *arena;
	uintptr_t b;

	if (f) {
		lh_free_lists[cls] = f->next;
		return f;
	}
	if (!lh_arena_base || lh_arena_bump + size > lh_arena_base + LH_ALLOC_ARENA) {
		arena = lh_heap_map(LH_ALLOC_ARENA, LH_SHIM_F_ARENA);
		if (!arena)
			return NULL;
		if (lh_narenas == LH_ALLOC_ARENAS_MAX)
			lh_die("more than 4 GiB of small blocks in the lower half");
		lh_arenas[lh_narenas] = (uintptr_t)arena;
		__atomic_store_n(&lh_narenas, lh_narenas + 1, __ATOMIC_RELEASE);
		LH_COUNT(arena_bytes, LH_ALLOC_ARENA);
		/* The rest of the old arena is lost: at most one block of each class. */
		__atomic_store_n(&lh_arena_bump, (uintptr_t)arena, __ATOMIC_RELAXED);
		__atomic_store_n(&lh_arena_base, (uintptr_t)arena, __ATOMIC_RELAXED);
	}
	b = lh_arena_bump;
	__atomic_store_n(&lh_arena_bump, b + size, __ATOMIC_RELAXED);
	return lh_ptr(b);
}

/* @n bytes aligned to @align (a power of two), or NULL with errno ENOMEM.
 * *fresh (if not NULL) tells whether the memory is a new mapping (zero). */
static void *lh_alloc_fresh(size_t n, size_t align, bool *fresh)
{
	size_t need;
	size_t len;
	unsigned cls;
	uintptr_t b;
	uintptr_t p;
	struct lh_alloc_hdr *h;

	if (align < LH_ALLOC_HDR)
		align = LH_ALLOC_HDR;
	if (n > SIZE_MAX / 4 || align > SIZE_MAX / 4) {
		errno = ENOMEM;
		return NULL;
	}
	/* The pointer is at most max(16, align) bytes into the block. */
	need = n + (align > LH_ALLOC_HDR ? align : LH_ALLOC_HDR);
	if (need <= (size_t)1 << LH_ALLOC_MAX_SHIFT) {
		cls = lh_class_of(need);
		len = (size_t)1 << (cls + LH_ALLOC_MIN_SHIFT);
		pthread_mutex_lock(&lh_alloc_lock);
		b = (uintptr_t)lh_class_block(cls);
		lh_stats.mallocs++;
		pthread_mutex_unlock(&lh_alloc_lock);
	} else {
		cls = LH_ALLOC_LARGE;
		len = lh_round_up(need, LH_PAGE);
		pthread_mutex_lock(&lh_alloc_lock);
		b = lh_large_take(&len);
		lh_stats.mallocs++;
		lh_stats.large++;
		pthread_mutex_unlock(&lh_alloc_lock);
		if (!b) {
			b = (uintptr_t)lh_heap_map(len, 0);
			if (fresh)
				*fresh = true;
		}
	}
	if (!b)
		return NULL;
	p = (b + LH_ALLOC_HDR + align - 1) & ~(uintptr_t)(align - 1);
	h = lh_ptr(p - LH_ALLOC_HDR);
	h->magic = LH_ALLOC_MAGIC;
	h->cls = (uint16_t)cls;
	h->off = (uint32_t)(p - b);
	h->len = len;
	return lh_ptr(p);
}

static void *lh_alloc(size_t n, size_t align)
{
	return lh_alloc_fresh(n, align, NULL);
}

/* The header of @p if the shim handed it out; NULL for a pointer from
 * elsewhere (the upper half's allocator, through ld.so). Dies on a double
 * free or a corrupted header inside the shim's heap. */
static struct lh_alloc_hdr *lh_hdr_of(void *p)
{
	uintptr_t a = (uintptr_t)p;
	size_t n = __atomic_load_n(&lh_narenas, __ATOMIC_ACQUIRE);
	struct lh_alloc_hdr *h;
	bool ours = false;

	/* Newest arenas first: they serve most blocks. */
	for (size_t i = n; i-- > 0 && !ours;)
		ours = a - lh_arenas[i] < LH_ALLOC_ARENA;
	if (!ours && !lh_region_is_heap(a - LH_ALLOC_HDR))
		return NULL;
	h = lh_ptr(a - LH_ALLOC_HDR);
	if (h->magic == LH_ALLOC_FREED)
		lh_die("double free in the lower half");
	if (h->magic != LH_ALLOC_MAGIC)
		lh_die("free of a pointer the lower-half allocator did not return (corrupted heap)");
	return h;
}

static size_t lh_usable(const struct lh_alloc_hdr *h)
{
	return h->len - h->off;
}

static void lh_release(struct lh_alloc_hdr *h)
{
	uintptr_t b = (uintptr_t)h + LH_ALLOC_HDR - h->off;
	struct lh_alloc_free *f = lh_ptr(b);
	unsigned cls = h->cls;

	h->magic = LH_ALLOC_FREED;
	if (cls == LH_ALLOC_LARGE) {
		size_t len = h->len;
		bool kept;

		pthread_mutex_lock(&lh_alloc_lock);
		kept = lh_large_keep(b, len);
		lh_stats.frees++;
		pthread_mutex_unlock(&lh_alloc_lock);
		if (!kept && lh_unmap(lh_ptr(b), len))
			lh_die("munmap of a large block failed");
		return;
	}
	pthread_mutex_lock(&lh_alloc_lock);
	f->next = lh_free_lists[cls];
	lh_free_lists[cls] = f;
	lh_stats.frees++;
	pthread_mutex_unlock(&lh_alloc_lock);
}

LH_EXPORT void *malloc(size_t n)
{
	return lh_alloc(n, LH_ALLOC_HDR);
}

LH_EXPORT void free(void *p)
{
	struct lh_alloc_hdr *h;

	if (!p)
		return;
	h = lh_hdr_of(p);
	if (h) {
		lh_release(h);
		return;
	}
	LH_COUNT(foreign_frees, 1);
	if (lh_upper.free)
		lh_upper.free(p);
}

LH_EXPORT void *calloc(size_t count, size_t size)
{
	size_t n;
	void *p;
	bool fresh = false;

	if (__builtin_mul_overflow(count, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	p = lh_alloc_fresh(n, LH_ALLOC_HDR, &fresh);
	/* A new mapping is zero already: do not touch its pages. */
	if (p && !fresh)
		memset(p, 0, n);
	return p;
}

LH_EXPORT void *realloc(void *p, size_t n)
{
	struct lh_alloc_hdr *h;
	void *q;
	size_t old;

	if (!p)
		return lh_alloc(n, LH_ALLOC_HDR);
	h = lh_hdr_of(p);
	if (!h) {
		LH_COUNT(foreign_frees, 1);
		if (!lh_upper.realloc)
			lh_die("realloc of a pointer from outside the lower half, before setup");
		return lh_upper.realloc(p, n);
	}
	if (n == 0) {
		/* glibc's realloc(p, 0) frees and returns NULL. */
		lh_release(h);
		return NULL;
	}
	old = lh_usable(h);
	/* Keep the block while it fits and is not mostly empty. */
	if (n <= old && (h->cls == LH_ALLOC_LARGE ? n > old / 2 : n > old / 4))
		return p;
	q = lh_alloc(n, LH_ALLOC_HDR);
	if (!q)
		return NULL;
	memcpy(q, p, n < old ? n : old);
	lh_release(h);
	return q;
}

LH_EXPORT void *reallocarray(void *p, size_t count, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(count, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n);
}

static bool lh_pow2(size_t a)
{
	return a && !(a & (a - 1));
}

LH_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (!lh_pow2(align) || align % sizeof(void *))
		return EINVAL;
	p = lh_alloc(n, align);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/* glibc's memalign rounds an alignment that is no power of two up. */
LH_EXPORT void *memalign(size_t align, size_t n)
{
	size_t a = LH_ALLOC_HDR;

	if (align > SIZE_MAX / 4) {
		errno = EINVAL;
		return NULL;
	}
	while (a < align)
		a <<= 1;
	return lh_alloc(n, a);
}

LH_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	return memalign(align, n);
}

LH_EXPORT void *valloc(size_t n)
{
	return lh_alloc(n, LH_PAGE);
}

LH_EXPORT void *pvalloc(size_t n)
{
	if (n > SIZE_MAX / 4) {
		errno = ENOMEM;
		return NULL;
	}
	return lh_alloc(lh_round_up(n ? n : 1, LH_PAGE), LH_PAGE);
}

LH_EXPORT size_t malloc_usable_size(void *p)
{
	struct lh_alloc_hdr *h;

	if (!p)
		return 0;
	h = lh_hdr_of(p);
	return h ? lh_usable(h) : 0;
}
