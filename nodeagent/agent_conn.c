/* agent_conn.c - connections on the agent's Unix socket (agent_conn.h). */
#define LOG_PREFIX "conn: "
#include "agent_conn.h"
#include "agent_tree_check.h"

#include "agent_backend.h"
#include "agent_coord.h"
#include "agent_dir.h"
#include "agent_wire.h"
#include "log.h"
#include "msg.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a connection turned out to be after its first frame. */
enum agent_conn_kind {
	AGENT_CONN_NEW = 0, /* nothing received yet */
	AGENT_CONN_PROCESS, /* a checkpointed process (registered) */
	AGENT_CONN_CLIENT,  /* the CLI or another requester */
};

struct agent_conn {
	struct agent_listener *l;   /* owner */
	struct agent_wire *wire;    /* the socket, framed */
	enum agent_conn_kind kind;  /* decided by the first frame */
	struct ucred cred;	    /* peer's pid/uid/gid at connect time */
	struct agent_part part;	    /* the backend's view when a process */
	struct agent_waiter waiter; /* pending checkpoint request of a client */
	char name[96];		    /* "pid N (prog)" for logs */
	bool tree;		    /* registered from a pid namespace of its own: a
				     * member of a tree 'ckpt run' made */
	struct agent_conn *prev;    /* listener's list */
	struct agent_conn *next;    /* listener's list */
};

struct agent_listener {
	struct event_base *base;	/* the agent's loop */
	struct evconnlistener *lev;	/* accepts on the socket */
	const struct agent_backend *be; /* where participants and requests go */
	char node[AGENT_NODE_MAX + 1];	/* this node's name, given to processes */
	struct agent_conn *conns;	/* every open connection */
};

/* Says what a process gone without saying it exits means for the next
 * checkpoints. A task's process leaves its task missing, and the job's
 * checkpoints refused, until it is back (agent_coord.c). A tree member is
 * not a task: once it ended, its parent's tree record holds it as a zombie
 * or no more; agent_tree_check.c refuses a generation only while it runs
 * unregistered (an exec closed the connection, the new program's
 * constructor registers again). */
static void agent_conn_warn_lost(const struct agent_conn *c)
{
	if (c->tree)
		log_warn("%s of a 'ckpt run' tree closed its connection without exiting "
			 "(killed, or an exec): if it ended, the next checkpoints go on without "
			 "it; while it runs unregistered, they are refused naming it (a program "
			 "it executed registers again as it starts)",
			 c->name);
	else
		log_warn("%s (step %lld rank %lld) ended without exiting (killed?): "
			 "checkpoints of the job are refused until its task is back",
			 c->name, (long long)c->part.step, (long long)c->part.rank);
}

/* The single place a connection ends: unlinks it from the backend and the
 * listener and frees it. @why is logged (NULL for a clean close). */
static void agent_conn_close(struct agent_conn *c, const char *why)
{
	struct agent_listener *l = c->l;
	const struct agent_backend *be = l->be;

	if (why)
		log_warn("dropping %s: %s", c->name, why);
	else if (c->kind == AGENT_CONN_PROCESS && be->ops->part_busy(be->ctx, &c->part))
		log_warn("dropping %s: disconnected during a checkpoint", c->name);
	else
		log_debug("%s closed", c->name);
	if (c->kind == AGENT_CONN_PROCESS) {
		/* Gone without saying it exits (libckpt says so from exit(),
		 * _exit() and a return from main): killed, or a crash. Its
		 * task did not end: the job's generations still need it. */
		if (!c->part.exiting) {
			c->part.lost = true;
			agent_conn_warn_lost(c);
		}
		be->ops->part_remove(be->ctx, &c->part);
	}
	be->ops->waiter_cancel(be->ctx, &c->waiter);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	agent_wire_free(c->wire);
	free(c);
}

static int agent_conn_send(struct agent_conn *c, const struct json_object *msg)
{
	return agent_wire_send(c->wire, msg);
}

