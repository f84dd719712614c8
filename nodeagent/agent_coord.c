/* agent_coord.c - the two-phase checkpoint state machine (agent_coord.h). */
#define LOG_PREFIX "coord: "
#include "agent_coord.h"

#include "agent_store.h"
#include "agent_timeout.h"
#include "agent_tree_check.h"
#include "tree_gen.h"
#include "layout.h"
#include "log.h"
#include "msg.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What the coordinator is doing. */
enum agent_phase {
	AGENT_PHASE_IDLE = 0, /* no generation running */
	AGENT_PHASE_PREPARE,  /* waiting for every "ready" */
	AGENT_PHASE_WRITE,    /* waiting for every "written" */
	AGENT_PHASE_PIPES,    /* waiting for every "pipes_saved" */
};

static const char *const agent_phase_names[] = { "idle", "prepare", "write", "pipes" };

static const char *const agent_part_state_names[] = {
	"running", "preparing", "ready", "writing", "written", "saving pipes", "pipes saved",
};

/* One task of a job. */
struct coord_task {
	int64_t step; /* Slurm step id */
	int64_t rank; /* its global task id */
};

/* Longest trigger name kept ("interval", "manual", "application", ...). */
#define AGENT_TRIGGER_MAX 32

struct agent_coord {
	struct event_base *base;      /* loop the timers run on */
	char dir[PATH_MAX];	      /* computation directory (absolute) */
	struct agent_coord_conf conf; /* tunables */
	struct agent_part *parts;     /* registered participants, in order */
	unsigned int nparts;	      /* length of @parts */
	uint64_t next_seq;	      /* registration counter */

	enum agent_phase phase;		 /* current phase */
	int64_t gen;			 /* generation running (valid unless IDLE) */
	int64_t last_gen;		 /* highest number ever started: never reused */
	char tmp[PATH_MAX];		 /* its gen-G.tmp directory */
	char trigger[AGENT_TRIGGER_MAX]; /* cause of the running generation */
	bool kill;			 /* running generation is final */
	bool learned;			 /* @last_bytes and @write_bps are set */
	struct timespec t0;		 /* monotonic start of the generation */
	int64_t started;		 /* wall clock start, Unix seconds */
	unsigned int pending;		 /* participants yet to answer this phase */
	int timeout_s;			 /* bound of the running phase, seconds */
	struct event *phase_timer;	 /* aborts a phase that takes too long */
	struct event *kick;		 /* starts a queued generation from the loop */
	struct timespec t_write;	 /* monotonic start of the WRITE phase */
	struct timespec t_pipes;	 /* monotonic start of the PIPES phase */
	uint64_t last_bytes;		 /* total image size of the newest generation */
	uint64_t write_bps;		 /* write bandwidth measured last, 0 unknown */

	struct agent_waiter *waiting;	      /* requesters of the running generation */
	struct agent_waiter *queued;	      /* requesters of the next one */
	bool next_wanted;		      /* a request arrived for the next generation */
	bool next_kill;			      /* ... and one of them asked for --kill */
	char next_trigger[AGENT_TRIGGER_MAX]; /* ... first cause named */

	char last_error[PROTO_MSG_TEXT_MAX]; /* reason of the last abort, "" if none */
	int64_t last_error_time;	     /* when, Unix seconds */
	int64_t last_error_gen;		     /* generation it aborted */

	bool (*final_hook)(void *arg, int64_t gen, const char *path); /* see .h */
	void *final_arg;					      /* passed to it */
	void (*count_cb)(void *arg, unsigned int n); /* participant count changed */
	void *count_arg;			     /* passed to @count_cb */

	agent_coord_steps_fn steps_fn;	/* job mode: the job's running steps */
	void *steps_arg;		/* passed to @steps_fn */
	struct coord_task *ended;	/* tasks whose process left by itself */
	size_t nended;			/* their number */
	size_t ended_cap;		/* room in @ended */
	struct agent_step_tasks *known; /* every step seen running in this start */
	size_t nknown;			/* their number */
};

static void agent_coord_start(struct agent_coord *co);

static const char *part_name(const struct agent_part *p)
{
	return p->ops->name(p);
}

