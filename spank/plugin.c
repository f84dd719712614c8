/* plugin.c - the SPANK entry points of spank_ckpt.so: parse the site's
 * settings, register the options, and hand each context to its own file. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "plugin.h"

#define LOG_PREFIX "spank: "
#include "log.h"

SPANK_PLUGIN(ckpt, 1);

struct site_settings plugin_site;

/* Routes log.h to Slurm's logger, which prefixes "sbatch:", "slurmstepd:", ... */
static void log_to_slurm(enum log_level level, const char *msg)
{
	switch (level) {
	case LOG_LEVEL_ERR:
		slurm_error("slurm-ckpt: %s", msg);
		break;
	case LOG_LEVEL_WARN:
	case LOG_LEVEL_INFO:
		slurm_info("slurm-ckpt: %s", msg);
		break;
	case LOG_LEVEL_DEBUG:
		slurm_debug("slurm-ckpt: %s", msg);
		break;
	}
}

static int site_settings_parse(int ac, char **av)
{
	char err[256];

	settings_site_defaults(&plugin_site);
	for (int i = 0; i < ac; i++) {
		if (settings_site_parse_arg(&plugin_site, av[i], err, sizeof(err))) {
			log_err("plugstack.conf: %s", err);
			return -1;
		}
	}
	return 0;
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	log_set_backend(log_to_slurm);
	if (site_settings_parse(ac, av))
		return -1;
	return plugin_options_register(sp);
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	switch (spank_context()) {
	case S_CTX_LOCAL:
	case S_CTX_ALLOCATOR:
		return plugin_local_validate(sp);
	case S_CTX_REMOTE:
		return plugin_options_from_env(sp);
	default:
		return 0;
	}
}

int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	return plugin_job_record_load(sp);
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	if (spank_context() != S_CTX_REMOTE)
		return 0;
	return plugin_task_init(sp);
}
