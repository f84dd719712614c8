/* agent_replace.c - starting the node agent again (agent_replace.h).
 *
 * Why the processes start it (docs/architecture.md, "Lost node agents"):
 * they are the ones that notice at once (their socket drops), they run on
 * that node as the job's user and inside the job's cgroup, so what they
 * start is the job's and dies with it, and nothing outside the job (no
 * root daemon, no other node) has to be trusted or reachable. The program
 * they start is the one their agent ran, read from /proc of the peer
 * SO_PEERCRED named when the connection was made: it must be of our uid,
 * so a replacement is never started from another user's word.
 *
 * This runs on the checkpoint thread of an application that may hold any
 * lock of libc or of its own in other threads: no fork() (it runs the
 * application's atfork handlers), no malloc in the child; the child is a
 * raw clone() that only makes system calls, and it has no exit signal, so
 * the application's SIGCHLD handlers and wait() calls never see it.
 */
#define LOG_PREFIX "libckpt: "
#include "agent_replace.h"

#include "libckpt.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Room for the agent's command line and environment; a larger one is not
 * recorded (and the agent is then not replaced, which the log says). */
#define REPL_ARGV_MAX  (16u << 10)
#define REPL_ENV_MAX   (64u << 10)
#define REPL_NARGS_MAX 64
#define REPL_NENV_MAX  2048
/* Between two attempts to start a replacement: a start that failed (the
 * job is ending, slurmctld is slow) is not repeated in a loop. */
#define REPL_RETRY_MS 10000
/* How long a replacement may take to say it listens (as agent_spawn.c). */
#define REPL_START_MS 30000
/* The descriptor the agent's --ready-fd names (agent_spawn.c gives 3). */
#define REPL_READY_FD 3

static struct {
	bool valid;
	char exe[PATH_MAX];
	char args[REPL_ARGV_MAX];
	size_t args_len;
	char env[REPL_ENV_MAX];
	size_t env_len;
	const char *dir; /* --dir's value, inside args */
	double last_try; /* eng_clock_ms() of the last start, 0 for none */
} repl;

/* Argument vectors built in the parent: the child must not allocate. */
static char *repl_argv[REPL_NARGS_MAX + 1];
static char *repl_envp[REPL_NENV_MAX + 1];

/* Reads /proc/@pid/@name whole into @buf. Returns its length, or -1 when
 * unreadable or larger than @cap. */
static ssize_t repl_proc_read(pid_t pid, const char *name, char *buf, size_t cap)
{
	char path[64];
	size_t len = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == cap)
			break;
	}
	close(fd);
	return len == cap ? -1 : (ssize_t)len;
}

/* Splits the NUL-separated @buf into @vec (NULL-terminated). Returns the
 * count or -1 when more than @max. */
static int repl_split(char *buf, size_t len, char **vec, int max)
{
	size_t off = 0;
	int n = 0;

	while (off < len) {
		if (n == max)
			return -1;
		vec[n++] = buf + off;
		off += strnlen(buf + off, len - off) + 1;
	}
	vec[n] = NULL;
	return n;
}

void eng_agent_forget(void)
{
	repl.valid = false;
	repl.dir = NULL;
}

/* Checks the recorded command line is a job's node agent started the way
 * agent_spawn.c starts it; sets repl.dir. */
static bool repl_argv_ok(int argc)
{
	bool relay = false;
	bool ready = false;

	for (int i = 0; i + 1 < argc; i++) {
		if (!strcmp(repl_argv[i], "--relay"))
			relay = true;
		else if (!strcmp(repl_argv[i], "--dir") && repl_argv[i + 1][0] == '/')
			repl.dir = repl_argv[i + 1];
		else if (!strcmp(repl_argv[i], "--ready-fd") && !strcmp(repl_argv[i + 1], "3"))
			ready = true;
	}
	return relay && ready && repl.dir;
}

void eng_agent_record(int fd)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char path[64];
	ssize_t alen;
	ssize_t elen;
	ssize_t xlen;
	int argc;

	eng_agent_forget();
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.uid != getuid())
		return; /* root's agent is not ours to start again */
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)cred.pid);
	xlen = readlink(path, repl.exe, sizeof(repl.exe) - 1);
	alen = repl_proc_read(cred.pid, "cmdline", repl.args, sizeof(repl.args));
	elen = repl_proc_read(cred.pid, "environ", repl.env, sizeof(repl.env));
	if (xlen <= 0 || alen <= 0 || elen < 0) {
		log_debug("cannot read how the agent (pid %d) was started: it will not be "
			  "replaced should it die",
			  (int)cred.pid);
		return;
	}
	repl.exe[xlen] = '\0';
	repl.args_len = (size_t)alen;
	repl.env_len = (size_t)elen;
	argc = repl_split(repl.args, repl.args_len, repl_argv, REPL_NARGS_MAX);
	if (argc < 0 || repl_split(repl.env, repl.env_len, repl_envp, REPL_NENV_MAX) < 0 ||
	    !repl_argv_ok(argc))
		return; /* not a job's node agent: a CLI's or a coordinator's */
	repl.valid = true;
}

/* Raw clone without an exit signal: fork semantics, no atfork handlers,
 * and invisible to the application's wait(-1) (only __WCLONE sees it). */
static pid_t repl_clone(int exit_signal)
{
	return (pid_t)syscall(SYS_clone, (unsigned long)exit_signal, NULL, NULL, NULL, NULL);
}

