/* agent_dir.c - naming the agent of a computation directory (agent_dir.h). */
#define LOG_PREFIX "agent dir: "
#include "agent_dir.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

const char *agent_dir_default(void)
{
	const char *env = getenv("CKPT_DIR");

	return env && *env ? env : "ckpt";
}

/* FNV-1a: stable across builds and hosts, good enough to tell apart the few
 * directories one user checkpoints; collisions are caught by the lock. */
static uint64_t agent_dir_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static int agent_dir_join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * Whether @path is a directory only we can use: a real directory (lstat: not
 * a symlink) owned by our uid, with mode exactly 0700 when @exact (the /tmp
 * fallback, logged when refused: another user's directory there could swap
 * our socket for theirs), or at least not writable by group and others
 * ($XDG_RUNTIME_DIR, silently skipped). Returns 0, -ENOENT, or -EPERM.
 */
static int agent_dir_check_private(const char *path, bool exact)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode) && st.st_uid == getuid() &&
	    (exact ? (st.st_mode & 07777) == 0700 : (st.st_mode & 022) == 0))
		return 0;
	if (exact)
		log_err("%s is %s owned by uid %u with mode %04o, not a private directory of uid "
			"%u (mode 0700): another user may have made it to take over our agent "
			"socket; have it removed, or use a shorter checkpoint directory or an "
			"XDG_RUNTIME_DIR of yours",
			path,
			S_ISLNK(st.st_mode)   ? "a symlink"
			: S_ISDIR(st.st_mode) ? "a directory"
					      : "a file",
			(unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)getuid());
	else
		log_debug("XDG_RUNTIME_DIR=%s is not a directory of uid %u that only it can "
			  "write: not used for the agent socket",
			  path, (unsigned)getuid());
	return -EPERM;
}

/* Picks the socket path: DIR/agent.sock if it fits, else a hashed name in
 * the user's runtime directory or, last, in /tmp/ckpt-<uid>/, a directory
 * made 0700 (with @create) and checked private: in /tmp anyone could have
 * bound the name first. SO_PEERCRED on both ends of the socket checks the
 * rest. Returns 0, -ENAMETOOLONG, -EPERM (logged) or -errno. */
static int agent_dir_pick_sock(struct agent_dir *ad, bool create)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	uint64_t h = agent_dir_hash(ad->dir);
	char priv[64];
	int ret;
	int n;

	n = snprintf(ad->sock, sizeof(ad->sock), "%s/agent.sock", ad->dir);
	if (n > 0 && (size_t)n < sizeof(ad->sock))
		return 0;
	if (run && *run && agent_dir_check_private(run, false) == 0) {
		n = snprintf(ad->sock, sizeof(ad->sock), "%s/ckpt-%016" PRIx64 ".sock", run, h);
		if (n > 0 && (size_t)n < sizeof(ad->sock))
			return 0;
	}
	snprintf(priv, sizeof(priv), "/tmp/ckpt-%u", (unsigned)getuid());
	if (create && mkdir(priv, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		log_err("cannot create %s: %s", priv, strerror(errno));
		return ret;
	}
	ret = agent_dir_check_private(priv, true);
	/* Without @create a missing directory just means no agent runs. */
	if (ret && !(ret == -ENOENT && !create))
		return ret;
	n = snprintf(ad->sock, sizeof(ad->sock), "%s/%016" PRIx64 ".sock", priv, h);
	return n > 0 && (size_t)n < sizeof(ad->sock) ? 0 : -ENAMETOOLONG;
}

int agent_dir_resolve(const char *dir, bool create, struct agent_dir *ad)
{
	struct stat st;
	int ret;

	memset(ad, 0, sizeof(*ad));
	if (!dir || !*dir)
		return -EINVAL;
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (!realpath(dir, ad->dir))
		return -errno;
	if (stat(ad->dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	ret = agent_dir_join(ad->lock, sizeof(ad->lock), ad->dir, "agent.lock");
	if (!ret)
		ret = agent_dir_join(ad->log, sizeof(ad->log), ad->dir, "agent.log");
	if (!ret)
		ret = agent_dir_join(ad->addr, sizeof(ad->addr), ad->dir, "agent.addr");
	if (!ret)
		ret = agent_dir_join(ad->interval, sizeof(ad->interval), ad->dir, "interval");
	if (!ret)
		ret = agent_dir_pick_sock(ad, create);
	return ret;
}

int agent_dir_locate(struct agent_dir *ad)
{
	char buf[AGENT_SOCK_MAX + 2];
	FILE *f = fopen(ad->addr, "re");
	size_t len;

	if (!f)
		return -ENOENT;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -ENOENT;
	}
	fclose(f);
	len = strcspn(buf, "\n");
	buf[len] = '\0';
	if (buf[0] != '/' || len > AGENT_SOCK_MAX)
		return -ENOENT;
	memcpy(ad->sock, buf, len + 1);
	return 0;
}

bool agent_dir_uid_allowed(uid_t uid)
{
	return uid == 0 || uid == getuid();
}

int agent_dir_connect(const struct agent_dir *ad)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd, ret;

	memcpy(sa.sun_path, ad->sock, strlen(ad->sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (!agent_dir_uid_allowed(cred.uid)) {
		ret = -EPERM;
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return ret;
}

int agent_mkdir_parents(char *dir)
{
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(dir, 0700);
		*p = '/';
		if (rc && errno != EEXIST)
			return -errno;
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}
