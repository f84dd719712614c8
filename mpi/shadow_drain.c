/* shadow_drain.c - the drain of messages in flight at a checkpoint, the
 * drained messages served to later receives, shadow_ckpt_resume and the
 * re-posting of requests at restart (shadow_ckpt.h, shadow_consist.h).
 *
 * The drain runs in the checkpoint thread with every application thread
 * stopped outside the lower half, possibly inside the upper half's malloc:
 * it allocates with mmap only. Each rank learns from every peer how many
 * messages the peer sent it (Alltoall of the counters over the control
 * communicator) and receives until it has received that many: pending
 * requests are tested (a completed receive counts), and what MPI_Iprobe
 * finds on a live communicator is received as MPI_PACKED into an
 * upper-half buffer. Pending receives are then cancelled, and posted again
 * by shadow_ckpt_resume (or at restart). A message received so is served
 * to the first receive or probe that matches it, in arrival order.
 */
#define SHADOW_CONSIST_INTERNAL
#include "shadow_consist.h"
#include "shadow.h"
#include "shadow_ckpt.h"
#include "shadow_handle.h"
#include "shadow_real.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* A drained message: one mapping holding this header and the bytes. */
struct drained_msg {
	struct drained_msg *next;
	size_t map_len;
	MPI_Comm comm; /* the application's handle */
	int source;    /* rank in comm */
	int tag;
	int64_t bytes;
	unsigned char data[];
};

int shadow_drained_count;
static struct drained_msg *drained_head;
static struct drained_msg **drained_tail = &drained_head;
static pthread_mutex_t drained_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- statuses ---- */

/* MPICH keeps the byte count in count_lo and the upper bits of
 * count_hi_and_cancelled (bit 0 is "cancelled"). */
void shadow_status_set(MPI_Status *st, int source, int tag, int64_t bytes, int err)
{
	st->count_lo = (int)(uint32_t)(bytes & 0xffffffff);
	st->count_hi_and_cancelled = (int)((uint64_t)bytes >> 32 << 1);
	st->MPI_SOURCE = source;
	st->MPI_TAG = tag;
	st->MPI_ERROR = err;
}

void shadow_status_empty(MPI_Status *st)
{
	shadow_status_set(st, MPI_ANY_SOURCE, MPI_ANY_TAG, 0, MPI_SUCCESS);
}

/* ---- serving ---- */

static bool drained_match(const struct drained_msg *m, MPI_Comm comm, int source, int tag)
{
	return m->comm == comm && (source == MPI_ANY_SOURCE || source == m->source) &&
	       (tag == MPI_ANY_TAG || tag == m->tag);
}

/* Unlinks and returns the first message matching; under drained_lock. */
static struct drained_msg *drained_unlink(MPI_Comm comm, int source, int tag)
{
	struct drained_msg **p;
	struct drained_msg *m;

	for (p = &drained_head; *p; p = &(*p)->next) {
		if (!drained_match(*p, comm, source, tag))
			continue;
		m = *p;
		*p = m->next;
		if (drained_tail == &m->next)
			drained_tail = p;
		__atomic_sub_fetch(&shadow_drained_count, 1, __ATOMIC_RELAXED);
		return m;
	}
	return NULL;
}

int shadow_packed_unpack(const void *data, int64_t nbytes, int source, int tag, void *buf,
			 int count, MPI_Datatype type, MPI_Status *st)
{
	int lh_type = shadow_handle_lh(SHADOW_KIND_DATATYPE, type);
	int size = 0;
	int64_t bytes = nbytes;
	int err = MPI_SUCCESS;
	int pos = 0;

	shadow_real_MPI_Type_size(lh_type, &size);
	if (bytes > (int64_t)count * size) {
		err = MPI_ERR_TRUNCATE;
		bytes = (int64_t)count * size;
	}
	if (size > 0 && bytes >= size)
		shadow_real_MPI_Unpack(data, (int)nbytes, &pos, buf, (int)(bytes / size), lh_type,
				       MPI_COMM_WORLD);
	shadow_status_set(st, source, tag, bytes, err);
	return err;
}

/* Unpacks @m into the receive buffer (shadow_packed_unpack). */
static int drained_unpack(const struct drained_msg *m, void *buf, int count, MPI_Datatype type,
			  MPI_Status *st)
{
	return shadow_packed_unpack(m->data, m->bytes, m->source, m->tag, buf, count, type, st);
}

int shadow_drained_take(MPI_Comm comm, int source, int tag, void *buf, int count, MPI_Datatype type,
			MPI_Status *status, bool *found)
{
	struct drained_msg *m;
	MPI_Status st;
	int err;

	pthread_mutex_lock(&drained_lock);
	m = drained_unlink(comm, source, tag);
	pthread_mutex_unlock(&drained_lock);
	*found = m != NULL;
	if (!m)
		return MPI_SUCCESS;
	err = drained_unpack(m, buf, count, type, &st);
	if (status && status != MPI_STATUS_IGNORE)
		*status = st;
	__atomic_add_fetch(&shadow_consist_stat.served, 1, __ATOMIC_RELAXED);
	munmap(m, m->map_len);
	return err;
}

