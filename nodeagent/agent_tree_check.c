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

/* Whether @pid runs in another pid namespace than the agent: a tree that
 * 'ckpt run' made. Returns false for a process that is gone. */
static bool in_other_pidns(pid_t pid)
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

	if (!in_other_pidns(pid))
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
