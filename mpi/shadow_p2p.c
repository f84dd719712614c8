/* shadow_p2p.c - point-to-point, probes and requests for checkpointing
 * (shadow_ckpt.h, shadow_consist.h).
 *
 * No application thread ever sits inside the lower half in a blocking
 * call: MPI_Send/Recv/Sendrecv/Probe/Wait* are a non-blocking call and a
 * loop of short MPI_Test/MPI_Iprobe calls with checkpointable pauses in
 * between. Every request, also the internal one of a blocking call, has an
 * entry here (what it is, its arguments, its state), so the drain can
 * complete, cancel and post it again behind the same virtual handle.
 * Messages are counted per peer world rank: sends when started, receives
 * when they complete. Receives and probes look at the drained messages
 * first, only when there are any (one load and a branch otherwise).
 */
#define SHADOW_CONSIST_INTERNAL
#include "shadow_consist.h"
#include "shadow.h"
#include "shadow_ckpt.h"
#include "shadow_handle.h"
#include "shadow_real.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Entries indexed like the requests' virtual handles (chunks never move:
 * lookups take no lock). */
static struct shadow_req *req_chunks[SHADOW_NCHUNKS];
static uint32_t req_hiwater; /* one past the highest index ever used */
static pthread_mutex_t req_lock = PTHREAD_MUTEX_INITIALIZER;

#define LH_REQ(vh) shadow_handle_lh(SHADOW_KIND_REQUEST, (vh))
#define LH_COMM(c) shadow_handle_lh(SHADOW_KIND_COMM, (c))
#define LH_TYPE(t) shadow_handle_lh(SHADOW_KIND_DATATYPE, (t))

static bool drained_any(void)
{
	return __builtin_expect(__atomic_load_n(&shadow_drained_count, __ATOMIC_RELAXED) != 0, 0);
}

/* MPI_STATUS_IGNORE and MPI_STATUSES_IGNORE are (MPI_Status *)1. */
static bool status_wanted(const MPI_Status *st)
{
	return st != MPI_STATUS_IGNORE && st != NULL;
}

/* ---- the request table ---- */

struct shadow_req *shadow_req_of(MPI_Request req)
{
	uint32_t u = (uint32_t)req;
	uint32_t idx = u & SHADOW_INDEX_MASK;
	struct shadow_req *chunk;

	if ((u & SHADOW_TYPE_MASK) != SHADOW_TYPE_VIRTUAL ||
	    ((u >> SHADOW_KIND_SHIFT) & 0xf) != SHADOW_KIND_REQUEST)
		return NULL;
	chunk = __atomic_load_n(&req_chunks[idx >> SHADOW_CHUNK_BITS], __ATOMIC_ACQUIRE);
	if (!chunk || chunk[idx & (SHADOW_CHUNK_SIZE - 1)].state == SHADOW_REQ_FREE)
		return NULL;
	return &chunk[idx & (SHADOW_CHUNK_SIZE - 1)];
}

static struct shadow_req *req_slot(uint32_t idx)
{
	struct shadow_req *chunk =
		__atomic_load_n(&req_chunks[idx >> SHADOW_CHUNK_BITS], __ATOMIC_ACQUIRE);
	uint32_t hi;

