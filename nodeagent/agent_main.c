/* agent_main.c - ckpt-agent: the agent of one computation directory.
 *
 * Standalone mode: started on demand by the ckpt CLI (double-forked, stderr
 * to DIR/agent.log), one per DIR (a flock()ed DIR/agent.lock), it serves the
 * local socket until no process has been registered for CKPT_AGENT_IDLE_EXIT
 * seconds, then removes its socket and lock and exits.
 *
 * Job mode (--job JOBID, started by the SPANK plugin on the batch host):
 * the job's coordinator. No idle exit; it follows the job through
 * slurmctld (agent_job.c) and exits when the job stops running, starts
 * again, or its final checkpoint is done and its processes are gone. It
 * also listens on TCP (agent_link.c) for the node agents and for ckpt CLIs
 * of any node, and records that address in DIR/coord.json and
 * ~/.slurm-ckpt/jobs/JOBID.json (agent_addr.h), and its options in
 * DIR/coord.args: should it die, the node agent of the batch host starts
 * it again with them (agent_respawn.h).
 *
 * Node mode (--job JOBID --relay COORD_DIR --node NAME, started by the
 * plugin on every node with tasks): serves the processes of that node on
 * its own socket (its --dir is COORD_DIR/nodes/NAME) and forwards them to
 * the coordinator (agent_uplink.c); ends with the job, once its processes
 * have left and their requests are answered (at most
 * AGENT_RELAY_LINGER_MAX s later): the coordinator's last "exit" may still
 * be on its way when slurmctld already shows the job requeued.
 */
#define LOG_PREFIX ""
#include "agent_addr.h"
#include "agent_backend.h"
#include "agent_conn.h"
#include "agent_coord.h"
#include "agent_dir.h"
#include "agent_job.h"
#include "agent_link.h"
#include "agent_respawn.h"
#include "agent_store.h"
#include "agent_timeout.h"
#include "agent_uplink.h"
#include "msg.h"
#include "ckpt_config.h"
#include "layout.h"
#include "log.h"
#include "timestr.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <slurm/slurm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Seconds without any registered process before the agent ends itself. */
#define AGENT_IDLE_EXIT_DEFAULT 30
/* Seconds each of PREPARE and WRITE may take: a large image on a slow file
 * system takes minutes, a hung process must not stall the agent forever. */
#define AGENT_PHASE_TIMEOUT_DEFAULT 600
/* Longest a node agent stays after its job stopped running, for its
 * processes to leave: Slurm kills them within KillWait (30 s by default),
 * plus UnkillableStepTimeout (60 s) for one stuck in the kernel. */
#define AGENT_RELAY_LINGER_MAX 120
/* Exit status of processes stopped by "ckpt checkpoint --kill": distinct
 * from success and from common failures so scripts can loop on restart. */
#define AGENT_EXIT_CHECKPOINTED 85

struct agent {
	struct event_base *base;	/* the loop */
	struct agent_dir ad;		/* names of socket, lock, log */
	int lock_fd;			/* holds the flock() on ad.lock */
	int listen_fd;			/* listening socket until handed over */
	struct agent_coord *co;		/* the coordinator */
	struct agent_listener *l;	/* the socket transport */
	struct event *idle_timer;	/* ends the agent when idle */
	struct event *interval_timer;	/* periodic checkpoints */
	struct event *sig_term;		/* SIGTERM: clean shutdown */
	struct event *sig_int;		/* SIGINT: clean shutdown (foreground use) */
	int idle_exit_s;		/* idle time before exit */
	long interval_s;		/* periodic checkpoint interval, 0 = none */
	bool interval_fixed;		/* --interval given: DIR/interval is not read */
	int64_t interval_next;		/* Unix time of the next periodic one, 0 = none */
	struct agent_job *job;		/* job mode, NULL in standalone mode */
	struct agent_backend be;	/* what the local socket feeds: co or up */
	struct agent_uplink *up;	/* node mode: the link to the coordinator */
	struct agent_link_server *link; /* coordinator: its TCP port */
	char coord_rec[PATH_MAX + 16];	/* coordinator: DIR/coord.json, "" if none */
	char registry[PATH_MAX];	/* coordinator: ~/.slurm-ckpt/jobs/J.json */
	char node[AGENT_NODE_MAX + 1];	/* --node */
	const char *relay_dir;		/* node mode: the coordinator's directory */
	bool relay_ending;		/* node mode: the job stopped running */
	struct event *linger_timer;	/* node mode: bounds the wait for the processes */
};

