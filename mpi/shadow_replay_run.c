/* shadow_replay_run.c - shadow_replay_all (shadow_ckpt.h): performs the
 * replay log (shadow_replay.c) again in the current lower half, in order,
 * frees included, and points every virtual handle at its new lower-half
 * object. Errors name the record and stop the replay.
 */
#include "shadow.h"
#include "shadow_ckpt.h"
#include "shadow_handle.h"
#include "shadow_real.h"
#include "shadow_replay.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Objects made again by shadow_replay_all since the library was loaded (tests). */
static unsigned long replay_remade;
/* Fault injection for tests: the next replay fails at this record (1-based;
 * 0: none), as if the lower half had refused it. */
static size_t replay_fail_at;
/* Records in the log being replayed, for messages. */
static size_t replay_len;

#define LH(kind, h) shadow_handle_lh((kind), (h))

/* What the replay of one record needs besides the record. */
struct replay_ctx {
	size_t index;	  /* of the record, for messages */
	bool live_at_end; /* the object it makes is still live after the whole log */
	char *why;
	size_t len;
};

static int replay_fail(const struct replay_ctx *c, const struct replay_rec *r, int rc,
		       const char *what)
{
	char err[MPI_MAX_ERROR_STRING] = "";
	int errlen = 0;

	if (rc != MPI_SUCCESS && shadow_real_MPI_Error_string(rc, err, &errlen) != MPI_SUCCESS)
		snprintf(err, sizeof(err), "MPI error %d", rc);
	snprintf(c->why, c->len,
		 "replaying MPI object record %zu of %zu (%s of handle %#x) at restart: %s%s; "
		 "the rank's MPI objects cannot be made again (is the job restarted with the "
		 "same ranks and MPI library?)",
		 c->index + 1, replay_len, replay_fns[r->fn].name, (unsigned)r->handle,
		 what ? what : "", what ? "" : err);
	return rc == MPI_SUCCESS ? -EPROTO : -EIO;
}

/* Whether communicator @lh, made again for @r, has another size or gives
 * this rank another rank than before (MPI_COMM_TYPE_SHARED when the ranks
 * were placed on other nodes): the application would go on with a
 * communicator that is not the one it made. Writes why. */
static bool replay_comm_reshaped(const struct replay_ctx *c, const struct replay_rec *r,
				 MPI_Comm lh)
{
	int size = -1;
	int rank = -1;

	shadow_real_MPI_Comm_size(lh, &size);
	shadow_real_MPI_Comm_rank(lh, &rank);
	if (size == r->comm_size && rank == r->comm_rank)
		return false;
	snprintf(c->why, c->len,
		 "replaying MPI object record %zu of %zu (%s of communicator %#x) at restart: it "
		 "has %d ranks and this one is rank %d, it had %d and rank %d; the restarted job "
		 "must place its ranks as the checkpointed one did",
		 c->index + 1, replay_len, replay_fns[r->fn].name, (unsigned)r->handle, size, rank,
		 r->comm_size, r->comm_rank);
	return true;
}

/* A communicator made again: the lower half must agree with the record on
 * whether this rank is a member. */
static int replay_comm_remade(const struct replay_ctx *c, const struct replay_rec *r, int rc,
			      MPI_Comm lh)
{
	if (rc != MPI_SUCCESS)
		return replay_fail(c, r, rc, NULL);
	if ((r->handle == MPI_COMM_NULL) != (lh == MPI_COMM_NULL))
		return replay_fail(c, r, rc,
				   r->handle == MPI_COMM_NULL
					   ? "this rank is a member now, it was not before"
					   : "this rank is no member now, it was before");
	if (r->handle == MPI_COMM_NULL)
		return 0;
	if (replay_comm_reshaped(c, r, lh))
		return -EPROTO;
	shadow_handle_set(SHADOW_KIND_COMM, r->handle, lh);
	replay_remade++;
	/* consist keeps the id agreed before the checkpoint; it knows only the
	 * communicators the application still has */
	if (c->live_at_end) {
		int crc = shadow_consist_comm_created(r->handle, lh, true);

		if (crc) {
			snprintf(c->why, c->len,
				 "replaying %s of communicator %#x at restart: its consistency "
				 "record was not restored (%d)",
				 replay_fns[r->fn].name, (unsigned)r->handle, crc);
			return crc < 0 ? crc : -EPROTO;
		}
	}
	return 0;
}

static int replay_local_remade(const struct replay_ctx *c, const struct replay_rec *r, int rc,
			       int lh)
{
	if (rc != MPI_SUCCESS)
		return replay_fail(c, r, rc, NULL);
	shadow_handle_set((int)replay_fns[r->fn].kind, r->handle, lh);
	replay_remade++;
	return 0;
}

