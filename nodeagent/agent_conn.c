/* agent_conn.c - connections on the agent's Unix socket (agent_conn.h). */
#define LOG_PREFIX "conn: "
#include "agent_conn.h"

#include "agent_coord.h"
#include "agent_dir.h"
#include "frame.h"
#include "log.h"
#include "msg.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* What a connection turned out to be after its first frame. */
enum agent_conn_kind {
	AGENT_CONN_NEW = 0, /* nothing received yet */
	AGENT_CONN_PROCESS, /* a checkpointed process (registered) */
	AGENT_CONN_CLIENT,  /* the CLI or another requester */
};

struct agent_conn {
	struct agent_listener *l;   /* owner */
	struct bufferevent *bev;    /* the socket, buffered */
	struct proto_decoder *dec;  /* frames being reassembled */
	enum agent_conn_kind kind;  /* decided by the first frame */
	struct ucred cred;	    /* peer's pid/uid/gid at connect time */
	struct agent_part part;	    /* coordinator's view when a process */
	struct agent_waiter waiter; /* pending checkpoint request of a client */
	bool closing;		    /* flushing a last reply, then closing */
	char name[96];		    /* "pid N (prog)" for logs */
	struct agent_conn *prev;    /* listener's list */
	struct agent_conn *next;    /* listener's list */
};

struct agent_listener {
	struct event_base *base;    /* the agent's loop */
	struct evconnlistener *lev; /* accepts on the socket */
	struct agent_coord *co;	    /* where participants go */
	agent_status_fn status_fn;  /* adds the agent's fields to status */
	void *status_arg;	    /* passed to @status_fn */
	struct agent_conn *conns;   /* every open connection */
};

/* The single place a connection ends: unlinks it from the coordinator and
 * the listener and frees it. @why is logged (NULL for a clean close). */
static void agent_conn_close(struct agent_conn *c, const char *why)
{
	struct agent_listener *l = c->l;

	if (why)
		log_warn("dropping %s: %s", c->name, why);
	else
		log_debug("%s closed", c->name);
	if (c->kind == AGENT_CONN_PROCESS)
		agent_coord_part_remove(l->co, &c->part);
	agent_coord_waiter_cancel(l->co, &c->waiter);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	proto_decoder_free(c->dec);
	free(c);
}

static int agent_conn_send(struct agent_conn *c, const struct json_object *msg)
{
	char *buf;
	size_t len;
	int ret;

	if (c->closing)
		return -EPIPE;
	ret = proto_frame_encode(msg, &buf, &len);
	if (ret)
		return ret;
	ret = bufferevent_write(c->bev, buf, len) ? -ENOMEM : 0;
	free(buf);
	return ret;
}

/* Replies with an "error" and, with @fatal, closes once it is flushed. */
static void agent_conn_reply_error(struct agent_conn *c, int code, const char *text, const char *re,
				   bool fatal)
{
	struct json_object *m = proto_msg_new_error(code, text, re);

	if (m) {
		/* "reason" as well: the local protocol's readers look for it. */
		proto_msg_set_str(m, "reason", text);
		agent_conn_send(c, m);
		json_object_put(m);
	}
	if (fatal) {
		c->closing = true;
		bufferevent_disable(c->bev, EV_READ);
	}
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
	struct agent_part *p = &c->part;
	struct json_object *ok;
	const char *exe;
	const char *base;
	int64_t pid;

	if (proto_msg_get_int_range(msg, "pid", 1, INT32_MAX, &pid) ||
	    proto_msg_get_str(msg, "exe", 0, &exe) ||
	    proto_msg_get_int_opt(msg, "step", 0, UINT32_MAX, 0, &p->step) ||
	    proto_msg_get_int_opt(msg, "rank", 0, UINT32_MAX, 0, &p->rank) ||
	    proto_msg_get_bool_opt(msg, "restored", false, &p->restored) ||
	    proto_msg_get_int_opt(msg, "gen", -1, INT64_MAX, -1, &p->restored_gen)) {
		agent_conn_reply_error(c, PROTO_E_PROTOCOL, proto_msg_why(), "register", true);
		log_warn("dropping %s: bad register: %s", c->name, proto_msg_why());
		return -EPROTO;
	}
	if (exe[0] != '/') {
		agent_conn_reply_error(c, PROTO_E_PROTOCOL, "register: \"exe\" is not absolute",
				       "register", true);
		log_warn("dropping %s: register with relative exe \"%s\"", c->name, exe);
		return -EPROTO;
	}
	p->ops = &agent_conn_part_ops;
	p->transport = c;
	/* The kernel's word, not the message's: a restored process may still
	 * report the pid it had when it was saved. */
	p->pid = c->cred.pid;
	p->claimed_pid = pid;
	p->ppid = proc_ppid(p->pid);
	if (!p->restored)
		p->restored_gen = -1;
	snprintf(p->exe, sizeof(p->exe), "%s", exe);
	base = strrchr(exe, '/');
	snprintf(c->name, sizeof(c->name), "pid %d (%.64s)", (int)p->pid, base + 1);
	ok = proto_msg_new(PROTO_MSG_REGISTER_OK);
	if (!ok || agent_conn_send(c, ok)) {
		json_object_put(ok);
		return -ENOMEM;
	}
	json_object_put(ok);
	c->kind = AGENT_CONN_PROCESS;
	agent_coord_part_add(c->l->co, p);
	return 0;
}