	if (!chunk) {
		pthread_mutex_lock(&req_lock);
		chunk = req_chunks[idx >> SHADOW_CHUNK_BITS];
		if (!chunk) {
			chunk = calloc(SHADOW_CHUNK_SIZE, sizeof(*chunk));
			if (!chunk)
				shadow_die("out of memory for the request table");
			__atomic_store_n(&req_chunks[idx >> SHADOW_CHUNK_BITS], chunk,
					 __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&req_lock);
	}
	hi = __atomic_load_n(&req_hiwater, __ATOMIC_RELAXED);
	while (idx + 1 > hi && !__atomic_compare_exchange_n(&req_hiwater, &hi, idx + 1, true,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return &chunk[idx & (SHADOW_CHUNK_SIZE - 1)];
}

MPI_Request shadow_req_new(shadow_lh_t lh, const struct shadow_req *r)
{
	MPI_Request vh = shadow_handle_new(SHADOW_KIND_REQUEST, lh);

	if (((uint32_t)vh & SHADOW_TYPE_MASK) == SHADOW_TYPE_VIRTUAL)
		*req_slot((uint32_t)vh & SHADOW_INDEX_MASK) = *r;
	return vh;
}

MPI_Request shadow_req_new_coll(shadow_lh_t lh, MPI_Comm comm)
{
	struct shadow_req r = { .state = SHADOW_REQ_ACTIVE, .kind = SHADOW_REQ_COLL, .comm = comm };

	return shadow_req_new(lh, &r);
}

void shadow_req_each(void (*fn)(MPI_Request vh, struct shadow_req *r, void *arg), void *arg)
{
	uint32_t hi = __atomic_load_n(&req_hiwater, __ATOMIC_ACQUIRE);

	for (uint32_t idx = 0; idx < hi; idx++) {
		struct shadow_req *chunk = req_chunks[idx >> SHADOW_CHUNK_BITS];
		struct shadow_req *r = chunk ? &chunk[idx & (SHADOW_CHUNK_SIZE - 1)] : NULL;

		if (r && r->state != SHADOW_REQ_FREE)
			fn((MPI_Request)(SHADOW_TYPE_VIRTUAL |
					 ((uint32_t)SHADOW_KIND_REQUEST << SHADOW_KIND_SHIFT) |
					 idx),
			   r, arg);
	}
}

/* Request @r completed in the lower half with @st (and error @err). */
static void req_completed(MPI_Request vh, struct shadow_req *r, const MPI_Status *st, int err)
{
	/* MPICH's "cancelled" bit (shadow_status_set): no lower-half call. */
	bool cancelled = st->count_hi_and_cancelled & 1;

	if (r->kind == SHADOW_REQ_RECV) {
		if (!cancelled && st->MPI_SOURCE >= 0)
			shadow_consist_count_recv(r->comm, st->MPI_SOURCE);
	}
	r->status = *st;
	r->err = err;
	if (!r->persistent)
		shadow_handle_set(SHADOW_KIND_REQUEST, vh, SHADOW_REQ_LH_NONE);
	r->state = SHADOW_REQ_DONE;
	free(r->owned);
	r->owned = NULL;
}

int shadow_req_poll(MPI_Request vh, struct shadow_req *r)
{
	int lh = LH_REQ(vh);
	int flag = 0;
	MPI_Status st;
	int rc;

	shadow_status_empty(&st);
	rc = shadow_real_MPI_Test(&lh, &flag, &st);
	if (flag)
		req_completed(vh, r, &st, rc);
	return flag ? MPI_SUCCESS : rc;
}

/* Hands a DONE or INACTIVE request to the application: its status, and
 * the request freed (or inactive, when persistent). Returns its error. */
static int req_take(MPI_Request *vh, struct shadow_req *r, MPI_Status *st)
{
	int err = MPI_SUCCESS;

	if (r->state == SHADOW_REQ_INACTIVE) {
		if (status_wanted(st))
			shadow_status_empty(st);
		return MPI_SUCCESS;
	}
	if (status_wanted(st))
		*st = r->status;
	err = r->err;
	if (r->persistent) {
		r->state = SHADOW_REQ_INACTIVE;
		return err;
	}
	r->state = SHADOW_REQ_FREE;
	shadow_handle_release(SHADOW_KIND_REQUEST, *vh);
	*vh = MPI_REQUEST_NULL;
	return err;
}

/* A request without an entry (not made here): the lower half decides. */
static int req_test_untracked(MPI_Request *vh, int *flag, MPI_Status *st)
{
	int lh = LH_REQ(*vh);
	int rc = shadow_real_MPI_Test(&lh, flag, st);

	shadow_handle_update(SHADOW_KIND_REQUEST, vh, lh);
	return rc;
}

/* One test of *@vh: *@flag set when it is complete (and returned). */
static int req_test(MPI_Request *vh, int *flag, MPI_Status *st)
{
	struct shadow_req *r;
	int rc;

	*flag = 0;
	if (*vh == MPI_REQUEST_NULL) {
		*flag = 1;
		if (status_wanted(st))
			shadow_status_empty(st);
		return MPI_SUCCESS;
	}
	r = shadow_req_of(*vh);
	if (!r)
		return req_test_untracked(vh, flag, st);
	if (r->state == SHADOW_REQ_ACTIVE) {
		rc = shadow_req_poll(*vh, r);
		if (rc != MPI_SUCCESS)
			return rc;
	}
	if (r->state != SHADOW_REQ_DONE && r->state != SHADOW_REQ_INACTIVE)
		return MPI_SUCCESS;
	*flag = 1;
	return req_take(vh, r, st);
}

/* True when *@vh is complete or null (for the multiple-completion calls:
 * nothing is taken yet). */
static int req_ready(MPI_Request vh, bool *ready, bool *active)
{
	struct shadow_req *r;
	int rc = MPI_SUCCESS;

	*active = false;
	*ready = false;
	if (vh == MPI_REQUEST_NULL)
		return MPI_SUCCESS;
	r = shadow_req_of(vh);
	if (!r) {
		*active = true;
		*ready = true; /* decided by req_test_untracked when taken */
		return MPI_SUCCESS;
	}
	if (r->state == SHADOW_REQ_INACTIVE)
		return MPI_SUCCESS;
	*active = true;
	if (r->state == SHADOW_REQ_ACTIVE)
		rc = shadow_req_poll(vh, r);
	*ready = r->state == SHADOW_REQ_DONE;
	return rc;
}

static int req_wait(MPI_Request *vh, MPI_Status *st)
{
	unsigned spin = 0;
	int flag;
	int rc;

	for (;;) {
		rc = req_test(vh, &flag, st);
		if (rc != MPI_SUCCESS || flag)
			return rc;
		shadow_consist_pause(&spin);
	}
}

/* ---- starting sends and receives ---- */

static int send_start(const void *buf, int count, MPI_Datatype type, int dest, int tag,
		      MPI_Comm comm, enum shadow_send_mode mode, MPI_Request *req)
{
	struct shadow_req r = { .state = SHADOW_REQ_ACTIVE,
				.kind = SHADOW_REQ_SEND,
				.mode = mode,
				.count = count,
				.peer = dest,
				.tag = tag,
				.type = type,
				.comm = comm,
				.buf = (void *)buf };
	int lh = MPI_REQUEST_NULL;
	int rc;

	if (mode == SHADOW_SEND_SYNC)
		rc = shadow_real_MPI_Issend(buf, count, LH_TYPE(type), dest, tag, LH_COMM(comm),
					    &lh);
	else if (mode == SHADOW_SEND_READY)
		rc = shadow_real_MPI_Irsend(buf, count, LH_TYPE(type), dest, tag, LH_COMM(comm),
					    &lh);
	else
		rc = shadow_real_MPI_Isend(buf, count, LH_TYPE(type), dest, tag, LH_COMM(comm),
					   &lh);
	if (rc != MPI_SUCCESS)
		return rc;
	shadow_consist_count_sent(comm, dest);
	*req = shadow_req_new(lh, &r);
	return MPI_SUCCESS;
}

static int recv_start(void *buf, int count, MPI_Datatype type, int source, int tag, MPI_Comm comm,
		      MPI_Request *req)
{
	struct shadow_req r = { .state = SHADOW_REQ_ACTIVE,
				.kind = SHADOW_REQ_RECV,
				.count = count,
				.peer = source,
				.tag = tag,
				.type = type,
				.comm = comm,
				.buf = buf };
	int lh = MPI_REQUEST_NULL;
	bool found = false;
	int rc;

	if (drained_any()) {
		r.err = shadow_drained_take(comm, source, tag, buf, count, type, &r.status, &found);
		if (found) {
			r.state = SHADOW_REQ_DONE;
			*req = shadow_req_new(SHADOW_REQ_LH_NONE, &r);
			return MPI_SUCCESS;
		}
	}
	rc = shadow_real_MPI_Irecv(buf, count, LH_TYPE(type), source, tag, LH_COMM(comm), &lh);
	if (rc != MPI_SUCCESS)
		return rc;
	*req = shadow_req_new(lh, &r);
	return MPI_SUCCESS;
}

int shadow_req_post_recv(MPI_Request vh, struct shadow_req *r)
{
	bool found = false;
	int lh;
	int rc;

	if (drained_any()) {
		r->err = shadow_drained_take(r->comm, r->peer, r->tag, r->buf, r->count, r->type,
					     &r->status, &found);
		if (found) {
			r->state = SHADOW_REQ_DONE;
			if (!r->persistent)
				shadow_handle_set(SHADOW_KIND_REQUEST, vh, SHADOW_REQ_LH_NONE);
			return MPI_SUCCESS;
		}
	}
	if (r->persistent) {
		lh = LH_REQ(vh);
		rc = shadow_real_MPI_Start(&lh);
	} else {
		rc = shadow_real_MPI_Irecv(r->buf, r->count, LH_TYPE(r->type), r->peer, r->tag,
					   LH_COMM(r->comm), &lh);
		if (rc == MPI_SUCCESS)
			shadow_handle_set(SHADOW_KIND_REQUEST, vh, lh);
	}
	if (rc == MPI_SUCCESS)
		r->state = SHADOW_REQ_ACTIVE;
	return rc;
}

/* ---- point-to-point ---- */

static int send_blocking(const void *buf, int count, MPI_Datatype type, int dest, int tag,
			 MPI_Comm comm, enum shadow_send_mode mode)
{
	MPI_Request req = MPI_REQUEST_NULL;
	int rc;

	shadow_consist_enter();
	rc = send_start(buf, count, type, dest, tag, comm, mode, &req);
	if (rc == MPI_SUCCESS)
		rc = req_wait(&req, MPI_STATUS_IGNORE);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Send(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
			    MPI_Comm comm)
{
	return send_blocking(buf, count, datatype, dest, tag, comm, SHADOW_SEND_STD);
}

SHADOW_EXPORT int PMPI_Ssend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
			     MPI_Comm comm)
{
	return send_blocking(buf, count, datatype, dest, tag, comm, SHADOW_SEND_SYNC);
}

SHADOW_EXPORT int PMPI_Rsend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
			     MPI_Comm comm)
{
	return send_blocking(buf, count, datatype, dest, tag, comm, SHADOW_SEND_READY);
}

static int send_nonblocking(const void *buf, int count, MPI_Datatype type, int dest, int tag,
			    MPI_Comm comm, enum shadow_send_mode mode, MPI_Request *req)
{
	int rc;

	shadow_consist_enter();
	rc = send_start(buf, count, type, dest, tag, comm, mode, req);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Isend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
			     MPI_Comm comm, MPI_Request *request)
{
	return send_nonblocking(buf, count, datatype, dest, tag, comm, SHADOW_SEND_STD, request);
}

SHADOW_EXPORT int PMPI_Issend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
			      MPI_Comm comm, MPI_Request *request)
{
	return send_nonblocking(buf, count, datatype, dest, tag, comm, SHADOW_SEND_SYNC, request);
}

SHADOW_EXPORT int PMPI_Irsend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
			      MPI_Comm comm, MPI_Request *request)
{
	return send_nonblocking(buf, count, datatype, dest, tag, comm, SHADOW_SEND_READY, request);
}

