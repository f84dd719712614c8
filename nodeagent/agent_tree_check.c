/* agent_tree_check.c - every live child of a tree member is a participant
 * (agent_tree_check.h). Reads /proc of this node: the agent runs outside
 * the namespaces of the trees, so its /proc shows their processes with the
 * pids it knows them by. */
#define LOG_PREFIX "coord: "
#include "agent_tree_check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Bytes read of one thread's children list: "PID " each, and a tree
 * record holds at most 4096 children (TREE_REC_CHILDREN_MAX). */
#define CHILDREN_LIST_MAX 65536

/* Reads up to @cap - 1 bytes of @path into @buf, NUL-terminated. Returns
 * the length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return -errno;
	while (off < cap - 1) {
		ssize_t n = read(fd, buf + off, cap - 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return (ssize_t)off;
}

bool agent_tree_member(pid_t pid)
{
	struct stat mine;
	struct stat theirs;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	if (stat("/proc/self/ns/pid", &mine) < 0 || stat(path, &theirs) < 0)
		return false;
	return mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev;
}

/* The state letter of @pid from /proc/PID/stat ('Z' zombie, 'X' dead), its
 * command in @comm; '\0' for a process that is gone. */
static char proc_state(pid_t pid, char *comm, size_t comm_len)
{
	char path[64];
	char buf[512];
	const char *open_paren;
	const char *close_paren;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return '\0';
	/* "PID (COMM) S ...": COMM may hold spaces and parentheses. */
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren || close_paren[1] != ' ')
		return '\0';
	n = (size_t)(close_paren - open_paren - 1);
	if (n >= comm_len)
		n = comm_len - 1;
	memcpy(comm, open_paren + 1, n);
	comm[n] = '\0';
	return close_paren[2];
}

/* Checks the children listed in @list (a /proc/PID/task/TID/children
 * file) of participant @pid. */
static int check_list(pid_t pid, const char *list, agent_is_part_fn is_part, void *arg, char *why,
		      size_t why_len)
{
	const char *p = list;

	for (;;) {
		char comm[64] = "";
		char state;
		char *end;
		long child = strtol(p, &end, 10);

		if (end == p)
			return 0;
		p = end;
		if (child <= 0 || is_part(arg, (pid_t)child))
			continue;
		state = proc_state((pid_t)child, comm, sizeof(comm));
		if (state == '\0' || state == 'Z' || state == 'X')
			continue; /* gone, or a zombie: the parent's record holds it */
		snprintf(why, why_len,
			 "pid %ld (%s), a child of participant pid %d, has not registered and "
			 "would be missing from the checkpoint (it is starting, or runs without "
			 "libckpt: a static program, or LD_PRELOAD removed); try again",
			 child, comm, (int)pid);
		return -EAGAIN;
	}
}

int agent_tree_check_children(pid_t pid, agent_is_part_fn is_part, void *arg, char *why,
			      size_t why_len)
{
	char path[64];
	struct dirent *de;
	DIR *tasks;
	char *list;
	int ret = 0;

	if (!agent_tree_member(pid))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	tasks = opendir(path);
	if (!tasks)
		return 0; /* gone: the generation fails on its own */
	list = malloc(CHILDREN_LIST_MAX);
	if (!list) {
		closedir(tasks);
		snprintf(why, why_len, "out of memory checking the children of pid %d", (int)pid);
		return -ENOMEM;
	}
	while (!ret && (de = readdir(tasks))) {
		char children[96];
		ssize_t n;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(children, sizeof(children), "/proc/%d/task/%.16s/children", (int)pid,
			 de->d_name);
		n = read_small(children, list, CHILDREN_LIST_MAX);
		if (n <= 0)
			continue;
		/* A full buffer may end inside a pid: drop that part-number. */
		if ((size_t)n == CHILDREN_LIST_MAX - 1) {
			char *last = strrchr(list, ' ');

			if (last)
				*last = '\0';
		}
		ret = check_list(pid, list, is_part, arg, why, why_len);
	}
	closedir(tasks);
	free(list);
	return ret;
}

/* ---- Memory shared between processes of a tree ------------------------ */

/* Bytes of /proc/PID/maps held at once: a line is at most ~100 bytes of
 * fields and a path (PATH_MAX, a '\n' in it shown as 4 bytes). */
#define MAPS_CHUNK 32768
/* Lines read of one process's maps (vm.max_map_count is 65530 by default):
 * past that the maps are not trusted and the generation is refused. */
#define MAPS_LINES_MAX (1u << 20)
/* MAP_SHARED mappings collected over the whole tree: each is ~230 bytes,
 * so the check holds at most ~15 MiB. */
#define SHM_MAPS_MAX 65536u

