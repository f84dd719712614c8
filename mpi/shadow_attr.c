/* shadow_attr.c - user keyvals and attributes of communicators, kept in the
 * upper half (shadow_attr.h).
 *
 * Attributes are the application's values and callbacks, which the lower
 * half would only store and call back. Kept here, in upper-half memory,
 * they are saved with the image and need nothing at a restart: no replay,
 * no callback trampolines, and the callbacks see the application's own
 * handles. The lower half still answers for its predefined keyvals
 * (MPI_TAG_UB, MPI_UNIVERSE_SIZE, ...). Semantics follow MPI 4.0, 7.7:
 * MPI_Comm_dup calls each attribute's copy callback, MPI_Comm_free and a
 * replacing MPI_Comm_set_attr its delete callback, and MPI_Finalize deletes
 * the attributes of MPI_COMM_SELF first, in the reverse order they were set.
 */
#define SHADOW_CONSIST_INTERNAL
#include "shadow.h"
#include "shadow_attr.h"
#include "shadow_consist.h"
#include "shadow_handle.h"
#include "shadow_real.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* Our keyvals: a tag no predefined keyval of MPICH carries, and an index. */
#define ATTR_KEYVAL_TAG	 0x2c000000
#define ATTR_KEYVAL_MASK 0x00ffffff

struct attr_keyval {
	MPI_Comm_copy_attr_function *copy;
	MPI_Comm_delete_attr_function *del;
	void *extra;
	bool used;  /* created (and not yet freed with no attribute left) */
	bool freed; /* MPI_Comm_free_keyval called; attributes may remain */
	size_t refs;
};

struct attr {
	MPI_Comm comm;
	int keyval;
	void *value;
	uint64_t seq; /* order of setting, for MPI_Finalize */
};

static struct attr_keyval *attr_keyvals;
static size_t attr_nkeyvals;
static struct attr *attrs;
static size_t attr_n;
static size_t attr_cap;
static uint64_t attr_seq;
/* Callbacks run without it held: they may call MPI (and this file). */
static pthread_mutex_t attr_lock = PTHREAD_MUTEX_INITIALIZER;

/* The keyval behind @keyval, or NULL when it is not one of ours. */
static struct attr_keyval *attr_keyval_get(int keyval)
{
	size_t i = (size_t)((unsigned)keyval & ATTR_KEYVAL_MASK);

	if (((unsigned)keyval & ~(unsigned)ATTR_KEYVAL_MASK) != ATTR_KEYVAL_TAG || i == 0 ||
	    i > attr_nkeyvals || !attr_keyvals[i - 1].used)
		return NULL;
	return &attr_keyvals[i - 1];
}

static bool attr_is_ours(int keyval)
{
	return ((unsigned)keyval & ~(unsigned)ATTR_KEYVAL_MASK) == ATTR_KEYVAL_TAG;
}

static ptrdiff_t attr_find(MPI_Comm comm, int keyval)
{
	for (size_t i = 0; i < attr_n; i++)
		if (attrs[i].comm == comm && attrs[i].keyval == keyval)
			return (ptrdiff_t)i;
	return -1;
}

/* Drops attribute @i (lock held) and the reference it held on its keyval. */
static void attr_drop(size_t i)
{
	struct attr_keyval *k = attr_keyval_get(attrs[i].keyval);

	attrs[i] = attrs[--attr_n];
	if (k && --k->refs == 0 && k->freed)
		k->used = false;
}

int shadow_attr_keyval_create(MPI_Comm_copy_attr_function *copy, MPI_Comm_delete_attr_function *del,
			      int *keyval, void *extra)
{
	struct attr_keyval *grown;
	size_t i;

	if (!keyval)
		return MPI_ERR_ARG;
	pthread_mutex_lock(&attr_lock);
	for (i = 0; i < attr_nkeyvals && attr_keyvals[i].used; i++)
		;
	if (i == attr_nkeyvals) {
		if (attr_nkeyvals >= ATTR_KEYVAL_MASK)
			goto out_full;
		grown = realloc(attr_keyvals, (attr_nkeyvals + 1) * sizeof(*grown));
		if (!grown)
			goto out_full;
		attr_keyvals = grown;
		attr_nkeyvals++;
	}
	attr_keyvals[i] = (struct attr_keyval){ copy, del, extra, true, false, 0 };
	*keyval = (int)(ATTR_KEYVAL_TAG | (i + 1));
	pthread_mutex_unlock(&attr_lock);
	return MPI_SUCCESS;

out_full:
	pthread_mutex_unlock(&attr_lock);
	return MPI_ERR_NO_MEM;
}

