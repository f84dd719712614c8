/* options.c - the --checkpoint* options: registration, callbacks, env fallback. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "plugin.h"

#define LOG_PREFIX "spank: "
#include "log.h"

struct job_settings plugin_job;

static int option_cb(int val, const char *optarg, int remote);

/* The val field indexes option_names, so one callback serves all options. */
static const char *const option_names[] = {
	"checkpoint",
	"checkpoint-interval",
	"checkpoint-dir",
	"checkpoint-keep",
};

static struct spank_option options[] = {
	{ "checkpoint", "auto|off",
	  "Checkpoint the job before its time limit, on preemption and on request, requeue it and "
	  "resume it where it stopped (slurm-ckpt).",
	  1, 0, option_cb },
	{ "checkpoint-interval", "TIME",
	  "Also checkpoint periodically, e.g. 1h, 30m, 2:00:00 (slurm-ckpt).", 1, 1, option_cb },
	{ "checkpoint-dir", "DIR",
	  "Directory for this job's checkpoints (absolute; default set by the site).", 1, 2,
	  option_cb },
	{ "checkpoint-keep", "N", "Number of committed checkpoints to keep (default 2).", 1, 3,
	  option_cb },
	SPANK_OPTIONS_TABLE_END
};

static int option_cb(int val, const char *optarg, int remote)
{
	char err[256];

	(void)remote;
	if (val < 0 || (size_t)val >= sizeof(option_names) / sizeof(option_names[0]))
		return -1;
	if (settings_job_parse_option(&plugin_job, option_names[val], optarg, err, sizeof(err))) {
		log_err("%s", err);
		return -1;
	}
	return 0;
}

int plugin_options_register(spank_t sp)
{
	for (struct spank_option *opt = options; opt->name; opt++) {
		spank_err_t rc = spank_option_register(sp, opt);

		if (rc != ESPANK_SUCCESS) {
			log_err("cannot register --%s: %s", opt->name, spank_strerror(rc));
			return -1;
		}
	}
	return 0;
}

/*
 * Reads one option's value from the job environment. sbatch hands options to
 * the batch step through the job control environment (prefix SLURM_SPANK_);
 * srun through the step environment (no prefix). Returns 0 if found.
 */
static int option_env_get(spank_t sp, const char *name, char *value, size_t len)
{
	static const char *const prefixes[] = { "SLURM_SPANK__SLURM_SPANK_OPTION_",
						"_SLURM_SPANK_OPTION_" };
	char var[128];

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		(void)snprintf(var, sizeof(var), "%s%s_%s", prefixes[i], PLUGIN_NAME, name);
		/* Slurm writes '-' in option names as '_' in variable names. */
		for (char *p = var + strlen(prefixes[i]); *p; p++)
			if (*p == '-')
				*p = '_';
		if (spank_getenv(sp, var, value, (int)len) == ESPANK_SUCCESS)
			return 0;
	}
	return -ENOENT;
}

int plugin_options_from_env(spank_t sp)
{
	for (size_t i = 0; i < sizeof(option_names) / sizeof(option_names[0]); i++) {
		char value[SETTINGS_DIR_MAX];
		char err[256];

		if (option_env_get(sp, option_names[i], value, sizeof(value)))
			continue;
		if (settings_job_parse_option(&plugin_job, option_names[i], value, err,
					      sizeof(err))) {
			log_err("%s (from the job environment)", err);
			return -1;
		}
	}
	return 0;
}