/* The command line. */
struct agent_opts {
	const char *dir;    /* --dir */
	int ready_fd;	    /* --ready-fd, -1 when absent */
	uint32_t job_id;    /* --job, 0 in standalone mode */
	int64_t margin_s;   /* --margin */
	int keep;	    /* --keep, 0: $CKPT_KEEP */
	int level;	    /* --level, 0: $CKPT_LEVEL */
	int64_t interval_s; /* --interval, -1: DIR/interval */
	const char *relay;  /* --relay COORD_DIR: node mode */
	const char *node;   /* --node */
	int port;	    /* --port: the coordinator's first TCP port, 0: any */
	int port_hi;	    /* ... and its last */
	int timeout_s;	    /* --phase-timeout, 0: $CKPT_PHASE_TIMEOUT or derived */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ckpt-agent --dir DIR [--ready-fd FD] [--keep N] [--level L]\n"
		"                  [--interval T] [--job JOBID [--margin SECONDS] [--port P[-Q]]\n"
		"                  [--relay COORD_DIR --node NAME]] [--phase-timeout S]\n"
		"\n"
		"The checkpoint agent of the computation in DIR. Normally started by\n"
		"'ckpt run' or 'ckpt restart', or by the SPANK plugin with --job; logs\n"
		"to stderr.\n"
		"\n"
		"  --dir DIR       checkpoint directory of the computation\n"
		"  --ready-fd FD   write \"ready\" (or the error) to FD once listening\n"
		"  --keep N        committed generations kept (default $CKPT_KEEP or %d)\n"
		"  --level L       zstd level of the images (default $CKPT_LEVEL or 3)\n"
		"  --interval T    checkpoint every T (seconds, 1h30m, HH:MM:SS) instead of\n"
		"                  reading DIR/interval\n"
		"  --job JOBID     job mode: follow Slurm job JOBID, checkpoint it before\n"
		"                  its time limit or when preempted, then requeue it\n"
		"  --margin S      job mode: final checkpoint at least S seconds before\n"
		"                  the end (default %d; more if checkpoints take long)\n"
		"  --port P[-Q]    job mode: TCP port(s) of the coordinator (default: any)\n"
		"  --relay CDIR    node mode: forward this node's processes to the\n"
		"                  coordinator of job JOBID, whose directory is CDIR\n"
		"  --node NAME     the Slurm node name of this node\n"
		"  --phase-timeout S  bound in seconds on each of PREPARE and WRITE\n"
		"                  (default $CKPT_PHASE_TIMEOUT; else PREPARE %d, WRITE\n"
		"                  from the last checkpoint's size and bandwidth, %d-%d)\n"
		"  -h, --help      this help\n"
		"\n"
		"Environment: CKPT_AGENT_IDLE_EXIT (seconds, default %d; not in job mode),\n"
		"CKPT_PHASE_TIMEOUT (seconds, see --phase-timeout), CKPT_KEEP (default %d),\n"
		"CKPT_JOB_POLL (job mode: seconds between looks at the job, default %d),\n"
		"SLURM_CONF.\n",
		PROTO_GEN_KEEP_DEFAULT, AGENT_JOB_MARGIN_DEFAULT, AGENT_PHASE_TIMEOUT_DEFAULT,
		AGENT_PHASE_TIMEOUT_DEFAULT, AGENT_WRITE_TIMEOUT_CAP, AGENT_IDLE_EXIT_DEFAULT,
		PROTO_GEN_KEEP_DEFAULT, AGENT_JOB_POLL_DEFAULT);
}

/* Timestamps every log line: the log file outlives many runs. */
static void agent_log_backend(enum log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char stamp[32];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ ckpt-agent[%d]: %s: %s\n", stamp, ts.tv_nsec / 1000000,
		(int)getpid(), names[level], msg);
}

/* Why env_long() refused a value, for the ready report. */
static char env_why[256];

/* Integer >= @min from the environment, @def when unset; -1 when invalid. */
static long env_long(const char *name, long def, long min)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < min) {
		snprintf(env_why, sizeof(env_why), "%s=\"%.64s\" is not an integer >= %ld", name, v,
			 min);
		log_err("%s", env_why);
		return -1;
	}
	return n;
}

/* Takes the lock of the directory. A lock file is removed by the agent that
 * held it; one opened just before that removal is stale, hence the inode
 * comparison and the retry. Returns 0, -EWOULDBLOCK when another agent runs,
 * or -errno. */
