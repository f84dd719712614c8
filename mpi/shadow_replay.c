/* shadow_replay.c - the replay log of MPI object creations (shadow_replay.h):
 * recording, what each record acts on, and compaction. shadow_replay_run.c
 * performs the log again in a new lower half.
 *
 * The log keeps every record of communicators, whose creation is collective:
 * dropping the records of a freed communicator on one rank and not on
 * another (MPI_Comm_free is local in MPICH, so a checkpoint can fall between
 * two members' frees) would make the members' replays disagree. Groups,
 * datatypes, ops, errhandlers and infos are local: their records are dropped
 * once the object is freed and no kept record uses it (replay_log_compact),
 * so only communicator churn makes the log grow.
 */
#include "shadow.h"
#include "shadow_handle.h"
#include "shadow_replay.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The log: records in call order. Saved with the upper half's memory. */
static struct replay_rec *replay_log;
static size_t replay_log_len;
static size_t replay_log_cap;
/* Compact when the log reaches this length: twice its length after the last
 * compaction, so compacting costs O(1) per record over time; 1024 records
 * (~100 KiB) before the first. */
#define REPLAY_COMPACT_FIRST 1024
static size_t replay_compact_at = REPLAY_COMPACT_FIRST;
/* Appends may come from several threads (MPI_THREAD_MULTIPLE). */
static pthread_mutex_t replay_lock = PTHREAD_MUTEX_INITIALIZER;

