/* agent_store.c - generations on disk for the agent and the CLI
 * (agent_store.h), over proto/layout.h and proto/manifest.h.
 *
 * In standalone mode the computation directory DIR is itself the run
 * directory: generations are DIR/gen-N. The DIR/<name>-<pid> level of
 * proto/layout.h serves a base directory shared by many runs; 'ckpt run'
 * names one directory per computation instead, so that 'ckpt restart'
 * finds it again under a new pid.
 */
#define LOG_PREFIX "store: "
#include "agent_store.h"

#include "agent_coord.h"
#include "img.h"
#include "layout.h"
#include "log.h"
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int agent_store_next_gen(const char *dir, int64_t floor, int64_t *gen)
{
	uint64_t max = floor > 0 ? (uint64_t)floor : 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	/* In-progress (.tmp) names count too: never reuse a number a process
	 * may still be writing under. */
	while ((de = readdir(d))) {
		uint64_t g;

		if (!proto_layout_parse_gen(de->d_name, &g, NULL) && g > max)
			max = g;
	}
	closedir(d);
	if (max >= PROTO_GEN_MAX)
		return -EOVERFLOW;
	*gen = (int64_t)max + 1;
	return 0;
}

int agent_store_begin(const char *dir, int64_t gen, char *tmp, size_t size)
{
	int ret = proto_layout_gen_dir(tmp, size, dir, (uint64_t)gen, true);

	if (ret)
		return ret;
	proto_gen_discard(dir, (uint64_t)gen);
	if (mkdir(tmp, 0700) < 0) {
		ret = -errno;
		log_perror("cannot create %s", tmp);
	}
	return ret;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* With CKPT_VERIFY=1, reads back and checks every chunk of @path before
 * the commit, so a bad image never becomes the newest generation (and
 * never pushes a good one out by pruning). Off by default: it re-reads
 * every image, which for large jobs costs as much as the write. */
static int image_verify(const char *path, char *why, size_t why_size)
{
	const char *env = getenv("CKPT_VERIFY");
	struct img_reader *r = NULL;
	int ret;

	if (!env || strcmp(env, "1") != 0)
		return 0;
	ret = img_reader_open(path, IMG_VERIFY_ALL, &r);
	if (ret)
		snprintf(why, why_size, "image verification failed: %s",
			 r && *img_reader_error(r) ? img_reader_error(r) : strerror(-ret));
	img_reader_free(r);
	return ret ? -EIO : 0;
}

/* Checks the image a participant reported against the file itself: a
 * process that lies about its size would otherwise commit a torn image. */
static int image_check(const char *tmp, const struct agent_part *p, char *why, size_t why_size)
{
	char path[PATH_MAX + AGENT_IMAGE_NAME_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", tmp, p->image);
	if (stat(path, &st) < 0) {
		snprintf(why, why_size, "%s reported %s written, but it is missing: %s",
			 p->ops->name(p), path, strerror(errno));
		return -EIO;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != p->size) {
		snprintf(why, why_size, "%s reported %s of %llu bytes, the file has %lld",
			 p->ops->name(p), path, (unsigned long long)p->size, (long long)st.st_size);
		return -EIO;
	}
	return image_verify(path, why, why_size);
}

/* The job instance the SPANK plugin gave the coordinator of a Slurm job
 * (PROTO_MANIFEST_INSTANCE_ENV; unset in standalone runs, whose manifests
 * then carry none). A value that is not a plain name is not written: the
 * plugin would refuse the generation, and the agent log says why. */
static void manifest_instance(struct proto_manifest *m)
{
	const char *v = getenv(PROTO_MANIFEST_INSTANCE_ENV);

	if (!v || !*v)
		return;
	if (strlen(v) >= sizeof(m->instance) || !proto_manifest_name_ok(v)) {
		log_err("%s=\"%.80s\" is not a job instance; the generation is written "
			"without one and will not be restored by the plugin",
			PROTO_MANIFEST_INSTANCE_ENV, v);
		return;
	}
	memcpy(m->instance, v, strlen(v) + 1);
}

static int manifest_fill(struct proto_manifest *m, const char *dir,
			 const struct agent_gen_meta *meta, struct agent_part *const *parts,
			 size_t n)
{
	const char *base = strrchr(dir, '/');
	char host[PROTO_MANIFEST_NODE_SIZE];
	size_t i;

	base = base && base[1] ? base + 1 : "standalone";
	snprintf(m->job, sizeof(m->job), "%s", base);
	if (!proto_manifest_name_ok(m->job))
		snprintf(m->job, sizeof(m->job), "standalone");
	manifest_instance(m);
	if (gethostname(host, sizeof(host)) < 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	m->gen = (uint64_t)meta->gen;
	snprintf(m->trigger, sizeof(m->trigger), "%s", meta->trigger);
	m->end_ms = now_ms();
	m->duration_ms = meta->duration_ms;
	m->start_ms = m->end_ms - meta->duration_ms;
	m->n_images = n;
	m->images = calloc(n ? n : 1, sizeof(*m->images));
	if (!m->images)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct proto_manifest_image *img = &m->images[i];
		const struct agent_part *p = parts[i];

		snprintf(img->file, sizeof(img->file), "%s", p->image);
		img->step = (uint32_t)p->step;
		img->rank = (uint32_t)p->image_rank;
		snprintf(img->node, sizeof(img->node), "%s", host);
		img->size = p->size;
		img->xxh64 = strtoull(p->xxh64, NULL, 16);
	}
	return 0;
}

int agent_store_commit(const char *dir, const struct agent_gen_meta *meta,
		       struct agent_part *const *parts, size_t n, char *path, size_t size,
		       char *why, size_t why_size)
{
	struct proto_manifest m = { 0 };
	char tmp[PATH_MAX];
	size_t i;
	int ret;

	ret = proto_layout_gen_dir(tmp, sizeof(tmp), dir, (uint64_t)meta->gen, true);
	if (!ret)
		ret = proto_layout_gen_dir(path, size, dir, (uint64_t)meta->gen, false);
	if (ret) {
		snprintf(why, why_size, "generation path in %s: %s", dir, strerror(-ret));
		return ret;
	}
	for (i = 0; i < n; i++) {
		ret = image_check(tmp, parts[i], why, why_size);
		if (ret)
			return ret;
	}
	ret = manifest_fill(&m, dir, meta, parts, n);
	if (ret)
		snprintf(why, why_size, "out of memory writing the manifest");
	else {
		ret = proto_manifest_write(tmp, &m);
		if (ret)
			snprintf(why, why_size, "cannot write %s/%s: %s", tmp,
				 PROTO_LAYOUT_MANIFEST, strerror(-ret));
	}
	free(m.images);
	if (ret)
		return ret;
	ret = proto_gen_commit(dir, (uint64_t)meta->gen);
	if (ret)
		snprintf(why, why_size, "cannot commit %s: %s", tmp, strerror(-ret));
	return ret;
}

void agent_store_discard(const char *dir, int64_t gen)
{
	int ret = proto_gen_discard(dir, (uint64_t)gen);

	if (ret)
		log_err("cannot remove generation %lld in progress in %s: %s", (long long)gen, dir,
			strerror(-ret));
}

void agent_store_discard_stale(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		uint64_t g;
		bool tmp;

		if (!proto_layout_parse_gen(de->d_name, &g, &tmp) && tmp) {
			log_info("removing %s/%s left by an earlier agent", dir, de->d_name);
			agent_store_discard(dir, (int64_t)g);
		}
	}
	closedir(d);
}

/* Adds to @need the generations the images of committed generation @gen
 * refer to (their IMG_REC_BASES lists: each lists its whole chain, so one
 * level is enough). Returns 0, or -errno when an image cannot be read: then
 * nothing is known to be unneeded. */
static int agent_store_bases(const char *dir, uint64_t gen, uint64_t **need, size_t *n)
{
	struct img_base *list = calloc(IMG_BASES_MAX, sizeof(*list));
	char gdir[4096];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (!list)
		return -ENOMEM;
	proto_layout_gen_dir(gdir, sizeof(gdir), dir, gen, false);
	d = opendir(gdir);
	if (!d) {
		ret = -errno;
		goto out_free;
	}
	while (!ret && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		struct img_reader *r = NULL;
		char path[4096 + 256];
		const void *data;
		uint64_t len;
		uint32_t i = 0;
		int nb;

		if (l < 5 || strcmp(de->d_name + l - 4, ".img") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", gdir, de->d_name);
		ret = img_reader_open(path, IMG_AS_BASE, &r);
		if (ret == -EBADMSG) {
			/* Not a valid image: it can never be restored, whatever
			 * is kept, so it holds no older generation back. A
			 * system error (I/O, memory) says nothing of the image:
			 * then nothing is deleted. */
			log_warn("pruning: %s is not a valid image (%s): it keeps no base", path,
				 img_reader_error(r));
			ret = 0;
		} else if (ret) {
			log_warn("pruning: cannot read %s (%s): keeping every older generation",
				 path, img_reader_error(r));
		} else if (img_reader_record_find(r, IMG_REC_BASES, &i, &data, &len) == 0) {
			nb = img_bases_decode(data, len, list);
			uint64_t *v = nb > 0 ? realloc(*need, (*n + (size_t)nb) * sizeof(**need))
					     : *need;

			if (nb < 0 || !v) {
				ret = nb < 0 ? nb : -ENOMEM;
			} else {
				*need = v;
				for (int k = 0; k < nb; k++)
					(*need)[(*n)++] = list[k].gen;
			}
		}
		img_reader_free(r);
	}
	closedir(d);
out_free:
	free(list);
	return ret;
}

int agent_store_prune(const char *dir, int keep)
{
	size_t before = 0;
	size_t after = 0;
	uint64_t *gens = NULL;
	uint64_t *need = NULL;
	size_t nneed = 0;
	int ret;

	if (keep < 1)
		keep = 1;
	if (proto_gen_list(dir, &gens, &before) == 0) {
		/* Incremental images refer to chunks of older generations:
		 * those of every kept generation stay. */
		for (size_t i = before > (size_t)keep ? before - (size_t)keep : 0; i < before;
		     i++) {
			if (agent_store_bases(dir, gens[i], &need, &nneed) < 0) {
				free(need);
				free(gens);
				return 0;
			}
		}
		free(gens);
	}
	gens = NULL;
	ret = proto_gen_prune_keep(dir, (unsigned int)keep, need, nneed);
	free(need);
	if (ret) {
		log_err("pruning old generations of %s: %s", dir, strerror(-ret));
		return ret;
	}
	if (proto_gen_list(dir, &gens, &after) == 0)
		free(gens);
	return before > after ? (int)(before - after) : 0;
}

int agent_store_list(const char *dir, struct agent_gen_info **out, size_t *nout)
{
	struct agent_gen_info *v;
	uint64_t *gens = NULL;
	size_t n = 0;
	size_t i;
	int ret;

	*out = NULL;
	*nout = 0;
	ret = proto_gen_list(dir, &gens, &n);
	if (ret)
		return ret;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		free(gens);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct proto_manifest *m = NULL;
		size_t k;

		v[i].gen = (int64_t)gens[i];
		proto_layout_gen_dir(v[i].path, sizeof(v[i].path), dir, gens[i], false);
		ret = proto_manifest_read(v[i].path, &m);
		if (ret) {
			snprintf(v[i].error, sizeof(v[i].error), "%s/%s: %s", v[i].path,
				 PROTO_LAYOUT_MANIFEST,
				 ret == -EBADMSG ? "corrupt or invalid" : strerror(-ret));
			continue;
		}
		v[i].time = m->start_ms / 1000;
		v[i].duration_ms = m->duration_ms;
		snprintf(v[i].trigger, sizeof(v[i].trigger), "%s", m->trigger);
		v[i].nimages = (unsigned int)m->n_images;
		for (k = 0; k < m->n_images; k++)
			v[i].size += m->images[k].size;
		proto_manifest_free(m);
	}
	free(gens);
	*out = v;
	*nout = n;
	return 0;
}
