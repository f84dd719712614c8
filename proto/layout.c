/* layout.c - names and paths of the checkpoint directory layout. */
#define LOG_PREFIX "layout: "
#include "layout.h"

#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Checks snprintf's result @n for a path written into @buf of @size bytes:
 * a cut path is -ENAMETOOLONG, logged once and never left behind. */
static int layout_check(char *buf, size_t size, int n)
{
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size) {
		log_err("path \"%.64s...\" needs %d bytes, only %zu available; "
			"use a shorter checkpoint directory",
			buf, n + 1, size);
		buf[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

/* True when @buf/@size can receive a path. */
static bool layout_buf_ok(const char *buf, size_t size)
{
	return buf && size > 0;
}

/* True for a non-empty directory argument. */
static bool layout_dir_ok(const char *dir)
{
	return dir && dir[0];
}

int proto_layout_job_dir(char *buf, size_t size, const char *base, uint32_t jobid)
{
	if (!layout_buf_ok(buf, size) || !layout_dir_ok(base))
		return -EINVAL;
	return layout_check(buf, size, snprintf(buf, size, "%s/%" PRIu32, base, jobid));
}

int proto_layout_standalone_dir(char *buf, size_t size, const char *base, const char *name,
				pid_t pid)
{
	size_t len = name ? strlen(name) : 0;

	if (!layout_buf_ok(buf, size) || !layout_dir_ok(base) || len == 0 ||
	    len > PROTO_LAYOUT_NAME_MAX || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, "..") || pid <= 0) {
		log_err("invalid standalone run name \"%s\" or pid %d", name ? name : "(null)",
			(int)pid);
		return -EINVAL;
	}
	return layout_check(buf, size, snprintf(buf, size, "%s/%s-%d", base, name, (int)pid));
}

int proto_layout_gen_dir(char *buf, size_t size, const char *run_dir, uint64_t gen, bool tmp)
{
	int n;

	if (!layout_buf_ok(buf, size) || !layout_dir_ok(run_dir) || gen < PROTO_GEN_MIN ||
	    gen > PROTO_GEN_MAX)
		return -EINVAL;
	n = snprintf(buf, size, "%s/" PROTO_LAYOUT_GEN_PREFIX "%" PRIu64 "%s", run_dir, gen,
		     tmp ? PROTO_LAYOUT_TMP_SUFFIX : "");
	return layout_check(buf, size, n);
}

int proto_layout_image_name(char *buf, size_t size, uint32_t step, uint32_t rank)
{
	if (!layout_buf_ok(buf, size))
		return -EINVAL;
	return layout_check(buf, size,
			    snprintf(buf, size, "%" PRIu32 ".%" PRIu32 PROTO_LAYOUT_IMG_SUFFIX,
				     step, rank));
}

int proto_layout_image_path(char *buf, size_t size, const char *gen_dir, uint32_t step,
			    uint32_t rank)
{
	int n;

	if (!layout_buf_ok(buf, size) || !layout_dir_ok(gen_dir))
		return -EINVAL;
	n = snprintf(buf, size, "%s/%" PRIu32 ".%" PRIu32 PROTO_LAYOUT_IMG_SUFFIX, gen_dir, step,
		     rank);
	return layout_check(buf, size, n);
}

/* Reads a canonical decimal (no sign, no leading zero unless "0") not above
 * @max at *@p, advancing *@p. Returns 0 or -EINVAL. */
static int layout_number(const char **p, uint64_t max, uint64_t *val)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*val = v;
	return 0;
}

int proto_layout_parse_gen(const char *name, uint64_t *gen, bool *tmp)
{
	const size_t plen = strlen(PROTO_LAYOUT_GEN_PREFIX);
	const char *p;
	uint64_t g;
	bool t;

	if (!name || strncmp(name, PROTO_LAYOUT_GEN_PREFIX, plen) != 0)
		return -EINVAL;
	p = name + plen;
	if (layout_number(&p, PROTO_GEN_MAX, &g) || g < PROTO_GEN_MIN)
		return -EINVAL;
	t = !strcmp(p, PROTO_LAYOUT_TMP_SUFFIX);
	if (*p && !t)
		return -EINVAL;
	if (gen)
		*gen = g;
	if (tmp)
		*tmp = t;
	return 0;
}

int proto_layout_parse_image_name(const char *name, uint32_t *step, uint32_t *rank)
{
	const char *p = name;
	uint64_t s;
	uint64_t r;

	if (!name || layout_number(&p, UINT32_MAX, &s) || *p++ != '.' ||
	    layout_number(&p, UINT32_MAX, &r) || strcmp(p, PROTO_LAYOUT_IMG_SUFFIX) != 0)
		return -EINVAL;
	if (step)
		*step = (uint32_t)s;
	if (rank)
		*rank = (uint32_t)r;
	return 0;
}