/* The kernel's struct sigaction, enough to set SIG_DFL. */
struct repl_ksigaction {
	unsigned long handler;
	unsigned long flags;
	unsigned long restorer;
	unsigned long mask;
};

/* Grandchild: becomes the agent. System calls only. */
__attribute__((noreturn)) static void repl_exec(int ready, int null, int logfd)
{
	struct repl_ksigaction dfl = { 0 };
	struct repl_ksigaction ign = { .handler = (unsigned long)SIG_IGN };
	unsigned long none = 0;

	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
	for (int sig = 1; sig < 65; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(none));
	/* Until the agent ignores it itself: our session leader just exited. */
	syscall(SYS_rt_sigaction, SIGHUP, &ign, NULL, sizeof(none));
	if (syscall(SYS_dup3, ready, REPL_READY_FD, 0) < 0 ||
	    syscall(SYS_dup3, null, STDIN_FILENO, 0) < 0 ||
	    syscall(SYS_dup3, null, STDOUT_FILENO, 0) < 0 ||
	    syscall(SYS_dup3, logfd, STDERR_FILENO, 0) < 0)
		syscall(SYS_exit_group, 127);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, REPL_READY_FD + 1, ~0U, 0) < 0)
#endif
		for (int fd = REPL_READY_FD + 1; fd < 65536; fd++)
			syscall(SYS_close, fd);
	syscall(SYS_execve, repl.exe, repl_argv, repl_envp);
	syscall(SYS_exit_group, 127);
	__builtin_unreachable();
}

/* Reads the agent's first words ("ready PID", "busy", "error: ...") into
 * @buf. Returns bytes read, or -ETIMEDOUT. */
static int repl_ready_read(int fd, char *buf, size_t size)
{
	double deadline = eng_clock_ms() + REPL_START_MS;
	size_t len = 0;

	while (len < size - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(deadline - eng_clock_ms());
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (int)len;
}

/* Double clone: the intermediate child starts a new session and leaves,
 * so the agent is nobody's child here. Returns 0 or -errno. */
static int repl_spawn(int ready, int null, int logfd)
{
	pid_t pid = repl_clone(0);
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		syscall(SYS_setsid);
		if (repl_clone(SIGCHLD) == 0)
			repl_exec(ready, null, logfd);
		syscall(SYS_exit_group, 0);
	}
	while (waitpid(pid, &status, __WCLONE) < 0 && errno == EINTR)
		;
	return 0;
}

int eng_agent_replace(int err)
{
	char logpath[PATH_MAX];
	char msg[256];
	double now = eng_clock_ms();
	int pipefd[2] = { -1, -1 };
	int null = -1;
	int logfd = -1;
	int ret;

	if (!repl.valid)
		return -ENOENT;
	if (err != -ECONNREFUSED && err != -ENOENT)
		return -EAGAIN; /* someone answers, or another failure: not ours to fix */
	if (repl.last_try > 0 && now - repl.last_try < REPL_RETRY_MS)
		return -EAGAIN;
	repl.last_try = now;
	if (snprintf(logpath, sizeof(logpath), "%s/agent.log", repl.dir) >= (int)sizeof(logpath))
		return -ENAMETOOLONG;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		ret = -errno;
		log_warn("cannot start a new node agent for %s: pipe: %s", repl.dir,
			 strerror(-ret));
		return ret;
	}
	/* Above what the agent is given (0-2, REPL_READY_FD): a descriptor
	 * opened in place of a standard one the application closed would be
	 * overwritten by another's dup3 in repl_exec before its own turn. */
	pipefd[0] = eng_fd_above(pipefd[0], REPL_READY_FD);
	pipefd[1] = eng_fd_above(pipefd[1], REPL_READY_FD);
	if (pipefd[0] < 0 || pipefd[1] < 0) {
		ret = -errno;
		log_warn("cannot start a new node agent for %s: fcntl: %s", repl.dir,
			 strerror(-ret));
		goto out;
	}
	null = eng_fd_above(open("/dev/null", O_RDWR | O_CLOEXEC), REPL_READY_FD);
	logfd = eng_fd_above(open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
				  0600),
			     REPL_READY_FD);
	if (null < 0 || logfd < 0) {
		ret = -errno;
		log_warn("cannot start a new node agent for %s: %s: %s", repl.dir,
			 null < 0 ? "/dev/null" : logpath, strerror(-ret));
		goto out;
	}
	ret = repl_spawn(pipefd[1], null, logfd);
	if (ret < 0) {
		log_warn("cannot start a new node agent for %s: clone: %s", repl.dir,
			 strerror(-ret));
		goto out;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	ret = repl_ready_read(pipefd[0], msg, sizeof(msg));
	msg[strcspn(msg, "\n")] = '\0';
	if (ret == -ETIMEDOUT) {
		log_warn("the new node agent for %s did not start within %d s; see %s", repl.dir,
			 REPL_START_MS / 1000, logpath);
	} else if (!strncmp(msg, "ready", 5)) {
		log_warn("the node agent for %s was gone: started a new one (%s)", repl.dir, msg);
		ret = 0;
	} else if (!strncmp(msg, "busy", 4)) {
		ret = 0; /* another task of this node started it first */
	} else {
		log_warn("the new node agent for %s failed to start: %s (see %s)", repl.dir,
			 msg[0] ? msg : "it exited at once", logpath);
		ret = -EIO;
	}
out:
	for (int i = 0; i < 2; i++)
		if (pipefd[i] >= 0)
			close(pipefd[i]);
	if (null >= 0)
		close(null);
	if (logfd >= 0)
		close(logfd);
	return ret;
}
