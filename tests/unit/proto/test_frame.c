/* Unit tests of proto/frame.c: encoding, payload decoding, the incremental
 * decoder on well-formed, split, malformed and hostile input. */
#include "frame.h"
#include "msg.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>

static struct json_object *sample(void)
{
	struct json_object *m = proto_msg_new(PROTO_MSG_PREPARE);

	cr_assert_not_null(m);
	cr_assert_eq(proto_msg_set_int(m, "gen", 7), 0);
	cr_assert_eq(proto_msg_set_str(m, "trigger", "time/é"), 0);
	return m;
}

Test(frame, encode_has_big_endian_prefix_and_compact_json)
{
	struct json_object *m = sample();
	char *buf;
	size_t len;
	uint32_t n;

	cr_assert_eq(proto_frame_encode(m, &buf, &len), 0);
	n = (uint32_t)(unsigned char)buf[0] << 24 | (uint32_t)(unsigned char)buf[1] << 16 |
	    (uint32_t)(unsigned char)buf[2] << 8 | (unsigned char)buf[3];
	cr_assert_eq(n + 4, len);
	cr_assert_eq(memchr(buf + 4, '\n', n), NULL, "payload must be one line");
	cr_assert(memmem(buf + 4, n, "\"v\":1", 5));
	cr_assert(memmem(buf + 4, n, "\"type\":\"prepare\"", 16));
	free(buf);
	json_object_put(m);
}

Test(frame, encode_decode_roundtrip)
{
	struct json_object *m = sample();
	struct json_object *d;
	enum proto_frame_err err;
	const char *s;
	int64_t gen;
	char *buf;
	size_t len;

	cr_assert_eq(proto_frame_encode(m, &buf, &len), 0);
	cr_assert_eq(proto_frame_decode(buf + 4, len - 4, &d, &err), 0);
	cr_assert_eq(err, PROTO_FRAME_OK);
	cr_assert(proto_msg_is(d, PROTO_MSG_PREPARE));
	cr_assert_eq(proto_msg_get_int(d, "gen", &gen), 0);
	cr_assert_eq(gen, 7);
	cr_assert_eq(proto_msg_get_str(d, "trigger", 0, &s), 0);
	cr_assert_str_eq(s, "time/é");
	free(buf);
	json_object_put(m);
	json_object_put(d);
}

Test(frame, encode_refuses_null_and_oversize)
{
	struct json_object *m = proto_msg_new("status_reply");
	char *big = malloc(PROTO_MSG_STR_MAX + 1);
	char *buf;
	size_t len;
	char key[16];
	int i;

	cr_assert_eq(proto_frame_encode(NULL, &buf, &len), -EINVAL);
	memset(big, 'x', PROTO_MSG_STR_MAX);
	big[PROTO_MSG_STR_MAX] = '\0';
	/* 300 fields of 4 KiB: over 1 MiB of JSON. */
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		cr_assert_eq(proto_msg_set_str(m, key, big), 0);
	}
	cr_assert_eq(proto_frame_encode(m, &buf, &len), -EMSGSIZE);
	free(big);
	json_object_put(m);
}

/* Decodes @payload and returns the reason (PROTO_FRAME_OK on success). */
static enum proto_frame_err decode_err(const char *payload, size_t len)
{
	struct json_object *m = (struct json_object *)1;
	enum proto_frame_err err = PROTO_FRAME_ENOMEM;
	int ret = proto_frame_decode(payload, len, &m, &err);

	if (ret == 0) {
		cr_assert_not_null(m);
		json_object_put(m);
	} else {
		cr_assert_eq(ret, -EPROTO);
		cr_assert_null(m, "no message on failure");
	}
	return err;
}

#define DECODE_ERR(s) decode_err((s), strlen(s))

