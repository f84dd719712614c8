/* frame.c - frame encoding, payload decoding and the incremental decoder. */
#define LOG_PREFIX "frame: "
#include "frame.h"

#include "log.h"
#include "msg.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *proto_frame_strerror(enum proto_frame_err err)
{
	switch (err) {
	case PROTO_FRAME_OK:
		return "no error";
	case PROTO_FRAME_EOVERSIZE:
		return "frame larger than the 1 MiB limit";
	case PROTO_FRAME_ETRUNCATED:
		return "connection closed in the middle of a frame";
	case PROTO_FRAME_ENOTJSON:
		return "payload is not valid JSON text";
	case PROTO_FRAME_ENOTOBJECT:
		return "payload is not a JSON object";
	case PROTO_FRAME_EBADVERSION:
		return "field \"v\" missing or not an integer";
	case PROTO_FRAME_EBADTYPE:
		return "field \"type\" missing, not a string, empty or too long";
	case PROTO_FRAME_EVERSION:
		return "unsupported protocol version";
	case PROTO_FRAME_ENOMEM:
		return "out of memory";
	}
	return "unknown frame error";
}

static void frame_put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t frame_get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int proto_frame_encode(const struct json_object *msg, char **out, size_t *out_len)
{
	const char *text;
	size_t len = 0;
	char *buf;

	if (!msg || !out || !out_len)
		return -EINVAL;
	/* json-c caches the serialization inside the object, hence the
	 * non-const parameter; the JSON value itself is not changed. */
	text = json_object_to_json_string_length(
		(struct json_object *)msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		&len);
	if (!text) {
		log_err("cannot serialize message: out of memory");
		return -ENOMEM;
	}
	if (len > PROTO_FRAME_MAX) {
		log_err("message of %zu bytes exceeds the %u-byte frame limit; "
			"split it or send less",
			len, PROTO_FRAME_MAX);
		return -EMSGSIZE;
	}
	buf = malloc(PROTO_FRAME_HDR_LEN + len);
	if (!buf) {
		log_err("cannot allocate a %zu-byte frame", len);
		return -ENOMEM;
	}
	frame_put_be32((unsigned char *)buf, (uint32_t)len);
	memcpy(buf + PROTO_FRAME_HDR_LEN, text, len);
	*out = buf;
	*out_len = PROTO_FRAME_HDR_LEN + len;
	return 0;
}

enum proto_frame_err proto_frame_check(const struct json_object *msg)
{
	struct json_object *v;
	struct json_object *type;
	int len;

	if (!json_object_is_type(msg, json_type_object))
		return PROTO_FRAME_ENOTOBJECT;
	if (!json_object_object_get_ex(msg, "v", &v) || !json_object_is_type(v, json_type_int))
		return PROTO_FRAME_EBADVERSION;
	if (!json_object_object_get_ex(msg, "type", &type) ||
	    !json_object_is_type(type, json_type_string))
		return PROTO_FRAME_EBADTYPE;
	len = json_object_get_string_len(type);
	if (len <= 0 || len > PROTO_MSG_TYPE_MAX ||
	    strlen(json_object_get_string(type)) != (size_t)len)
		return PROTO_FRAME_EBADTYPE;
	/* An int64 that is not 1 (or a uint64 json-c clamps) is another version. */
	if (json_object_get_int64(v) != PROTO_VERSION)
		return PROTO_FRAME_EVERSION;
	return PROTO_FRAME_OK;
}

/* json-c's tokener already refuses nesting beyond 32 levels; this bound only
 * keeps the recursion below safe whatever json-c does. */
#define FRAME_DEPTH_MAX 64

/* False when @obj holds NaN or an infinity anywhere: json-c accepts "NaN",
 * "Infinity" and overflowing exponents even in strict mode, but they are not
 * JSON (RFC 8259) and would not survive a round trip to another peer. */
static bool frame_json_finite(struct json_object *obj, int depth)
{
	size_t i;
	size_t n;

	if (depth > FRAME_DEPTH_MAX)
		return false;
	switch (json_object_get_type(obj)) {
	case json_type_double:
		return isfinite(json_object_get_double(obj));
	case json_type_array:
		n = json_object_array_length(obj);
		for (i = 0; i < n; i++)
			if (!frame_json_finite(json_object_array_get_idx(obj, i), depth + 1))
				return false;
		return true;
	case json_type_object: {
		json_object_object_foreach (obj, key, val) {
			(void)key;
			if (!frame_json_finite(val, depth + 1))
				return false;
		}
		return true;
	}
	default:
		return true;
	}
}

/* Parses @len bytes of JSON text strictly: RFC 8259 syntax (as far as
 * json-c's strict mode goes: it still takes single-quoted keys), valid UTF-8,
 * finite numbers, one value and nothing but whitespace after it. */
