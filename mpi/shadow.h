/* shadow.h - internals of the shadow libmpich.so.12; included by mpi/ sources only.
 *
 * The application's MPI calls land in this library (the upper half); the real
 * MPICH runs in a separate link-map namespace (the lower half) loaded with
 * dlmopen. See docs/mpi.md.
 */
#ifndef CKPT_MPI_SHADOW_H
#define CKPT_MPI_SHADOW_H

#include "shadow_unsupported.h"

/* One entry of the generated table of real functions to resolve. */
struct shadow_real_sym {
	const char *name; /* symbol in the real library, e.g. "PMPI_Send" */
	void **slot;	  /* where its address goes */
};

/* Generated (shadow_wrappers.c): every supported function, NULL-terminated. */
extern const struct shadow_real_sym shadow_real_syms[];

/* Loads the real MPICH into a new namespace and resolves shadow_real_syms.
 * Returns 0, or -1 after printing why (the caller stops the program). */
int shadow_lower_load(void);

/* Records /proc/self/maps before the lower half is loaded (shadow_lh.c). */
void shadow_lh_capture_before(void);

/* Resolves the shim's interface (@shim: its handle, NULL without the shim)
 * and takes the LH snapshot. Returns 0; stops the program when the shim is
 * not the one this library was built with. */
int shadow_lh_setup(void *shim);

/* The lower half's values of MPICH's pointer constants MPI_UNWEIGHTED and
 * MPI_WEIGHTS_EMPTY: addresses in the real library's data, not the shadow
 * library's (shadow_data.c), which is what the application passes. Set by
 * shadow_lower_load; a restored lower half lies at the same addresses, so
 * they hold after a restart too. */
extern int *shadow_lower_unweighted;
extern int *shadow_lower_weights_empty;

/* True once the lower half's MPI is initialised and not yet finalised. */
bool shadow_lower_mpi_active(void);

#endif
