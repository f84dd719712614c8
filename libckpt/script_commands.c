/* script_commands.c - what a batch script runs itself (triggers.h).
 *
 * Only srun steps are checkpointed: a command the batch shell runs directly
 * (`python3 driver.py`, `./a.out`, a loop's body) is not, and when the job
 * ends or is requeued its work is lost. The batch shell's libckpt names
 * such commands in the job's output at that moment, so that the loss is
 * never silent (docs/users.md). Called from a signal handler: raw system
 * calls, no allocation, no stdio.
 *
 * A command the job's signal killed before the shell's own signal arrived
 * may already be reaped: the shell's wait noted its name (shell_wait.c) and
 * it is named for SCRIPT_ENDED_RECENT_MS after that. A script that ends in
 * that time waits as long for the job's signal, so that the loss is named
 * even when the shell would have exited before Slurm signalled it.
 */
#include "libckpt.h"
#include "triggers.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
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

/* How long a command a signal killed counts as ended by the job's end: the
 * job's signals to the shell and its commands are sent together, and this
 * covers a loaded node delaying the one to the shell. */
#define SCRIPT_ENDED_RECENT_MS 3000.0

/* The last command a SIGTERM or SIGKILL ended, noted before the reap. */
static struct {
	int complete; /* 0 while written: a handler ignores it */
	char pid[16];
	char name[17];
	double at_ms;
} script_ended;

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

/* Appends "`@cmd` (pid @pid)" to @out, after ", " when it is not empty. */
static void script_name_command(char *out, size_t cap, size_t *n, const char *cmd, const char *pid)
{
	if (*n)
		script_cat(out, cap, n, ", ");
	script_cat(out, cap, n, "`");
	script_cat(out, cap, n, cmd);
	script_cat(out, cap, n, "` (pid ");
	script_cat(out, cap, n, pid);
	script_cat(out, cap, n, ")");
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
		if (script_child_command(pid, cmd, sizeof(cmd)))
			script_name_command(out, cap, n, cmd, pid);
	}
}

void eng_script_note_ended(pid_t pid, int signo)
{
	char digits[16];
	char path[64];
	size_t k = 0;
	ssize_t got;

	if (signo != SIGTERM && signo != SIGKILL)
		return;
	__atomic_store_n(&script_ended.complete, 0, __ATOMIC_RELEASE);
	do
		digits[k++] = (char)('0' + pid % 10);
	while ((pid /= 10) > 0 && k < sizeof(digits) - 1);
	for (size_t i = 0; i < k; i++)
		script_ended.pid[i] = digits[k - 1 - i];
	script_ended.pid[k] = '\0';
	script_proc_path(path, sizeof(path), "/proc/", script_ended.pid, "/comm");
	got = eng_read_small(path, script_ended.name, sizeof(script_ended.name));
	while (got > 0 && script_ended.name[got - 1] == '\n')
		script_ended.name[--got] = '\0';
	/* srun is a step, checkpointed: nothing to name. */
	if (got <= 0 || !strcmp(script_ended.name, "srun"))
		return;
	script_ended.at_ms = eng_clock_ms();
	__atomic_store_n(&script_ended.complete, 1, __ATOMIC_RELEASE);
}

/* The command noted by eng_script_note_ended() if it ended recently. */
static bool script_ended_recently(void)
{
	return __atomic_load_n(&script_ended.complete, __ATOMIC_ACQUIRE) &&
	       eng_clock_ms() - script_ended.at_ms <= SCRIPT_ENDED_RECENT_MS;
}

/* Appends the recently ended command unless @out names its pid already
 * (the handler ran between the note and the reap). */
static void script_add_ended(char *out, size_t cap, size_t *n)
{
	char listed[32];
	size_t k = 0;

	if (!script_ended_recently())
		return;
	script_cat(listed, sizeof(listed), &k, "(pid ");
	script_cat(listed, sizeof(listed), &k, script_ended.pid);
	script_cat(listed, sizeof(listed), &k, ")");
	if (!strstr(out, listed))
		script_name_command(out, cap, n, script_ended.name, script_ended.pid);
}

/* At the shell's exit, soon after a signal killed one of its commands:
 * waits out SCRIPT_ENDED_RECENT_MS for the job's SIGTERM, whose handler
 * names the command and ends the shell. Without one, the exit goes on. */
__attribute__((destructor)) static void script_exit_wait(void)
{
	while (script_ended_recently()) {
		double left_ms = SCRIPT_ENDED_RECENT_MS - (eng_clock_ms() - script_ended.at_ms);
		struct timespec left = { .tv_sec = (time_t)(left_ms / 1000),
					 .tv_nsec = (long)(left_ms * 1e6) % 1000000000L };

		if (left_ms <= 0)
			break;
		syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &left, NULL);
	}
}

size_t eng_script_commands(char *out, size_t cap)
{
	char dents[2048];
	size_t n = 0;
	long fd;

	out[0] = '\0';
	fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		script_add_ended(out, cap, &n);
		return n;
	}
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
	script_add_ended(out, cap, &n);
	return n;
}
