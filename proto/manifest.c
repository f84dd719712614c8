/* manifest.c - MANIFEST.json <-> struct proto_manifest, with validation. */
#define LOG_PREFIX "manifest: "
#include "manifest.h"

#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hex digits of an XXH64 value. */
#define MF_HEX_LEN 16

/* Where a field being checked lives, for the one error message. */
struct mf_ctx {
	const char *what; /* the file (or other source) being read */
	char where[48];	  /* "" at top level, "images[12]." inside an image */
};

bool proto_manifest_name_ok(const char *name)
{
	size_t len = name ? strlen(name) : 0;
	size_t i;

	if (len == 0 || len >= PROTO_MANIFEST_NAME_SIZE || !strcmp(name, "."))
		return false;
	if (strchr(name, '/') || strstr(name, ".."))
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

/* Logs why @key is refused and returns -EBADMSG. */
static int mf_bad(const struct mf_ctx *c, const char *key, const char *why)
{
	log_err("%s: field \"%s%s\" %s; the generation cannot be trusted, use an older one",
		c->what, c->where, key, why);
	return -EBADMSG;
}

/* Field @key of JSON type @type, or -EBADMSG (logged). */
static int mf_field(const struct mf_ctx *c, const struct json_object *obj, const char *key,
		    enum json_type type, struct json_object **v)
{
	char why[64];

	if (!json_object_object_get_ex(obj, key, v))
		return mf_bad(c, key, "is missing");
	if (json_object_is_type(*v, type))
		return 0;
	snprintf(why, sizeof(why), "is a %s, expected %s",
		 json_type_to_name(json_object_get_type(*v)), json_type_to_name(type));
	return mf_bad(c, key, why);
}

static int mf_int(const struct mf_ctx *c, const struct json_object *obj, const char *key,
		  int64_t min, int64_t max, int64_t *val)
{
	struct json_object *v;
	char why[96];
	int64_t x;
	int ret;

	ret = mf_field(c, obj, key, json_type_int, &v);
	if (ret)
		return ret;
	x = json_object_get_int64(v);
	/* json-c clamps integers beyond int64 to INT64_MAX. */
	if ((x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX) || x < min ||
	    x > max) {
		snprintf(why, sizeof(why), "is out of range [%lld, %lld]", (long long)min,
			 (long long)max);
		return mf_bad(c, key, why);
	}
	*val = x;
	return 0;
}

/* Copies string field @key into @buf of @size (1..size-1 bytes, no NUL, and
 * a safe file name when @is_name). */
static int mf_str(const struct mf_ctx *c, const struct json_object *obj, const char *key, char *buf,
		  size_t size, bool is_name)
{
	struct json_object *v;
	const char *s;
	size_t len;
	int ret;

	ret = mf_field(c, obj, key, json_type_string, &v);
	if (ret)
		return ret;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len >= size || strlen(s) != len)
		return mf_bad(c, key, "is empty, too long or holds a NUL");
	if (is_name && !proto_manifest_name_ok(s))
		return mf_bad(c, key,
			      "is not a plain file name (contains '/', '..' or control "
			      "characters)");
	memcpy(buf, s, len + 1);
	return 0;
}

static int mf_hex(const struct mf_ctx *c, const struct json_object *obj, const char *key,
		  uint64_t *val)
{
	char hex[MF_HEX_LEN + 1];
	uint64_t x = 0;
	int ret;
	int i;

	ret = mf_str(c, obj, key, hex, sizeof(hex), false);
	if (ret)
		return ret;
	if (strlen(hex) != MF_HEX_LEN)
		return mf_bad(c, key, "is not 16 hexadecimal digits");
	for (i = 0; i < MF_HEX_LEN; i++) {
		char h = hex[i];
		int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;

		if (d < 0)
			return mf_bad(c, key, "is not 16 lowercase hexadecimal digits");
		x = x << 4 | (uint64_t)d;
	}
	*val = x;
	return 0;
}

static int mf_image_from_json(struct mf_ctx *c, const struct json_object *o,
			      struct proto_manifest_image *img)
{
	int64_t step;
	int64_t rank;
	int64_t size;
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return mf_bad(c, "", "is not an object");
	ret = mf_str(c, o, "file", img->file, sizeof(img->file), true);
	if (!ret)
		ret = mf_int(c, o, "step", 0, UINT32_MAX, &step);
	if (!ret)
		ret = mf_int(c, o, "rank", 0, UINT32_MAX, &rank);
	if (!ret)
		ret = mf_str(c, o, "node", img->node, sizeof(img->node), true);
	if (!ret)
		ret = mf_int(c, o, "size", 0, INT64_MAX, &size);
	if (!ret)
		ret = mf_hex(c, o, "xxh64", &img->xxh64);
	if (ret)
		return ret;
	img->step = (uint32_t)step;
	img->rank = (uint32_t)rank;
	img->size = (uint64_t)size;
	return 0;
}