int shadow_attr_keyval_free(int *keyval)
{
	struct attr_keyval *k;

	if (!keyval)
		return MPI_ERR_ARG;
	pthread_mutex_lock(&attr_lock);
	k = attr_keyval_get(*keyval);
	if (!k || k->freed) {
		pthread_mutex_unlock(&attr_lock);
		return MPI_ERR_KEYVAL;
	}
	k->freed = true;
	if (k->refs == 0)
		k->used = false;
	pthread_mutex_unlock(&attr_lock);
	*keyval = MPI_KEYVAL_INVALID;
	return MPI_SUCCESS;
}

/* Calls the delete callback of (@comm, @keyval, @value) without the lock. */
static int attr_call_delete(MPI_Comm comm, int keyval, void *value)
{
	MPI_Comm_delete_attr_function *del = NULL;
	void *extra = NULL;
	struct attr_keyval *k;

	pthread_mutex_lock(&attr_lock);
	k = attr_keyval_get(keyval);
	if (k) {
		del = k->del;
		extra = k->extra;
	}
	pthread_mutex_unlock(&attr_lock);
	return del ? del(comm, keyval, value, extra) : MPI_SUCCESS;
}

/* Sets the attribute; @copying: for MPI_Comm_dup, where a keyval the
 * application freed still copies its attributes (MPI 4.0, 7.7.2). */
static int attr_store(MPI_Comm comm, int keyval, void *value, bool copying)
{
	struct attr_keyval *k;
	ptrdiff_t i;
	int rc;

	pthread_mutex_lock(&attr_lock);
	k = attr_keyval_get(keyval);
	if (!k || (k->freed && !copying)) {
		pthread_mutex_unlock(&attr_lock);
		return MPI_ERR_KEYVAL;
	}
	i = attr_find(comm, keyval);
	pthread_mutex_unlock(&attr_lock);
	/* A value replaced is deleted first (MPI 4.0, 7.7.2). */
	if (i >= 0) {
		rc = shadow_attr_delete(comm, keyval);
		if (rc != MPI_SUCCESS)
			return rc;
	}
	pthread_mutex_lock(&attr_lock);
	k = attr_keyval_get(keyval);
	if (!k) { /* freed by a callback meanwhile */
		pthread_mutex_unlock(&attr_lock);
		return MPI_ERR_KEYVAL;
	}
	if (attr_n == attr_cap) {
		size_t cap = attr_cap ? 2 * attr_cap : 16;
		struct attr *grown = realloc(attrs, cap * sizeof(*grown));

		if (!grown) {
			pthread_mutex_unlock(&attr_lock);
			return MPI_ERR_NO_MEM;
		}
		attrs = grown;
		attr_cap = cap;
	}
	attrs[attr_n++] = (struct attr){ comm, keyval, value, ++attr_seq };
	k->refs++;
	pthread_mutex_unlock(&attr_lock);
	return MPI_SUCCESS;
}

int shadow_attr_set(MPI_Comm comm, int keyval, void *value)
{
	return attr_store(comm, keyval, value, false);
}

int shadow_attr_get(MPI_Comm comm, int keyval, void *value, int *flag)
{
	ptrdiff_t i;

	if (!attr_is_ours(keyval))
		return shadow_real_MPI_Comm_get_attr(shadow_handle_lh(SHADOW_KIND_COMM, comm),
						     keyval, value, flag);
	if (!value || !flag)
		return MPI_ERR_ARG;
	pthread_mutex_lock(&attr_lock);
	if (!attr_keyval_get(keyval)) {
		pthread_mutex_unlock(&attr_lock);
		return MPI_ERR_KEYVAL;
	}
	i = attr_find(comm, keyval);
	*flag = i >= 0;
	if (i >= 0)
		*(void **)value = attrs[i].value;
	pthread_mutex_unlock(&attr_lock);
	return MPI_SUCCESS;
}

