/* fuzz_frame_one.c - the body shared by the frame fuzzer and the corpus test.
 *
 * The first input byte picks the chunk size the stream is fed in, so the
 * fuzzer also explores how frames split across reads.
 */
#include "fuzz_frame_one.h"

#include "frame.h"
#include "log.h"
#include "manifest.h"
#include "msg.h"
#include "timestr.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_log_drop(enum log_level level, const char *msg)
{
	(void)level;
	(void)msg;
}

void fuzz_quiet(void)
{
	log_set_backend(fuzz_log_drop);
}

/* Reads the common fields of every message type through the strict getters;
 * their results do not matter, only that they never misbehave. */
static void fuzz_fields(const struct json_object *m)
{
	static const char *const ints[] = { "gen", "pid",  "rank",	  "step", "code",
					    "seq", "size", "duration_ms", "round" };
	static const char *const strs[] = { "node",  "trigger", "file", "message", "dir",
					    "xxh64", "cred",	"role", "job" };
	int64_t *arr = NULL;
	const char *s;
	int64_t v;
	size_t n;
	size_t i;
	bool b;
	int code;

	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		proto_msg_get_int(m, ints[i], &v);
		proto_msg_get_int_range(m, ints[i], 0, 100, &v);
	}
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (!proto_msg_get_str(m, strs[i], 64, &s)) {
			proto_time_parse(s, &v);
			proto_interval_parse(s, &v);
		}
	}
	proto_msg_get_bool_opt(m, "final", false, &b);
	if (!proto_msg_get_int_array(m, "sums", 0, &arr, &n))
		free(arr);
	proto_msg_get_error(m, &code, &s);
	(void)proto_msg_type(m);
}

/* Checks one decoded message and its re-encoding. */
static void fuzz_message(struct json_object *m)
{
	struct proto_manifest *mf = NULL;
	struct json_object *again = NULL;
	char *buf = NULL;
	size_t len = 0;

	if (proto_frame_check(m) != PROTO_FRAME_OK)
		abort();
	fuzz_fields(m);
	if (!proto_manifest_from_json(m, "fuzz", &mf))
		proto_manifest_free(mf);
	if (proto_frame_encode(m, &buf, &len))
		return; /* re-encoding may exceed the limit: escaping grows text */
	if (proto_frame_decode(buf + PROTO_FRAME_HDR_LEN, len - PROTO_FRAME_HDR_LEN, &again,
			       NULL) ||
	    !json_object_equal(m, again))
		abort();
	json_object_put(again);
	free(buf);
}

/* Feeds @data in chunks of @chunk bytes, taking every message out. */
static void fuzz_stream(const uint8_t *data, size_t size, size_t chunk)
{
	struct proto_decoder *dec = proto_decoder_new();
	struct json_object *m;
	size_t off = 0;
	int r = 0;

	if (!dec)
		return;
	while (off < size && r >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (proto_decoder_feed(dec, data + off, n))
			break;
		off += n;
		while ((r = proto_decoder_next(dec, &m)) == 1) {
			fuzz_message(m);
			json_object_put(m);
		}
		if ((r < 0) != (proto_decoder_error(dec) != PROTO_FRAME_OK))
			abort();
	}
	if (r >= 0)
		proto_decoder_eof(dec);
	(void)proto_decoder_strerror(dec);
	proto_decoder_free(dec);
}

int fuzz_frame_one(const uint8_t *data, size_t size)
{
	struct json_object *m = NULL;
	size_t chunk;

	if (size == 0)
		return 0;
	chunk = (size_t)data[0] % 64 + 1;
	fuzz_stream(data + 1, size - 1, chunk);
	fuzz_stream(data + 1, size - 1, size);
	/* The whole input as one payload, without a prefix. */
	if (!proto_frame_decode((const char *)data + 1, size - 1, &m, NULL)) {
		fuzz_message(m);
		json_object_put(m);
	}
	return 0;
}
