/* msg.c - message type table, builders and strict field getters. */
#define LOG_PREFIX "msg: "
#include "msg.h"

#include "frame.h"
#include "log.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Indexed by enum proto_msg_type. */
static const char *const msg_type_names[PROTO_MSG_T_COUNT] = {
	[PROTO_MSG_T_UNKNOWN] = NULL,
	[PROTO_MSG_T_REGISTER] = PROTO_MSG_REGISTER,
	[PROTO_MSG_T_REGISTER_OK] = PROTO_MSG_REGISTER_OK,
	[PROTO_MSG_T_HEARTBEAT] = PROTO_MSG_HEARTBEAT,
	[PROTO_MSG_T_CHECKPOINT] = PROTO_MSG_CHECKPOINT,
	[PROTO_MSG_T_PREPARE] = PROTO_MSG_PREPARE,
	[PROTO_MSG_T_READY] = PROTO_MSG_READY,
	[PROTO_MSG_T_WRITE] = PROTO_MSG_WRITE,
	[PROTO_MSG_T_WRITTEN] = PROTO_MSG_WRITTEN,
	[PROTO_MSG_T_COMMIT] = PROTO_MSG_COMMIT,
	[PROTO_MSG_T_COMMITTED] = PROTO_MSG_COMMITTED,
	[PROTO_MSG_T_ABORT] = PROTO_MSG_ABORT,
	[PROTO_MSG_T_RESUME] = PROTO_MSG_RESUME,
	[PROTO_MSG_T_EXIT] = PROTO_MSG_EXIT,
	[PROTO_MSG_T_STATUS] = PROTO_MSG_STATUS,
	[PROTO_MSG_T_STATUS_REPLY] = PROTO_MSG_STATUS_REPLY,
	[PROTO_MSG_T_ERROR] = PROTO_MSG_ERROR,
	[PROTO_MSG_T_DRAIN_SUM] = PROTO_MSG_DRAIN_SUM,
	[PROTO_MSG_T_LEAVE] = PROTO_MSG_LEAVE,
	[PROTO_MSG_T_SAVE_PIPES] = PROTO_MSG_SAVE_PIPES,
	[PROTO_MSG_T_PIPES_SAVED] = PROTO_MSG_PIPES_SAVED,
};

enum proto_msg_type proto_msg_type_from_name(const char *name)
{
	int t;

	if (!name)
		return PROTO_MSG_T_UNKNOWN;
	for (t = PROTO_MSG_T_UNKNOWN + 1; t < PROTO_MSG_T_COUNT; t++)
		if (!strcmp(name, msg_type_names[t]))
			return (enum proto_msg_type)t;
	return PROTO_MSG_T_UNKNOWN;
}

const char *proto_msg_type_name(enum proto_msg_type type)
{
	if ((int)type <= PROTO_MSG_T_UNKNOWN || type >= PROTO_MSG_T_COUNT)
		return NULL;
	return msg_type_names[type];
}

/* The "type" string of @msg, or NULL. */
static const char *msg_type_str(const struct json_object *msg)
{
	struct json_object *t;

	if (!json_object_object_get_ex(msg, "type", &t) ||
	    !json_object_is_type(t, json_type_string))
		return NULL;
	return json_object_get_string(t);
}

enum proto_msg_type proto_msg_type(const struct json_object *msg)
{
	return proto_msg_type_from_name(msg_type_str(msg));
}

bool proto_msg_is(const struct json_object *msg, const char *name)
{
	const char *t = msg_type_str(msg);

	return t && name && !strcmp(t, name);
}

/* ---- builders ---------------------------------------------------------------- */

struct json_object *proto_msg_new(const char *type)
{
	struct json_object *msg;

	if (!type || !*type || strlen(type) > PROTO_MSG_TYPE_MAX) {
		log_err("refusing to build a message with an invalid type name");
		return NULL;
	}
	msg = json_object_new_object();
	if (!msg)
		goto out_nomem;
	if (proto_msg_set_int(msg, "v", PROTO_VERSION) || proto_msg_set_str(msg, "type", type))
		goto out_put;
	return msg;
out_put:
	json_object_put(msg);
out_nomem:
	log_err("cannot build a \"%s\" message: out of memory", type);
	return NULL;
}

