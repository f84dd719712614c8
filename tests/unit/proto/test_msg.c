/* Unit tests of proto/msg.c and msg_err.c: type table, builders, strict
 * getters with their reasons, pinned error codes. */
#include "frame.h"
#include "msg.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct json_object *parse(const char *text)
{
	struct json_object *m;

	cr_assert_eq(proto_frame_decode(text, strlen(text), &m, NULL), 0, "%s", text);
	return m;
}

Test(msg, type_table_roundtrip)
{
	int t;

	for (t = PROTO_MSG_T_UNKNOWN + 1; t < PROTO_MSG_T_COUNT; t++) {
		const char *name = proto_msg_type_name((enum proto_msg_type)t);

		cr_assert_not_null(name);
		cr_assert_eq((int)proto_msg_type_from_name(name), t, "%s", name);
	}
	cr_assert_eq(proto_msg_type_from_name("nope"), PROTO_MSG_T_UNKNOWN);
	cr_assert_eq(proto_msg_type_from_name(NULL), PROTO_MSG_T_UNKNOWN);
	cr_assert_null(proto_msg_type_name(PROTO_MSG_T_UNKNOWN));
	cr_assert_null(proto_msg_type_name(PROTO_MSG_T_COUNT));
	cr_assert_str_eq(proto_msg_type_name(PROTO_MSG_T_DRAIN_SUM), "drain_sum");
	cr_assert_str_eq(proto_msg_type_name(PROTO_MSG_T_STATUS_REPLY), "status_reply");
}

Test(msg, new_sets_envelope)
{
	struct json_object *m = proto_msg_new(PROTO_MSG_REGISTER);
	int64_t v;

	cr_assert_eq(proto_msg_type(m), PROTO_MSG_T_REGISTER);
	cr_assert(proto_msg_is(m, "register"));
	cr_assert_not(proto_msg_is(m, "register_ok"));
	cr_assert_eq(proto_msg_get_int(m, "v", &v), 0);
	cr_assert_eq(v, PROTO_VERSION);
	cr_assert_eq(proto_frame_check(m), PROTO_FRAME_OK);
	json_object_put(m);
	cr_assert_null(proto_msg_new(""));
	cr_assert_null(proto_msg_new(NULL));
	cr_assert_null(proto_msg_new("0123456789012345678901234567890123456789"));
}