static int agent_lock(struct agent *a)
{
	struct stat fst;
	struct stat pst;
	char pid[32];
	int fd;

	for (;;) {
		fd = open(a->ad.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (fstat(fd, &fst) == 0 && stat(a->ad.lock, &pst) == 0 &&
		    fst.st_ino == pst.st_ino && fst.st_dev == pst.st_dev)
			break;
		close(fd);
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0 && write(fd, pid, strlen(pid)) < 0)
		log_perror("writing %s", a->ad.lock);
	a->lock_fd = fd;
	return 0;
}

static void agent_unlock(struct agent *a)
{
	if (a->lock_fd < 0)
		return;
	/* Unlink while still holding the lock: see agent_lock(). */
	unlink(a->ad.lock);
	close(a->lock_fd);
	a->lock_fd = -1;
}

/* Binds and listens. A socket file at the path is stale (we hold the lock
 * of DIR) unless someone answers on it: then it is the agent of another
 * directory whose hashed fallback name collides with ours, and removing it
 * would cut that agent off. */
static int agent_listen(struct agent *a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;
	int ret;
	FILE *f;

	memcpy(sa.sun_path, a->ad.sock, strlen(a->ad.sock) + 1);
	fd = agent_dir_connect(&a->ad);
	if (fd >= 0 || fd == -EPERM) {
		if (fd >= 0)
			close(fd);
		log_err("%s is in use by another agent; remove it or use another directory",
			a->ad.sock);
		return -EADDRINUSE;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(a->ad.sock);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		ret = -errno;
		log_perror("cannot listen on %s", a->ad.sock);
		close(fd);
		return ret;
	}
	f = fopen(a->ad.addr, "we");
	if (f) {
		fprintf(f, "%s\n", a->ad.sock);
		fclose(f);
	}
	a->listen_fd = fd;
	return 0;
}

static void agent_unlisten(struct agent *a)
{
	agent_listener_free(a->l);
	a->l = NULL;
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	a->listen_fd = -1;
	unlink(a->ad.sock);
	unlink(a->ad.addr);
}

/* Reads DIR/interval (written by 'ckpt run --interval'); 0 when absent. */
static long agent_read_interval(struct agent *a)
{
	FILE *f = fopen(a->ad.interval, "re");
	long s = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld", &s) != 1 || s < 0) {
		log_warn("%s: not a number of seconds, ignored", a->ad.interval);
		s = 0;
	}
	fclose(f);
	return s;
}

static void agent_arm_interval(struct agent *a)
{
	struct timeval tv = { .tv_sec = a->interval_s };

	evtimer_del(a->interval_timer);
	a->interval_next = 0;
	if (a->interval_s > 0 && !evtimer_add(a->interval_timer, &tv))
		a->interval_next = (int64_t)time(NULL) + a->interval_s;
}

static void agent_on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)what;
	log_info("no process registered for %d s, exiting", a->idle_exit_s);
	event_base_loopbreak(a->base);
}

static void agent_on_interval(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)what;
	if (!agent_coord_busy(a->co) && agent_coord_part_count(a->co))
		agent_coord_request(a->co, "interval", false, NULL);
	agent_arm_interval(a);
}

static void agent_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct agent *a = arg;

	(void)what;
	log_info("signal %d, exiting", (int)sig);
	event_base_loopbreak(a->base);
}

/* A node agent whose job stopped running exits once nothing passes
 * through it any more. The coordinator requeues the job before it tells the
 * processes to exit and answers their SIGTERM requests: a node agent that
 * left at the first poll showing the job PENDING cut those off (CI, issue 12
 * item 10). Its processes leave by themselves after the exit, or are killed
 * by Slurm, which starts the job again only once they are gone. */
static void agent_relay_maybe_exit(struct agent *a)
{
	unsigned int nparts;
	unsigned int nreqs;

	if (!a->relay_ending)
		return;
	if (agent_uplink_busy(a->up, &nparts, &nreqs)) {
		log_debug("job over; still %u process(es) registered and %u request(s) "
			  "unanswered",
			  nparts, nreqs);
		return;
	}
	log_info("job over and no process or request left: exiting");
	evtimer_del(a->linger_timer);
	event_base_loopbreak(a->base);
}

static void agent_on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;
	unsigned int nparts;
	unsigned int nreqs;

	(void)fd;
	(void)what;
	agent_uplink_busy(a->up, &nparts, &nreqs);
	log_warn("job over %d s ago and still %u process(es) registered, %u request(s) "
		 "unanswered: exiting anyway (see the coordinator's log and the job's "
		 "processes on node %s)",
		 AGENT_RELAY_LINGER_MAX, nparts, nreqs, a->node);
	event_base_loopbreak(a->base);
}

/* The link to the coordinator is down and a new attempt failed: on the
 * batch host, start the coordinator again if its process is gone. */
static void agent_on_coord_unreachable(void *arg)
{
	struct agent *a = arg;

	if (a->relay_ending || !a->job)
		return;
	agent_respawn_coord(a->relay_dir, agent_job_job_id(a->job), a->node,
			    agent_job_batch_host(a->job));
}

