/* shadow_custom.c - MPI functions the generator cannot write: those taking
 * callbacks the lower half calls with its own handles, and variadic ones. */
#define SHADOW_CONSIST_INTERNAL
#include "shadow.h"
#include "shadow_ckpt.h"
#include "shadow_consist.h"
#include "shadow_handle.h"
#include "shadow_real.h"
#include "shadow_replay.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* User reduction operations: the lower half calls a trampoline of ours,
 * which hands the user function the application's datatype handle. The
 * number of trampolines bounds the live user operations; 32 is far above
 * what applications create. */
#define SHADOW_OP_SLOTS 32

struct shadow_op_slot {
	MPI_User_function *fn; /* the application's function; NULL: slot free */
	int lh_op;	       /* the lower half's handle of the operation */
};

static struct shadow_op_slot shadow_ops[SHADOW_OP_SLOTS];
static pthread_mutex_t shadow_op_lock = PTHREAD_MUTEX_INITIALIZER;

static void shadow_op_call(int slot, void *in, void *inout, int *len, MPI_Datatype *lh_type)
{
	MPI_Datatype type = shadow_handle_from_lh(SHADOW_KIND_DATATYPE, *lh_type);

	shadow_ops[slot].fn(in, inout, len, &type);
}

/* One distinct function per slot: the lower half passes no context. */
#define SHADOW_OP_TRAMPOLINE(n)                                                              \
	static void shadow_op_tramp_##n(void *in, void *inout, int *len, MPI_Datatype *type) \
	{                                                                                    \
		shadow_op_call(n, in, inout, len, type);                                     \
	}
SHADOW_OP_TRAMPOLINE(0)
SHADOW_OP_TRAMPOLINE(1)
SHADOW_OP_TRAMPOLINE(2)
SHADOW_OP_TRAMPOLINE(3)
SHADOW_OP_TRAMPOLINE(4)
SHADOW_OP_TRAMPOLINE(5)
SHADOW_OP_TRAMPOLINE(6)
SHADOW_OP_TRAMPOLINE(7)
SHADOW_OP_TRAMPOLINE(8)
SHADOW_OP_TRAMPOLINE(9)
SHADOW_OP_TRAMPOLINE(10)
SHADOW_OP_TRAMPOLINE(11)
SHADOW_OP_TRAMPOLINE(12)
SHADOW_OP_TRAMPOLINE(13)
SHADOW_OP_TRAMPOLINE(14)
SHADOW_OP_TRAMPOLINE(15)
SHADOW_OP_TRAMPOLINE(16)
SHADOW_OP_TRAMPOLINE(17)
SHADOW_OP_TRAMPOLINE(18)
SHADOW_OP_TRAMPOLINE(19)
SHADOW_OP_TRAMPOLINE(20)
SHADOW_OP_TRAMPOLINE(21)
SHADOW_OP_TRAMPOLINE(22)
SHADOW_OP_TRAMPOLINE(23)
SHADOW_OP_TRAMPOLINE(24)
SHADOW_OP_TRAMPOLINE(25)
SHADOW_OP_TRAMPOLINE(26)
SHADOW_OP_TRAMPOLINE(27)
SHADOW_OP_TRAMPOLINE(28)
SHADOW_OP_TRAMPOLINE(29)
SHADOW_OP_TRAMPOLINE(30)
SHADOW_OP_TRAMPOLINE(31)

static MPI_User_function *const shadow_op_tramps[SHADOW_OP_SLOTS] = {
	shadow_op_tramp_0,  shadow_op_tramp_1,	shadow_op_tramp_2,  shadow_op_tramp_3,
	shadow_op_tramp_4,  shadow_op_tramp_5,	shadow_op_tramp_6,  shadow_op_tramp_7,
	shadow_op_tramp_8,  shadow_op_tramp_9,	shadow_op_tramp_10, shadow_op_tramp_11,
	shadow_op_tramp_12, shadow_op_tramp_13, shadow_op_tramp_14, shadow_op_tramp_15,
	shadow_op_tramp_16, shadow_op_tramp_17, shadow_op_tramp_18, shadow_op_tramp_19,
	shadow_op_tramp_20, shadow_op_tramp_21, shadow_op_tramp_22, shadow_op_tramp_23,
	shadow_op_tramp_24, shadow_op_tramp_25, shadow_op_tramp_26, shadow_op_tramp_27,
	shadow_op_tramp_28, shadow_op_tramp_29, shadow_op_tramp_30, shadow_op_tramp_31,
};

