/* shell_wait.c - the batch shell's waits note a command a signal ended
 * (triggers.h).
 *
 * Slurm ends a job by signalling every process of the batch step, under
 * proctrack/linuxproc the shell's children before the shell. A command the
 * job's SIGTERM killed can therefore be reaped by the shell before the
 * shell's own SIGTERM arrives, and a script can even end before it: the
 * shell's handler would find no child left to name, and the loss of the
 * command's work would go unsaid (script_commands.c). So in the batch shell
 * (signals-only mode) each wait first looks at the child it is about to
 * return without reaping it (waitid WNOWAIT, the zombie keeps its name),
 * notes one a signal killed, then reaps exactly that child with the
 * caller's options. Outside the batch shell the wrappers only forward.
 */
#include "libckpt.h"
#include "triggers.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t (*real_wait4)(pid_t, int *, int, struct rusage *);
static bool eng_shell_waits;

void eng_shell_waits_enable(void)
{
	real_wait4 = eng_libc_next("wait4");
	eng_shell_waits = true;
}

/* The options wait4 knows; anything else is forwarded for wait4 to refuse. */
#define SHELL_WAIT_OPTIONS (WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE | __WNOTHREAD)

/* The waitid() selection equal to wait4's @pid. */
static void shell_wait_target(pid_t pid, idtype_t *type, id_t *id)
{
	if (pid < -1) {
		*type = P_PGID;
		*id = (id_t)-pid;
	} else if (pid == -1) {
		*type = P_ALL;
		*id = 0;
	} else if (pid == 0) {
		*type = P_PGID;
		*id = (id_t)getpgrp();
	} else {
		*type = P_PID;
		*id = (id_t)pid;
	}
}

/* wait4() of the batch shell: peek, note, reap that child. */
static pid_t shell_wait(pid_t pid, int *status, int options, struct rusage *usage)
{
	idtype_t type;
	id_t id;
	int peek = WEXITED | WNOWAIT |
		   (options & (WNOHANG | WCONTINUED | __WALL | __WCLONE | __WNOTHREAD));

	if (options & WUNTRACED)
		peek |= WSTOPPED;
	shell_wait_target(pid, &type, &id);
	for (;;) {
		siginfo_t si;
		pid_t got;

		memset(&si, 0, sizeof(si));
		/* Fails as wait4 would (ECHILD, EINTR) and blocks as it would. */
		if (waitid(type, id, &si, peek) < 0)
			return -1;
		if (si.si_pid == 0)
			return real_wait4(pid, status, options, usage);
		if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
			eng_script_note_ended(si.si_pid, si.si_status);
		got = real_wait4(si.si_pid, status, options | WNOHANG, usage);
		if (got > 0 || (got < 0 && errno != ECHILD))
			return got;
		/* A signal handler of the shell took this change meanwhile:
		 * wait on, as the caller's call would have. */
	}
}

pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage)
{
	if (!eng_shell_waits || (options & ~SHELL_WAIT_OPTIONS)) {
		if (!real_wait4)
			real_wait4 = eng_libc_next("wait4");
		return real_wait4(pid, status, options, usage);
	}
	return shell_wait(pid, status, options, usage);
}

pid_t waitpid(pid_t pid, int *status, int options)
{
	return wait4(pid, status, options, NULL);
}

pid_t wait3(int *status, int options, struct rusage *usage)
{
	return wait4(-1, status, options, usage);
}

pid_t wait(int *status)
{
	return wait4(-1, status, 0, NULL);
}