/* One letter per kind: the table reads as one line per function. */
#define C SHADOW_KIND_COMM
#define G SHADOW_KIND_GROUP
#define T SHADOW_KIND_DATATYPE
#define E SHADOW_KIND_ERRHANDLER
#define O SHADOW_KIND_OP
#define I SHADOW_KIND_INFO
const struct replay_fn_info replay_fns[REPLAY_FN_COUNT] = {
	[REPLAY_COMM_SPLIT] = { "MPI_Comm_split", C, REPLAY_MAKES, { C, 0 } },
	[REPLAY_COMM_SPLIT_TYPE] = { "MPI_Comm_split_type", C, REPLAY_MAKES, { C, I } },
	[REPLAY_COMM_DUP] = { "MPI_Comm_dup", C, REPLAY_MAKES, { C, 0 } },
	[REPLAY_COMM_CREATE] = { "MPI_Comm_create", C, REPLAY_MAKES, { C, G } },
	[REPLAY_COMM_CREATE_GROUP] = { "MPI_Comm_create_group", C, REPLAY_MAKES, { C, G } },
	/* dims, periods: ints[0..1] */
	[REPLAY_CART_CREATE] = { "MPI_Cart_create", C, REPLAY_MAKES, { C, 0 } },
	/* remain_dims: ints[0] */
	[REPLAY_CART_SUB] = { "MPI_Cart_sub", C, REPLAY_MAKES, { C, 0 } },
	/* index, edges: ints[0..1] */
	[REPLAY_GRAPH_CREATE] = { "MPI_Graph_create", C, REPLAY_MAKES, { C, 0 } },
	/* sources, sourceweights, destinations, destweights: ints[0..3] */
	[REPLAY_DIST_GRAPH_ADJACENT] = { "MPI_Dist_graph_create_adjacent",
					 C,
					 REPLAY_MAKES,
					 { C, I } },
	/* sources, degrees, destinations, weights: ints[0..3] */
	[REPLAY_DIST_GRAPH_CREATE] = { "MPI_Dist_graph_create", C, REPLAY_MAKES, { C, I } },
	[REPLAY_COMM_FREE] = { "MPI_Comm_free", C, REPLAY_FREES, { 0, 0 } },
	[REPLAY_COMM_GROUP] = { "MPI_Comm_group", G, REPLAY_MAKES, { C, 0 } },
	[REPLAY_COMM_SET_ERRHANDLER] = { "MPI_Comm_set_errhandler", C, REPLAY_CHANGES, { E, 0 } },
	[REPLAY_COMM_GET_ERRHANDLER] = { "MPI_Comm_get_errhandler", E, REPLAY_MAKES, { C, 0 } },
	/* trampoline slot: num[0] */
	[REPLAY_ERRHANDLER_CREATE] = { "MPI_Comm_create_errhandler", E, REPLAY_MAKES, { 0, 0 } },
	[REPLAY_ERRHANDLER_FREE] = { "MPI_Errhandler_free", E, REPLAY_FREES, { 0, 0 } },
	[REPLAY_COMM_SET_NAME] = { "MPI_Comm_set_name", C, REPLAY_CHANGES, { 0, 0 } },
	[REPLAY_GROUP_INCL] = { "MPI_Group_incl", G, REPLAY_MAKES, { G, 0 } },
	[REPLAY_GROUP_EXCL] = { "MPI_Group_excl", G, REPLAY_MAKES, { G, 0 } },
	[REPLAY_GROUP_UNION] = { "MPI_Group_union", G, REPLAY_MAKES, { G, G } },
	[REPLAY_GROUP_INTERSECTION] = { "MPI_Group_intersection", G, REPLAY_MAKES, { G, G } },
	[REPLAY_GROUP_DIFFERENCE] = { "MPI_Group_difference", G, REPLAY_MAKES, { G, G } },
	[REPLAY_GROUP_FREE] = { "MPI_Group_free", G, REPLAY_FREES, { 0, 0 } },
	[REPLAY_TYPE_CONTIGUOUS] = { "MPI_Type_contiguous", T, REPLAY_MAKES, { T, 0 } },
	[REPLAY_TYPE_VECTOR] = { "MPI_Type_vector", T, REPLAY_MAKES, { T, 0 } },
	[REPLAY_TYPE_HVECTOR] = { "MPI_Type_create_hvector", T, REPLAY_MAKES, { T, 0 } },
	[REPLAY_TYPE_INDEXED] = { "MPI_Type_indexed", T, REPLAY_MAKES, { T, 0 } },
	[REPLAY_TYPE_HINDEXED] = { "MPI_Type_create_hindexed", T, REPLAY_MAKES, { T, 0 } },
	[REPLAY_TYPE_INDEXED_BLOCK] = { "MPI_Type_create_indexed_block", T, REPLAY_MAKES, { T, 0 } },
	/* member types: ints[2] */
	[REPLAY_TYPE_STRUCT] = { "MPI_Type_create_struct", T, REPLAY_MAKES, { 0, 0 } },
	[REPLAY_TYPE_SUBARRAY] = { "MPI_Type_create_subarray", T, REPLAY_MAKES, { T, 0 } },
	[REPLAY_TYPE_RESIZED] = { "MPI_Type_create_resized", T, REPLAY_MAKES, { T, 0 } },
	[REPLAY_TYPE_DUP] = { "MPI_Type_dup", T, REPLAY_MAKES, { T, 0 } },
	[REPLAY_TYPE_COMMIT] = { "MPI_Type_commit", T, REPLAY_CHANGES, { 0, 0 } },
	[REPLAY_TYPE_FREE] = { "MPI_Type_free", T, REPLAY_FREES, { 0, 0 } },
	[REPLAY_TYPE_SET_NAME] = { "MPI_Type_set_name", T, REPLAY_CHANGES, { 0, 0 } },
	[REPLAY_INFO_CREATE] = { "MPI_Info_create", I, REPLAY_MAKES, { 0, 0 } },
	[REPLAY_INFO_SET] = { "MPI_Info_set", I, REPLAY_CHANGES, { 0, 0 } },
	[REPLAY_INFO_FREE] = { "MPI_Info_free", I, REPLAY_FREES, { 0, 0 } },
	[REPLAY_OP_CREATE] = { "MPI_Op_create", O, REPLAY_MAKES, { 0, 0 } },
	[REPLAY_OP_FREE] = { "MPI_Op_free", O, REPLAY_FREES, { 0, 0 } },
};
#undef C
#undef G
#undef T
#undef E
#undef O
#undef I

/* ---- recording ---- */

static void *replay_copy(const void *p, size_t n)
{
	void *c;

	if (!p || !n)
		return NULL;
	c = malloc(n);
	if (!c)
		shadow_die("out of memory recording an MPI call for restart (%zu bytes)", n);
	return memcpy(c, p, n);
}

int *replay_copy_ints(const int *a, int n)
{
	return replay_copy(a, n > 0 ? (size_t)n * sizeof(*a) : 0);
}

MPI_Aint *replay_copy_aints(const MPI_Aint *a, int n)
{
	return replay_copy(a, n > 0 ? (size_t)n * sizeof(*a) : 0);
}

char *replay_copy_str(const char *s)
{
	return s ? replay_copy(s, strlen(s) + 1) : NULL;
}

void replay_rec_release(struct replay_rec *rec)
{
	for (int i = 0; i < REPLAY_INT_ARRAYS; i++)
		free(rec->ints[i]);
	free(rec->aints);
	free(rec->str[0]);
	free(rec->str[1]);
	memset(rec, 0, sizeof(*rec));
}