/* A sortable reference to one image (a struct, so sizeof stays obvious). */
struct mf_ref {
	const struct proto_manifest_image *img; /* the image referred to */
};

static int mf_cmp_task(const void *a, const void *b)
{
	const struct proto_manifest_image *x = ((const struct mf_ref *)a)->img;
	const struct proto_manifest_image *y = ((const struct mf_ref *)b)->img;

	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static int mf_cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct mf_ref *)a)->img->file, ((const struct mf_ref *)b)->img->file);
}

/* Refuses two images with the same file or the same (step, rank). */
static int mf_check_unique(const char *what, const struct proto_manifest *m)
{
	struct mf_ref *p;
	size_t i;
	int ret = 0;

	if (m->n_images < 2)
		return 0;
	p = calloc(m->n_images, sizeof(*p));
	if (!p) {
		log_err("%s: out of memory checking %zu images", what, m->n_images);
		return -ENOMEM;
	}
	for (i = 0; i < m->n_images; i++)
		p[i].img = &m->images[i];
	qsort(p, m->n_images, sizeof(*p), mf_cmp_task);
	for (i = 1; i < m->n_images && !ret; i++)
		if (!mf_cmp_task(&p[i - 1], &p[i])) {
			log_err("%s: two images for step %" PRIu32 " rank %" PRIu32
				"; the manifest is corrupt",
				what, p[i].img->step, p[i].img->rank);
			ret = -EBADMSG;
		}
	qsort(p, m->n_images, sizeof(*p), mf_cmp_file);
	for (i = 1; i < m->n_images && !ret; i++)
		if (!mf_cmp_file(&p[i - 1], &p[i])) {
			log_err("%s: image file \"%s\" listed twice; the manifest is corrupt", what,
				p[i].img->file);
			ret = -EBADMSG;
		}
	free(p);
	return ret;
}

static int mf_images_from_json(struct mf_ctx *c, const struct json_object *obj,
			       struct proto_manifest *m)
{
	struct json_object *arr;
	size_t n;
	size_t i;
	int ret;

	ret = mf_field(c, obj, "images", json_type_array, &arr);
	if (ret)
		return ret;
	n = json_object_array_length(arr);
	if (n > PROTO_MANIFEST_IMAGES_MAX)
		return mf_bad(c, "images", "lists more images than the limit");
	m->images = n ? calloc(n, sizeof(*m->images)) : NULL;
	if (n && !m->images) {
		log_err("%s: out of memory for %zu images", c->what, n);
		return -ENOMEM;
	}
	m->n_images = n;
	for (i = 0; i < n; i++) {
		snprintf(c->where, sizeof(c->where), "images[%zu].", i);
		ret = mf_image_from_json(c, json_object_array_get_idx(arr, i), &m->images[i]);
		if (ret)
			return ret;
	}
	c->where[0] = '\0';
	return mf_check_unique(c->what, m);
}

static int mf_header_from_json(struct mf_ctx *c, const struct json_object *obj,
			       struct proto_manifest *m)
{
	int64_t format;
	int64_t gen;
	int ret;

	ret = mf_int(c, obj, "format", PROTO_MANIFEST_FORMAT, PROTO_MANIFEST_FORMAT, &format);
	if (!ret)
		ret = mf_str(c, obj, "job", m->job, sizeof(m->job), true);
	if (!ret && json_object_object_get_ex(obj, "job_instance", NULL))
		ret = mf_str(c, obj, "job_instance", m->instance, sizeof(m->instance), true);
	if (!ret)
		ret = mf_int(c, obj, "gen", 1, INT64_MAX, &gen);
	if (!ret)
		ret = mf_str(c, obj, "trigger", m->trigger, sizeof(m->trigger), true);
	if (!ret)
		ret = mf_int(c, obj, "start_ms", 0, INT64_MAX, &m->start_ms);
	if (!ret)
		ret = mf_int(c, obj, "end_ms", m->start_ms, INT64_MAX, &m->end_ms);
	if (!ret)
		ret = mf_int(c, obj, "duration_ms", 0, INT64_MAX, &m->duration_ms);
	if (ret)
		return ret;
	m->gen = (uint64_t)gen;
	return 0;
}

