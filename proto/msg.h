/* msg.h - message types of the slurm-ckpt protocol, strict field access, and
 * the pinned error codes of the "error" message. Public: any component may
 * include it. docs/protocol.md lists the fields of every message.
 *
 * Every getter validates strictly (presence, JSON type, range, length) and
 * on refusal returns -EPROTO, logs the reason once at debug level (the caller
 * decides whether a bad message is worth an error: a peer's mistake is not
 * ours) and keeps it for proto_msg_why(), so the caller can put it in the
 * "error" reply or in its own log line with the peer's name.
 */
#ifndef CKPT_PROTO_MSG_H
#define CKPT_PROTO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* ---- message type names (the "type" field) ------------------------------ */

#define PROTO_MSG_REGISTER     "register"     /* process/agent/CLI -> agent: hello */
#define PROTO_MSG_REGISTER_OK  "register_ok"  /* agent -> peer: hello accepted */
#define PROTO_MSG_HEARTBEAT    "heartbeat"    /* either way: liveness */
#define PROTO_MSG_CHECKPOINT   "checkpoint"   /* CLI/app/agent -> coordinator: request one */
#define PROTO_MSG_PREPARE      "prepare"      /* coordinator -> agents -> processes: quiesce */
#define PROTO_MSG_READY	       "ready"	      /* processes -> agents -> coordinator: quiesced */
#define PROTO_MSG_WRITE	       "write"	      /* coordinator -> ... -> processes: write images */
#define PROTO_MSG_WRITTEN      "written"      /* processes -> ... -> coordinator: image done */
#define PROTO_MSG_COMMIT       "commit"	      /* coordinator -> agents: make images durable */
#define PROTO_MSG_COMMITTED    "committed"    /* agents -> coordinator; coordinator -> CLI */
#define PROTO_MSG_ABORT	       "abort"	      /* coordinator -> everyone: drop this generation */
#define PROTO_MSG_RESUME       "resume"	      /* coordinator -> ... -> processes: continue */
#define PROTO_MSG_EXIT	       "exit"	      /* coordinator -> ... -> processes: final, exit */
#define PROTO_MSG_STATUS       "status"	      /* CLI -> agent/coordinator: query */
#define PROTO_MSG_STATUS_REPLY "status_reply" /* reply to status */
#define PROTO_MSG_ERROR	       "error"	      /* reply to any refused request */
#define PROTO_MSG_DRAIN_SUM    "drain_sum"    /* MPI drain: counters up, global sums/maxima down */
#define PROTO_MSG_LEAVE	       "leave"	      /* node agent -> coordinator: a process left */
#define PROTO_MSG_SAVE_PIPES   "save_pipes"   /* coordinator -> ... -> processes: save tree pipes */
#define PROTO_MSG_PIPES_SAVED  "pipes_saved"  /* processes -> ... -> coordinator: pipes saved */

/* The same types as numbers, for switch statements. Not sent on the wire;
 * values may change between builds. */
enum proto_msg_type {
	PROTO_MSG_T_UNKNOWN = 0, /* a type this build does not know */
	PROTO_MSG_T_REGISTER,
	PROTO_MSG_T_REGISTER_OK,
	PROTO_MSG_T_HEARTBEAT,
	PROTO_MSG_T_CHECKPOINT,
	PROTO_MSG_T_PREPARE,
	PROTO_MSG_T_READY,
	PROTO_MSG_T_WRITE,
	PROTO_MSG_T_WRITTEN,
	PROTO_MSG_T_COMMIT,
	PROTO_MSG_T_COMMITTED,
	PROTO_MSG_T_ABORT,
	PROTO_MSG_T_RESUME,
	PROTO_MSG_T_EXIT,
	PROTO_MSG_T_STATUS,
	PROTO_MSG_T_STATUS_REPLY,
	PROTO_MSG_T_ERROR,
	PROTO_MSG_T_DRAIN_SUM,
	PROTO_MSG_T_LEAVE,
	PROTO_MSG_T_SAVE_PIPES,
	PROTO_MSG_T_PIPES_SAVED,
	PROTO_MSG_T_COUNT, /* number of entries, not a type */
};

