/* shadow_consist.h - the consistent cut, the drain and the serving of
 * drained messages (shadow_ckpt.h); included by mpi/ sources only (the
 * generated wrappers too) and, for struct shadow_consist_stats, by tests.
 *
 * Three things every wrapper shares:
 *  - a per-thread depth: > 0 while the thread is inside the shadow library
 *    in a place where it must not be stopped (the lower half, or upper-half
 *    state the drain reads); libckpt's stop signal parks a thread only at
 *    depth 0, otherwise on its way out (shadow_ckpt_thread_park_on_exit);
 *  - the collective gate: closed by shadow_ckpt_prepare, one load when open;
 *  - the request table: what each virtual request is, so the drain can
 *    complete, cancel and post it again.
 */
#ifndef CKPT_MPI_SHADOW_CONSIST_H
#define CKPT_MPI_SHADOW_CONSIST_H

#include "shadow_handle.h"

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

/* What the consistency layer did so far (exported: shadow_consist_stats). */
struct shadow_consist_stats {
	uint64_t cuts;	     /* shadow_ckpt_prepare calls that returned 0 */
	uint64_t cut_rounds; /* agreement rounds over the control communicator */
	uint64_t drains;     /* shadow_ckpt_drain calls that returned 0 */
	uint64_t drained;    /* messages received into upper-half buffers */
	uint64_t drained_bytes;
	uint64_t served;    /* drained messages handed to receives */
	uint64_t completed; /* requests the drains completed */
	uint64_t reposted;  /* receives cancelled at a drain and posted again */
};

#ifdef SHADOW_CONSIST_INTERNAL

#define SHADOW_TLS __attribute__((tls_model("initial-exec")))

/* Depth of the calling thread in code it must not be stopped in. */
extern __thread int shadow_consist_depth SHADOW_TLS;
/* Set by libckpt's signal handler when it hit the thread at depth > 0. */
extern __thread void (*volatile shadow_consist_park)(void) SHADOW_TLS;

void shadow_consist_park_now(void);

static inline void shadow_consist_enter(void)
{
	shadow_consist_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* The park request is read after the depth is stored: a signal before the
 * store saw depth > 0 and left a request; one after it parked at once. */
static inline void shadow_consist_leave(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (--shadow_consist_depth == 0) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (__builtin_expect(shadow_consist_park != 0, 0))
			shadow_consist_park_now();
	}
}

/* A checkpointable wait step: the thread is at depth 0 for a moment (it
 * may be parked here), then yields the CPU every @spin-th call. The caller
 * holds no lock. */
void shadow_consist_pause(unsigned *spin);

/* Collective gate around a collective on application communicator @comm:
 * enter counts it (sequence number), may wait while a checkpoint cuts;
 * leave ends the "inside a collective" mark. */
extern int shadow_consist_gate;
void shadow_consist_coll_wait(MPI_Comm comm);
void shadow_consist_coll_count(MPI_Comm comm);
extern int shadow_consist_busy;

static inline void shadow_consist_coll_enter(MPI_Comm comm)
{
	__atomic_fetch_add(&shadow_consist_busy, 1, __ATOMIC_SEQ_CST);
	if (__builtin_expect(__atomic_load_n(&shadow_consist_gate, __ATOMIC_SEQ_CST), 0))
		shadow_consist_coll_wait(comm);
	shadow_consist_coll_count(comm);
}

static inline void shadow_consist_coll_leave(void)
{
	__atomic_fetch_sub(&shadow_consist_busy, 1, __ATOMIC_RELEASE);
}

/* ---- requests (shadow_p2p.c) ---- */

enum shadow_req_kind {
	SHADOW_REQ_SEND = 1,
	SHADOW_REQ_RECV,
	SHADOW_REQ_COLL,
};

enum shadow_req_state {
	SHADOW_REQ_FREE = 0, /* slot unused */
	SHADOW_REQ_ACTIVE,   /* pending in the lower half */
	SHADOW_REQ_DONE,     /* complete, status kept here, not yet returned */
	SHADOW_REQ_INACTIVE, /* persistent, not started */
	SHADOW_REQ_REPOST,   /* receive cancelled by a drain: post again */
};

enum shadow_send_mode {
	SHADOW_SEND_STD = 0,
	SHADOW_SEND_SYNC,
	SHADOW_SEND_READY,
};

/* What a virtual request is; indexed like the request's virtual handle. */
struct shadow_req {
	uint8_t state;	 /* enum shadow_req_state */
	uint8_t kind;	 /* enum shadow_req_kind */
	uint8_t mode;	 /* enum shadow_send_mode, sends */
	bool persistent; /* made by *_init: survives completion */
	int count;
	int peer; /* destination or source, rank in comm */
	int tag;
	MPI_Datatype type; /* application's handles */
	MPI_Comm comm;
	void *buf;
	int err;	   /* when DONE: the MPI error the completion returns */
	MPI_Status status; /* when DONE */
	void *owned;	   /* malloc'd memory the lower half reads until the
			    * request completes (shadow_coll_types.c), freed then */
};

/* Lower-half value of a virtual request that has none (completed in the
 * upper half, or cancelled for a checkpoint): never passed to MPICH. */
#define SHADOW_REQ_LH_NONE ((int)0xefffffffu)

