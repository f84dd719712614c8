/* ompi_abi_handles.c - the Open MPI ABI part of the shared handle code
 * (mpi/shadow_abi_ompi.h, docs/mpi.md "Open MPI"), against the real
 * libmpi.so.40 loaded into its own namespace as the lower half will be
 * (no MPI_Init: only its exported objects are used).
 *
 * Checks that the application's predefined handles (addresses of the
 * shadow library's generated objects) translate to the real library's
 * objects and back, that handles the lower half makes get virtual handles
 * in the reserved range that translate back and die with their release,
 * and that arrays translate element by element.
 *   ompi_abi_handles REAL_LIBMPI
 */
#include "shadow_handle.h"
#include "shadow_unsupported.h"

#include <dlfcn.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *lower;
static int failures;

/* shadow_handle.c stops the program through this (shadow_custom.c in the library). */
void shadow_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *lower_sym(const char *name)
{
	return dlsym(lower, name);
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "FAIL: %s\n", what);
		failures++;
	}
}

static void check_predefined(enum shadow_kind kind, shadow_lh_t app, const char *name)
{
	uintptr_t real = (uintptr_t)dlsym(lower, name);
	char what[160];

	snprintf(what, sizeof(what), "%s translates to the real library's object", name);
	check(real && app != real && shadow_handle_lh(kind, app) == real, what);
	snprintf(what, sizeof(what), "the real %s comes back as the application's", name);
	check(shadow_handle_new(kind, real) == app, what);
	check(shadow_handle_from_lh(kind, real) == app, what);
}

int main(int argc, char **argv)
{
	shadow_lh_t made[3];
	shadow_lh_t reqs[3];
	shadow_lh_t buf[SHADOW_STACK_HANDLES];
	shadow_lh_t *lh;
	char objs[3];

	if (argc != 2) {
		fprintf(stderr, "usage: %s REAL_LIBMPI\n", argv[0]);
		return 2;
	}
	lower = dlmopen(LM_ID_NEWLM, argv[1], RTLD_LAZY | RTLD_LOCAL);
	if (!lower) {
		fprintf(stderr, "FAIL: cannot load %s: %s\n", argv[1], dlerror());
		return 1;
	}
	if (shadow_abi_ompi_init(lower_sym) != 0)
		return 1;

	check_predefined(SHADOW_KIND_COMM, (shadow_lh_t)MPI_COMM_WORLD, "ompi_mpi_comm_world");
	check_predefined(SHADOW_KIND_COMM, (shadow_lh_t)MPI_COMM_NULL, "ompi_mpi_comm_null");
	check_predefined(SHADOW_KIND_DATATYPE, (shadow_lh_t)MPI_INT, "ompi_mpi_int");
	check_predefined(SHADOW_KIND_DATATYPE, (shadow_lh_t)MPI_DOUBLE_INT, "ompi_mpi_double_int");
	check_predefined(SHADOW_KIND_OP, (shadow_lh_t)MPI_SUM, "ompi_mpi_op_sum");
	check_predefined(SHADOW_KIND_REQUEST, (shadow_lh_t)MPI_REQUEST_NULL, "ompi_request_null");
	check_predefined(SHADOW_KIND_ERRHANDLER, (shadow_lh_t)MPI_ERRORS_RETURN,
			 "ompi_mpi_errors_return");
	check(!shadow_abi_is_virtual((shadow_lh_t)MPI_COMM_WORLD),
	      "a predefined handle is not taken for a virtual one");

	/* Objects the lower half made (any addresses outside its predefined ones). */
	for (int i = 0; i < 3; i++) {
		made[i] = shadow_handle_new(SHADOW_KIND_COMM, (shadow_lh_t)&objs[i]);
		check(shadow_abi_is_virtual(made[i]) && made[i] != (shadow_lh_t)&objs[i],
		      "a new communicator gets a virtual handle");
		check(shadow_abi_virtual_kind(made[i]) == SHADOW_KIND_COMM,
		      "the virtual handle carries its kind");
		check(shadow_handle_lh(SHADOW_KIND_COMM, made[i]) == (shadow_lh_t)&objs[i],
		      "a virtual handle translates to the lower half's object");
		check(shadow_handle_lh(SHADOW_KIND_GROUP, made[i]) == 0,
		      "a communicator handle used as a group translates to nothing");
	}
	check(made[0] != made[1] && made[1] != made[2], "virtual handles are distinct");
	check(shadow_handle_from_lh(SHADOW_KIND_COMM, (shadow_lh_t)&objs[1]) == made[1],
	      "the reverse lookup finds the virtual handle");

	/* An array of requests, as MPI_Waitall gets it: one completes. */
	for (int i = 0; i < 3; i++)
		reqs[i] = shadow_handle_new(SHADOW_KIND_REQUEST, (shadow_lh_t)&objs[i]);
	lh = shadow_handle_array_lh(SHADOW_KIND_REQUEST, reqs, 3, buf);
	check(lh == buf && lh[0] == (shadow_lh_t)&objs[0] && lh[2] == (shadow_lh_t)&objs[2],
	      "an array of requests translates element by element");
	lh[1] = (shadow_lh_t)dlsym(lower, "ompi_request_null");
	shadow_handle_array_update(SHADOW_KIND_REQUEST, reqs, lh, 3);
	check(reqs[1] == (shadow_lh_t)MPI_REQUEST_NULL,
	      "a request completed in the lower half becomes the application's MPI_REQUEST_NULL");
	check(shadow_abi_is_virtual(reqs[0]) && shadow_abi_is_virtual(reqs[2]),
	      "the other requests keep their virtual handles");

	shadow_handle_release(SHADOW_KIND_COMM, made[1]);
	check(shadow_handle_lh(SHADOW_KIND_COMM, made[1]) == 0,
	      "a released virtual handle translates to nothing");
	check(shadow_handle_new(SHADOW_KIND_COMM, (shadow_lh_t)&objs[1]) == made[1],
	      "the released index is reused");

	if (failures)
		return 1;
	printf("ok: %zu predefined objects; virtual handles at %#lx\n", shadow_ompi_npredef,
	       (unsigned long)shadow_ompi_vbase);
	return 0;
}