static int64_t elapsed_ms(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void waiters_notify(struct agent_waiter **list, int err, int64_t gen, const char *path,
			   const char *reason)
{
	struct agent_waiter *w = *list;

	*list = NULL;
	while (w) {
		struct agent_waiter *next = w->next;

		w->queued = false;
		w->next = NULL;
		w->done(w->arg, err, gen, path, reason);
		w = next;
	}
}

static void waiter_unlink(struct agent_waiter **list, struct agent_waiter *w)
{
	for (; *list; list = &(*list)->next) {
		if (*list == w) {
			*list = w->next;
			w->next = NULL;
			w->queued = false;
			return;
		}
	}
}

/* Sends a fresh message of @type with @gen to @p; NULL-safe on ENOMEM. */
static int part_send_simple(struct agent_part *p, const char *type, int64_t gen)
{
	struct json_object *m = proto_msg_new(type);
	int ret = -ENOMEM;

	if (!m)
		return ret;
	if (gen < 0 || !proto_msg_set_int(m, "gen", gen))
		ret = p->ops->send(p, m);
	json_object_put(m);
	return ret;
}

/* Returns the coordinator to IDLE and schedules a queued generation. */
static void agent_coord_finish(struct agent_coord *co)
{
	struct agent_part *p;

	for (p = co->parts; p; p = p->next)
		p->state = AGENT_PART_IDLE;
	co->phase = AGENT_PHASE_IDLE;
	co->pending = 0;
	co->tmp[0] = '\0';
	evtimer_del(co->phase_timer);
	if (co->next_wanted)
		event_active(co->kick, 0, 0);
}

/* Aborts the running generation: tells the participants, deletes the
 * temporary directory, keeps the reason, answers the requesters. */
static void agent_coord_abort(struct agent_coord *co, int code, const char *reason)
{
	struct agent_part *p;
	int64_t gen = co->gen;

	if (co->phase == AGENT_PHASE_IDLE)
		return;
	log_err("generation %lld aborted: %s", (long long)gen, reason);
	snprintf(co->last_error, sizeof(co->last_error), "generation %lld aborted: %s",
		 (long long)gen, reason);
	co->last_error_time = time(NULL);
	co->last_error_gen = gen;
	for (p = co->parts; p; p = p->next) {
		if (p->state == AGENT_PART_IDLE)
			continue;
		struct json_object *m = proto_msg_new(PROTO_MSG_ABORT);

		if (m && !proto_msg_set_int(m, "gen", gen) &&
		    !proto_msg_set_str(m, "reason", reason))
			p->ops->send(p, m);
		json_object_put(m);
	}
	agent_store_discard(co->dir, gen);
	agent_coord_finish(co);
	waiters_notify(&co->waiting, code, gen, NULL, co->last_error);
}

static void agent_coord_arm_timer(struct agent_coord *co, int seconds)
{
	struct timeval tv = { .tv_sec = seconds };

	co->timeout_s = seconds;
	evtimer_add(co->phase_timer, &tv);
}

int agent_coord_write_bound(struct agent_coord *co)
{
	struct agent_gen_info *gens = NULL;
	size_t n = 0;

	if (co->conf.phase_fixed)
		return co->conf.phase_timeout_s;
	/* A fresh agent (a restarted job) learns size and bandwidth from the
	 * newest committed generation on disk: its size over its whole
	 * duration, which underestimates the bandwidth, so errs long. */
	if (!co->learned && !agent_store_list(co->dir, &gens, &n)) {
		while (n-- > 0) {
			if (!gens[n].error[0]) {
				co->last_bytes = gens[n].size;
				co->write_bps =
					agent_timeout_bandwidth(gens[n].size, gens[n].duration_ms);
				break;
			}
		}
		free(gens);
	}
	co->learned = true;
	return agent_timeout_write_s(co->last_bytes, co->write_bps, co->conf.phase_timeout_s,
				     AGENT_WRITE_TIMEOUT_CAP);
}

void agent_coord_describe_bounds(struct agent_coord *co, char *buf, size_t size)
{
	int write_s = agent_coord_write_bound(co);

	if (co->conf.phase_fixed)
		snprintf(buf, size, "prepare %d s, write %d s (set by the site)",
			 co->conf.phase_timeout_s, write_s);
	else
		snprintf(buf, size,
			 "prepare %d s, write %d s (derived from newest images of %llu bytes "
			 "at %llu bytes/s; plugstack phase_timeout= fixes both)",
			 co->conf.phase_timeout_s, write_s, (unsigned long long)co->last_bytes,
			 (unsigned long long)co->write_bps);
}

/* The bound of this generation's WRITE phase (agent_coord_write_bound),
 * logged with what it was derived from. */
static int agent_coord_write_timeout(struct agent_coord *co)
{
	int s = agent_coord_write_bound(co);

	if (co->conf.phase_fixed)
		return s;
	log_info("generation %lld: write phase bound: %d s (newest images %llu bytes, last "
		 "write %llu bytes/s; plugstack phase_timeout= fixes it)",
		 (long long)co->gen, s, (unsigned long long)co->last_bytes,
		 (unsigned long long)co->write_bps);
	return s;
}

static void agent_coord_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct agent_coord *co = arg;
	char reason[PROTO_MSG_TEXT_MAX];
	size_t len;
	struct agent_part *p;

	(void)fd;
	(void)what;
	/* Say which bound expired and how to change it. */
	if (co->conf.phase_fixed || co->phase != AGENT_PHASE_WRITE)
		len = (size_t)snprintf(reason, sizeof(reason),
				       "timeout: no answer within %d s in phase %s (the phase "
				       "timeout: plugstack phase_timeout=, ckpt-agent "
				       "--phase-timeout or CKPT_PHASE_TIMEOUT) from",
				       co->timeout_s, agent_phase_names[co->phase]);
	else
		len = (size_t)snprintf(reason, sizeof(reason),
				       "timeout: no answer within %d s in phase %s (derived from "
				       "%llu bytes at %llu bytes/s measured last time; set "
				       "plugstack phase_timeout= to fix it) from",
				       co->timeout_s, agent_phase_names[co->phase],
				       (unsigned long long)co->last_bytes,
				       (unsigned long long)co->write_bps);
	for (p = co->parts; p && len < sizeof(reason); p = p->next) {
		if (p->state == AGENT_PART_PREPARING || p->state == AGENT_PART_WRITING ||
		    p->state == AGENT_PART_SAVING)
			len += (size_t)snprintf(reason + len, sizeof(reason) - len, " %s",
						part_name(p));
	}
	agent_coord_abort(co, PROTO_E_TIMEOUT, reason);
}

static void agent_coord_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct agent_coord *co = arg;

	(void)fd;
	(void)what;
	if (co->phase == AGENT_PHASE_IDLE && co->next_wanted)
		agent_coord_start(co);
}

struct agent_coord *agent_coord_new(struct event_base *base, const char *dir,
				    const struct agent_coord_conf *conf)
{
	struct agent_coord *co = calloc(1, sizeof(*co));

	if (!co)
		return NULL;
	co->base = base;
	snprintf(co->dir, sizeof(co->dir), "%s", dir);
	co->conf = *conf;
	co->last_gen = conf->gen_floor > 0 ? conf->gen_floor : 0;
	co->phase_timer = evtimer_new(base, agent_coord_on_timeout, co);
	co->kick = event_new(base, -1, 0, agent_coord_on_kick, co);
	if (!co->phase_timer || !co->kick) {
		agent_coord_free(co);
		return NULL;
	}
	return co;
}

void agent_coord_stop(struct agent_coord *co, const char *reason)
{
	co->next_wanted = false;
	agent_coord_abort(co, PROTO_E_ABORTED, reason);
	waiters_notify(&co->queued, PROTO_E_ABORTED, -1, NULL, reason);
}

void agent_coord_free(struct agent_coord *co)
{
	if (!co)
		return;
	agent_coord_stop(co, "the agent is shutting down");
	if (co->phase_timer)
		event_free(co->phase_timer);
	if (co->kick)
		event_free(co->kick);
	free(co->ended);
	free(co->known);
	free(co);
}