/* Test only (CKPT_FAULT=agent_relay_poll_at_exit): the node agent looks at the
 * job right before it passes on an exit. */
static void agent_on_relay_exit(void *arg)
{
	struct agent *a = arg;

	if (a->job)
		agent_job_poll_now(a->job);
}

/* Job mode wants the agent gone. Requesters still waiting get their
 * answer first: the loop runs on for a moment to send it; a node agent
 * waits for its processes and requests (agent_relay_maybe_exit()). */
static void agent_on_job_end(void *arg)
{
	struct agent *a = arg;
	struct timeval flush = { .tv_sec = 1 };
	struct timeval linger = { .tv_sec = AGENT_RELAY_LINGER_MAX };
	unsigned int nparts;
	unsigned int nreqs;

	if (!a->co) {
		a->relay_ending = true;
		if (agent_uplink_busy(a->up, &nparts, &nreqs)) {
			log_info("staying until %u process(es) have left and %u request(s) are "
				 "answered (at most %d s)",
				 nparts, nreqs, AGENT_RELAY_LINGER_MAX);
			evtimer_add(a->linger_timer, &linger);
		}
		agent_relay_maybe_exit(a);
		return;
	}
	agent_coord_stop(a->co, "the job is no longer running");
	event_base_loopexit(a->base, &flush);
}

/* Participant count changed: idle timer runs only while nobody is
 * registered (not in job mode: the job decides); a new program may come
 * with a new interval. */
static void agent_on_count(void *arg, unsigned int n)
{
	struct agent *a = arg;
	struct timeval tv = { .tv_sec = a->idle_exit_s };

	if (!a->co) {
		/* A node agent: the coordinator plans, the job ends us. */
		agent_relay_maybe_exit(a);
		return;
	}
	if (n) {
		evtimer_del(a->idle_timer);
		if (!a->interval_fixed)
			a->interval_s = agent_read_interval(a);
		agent_arm_interval(a);
		return;
	}
	evtimer_del(a->interval_timer);
	a->interval_next = 0;
	/* A job agent stays after its final checkpoint until the job stops
	 * running: the batch shell's SIGTERM, which the requeue sends, still
	 * asks it and should get "committed", not a closed socket. */
	if (!a->job)
		evtimer_add(a->idle_timer, &tv);
	else if (agent_job_finished(a->job))
		log_info("final checkpoint done and every process gone; exiting when the job "
			 "stops running");
}

/* The next checkpoint planned: a periodic one or the job's final one. */
static int64_t agent_next_checkpoint(const struct agent *a)
{
	int64_t final = a->job ? agent_job_deadline(a->job) : 0;
	int64_t next = a->interval_next;

	if (final && (!next || final < next))
		next = final;
	return next;
}

static void agent_status_extra(void *arg, struct json_object *m)
{
	struct agent *a = arg;

	json_object_object_add(m, "dir", json_object_new_string(a->ad.dir));
	json_object_object_add(m, "socket", json_object_new_string(a->ad.sock));
	json_object_object_add(m, "agent_pid", json_object_new_int(getpid()));
	json_object_object_add(m, "interval", json_object_new_int64(a->interval_s));
	json_object_object_add(m, "idle_exit", json_object_new_int(a->idle_exit_s));
	json_object_object_add(m, "version", json_object_new_string(CKPT_VERSION));
	json_object_object_add(
		m, "next_checkpoint",
		agent_next_checkpoint(a) ? json_object_new_int64(agent_next_checkpoint(a)) : NULL);
	if (a->job)
		agent_job_status(a->job, m);
	else
		json_object_object_add(m, "job", NULL);
}

/* ---- the coordinator as the local socket's and the TCP port's backend --- */

static void coord_be_part_add(void *ctx, struct agent_part *part)
{
	struct agent *a = ctx;

	agent_coord_part_add(a->co, part);
}

static void coord_be_part_remove(void *ctx, struct agent_part *part)
{
	struct agent *a = ctx;

	agent_coord_part_remove(a->co, part);
}

static int coord_be_part_message(void *ctx, struct agent_part *part, const struct json_object *msg)
{
	struct agent *a = ctx;

	return agent_coord_on_message(a->co, part, msg);
}

/* Final checkpoints of a job go through job mode (requeue, comment);
 * outside a job, a SIGTERM is the process's to take. */