int shadow_drained_copy_out(MPI_Comm comm, int source, int tag, void **data, int64_t *bytes,
			    int *src_out, int *tag_out)
{
	struct drained_msg *m;

	pthread_mutex_lock(&drained_lock);
	m = drained_unlink(comm, source, tag);
	pthread_mutex_unlock(&drained_lock);
	if (!m)
		return 0;
	*data = malloc(m->bytes ? (size_t)m->bytes : 1);
	if (!*data) {
		/* Put it back first: nothing is lost. */
		pthread_mutex_lock(&drained_lock);
		m->next = drained_head;
		drained_head = m;
		if (drained_tail == &drained_head)
			drained_tail = &m->next;
		__atomic_add_fetch(&shadow_drained_count, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&drained_lock);
		return -ENOMEM;
	}
	memcpy(*data, m->data, (size_t)m->bytes);
	*bytes = m->bytes;
	*src_out = m->source;
	*tag_out = m->tag;
	__atomic_add_fetch(&shadow_consist_stat.served, 1, __ATOMIC_RELAXED);
	munmap(m, m->map_len);
	return 1;
}

bool shadow_drained_peek(MPI_Comm comm, int source, int tag, MPI_Status *status)
{
	bool found = false;

	pthread_mutex_lock(&drained_lock);
	for (struct drained_msg *m = drained_head; m && !found; m = m->next) {
		if (drained_match(m, comm, source, tag)) {
			shadow_status_set(status, m->source, m->tag, m->bytes, MPI_SUCCESS);
			found = true;
		}
	}
	pthread_mutex_unlock(&drained_lock);
	return found;
}

void shadow_drained_drop_comm(MPI_Comm comm)
{
	struct drained_msg *m;

	for (;;) {
		pthread_mutex_lock(&drained_lock);
		m = drained_unlink(comm, MPI_ANY_SOURCE, MPI_ANY_TAG);
		pthread_mutex_unlock(&drained_lock);
		if (!m)
			return;
		munmap(m, m->map_len);
	}
}

/* ---- the drain ---- */

/* State of one drain. */
struct drain {
	int64_t deadline;
	uint64_t *expected; /* messages each world rank sent to us */
	size_t expected_len;
	int pending_sends; /* requests still active after the last pass */
	int pending_colls;
	int err; /* first MPI error seen */
	char *why;
	size_t len;
};

static void *drain_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Tests every active request once; counts those still pending. */
static void drain_poll_req(MPI_Request vh, struct shadow_req *r, void *arg)
{
	struct drain *d = arg;
	int rc;

	if (r->state != SHADOW_REQ_ACTIVE)
		return;
	rc = shadow_req_poll(vh, r);
	if (rc != MPI_SUCCESS && !d->err)
		d->err = rc;
	if (r->state == SHADOW_REQ_DONE) {
		shadow_consist_stat.completed++;
		return;
	}
	if (r->kind == SHADOW_REQ_SEND)
		d->pending_sends++;
	else if (r->kind == SHADOW_REQ_COLL)
		d->pending_colls++;
}

/* Receives one message MPI_Iprobe found on @vcomm into a new drained
 * message. Returns 0 or -errno. */
static int drain_receive(struct drain *d, MPI_Comm vcomm, int lh, const MPI_Status *st)
{
	struct drained_msg *m;
	MPI_Request req = MPI_REQUEST_NULL;
	int bytes = 0;
	size_t len;
	int rc;

	shadow_real_MPI_Get_count(st, MPI_PACKED, &bytes);
	len = sizeof(*m) + (size_t)bytes;
	m = drain_map(len);
	if (!m) {
		snprintf(d->why, d->len,
			 "MPI rank %d: no memory (mmap of %zu bytes) for a message "
			 "in flight from rank %d",
			 shadow_consist_rank, len, st->MPI_SOURCE);
		return -ENOMEM;
	}
	m->map_len = len;
	m->comm = vcomm;
	m->source = st->MPI_SOURCE;
	m->tag = st->MPI_TAG;
	m->bytes = bytes;
	rc = shadow_real_MPI_Irecv(m->data, bytes, MPI_PACKED, st->MPI_SOURCE, st->MPI_TAG, lh,
				   &req);
	if (rc == MPI_SUCCESS)
		rc = shadow_consist_ctrl_wait(&req, d->deadline) ? MPI_ERR_OTHER : MPI_SUCCESS;
	if (rc != MPI_SUCCESS) {
		snprintf(d->why, d->len,
			 "MPI rank %d: receiving a %d-byte message in flight from "
			 "rank %d (tag %d) failed or timed out",
			 shadow_consist_rank, bytes, st->MPI_SOURCE, st->MPI_TAG);
		munmap(m, len);
		return -EIO;
	}
	shadow_consist_count_recv(vcomm, st->MPI_SOURCE);
	pthread_mutex_lock(&drained_lock);
	*drained_tail = m;
	drained_tail = &m->next;
	__atomic_add_fetch(&shadow_drained_count, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&drained_lock);
	shadow_consist_stat.drained++;
	shadow_consist_stat.drained_bytes += (uint64_t)bytes;
	return 0;
}