void agent_coord_set_final_hook(struct agent_coord *co,
				bool (*fn)(void *arg, int64_t gen, const char *path), void *arg)
{
	co->final_hook = fn;
	co->final_arg = arg;
}

void agent_coord_set_count_cb(struct agent_coord *co, void (*fn)(void *arg, unsigned int n),
			      void *arg)
{
	co->count_cb = fn;
	co->count_arg = arg;
}

void agent_coord_set_steps_fn(struct agent_coord *co, agent_coord_steps_fn fn, void *arg)
{
	co->steps_fn = fn;
	co->steps_arg = arg;
}

static bool task_ended(const struct agent_coord *co, int64_t step, int64_t rank)
{
	size_t i;

	for (i = 0; i < co->nended; i++)
		if (co->ended[i].step == step && co->ended[i].rank == rank)
			return true;
	return false;
}

/* Remembers that the process of (step, rank) ended by itself: a task that
 * finished before the others is no reason to stop checkpointing. */
static void task_mark_ended(struct agent_coord *co, int64_t step, int64_t rank)
{
	if (task_ended(co, step, rank))
		return;
	if (co->nended == co->ended_cap) {
		size_t cap = co->ended_cap ? 2 * co->ended_cap : 16;
		struct coord_task *v = realloc(co->ended, cap * sizeof(*v));

		if (!v) {
			/* Forgetting it only makes the check stricter. */
			log_warn("out of memory: step %lld rank %lld is taken for a lost one",
				 (long long)step, (long long)rank);
			return;
		}
		co->ended = v;
		co->ended_cap = cap;
	}
	co->ended[co->nended].step = step;
	co->ended[co->nended].rank = rank;
	co->nended++;
}

static bool task_registered(const struct agent_coord *co, int64_t step, int64_t rank)
{
	const struct agent_part *p;

	for (p = co->parts; p; p = p->next)
		if (p->step == step && p->rank == rank)
			return true;
	return false;
}

/* Adds the steps just listed to those seen before: a step no longer shown
 * running (the job requeued after a node failed) still needs all its tasks.
 * Returns 0 or -ENOMEM. */
static int steps_merge(struct agent_coord *co, const struct agent_step_tasks *steps, size_t n)
{
	size_t i;
	size_t j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < co->nknown && co->known[j].step != steps[i].step; j++)
			;
		if (j < co->nknown) {
			if (steps[i].ntasks > co->known[j].ntasks)
				co->known[j].ntasks = steps[i].ntasks;
			continue;
		}
		struct agent_step_tasks *v = realloc(co->known, (co->nknown + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		co->known = v;
		co->known[co->nknown++] = steps[i];
	}
	return 0;
}

/* Job mode: fills @why and returns false when a task of a running step is
 * neither registered nor ended, naming the missing ones. */
static bool agent_coord_complete(struct agent_coord *co, char *why, size_t size)
{
	struct agent_step_tasks *steps = NULL;
	size_t nsteps = 0;
	size_t missing = 0;
	size_t len = 0;
	size_t i;
	char err[256] = "";

	if (!co->steps_fn)
		return true;
	if (co->steps_fn(co->steps_arg, &steps, &nsteps, err, sizeof(err))) {
		snprintf(why, size,
			 "cannot tell whether every task of the job is registered (%s): "
			 "generation not started",
			 err);
		return false;
	}
	if (steps_merge(co, steps, nsteps)) {
		free(steps);
		snprintf(why, size,
			 "out of memory listing the job's steps: generation not started");
		return false;
	}
	free(steps);
	steps = co->known;
	nsteps = co->nknown;
	for (i = 0; i < nsteps; i++) {
		for (int64_t r = 0; r < steps[i].ntasks; r++) {
			if (task_registered(co, steps[i].step, r) ||
			    task_ended(co, steps[i].step, r))
				continue;
			if (!missing++)
				len = (size_t)snprintf(why, size,
						       "not every task of the job is registered: "
						       "missing");
			/* Ten named are enough to act on; the count says the rest. */
			if (missing <= 10 && len < size)
				len += (size_t)snprintf(why + len, size - len,
							" step %lld rank %lld (of %lld),",
							(long long)steps[i].step, (long long)r,
							(long long)steps[i].ntasks);
		}
	}
	if (!missing)
		return true;
	if (len < size)
		snprintf(why + len, size - len,
			 " %zu in all; generation not started (a task still starting or "
			 "restoring, or a node agent reconnecting: the next one will try again; "
			 "a task killed, see the node agent's log: until the job is requeued)",
			 missing);
	return false;
}

void agent_coord_part_add(struct agent_coord *co, struct agent_part *part)
{
	struct agent_part **tail = &co->parts;

	while (*tail)
		tail = &(*tail)->next;
	part->next = NULL;
	part->state = AGENT_PART_IDLE;
	part->seq = co->next_seq++;
	*tail = part;
	co->nparts++;
	log_info("registered %s (step %lld rank %lld%s)", part_name(part), (long long)part->step,
		 (long long)part->rank, part->restored ? ", restored" : "");
	if (co->phase != AGENT_PHASE_IDLE) {
		char reason[PROTO_MSG_TEXT_MAX];

		snprintf(reason, sizeof(reason),
			 "%s registered during the checkpoint and would be missing from it",
			 part_name(part));
		agent_coord_abort(co, PROTO_E_STATE, reason);
	}
	if (co->nparts == 1 && co->count_cb)
		co->count_cb(co->count_arg, co->nparts);
}

