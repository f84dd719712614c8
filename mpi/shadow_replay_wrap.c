/* shadow_replay_wrap.c - the wrappers of the MPI functions that make, change
 * or free communicators, groups, datatypes, errhandlers and infos: they do
 * what the generated wrappers do (translate handles, call the lower half,
 * hand back virtual handles) and append a creation record to the replay log
 * (shadow_replay.h), so that a restart can make each object again behind the
 * same virtual handle. Each is PMPI_x with a weak alias MPI_x, like the
 * generated ones. A record is appended only when the call succeeded, and a
 * free is recorded before the virtual handle is released, so another thread
 * can never reuse the handle in a record placed before the free.
 */
#define SHADOW_CONSIST_INTERNAL
#include "shadow.h"
#include "shadow_attr.h"
#include "shadow_consist.h"
#include "shadow_ckpt.h"
#include "shadow_handle.h"
#include "shadow_real.h"
#include "shadow_replay.h"

/* After the lower half made communicator @lh (MPI_COMM_NULL on ranks that are
 * not members): hands back its virtual handle, records the call (also for a
 * null result: every rank of the parent took part in the collective and
 * must take part again at replay) and lets shadow_consist.c agree on the
 * new communicator's id with its members. */
static void replay_comm_made(struct replay_rec *r, MPI_Comm lh, MPI_Comm *newcomm, const char *fn)
{
	int rc;

	*newcomm = shadow_handle_new(SHADOW_KIND_COMM, lh);
	r->handle = *newcomm;
	if (lh != MPI_COMM_NULL) {
		shadow_real_MPI_Comm_size(lh, &r->comm_size);
		shadow_real_MPI_Comm_rank(lh, &r->comm_rank);
	}
	replay_log_append(r);
	if (*newcomm == MPI_COMM_NULL)
		return;
	rc = shadow_consist_comm_created(*newcomm, lh, false);
	if (rc)
		shadow_die("%s: agreeing on the id of the new communicator %#x with its members "
			   "failed (%d); it could not be checkpointed",
			   fn, (unsigned)*newcomm, rc);
}

SHADOW_EXPORT int PMPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm)
{
	struct replay_rec r = replay_rec_init(REPLAY_COMM_SPLIT, comm, 0);
	MPI_Comm lh = MPI_COMM_NULL;
	int rc;

	shadow_consist_enter();
	shadow_consist_coll_enter(comm);
	rc = shadow_real_MPI_Comm_split(shadow_handle_lh(SHADOW_KIND_COMM, comm), color, key,
					newcomm ? &lh : NULL);
	if (rc != MPI_SUCCESS || !newcomm)
		return replay_coll_leave(rc);
	r.num[0] = color;
	r.num[1] = key;
	replay_comm_made(&r, lh, newcomm, "MPI_Comm_split");
	return replay_coll_leave(rc);
}

SHADOW_EXPORT int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm)
	__attribute__((weak, alias("PMPI_Comm_split")));

SHADOW_EXPORT int PMPI_Comm_split_type(MPI_Comm comm, int split_type, int key, MPI_Info info,
				       MPI_Comm *newcomm)
{
	struct replay_rec r = replay_rec_init(REPLAY_COMM_SPLIT_TYPE, comm, info);
	MPI_Comm lh = MPI_COMM_NULL;
	int rc;

	shadow_consist_enter();
	shadow_consist_coll_enter(comm);
	rc = shadow_real_MPI_Comm_split_type(shadow_handle_lh(SHADOW_KIND_COMM, comm), split_type,
					     key, shadow_handle_lh(SHADOW_KIND_INFO, info),
					     newcomm ? &lh : NULL);
	if (rc != MPI_SUCCESS || !newcomm)
		return replay_coll_leave(rc);
	r.num[0] = split_type;
	r.num[1] = key;
	replay_comm_made(&r, lh, newcomm, "MPI_Comm_split_type");
	return replay_coll_leave(rc);
}

SHADOW_EXPORT int MPI_Comm_split_type(MPI_Comm comm, int split_type, int key, MPI_Info info,
				      MPI_Comm *newcomm)
	__attribute__((weak, alias("PMPI_Comm_split_type")));