/* Whether @s ends with @suffix. */
static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s);
	size_t lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* Parses a hex (@base 16) or decimal number of at least one digit at *@p,
 * followed by @sep ('\0': any), into @out. Returns false on anything else. */
static bool parse_num(const char **p, int base, char sep, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;
	int digits = 0;

	for (;; s++, digits++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			break;
		if (digits >= 16 && (base == 16 || v > (UINT64_MAX - (uint64_t)d) / 10))
			return false; /* more digits than 64 bits hold */
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (!digits || (sep && *s != sep))
		return false;
	*p = sep ? s + 1 : s;
	*out = v;
	return true;
}

int agent_tree_maps_line_parse(const char *line, struct agent_shm_map *m, const char **path)
{
	const char *p = line;
	uint64_t major;
	uint64_t minor;

	memset(m, 0, sizeof(*m));
	if (!parse_num(&p, 16, '-', &m->start) || !parse_num(&p, 16, ' ', &m->end) ||
	    m->start >= m->end || (m->start & 4095) || (m->end & 4095))
		return -EINVAL;
	if ((p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 's' && p[3] != 'p') || p[4] != ' ')
		return -EINVAL;
	m->shared = p[3] == 's';
	p += 5;
	if (!parse_num(&p, 16, ' ', &m->offset) || !parse_num(&p, 16, ':', &major) ||
	    !parse_num(&p, 16, ' ', &minor) || major > 0xfff || minor > 0xfffff ||
	    !parse_num(&p, 10, '\0', &m->inode))
		return -EINVAL;
	m->dev = (major << 20) | minor;
	if (*p != ' ' && *p != '\0')
		return -EINVAL;
	while (*p == ' ')
		p++;
	*path = p;
	return 0;
}

/* The process-visible pid of @pid (the last NSpid), or 0. */
static long inner_pid(pid_t pid)
{
	char path[64];
	char buf[8192];
	const char *ns;
	long inner = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0 || !(ns = strstr(buf, "\nNSpid:")))
		return 0;
	ns += 7;
	for (;;) {
		char *end;
		long v = strtol(ns, &end, 10);

		if (end == ns || v <= 0)
			break;
		inner = v;
		ns = end;
	}
	return inner;
}

/* Describes the object mapped from @path for a message: what it is, with
 * the bytes of the (untrusted) name that are not printable replaced. */
static void object_name(const char *path, enum agent_shm_kind kind, char *out, size_t len)
{
	char clean[161];
	size_t n = 0;

	for (const char *s = path; *s && n < sizeof(clean) - 1; s++)
		clean[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	clean[n] = '\0';
	if (n >= 10 && ends_with(clean, " (deleted)"))
		clean[n - 10] = '\0';
	switch (kind) {
	case AGENT_SHM_ANON:
		snprintf(out, len, "shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS)");
		break;
	case AGENT_SHM_SYSV:
		snprintf(out, len, "the System V shared memory segment %s", clean);
		break;
	case AGENT_SHM_MEMFD:
		snprintf(out, len, "the %s (memfd_create)", clean + 1);
		break;
	case AGENT_SHM_DELETED:
	case AGENT_SHM_SHM_DELETED:
		snprintf(out, len, "the deleted file %s", clean);
		break;
	default:
		snprintf(out, len,
			 "the file %s (not found again at that path with the same inode, or not "
			 "a regular file)",
			 clean);
		break;
	}
}

/* What a restart can do with the object @path names in the maps of @pid
 * at inode @inode. */
static enum agent_shm_kind classify(pid_t pid, const char *path, uint64_t inode)
{
	char full[4200];
	struct stat st;

	/* The second: shared anonymous memory once restored in a tree
	 * (docs/process-trees.md). */
	if (!strcmp(path, "/dev/zero (deleted)") || path[0] == '\0' ||
	    !strcmp(path, "/memfd:ckpt-shared-anon (deleted)"))
		return AGENT_SHM_ANON;
	if (!strncmp(path, "/SYSV", 5))
		return AGENT_SHM_SYSV;
	if (!strncmp(path, "/memfd:", 7))
		return AGENT_SHM_MEMFD;
	/* The same test as the capture's (libckpt/snapshot.c), which saves
	 * the contents of these and only these. */
	if (ends_with(path, " (deleted)"))
		return strncmp(path, "/dev/shm/", 9) != 0 ? AGENT_SHM_DELETED
							  : AGENT_SHM_SHM_DELETED;
	/* The restore maps the path again and requires this inode there
	 * (libckpt/restore.c): look through the process's own root. */
	if (path[0] != '/' ||
	    snprintf(full, sizeof(full), "/proc/%d/root%s", (int)pid, path) >= (int)sizeof(full) ||
	    stat(full, &st) < 0 || !S_ISREG(st.st_mode) || st.st_ino != inode)
		return AGENT_SHM_OTHER;
	return AGENT_SHM_FILE;
}

/* The MAP_SHARED mappings of the tree, and what went wrong. */
struct shm_set {
	struct agent_shm_map *maps; /* collected, grown on demand */
	size_t n;		    /* used */
	size_t cap;		    /* allocated */
	char *why;		    /* the caller's message buffer */
	size_t why_len;		    /* its size */
};

/* Adds the shared mapping @line of @pid. Returns 0 or -errno (why set). */
static int shm_add(struct shm_set *set, pid_t pid, const char *line)
{
	struct agent_shm_map m;
	const char *path;

	if (agent_tree_maps_line_parse(line, &m, &path) < 0) {
		snprintf(set->why, set->why_len,
			 "cannot check the shared memory of pid %d: unexpected line in "
			 "/proc/%d/maps; checkpoint refused",
			 (int)pid, (int)pid);
		return -EPROTO;
	}
	if (!m.shared)
		return 0;
	if (set->n == SHM_MAPS_MAX) {
		snprintf(set->why, set->why_len,
			 "the processes of the tree have more than %u shared memory mappings, "
			 "more than the agent checks: checkpoint refused",
			 SHM_MAPS_MAX);
		return -E2BIG;
	}
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		struct agent_shm_map *grown = realloc(set->maps, cap * sizeof(*grown));

		if (!grown) {
			snprintf(set->why, set->why_len,
				 "out of memory checking the shared memory of pid %d", (int)pid);
			return -ENOMEM;
		}
		set->maps = grown;
		set->cap = cap;
	}
	m.pid = pid;
	m.kind = classify(pid, path, m.inode);
	object_name(path, m.kind, m.name, sizeof(m.name));
	set->maps[set->n++] = m;
	return 0;
}

