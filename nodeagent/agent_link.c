/* agent_link.c - the coordinator's TCP port (agent_link.h). */
#define LOG_PREFIX "link: "
#include "agent_link.h"

#include "agent_backend.h"
#include "agent_coord.h"
#include "agent_wire.h"
#include "auth.h"
#include "log.h"
#include "msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <slurm/slurm.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Longest munge credential accepted in a hello: munge's are ~200 bytes. */
#define LINK_CRED_MAX 4096
/* Largest frame a peer may send before its hello is accepted: the hello
 * with the longest credential fits; the normal 1 MiB limit would let each
 * anonymous peer make us hold a megabyte. */
#define LINK_HELLO_FRAME_MAX (2 * LINK_CRED_MAX)
/* Connections waiting for their hello, at most: the node agents of a
 * 64-node job reconnecting at once fit; beyond, the oldest is dropped, so
 * an anonymous flood holds at most this many fds and ~12 KiB each. */
#define LINK_HELLO_CONNS_MAX 64
/* Seconds a peer has to complete its hello: a legitimate one is one round
 * trip and one munge call, well under a second even on a loaded node. */
#define LINK_HELLO_TIMEOUT_S 10
/* Seconds accepting pauses after accept() failed for lack of fds or
 * memory: libevent would otherwise retry (and fail) in a busy loop. */
#define LINK_ACCEPT_PAUSE_S 1
/* Seconds between two log lines about refused or failed connections: an
 * anonymous peer must not be able to fill the job's agent.log. */
#define LINK_LOG_PERIOD_S 10

/* A constant's value as a string literal, for messages. */
#define LINK_STR_(x) #x
#define LINK_STR(x)  LINK_STR_(x)

enum link_role {
	LINK_HELLO = 0, /* waiting for "register" */
	LINK_AGENT,	/* a node agent */
	LINK_CLIENT,	/* a CLI */
};

struct link_conn;

/* A process of another node, as its node agent forwards it. */
struct link_part {
	struct agent_part part; /* the coordinator's view */
	int64_t id;		/* the node agent's "part" id */
	struct link_conn *conn; /* its node agent */
	char name[224];		/* "pid N (exe) on NODE", + why when lost */
	struct link_part *next; /* the connection's list */
};

/* A checkpoint request in flight, answered with its "req" id. */
struct link_req {
	struct agent_waiter waiter; /* the backend tells us the outcome */
	int64_t id;		    /* requester's "req", -1 when none given */
	struct link_conn *conn;	    /* where the answer goes */
	struct link_req *next;	    /* the connection's list */
};

struct link_conn {
	struct agent_link_server *s;	    /* owner */
	struct agent_wire *wire;	    /* the socket, framed */
	struct event *hello_timer;	    /* closes it if no hello came in time */
	enum link_role role;		    /* after the hello */
	char node[AGENT_NODE_MAX + 1];	    /* a node agent's node */
	char name[128];			    /* for logs: "agent of cn2", "client 10.0.0.5:4242" */
	char peer[PROTO_AUTH_PEER_MAX + 1]; /* "10.0.0.5:4242", bound into our proof */
	char purpose[PROTO_AUTH_PURPOSE_MAX + 1]; /* "coord:<jobid>@<our address>" */
	struct link_part *parts;		  /* processes it forwards */
	struct link_req *reqs;			  /* its requests in flight */
	struct link_conn *prev;			  /* server's list */
	struct link_conn *next;			  /* server's list */
};

/* Log lines about one kind of trouble, at most one per LINK_LOG_PERIOD_S:
 * the first at once, those that follow counted and summed up later. */
struct link_ratelog {
	const char *what;    /* "refused unauthenticated connections", ... */
	time_t last;	     /* when the last line was written */
	unsigned int count;  /* occurrences not logged yet */
	char latest[256];    /* the last of them */
	struct event *flush; /* writes the sum once the period is over */
};

