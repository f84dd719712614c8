/* cli_agent.c - reaching the agent of a computation, starting it on demand. */
#include "cli.h"

#include "frame.h"
#include "msg.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long a new agent may take to say it listens: it only opens a few
 * files, so anything near this bound means something is badly wrong. */
#define CLI_AGENT_START_MS 10000
/* Pause between connection attempts while another agent starts. */
#define CLI_AGENT_POLL_MS 20

static bool no_agent(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

int cli_agent_connect(struct agent_dir *ad)
{
	int fd;

	agent_dir_locate(ad);
	fd = agent_dir_connect(ad);

	if (fd >= 0)
		return fd;
	if (no_agent(fd))
		cli_err("no agent running for %s (it ends once no process of the computation "
			"is left; start one with 'ckpt run' or 'ckpt restart')",
			ad->dir);
	else if (fd == -EPERM)
		cli_err("the socket %s of %s belongs to another user; refusing to use it", ad->sock,
			ad->dir);
	else
		cli_err("cannot reach the agent of %s at %s: %s", ad->dir, ad->sock, strerror(-fd));
	return fd;
}

/* Grandchild side of the double fork: becomes the agent, detached from our
 * session and terminal, its stderr appended to DIR/agent.log. */
static void agent_exec(const struct agent_dir *ad, const char *agent, int ready_fd)
{
	char fdstr[16];
	int null = open("/dev/null", O_RDWR);
	int log = open(ad->log, O_WRONLY | O_APPEND | O_CREAT, 0600);

	if (null < 0 || log < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
	    dup2(log, STDERR_FILENO) < 0)
		_exit(127);
	/* dup() drops O_CLOEXEC: the agent inherits only this end. */
	ready_fd = dup(ready_fd);
	if (ready_fd < 0)
		_exit(127);
	snprintf(fdstr, sizeof(fdstr), "%d", ready_fd);
	execl(agent, "ckpt-agent", "--dir", ad->dir, "--ready-fd", fdstr, (char *)NULL);
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
		int r = poll(&p, 1, CLI_AGENT_START_MS);
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

/* Starts an agent for @ad with a double fork and waits until it listens or
 * tells why it cannot. Returns 0, or reports and returns -errno. */
static int agent_spawn(const struct agent_dir *ad)
{
	char agent[PATH_MAX];
	char msg[512];
	int pipefd[2];
	pid_t pid;
	int ret;

	ret = cli_find("ckpt-agent", "CKPT_BINDIR", agent, sizeof(agent));
	if (ret)
		return ret;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		ret = -errno;
		cli_err("pipe: %s", strerror(errno));
		return ret;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		cli_err("fork: %s", strerror(errno));
		goto out_close;
	}
	if (pid == 0) {
		close(pipefd[0]);
		setsid();
		/* Ignore SIGHUP across the session leader's exit. */
		signal(SIGHUP, SIG_IGN);
		if (fork() == 0)
			agent_exec(ad, agent, pipefd[1]);
		_exit(0);
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	cli_verbose("started an agent for %s (log %s)", ad->dir, ad->log);
	ret = ready_read(pipefd[0], msg, sizeof(msg));
	if (ret == -ETIMEDOUT) {
		cli_err("the agent for %s did not start within %d s; see %s", ad->dir,
			CLI_AGENT_START_MS / 1000, ad->log);
		goto out_close;
	}
	if (!strncmp(msg, "ready", 5) || !strncmp(msg, "busy", 4)) {
		ret = 0;
		goto out_close;
	}
	msg[strcspn(msg, "\n")] = '\0';
	if (!strncmp(msg, "error: ", 7))
		memmove(msg, msg + 7, strlen(msg + 7) + 1);
	if (msg[0])
		cli_err("the agent for %s failed to start: %s (see %s)", ad->dir, msg, ad->log);
	else
		cli_err("the agent for %s exited at start-up; see %s", ad->dir, ad->log);
	ret = -EIO;
out_close:
	close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	return ret;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_agent_ensure(struct agent_dir *ad)
{
	int64_t deadline;
	int ret;
	int fd;

	agent_dir_locate(ad);
	fd = agent_dir_connect(ad);

	if (fd >= 0 || !no_agent(fd))
		return fd >= 0 ? fd : cli_agent_connect(ad);
	ret = agent_spawn(ad);
	if (ret)
		return ret;
	/* "busy": another agent won the lock and may still be binding its
	 * socket; an agent that just said "ready" connects at once. */
	deadline = mono_ms() + CLI_AGENT_START_MS;
	for (;;) {
		/* The new agent's record names the path it really uses. */
		agent_dir_locate(ad);
		fd = agent_dir_connect(ad);
		if (fd >= 0 || !no_agent(fd) || mono_ms() >= deadline)
			break;
		poll(NULL, 0, CLI_AGENT_POLL_MS);
	}
	if (fd < 0)
		return cli_agent_connect(ad);
	return fd;
}

int cli_agent_call(int fd, const struct agent_dir *ad, struct json_object *req,
		   struct json_object **reply, int timeout_ms)
{
	int ret = proto_frame_send(fd, req);

	if (ret) {
		cli_err("cannot send to the agent of %s: %s", ad->dir, strerror(-ret));
		return ret;
	}
	ret = proto_frame_recv(fd, reply, timeout_ms);
	if (ret == -ECONNRESET)
		cli_err("the agent of %s closed the connection without answering; see %s", ad->dir,
			ad->log);
	else if (ret == -ETIMEDOUT)
		cli_err("the agent of %s did not answer within %d s", ad->dir, timeout_ms / 1000);
	else if (ret)
		cli_err("bad answer from the agent of %s: %s", ad->dir, strerror(-ret));
	return ret;
}

/* Fails when processes of the computation are still registered: two
 * programs in one DIR would be checkpointed, and restored, as one. */
int cli_agent_check_idle(int fd, const struct agent_dir *ad, const char *hint)
{
	struct json_object *req = proto_msg_new(PROTO_MSG_STATUS);
	struct json_object *reply = NULL;
	struct json_object *procs;
	int ret;

	if (!req)
		return -ENOMEM;
	ret = cli_agent_call(fd, ad, req, &reply, 30000);
	json_object_put(req);
	if (ret)
		return ret;
	if (json_object_object_get_ex(reply, "processes", &procs) &&
	    json_object_array_length(procs) > 0) {
		struct json_object *p0 = json_object_array_get_idx(procs, 0);

		cli_err("a computation is already running in %s (pid %s and %zu more); "
			"%s",
			ad->dir, json_object_get_string(json_object_object_get(p0, "pid")),
			json_object_array_length(procs) - 1, hint);
		ret = -EBUSY;
	}
	json_object_put(reply);
	return ret;
}

const char *cli_reply_reason(const struct json_object *reply)
{
	const char *s = NULL;

	if (!proto_msg_get_str_opt(reply, "reason", PROTO_MSG_TEXT_MAX, NULL, &s) && s && *s)
		return s;
	if (!proto_msg_get_str_opt(reply, "message", PROTO_MSG_TEXT_MAX, NULL, &s) && s && *s)
		return s;
	return "(no reason given)";
}