/* Adds every MAP_SHARED mapping of @pid. A process that is gone adds
 * nothing: the generation fails on its own. */
static int shm_collect(struct shm_set *set, pid_t pid)
{
	char path[64];
	char *buf;
	size_t have = 0;
	unsigned int lines = 0;
	int ret = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	buf = malloc(MAPS_CHUNK + 1);
	if (!buf) {
		snprintf(set->why, set->why_len, "out of memory reading %s", path);
		ret = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n = read(fd, buf + have, MAPS_CHUNK - have);
		char *line = buf;
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(set->why, set->why_len, "cannot read %s: %s", path,
				 strerror(errno));
			break;
		}
		have += (size_t)n;
		buf[have] = '\0';
		while (!ret && (nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			*nl = '\0';
			if (++lines > MAPS_LINES_MAX) {
				snprintf(set->why, set->why_len,
					 "%s has more than %u lines: checkpoint refused", path,
					 MAPS_LINES_MAX);
				ret = -E2BIG;
				break;
			}
			ret = shm_add(set, pid, line);
			line = nl + 1;
		}
		if (ret)
			break;
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (n == 0) {
			if (have) /* a last line without '\n' */
				ret = shm_add(set, pid, buf);
			break;
		}
		if (have == MAPS_CHUNK) {
			snprintf(set->why, set->why_len,
				 "a line of %s is longer than %d bytes: checkpoint refused", path,
				 MAPS_CHUNK);
			ret = -E2BIG;
			break;
		}
	}
	free(buf);
out_close:
	close(fd);
	return ret;
}

static int shm_cmp(const void *a, const void *b)
{
	const struct agent_shm_map *x = a;
	const struct agent_shm_map *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->inode != y->inode)
		return x->inode < y->inode ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

int agent_tree_shm_judge(struct agent_shm_map *maps, size_t n, unsigned int restorable, char *why,
			 size_t why_len)
{
	if (n < 2)
		return 0;
	qsort(maps, n, sizeof(*maps), shm_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		size_t other = n;
		bool ok = true;

		for (; j < n && maps[j].dev == maps[i].dev && maps[j].inode == maps[i].inode; j++) {
			if (!(restorable & (1u << maps[j].kind)))
				ok = false;
			if (other == n && maps[j].pid != maps[i].pid)
				other = j;
		}
		if (!ok && other != n) {
			const struct agent_shm_map *a = &maps[i];
			const struct agent_shm_map *b = &maps[other];

			snprintf(
				why, why_len,
				"%s is mapped by pid %d (pid %ld in its tree) at %llx-%llx and by "
				"pid %d (pid %ld in its tree) at %llx-%llx, and a restart would give "
				"each its own copy: they would no longer share it. Checkpoint "
				"refused; unmap it in all but one process of the tree before "
				"checkpointing, or share a file that exists for the whole run "
				"instead (shm_open without shm_unlink, or a file on disk; a sem_open "
				"semaphore is always mapped through an unlinked file)",
				a->name, (int)a->pid, inner_pid(a->pid),
				(unsigned long long)a->start, (unsigned long long)a->end,
				(int)b->pid, inner_pid(b->pid), (unsigned long long)b->start,
				(unsigned long long)b->end);
			return -EAGAIN;
		}
		i = j;
	}
	return 0;
}