struct agent_link_server {
	struct event_base *base;	 /* the loop */
	struct evconnlistener *lev;	 /* accepts */
	struct event *resume;		 /* re-enables accepting after a pause */
	const struct agent_backend *be;	 /* the coordinator */
	uint32_t job;			 /* the job */
	struct link_conn *conns;	 /* open connections, newest first */
	unsigned int nhello;		 /* of them waiting for their hello */
	struct link_ratelog drops;	 /* unauthenticated peers dropped */
	struct link_ratelog accept_errs; /* accept() failures */
	char host[INET_ADDRSTRLEN];	 /* address bound, "" for every one */
};

static void link_ratelog_write(struct link_ratelog *rl)
{
	if (rl->count == 1)
		log_warn("%s", rl->latest);
	else
		log_warn("%u %s in the last %d s; the latest: %s", rl->count, rl->what,
			 LINK_LOG_PERIOD_S, rl->latest);
	rl->count = 0;
	rl->last = time(NULL);
	evtimer_del(rl->flush);
}

static void link_ratelog_on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct link_ratelog *rl = arg;

	(void)fd;
	(void)what;
	if (rl->count)
		link_ratelog_write(rl);
}

/* Notes one occurrence, described by @fmt: logged now if the period since
 * the last line is over, else counted and summed up when it is. */
__attribute__((format(printf, 2, 3))) static void link_ratelog_note(struct link_ratelog *rl,
								    const char *fmt, ...)
{
	time_t now = time(NULL);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rl->latest, sizeof(rl->latest), fmt, ap);
	va_end(ap);
	rl->count++;
	if (now - rl->last >= LINK_LOG_PERIOD_S) {
		link_ratelog_write(rl);
	} else if (!evtimer_pending(rl->flush, NULL)) {
		struct timeval tv = { .tv_sec = LINK_LOG_PERIOD_S - (now - rl->last) };

		evtimer_add(rl->flush, &tv);
	}
}

static void link_part_free(struct link_conn *c, struct link_part *lp)
{
	const struct agent_backend *be = c->s->be;
	struct link_part **pp;

	for (pp = &c->parts; *pp; pp = &(*pp)->next) {
		if (*pp == lp) {
			*pp = lp->next;
			break;
		}
	}
	be->ops->part_remove(be->ctx, &lp->part);
	free(lp);
}

static void link_req_free(struct link_conn *c, struct link_req *r)
{
	struct link_req **pp;

	for (pp = &c->reqs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	c->s->be->ops->waiter_cancel(c->s->be->ctx, &r->waiter);
	free(r);
}

/* The one place a connection ends: its processes leave the coordinator
 * (aborting a generation they were in), its requests are forgotten. */
static void link_close(struct link_conn *c, const char *why)
{
	struct agent_link_server *s = c->s;

	if (c->role == LINK_HELLO && why)
		link_ratelog_note(&s->drops, "dropped %s before its hello: %s", c->name, why);
	else if (why)
		log_warn("dropping %s: %s", c->name, why);
	else if (c->role == LINK_AGENT)
		log_info("%s disconnected", c->name);
	/* An abort this causes names the lost agent, not only its processes;
	 * they did not end: the coordinator still counts them as the job's. */
	for (struct link_part *lp = c->parts; lp; lp = lp->next) {
		lp->part.lost = true;
		snprintf(lp->name, sizeof(lp->name),
			 "pid %d (%.64s) on %s, whose node agent was lost", (int)lp->part.pid,
			 strrchr(lp->part.exe, '/') + 1, c->node);
	}
	while (c->parts)
		link_part_free(c, c->parts);
	while (c->reqs)
		link_req_free(c, c->reqs);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->role == LINK_HELLO)
		s->nhello--;
	if (c->hello_timer)
		event_free(c->hello_timer);
	agent_wire_free(c->wire);
	free(c);
}

/* Refuses and closes once the refusal is sent. */
static int link_refuse(struct link_conn *c, int code, const char *text, const char *re)
{
	agent_wire_send_error(c->wire, code, text, re);
	agent_wire_finish(c->wire);
	link_ratelog_note(&c->s->drops, "refused %s: %s", c->name, text);
	return 0;
}

/* Sends @msg with "@key": @id added, then takes the field off again: the
 * coordinator may send the same message to other participants. */
