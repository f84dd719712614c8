/* cli_target.c - what ckpt checkpoint/status talk to: the agent of a
 * directory on this node, or the coordinator of a Slurm job, from any node
 * (agent_addr.h). */
#include "cli.h"

#include "agent_addr.h"
#include "msg.h"

#include <errno.h>
#include <pwd.h>
#include <slurm/slurm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bound on reaching the coordinator and on its hello answer. */
#define CLI_COORD_TIMEOUT_MS 10000

/* A job id: digits only, 1..UINT32_MAX-1. */
static bool parse_job_id(const char *s, uint32_t *job)
{
	char *end;
	unsigned long v;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || v == 0 || v >= UINT32_MAX)
		return false;
	*job = (uint32_t)v;
	return true;
}

int cli_target_init(const char *cmd, const char *dir, const char *job, struct cli_target *t)
{
	memset(t, 0, sizeof(*t));
	if (job) {
		if (dir) {
			cli_usage_err(cmd, "give either JOBID or --dir, not both");
			return -EINVAL;
		}
		if (!parse_job_id(job, &t->job)) {
			cli_usage_err(cmd, "'%s' is not a Slurm job id", job);
			return -EINVAL;
		}
		t->is_job = true;
		snprintf(t->name, sizeof(t->name), "job %u", t->job);
		return 0;
	}
	if (cli_dir(dir, false, &t->ad))
		return -ENOENT;
	snprintf(t->name, sizeof(t->name), "%s", t->ad.dir);
	snprintf(t->log, sizeof(t->log), "%s", t->ad.log);
	return 0;
}

static const char *user_name(uid_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);

	if (pw)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "uid %u", (unsigned)uid);
	return buf;
}

/* Asks slurmctld whose job it is, and whether it runs. */
static int job_owner(uint32_t job, uid_t *owner)
{
	job_info_msg_t *resp = NULL;
	int ret = -ESRCH;

	slurm_init(NULL);
	if (slurm_load_job(&resp, job, SHOW_ALL) != SLURM_SUCCESS) {
		cli_err("job %u: %s", job, slurm_strerror(slurm_get_errno()));
		return -ESRCH;
	}
	for (uint32_t i = 0; i < resp->record_count; i++) {
		const slurm_job_info_t *r = &resp->job_array[i];

		if (r->job_id != job)
			continue;
		*owner = r->user_id;
		ret = 0;
		if ((r->job_state & JOB_STATE_BASE) != JOB_RUNNING) {
			cli_err("job %u is not running: no coordinator to ask (ckpt list DIR "
				"shows its generations)",
				job);
			ret = -ESRCH;
		}
	}
	if (ret == -ESRCH && !resp->record_count)
		cli_err("job %u: no such job", job);
	slurm_free_job_info_msg(resp);
	return ret;
}

static int job_connect(struct cli_target *t)
{
	char path[PATH_MAX];
	char why[512];
	char who[64];
	struct agent_addr a;
	uid_t owner = (uid_t)-1;
	int ret;

	ret = job_owner(t->job, &owner);
	if (ret)
		return ret;
	/* The coordinator refuses others too; saying it here is clearer. */
	if (getuid() != 0 && getuid() != owner) {
		cli_err("job %u belongs to %s: only its owner or root may query or checkpoint it",
			t->job, user_name(owner, who, sizeof(who)));
		return -EACCES;
	}
	ret = agent_addr_registry_path(owner, t->job, path, sizeof(path));
	if (!ret)
		ret = agent_addr_read(path, &a);
	if (!ret && a.job != t->job)
		ret = -EPROTO;
	if (ret == -ESTALE) {
		cli_err("job %u: %s", t->job, cli_safe(agent_addr_why()));
		return ret;
	}
	if (ret) {
		cli_err("job %u has no checkpoint coordinator (%s: %s); was it submitted with "
			"--checkpoint=auto?",
			t->job, cli_safe(path), strerror(-ret));
		return ret;
	}
	/* The record is the job owner's file: what it says is printed escaped. */
	snprintf(t->log, sizeof(t->log), "%s/agent.log", cli_safe(a.dir));
	ret = agent_addr_connect(&a, "client", NULL, owner, CLI_COORD_TIMEOUT_MS, why, sizeof(why));
	if (ret < 0)
		cli_err("cannot reach the coordinator of job %u: %s", t->job, cli_safe(why));
	return ret;
}

int cli_target_connect(struct cli_target *t)
{
	int fd;

	if (t->is_job)
		return job_connect(t);
	fd = cli_agent_connect(&t->ad);
	snprintf(t->log, sizeof(t->log), "%s", t->ad.log);
	return fd;
}
