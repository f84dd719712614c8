/* agent_uplink.c - a node agent's link to the coordinator (agent_uplink.h). */
#define LOG_PREFIX "uplink: "
#include "agent_uplink.h"

#include "agent_addr.h"
#include "agent_backend.h"
#include "agent_coord.h"
#include "agent_wire.h"
#include "fault.h"
#include "log.h"
#include "msg.h"

#include <errno.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Seconds between connection attempts: the first retry is quick (the
 * coordinator may still be starting), later ones back off to this. */
#define UPLINK_RETRY_MAX 10
/* Bound on connecting and on the hello, in milliseconds. */
#define UPLINK_CONNECT_TIMEOUT_MS 5000

/* A local process, as the coordinator knows it: by its id on the link. */
struct uplink_part {
	struct agent_part *part; /* owned by the local transport */
	int64_t id;		 /* "part" on the link */
	int64_t gen;		 /* generation it is in, -1 when none */
	struct uplink_part *next;
};

/* A request sent up, waiting for its answer. */
struct uplink_req {
	struct agent_waiter *w; /* the local requester */
	int64_t id;		/* "req" on the link */
	struct uplink_req *next;
};

struct agent_uplink {
	struct event_base *base;		/* the loop */
	char coord_dir[PATH_MAX];		/* where coord.json is */
	uint32_t job;				/* the job */
	char node[AGENT_NODE_MAX + 1];		/* this node */
	struct agent_backend be;		/* what the local socket calls */
	struct agent_wire *wire;		/* the link, NULL while down */
	struct event *retry;			/* next connection attempt */
	int retry_s;				/* current back-off */
	char last_why[PATH_MAX + 320];		/* last connection failure, logged once */
	struct uplink_part *parts;		/* local processes */
	unsigned int nparts;			/* their number */
	int64_t next_id;			/* ids for parts and requests */
	struct uplink_req *reqs;		/* requests in flight */
	unsigned int nreqs;			/* their number */
	void (*count_cb)(void *, unsigned int); /* processes or requests changed */
	void *count_arg;			/* passed to @count_cb */
	void (*lost_cb)(void *);		/* a connection attempt failed */
	void *lost_arg;				/* passed to @lost_cb */
	void (*exit_hook)(void *);		/* before an "exit" is passed on */
	void *exit_arg;				/* passed to @exit_hook */
};

static struct uplink_part *uplink_find_part(struct agent_uplink *u, const struct agent_part *p)
{
	struct uplink_part *up;

	for (up = u->parts; up; up = up->next)
		if (up->part == p)
			return up;
	return NULL;
}

static struct uplink_part *uplink_find_id(struct agent_uplink *u, int64_t id)
{
	struct uplink_part *up;

	for (up = u->parts; up; up = up->next)
		if (up->id == id)
			return up;
	return NULL;
}

/* Says that the processes or the requests in flight changed: a node agent
 * whose job ended waits for both to drain before it exits. */
static void uplink_count_changed(struct agent_uplink *u)
{
	if (u->count_cb)
		u->count_cb(u->count_arg, u->nparts);
}

/* Sends @msg tagged with "@key": @id. Returns 0 or -errno (-ENOTCONN while
 * the link is down). */
static int uplink_send(struct agent_uplink *u, struct json_object *msg, const char *key, int64_t id)
{
	if (!u->wire)
		return -ENOTCONN;
	if (key && proto_msg_set_int(msg, key, id))
		return -ENOMEM;
	return agent_wire_send(u->wire, msg);
}

static void uplink_register(struct agent_uplink *u, struct uplink_part *up)
{
	struct json_object *m = agent_part_to_register(up->part);

	if (m)
		uplink_send(u, m, "part", up->id);
	json_object_put(m);
}

