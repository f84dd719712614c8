/* shadow_handle.h - virtual MPI handles; included by mpi/ sources only.
 *
 * The application only sees handle values made here; the lower half's values
 * stay inside the wrappers, so a restarted lower half can hand out different
 * ones behind the same virtual handles. MPICH handles are ints laid out as
 *   bits 31-30  type: 0 invalid, 1 builtin, 2 direct, 3 indirect
 *   bits 29-26  kind: communicator, group, datatype, ...
 *   bits 25-0   index
 * Predefined handles (MPI_COMM_WORLD, MPI_INT, MPI_SUM, the null handles)
 * are builtin, or for five pair datatypes (MPI_FLOAT_INT ...) direct; they
 * are the same in every MPICH of this ABI, so they pass through unchanged.
 * Virtual handles use type 3 with MPICH's kind bits and an index into a
 * table per kind: translation is one test on the fast path and two loads
 * otherwise. MPI_Fint handles in MPICH are the same ints, so Fortran code
 * sees virtual handles too.
 */
#ifndef CKPT_MPI_SHADOW_HANDLE_H
#define CKPT_MPI_SHADOW_HANDLE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* MPICH's object kinds (bits 29-26 of a handle). */
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

#define SHADOW_TYPE_MASK    0xc0000000u /* bits 31-30 of a handle */
#define SHADOW_TYPE_VIRTUAL 0xc0000000u /* our handles: never predefined in MPICH */
#define SHADOW_KIND_SHIFT   26
#define SHADOW_INDEX_BITS   26 /* 64 Mi live handles of each kind */
#define SHADOW_INDEX_MASK   ((1u << SHADOW_INDEX_BITS) - 1)
/* 4096 entries (16 KiB) per chunk: chunks never move, so lookups take no lock. */
#define SHADOW_CHUNK_BITS 12
#define SHADOW_CHUNK_SIZE (1u << SHADOW_CHUNK_BITS)
#define SHADOW_NCHUNKS	  (1u << (SHADOW_INDEX_BITS - SHADOW_CHUNK_BITS))
/* Handle arrays up to this length are translated on the stack. */
#define SHADOW_STACK_HANDLES 32

_Static_assert(sizeof(MPI_Comm) == sizeof(int) && sizeof(MPI_Request) == sizeof(int) &&
		       sizeof(MPI_Datatype) == sizeof(int),
	       "MPICH handles are ints");

/* The lower-half value of each live virtual handle of one kind (0: free). */
struct shadow_table {
	uint32_t *chunks[SHADOW_NCHUNKS];
};

extern struct shadow_table shadow_tables[SHADOW_KIND_MAX];

/* The lower-half value of virtual handle @u, or 0 (which MPICH rejects as
 * an invalid handle) when @u is not a live handle of @kind. */
static inline int shadow_handle_lookup(enum shadow_kind kind, uint32_t u)
{
	uint32_t idx = u & SHADOW_INDEX_MASK;
	uint32_t *chunk;

	if (((u >> SHADOW_KIND_SHIFT) & 0xf) != (uint32_t)kind)
		return 0;
	chunk = __atomic_load_n(&shadow_tables[kind].chunks[idx >> SHADOW_CHUNK_BITS],
				__ATOMIC_ACQUIRE);
	if (!chunk)
		return 0;
	return (int)chunk[idx & (SHADOW_CHUNK_SIZE - 1)];
}

/* The lower-half value for application handle @h of @kind. */
static inline int shadow_handle_lh(enum shadow_kind kind, int h)
{
	uint32_t u = (uint32_t)h;

	if ((u & SHADOW_TYPE_MASK) != SHADOW_TYPE_VIRTUAL)
		return h;
	return shadow_handle_lookup(kind, u);
}

/* The application handle for a handle the lower half just created: a new
 * virtual handle, or @lh itself when it is predefined or null. Stops the
 * program when the table is full. */
int shadow_handle_new(enum shadow_kind kind, int lh);

/* Forgets virtual handle @h (no-op for predefined ones). */
void shadow_handle_release(enum shadow_kind kind, int h);

/* After a call that may have replaced or freed *@h (whose lower-half value
 * is now @lh): makes *@h follow, releasing the old virtual handle. */
void shadow_handle_update(enum shadow_kind kind, int *h, int lh);

/* The application handle whose lower-half value is @lh (a slow scan, for
 * callbacks the lower half calls with its own handles); @lh if none. */
int shadow_handle_from_lh(enum shadow_kind kind, int lh);

/* Translates @n handles of @h into @buf (SHADOW_STACK_HANDLES long) or, when
 * longer, into memory from malloc; NULL when @h is NULL. Stops the program
 * when out of memory. */
int *shadow_handle_array_lh(enum shadow_kind kind, const int *h, int n, int *buf);

/* shadow_handle_update for each of @n handles. */
void shadow_handle_array_update(enum shadow_kind kind, int *h, const int *lh, int n);

/* Frees what shadow_handle_array_lh allocated. */
void shadow_handle_array_free(int *lh, const int *buf);

#endif
