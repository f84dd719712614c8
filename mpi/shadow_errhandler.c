/* shadow_errhandler.c - user error handlers of communicators
 * (MPI_Comm_create_errhandler, MPI_Errhandler_create).
 *
 * The lower half calls an error handler with its own communicator handle,
 * so it gets a trampoline of ours, which hands the application's function
 * the application's handle. A slot (one trampoline) belongs to one handler
 * for the life of the process: a communicator keeps calling a handler
 * after MPI_Errhandler_free, and a restart makes each handler again in its
 * slot from the replay log (shadow_errhandler_replay_create). 16 slots are
 * far above what applications create; the 17th stops the job naming the
 * limit.
 */
#define SHADOW_CONSIST_INTERNAL
#include "shadow.h"
#include "shadow_consist.h"
#include "shadow_handle.h"
#include "shadow_real.h"
#include "shadow_replay.h"

#include <pthread.h>

#define SHADOW_ERRH_SLOTS 16

static MPI_Comm_errhandler_function *shadow_errh_fns[SHADOW_ERRH_SLOTS];
static pthread_mutex_t shadow_errh_lock = PTHREAD_MUTEX_INITIALIZER;

static void shadow_errh_call(int slot, MPI_Comm *lh_comm, int *code)
{
	MPI_Comm comm = shadow_handle_from_lh(SHADOW_KIND_COMM, *lh_comm);

	shadow_errh_fns[slot](&comm, code);
}

/* One distinct function per slot: the lower half passes no context. The
 * variadic arguments MPICH may add are implementation-specific and not
 * passed on (MPI 4.0, 9.3: the handler gets the communicator and code). */
#define SHADOW_ERRH_TRAMPOLINE(n)                                         \
	static void shadow_errh_tramp_##n(MPI_Comm *comm, int *code, ...) \
	{                                                                 \
		shadow_errh_call(n, comm, code);                          \
	}
SHADOW_ERRH_TRAMPOLINE(0)
SHADOW_ERRH_TRAMPOLINE(1)
SHADOW_ERRH_TRAMPOLINE(2)
SHADOW_ERRH_TRAMPOLINE(3)
SHADOW_ERRH_TRAMPOLINE(4)
SHADOW_ERRH_TRAMPOLINE(5)
SHADOW_ERRH_TRAMPOLINE(6)
SHADOW_ERRH_TRAMPOLINE(7)
SHADOW_ERRH_TRAMPOLINE(8)
SHADOW_ERRH_TRAMPOLINE(9)
SHADOW_ERRH_TRAMPOLINE(10)
SHADOW_ERRH_TRAMPOLINE(11)
SHADOW_ERRH_TRAMPOLINE(12)
SHADOW_ERRH_TRAMPOLINE(13)
SHADOW_ERRH_TRAMPOLINE(14)
SHADOW_ERRH_TRAMPOLINE(15)

static MPI_Comm_errhandler_function *const shadow_errh_tramps[SHADOW_ERRH_SLOTS] = {
	shadow_errh_tramp_0,  shadow_errh_tramp_1,  shadow_errh_tramp_2,  shadow_errh_tramp_3,
	shadow_errh_tramp_4,  shadow_errh_tramp_5,  shadow_errh_tramp_6,  shadow_errh_tramp_7,
	shadow_errh_tramp_8,  shadow_errh_tramp_9,  shadow_errh_tramp_10, shadow_errh_tramp_11,
	shadow_errh_tramp_12, shadow_errh_tramp_13, shadow_errh_tramp_14, shadow_errh_tramp_15,
};

SHADOW_EXPORT int PMPI_Comm_create_errhandler(MPI_Comm_errhandler_function *comm_errhandler_fn,
					      MPI_Errhandler *errhandler)
{
	struct replay_rec r = replay_rec_init(REPLAY_ERRHANDLER_CREATE, 0, 0);
	MPI_Errhandler lh = MPI_ERRHANDLER_NULL;
	int slot;
	int rc;

	if (!comm_errhandler_fn || !errhandler)
		return MPI_ERR_ARG;
	shadow_consist_enter();
	pthread_mutex_lock(&shadow_errh_lock);
	for (slot = 0; slot < SHADOW_ERRH_SLOTS && shadow_errh_fns[slot]; slot++)
		;
	if (slot == SHADOW_ERRH_SLOTS)
		shadow_die("MPI_Comm_create_errhandler: more than %d user error handlers",
			   SHADOW_ERRH_SLOTS);
	rc = shadow_real_MPI_Comm_create_errhandler(shadow_errh_tramps[slot], &lh);
	if (rc == MPI_SUCCESS)
		shadow_errh_fns[slot] = comm_errhandler_fn;
	pthread_mutex_unlock(&shadow_errh_lock);
	if (rc != MPI_SUCCESS)
		return replay_leave(rc);
	/* Appended outside the lock: replay takes the log's lock first. */
	r.num[0] = slot;
	*errhandler = replay_local_made(&r, SHADOW_KIND_ERRHANDLER, lh);
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Comm_create_errhandler(MPI_Comm_errhandler_function *comm_errhandler_fn,
					     MPI_Errhandler *errhandler)
	__attribute__((weak, alias("PMPI_Comm_create_errhandler")));

/* The MPI-1 name (deprecated, still in MPICH's C binding). */
SHADOW_EXPORT int PMPI_Errhandler_create(MPI_Comm_errhandler_function *comm_errhandler_fn,
					 MPI_Errhandler *errhandler)
{
	return PMPI_Comm_create_errhandler(comm_errhandler_fn, errhandler);
}

SHADOW_EXPORT int MPI_Errhandler_create(MPI_Comm_errhandler_function *comm_errhandler_fn,
					MPI_Errhandler *errhandler)
	__attribute__((weak, alias("PMPI_Errhandler_create")));

int shadow_errhandler_replay_create(int slot, MPI_Errhandler verrh)
{
	MPI_Errhandler lh = MPI_ERRHANDLER_NULL;
	int rc;

	if (slot < 0 || slot >= SHADOW_ERRH_SLOTS || !shadow_errh_fns[slot])
		return MPI_ERR_INTERN;
	rc = shadow_real_MPI_Comm_create_errhandler(shadow_errh_tramps[slot], &lh);
	if (rc == MPI_SUCCESS)
		shadow_handle_set(SHADOW_KIND_ERRHANDLER, verrh, lh);
	return rc;
}