Test(frame, decode_envelope_errors)
{
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"heartbeat\"}"), PROTO_FRAME_OK);
	cr_assert_eq(DECODE_ERR(" {\"v\":1,\"type\":\"x\"} \n"), PROTO_FRAME_OK);
	cr_assert_eq(decode_err("", 0), PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("{\"v\":1,"), PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"x\"}{}"), PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"x\"} junk"), PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("{v:1}"), PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":'x'}"), PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"x\",\"a\":NaN}"), PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"x\",\"a\":[-Infinity]}"),
		     PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"x\",\"a\":{\"b\":1e999}}"),
		     PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"x\",\"a\":1.5e3}"), PROTO_FRAME_OK);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"x\",}"), PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"\xff\xfe\"}"), PROTO_FRAME_ENOTJSON);
	cr_assert_eq(decode_err("{\"v\":1,\0\"type\":\"x\"}", 19), PROTO_FRAME_ENOTJSON);
	cr_assert_eq(DECODE_ERR("[1,2]"), PROTO_FRAME_ENOTOBJECT);
	cr_assert_eq(DECODE_ERR("\"str\""), PROTO_FRAME_ENOTOBJECT);
	cr_assert_eq(DECODE_ERR("42"), PROTO_FRAME_ENOTOBJECT);
	cr_assert_eq(DECODE_ERR("null"), PROTO_FRAME_ENOTOBJECT);
	cr_assert_eq(DECODE_ERR("{\"type\":\"x\"}"), PROTO_FRAME_EBADVERSION);
	cr_assert_eq(DECODE_ERR("{\"v\":\"1\",\"type\":\"x\"}"), PROTO_FRAME_EBADVERSION);
	cr_assert_eq(DECODE_ERR("{\"v\":1.0,\"type\":\"x\"}"), PROTO_FRAME_EBADVERSION);
	cr_assert_eq(DECODE_ERR("{\"v\":null,\"type\":\"x\"}"), PROTO_FRAME_EBADVERSION);
	cr_assert_eq(DECODE_ERR("{\"v\":1}"), PROTO_FRAME_EBADTYPE);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":3}"), PROTO_FRAME_EBADTYPE);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"\"}"), PROTO_FRAME_EBADTYPE);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"a\\u0000b\"}"), PROTO_FRAME_EBADTYPE);
	cr_assert_eq(DECODE_ERR("{\"v\":1,\"type\":\"0123456789012345678901234567890123\"}"),
		     PROTO_FRAME_EBADTYPE);
	cr_assert_eq(DECODE_ERR("{\"v\":2,\"type\":\"x\"}"), PROTO_FRAME_EVERSION);
	cr_assert_eq(DECODE_ERR("{\"v\":0,\"type\":\"x\"}"), PROTO_FRAME_EVERSION);
	cr_assert_eq(DECODE_ERR("{\"v\":-1,\"type\":\"x\"}"), PROTO_FRAME_EVERSION);
	cr_assert_eq(DECODE_ERR("{\"v\":18446744073709551617,\"type\":\"x\"}"),
		     PROTO_FRAME_EVERSION);
}

Test(frame, decode_tolerates_unknown_fields)
{
	struct json_object *m;
	int64_t gen;
	const char *text = "{\"v\":1,\"type\":\"prepare\",\"gen\":3,"
			   "\"future\":{\"x\":[1,2,{}]},\"zz\":null}";

	cr_assert_eq(proto_frame_decode(text, strlen(text), &m, NULL), 0);
	cr_assert_eq(proto_msg_get_int(m, "gen", &gen), 0);
	cr_assert_eq(gen, 3);
	json_object_put(m);
}

Test(frame, decoder_returns_messages_one_by_one)
{
	struct proto_decoder *dec = proto_decoder_new();
	struct json_object *m;
	char *a;
	char *b;
	size_t la;
	size_t lb;
	char both[256];

	a = test_frame_str("{\"v\":1,\"type\":\"ready\",\"gen\":1}", &la);
	b = test_frame_str("{\"v\":1,\"type\":\"written\",\"gen\":1}", &lb);
	memcpy(both, a, la);
	memcpy(both + la, b, lb);
	cr_assert_eq(proto_decoder_feed(dec, both, la + lb), 0);
	cr_assert_eq(proto_decoder_next(dec, &m), 1);
	cr_assert(proto_msg_is(m, "ready"));
	json_object_put(m);
	cr_assert_eq(proto_decoder_next(dec, &m), 1);
	cr_assert(proto_msg_is(m, "written"));
	json_object_put(m);
	cr_assert_eq(proto_decoder_next(dec, &m), 0);
	cr_assert_null(m);
	cr_assert_eq(proto_decoder_pending(dec), 0);
	cr_assert_eq(proto_decoder_eof(dec), 0);
	cr_assert_str_eq(proto_decoder_strerror(dec), "");
	free(a);
	free(b);
	proto_decoder_free(dec);
}