/* Ends every request in flight with @reason. */
static void uplink_fail_requests(struct agent_uplink *u, const char *reason)
{
	while (u->reqs) {
		struct uplink_req *r = u->reqs;

		u->reqs = r->next;
		r->w->queued = false;
		u->nreqs--;
		r->w->done(r->w->arg, PROTO_E_ABORTED, -1, NULL, reason);
		free(r);
	}
	uplink_count_changed(u);
}

/* The link went down: processes stopped for a checkpoint must not wait
 * for a "write" that will never come. */
static void uplink_abort_local(struct agent_uplink *u, const char *reason)
{
	struct uplink_part *up;

	for (up = u->parts; up; up = up->next) {
		struct json_object *m;

		if (up->gen < 0)
			continue;
		m = proto_msg_new_gen(PROTO_MSG_ABORT, up->gen);
		if (m && !proto_msg_set_str(m, "reason", reason))
			up->part->ops->send(up->part, m);
		json_object_put(m);
		up->gen = -1;
	}
}

static void uplink_schedule(struct agent_uplink *u)
{
	struct timeval tv = { .tv_sec = u->retry_s };

	evtimer_add(u->retry, &tv);
	u->retry_s = u->retry_s * 2 > UPLINK_RETRY_MAX ? UPLINK_RETRY_MAX : u->retry_s * 2;
}

static void uplink_down(struct agent_uplink *u, const char *why)
{
	char reason[320];

	snprintf(reason, sizeof(reason), "lost the job's coordinator: %s",
		 why ? why : "it closed the connection");
	log_warn("%s", reason);
	agent_wire_free(u->wire);
	u->wire = NULL;
	uplink_abort_local(u, reason);
	uplink_fail_requests(u, reason);
	u->retry_s = 1;
	uplink_schedule(u);
}

/* An answer to one of our requests. */
static void uplink_on_answer(struct agent_uplink *u, const struct json_object *msg, int64_t id)
{
	struct uplink_req **pp;
	const char *text = NULL;
	const char *path = "";
	int64_t gen = -1;
	int code = 0;

	for (pp = &u->reqs; *pp && (*pp)->id != id; pp = &(*pp)->next)
		;
	if (!*pp)
		return; /* its requester went away */
	struct uplink_req *r = *pp;

	*pp = r->next;
	if (proto_msg_is(msg, PROTO_MSG_ERROR)) {
		if (proto_msg_get_error(msg, &code, &text) || !code)
			code = PROTO_E_INTERNAL;
	} else if (proto_msg_get_int_opt(msg, "gen", -1, INT64_MAX, -1, &gen) ||
		   proto_msg_get_str_opt(msg, "path", 0, "", &path)) {
		code = PROTO_E_PROTOCOL;
		text = proto_msg_why();
	}
	u->nreqs--;
	r->w->queued = false;
	r->w->done(r->w->arg, code, gen, path, text);
	free(r);
	uplink_count_changed(u);
}

/* A message of the coordinator for one local process: passed on without
 * its "part" tag; the generation it is in is tracked for uplink_down(). */
static int uplink_on_part_msg(struct agent_uplink *u, const struct json_object *msg, int64_t id)
{
	struct json_object *copy = NULL;
	struct uplink_part *up = uplink_find_id(u, id);
	enum proto_msg_type type = proto_msg_type(msg);
	int64_t gen = -1;

	if (!up)
		return 0; /* it left meanwhile */
	proto_msg_get_int_opt(msg, "gen", -1, INT64_MAX, -1, &gen);
	/* Test only: look at the job right between the coordinator's requeue
	 * and this exit, the moment a poll found in CI (issue 12, item 10). */
	if (type == PROTO_MSG_T_EXIT && u->exit_hook && proto_fault("agent_relay_poll_at_exit"))
		u->exit_hook(u->exit_arg);
	if (type == PROTO_MSG_T_PREPARE || type == PROTO_MSG_T_SAVE_PIPES ||
	    type == PROTO_MSG_T_WRITE)
		up->gen = gen;
	else if (type == PROTO_MSG_T_RESUME || type == PROTO_MSG_T_EXIT ||
		 type == PROTO_MSG_T_ABORT)
		up->gen = -1;
	if (json_object_deep_copy((struct json_object *)msg, &copy, NULL) || !copy)
		return -ENOMEM;
	json_object_object_del(copy, "part");
	up->part->ops->send(up->part, copy);
	json_object_put(copy);
	return 0;
}