struct drain_probe {
	struct drain *d;
	int rc;
};

/* Receives what is waiting on one communicator. */
static void drain_probe_comm(MPI_Comm vcomm, void *arg)
{
	struct drain_probe *p = arg;
	int lh = shadow_handle_lh(SHADOW_KIND_COMM, vcomm);
	MPI_Status st;
	int flag = 1;

	while (!p->rc && flag) {
		flag = 0;
		if (shadow_real_MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, lh, &flag, &st) !=
		    MPI_SUCCESS)
			return;
		if (flag)
			p->rc = drain_receive(p->d, vcomm, lh, &st);
	}
}

/* The first peer whose messages to us are not all received, -1 if none. */
static int drain_missing(const struct drain *d)
{
	for (int p = 0; p < shadow_consist_size; p++) {
		if (__atomic_load_n(&shadow_consist_recvd[p], __ATOMIC_RELAXED) != d->expected[p])
			return p;
	}
	return -1;
}

static int drain_exchange_counts(struct drain *d)
{
	MPI_Request req = MPI_REQUEST_NULL;
	uint64_t *sent;
	int rc;

	d->expected_len = 2 * (size_t)shadow_consist_size * sizeof(uint64_t);
	d->expected = drain_map(d->expected_len);
	if (!d->expected) {
		snprintf(d->why, d->len, "MPI rank %d: no memory for the drain's counters",
			 shadow_consist_rank);
		return -ENOMEM;
	}
	sent = d->expected + shadow_consist_size;
	for (int p = 0; p < shadow_consist_size; p++)
		sent[p] = __atomic_load_n(&shadow_consist_sent[p], __ATOMIC_RELAXED);
	rc = shadow_real_MPI_Ialltoall(sent, 1, MPI_UINT64_T, d->expected, 1, MPI_UINT64_T,
				       shadow_consist_ctrl, &req);
	if (rc == MPI_SUCCESS)
		rc = shadow_consist_ctrl_wait(&req, d->deadline);
	if (rc) {
		snprintf(d->why, d->len,
			 "MPI rank %d: exchanging message counts over the control "
			 "communicator failed or timed out: is every rank draining?",
			 shadow_consist_rank);
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

/* Until every message sent to this rank is received and this rank's sends
 * and collectives are complete. */
static int drain_receive_all(struct drain *d)
{
	for (;;) {
		struct drain_probe probe = { d, 0 };
		int missing;

		d->pending_sends = 0;
		d->pending_colls = 0;
		shadow_req_each(drain_poll_req, d);
		shadow_consist_comm_each(drain_probe_comm, &probe);
		if (probe.rc)
			return probe.rc;
		missing = drain_missing(d);
		if (missing < 0 && !d->pending_sends && !d->pending_colls)
			return 0;
		if (shadow_consist_now_ms() > d->deadline) {
			if (missing >= 0)
				snprintf(d->why, d->len,
					 "MPI rank %d: drain timed out: rank %d sent "
					 "%llu messages to it, %llu received (a communicator the "
					 "drain does not know?)",
					 shadow_consist_rank, missing,
					 (unsigned long long)d->expected[missing],
					 (unsigned long long)shadow_consist_recvd[missing]);
			else
				snprintf(d->why, d->len,
					 "MPI rank %d: drain timed out with %d sends "
					 "and %d non-blocking collectives still pending",
					 shadow_consist_rank, d->pending_sends, d->pending_colls);
			return -ETIMEDOUT;
		}
	}
}

/* Cancels a receive still pending: it is posted again at resume. */
static void drain_cancel_req(MPI_Request vh, struct shadow_req *r, void *arg)
{
	struct drain *d = arg;
	int lh = shadow_handle_lh(SHADOW_KIND_REQUEST, vh);
	MPI_Status st;
	int cancelled = 0;
	int flag = 0;

	if (r->state != SHADOW_REQ_ACTIVE || r->kind != SHADOW_REQ_RECV)
		return;
	shadow_real_MPI_Cancel(&lh);
	while (!flag && shadow_consist_now_ms() <= d->deadline)
		shadow_real_MPI_Test(&lh, &flag, &st);
	if (!flag) {
		d->err = MPI_ERR_OTHER;
		return;
	}
	shadow_real_MPI_Test_cancelled(&st, &cancelled);
	if (!cancelled) {
		/* It completed after all: a receive like any other. */
		shadow_consist_count_recv(r->comm, st.MPI_SOURCE);
		r->status = st;
		r->err = MPI_SUCCESS;
		if (!r->persistent)
			shadow_handle_set(SHADOW_KIND_REQUEST, vh, SHADOW_REQ_LH_NONE);
		r->state = SHADOW_REQ_DONE;
		return;
	}
	if (!r->persistent)
		shadow_handle_set(SHADOW_KIND_REQUEST, vh, SHADOW_REQ_LH_NONE);
	r->state = SHADOW_REQ_REPOST;
}

static int drain_finish(struct drain *d)
{
	MPI_Request req = MPI_REQUEST_NULL;
	int rc;

	shadow_req_each(drain_cancel_req, d);
	if (d->err) {
		snprintf(d->why, d->len,
			 "MPI rank %d: cancelling a pending receive for the "
			 "checkpoint failed (MPI error %d)",
			 shadow_consist_rank, d->err);
		return -EIO;
	}
	/* No rank leaves while another may still need its progress. */
	rc = shadow_real_MPI_Ibarrier(shadow_consist_ctrl, &req);
	if (rc == MPI_SUCCESS)
		rc = shadow_consist_ctrl_wait(&req, d->deadline);
	if (rc) {
		snprintf(d->why, d->len,
			 "MPI rank %d: the final barrier of the drain failed or "
			 "timed out",
			 shadow_consist_rank);
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

SHADOW_EXPORT int shadow_ckpt_drain(int timeout_ms, char *why, size_t len)
{
	struct drain d = { .deadline = shadow_consist_now_ms() + timeout_ms,
			   .why = why,
			   .len = len };
	int state;
	int rc;

	if (shadow_consist_mpi_gone())
		return 0;
	if (!shadow_consist_cut_state(&state)) {
		snprintf(why, len,
			 "MPI rank %d: drain without a collective cut "
			 "(shadow_ckpt_prepare did not succeed; state %d)",
			 shadow_consist_rank, state);
		return -EPROTO;
	}
	rc = drain_exchange_counts(&d);
	if (!rc)
		rc = drain_receive_all(&d);
	if (!rc)
		rc = drain_finish(&d);
	if (d.expected)
		munmap(d.expected, d.expected_len);
	if (rc)
		return rc;
	shadow_consist_ctrl_fresh = false;
	shadow_consist_set_drained();
	shadow_consist_stat.drains++;
	return 0;
}

/* ---- resume and restart ---- */

struct repost {
	int err;
	bool restart;
};

static void repost_req(MPI_Request vh, struct shadow_req *r, void *arg)
{
	struct repost *rp = arg;
	int rc = MPI_SUCCESS;

	if (rp->restart && r->persistent) {
		rc = shadow_req_persistent_remake(vh, r);
		if (rc == MPI_SUCCESS && r->state == SHADOW_REQ_ACTIVE)
			r->state = SHADOW_REQ_REPOST; /* cannot be: sends end in the drain */
	}
	if (rc == MPI_SUCCESS && r->state == SHADOW_REQ_REPOST) {
		rc = shadow_req_post_recv(vh, r);
		shadow_consist_stat.reposted++;
	}
	if (rc != MPI_SUCCESS && !rp->err)
		rp->err = rc;
}

SHADOW_EXPORT void shadow_ckpt_resume(void)
{
	struct repost rp = { 0, false };

	if (shadow_consist_is_drained())
		shadow_req_each(repost_req, &rp);
	if (rp.err)
		fprintf(stderr,
			"slurm-ckpt: mpi: rank %d: posting a receive again after the "
			"checkpoint failed (MPI error %d); its MPI_Wait will not end\n",
			shadow_consist_rank, rp.err);
	shadow_consist_open();
}

int shadow_consist_restart_requests(char *why, size_t len)
{
	struct repost rp = { 0, true };

	if (!shadow_consist_world_ready())
		return 0;
	if (!shadow_consist_ctrl_fresh && shadow_consist_mpi_initialized(true)) {
		snprintf(why, len,
			 "MPI rank %d: cannot make the control communicator again "
			 "after the restart",
			 shadow_consist_rank);
		return -EIO;
	}
	shadow_req_each(repost_req, &rp);
	if (rp.err) {
		snprintf(why, len,
			 "MPI rank %d: posting a pending receive or making a persistent "
			 "request again after the restart failed (MPI error %d)",
			 shadow_consist_rank, rp.err);
		return -EIO;
	}
	shadow_consist_open();
	return 0;
}