static int link_send_tagged(struct link_conn *c, struct json_object *msg, const char *key,
			    int64_t id)
{
	int ret;

	if (id < 0)
		return agent_wire_send(c->wire, msg);
	ret = proto_msg_set_int(msg, key, id);
	if (!ret)
		ret = agent_wire_send(c->wire, msg);
	json_object_object_del(msg, key);
	return ret;
}

static int link_part_send(struct agent_part *part, struct json_object *msg)
{
	struct link_part *lp = part->transport;

	return link_send_tagged(lp->conn, msg, "part", lp->id);
}

static const char *link_part_name(const struct agent_part *part)
{
	const struct link_part *lp = part->transport;

	return lp->name;
}

static const struct agent_part_ops link_part_ops = {
	.send = link_part_send,
	.name = link_part_name,
};

static int hello_error_code(int ret)
{
	switch (ret) {
	case -EALREADY:
		return PROTO_E_REPLAY;
	case -EACCES:
		return PROTO_E_PERM;
	case -ENOMEM:
	case -ECONNREFUSED:
		return PROTO_E_INTERNAL;
	default:
		return PROTO_E_AUTH;
	}
}

static const char *hello_error_text(int ret)
{
	switch (ret) {
	case -EALREADY:
		return "munge credential replayed: refused";
	case -EKEYEXPIRED:
		return "munge credential expired (check the clocks of both nodes)";
	case -EACCES:
		return "not the job's owner nor root";
	case -ECONNREFUSED:
		return "the coordinator cannot reach munged";
	case -ENOMEM:
		return "out of memory";
	default:
		return "invalid munge credential, or made for another job";
	}
}

static int link_on_hello(struct link_conn *c, const struct json_object *msg)
{
	struct json_object *ok;
	const char *role;
	const char *cred;
	const char *node = "";
	char nonce[PROTO_AUTH_NONCE_LEN + 1];
	char *proof = NULL;
	uid_t uid = (uid_t)-1;
	int ret;

	if (proto_msg_type(msg) != PROTO_MSG_T_REGISTER)
		return link_refuse(c, PROTO_E_AUTH, "the first message must be \"register\"",
				   json_object_get_string(json_object_object_get(msg, "type")));
	if (proto_msg_get_str(msg, "role", 16, &role) ||
	    proto_msg_get_str(msg, "cred", LINK_CRED_MAX, &cred) ||
	    proto_msg_get_str_opt(msg, "node", AGENT_NODE_MAX, "", &node))
		return link_refuse(c, PROTO_E_PROTOCOL, proto_msg_why(), "register");
	if (strcmp(role, "agent") != 0 && strcmp(role, "client") != 0)
		return link_refuse(c, PROTO_E_PROTOCOL, "\"role\" must be \"agent\" or \"client\"",
				   "register");
	if (!strcmp(role, "agent") && !*node)
		return link_refuse(c, PROTO_E_PROTOCOL, "a node agent must say its \"node\"",
				   "register");
	ret = proto_auth_check_hello_nonce(cred, c->purpose, getuid(), &uid, NULL, nonce);
	if (ret) {
		char text[256];

		if (uid == (uid_t)-1)
			snprintf(text, sizeof(text), "%s", hello_error_text(ret));
		else
			snprintf(text, sizeof(text), "%s (uid %u)", hello_error_text(ret),
				 (unsigned)uid);
		return link_refuse(c, hello_error_code(ret), text, "register");
	}
	/* Our side of the mutual authentication: the client accepts us only
	 * with this (proto/auth.h). */
	ret = proto_auth_make_proof(c->purpose, nonce, c->peer, &proof);
	if (ret)
		return link_refuse(c, PROTO_E_INTERNAL,
				   "the coordinator cannot make a munge credential to prove itself",
				   "register");
	ok = proto_msg_new(PROTO_MSG_REGISTER_OK);
	ret = !ok || proto_msg_set_str(ok, "proof", proof) ? -ENOMEM : agent_wire_send(c->wire, ok);
	free(proof);
	if (ret) {
		json_object_put(ok);
		return -ENOMEM;
	}
	json_object_put(ok);
	/* Authenticated: the deadline and the small frame limit are over. */
	c->s->nhello--;
	evtimer_del(c->hello_timer);
	agent_wire_set_limit(c->wire, 0);
	if (!strcmp(role, "agent")) {
		c->role = LINK_AGENT;
		snprintf(c->node, sizeof(c->node), "%s", node);
		snprintf(c->name, sizeof(c->name), "node agent of %s", node);
		log_info("%s connected (uid %u)", c->name, (unsigned)uid);
	} else {
		c->role = LINK_CLIENT;
		log_debug("%s authenticated as uid %u", c->name, (unsigned)uid);
	}
	return 0;
}

