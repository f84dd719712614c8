/* script_commands.c - what a batch script runs itself (triggers.h).
 *
 * Only srun steps are checkpointed: a command the batch shell runs directly
 * (`python3 driver.py`, `./a.out`, a loop's body) is not, and when the job
 * ends or is requeued its work is lost. The batch shell's libckpt names
 * such commands in the job's output at that moment, so that the loss is
 * never silent (docs/users.md). Called from a signal handler: raw system
 * calls, no allocation, no stdio.
 */
#include "libckpt.h"
#include "triggers.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A getdents64 record (the kernel's layout; glibc's struct dirent64 needs
 * _LARGEFILE64_SOURCE). */
struct script_dirent {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Longest command line quoted per command. */
#define SCRIPT_CMD_MAX 120

/* @prefix @id @name, concatenated into @path. */
static void script_proc_path(char *path, size_t cap, const char *prefix, const char *id,
			     const char *name)
{
	size_t n = 0;

	for (const char *parts[] = { prefix, id, name }, **p = parts; p < parts + 3; p++)
		for (const char *s = *p; s && *s && n + 1 < cap; s++)
			path[n++] = *s;
	path[n] = '\0';
}

/* Appends @s to @buf (capacity @cap, kept NUL-terminated) at *@n. */
static void script_cat(char *buf, size_t cap, size_t *n, const char *s)
{
	while (*s && *n + 1 < cap)
		buf[(*n)++] = *s++;
	buf[*n] = '\0';
}

/* The command line of child @pid (text of its pid) in @cmd: arguments
 * separated by blanks, cut at SCRIPT_CMD_MAX; its name alone for a zombie.
 * Returns false for srun (a step: checkpointed) and a process gone. */
static bool script_child_command(const char *pid, char *cmd, size_t cap)
{
	char path[64];
	const char *base;
	ssize_t got;
	size_t len;

	script_proc_path(path, sizeof(path), "/proc/", pid, "/cmdline");
	got = eng_read_small(path, cmd, cap);
	len = got > 0 ? (size_t)got : 0;
	if (len == 0) {
		script_proc_path(path, sizeof(path), "/proc/", pid, "/comm");
		got = eng_read_small(path, cmd, cap);
		len = got > 0 ? (size_t)got : 0;
		while (len && cmd[len - 1] == '\n')
			cmd[--len] = '\0';
		if (len == 0)
			return false;
	}
	base = strrchr(cmd, '/');
	base = base ? base + 1 : cmd;
	if (!strcmp(base, "srun"))
		return false;
	for (size_t i = 0; i < len; i++)
		if (cmd[i] == '\0')
			cmd[i] = ' ';
	while (len && cmd[len - 1] == ' ')
		cmd[--len] = '\0';
	return true;
}

/* Appends the commands among the children listed in @list to @out. */
static void script_list_children(const char *list, char *out, size_t cap, size_t *n)
{
	const char *p = list;

	while (*p) {
		char pid[16];
		char cmd[SCRIPT_CMD_MAX + 1];
		size_t k = 0;

		while (*p == ' ' || *p == '\n')
			p++;
		while (*p >= '0' && *p <= '9' && k + 1 < sizeof(pid))
			pid[k++] = *p++;
		pid[k] = '\0';
		if (!k)
			break;
		if (!script_child_command(pid, cmd, sizeof(cmd)))
			continue;
		if (*n)
			script_cat(out, cap, n, ", ");
		script_cat(out, cap, n, "`");
		script_cat(out, cap, n, cmd);
		script_cat(out, cap, n, "` (pid ");
		script_cat(out, cap, n, pid);
		script_cat(out, cap, n, ")");
	}
}

size_t eng_script_commands(char *out, size_t cap)
{
	char dents[2048];
	size_t n = 0;
	long fd;

	out[0] = '\0';
	fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (;;) {
		long got = syscall(SYS_getdents64, fd, dents, sizeof(dents));

		if (got <= 0)
			break;
		for (long off = 0; off < got;) {
			const struct script_dirent *d = (const struct script_dirent *)(dents + off);
			char path[96];
			char list[1024];

			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			script_proc_path(path, sizeof(path), "/proc/self/task/", d->d_name,
					 "/children");
			if (eng_read_small(path, list, sizeof(list)) > 0)
				script_list_children(list, out, cap, &n);
		}
	}
	syscall(SYS_close, fd);
	return n;
}