static enum proto_frame_err frame_parse(const char *text, size_t len, struct json_object **out)
{
	enum proto_frame_err err = PROTO_FRAME_ENOTJSON;
	struct json_tokener *tok;
	struct json_object *obj;
	size_t end;

	*out = NULL;
	/* JSON text never holds a raw NUL; json-c would stop at one. */
	if (len == 0 || len > INT_MAX || memchr(text, '\0', len))
		return PROTO_FRAME_ENOTJSON;
	tok = json_tokener_new();
	if (!tok)
		return PROTO_FRAME_ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	/* A bare top-level number ("42") only ends at a terminator: give it one,
	 * so it is reported as "not an object" rather than as bad JSON. */
	if (!obj && json_tokener_get_error(tok) == json_tokener_continue && end == len)
		obj = json_tokener_parse_ex(tok, "", 1);
	while (end < len && strchr(" \t\r\n", text[end]))
		end++;
	/* Success with a NULL object is a JSON null: OK here, "not an object"
	 * for the caller's envelope check. */
	if (json_tokener_get_error(tok) == json_tokener_success && end == len &&
	    frame_json_finite(obj, 0)) {
		*out = obj;
		obj = NULL;
		err = PROTO_FRAME_OK;
	}
	json_object_put(obj);
	json_tokener_free(tok);
	return err;
}

int proto_frame_decode(const char *payload, size_t len, struct json_object **msg,
		       enum proto_frame_err *err)
{
	enum proto_frame_err e;
	struct json_object *obj = NULL;

	*msg = NULL;
	if (len > PROTO_FRAME_MAX)
		e = PROTO_FRAME_EOVERSIZE;
	else
		e = frame_parse(payload, len, &obj);
	if (e == PROTO_FRAME_OK)
		e = proto_frame_check(obj);
	if (err)
		*err = e;
	if (e != PROTO_FRAME_OK) {
		json_object_put(obj);
		return e == PROTO_FRAME_ENOMEM ? -ENOMEM : -EPROTO;
	}
	*msg = obj;
	return 0;
}

/* ---- incremental decoder ------------------------------------------------ */

struct proto_decoder {
	unsigned char *buf;	  /* bytes fed but not yet returned as messages */
	size_t start;		  /* offset of the first unconsumed byte in buf */
	size_t len;		  /* offset one past the last fed byte in buf */
	size_t cap;		  /* allocated size of buf */
	enum proto_frame_err err; /* sticky failure, PROTO_FRAME_OK while healthy */
	char why[160];		  /* precise description of err for logs and replies */
};

struct proto_decoder *proto_decoder_new(void)
{
	struct proto_decoder *dec = calloc(1, sizeof(*dec));

	if (!dec)
		log_err("cannot allocate a frame decoder: out of memory");
	return dec;
}

void proto_decoder_free(struct proto_decoder *dec)
{
	if (!dec)
		return;
	free(dec->buf);
	free(dec);
}

/* Records the first failure (later ones are consequences of it); the caller
 * has written its description into dec->why. Not variadic on purpose: the
 * analyzer cannot follow a va_list through an inlined static function. */
static int decoder_fail(struct proto_decoder *dec, enum proto_frame_err err)
{
	dec->err = err;
	return err == PROTO_FRAME_ENOMEM ? -ENOMEM : -EPROTO;
}

/* Makes room for @more bytes, moving unconsumed bytes to the front first so
 * the buffer never grows beyond what the peer actually has in flight. */
static int decoder_reserve(struct proto_decoder *dec, size_t more)
{
	size_t used = dec->len - dec->start;
	size_t cap;
	unsigned char *nbuf;

	if (dec->start && dec->cap - dec->len < more) {
		memmove(dec->buf, dec->buf + dec->start, used);
		dec->start = 0;
		dec->len = used;
	}
	if (dec->cap - dec->len >= more)
		return 0;
	if (more > SIZE_MAX / 2 - used)
		return -ENOMEM;
	cap = dec->cap ? dec->cap : 4096;
	while (cap < used + more)
		cap *= 2;
	nbuf = realloc(dec->buf, cap);
	if (!nbuf)
		return -ENOMEM;
	dec->buf = nbuf;
	dec->cap = cap;
	return 0;
}

int proto_decoder_feed(struct proto_decoder *dec, const void *buf, size_t len)
{
	if (dec->err != PROTO_FRAME_OK)
		return -EPROTO;
	if (len == 0)
		return 0;
	if (decoder_reserve(dec, len)) {
		log_err("cannot buffer %zu more bytes of a frame: out of memory", len);
		snprintf(dec->why, sizeof(dec->why), "out of memory buffering %zu bytes", len);
		return decoder_fail(dec, PROTO_FRAME_ENOMEM);
	}
	memcpy(dec->buf + dec->len, buf, len);
	dec->len += len;
	return 0;
}

