/* cli_tree_shm.c - memory shared in a tree made shared again at restart:
 * shared anonymous memory, memfds and unlinked /dev/shm objects
 * (cli_tree_shm.h, docs/process-trees.md). */
#include "cli_tree_shm.h"

#include "cli.h"
#include "files.h"
#include "img.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Shared anonymous areas read from the images of one tree: bounds what a
 * generation makes ckpt restart hold. */
#define SHM_AREAS_MAX 65536u
/* Largest object: offsets come from the image (checksummed, but written by
 * the user's processes); a memfd is sparse, this only bounds nonsense. */
#define SHM_SIZE_MAX (1ull << 40)

/* A shared area of one image whose object a restart re-creates: shared
 * anonymous memory, or a memfd or unlinked /dev/shm object saved with its
 * contents (restore.c's rst_area_shobj()). */
struct shm_area {
	uint64_t start; /* address of the area in the holder */
	uint64_t dev;	/* object's device at the checkpoint */
	uint64_t ino;	/* and inode: together they name it */
	uint64_t off;	/* offset of the area in the object */
	uint64_t len;	/* length */
	pid_t pid;	/* holder */
	size_t img;	/* index of its image */
	uint32_t idx;	/* of the area in that image */
	uint32_t flags; /* its enum img_area_flag, as first read */
	bool shared;	/* the object has another holder */
	char *name;	/* memfd name for a memfd or /dev/shm object, NULL: anonymous */
};

/* One object two or more processes map. */
struct shm_obj {
	uint64_t dev; /* as in shm_area */
	uint64_t ino;
	int fd; /* its memfd, -1 once closed */
};

struct cli_tree_shm {
	struct shm_area *areas; /* sorted by object, then pid descending */
	size_t nareas;		/* entries */
	struct shm_obj *objs;	/* objects with two or more holders */
	size_t nobjs;		/* entries */
};