void agent_coord_part_remove(struct agent_coord *co, struct agent_part *part)
{
	struct agent_part **pp;
	bool in_gen = part->state != AGENT_PART_IDLE;

	for (pp = &co->parts; *pp; pp = &(*pp)->next)
		if (*pp == part)
			break;
	if (!*pp)
		return;
	*pp = part->next;
	part->next = NULL;
	co->nparts--;
	log_info("%s left", part_name(part));
	/* A task has ended when its last process leaves by itself: while
	 * another of its processes is registered (the bash of a task, which
	 * ran the one that left), a later kill of that one is a missing task. */
	if (!part->lost && !task_registered(co, part->step, part->rank))
		task_mark_ended(co, part->step, part->rank);
	if (in_gen && co->phase != AGENT_PHASE_IDLE) {
		char reason[PROTO_MSG_TEXT_MAX];

		part->state = AGENT_PART_IDLE;
		snprintf(reason, sizeof(reason), "%s disconnected during %s", part_name(part),
			 agent_phase_names[co->phase]);
		agent_coord_abort(co, PROTO_E_ABORTED, reason);
	}
	if (co->nparts == 0 && co->count_cb)
		co->count_cb(co->count_arg, 0);
}

unsigned int agent_coord_part_count(const struct agent_coord *co)
{
	return co->nparts;
}

bool agent_coord_busy(const struct agent_coord *co)
{
	return co->phase != AGENT_PHASE_IDLE;
}

/* Roots first (a process whose parent is not a participant: the one a
 * restart puts in the foreground), then registration order. */
static int part_order_cmp(const void *a, const void *b, void *arg)
{
	const struct agent_part *pa = *(struct agent_part *const *)a;
	const struct agent_part *pb = *(struct agent_part *const *)b;
	const struct agent_coord *co = arg;
	bool ra = true;
	bool rb = true;
	const struct agent_part *p;

	for (p = co->parts; p; p = p->next) {
		/* Pids are per node: a parent is on the same one. */
		if (p->pid == pa->ppid && !strcmp(p->node, pa->node))
			ra = false;
		if (p->pid == pb->ppid && !strcmp(p->node, pb->node))
			rb = false;
	}
	if (ra != rb)
		return ra ? -1 : 1;
	return pa->seq < pb->seq ? -1 : pa->seq > pb->seq;
}

/* Participants in image order, malloc'd; NULL on ENOMEM. */
static struct agent_part **agent_coord_ordered(struct agent_coord *co)
{
	/* v is an array of pointers: sizeof(*v) is a pointer's size on purpose. */
	struct agent_part **v = calloc(co->nparts ? co->nparts : 1,
				       sizeof(*v)); // NOLINT(bugprone-sizeof-expression)
	struct agent_part *p;
	size_t i = 0;

	if (!v)
		return NULL;
	for (p = co->parts; p; p = p->next)
		v[i++] = p;
	qsort_r(v, i, sizeof(*v), part_order_cmp, co); // NOLINT(bugprone-sizeof-expression)
	return v;
}

static bool image_rank_taken(const struct agent_coord *co, const struct agent_part *self,
			     int64_t step, int64_t rank, bool assigned_only)
{
	const struct agent_part *q;

	for (q = co->parts; q; q = q->next) {
		if (q == self || q->step != step)
			continue;
		if (q->image_rank == rank || (!assigned_only && q->rank == rank))
			return true;
	}
	return false;
}

/* Names every image S.R.img (proto/layout.h). A process that shares its
 * step and rank with another (a program that forked: the child inherits
 * what the parent reported) is filed under the next free rank, so every
 * image has its own (step, rank) as the manifest requires. Roots come
 * first and keep their rank. Returns 0 or -ENOMEM. */
static int agent_coord_name_images(struct agent_coord *co)
{
	struct agent_part **v = agent_coord_ordered(co);
	size_t i;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < co->nparts; i++)
		v[i]->image_rank = -1;
	for (i = 0; i < co->nparts; i++) {
		struct agent_part *p = v[i];
		int64_t r = p->rank;

		if (image_rank_taken(co, p, p->step, r, true))
			for (r = 0; image_rank_taken(co, p, p->step, r, false); r++)
				;
		p->image_rank = r;
		if (proto_layout_image_name(p->image, sizeof(p->image), (uint32_t)p->step,
					    (uint32_t)r))
			snprintf(p->image, sizeof(p->image), "invalid");
	}
	free(v);
	return 0;
}

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

/* WRITE: asks every participant for its image. */
static void agent_coord_write(struct agent_coord *co)
{
	/* zstd level 3: zstd's own default, fast enough to keep writes I/O-bound. */
	long level = co->conf.level ? co->conf.level : strtol(env_or("CKPT_LEVEL", "3"), NULL, 10);
	long nthreads = strtol(env_or("CKPT_THREADS", "0"), NULL, 10);
	struct agent_part *p;

	if (nthreads <= 0) {
		/* Up to 8 writer threads: more rarely helps a single file system. */
		nthreads = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = nthreads < 1 ? 1 : nthreads > 8 ? 8 : nthreads;
	}
	co->phase = AGENT_PHASE_WRITE;
	co->pending = 0;
	if (agent_coord_name_images(co)) {
		agent_coord_abort(co, PROTO_E_INTERNAL, "out of memory naming images");
		return;
	}
	for (p = co->parts; p; p = p->next) {
		struct json_object *m = proto_msg_new(PROTO_MSG_WRITE);
		char path[PATH_MAX + AGENT_IMAGE_NAME_MAX];
		int ret = -ENOMEM;

		snprintf(path, sizeof(path), "%s/%s", co->tmp, p->image);
		if (m && !proto_msg_set_int(m, "gen", co->gen) &&
		    !proto_msg_set_str(m, "path", path) &&
		    !proto_msg_set_bool(m, "final", co->kill) &&
		    !proto_msg_set_int(m, "level", level) &&
		    !proto_msg_set_int(m, "nthreads", nthreads))
			ret = p->ops->send(p, m);
		json_object_put(m);
		if (ret) {
			char reason[PROTO_MSG_TEXT_MAX];

			snprintf(reason, sizeof(reason), "cannot send write to %s: %s",
				 part_name(p), strerror(-ret));
			agent_coord_abort(co, PROTO_E_INTERNAL, reason);
			return;
		}
		p->state = AGENT_PART_WRITING;
		co->pending++;
	}
	clock_gettime(CLOCK_MONOTONIC, &co->t_write);
	agent_coord_arm_timer(co, agent_coord_write_timeout(co));
}

