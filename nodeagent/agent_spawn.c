/* agent_spawn.c - starting the agent of a directory on demand
 * (agent_dir_ensure(), agent_dir.h).
 *
 * Callers are the ckpt CLI and the SPANK plugin's task_init, which runs in a
 * task child of slurmstepd right before execve: stdio is the job's output,
 * signals may be blocked or ignored, and the process holds descriptors the
 * step waits on. So nothing here writes to stdout/stderr (only log.h), and
 * the agent is started with a clean slate: double fork into a new session,
 * stdio on /dev/null and DIR/agent.log, every other descriptor closed,
 * signal mask and dispositions reset.
 */
#define LOG_PREFIX "agent start: "
#include "agent_dir.h"

#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long a new agent may take to say it listens: it opens a few files
 * and, in job mode, asks slurmctld once, which may take up to Slurm's
 * MessageTimeout (10 s by default) when slurmctld is busy. */
#define AGENT_SPAWN_START_MS 30000
/* Pause between connection attempts while another agent starts. */
#define AGENT_SPAWN_POLL_MS 20
/* Extra arguments accepted (job mode needs about ten). */
#define AGENT_SPAWN_ARGS_MAX 32
/* The descriptor the agent gets its ready pipe on. */
#define AGENT_SPAWN_READY_FD 3