static int replay_comm(const struct replay_ctx *c, const struct replay_rec *r)
{
	MPI_Comm lh = MPI_COMM_NULL;
	MPI_Comm parent = LH(SHADOW_KIND_COMM, r->in[0]);
	int rc;

	switch (r->fn) {
	case REPLAY_COMM_SPLIT:
		rc = shadow_real_MPI_Comm_split(parent, r->num[0], r->num[1], &lh);
		break;
	case REPLAY_COMM_SPLIT_TYPE:
		rc = shadow_real_MPI_Comm_split_type(parent, r->num[0], r->num[1],
						     LH(SHADOW_KIND_INFO, r->in[1]), &lh);
		break;
	case REPLAY_COMM_DUP:
		rc = shadow_real_MPI_Comm_dup(parent, &lh);
		break;
	case REPLAY_COMM_CREATE:
		rc = shadow_real_MPI_Comm_create(parent, LH(SHADOW_KIND_GROUP, r->in[1]), &lh);
		break;
	case REPLAY_CART_CREATE:
		rc = shadow_real_MPI_Cart_create(parent, r->num[0], r->ints[0], r->ints[1],
						 r->num[1], &lh);
		break;
	case REPLAY_CART_SUB:
		rc = shadow_real_MPI_Cart_sub(parent, r->ints[0], &lh);
		break;
	case REPLAY_GRAPH_CREATE:
		rc = shadow_real_MPI_Graph_create(parent, r->num[0], r->ints[0], r->ints[1],
						  r->num[1], &lh);
		break;
	case REPLAY_DIST_GRAPH_ADJACENT:
		rc = shadow_real_MPI_Dist_graph_create_adjacent(
			parent, r->num[0], r->ints[0],
			shadow_topo_weights_lh((enum replay_weights)(r->num[3] & 3), r->ints[1]),
			r->num[1], r->ints[2],
			shadow_topo_weights_lh((enum replay_weights)(r->num[3] >> 2 & 3),
					       r->ints[3]),
			LH(SHADOW_KIND_INFO, r->in[1]), r->num[2], &lh);
		break;
	case REPLAY_DIST_GRAPH_CREATE:
		rc = shadow_real_MPI_Dist_graph_create(
			parent, r->num[0], r->ints[0], r->ints[1], r->ints[2],
			shadow_topo_weights_lh((enum replay_weights)r->num[3], r->ints[3]),
			LH(SHADOW_KIND_INFO, r->in[1]), r->num[2], &lh);
		break;
	default: /* REPLAY_COMM_CREATE_GROUP */
		rc = shadow_real_MPI_Comm_create_group(parent, LH(SHADOW_KIND_GROUP, r->in[1]),
						       r->num[0], &lh);
		break;
	}
	return replay_comm_remade(c, r, rc, lh);
}

static int replay_group(const struct replay_ctx *c, const struct replay_rec *r)
{
	MPI_Group lh = MPI_GROUP_NULL;
	MPI_Group g1 = LH(SHADOW_KIND_GROUP, r->in[0]);
	MPI_Group g2 = LH(SHADOW_KIND_GROUP, r->in[1]);
	int rc;

	switch (r->fn) {
	case REPLAY_COMM_GROUP:
		rc = shadow_real_MPI_Comm_group(LH(SHADOW_KIND_COMM, r->in[0]), &lh);
		break;
	case REPLAY_GROUP_INCL:
		rc = shadow_real_MPI_Group_incl(g1, r->num[0], r->ints[0], &lh);
		break;
	case REPLAY_GROUP_EXCL:
		rc = shadow_real_MPI_Group_excl(g1, r->num[0], r->ints[0], &lh);
		break;
	case REPLAY_GROUP_UNION:
		rc = shadow_real_MPI_Group_union(g1, g2, &lh);
		break;
	case REPLAY_GROUP_INTERSECTION:
		rc = shadow_real_MPI_Group_intersection(g1, g2, &lh);
		break;
	default: /* REPLAY_GROUP_DIFFERENCE */
		rc = shadow_real_MPI_Group_difference(g1, g2, &lh);
		break;
	}
	return replay_local_remade(c, r, rc, lh);
}

static int replay_type_struct(const struct replay_rec *r, MPI_Datatype *lh)
{
	int buf[SHADOW_STACK_HANDLES];
	int *types = shadow_handle_array_lh(SHADOW_KIND_DATATYPE, r->ints[2], r->num[0], buf);
	int rc = shadow_real_MPI_Type_create_struct(r->num[0], r->ints[0], r->aints, types, lh);

	shadow_handle_array_free(types, buf);
	return rc;
}