SHADOW_EXPORT int PMPI_Op_create(MPI_User_function *user_fn, int commute, MPI_Op *op)
{
	struct replay_rec r = replay_rec_init(REPLAY_OP_CREATE, 0, 0);
	int slot;
	int lh_op = MPI_OP_NULL;
	int rc;

	shadow_consist_enter();
	pthread_mutex_lock(&shadow_op_lock);
	for (slot = 0; slot < SHADOW_OP_SLOTS && shadow_ops[slot].fn; slot++)
		;
	if (slot == SHADOW_OP_SLOTS)
		shadow_die("MPI_Op_create: more than %d user operations at once", SHADOW_OP_SLOTS);
	rc = shadow_real_MPI_Op_create(user_fn ? shadow_op_tramps[slot] : NULL, commute,
				       op ? &lh_op : NULL);
	if (rc == MPI_SUCCESS && op) {
		shadow_ops[slot].fn = user_fn;
		shadow_ops[slot].lh_op = lh_op;
		*op = shadow_handle_new(SHADOW_KIND_OP, lh_op);
	}
	pthread_mutex_unlock(&shadow_op_lock);
	/* A restart makes it again in the same slot (shadow_op_replay_create).
	 * Appended outside shadow_op_lock: replay takes the log's lock first. */
	if (rc == MPI_SUCCESS && op) {
		r.handle = *op;
		r.num[0] = slot;
		r.num[1] = commute;
		replay_log_append(&r);
	}
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Op_create(MPI_User_function *user_fn, int commute, MPI_Op *op)
	__attribute__((weak, alias("PMPI_Op_create")));

SHADOW_EXPORT int PMPI_Op_free(MPI_Op *op)
{
	int lh_op = op ? shadow_handle_lh(SHADOW_KIND_OP, *op) : MPI_OP_NULL;
	int old = lh_op;
	int rc;

	shadow_consist_enter();
	rc = shadow_real_MPI_Op_free(op ? &lh_op : NULL);
	if (rc == MPI_SUCCESS && op) {
		pthread_mutex_lock(&shadow_op_lock);
		for (int slot = 0; slot < SHADOW_OP_SLOTS; slot++) {
			if (shadow_ops[slot].fn && shadow_ops[slot].lh_op == old)
				shadow_ops[slot].fn = NULL;
		}
		pthread_mutex_unlock(&shadow_op_lock);
		replay_local_changed(REPLAY_OP_FREE, SHADOW_KIND_OP, op, lh_op);
	}
	return replay_leave(rc);
}

SHADOW_EXPORT int MPI_Op_free(MPI_Op *op) __attribute__((weak, alias("PMPI_Op_free")));

int shadow_op_replay_create(int slot, int commute, MPI_Op vop)
{
	int lh_op = MPI_OP_NULL;
	int rc;

	if (slot < 0 || slot >= SHADOW_OP_SLOTS)
		return MPI_ERR_INTERN;
	rc = shadow_real_MPI_Op_create(shadow_op_tramps[slot], commute, &lh_op);
	if (rc != MPI_SUCCESS)
		return rc;
	/* the slot's function is the application's still (or again, when a
	 * later record frees this op and makes another in the slot) */
	pthread_mutex_lock(&shadow_op_lock);
	shadow_ops[slot].lh_op = lh_op;
	pthread_mutex_unlock(&shadow_op_lock);
	shadow_handle_set(SHADOW_KIND_OP, vop, lh_op);
	return MPI_SUCCESS;
}

int shadow_op_replay_free(MPI_Op vop)
{
	int lh_op = shadow_handle_lh(SHADOW_KIND_OP, vop);

	return shadow_real_MPI_Op_free(&lh_op);
}

/* Profiling control: MPICH ignores it, and so do we. */
SHADOW_EXPORT int PMPI_Pcontrol(const int level, ...)
{
	(void)level;
	return MPI_SUCCESS;
}

SHADOW_EXPORT int MPI_Pcontrol(const int level, ...) __attribute__((weak, alias("PMPI_Pcontrol")));

/* Ends the job after a message was printed: through the lower half's
 * MPI_Abort when MPI runs, so that the other ranks stop too. */
__attribute__((noreturn)) static void shadow_end(void)
{
	if (shadow_lower_mpi_active())
		shadow_real_MPI_Abort(MPI_COMM_WORLD, 70);
	abort();
}

void shadow_unsupported(const char *name)
{
	fprintf(stderr, "slurm-ckpt: MPI function %s is not supported yet under checkpointing\n",
		name);
	fflush(stderr);
	shadow_end();
}

void shadow_die(const char *fmt, ...)
{
	va_list ap;

	fputs("slurm-ckpt: mpi: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	shadow_end();
}