static int uplink_on_frame(void *arg, const struct json_object *msg)
{
	struct agent_uplink *u = arg;
	int64_t id;

	if (proto_msg_has(msg, "part")) {
		if (proto_msg_get_int_range(msg, "part", 0, INT64_MAX, &id)) {
			log_warn("coordinator: %s", proto_msg_why());
			return -EPROTO;
		}
		return uplink_on_part_msg(u, msg, id);
	}
	if (proto_msg_has(msg, "req")) {
		if (proto_msg_get_int_range(msg, "req", 0, INT64_MAX, &id)) {
			log_warn("coordinator: %s", proto_msg_why());
			return -EPROTO;
		}
		uplink_on_answer(u, msg, id);
		return 0;
	}
	log_warn("coordinator sent \"%s\" for nobody",
		 json_object_get_string(json_object_object_get(msg, "type")));
	return 0;
}

static void uplink_on_closed(void *arg, const char *why)
{
	uplink_down(arg, why);
}

static const struct agent_wire_ops uplink_wire_ops = {
	.frame = uplink_on_frame,
	.closed = uplink_on_closed,
};

static void uplink_connect(struct agent_uplink *u)
{
	char path[PATH_MAX + sizeof(AGENT_ADDR_FILE) + 1];
	char why[PATH_MAX + 320] = "";
	struct agent_addr a;
	struct uplink_part *up;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", u->coord_dir, AGENT_ADDR_FILE);
	fd = agent_addr_read(path, &a);
	if (fd == 0 && a.job != u->job)
		fd = -EPROTO;
	if (fd)
		snprintf(why, sizeof(why), "no usable %s yet (%s)", path, strerror(-fd));
	else
		/* We run as the job's user: so must the coordinator. */
		fd = agent_addr_connect(&a, "agent", u->node, getuid(), UPLINK_CONNECT_TIMEOUT_MS,
					why, sizeof(why));
	if (fd < 0) {
		/* Said once per distinct reason: retries come every 10 s. */
		if (strcmp(why, u->last_why) != 0)
			log_warn("cannot reach the coordinator of job %u: %s; retrying", u->job,
				 why);
		snprintf(u->last_why, sizeof(u->last_why), "%s", why);
		uplink_schedule(u);
		if (u->lost_cb)
			u->lost_cb(u->lost_arg);
		return;
	}
	u->wire = agent_wire_new(u->base, fd, &uplink_wire_ops, u);
	if (!u->wire) {
		log_err("out of memory setting up the link");
		uplink_schedule(u);
		return;
	}
	u->last_why[0] = '\0';
	u->retry_s = 1;
	log_info("connected to the coordinator of job %u at %s:%d", u->job, a.host, a.port);
	for (up = u->parts; up; up = up->next)
		uplink_register(u, up);
}

static void uplink_on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	uplink_connect(arg);
}

/* ---- the backend the local socket uses ---------------------------------- */

static void be_part_add(void *ctx, struct agent_part *part)
{
	struct agent_uplink *u = ctx;
	struct uplink_part *up = calloc(1, sizeof(*up));

	if (!up) {
		log_err("out of memory: %s is not forwarded", part->ops->name(part));
		return;
	}
	up->part = part;
	up->id = u->next_id++;
	up->gen = -1;
	up->next = u->parts;
	u->parts = up;
	u->nparts++;
	uplink_register(u, up);
	uplink_count_changed(u);
}

