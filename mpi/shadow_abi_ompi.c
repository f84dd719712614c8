/* shadow_abi_ompi.c - Open MPI's predefined objects and virtual handle
 * range (shadow_abi_ompi.h). */
#include "shadow_handle.h"
#include "shadow.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

uintptr_t shadow_ompi_vbase;
/* The lower half's predefined objects, sorted by address, and the slot of
 * each: lower-half results (a completed request's MPI_REQUEST_NULL, a
 * communicator's MPI_ERRORS_ARE_FATAL) are found by binary search. */
struct shadow_ompi_byaddr {
	uintptr_t lh;
	size_t slot;
};

static struct shadow_ompi_byaddr *shadow_ompi_sorted;

static int shadow_ompi_cmp(const void *a, const void *b)
{
	uintptr_t x = ((const struct shadow_ompi_byaddr *)a)->lh;
	uintptr_t y = ((const struct shadow_ompi_byaddr *)b)->lh;

	return (x > y) - (x < y);
}

int shadow_abi_ompi_init(void *(*sym)(const char *name))
{
	void *base = mmap(NULL, SHADOW_OMPI_VIRTUAL_SPAN, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (base == MAP_FAILED) {
		fprintf(stderr,
			"slurm-ckpt: mpi: cannot reserve %zu MiB of address space for virtual "
			"MPI handles; raise the address-space limit (ulimit -v)\n",
			(size_t)(SHADOW_OMPI_VIRTUAL_SPAN >> 20));
		return -1;
	}
	shadow_ompi_vbase = (uintptr_t)base;
	shadow_ompi_sorted = calloc(shadow_ompi_npredef, sizeof(*shadow_ompi_sorted));
	if (!shadow_ompi_sorted) {
		fprintf(stderr,
			"slurm-ckpt: mpi: out of memory for Open MPI's predefined objects\n");
		return -1;
	}
	for (size_t i = 0; i < shadow_ompi_npredef; i++) {
		void *lh = sym(shadow_ompi_predef_names[i]);

		if (!lh) {
			fprintf(stderr,
				"slurm-ckpt: mpi: the real Open MPI library has no %s: not the "
				"library this shadow library was built for; rebuild slurm-ckpt\n",
				shadow_ompi_predef_names[i]);
			return -1;
		}
		shadow_ompi_predef_lh[i] = (uintptr_t)lh;
		shadow_ompi_sorted[i].lh = (uintptr_t)lh;
		shadow_ompi_sorted[i].slot = i;
	}
	qsort(shadow_ompi_sorted, shadow_ompi_npredef, sizeof(*shadow_ompi_sorted),
	      shadow_ompi_cmp);
	return 0;
}

uintptr_t shadow_abi_ompi_predef_app(uintptr_t lh)
{
	size_t lo = 0;
	size_t hi = shadow_ompi_npredef;

	/* Most results (requests, new communicators) are heap objects. */
	if (!hi || lh < shadow_ompi_sorted[0].lh || lh > shadow_ompi_sorted[hi - 1].lh)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (shadow_ompi_sorted[mid].lh == lh)
			return (uintptr_t)shadow_ompi_predef +
			       (shadow_ompi_sorted[mid].slot << SHADOW_OMPI_PREDEF_SHIFT);
		if (shadow_ompi_sorted[mid].lh < lh)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}