Test(frame, decoder_byte_by_byte)
{
	struct proto_decoder *dec = proto_decoder_new();
	struct json_object *m;
	size_t len;
	char *f = test_frame_str("{\"v\":1,\"type\":\"heartbeat\",\"seq\":99}", &len);
	size_t i;
	int got = 0;

	for (i = 0; i < len; i++) {
		cr_assert_eq(proto_decoder_feed(dec, f + i, 1), 0);
		int r = proto_decoder_next(dec, &m);

		cr_assert_eq(r, i + 1 == len ? 1 : 0, "byte %zu", i);
		if (r == 1) {
			got++;
			json_object_put(m);
		}
	}
	cr_assert_eq(got, 1);
	free(f);
	proto_decoder_free(dec);
}

Test(frame, decoder_many_frames_compacts_buffer)
{
	struct proto_decoder *dec = proto_decoder_new();
	struct json_object *m;
	size_t len;
	char *f = test_frame_str("{\"v\":1,\"type\":\"heartbeat\"}", &len);
	int i;

	for (i = 0; i < 10000; i++) {
		cr_assert_eq(proto_decoder_feed(dec, f, len), 0);
		cr_assert_eq(proto_decoder_next(dec, &m), 1);
		json_object_put(m);
	}
	cr_assert_eq(proto_decoder_pending(dec), 0);
	free(f);
	proto_decoder_free(dec);
}

Test(frame, decoder_oversize_refused_from_prefix_alone)
{
	struct proto_decoder *dec = proto_decoder_new();
	unsigned char hdr[4] = { 0x01, 0x00, 0x00, 0x00 }; /* 16 MiB */
	struct json_object *m;

	cr_assert_eq(proto_decoder_feed(dec, hdr, 4), 0);
	cr_assert_eq(proto_decoder_next(dec, &m), -EPROTO);
	cr_assert_null(m);
	cr_assert_eq(proto_decoder_error(dec), PROTO_FRAME_EOVERSIZE);
	cr_assert(strstr(proto_decoder_strerror(dec), "16777216"));
	/* Sticky: the stream has lost sync. */
	cr_assert_eq(proto_decoder_feed(dec, "x", 1), -EPROTO);
	cr_assert_eq(proto_decoder_next(dec, &m), -EPROTO);
	proto_decoder_free(dec);
}

Test(frame, decoder_exact_max_is_accepted)
{
	struct proto_decoder *dec = proto_decoder_new();
	const char *head = "{\"v\":1,\"type\":\"x\",\"pad\":\"";
	size_t hl = strlen(head);
	char *p = malloc(PROTO_FRAME_MAX);
	struct json_object *m;
	char *f;
	size_t len;
	size_t i;

	/* A payload of exactly PROTO_FRAME_MAX bytes, deliberately not a C string. */
	memset(p, 'a', PROTO_FRAME_MAX);
	for (i = 0; i < hl; i++)
		p[i] = head[i];
	p[PROTO_FRAME_MAX - 2] = '"';
	p[PROTO_FRAME_MAX - 1] = '}';
	f = test_frame(p, PROTO_FRAME_MAX, &len);
	cr_assert_eq(proto_decoder_feed(dec, f, len), 0);
	cr_assert_eq(proto_decoder_next(dec, &m), 1);
	json_object_put(m);
	free(f);
	free(p);
	proto_decoder_free(dec);
}

Test(frame, decoder_truncated_at_eof)
{
	struct proto_decoder *dec = proto_decoder_new();
	struct json_object *m;
	size_t len;
	char *f = test_frame_str("{\"v\":1,\"type\":\"heartbeat\"}", &len);

	cr_assert_eq(proto_decoder_feed(dec, f, len - 3), 0);
	cr_assert_eq(proto_decoder_next(dec, &m), 0);
	cr_assert_eq(proto_decoder_pending(dec), len - 3);
	cr_assert_eq(proto_decoder_eof(dec), -EPROTO);
	cr_assert_eq(proto_decoder_error(dec), PROTO_FRAME_ETRUNCATED);
	free(f);
	proto_decoder_free(dec);

	/* Only two bytes of a header. */
	dec = proto_decoder_new();
	cr_assert_eq(proto_decoder_feed(dec, "\0\0", 2), 0);
	cr_assert_eq(proto_decoder_next(dec, &m), 0);
	cr_assert_eq(proto_decoder_eof(dec), -EPROTO);
	proto_decoder_free(dec);
}