SHADOW_EXPORT int PMPI_Recv(void *buf, int count, MPI_Datatype datatype, int source, int tag,
			    MPI_Comm comm, MPI_Status *status)
{
	MPI_Request req = MPI_REQUEST_NULL;
	int rc;

	shadow_consist_enter();
	rc = recv_start(buf, count, datatype, source, tag, comm, &req);
	if (rc == MPI_SUCCESS)
		rc = req_wait(&req, status);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Irecv(void *buf, int count, MPI_Datatype datatype, int source, int tag,
			     MPI_Comm comm, MPI_Request *request)
{
	int rc;

	shadow_consist_enter();
	rc = recv_start(buf, count, datatype, source, tag, comm, request);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest,
				int sendtag, void *recvbuf, int recvcount, MPI_Datatype recvtype,
				int source, int recvtag, MPI_Comm comm, MPI_Status *status)
{
	MPI_Request sreq = MPI_REQUEST_NULL;
	MPI_Request rreq = MPI_REQUEST_NULL;
	int rc;

	shadow_consist_enter();
	rc = recv_start(recvbuf, recvcount, recvtype, source, recvtag, comm, &rreq);
	if (rc == MPI_SUCCESS)
		rc = send_start(sendbuf, sendcount, sendtype, dest, sendtag, comm, SHADOW_SEND_STD,
				&sreq);
	if (rc == MPI_SUCCESS)
		rc = req_wait(&sreq, MPI_STATUS_IGNORE);
	if (rc == MPI_SUCCESS)
		rc = req_wait(&rreq, status);
	shadow_consist_leave();
	return rc;
}

/* The message to send is packed first: the receive overwrites the buffer. */
SHADOW_EXPORT int PMPI_Sendrecv_replace(void *buf, int count, MPI_Datatype datatype, int dest,
					int sendtag, int source, int recvtag, MPI_Comm comm,
					MPI_Status *status)
{
	MPI_Request sreq = MPI_REQUEST_NULL;
	MPI_Request rreq = MPI_REQUEST_NULL;
	int size = 0;
	int pos = 0;
	void *tmp;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Pack_size(count, LH_TYPE(datatype), LH_COMM(comm), &size);
	tmp = rc == MPI_SUCCESS ? malloc(size ? (size_t)size : 1) : NULL;
	if (rc == MPI_SUCCESS && !tmp)
		rc = MPI_ERR_NO_MEM;
	if (rc == MPI_SUCCESS)
		rc = shadow_real_MPI_Pack(buf, count, LH_TYPE(datatype), tmp, size, &pos,
					  LH_COMM(comm));
	if (rc == MPI_SUCCESS)
		rc = send_start(tmp, pos, MPI_PACKED, dest, sendtag, comm, SHADOW_SEND_STD, &sreq);
	if (rc == MPI_SUCCESS)
		rc = recv_start(buf, count, datatype, source, recvtag, comm, &rreq);
	if (rc == MPI_SUCCESS)
		rc = req_wait(&sreq, MPI_STATUS_IGNORE);
	if (rc == MPI_SUCCESS)
		rc = req_wait(&rreq, status);
	free(tmp);
	shadow_consist_leave();
	return rc;
}

static int probe_once(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status)
{
	MPI_Status st;

	if (drained_any() && shadow_drained_peek(comm, source, tag, &st)) {
		*flag = 1;
		if (status_wanted(status))
			*status = st;
		return MPI_SUCCESS;
	}
	return shadow_real_MPI_Iprobe(source, tag, LH_COMM(comm), flag, status);
}

SHADOW_EXPORT int PMPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status)
{
	int rc;

	shadow_consist_enter();
	rc = probe_once(source, tag, comm, flag, status);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status)
{
	unsigned spin = 0;
	int flag = 0;
	int rc;

	shadow_consist_enter();
	for (;;) {
		rc = probe_once(source, tag, comm, &flag, status);
		if (rc != MPI_SUCCESS || flag)
			break;
		shadow_consist_pause(&spin);
	}
	shadow_consist_leave();
	return rc;
}

