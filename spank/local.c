/* local.c - sbatch/salloc/srun context: tell the user before submission what
 * is wrong with the checkpoint options, instead of failing inside the job. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_dir.h"
#include "layout.h"
#include "plugin.h"

#define LOG_PREFIX "--checkpoint: "
#include "log.h"

/* Whether the command line of this sbatch/srun holds @arg as a whole word. */
static bool cmdline_has(const char *arg)
{
	char buf[16384];
	ssize_t n;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *p = buf; p < buf + n; p += strlen(p) + 1)
		if (!strcmp(p, arg))
			return true;
	return false;
}

static int check_requeueable(void)
{
	const char *env = getenv("SBATCH_NO_REQUEUE");

	if (cmdline_has("--no-requeue") || (env && *env)) {
		log_err("the job is not requeueable (--no-requeue): a checkpointed job could not "
			"come back. Drop --no-requeue, or use --checkpoint=off.");
		return -1;
	}
	return 0;
}

/*
 * Checkpoints are restored as the user's own code: refuses a directory that
 * another user could put one in, or swap (proto_layout_dir_check).
 */
static int check_dir_trusted(const char *dir)
{
	char why[PATH_MAX + 128];
	int rc = proto_layout_dir_check(dir, getuid(), false, why, sizeof(why));

	if (rc == -EPERM)
		log_err("checkpoint directory %s is not safe: %s. Another user could put a "
			"checkpoint there that your job would restore. Use a directory only you "
			"can write (mkdir -m 700 DIR), with --checkpoint-dir=DIR.",
			dir, why);
	else if (rc)
		log_err("checkpoint directory %s cannot be checked: %s. Choose another with "
			"--checkpoint-dir=DIR.",
			dir, why);
	return rc ? -1 : 0;
}

/*
 * Draws the job instance (PLUGIN_INSTANCE_VAR): 128 random bits, kept by
 * slurmctld in the job's control environment, so that a checkpoint is
 * restored only into the submission that wrote it.
 */
static int set_instance(spank_t sp)
{
	unsigned char bits[16];
	char hex[2 * sizeof(bits) + 1];
	spank_err_t rc;

	if (getrandom(bits, sizeof(bits), 0) != (ssize_t)sizeof(bits)) {
		log_perror("cannot draw the job instance");
		return -1;
	}
	for (size_t i = 0; i < sizeof(bits); i++)
		snprintf(hex + 2 * i, 3, "%02x", bits[i]);
	rc = spank_job_control_setenv(sp, PLUGIN_INSTANCE_VAR, hex, 1);
	if (rc != ESPANK_SUCCESS) {
		log_err("cannot record the job instance: %s", spank_strerror(rc));
		return -1;
	}
	return 0;
}

/*
 * The job's checkpoint directory must be creatable and writable by the user.
 * The job id is not known yet: check the part of the path before "%j".
 */
static int check_dir_writable(void)
{
	const char *pattern = plugin_job.dir[0] ? plugin_job.dir : plugin_site.dir_pattern;
	char dir[SETTINGS_DIR_MAX];
	char *jobpart;
	int rc;

	if (plugin_dir_expand(0, dir, sizeof(dir)))
		return -1;
	jobpart = strstr(pattern, "%j") ? strrchr(dir, '/') : NULL;
	if (jobpart && jobpart != dir)
		*jobpart = '\0';
	rc = agent_mkdir_parents(dir);
	if (rc || access(dir, W_OK | X_OK)) {
		log_err("checkpoint directory %s is not writable: %s. Choose another with "
			"--checkpoint-dir=DIR.",
			dir, strerror(rc ? -rc : errno));
		return -1;
	}
	return check_dir_trusted(dir);
}

/*
 * A task of a --container job runs inside the container's file system and
 * namespaces, where neither libckpt.so nor ckpt-restore is, and a restore
 * would have to re-enter them: not supported. sbatch has exported the
 * option as SLURM_CONTAINER before the plugin's checks run.
 */
static int check_no_container(void)
{
	const char *container = getenv("SLURM_CONTAINER");

	if (container && *container) {
		log_err("--container=%s cannot be checkpointed (the task would run inside the "
			"container, where the checkpointer is not); drop --container, or use "
			"--checkpoint=off.",
			container);
		return -1;
	}
	return 0;
}

static int check_user_allowed(void)
{
	const struct passwd *pw = getpwuid(getuid());

	if (!pw) {
		log_err("cannot look up user %u", (unsigned)getuid());
		return -1;
	}
	if (!settings_site_allows_user(&plugin_site, pw->pw_name)) {
		log_err("user %s may not use checkpointing on this cluster (site setting "
			"allow_users); ask your admins, or use --checkpoint=off.",
			pw->pw_name);
		return -1;
	}
	return 0;
}

int plugin_local_validate(spank_t sp)
{
	if (plugin_job.mode != CKPT_MODE_AUTO) {
		if (plugin_job.interval_s || plugin_job.dir[0] || plugin_job.keep) {
			log_err("--checkpoint-interval, --checkpoint-dir and --checkpoint-keep need "
				"--checkpoint=auto");
			return -1;
		}
		return 0;
	}
	if (spank_context() == S_CTX_ALLOCATOR && (check_requeueable() || check_no_container()))
		return -1;
	if (check_user_allowed() || check_dir_writable())
		return -1;
	if (spank_context() == S_CTX_ALLOCATOR && set_instance(sp))
		return -1;
	return 0;
}