static struct link_part *link_part_find(struct link_conn *c, int64_t id)
{
	struct link_part *lp;

	for (lp = c->parts; lp; lp = lp->next)
		if (lp->id == id)
			return lp;
	return NULL;
}

static int link_on_register(struct link_conn *c, const struct json_object *msg, int64_t id)
{
	struct link_part *lp;
	const char *why;

	if (link_part_find(c, id)) {
		log_warn("%s registered process %lld twice", c->name, (long long)id);
		return -EPROTO;
	}
	lp = calloc(1, sizeof(*lp));
	if (!lp)
		return -ENOMEM;
	if (agent_part_from_register(&lp->part, msg, &why)) {
		log_warn("%s: bad register: %s", c->name, why);
		free(lp);
		return -EPROTO;
	}
	lp->id = id;
	lp->conn = c;
	lp->part.ops = &link_part_ops;
	lp->part.transport = lp;
	/* The pid the node agent saw with SO_PEERCRED; the node is the link's. */
	lp->part.pid = (pid_t)lp->part.claimed_pid;
	snprintf(lp->part.node, sizeof(lp->part.node), "%s", c->node);
	snprintf(lp->name, sizeof(lp->name), "pid %d (%.64s) on %s", (int)lp->part.pid,
		 strrchr(lp->part.exe, '/') + 1, c->node);
	lp->next = c->parts;
	c->parts = lp;
	c->s->be->ops->part_add(c->s->be->ctx, &lp->part);
	return 0;
}

/* Messages about one process of a node agent. */
static int link_on_part_msg(struct link_conn *c, const struct json_object *msg)
{
	const struct agent_backend *be = c->s->be;
	enum proto_msg_type type = proto_msg_type(msg);
	struct link_part *lp;
	int64_t id;

	if (proto_msg_get_int_range(msg, "part", 0, INT64_MAX, &id)) {
		log_warn("%s: %s", c->name, proto_msg_why());
		return -EPROTO;
	}
	if (type == PROTO_MSG_T_REGISTER)
		return link_on_register(c, msg, id);
	lp = link_part_find(c, id);
	if (!lp) {
		/* A process that left while its answer was on the way. */
		log_debug("%s: message for unknown process %lld ignored", c->name, (long long)id);
		return 0;
	}
	if (type == PROTO_MSG_T_LEAVE) {
		struct json_object *lost = NULL;

		/* Killed, not exited: its task is still one of the job's. */
		if (json_object_object_get_ex(msg, "lost", &lost) &&
		    json_object_is_type(lost, json_type_boolean) && json_object_get_boolean(lost)) {
			lp->part.lost = true;
			snprintf(lp->name, sizeof(lp->name),
				 "pid %d (%.64s) on %s, which ended without exiting",
				 (int)lp->part.pid, strrchr(lp->part.exe, '/') + 1, c->node);
		}
		link_part_free(c, lp);
		return 0;
	}
	if (be->ops->part_message(be->ctx, &lp->part, msg)) {
		/* That process misbehaved, not its node agent: drop only it. */
		struct json_object *m =
			proto_msg_new_error(PROTO_E_PROTOCOL, "unexpected message", NULL);

		if (m)
			link_send_tagged(c, m, "part", id);
		json_object_put(m);
		link_part_free(c, lp);
	}
	return 0;
}

