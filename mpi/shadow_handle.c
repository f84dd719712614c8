/* shadow_handle.c - tables of virtual MPI handles (shadow_handle.h). */
#include "shadow_handle.h"
#include "shadow.h"
#include "shadow_ckpt.h"

#include <pthread.h>
#include <stdlib.h>

struct shadow_table shadow_tables[SHADOW_KIND_MAX];

/* Allocation state of one kind; lookups never touch it. */
struct shadow_alloc {
	uint32_t next;	/* first index never used */
	uint32_t *free; /* stack of released indices */
	size_t nfree;
	size_t cap;
};

static struct shadow_alloc shadow_allocs[SHADOW_KIND_MAX];
/* Creating and freeing handles may come from several threads (MPI_THREAD_MULTIPLE). */
static pthread_mutex_t shadow_handle_lock = PTHREAD_MUTEX_INITIALIZER;

/* MPICH's predefined pair datatypes (MPI_FLOAT_INT ... MPI_LONG_DOUBLE_INT)
 * are the first five direct datatype handles. */
static bool shadow_handle_predefined(enum shadow_kind kind, uint32_t lh)
{
	uint32_t type = lh & SHADOW_TYPE_MASK;

	if (type == 0 || type == 0x40000000u)
		return true;
	return kind == SHADOW_KIND_DATATYPE && type == 0x80000000u && (lh & SHADOW_INDEX_MASK) <= 4;
}

static uint32_t shadow_handle_index_get(enum shadow_kind kind)
{
	struct shadow_alloc *a = &shadow_allocs[kind];
	uint32_t idx;

	if (a->nfree)
		return a->free[--a->nfree];
	if (a->next > SHADOW_INDEX_MASK)
		shadow_die("more than %u live MPI handles of kind %d", SHADOW_INDEX_MASK, kind);
	idx = a->next++;
	if (!shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS]) {
		uint32_t *chunk = calloc(SHADOW_CHUNK_SIZE, sizeof(*chunk));

		if (!chunk)
			shadow_die("out of memory for MPI handles");
		__atomic_store_n(&shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS], chunk,
				 __ATOMIC_RELEASE);
	}
	return idx;
}

int shadow_handle_new(enum shadow_kind kind, int lh)
{
	uint32_t idx;

	if (shadow_handle_predefined(kind, (uint32_t)lh))
		return lh;
	pthread_mutex_lock(&shadow_handle_lock);
	idx = shadow_handle_index_get(kind);
	shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS][idx & (SHADOW_CHUNK_SIZE - 1)] =
		(uint32_t)lh;
	pthread_mutex_unlock(&shadow_handle_lock);
	return (int)(SHADOW_TYPE_VIRTUAL | ((uint32_t)kind << SHADOW_KIND_SHIFT) | idx);
}

void shadow_handle_release(enum shadow_kind kind, int h)
{
	uint32_t u = (uint32_t)h;
	uint32_t idx = u & SHADOW_INDEX_MASK;
	struct shadow_alloc *a = &shadow_allocs[kind];
	uint32_t *chunk;

	if ((u & SHADOW_TYPE_MASK) != SHADOW_TYPE_VIRTUAL || !shadow_handle_lookup(kind, u))
		return;
	pthread_mutex_lock(&shadow_handle_lock);
	chunk = shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS];
	chunk[idx & (SHADOW_CHUNK_SIZE - 1)] = 0;
	if (a->nfree == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 1024;
		uint32_t *stack = realloc(a->free, cap * sizeof(*stack));

		if (!stack)
			shadow_die("out of memory for MPI handles");
		a->free = stack;
		a->cap = cap;
	}
	a->free[a->nfree++] = idx;
	pthread_mutex_unlock(&shadow_handle_lock);
}

void shadow_handle_update(enum shadow_kind kind, int *h, int lh)
{
	if (shadow_handle_lh(kind, *h) == lh)
		return;
	shadow_handle_release(kind, *h);
	*h = shadow_handle_new(kind, lh);
}

int shadow_handle_from_lh(enum shadow_kind kind, int lh)
{
	struct shadow_alloc *a = &shadow_allocs[kind];
	int found = lh;

	if (shadow_handle_predefined(kind, (uint32_t)lh))
		return lh;
	pthread_mutex_lock(&shadow_handle_lock);
	for (uint32_t idx = 0; idx < a->next; idx++) {
		const uint32_t *chunk = shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS];

		if (chunk[idx & (SHADOW_CHUNK_SIZE - 1)] == (uint32_t)lh) {
			found = (int)(SHADOW_TYPE_VIRTUAL | ((uint32_t)kind << SHADOW_KIND_SHIFT) |
				      idx);
			break;
		}
	}
	pthread_mutex_unlock(&shadow_handle_lock);
	return found;
}

int *shadow_handle_array_lh(enum shadow_kind kind, const int *h, int n, int *buf)
{
	int *lh = buf;

	if (!h)
		return NULL;
	if (n > SHADOW_STACK_HANDLES) {
		lh = malloc((size_t)n * sizeof(*lh));
		if (!lh)
			shadow_die("out of memory translating %d MPI handles", n);
	}
	for (int i = 0; i < n; i++)
		lh[i] = shadow_handle_lh(kind, h[i]);
	return lh;
}

void shadow_handle_array_update(enum shadow_kind kind, int *h, const int *lh, int n)
{
	if (!h || !lh)
		return;
	for (int i = 0; i < n; i++)
		shadow_handle_update(kind, &h[i], lh[i]);
}

void shadow_handle_array_free(int *lh, const int *buf)
{
	if (lh != buf)
		free(lh);
}

void shadow_handle_set(int kind, int h, int lh)
{
	uint32_t u = (uint32_t)h;
	uint32_t idx = u & SHADOW_INDEX_MASK;
	uint32_t *chunk;

	if ((u & SHADOW_TYPE_MASK) != SHADOW_TYPE_VIRTUAL || kind <= 0 || kind >= SHADOW_KIND_MAX)
		return;
	chunk = shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS];
	if (!chunk)
		shadow_die("virtual handle %#x of kind %d set before it was made", u, kind);
	__atomic_store_n(&chunk[idx & (SHADOW_CHUNK_SIZE - 1)], (uint32_t)lh, __ATOMIC_RELEASE);
}