/*
 * PIPES: the pipe barrier (docs/process-trees.md). A process whose "ready"
 * said it saves the bytes of pipes shared in its tree reads them now, while
 * every participant is still stopped; "write" goes out only once each has
 * answered, so no process is released (a non-final one is, right after its
 * snapshot) and writes into or reads from such a pipe before its bytes are
 * saved. Bounded by what is left of the PREPARE bound: one tee(2) per
 * pipe. Returns false
 * when no participant saves pipes (nothing sent: WRITE comes next), true
 * when the phase began or the generation was aborted.
 */
static bool agent_coord_save_pipes(struct agent_coord *co)
{
	struct agent_part *p;
	int left;

	for (p = co->parts; p && !p->pipes; p = p->next)
		;
	if (!p)
		return false;
	co->phase = AGENT_PHASE_PIPES;
	co->pending = 0;
	clock_gettime(CLOCK_MONOTONIC, &co->t_pipes);
	for (p = co->parts; p; p = p->next) {
		int ret;

		if (!p->pipes)
			continue;
		ret = part_send_simple(p, PROTO_MSG_SAVE_PIPES, co->gen);
		if (ret) {
			char reason[PROTO_MSG_TEXT_MAX];

			snprintf(reason, sizeof(reason), "cannot send save_pipes to %s: %s",
				 part_name(p), strerror(-ret));
			agent_coord_abort(co, PROTO_E_INTERNAL, reason);
			return true;
		}
		p->state = AGENT_PART_SAVING;
		co->pending++;
	}
	log_info("generation %lld: %u process(es) save the bytes of pipes shared in their tree "
		 "before anyone is released",
		 (long long)co->gen, co->pending);
	/* PREPARE and PIPES share one bound, so that a generation still takes
	 * at most two phase bounds and the commit (what `ckpt checkpoint`
	 * waits for by default). */
	left = co->conf.phase_timeout_s - (int)(elapsed_ms(&co->t0) / 1000);
	agent_coord_arm_timer(co, left < 1 ? 1 : left);
	return true;
}

/*
 * The tree records of the images just written pass the checks 'ckpt
 * restart' makes (tree_gen.h): a parent's record listing a running child
 * that has no image (docs/process-trees.md, Status item 9) must abort the
 * generation, not replace the last good one. @v: the participants in
 * manifest order. Returns false after aborting the generation.
 */
static bool tree_gen_restorable(struct agent_coord *co, struct agent_part **v)
{
	char(*paths)[PATH_MAX + AGENT_IMAGE_NAME_MAX] =
		calloc(co->nparts ? co->nparts : 1, sizeof(*paths));
	const char **pv = calloc(co->nparts ? co->nparts : 1, sizeof(*pv));
	/* Room in @reason for the words around it. */
	char why[PROTO_MSG_TEXT_MAX - 160];
	char reason[PROTO_MSG_TEXT_MAX];
	int ret = -ENOMEM;

	snprintf(why, sizeof(why), "out of memory checking the tree records");
	if (paths && pv) {
		for (unsigned int i = 0; i < co->nparts; i++) {
			snprintf(paths[i], sizeof(paths[i]), "%s/%s", co->tmp, v[i]->image);
			pv[i] = paths[i];
		}
		ret = tree_gen_check(pv, co->nparts, why, sizeof(why));
	}
	free(paths);
	free(pv);
	if (!ret)
		return true;
	/* A final one says so: the processes are released, not stopped. */
	snprintf(reason, sizeof(reason),
		 "%sthe tree records disagree, 'ckpt restart' would refuse it: %s",
		 co->kill ? "final checkpoint failed, the processes run on: " : "", why);
	agent_coord_abort(co, PROTO_E_STATE, reason);
	return false;
}

/* COMMIT, then RESUME or EXIT. */
static void agent_coord_commit(struct agent_coord *co)
{
	struct agent_gen_meta meta = {
		.gen = co->gen,
		.trigger = co->trigger,
		.started = co->started,
		.duration_ms = elapsed_ms(&co->t0),
		.final = co->kill,
	};
	char path[PATH_MAX];
	char why[PROTO_MSG_TEXT_MAX];
	struct agent_part **v;
	struct agent_part *p;
	uint64_t size = 0;
	int ret;

	evtimer_del(co->phase_timer);
	v = agent_coord_ordered(co);
	if (!v) {
		agent_coord_abort(co, PROTO_E_INTERNAL, "out of memory at commit");
		return;
	}
	if (!tree_gen_restorable(co, v)) {
		free(v);
		return;
	}
	why[0] = '\0';
	ret = agent_store_commit(co->dir, &meta, v, co->nparts, path, sizeof(path), why,
				 sizeof(why));
	free(v);
	if (ret) {
		agent_coord_abort(co, proto_err_from_errno(ret), why[0] ? why : strerror(-ret));
		return;
	}
	double pause_max = 0;

	for (p = co->parts; p; p = p->next)
		if (p->pause_ms > pause_max)
			pause_max = p->pause_ms;
	/* The pause is what the application lost: threads stopped, measured by
	 * libckpt from prepare to release (the whole write for a final one). */
	log_info("generation %lld committed: %s (%u image(s), %lld ms, longest pause %.1f ms, "
		 "trigger %s)",
		 (long long)co->gen, path, co->nparts, (long long)meta.duration_ms, pause_max,
		 co->trigger);
	ret = agent_store_prune(co->dir, co->conf.keep);
	if (ret > 0)
		log_info("pruned %d old generation(s), keeping %d", ret, co->conf.keep);
	for (p = co->parts; p; p = p->next)
		size += p->size;
	/* What the next WRITE phase's bound is derived from. */
	co->learned = true;
	co->last_bytes = size;
	co->write_bps = agent_timeout_bandwidth(size, elapsed_ms(&co->t_write));
	/* Before the processes exit: a job is requeued while its processes
	 * still hold their SIGTERM, so its batch script cannot run on. */
	bool hold = co->kill && co->final_hook && co->final_hook(co->final_arg, co->gen, path);

	for (p = co->parts; p; p = p->next) {
		struct json_object *m;

		if (!co->kill) {
			part_send_simple(p, PROTO_MSG_RESUME, co->gen);
			continue;
		}
		/* What the process needs to say in one line on the job's
		 * stderr why it stops: generation, total size, time, cause. */
		m = proto_msg_new(PROTO_MSG_EXIT);
		if (m && !proto_msg_set_int(m, "gen", co->gen) &&
		    !proto_msg_set_int(m, "status", co->conf.exit_status) &&
		    !proto_msg_set_bool(m, "hold", hold) &&
		    !proto_msg_set_int(m, "size", (int64_t)size) &&
		    !proto_msg_set_int(m, "duration_ms", meta.duration_ms) &&
		    !proto_msg_set_str(m, "trigger", co->trigger))
			p->ops->send(p, m);
		json_object_put(m);
	}
	int64_t gen = co->gen;

	agent_coord_finish(co);
	waiters_notify(&co->waiting, 0, gen, path, NULL);
}