SHADOW_EXPORT int PMPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm)
{
	struct replay_rec r = replay_rec_init(REPLAY_COMM_DUP, comm, 0);
	MPI_Comm lh = MPI_COMM_NULL;
	int rc;

	shadow_consist_enter();
	shadow_consist_coll_enter(comm);
	rc = shadow_real_MPI_Comm_dup(shadow_handle_lh(SHADOW_KIND_COMM, comm),
				      newcomm ? &lh : NULL);
	if (rc != MPI_SUCCESS || !newcomm)
		return replay_coll_leave(rc);
	replay_comm_made(&r, lh, newcomm, "MPI_Comm_dup");
	replay_coll_leave(rc);
	/* The copy callbacks run as application code, after the collective. */
	rc = shadow_attr_comm_copied(comm, *newcomm);
	if (rc != MPI_SUCCESS)
		PMPI_Comm_free(newcomm);
	return rc;
}

SHADOW_EXPORT int MPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm)
	__attribute__((weak, alias("PMPI_Comm_dup")));

SHADOW_EXPORT int PMPI_Comm_create(MPI_Comm comm, MPI_Group group, MPI_Comm *newcomm)
{
	struct replay_rec r = replay_rec_init(REPLAY_COMM_CREATE, comm, group);
	MPI_Comm lh = MPI_COMM_NULL;
	int rc;

	shadow_consist_enter();
	shadow_consist_coll_enter(comm);
	rc = shadow_real_MPI_Comm_create(shadow_handle_lh(SHADOW_KIND_COMM, comm),
					 shadow_handle_lh(SHADOW_KIND_GROUP, group),
					 newcomm ? &lh : NULL);
	if (rc != MPI_SUCCESS || !newcomm)
		return replay_coll_leave(rc);
	replay_comm_made(&r, lh, newcomm, "MPI_Comm_create");
	return replay_coll_leave(rc);
}

SHADOW_EXPORT int MPI_Comm_create(MPI_Comm comm, MPI_Group group, MPI_Comm *newcomm)
	__attribute__((weak, alias("PMPI_Comm_create")));

/* A collective only over the members of @group: it does not pass the
 * collective gate of @comm, whose sequence number would then differ between
 * members and non-members of @group (shadow_consist.c's cut compares them). */
