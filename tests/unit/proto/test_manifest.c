/* Unit tests of proto/manifest.c and manifest_io.c: round trip, atomic
 * write, and refusal of every kind of corruption. */
#include "manifest.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Short, so paths built from it never approach PATH_MAX. */
static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/proto-mf-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(manifest, .init = setup, .fini = teardown);

static struct proto_manifest_image imgs[2] = {
	{ .file = "0.0.img",
	  .step = 0,
	  .rank = 0,
	  .node = "cn1",
	  .size = 1234,
	  .xxh64 = 0x0123456789abcdefULL },
	{ .file = "0.1.img",
	  .step = 0,
	  .rank = 1,
	  .node = "cn2",
	  .size = UINT64_C(1) << 40,
	  .xxh64 = UINT64_MAX },
};

static struct proto_manifest sample(void)
{
	struct proto_manifest m = {
		.job = "4242",
		.gen = 3,
		.trigger = "preempt",
		.start_ms = 1700000000000,
		.end_ms = 1700000004200,
		.duration_ms = 4200,
		.n_images = 2,
		.images = imgs,
	};

	return m;
}

static void write_text(const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/MANIFEST.json", dir);
	f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(manifest, write_read_roundtrip)
{
	struct proto_manifest m = sample();
	struct proto_manifest *r;
	const struct proto_manifest_image *i;
	char p[PATH_MAX];
	struct stat st;

	cr_assert_eq(proto_manifest_write(dir, &m), 0);
	snprintf(p, sizeof(p), "%s/MANIFEST.json.tmp", dir);
	cr_assert_neq(stat(p, &st), 0, "no temporary file left");
	cr_assert_eq(proto_manifest_read(dir, &r), 0);
	cr_assert_str_eq(r->job, "4242");
	cr_assert_eq(r->gen, 3);
	cr_assert_str_eq(r->trigger, "preempt");
	cr_assert_eq(r->start_ms, 1700000000000);
	cr_assert_eq(r->end_ms, 1700000004200);
	cr_assert_eq(r->duration_ms, 4200);
	cr_assert_eq(r->n_images, 2);
	cr_assert_str_eq(r->images[0].file, "0.0.img");
	cr_assert_eq(r->images[0].xxh64, 0x0123456789abcdefULL);
	cr_assert_eq(r->images[1].xxh64, UINT64_MAX);
	cr_assert_eq(r->images[1].size, UINT64_C(1) << 40);
	cr_assert_str_eq(r->images[1].node, "cn2");
	i = proto_manifest_find(r, 0, 1);
	cr_assert_not_null(i);
	cr_assert_str_eq(i->file, "0.1.img");
	cr_assert_null(proto_manifest_find(r, 1, 0));
	proto_manifest_free(r);
	proto_manifest_free(NULL);
}

Test(manifest, hex_is_lowercase_16_digits)
{
	struct proto_manifest m = sample();
	struct json_object *o = proto_manifest_to_json(&m);
	struct json_object *arr;
	struct json_object *x;

	cr_assert_not_null(o);
	json_object_object_get_ex(o, "images", &arr);
	json_object_object_get_ex(json_object_array_get_idx(arr, 0), "xxh64", &x);
	cr_assert_str_eq(json_object_get_string(x), "0123456789abcdef");
	json_object_put(o);
}

Test(manifest, empty_image_list_ok)
{
	struct proto_manifest m = sample();
	struct proto_manifest *r;

	m.n_images = 0;
	m.images = NULL;
	cr_assert_eq(proto_manifest_write(dir, &m), 0);
	cr_assert_eq(proto_manifest_read(dir, &r), 0);
	cr_assert_eq(r->n_images, 0);
	proto_manifest_free(r);
}

Test(manifest, writer_refuses_invalid)
{
	struct proto_manifest m = sample();
	struct proto_manifest_image bad[2];

	memcpy(bad, imgs, sizeof(bad));
	strcpy(bad[1].file, "../etc/passwd");
	m.images = bad;
	cr_assert_eq(proto_manifest_write(dir, &m), -EINVAL);
	memcpy(bad, imgs, sizeof(bad));
	bad[1].rank = 0; /* duplicate (step, rank) */
	cr_assert_eq(proto_manifest_write(dir, &m), -EINVAL);
	m = sample();
	m.gen = 0;
	cr_assert_eq(proto_manifest_write(dir, &m), -EINVAL);
	m = sample();
	m.end_ms = m.start_ms - 1;
	cr_assert_eq(proto_manifest_write(dir, &m), -EINVAL);
	m = sample();
	m.job[0] = '\0';
	cr_assert_eq(proto_manifest_write(dir, &m), -EINVAL);
}

Test(manifest, missing_file)
{
	struct proto_manifest *r = (struct proto_manifest *)1;

	cr_assert_eq(proto_manifest_read(dir, &r), -ENOENT);
	cr_assert_null(r);
}

/* Writes @text as the manifest and expects the reader to refuse it. */
static void refused(const char *text, int err)
{
	struct proto_manifest *r = (struct proto_manifest *)1;

	write_text(text);
	cr_assert_eq(proto_manifest_read(dir, &r), err, "should refuse: %s", text);
	cr_assert_null(r);
}

#define HDR                                                                           \
	"{\"format\":1,\"job\":\"7\",\"gen\":2,\"trigger\":\"time\",\"start_ms\":10," \
	"\"end_ms\":20,\"duration_ms\":10,"
#define IMG(extra) "{\"file\":\"0.0.img\",\"step\":0,\"rank\":0,\"node\":\"n\",\"size\":1," extra

Test(manifest, corruption_refused)
{
	struct proto_manifest *r;

	/* The baseline is accepted, so each case below fails for its own reason. */
	write_text(HDR "\"images\":[" IMG("\"xxh64\":\"00000000000000ff\"}") "]}");
	cr_assert_eq(proto_manifest_read(dir, &r), 0);
	cr_assert_eq(r->images[0].xxh64, 0xff);
	proto_manifest_free(r);

	refused("", -EBADMSG);
	refused("{", -EBADMSG);
	refused("[]", -EBADMSG);
	refused("garbage", -EBADMSG);
	refused(HDR "\"images\":[]} trailing", -EBADMSG);
	refused("{\"format\":2,\"job\":\"7\",\"gen\":2,\"trigger\":\"t\",\"start_ms\":1,"
		"\"end_ms\":2,\"duration_ms\":1,\"images\":[]}",
		-EBADMSG);
	refused("{\"format\":1,\"job\":\"7\",\"gen\":0,\"trigger\":\"t\",\"start_ms\":1,"
		"\"end_ms\":2,\"duration_ms\":1,\"images\":[]}",
		-EBADMSG);
	refused("{\"format\":1,\"job\":\"7\",\"gen\":\"2\",\"trigger\":\"t\",\"start_ms\":1,"
		"\"end_ms\":2,\"duration_ms\":1,\"images\":[]}",
		-EBADMSG);
	refused("{\"format\":1,\"job\":\"7\",\"gen\":2,\"trigger\":\"t\",\"start_ms\":5,"
		"\"end_ms\":2,\"duration_ms\":1,\"images\":[]}",
		-EBADMSG);
	refused("{\"format\":1,\"job\":\"../x\",\"gen\":2,\"trigger\":\"t\",\"start_ms\":1,"
		"\"end_ms\":2,\"duration_ms\":1,\"images\":[]}",
		-EBADMSG);
	refused(HDR "\"images\":{}}", -EBADMSG);
	refused(HDR "\"images\":[1]}", -EBADMSG);
	refused(HDR "}", -EBADMSG);
	refused(HDR "\"images\":[" IMG("\"xxh64\":\"00000000000000FF\"}") "]}", -EBADMSG);
	refused(HDR "\"images\":[" IMG("\"xxh64\":\"ff\"}") "]}", -EBADMSG);
	refused(HDR "\"images\":[" IMG("\"xxh64\":\"00000000000000fg\"}") "]}", -EBADMSG);
	refused(HDR "\"images\":[" IMG("\"xxh64\":255}") "]}", -EBADMSG);
	refused(HDR "\"images\":[" IMG("}") "]}", -EBADMSG);
	refused(HDR "\"images\":[{\"file\":\"a/b\",\"step\":0,\"rank\":0,\"node\":\"n\","
		    "\"size\":1,\"xxh64\":\"0000000000000000\"}]}",
		-EBADMSG);
	refused(HDR "\"images\":[{\"file\":\"..\",\"step\":0,\"rank\":0,\"node\":\"n\","
		    "\"size\":1,\"xxh64\":\"0000000000000000\"}]}",
		-EBADMSG);
	refused(HDR "\"images\":[{\"file\":\"x\\u0001\",\"step\":0,\"rank\":0,\"node\":\"n\","
		    "\"size\":1,\"xxh64\":\"0000000000000000\"}]}",
		-EBADMSG);
	refused(HDR "\"images\":[{\"file\":\"a\",\"step\":-1,\"rank\":0,\"node\":\"n\","
		    "\"size\":1,\"xxh64\":\"0000000000000000\"}]}",
		-EBADMSG);
	refused(HDR "\"images\":[{\"file\":\"a\",\"step\":0,\"rank\":4294967296,\"node\":\"n\","
		    "\"size\":1,\"xxh64\":\"0000000000000000\"}]}",
		-EBADMSG);
	refused(HDR "\"images\":[{\"file\":\"a\",\"step\":0,\"rank\":0,\"node\":\"n\","
		    "\"size\":-1,\"xxh64\":\"0000000000000000\"}]}",
		-EBADMSG);
	refused(HDR "\"images\":[{\"file\":\"a\",\"step\":0,\"rank\":0,\"node\":\"n\","
		    "\"size\":1.5,\"xxh64\":\"0000000000000000\"}]}",
		-EBADMSG);
	/* Same file twice, then same task twice. */
	refused(HDR "\"images\":[{\"file\":\"a\",\"step\":0,\"rank\":0,\"node\":\"n\",\"size\":1,"
		    "\"xxh64\":\"0000000000000000\"},{\"file\":\"a\",\"step\":0,\"rank\":1,"
		    "\"node\":\"n\",\"size\":1,\"xxh64\":\"0000000000000000\"}]}",
		-EBADMSG);
	refused(HDR "\"images\":[{\"file\":\"a\",\"step\":0,\"rank\":0,\"node\":\"n\",\"size\":1,"
		    "\"xxh64\":\"0000000000000000\"},{\"file\":\"b\",\"step\":0,\"rank\":0,"
		    "\"node\":\"n\",\"size\":1,\"xxh64\":\"0000000000000000\"}]}",
		-EBADMSG);
}

Test(manifest, unknown_fields_ignored)
{
	struct proto_manifest *r;

	write_text(HDR "\"future\":[1,2],\"images\":[" IMG("\"xxh64\":\"0000000000000001\","
							   "\"extra\":true}") "]}");
	cr_assert_eq(proto_manifest_read(dir, &r), 0);
	cr_assert_eq(r->n_images, 1);
	proto_manifest_free(r);
}

Test(manifest, truncated_file_refused)
{
	struct proto_manifest m = sample();
	struct proto_manifest *r;
	char p[PATH_MAX];
	struct stat st;

	cr_assert_eq(proto_manifest_write(dir, &m), 0);
	snprintf(p, sizeof(p), "%s/MANIFEST.json", dir);
	cr_assert_eq(stat(p, &st), 0);
	cr_assert_eq(truncate(p, st.st_size / 2), 0);
	cr_assert_eq(proto_manifest_read(dir, &r), -EBADMSG);
}

Test(manifest, not_regular_file_refused)
{
	struct proto_manifest *r;
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/MANIFEST.json", dir);
	cr_assert_eq(mkdir(p, 0700), 0);
	cr_assert_eq(proto_manifest_read(dir, &r), -EBADMSG);
}

Test(manifest, symlink_refused)
{
	struct proto_manifest m = sample();
	struct proto_manifest *r;
	char sub[PATH_MAX];
	char p[PATH_MAX];
	char target[PATH_MAX + 32];

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(proto_manifest_write(sub, &m), 0);
	snprintf(target, sizeof(target), "%s/MANIFEST.json", sub);
	snprintf(p, sizeof(p), "%s/MANIFEST.json", dir);
	cr_assert_eq(symlink(target, p), 0);
	cr_assert_eq(proto_manifest_read(dir, &r), -ELOOP);
}

Test(manifest, oversized_file_refused)
{
	struct proto_manifest *r;
	char p[PATH_MAX];

	write_text("{}");
	snprintf(p, sizeof(p), "%s/MANIFEST.json", dir);
	cr_assert_eq(truncate(p, (off_t)PROTO_MANIFEST_FILE_MAX + 1), 0);
	cr_assert_eq(proto_manifest_read(dir, &r), -EFBIG);
}

Test(manifest, name_ok)
{
	cr_assert(proto_manifest_name_ok("0.0.img"));
	cr_assert(proto_manifest_name_ok("lh-snapshot.bin"));
	cr_assert_not(proto_manifest_name_ok(""));
	cr_assert_not(proto_manifest_name_ok("."));
	cr_assert_not(proto_manifest_name_ok(".."));
	cr_assert_not(proto_manifest_name_ok("a..b"));
	cr_assert_not(proto_manifest_name_ok("a/b"));
	cr_assert_not(proto_manifest_name_ok("a\nb"));
	cr_assert_not(proto_manifest_name_ok(NULL));
}

Test(manifest, from_json_directly)
{
	struct proto_manifest *r;
	struct json_object *o = json_object_new_array();

	cr_assert_eq(proto_manifest_from_json(o, "test", &r), -EBADMSG);
	cr_assert_null(r);
	json_object_put(o);
}

Test(manifest, write_fault_leaves_nothing)
{
	struct proto_manifest m = sample();
	struct proto_manifest *r;
	char p[PATH_MAX];
	struct stat st;

	setenv("CKPT_FAULT", "manifest_write", 1);
	cr_assert_eq(proto_manifest_write(dir, &m), -EIO);
	unsetenv("CKPT_FAULT");
	cr_assert_eq(proto_manifest_read(dir, &r), -ENOENT);
	snprintf(p, sizeof(p), "%s/MANIFEST.json.tmp", dir);
	cr_assert_neq(stat(p, &st), 0, "temporary file removed");
}

Test(manifest, job_instance_optional_and_kept)
{
	struct proto_manifest m = sample();
	struct proto_manifest *r;
	char p[PATH_MAX];
	char text[4096];
	FILE *f;
	size_t n;

	/* Absent: not written, read back empty (standalone runs, old manifests). */
	cr_assert_eq(proto_manifest_write(dir, &m), 0);
	snprintf(p, sizeof(p), "%s/MANIFEST.json", dir);
	f = fopen(p, "r");
	cr_assert_not_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	cr_assert_null(strstr(text, "job_instance"), "%s", text);
	cr_assert_eq(proto_manifest_read(dir, &r), 0);
	cr_assert_str_eq(r->instance, "");
	proto_manifest_free(r);

	snprintf(m.instance, sizeof(m.instance), "0123456789abcdef0123456789abcdef");
	cr_assert_eq(proto_manifest_write(dir, &m), 0);
	cr_assert_eq(proto_manifest_read(dir, &r), 0);
	cr_assert_str_eq(r->instance, "0123456789abcdef0123456789abcdef");
	proto_manifest_free(r);

	/* Present but not a plain string: refused like any other field. */
	write_text(
		"{\"format\":1,\"job\":\"4242\",\"job_instance\":7,\"gen\":1,"
		"\"trigger\":\"t\",\"start_ms\":1,\"end_ms\":2,\"duration_ms\":1,\"images\":[]}");
	cr_assert_eq(proto_manifest_read(dir, &r), -EBADMSG);
	write_text(
		"{\"format\":1,\"job\":\"4242\",\"job_instance\":\"\",\"gen\":1,"
		"\"trigger\":\"t\",\"start_ms\":1,\"end_ms\":2,\"duration_ms\":1,\"images\":[]}");
	cr_assert_eq(proto_manifest_read(dir, &r), -EBADMSG);
}
