/* shadow_replay_type.c - the wrappers of the MPI functions that make, commit,
 * name or free derived datatypes: the generated wrappers' work plus a
 * record in the replay log (shadow_replay.h), with copies of every array
 * the call read. Each is PMPI_x with a weak alias MPI_x.
 */
#define SHADOW_CONSIST_INTERNAL
#include "shadow.h"
#include "shadow_consist.h"
#include "shadow_handle.h"
#include "shadow_real.h"
#include "shadow_replay.h"

#define LH_TYPE(t) shadow_handle_lh(SHADOW_KIND_DATATYPE, (t))

/* Hands back the virtual handle of new datatype @lh and records @r when
 * the call succeeded; drops @r's copies otherwise. */
static int replay_type_made(int rc, struct replay_rec *r, MPI_Datatype lh, MPI_Datatype *newtype)
{
	if (rc == MPI_SUCCESS && newtype)
		*newtype = replay_local_made(r, SHADOW_KIND_DATATYPE, lh);
	else
		replay_rec_release(r);
	return rc;
}

SHADOW_EXPORT int PMPI_Type_contiguous(int count, MPI_Datatype oldtype, MPI_Datatype *newtype)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_CONTIGUOUS, oldtype, 0);
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_contiguous(count, LH_TYPE(oldtype), newtype ? &lh : NULL);
	r.num[0] = count;
	return replay_leave(replay_type_made(rc, &r, lh, newtype));
}

SHADOW_EXPORT int MPI_Type_contiguous(int count, MPI_Datatype oldtype, MPI_Datatype *newtype)
	__attribute__((weak, alias("PMPI_Type_contiguous")));

SHADOW_EXPORT int PMPI_Type_vector(int count, int blocklength, int stride, MPI_Datatype oldtype,
				   MPI_Datatype *newtype)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_VECTOR, oldtype, 0);
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_vector(count, blocklength, stride, LH_TYPE(oldtype),
					 newtype ? &lh : NULL);
	r.num[0] = count;
	r.num[1] = blocklength;
	r.num[2] = stride;
	return replay_leave(replay_type_made(rc, &r, lh, newtype));
}

SHADOW_EXPORT int MPI_Type_vector(int count, int blocklength, int stride, MPI_Datatype oldtype,
				  MPI_Datatype *newtype)
	__attribute__((weak, alias("PMPI_Type_vector")));

SHADOW_EXPORT int PMPI_Type_create_hvector(int count, int blocklength, MPI_Aint stride,
					   MPI_Datatype oldtype, MPI_Datatype *newtype)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_HVECTOR, oldtype, 0);
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_create_hvector(count, blocklength, stride, LH_TYPE(oldtype),
						 newtype ? &lh : NULL);
	r.num[0] = count;
	r.num[1] = blocklength;
	r.aint[0] = stride;
	return replay_leave(replay_type_made(rc, &r, lh, newtype));
}

SHADOW_EXPORT int MPI_Type_create_hvector(int count, int blocklength, MPI_Aint stride,
					  MPI_Datatype oldtype, MPI_Datatype *newtype)
	__attribute__((weak, alias("PMPI_Type_create_hvector")));

SHADOW_EXPORT int PMPI_Type_indexed(int count, const int array_of_blocklengths[],
				    const int array_of_displacements[], MPI_Datatype oldtype,
				    MPI_Datatype *newtype)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_INDEXED, oldtype, 0);
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_indexed(count, array_of_blocklengths, array_of_displacements,
					  LH_TYPE(oldtype), newtype ? &lh : NULL);
	if (rc != MPI_SUCCESS)
		return replay_leave(rc);
	r.num[0] = count;
	r.ints[0] = replay_copy_ints(array_of_blocklengths, count);
	r.ints[1] = replay_copy_ints(array_of_displacements, count);
	return replay_leave(replay_type_made(rc, &r, lh, newtype));
}

SHADOW_EXPORT int MPI_Type_indexed(int count, const int array_of_blocklengths[],
				   const int array_of_displacements[], MPI_Datatype oldtype,
				   MPI_Datatype *newtype)
	__attribute__((weak, alias("PMPI_Type_indexed")));

