/* agent_job.c - job mode: deadline, preemption, comment and requeue
 * (agent_job.h). The only file of the agent that talks to slurmctld. */
#define LOG_PREFIX "job: "
#include "agent_job.h"
#include "agent_backend.h"
#include "msg.h"

#include "agent_coord.h"
#include "agent_store.h"
#include "log.h"
#include "timestr.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A failed final checkpoint is retried at most this often: a process that
 * registered in the middle aborts one, a broken file system aborts all. */
#define AGENT_JOB_FINAL_TRIES 3

/* Where the final checkpoint stands. */
enum agent_job_final {
	AGENT_JOB_FINAL_PLANNED = 0, /* not yet taken */
	AGENT_JOB_FINAL_RUNNING,     /* requested, waiting for the commit */
	AGENT_JOB_FINAL_DONE,	     /* committed; processes told to exit */
	AGENT_JOB_FINAL_REFUSED,     /* too little total time left: none taken */
	AGENT_JOB_FINAL_FAILED,	     /* every try aborted */
};

static const char *const agent_job_final_names[] = {
	"planned", "running", "done", "refused", "failed",
};

/* What we use of a job record. */
struct agent_job_view {
	uint32_t state;	       /* job_state, flags included */
	uint16_t restart_cnt;  /* starts before this one */
	int64_t start;	       /* start of this run, Unix seconds */
	int64_t end;	       /* expected end (time limit), Unix seconds */
	int64_t preempt;       /* preemption time, 0 when not preempted */
	uint32_t limit;	       /* time limit in minutes, INFINITE when none */
	char comment[1025];    /* Slurm keeps at most 1024 characters */
	char output[PATH_MAX]; /* the job's stderr file, "" when unknown */
	char batch_host[65];   /* node running the batch script, "" when unknown */
};

struct agent_job {
	struct event_base *base;      /* the agent's loop */
	struct agent_coord *co;	      /* the coordinator */
	char dir[PATH_MAX];	      /* checkpoint directory */
	struct agent_job_conf conf;   /* job id, margin, poll period */
	void (*end)(void *arg);	      /* asks the agent to exit */
	void *end_arg;		      /* passed to @end */
	struct event *poll_timer;     /* next look at the job record */
	struct event *deadline_timer; /* the final checkpoint */
	struct agent_job_view v;      /* last record seen */
	uint16_t restart_cnt;	      /* restart count at our start */
	int64_t margin;		      /* margin in use */
	int64_t deadline;	      /* planned final checkpoint, 0: none */
	enum agent_job_final final;   /* final checkpoint's progress */
	int tries;		      /* final checkpoints requested */
	char trigger[16];	      /* "walltime", "preempt", "signal", "manual" */
	int64_t final_gen;	      /* committed final generation, when DONE */
	char final_path[PATH_MAX];    /* ... and its directory */
	bool idle_logged;	      /* said once that nobody is registered */
	struct agent_waiter waiter;   /* outcome of the final checkpoint */
};

int64_t agent_job_margin(int64_t margin_s, int64_t last_ms)
{
	/* Twice the last duration: a checkpoint grows with the job's memory;
	 * 5 s for the processes to exit and slurmctld to answer. */
	int64_t learned = last_ms < 0 ? 0 : 2 * ((last_ms + 999) / 1000) + 5;

	return learned > margin_s ? learned : margin_s;
}

int agent_job_left(const char *comment, int64_t run_s, int64_t *left)
{
	int64_t total;

	if (!comment || proto_time_parse(comment, &total))
		return -EINVAL;
	*left = total - run_s;
	return 0;
}

/* Duration of the newest committed generation of @dir, -1 when none. */
static int64_t last_duration_ms(const char *dir)
{
	struct agent_gen_info *gens = NULL;
	int64_t ms = -1;
	size_t n = 0;

	if (agent_store_list(dir, &gens, &n))
		return -1;
	while (n-- > 0) {
		if (!gens[n].error[0]) {
			ms = gens[n].duration_ms;
			break;
		}
	}
	free(gens);
	return ms;
}

static const char *slurm_why(void)
{
	return slurm_strerror(slurm_get_errno());
}

