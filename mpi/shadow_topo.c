/* shadow_topo.c - the topology functions the generator cannot write: the
 * weights of distributed graphs, whose "no weights" values are pointer
 * constants of each library, and the neighbourhood's size, which sizes the
 * datatype arrays of MPI_(I)neighbor_alltoallw (shadow_coll_types.c). The
 * constructors of topologies are in shadow_replay_wrap.c (they are
 * replayed at a restart).
 */
#define SHADOW_CONSIST_INTERNAL
#include "shadow.h"
#include "shadow_consist.h"
#include "shadow_handle.h"
#include "shadow_real.h"
#include "shadow_replay.h"

#include <stddef.h>

/* Passed for a zero-length weights array the record holds as NULL: MPICH
 * tells an array from MPI_UNWEIGHTED and NULL by its address only. */
static const int topo_no_weights[1];

enum replay_weights shadow_topo_weights_kind(const int *w)
{
	if (w == MPI_UNWEIGHTED)
		return REPLAY_WEIGHTS_UNWEIGHTED;
	if (w == MPI_WEIGHTS_EMPTY)
		return REPLAY_WEIGHTS_EMPTY;
	return w ? REPLAY_WEIGHTS_ARRAY : REPLAY_WEIGHTS_NULL;
}

const int *shadow_topo_weights_lh(enum replay_weights kind, const int *array)
{
	switch (kind) {
	case REPLAY_WEIGHTS_UNWEIGHTED:
		return shadow_lower_unweighted;
	case REPLAY_WEIGHTS_EMPTY:
		return shadow_lower_weights_empty;
	case REPLAY_WEIGHTS_NULL:
		return NULL;
	default:
		return array ? array : topo_no_weights;
	}
}

/* For an output weights array: the application's array, or the lower
 * half's constant for the shadow library's. */
static int *topo_weights_out(int *w)
{
	return (int *)shadow_topo_weights_lh(shadow_topo_weights_kind(w), w);
}

SHADOW_EXPORT int PMPI_Dist_graph_neighbors(MPI_Comm comm, int maxindegree, int sources[],
					    int sourceweights[], int maxoutdegree,
					    int destinations[], int destweights[])
{
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Dist_graph_neighbors(shadow_handle_lh(SHADOW_KIND_COMM, comm),
						  maxindegree, sources,
						  topo_weights_out(sourceweights), maxoutdegree,
						  destinations, topo_weights_out(destweights));
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int MPI_Dist_graph_neighbors(MPI_Comm comm, int maxindegree, int sources[],
					   int sourceweights[], int maxoutdegree,
					   int destinations[], int destweights[])
	__attribute__((weak, alias("PMPI_Dist_graph_neighbors")));

/* The numbers of in- and out-neighbours of lower-half communicator @lh
 * (MPI 4.0, 8.6: the lengths of a neighbourhood collective's arrays). Both
 * 0 for a communicator without a topology, which MPICH then refuses with
 * its own error. */
void shadow_topo_degrees(MPI_Comm lh, int *in, int *out)
{
	int topo = MPI_UNDEFINED;
	int weighted = 0;
	int ndims = 0;
	int rank = 0;

	*in = 0;
	*out = 0;
	if (shadow_real_MPI_Topo_test(lh, &topo) != MPI_SUCCESS)
		return;
	switch (topo) {
	case MPI_CART:
		shadow_real_MPI_Cartdim_get(lh, &ndims);
		*in = 2 * ndims;
		*out = 2 * ndims;
		break;
	case MPI_GRAPH:
		shadow_real_MPI_Comm_rank(lh, &rank);
		shadow_real_MPI_Graph_neighbors_count(lh, rank, in);
		*out = *in;
		break;
	case MPI_DIST_GRAPH:
		shadow_real_MPI_Dist_graph_neighbors_count(lh, in, out, &weighted);
		break;
	default:
		break;
	}
}