static bool no_agent(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Closes every descriptor from @first on; close_range() where the kernel
 * has it, a bounded loop otherwise. */
static void close_from(int first)
{
	long max;
	int fd;

	if (close_range((unsigned int)first, ~0U, 0) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = first; fd < max; fd++)
		close(fd);
}

/* Grandchild side of the double fork: becomes the agent. Only
 * async-signal-safe calls: the caller may be a fork of a threaded process. */
static void agent_exec(const char *agent, const struct agent_dir *ad, char *const argv[],
		       int ready_fd)
{
	sigset_t all;
	int null;
	int log;
	int sig;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	/* Until the agent ignores it itself: our session leader just exited. */
	signal(SIGHUP, SIG_IGN);
	/* Out of the way of 0-2 and 3 before stdio is rebuilt. */
	ready_fd = fcntl(ready_fd, F_DUPFD, 10);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	log = open(ad->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (ready_fd < 0 || null < 0 || log < 0 || dup2(null, STDIN_FILENO) < 0 ||
	    dup2(null, STDOUT_FILENO) < 0 || dup2(log, STDERR_FILENO) < 0 ||
	    dup2(ready_fd, AGENT_SPAWN_READY_FD) < 0)
		_exit(127);
	close_from(AGENT_SPAWN_READY_FD + 1);
	execv(agent, argv);
	/* stderr is the agent's log now. */
	dprintf(STDERR_FILENO, "ckpt: cannot execute %s: %s\n", agent, strerror(errno));
	_exit(127);
}

/* Reads the agent's first words from @fd: "ready PID", "busy" or
 * "error: ...". Returns bytes read (0 at EOF) or -ETIMEDOUT. */
static int ready_read(int fd, char *buf, size_t size)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t len = 0;

	while (len < size - 1) {
		int r = poll(&p, 1, AGENT_SPAWN_START_MS);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -ETIMEDOUT;
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (int)len;
}

/* Builds "ckpt-agent --dir DIR --ready-fd 3 EXTRA..." in @argv (size
 * AGENT_SPAWN_ARGS_MAX + 6). Returns 0 or -E2BIG. */
static int agent_argv(const struct agent_dir *ad, const char *const *extra, char **argv)
{
	static char ready[] = "3";
	size_t n = 0;

	argv[n++] = (char *)"ckpt-agent";
	argv[n++] = (char *)"--dir";
	argv[n++] = (char *)ad->dir;
	argv[n++] = (char *)"--ready-fd";
	argv[n++] = ready;
	for (; extra && *extra; extra++) {
		if (n >= AGENT_SPAWN_ARGS_MAX + 5)
			return -E2BIG;
		argv[n++] = (char *)*extra;
	}
	argv[n] = NULL;
	return 0;
}

/* Reports what a failed start said on the ready pipe. */
static int agent_spawn_failed(const struct agent_dir *ad, char *msg)
{
	msg[strcspn(msg, "\n")] = '\0';
	if (!strncmp(msg, "error: ", 7))
		memmove(msg, msg + 7, strlen(msg + 7) + 1);
	if (msg[0])
		log_err("the agent for %s failed to start: %s (see %s)", ad->dir, msg, ad->log);
	else
		log_err("the agent for %s exited at start-up; see %s", ad->dir, ad->log);
	return -EIO;
}

/* Starts an agent for @ad with a double fork and waits until it listens or
 * tells why it cannot ("busy": another one won the lock). Returns 0 or
 * -errno (logged). */
static int agent_spawn(const char *agent, const struct agent_dir *ad, const char *const *extra)
{
	char *argv[AGENT_SPAWN_ARGS_MAX + 6];
	char msg[512];
	int pipefd[2];
	pid_t pid;
	int ret;

	if (access(agent, X_OK) < 0) {
		ret = -errno;
		log_perror("cannot execute the agent %s", agent);
		return ret;
	}
	if (agent_argv(ad, extra, argv)) {
		log_err("more than %d extra arguments for the agent", AGENT_SPAWN_ARGS_MAX);
		return -E2BIG;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		ret = -errno;
		log_perror("pipe");
		return ret;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		log_perror("fork");
		goto out_close;
	}
	if (pid == 0) {
		close(pipefd[0]);
		setsid();
		if (fork() == 0)
			agent_exec(agent, ad, argv, pipefd[1]);
		_exit(0);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	/* ECHILD when the caller ignores SIGCHLD: nothing to reap then. */
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	log_debug("started an agent for %s (log %s)", ad->dir, ad->log);
	ret = ready_read(pipefd[0], msg, sizeof(msg));
	if (ret == -ETIMEDOUT)
		log_err("the agent for %s did not start within %d s; see %s", ad->dir,
			AGENT_SPAWN_START_MS / 1000, ad->log);
	else if (!strncmp(msg, "ready", 5) || !strncmp(msg, "busy", 4))
		ret = 0;
	else
		ret = agent_spawn_failed(ad, msg);
out_close:
	close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	return ret;
}

/* Connects to the agent of @ad at its recorded socket; see
 * agent_dir_connect() for the returns. */
static int agent_try(struct agent_dir *ad)
{
	agent_dir_locate(ad);
	return agent_dir_connect(ad);
}

/* Waits until the agent of @ad answers (an agent that said "ready" does at
 * once; one that said "busy" may still be binding its socket). */
static int agent_wait(struct agent_dir *ad)
{
	int64_t deadline = mono_ms() + AGENT_SPAWN_START_MS;
	int fd;

	for (;;) {
		fd = agent_try(ad);
		if (fd >= 0 || !no_agent(fd) || mono_ms() >= deadline)
			return fd;
		poll(NULL, 0, AGENT_SPAWN_POLL_MS);
	}
}

int agent_dir_ensure(const char *agent_path, const char *dir, const char *const *extra_args,
		     char *sock, size_t sock_len)
{
	struct agent_dir ad;
	int ret;
	int fd;

	ret = agent_dir_resolve(dir, true, &ad);
	if (ret) {
		log_err("checkpoint directory %s: %s", dir ? dir : "(null)", strerror(-ret));
		return ret;
	}
	fd = agent_try(&ad);
	if (no_agent(fd)) {
		ret = agent_spawn(agent_path, &ad, extra_args);
		if (ret)
			return ret;
		fd = agent_wait(&ad);
	}
	if (fd == -EPERM) {
		log_err("the socket %s of %s belongs to another user; refusing to use it", ad.sock,
			ad.dir);
		return fd;
	}
	if (fd < 0) {
		log_err("cannot reach the agent of %s at %s: %s", ad.dir, ad.sock, strerror(-fd));
		return fd;
	}
	close(fd);
	if (strlen(ad.sock) >= sock_len) {
		log_err("socket path %s longer than the caller's %zu bytes", ad.sock, sock_len);
		return -ENAMETOOLONG;
	}
	memcpy(sock, ad.sock, strlen(ad.sock) + 1);
	return 0;
}

/* Appends option @name with the printf-formatted value to @a. */
__attribute__((format(printf, 4, 5))) static void coord_arg(struct agent_coord_argv *a, size_t *n,
							    const char *name, const char *fmt, ...)
{
	char *val = a->val[*n / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(a->val[0]), fmt, ap);
	va_end(ap);
	a->argv[(*n)++] = name;
	a->argv[(*n)++] = val;
}

const char *const *agent_coord_args(const struct agent_coord_opts *o, struct agent_coord_argv *a)
{
	size_t n = 0;

	coord_arg(a, &n, "--job", "%u", o->job_id);
	coord_arg(a, &n, "--margin", "%lld", (long long)o->margin_s);
	if (o->keep)
		coord_arg(a, &n, "--keep", "%d", o->keep);
	if (o->level)
		coord_arg(a, &n, "--level", "%d", o->level);
	if (o->interval_s >= 0)
		coord_arg(a, &n, "--interval", "%lld", (long long)o->interval_s);
	if (o->port_lo)
		coord_arg(a, &n, "--port", "%d-%d", o->port_lo, o->port_hi);
	if (o->phase_timeout_s)
		coord_arg(a, &n, "--phase-timeout", "%lld", (long long)o->phase_timeout_s);
	a->argv[n] = NULL;
	return a->argv;
}
