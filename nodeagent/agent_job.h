/* agent_job.h - job mode of ckpt-agent: follows one Slurm job through
 * slurmctld and takes its final checkpoint before the time limit or at
 * preemption, then requeues it. Included by agent_main.c only.
 *
 * Every poll (10 s, $CKPT_JOB_POLL) loads the job record and
 *  - ends the agent when the job is no longer running (RUNNING, SUSPENDED,
 *    CONFIGURING) or its restart count changed (a new start has its own
 *    agent);
 *  - plans the final checkpoint at end_time - margin, the margin being the
 *    larger of --margin and twice the last committed checkpoint's duration
 *    plus 5 s (never more than 90% of the time limit, so every start makes
 *    progress);
 *  - checkpoints at once (trigger "preempt") when preempt_time is set.
 * A node agent (no coordinator) only follows the job: once it stops running
 * it asks to end, and agent_main.c keeps it until its processes have left
 * and its requests are answered.
 * After a committed final checkpoint the job is requeued, before its
 * processes exit, except when Slurm requeues it already (an admin's
 * `scontrol requeue`, trigger "requeue"): a preempted job whose processes
 * exit within GraceTime ends on its own and Slurm would not requeue it.
 * After a committed final "walltime" checkpoint the job's comment, when it
 * is a Slurm time (NERSC: the total compute time still wanted), is reduced
 * by this start's run time and the job is requeued; with 60 s or less left
 * no checkpoint is taken and the job ends at its limit.
 */
#ifndef CKPT_AGENT_JOB_H
#define CKPT_AGENT_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct json_object;
struct agent_coord;
struct agent_request;
struct agent_waiter;

/* Default --margin: ten minutes covers writing tens of GiB per node. */
#define AGENT_JOB_MARGIN_DEFAULT 600
/* Default seconds between two looks at the job record. */
#define AGENT_JOB_POLL_DEFAULT 10
/* A total time left at or below this is not worth another start. */
#define AGENT_JOB_MIN_LEFT 60

struct agent_job_conf {
	uint32_t job_id;  /* the Slurm job followed */
	int64_t margin_s; /* --margin: least seconds before the end */
	int poll_s;	  /* seconds between slurm_load_job() calls */
};

struct agent_job;

/* Creates job mode for the coordinator @co of @dir; with @co NULL (a node
 * agent) it only ends the agent when the job ends. @end is called (from
 * the loop) when the agent should exit. NULL on ENOMEM. Call slurm_init()
 * before. */
struct agent_job *agent_job_new(struct event_base *base, struct agent_coord *co, const char *dir,
				const struct agent_job_conf *conf, void (*end)(void *arg),
				void *arg);
/* Stops polling and frees; accepts NULL. */
void agent_job_free(struct agent_job *job);

/* First look at the job, then polls from the loop. Returns 0, or -ESRCH
 * when the job is unknown or not running, with the reason in @why. */
int agent_job_start(struct agent_job *job, char *why, size_t why_size);

/* Looks at the job record now instead of at the next poll (a test's fault
 * point); may end the agent as a poll would. */
void agent_job_poll_now(struct agent_job *job);

/* A final checkpoint asked for by a requester: "sigterm" (the processes
 * got SIGTERM: checkpoint only when slurmctld says the job is preempted or
 * requeued), "signal" (--signal=USR1 before the time limit: as at the
 * walltime deadline, then requeue) or any trigger with requeue (ckpt
 * checkpoint --requeue). @w joins the final generation. Returns 0, or a
 * protocol error code with @why filled. */
int agent_job_request(struct agent_job *job, const struct agent_request *req,
		      struct agent_waiter *w, char *why, size_t why_size);

/* True once the final checkpoint committed: the agent may exit when its
 * processes are gone. */
bool agent_job_finished(const struct agent_job *job);

/* The job followed. */
uint32_t agent_job_job_id(const struct agent_job *job);

/* The node running the job's batch script (its coordinator), from the
 * last look at the job; NULL when unknown. */
const char *agent_job_batch_host(const struct agent_job *job);

/* Unix time of the planned final checkpoint, 0 when none is planned. */
int64_t agent_job_deadline(const struct agent_job *job);

/* Adds "job", "job_end", "margin", "final_checkpoint" and "final_state" to
 * a status reply. */
void agent_job_status(const struct agent_job *job, struct json_object *m);

/* The margin used: max(@margin_s, 2 x @last_ms + 5 s), @last_ms < 0 when
 * no checkpoint was committed yet. */
int64_t agent_job_margin(int64_t margin_s, int64_t last_ms);

/* NERSC comment arithmetic: when @comment is a Slurm time, stores in @left
 * that time minus @run_s and returns 0; -EINVAL when it is not a time. */
int agent_job_left(const char *comment, int64_t run_s, int64_t *left);

#endif