static void link_req_done(void *arg, int err, int64_t gen, const char *path, const char *reason)
{
	struct link_req *r = arg;
	struct link_conn *c = r->conn;
	struct json_object *m = agent_outcome_msg(err, gen, path, reason);

	if (m)
		link_send_tagged(c, m, "req", r->id);
	json_object_put(m);
	link_req_free(c, r);
}

static int link_on_checkpoint(struct link_conn *c, const struct json_object *msg, int64_t id)
{
	const struct agent_backend *be = c->s->be;
	char why[PROTO_MSG_TEXT_MAX];
	struct agent_request req;
	struct link_req *r;
	const char *bad;
	int code;

	if (agent_request_from_msg(msg, &req, &bad)) {
		log_warn("%s: bad checkpoint request: %s", c->name, bad);
		return -EPROTO;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->id = id;
	r->conn = c;
	r->waiter.done = link_req_done;
	r->waiter.arg = r;
	r->next = c->reqs;
	c->reqs = r;
	log_info("checkpoint requested by %s (trigger %s%s%s)", c->name, req.trigger,
		 req.kill ? ", kill" : "", req.requeue ? ", requeue" : "");
	code = be->ops->request(be->ctx, &req, &r->waiter, why, sizeof(why));
	if (code) {
		struct json_object *m = agent_outcome_msg(code, -1, NULL, why);

		if (m)
			link_send_tagged(c, m, "req", id);
		json_object_put(m);
		link_req_free(c, r);
	}
	return 0;
}

static int link_on_status(struct link_conn *c, int64_t id)
{
	const struct agent_backend *be = c->s->be;
	struct json_object *m = be->ops->status(be->ctx);
	int ret;

	if (!m)
		return -ENOMEM;
	ret = link_send_tagged(c, m, "req", id);
	json_object_put(m);
	return ret;
}

static int link_on_frame(void *arg, const struct json_object *msg)
{
	struct link_conn *c = arg;
	enum proto_msg_type type = proto_msg_type(msg);
	int64_t req;

	if (c->role == LINK_HELLO)
		return link_on_hello(c, msg);
	if (proto_msg_get_int_opt(msg, "req", 0, INT64_MAX, -1, &req)) {
		log_warn("%s: %s", c->name, proto_msg_why());
		return -EPROTO;
	}
	switch (type) {
	case PROTO_MSG_T_CHECKPOINT:
		return link_on_checkpoint(c, msg, req);
	case PROTO_MSG_T_STATUS:
		return link_on_status(c, req);
	case PROTO_MSG_T_REGISTER:
	case PROTO_MSG_T_LEAVE:
	case PROTO_MSG_T_READY:
	case PROTO_MSG_T_WRITTEN:
	case PROTO_MSG_T_PIPES_SAVED:
	case PROTO_MSG_T_ERROR:
		if (c->role == LINK_AGENT)
			return link_on_part_msg(c, msg);
		break;
	case PROTO_MSG_T_HEARTBEAT:
		return 0;
	default:
		break;
	}
	log_warn("%s sent unexpected \"%s\"", c->name,
		 json_object_get_string(json_object_object_get(msg, "type")));
	return -EPROTO;
}

static void link_on_closed(void *arg, const char *why)
{
	link_close(arg, why);
}

static const struct agent_wire_ops link_wire_ops = {
	.frame = link_on_frame,
	.closed = link_on_closed,
};

static void link_on_hello_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	link_close(arg, "no hello within " LINK_STR(LINK_HELLO_TIMEOUT_S) " s");
}

/* Makes room for one more peer waiting for its hello by dropping the
 * oldest such peer: a flood then costs a legitimate peer its place only
 * if the flood outpaces one hello round trip. */
static void link_make_room(struct agent_link_server *s)
{
	struct link_conn *oldest = NULL;

	if (s->nhello < LINK_HELLO_CONNS_MAX)
		return;
	for (struct link_conn *c = s->conns; c; c = c->next)
		if (c->role == LINK_HELLO)
			oldest = c;
	if (!oldest)
		return;
	link_close(oldest, "too many connections waiting for their hello (at most " LINK_STR(
				   LINK_HELLO_CONNS_MAX) ")");
}