int agent_tree_shm_fd_judge(const struct agent_shm_map *maps, size_t n, pid_t pid, int fd,
			    uint64_t dev, uint64_t inode, char *why, size_t why_len)
{
	size_t lo = 0;
	size_t hi = n;
	size_t other;

	/* The first mapping of (dev, inode): @maps is sorted by them. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (maps[mid].dev < dev || (maps[mid].dev == dev && maps[mid].inode < inode))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n || maps[lo].dev != dev || maps[lo].inode != inode ||
	    !(AGENT_SHM_FD_KINDS & (1u << maps[lo].kind)))
		return 0;
	for (other = lo + 1; other < n && maps[other].dev == dev && maps[other].inode == inode;
	     other++)
		if (maps[other].pid != maps[lo].pid)
			break;
	if (other == n || maps[other].dev != dev || maps[other].inode != inode)
		return 0; /* one process maps it: restored in that process alone */
	snprintf(why, why_len,
		 "%s is mapped by pid %d (pid %ld in its tree) at %llx-%llx and by pid %d (pid "
		 "%ld in its tree) at %llx-%llx, and pid %d (pid %ld in its tree) also holds it "
		 "open as fd %d: a restart makes the mappings one object again, but the "
		 "descriptor would be another. Checkpoint refused; close the descriptor once "
		 "the object is mapped (the mappings alone come back shared)",
		 maps[lo].name, (int)maps[lo].pid, inner_pid(maps[lo].pid),
		 (unsigned long long)maps[lo].start, (unsigned long long)maps[lo].end,
		 (int)maps[other].pid, inner_pid(maps[other].pid),
		 (unsigned long long)maps[other].start, (unsigned long long)maps[other].end,
		 (int)pid, inner_pid(pid), fd);
	return -EAGAIN;
}

/* Refuses a descriptor of @pid on an object the restart hands over to the
 * mappings only (agent_tree_shm_fd_judge()). Only memfds and /dev/shm
 * files are looked at. A process that is gone passes: the generation fails
 * on its own. */
static int shm_fds_check(const struct shm_set *set, pid_t pid)
{
	char dir[64];
	DIR *d;
	struct dirent *e;
	int ret = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return 0;
	while (!ret && (e = readdir(d))) {
		char link[64];
		struct stat st;
		ssize_t l;
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end || fd > INT32_MAX)
			continue;
		l = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
		if (l < 7)
			continue;
		link[l] = '\0';
		if ((strncmp(link, "/memfd:", 7) != 0 && strncmp(link, "/dev/shm/", 9) != 0) ||
		    fstatat(dirfd(d), e->d_name, &st, 0) < 0)
			continue;
		ret = agent_tree_shm_fd_judge(set->maps, set->n, pid, (int)fd,
					      ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev),
					      st.st_ino, set->why, set->why_len);
	}
	closedir(d);
	return ret;
}

/* Whether sorted @maps hold an object of AGENT_SHM_FD_KINDS that two or
 * more processes map: only then are the descriptors worth reading. */
static bool shm_any_handed(const struct agent_shm_map *maps, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if ((AGENT_SHM_FD_KINDS & (1u << maps[i].kind)) && maps[i].dev == maps[i - 1].dev &&
		    maps[i].inode == maps[i - 1].inode && maps[i].pid != maps[i - 1].pid)
			return true;
	return false;
}

int agent_tree_check_shared(const pid_t *pids, size_t npids, char *why, size_t why_len)
{
	struct shm_set set = { .why = why, .why_len = why_len };
	int ret = 0;

	for (size_t i = 0; !ret && i < npids; i++)
		if (agent_tree_member(pids[i]))
			ret = shm_collect(&set, pids[i]);
	if (!ret)
		ret = agent_tree_shm_judge(set.maps, set.n, AGENT_SHM_RESTORABLE, why, why_len);
	if (!ret && !shm_any_handed(set.maps, set.n))
		npids = 0; /* no descriptor can name an object handed over */
	for (size_t i = 0; !ret && i < npids; i++)
		if (agent_tree_member(pids[i]))
			ret = shm_fds_check(&set, pids[i]);
	free(set.maps);
	return ret;
}
