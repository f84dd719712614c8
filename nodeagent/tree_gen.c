/* tree_gen.c - a generation's tree records, read from its images and
 * checked (tree_gen.h).
 *
 * The agent runs these checks over the images it has just written, before
 * it commits: a generation 'ckpt restart' would refuse must abort, not
 * replace a good one (docs/process-trees.md, Status item 9).
 */
#include "tree_gen.h"

#include "cli_tree_check.h"
#include "img.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tree_gen_parse(const char *image, const void *data, uint64_t len, struct tree_rec *rec,
		   struct tree_rec_child **children, char *why, size_t why_len)
{
	if (len < sizeof(*rec)) {
		snprintf(why, why_len, "%s: the tree record is %llu bytes, too short", image,
			 (unsigned long long)len);
		return -EBADMSG;
	}
	memcpy(rec, data, sizeof(*rec));
	if (rec->magic != TREE_REC_MAGIC || rec->version != TREE_REC_VERSION ||
	    rec->nchildren > TREE_REC_CHILDREN_MAX ||
	    len != sizeof(*rec) + (uint64_t)rec->nchildren * sizeof(struct tree_rec_child)) {
		snprintf(why, why_len,
			 "%s: malformed tree record (magic %#x, version %u, %u children, %llu "
			 "bytes)",
			 image, rec->magic, rec->version, rec->nchildren, (unsigned long long)len);
		return -EBADMSG;
	}
	*children = calloc(rec->nchildren ? rec->nchildren : 1, sizeof(**children));
	if (!*children) {
		snprintf(why, why_len, "out of memory reading the tree record of %s", image);
		return -ENOMEM;
	}
	memcpy(*children, (const char *)data + sizeof(*rec), rec->nchildren * sizeof(**children));
	return 0;
}

int tree_gen_read(const char *image, struct tree_rec *rec, struct tree_rec_child **children,
		  char *why, size_t why_len)
{
	struct img_reader *r = NULL;
	const void *data;
	uint64_t len;
	uint32_t idx = 0;
	int ret;

	/* An image the reader refuses is no tree of ours: the restorer that
	 * restores it as before says what is wrong with it. */
	if (img_reader_open(image, 0, &r) ||
	    img_reader_record_find(r, CKPT_REC_TREE, &idx, &data, &len))
		ret = -ENOENT;
	else
		ret = tree_gen_parse(image, data, len, rec, children, why, why_len);
	img_reader_free(r);
	return ret;
}

/* One image's record while the generation is checked. */
struct tree_gen_proc {
	struct tree_rec rec;
	struct tree_rec_child *children; /* NULL: no record read */
};

/* Reads every record into @v; *@with counts the images that have one.
 * Returns 0 or -EBADMSG/-ENOMEM (said in @why). */
static int read_all(const char *const *paths, size_t n, struct tree_gen_proc *v, size_t *with,
		    char *why, size_t why_len)
{
	*with = 0;
	for (size_t i = 0; i < n; i++) {
		int ret = tree_gen_read(paths[i], &v[i].rec, &v[i].children, why, why_len);

		if (ret == -ENOENT)
			continue;
		if (ret)
			return ret;
		(*with)++;
	}
	return 0;
}

int tree_gen_check(const char *const *paths, size_t n, char *why, size_t why_len)
{
	struct tree_gen_proc *v = calloc(n ? n : 1, sizeof(*v));
	struct tree_check_proc *c = calloc(n ? n : 1, sizeof(*c));
	size_t with = 0;
	int ret = -ENOMEM;

	if (!v || !c) {
		snprintf(why, why_len, "out of memory checking the tree records of %zu images", n);
		goto out;
	}
	ret = read_all(paths, n, v, &with, why, why_len);
	/* As 'ckpt restart' decides: no record, or the first image outside
	 * a namespace of ours, is a generation restored as before. */
	if (ret || !with || !v[0].children || !(v[0].rec.flags & TREE_REC_IN_PIDNS))
		goto out;
	if (with != n) {
		snprintf(why, why_len,
			 "some images have a tree record and some not ('ckpt restart' refuses "
			 "the mix)");
		ret = -EBADMSG;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		c[i] = (struct tree_check_proc){ &v[i].rec, v[i].children, paths[i] };
	ret = cli_tree_check_for(c, n, CLI_TREE_ROOT, CLI_TREE_CHECK_COMMIT, why, why_len);
out:
	if (v)
		for (size_t i = 0; i < n; i++)
			free(v[i].children);
	free(v);
	free(c);
	return ret;
}