static int replay_type(const struct replay_ctx *c, const struct replay_rec *r)
{
	MPI_Datatype lh = MPI_DATATYPE_NULL;
	MPI_Datatype old = LH(SHADOW_KIND_DATATYPE, r->in[0]);
	int rc;

	switch (r->fn) {
	case REPLAY_TYPE_CONTIGUOUS:
		rc = shadow_real_MPI_Type_contiguous(r->num[0], old, &lh);
		break;
	case REPLAY_TYPE_VECTOR:
		rc = shadow_real_MPI_Type_vector(r->num[0], r->num[1], r->num[2], old, &lh);
		break;
	case REPLAY_TYPE_HVECTOR:
		rc = shadow_real_MPI_Type_create_hvector(r->num[0], r->num[1], r->aint[0], old,
							 &lh);
		break;
	case REPLAY_TYPE_INDEXED:
		rc = shadow_real_MPI_Type_indexed(r->num[0], r->ints[0], r->ints[1], old, &lh);
		break;
	case REPLAY_TYPE_HINDEXED:
		rc = shadow_real_MPI_Type_create_hindexed(r->num[0], r->ints[0], r->aints, old,
							  &lh);
		break;
	case REPLAY_TYPE_INDEXED_BLOCK:
		rc = shadow_real_MPI_Type_create_indexed_block(r->num[0], r->num[1], r->ints[0],
							       old, &lh);
		break;
	case REPLAY_TYPE_STRUCT:
		rc = replay_type_struct(r, &lh);
		break;
	case REPLAY_TYPE_SUBARRAY:
		rc = shadow_real_MPI_Type_create_subarray(r->num[0], r->ints[0], r->ints[1],
							  r->ints[2], r->num[1], old, &lh);
		break;
	case REPLAY_TYPE_RESIZED:
		rc = shadow_real_MPI_Type_create_resized(old, r->aint[0], r->aint[1], &lh);
		break;
	default: /* REPLAY_TYPE_DUP */
		rc = shadow_real_MPI_Type_dup(old, &lh);
		break;
	}
	return replay_local_remade(c, r, rc, lh);
}

/* A free: the lower half's object goes, and the virtual handle points at
 * nothing until a later record makes it again (handles are reused). */
static int replay_free(const struct replay_ctx *c, const struct replay_rec *r)
{
	enum shadow_kind kind = replay_fns[r->fn].kind;
	int lh = LH(kind, r->handle);
	int rc;

	switch (r->fn) {
	case REPLAY_COMM_FREE:
		rc = shadow_real_MPI_Comm_free(&lh);
		break;
	case REPLAY_GROUP_FREE:
		rc = shadow_real_MPI_Group_free(&lh);
		break;
	case REPLAY_TYPE_FREE:
		rc = shadow_real_MPI_Type_free(&lh);
		break;
	case REPLAY_INFO_FREE:
		rc = shadow_real_MPI_Info_free(&lh);
		break;
	case REPLAY_ERRHANDLER_FREE:
		rc = shadow_real_MPI_Errhandler_free(&lh);
		break;
	default: /* REPLAY_OP_FREE */
		rc = shadow_op_replay_free(r->handle);
		break;
	}
	if (rc != MPI_SUCCESS)
		return replay_fail(c, r, rc, NULL);
	shadow_handle_set((int)kind, r->handle, 0);
	return 0;
}

static int replay_change(const struct replay_ctx *c, const struct replay_rec *r)
{
	int lh;
	int rc;

	switch (r->fn) {
	case REPLAY_COMM_SET_ERRHANDLER:
		rc = shadow_real_MPI_Comm_set_errhandler(LH(SHADOW_KIND_COMM, r->handle),
							 LH(SHADOW_KIND_ERRHANDLER, r->in[0]));
		break;
	case REPLAY_COMM_SET_NAME:
		rc = shadow_real_MPI_Comm_set_name(LH(SHADOW_KIND_COMM, r->handle), r->str[0]);
		break;
	case REPLAY_TYPE_SET_NAME:
		rc = shadow_real_MPI_Type_set_name(LH(SHADOW_KIND_DATATYPE, r->handle), r->str[0]);
		break;
	case REPLAY_INFO_SET:
		rc = shadow_real_MPI_Info_set(LH(SHADOW_KIND_INFO, r->handle), r->str[0],
					      r->str[1]);
		break;
	default: /* REPLAY_TYPE_COMMIT */
		lh = LH(SHADOW_KIND_DATATYPE, r->handle);
		rc = shadow_real_MPI_Type_commit(&lh);
		if (rc == MPI_SUCCESS)
			shadow_handle_set(SHADOW_KIND_DATATYPE, r->handle, lh);
		break;
	}
	return rc == MPI_SUCCESS ? 0 : replay_fail(c, r, rc, NULL);
}

