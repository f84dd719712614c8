/* shadow_attr.h - user keyvals and attributes of communicators, kept in the
 * upper half (shadow_attr.c); included by mpi/ sources only.
 *
 * Each returns an MPI error code. Keyvals other than ours (the predefined
 * MPI_TAG_UB, ...) are answered by the lower half in shadow_attr_get only.
 */
#ifndef CKPT_MPI_SHADOW_ATTR_H
#define CKPT_MPI_SHADOW_ATTR_H

#include <mpi.h>
#include <stdbool.h>

int shadow_attr_keyval_create(MPI_Comm_copy_attr_function *copy, MPI_Comm_delete_attr_function *del,
			      int *keyval, void *extra);
int shadow_attr_keyval_free(int *keyval);
int shadow_attr_set(MPI_Comm comm, int keyval, void *value);
int shadow_attr_get(MPI_Comm comm, int keyval, void *value, int *flag);
int shadow_attr_delete(MPI_Comm comm, int keyval);

/* MPI_Comm_dup made @copy of @old: calls the copy callbacks of @old's
 * attributes and sets what they return on @copy. */
int shadow_attr_comm_copied(MPI_Comm old, MPI_Comm copy);

/* Before @comm is freed (MPI_Comm_free; MPI_COMM_SELF at MPI_Finalize):
 * deletes its attributes, calling their delete callbacks, oldest first or,
 * with @newest_first, in the reverse order they were set. Stops at the
 * first callback that fails and returns its code. */
int shadow_attr_comm_freed(MPI_Comm comm, bool newest_first);

#endif