/* The file the job's stderr goes to, absolute (Slurm expands %j & co). */
static void job_output_path(const slurm_job_info_t *r, char *out, size_t size)
{
	/* libslurm's getters only read the record but take it non-const. */
	slurm_job_info_t *rw = (slurm_job_info_t *)r;
	char path[PATH_MAX] = "";

	slurm_get_job_stderr(path, sizeof(path), rw);
	if (!path[0])
		slurm_get_job_stdout(path, sizeof(path), rw);
	if (!path[0] || !strcmp(path, "/dev/null"))
		out[0] = '\0';
	else if (path[0] == '/' || !r->work_dir)
		snprintf(out, size, "%s", path);
	else
		snprintf(out, size, "%s/%s", r->work_dir, path);
}

/* Loads the job record into @v. Returns 0, or the Slurm error code (the
 * caller words it with slurm_strerror()). */
static int job_load(const struct agent_job *job, struct agent_job_view *v)
{
	job_info_msg_t *resp = NULL;
	const slurm_job_info_t *r = NULL;
	uint32_t i;

	if (slurm_load_job(&resp, job->conf.job_id, SHOW_ALL) != SLURM_SUCCESS)
		return slurm_get_errno() ? slurm_get_errno() : ESLURM_INVALID_JOB_ID;
	for (i = 0; i < resp->record_count; i++)
		if (resp->job_array[i].job_id == job->conf.job_id)
			r = &resp->job_array[i];
	if (!r) {
		slurm_free_job_info_msg(resp);
		return ESLURM_INVALID_JOB_ID;
	}
	v->state = r->job_state;
	v->restart_cnt = r->restart_cnt;
	v->start = (int64_t)r->start_time;
	v->end = (int64_t)r->end_time;
	v->preempt = (int64_t)r->preempt_time;
	v->limit = r->time_limit;
	snprintf(v->comment, sizeof(v->comment), "%s", r->comment ? r->comment : "");
	job_output_path(r, v->output, sizeof(v->output));
	snprintf(v->batch_host, sizeof(v->batch_host), "%s", r->batch_host ? r->batch_host : "");
	slurm_free_job_info_msg(resp);
	return 0;
}

/* Appends one line to the job's output: what the user reads first. Best
 * effort; the agent log has the same and more. */
static void job_say(const struct agent_job *job, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void job_say(const struct agent_job *job, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int fd;
	int n;

	if (!job->v.output[0])
		return;
	n = snprintf(line, sizeof(line), "slurm-ckpt: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fd = open(job->v.output, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		log_warn("cannot add to the job's output %s: %s", job->v.output, strerror(errno));
		return;
	}
	if (write(fd, line, (size_t)n) < 0)
		log_warn("cannot add to the job's output %s: %s", job->v.output, strerror(errno));
	close(fd);
}

/* libslurm's job_state_name() is not in its public header. */
static const char *job_state_name(uint32_t state)
{
	static const char *const names[] = {
		[JOB_PENDING] = "PENDING",     [JOB_RUNNING] = "RUNNING",
		[JOB_SUSPENDED] = "SUSPENDED", [JOB_COMPLETE] = "COMPLETED",
		[JOB_CANCELLED] = "CANCELLED", [JOB_FAILED] = "FAILED",
		[JOB_TIMEOUT] = "TIMEOUT",     [JOB_NODE_FAIL] = "NODE_FAIL",
		[JOB_PREEMPTED] = "PREEMPTED", [JOB_BOOT_FAIL] = "BOOT_FAIL",
		[JOB_DEADLINE] = "DEADLINE",   [JOB_OOM] = "OUT_OF_MEMORY",
	};
	uint32_t base = state & JOB_STATE_BASE;

	if (state & JOB_REQUEUE)
		return "REQUEUED";
	return base < sizeof(names) / sizeof(names[0]) && names[base] ? names[base] : "UNKNOWN";
}

static bool job_running(uint32_t state)
{
	uint32_t base = state & JOB_STATE_BASE;

	/* CONFIGURING is a flag on a RUNNING job. */
	return base == JOB_RUNNING || base == JOB_SUSPENDED;
}

static void fmt_when(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "%lld", (long long)t);
}

static void job_end(struct agent_job *job, const char *why)
{
	log_info("job %u %s: exiting", job->conf.job_id, why);
	evtimer_del(job->poll_timer);
	evtimer_del(job->deadline_timer);
	job->end(job->end_arg);
}

/* Reduces a time comment by this start's run time and requeues; true when
 * the job was requeued. A comment we cannot shrink is no reason to
 * requeue: the job would come back forever. */