static void replay_log_compact(void);

void replay_log_append(const struct replay_rec *rec)
{
	pthread_mutex_lock(&replay_lock);
	if (replay_log_len == replay_log_cap) {
		size_t cap = replay_log_cap ? 2 * replay_log_cap : 256;
		struct replay_rec *log = realloc(replay_log, cap * sizeof(*log));

		if (!log)
			shadow_die("out of memory recording %s for restart (%zu records)",
				   replay_fns[rec->fn].name, replay_log_len);
		replay_log = log;
		replay_log_cap = cap;
	}
	replay_log[replay_log_len++] = *rec;
	if (replay_log_len >= replay_compact_at) {
		replay_log_compact();
		replay_compact_at = 2 * replay_log_len > REPLAY_COMPACT_FIRST
					    ? 2 * replay_log_len
					    : REPLAY_COMPACT_FIRST;
	}
	pthread_mutex_unlock(&replay_lock);
}

struct replay_rec *replay_log_lock(size_t *len)
{
	pthread_mutex_lock(&replay_lock);
	*len = replay_log_len;
	return replay_log;
}

void replay_log_unlock(void)
{
	pthread_mutex_unlock(&replay_lock);
}

int replay_local_made(struct replay_rec *rec, enum shadow_kind kind, int lh)
{
	int h = shadow_handle_new(kind, lh);

	rec->handle = h;
	if (replay_is_virtual(h))
		replay_log_append(rec);
	else
		replay_rec_release(rec);
	return h;
}

void replay_local_changed(enum replay_fn fn, enum shadow_kind kind, int *h, int lh)
{
	struct replay_rec r = replay_rec_init(fn, 0, 0);

	r.handle = *h;
	if (replay_is_virtual(*h))
		replay_log_append(&r);
	shadow_handle_update(kind, h, lh);
}

/* ---- what each record acts on ---- */

void replay_scan_free(struct replay_scan *s)
{
	free(s->obj);
	free(s->dead);
	free(s->dep_start);
	free(s->deps);
	for (int k = 0; k < SHADOW_KIND_MAX; k++)
		free(s->made[k]);
	memset(s, 0, sizeof(*s));
}

static ptrdiff_t replay_scan_get(const struct replay_scan *s, enum shadow_kind kind, int h)
{
	size_t idx = (uint32_t)h & SHADOW_INDEX_MASK;

	if (!replay_is_virtual(h) || idx >= s->nmade[kind])
		return -1;
	return s->made[kind][idx];
}

static int replay_scan_put(struct replay_scan *s, enum shadow_kind kind, int h, ptrdiff_t rec)
{
	size_t idx = (uint32_t)h & SHADOW_INDEX_MASK;

	if (idx >= s->nmade[kind]) {
		size_t n = 2 * idx + 64;
		ptrdiff_t *m = realloc(s->made[kind], n * sizeof(*m));

		if (!m)
			return -ENOMEM;
		for (size_t i = s->nmade[kind]; i < n; i++)
			m[i] = -1;
		s->made[kind] = m;
		s->nmade[kind] = n;
	}
	s->made[kind][idx] = rec;
	return 0;
}

static int replay_scan_dep(struct replay_scan *s, enum shadow_kind kind, int h)
{
	ptrdiff_t d = replay_scan_get(s, kind, h);

	if (d < 0)
		return 0;
	if (s->ndeps == s->cap_deps) {
		size_t cap = s->cap_deps ? 2 * s->cap_deps : 256;
		ptrdiff_t *deps = realloc(s->deps, cap * sizeof(*deps));

		if (!deps)
			return -ENOMEM;
		s->deps = deps;
		s->cap_deps = cap;
	}
	s->deps[s->ndeps++] = d;
	return 0;
}

static int replay_scan_rec_deps(struct replay_scan *s, const struct replay_rec *r)
{
	const struct replay_fn_info *fi = &replay_fns[r->fn];
	int rc = 0;

	for (int j = 0; j < 2 && !rc; j++) {
		if (fi->in_kind[j])
			rc = replay_scan_dep(s, fi->in_kind[j], r->in[j]);
	}
	if (r->fn == REPLAY_TYPE_STRUCT && r->ints[2]) {
		for (int j = 0; j < r->num[0] && !rc; j++)
			rc = replay_scan_dep(s, SHADOW_KIND_DATATYPE, r->ints[2][j]);
	}
	return rc;
}