/* ---- persistent requests ---- */

static int persistent_init(void *buf, int count, MPI_Datatype type, int peer, int tag,
			   MPI_Comm comm, enum shadow_req_kind kind, enum shadow_send_mode mode,
			   MPI_Request *req)
{
	struct shadow_req r = { .state = SHADOW_REQ_INACTIVE,
				.kind = kind,
				.mode = mode,
				.persistent = true,
				.count = count,
				.peer = peer,
				.tag = tag,
				.type = type,
				.comm = comm,
				.buf = buf };
	int lh = MPI_REQUEST_NULL;
	int rc;

	shadow_consist_enter();
	if (kind == SHADOW_REQ_RECV)
		rc = shadow_real_MPI_Recv_init(buf, count, LH_TYPE(type), peer, tag, LH_COMM(comm),
					       &lh);
	else if (mode == SHADOW_SEND_SYNC)
		rc = shadow_real_MPI_Ssend_init(buf, count, LH_TYPE(type), peer, tag, LH_COMM(comm),
						&lh);
	else
		rc = shadow_real_MPI_Send_init(buf, count, LH_TYPE(type), peer, tag, LH_COMM(comm),
					       &lh);
	if (rc == MPI_SUCCESS)
		*req = shadow_req_new(lh, &r);
	shadow_consist_leave();
	return rc;
}