/* PREPARE: numbers the generation, creates its directory, asks every
 * participant to quiesce. */
static void agent_coord_start(struct agent_coord *co)
{
	struct agent_part *p;
	int ret;

	co->next_wanted = false;
	co->kill = co->next_kill;
	co->next_kill = false;
	snprintf(co->trigger, sizeof(co->trigger), "%s", co->next_trigger);
	co->waiting = co->queued;
	co->queued = NULL;
	if (!co->nparts) {
		waiters_notify(&co->waiting, PROTO_E_STATE, -1, NULL,
			       "no process is registered with the agent");
		return;
	}
	if (!agent_coord_complete(co, co->last_error, sizeof(co->last_error))) {
		log_err("%s", co->last_error);
		co->last_error_time = time(NULL);
		co->last_error_gen = -1;
		waiters_notify(&co->waiting, PROTO_E_STATE, -1, NULL, co->last_error);
		return;
	}
	ret = agent_store_next_gen(co->dir, co->last_gen, &co->gen);
	if (!ret)
		ret = agent_store_begin(co->dir, co->gen, co->tmp, sizeof(co->tmp));
	if (ret) {
		snprintf(co->last_error, sizeof(co->last_error),
			 "cannot create a generation directory in %.700s: %s", co->dir,
			 strerror(-ret));
		co->last_error_time = time(NULL);
		waiters_notify(&co->waiting, proto_err_from_errno(ret), -1, NULL, co->last_error);
		return;
	}
	co->last_gen = co->gen;
	clock_gettime(CLOCK_MONOTONIC, &co->t0);
	co->started = time(NULL);
	co->phase = AGENT_PHASE_PREPARE;
	co->pending = 0;
	log_info("generation %lld: prepare %u process(es), trigger %s%s", (long long)co->gen,
		 co->nparts, co->trigger, co->kill ? ", final" : "");
	for (p = co->parts; p; p = p->next) {
		p->state = AGENT_PART_PREPARING;
		p->pipes = false;
		p->size = 0;
		p->xxh64[0] = '\0';
		co->pending++;
	}
	for (p = co->parts; p; p = p->next) {
		ret = part_send_simple(p, PROTO_MSG_PREPARE, co->gen);
		if (ret) {
			char reason[PROTO_MSG_TEXT_MAX];

			snprintf(reason, sizeof(reason), "cannot send prepare to %s: %s",
				 part_name(p), strerror(-ret));
			agent_coord_abort(co, PROTO_E_INTERNAL, reason);
			return;
		}
	}
	agent_coord_arm_timer(co, co->conf.phase_timeout_s);
}

int agent_coord_request(struct agent_coord *co, const char *trigger, bool kill,
			struct agent_waiter *w)
{
	if (!co->nparts && co->phase == AGENT_PHASE_IDLE)
		return -ENOENT;
	/* A final generation is running: its processes exit after it, so a
	 * later one would find nobody. Another final request joins it. */
	if (kill && co->phase != AGENT_PHASE_IDLE && co->kill) {
		if (w) {
			w->next = co->waiting;
			w->queued = true;
			co->waiting = w;
		}
		return 0;
	}
	if (!co->next_wanted)
		snprintf(co->next_trigger, sizeof(co->next_trigger), "%s", trigger);
	co->next_wanted = true;
	co->next_kill |= kill;
	if (w) {
		w->next = co->queued;
		w->queued = true;
		co->queued = w;
	}
	if (co->phase == AGENT_PHASE_IDLE)
		event_active(co->kick, 0, 0);
	return 0;
}

void agent_coord_waiter_cancel(struct agent_coord *co, struct agent_waiter *w)
{
	if (!w->queued)
		return;
	waiter_unlink(&co->waiting, w);
	waiter_unlink(&co->queued, w);
}

/* Reads a number of milliseconds that may be sent as integer or real. */
static double msg_ms(const struct json_object *msg, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(msg, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int))
		return json_object_get_double(v);
	return 0;
}

