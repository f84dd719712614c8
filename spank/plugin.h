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

/* sbatch/salloc/srun: checks what can be checked before submission. */
int plugin_local_validate(spank_t sp);

/* slurmstepd, in each task before exec: restore it, or start it under libckpt. */
int plugin_task_init(spank_t sp);

#endif