Test(msg, setters_validate)
{
	struct json_object *m = proto_msg_new("status");
	char *big = malloc(PROTO_MSG_STR_MAX + 2);
	int64_t arr[3] = { 1, -2, INT64_MAX };
	int64_t *out;
	size_t n;
	bool b;

	memset(big, 'a', PROTO_MSG_STR_MAX + 1);
	big[PROTO_MSG_STR_MAX + 1] = '\0';
	cr_assert_eq(proto_msg_set_str(m, "s", big), -EINVAL);
	big[PROTO_MSG_STR_MAX] = '\0';
	cr_assert_eq(proto_msg_set_str(m, "s", big), 0);
	cr_assert_eq(proto_msg_set_str(m, "s", NULL), -EINVAL);
	cr_assert_eq(proto_msg_set_int(NULL, "x", 1), -EINVAL);
	cr_assert_eq(proto_msg_set_bool(m, "b", true), 0);
	cr_assert_eq(proto_msg_get_bool(m, "b", &b), 0);
	cr_assert(b);
	cr_assert_eq(proto_msg_set_int_array(m, "a", arr, 3), 0);
	cr_assert_eq(proto_msg_get_int_array(m, "a", 0, &out, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(out[1], -2);
	cr_assert_eq(out[2], INT64_MAX);
	free(out);
	cr_assert_eq(proto_msg_set_int_array(m, "e", NULL, 0), 0);
	cr_assert_eq(proto_msg_get_int_array(m, "e", 0, &out, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_null(out);
	cr_assert_eq(proto_msg_set_int_array(m, "big", arr, PROTO_MSG_ARRAY_MAX + 1), -EINVAL);
	free(big);
	json_object_put(m);
}

Test(msg, get_int_strict)
{
	struct json_object *m = parse("{\"v\":1,\"type\":\"prepare\",\"gen\":5,\"s\":\"5\","
				      "\"f\":5.0,\"b\":true,\"n\":null,\"neg\":-3,"
				      "\"huge\":9223372036854775808,"
				      "\"max\":9223372036854775807}");
	int64_t v = 42;

	cr_assert_eq(proto_msg_get_int(m, "gen", &v), 0);
	cr_assert_eq(v, 5);
	cr_assert_eq(proto_msg_get_int(m, "max", &v), 0);
	cr_assert_eq(v, INT64_MAX);
	v = 42;
	cr_assert_eq(proto_msg_get_int(m, "missing", &v), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "\"missing\" is missing"), "%s", proto_msg_why());
	cr_assert(strstr(proto_msg_why(), "prepare"), "%s", proto_msg_why());
	cr_assert_eq(v, 42, "untouched on failure");
	cr_assert_eq(proto_msg_get_int(m, "s", &v), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "is a string, expected int"), "%s", proto_msg_why());
	cr_assert_eq(proto_msg_get_int(m, "f", &v), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "double"), "%s", proto_msg_why());
	cr_assert_eq(proto_msg_get_int(m, "b", &v), -EPROTO);
	cr_assert_eq(proto_msg_get_int(m, "n", &v), -EPROTO);
	cr_assert_eq(proto_msg_get_int(m, "huge", &v), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "larger than"), "%s", proto_msg_why());
	cr_assert_eq(proto_msg_get_int_range(m, "neg", 0, 10, &v), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "is -3, outside [0, 10]"), "%s", proto_msg_why());
	cr_assert_eq(proto_msg_get_int_range(m, "gen", 5, 5, &v), 0);
	cr_assert_eq(proto_msg_get_int_opt(m, "absent", 0, 10, 7, &v), 0);
	cr_assert_eq(v, 7);
	cr_assert_eq(proto_msg_get_int_opt(m, "s", 0, 10, 7, &v), -EPROTO);
	cr_assert_eq(proto_msg_get_int_opt(m, "neg", 0, 10, 7, &v), -EPROTO);
	cr_assert_eq(proto_msg_get_int(NULL, "gen", &v), -EPROTO);
	json_object_put(m);
}

Test(msg, get_str_strict)
{
	struct json_object *m = parse("{\"v\":1,\"type\":\"register\",\"node\":\"cn1\","
				      "\"empty\":\"\",\"nul\":\"a\\u0000b\",\"num\":3,"
				      "\"long\":\"0123456789\"}");
	const char *s = NULL;

	cr_assert_eq(proto_msg_get_str(m, "node", 0, &s), 0);
	cr_assert_str_eq(s, "cn1");
	cr_assert_eq(proto_msg_get_str(m, "empty", 0, &s), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "empty"), "%s", proto_msg_why());
	cr_assert_eq(proto_msg_get_str_opt(m, "empty", 0, "d", &s), 0);
	cr_assert_str_eq(s, "");
	cr_assert_eq(proto_msg_get_str(m, "nul", 0, &s), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "NUL"), "%s", proto_msg_why());
	cr_assert_eq(proto_msg_get_str(m, "num", 0, &s), -EPROTO);
	cr_assert_eq(proto_msg_get_str(m, "long", 9, &s), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "10 bytes long, limit 9"), "%s", proto_msg_why());
	cr_assert_eq(proto_msg_get_str(m, "long", 10, &s), 0);
	cr_assert_eq(proto_msg_get_str(m, "nope", 0, &s), -EPROTO);
	cr_assert_eq(proto_msg_get_str_opt(m, "nope", 0, NULL, &s), 0);
	cr_assert_null(s);
	json_object_put(m);
}

