/* shadow_consist.c - the consistent cut of collectives (shadow_ckpt.h):
 * per-thread "must not be stopped" depth, communicator ids and sequence
 * numbers, the collective gate, the control communicator, MPI_Init /
 * MPI_Init_thread / MPI_Finalize, and shadow_ckpt_prepare.
 *
 * The cut: every collective (and MPI_Finalize, a collective on world)
 * counts a per-communicator sequence number on entry. shadow_ckpt_prepare
 * closes the gate and, in rounds over the control communicator (a private
 * MPI_Comm_dup of world in the lower half), gathers every rank's (id, seq)
 * and sets target = max over the members: a thread may still enter a
 * collective on c while seq[c] < target[c] and waits at the gate otherwise.
 * The cut stands when, in one round, every rank reports seq == target on
 * all its communicators and no thread inside a blocking collective: then
 * every collective entered anywhere has been entered by all its members
 * and none will be entered until shadow_ckpt_resume.
 */
#define SHADOW_CONSIST_INTERNAL
#include "shadow_consist.h"
#include "shadow.h"
#include "shadow_attr.h"
#include "shadow_ckpt.h"
#include "shadow_handle.h"
#include "shadow_real.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

__thread int shadow_consist_depth SHADOW_TLS;
__thread void (*volatile shadow_consist_park)(void) SHADOW_TLS;

int shadow_consist_gate;
int shadow_consist_busy;
struct shadow_consist_stats shadow_consist_stat;
MPI_Comm shadow_consist_ctrl = MPI_COMM_NULL;
int shadow_consist_rank;
int shadow_consist_size;
uint64_t *shadow_consist_sent;
uint64_t *shadow_consist_recvd;

/* Job-wide ids of the predefined communicators. */
#define CONSIST_ID_WORLD 1
#define CONSIST_ID_SELF	 2

/* Where this rank is in the checkpoint protocol. */
enum consist_state {
	CONSIST_IDLE = 0,
	CONSIST_CUT,	    /* prepare running or done: gate closed */
	CONSIST_DRAINED,    /* drain done */
	CONSIST_FINALIZING, /* MPI_Finalize started: no checkpoint until it ends */
	CONSIST_FINALIZED,  /* MPI is gone: checkpoints have nothing to cut */
};

static int consist_state;
static bool consist_ctrl_broken; /* a control collective was left pending */
bool shadow_consist_ctrl_fresh;
static int consist_app_level = MPI_THREAD_SINGLE;
/* The application's thread that initialised MPI (a restart initialises the
 * lower half from libckpt's thread: MPI_Is_thread_main answers for this). */
static pthread_t consist_app_main;

/* One application communicator. */
struct consist_comm {
	uint64_t id;	/* job-wide, agreed by the members; 0 until agreed */
	MPI_Comm vcomm; /* the application's handle */
	int size;
	int *world;	 /* world rank of each rank (NULL: intercommunicator) */
	uint64_t seq;	 /* collectives this rank entered on it */
	uint64_t target; /* during a cut: collectives it may still enter */
	struct consist_comm *next;
};

static struct consist_comm *consist_world;
static struct consist_comm *consist_self;
/* Virtual communicators, indexed like their handles; lookups take no lock. */
static struct consist_comm **consist_comm_chunks[SHADOW_NCHUNKS];
static struct consist_comm *consist_comm_list; /* every live one */
static pthread_mutex_t consist_comm_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t consist_id_counter; /* ids this rank picked */
static MPI_Group consist_world_group = MPI_GROUP_NULL;

/* ---- threads ---- */

void shadow_consist_park_now(void)
{
	void (*park)(void) = shadow_consist_park;

	shadow_consist_park = NULL;
	if (park)
		park();
}

static void consist_nap(long ns)
{
	struct timespec ts = { 0, ns };

	nanosleep(&ts, NULL);
}

void shadow_consist_pause(unsigned *spin)
{
	int depth = shadow_consist_depth;

	shadow_consist_depth = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (shadow_consist_park)
		shadow_consist_park_now();
	/* While a checkpoint cuts, rest here (200 us) where the thread may be
	 * stopped: a stop signal that found it inside and is sent again then
	 * lands outside. Otherwise, 2 cores and 4 busy-polling ranks: let the
	 * peer we wait for run now and then. */
	if (__builtin_expect(__atomic_load_n(&shadow_consist_gate, __ATOMIC_RELAXED), 0))
		consist_nap(200000);
	else if ((++*spin & 15) == 0)
		sched_yield();
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	shadow_consist_depth = depth;
}