static bool job_requeue(struct agent_job *job)
{
	struct agent_job_view v = job->v;
	int64_t run = (int64_t)time(NULL) - v.start;
	char left_s[PROTO_TIME_STR_MAX];
	int64_t left;

	if (job_load(job, &v))
		v = job->v;
	if (!agent_job_left(v.comment, run, &left)) {
		job_desc_msg_t d;

		if (left <= AGENT_JOB_MIN_LEFT) {
			log_info("job %u: comment %s minus this start's %lld s leaves %lld s: "
				 "not requeued",
				 job->conf.job_id, v.comment, (long long)run, (long long)left);
			return false;
		}
		proto_time_format_hours(left, left_s, sizeof(left_s));
		slurm_init_job_desc_msg(&d);
		d.job_id = job->conf.job_id;
		d.comment = left_s;
		if (slurm_update_job(&d) != SLURM_SUCCESS) {
			log_err("job %u: cannot set the comment to %s: %s; not requeueing (the "
				"total time would never run out)",
				job->conf.job_id, left_s, slurm_why());
			return false;
		}
		log_info("job %u: comment %s -> %s (total time still wanted; this start ran "
			 "%lld s)",
			 job->conf.job_id, v.comment, left_s, (long long)run);
	} else {
		log_info("job %u: comment \"%s\" is not a time: requeued, the comment kept",
			 job->conf.job_id, v.comment);
	}
	/* Preempted too: its processes exit before GraceTime runs out and the
	 * job then ends on its own, FAILED, which Slurm does not requeue. */
	if (slurm_requeue(job->conf.job_id, 0) != SLURM_SUCCESS) {
		log_err("job %u: requeue failed: %s", job->conf.job_id, slurm_why());
		return false;
	}
	log_info("job %u requeued", job->conf.job_id);
	return true;
}

static void job_on_final(void *arg, int err, int64_t gen, const char *path, const char *reason)
{
	struct agent_job *job = arg;

	if (err) {
		job->final = job->tries < AGENT_JOB_FINAL_TRIES ? AGENT_JOB_FINAL_PLANNED
								: AGENT_JOB_FINAL_FAILED;
		log_err("job %u: final checkpoint (%s) failed: %s; %s", job->conf.job_id,
			job->trigger, reason ? reason : "(no reason)",
			job->final == AGENT_JOB_FINAL_FAILED
				? "giving up, the job ends at its limit"
				: "trying again");
		if (job->final == AGENT_JOB_FINAL_FAILED)
			job_say(job,
				"the final checkpoint failed %d times (%s): no requeue, the job "
				"ends at its time limit",
				job->tries, reason ? reason : "no reason given");
		return;
	}
	job->final = AGENT_JOB_FINAL_DONE;
	job->final_gen = gen;
	snprintf(job->final_path, sizeof(job->final_path), "%s", path);
	log_info("job %u: final checkpoint (%s) committed: generation %lld in %s", job->conf.job_id,
		 job->trigger, (long long)gen, path);
}

/* The final generation is committed and its processes not yet told to
 * exit: requeue now. Slurm then signals the job's processes, which hold
 * the SIGTERM until they exit, and the batch shell, which would otherwise
 * run the rest of its script once its steps end. */
static bool job_on_final_commit(void *arg, int64_t gen, const char *path)
{
	struct agent_job *job = arg;

	(void)gen;
	(void)path;
	if (job->final != AGENT_JOB_FINAL_RUNNING)
		return false; /* a plain --kill: the job is not ours to requeue */
	if (!strcmp(job->trigger, "requeue")) {
		log_info("job %u: Slurm is requeueing it already, no requeue here",
			 job->conf.job_id);
		return true;
	}
	return job_requeue(job);
}

