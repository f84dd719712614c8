/* shadow_coll_types.c - the collectives that take an array of datatypes per
 * peer: MPI_Alltoallw, MPI_Ialltoallw, MPI_Neighbor_alltoallw and
 * MPI_Ineighbor_alltoallw. The generator cannot write them: the arrays are
 * as long as the communicator's (remote) group or its neighbourhood, which
 * no parameter gives, and a non-blocking one must keep the translated
 * arrays until the request completes (MPI 4.0, 6.12: the library may read
 * them until then). Otherwise they are like the generated collectives: the
 * checkpoint's collective gate, then the lower half.
 */
#define SHADOW_CONSIST_INTERNAL
#include "shadow.h"
#include "shadow_consist.h"
#include "shadow_handle.h"
#include "shadow_real.h"
#include "shadow_replay.h"

#include <stdbool.h>
#include <stdlib.h>

/* How many peers an alltoallw on lower-half communicator @lh has: the
 * remote group of an intercommunicator, else the group. */
static int coll_peers(MPI_Comm lh)
{
	int inter = 0;
	int n = 0;

	shadow_real_MPI_Comm_test_inter(lh, &inter);
	if (inter)
		shadow_real_MPI_Comm_remote_size(lh, &n);
	else
		shadow_real_MPI_Comm_size(lh, &n);
	return n;
}

/* The lower half's handles of @nsend datatypes of @sendtypes then @nrecv of
 * @recvtypes, in one block from malloc that the caller owns. With
 * MPI_IN_PLACE the send types are not read (MPI 4.0, 6.8): the receive
 * types stand in for them, so the lower half never sees garbage. */
static shadow_lh_t *coll_types_lh(const void *sendbuf, const MPI_Datatype *sendtypes, int nsend,
				  const MPI_Datatype *recvtypes, int nrecv)
{
	size_t n = (size_t)(nsend > 0 ? nsend : 0) + (size_t)(nrecv > 0 ? nrecv : 0);
	shadow_lh_t *lh = malloc((n ? n : 1) * sizeof(*lh));
	shadow_lh_t *rt = lh + (nsend > 0 ? nsend : 0);

	/* MPICH's MPI_IN_PLACE is the integer constant (void *)-1 */
	bool in_place = sendbuf == MPI_IN_PLACE; // NOLINT(performance-no-int-to-ptr)

	if (!lh)
		shadow_die("out of memory translating %zu MPI datatypes", n);
	for (int i = 0; i < nrecv; i++)
		rt[i] = shadow_handle_lh(SHADOW_KIND_DATATYPE, (shadow_lh_t)recvtypes[i]);
	for (int i = 0; i < nsend; i++)
		lh[i] = in_place && i < nrecv
				? rt[i]
				: shadow_handle_lh(SHADOW_KIND_DATATYPE, (shadow_lh_t)sendtypes[i]);
	return lh;
}

/* One call of a *alltoallw collective on @comm, between its enter and its
 * leave: the lower half's communicator and the translated datatypes, the
 * send types first, then the receive types at recv. */
struct coll_w {
	MPI_Comm lh;
	shadow_lh_t *types;
	MPI_Datatype *send;
	MPI_Datatype *recv;
};

/* Passes the checkpoint's gate for a collective on @comm, then translates
 * the datatype arrays: one per peer of the group (@neighbours false) or
 * per in- and out-neighbour of the topology. The lower half's handles are
 * taken after the gate: a restart while waiting there makes new objects. */
static void coll_w_enter(struct coll_w *c, MPI_Comm comm, bool neighbours, const void *sendbuf,
			 const MPI_Datatype *sendtypes, const MPI_Datatype *recvtypes)
{
	int nsend;
	int nrecv;

	shadow_consist_enter();
	shadow_consist_coll_enter(comm);
	c->lh = shadow_handle_lh(SHADOW_KIND_COMM, comm);
	if (neighbours) {
		shadow_topo_degrees(c->lh, &nrecv, &nsend);
	} else {
		nsend = coll_peers(c->lh);
		nrecv = nsend;
	}
	c->types = coll_types_lh(sendbuf, sendtypes, nsend, recvtypes, nrecv);
	c->send = (MPI_Datatype *)c->types;
	c->recv = (MPI_Datatype *)(c->types + (nsend > 0 ? nsend : 0));
}

/* Leaves a blocking call: the arrays are no longer read. */
static int coll_w_leave(struct coll_w *c, int rc)
{
	shadow_consist_coll_leave();
	free(c->types);
	shadow_consist_leave();
	return rc;
}

/* Leaves a non-blocking call that returned @rc with lower-half request
 * @lh_request: the arrays go to the new virtual request, which frees them
 * when it completes (a request without an entry keeps them for good: a
 * small leak, never memory the lower half still reads). */