int proto_manifest_from_json(const struct json_object *obj, const char *what,
			     struct proto_manifest **m)
{
	struct mf_ctx c = { .what = what ? what : "manifest" };
	struct proto_manifest *nm;
	int ret;

	*m = NULL;
	if (!json_object_is_type(obj, json_type_object)) {
		log_err("%s: not a JSON object; the manifest is corrupt", c.what);
		return -EBADMSG;
	}
	nm = calloc(1, sizeof(*nm));
	if (!nm) {
		log_err("%s: out of memory", c.what);
		return -ENOMEM;
	}
	ret = mf_header_from_json(&c, obj, nm);
	if (!ret)
		ret = mf_images_from_json(&c, obj, nm);
	if (ret) {
		proto_manifest_free(nm);
		return ret;
	}
	*m = nm;
	return 0;
}

void proto_manifest_free(struct proto_manifest *m)
{
	if (!m)
		return;
	free(m->images);
	free(m);
}

const struct proto_manifest_image *proto_manifest_find(const struct proto_manifest *m,
						       uint32_t step, uint32_t rank)
{
	size_t i;

	for (i = 0; m && i < m->n_images; i++)
		if (m->images[i].step == step && m->images[i].rank == rank)
			return &m->images[i];
	return NULL;
}

/* ---- to JSON --------------------------------------------------------------- */

/* Adds @val under @key, consuming @val; false when out of memory. */
static bool mf_add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (val && !json_object_object_add(obj, key, val))
		return true;
	json_object_put(val);
	return false;
}

static struct json_object *mf_image_to_json(const struct proto_manifest_image *img)
{
	struct json_object *o = json_object_new_object();
	char hex[MF_HEX_LEN + 1];

	snprintf(hex, sizeof(hex), "%016" PRIx64, img->xxh64);
	if (!o || !mf_add(o, "file", json_object_new_string(img->file)) ||
	    !mf_add(o, "step", json_object_new_int64(img->step)) ||
	    !mf_add(o, "rank", json_object_new_int64(img->rank)) ||
	    !mf_add(o, "node", json_object_new_string(img->node)) ||
	    !mf_add(o, "size", json_object_new_int64((int64_t)img->size)) ||
	    !mf_add(o, "xxh64", json_object_new_string(hex))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *mf_to_json(const struct proto_manifest *m)
{
	struct json_object *o = json_object_new_object();
	struct json_object *arr = json_object_new_array_ext((int)m->n_images);
	size_t i;

	if (!o || !arr || !mf_add(o, "format", json_object_new_int(PROTO_MANIFEST_FORMAT)) ||
	    !mf_add(o, "job", json_object_new_string(m->job)) ||
	    (m->instance[0] && !mf_add(o, "job_instance", json_object_new_string(m->instance))) ||
	    !mf_add(o, "gen", json_object_new_int64((int64_t)m->gen)) ||
	    !mf_add(o, "trigger", json_object_new_string(m->trigger)) ||
	    !mf_add(o, "start_ms", json_object_new_int64(m->start_ms)) ||
	    !mf_add(o, "end_ms", json_object_new_int64(m->end_ms)) ||
	    !mf_add(o, "duration_ms", json_object_new_int64(m->duration_ms)))
		goto out_put;
	for (i = 0; i < m->n_images; i++) {
		struct json_object *img = mf_image_to_json(&m->images[i]);

		if (!img || json_object_array_add(arr, img)) {
			json_object_put(img);
			goto out_put;
		}
	}
	if (!mf_add(o, "images", arr)) {
		arr = NULL;
		goto out_put;
	}
	return o;
out_put:
	json_object_put(arr);
	json_object_put(o);
	log_err("out of memory building the manifest of generation %" PRIu64, m->gen);
	return NULL;
}

struct json_object *proto_manifest_to_json(const struct proto_manifest *m)
{
	struct proto_manifest *check;
	struct json_object *o;

	if (!m || (m->n_images && !m->images))
		return NULL;
	o = mf_to_json(m);
	if (!o)
		return NULL;
	/* Never write what the reader would refuse: run the reader on it. */
	if (proto_manifest_from_json(o, "manifest being written", &check)) {
		json_object_put(o);
		return NULL;
	}
	proto_manifest_free(check);
	return o;
}