/* Adds @val (owned on success only) under @key. */
static int msg_add(struct json_object *msg, const char *key, struct json_object *val)
{
	if (!val)
		return -ENOMEM;
	if (json_object_object_add(msg, key, val)) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

/* Appends integer @v to array @arr. */
static int msg_add_index(struct json_object *arr, int64_t v)
{
	struct json_object *o = json_object_new_int64(v);

	if (!o)
		return -ENOMEM;
	if (json_object_array_add(arr, o)) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

int proto_msg_set_int(struct json_object *msg, const char *key, int64_t val)
{
	if (!msg || !key)
		return -EINVAL;
	return msg_add(msg, key, json_object_new_int64(val));
}

int proto_msg_set_bool(struct json_object *msg, const char *key, bool val)
{
	if (!msg || !key)
		return -EINVAL;
	return msg_add(msg, key, json_object_new_boolean(val));
}

int proto_msg_set_str(struct json_object *msg, const char *key, const char *val)
{
	size_t len;

	if (!msg || !key || !val)
		return -EINVAL;
	len = strlen(val);
	if (len > PROTO_MSG_STR_MAX) {
		log_err("field \"%s\": %zu-byte string exceeds the %d-byte protocol limit", key,
			len, PROTO_MSG_STR_MAX);
		return -EINVAL;
	}
	return msg_add(msg, key, json_object_new_string_len(val, (int)len));
}

int proto_msg_set_int_array(struct json_object *msg, const char *key, const int64_t *vals, size_t n)
{
	struct json_object *arr;
	size_t i;

	if (!msg || !key || (n && !vals))
		return -EINVAL;
	if (n > PROTO_MSG_ARRAY_MAX) {
		log_err("field \"%s\": %zu elements exceed the %d-element protocol limit", key, n,
			PROTO_MSG_ARRAY_MAX);
		return -EINVAL;
	}
	arr = json_object_new_array_ext((int)n);
	if (!arr)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (msg_add_index(arr, vals[i]))
			goto out_put;
	}
	return msg_add(msg, key, arr);
out_put:
	json_object_put(arr);
	return -ENOMEM;
}

int proto_msg_set_obj(struct json_object *msg, const char *key, struct json_object *val)
{
	if (!msg || !key || !val)
		return -EINVAL;
	if (json_object_object_add(msg, key, val))
		return -ENOMEM;
	return 0;
}

struct json_object *proto_msg_new_gen(const char *type, int64_t gen)
{
	struct json_object *msg;

	if (gen < 1) {
		log_err("refusing to build a \"%s\" message for generation %lld",
			type ? type : "(null)", (long long)gen);
		return NULL;
	}
	msg = proto_msg_new(type);
	if (msg && proto_msg_set_int(msg, "gen", gen)) {
		log_err("cannot build a \"%s\" message: out of memory", type);
		json_object_put(msg);
		return NULL;
	}
	return msg;
}

/* ---- strict getters ---------------------------------------------------------- */

/* Per thread: getters run in the agent's loop and in the checkpoint thread. */
static __thread char msg_why[256];

const char *proto_msg_why(void)
{
	return msg_why;
}

/* Records why field @key of @msg was refused (@why completes "field \"key\" ...");
 * always returns -EPROTO. Not variadic: callers format into a local buffer. */
static int msg_refuse(const struct json_object *msg, const char *key, const char *why)
{
	const char *type = msg_type_str(msg);

	snprintf(msg_why, sizeof(msg_why), "%s: field \"%s\" %s", type ? type : "message",
		 key ? key : "", why);
	log_debug("%s", msg_why);
	return -EPROTO;
}

bool proto_msg_has(const struct json_object *msg, const char *key)
{
	return msg && key && json_object_object_get_ex(msg, key, NULL);
}

/* Finds field @key of JSON type @type. Returns 0, -ENOENT when absent, or
 * -EPROTO (reason recorded) when present with another type. */
static int msg_field(const struct json_object *msg, const char *key, enum json_type type,
		     struct json_object **val)
{
	char why[96];

	if (!json_object_is_type(msg, json_type_object) || !key)
		return msg_refuse(msg, key, "cannot be read: not a message object");
	if (!json_object_object_get_ex(msg, key, val))
		return -ENOENT;
	if (!json_object_is_type(*val, type)) {
		snprintf(why, sizeof(why), "is a %s, expected %s",
			 json_type_to_name(json_object_get_type(*val)), json_type_to_name(type));
		return msg_refuse(msg, key, why);
	}
	return 0;
}

/* Reads an integer known to be a JSON int; json-c clamps numbers beyond
 * int64 to INT64_MAX/INT64_MIN, and keeps the unsigned value above it. */
static int msg_int_value(const struct json_object *msg, const char *key,
			 const struct json_object *v, int64_t *val)
{
	*val = json_object_get_int64(v);
	if (*val == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
		return msg_refuse(msg, key, "is larger than a 64-bit signed integer");
	return 0;
}

int proto_msg_get_int_range(const struct json_object *msg, const char *key, int64_t min,
			    int64_t max, int64_t *val)
{
	struct json_object *v = NULL;
	char why[96];
	int64_t x;
	int ret;

	ret = msg_field(msg, key, json_type_int, &v);
	if (ret == -ENOENT)
		return msg_refuse(msg, key, "is missing");
	if (!ret)
		ret = msg_int_value(msg, key, v, &x);
	if (ret)
		return ret;
	if (x < min || x > max) {
		snprintf(why, sizeof(why), "is %lld, outside [%lld, %lld]", (long long)x,
			 (long long)min, (long long)max);
		return msg_refuse(msg, key, why);
	}
	*val = x;
	return 0;
}

int proto_msg_get_int(const struct json_object *msg, const char *key, int64_t *val)
{
	return proto_msg_get_int_range(msg, key, INT64_MIN, INT64_MAX, val);
}

int proto_msg_get_gen(const struct json_object *msg, int64_t *gen)
{
	return proto_msg_get_int_range(msg, "gen", 1, INT64_MAX, gen);
}

int proto_msg_get_int_opt(const struct json_object *msg, const char *key, int64_t min, int64_t max,
			  int64_t def, int64_t *val)
{
	if (json_object_is_type(msg, json_type_object) && key &&
	    !json_object_object_get_ex(msg, key, NULL)) {
		*val = def;
		return 0;
	}
	return proto_msg_get_int_range(msg, key, min, max, val);
}

int proto_msg_get_bool(const struct json_object *msg, const char *key, bool *val)
{
	struct json_object *v = NULL;
	int ret;

	ret = msg_field(msg, key, json_type_boolean, &v);
	if (ret == -ENOENT)
		return msg_refuse(msg, key, "is missing");
	if (ret)
		return ret;
	*val = json_object_get_boolean(v);
	return 0;
}

int proto_msg_get_bool_opt(const struct json_object *msg, const char *key, bool def, bool *val)
{
	struct json_object *v = NULL;
	int ret;

	ret = msg_field(msg, key, json_type_boolean, &v);
	if (ret == -ENOENT) {
		*val = def;
		return 0;
	}
	if (ret)
		return ret;
	*val = json_object_get_boolean(v);
	return 0;
}

/* Common part of the string getters; @allow_empty for optional fields. */
static int msg_get_str(const struct json_object *msg, const char *key, size_t max_len,
		       bool allow_empty, const char **val)
{
	struct json_object *v = NULL;
	char why[96];
	const char *s;
	size_t len;
	int ret;

	ret = msg_field(msg, key, json_type_string, &v);
	if (ret)
		return ret;
	if (max_len == 0)
		max_len = PROTO_MSG_STR_MAX;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len)
		return msg_refuse(msg, key, "contains a NUL character");
	if (len > max_len) {
		snprintf(why, sizeof(why), "is %zu bytes long, limit %zu", len, max_len);
		return msg_refuse(msg, key, why);
	}
	if (len == 0 && !allow_empty)
		return msg_refuse(msg, key, "is empty");
	*val = s;
	return 0;
}

int proto_msg_get_str(const struct json_object *msg, const char *key, size_t max_len,
		      const char **val)
{
	int ret = msg_get_str(msg, key, max_len, false, val);

	if (ret == -ENOENT)
		return msg_refuse(msg, key, "is missing");
	return ret;
}

int proto_msg_get_str_opt(const struct json_object *msg, const char *key, size_t max_len,
			  const char *def, const char **val)
{
	int ret = msg_get_str(msg, key, max_len, true, val);

	if (ret == -ENOENT) {
		*val = def;
		return 0;
	}
	return ret;
}

int proto_msg_get_int_array(const struct json_object *msg, const char *key, size_t max_n,
			    int64_t **vals, size_t *n)
{
	struct json_object *arr = NULL;
	int64_t *out = NULL;
	char why[96];
	size_t len;
	size_t i;
	int ret;

	ret = msg_field(msg, key, json_type_array, &arr);
	if (ret == -ENOENT)
		return msg_refuse(msg, key, "is missing");
	if (ret)
		return ret;
	if (max_n == 0 || max_n > PROTO_MSG_ARRAY_MAX)
		max_n = PROTO_MSG_ARRAY_MAX;
	len = json_object_array_length(arr);
	if (len > max_n) {
		snprintf(why, sizeof(why), "has %zu elements, limit %zu", len, max_n);
		return msg_refuse(msg, key, why);
	}
	if (len) {
		out = calloc(len, sizeof(*out));
		if (!out) {
			log_err("cannot allocate %zu counters of field \"%s\"", len, key);
			return -ENOMEM;
		}
	}
	for (i = 0; i < len; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(e, json_type_int)) {
			snprintf(why, sizeof(why), "element %zu is a %s, expected an integer", i,
				 json_type_to_name(json_object_get_type(e)));
			ret = msg_refuse(msg, key, why);
			goto out_free;
		}
		ret = msg_int_value(msg, key, e, &out[i]);
		if (ret)
			goto out_free;
	}
	*vals = out;
	*n = len;
	return 0;
out_free:
	free(out);
	return ret;
}