static int area_cmp(const void *a, const void *b)
{
	const struct shm_area *x = a;
	const struct shm_area *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid > y->pid ? -1 : 1; /* descending: the lowest pid last */
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Whether @a is an area of an object the restart re-creates: shared
 * anonymous memory, or a memfd or unlinked /dev/shm object whose image
 * holds its contents (the same test as restore.c's rst_area_shobj()). */
static bool area_recreated(const struct img_area *a)
{
	if ((a->flags & (IMG_AREA_SHARED | IMG_AREA_ANON)) == (IMG_AREA_SHARED | IMG_AREA_ANON))
		return a->inode != 0;
	return (a->flags & IMG_AREA_SHARED) && (a->flags & IMG_AREA_FILE_DELETED) &&
	       !(a->flags & IMG_AREA_NO_DATA) && a->path &&
	       (!strncmp(a->path, "/memfd:", 7) || !strncmp(a->path, "/dev/shm/", 9));
}

/* The name the new memfd of @path gets, as ckpt-restore names the one it
 * makes for a process alone (restore.c): NAME of "/memfd:NAME", the last
 * component of a /dev/shm path. The next checkpoint sees "/memfd:NAME" and
 * hands it over again. */
static char *area_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = strncmp(path, "/memfd:", 7) == 0 ? path + 7 : slash ? slash + 1 : path;

	return strdup(strlen(name) < 240 ? name : "ckpt-shm");
}

/* Appends the areas of image @i whose objects a restart re-creates. */
static int areas_read(struct cli_tree_shm *s, size_t *cap, const char *image, pid_t pid, size_t i)
{
	struct img_reader *r = NULL;
	int ret = img_reader_open(image, 0, &r);

	if (ret) {
		cli_err("%s: %s", image, r ? img_reader_error(r) : strerror(-ret));
		goto out;
	}
	for (uint32_t k = 0; k < img_reader_area_count(r); k++) {
		const struct img_area *a = img_reader_area(r, k);

		char *name = NULL;

		if (!area_recreated(a))
			continue;
		if (a->file_offset > SHM_SIZE_MAX || a->len > SHM_SIZE_MAX - a->file_offset ||
		    (a->file_offset & 4095)) {
			cli_err("%s: shared memory at %#llx: offset %#llx + length %#llx out of "
				"range",
				image, (unsigned long long)a->start,
				(unsigned long long)a->file_offset, (unsigned long long)a->len);
			ret = -EBADMSG;
			goto out;
		}
		if (s->nareas == SHM_AREAS_MAX) {
			cli_err("the images hold more than %u areas of shared memory",
				SHM_AREAS_MAX);
			ret = -E2BIG;
			goto out;
		}
		if (s->nareas == *cap) {
			size_t c = *cap ? *cap * 2 : 16;
			struct shm_area *g = realloc(s->areas, c * sizeof(*g));

			if (!g) {
				cli_err("out of memory");
				ret = -ENOMEM;
				goto out;
			}
			s->areas = g;
			*cap = c;
		}
		if (!(a->flags & IMG_AREA_ANON) && !(name = area_name(a->path))) {
			cli_err("out of memory");
			ret = -ENOMEM;
			goto out;
		}
		s->areas[s->nareas++] = (struct shm_area){ .start = a->start,
							   .flags = a->flags,
							   .dev = a->dev,
							   .ino = a->inode,
							   .off = a->file_offset,
							   .len = a->len,
							   .pid = pid,
							   .img = i,
							   .idx = k,
							   .name = name };
	}
out:
	img_reader_free(r);
	return ret;
}

/* Whether @b, area @a->idx of the image as read again to fill the memfd,
 * is the area the first read recorded in @a. The memfd was sized and the
 * mapping is made with @a's offset and length, while the load writes
 * @b->len bytes: an image replaced or rewritten between the two reads (a
 * hostile or damaged file) must not make them disagree. */
static bool area_same(const struct shm_area *a, const struct img_area *b)
{
	return b->start == a->start && b->len == a->len && b->file_offset == a->off &&
	       b->dev == a->dev && b->inode == a->ino && b->flags == a->flags;
}

/* Loads area @a of its image into the memfd @fd at its offset, after
 * checking the image still describes it as the first read did. */
static int area_fill(const struct shm_area *a, const char *image, int fd)
{
	struct img_reader *r = NULL;
	const struct img_area *b;
	void *p = MAP_FAILED;
	int ret = img_reader_open(image, 0, &r);

	if (ret) {
		cli_err("%s: %s", image, r ? img_reader_error(r) : strerror(-ret));
		goto out;
	}
	b = img_reader_area(r, a->idx);
	if (!b || !area_same(a, b)) {
		cli_err("%s: changed while ckpt restart read it: its area %u (shared memory of "
			"pid %d at %#llx, %#llx bytes) is not what the first read found; restore "
			"again from an image nothing writes to",
			image, a->idx, (int)a->pid, (unsigned long long)a->start,
			(unsigned long long)a->len);
		ret = -ESTALE;
		goto out;
	}
	if (!b->present_pages)
		goto out;
	p = mmap(NULL, a->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)a->off);
	if (p == MAP_FAILED) {
		ret = -errno;
		cli_err("cannot map the shared memory of pid %d: %s", (int)a->pid, strerror(errno));
		goto out;
	}
	ret = img_reader_area_load(r, a->idx, p);
	if (ret)
		cli_err("%s: %s", image, img_reader_error(r));
out:
	if (p != MAP_FAILED)
		munmap(p, a->len);
	img_reader_free(r);
	return ret;
}

/* Makes and fills the memfd of the object whose areas are [@lo, @hi). */
static int obj_make(struct cli_tree_shm *s, size_t lo, size_t hi, const char *const *images,
		    int base)
{
	struct shm_obj *o = &s->objs[s->nobjs];
	/* The lowest pid's name (its areas come last): anonymous memory
	 * keeps the name the next checkpoint knows it by. */
	const char *name = s->areas[hi - 1].name ? s->areas[hi - 1].name : CKPT_SHARED_ANON_NAME;
	uint64_t size = 0;
	int fd;
	int ret = 0;

	for (size_t k = lo; k < hi; k++) {
		s->areas[k].shared = true;
		if (s->areas[k].off + s->areas[k].len > size)
			size = s->areas[k].off + s->areas[k].len;
	}
	fd = memfd_create(name, 0); /* inherited through exec */
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		cli_err("cannot make a memfd of %llu bytes for the shared memory %s: %s",
			(unsigned long long)size, name, strerror(errno));
		goto out_close;
	}
	o->fd = fcntl(fd, F_DUPFD, base);
	if (o->fd < 0) {
		ret = -errno;
		cli_err("cannot move a memfd to %d and up: %s", base, strerror(errno));
		goto out_close;
	}
	o->dev = s->areas[lo].dev;
	o->ino = s->areas[lo].ino;
	s->nobjs++;
	/* Descending pid: the lowest pid's bytes are written last. */
	for (size_t k = lo; k < hi && !ret; k++)
		ret = area_fill(&s->areas[k], images[s->areas[k].img], o->fd);