/* Makes persistent request @r again in a new lower half (restart). */
int shadow_req_persistent_remake(MPI_Request vh, struct shadow_req *r)
{
	int lh = MPI_REQUEST_NULL;
	int rc;

	if (r->kind == SHADOW_REQ_RECV)
		rc = shadow_real_MPI_Recv_init(r->buf, r->count, LH_TYPE(r->type), r->peer, r->tag,
					       LH_COMM(r->comm), &lh);
	else if (r->mode == SHADOW_SEND_SYNC)
		rc = shadow_real_MPI_Ssend_init(r->buf, r->count, LH_TYPE(r->type), r->peer, r->tag,
						LH_COMM(r->comm), &lh);
	else
		rc = shadow_real_MPI_Send_init(r->buf, r->count, LH_TYPE(r->type), r->peer, r->tag,
					       LH_COMM(r->comm), &lh);
	if (rc == MPI_SUCCESS)
		shadow_handle_set(SHADOW_KIND_REQUEST, vh, lh);
	return rc;
}

SHADOW_EXPORT int PMPI_Send_init(const void *buf, int count, MPI_Datatype datatype, int dest,
				 int tag, MPI_Comm comm, MPI_Request *request)
{
	return persistent_init((void *)buf, count, datatype, dest, tag, comm, SHADOW_REQ_SEND,
			       SHADOW_SEND_STD, request);
}