static void link_on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
			   int salen, void *arg)
{
	struct agent_link_server *s = arg;
	struct timeval tv = { .tv_sec = LINK_HELLO_TIMEOUT_S };
	struct sockaddr_storage local;
	socklen_t local_len = sizeof(local);
	struct link_conn *c;
	char addr[INET6_ADDRSTRLEN] = "?";
	int one = 1;

	(void)lev;
	(void)salen;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, addr, sizeof(addr));
	/* Small request/answer frames: no Nagle delay on the checkpoint path. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	link_make_room(s);
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_err("out of memory accepting a connection from %s", addr);
		close(fd);
		return;
	}
	c->s = s;
	if (proto_auth_sockaddr_str(sa, c->peer, sizeof(c->peer)))
		snprintf(c->peer, sizeof(c->peer), "%s", addr);
	/* The address this client reached us at: its hello must name it. */
	if (getsockname(fd, (struct sockaddr *)&local, &local_len) ||
	    proto_auth_coord_purpose(s->job, (struct sockaddr *)&local, c->purpose,
				     sizeof(c->purpose)))
		snprintf(c->purpose, sizeof(c->purpose), "coord:%u@?", s->job);
	snprintf(c->name, sizeof(c->name), "client %s", c->peer);
	c->hello_timer = evtimer_new(s->base, link_on_hello_timeout, c);
	c->wire = agent_wire_new(s->base, fd, &link_wire_ops, c);
	if (!c->wire || !c->hello_timer || evtimer_add(c->hello_timer, &tv)) {
		log_err("out of memory accepting a connection from %s", addr);
		agent_wire_free(c->wire);
		if (c->hello_timer)
			event_free(c->hello_timer);
		free(c);
		return;
	}
	agent_wire_set_limit(c->wire, LINK_HELLO_FRAME_MAX);
	s->nhello++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
}

static void link_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct agent_link_server *s = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(s->lev);
}

/* accept() failed with something else than a peer giving up (libevent
 * retries those itself): out of fds (EMFILE/ENFILE) or kernel memory.
 * The pending connection stays queued, so retrying at once would spin:
 * pause accepting, and say so once per period. */
static void link_on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct agent_link_server *s = arg;
	struct timeval tv = { .tv_sec = LINK_ACCEPT_PAUSE_S };
	int err = EVUTIL_SOCKET_ERROR();

	evconnlistener_disable(lev);
	evtimer_add(s->resume, &tv);
	link_ratelog_note(&s->accept_errs,
			  "cannot accept a connection on the coordinator's port: %s; not "
			  "accepting for " LINK_STR(LINK_ACCEPT_PAUSE_S) " s",
			  evutil_socket_error_to_string(err));
}

/* Finds the IPv4 address Slurm knows job @job_id's batch host by (its
 * NodeAddr, else its name), the address the job's other nodes reach it at.
 * Returns 0, or -errno with @why said. */
static int link_slurm_addr(uint32_t job_id, struct in_addr *out, char *why, size_t size)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	job_info_msg_t *jobs = NULL;
	node_info_msg_t *nodes = NULL;
	struct addrinfo *res = NULL;
	const char *host = NULL;
	char node[128] = "";
	int ret = -ENOENT;
	int gai;

	if (slurm_load_job(&jobs, job_id, SHOW_ALL) != SLURM_SUCCESS) {
		snprintf(why, size, "job %u: %s", job_id, slurm_strerror(slurm_get_errno()));
		return -ESRCH;
	}
	for (uint32_t i = 0; i < jobs->record_count; i++)
		if (jobs->job_array[i].job_id == job_id && jobs->job_array[i].batch_host)
			snprintf(node, sizeof(node), "%s", jobs->job_array[i].batch_host);
	slurm_free_job_info_msg(jobs);
	if (!*node) {
		snprintf(why, size, "slurmctld names no batch host for job %u", job_id);
		return -ENOENT;
	}
	if (slurm_load_node_single(&nodes, node, SHOW_ALL) != SLURM_SUCCESS || !nodes ||
	    nodes->record_count < 1) {
		snprintf(why, size, "node %s: %s", node, slurm_strerror(slurm_get_errno()));
		ret = -ESRCH;
		goto out_free;
	}
	host = nodes->node_array[0].node_addr ? nodes->node_array[0].node_addr : node;
	gai = getaddrinfo(host, NULL, &hints, &res);
	if (gai || !res) {
		snprintf(why, size, "address %s of node %s: %s", host, node, gai_strerror(gai));
		goto out_free;
	}
	*out = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	ret = 0;