SHADOW_EXPORT int PMPI_Comm_create_group(MPI_Comm comm, MPI_Group group, int tag, MPI_Comm *newcomm)
{
	struct replay_rec r = replay_rec_init(REPLAY_COMM_CREATE_GROUP, comm, group);
	MPI_Comm lh = MPI_COMM_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Comm_create_group(shadow_handle_lh(SHADOW_KIND_COMM, comm),
					       shadow_handle_lh(SHADOW_KIND_GROUP, group), tag,
					       newcomm ? &lh : NULL);
	if (rc != MPI_SUCCESS || !newcomm)
		return replay_leave(rc);
	r.num[0] = tag;
	replay_comm_made(&r, lh, newcomm, "MPI_Comm_create_group");
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Comm_create_group(MPI_Comm comm, MPI_Group group, int tag, MPI_Comm *newcomm)
	__attribute__((weak, alias("PMPI_Comm_create_group")));

/* The topology constructors are collectives over @comm_old like
 * MPI_Comm_split; their arrays are copied into the record (a replay passes
 * them again) only once the call succeeded. */
SHADOW_EXPORT int PMPI_Cart_create(MPI_Comm comm_old, int ndims, const int dims[],
				   const int periods[], int reorder, MPI_Comm *comm_cart)
{
	struct replay_rec r = replay_rec_init(REPLAY_CART_CREATE, comm_old, 0);
	MPI_Comm lh = MPI_COMM_NULL;
	int rc;

	shadow_consist_enter();
	shadow_consist_coll_enter(comm_old);
	rc = shadow_real_MPI_Cart_create(shadow_handle_lh(SHADOW_KIND_COMM, comm_old), ndims, dims,
					 periods, reorder, comm_cart ? &lh : NULL);
	if (rc != MPI_SUCCESS || !comm_cart)
		return replay_coll_leave(rc);
	r.num[0] = ndims;
	r.num[1] = reorder;
	r.ints[0] = replay_copy_ints(dims, ndims);
	r.ints[1] = replay_copy_ints(periods, ndims);
	replay_comm_made(&r, lh, comm_cart, "MPI_Cart_create");
	return replay_coll_leave(rc);
}

SHADOW_EXPORT int MPI_Cart_create(MPI_Comm comm_old, int ndims, const int dims[],
				  const int periods[], int reorder, MPI_Comm *comm_cart)
	__attribute__((weak, alias("PMPI_Cart_create")));

SHADOW_EXPORT int PMPI_Cart_sub(MPI_Comm comm, const int remain_dims[], MPI_Comm *newcomm)
{
	struct replay_rec r = replay_rec_init(REPLAY_CART_SUB, comm, 0);
	MPI_Comm lh = MPI_COMM_NULL;
	MPI_Comm parent = shadow_handle_lh(SHADOW_KIND_COMM, comm);
	int ndims = 0;
	int rc;

	shadow_consist_enter();
	shadow_consist_coll_enter(comm);
	rc = shadow_real_MPI_Cart_sub(parent, remain_dims, newcomm ? &lh : NULL);
	if (rc != MPI_SUCCESS || !newcomm)
		return replay_coll_leave(rc);
	/* remain_dims has one entry per dimension of @comm. */
	shadow_real_MPI_Cartdim_get(parent, &ndims);
	r.num[0] = ndims;
	r.ints[0] = replay_copy_ints(remain_dims, ndims);
	replay_comm_made(&r, lh, newcomm, "MPI_Cart_sub");
	return replay_coll_leave(rc);
}

SHADOW_EXPORT int MPI_Cart_sub(MPI_Comm comm, const int remain_dims[], MPI_Comm *newcomm)
	__attribute__((weak, alias("PMPI_Cart_sub")));

SHADOW_EXPORT int PMPI_Graph_create(MPI_Comm comm_old, int nnodes, const int indx[],
				    const int edges[], int reorder, MPI_Comm *comm_graph)
{
	struct replay_rec r = replay_rec_init(REPLAY_GRAPH_CREATE, comm_old, 0);
	MPI_Comm lh = MPI_COMM_NULL;
	int rc;

	shadow_consist_enter();
	shadow_consist_coll_enter(comm_old);
	rc = shadow_real_MPI_Graph_create(shadow_handle_lh(SHADOW_KIND_COMM, comm_old), nnodes,
					  indx, edges, reorder, comm_graph ? &lh : NULL);
	if (rc != MPI_SUCCESS || !comm_graph)
		return replay_coll_leave(rc);
	/* indx[nnodes - 1] is the number of edges (MPI 4.0, 8.5.3). */
	r.num[0] = nnodes;
	r.num[1] = reorder;
	r.num[2] = nnodes > 0 ? indx[nnodes - 1] : 0;
	r.ints[0] = replay_copy_ints(indx, nnodes);
	r.ints[1] = replay_copy_ints(edges, r.num[2]);
	replay_comm_made(&r, lh, comm_graph, "MPI_Graph_create");
	return replay_coll_leave(rc);
}

SHADOW_EXPORT int MPI_Graph_create(MPI_Comm comm_old, int nnodes, const int indx[],
				   const int edges[], int reorder, MPI_Comm *comm_graph)
	__attribute__((weak, alias("PMPI_Graph_create")));

/* Distributed graphs: the weights pointers may be MPICH's constants, which
 * are translated (shadow_topo.c) and recorded as such, never copied. The
 * info is recorded and passed again at a restart like Comm_split_type's:
 * MPICH 4.0 reads no key of it, but another lower half may, and keeping it
 * costs one reference the log holds anyway. */
SHADOW_EXPORT int PMPI_Dist_graph_create_adjacent(MPI_Comm comm_old, int indegree,
						  const int sources[], const int sourceweights[],
						  int outdegree, const int destinations[],
						  const int destweights[], MPI_Info info,
						  int reorder, MPI_Comm *comm_dist_graph)
{
	struct replay_rec r = replay_rec_init(REPLAY_DIST_GRAPH_ADJACENT, comm_old, info);
	enum replay_weights sw = shadow_topo_weights_kind(sourceweights);
	enum replay_weights dw = shadow_topo_weights_kind(destweights);
	MPI_Comm lh = MPI_COMM_NULL;
	int rc;

	shadow_consist_enter();
	shadow_consist_coll_enter(comm_old);
	rc = shadow_real_MPI_Dist_graph_create_adjacent(
		shadow_handle_lh(SHADOW_KIND_COMM, comm_old), indegree, sources,
		shadow_topo_weights_lh(sw, sourceweights), outdegree, destinations,
		shadow_topo_weights_lh(dw, destweights), shadow_handle_lh(SHADOW_KIND_INFO, info),
		reorder, comm_dist_graph ? &lh : NULL);
	if (rc != MPI_SUCCESS || !comm_dist_graph)
		return replay_coll_leave(rc);
	r.num[0] = indegree;
	r.num[1] = outdegree;
	r.num[2] = reorder;
	r.num[3] = (int)sw | (int)dw << 2;
	r.ints[0] = replay_copy_ints(sources, indegree);
	if (sw == REPLAY_WEIGHTS_ARRAY)
		r.ints[1] = replay_copy_ints(sourceweights, indegree);
	r.ints[2] = replay_copy_ints(destinations, outdegree);
	if (dw == REPLAY_WEIGHTS_ARRAY)
		r.ints[3] = replay_copy_ints(destweights, outdegree);
	replay_comm_made(&r, lh, comm_dist_graph, "MPI_Dist_graph_create_adjacent");
	return replay_coll_leave(rc);
}

SHADOW_EXPORT int MPI_Dist_graph_create_adjacent(MPI_Comm comm_old, int indegree,
						 const int sources[], const int sourceweights[],
						 int outdegree, const int destinations[],
						 const int destweights[], MPI_Info info,
						 int reorder, MPI_Comm *comm_dist_graph)
	__attribute__((weak, alias("PMPI_Dist_graph_create_adjacent")));

SHADOW_EXPORT int PMPI_Dist_graph_create(MPI_Comm comm_old, int n, const int sources[],
					 const int degrees[], const int destinations[],
					 const int weights[], MPI_Info info, int reorder,
					 MPI_Comm *comm_dist_graph)
{
	struct replay_rec r = replay_rec_init(REPLAY_DIST_GRAPH_CREATE, comm_old, info);
	enum replay_weights w = shadow_topo_weights_kind(weights);
	MPI_Comm lh = MPI_COMM_NULL;
	int nedges = 0;
	int rc;

	shadow_consist_enter();
	shadow_consist_coll_enter(comm_old);
	rc = shadow_real_MPI_Dist_graph_create(shadow_handle_lh(SHADOW_KIND_COMM, comm_old), n,
					       sources, degrees, destinations,
					       shadow_topo_weights_lh(w, weights),
					       shadow_handle_lh(SHADOW_KIND_INFO, info), reorder,
					       comm_dist_graph ? &lh : NULL);
	if (rc != MPI_SUCCESS || !comm_dist_graph)
		return replay_coll_leave(rc);
	/* destinations and weights hold the sum of degrees (MPI 4.0, 8.5.4);
	 * MPICH checked each degree is >= 0 */
	for (int i = 0; i < n; i++)
		nedges += degrees[i];
	r.num[0] = n;
	r.num[1] = nedges;
	r.num[2] = reorder;
	r.num[3] = (int)w;
	r.ints[0] = replay_copy_ints(sources, n);
	r.ints[1] = replay_copy_ints(degrees, n);
	r.ints[2] = replay_copy_ints(destinations, nedges);
	if (w == REPLAY_WEIGHTS_ARRAY)
		r.ints[3] = replay_copy_ints(weights, nedges);
	replay_comm_made(&r, lh, comm_dist_graph, "MPI_Dist_graph_create");
	return replay_coll_leave(rc);
}

SHADOW_EXPORT int MPI_Dist_graph_create(MPI_Comm comm_old, int n, const int sources[],
					const int degrees[], const int destinations[],
					const int weights[], MPI_Info info, int reorder,
					MPI_Comm *comm_dist_graph)
	__attribute__((weak, alias("PMPI_Dist_graph_create")));

SHADOW_EXPORT int PMPI_Comm_free(MPI_Comm *comm)
{
	struct replay_rec r = replay_rec_init(REPLAY_COMM_FREE, 0, 0);
	MPI_Comm lh;
	int rc;

	/* Delete callbacks run first, as application code (MPI 4.0, 7.7.2). */
	if (comm && *comm != MPI_COMM_NULL) {
		rc = shadow_attr_comm_freed(*comm, false);
		if (rc != MPI_SUCCESS)
			return rc;
	}
	shadow_consist_enter();
	if (!comm)
		return replay_leave(shadow_real_MPI_Comm_free(NULL));
	lh = shadow_handle_lh(SHADOW_KIND_COMM, *comm);
	/* consist forgets only communicators it was told about: live virtual ones */
	if (replay_is_virtual(*comm) && lh)
		shadow_consist_comm_freed(*comm);
	r.handle = *comm;
	rc = shadow_real_MPI_Comm_free(&lh);
	if (rc == MPI_SUCCESS)
		replay_log_append(&r);
	shadow_handle_update(SHADOW_KIND_COMM, comm, lh);
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Comm_free(MPI_Comm *comm) __attribute__((weak, alias("PMPI_Comm_free")));

SHADOW_EXPORT int PMPI_Comm_group(MPI_Comm comm, MPI_Group *group)
{
	struct replay_rec r = replay_rec_init(REPLAY_COMM_GROUP, comm, 0);
	MPI_Group lh = MPI_GROUP_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Comm_group(shadow_handle_lh(SHADOW_KIND_COMM, comm),
					group ? &lh : NULL);
	if (rc == MPI_SUCCESS && group)
		*group = replay_local_made(&r, SHADOW_KIND_GROUP, lh);
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Comm_group(MPI_Comm comm, MPI_Group *group)
	__attribute__((weak, alias("PMPI_Comm_group")));

/* The errhandler of a communicator is part of what a restart must give back
 * (MPI_ERRORS_RETURN on MPI_COMM_WORLD above all): recorded also for
 * predefined communicators and errhandlers. */
SHADOW_EXPORT int PMPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler)
{
	struct replay_rec r = replay_rec_init(REPLAY_COMM_SET_ERRHANDLER, errhandler, 0);
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Comm_set_errhandler(shadow_handle_lh(SHADOW_KIND_COMM, comm),
						 shadow_handle_lh(SHADOW_KIND_ERRHANDLER,
								  errhandler));
	if (rc == MPI_SUCCESS) {
		r.handle = comm;
		replay_log_append(&r);
	}
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler)
	__attribute__((weak, alias("PMPI_Comm_set_errhandler")));

SHADOW_EXPORT int PMPI_Comm_get_errhandler(MPI_Comm comm, MPI_Errhandler *errhandler)
{
	struct replay_rec r = replay_rec_init(REPLAY_COMM_GET_ERRHANDLER, comm, 0);
	MPI_Errhandler lh = MPI_ERRHANDLER_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Comm_get_errhandler(shadow_handle_lh(SHADOW_KIND_COMM, comm),
						 errhandler ? &lh : NULL);
	if (rc == MPI_SUCCESS && errhandler)
		*errhandler = replay_local_made(&r, SHADOW_KIND_ERRHANDLER, lh);
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Comm_get_errhandler(MPI_Comm comm, MPI_Errhandler *errhandler)
	__attribute__((weak, alias("PMPI_Comm_get_errhandler")));

SHADOW_EXPORT int PMPI_Errhandler_free(MPI_Errhandler *errhandler)
{
	MPI_Errhandler lh;
	int rc;

	shadow_consist_enter();
	if (!errhandler)
		return replay_leave(shadow_real_MPI_Errhandler_free(NULL));
	lh = shadow_handle_lh(SHADOW_KIND_ERRHANDLER, *errhandler);
	rc = shadow_real_MPI_Errhandler_free(&lh);
	if (rc == MPI_SUCCESS)
		replay_local_changed(REPLAY_ERRHANDLER_FREE, SHADOW_KIND_ERRHANDLER, errhandler,
				     lh);
	else
		shadow_handle_update(SHADOW_KIND_ERRHANDLER, errhandler, lh);
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Errhandler_free(MPI_Errhandler *errhandler)
	__attribute__((weak, alias("PMPI_Errhandler_free")));

SHADOW_EXPORT int PMPI_Comm_set_name(MPI_Comm comm, const char *comm_name)
{
	struct replay_rec r = replay_rec_init(REPLAY_COMM_SET_NAME, 0, 0);
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Comm_set_name(shadow_handle_lh(SHADOW_KIND_COMM, comm), comm_name);
	if (rc == MPI_SUCCESS) {
		r.handle = comm;
		r.str[0] = replay_copy_str(comm_name);
		replay_log_append(&r);
	}
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Comm_set_name(MPI_Comm comm, const char *comm_name)
	__attribute__((weak, alias("PMPI_Comm_set_name")));

/* ---- groups ---- */

static int replay_group_ranks(enum replay_fn fn, MPI_Group group, int n, const int ranks[],
			      MPI_Group *newgroup)
{
	struct replay_rec r = replay_rec_init(fn, group, 0);
	MPI_Group lh = MPI_GROUP_NULL;
	int lh_group = shadow_handle_lh(SHADOW_KIND_GROUP, group);
	int rc;

	if (fn == REPLAY_GROUP_INCL)
		rc = shadow_real_MPI_Group_incl(lh_group, n, ranks, newgroup ? &lh : NULL);
	else
		rc = shadow_real_MPI_Group_excl(lh_group, n, ranks, newgroup ? &lh : NULL);
	if (rc != MPI_SUCCESS || !newgroup)
		return rc;
	r.num[0] = n;
	r.ints[0] = replay_copy_ints(ranks, n);
	*newgroup = replay_local_made(&r, SHADOW_KIND_GROUP, lh);
	return rc;
}

SHADOW_EXPORT int PMPI_Group_incl(MPI_Group group, int n, const int ranks[], MPI_Group *newgroup)
{
	shadow_consist_enter();
	return replay_leave(replay_group_ranks(REPLAY_GROUP_INCL, group, n, ranks, newgroup));
}

SHADOW_EXPORT int MPI_Group_incl(MPI_Group group, int n, const int ranks[], MPI_Group *newgroup)
	__attribute__((weak, alias("PMPI_Group_incl")));

SHADOW_EXPORT int PMPI_Group_excl(MPI_Group group, int n, const int ranks[], MPI_Group *newgroup)
{
	shadow_consist_enter();
	return replay_leave(replay_group_ranks(REPLAY_GROUP_EXCL, group, n, ranks, newgroup));
}

SHADOW_EXPORT int MPI_Group_excl(MPI_Group group, int n, const int ranks[], MPI_Group *newgroup)
	__attribute__((weak, alias("PMPI_Group_excl")));

static int replay_group_pair(enum replay_fn fn, MPI_Group group1, MPI_Group group2,
			     MPI_Group *newgroup)
{
	struct replay_rec r = replay_rec_init(fn, group1, group2);
	MPI_Group lh = MPI_GROUP_NULL;
	int lh1 = shadow_handle_lh(SHADOW_KIND_GROUP, group1);
	int lh2 = shadow_handle_lh(SHADOW_KIND_GROUP, group2);
	MPI_Group *out = newgroup ? &lh : NULL;
	int rc;

	if (fn == REPLAY_GROUP_UNION)
		rc = shadow_real_MPI_Group_union(lh1, lh2, out);
	else if (fn == REPLAY_GROUP_INTERSECTION)
		rc = shadow_real_MPI_Group_intersection(lh1, lh2, out);
	else
		rc = shadow_real_MPI_Group_difference(lh1, lh2, out);
	if (rc == MPI_SUCCESS && newgroup)
		*newgroup = replay_local_made(&r, SHADOW_KIND_GROUP, lh);
	return rc;
}

SHADOW_EXPORT int PMPI_Group_union(MPI_Group group1, MPI_Group group2, MPI_Group *newgroup)
{
	shadow_consist_enter();
	return replay_leave(replay_group_pair(REPLAY_GROUP_UNION, group1, group2, newgroup));
}

SHADOW_EXPORT int MPI_Group_union(MPI_Group group1, MPI_Group group2, MPI_Group *newgroup)
	__attribute__((weak, alias("PMPI_Group_union")));

SHADOW_EXPORT int PMPI_Group_intersection(MPI_Group group1, MPI_Group group2, MPI_Group *newgroup)
{
	shadow_consist_enter();
	return replay_leave(replay_group_pair(REPLAY_GROUP_INTERSECTION, group1, group2, newgroup));
}

SHADOW_EXPORT int MPI_Group_intersection(MPI_Group group1, MPI_Group group2, MPI_Group *newgroup)
	__attribute__((weak, alias("PMPI_Group_intersection")));

SHADOW_EXPORT int PMPI_Group_difference(MPI_Group group1, MPI_Group group2, MPI_Group *newgroup)
{
	shadow_consist_enter();
	return replay_leave(replay_group_pair(REPLAY_GROUP_DIFFERENCE, group1, group2, newgroup));
}

SHADOW_EXPORT int MPI_Group_difference(MPI_Group group1, MPI_Group group2, MPI_Group *newgroup)
	__attribute__((weak, alias("PMPI_Group_difference")));

SHADOW_EXPORT int PMPI_Group_free(MPI_Group *group)
{
	MPI_Group lh;
	int rc;

	shadow_consist_enter();
	if (!group)
		return replay_leave(shadow_real_MPI_Group_free(NULL));
	lh = shadow_handle_lh(SHADOW_KIND_GROUP, *group);
	rc = shadow_real_MPI_Group_free(&lh);
	if (rc == MPI_SUCCESS)
		replay_local_changed(REPLAY_GROUP_FREE, SHADOW_KIND_GROUP, group, lh);
	else
		shadow_handle_update(SHADOW_KIND_GROUP, group, lh);
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Group_free(MPI_Group *group) __attribute__((weak, alias("PMPI_Group_free")));

/* ---- infos ---- */

SHADOW_EXPORT int PMPI_Info_create(MPI_Info *info)
{
	struct replay_rec r = replay_rec_init(REPLAY_INFO_CREATE, 0, 0);
	MPI_Info lh = MPI_INFO_NULL;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Info_create(info ? &lh : NULL);
	if (rc == MPI_SUCCESS && info)
		*info = replay_local_made(&r, SHADOW_KIND_INFO, lh);
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Info_create(MPI_Info *info) __attribute__((weak, alias("PMPI_Info_create")));

SHADOW_EXPORT int PMPI_Info_set(MPI_Info info, const char *key, const char *value)
{
	struct replay_rec r = replay_rec_init(REPLAY_INFO_SET, 0, 0);
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Info_set(shadow_handle_lh(SHADOW_KIND_INFO, info), key, value);
	if (rc == MPI_SUCCESS && replay_is_virtual(info)) {
		r.handle = info;
		r.str[0] = replay_copy_str(key);
		r.str[1] = replay_copy_str(value);
		replay_log_append(&r);
	}
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Info_set(MPI_Info info, const char *key, const char *value)
	__attribute__((weak, alias("PMPI_Info_set")));

SHADOW_EXPORT int PMPI_Info_free(MPI_Info *info)
{
	MPI_Info lh;
	int rc;

	shadow_consist_enter();
	if (!info)
		return replay_leave(shadow_real_MPI_Info_free(NULL));
	lh = shadow_handle_lh(SHADOW_KIND_INFO, *info);
	rc = shadow_real_MPI_Info_free(&lh);
	if (rc == MPI_SUCCESS)
		replay_local_changed(REPLAY_INFO_FREE, SHADOW_KIND_INFO, info, lh);
	else
		shadow_handle_update(SHADOW_KIND_INFO, info, lh);
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Info_free(MPI_Info *info) __attribute__((weak, alias("PMPI_Info_free")));