/* For libckpt's stop signal handler: > 0 when the calling thread is in
 * code it must not be stopped in (the lower half, or upper-half MPI
 * state). Async-signal-safe. */
SHADOW_EXPORT int shadow_ckpt_thread_in_lh(void)
{
	return shadow_consist_depth;
}

/* For the same handler, when shadow_ckpt_thread_in_lh() > 0: @park runs
 * on this thread as soon as it is at depth 0 again (leaving the library or
 * in a checkpointable wait). Async-signal-safe. */
SHADOW_EXPORT void shadow_ckpt_thread_park_on_exit(void (*park)(void))
{
	shadow_consist_park = park;
}

SHADOW_EXPORT void shadow_consist_stats(struct shadow_consist_stats *out)
{
	*out = shadow_consist_stat;
}

int64_t shadow_consist_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int shadow_consist_ctrl_wait(MPI_Request *lh, int64_t deadline_ms)
{
	int flag = 0;

	for (;;) {
		if (shadow_real_MPI_Test(lh, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS)
			return -EIO;
		if (flag)
			return 0;
		if (shadow_consist_now_ms() > deadline_ms) {
			consist_ctrl_broken = true;
			return -ETIMEDOUT;
		}
		consist_nap(20000);
	}
}

/* ---- communicators ---- */

static struct consist_comm *consist_comm_find(MPI_Comm comm)
{
	uint32_t u = (uint32_t)comm;
	uint32_t idx = u & SHADOW_INDEX_MASK;
	struct consist_comm **chunk;

	if (comm == MPI_COMM_WORLD)
		return consist_world;
	if (comm == MPI_COMM_SELF)
		return consist_self;
	if ((u & SHADOW_TYPE_MASK) != SHADOW_TYPE_VIRTUAL ||
	    ((u >> SHADOW_KIND_SHIFT) & 0xf) != SHADOW_KIND_COMM)
		return NULL;
	chunk = __atomic_load_n(&consist_comm_chunks[idx >> SHADOW_CHUNK_BITS], __ATOMIC_ACQUIRE);
	if (!chunk)
		return NULL;
	return __atomic_load_n(&chunk[idx & (SHADOW_CHUNK_SIZE - 1)], __ATOMIC_ACQUIRE);
}

/* World ranks of the members of lower-half communicator @lh. */
static int *consist_world_ranks(MPI_Comm lh, int size)
{
	MPI_Group group = MPI_GROUP_NULL;
	int *ranks = malloc(2 * (size_t)size * sizeof(*ranks));
	int inter = 0;

	if (!ranks)
		shadow_die("out of memory for the ranks of a communicator of %d", size);
	shadow_real_MPI_Comm_test_inter(lh, &inter);
	if (inter || shadow_real_MPI_Comm_group(lh, &group) != MPI_SUCCESS) {
		free(ranks);
		return NULL;
	}
	for (int i = 0; i < size; i++)
		ranks[size + i] = i;
	shadow_real_MPI_Group_translate_ranks(group, size, ranks + size, consist_world_group,
					      ranks);
	shadow_real_MPI_Group_free(&group);
	return ranks;
}

static struct consist_comm *consist_comm_make(MPI_Comm vcomm, MPI_Comm lh, uint64_t id)
{
	struct consist_comm *c = calloc(1, sizeof(*c));

	if (!c)
		shadow_die("out of memory registering communicator %#x", (unsigned)vcomm);
	c->id = id;
	c->vcomm = vcomm;
	shadow_real_MPI_Comm_size(lh, &c->size);
	c->world = consist_world_ranks(lh, c->size);
	return c;
}

/* Enters @c into the table and the list; under consist_comm_lock. */
static void consist_comm_insert(struct consist_comm *c)
{
	uint32_t idx = (uint32_t)c->vcomm & SHADOW_INDEX_MASK;
	struct consist_comm **chunk = consist_comm_chunks[idx >> SHADOW_CHUNK_BITS];

	if (!chunk) {
		chunk = calloc(SHADOW_CHUNK_SIZE, sizeof(struct consist_comm *));
		if (!chunk)
			shadow_die("out of memory for the communicator table");
		__atomic_store_n(&consist_comm_chunks[idx >> SHADOW_CHUNK_BITS], chunk,
				 __ATOMIC_RELEASE);
	}
	c->next = consist_comm_list;
	consist_comm_list = c;
	__atomic_store_n(&chunk[idx & (SHADOW_CHUNK_SIZE - 1)], c, __ATOMIC_RELEASE);
}

/* A communicator nobody told us about (made before the creation hook was
 * wired, or by a function that does not call it): known from its first
 * use, its id agreed at its first collective. */
static struct consist_comm *consist_comm_get(MPI_Comm comm)
{
	struct consist_comm *c = consist_comm_find(comm);
	int lh;

	if (c || !shadow_consist_world_ready())
		return c;
	lh = shadow_handle_lh(SHADOW_KIND_COMM, comm);
	if (!lh || (uint32_t)lh == (uint32_t)MPI_COMM_NULL)
		return NULL;
	pthread_mutex_lock(&consist_comm_lock);
	c = consist_comm_find(comm);
	if (!c && ((uint32_t)comm & SHADOW_TYPE_MASK) == SHADOW_TYPE_VIRTUAL) {
		c = consist_comm_make(comm, lh, 0);
		consist_comm_insert(c);
	}
	pthread_mutex_unlock(&consist_comm_lock);
	return c;
}

/* Rank 0 of the communicator picks an id no other rank can pick, and
 * tells the others (a collective on lower-half communicator @lh). */
static uint64_t consist_comm_agree_id(MPI_Comm lh)
{
	uint64_t id = 0;
	int rank = 0;

	shadow_real_MPI_Comm_rank(lh, &rank);
	if (rank == 0)
		id = ((uint64_t)(shadow_consist_rank + 1) << 32) |
		     __atomic_add_fetch(&consist_id_counter, 1, __ATOMIC_RELAXED);
	shadow_real_MPI_Bcast(&id, 1, MPI_UINT64_T, 0, lh);
	return id;
}

bool shadow_consist_world_ready(void)
{
	return consist_world != NULL;
}

int shadow_consist_comm_created(MPI_Comm vcomm, MPI_Comm lh, bool replay)
{
	struct consist_comm *c;

	if (!consist_world || (uint32_t)lh == (uint32_t)MPI_COMM_NULL)
		return 0;
	if (replay) {
		/* The entry (id, sequence number) came back with the image. */
		if (consist_comm_find(vcomm))
			return 0;
		c = consist_comm_make(vcomm, lh, 0);
	} else {
		c = consist_comm_make(vcomm, lh, consist_comm_agree_id(lh));
	}
	pthread_mutex_lock(&consist_comm_lock);
	consist_comm_insert(c);
	pthread_mutex_unlock(&consist_comm_lock);
	return 0;
}

void shadow_consist_comm_freed(MPI_Comm vcomm)
{
	uint32_t idx = (uint32_t)vcomm & SHADOW_INDEX_MASK;
	struct consist_comm *c;
	struct consist_comm **p;

	if (((uint32_t)vcomm & SHADOW_TYPE_MASK) != SHADOW_TYPE_VIRTUAL)
		return;
	pthread_mutex_lock(&consist_comm_lock);
	c = consist_comm_find(vcomm);
	if (c) {
		__atomic_store_n(&consist_comm_chunks[idx >> SHADOW_CHUNK_BITS]
						     [idx & (SHADOW_CHUNK_SIZE - 1)],
				 NULL, __ATOMIC_RELEASE);
		for (p = &consist_comm_list; *p; p = &(*p)->next) {
			if (*p == c) {
				*p = c->next;
				break;
			}
		}
	}
	pthread_mutex_unlock(&consist_comm_lock);
	if (!c)
		return;
	shadow_drained_drop_comm(vcomm);
	/* MPI forbids using a communicator while it is freed: no reader left. */
	free(c->world);
	free(c);
}

void shadow_consist_comm_each(void (*fn)(MPI_Comm vcomm, void *arg), void *arg)
{
	for (struct consist_comm *c = consist_comm_list; c; c = c->next)
		fn(c->vcomm, arg);
}

int shadow_consist_world_rank(MPI_Comm comm, int rank)
{
	struct consist_comm *c = consist_comm_get(comm);

	if (!c || !c->world || rank < 0 || rank >= c->size)
		return -1;
	return c->world[rank];
}

void shadow_consist_count_sent(MPI_Comm comm, int rank)
{
	int w = shadow_consist_world_rank(comm, rank);

	if (w >= 0)
		__atomic_fetch_add(&shadow_consist_sent[w], 1, __ATOMIC_RELAXED);
}

void shadow_consist_count_recv(MPI_Comm comm, int rank)
{
	int w = shadow_consist_world_rank(comm, rank);

	if (w >= 0)
		__atomic_fetch_add(&shadow_consist_recvd[w], 1, __ATOMIC_RELAXED);
}

/* ---- the collective gate ---- */

void shadow_consist_coll_wait(MPI_Comm comm)
{
	struct consist_comm *c = consist_comm_get(comm);
	unsigned spin = 0;

	while (__atomic_load_n(&shadow_consist_gate, __ATOMIC_SEQ_CST) && c &&
	       __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) >=
		       __atomic_load_n(&c->target, __ATOMIC_ACQUIRE)) {
		/* Waiting is not being inside: the cut may stand without us. */
		__atomic_fetch_sub(&shadow_consist_busy, 1, __ATOMIC_SEQ_CST);
		shadow_consist_pause(&spin);
		consist_nap(100000);
		__atomic_fetch_add(&shadow_consist_busy, 1, __ATOMIC_SEQ_CST);
	}
}

