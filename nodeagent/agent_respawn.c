/* agent_respawn.c - starting a job's coordinator again (agent_respawn.h). */
#define LOG_PREFIX "respawn: "
#include "agent_respawn.h"

#include "agent_addr.h"
#include "agent_dir.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longest argument kept: a port range or a number of seconds. */
#define RESPAWN_ARG_MAX 32

int agent_respawn_args_write(const char *dir, const char *const *args)
{
	char path[PATH_MAX + sizeof(AGENT_RESPAWN_ARGS_FILE) + 1];
	char tmp[sizeof(path) + 4];
	FILE *f;
	int ret = 0;
	int n;

	snprintf(path, sizeof(path), "%s/%s", dir, AGENT_RESPAWN_ARGS_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	for (n = 0; args[n] && n < AGENT_RESPAWN_ARGS_MAX; n++)
		if (fprintf(f, "%s\n", args[n]) < 0)
			ret = -EIO;
	if (fflush(f) || fsync(fileno(f)))
		ret = -errno;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

/* True for an option the coordinator may be started again with: those of
 * agent_coord_args() (agent_dir.h). */
static bool respawn_opt_allowed(const char *opt)
{
	static const char *const allowed[] = {
		"--job", "--margin", "--keep", "--level", "--interval", "--port", "--phase-timeout",
	};
	size_t i;

	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (!strcmp(opt, allowed[i]))
			return true;
	return false;
}

/* A value: digits, at most one '-' inside (a port range). */
static bool respawn_value_ok(const char *v)
{
	size_t i;
	int dashes = 0;

	if (!*v || *v == '-')
		return false;
	for (i = 0; v[i]; i++) {
		if (v[i] == '-')
			dashes++;
		else if (v[i] < '0' || v[i] > '9')
			return false;
	}
	return dashes <= 1 && v[i - 1] != '-';
}

/* Reads coord.args of @dir into @vals and @argv (NULL-terminated):
 * option/value pairs of respawn_opt_allowed(), --job equal to @job. It is
 * the job owner's file, but what it starts must be no more than a
 * coordinator of this job. Returns 0, -ENOENT or -EPROTO (logged). */
static int respawn_args_read(const char *dir, uint32_t job,
			     char vals[AGENT_RESPAWN_ARGS_MAX][RESPAWN_ARG_MAX],
			     const char *argv[AGENT_RESPAWN_ARGS_MAX + 1])
{
	char path[PATH_MAX + sizeof(AGENT_RESPAWN_ARGS_FILE) + 1];
	char line[RESPAWN_ARG_MAX + 2];
	bool job_seen = false;
	int ret = 0;
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, AGENT_RESPAWN_ARGS_FILE);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\n");

		if (line[len] != '\n' || len >= RESPAWN_ARG_MAX || n >= AGENT_RESPAWN_ARGS_MAX) {
			ret = -EPROTO;
			break;
		}
		line[len] = '\0';
		if (n % 2 == 0 ? !respawn_opt_allowed(line) : !respawn_value_ok(line)) {
			ret = -EPROTO;
			break;
		}
		if (n % 2 == 1 && !strcmp(vals[n - 1], "--job")) {
			if (strtoul(line, NULL, 10) != job) {
				ret = -EPROTO;
				break;
			}
			job_seen = true;
		}
		memcpy(vals[n], line, len + 1);
		argv[n] = vals[n];
		n++;
	}
	fclose(f);
	if (!ret && (n % 2 || !job_seen))
		ret = -EPROTO;
	if (ret) {
		log_err("%s: not the options of a coordinator of job %u (line %d); not starting "
			"one from it",
			path, job, n + 1);
		return ret;
	}
	argv[n] = NULL;
	return 0;
}

/* True when process @pid has ended: gone, or a zombie nobody reaped yet
 * (a double-forked agent's parent is init, which some containers lack). */
static bool respawn_pid_ended(pid_t pid)
{
	char path[64];
	char buf[512];
	const char *paren;
	size_t n;
	FILE *f;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) S ...": comm may hold spaces and parentheses. */
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* True when the coordinator recorded in @dir/coord.json ran on this host
 * and its process is gone. */
static bool respawn_coord_gone(const char *dir, uint32_t job)
{
	char path[PATH_MAX + sizeof(AGENT_ADDR_FILE) + 1];
	char host[256] = "";
	struct agent_addr a = { 0 };
	int ret;

	snprintf(path, sizeof(path), "%s/%s", dir, AGENT_ADDR_FILE);
	ret = agent_addr_read(path, &a);
	/* -ESTALE: a record of this machine whose pid ended, or is another
	 * process now (start time): its coordinator is gone for sure. */
	if ((ret && ret != -ESTALE) || a.job != job || a.pid <= 0)
		return false; /* none yet, or not ours: the plugin starts it */
	if (gethostname(host, sizeof(host) - 1) || strcmp(host, a.node) != 0)
		return false;
	return ret == -ESTALE || respawn_pid_ended(a.pid);
}

int agent_respawn_coord(const char *coord_dir, uint32_t job, const char *node,
			const char *batch_host)
{
	char vals[AGENT_RESPAWN_ARGS_MAX][RESPAWN_ARG_MAX];
	const char *argv[AGENT_RESPAWN_ARGS_MAX + 1];
	char sock[AGENT_SOCK_MAX + 1];
	char exe[PATH_MAX];
	ssize_t len;
	int ret;

	if (!batch_host || strcmp(node, batch_host) != 0 || !respawn_coord_gone(coord_dir, job))
		return 0;
	ret = respawn_args_read(coord_dir, job, vals, argv);
	if (ret)
		return ret;
	/* The coordinator is this same program in another mode. */
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len < 0) {
		ret = -errno;
		log_perror("cannot find ckpt-agent (/proc/self/exe)");
		return ret;
	}
	exe[len] = '\0';
	log_warn("the coordinator of job %u is gone (its process on this batch host ended): "
		 "starting it again in %s",
		 job, coord_dir);
	ret = agent_dir_ensure(exe, coord_dir, argv, sock, sizeof(sock));
	if (ret) {
		log_err("cannot start the coordinator of job %u again: %s (see %s/agent.log)", job,
			strerror(-ret), coord_dir);
		return ret;
	}
	log_info("coordinator of job %u answers on %s again", job, sock);
	return 1;
}