Test(msg, get_bool_and_arrays)
{
	struct json_object *m = parse("{\"v\":1,\"type\":\"drain_sum\",\"t\":true,\"one\":1,"
				      "\"sums\":[1,2,3],\"mixed\":[1,\"2\"],\"flt\":[1.5],"
				      "\"notarr\":{}}");
	int64_t *vals = NULL;
	size_t n = 0;
	bool b = false;

	cr_assert_eq(proto_msg_get_bool(m, "t", &b), 0);
	cr_assert(b);
	cr_assert_eq(proto_msg_get_bool(m, "one", &b), -EPROTO);
	cr_assert_eq(proto_msg_get_bool(m, "nope", &b), -EPROTO);
	cr_assert_eq(proto_msg_get_bool_opt(m, "nope", true, &b), 0);
	cr_assert(b);
	cr_assert_eq(proto_msg_get_bool_opt(m, "one", true, &b), -EPROTO);
	cr_assert_eq(proto_msg_get_int_array(m, "sums", 0, &vals, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(vals[2], 3);
	free(vals);
	cr_assert_eq(proto_msg_get_int_array(m, "sums", 2, &vals, &n), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "3 elements, limit 2"), "%s", proto_msg_why());
	cr_assert_eq(proto_msg_get_int_array(m, "mixed", 0, &vals, &n), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "element 1"), "%s", proto_msg_why());
	cr_assert_eq(proto_msg_get_int_array(m, "flt", 0, &vals, &n), -EPROTO);
	cr_assert_eq(proto_msg_get_int_array(m, "notarr", 0, &vals, &n), -EPROTO);
	cr_assert_eq(proto_msg_get_int_array(m, "nope", 0, &vals, &n), -EPROTO);
	cr_assert(proto_msg_has(m, "t"));
	cr_assert_not(proto_msg_has(m, "nope"));
	cr_assert_not(proto_msg_has(NULL, "t"));
	json_object_put(m);
}

Test(msg, error_codes_are_pinned)
{
	/* These numbers are on the wire: a change here breaks old peers. */
	cr_assert_eq(PROTO_OK, 0);
	cr_assert_eq(PROTO_E_PROTOCOL, 1);
	cr_assert_eq(PROTO_E_VERSION, 2);
	cr_assert_eq(PROTO_E_AUTH, 3);
	cr_assert_eq(PROTO_E_PERM, 4);
	cr_assert_eq(PROTO_E_REPLAY, 5);
	cr_assert_eq(PROTO_E_NOJOB, 6);
	cr_assert_eq(PROTO_E_BUSY, 7);
	cr_assert_eq(PROTO_E_STATE, 8);
	cr_assert_eq(PROTO_E_TIMEOUT, 9);
	cr_assert_eq(PROTO_E_IO, 10);
	cr_assert_eq(PROTO_E_NOSPACE, 11);
	cr_assert_eq(PROTO_E_UNSUPPORTED, 12);
	cr_assert_eq(PROTO_E_ABORTED, 13);
	cr_assert_eq(PROTO_E_INTERNAL, 14);
	cr_assert_eq(PROTO_E_TOOBIG, 15);
}

Test(msg, strerror_and_names)
{
	int c;

	for (c = 0; c <= PROTO_E_MAX; c++) {
		cr_assert_str_neq(proto_strerror(c), "unknown error code", "code %d", c);
		cr_assert_str_neq(proto_err_name(c), "E_UNKNOWN", "code %d", c);
	}
	cr_assert_str_eq(proto_strerror(-1), "unknown error code");
	cr_assert_str_eq(proto_strerror(PROTO_E_MAX + 1), "unknown error code");
	cr_assert_str_eq(proto_err_name(PROTO_E_BUSY), "E_BUSY");
	cr_assert_eq(proto_err_from_errno(-ETIMEDOUT), PROTO_E_TIMEOUT);
	cr_assert_eq(proto_err_from_errno(-EPROTO), PROTO_E_PROTOCOL);
	cr_assert_eq(proto_err_from_errno(-ENOSPC), PROTO_E_NOSPACE);
	cr_assert_eq(proto_err_from_errno(-EDQUOT), PROTO_E_NOSPACE);
	cr_assert_eq(proto_err_from_errno(-EALREADY), PROTO_E_REPLAY);
	cr_assert_eq(proto_err_from_errno(-EKEYREJECTED), PROTO_E_AUTH);
	cr_assert_eq(proto_err_from_errno(-EACCES), PROTO_E_PERM);
	cr_assert_eq(proto_err_from_errno(-EBUSY), PROTO_E_BUSY);
	cr_assert_eq(proto_err_from_errno(-EXDEV), PROTO_E_INTERNAL);
	cr_assert_eq(proto_err_from_errno(0), PROTO_OK);
}