/* Takes the final checkpoint now, unless there is no point. */
static void job_final(struct agent_job *job, const char *trigger)
{
	/* The job comes back whatever its comment says: checkpoint anyway. */
	bool preempt = !strcmp(trigger, "preempt") || !strcmp(trigger, "requeue");
	int64_t run = (int64_t)time(NULL) - job->v.start;
	int64_t left;

	if (job->final != AGENT_JOB_FINAL_PLANNED &&
	    !(preempt && job->final == AGENT_JOB_FINAL_REFUSED))
		return;
	if (!preempt && !agent_job_left(job->v.comment, run, &left) && left <= AGENT_JOB_MIN_LEFT) {
		log_info("job %u: comment %s (total time wanted) minus this start's %lld s "
			 "leaves %lld s: no final checkpoint, no requeue; the job ends at its "
			 "time limit",
			 job->conf.job_id, job->v.comment, (long long)run, (long long)left);
		job_say(job,
			"the total time asked for (comment %s) is used up: no final checkpoint, "
			"no requeue; the job ends at its time limit",
			job->v.comment);
		job->final = AGENT_JOB_FINAL_REFUSED;
		return;
	}
	if (!agent_coord_part_count(job->co)) {
		if (!job->idle_logged)
			log_warn("job %u: time for the final checkpoint (%s) but no process is "
				 "registered; waiting for one",
				 job->conf.job_id, trigger);
		job->idle_logged = true;
		return;
	}
	snprintf(job->trigger, sizeof(job->trigger), "%s", trigger);
	job->waiter.done = job_on_final;
	job->waiter.arg = job;
	if (agent_coord_request(job->co, trigger, true, &job->waiter))
		return;
	job->final = AGENT_JOB_FINAL_RUNNING;
	job->tries++;
	log_info("job %u: final checkpoint (%s) requested, try %d", job->conf.job_id, trigger,
		 job->tries);
}

static void job_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct agent_job *job = arg;

	(void)fd;
	(void)what;
	job_final(job, "walltime");
}

/* Plans the final checkpoint from the record just read. */
static void job_plan(struct agent_job *job)
{
	int64_t now = (int64_t)time(NULL);
	int64_t margin = agent_job_margin(job->conf.margin_s, last_duration_ms(job->dir));
	int64_t deadline = 0;
	struct timeval tv = { 0 };
	char when[32];
	bool capped = false;

	/* Preempted: end_time is the end of GraceTime, the checkpoint is
	 * taken or running already. */
	if (job->v.preempt) {
		job->deadline = 0;
		evtimer_del(job->deadline_timer);
		return;
	}
	if (job->v.limit != INFINITE && job->v.limit != NO_VAL && job->v.end > job->v.start) {
		/* At most 90% of the limit: every start must make progress. */
		int64_t cap = (job->v.end - job->v.start) * 9 / 10;

		capped = margin > cap;
		margin = capped ? cap : margin;
		deadline = job->v.end - margin;
	}
	if (deadline != job->deadline || margin != job->margin) {
		fmt_when(deadline, when, sizeof(when));
		if (deadline)
			log_info("job %u: final checkpoint planned at %s (end %lld - margin "
				 "%lld s%s)",
				 job->conf.job_id, when, (long long)job->v.end, (long long)margin,
				 capped ? ", capped to 90% of the time limit" : "");
		else
			log_info("job %u: no time limit, no final checkpoint planned",
				 job->conf.job_id);
	}
	job->deadline = deadline;
	job->margin = margin;
	evtimer_del(job->deadline_timer);
	if (!deadline || job->final != AGENT_JOB_FINAL_PLANNED)
		return;
	tv.tv_sec = deadline > now ? (time_t)(deadline - now) : 0;
	evtimer_add(job->deadline_timer, &tv);
}

/* Looks at the job record; returns false when the agent should exit. */
static bool job_check(struct agent_job *job)
{
	struct agent_job_view v;
	char why[128];
	int err = job_load(job, &v);

	if (err == ESLURM_INVALID_JOB_ID) {
		job_end(job, "is no longer known to slurmctld");
		return false;
	}
	if (err) {
		log_warn("job %u: cannot load the job record: %s; trying again", job->conf.job_id,
			 slurm_strerror(err));
		return true;
	}
	if (!job_running(v.state) && job->final == AGENT_JOB_FINAL_RUNNING) {
		/* Requeued under a running final checkpoint: Slurm's KillWait
		 * bounds it; ending now would abort it. */
		log_info("job %u is %s; the final checkpoint is still running", job->conf.job_id,
			 job_state_name(v.state));
		return true;
	}
	if (!job_running(v.state)) {
		snprintf(why, sizeof(why), "is %s", job_state_name(v.state));
		job_end(job, why);
		return false;
	}
	if (v.restart_cnt != job->restart_cnt) {
		snprintf(why, sizeof(why), "started again (restart count %u, ours %u)",
			 v.restart_cnt, job->restart_cnt);
		job_end(job, why);
		return false;
	}
	job->v = v;
	if (!job->co)
		return true; /* a node agent only ends with the job */
	if (v.preempt && job->final != AGENT_JOB_FINAL_DONE &&
	    job->final != AGENT_JOB_FINAL_RUNNING) {
		log_info("job %u: preempted (preempt_time set): final checkpoint now",
			 job->conf.job_id);
		job_final(job, "preempt");
	}
	job_plan(job);
	return true;
}