static int coord_be_request(void *ctx, const struct agent_request *req, struct agent_waiter *w,
			    char *why, size_t why_size)
{
	struct agent *a = ctx;
	bool sigterm = !strcmp(req->trigger, "sigterm");

	if (a->job && (req->requeue || sigterm || !strcmp(req->trigger, "signal")))
		return agent_job_request(a->job, req, w, why, why_size);
	if (sigterm) {
		snprintf(why, why_size, "not a Slurm job: SIGTERM is delivered to the process");
		return PROTO_E_STATE;
	}
	if (req->requeue) {
		snprintf(why, why_size, "--requeue needs a Slurm job; this agent serves %s",
			 a->ad.dir);
		return PROTO_E_STATE;
	}
	if (agent_coord_request(a->co, req->trigger, req->kill, w)) {
		snprintf(why, why_size,
			 "no process is registered with the agent: nothing to checkpoint");
		return PROTO_E_STATE;
	}
	return 0;
}

static void coord_be_waiter_cancel(void *ctx, struct agent_waiter *w)
{
	struct agent *a = ctx;

	agent_coord_waiter_cancel(a->co, w);
}

static struct json_object *coord_be_status(void *ctx)
{
	struct agent *a = ctx;
	struct json_object *m = agent_coord_status(a->co);

	if (m)
		agent_status_extra(a, m);
	return m;
}

static bool coord_be_part_busy(void *ctx, const struct agent_part *part)
{
	struct agent *a = ctx;

	return agent_coord_busy(a->co) && part->state != AGENT_PART_IDLE;
}

static const struct agent_backend_ops coord_backend_ops = {
	.part_add = coord_be_part_add,
	.part_remove = coord_be_part_remove,
	.part_message = coord_be_part_message,
	.request = coord_be_request,
	.waiter_cancel = coord_be_waiter_cancel,
	.status = coord_be_status,
	.part_busy = coord_be_part_busy,
};

/* Coordinator: records its options, for the batch host's node agent to
 * start it again with them should it die (agent_respawn.h). */
static int agent_publish_args(const struct agent *a, const struct agent_opts *o)
{
	const struct agent_coord_opts co = {
		.job_id = o->job_id,
		.margin_s = o->margin_s,
		.keep = o->keep,
		.level = o->level,
		.interval_s = o->interval_s,
		.port_lo = o->port,
		.port_hi = o->port_hi,
		.phase_timeout_s = o->timeout_s,
	};
	struct agent_coord_argv argv;

	return agent_respawn_args_write(a->ad.dir, agent_coord_args(&co, &argv));
}

/* Coordinator: listens on TCP and says where, for node agents and CLIs. */
static int agent_publish(struct agent *a, const struct agent_opts *o)
{
	struct agent_addr rec = { .job = o->job_id, .pid = getpid() };
	int ret;

	a->link = agent_link_server_new(a->base, &a->be, o->job_id, o->port, o->port_hi, &rec.port);
	if (!a->link)
		return -EADDRNOTAVAIL;
	if (agent_link_server_host(a->link))
		snprintf(rec.host, sizeof(rec.host), "%s", agent_link_server_host(a->link));
	else if (gethostname(rec.host, sizeof(rec.host) - 1))
		snprintf(rec.host, sizeof(rec.host), "localhost");
	snprintf(rec.dir, sizeof(rec.dir), "%s", a->ad.dir);
	snprintf(a->coord_rec, sizeof(a->coord_rec), "%s/%s", a->ad.dir, AGENT_ADDR_FILE);
	ret = agent_addr_write(a->coord_rec, &rec);
	if (ret) {
		log_err("cannot write %s: %s", a->coord_rec, strerror(-ret));
		a->coord_rec[0] = '\0';
		return ret;
	}
	ret = agent_publish_args(a, o);
	if (ret)
		log_warn("cannot record the coordinator's options in %s/%s: %s; a coordinator "
			 "that dies will not be started again",
			 a->ad.dir, AGENT_RESPAWN_ARGS_FILE, strerror(-ret));
	/* The registry only serves `ckpt status JOBID`: not fatal. */
	ret = agent_addr_registry_path(getuid(), o->job_id, a->registry, sizeof(a->registry));
	if (!ret)
		ret = agent_addr_write(a->registry, &rec);
	if (ret) {
		log_warn("cannot record job %u in %s: %s; `ckpt status %u` will not find it",
			 o->job_id, a->registry[0] ? a->registry : "the home directory",
			 strerror(-ret), o->job_id);
		a->registry[0] = '\0';
	}
	log_info("coordinator of job %u listening on %s:%d", o->job_id, rec.host, rec.port);
	return 0;
}

static void agent_unpublish(struct agent *a)
{
	agent_link_server_free(a->link);
	a->link = NULL;
	if (a->coord_rec[0])
		agent_addr_remove(a->coord_rec);
	if (a->registry[0])
		agent_addr_remove(a->registry);
}