SHADOW_EXPORT int PMPI_Type_create_hindexed(int count, const int array_of_blocklengths[],
					    const MPI_Aint array_of_displacements[],
					    MPI_Datatype oldtype, MPI_Datatype *newtype)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_HINDEXED, oldtype, 0);
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_create_hindexed(count, array_of_blocklengths,
						  array_of_displacements, LH_TYPE(oldtype),
						  newtype ? &lh : NULL);
	if (rc != MPI_SUCCESS)
		return replay_leave(rc);
	r.num[0] = count;
	r.ints[0] = replay_copy_ints(array_of_blocklengths, count);
	r.aints = replay_copy_aints(array_of_displacements, count);
	return replay_leave(replay_type_made(rc, &r, lh, newtype));
}

SHADOW_EXPORT int MPI_Type_create_hindexed(int count, const int array_of_blocklengths[],
					   const MPI_Aint array_of_displacements[],
					   MPI_Datatype oldtype, MPI_Datatype *newtype)
	__attribute__((weak, alias("PMPI_Type_create_hindexed")));

SHADOW_EXPORT int PMPI_Type_create_indexed_block(int count, int blocklength,
						 const int array_of_displacements[],
						 MPI_Datatype oldtype, MPI_Datatype *newtype)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_INDEXED_BLOCK, oldtype, 0);
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_create_indexed_block(count, blocklength, array_of_displacements,
						       LH_TYPE(oldtype), newtype ? &lh : NULL);
	if (rc != MPI_SUCCESS)
		return replay_leave(rc);
	r.num[0] = count;
	r.num[1] = blocklength;
	r.ints[0] = replay_copy_ints(array_of_displacements, count);
	return replay_leave(replay_type_made(rc, &r, lh, newtype));
}

SHADOW_EXPORT int MPI_Type_create_indexed_block(int count, int blocklength,
						const int array_of_displacements[],
						MPI_Datatype oldtype, MPI_Datatype *newtype)
	__attribute__((weak, alias("PMPI_Type_create_indexed_block")));

/* The member types are inputs too: ints[2] holds their virtual handles. */
SHADOW_EXPORT int PMPI_Type_create_struct(int count, const int array_of_blocklengths[],
					  const MPI_Aint array_of_displacements[],
					  const MPI_Datatype array_of_types[],
					  MPI_Datatype *newtype)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_STRUCT, 0, 0);
	int lh_types_buf[SHADOW_STACK_HANDLES];
	int *lh_types =
		shadow_handle_array_lh(SHADOW_KIND_DATATYPE, array_of_types, count, lh_types_buf);
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_create_struct(count, array_of_blocklengths,
						array_of_displacements, lh_types,
						newtype ? &lh : NULL);
	shadow_handle_array_free(lh_types, lh_types_buf);
	if (rc != MPI_SUCCESS)
		return replay_leave(rc);
	r.num[0] = count;
	r.ints[0] = replay_copy_ints(array_of_blocklengths, count);
	r.aints = replay_copy_aints(array_of_displacements, count);
	r.ints[2] = replay_copy_ints(array_of_types, count);
	return replay_leave(replay_type_made(rc, &r, lh, newtype));
}

SHADOW_EXPORT int MPI_Type_create_struct(int count, const int array_of_blocklengths[],
					 const MPI_Aint array_of_displacements[],
					 const MPI_Datatype array_of_types[], MPI_Datatype *newtype)
	__attribute__((weak, alias("PMPI_Type_create_struct")));

SHADOW_EXPORT int PMPI_Type_create_subarray(int ndims, const int array_of_sizes[],
					    const int array_of_subsizes[],
					    const int array_of_starts[], int order,
					    MPI_Datatype oldtype, MPI_Datatype *newtype)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_SUBARRAY, oldtype, 0);
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_create_subarray(ndims, array_of_sizes, array_of_subsizes,
						  array_of_starts, order, LH_TYPE(oldtype),
						  newtype ? &lh : NULL);
	if (rc != MPI_SUCCESS)
		return replay_leave(rc);
	r.num[0] = ndims;
	r.num[1] = order;
	r.ints[0] = replay_copy_ints(array_of_sizes, ndims);
	r.ints[1] = replay_copy_ints(array_of_subsizes, ndims);
	r.ints[2] = replay_copy_ints(array_of_starts, ndims);
	return replay_leave(replay_type_made(rc, &r, lh, newtype));
}