static int coll_w_leave_started(struct coll_w *c, int rc, MPI_Comm comm, MPI_Request lh_request,
				MPI_Request *request)
{
	shadow_consist_coll_leave();
	if (rc == MPI_SUCCESS && request) {
		struct shadow_req *r;

		*request = shadow_req_new_coll((shadow_lh_t)lh_request, comm);
		r = shadow_req_of(*request);
		if (r)
			r->owned = c->types;
	} else {
		free(c->types);
	}
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Alltoallw(const void *sendbuf, const int sendcounts[], const int sdispls[],
				 const MPI_Datatype sendtypes[], void *recvbuf,
				 const int recvcounts[], const int rdispls[],
				 const MPI_Datatype recvtypes[], MPI_Comm comm)
{
	struct coll_w c;

	coll_w_enter(&c, comm, false, sendbuf, sendtypes, recvtypes);
	return coll_w_leave(&c,
			    shadow_real_MPI_Alltoallw(sendbuf, sendcounts, sdispls, c.send, recvbuf,
						      recvcounts, rdispls, c.recv, c.lh));
}

SHADOW_EXPORT int MPI_Alltoallw(const void *sendbuf, const int sendcounts[], const int sdispls[],
				const MPI_Datatype sendtypes[], void *recvbuf,
				const int recvcounts[], const int rdispls[],
				const MPI_Datatype recvtypes[], MPI_Comm comm)
	__attribute__((weak, alias("PMPI_Alltoallw")));

SHADOW_EXPORT int PMPI_Ialltoallw(const void *sendbuf, const int sendcounts[], const int sdispls[],
				  const MPI_Datatype sendtypes[], void *recvbuf,
				  const int recvcounts[], const int rdispls[],
				  const MPI_Datatype recvtypes[], MPI_Comm comm,
				  MPI_Request *request)
{
	MPI_Request lh_request = 0;
	struct coll_w c;
	int rc;

	coll_w_enter(&c, comm, false, sendbuf, sendtypes, recvtypes);
	rc = shadow_real_MPI_Ialltoallw(sendbuf, sendcounts, sdispls, c.send, recvbuf, recvcounts,
					rdispls, c.recv, c.lh, request ? &lh_request : NULL);
	return coll_w_leave_started(&c, rc, comm, lh_request, request);
}

SHADOW_EXPORT int MPI_Ialltoallw(const void *sendbuf, const int sendcounts[], const int sdispls[],
				 const MPI_Datatype sendtypes[], void *recvbuf,
				 const int recvcounts[], const int rdispls[],
				 const MPI_Datatype recvtypes[], MPI_Comm comm,
				 MPI_Request *request)
	__attribute__((weak, alias("PMPI_Ialltoallw")));

SHADOW_EXPORT int PMPI_Neighbor_alltoallw(const void *sendbuf, const int sendcounts[],
					  const MPI_Aint sdispls[], const MPI_Datatype sendtypes[],
					  void *recvbuf, const int recvcounts[],
					  const MPI_Aint rdispls[], const MPI_Datatype recvtypes[],
					  MPI_Comm comm)
{
	struct coll_w c;

	coll_w_enter(&c, comm, true, sendbuf, sendtypes, recvtypes);
	return coll_w_leave(&c, shadow_real_MPI_Neighbor_alltoallw(sendbuf, sendcounts, sdispls,
								   c.send, recvbuf, recvcounts,
								   rdispls, c.recv, c.lh));
}

SHADOW_EXPORT int
MPI_Neighbor_alltoallw(const void *sendbuf, const int sendcounts[], const MPI_Aint sdispls[],
		       const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],
		       const MPI_Aint rdispls[], const MPI_Datatype recvtypes[], MPI_Comm comm)
	__attribute__((weak, alias("PMPI_Neighbor_alltoallw")));

SHADOW_EXPORT int PMPI_Ineighbor_alltoallw(const void *sendbuf, const int sendcounts[],
					   const MPI_Aint sdispls[], const MPI_Datatype sendtypes[],
					   void *recvbuf, const int recvcounts[],
					   const MPI_Aint rdispls[], const MPI_Datatype recvtypes[],
					   MPI_Comm comm, MPI_Request *request)
{
	MPI_Request lh_request = 0;
	struct coll_w c;
	int rc;

	coll_w_enter(&c, comm, true, sendbuf, sendtypes, recvtypes);
	rc = shadow_real_MPI_Ineighbor_alltoallw(sendbuf, sendcounts, sdispls, c.send, recvbuf,
						 recvcounts, rdispls, c.recv, c.lh,
						 request ? &lh_request : NULL);
	return coll_w_leave_started(&c, rc, comm, lh_request, request);
}

SHADOW_EXPORT int MPI_Ineighbor_alltoallw(const void *sendbuf, const int sendcounts[],
					  const MPI_Aint sdispls[], const MPI_Datatype sendtypes[],
					  void *recvbuf, const int recvcounts[],
					  const MPI_Aint rdispls[], const MPI_Datatype recvtypes[],
					  MPI_Comm comm, MPI_Request *request)
	__attribute__((weak, alias("PMPI_Ineighbor_alltoallw")));