static int agent_events(struct agent *a)
{
	struct timeval tv = { .tv_sec = a->idle_exit_s };

	a->idle_timer = evtimer_new(a->base, agent_on_idle, a);
	a->interval_timer = evtimer_new(a->base, agent_on_interval, a);
	a->sig_term = evsignal_new(a->base, SIGTERM, agent_on_signal, a);
	a->sig_int = evsignal_new(a->base, SIGINT, agent_on_signal, a);
	a->linger_timer = evtimer_new(a->base, agent_on_linger, a);
	if (!a->idle_timer || !a->interval_timer || !a->sig_term || !a->sig_int || !a->linger_timer)
		return -ENOMEM;
	evsignal_add(a->sig_term, NULL);
	evsignal_add(a->sig_int, NULL);
	/* Idle from the start: a CLI that started us and then died must not
	 * leave an agent behind forever. A job agent ends with its job. */
	if (!a->job)
		evtimer_add(a->idle_timer, &tv);
	return 0;
}

static void agent_free_events(struct agent *a)
{
	if (a->idle_timer)
		event_free(a->idle_timer);
	if (a->interval_timer)
		event_free(a->interval_timer);
	if (a->sig_term)
		event_free(a->sig_term);
	if (a->sig_int)
		event_free(a->sig_int);
	if (a->linger_timer)
		event_free(a->linger_timer);
}

static void ready_report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ready_report(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && write(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0)
		log_perror("writing to the ready fd");
	close(fd);
}

/* Integer option in [@min, @max]; logs and returns -EINVAL otherwise. */
static int opt_long(const char *opt, const char *arg, long min, long max, long *val)
{
	char *end;

	errno = 0;
	*val = strtol(arg, &end, 10);
	if (errno || end == arg || *end || *val < min || *val > max) {
		log_err("--%s: \"%s\" is not an integer in [%ld, %ld]", opt, arg, min, max);
		return -EINVAL;
	}
	return 0;
}

/* "P" or "LO-HI" within 1..65535. */
static int opt_port_range(const char *arg, int *lo, int *hi)
{
	char *end;
	long a;
	long b;

	errno = 0;
	a = strtol(arg, &end, 10);
	b = a;
	if (!errno && *end == '-')
		b = strtol(end + 1, &end, 10);
	if (errno || end == arg || *end || a < 1 || b > 65535 || b < a) {
		log_err("--port: \"%s\" is not a TCP port or a range LOW-HIGH", arg);
		return -EINVAL;
	}
	*lo = (int)a;
	*hi = (int)b;
	return 0;
}

static int agent_parse_one(int c, struct agent_opts *o)
{
	long v = 0;
	int ret = 0;

	switch (c) {
	case 'd':
		o->dir = optarg;
		break;
	case 'r':
		ret = opt_long("ready-fd", optarg, 0, INT_MAX, &v);
		o->ready_fd = (int)v;
		break;
	case 'j':
		ret = opt_long("job", optarg, 1, UINT32_MAX - 1, &v);
		o->job_id = (uint32_t)v;
		break;
	case 'm':
		ret = opt_long("margin", optarg, 0, INT32_MAX, &v);
		o->margin_s = v;
		break;
	case 'k':
		ret = opt_long("keep", optarg, 1, 1000000, &v);
		o->keep = (int)v;
		break;
	case 'l':
		/* zstd's levels; 0 would mean "default" to the coordinator. */
		ret = opt_long("level", optarg, 1, 22, &v);
		o->level = (int)v;
		break;
	case 'R':
		o->relay = optarg;
		break;
	case 'N':
		if (!*optarg || strlen(optarg) > AGENT_NODE_MAX) {
			log_err("--node: \"%s\" is not a node name", optarg);
			ret = -EINVAL;
		}
		o->node = optarg;
		break;
	case 'P':
		ret = opt_port_range(optarg, &o->port, &o->port_hi);
		break;
	case 'T':
		/* One day at most: a bound, not a way to switch it off. */
		ret = opt_long("phase-timeout", optarg, 1, 86400, &v);
		o->timeout_s = (int)v;
		break;
	case 'i':
		if (proto_interval_parse(optarg, &o->interval_s) || o->interval_s < 0) {
			log_err("--interval: \"%s\" is not a duration (seconds, 1h30m, "
				"HH:MM:SS)",
				optarg);
			ret = -EINVAL;
		}
		break;
	default:
		usage(stderr);
		ret = -EINVAL;
	}
	return ret;
}

