/* shadow_mprobe.c - matched probes (MPI_Mprobe, MPI_Improbe, MPI_Mrecv,
 * MPI_Imrecv) that a checkpoint can happen between.
 *
 * A message matched by MPI_Mprobe belongs to no receive yet, and MPICH keeps
 * it as lower-half state that a restart would lose. So a matched probe here
 * receives the message at once, as MPI_PACKED, into upper-half memory (a
 * drained message, if one matches, is taken first, in MPI order); the
 * MPI_Message the application gets names that copy, and MPI_Mrecv unpacks it
 * with the receiver's datatype. A checkpoint between the two saves the copy
 * with the rest of the application. The cost is one copy of the message:
 * matched probes serve messages of unknown size, where it is small beside
 * the allocation the application makes after the probe.
 */
#define SHADOW_CONSIST_INTERNAL
#include "shadow_consist.h"
#include "shadow.h"
#include "shadow_handle.h"
#include "shadow_real.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SHADOW_EXPORT __attribute__((visibility("default")))

/* Message handles: virtual type bits, kind 0xc (MPICH uses none for
 * messages, which are requests there), and an index into mprobe_msgs. */
#define MPROBE_HANDLE_BASE 0xf0000000u
#define MPROBE_INDEX_MASK  0x03ffffffu

/* A matched message, received into the upper half. */
struct mprobe_msg {
	void *data; /* MPI_PACKED bytes (malloc) */
	int64_t bytes;
	int source; /* rank in the communicator it came on */
	int tag;
};

static struct mprobe_msg **mprobe_msgs; /* NULL slots are free */
static size_t mprobe_cap;
static pthread_mutex_t mprobe_lock = PTHREAD_MUTEX_INITIALIZER;

/* Stores @m under a new message handle; MPI_MESSAGE_NULL when out of memory. */
static MPI_Message mprobe_handle_new(struct mprobe_msg *m)
{
	MPI_Message h = MPI_MESSAGE_NULL;

	pthread_mutex_lock(&mprobe_lock);
	for (size_t i = 0; i < mprobe_cap; i++) {
		if (!mprobe_msgs[i]) {
			mprobe_msgs[i] = m;
			h = (MPI_Message)(MPROBE_HANDLE_BASE | (uint32_t)i);
			goto out;
		}
	}
	size_t cap = mprobe_cap ? 2 * mprobe_cap : 16;
	struct mprobe_msg **grown =
		cap <= MPROBE_INDEX_MASK ? realloc(mprobe_msgs, cap * sizeof(struct mprobe_msg *))
					 : NULL;

	if (grown) {
		memset(grown + mprobe_cap, 0, (cap - mprobe_cap) * sizeof(struct mprobe_msg *));
		grown[mprobe_cap] = m;
		h = (MPI_Message)(MPROBE_HANDLE_BASE | (uint32_t)mprobe_cap);
		mprobe_msgs = grown;
		mprobe_cap = cap;
	}
out:
	pthread_mutex_unlock(&mprobe_lock);
	return h;
}

/* Takes the message of handle @h out of the table; NULL if @h is none. */
static struct mprobe_msg *mprobe_handle_take(MPI_Message h)
{
	uint32_t u = (uint32_t)h;
	uint32_t idx = u & MPROBE_INDEX_MASK;
	struct mprobe_msg *m = NULL;

	if ((u & ~MPROBE_INDEX_MASK) != MPROBE_HANDLE_BASE)
		return NULL;
	pthread_mutex_lock(&mprobe_lock);
	if (idx < mprobe_cap) {
		m = mprobe_msgs[idx];
		mprobe_msgs[idx] = NULL;
	}
	pthread_mutex_unlock(&mprobe_lock);
	return m;
}

/* Status of a matched message (what MPI_Mprobe reports). */
static void mprobe_status(const struct mprobe_msg *m, MPI_Status *status)
{
	if (status && status != MPI_STATUS_IGNORE)
		shadow_status_set(status, m->source, m->tag, m->bytes, MPI_SUCCESS);
}

/* The first drained message matching, as a matched message. Returns 1, 0
 * when none matches, or -1 with the MPI error in *@err. */
static int mprobe_from_drained(int source, int tag, MPI_Comm comm, struct mprobe_msg *m, int *err)
{
	int ret;

	if (!__atomic_load_n(&shadow_drained_count, __ATOMIC_RELAXED))
		return 0;
	ret = shadow_drained_copy_out(comm, source, tag, &m->data, &m->bytes, &m->source, &m->tag);
	if (ret < 0) {
		*err = MPI_ERR_NO_MEM;
		return -1;
	}
	return ret;
}

/* One matched probe in the lower half: on a match, the message is received
 * as MPI_PACKED into @m and counted. Returns 1, 0 (no message), or -1 with
 * the MPI error in *@err. */
static int mprobe_from_lower(int source, int tag, MPI_Comm comm, struct mprobe_msg *m, int *err)
{
	MPI_Message lh_msg = MPI_MESSAGE_NULL;
	MPI_Status st;
	int flag = 0;
	int count = 0;
	int rc;

	rc = shadow_real_MPI_Improbe(source, tag, shadow_handle_lh(SHADOW_KIND_COMM, comm), &flag,
				     &lh_msg, &st);
	if (rc == MPI_SUCCESS && !flag)
		return 0;
	if (rc == MPI_SUCCESS)
		rc = shadow_real_MPI_Get_count(&st, MPI_PACKED, &count);
	if (rc != MPI_SUCCESS) {
		*err = rc;
		return -1;
	}
	m->data = malloc(count ? (size_t)count : 1);
	if (!m->data) {
		*err = MPI_ERR_NO_MEM; /* the message stays matched in the lower half: lost */
		return -1;
	}
	rc = shadow_real_MPI_Mrecv(m->data, count, MPI_PACKED, &lh_msg, &st);
	if (rc != MPI_SUCCESS) {
		free(m->data);
		m->data = NULL;
		*err = rc;
		return -1;
	}
	m->bytes = count;
	m->source = st.MPI_SOURCE;
	m->tag = st.MPI_TAG;
	shadow_consist_count_recv(comm, st.MPI_SOURCE);
	return 1;
}