/* Type of @name, PROTO_MSG_T_UNKNOWN for NULL or an unknown name. */
enum proto_msg_type proto_msg_type_from_name(const char *name);
/* Wire name of @type, NULL for PROTO_MSG_T_UNKNOWN or out of range. */
const char *proto_msg_type_name(enum proto_msg_type type);
/* Type of @msg from its "type" field, PROTO_MSG_T_UNKNOWN if absent/unknown. */
enum proto_msg_type proto_msg_type(const struct json_object *msg);
/* True when @msg's "type" field equals @name. */
bool proto_msg_is(const struct json_object *msg, const char *name);

/* ---- limits ---------------------------------------------------------------- */

/* Longest string field accepted by default (bytes, not counting NUL): long
 * enough for any path (PATH_MAX is 4096), short enough that a thousand
 * fields still fit a frame. */
#define PROTO_MSG_STR_MAX 4096
/* Longest "type" name: the longest known is 12 bytes; leave room to grow. */
#define PROTO_MSG_TYPE_MAX 32
/* Longest free-text reason in abort/error messages. */
#define PROTO_MSG_TEXT_MAX 1024
/* Most elements accepted in an array field (drain_sum counters, status lists). */
#define PROTO_MSG_ARRAY_MAX 65536

/* ---- builders ---------------------------------------------------------------- */

/* Returns a new message {"v": PROTO_VERSION, "type": @type} (caller puts it),
 * or NULL when out of memory or @type is NULL/empty/too long. */
struct json_object *proto_msg_new(const char *type);

/* Set (or replace) field @key of @msg. Return 0, -EINVAL for a NULL argument
 * or a string longer than PROTO_MSG_STR_MAX, -ENOMEM. */
int proto_msg_set_int(struct json_object *msg, const char *key, int64_t val);
int proto_msg_set_bool(struct json_object *msg, const char *key, bool val);
int proto_msg_set_str(struct json_object *msg, const char *key, const char *val);
/* Sets an array of integers (drain_sum counters). -EINVAL when @n exceeds
 * PROTO_MSG_ARRAY_MAX. */
int proto_msg_set_int_array(struct json_object *msg, const char *key, const int64_t *vals,
			    size_t n);
/* Sets @key to @val, taking ownership of @val on success only. */
int proto_msg_set_obj(struct json_object *msg, const char *key, struct json_object *val);

/* Returns {"v":1,"type":@type,"gen":@gen}, the shape of prepare, ready,
 * commit, resume (and the start of most checkpoint messages); NULL when out
 * of memory or @gen < 1. */
struct json_object *proto_msg_new_gen(const char *type, int64_t gen);

/* ---- strict getters ---------------------------------------------------------- */

/* The reason the last getter on this thread refused a field, e.g.
 * "prepare: field \"gen\" is a string, expected an integer". "" if none. */
const char *proto_msg_why(void);

/* True when @msg has field @key (of any type, including null). */
bool proto_msg_has(const struct json_object *msg, const char *key);

/* Integer field: must be a JSON integer (not a float, not a string) that
 * fits int64_t. Returns 0 or -EPROTO. */
int proto_msg_get_int(const struct json_object *msg, const char *key, int64_t *val);
/* Integer field within [@min, @max]. Returns 0 or -EPROTO. */
int proto_msg_get_int_range(const struct json_object *msg, const char *key, int64_t min,
			    int64_t max, int64_t *val);
/* As proto_msg_get_int_range(), but a missing field gives @def. */
int proto_msg_get_int_opt(const struct json_object *msg, const char *key, int64_t min, int64_t max,
			  int64_t def, int64_t *val);