static void be_part_remove(void *ctx, struct agent_part *part)
{
	struct agent_uplink *u = ctx;
	struct uplink_part **pp;

	for (pp = &u->parts; *pp && (*pp)->part != part; pp = &(*pp)->next)
		;
	if (!*pp)
		return;
	struct uplink_part *up = *pp;
	struct json_object *m = proto_msg_new(PROTO_MSG_LEAVE);

	/* A process that died without exiting is missing, not ended. */
	if (m && part->lost &&
	    json_object_object_add(m, "lost", json_object_new_boolean(true)) < 0) {
		json_object_put(m);
		m = NULL;
	}
	if (m)
		uplink_send(u, m, "part", up->id);
	json_object_put(m);
	*pp = up->next;
	free(up);
	u->nparts--;
	uplink_count_changed(u);
}

static int be_part_message(void *ctx, struct agent_part *part, const struct json_object *msg)
{
	struct agent_uplink *u = ctx;
	struct uplink_part *up = uplink_find_part(u, part);
	struct json_object *copy = NULL;
	enum proto_msg_type type = proto_msg_type(msg);
	int64_t gen = -1;
	int ret;

	if (type != PROTO_MSG_T_READY && type != PROTO_MSG_T_WRITTEN && type != PROTO_MSG_T_ERROR &&
	    type != PROTO_MSG_T_PIPES_SAVED) {
		log_warn("%s sent unexpected message type \"%s\"", part->ops->name(part),
			 json_object_get_string(json_object_object_get(msg, "type")));
		return -EPROTO;
	}
	if (!up)
		return 0;
	/* An answer for a generation this process is no longer in (the link
	 * broke under it and it was told "abort"): a coordinator started
	 * again after dying never ran that generation and would take the
	 * answer for a protocol error. */
	if (!proto_msg_get_int_opt(msg, "gen", 0, INT64_MAX, -1, &gen) && gen >= 0 &&
	    gen != up->gen) {
		log_debug("%s: answer for generation %lld, which it is no longer in, dropped",
			  part->ops->name(part), (long long)gen);
		return 0;
	}
	if (json_object_deep_copy((struct json_object *)msg, &copy, NULL) || !copy)
		return -ENOMEM;
	ret = uplink_send(u, copy, "part", up->id);
	json_object_put(copy);
	/* Down: uplink_down() already aborted this process's checkpoint. */
	return ret == -ENOMEM ? ret : 0;
}

static int be_request(void *ctx, const struct agent_request *req, struct agent_waiter *w, char *why,
		      size_t why_size)
{
	struct agent_uplink *u = ctx;
	struct json_object *m = proto_msg_new(PROTO_MSG_CHECKPOINT);
	struct uplink_req *r = calloc(1, sizeof(*r));
	int ret = -ENOMEM;

	if (m && r && !proto_msg_set_str(m, "trigger", req->trigger) &&
	    !proto_msg_set_bool(m, "kill", req->kill) &&
	    !proto_msg_set_bool(m, "requeue", req->requeue)) {
		r->id = u->next_id++;
		ret = uplink_send(u, m, "req", r->id);
	}
	json_object_put(m);
	if (ret) {
		free(r);
		snprintf(why, why_size, "%s",
			 ret == -ENOTCONN ? "the job's coordinator is not reachable from this node"
					  : strerror(-ret));
		return ret == -ENOTCONN ? PROTO_E_STATE : PROTO_E_INTERNAL;
	}
	r->w = w;
	w->queued = true;
	r->next = u->reqs;
	u->reqs = r;
	u->nreqs++;
	return 0;
}

static void be_waiter_cancel(void *ctx, struct agent_waiter *w)
{
	struct agent_uplink *u = ctx;
	struct uplink_req **pp;

	for (pp = &u->reqs; *pp; pp = &(*pp)->next) {
		if ((*pp)->w == w) {
			struct uplink_req *r = *pp;

			*pp = r->next;
			w->queued = false;
			free(r);
			u->nreqs--;
			uplink_count_changed(u);
			return;
		}
	}
}

/* What this node agent knows: its processes and its link. The job's full
 * status is the coordinator's (ckpt status JOBID). */