out_close:
	if (fd >= 0)
		close(fd);
	return ret;
}

int cli_tree_shm_make(const char *const *images, const pid_t *pids, size_t n, int base,
		      struct cli_tree_shm **out)
{
	struct cli_tree_shm *s = calloc(1, sizeof(*s));
	size_t cap = 0;
	int ret = 0;

	*out = NULL;
	if (!s) {
		cli_err("out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && !ret; i++)
		ret = areas_read(s, &cap, images[i], pids[i], i);
	/* areas_read() grows the array with its count: never one without the
	 * other (said for the static analyser, which loses track of it). */
	if (!ret && s->nareas && !s->areas) {
		cli_err("internal error: %zu shared areas listed without their array", s->nareas);
		ret = -EFAULT;
	}
	if (ret)
		goto out_free;
	if (s->nareas > 1)
		qsort(s->areas, s->nareas, sizeof(*s->areas), area_cmp);
	s->objs = calloc(s->nareas ? s->nareas : 1, sizeof(*s->objs));
	if (!s->objs) {
		cli_err("out of memory");
		ret = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < s->nareas && !ret;) {
		size_t j = i;
		bool two = false;

		for (; j < s->nareas && s->areas[j].dev == s->areas[i].dev &&
		       s->areas[j].ino == s->areas[i].ino;
		     j++)
			two = two || s->areas[j].pid != s->areas[i].pid;
		if (two)
			ret = obj_make(s, i, j, images, base);
		i = j;
	}
	if (ret)
		goto out_free;
	*out = s;
	return 0;
out_free:
	cli_tree_shm_free(s);
	return ret;
}

int cli_tree_shm_hand(const struct cli_tree_shm *s, pid_t pid)
{
	char env[CKPT_TREE_SHM_MAX * 64];
	size_t used = 0;
	unsigned int count = 0;

	if (!s)
		return 0;
	env[0] = '\0';
	for (size_t k = 0; k < s->nobjs; k++) {
		const struct shm_obj *o = &s->objs[k];
		bool held = false;

		for (size_t i = 0; i < s->nareas && !held; i++)
			held = s->areas[i].pid == pid && s->areas[i].dev == o->dev &&
			       s->areas[i].ino == o->ino;
		if (!held) {
			close(o->fd);
			continue;
		}
		if (++count > CKPT_TREE_SHM_MAX) {
			cli_err("pid %d maps more than %d shared memory objects of the tree",
				(int)pid, CKPT_TREE_SHM_MAX);
			return -E2BIG;
		}
		used += (size_t)snprintf(env + used, sizeof(env) - used, "%s%d:%llu:%llu",
					 used ? "," : "", o->fd, (unsigned long long)o->dev,
					 (unsigned long long)o->ino);
	}
	if (used && setenv(CKPT_TREE_SHM_ENV, env, 1) < 0) {
		cli_err("cannot set %s: %s", CKPT_TREE_SHM_ENV, strerror(errno));
		return -errno;
	}
	return 0;
}

void cli_tree_shm_close(const struct cli_tree_shm *s)
{
	if (!s || !s->objs)
		return;
	for (size_t k = 0; k < s->nobjs; k++)
		close(s->objs[k].fd);
}

void cli_tree_shm_free(struct cli_tree_shm *s)
{
	if (!s)
		return;
	cli_tree_shm_close(s);
	for (size_t i = 0; s->areas && i < s->nareas; i++)
		free(s->areas[i].name);
	free(s->objs);
	free(s->areas);
	free(s);
}