Test(msg, error_message_roundtrip)
{
	struct json_object *e =
		proto_msg_new_error(PROTO_E_BUSY, "generation 4 in progress", PROTO_MSG_CHECKPOINT);
	const char *text;
	const char *re;
	int code;

	cr_assert(proto_msg_is(e, "error"));
	cr_assert_eq(proto_frame_check(e), PROTO_FRAME_OK);
	cr_assert_eq(proto_msg_get_error(e, &code, &text), 0);
	cr_assert_eq(code, PROTO_E_BUSY);
	cr_assert_str_eq(text, "generation 4 in progress");
	cr_assert_eq(proto_msg_get_str(e, "re", 0, &re), 0);
	cr_assert_str_eq(re, "checkpoint");
	json_object_put(e);

	e = proto_msg_new_error(PROTO_E_PERM, NULL, NULL);
	cr_assert_eq(proto_msg_get_error(e, &code, &text), 0);
	cr_assert_str_eq(text, proto_strerror(PROTO_E_PERM));
	cr_assert_not(proto_msg_has(e, "re"));
	json_object_put(e);
}

Test(msg, error_text_cut_at_utf8_boundary)
{
	char *t = malloc(PROTO_MSG_TEXT_MAX + 8);
	struct json_object *e;
	const char *text;
	int code;
	size_t i;

	/* 'é' is 2 bytes; an odd prefix would split the last one. */
	t[0] = 'x';
	for (i = 1; i + 1 < PROTO_MSG_TEXT_MAX + 6; i += 2)
		memcpy(t + i, "\xc3\xa9", 2);
	t[i] = '\0';
	e = proto_msg_new_error(PROTO_E_INTERNAL, t, NULL);
	cr_assert_eq(proto_msg_get_error(e, &code, &text), 0);
	cr_assert_leq(strlen(text), PROTO_MSG_TEXT_MAX);
	cr_assert_eq(strlen(text) % 2, 1, "cut between whole characters");
	json_object_put(e);
	free(t);
}

Test(msg, get_error_accepts_unknown_codes_refuses_bad)
{
	struct json_object *m = parse("{\"v\":1,\"type\":\"error\",\"code\":999}");
	const char *text;
	int code;

	cr_assert_eq(proto_msg_get_error(m, &code, &text), 0);
	cr_assert_eq(code, 999);
	cr_assert_str_eq(text, "");
	json_object_put(m);
	m = parse("{\"v\":1,\"type\":\"error\",\"code\":-1}");
	cr_assert_eq(proto_msg_get_error(m, &code, &text), -EPROTO);
	json_object_put(m);
	m = parse("{\"v\":1,\"type\":\"error\",\"code\":\"E_BUSY\"}");
	cr_assert_eq(proto_msg_get_error(m, &code, &text), -EPROTO);
	json_object_put(m);
}

Test(msg, gen_builder_and_getter)
{
	struct json_object *m = proto_msg_new_gen(PROTO_MSG_PREPARE, 42);
	struct json_object *bad;
	int64_t gen = 0;

	cr_assert(proto_msg_is(m, "prepare"));
	cr_assert_eq(proto_frame_check(m), PROTO_FRAME_OK);
	cr_assert_eq(proto_msg_get_gen(m, &gen), 0);
	cr_assert_eq(gen, 42);
	json_object_put(m);
	cr_assert_null(proto_msg_new_gen(PROTO_MSG_PREPARE, 0));
	cr_assert_null(proto_msg_new_gen(NULL, 1));
	bad = parse("{\"v\":1,\"type\":\"ready\",\"gen\":0}");
	cr_assert_eq(proto_msg_get_gen(bad, &gen), -EPROTO);
	cr_assert(strstr(proto_msg_why(), "ready: field \"gen\" is 0"), "%s", proto_msg_why());
	json_object_put(bad);
}
