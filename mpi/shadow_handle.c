/* shadow_handle.c - tables of virtual MPI handles (shadow_handle.h). */
#include "shadow_handle.h"
#include "shadow.h"
#include "shadow_ckpt.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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
		shadow_lh_t *chunk = calloc(SHADOW_CHUNK_SIZE, sizeof(*chunk));

		if (!chunk)
			shadow_die("out of memory for MPI handles");
		__atomic_store_n(&shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS], chunk,
				 __ATOMIC_RELEASE);
	}
	return idx;
}

shadow_lh_t shadow_handle_new(enum shadow_kind kind, shadow_lh_t lh)
{
	uint32_t idx;

	if (shadow_abi_lh_predefined(kind, lh))
		return shadow_abi_predefined_app(kind, lh);
	pthread_mutex_lock(&shadow_handle_lock);
	idx = shadow_handle_index_get(kind);
	shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS][idx & (SHADOW_CHUNK_SIZE - 1)] = lh;
	pthread_mutex_unlock(&shadow_handle_lock);
	return shadow_abi_virtual_make(kind, idx);
}

void shadow_handle_release(enum shadow_kind kind, shadow_lh_t h)
{
	uint32_t idx = shadow_abi_virtual_index(h);
	struct shadow_alloc *a = &shadow_allocs[kind];
	shadow_lh_t *chunk;

	if (!shadow_abi_is_virtual(h) || !shadow_handle_lookup(kind, h))
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

void shadow_handle_update(enum shadow_kind kind, shadow_lh_t *h, shadow_lh_t lh)
{
	if (shadow_handle_lh(kind, *h) == lh)
		return;
	shadow_handle_release(kind, *h);
	*h = shadow_handle_new(kind, lh);
}

shadow_lh_t shadow_handle_from_lh(enum shadow_kind kind, shadow_lh_t lh)
{
	struct shadow_alloc *a = &shadow_allocs[kind];
	shadow_lh_t found = lh;

	if (shadow_abi_lh_predefined(kind, lh))
		return shadow_abi_predefined_app(kind, lh);
	pthread_mutex_lock(&shadow_handle_lock);
	for (uint32_t idx = 0; idx < a->next; idx++) {
		const shadow_lh_t *chunk = shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS];

		if (chunk[idx & (SHADOW_CHUNK_SIZE - 1)] == lh) {
			found = shadow_abi_virtual_make(kind, idx);
			break;
		}
	}
	pthread_mutex_unlock(&shadow_handle_lock);
	return found;
}

shadow_lh_t *shadow_handle_array_lh(enum shadow_kind kind, const void *h, int n, shadow_lh_t *buf)
{
	shadow_lh_t *lh = buf;

	if (!h)
		return NULL;
	if (n > SHADOW_STACK_HANDLES) {
		lh = malloc((size_t)n * sizeof(*lh));
		if (!lh)
			shadow_die("out of memory translating %d MPI handles", n);
	}
	for (int i = 0; i < n; i++) {
		shadow_lh_t v;

		memcpy(&v, (const char *)h + (size_t)i * sizeof(v), sizeof(v));
		lh[i] = shadow_handle_lh(kind, v);
	}
	return lh;
}

void shadow_handle_array_update(enum shadow_kind kind, void *h, const shadow_lh_t *lh, int n)
{
	if (!h || !lh)
		return;
	for (int i = 0; i < n; i++) {
		shadow_lh_t v;
		char *p = (char *)h + (size_t)i * sizeof(v);

		memcpy(&v, p, sizeof(v));
		shadow_handle_update(kind, &v, lh[i]);
		memcpy(p, &v, sizeof(v));
	}
}

void shadow_handle_array_free(shadow_lh_t *lh, const shadow_lh_t *buf)
{
	if (lh != buf)
		free(lh);
}

void shadow_handle_set(int kind, shadow_lh_t h, shadow_lh_t lh)
{
	uint32_t idx = shadow_abi_virtual_index(h);
	shadow_lh_t *chunk;

	if (!shadow_abi_is_virtual(h) || kind <= 0 || kind >= SHADOW_KIND_MAX)
		return;
	chunk = shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS];
	if (!chunk)
		shadow_die("virtual handle %#llx of kind %d set before it was made",
			   (unsigned long long)shadow_abi_handle_bits(h), kind);
	__atomic_store_n(&chunk[idx & (SHADOW_CHUNK_SIZE - 1)], lh, __ATOMIC_RELEASE);
}