/* Replies with an "error" and, with @fatal, closes once it is flushed. */
static void agent_conn_reply_error(struct agent_conn *c, int code, const char *text, const char *re,
				   bool fatal)
{
	agent_wire_send_error(c->wire, code, text, re);
	if (fatal)
		agent_wire_finish(c->wire);
}

static int part_ops_send(struct agent_part *part, struct json_object *msg)
{
	struct agent_conn *c = part->transport;

	return agent_conn_send(c, msg);
}

static const char *part_ops_name(const struct agent_part *part)
{
	const struct agent_conn *c = part->transport;

	return c->name;
}

static const struct agent_part_ops agent_conn_part_ops = {
	.send = part_ops_send,
	.name = part_ops_name,
};

/* Parent pid of @pid from /proc, 0 when unknown. */
static pid_t proc_ppid(pid_t pid)
{
	char path[64];
	char buf[512];
	char *p;
	FILE *f;
	int ppid = 0;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may contain spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}

static int agent_conn_on_register(struct agent_conn *c, const struct json_object *msg)
{
	const struct agent_backend *be = c->l->be;
	struct agent_part *p = &c->part;
	struct json_object *ok;
	const char *why;

	if (agent_part_from_register(p, msg, &why)) {
		agent_conn_reply_error(c, PROTO_E_PROTOCOL, why, "register", true);
		log_warn("dropping %s: bad register: %s", c->name, why);
		return 0; /* closes once the error is sent */
	}
	p->ops = &agent_conn_part_ops;
	p->transport = c;
	/* The kernel's word, not the message's: a restored process may still
	 * report the pid it had when it was saved. */
	p->pid = c->cred.pid;
	p->ppid = proc_ppid(p->pid);
	/* Asked at registration: when the connection ends, the process
	 * may be gone. */
	c->tree = agent_tree_member(p->pid);
	snprintf(p->node, sizeof(p->node), "%s", c->l->node);
	snprintf(c->name, sizeof(c->name), "pid %d (%.64s)", (int)p->pid, strrchr(p->exe, '/') + 1);
	ok = proto_msg_new(PROTO_MSG_REGISTER_OK);
	if (!ok || agent_conn_send(c, ok)) {
		json_object_put(ok);
		return -ENOMEM;
	}
	json_object_put(ok);
	c->kind = AGENT_CONN_PROCESS;
	be->ops->part_add(be->ctx, p);
	return 0;
}

static void agent_conn_checkpoint_done(void *arg, int err, int64_t gen, const char *path,
				       const char *reason)
{
	struct agent_conn *c = arg;
	struct json_object *m = agent_outcome_msg(err, gen, path, reason);

	if (m)
		agent_conn_send(c, m);
	json_object_put(m);
}

static int agent_conn_on_checkpoint(struct agent_conn *c, const struct json_object *msg)
{
	const struct agent_backend *be = c->l->be;
	struct agent_request req;
	char why[PROTO_MSG_TEXT_MAX];
	const char *bad;
	int code;

	if (agent_request_from_msg(msg, &req, &bad)) {
		agent_conn_reply_error(c, PROTO_E_PROTOCOL, bad, "checkpoint", true);
		log_warn("dropping %s: bad checkpoint request: %s", c->name, bad);
		return 0; /* closes once the error is sent */
	}
	if (c->waiter.queued) {
		agent_conn_reply_error(c, PROTO_E_BUSY,
				       "this connection already waits for a checkpoint",
				       "checkpoint", false);
		return 0;
	}
	c->waiter.done = agent_conn_checkpoint_done;
	c->waiter.arg = c;
	code = be->ops->request(be->ctx, &req, &c->waiter, why, sizeof(why));
	if (code)
		agent_conn_reply_error(c, code, why, "checkpoint", false);
	return 0;
}