/* One attempt of a matched probe: fills *@message and @status on a match
 * (*@flag 1). Returns an MPI error code. */
static int mprobe_once(int source, int tag, MPI_Comm comm, int *flag, MPI_Message *message,
		       MPI_Status *status)
{
	struct mprobe_msg m = { 0 };
	struct mprobe_msg *copy;
	int err = MPI_SUCCESS;
	int ret;

	*flag = 0;
	if (source == MPI_PROC_NULL) {
		*flag = 1;
		*message = MPI_MESSAGE_NO_PROC;
		if (status && status != MPI_STATUS_IGNORE)
			shadow_status_set(status, MPI_PROC_NULL, MPI_ANY_TAG, 0, MPI_SUCCESS);
		return MPI_SUCCESS;
	}
	ret = mprobe_from_drained(source, tag, comm, &m, &err);
	if (ret == 0)
		ret = mprobe_from_lower(source, tag, comm, &m, &err);
	if (ret <= 0)
		return ret == 0 ? MPI_SUCCESS : err;
	copy = malloc(sizeof(*copy));
	if (copy) {
		*copy = m;
		*message = mprobe_handle_new(copy);
	}
	if (!copy || *message == MPI_MESSAGE_NULL) {
		free(m.data);
		free(copy);
		return MPI_ERR_NO_MEM;
	}
	*flag = 1;
	mprobe_status(copy, status);
	return MPI_SUCCESS;
}

SHADOW_EXPORT int PMPI_Improbe(int source, int tag, MPI_Comm comm, int *flag, MPI_Message *message,
			       MPI_Status *status)
{
	int rc;

	shadow_consist_enter();
	rc = mprobe_once(source, tag, comm, flag, message, status);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int PMPI_Mprobe(int source, int tag, MPI_Comm comm, MPI_Message *message,
			      MPI_Status *status)
{
	unsigned spin = 0;
	int flag = 0;
	int rc;

	shadow_consist_enter();
	for (;;) {
		rc = mprobe_once(source, tag, comm, &flag, message, status);
		if (rc != MPI_SUCCESS || flag)
			break;
		shadow_consist_pause(&spin);
	}
	shadow_consist_leave();
	return rc;
}

/* Unpacks the matched message *@message into @buf and frees it. */
static int mrecv_now(void *buf, int count, MPI_Datatype type, MPI_Message *message, MPI_Status *st)
{
	struct mprobe_msg *m;
	int rc;

	if (*message == MPI_MESSAGE_NO_PROC) {
		shadow_status_set(st, MPI_PROC_NULL, MPI_ANY_TAG, 0, MPI_SUCCESS);
		*message = MPI_MESSAGE_NULL;
		return MPI_SUCCESS;
	}
	m = mprobe_handle_take(*message);
	if (!m)
		return MPI_ERR_REQUEST; /* not a message from a matched probe */
	rc = shadow_packed_unpack(m->data, m->bytes, m->source, m->tag, buf, count, type, st);
	free(m->data);
	free(m);
	*message = MPI_MESSAGE_NULL;
	return rc;
}

SHADOW_EXPORT int PMPI_Mrecv(void *buf, int count, MPI_Datatype datatype, MPI_Message *message,
			     MPI_Status *status)
{
	MPI_Status st;
	int rc;

	shadow_consist_enter();
	rc = mrecv_now(buf, count, datatype, message, &st);
	if (status && status != MPI_STATUS_IGNORE)
		*status = st;
	shadow_consist_leave();
	return rc;
}

/* The message is in the upper half already: the request is complete. */
SHADOW_EXPORT int PMPI_Imrecv(void *buf, int count, MPI_Datatype datatype, MPI_Message *message,
			      MPI_Request *request)
{
	struct shadow_req r = { .state = SHADOW_REQ_DONE,
				.kind = SHADOW_REQ_RECV,
				.count = count,
				.type = datatype,
				.buf = buf };
	int rc;

	shadow_consist_enter();
	rc = mrecv_now(buf, count, datatype, message, &r.status);
	if (rc == MPI_SUCCESS || rc == MPI_ERR_TRUNCATE) {
		r.err = rc;
		*request = shadow_req_new(SHADOW_REQ_LH_NONE, &r);
		rc = MPI_SUCCESS;
	}
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int MPI_Improbe(int source, int tag, MPI_Comm comm, int *flag, MPI_Message *message,
			      MPI_Status *status) __attribute__((weak, alias("PMPI_Improbe")));
SHADOW_EXPORT int MPI_Mprobe(int source, int tag, MPI_Comm comm, MPI_Message *message,
			     MPI_Status *status) __attribute__((weak, alias("PMPI_Mprobe")));
SHADOW_EXPORT int MPI_Mrecv(void *buf, int count, MPI_Datatype datatype, MPI_Message *message,
			    MPI_Status *status) __attribute__((weak, alias("PMPI_Mrecv")));
SHADOW_EXPORT int MPI_Imrecv(void *buf, int count, MPI_Datatype datatype, MPI_Message *message,
			     MPI_Request *request) __attribute__((weak, alias("PMPI_Imrecv")));