int replay_scan_log(struct replay_scan *s, const struct replay_rec *log, size_t n)
{
	memset(s, 0, sizeof(*s));
	s->obj = calloc(n + 1, sizeof(*s->obj));
	s->dead = calloc(n + 1, sizeof(*s->dead));
	s->dep_start = calloc(n + 1, sizeof(*s->dep_start));
	if (!s->obj || !s->dead || !s->dep_start)
		goto out_nomem;
	for (size_t i = 0; i < n; i++) {
		const struct replay_rec *r = &log[i];
		const struct replay_fn_info *fi = &replay_fns[r->fn];

		s->dep_start[i] = s->ndeps;
		if (replay_scan_rec_deps(s, r))
			goto out_nomem;
		if (fi->role == REPLAY_MAKES) {
			s->obj[i] = replay_is_virtual(r->handle) ? (ptrdiff_t)i : -1;
			if (s->obj[i] >= 0 && replay_scan_put(s, fi->kind, r->handle, (ptrdiff_t)i))
				goto out_nomem;
			continue;
		}
		s->obj[i] = replay_scan_get(s, fi->kind, r->handle);
		if (fi->role == REPLAY_FREES && s->obj[i] >= 0) {
			s->dead[s->obj[i]] = true;
			replay_scan_put(s, fi->kind, r->handle, -1);
		}
	}
	s->dep_start[n] = s->ndeps;
	return 0;

out_nomem:
	replay_scan_free(s);
	return -ENOMEM;
}

/* ---- compaction ---- */

/* Whether the records of the object made by record @i must stay:
 * communicators always (see the top of this file), others while live. */
static bool replay_obj_kept_initially(const struct replay_scan *s, size_t i)
{
	return replay_fns[replay_log[i].fn].kind == SHADOW_KIND_COMM || !s->dead[i];
}

static bool replay_rec_kept(const struct replay_scan *s, const bool *keep, size_t j)
{
	return s->obj[j] < 0 || keep[s->obj[j]];
}

/* Drops the records of freed local objects that no kept record reads. Called
 * with replay_lock held; on out of memory it leaves the log as it is. */
static void replay_log_compact(void)
{
	struct replay_scan s;
	bool *keep;
	bool changed = true;
	size_t n = replay_log_len;
	size_t out = 0;

	if (replay_scan_log(&s, replay_log, n))
		return;
	keep = calloc(n + 1, sizeof(*keep));
	if (!keep) {
		replay_scan_free(&s);
		return;
	}
	for (size_t i = 0; i < n; i++)
		keep[i] = s.obj[i] == (ptrdiff_t)i && replay_obj_kept_initially(&s, i);
	/* Readers come after what they read, but a record changing an object
	 * (a name, an errhandler) may come after the first reader of that
	 * object: repeat until nothing changes (twice for most logs). */
	while (changed) {
		changed = false;
		for (size_t j = n; j-- > 0;) {
			if (!replay_rec_kept(&s, keep, j))
				continue;
			for (size_t d = s.dep_start[j]; d < s.dep_start[j + 1]; d++) {
				if (!keep[s.deps[d]]) {
					keep[s.deps[d]] = true;
					changed = true;
				}
			}
		}
	}
	for (size_t j = 0; j < n; j++) {
		if (replay_rec_kept(&s, keep, j))
			replay_log[out++] = replay_log[j];
		else
			replay_rec_release(&replay_log[j]);
	}
	replay_log_len = out;
	free(keep);
	replay_scan_free(&s);
}

/* ---- for tests (default visibility; nothing else calls them) ---- */

/* The lower-half value behind handle @h now (@h itself when predefined). */
SHADOW_EXPORT int shadow_replay_debug_lh(int h)
{
	return shadow_handle_lh((enum shadow_kind)(((uint32_t)h >> SHADOW_KIND_SHIFT) & 0xf), h);
}

/* Records in the log now. */
SHADOW_EXPORT size_t shadow_replay_debug_log_len(void)
{
	size_t n;

	pthread_mutex_lock(&replay_lock);
	n = replay_log_len;
	pthread_mutex_unlock(&replay_lock);
	return n;
}

/* Compacts the log now; returns its length after. */
SHADOW_EXPORT size_t shadow_replay_debug_compact(void)
{
	size_t n;

	pthread_mutex_lock(&replay_lock);
	replay_log_compact();
	n = replay_log_len;
	pthread_mutex_unlock(&replay_lock);
	return n;
}