static void agent_conn_checkpoint_done(void *arg, int err, int64_t gen, const char *path,
				       const char *reason)
{
	struct agent_conn *c = arg;
	struct json_object *m;

	if (err) {
		agent_conn_reply_error(c, err, reason, PROTO_MSG_CHECKPOINT, false);
		return;
	}
	m = proto_msg_new(PROTO_MSG_COMMITTED);
	if (m && !proto_msg_set_int(m, "gen", gen) && !proto_msg_set_str(m, "path", path))
		agent_conn_send(c, m);
	json_object_put(m);
}

static int agent_conn_on_checkpoint(struct agent_conn *c, const struct json_object *msg)
{
	const char *trigger;
	bool kill;
	int ret;

	if (proto_msg_get_bool_opt(msg, "kill", false, &kill) ||
	    proto_msg_get_str_opt(msg, "trigger", 31, "manual", &trigger)) {
		agent_conn_reply_error(c, PROTO_E_PROTOCOL, proto_msg_why(), "checkpoint", true);
		log_warn("dropping %s: bad checkpoint request: %s", c->name, proto_msg_why());
		return -EPROTO;
	}
	if (c->waiter.queued) {
		agent_conn_reply_error(c, PROTO_E_BUSY,
				       "this connection already waits for a checkpoint",
				       "checkpoint", false);
		return 0;
	}
	c->waiter.done = agent_conn_checkpoint_done;
	c->waiter.arg = c;
	ret = agent_coord_request(c->l->co, *trigger ? trigger : "manual", kill, &c->waiter);
	if (ret == -ENOENT)
		agent_conn_reply_error(
			c, PROTO_E_STATE,
			"no process is registered with the agent: nothing to checkpoint",
			"checkpoint", false);
	return 0;
}

static int agent_conn_on_status(struct agent_conn *c)
{
	struct json_object *m = agent_coord_status(c->l->co);
	int ret;

	if (!m)
		return -ENOMEM;
	if (c->l->status_fn)
		c->l->status_fn(c->l->status_arg, m);
	ret = agent_conn_send(c, m);
	json_object_put(m);
	return ret;
}

/* Dispatches one validated frame. Returns 0, or -errno after which the
 * connection is closed (the reason already logged or replied). */
static int agent_conn_dispatch(struct agent_conn *c, const struct json_object *msg)
{
	enum proto_msg_type type = proto_msg_type(msg);

	if (c->kind == AGENT_CONN_PROCESS)
		return agent_coord_on_message(c->l->co, &c->part, msg);
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
	return -EPROTO;
}

static void agent_conn_on_read(struct bufferevent *bev, void *arg)
{
	struct agent_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct json_object *msg;
	char buf[4096];
	int n;
	int ret;

	while (!c->closing && (n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
		if (proto_decoder_feed(c->dec, buf, (size_t)n)) {
			agent_conn_close(c, "out of memory buffering its frames");
			return;
		}
		while ((ret = proto_decoder_next(c->dec, &msg)) == 1) {
			ret = agent_conn_dispatch(c, msg);
			json_object_put(msg);
			if (ret == -ENOMEM) {
				agent_conn_close(c, "out of memory");
				return;
			}
			if (ret < 0 && !c->closing) {
				agent_conn_close(c, "protocol error (see above)");
				return;
			}
			if (c->closing)
				return;
		}
		if (ret < 0) {
			char why[256];

			snprintf(why, sizeof(why), "malformed frame: %s",
				 proto_decoder_strerror(c->dec));
			agent_conn_reply_error(c, PROTO_E_PROTOCOL, why, NULL, true);
			log_warn("dropping %s: %s", c->name, why);
			return;
		}
	}
}

static void agent_conn_on_write(struct bufferevent *bev, void *arg)
{
	struct agent_conn *c = arg;

	(void)bev;
	if (c->closing)
		agent_conn_close(c, NULL);
}

static void agent_conn_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct agent_conn *c = arg;
	char why[128];

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		if (proto_decoder_eof(c->dec))
			agent_conn_close(c, "connection closed in the middle of a frame");
		else if (c->kind == AGENT_CONN_PROCESS && agent_coord_busy(c->l->co) &&
			 c->part.state != AGENT_PART_IDLE)
			agent_conn_close(c, "disconnected during a checkpoint");
		else
			agent_conn_close(c, NULL);
		return;
	}
	snprintf(why, sizeof(why), "socket error: %s",
		 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	agent_conn_close(c, why);
}

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
	c->dec = proto_decoder_new();
	c->bev = bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->dec || !c->bev) {
		log_err("out of memory accepting a connection");
		goto out_free_bev;
	}
	bufferevent_setcb(c->bev, agent_conn_on_read, agent_conn_on_write, agent_conn_on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	return;

out_free_bev:
	if (c->bev) {
		bufferevent_free(c->bev);
		fd = -1;
	}
	proto_decoder_free(c->dec);
out_free:
	if (fd >= 0)
		close(fd);
	free(c);
}

struct agent_listener *agent_listener_new(struct event_base *base, int fd, struct agent_coord *co,
					  agent_status_fn status_fn, void *status_arg)
{
	struct agent_listener *l = calloc(1, sizeof(*l));

	if (!l) {
		log_err("out of memory");
		return NULL;
	}
	l->base = base;
	l->co = co;
	l->status_fn = status_fn;
	l->status_arg = status_arg;
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