/* Feeds one framed @payload and returns the decoder's failure. */
static enum proto_frame_err decoder_err(const char *payload, char *why, size_t why_size)
{
	struct proto_decoder *dec = proto_decoder_new();
	enum proto_frame_err err;
	struct json_object *m;
	size_t len;
	char *f = test_frame_str(payload, &len);

	cr_assert_eq(proto_decoder_feed(dec, f, len), 0);
	cr_assert_eq(proto_decoder_next(dec, &m), -EPROTO, "payload %s", payload);
	cr_assert_null(m);
	err = proto_decoder_error(dec);
	snprintf(why, why_size, "%s", proto_decoder_strerror(dec));
	free(f);
	proto_decoder_free(dec);
	return err;
}

Test(frame, decoder_precise_reasons)
{
	char why[200];

	cr_assert_eq(decoder_err("{nope", why, sizeof(why)), PROTO_FRAME_ENOTJSON);
	cr_assert(strstr(why, "not valid JSON"), "%s", why);
	cr_assert_eq(decoder_err("[]", why, sizeof(why)), PROTO_FRAME_ENOTOBJECT);
	cr_assert(strstr(why, "array"), "%s", why);
	cr_assert_eq(decoder_err("{\"type\":\"x\"}", why, sizeof(why)), PROTO_FRAME_EBADVERSION);
	cr_assert(strstr(why, "missing"), "%s", why);
	cr_assert_eq(decoder_err("{\"v\":\"1\",\"type\":\"x\"}", why, sizeof(why)),
		     PROTO_FRAME_EBADVERSION);
	cr_assert(strstr(why, "string"), "%s", why);
	cr_assert_eq(decoder_err("{\"v\":1,\"type\":[]}", why, sizeof(why)), PROTO_FRAME_EBADTYPE);
	cr_assert(strstr(why, "array"), "%s", why);
	cr_assert_eq(decoder_err("{\"v\":1}", why, sizeof(why)), PROTO_FRAME_EBADTYPE);
	cr_assert(strstr(why, "missing"), "%s", why);
	cr_assert_eq(decoder_err("{\"v\":9,\"type\":\"x\"}", why, sizeof(why)),
		     PROTO_FRAME_EVERSION);
	cr_assert(strstr(why, "version 9"), "%s", why);
}

Test(frame, decoder_empty_payload)
{
	struct proto_decoder *dec = proto_decoder_new();
	struct json_object *m;

	cr_assert_eq(proto_decoder_feed(dec, "\0\0\0\0", 4), 0);
	cr_assert_eq(proto_decoder_next(dec, &m), -EPROTO);
	cr_assert_eq(proto_decoder_error(dec), PROTO_FRAME_ENOTJSON);
	proto_decoder_free(dec);
}

Test(frame, decoder_free_null_and_strerror_all)
{
	int e;

	proto_decoder_free(NULL);
	for (e = PROTO_FRAME_OK; e <= PROTO_FRAME_ENOMEM; e++)
		cr_assert(strlen(proto_frame_strerror((enum proto_frame_err)e)) > 0);
	cr_assert_str_eq(proto_frame_strerror((enum proto_frame_err)99), "unknown frame error");
}

Test(frame, check_envelope_of_built_message)
{
	struct json_object *m = proto_msg_new("status");

	cr_assert_eq(proto_frame_check(m), PROTO_FRAME_OK);
	json_object_object_del(m, "v");
	cr_assert_eq(proto_frame_check(m), PROTO_FRAME_EBADVERSION);
	json_object_put(m);
	cr_assert_eq(proto_frame_check(NULL), PROTO_FRAME_ENOTOBJECT);
}

Test(frame, deep_nesting_is_refused_not_crashing)
{
	char payload[2100];
	size_t i;
	struct json_object *m;

	strcpy(payload, "{\"v\":1,\"type\":\"x\",\"a\":");
	for (i = strlen(payload); i < 1500; i++)
		payload[i] = '[';
	payload[i] = '\0';
	cr_assert_eq(proto_frame_decode(payload, strlen(payload), &m, NULL), -EPROTO);
}