/* The "gen" field: an integer >= 1 (generations are numbered from 1). */
int proto_msg_get_gen(const struct json_object *msg, int64_t *gen);
/* Boolean field (true/false only, not 0/1). */
int proto_msg_get_bool(const struct json_object *msg, const char *key, bool *val);
/* As proto_msg_get_bool(), a missing field gives @def. */
int proto_msg_get_bool_opt(const struct json_object *msg, const char *key, bool def, bool *val);
/* String field of 1..@max_len bytes without NUL bytes (pass 0 for
 * PROTO_MSG_STR_MAX). *@val points into @msg: valid while @msg is held. */
int proto_msg_get_str(const struct json_object *msg, const char *key, size_t max_len,
		      const char **val);
/* As proto_msg_get_str(), a missing field gives @def (which may be NULL);
 * an empty string is accepted. */
int proto_msg_get_str_opt(const struct json_object *msg, const char *key, size_t max_len,
			  const char *def, const char **val);
/* Array of integers of at most @max_n elements (0: PROTO_MSG_ARRAY_MAX).
 * On success *@vals is malloc'd (caller frees; NULL when empty) and *@n set. */
int proto_msg_get_int_array(const struct json_object *msg, const char *key, size_t max_n,
			    int64_t **vals, size_t *n);

/* ---- pinned error codes ------------------------------------------------------ */

/* Codes of the "error" message's "code" field. The numbers are part of the
 * protocol: never renumber, never reuse; only append. */
enum proto_err {
	PROTO_OK = 0,		      /* no error */
	PROTO_E_PROTOCOL = 1,	      /* malformed message or unexpected type */
	PROTO_E_VERSION = 2,	      /* unsupported protocol version */
	PROTO_E_AUTH = 3,	      /* authentication failed (munge, SO_PEERCRED) */
	PROTO_E_PERM = 4,	      /* authenticated, but not the job's owner nor root */
	PROTO_E_REPLAY = 5,	      /* munge credential already used */
	PROTO_E_NOJOB = 6,	      /* no such job / job not under checkpoint control */
	PROTO_E_BUSY = 7,	      /* a checkpoint is already in progress */
	PROTO_E_STATE = 8,	      /* request not valid in the current state */
	PROTO_E_TIMEOUT = 9,	      /* a participant did not answer in time */
	PROTO_E_IO = 10,	      /* I/O error writing or reading images */
	PROTO_E_NOSPACE = 11,	      /* checkpoint file system full or over quota */
	PROTO_E_UNSUPPORTED = 12,     /* process holds a resource we cannot checkpoint */
	PROTO_E_ABORTED = 13,	      /* the generation was aborted */
	PROTO_E_INTERNAL = 14,	      /* bug or resource exhaustion in the sender */
	PROTO_E_TOOBIG = 15,	      /* message or field over a protocol limit */
	PROTO_E_MAX = PROTO_E_TOOBIG, /* highest code this build knows */
};

/* Fixed English description of @code; "unknown error code" for others. */
const char *proto_strerror(int code);
/* Symbolic name of @code ("E_BUSY"); "E_UNKNOWN" for unknown codes. */
const char *proto_err_name(int code);
/* Closest protocol code for a negative errno value (-ETIMEDOUT -> PROTO_E_TIMEOUT). */
enum proto_err proto_err_from_errno(int neg_errno);

/* Builds {"type":"error","code":@code,"message":@text,"re":@re_type}.
 * @text (may be NULL) is cut to PROTO_MSG_TEXT_MAX bytes at a UTF-8 boundary;
 * @re_type names the request refused (may be NULL). NULL when out of memory. */
struct json_object *proto_msg_new_error(enum proto_err code, const char *text, const char *re_type);
/* Reads an "error" message: code (any non-negative int, unknown codes
 * included, so old builds understand new peers) and message (may be "").
 * Returns 0 or -EPROTO. */
int proto_msg_get_error(const struct json_object *msg, int *code, const char **text);

#endif