static bool is_hex16(const char *s)
{
	size_t i;

	for (i = 0; i < 16; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return s[16] == '\0';
}

/* Whether @pid is a participant of this node (agent_tree_check.h). */
static bool local_part_pid(void *arg, pid_t pid)
{
	const struct agent_coord *co = arg;

	for (const struct agent_part *p = co->parts; p; p = p->next)
		if (!p->node[0] && !p->lost && p->pid == pid)
			return true;
	return false;
}

/* Memory that tree members share comes back shared after a restart, or
 * the generation is refused naming it (agent_tree_check.h). Returns false
 * after aborting the generation. */
static bool tree_memory_restorable(struct agent_coord *co)
{
	char why[PROTO_MSG_TEXT_MAX];
	size_t n = 0;
	pid_t *pids;
	int ret;

	for (const struct agent_part *p = co->parts; p; p = p->next)
		n++;
	pids = calloc(n ? n : 1, sizeof(*pids));
	if (!pids) {
		agent_coord_abort(co, PROTO_E_STATE, "out of memory checking shared memory");
		return false;
	}
	n = 0;
	for (const struct agent_part *p = co->parts; p; p = p->next)
		if (!p->node[0] && !p->lost)
			pids[n++] = p->pid;
	ret = agent_tree_check_shared(pids, n, why, sizeof(why));
	free(pids);
	if (ret < 0) {
		agent_coord_abort(co, PROTO_E_STATE, why);
		return false;
	}
	return true;
}

/* Every live child of a tree member is a participant too: else the
 * generation would commit and 'ckpt restart' refuse it. Returns false
 * after aborting the generation. */
static bool tree_children_registered(struct agent_coord *co)
{
	char why[PROTO_MSG_TEXT_MAX];

	for (const struct agent_part *p = co->parts; p; p = p->next) {
		if (p->node[0] || p->lost)
			continue;
		if (agent_tree_check_children(p->pid, local_part_pid, co, why, sizeof(why)) < 0) {
			agent_coord_abort(co, PROTO_E_STATE, why);
			return false;
		}
	}
	return tree_memory_restorable(co);
}

static int on_ready(struct agent_coord *co, struct agent_part *p, const struct json_object *msg)
{
	bool pipes;

	if (co->phase != AGENT_PHASE_PREPARE || p->state != AGENT_PART_PREPARING) {
		log_warn("%s: \"ready\" outside of PREPARE", part_name(p));
		return -EPROTO;
	}
	if (proto_msg_get_bool_opt(msg, "pipes", false, &pipes)) {
		log_warn("%s: bad \"ready\": %s", part_name(p), proto_msg_why());
		return -EPROTO;
	}
	p->pipes = pipes;
	p->state = AGENT_PART_READY;
	if (--co->pending == 0) {
		evtimer_del(co->phase_timer);
		if (!tree_children_registered(co))
			return 0;
		/* A final generation releases nobody before EXIT: every
		 * process reads its pipes at WRITE, all of them stopped. */
		if (co->kill || !agent_coord_save_pipes(co))
			agent_coord_write(co);
	}
	return 0;
}

static int on_pipes_saved(struct agent_coord *co, struct agent_part *p)
{
	if (co->phase != AGENT_PHASE_PIPES || p->state != AGENT_PART_SAVING) {
		log_warn("%s: \"pipes_saved\" without \"save_pipes\"", part_name(p));
		return -EPROTO;
	}
	p->state = AGENT_PART_SAVED;
	if (--co->pending == 0) {
		struct timespec now;

		evtimer_del(co->phase_timer);
		/* What the barrier added to every process's pause. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		log_info("generation %lld: pipes saved in %.2f ms", (long long)co->gen,
			 (double)(now.tv_sec - co->t_pipes.tv_sec) * 1e3 +
				 (double)(now.tv_nsec - co->t_pipes.tv_nsec) / 1e6);
		agent_coord_write(co);
	}
	return 0;
}

static int on_written(struct agent_coord *co, struct agent_part *p, const struct json_object *msg)
{
	char want[PATH_MAX + AGENT_IMAGE_NAME_MAX];
	const char *path;
	const char *sum;
	int64_t size;

	if (co->phase != AGENT_PHASE_WRITE || p->state != AGENT_PART_WRITING) {
		log_warn("%s: \"written\" outside of WRITE", part_name(p));
		return -EPROTO;
	}
	snprintf(want, sizeof(want), "%s/%s", co->tmp, p->image);
	if (proto_msg_get_str(msg, "path", 0, &path) ||
	    proto_msg_get_int_range(msg, "size", 0, INT64_MAX, &size) ||
	    proto_msg_get_str(msg, "xxh64", 16, &sum)) {
		log_warn("%s: bad \"written\": %s", part_name(p), proto_msg_why());
		return -EPROTO;
	}
	if (strcmp(path, want) != 0 || !is_hex16(sum)) {
		log_warn("%s: \"written\" names %s with checksum \"%s\", expected %s", part_name(p),
			 path, sum, want);
		return -EPROTO;
	}
	p->size = (uint64_t)size;
	snprintf(p->xxh64, sizeof(p->xxh64), "%s", sum);
	p->pause_ms = msg_ms(msg, "pause_ms");
	p->write_ms = msg_ms(msg, "write_ms");
	/* Full or incremental, how changed memory was found (libckpt). */
	if (!proto_msg_get_str_opt(msg, "image", 256, NULL, &path) && path)
		log_info("generation %lld: %s: image %s", (long long)co->gen, part_name(p), path);
	p->state = AGENT_PART_WRITTEN;
	if (--co->pending == 0)
		agent_coord_commit(co);
	return 0;
}

static int on_error(struct agent_coord *co, struct agent_part *p, const struct json_object *msg)
{
	char reason[PROTO_MSG_TEXT_MAX];
	const char *text = NULL;
	int64_t code;

	/* Processes say "reason"; peers using proto_msg_new_error() say "message". */
	if (proto_msg_get_str_opt(msg, "reason", PROTO_MSG_TEXT_MAX, NULL, &text) || !text) {
		if (proto_msg_get_str_opt(msg, "message", PROTO_MSG_TEXT_MAX, NULL, &text))
			text = NULL;
	}
	if (proto_msg_get_int_opt(msg, "code", 1, PROTO_E_MAX, PROTO_E_ABORTED, &code))
		code = PROTO_E_ABORTED;
	if (co->phase == AGENT_PHASE_IDLE || p->state == AGENT_PART_IDLE) {
		log_warn("%s reported an error outside of a checkpoint: %s", part_name(p),
			 text && *text ? text : "(no reason)");
		return 0;
	}
	snprintf(reason, sizeof(reason), "%s failed in %s: %s", part_name(p),
		 agent_phase_names[co->phase], text && *text ? text : "(no reason given)");
	agent_coord_abort(co, (int)code, reason);
	return 0;
}

int agent_coord_on_message(struct agent_coord *co, struct agent_part *p,
			   const struct json_object *msg)
{
	enum proto_msg_type type = proto_msg_type(msg);
	int64_t gen;

	if (type != PROTO_MSG_T_READY && type != PROTO_MSG_T_WRITTEN && type != PROTO_MSG_T_ERROR &&
	    type != PROTO_MSG_T_PIPES_SAVED) {
		log_warn("%s sent unexpected message type \"%s\"", part_name(p),
			 json_object_get_string(json_object_object_get(msg, "type")));
		return -EPROTO;
	}
	if (proto_msg_get_int_opt(msg, "gen", 0, INT64_MAX, -1, &gen)) {
		log_warn("%s: %s", part_name(p), proto_msg_why());
		return -EPROTO;
	}
	/* An answer to an aborted generation may cross our "abort": ignore it. */
	if (gen >= 0 && (co->phase == AGENT_PHASE_IDLE || gen != co->gen)) {
		if (gen > co->last_gen) {
			log_warn("%s answered for generation %lld never started", part_name(p),
				 (long long)gen);
			return -EPROTO;
		}
		log_debug("%s: late answer for generation %lld ignored", part_name(p),
			  (long long)gen);
		return 0;
	}
	if (type == PROTO_MSG_T_ERROR)
		return on_error(co, p, msg);
	if (gen < 0) {
		log_warn("%s: \"%s\" without \"gen\"", part_name(p), proto_msg_type_name(type));
		return -EPROTO;
	}
	if (type == PROTO_MSG_T_READY)
		return on_ready(co, p, msg);
	if (type == PROTO_MSG_T_PIPES_SAVED)
		return on_pipes_saved(co, p);
	return on_written(co, p, msg);
}

static struct json_object *part_status(const struct agent_part *p)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "pid", json_object_new_int64(p->pid));
	json_object_object_add(o, "exe", json_object_new_string(p->exe));
	json_object_object_add(o, "node", json_object_new_string(p->node));
	json_object_object_add(o, "step", json_object_new_int64(p->step));
	json_object_object_add(o, "rank", json_object_new_int64(p->rank));
	json_object_object_add(o, "restored", json_object_new_boolean(p->restored));
	if (p->restored_gen >= 0)
		json_object_object_add(o, "restored_gen", json_object_new_int64(p->restored_gen));
	json_object_object_add(o, "state",
			       json_object_new_string(agent_part_state_names[p->state]));
	return o;
}

