/* fuzz_manifest.c - the manifest reader (proto/manifest_io.c,
 * proto/manifest.c) on arbitrary MANIFEST.json contents. A manifest it
 * accepts must convert back to JSON, be accepted again, and come out the
 * same; each of its images must be found by (step, rank). */
#include "fuzz_target.h"

#include "layout.h"
#include "manifest.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The generation directory the reader is pointed at, and its manifest:
 * the reader opens the file by name with O_NOFOLLOW, so a memfd will not do. */
static char fuzz_dir[PATH_MAX - 64];
static char fuzz_manifest[PATH_MAX];

static void fuzz_manifest_cleanup(void)
{
	unlink(fuzz_manifest);
	rmdir(fuzz_dir);
}

void fuzz_target_init(void)
{
	const char *base = access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm";

	fuzz_log_quiet();
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz-manifest-XXXXXX", base);
	if (!mkdtemp(fuzz_dir))
		abort();
	if (snprintf(fuzz_manifest, sizeof(fuzz_manifest), "%s/" PROTO_LAYOUT_MANIFEST, fuzz_dir) >=
	    (int)sizeof(fuzz_manifest))
		abort();
	atexit(fuzz_manifest_cleanup);
}

static void fuzz_put(const uint8_t *data, size_t size)
{
	int fd = open(fuzz_manifest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
}

/* @m round-trips through its JSON form unchanged. */
static void fuzz_roundtrip(const struct proto_manifest *m)
{
	struct json_object *o = proto_manifest_to_json(m);
	struct proto_manifest *again = NULL;
	struct json_object *o2;

	if (!o || proto_manifest_from_json(o, "roundtrip", &again))
		abort();
	o2 = proto_manifest_to_json(again);
	if (!o2 || strcmp(json_object_to_json_string(o), json_object_to_json_string(o2)) != 0)
		abort();
	if (again->n_images != m->n_images || again->gen != m->gen)
		abort();
	json_object_put(o2);
	json_object_put(o);
	proto_manifest_free(again);
}

int fuzz_target_one(const uint8_t *data, size_t size)
{
	struct proto_manifest *m = NULL;

	fuzz_put(data, size);
	if (proto_manifest_read(fuzz_dir, &m)) {
		if (m)
			abort(); /* a refusal returns no manifest */
		return 0;
	}
	if (!m)
		abort();
	for (size_t i = 0; i < m->n_images; i++) {
		const struct proto_manifest_image *im = &m->images[i];

		if (!proto_manifest_name_ok(im->file) ||
		    !proto_manifest_find(m, im->step, im->rank))
			abort();
	}
	fuzz_roundtrip(m);
	proto_manifest_free(m);
	return 0;
}