int shadow_attr_delete(MPI_Comm comm, int keyval)
{
	ptrdiff_t i;
	void *value;
	int rc;

	pthread_mutex_lock(&attr_lock);
	i = attr_keyval_get(keyval) ? attr_find(comm, keyval) : -1;
	if (i < 0) {
		pthread_mutex_unlock(&attr_lock);
		return attr_keyval_get(keyval) ? MPI_ERR_ARG : MPI_ERR_KEYVAL;
	}
	value = attrs[i].value;
	pthread_mutex_unlock(&attr_lock);
	rc = attr_call_delete(comm, keyval, value);
	if (rc != MPI_SUCCESS)
		return rc;
	pthread_mutex_lock(&attr_lock);
	i = attr_find(comm, keyval);
	if (i >= 0)
		attr_drop((size_t)i);
	pthread_mutex_unlock(&attr_lock);
	return MPI_SUCCESS;
}

/* The attribute of @comm set first (@newest: last) among those left, or
 * false when it has none. */
static bool attr_pick(MPI_Comm comm, bool newest, int *keyval)
{
	ptrdiff_t best = -1;

	pthread_mutex_lock(&attr_lock);
	for (size_t i = 0; i < attr_n; i++) {
		if (attrs[i].comm != comm)
			continue;
		if (best < 0 ||
		    (newest ? attrs[i].seq > attrs[best].seq : attrs[i].seq < attrs[best].seq))
			best = (ptrdiff_t)i;
	}
	if (best >= 0)
		*keyval = attrs[best].keyval;
	pthread_mutex_unlock(&attr_lock);
	return best >= 0;
}

int shadow_attr_comm_freed(MPI_Comm comm, bool newest_first)
{
	int keyval;

	while (attr_pick(comm, newest_first, &keyval)) {
		int rc = shadow_attr_delete(comm, keyval);

		if (rc != MPI_SUCCESS)
			return rc;
	}
	return MPI_SUCCESS;
}

int shadow_attr_comm_copied(MPI_Comm old, MPI_Comm copy)
{
	uint64_t after = 0;

	/* In the order they were set; the copies get their own, later order. */
	for (;;) {
		MPI_Comm_copy_attr_function *fn = NULL;
		void *extra = NULL;
		void *in = NULL;
		void *out = NULL;
		ptrdiff_t next = -1;
		int keyval = 0;
		int flag = 0;
		int rc;

		pthread_mutex_lock(&attr_lock);
		for (size_t i = 0; i < attr_n; i++)
			if (attrs[i].comm == old && attrs[i].seq > after &&
			    (next < 0 || attrs[i].seq < attrs[next].seq))
				next = (ptrdiff_t)i;
		if (next >= 0) {
			struct attr_keyval *k = attr_keyval_get(attrs[next].keyval);

			after = attrs[next].seq;
			keyval = attrs[next].keyval;
			in = attrs[next].value;
			fn = k ? k->copy : NULL;
			extra = k ? k->extra : NULL;
		}
		pthread_mutex_unlock(&attr_lock);
		if (next < 0)
			return MPI_SUCCESS;
		if (!fn)
			continue;
		rc = fn(old, keyval, extra, in, &out, &flag);
		if (rc != MPI_SUCCESS)
			return rc;
		if (flag && (rc = attr_store(copy, keyval, out, true)) != MPI_SUCCESS)
			return rc;
	}
}

/* MPI_COMM_DUP_FN (MPICH's MPIR_Dup_fn): the copy is the same value. */
SHADOW_EXPORT int MPIR_Dup_fn(MPI_Comm oldcomm, int keyval, void *extra, void *in, void *out,
			      int *flag)
{
	(void)oldcomm;
	(void)keyval;
	(void)extra;
	*(void **)out = in;
	*flag = 1;
	return MPI_SUCCESS;
}

/* ---- the MPI functions ---- */