void shadow_consist_coll_count(MPI_Comm comm)
{
	struct consist_comm *c = consist_comm_get(comm);

	if (!c)
		return; /* not a communicator: the lower half reports the error */
	if (!c->id && c->world) {
		/* First collective on a communicator made without the hook: every
		 * member is at this same point of its collective sequence. */
		c->id = consist_comm_agree_id(shadow_handle_lh(SHADOW_KIND_COMM, comm));
	}
	/* Collectives on one communicator are ordered (MPI): one writer. */
	__atomic_store_n(&c->seq, __atomic_load_n(&c->seq, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
}

/* ---- MPI_Init, MPI_Finalize, the control communicator ---- */

static struct consist_comm *consist_comm_predefined(MPI_Comm vcomm, uint64_t id)
{
	struct consist_comm *c = consist_comm_make(vcomm, vcomm, id);

	c->next = consist_comm_list;
	consist_comm_list = c;
	return c;
}

int shadow_consist_mpi_initialized(bool restart)
{
	int rc;

	rc = shadow_real_MPI_Comm_dup(MPI_COMM_WORLD, &shadow_consist_ctrl);
	if (rc != MPI_SUCCESS) {
		fprintf(stderr,
			"slurm-ckpt: mpi: cannot make the checkpoint's control communicator "
			"(MPI_Comm_dup of MPI_COMM_WORLD: error %d): checkpoints of this rank "
			"will fail\n",
			rc);
		shadow_consist_ctrl = MPI_COMM_NULL;
		return -EIO;
	}
	consist_ctrl_broken = false;
	if (restart) {
		/* world's, self's and the counters' entries came back; the
		 * world group is the new lower half's */
		shadow_consist_ctrl_fresh = true;
		shadow_real_MPI_Comm_group(MPI_COMM_WORLD, &consist_world_group);
		return 0;
	}
	shadow_real_MPI_Comm_rank(MPI_COMM_WORLD, &shadow_consist_rank);
	shadow_real_MPI_Comm_size(MPI_COMM_WORLD, &shadow_consist_size);
	shadow_real_MPI_Comm_group(MPI_COMM_WORLD, &consist_world_group);
	shadow_consist_sent = calloc((size_t)shadow_consist_size, sizeof(uint64_t));
	shadow_consist_recvd = calloc((size_t)shadow_consist_size, sizeof(uint64_t));
	if (!shadow_consist_sent || !shadow_consist_recvd)
		shadow_die("out of memory for message counters of %d ranks", shadow_consist_size);
	pthread_mutex_lock(&consist_comm_lock);
	consist_self = consist_comm_predefined(MPI_COMM_SELF, CONSIST_ID_SELF);
	__atomic_store_n(&consist_world, consist_comm_predefined(MPI_COMM_WORLD, CONSIST_ID_WORLD),
			 __ATOMIC_RELEASE);
	pthread_mutex_unlock(&consist_comm_lock);
	return 0;
}

/* The lower half always runs MPI_THREAD_MULTIPLE: the checkpoint thread
 * talks on the control communicator while application threads run. The
 * application is told the level it asked for, capped by the lower half's. */
SHADOW_EXPORT int PMPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
	int lh_level = MPI_THREAD_SINGLE;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &lh_level);
	if (rc == MPI_SUCCESS) {
		consist_app_level = required < lh_level ? required : lh_level;
		consist_app_main = pthread_self();
		if (provided)
			*provided = consist_app_level;
		if (lh_level < MPI_THREAD_MULTIPLE)
			fprintf(stderr,
				"slurm-ckpt: mpi: the MPI library gives thread level %d, not "
				"MPI_THREAD_MULTIPLE: checkpoints of this rank will fail\n",
				lh_level);
		else
			shadow_consist_mpi_initialized(false);
	}
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
	__attribute__((weak, alias("PMPI_Init_thread")));

SHADOW_EXPORT int PMPI_Init(int *argc, char ***argv)
{
	int provided;

	return PMPI_Init_thread(argc, argv, MPI_THREAD_SINGLE, &provided);
}

SHADOW_EXPORT int MPI_Init(int *argc, char ***argv) __attribute__((weak, alias("PMPI_Init")));

/* The level the application was given, not the lower half's. */
SHADOW_EXPORT int PMPI_Query_thread(int *provided)
{
	*provided = consist_app_level;
	return MPI_SUCCESS;
}

SHADOW_EXPORT int MPI_Query_thread(int *provided) __attribute__((weak, alias("PMPI_Query_thread")));

SHADOW_EXPORT int PMPI_Is_thread_main(int *flag)
{
	*flag = pthread_equal(pthread_self(), consist_app_main);
	return MPI_SUCCESS;
}

SHADOW_EXPORT int MPI_Is_thread_main(int *flag) __attribute__((weak, alias("PMPI_Is_thread_main")));

/* MPI_Finalize is a collective on world: it is counted at the gate like
 * a non-blocking one (a cut may stand with it entered everywhere), then
 * waits until no checkpoint is under way and refuses later ones until it
 * returns (the control communicator goes away with the lower half's MPI);
 * a checkpoint that starts meanwhile fails on this rank, and times out on
 * the others. */
SHADOW_EXPORT int PMPI_Finalize(void)
{
	unsigned spin = 0;
	int idle = CONSIST_IDLE;
	int rc;

	/* As if MPI_COMM_SELF were freed first: its attributes' delete
	 * callbacks run, newest first (MPI 4.0, 11.2.3). */
	rc = shadow_attr_comm_freed(MPI_COMM_SELF, true);
	if (rc != MPI_SUCCESS)
		return rc;
	shadow_consist_enter();
	if (consist_world) {
		shadow_consist_coll_enter(MPI_COMM_WORLD);
		shadow_consist_coll_leave();
		while (!__atomic_compare_exchange_n(&consist_state, &idle, CONSIST_FINALIZING,
						    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			idle = CONSIST_IDLE;
			shadow_consist_pause(&spin);
			consist_nap(100000);
		}
		if (shadow_consist_ctrl != MPI_COMM_NULL)
			shadow_real_MPI_Comm_free(&shadow_consist_ctrl);
	}
	rc = shadow_real_MPI_Finalize();
	if (consist_world)
		__atomic_store_n(&consist_state, CONSIST_FINALIZED, __ATOMIC_SEQ_CST);
	shadow_consist_leave();
	return rc;
}

SHADOW_EXPORT int MPI_Finalize(void) __attribute__((weak, alias("PMPI_Finalize")));

/* ---- the cut ---- */

/* This rank's part of a round: [stable, n, (id, seq) * n]. Stable when the
 * targets of the last round are reached on every communicator and no
 * thread is inside a collective: the sequence numbers are read before the
 * busy count, so a thread that enters after the read saw seq == target. */
static uint64_t *consist_cut_local(bool have_targets, uint64_t *n_out)
{
	uint64_t n = 0;
	uint64_t *v;
	bool stable = have_targets;
	size_t i = 2;

	for (struct consist_comm *c = consist_comm_list; c; c = c->next)
		n += c->id != 0;
	v = calloc(2 + 2 * n, sizeof(*v));
	if (!v)
		return NULL;
	for (struct consist_comm *c = consist_comm_list; c && i < 2 + 2 * n; c = c->next) {
		uint64_t seq = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);

		if (!c->id)
			continue;
		if (seq != __atomic_load_n(&c->target, __ATOMIC_ACQUIRE))
			stable = false;
		v[i++] = c->id;
		v[i++] = seq;
	}
	if (__atomic_load_n(&shadow_consist_busy, __ATOMIC_SEQ_CST))
		stable = false;
	v[0] = stable;
	v[1] = n;
	*n_out = n;
	return v;
}

/* One round: every rank's part, padded to the longest. Returns 0 with
 * *@all (size * (2 + 2 * *@nmax) entries, malloc'd), or -errno. */
static int consist_cut_gather(const uint64_t *mine, uint64_t n, int64_t deadline, uint64_t **all,
			      uint64_t *nmax)
{
	MPI_Request req = MPI_REQUEST_NULL;
	uint64_t *pad;
	int rc;

	if (shadow_real_MPI_Iallreduce(&n, nmax, 1, MPI_UINT64_T, MPI_MAX, shadow_consist_ctrl,
				       &req) != MPI_SUCCESS)
		return -EIO;
	rc = shadow_consist_ctrl_wait(&req, deadline);
	if (rc)
		return rc;
	pad = calloc(2 + 2 * *nmax, sizeof(*pad));
	*all = calloc((size_t)shadow_consist_size * (2 + 2 * *nmax), sizeof(**all));
	if (!pad || !*all) {
		free(pad);
		free(*all);
		return -ENOMEM;
	}
	memcpy(pad, mine, (2 + 2 * n) * sizeof(*pad));
	if (shadow_real_MPI_Iallgather(pad, (int)(2 + 2 * *nmax), MPI_UINT64_T, *all,
				       (int)(2 + 2 * *nmax), MPI_UINT64_T, shadow_consist_ctrl,
				       &req) != MPI_SUCCESS)
		rc = -EIO;
	else
		rc = shadow_consist_ctrl_wait(&req, deadline);
	free(pad);
	if (rc)
		free(*all);
	return rc;
}

/* Sets each communicator's target to the highest sequence number any
 * member reported; true when every rank reported itself stable. */
static bool consist_cut_targets(const uint64_t *all, uint64_t nmax)
{
	size_t stride = 2 + 2 * nmax;
	bool stable = true;

	for (int r = 0; r < shadow_consist_size; r++)
		stable &= all[r * stride] != 0;
	if (stable)
		return true;
	for (struct consist_comm *c = consist_comm_list; c; c = c->next) {
		uint64_t target = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);

		for (int r = 0; r < shadow_consist_size; r++) {
			const uint64_t *v = all + r * stride;

			for (uint64_t i = 0; i < v[1]; i++) {
				if (v[2 + 2 * i] == c->id && v[3 + 2 * i] > target)
					target = v[3 + 2 * i];
			}
		}
		__atomic_store_n(&c->target, target, __ATOMIC_RELEASE);
	}
	return false;
}