static void job_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct agent_job *job = arg;
	struct timeval tv = { .tv_sec = job->conf.poll_s };

	(void)fd;
	(void)what;
	if (job_check(job))
		evtimer_add(job->poll_timer, &tv);
}

void agent_job_poll_now(struct agent_job *job)
{
	struct timeval tv = { .tv_sec = job->conf.poll_s };

	if (!evtimer_pending(job->poll_timer, NULL))
		return; /* ended already, or not started */
	if (job_check(job))
		evtimer_add(job->poll_timer, &tv);
}

/* agent_coord_steps_fn: the job's running steps from slurmctld. The batch
 * and extern steps are left out: no task of theirs registers. */
static int job_steps(void *arg, struct agent_step_tasks **steps, size_t *n, char *why,
		     size_t why_size)
{
	struct agent_job *job = arg;
	job_step_info_response_msg_t *resp = NULL;
	struct agent_step_tasks *v;
	uint32_t i;

	*steps = NULL;
	*n = 0;
	if (slurm_get_job_steps(0, job->conf.job_id, NO_VAL, &resp, SHOW_ALL) != SLURM_SUCCESS) {
		snprintf(why, why_size, "slurmctld does not list the steps of job %u: %s",
			 job->conf.job_id, slurm_why());
		return -EAGAIN;
	}
	v = calloc(resp->job_step_count ? resp->job_step_count : 1, sizeof(*v));
	if (!v) {
		slurm_free_job_step_info_response_msg(resp);
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < resp->job_step_count; i++) {
		const job_step_info_t *s = &resp->job_steps[i];

		if (s->step_id.job_id != job->conf.job_id ||
		    s->step_id.step_id >= SLURM_MAX_NORMAL_STEP_ID ||
		    (s->state & JOB_STATE_BASE) != JOB_RUNNING)
			continue;
		v[*n].step = s->step_id.step_id;
		v[*n].ntasks = s->num_tasks;
		(*n)++;
	}
	slurm_free_job_step_info_response_msg(resp);
	*steps = v;
	return 0;
}

struct agent_job *agent_job_new(struct event_base *base, struct agent_coord *co, const char *dir,
				const struct agent_job_conf *conf, void (*end)(void *arg),
				void *arg)
{
	struct agent_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->base = base;
	job->co = co;
	snprintf(job->dir, sizeof(job->dir), "%s", dir);
	job->conf = *conf;
	job->end = end;
	job->end_arg = arg;
	job->margin = -1;
	job->deadline = -1;
	if (co) {
		agent_coord_set_final_hook(co, job_on_final_commit, job);
		agent_coord_set_steps_fn(co, job_steps, job);
	}
	job->poll_timer = evtimer_new(base, job_on_poll, job);
	job->deadline_timer = evtimer_new(base, job_on_deadline, job);
	if (!job->poll_timer || !job->deadline_timer) {
		agent_job_free(job);
		return NULL;
	}
	return job;
}

void agent_job_free(struct agent_job *job)
{
	if (!job)
		return;
	if (job->co)
		agent_coord_waiter_cancel(job->co, &job->waiter);
	if (job->poll_timer)
		event_free(job->poll_timer);
	if (job->deadline_timer)
		event_free(job->deadline_timer);
	free(job);
}

int agent_job_start(struct agent_job *job, char *why, size_t why_size)
{
	struct timeval tv = { .tv_sec = job->conf.poll_s };
	int err = job_load(job, &job->v);

	if (err) {
		snprintf(why, why_size, "job %u: %s", job->conf.job_id, slurm_strerror(err));
		return -ESRCH;
	}
	if (!job_running(job->v.state)) {
		snprintf(why, why_size, "job %u is %s, not running", job->conf.job_id,
			 job_state_name(job->v.state));
		return -ESRCH;
	}
	job->restart_cnt = job->v.restart_cnt;
	log_info("job %u: following it (restart count %u, started %lld, comment \"%s\", poll "
		 "every %d s, margin at least %lld s)",
		 job->conf.job_id, job->restart_cnt, (long long)job->v.start, job->v.comment,
		 job->conf.poll_s, (long long)job->conf.margin_s);
	if (job->co && job->v.preempt)
		job_final(job, "preempt");
	if (job->co)
		job_plan(job);
	evtimer_add(job->poll_timer, &tv);
	return 0;
}