SHADOW_EXPORT int PMPI_Comm_create_keyval(MPI_Comm_copy_attr_function *comm_copy_attr_fn,
					  MPI_Comm_delete_attr_function *comm_delete_attr_fn,
					  int *comm_keyval, void *extra_state)
{
	return shadow_attr_keyval_create(comm_copy_attr_fn, comm_delete_attr_fn, comm_keyval,
					 extra_state);
}

SHADOW_EXPORT int MPI_Comm_create_keyval(MPI_Comm_copy_attr_function *comm_copy_attr_fn,
					 MPI_Comm_delete_attr_function *comm_delete_attr_fn,
					 int *comm_keyval, void *extra_state)
	__attribute__((weak, alias("PMPI_Comm_create_keyval")));

SHADOW_EXPORT int PMPI_Comm_free_keyval(int *comm_keyval)
{
	return shadow_attr_keyval_free(comm_keyval);
}

SHADOW_EXPORT int MPI_Comm_free_keyval(int *comm_keyval)
	__attribute__((weak, alias("PMPI_Comm_free_keyval")));

SHADOW_EXPORT int PMPI_Comm_set_attr(MPI_Comm comm, int comm_keyval, void *attribute_val)
{
	return shadow_attr_set(comm, comm_keyval, attribute_val);
}

SHADOW_EXPORT int MPI_Comm_set_attr(MPI_Comm comm, int comm_keyval, void *attribute_val)
	__attribute__((weak, alias("PMPI_Comm_set_attr")));

SHADOW_EXPORT int PMPI_Comm_get_attr(MPI_Comm comm, int comm_keyval, void *attribute_val, int *flag)
{
	return shadow_attr_get(comm, comm_keyval, attribute_val, flag);
}

SHADOW_EXPORT int MPI_Comm_get_attr(MPI_Comm comm, int comm_keyval, void *attribute_val, int *flag)
	__attribute__((weak, alias("PMPI_Comm_get_attr")));

SHADOW_EXPORT int PMPI_Comm_delete_attr(MPI_Comm comm, int comm_keyval)
{
	return shadow_attr_delete(comm, comm_keyval);
}

SHADOW_EXPORT int MPI_Comm_delete_attr(MPI_Comm comm, int comm_keyval)
	__attribute__((weak, alias("PMPI_Comm_delete_attr")));

/* The MPI-1 names (deprecated, still in MPI 4.0's C binding). Their callback
 * types have the same signatures. */
SHADOW_EXPORT int PMPI_Keyval_create(MPI_Copy_function *copy_fn, MPI_Delete_function *delete_fn,
				     int *keyval, void *extra_state)
{
	return shadow_attr_keyval_create(copy_fn, delete_fn, keyval, extra_state);
}

SHADOW_EXPORT int MPI_Keyval_create(MPI_Copy_function *copy_fn, MPI_Delete_function *delete_fn,
				    int *keyval, void *extra_state)
	__attribute__((weak, alias("PMPI_Keyval_create")));

SHADOW_EXPORT int PMPI_Keyval_free(int *keyval)
{
	return shadow_attr_keyval_free(keyval);
}

SHADOW_EXPORT int MPI_Keyval_free(int *keyval) __attribute__((weak, alias("PMPI_Keyval_free")));

SHADOW_EXPORT int PMPI_Attr_put(MPI_Comm comm, int keyval, void *attribute_val)
{
	return shadow_attr_set(comm, keyval, attribute_val);
}

SHADOW_EXPORT int MPI_Attr_put(MPI_Comm comm, int keyval, void *attribute_val)
	__attribute__((weak, alias("PMPI_Attr_put")));

SHADOW_EXPORT int PMPI_Attr_get(MPI_Comm comm, int keyval, void *attribute_val, int *flag)
{
	return shadow_attr_get(comm, keyval, attribute_val, flag);
}

SHADOW_EXPORT int MPI_Attr_get(MPI_Comm comm, int keyval, void *attribute_val, int *flag)
	__attribute__((weak, alias("PMPI_Attr_get")));

SHADOW_EXPORT int PMPI_Attr_delete(MPI_Comm comm, int keyval)
{
	return shadow_attr_delete(comm, keyval);
}

SHADOW_EXPORT int MPI_Attr_delete(MPI_Comm comm, int keyval)
	__attribute__((weak, alias("PMPI_Attr_delete")));
