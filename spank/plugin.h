/* plugin.h - state shared by the files of the SPANK plugin; spank/ only. */
#ifndef CKPT_SPANK_PLUGIN_H
#define CKPT_SPANK_PLUGIN_H

#include <slurm/spank.h>

#include "settings.h"

/* The plugin's name as Slurm knows it; also in SLURM_SPANK_OPTION env names. */
#define PLUGIN_NAME "ckpt"

/* Parsed once per process by slurm_spank_init. */
extern struct site_settings plugin_site;
/* Filled by option callbacks (and the environment fallback in remote context). */
extern struct job_settings plugin_job;

/* What slurmctld said about the job (remote context), for plugin_task_init. */
struct plugin_job_record {
	bool loaded;			   /* the fields below are slurmctld's */
	uint16_t restart_cnt;		   /* starts before this one */
	uint32_t user_id;		   /* the job's user */
	char partition[SETTINGS_NAME_MAX]; /* where it runs */
	char error[256];		   /* why not loaded, "" when it was not needed */
};
extern struct plugin_job_record plugin_record;

/* Name of the job control variable (SLURM_SPANK_ in the job's environment)
 * that carries the job instance sbatch drew: it stays with the job record
 * through requeues, and a new submission reusing the job id draws another. */
#define PLUGIN_INSTANCE_VAR "CKPT_INSTANCE"

/* Registers --checkpoint* in the current context. Returns 0 or -1. */
int plugin_options_register(spank_t sp);
/*
 * In remote context, fills options the callbacks did not see from the
 * SLURM_SPANK_OPTION_* variables of the job environment (--export=NONE drops
 * the option, not the variable). Returns 0 or -1.
 */
int plugin_options_from_env(spank_t sp);

/*
 * Expands the job's checkpoint base directory (--checkpoint-dir, else the
 * site's pattern) for the calling user, from the passwd entry rather than the
 * job environment, which --export=NONE may empty. Returns 0, or -1 after
 * logging why.
 */
int plugin_dir_expand(uint32_t jobid, char *out, size_t len);

/*
 * slurmstepd, once per step before the tasks are forked: loads the job's
 * record from slurmctld into plugin_record for a --checkpoint=auto step.
 * A failure is kept in plugin_record.error for the tasks to report (they
 * write to the job's output; this context does not). Returns 0.
 */
int plugin_job_record_load(spank_t sp);

/* sbatch/salloc/srun: checks what can be checked before submission. */
int plugin_local_validate(spank_t sp);

/* slurmstepd, in each task before exec: restore it, or start it under libckpt. */
int plugin_task_init(spank_t sp);

#endif