/* SIGTERM reached the processes: Slurm preempts, requeues (an admin's
 * `scontrol requeue`), cancels or ends the job. Only slurmctld knows
 * which: checkpoint when the job will come back. Returns 0 or a protocol
 * error code with @why. */
static int job_on_sigterm(struct agent_job *job, char *why, size_t why_size)
{
	struct agent_job_view v = { 0 };
	int err = job_load(job, &v);

	if (err) {
		snprintf(why, why_size, "cannot ask slurmctld about job %u (%s): SIGTERM delivered",
			 job->conf.job_id, slurm_strerror(err));
		return PROTO_E_STATE;
	}
	if (v.preempt) {
		job->v = v;
		log_info("job %u: SIGTERM and preempt_time set: final checkpoint now",
			 job->conf.job_id);
		job_final(job, "preempt");
		return 0;
	}
	/* scontrol requeue: the job is PENDING again (and COMPLETING) while
	 * its processes get their SIGTERM. */
	if ((v.state & (JOB_REQUEUE | JOB_REQUEUE_HOLD | JOB_SPECIAL_EXIT)) ||
	    (v.state & JOB_STATE_BASE) == JOB_PENDING) {
		job->v = v;
		log_info("job %u: SIGTERM while Slurm requeues it: final checkpoint now",
			 job->conf.job_id);
		job_final(job, "requeue");
		return 0;
	}
	snprintf(why, why_size,
		 "job %u is %s, neither preempted nor requeued: SIGTERM delivered, no checkpoint",
		 job->conf.job_id, job_state_name(v.state));
	log_info("%s (state flags 0x%x)", why, (unsigned)v.state);
	return PROTO_E_STATE;
}

int agent_job_request(struct agent_job *job, const struct agent_request *req,
		      struct agent_waiter *w, char *why, size_t why_size)
{
	int code = 0;

	if (job->final == AGENT_JOB_FINAL_DONE) {
		/* Every process was told to exit already: that is the answer. */
		w->done(w->arg, 0, job->final_gen, job->final_path, NULL);
		return 0;
	}
	if (!strcmp(req->trigger, "sigterm"))
		code = job_on_sigterm(job, why, why_size);
	else
		job_final(job, !strcmp(req->trigger, "signal") ? "signal" : req->trigger);
	if (code)
		return code;
	if (job->final == AGENT_JOB_FINAL_REFUSED) {
		snprintf(why, why_size,
			 "job %u: comment %s leaves no time for another start: no final "
			 "checkpoint",
			 job->conf.job_id, job->v.comment);
		return PROTO_E_STATE;
	}
	if (job->final != AGENT_JOB_FINAL_RUNNING) {
		snprintf(why, why_size, "job %u: no final checkpoint possible (%s)",
			 job->conf.job_id,
			 job->final == AGENT_JOB_FINAL_FAILED
				 ? "every try failed, see the coordinator's log"
				 : "no process is registered");
		return PROTO_E_STATE;
	}
	/* Joins the final generation just requested or already running. */
	if (agent_coord_request(job->co, job->trigger, true, w)) {
		snprintf(why, why_size, "job %u: no process is registered: nothing to checkpoint",
			 job->conf.job_id);
		return PROTO_E_STATE;
	}
	return 0;
}

bool agent_job_finished(const struct agent_job *job)
{
	return job->final == AGENT_JOB_FINAL_DONE;
}

int64_t agent_job_deadline(const struct agent_job *job)
{
	return job->final == AGENT_JOB_FINAL_PLANNED && job->deadline > 0 ? job->deadline : 0;
}

void agent_job_status(const struct agent_job *job, struct json_object *m)
{
	int64_t d = agent_job_deadline(job);

	json_object_object_add(m, "job", json_object_new_int64(job->conf.job_id));
	json_object_object_add(m, "job_end", json_object_new_int64(job->v.end));
	json_object_object_add(m, "margin", json_object_new_int64(job->margin));
	json_object_object_add(m, "final_checkpoint", d ? json_object_new_int64(d) : NULL);
	json_object_object_add(m, "final_state",
			       json_object_new_string(agent_job_final_names[job->final]));
}

const char *agent_job_batch_host(const struct agent_job *job)
{
	return job->v.batch_host[0] ? job->v.batch_host : NULL;
}

uint32_t agent_job_job_id(const struct agent_job *job)
{
	return job->conf.job_id;
}
