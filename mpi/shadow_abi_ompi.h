/* shadow_abi_ompi.h - what the shared core needs to know of Open MPI 4.1's
 * ABI (libmpi.so.40); included by shadow_handle.h only, when compiled
 * against Open MPI's mpi.h (docs/mpi.md, "Open MPI").
 *
 * Open MPI handles are pointers. A predefined handle is the address of an
 * object the library exports (MPI_COMM_WORLD is &ompi_mpi_comm_world): the
 * shadow library exports objects of the same names and sizes, all in one
 * array of fixed-size slots (shadow_ompi_predef, generated), so "is it
 * predefined, and which" is a range test and a shift; the lower half's
 * object of each slot is found with dlsym when the lower half is loaded.
 * A virtual handle is an address in a range the shadow library reserves
 * (PROT_NONE, never touched): base + (kind << SHADOW_INDEX_BITS) + index,
 * unique, never null, never the address of an object the application sees.
 */
#ifndef CKPT_MPI_SHADOW_ABI_OMPI_H
#define CKPT_MPI_SHADOW_ABI_OMPI_H

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHADOW_ABI_NAME "Open MPI"

/* A handle value of either half: application handles and lower-half ones. */
typedef uintptr_t shadow_lh_t;

_Static_assert(sizeof(MPI_Comm) == sizeof(shadow_lh_t) &&
		       sizeof(MPI_Request) == sizeof(shadow_lh_t) &&
		       sizeof(MPI_Datatype) == sizeof(shadow_lh_t),
	       "Open MPI handles are pointers");

/* Bytes of address space reserved for the virtual handles of all kinds. */
#define SHADOW_OMPI_VIRTUAL_SPAN ((uintptr_t)SHADOW_KIND_MAX << SHADOW_INDEX_BITS)

/* Slots of the exported predefined objects: the largest Open MPI 4.1 object
 * (ompi_predefined_communicator_t and friends) is 2048 bytes; the generator
 * refuses a larger one. */
#define SHADOW_OMPI_PREDEF_SHIFT 11

/* Generated (shadow_predef.c): the exported predefined objects, their count
 * and names; the lower half's object of each slot (shadow_abi_ompi.c). */
extern char shadow_ompi_predef[];
extern const size_t shadow_ompi_npredef;
extern const char *const shadow_ompi_predef_names[];
extern uintptr_t shadow_ompi_predef_lh[];
/* Start of the reserved range of virtual handles (shadow_abi_ompi.c). */
extern uintptr_t shadow_ompi_vbase;

/* shadow_abi_ompi.c: reserves the range of virtual handles and resolves the
 * lower half's predefined objects with @sym (dlsym on the lower half).
 * Returns 0, or -1 after printing which object is missing. */
int shadow_abi_ompi_init(void *(*sym)(const char *name));

/* shadow_abi_ompi.c: the application's object for lower-half predefined
 * object @lh, or 0 when @lh is none of them. */
uintptr_t shadow_abi_ompi_predef_app(uintptr_t lh);

static inline uint64_t shadow_abi_handle_bits(shadow_lh_t h)
{
	return h;
}

static inline bool shadow_abi_is_virtual(shadow_lh_t h)
{
	return h - shadow_ompi_vbase < SHADOW_OMPI_VIRTUAL_SPAN;
}

static inline unsigned shadow_abi_virtual_kind(shadow_lh_t h)
{
	return (unsigned)((h - shadow_ompi_vbase) >> SHADOW_INDEX_BITS);
}

static inline uint32_t shadow_abi_virtual_index(shadow_lh_t h)
{
	return (uint32_t)((h - shadow_ompi_vbase) & SHADOW_INDEX_MASK);
}

static inline shadow_lh_t shadow_abi_virtual_make(enum shadow_kind kind, uint32_t idx)
{
	return shadow_ompi_vbase + ((uintptr_t)kind << SHADOW_INDEX_BITS) + idx;
}

/* The lower half's object for application handle @h when @h is one of our
 * exported predefined objects; other values pass unchanged (the library
 * then rejects them). */
static inline shadow_lh_t shadow_abi_predefined_lh(enum shadow_kind kind, shadow_lh_t h)
{
	uintptr_t off = h - (uintptr_t)shadow_ompi_predef;

	(void)kind;
	if (off < (shadow_ompi_npredef << SHADOW_OMPI_PREDEF_SHIFT))
		return shadow_ompi_predef_lh[off >> SHADOW_OMPI_PREDEF_SHIFT];
	return h;
}

/* Whether lower-half handle @lh is one of the lower half's predefined
 * objects (or null). */
static inline bool shadow_abi_lh_predefined(enum shadow_kind kind, shadow_lh_t lh)
{
	(void)kind;
	return lh == 0 || shadow_abi_ompi_predef_app(lh) != 0;
}

static inline shadow_lh_t shadow_abi_predefined_app(enum shadow_kind kind, shadow_lh_t lh)
{
	(void)kind;
	return lh ? shadow_abi_ompi_predef_app(lh) : 0;
}

#endif