static struct json_object *gens_status(const struct agent_coord *co)
{
	struct json_object *arr = json_object_new_array();
	struct agent_gen_info *gens = NULL;
	size_t n = 0;
	size_t i;

	if (!arr || agent_store_list(co->dir, &gens, &n))
		return arr;
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		if (!o)
			break;
		json_object_object_add(o, "gen", json_object_new_int64(gens[i].gen));
		json_object_object_add(o, "path", json_object_new_string(gens[i].path));
		json_object_object_add(o, "time", json_object_new_int64(gens[i].time));
		json_object_object_add(o, "size", json_object_new_int64((int64_t)gens[i].size));
		json_object_object_add(o, "duration_ms",
				       json_object_new_int64(gens[i].duration_ms));
		json_object_object_add(o, "trigger", json_object_new_string(gens[i].trigger));
		json_object_object_add(o, "images", json_object_new_int64(gens[i].nimages));
		if (gens[i].error[0])
			json_object_object_add(o, "error", json_object_new_string(gens[i].error));
		json_object_array_add(arr, o);
	}
	free(gens);
	return arr;
}

/* [{"node": N, "processes": count}] in order of first registration. */
static struct json_object *nodes_status(const struct agent_coord *co)
{
	struct json_object *arr = json_object_new_array();
	const struct agent_part *p;
	const struct agent_part *q;

	for (p = co->parts; p && arr; p = p->next) {
		int64_t n = 0;

		for (q = co->parts; q != p && strcmp(q->node, p->node) != 0; q = q->next)
			;
		if (q != p)
			continue; /* counted with an earlier one */
		for (q = p; q; q = q->next)
			n += !strcmp(q->node, p->node);
		struct json_object *o = json_object_new_object();

		if (!o)
			break;
		json_object_object_add(o, "node", json_object_new_string(p->node));
		json_object_object_add(o, "processes", json_object_new_int64(n));
		json_object_array_add(arr, o);
	}
	return arr;
}

struct json_object *agent_coord_status(struct agent_coord *co)
{
	struct json_object *m = proto_msg_new(PROTO_MSG_STATUS_REPLY);
	struct json_object *procs;
	struct json_object *cur = NULL;
	const struct agent_part *p;

	if (!m)
		return NULL;
	procs = json_object_new_array();
	for (p = co->parts; p && procs; p = p->next)
		json_object_array_add(procs, part_status(p));
	json_object_object_add(m, "processes", procs);
	json_object_object_add(m, "nodes", nodes_status(co));
	json_object_object_add(m, "generations", gens_status(co));
	if (co->phase != AGENT_PHASE_IDLE) {
		cur = json_object_new_object();
		json_object_object_add(cur, "gen", json_object_new_int64(co->gen));
		json_object_object_add(cur, "phase",
				       json_object_new_string(agent_phase_names[co->phase]));
		json_object_object_add(cur, "trigger", json_object_new_string(co->trigger));
		json_object_object_add(cur, "final", json_object_new_boolean(co->kill));
		json_object_object_add(cur, "elapsed_ms",
				       json_object_new_int64(elapsed_ms(&co->t0)));
		json_object_object_add(cur, "pending", json_object_new_int64(co->pending));
	}
	json_object_object_add(m, "checkpoint", cur);
	json_object_object_add(m, "last_error",
			       co->last_error[0] ? json_object_new_string(co->last_error) : NULL);
	if (co->last_error[0]) {
		json_object_object_add(m, "last_error_time",
				       json_object_new_int64(co->last_error_time));
		json_object_object_add(m, "last_error_gen",
				       json_object_new_int64(co->last_error_gen));
	}
	json_object_object_add(m, "keep", json_object_new_int(co->conf.keep));
	json_object_object_add(m, "phase_timeout", json_object_new_int(co->conf.phase_timeout_s));
	/* The WRITE bound really applied: this generation's while it writes,
	 * else the one the next checkpoint gets (derived unless the site set
	 * it), not the floor phase_timeout holds then. */
	json_object_object_add(m, "write_timeout",
			       json_object_new_int(co->phase == AGENT_PHASE_WRITE
							   ? co->timeout_s
							   : agent_coord_write_bound(co)));
	json_object_object_add(m, "write_timeout_derived",
			       json_object_new_boolean(!co->conf.phase_fixed));
	return m;
}
