/* shadow_abi_mpich.h - what the shared core needs to know of MPICH 4.0's
 * ABI (libmpich.so.12); included by shadow_handle.h only (docs/mpi.md,
 * "Open MPI": one core compiled once per ABI).
 *
 * MPICH handles are ints laid out as
 *   bits 31-30  type: 0 invalid, 1 builtin, 2 direct, 3 indirect
 *   bits 29-26  kind: communicator, group, datatype, ...
 *   bits 25-0   index
 * Predefined handles (MPI_COMM_WORLD, MPI_INT, MPI_SUM, the null handles)
 * are builtin, or for five pair datatypes (MPI_FLOAT_INT ...) direct; they
 * are the same in every MPICH of this ABI, so they pass through unchanged.
 * Virtual handles use type 3 with MPICH's kind bits and an index into a
 * table per kind. MPI_Fint handles in MPICH are the same ints, so Fortran
 * code sees virtual handles too.
 */
#ifndef CKPT_MPI_SHADOW_ABI_MPICH_H
#define CKPT_MPI_SHADOW_ABI_MPICH_H

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

#define SHADOW_ABI_NAME "MPICH"

/* A handle value of either half: application handles and lower-half ones. */
typedef int shadow_lh_t;

_Static_assert(sizeof(MPI_Comm) == sizeof(shadow_lh_t) &&
		       sizeof(MPI_Request) == sizeof(shadow_lh_t) &&
		       sizeof(MPI_Datatype) == sizeof(shadow_lh_t),
	       "MPICH handles are ints");

/* The kinds (shadow_handle.h) are MPICH's own numbers: bits 29-26 of a
 * handle. */
#define SHADOW_TYPE_MASK    0xc0000000u /* bits 31-30 of a handle */
#define SHADOW_TYPE_VIRTUAL 0xc0000000u /* our handles: never predefined in MPICH */
#define SHADOW_KIND_SHIFT   26

/* The bits of handle @h, for messages. */
static inline uint64_t shadow_abi_handle_bits(shadow_lh_t h)
{
	return (uint32_t)h;
}

/* Whether @h is one of our virtual handles (of any kind). */
static inline bool shadow_abi_is_virtual(shadow_lh_t h)
{
	return ((uint32_t)h & SHADOW_TYPE_MASK) == SHADOW_TYPE_VIRTUAL;
}

/* The kind bits of virtual handle @h. */
static inline unsigned shadow_abi_virtual_kind(shadow_lh_t h)
{
	return ((uint32_t)h >> SHADOW_KIND_SHIFT) & 0xf;
}

/* The table index of virtual handle @h. */
static inline uint32_t shadow_abi_virtual_index(shadow_lh_t h)
{
	return (uint32_t)h & SHADOW_INDEX_MASK;
}

/* The virtual handle of @kind at table index @idx. */
static inline shadow_lh_t shadow_abi_virtual_make(enum shadow_kind kind, uint32_t idx)
{
	return (shadow_lh_t)(SHADOW_TYPE_VIRTUAL | ((uint32_t)kind << SHADOW_KIND_SHIFT) | idx);
}

/* The lower-half value of a handle that is not virtual: MPICH's predefined
 * handles are the same numbers in both halves. */
static inline shadow_lh_t shadow_abi_predefined_lh(enum shadow_kind kind, shadow_lh_t h)
{
	(void)kind;
	return h;
}

/* Whether lower-half handle @lh is predefined (or null): it is then handed
 * to the application as it is. MPICH's predefined pair datatypes
 * (MPI_FLOAT_INT ... MPI_LONG_DOUBLE_INT) are the first five direct
 * datatype handles. */
static inline bool shadow_abi_lh_predefined(enum shadow_kind kind, shadow_lh_t lh)
{
	uint32_t type = (uint32_t)lh & SHADOW_TYPE_MASK;

	if (type == 0 || type == 0x40000000u)
		return true;
	return kind == SHADOW_KIND_DATATYPE && type == 0x80000000u &&
	       ((uint32_t)lh & SHADOW_INDEX_MASK) <= 4;
}

/* The application's value of predefined lower-half handle @lh. */
static inline shadow_lh_t shadow_abi_predefined_app(enum shadow_kind kind, shadow_lh_t lh)
{
	(void)kind;
	return lh;
}

#endif