SHADOW_EXPORT int PMPI_Ssend_init(const void *buf, int count, MPI_Datatype datatype, int dest,
				  int tag, MPI_Comm comm, MPI_Request *request)
{
	return persistent_init((void *)buf, count, datatype, dest, tag, comm, SHADOW_REQ_SEND,
			       SHADOW_SEND_SYNC, request);
}

SHADOW_EXPORT int PMPI_Recv_init(void *buf, int count, MPI_Datatype datatype, int source, int tag,
				 MPI_Comm comm, MPI_Request *request)
{
	return persistent_init(buf, count, datatype, source, tag, comm, SHADOW_REQ_RECV,
			       SHADOW_SEND_STD, request);
}

static int start_one(MPI_Request *vh)
{
	struct shadow_req *r = shadow_req_of(*vh);
	int lh = LH_REQ(*vh);
	int rc;

	if (!r) {
		rc = shadow_real_MPI_Start(&lh);
		shadow_handle_update(SHADOW_KIND_REQUEST, vh, lh);
		return rc;
	}
	if (r->kind == SHADOW_REQ_RECV)
		return shadow_req_post_recv(*vh, r);
	rc = shadow_real_MPI_Start(&lh);
	if (rc == MPI_SUCCESS) {
		r->state = SHADOW_REQ_ACTIVE;
		shadow_consist_count_sent(r->comm, r->peer);
	}
	return rc;
}