out_free:
	slurm_free_node_info_msg(nodes);
	return ret;
}

/* Binds the first free port of [@lo, @hi] (both 0: any) of @addr. */
static struct evconnlistener *link_bind(struct agent_link_server *s, struct in_addr addr, int lo,
					int hi)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr = addr };
	struct evconnlistener *lev = NULL;

	for (int port = lo; !lev && port <= hi; port++) {
		sin.sin_port = htons((uint16_t)port);
		lev = evconnlistener_new_bind(s->base, link_on_accept, s,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
						      LEV_OPT_REUSEABLE,
					      64, (struct sockaddr *)&sin, sizeof(sin));
	}
	if (lev)
		evconnlistener_set_error_cb(lev, link_on_accept_error);
	if (!lev && lo)
		log_err("no free TCP port in %d-%d (site setting ports=) on %s: %s", lo, hi,
			s->host[0] ? s->host : "any address", strerror(errno));
	else if (!lev)
		log_perror("cannot listen on a TCP port");
	return lev;
}

/* Listens only where the job's nodes reach this one, as Slurm knows it:
 * not on every interface of the batch host. */
static struct evconnlistener *link_listen(struct agent_link_server *s, uint32_t job_id, int lo,
					  int hi)
{
	struct in_addr addr = { .s_addr = htonl(INADDR_ANY) };
	char why[256] = "";

	if (link_slurm_addr(job_id, &addr, why, sizeof(why))) {
		log_warn("cannot find this node's address in Slurm (%s): listening on every "
			 "address",
			 why);
		addr.s_addr = htonl(INADDR_ANY);
	} else {
		inet_ntop(AF_INET, &addr, s->host, sizeof(s->host));
	}
	return link_bind(s, addr, lo, hi);
}

struct agent_link_server *agent_link_server_new(struct event_base *base,
						const struct agent_backend *be, uint32_t job_id,
						int lo, int hi, int *bound)
{
	struct agent_link_server *s = calloc(1, sizeof(*s));
	struct sockaddr_in sin = { 0 };
	socklen_t len = sizeof(sin);

	if (!s) {
		log_err("out of memory");
		return NULL;
	}
	s->base = base;
	s->be = be;
	s->drops.what = "unauthenticated connections dropped or refused";
	s->accept_errs.what = "failures to accept a connection";
	s->drops.flush = evtimer_new(base, link_ratelog_on_flush, &s->drops);
	s->accept_errs.flush = evtimer_new(base, link_ratelog_on_flush, &s->accept_errs);
	s->resume = evtimer_new(base, link_on_resume, s);
	s->job = job_id;
	if (!s->drops.flush || !s->accept_errs.flush || !s->resume) {
		log_err("out of memory");
		agent_link_server_free(s);
		return NULL;
	}
	s->lev = link_listen(s, job_id, lo, hi);
	if (!s->lev) {
		agent_link_server_free(s);
		return NULL;
	}
	if (getsockname(evconnlistener_get_fd(s->lev), (struct sockaddr *)&sin, &len) < 0) {
		log_perror("getsockname of the TCP port");
		agent_link_server_free(s);
		return NULL;
	}
	*bound = ntohs(sin.sin_port);
	return s;
}

const char *agent_link_server_host(const struct agent_link_server *s)
{
	return s->host[0] ? s->host : NULL;
}

void agent_link_server_free(struct agent_link_server *s)
{
	if (!s)
		return;
	if (s->lev)
		evconnlistener_free(s->lev);
	for (struct link_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		link_close(c, NULL);
	}
	if (s->drops.flush)
		event_free(s->drops.flush);
	if (s->accept_errs.flush)
		event_free(s->accept_errs.flush);
	if (s->resume)
		event_free(s->resume);
	free(s);
}