/* Lets the application threads catch up with the targets before the next
 * round (up to 20 ms: a thread may be busy elsewhere for long). */
static void consist_cut_settle(int64_t deadline)
{
	int64_t until = shadow_consist_now_ms() + 20;
	bool reached;

	do {
		reached = !__atomic_load_n(&shadow_consist_busy, __ATOMIC_SEQ_CST);
		for (struct consist_comm *c = consist_comm_list; c && reached; c = c->next)
			reached = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE) ==
				  __atomic_load_n(&c->target, __ATOMIC_ACQUIRE);
		if (reached)
			return;
		consist_nap(200000);
	} while (shadow_consist_now_ms() < until && shadow_consist_now_ms() < deadline);
}

static int consist_cut(int timeout_ms, char *why, size_t len)
{
	int64_t deadline = shadow_consist_now_ms() + timeout_ms;
	bool have_targets = false;

	for (;;) {
		uint64_t n;
		uint64_t nmax;
		uint64_t *all = NULL;
		uint64_t *mine;
		bool done;
		int rc;

		pthread_mutex_lock(&consist_comm_lock);
		mine = consist_cut_local(have_targets, &n);
		pthread_mutex_unlock(&consist_comm_lock);
		if (!mine) {
			snprintf(why, len, "out of memory for the collective cut of MPI rank %d",
				 shadow_consist_rank);
			return -ENOMEM;
		}
		rc = consist_cut_gather(mine, n, deadline, &all, &nmax);
		free(mine);
		if (rc) {
			snprintf(why, len,
				 "MPI rank %d: the ranks did not agree on a collective cut "
				 "within %d ms (%s over the control communicator); is every rank "
				 "checkpointing?",
				 shadow_consist_rank, timeout_ms,
				 rc == -ETIMEDOUT ? "timed out" : "error");
			return rc;
		}
		shadow_consist_stat.cut_rounds++;
		pthread_mutex_lock(&consist_comm_lock);
		done = consist_cut_targets(all, nmax);
		pthread_mutex_unlock(&consist_comm_lock);
		free(all);
		if (done)
			return 0;
		have_targets = true;
		consist_cut_settle(deadline);
	}
}