static int replay_rec_run(const struct replay_ctx *c, const struct replay_rec *r)
{
	MPI_Errhandler lh = MPI_ERRHANDLER_NULL;
	MPI_Info info = MPI_INFO_NULL;
	int rc;

	switch (r->fn) {
	case REPLAY_COMM_SPLIT:
	case REPLAY_COMM_SPLIT_TYPE:
	case REPLAY_COMM_DUP:
	case REPLAY_COMM_CREATE:
	case REPLAY_COMM_CREATE_GROUP:
	case REPLAY_CART_CREATE:
	case REPLAY_CART_SUB:
	case REPLAY_GRAPH_CREATE:
	case REPLAY_DIST_GRAPH_ADJACENT:
	case REPLAY_DIST_GRAPH_CREATE:
		return replay_comm(c, r);
	case REPLAY_COMM_GROUP:
	case REPLAY_GROUP_INCL:
	case REPLAY_GROUP_EXCL:
	case REPLAY_GROUP_UNION:
	case REPLAY_GROUP_INTERSECTION:
	case REPLAY_GROUP_DIFFERENCE:
		return replay_group(c, r);
	case REPLAY_TYPE_CONTIGUOUS:
	case REPLAY_TYPE_VECTOR:
	case REPLAY_TYPE_HVECTOR:
	case REPLAY_TYPE_INDEXED:
	case REPLAY_TYPE_HINDEXED:
	case REPLAY_TYPE_INDEXED_BLOCK:
	case REPLAY_TYPE_STRUCT:
	case REPLAY_TYPE_SUBARRAY:
	case REPLAY_TYPE_RESIZED:
	case REPLAY_TYPE_DUP:
		return replay_type(c, r);
	case REPLAY_COMM_GET_ERRHANDLER:
		rc = shadow_real_MPI_Comm_get_errhandler(LH(SHADOW_KIND_COMM, r->in[0]), &lh);
		return replay_local_remade(c, r, rc, lh);
	case REPLAY_INFO_CREATE:
		rc = shadow_real_MPI_Info_create(&info);
		return replay_local_remade(c, r, rc, info);
	case REPLAY_ERRHANDLER_CREATE:
		rc = shadow_errhandler_replay_create(r->num[0], r->handle);
		if (rc == MPI_SUCCESS)
			replay_remade++;
		return rc == MPI_SUCCESS ? 0 : replay_fail(c, r, rc, NULL);
	case REPLAY_OP_CREATE:
		rc = shadow_op_replay_create(r->num[0], r->num[1], r->handle);
		if (rc == MPI_SUCCESS)
			replay_remade++;
		return rc == MPI_SUCCESS ? 0 : replay_fail(c, r, rc, NULL);
	case REPLAY_COMM_FREE:
	case REPLAY_GROUP_FREE:
	case REPLAY_TYPE_FREE:
	case REPLAY_INFO_FREE:
	case REPLAY_ERRHANDLER_FREE:
	case REPLAY_OP_FREE:
		return replay_free(c, r);
	default:
		return replay_change(c, r);
	}
}

/* Exported (default visibility) so that tests can replay in a running job. */
SHADOW_EXPORT int shadow_replay_all(char *why, size_t len)
{
	struct replay_scan s;
	struct replay_ctx c = { .why = why, .len = len };
	struct replay_rec *log = replay_log_lock(&replay_len);
	int rc = 0;

	if (replay_scan_log(&s, log, replay_len)) {
		replay_log_unlock();
		snprintf(why, len, "out of memory replaying %zu MPI object records at restart",
			 replay_len);
		return -ENOMEM;
	}
	for (size_t i = 0; i < replay_len && !rc; i++) {
		c.index = i;
		c.live_at_end = s.obj[i] == (ptrdiff_t)i && !s.dead[i];
		if (i + 1 == replay_fail_at)
			rc = replay_fail(&c, &log[i], MPI_ERR_OTHER, NULL);
		else
			rc = replay_rec_run(&c, &log[i]);
	}
	replay_fail_at = 0;
	replay_scan_free(&s);
	replay_log_unlock();
	return rc;
}

/* ---- for tests (default visibility; nothing else calls them) ---- */

/* Makes the next shadow_replay_all fail at record @index (1-based) without
 * running it: the error path, as a lower half refusing a record takes it. */
SHADOW_EXPORT void shadow_replay_debug_fail_at(size_t index)
{
	replay_fail_at = index;
}

/* Objects made again by shadow_replay_all so far. */
SHADOW_EXPORT unsigned long shadow_replay_debug_remade(void)
{
	return replay_remade;
}