SHADOW_EXPORT int MPI_Type_create_subarray(int ndims, const int array_of_sizes[],
					   const int array_of_subsizes[],
					   const int array_of_starts[], int order,
					   MPI_Datatype oldtype, MPI_Datatype *newtype)
	__attribute__((weak, alias("PMPI_Type_create_subarray")));

SHADOW_EXPORT int PMPI_Type_create_resized(MPI_Datatype oldtype, MPI_Aint lb, MPI_Aint extent,
					   MPI_Datatype *newtype)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_RESIZED, oldtype, 0);
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_create_resized(LH_TYPE(oldtype), lb, extent,
						 newtype ? &lh : NULL);
	r.aint[0] = lb;
	r.aint[1] = extent;
	return replay_leave(replay_type_made(rc, &r, lh, newtype));
}

SHADOW_EXPORT int MPI_Type_create_resized(MPI_Datatype oldtype, MPI_Aint lb, MPI_Aint extent,
					  MPI_Datatype *newtype)
	__attribute__((weak, alias("PMPI_Type_create_resized")));

SHADOW_EXPORT int PMPI_Type_dup(MPI_Datatype oldtype, MPI_Datatype *newtype)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_DUP, oldtype, 0);
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_dup(LH_TYPE(oldtype), newtype ? &lh : NULL);
	return replay_leave(replay_type_made(rc, &r, lh, newtype));
}

SHADOW_EXPORT int MPI_Type_dup(MPI_Datatype oldtype, MPI_Datatype *newtype)
	__attribute__((weak, alias("PMPI_Type_dup")));

/* Commit and free may change the lower half's value (free makes it
 * MPI_DATATYPE_NULL); the virtual handle follows, as in the generated
 * wrappers. */
static int replay_type_change(enum replay_fn fn, MPI_Datatype *datatype)
{
	MPI_Datatype lh;
	int rc;

	if (!datatype)
		return fn == REPLAY_TYPE_COMMIT ? shadow_real_MPI_Type_commit(NULL)
						: shadow_real_MPI_Type_free(NULL);
	lh = LH_TYPE(*datatype);
	rc = fn == REPLAY_TYPE_COMMIT ? shadow_real_MPI_Type_commit(&lh)
				      : shadow_real_MPI_Type_free(&lh);
	if (rc == MPI_SUCCESS)
		replay_local_changed(fn, SHADOW_KIND_DATATYPE, datatype, lh);
	else
		shadow_handle_update(SHADOW_KIND_DATATYPE, datatype, lh);
	return rc;
}

SHADOW_EXPORT int PMPI_Type_commit(MPI_Datatype *datatype)
{
	shadow_consist_enter();
	return replay_leave(replay_type_change(REPLAY_TYPE_COMMIT, datatype));
}

SHADOW_EXPORT int MPI_Type_commit(MPI_Datatype *datatype)
	__attribute__((weak, alias("PMPI_Type_commit")));

SHADOW_EXPORT int PMPI_Type_free(MPI_Datatype *datatype)
{
	shadow_consist_enter();
	return replay_leave(replay_type_change(REPLAY_TYPE_FREE, datatype));
}

SHADOW_EXPORT int MPI_Type_free(MPI_Datatype *datatype)
	__attribute__((weak, alias("PMPI_Type_free")));

/* Names are recorded for predefined datatypes too: MPI lets a program
 * rename MPI_INT, and a restart must give the name back. */
SHADOW_EXPORT int PMPI_Type_set_name(MPI_Datatype datatype, const char *type_name)
{
	struct replay_rec r = replay_rec_init(REPLAY_TYPE_SET_NAME, 0, 0);
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Type_set_name(LH_TYPE(datatype), type_name);
	if (rc == MPI_SUCCESS) {
		r.handle = datatype;
		r.str[0] = replay_copy_str(type_name);
		replay_log_append(&r);
	}
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Type_set_name(MPI_Datatype datatype, const char *type_name)
	__attribute__((weak, alias("PMPI_Type_set_name")));
