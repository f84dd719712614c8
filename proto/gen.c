/* gen.c - generation life cycle on disk: list, commit, discard, prune.
 *
 * Everything works relative to directory fds opened with O_NOFOLLOW, so a
 * symlink planted in a run directory can never redirect a deletion.
 */
#define LOG_PREFIX "gen: "
#include "layout.h"

#include "fault.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Generation directories hold flat files; a deeper tree is not ours, so
 * removal stops there instead of recursing without bound. */
#define GEN_RM_DEPTH_MAX 4

/* Room for "gen-<20 digits>.tmp" and its NUL. */
#define GEN_NAME_MAX 32

/* A growable sorted set of generation numbers. */
struct gen_set {
	uint64_t *v; /* generation numbers, ascending after gen_scan() */
	size_t n;    /* entries used */
	size_t cap;  /* entries allocated */
};

static int gen_set_add(struct gen_set *s, uint64_t g)
{
	uint64_t *nv;
	size_t cap;

	if (s->n == s->cap) {
		cap = s->cap ? s->cap * 2 : 16;
		nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = g;
	return 0;
}

static int gen_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a;
	uint64_t y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void gen_name(char *buf, uint64_t gen, bool tmp)
{
	snprintf(buf, GEN_NAME_MAX, PROTO_LAYOUT_GEN_PREFIX "%" PRIu64 "%s", gen,
		 tmp ? PROTO_LAYOUT_TMP_SUFFIX : "");
}

/* Opens directory @path without following a final symlink. */
static int gen_open_dir(int at, const char *path)
{
	return openat(at, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * Opens the run directory @run_dir. Returns the fd, -ENOENT when it does not
 * exist (for most callers: no generations yet, nothing to do), or another
 * -errno after logging it.
 */
static int gen_open_run_dir(const char *run_dir)
{
	int dfd = gen_open_dir(AT_FDCWD, run_dir);

	if (dfd >= 0 || errno == ENOENT)
		return dfd >= 0 ? dfd : -ENOENT;
	dfd = -errno;
	log_perror("cannot open checkpoint directory %s", run_dir);
	return dfd;
}

/* Sorts the real generation directories of @dfd into @committed and @tmps
 * (either may be NULL). Returns 0 or -errno. */
static int gen_scan(int dfd, struct gen_set *committed, struct gen_set *tmps)
{
	struct dirent *de;
	struct stat st;
	uint64_t g;
	bool tmp;
	DIR *dir;
	int fd;
	int ret = 0;

	fd = dup(dfd);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while ((errno = 0, de = readdir(dir))) {
		struct gen_set *s;

		if (proto_layout_parse_gen(de->d_name, &g, &tmp))
			continue;
		s = tmp ? tmps : committed;
		if (!s || fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(st.st_mode))
			continue;
		ret = gen_set_add(s, g);
		if (ret)
			break;
	}
	if (!ret && errno)
		ret = -errno;
	closedir(dir);
	if (committed && committed->n)
		qsort(committed->v, committed->n, sizeof(uint64_t), gen_cmp);
	if (tmps && tmps->n)
		qsort(tmps->v, tmps->n, sizeof(uint64_t), gen_cmp);
	return ret;
}

int proto_gen_list(const char *run_dir, uint64_t **gens, size_t *n)
{
	struct gen_set s = { 0 };
	int dfd;
	int ret;

	*gens = NULL;
	*n = 0;
	dfd = gen_open_run_dir(run_dir);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	ret = gen_scan(dfd, &s, NULL);
	close(dfd);
	if (ret) {
		log_err("cannot list generations of %s: %s", run_dir, strerror(-ret));
		free(s.v);
		return ret;
	}
	*gens = s.v;
	*n = s.n;
	return 0;
}

int proto_gen_newest(const char *run_dir, uint64_t *gen)
{
	uint64_t *gens;
	size_t n;
	int ret;

	ret = proto_gen_list(run_dir, &gens, &n);
	if (ret)
		return ret;
	if (n == 0)
		return -ENOENT;
	*gen = gens[n - 1];
	free(gens);
	return 0;
}

/* fsync(), with the gen_commit_fsync fault point. Returns 0 or -errno. */
static int gen_fsync(int fd)
{
	if (proto_fault("gen_commit_fsync"))
		return -EIO;
	return fsync(fd) ? -errno : 0;
}

/* fsyncs every regular file directly inside @dfd, then @dfd itself. */
static int gen_sync_dir(int dfd, const char *what)
{
	struct dirent *de;
	DIR *dir;
	int fd;
	int ret = 0;

	fd = dup(dfd);
	if (fd < 0 || !(dir = fdopendir(fd))) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		log_perror("cannot read %s to sync it", what);
		return ret;
	}
	while (!ret && (errno = 0, de = readdir(dir))) {
		struct stat st;

		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		ret = fd < 0 ? -errno : gen_fsync(fd);
		if (ret)
			log_err("cannot fsync %s/%s: %s; the generation stays uncommitted", what,
				de->d_name, strerror(-ret));
		if (fd >= 0)
			close(fd);
	}
	if (!ret && errno)
		ret = -errno;
	closedir(dir);
	if (!ret && fsync(dfd)) {
		ret = -errno;
		log_perror("cannot fsync directory %s", what);
	}
	return ret;
}

/* rename without ever replacing @to; falls back to a check-then-rename on
 * file systems without RENAME_NOREPLACE (the caller owns the directory, so
 * the window is only against itself). */
static int gen_rename_noreplace(int dfd, const char *from, const char *to)
{
	struct stat st;

	if (proto_fault("gen_commit_rename"))
		return -EIO;
	if (!renameat2(dfd, from, dfd, to, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (!fstatat(dfd, to, &st, AT_SYMLINK_NOFOLLOW))
		return -EEXIST;
	return renameat(dfd, from, dfd, to) ? -errno : 0;
}

int proto_gen_commit(const char *run_dir, uint64_t gen)
{
	char tmp[GEN_NAME_MAX];
	char name[GEN_NAME_MAX];
	int dfd;
	int tfd;
	int ret;

	if (gen < PROTO_GEN_MIN || gen > PROTO_GEN_MAX)
		return -EINVAL;
	gen_name(tmp, gen, true);
	gen_name(name, gen, false);
	dfd = gen_open_run_dir(run_dir);
	if (dfd == -ENOENT)
		log_err("cannot open checkpoint directory %s: %s", run_dir, strerror(ENOENT));
	if (dfd < 0)
		return dfd;
	tfd = gen_open_dir(dfd, tmp);
	if (tfd < 0) {
		ret = -errno;
		log_perror("cannot open %s/%s to commit it", run_dir, tmp);
		goto out_close_dfd;
	}
	ret = gen_sync_dir(tfd, tmp);
	close(tfd);
	if (ret)
		goto out_close_dfd;
	ret = gen_rename_noreplace(dfd, tmp, name);
	if (ret) {
		log_err("cannot rename %s/%s to %s: %s%s", run_dir, tmp, name, strerror(-ret),
			ret == -EEXIST ? " (committed generations are never replaced)" : "");
		goto out_close_dfd;
	}
	if (fsync(dfd)) {
		ret = -errno;
		log_perror("generation %s/%s renamed but fsync of the directory failed", run_dir,
			   name);
	}
out_close_dfd:
	close(dfd);
	return ret;
}

/* Removes directory @name in @dfd with its contents, @depth levels deep at
 * most. Returns 0 (also when @name is gone already) or -errno. */
static int gen_rm_tree(int dfd, const char *name, int depth)
{
	struct dirent *de;
	DIR *dir;
	int fd;
	int ret = 0;

	fd = gen_open_dir(dfd, name);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	dir = fdopendir(fd);
	if (!dir) {
		ret = -errno;
		close(fd);
		return ret;
	}
	while (!ret && (errno = 0, de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!unlinkat(fd, de->d_name, 0) || errno == ENOENT)
			continue;
		if ((errno != EISDIR && errno != EPERM) || depth <= 1)
			ret = -errno;
		else
			ret = gen_rm_tree(fd, de->d_name, depth - 1);
	}
	closedir(dir);
	if (!ret && unlinkat(dfd, name, AT_REMOVEDIR) && errno != ENOENT)
		ret = -errno;
	return ret;
}

/* Removes gen-<gen>.tmp of @dfd; logs once on failure. */
static int gen_rm_tmp(int dfd, const char *run_dir, uint64_t gen)
{
	char tmp[GEN_NAME_MAX];
	int ret;

	gen_name(tmp, gen, true);
	ret = gen_rm_tree(dfd, tmp, GEN_RM_DEPTH_MAX);
	if (ret)
		log_err("cannot remove %s/%s: %s; remove it by hand", run_dir, tmp, strerror(-ret));
	return ret;
}

int proto_gen_discard(const char *run_dir, uint64_t gen)
{
	int dfd;
	int ret;

	if (gen < PROTO_GEN_MIN || gen > PROTO_GEN_MAX)
		return -EINVAL;
	dfd = gen_open_run_dir(run_dir);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	ret = gen_rm_tmp(dfd, run_dir, gen);
	close(dfd);
	return ret;
}

/* Un-commits gen-<gen> by renaming it to gen-<gen>.tmp, then removes it. */
static int gen_drop_committed(int dfd, const char *run_dir, uint64_t gen)
{
	char tmp[GEN_NAME_MAX];
	char name[GEN_NAME_MAX];
	int ret;

	gen_name(tmp, gen, true);
	gen_name(name, gen, false);
	ret = gen_rm_tmp(dfd, run_dir, gen);
	if (ret)
		return ret;
	if (renameat(dfd, name, dfd, tmp)) {
		ret = -errno;
		log_perror("cannot rename %s/%s for removal", run_dir, name);
		return ret;
	}
	return gen_rm_tmp(dfd, run_dir, gen);
}

bool proto_gen_prune_drops(const uint64_t *committed, size_t n, size_t i, unsigned int keep,
			   const uint64_t *needed, size_t nneeded)
{
	if (keep < 1)
		keep = 1;
	if (i + keep >= n)
		return false;
	for (size_t k = 0; k < nneeded; k++)
		if (needed[k] == committed[i])
			return false;
	return true;
}

/* Applies the pruning policy to the scanned sets; keeps the first error. */
static int gen_prune_sets(int dfd, const char *run_dir, const struct gen_set *c,
			  const struct gen_set *t, unsigned int keep, const uint64_t *needed,
			  size_t nneeded)
{
	uint64_t newest;
	size_t i;
	int ret = 0;
	int r;

	if (c->n == 0)
		return 0;
	newest = c->v[c->n - 1];
	for (i = 0; i < c->n; i++) {
		if (!proto_gen_prune_drops(c->v, c->n, i, keep, needed, nneeded))
			continue;
		r = gen_drop_committed(dfd, run_dir, c->v[i]);
		if (!ret)
			ret = r;
	}
	for (i = 0; i < t->n && t->v[i] < newest; i++) {
		r = gen_rm_tmp(dfd, run_dir, t->v[i]);
		if (!ret)
			ret = r;
	}
	return ret;
}

int proto_gen_prune_keep(const char *run_dir, unsigned int keep, const uint64_t *needed,
			 size_t nneeded)
{
	struct gen_set c = { 0 };
	struct gen_set t = { 0 };
	int dfd;
	int ret;

	dfd = gen_open_run_dir(run_dir);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	ret = gen_scan(dfd, &c, &t);
	if (ret)
		log_err("cannot list generations of %s: %s", run_dir, strerror(-ret));
	else
		ret = gen_prune_sets(dfd, run_dir, &c, &t, keep < 1 ? 1 : keep, needed, nneeded);
	free(c.v);
	free(t.v);
	close(dfd);
	return ret;
}

int proto_gen_prune(const char *run_dir, unsigned int keep)
{
	return proto_gen_prune_keep(run_dir, keep, NULL, 0);
}