SHADOW_EXPORT int shadow_ckpt_prepare(int timeout_ms, char *why, size_t len)
{
	int idle = CONSIST_IDLE;
	int rc;

	if (shadow_consist_mpi_gone())
		return 0; /* MPI never initialised or finalised: nothing in flight */
	if (!__atomic_compare_exchange_n(&consist_state, &idle, CONSIST_CUT, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		snprintf(why, len, "MPI rank %d is %s: no checkpoint now", shadow_consist_rank,
			 idle == CONSIST_FINALIZING ? "in MPI_Finalize"
						    : "already in a checkpoint (resume it first)");
		return idle == CONSIST_FINALIZING ? -ESHUTDOWN : -EALREADY;
	}
	if (shadow_consist_ctrl == MPI_COMM_NULL || consist_ctrl_broken) {
		snprintf(why, len,
			 "MPI rank %d has no usable control communicator (%s): "
			 "checkpoints of this job cannot be cut",
			 shadow_consist_rank,
			 consist_ctrl_broken ? "an earlier checkpoint timed out in it"
					     : "not MPI_THREAD_MULTIPLE or MPI_Comm_dup failed");
		return -EPROTO;
	}
	pthread_mutex_lock(&consist_comm_lock);
	for (struct consist_comm *c = consist_comm_list; c; c = c->next)
		__atomic_store_n(&c->target, 0, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&consist_comm_lock);
	__atomic_store_n(&shadow_consist_gate, 1, __ATOMIC_SEQ_CST);
	rc = consist_cut(timeout_ms, why, len);
	if (rc == 0)
		shadow_consist_stat.cuts++;
	return rc;
}

bool shadow_consist_mpi_gone(void)
{
	return !consist_world ||
	       __atomic_load_n(&consist_state, __ATOMIC_SEQ_CST) == CONSIST_FINALIZED;
}

bool shadow_consist_cut_state(int *state)
{
	*state = __atomic_load_n(&consist_state, __ATOMIC_SEQ_CST);
	return *state == CONSIST_CUT;
}

void shadow_consist_set_drained(void)
{
	__atomic_store_n(&consist_state, CONSIST_DRAINED, __ATOMIC_SEQ_CST);
}

bool shadow_consist_is_drained(void)
{
	return __atomic_load_n(&consist_state, __ATOMIC_SEQ_CST) == CONSIST_DRAINED;
}

/* Opens the gate (shadow_ckpt_resume, after the drained receives are
 * posted again). */
void shadow_consist_open(void)
{
	int state = __atomic_load_n(&consist_state, __ATOMIC_SEQ_CST);

	__atomic_store_n(&shadow_consist_gate, 0, __ATOMIC_SEQ_CST);
	if (state == CONSIST_CUT || state == CONSIST_DRAINED)
		__atomic_store_n(&consist_state, CONSIST_IDLE, __ATOMIC_SEQ_CST);
}