static struct json_object *be_status(void *ctx)
{
	struct agent_uplink *u = ctx;
	struct json_object *m = proto_msg_new(PROTO_MSG_STATUS_REPLY);
	struct json_object *procs = json_object_new_array();
	struct uplink_part *up;

	if (!m || !procs) {
		json_object_put(m);
		json_object_put(procs);
		return NULL;
	}
	for (up = u->parts; up; up = up->next) {
		struct json_object *o = json_object_new_object();

		if (!o)
			break;
		json_object_object_add(o, "pid", json_object_new_int64(up->part->pid));
		json_object_object_add(o, "exe", json_object_new_string(up->part->exe));
		json_object_object_add(o, "step", json_object_new_int64(up->part->step));
		json_object_object_add(o, "rank", json_object_new_int64(up->part->rank));
		json_object_object_add(o, "node", json_object_new_string(u->node));
		json_object_object_add(
			o, "state", json_object_new_string(up->gen < 0 ? "running" : "checkpoint"));
		json_object_array_add(procs, o);
	}
	json_object_object_add(m, "processes", procs);
	json_object_object_add(m, "node", json_object_new_string(u->node));
	json_object_object_add(m, "role", json_object_new_string("node agent"));
	json_object_object_add(m, "coordinator_connected",
			       json_object_new_boolean(u->wire != NULL));
	return m;
}

static bool be_part_busy(void *ctx, const struct agent_part *part)
{
	struct uplink_part *up = uplink_find_part(ctx, part);

	return up && up->gen >= 0;
}

static const struct agent_backend_ops uplink_backend_ops = {
	.part_add = be_part_add,
	.part_remove = be_part_remove,
	.part_message = be_part_message,
	.request = be_request,
	.waiter_cancel = be_waiter_cancel,
	.status = be_status,
	.part_busy = be_part_busy,
};

struct agent_uplink *agent_uplink_new(struct event_base *base, const char *coord_dir,
				      uint32_t job_id, const char *node)
{
	struct agent_uplink *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->base = base;
	snprintf(u->coord_dir, sizeof(u->coord_dir), "%s", coord_dir);
	snprintf(u->node, sizeof(u->node), "%s", node);
	u->job = job_id;
	u->be.ops = &uplink_backend_ops;
	u->be.ctx = u;
	u->retry_s = 1;
	u->retry = evtimer_new(base, uplink_on_retry, u);
	if (!u->retry) {
		free(u);
		return NULL;
	}
	uplink_connect(u);
	return u;
}

void agent_uplink_free(struct agent_uplink *u)
{
	if (!u)
		return;
	u->count_cb = NULL; /* the agent is going: nothing to decide any more */
	agent_wire_free(u->wire);
	u->wire = NULL;
	uplink_fail_requests(u, "the node agent is stopping");
	while (u->parts) {
		struct uplink_part *up = u->parts;

		u->parts = up->next;
		free(up);
	}
	event_free(u->retry);
	free(u);
}

const struct agent_backend *agent_uplink_backend(struct agent_uplink *u)
{
	return &u->be;
}

void agent_uplink_set_count_cb(struct agent_uplink *u, void (*fn)(void *arg, unsigned int n),
			       void *arg)
{
	u->count_cb = fn;
	u->count_arg = arg;
}

void agent_uplink_set_exit_hook(struct agent_uplink *u, void (*fn)(void *arg), void *arg)
{
	u->exit_hook = fn;
	u->exit_arg = arg;
}

bool agent_uplink_busy(const struct agent_uplink *u, unsigned int *nparts, unsigned int *nreqs)
{
	*nparts = u->nparts;
	*nreqs = u->nreqs;
	return u->nparts || u->nreqs;
}

void agent_uplink_set_lost_cb(struct agent_uplink *u, void (*fn)(void *arg), void *arg)
{
	u->lost_cb = fn;
	u->lost_arg = arg;
}
