/* shadow_replay.h - the creation log of MPI objects; included by mpi/ sources
 * only (shadow_replay*.c, shadow_custom.c).
 *
 * At a restart the lower half is a new MPICH in which no object the
 * application made exists. Every call that makes, changes or frees a
 * communicator, group, datatype, operation, errhandler or info appends a
 * record here (upper-half memory: it is saved with the image), and
 * shadow_replay_all() (shadow_ckpt.h) performs the records again in their
 * original order, frees included, pointing each virtual handle at the new
 * lower-half object. Original order keeps collective creations in the same
 * order on every member; frees keep the live set exact.
 */
#ifndef CKPT_MPI_SHADOW_REPLAY_H
#define CKPT_MPI_SHADOW_REPLAY_H

#include "shadow_handle.h"

#include <mpi.h>
#include <stdbool.h>
#include <stddef.h>

/* What a record does again. The order here is the order of the names in
 * shadow_replay.c's table. */
enum replay_fn {
	REPLAY_COMM_SPLIT,
	REPLAY_COMM_SPLIT_TYPE,
	REPLAY_COMM_DUP,
	REPLAY_COMM_CREATE,
	REPLAY_COMM_CREATE_GROUP,
	REPLAY_CART_CREATE,
	REPLAY_CART_SUB,
	REPLAY_GRAPH_CREATE,
	REPLAY_DIST_GRAPH_ADJACENT,
	REPLAY_DIST_GRAPH_CREATE,
	REPLAY_COMM_FREE,
	REPLAY_COMM_GROUP,
	REPLAY_COMM_SET_ERRHANDLER,
	REPLAY_COMM_GET_ERRHANDLER,
	REPLAY_ERRHANDLER_FREE,
	REPLAY_ERRHANDLER_CREATE,
	REPLAY_COMM_SET_NAME,
	REPLAY_GROUP_INCL,
	REPLAY_GROUP_EXCL,
	REPLAY_GROUP_UNION,
	REPLAY_GROUP_INTERSECTION,
	REPLAY_GROUP_DIFFERENCE,
	REPLAY_GROUP_FREE,
	REPLAY_TYPE_CONTIGUOUS,
	REPLAY_TYPE_VECTOR,
	REPLAY_TYPE_HVECTOR,
	REPLAY_TYPE_INDEXED,
	REPLAY_TYPE_HINDEXED,
	REPLAY_TYPE_INDEXED_BLOCK,
	REPLAY_TYPE_STRUCT,
	REPLAY_TYPE_SUBARRAY,
	REPLAY_TYPE_RESIZED,
	REPLAY_TYPE_DUP,
	REPLAY_TYPE_COMMIT,
	REPLAY_TYPE_FREE,
	REPLAY_TYPE_SET_NAME,
	REPLAY_INFO_CREATE,
	REPLAY_INFO_SET,
	REPLAY_INFO_FREE,
	REPLAY_OP_CREATE,
	REPLAY_OP_FREE,
	REPLAY_FN_COUNT,
};

/* Arrays a record copies: at most four int arrays (block lengths,
 * displacements, ranks, sizes/subsizes/starts, datatypes; a distributed
 * graph's sources, destinations and their weights) and one MPI_Aint array
 * (byte displacements). */
#define REPLAY_INT_ARRAYS 4

/* One call to perform again. Which fields are used depends on @fn (see the
 * wrappers in shadow_replay_wrap.c and replay_rec_run in shadow_replay.c). */
struct replay_rec {
	enum replay_fn fn;
	int handle;	  /* the handle made, changed or freed (virtual or predefined) */
	int in[2];	  /* input handles: parent comm, group, old type, info, errhandler */
	int num[4];	  /* color, key, count, blocklength, stride, tag, order, commute, slot */
	MPI_Aint aint[2]; /* hvector stride; resized lb and extent */
	int *ints[REPLAY_INT_ARRAYS]; /* copies of int arrays (lengths in num[]) */
	MPI_Aint *aints;	      /* copy of an MPI_Aint array */
	char *str[2];		      /* name; info key and value */
	int comm_size;		      /* a communicator made: its size and this rank's */
	int comm_rank;		      /* rank in it, which a replay must give again */
};

/* Copies @n ints / MPI_Aints / a string into memory the record will own.
 * Stop the program when out of memory (a record lost would make a restart
 * silently wrong). */
int *replay_copy_ints(const int *a, int n);
MPI_Aint *replay_copy_aints(const MPI_Aint *a, int n);
char *replay_copy_str(const char *s);

static inline bool replay_is_virtual(int h)
{
	return ((uint32_t)h & SHADOW_TYPE_MASK) == SHADOW_TYPE_VIRTUAL;
}

/* A record of @fn with input handles @in0 and @in1, the rest zero. */
static inline struct replay_rec replay_rec_init(enum replay_fn fn, int in0, int in1)
{
	struct replay_rec r = { .fn = fn, .in = { in0, in1 } };

	return r;
}

/* After the lower half made a local object (group, datatype, errhandler,
 * info) @lh for the call @rec describes: returns its new virtual handle and
 * appends @rec, or for a predefined result (MPI_GROUP_EMPTY, a builtin
 * errhandler: it exists in every lower half) returns it and drops @rec. */
