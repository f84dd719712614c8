/* shadow_handle.h - virtual MPI handles; included by mpi/ sources only.
 *
 * The application only sees handle values made here; the lower half's values
 * stay inside the wrappers, so a restarted lower half can hand out different
 * ones behind the same virtual handles. How handles look (ints or pointers,
 * which are predefined, how a virtual handle encodes its kind and index) is
 * the ABI's: shadow_abi_mpich.h or shadow_abi_ompi.h, picked by the mpi.h
 * this file is compiled against (Open MPI's defines OMPI_MAJOR_VERSION).
 * Virtual handles index a table per kind: translation is one test on the
 * fast path and two loads otherwise.
 */
#ifndef CKPT_MPI_SHADOW_HANDLE_H
#define CKPT_MPI_SHADOW_HANDLE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* The kinds of objects behind handles, the same numbers for every ABI (the
 * core's tables are per kind): MPICH's kind bits (29-26 of its handles). */
enum shadow_kind {
	SHADOW_KIND_COMM = 0x1,
	SHADOW_KIND_GROUP = 0x2,
	SHADOW_KIND_DATATYPE = 0x3,
	SHADOW_KIND_ERRHANDLER = 0x5,
	SHADOW_KIND_OP = 0x6,
	SHADOW_KIND_INFO = 0x7,
	SHADOW_KIND_REQUEST = 0xb,
	SHADOW_KIND_MAX = 0x10,
};

#define SHADOW_INDEX_BITS 26 /* 64 Mi live handles of each kind */
#define SHADOW_INDEX_MASK ((1u << SHADOW_INDEX_BITS) - 1)

#ifdef OMPI_MAJOR_VERSION
#include "shadow_abi_ompi.h"
#else
#include "shadow_abi_mpich.h"
#endif

/* 4096 entries (16 KiB) per chunk: chunks never move, so lookups take no lock. */
#define SHADOW_CHUNK_BITS 12
#define SHADOW_CHUNK_SIZE (1u << SHADOW_CHUNK_BITS)
#define SHADOW_NCHUNKS	  (1u << (SHADOW_INDEX_BITS - SHADOW_CHUNK_BITS))
/* Handle arrays up to this length are translated on the stack. */
#define SHADOW_STACK_HANDLES 32

/* The lower-half value of each live virtual handle of one kind (0: free). */
struct shadow_table {
	shadow_lh_t *chunks[SHADOW_NCHUNKS];
};

extern struct shadow_table shadow_tables[SHADOW_KIND_MAX];

/* The lower-half value of virtual handle @h, or 0 (which the MPI library
 * rejects as an invalid handle) when @h is not a live handle of @kind. */
static inline shadow_lh_t shadow_handle_lookup(enum shadow_kind kind, shadow_lh_t h)
{
	uint32_t idx = shadow_abi_virtual_index(h);
	shadow_lh_t *chunk;

	if (shadow_abi_virtual_kind(h) != (unsigned)kind)
		return 0;
	chunk = __atomic_load_n(&shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS],
				__ATOMIC_ACQUIRE);
	if (!chunk)
		return 0;
	return chunk[idx & (SHADOW_CHUNK_SIZE - 1)];
}

/* The lower-half value for application handle @h of @kind. */
static inline shadow_lh_t shadow_handle_lh(enum shadow_kind kind, shadow_lh_t h)
{
	if (!shadow_abi_is_virtual(h))
		return shadow_abi_predefined_lh(kind, h);
	return shadow_handle_lookup(kind, h);
}

/* The application handle for a handle the lower half just created: a new
 * virtual handle, or @lh itself when it is predefined or null. Stops the
 * program when the table is full. */
shadow_lh_t shadow_handle_new(enum shadow_kind kind, shadow_lh_t lh);

/* Forgets virtual handle @h (no-op for predefined ones). */
void shadow_handle_release(enum shadow_kind kind, shadow_lh_t h);

/* After a call that may have replaced or freed *@h (whose lower-half value
 * is now @lh): makes *@h follow, releasing the old virtual handle. */
void shadow_handle_update(enum shadow_kind kind, shadow_lh_t *h, shadow_lh_t lh);

/* The application handle whose lower-half value is @lh (a slow scan, for
 * callbacks the lower half calls with its own handles); @lh if none. */
shadow_lh_t shadow_handle_from_lh(enum shadow_kind kind, shadow_lh_t lh);

/* Translates @n handles of @h into @buf (SHADOW_STACK_HANDLES long) or, when
 * longer, into memory from malloc; NULL when @h is NULL. @h is an array of
 * the ABI's handle type (the same size as shadow_lh_t), read with memcpy.
 * Stops the program when out of memory. */
shadow_lh_t *shadow_handle_array_lh(enum shadow_kind kind, const void *h, int n, shadow_lh_t *buf);

/* shadow_handle_update for each of @n handles. */
void shadow_handle_array_update(enum shadow_kind kind, void *h, const shadow_lh_t *lh, int n);

/* Points live virtual handle @h of @kind at @lh (replay, re-posted requests). */
void shadow_handle_set(int kind, shadow_lh_t h, shadow_lh_t lh);

/* Frees what shadow_handle_array_lh allocated. */
void shadow_handle_array_free(shadow_lh_t *lh, const shadow_lh_t *buf);

#endif