/* Describes an envelope failure with the offending JSON type. */
static int decoder_fail_envelope(struct proto_decoder *dec, enum proto_frame_err err,
				 const struct json_object *obj)
{
	const char *key = err == PROTO_FRAME_EBADTYPE ? "type" : "v";
	struct json_object *f = NULL;
	bool has = json_object_object_get_ex(obj, key, &f);
	const char *ftype = json_type_to_name(json_object_get_type(f));
	char *why = dec->why;
	size_t size = sizeof(dec->why);

	if (err == PROTO_FRAME_ENOTOBJECT)
		snprintf(why, size, "payload is a JSON %s, expected an object",
			 json_type_to_name(json_object_get_type(obj)));
	else if ((err == PROTO_FRAME_EBADVERSION || err == PROTO_FRAME_EBADTYPE) && !has)
		snprintf(why, size, "field \"%s\" is missing", key);
	else if (err == PROTO_FRAME_EBADVERSION)
		snprintf(why, size, "field \"v\" is a %s, expected an integer", ftype);
	else if (err == PROTO_FRAME_EBADTYPE && !json_object_is_type(f, json_type_string))
		snprintf(why, size, "field \"type\" is a %s, expected a string", ftype);
	else if (err == PROTO_FRAME_EBADTYPE)
		snprintf(why, size, "field \"type\" is empty, longer than %d bytes or holds NUL",
			 PROTO_MSG_TYPE_MAX);
	else if (err == PROTO_FRAME_EVERSION)
		snprintf(why, size, "protocol version %lld is not supported (this is %d)",
			 (long long)json_object_get_int64(f), PROTO_VERSION);
	else
		snprintf(why, size, "%s", proto_frame_strerror(err));
	return decoder_fail(dec, err);
}

/* Parses one complete payload; on success returns 1 with *@msg set. */
static int decoder_parse(struct proto_decoder *dec, const char *payload, uint32_t len,
			 struct json_object **msg)
{
	struct json_object *obj = NULL;
	enum proto_frame_err err;
	int ret;

	err = frame_parse(payload, len, &obj);
	if (err == PROTO_FRAME_ENOMEM) {
		snprintf(dec->why, sizeof(dec->why), "out of memory parsing a %u-byte frame", len);
		return decoder_fail(dec, err);
	}
	if (err != PROTO_FRAME_OK) {
		snprintf(dec->why, sizeof(dec->why), "%u-byte payload is not valid JSON text%s",
			 len, len ? "" : " (empty)");
		return decoder_fail(dec, err);
	}
	err = proto_frame_check(obj);
	if (err != PROTO_FRAME_OK) {
		ret = decoder_fail_envelope(dec, err, obj);
		json_object_put(obj);
		return ret;
	}
	*msg = obj;
	return 1;
}

int proto_decoder_next(struct proto_decoder *dec, struct json_object **msg)
{
	size_t avail = dec->len - dec->start;
	const unsigned char *p = dec->buf + dec->start;
	uint32_t len;
	int ret;

	*msg = NULL;
	if (dec->err != PROTO_FRAME_OK)
		return dec->err == PROTO_FRAME_ENOMEM ? -ENOMEM : -EPROTO;
	if (avail < PROTO_FRAME_HDR_LEN)
		return 0;
	len = frame_get_be32(p);
	/* Refuse as soon as the prefix is seen: never buffer a huge frame. */
	if (len > PROTO_FRAME_MAX) {
		snprintf(dec->why, sizeof(dec->why), "frame of %u bytes exceeds the %u-byte limit",
			 len, PROTO_FRAME_MAX);
		return decoder_fail(dec, PROTO_FRAME_EOVERSIZE);
	}
	if (avail - PROTO_FRAME_HDR_LEN < len)
		return 0;
	ret = decoder_parse(dec, (const char *)p + PROTO_FRAME_HDR_LEN, len, msg);
	if (ret == 1)
		dec->start += PROTO_FRAME_HDR_LEN + len;
	if (dec->start == dec->len)
		dec->start = dec->len = 0;
	return ret;
}

int proto_decoder_eof(struct proto_decoder *dec)
{
	size_t avail = dec->len - dec->start;

	if (dec->err != PROTO_FRAME_OK)
		return dec->err == PROTO_FRAME_ENOMEM ? -ENOMEM : -EPROTO;
	if (avail == 0)
		return 0;
	snprintf(dec->why, sizeof(dec->why),
		 "connection closed with %zu bytes of an incomplete frame buffered", avail);
	return decoder_fail(dec, PROTO_FRAME_ETRUNCATED);
}

size_t proto_decoder_pending(const struct proto_decoder *dec)
{
	return dec->len - dec->start;
}

enum proto_frame_err proto_decoder_error(const struct proto_decoder *dec)
{
	return dec->err;
}

const char *proto_decoder_strerror(const struct proto_decoder *dec)
{
	return dec->why;
}