/* The entry of live virtual request @req, NULL when it has none (not
 * virtual, or made by code that does not register requests). */
struct shadow_req *shadow_req_of(MPI_Request req);

/* A new virtual request for lower-half request @lh, recorded as @r. */
MPI_Request shadow_req_new(shadow_lh_t lh, const struct shadow_req *r);

/* The generated non-blocking collectives record their request with this. */
MPI_Request shadow_req_new_coll(shadow_lh_t lh, MPI_Comm comm);

/* Calls @fn on every live request entry (drain, resume, restart; no
 * application thread runs then). */
void shadow_req_each(void (*fn)(MPI_Request vh, struct shadow_req *r, void *arg), void *arg);

/* Tests an ACTIVE request once in the lower half; on completion stores the
 * status, counts a receive, and makes it DONE. Returns an MPI error code. */
int shadow_req_poll(MPI_Request vh, struct shadow_req *r);

/* Posts receive @r (REPOST, or persistent) again: served from the drained
 * messages when one matches, else in the lower half. Returns an MPI code. */
int shadow_req_post_recv(MPI_Request vh, struct shadow_req *r);

/* Makes persistent request @r again in a new lower half (restart). */
int shadow_req_persistent_remake(MPI_Request vh, struct shadow_req *r);

/* ---- communicators and counters (shadow_consist.c) ---- */

/* World rank of rank @rank of application communicator @comm, -1 if
 * @rank is not a rank (MPI_PROC_NULL, out of range). */
int shadow_consist_world_rank(MPI_Comm comm, int rank);

/* Counts a message sent to / received from @rank of @comm. */
void shadow_consist_count_sent(MPI_Comm comm, int rank);
void shadow_consist_count_recv(MPI_Comm comm, int rank);

/* Calls @fn for every live application communicator. */
void shadow_consist_comm_each(void (*fn)(MPI_Comm vcomm, void *arg), void *arg);

extern struct shadow_consist_stats shadow_consist_stat;

/* True once MPI_Init registered world (the counters exist). */
bool shadow_consist_world_ready(void);

/* True before MPI_Init and after MPI_Finalize: nothing to cut or drain. */
bool shadow_consist_mpi_gone(void);

/* Checkpoint protocol state (prepare -> drain -> resume). */
bool shadow_consist_cut_state(int *state);
void shadow_consist_set_drained(void);
bool shadow_consist_is_drained(void);
void shadow_consist_open(void);
/* Set when the control communicator was made again at restart. */
extern bool shadow_consist_ctrl_fresh;

/* The control communicator (lower-half handle), and this rank and the
 * world size. */
extern MPI_Comm shadow_consist_ctrl;
extern int shadow_consist_rank;
extern int shadow_consist_size;
/* Messages sent to / received from each world rank, since MPI_Init. */
extern uint64_t *shadow_consist_sent;
extern uint64_t *shadow_consist_recvd;

/* ---- drained messages (shadow_drain.c) ---- */

/* Number of drained messages not yet served: the fast path reads it. */
extern int shadow_drained_count;

/* Unpacks @nbytes of MPI_PACKED @data (from @source, @tag) into @buf:
 * whole elements of @type, at most @count; fills @st; MPI_ERR_TRUNCATE
 * when the message is longer. */
int shadow_packed_unpack(const void *data, int64_t nbytes, int source, int tag, void *buf,
			 int count, MPI_Datatype type, MPI_Status *st);

/* Takes the first drained message matching (@comm, @source, @tag) out of
 * the list into a malloc'ed copy of its bytes (matched probes). Returns 1
 * with *@data, *@bytes, *@src_out, *@tag_out set, 0 when none matches,
 * -ENOMEM (the message stays drained). */
int shadow_drained_copy_out(MPI_Comm comm, int source, int tag, void **data, int64_t *bytes,
			    int *src_out, int *tag_out);

/* Serves the first drained message matching (@comm, @source, @tag) into
 * @buf/@count/@type, removing it; *@found tells whether one matched.
 * Returns MPI_SUCCESS or MPI_ERR_TRUNCATE (status says so too). */
int shadow_drained_take(MPI_Comm comm, int source, int tag, void *buf, int count, MPI_Datatype type,
			MPI_Status *status, bool *found);

/* The status of the first drained message matching, without taking it. */
bool shadow_drained_peek(MPI_Comm comm, int source, int tag, MPI_Status *status);

/* Drops the drained messages of a freed communicator. */
void shadow_drained_drop_comm(MPI_Comm comm);

/* Status for @bytes bytes from @source with @tag (MPICH's layout). */
void shadow_status_set(MPI_Status *st, int source, int tag, int64_t bytes, int err);

/* Empty status (MPI 3.1 sec. 3.7.3). */
void shadow_status_empty(MPI_Status *st);

/* Monotonic milliseconds. */
int64_t shadow_consist_now_ms(void);

/* Waits for lower-half request @lh (the checkpoint thread's own traffic on
 * the control communicator) until @deadline_ms; 0 or -ETIMEDOUT / -EIO. */
int shadow_consist_ctrl_wait(MPI_Request *lh, int64_t deadline_ms);

#endif /* SHADOW_CONSIST_INTERNAL */

#endif