static int agent_parse(int argc, char **argv, struct agent_opts *o)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "job", required_argument, NULL, 'j' },
		{ "margin", required_argument, NULL, 'm' },
		{ "keep", required_argument, NULL, 'k' },
		{ "level", required_argument, NULL, 'l' },
		{ "interval", required_argument, NULL, 'i' },
		{ "relay", required_argument, NULL, 'R' },
		{ "node", required_argument, NULL, 'N' },
		{ "port", required_argument, NULL, 'P' },
		{ "phase-timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool margin_set = false;
	int c;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (agent_parse_one(c, o))
			return -EINVAL;
		margin_set |= c == 'm';
	}
	if (optind < argc) {
		log_err("unexpected argument \"%s\"", argv[optind]);
		return -EINVAL;
	}
	if (!o->dir) {
		log_err("--dir DIR is required");
		return -EINVAL;
	}
	if ((margin_set || o->relay || o->port) && !o->job_id) {
		log_err("--margin, --port and --relay need --job");
		return -EINVAL;
	}
	if (o->relay && !o->node) {
		log_err("--relay needs --node");
		return -EINVAL;
	}
	return 0;
}

/* Reads the tunables from the environment and the command line into
 * @conf and @a. Returns 0, or -EINVAL with the reason in env_why. */
static int agent_config(struct agent *a, const struct agent_opts *o, struct agent_coord_conf *conf)
{
	long v;

	v = env_long("CKPT_AGENT_IDLE_EXIT", AGENT_IDLE_EXIT_DEFAULT, 1);
	a->idle_exit_s = (int)v;
	/* Set by the site (option or environment): the bound of both phases.
	 * Else the default bounds PREPARE and is the floor of WRITE's. */
	const char *env_timeout = getenv("CKPT_PHASE_TIMEOUT");

	conf->phase_fixed = o->timeout_s > 0 || (env_timeout && *env_timeout);
	if (v >= 0)
		v = o->timeout_s > 0
			    ? o->timeout_s
			    : env_long("CKPT_PHASE_TIMEOUT", AGENT_PHASE_TIMEOUT_DEFAULT, 1);
	conf->phase_timeout_s = (int)v;
	if (v >= 0)
		v = o->keep ? o->keep : env_long("CKPT_KEEP", PROTO_GEN_KEEP_DEFAULT, 1);
	conf->keep = (int)v;
	conf->level = o->level;
	a->interval_fixed = o->interval_s >= 0;
	a->interval_s = a->interval_fixed ? (long)o->interval_s : 0;
	return v < 0 ? -EINVAL : 0;
}

/* Job mode: the first look at the job decides whether we start at all. */
static int agent_job_setup(struct agent *a, const struct agent_opts *o, int ready_fd)
{
	struct agent_job_conf jc = { .job_id = o->job_id, .margin_s = o->margin_s };
	char why[256];
	long poll;
	int ret;

	poll = env_long("CKPT_JOB_POLL", AGENT_JOB_POLL_DEFAULT, 1);
	if (poll < 0) {
		ready_report(ready_fd, "error: %s\n", env_why);
		return -EINVAL;
	}
	jc.poll_s = (int)poll;
	a->job = agent_job_new(a->base, a->co, a->ad.dir, &jc, agent_on_job_end, a);
	if (!a->job) {
		ready_report(ready_fd, "error: out of memory\n");
		return -ENOMEM;
	}
	ret = agent_job_start(a->job, why, sizeof(why));
	if (ret) {
		log_err("%s", why);
		ready_report(ready_fd, "error: %s\n", why);
	}
	return ret;
}

/* libslurm retries an unreadable slurm.conf for a minute before it gives
 * up: say at once what is wrong with an explicit SLURM_CONF. */
static int agent_slurm_init(int ready_fd)
{
	const char *conf = getenv("SLURM_CONF");

	if (conf && *conf && access(conf, R_OK) < 0) {
		int err = errno;

		log_err("SLURM_CONF=%s: %s", conf, strerror(err));
		ready_report(ready_fd, "error: SLURM_CONF=%s: %s\n", conf, strerror(err));
		return -err;
	}
	slurm_init(NULL);
	return 0;
}

/* The coordinator (standalone, job mode) or the link to it (node mode). */
static int agent_backend_setup(struct agent *a, const struct agent_opts *o,
			       const struct agent_coord_conf *conf)
{
	snprintf(a->node, sizeof(a->node), "%s", o->node ? o->node : "");
	if (o->relay) {
		a->up = agent_uplink_new(a->base, o->relay, o->job_id, o->node);
		if (!a->up)
			return -ENOMEM;
		a->be = *agent_uplink_backend(a->up);
		agent_uplink_set_count_cb(a->up, agent_on_count, a);
		agent_uplink_set_exit_hook(a->up, agent_on_relay_exit, a);
		agent_uplink_set_lost_cb(a->up, agent_on_coord_unreachable, a);
		a->relay_dir = o->relay;
		return 0;
	}
	a->co = agent_coord_new(a->base, a->ad.dir, conf);
	if (!a->co)
		return -ENOMEM;
	a->be.ops = &coord_backend_ops;
	a->be.ctx = a;
	agent_coord_set_count_cb(a->co, agent_on_count, a);
	return 0;
}

