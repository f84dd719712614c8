/* job_record.c - what slurmctld says about the job, asked once per step on
 * each node (slurm_spank_user_init, before the tasks are forked, so they
 * inherit the answer instead of asking one by one). The job environment is
 * the user's to set (sbatch --export): the partition the allow list checks
 * and the restart count that decides whether a task may restore are taken
 * from slurmctld instead. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "plugin.h"

#define LOG_PREFIX ""
#include "log.h"

struct plugin_job_record plugin_record;

int plugin_job_record_load(spank_t sp)
{
	job_info_msg_t *resp = NULL;
	uint32_t jobid = 0;
	uint32_t stepid = 0;
	int err;

	memset(&plugin_record, 0, sizeof(plugin_record));
	if (plugin_job.mode != CKPT_MODE_AUTO)
		return 0;
	if (spank_get_item(sp, S_JOB_ID, &jobid) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_STEPID, &stepid) != ESPANK_SUCCESS) {
		snprintf(plugin_record.error, sizeof(plugin_record.error),
			 "cannot read the job and step ids from Slurm");
		return 0;
	}
	/* The steps plugin_task_init serves: the batch step and job steps. */
	if (stepid >= SLURM_INTERACTIVE_STEP && stepid != SLURM_BATCH_SCRIPT)
		return 0;
	if (slurm_load_job(&resp, jobid, SHOW_ALL) != SLURM_SUCCESS) {
		err = slurm_get_errno();
		snprintf(plugin_record.error, sizeof(plugin_record.error),
			 "cannot ask slurmctld about job %u: %s", jobid,
			 slurm_strerror(err ? err : ESLURM_INVALID_JOB_ID));
		return 0;
	}
	for (uint32_t i = 0; i < resp->record_count; i++) {
		const slurm_job_info_t *r = &resp->job_array[i];

		if (r->job_id != jobid)
			continue;
		plugin_record.loaded = true;
		plugin_record.restart_cnt = r->restart_cnt;
		plugin_record.user_id = r->user_id;
		snprintf(plugin_record.partition, sizeof(plugin_record.partition), "%s",
			 r->partition ? r->partition : "");
		break;
	}
	if (!plugin_record.loaded)
		snprintf(plugin_record.error, sizeof(plugin_record.error),
			 "slurmctld does not list job %u", jobid);
	slurm_free_job_info_msg(resp);
	return 0;
}