int replay_local_made(struct replay_rec *rec, enum shadow_kind kind, int lh);

/* After a successful free or commit of *@h of @kind (now @lh in the lower
 * half): records it for a virtual *@h, then lets *@h follow @lh. */
void replay_local_changed(enum replay_fn fn, enum shadow_kind kind, int *h, int lh);

#ifdef SHADOW_CONSIST_INTERNAL
/* Every wrapper runs at checkpoint depth > 0 (shadow_consist.h): a thread is
 * never stopped inside the lower half or with the log's lock held, which a
 * restart's replay would wait for forever. These end a wrapper's depth (and
 * its collective's mark) and pass its result on. */
static inline int replay_leave(int rc)
{
	shadow_consist_leave();
	return rc;
}

static inline int replay_coll_leave(int rc)
{
	shadow_consist_coll_leave();
	shadow_consist_leave();
	return rc;
}
#endif

/* Frees the arrays and strings of a record that is not appended. */
void replay_rec_release(struct replay_rec *rec);

/* Appends @rec (copied; the log takes ownership of its arrays and strings). */
void replay_log_append(const struct replay_rec *rec);

/* ---- shared by shadow_replay.c and shadow_replay_run.c ---- */

enum replay_role {
	REPLAY_MAKES,	/* rec->handle is a new object */
	REPLAY_CHANGES, /* rec->handle is changed (commit, name, errhandler, info key) */
	REPLAY_FREES,	/* rec->handle is freed */
};

struct replay_fn_info {
	const char *name;      /* the MPI function, for messages */
	enum shadow_kind kind; /* kind of rec->handle */
	enum replay_role role;
	enum shadow_kind in_kind[2]; /* kinds of rec->in[]; 0: not used */
};

/* What each enum replay_fn is (shadow_replay.c). */
extern const struct replay_fn_info replay_fns[REPLAY_FN_COUNT];

/* The objects of the log: for each record the index of the record that made
 * the object it makes, changes or frees (-1: a predefined object, or a
 * communicator creation that gave MPI_COMM_NULL), whether an object is freed
 * later, and the objects each record reads (deps[dep_start[i] ..
 * dep_start[i + 1])). */
struct replay_scan {
	ptrdiff_t *obj;
	bool *dead;
	size_t *dep_start;
	ptrdiff_t *deps;
	size_t ndeps;
	size_t cap_deps;
	ptrdiff_t *made[SHADOW_KIND_MAX]; /* handle index -> record that made it now */
	size_t nmade[SHADOW_KIND_MAX];
};

/* Follows the virtual handles through @n records of @log in order: fills
 * @s (free it with replay_scan_free). Returns 0 or -ENOMEM. */
int replay_scan_log(struct replay_scan *s, const struct replay_rec *log, size_t n);
void replay_scan_free(struct replay_scan *s);

/* Takes the log's lock and returns the log and its length in *@len;
 * replay_log_unlock ends it. */
struct replay_rec *replay_log_lock(size_t *len);
void replay_log_unlock(void);

/* What an application passed as a weights array of a distributed graph
 * (MPI 4.0, 8.5.4). MPICH's MPI_UNWEIGHTED and MPI_WEIGHTS_EMPTY are
 * addresses compared by pointer, not arrays: the shadow library's must
 * become the lower half's (shadow_topo.c), and a replay must pass the same
 * kind again, so the record keeps the kind (two bits each in num[3]). */
enum replay_weights {
	REPLAY_WEIGHTS_ARRAY = 0,  /* an array, copied into the record */
	REPLAY_WEIGHTS_UNWEIGHTED, /* MPI_UNWEIGHTED */
	REPLAY_WEIGHTS_EMPTY,	   /* MPI_WEIGHTS_EMPTY */
	REPLAY_WEIGHTS_NULL,	   /* NULL (MPICH takes it for no weights) */
};

/* shadow_topo.c: the kind of weights pointer @w. */
enum replay_weights shadow_topo_weights_kind(const int *w);

/* shadow_topo.c: the numbers of in- and out-neighbours of lower-half
 * communicator @lh (MPI 4.0, 8.6: the lengths of a neighbourhood
 * collective's arrays); both 0 without a topology. */
void shadow_topo_degrees(MPI_Comm lh, int *in, int *out);

/* shadow_topo.c: what to pass the lower half for weights of @kind whose
 * array (for REPLAY_WEIGHTS_ARRAY) is @array; a zero-length array recorded
 * as NULL becomes a non-NULL empty one again, as the application passed. */
const int *shadow_topo_weights_lh(enum replay_weights kind, const int *array);

/* shadow_custom.c: makes user operation @vop again in its trampoline slot
 * @slot (the lower half calls the same trampoline as before). Returns the
 * real MPI_Op_create's result. */
int shadow_op_replay_create(int slot, int commute, MPI_Op vop);

/* shadow_custom.c: frees user operation @vop (made again by
 * shadow_op_replay_create) in the lower half. */
int shadow_op_replay_free(MPI_Op vop);

/* shadow_errhandler.c: makes user error handler @verrh again in its
 * trampoline slot @slot. Returns the real MPI_Comm_create_errhandler's
 * result. */
int shadow_errhandler_replay_create(int slot, MPI_Errhandler verrh);

#endif