int main(int argc, char **argv)
{
	struct agent a = { .lock_fd = -1, .listen_fd = -1 };
	struct agent_coord_conf conf = { .exit_status = AGENT_EXIT_CHECKPOINTED };
	struct agent_opts o = {
		.ready_fd = -1,
		.margin_s = AGENT_JOB_MARGIN_DEFAULT,
		.interval_s = -1,
	};
	int ready_fd;
	int ret;

	log_set_ident("ckpt-agent");
	if (!isatty(STDERR_FILENO))
		log_set_backend(agent_log_backend);
	ret = agent_parse(argc, argv, &o);
	ready_fd = o.ready_fd;
	if (ret) {
		ready_report(ready_fd, "error: invalid command line (see the log)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	umask(077);

	if (agent_config(&a, &o, &conf)) {
		ready_report(ready_fd, "error: %s\n", env_why);
		return 2;
	}
	/* Reads SLURM_CONF (or the default slurm.conf); before any other call. */
	if (o.job_id) {
		ret = agent_slurm_init(ready_fd);
		if (ret)
			return 1;
	}

	ret = agent_dir_resolve(o.dir, true, &a.ad);
	if (ret) {
		log_err("checkpoint directory %s: %s", o.dir, strerror(-ret));
		ready_report(ready_fd, "error: checkpoint directory %s: %s\n", o.dir,
			     strerror(-ret));
		return 1;
	}
	ret = agent_lock(&a);
	if (ret == -EWOULDBLOCK) {
		log_info("another agent already serves %s", a.ad.dir);
		ready_report(ready_fd, "busy\n");
		return 3;
	}
	if (ret) {
		log_err("cannot lock %s: %s", a.ad.lock, strerror(-ret));
		ready_report(ready_fd, "error: cannot lock %s: %s\n", a.ad.lock, strerror(-ret));
		return 1;
	}
	ret = agent_listen(&a);
	if (ret) {
		ready_report(ready_fd, "error: cannot listen on %s: %s\n", a.ad.sock,
			     strerror(-ret));
		goto out_unlock;
	}
	if (!o.relay) {
		int64_t next = 1;

		/* Numbers of the removed gen-N.tmp stay used: a coordinator
		 * that died left processes still answering for them. */
		if (agent_store_next_gen(a.ad.dir, 0, &next) == 0)
			conf.gen_floor = next - 1;
		agent_store_discard_stale(a.ad.dir);
	}
	a.base = event_base_new();
	ret = a.base ? agent_backend_setup(&a, &o, &conf) : -ENOMEM;
	if (!ret && o.job_id) {
		ret = agent_job_setup(&a, &o, ready_fd);
		if (ret)
			goto out_free;
	}
	if (!ret)
		ret = agent_events(&a);
	if (!ret) {
		a.l = agent_listener_new(a.base, a.listen_fd, &a.be, a.node);
		if (a.l)
			a.listen_fd = -1;
		else
			ret = -ENOMEM;
	}
	if (!ret && o.job_id && !o.relay)
		ret = agent_publish(&a, &o);
	if (ret) {
		log_err("cannot set up the agent: %s", strerror(-ret));
		ready_report(ready_fd, "error: cannot set up the agent: %s\n", strerror(-ret));
		goto out_free;
	}
	if (o.relay) {
		log_info("node agent of %s for job %u: serving %s, coordinator in %s", a.node,
			 o.job_id, a.ad.sock, o.relay);
	} else {
		/* The bounds really applied, the derived WRITE one included. */
		char bounds[256];

		agent_coord_describe_bounds(a.co, bounds, sizeof(bounds));
		if (o.job_id)
			log_info("serving %s on %s for job %u (phase timeouts: %s; keep %d, "
				 "interval %ld s)",
				 a.ad.dir, a.ad.sock, o.job_id, bounds, conf.keep, a.interval_s);
		else
			log_info("serving %s on %s (idle exit %d s, phase timeouts: %s; keep %d)",
				 a.ad.dir, a.ad.sock, a.idle_exit_s, bounds, conf.keep);
	}
	ready_report(ready_fd, "ready %d\n", (int)getpid());
	event_base_dispatch(a.base);
	ret = 0;

out_free:
	agent_unpublish(&a);
	agent_unlisten(&a);
	agent_job_free(a.job);
	agent_uplink_free(a.up);
	agent_coord_free(a.co);
	agent_free_events(&a);
	if (a.base)
		event_base_free(a.base);
out_unlock:
	agent_unlock(&a);
	log_info("stopped");
	return ret ? 1 : 0;
}