static int agent_conn_on_status(struct agent_conn *c)
{
	const struct agent_backend *be = c->l->be;
	struct json_object *m = be->ops->status(be->ctx);
	int ret;

	if (!m)
		return -ENOMEM;
	ret = agent_conn_send(c, m);
	json_object_put(m);
	return ret;
}

/* Dispatches one validated frame. Returns 0, or -errno after which the
 * connection is closed (the reason already logged or replied). */
static int agent_conn_on_frame(void *arg, const struct json_object *msg)
{
	struct agent_conn *c = arg;
	const struct agent_backend *be = c->l->be;
	enum proto_msg_type type = proto_msg_type(msg);

	if (c->kind == AGENT_CONN_PROCESS && type == PROTO_MSG_T_LEAVE) {
		/* The process is about to exit: its task ends with it. */
		c->part.exiting = true;
		return 0;
	}
	if (c->kind == AGENT_CONN_PROCESS)
		return be->ops->part_message(be->ctx, &c->part, msg);
	switch (type) {
	case PROTO_MSG_T_REGISTER:
		if (c->kind != AGENT_CONN_NEW)
			break;
		return agent_conn_on_register(c, msg);
	case PROTO_MSG_T_CHECKPOINT:
		c->kind = AGENT_CONN_CLIENT;
		return agent_conn_on_checkpoint(c, msg);
	case PROTO_MSG_T_STATUS:
		c->kind = AGENT_CONN_CLIENT;
		return agent_conn_on_status(c);
	default:
		break;
	}
	agent_conn_reply_error(c, PROTO_E_PROTOCOL, "unexpected message type",
			       json_object_get_string(json_object_object_get(msg, "type")), true);
	log_warn("dropping %s: unexpected \"%s\"", c->name,
		 json_object_get_string(json_object_object_get(msg, "type")));
	return 0;
}

static void agent_conn_on_closed(void *arg, const char *why)
{
	agent_conn_close(arg, why);
}

static const struct agent_wire_ops agent_conn_wire_ops = {
	.frame = agent_conn_on_frame,
	.closed = agent_conn_on_closed,
};

static void agent_listener_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
				     struct sockaddr *sa, int salen, void *arg)
{
	struct agent_listener *l = arg;
	socklen_t len = sizeof(struct ucred);
	struct agent_conn *c;

	(void)lev;
	(void)sa;
	(void)salen;
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_err("out of memory accepting a connection");
		close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
		log_perror("SO_PEERCRED");
		goto out_free;
	}
	if (!agent_dir_uid_allowed(c->cred.uid)) {
		log_warn("refused connection from pid %d: uid %u is not ours", (int)c->cred.pid,
			 (unsigned)c->cred.uid);
		goto out_free;
	}
	c->l = l;
	snprintf(c->name, sizeof(c->name), "client pid %d", (int)c->cred.pid);
	c->wire = agent_wire_new(l->base, fd, &agent_conn_wire_ops, c);
	if (!c->wire) {
		log_err("out of memory accepting a connection");
		free(c);
		return;
	}
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	return;

out_free:
	close(fd);
	free(c);
}

struct agent_listener *agent_listener_new(struct event_base *base, int fd,
					  const struct agent_backend *be, const char *node)
{
	struct agent_listener *l = calloc(1, sizeof(*l));

	if (!l) {
		log_err("out of memory");
		return NULL;
	}
	l->base = base;
	l->be = be;
	snprintf(l->node, sizeof(l->node), "%s", node ? node : "");
	l->lev = evconnlistener_new(base, agent_listener_on_accept, l,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!l->lev) {
		log_err("cannot listen on fd %d", fd);
		free(l);
		return NULL;
	}
	return l;
}

void agent_listener_free(struct agent_listener *l)
{
	if (!l)
		return;
	evconnlistener_free(l->lev);
	for (struct agent_conn *c = l->conns, *next; c; c = next) {
		next = c->next;
		agent_conn_close(c, NULL);
	}
	free(l);
}