/* ---- trust of a checkpoint directory ------------------------------------- */

/* Symbolic links followed while checking one directory: a canonical path
 * (realpath) has none, so more than one level means a race or a loop. */
#define LAYOUT_LINKS_MAX 1

static int layout_why(char *why, size_t size, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int layout_why(char *why, size_t size, int ret, const char *fmt, ...)
{
	va_list ap;

	if (why && size) {
		va_start(ap, fmt);
		(void)vsnprintf(why, size, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* Copies absolute @dir into @buf without repeated or trailing slashes;
 * refuses "." and ".." components, which would make walking up by cutting
 * the last component go somewhere else than the kernel does. */
static int layout_dir_normalize(const char *dir, char *buf, size_t size, char *why, size_t why_size)
{
	size_t n = 0;

	if (!dir || dir[0] != '/')
		return layout_why(why, why_size, -EINVAL, "\"%s\" is not an absolute path",
				  dir ? dir : "(null)");
	for (const char *p = dir; *p;) {
		size_t len;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (!len)
			break;
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return layout_why(why, why_size, -EINVAL,
					  "\"%s\" has a \".\" or \"..\" component", dir);
		if (n + 1 + len >= size)
			return layout_why(why, why_size, -ENAMETOOLONG, "\"%.64s...\" is too long",
					  dir);
		buf[n++] = '/';
		memcpy(buf + n, p, len);
		n += len;
		p += len;
	}
	if (!n)
		buf[n++] = '/';
	buf[n] = '\0';
	return 0;
}

static bool layout_owner_ok(const struct stat *st, uid_t uid)
{
	return st->st_uid == uid || st->st_uid == 0;
}

static int layout_walk(const char *dir, uid_t uid, bool leaf, int links, char *why,
		       size_t why_size);

/* Checks one component @path (already lstat'ed into @st). */
static int layout_component(const char *path, const struct stat *st, uid_t uid, bool leaf,
			    int links, char *why, size_t why_size)
{
	char target[PATH_MAX];

	if (leaf && S_ISLNK(st->st_mode))
		return layout_why(why, why_size, -EPERM, "%s is a symbolic link", path);
	if (leaf && st->st_uid != uid)
		return layout_why(
			why, why_size, -EPERM,
			"%s is owned by uid %u, not by uid %u (whose checkpoints they are)", path,
			(unsigned)st->st_uid, (unsigned)uid);
	if (!layout_owner_ok(st, uid))
		return layout_why(
			why, why_size, -EPERM,
			"%s is owned by uid %u, neither by uid %u (whose checkpoints they are) nor by root",
			path, (unsigned)st->st_uid, (unsigned)uid);
	if (S_ISLNK(st->st_mode)) {
		if (links >= LAYOUT_LINKS_MAX)
			return layout_why(why, why_size, -ELOOP,
					  "%s: symbolic links changed while being checked", path);
		if (!realpath(path, target))
			return layout_why(why, why_size, -errno, "%s: %s", path, strerror(errno));
		return layout_walk(target, uid, false, links + 1, why, why_size);
	}
	if (!S_ISDIR(st->st_mode))
		return layout_why(why, why_size, -ENOTDIR, "%s is not a directory", path);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && (leaf || !(st->st_mode & S_ISVTX)))
		return layout_why(why, why_size, -EPERM, "%s is writable by %s (mode %04o)%s", path,
				  (st->st_mode & S_IWOTH) ? "other users" : "its group",
				  (unsigned)(st->st_mode & 07777),
				  leaf ? "" : " without the sticky bit");
	return 0;
}

/* Checks @dir and every parent up to "/". */
static int layout_walk(const char *dir, uid_t uid, bool leaf, int links, char *why, size_t why_size)
{
	char path[PATH_MAX];
	int ret = layout_dir_normalize(dir, path, sizeof(path), why, why_size);

	while (!ret) {
		struct stat st;
		char *slash;

		if (lstat(path, &st) < 0)
			return layout_why(why, why_size, -errno, "%s: %s", path, strerror(errno));
		ret = layout_component(path, &st, uid, leaf, links, why, why_size);
		if (ret || !strcmp(path, "/"))
			break;
		leaf = false;
		slash = strrchr(path, '/');
		slash[slash == path ? 1 : 0] = '\0';
	}
	return ret;
}

int proto_layout_dir_check(const char *dir, uid_t uid, bool leaf, char *why, size_t why_size)
{
	if (why && why_size)
		why[0] = '\0';
	return layout_walk(dir, uid, leaf, 0, why, why_size);
}
