/* msg_err.c - the pinned error codes of the "error" message. */
#define LOG_PREFIX "msg: "
#include "msg.h"

#include "log.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

/* One row per pinned code; the index is the code. */
struct err_desc {
	const char *name; /* symbolic name for logs and docs */
	const char *text; /* fixed English description */
};

static const struct err_desc err_table[PROTO_E_MAX + 1] = {
	[PROTO_OK] = { "OK", "no error" },
	[PROTO_E_PROTOCOL] = { "E_PROTOCOL", "malformed or unexpected message" },
	[PROTO_E_VERSION] = { "E_VERSION", "unsupported protocol version" },
	[PROTO_E_AUTH] = { "E_AUTH", "authentication failed" },
	[PROTO_E_PERM] = { "E_PERM", "permission denied: not the job's owner" },
	[PROTO_E_REPLAY] = { "E_REPLAY", "credential replayed" },
	[PROTO_E_NOJOB] = { "E_NOJOB", "no such job under checkpoint control" },
	[PROTO_E_BUSY] = { "E_BUSY", "a checkpoint is already in progress" },
	[PROTO_E_STATE] = { "E_STATE", "request not valid in the current state" },
	[PROTO_E_TIMEOUT] = { "E_TIMEOUT", "a participant did not answer in time" },
	[PROTO_E_IO] = { "E_IO", "I/O error on checkpoint images" },
	[PROTO_E_NOSPACE] = { "E_NOSPACE", "checkpoint file system full or over quota" },
	[PROTO_E_UNSUPPORTED] = { "E_UNSUPPORTED",
				  "process uses a resource that cannot be checkpointed" },
	[PROTO_E_ABORTED] = { "E_ABORTED", "checkpoint generation aborted" },
	[PROTO_E_INTERNAL] = { "E_INTERNAL", "internal error" },
	[PROTO_E_TOOBIG] = { "E_TOOBIG", "message or field over a protocol limit" },
};

const char *proto_strerror(int code)
{
	if (code < 0 || code > PROTO_E_MAX)
		return "unknown error code";
	return err_table[code].text;
}

const char *proto_err_name(int code)
{
	if (code < 0 || code > PROTO_E_MAX)
		return "E_UNKNOWN";
	return err_table[code].name;
}

enum proto_err proto_err_from_errno(int neg_errno)
{
	switch (neg_errno) {
	case 0:
		return PROTO_OK;
	case -EPROTO:
	case -EBADMSG:
		return PROTO_E_PROTOCOL;
	case -EACCES:
	case -EPERM:
		return PROTO_E_PERM;
	case -EKEYREJECTED:
	case -EKEYEXPIRED:
		return PROTO_E_AUTH;
	case -EALREADY:
		return PROTO_E_REPLAY;
	case -ESRCH:
	case -ENOENT:
		return PROTO_E_NOJOB;
	case -EBUSY:
	case -EINPROGRESS:
		return PROTO_E_BUSY;
	case -ETIMEDOUT:
		return PROTO_E_TIMEOUT;
	case -EIO:
		return PROTO_E_IO;
	case -ENOSPC:
	case -EDQUOT:
		return PROTO_E_NOSPACE;
	case -ENOTSUP:
		return PROTO_E_UNSUPPORTED;
	case -ECANCELED:
		return PROTO_E_ABORTED;
	case -EMSGSIZE:
	case -ENAMETOOLONG:
	case -E2BIG:
		return PROTO_E_TOOBIG;
	default:
		return PROTO_E_INTERNAL;
	}
}

/* Length of the longest prefix of @s of at most @max bytes that does not
 * end inside a UTF-8 sequence. */
static size_t err_utf8_cut(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	return len;
}

/* Adds the "message" text of an error, cut to the protocol limit. */
static int err_set_text(struct json_object *msg, const char *text)
{
	struct json_object *t;

	t = json_object_new_string_len(text, (int)err_utf8_cut(text, PROTO_MSG_TEXT_MAX));
	if (!t)
		return -ENOMEM;
	if (proto_msg_set_obj(msg, "message", t)) {
		json_object_put(t);
		return -ENOMEM;
	}
	return 0;
}

struct json_object *proto_msg_new_error(enum proto_err code, const char *text, const char *re_type)
{
	struct json_object *msg = proto_msg_new(PROTO_MSG_ERROR);

	if (!msg)
		return NULL;
	if (proto_msg_set_int(msg, "code", code) ||
	    err_set_text(msg, text ? text : proto_strerror(code)) ||
	    (re_type && proto_msg_set_str(msg, "re", re_type))) {
		log_err("cannot build an error message (%s): out of memory", proto_err_name(code));
		json_object_put(msg);
		return NULL;
	}
	return msg;
}

int proto_msg_get_error(const struct json_object *msg, int *code, const char **text)
{
	int64_t c;
	int ret;

	ret = proto_msg_get_int_range(msg, "code", 0, INT32_MAX, &c);
	if (!ret)
		ret = proto_msg_get_str_opt(msg, "message", PROTO_MSG_TEXT_MAX, "", text);
	if (ret)
		return ret;
	*code = (int)c;
	return 0;
}