SHADOW_EXPORT int PMPI_Start(MPI_Request *request)
{
	int rc;

	shadow_consist_enter();
	rc = start_one(request);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Startall(int count, MPI_Request array_of_requests[])
{
	int rc = MPI_SUCCESS;

	shadow_consist_enter();
	for (int i = 0; i < count && rc == MPI_SUCCESS; i++)
		rc = start_one(&array_of_requests[i]);
	shadow_consist_leave();
	return rc;
}

/* ---- completion ---- */

SHADOW_EXPORT int PMPI_Wait(MPI_Request *request, MPI_Status *status)
{
	int rc;

	shadow_consist_enter();
	rc = req_wait(request, status);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Test(MPI_Request *request, int *flag, MPI_Status *status)
{
	int rc;

	shadow_consist_enter();
	rc = req_test(request, flag, status);
	shadow_consist_leave();
	return rc;
}

static MPI_Status *status_at(MPI_Status *statuses, int i)
{
	return status_wanted(statuses) ? &statuses[i] : MPI_STATUS_IGNORE;
}

/* Takes every request of the array (all complete or null). */
static int take_all(int count, MPI_Request reqs[], MPI_Status statuses[])
{
	int rc = MPI_SUCCESS;

	for (int i = 0; i < count; i++) {
		int flag = 0;
		int err = req_test(&reqs[i], &flag, status_at(statuses, i));

		if (err != MPI_SUCCESS && status_wanted(statuses))
			statuses[i].MPI_ERROR = err;
		if (err != MPI_SUCCESS)
			rc = MPI_ERR_IN_STATUS;
	}
	return rc;
}

/* Polls every request once: true when all are complete (or null). */
static int all_ready(int count, MPI_Request reqs[], bool *all)
{
	int rc = MPI_SUCCESS;

	*all = true;
	for (int i = 0; i < count; i++) {
		bool ready;
		bool active;
		int err = req_ready(reqs[i], &ready, &active);

		if (err != MPI_SUCCESS)
			rc = err;
		if (active && !ready)
			*all = false;
	}
	return rc;
}

SHADOW_EXPORT int PMPI_Waitall(int count, MPI_Request array_of_requests[],
			       MPI_Status array_of_statuses[])
{
	unsigned spin = 0;
	bool all = false;
	int rc;

	shadow_consist_enter();
	for (;;) {
		rc = all_ready(count, array_of_requests, &all);
		if (rc != MPI_SUCCESS || all)
			break;
		shadow_consist_pause(&spin);
	}
	if (rc == MPI_SUCCESS)
		rc = take_all(count, array_of_requests, array_of_statuses);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Testall(int count, MPI_Request array_of_requests[], int *flag,
			       MPI_Status array_of_statuses[])
{
	bool all = false;
	int rc;

	shadow_consist_enter();
	rc = all_ready(count, array_of_requests, &all);
	*flag = rc == MPI_SUCCESS && all;
	if (*flag)
		rc = take_all(count, array_of_requests, array_of_statuses);
	shadow_consist_leave();
	return rc;
}

/* One pass of Testany: *@indx the completed one, MPI_UNDEFINED when none
 * is active; *@flag set when one completed or none is active. */
static int any_once(int count, MPI_Request reqs[], int *indx, int *flag, MPI_Status *status)
{
	bool any_active = false;

	*flag = 0;
	*indx = MPI_UNDEFINED;
	for (int i = 0; i < count; i++) {
		bool ready;
		bool active;
		int rc = req_ready(reqs[i], &ready, &active);

		if (rc != MPI_SUCCESS)
			return rc;
		any_active |= active;
		if (active && ready) {
			int done = 0;

			rc = req_test(&reqs[i], &done, status);
			if (done || rc != MPI_SUCCESS) {
				*indx = i;
				*flag = 1;
				return rc;
			}
		}
	}
	if (!any_active) {
		*flag = 1;
		if (status_wanted(status))
			shadow_status_empty(status);
	}
	return MPI_SUCCESS;
}

SHADOW_EXPORT int PMPI_Waitany(int count, MPI_Request array_of_requests[], int *indx,
			       MPI_Status *status)
{
	unsigned spin = 0;
	int flag = 0;
	int rc;

	shadow_consist_enter();
	for (;;) {
		rc = any_once(count, array_of_requests, indx, &flag, status);
		if (rc != MPI_SUCCESS || flag)
			break;
		shadow_consist_pause(&spin);
	}
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Testany(int count, MPI_Request array_of_requests[], int *indx, int *flag,
			       MPI_Status *status)
{
	int rc;

	shadow_consist_enter();
	rc = any_once(count, array_of_requests, indx, flag, status);
	shadow_consist_leave();
	return rc;
}

/* One pass of Testsome: takes every complete request. */
static int some_once(int incount, MPI_Request reqs[], int *outcount, int indices[],
		     MPI_Status statuses[])
{
	bool any_active = false;
	int rc = MPI_SUCCESS;
	int n = 0;

	for (int i = 0; i < incount; i++) {
		bool ready;
		bool active;
		int err = req_ready(reqs[i], &ready, &active);

		if (err != MPI_SUCCESS)
			return err;
		any_active |= active;
		if (active && ready) {
			int done = 0;

			err = req_test(&reqs[i], &done, status_at(statuses, n));
			if (!done && err == MPI_SUCCESS)
				continue;
			if (err != MPI_SUCCESS && status_wanted(statuses))
				statuses[n].MPI_ERROR = err;
			if (err != MPI_SUCCESS)
				rc = MPI_ERR_IN_STATUS;
			indices[n++] = i;
		}
	}
	*outcount = any_active ? n : MPI_UNDEFINED;
	return rc;
}

SHADOW_EXPORT int PMPI_Waitsome(int incount, MPI_Request array_of_requests[], int *outcount,
				int array_of_indices[], MPI_Status array_of_statuses[])
{
	unsigned spin = 0;
	int rc;

	shadow_consist_enter();
	for (;;) {
		rc = some_once(incount, array_of_requests, outcount, array_of_indices,
			       array_of_statuses);
		if (rc != MPI_SUCCESS || *outcount != 0)
			break;
		shadow_consist_pause(&spin);
	}
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Testsome(int incount, MPI_Request array_of_requests[], int *outcount,
				int array_of_indices[], MPI_Status array_of_statuses[])
{
	int rc;

	shadow_consist_enter();
	rc = some_once(incount, array_of_requests, outcount, array_of_indices, array_of_statuses);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Request_get_status(MPI_Request request, int *flag, MPI_Status *status)
{
	struct shadow_req *r = shadow_req_of(request);
	int rc = MPI_SUCCESS;

	shadow_consist_enter();
	if (!r) {
		rc = shadow_real_MPI_Request_get_status(LH_REQ(request), flag, status);
		goto out;
	}
	if (r->state == SHADOW_REQ_ACTIVE)
		rc = shadow_req_poll(request, r);
	*flag = r->state == SHADOW_REQ_DONE || r->state == SHADOW_REQ_INACTIVE;
	if (*flag && status_wanted(status)) {
		if (r->state == SHADOW_REQ_DONE)
			*status = r->status;
		else
			shadow_status_empty(status);
	}
out:
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Request_free(MPI_Request *request)
{
	struct shadow_req *r = shadow_req_of(*request);
	int lh = LH_REQ(*request);
	int rc = MPI_SUCCESS;

	shadow_consist_enter();
	if (!r || r->state == SHADOW_REQ_ACTIVE || r->persistent) {
		rc = shadow_real_MPI_Request_free(&lh);
		if (rc != MPI_SUCCESS)
			goto out;
	}
	if (r)
		r->state = SHADOW_REQ_FREE;
	shadow_handle_release(SHADOW_KIND_REQUEST, *request);
	*request = MPI_REQUEST_NULL;
out:
	shadow_consist_leave();
	return rc;
}

/* Cancelling a request that completed in the upper half does nothing (MPI
 * allows a cancel to fail); an active one is cancelled in the lower half. */
SHADOW_EXPORT int PMPI_Cancel(MPI_Request *request)
{
	struct shadow_req *r = shadow_req_of(*request);
	int lh = LH_REQ(*request);
	int rc = MPI_SUCCESS;

	shadow_consist_enter();
	if (!r || r->state == SHADOW_REQ_ACTIVE)
		rc = shadow_real_MPI_Cancel(&lh);
	shadow_consist_leave();
	return rc;
}

#define SHADOW_P2P_ALIAS(ret, name, args) \
	SHADOW_EXPORT ret MPI_##name args __attribute__((weak, alias("PMPI_" #name)));
SHADOW_P2P_ALIAS(int, Send, (const void *, int, MPI_Datatype, int, int, MPI_Comm))
SHADOW_P2P_ALIAS(int, Ssend, (const void *, int, MPI_Datatype, int, int, MPI_Comm))
SHADOW_P2P_ALIAS(int, Rsend, (const void *, int, MPI_Datatype, int, int, MPI_Comm))
SHADOW_P2P_ALIAS(int, Isend, (const void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *))
SHADOW_P2P_ALIAS(int, Issend, (const void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *))
SHADOW_P2P_ALIAS(int, Irsend, (const void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *))
SHADOW_P2P_ALIAS(int, Recv, (void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Status *))
SHADOW_P2P_ALIAS(int, Irecv, (void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *))
SHADOW_P2P_ALIAS(int, Sendrecv,
		 (const void *, int, MPI_Datatype, int, int, void *, int, MPI_Datatype, int, int,
		  MPI_Comm, MPI_Status *))
SHADOW_P2P_ALIAS(int, Sendrecv_replace,
		 (void *, int, MPI_Datatype, int, int, int, int, MPI_Comm, MPI_Status *))
SHADOW_P2P_ALIAS(int, Iprobe, (int, int, MPI_Comm, int *, MPI_Status *))
SHADOW_P2P_ALIAS(int, Probe, (int, int, MPI_Comm, MPI_Status *))
SHADOW_P2P_ALIAS(int, Send_init,
		 (const void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *))
SHADOW_P2P_ALIAS(int, Ssend_init,
		 (const void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *))
SHADOW_P2P_ALIAS(int, Recv_init, (void *, int, MPI_Datatype, int, int, MPI_Comm, MPI_Request *))
SHADOW_P2P_ALIAS(int, Start, (MPI_Request *))
SHADOW_P2P_ALIAS(int, Startall, (int, MPI_Request[]))
SHADOW_P2P_ALIAS(int, Wait, (MPI_Request *, MPI_Status *))
SHADOW_P2P_ALIAS(int, Test, (MPI_Request *, int *, MPI_Status *))
SHADOW_P2P_ALIAS(int, Waitall, (int, MPI_Request[], MPI_Status[]))
SHADOW_P2P_ALIAS(int, Testall, (int, MPI_Request[], int *, MPI_Status[]))
SHADOW_P2P_ALIAS(int, Waitany, (int, MPI_Request[], int *, MPI_Status *))
SHADOW_P2P_ALIAS(int, Testany, (int, MPI_Request[], int *, int *, MPI_Status *))
SHADOW_P2P_ALIAS(int, Waitsome, (int, MPI_Request[], int *, int[], MPI_Status[]))
SHADOW_P2P_ALIAS(int, Testsome, (int, MPI_Request[], int *, int[], MPI_Status[]))
SHADOW_P2P_ALIAS(int, Request_get_status, (MPI_Request, int *, MPI_Status *))
SHADOW_P2P_ALIAS(int, Request_free, (MPI_Request *))
SHADOW_P2P_ALIAS(int, Cancel, (MPI_Request *))
