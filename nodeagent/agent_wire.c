/* agent_wire.c - a framed connection on the agent's loop (agent_wire.h). */
#define LOG_PREFIX "wire: "
#include "agent_wire.h"

#include "frame.h"
#include "log.h"
#include "msg.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct agent_wire {
	struct bufferevent *bev;	  /* the socket, buffered */
	int fd;				  /* the socket, closed by agent_wire_free() */
	struct proto_decoder *dec;	  /* frames being reassembled */
	struct event *done;		  /* reports a finish with nothing left to write */
	const struct agent_wire_ops *ops; /* owner's callbacks */
	void *arg;			  /* passed to them */
	size_t limit;			  /* bytes a frame may buffer; 0: PROTO_FRAME_MAX */
	bool finishing;			  /* no more reading; close once flushed */
	char why[256];			  /* reason given to closed() then, "" if none */
};

static void wire_closed(struct agent_wire *w, const char *why)
{
	bufferevent_disable(w->bev, EV_READ | EV_WRITE);
	w->ops->closed(w->arg, why);
}

/* Decodes and hands over every complete frame. Returns false once the
 * owner was told the connection ended (@w may be gone). */
static bool wire_drain_frames(struct agent_wire *w)
{
	struct json_object *msg;
	int ret = 0;

	while (!w->finishing && (ret = proto_decoder_next(w->dec, &msg)) == 1) {
		ret = w->ops->frame(w->arg, msg);
		json_object_put(msg);
		if (ret == -ENOMEM) {
			wire_closed(w, "out of memory");
			return false;
		}
		if (ret < 0) {
			wire_closed(w, "protocol error (see above)");
			return false;
		}
	}
	if (!w->finishing && ret < 0) {
		snprintf(w->why, sizeof(w->why), "malformed frame: %s",
			 proto_decoder_strerror(w->dec));
		agent_wire_send_error(w, PROTO_E_PROTOCOL, w->why, NULL);
		agent_wire_finish(w);
	}
	return true;
}

static void wire_on_read(struct bufferevent *bev, void *arg)
{
	struct agent_wire *w = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char buf[4096];
	int n;

	while (!w->finishing && (n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
		if (proto_decoder_feed(w->dec, buf, (size_t)n)) {
			wire_closed(w, "out of memory buffering its frames");
			return;
		}
		if (!wire_drain_frames(w))
			return;
		if (!w->finishing && w->limit && proto_decoder_pending(w->dec) > w->limit) {
			snprintf(w->why, sizeof(w->why),
				 "frame larger than the %zu bytes allowed at this stage", w->limit);
			agent_wire_send_error(w, PROTO_E_PROTOCOL, w->why, NULL);
			agent_wire_finish(w);
			return;
		}
	}
}

static void wire_on_write(struct bufferevent *bev, void *arg)
{
	struct agent_wire *w = arg;

	(void)bev;
	if (w->finishing)
		wire_closed(w, w->why[0] ? w->why : NULL);
}

static void wire_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct agent_wire *w = arg;

	(void)fd;
	(void)what;
	if (evbuffer_get_length(bufferevent_get_output(w->bev)) == 0)
		wire_closed(w, w->why[0] ? w->why : NULL);
}

static void wire_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct agent_wire *w = arg;
	char why[128];

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		wire_closed(w, proto_decoder_eof(w->dec)
				       ? "connection closed in the middle of a frame"
				       : NULL);
		return;
	}
	snprintf(why, sizeof(why), "socket error: %s",
		 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	wire_closed(w, why);
}

struct agent_wire *agent_wire_new(struct event_base *base, int fd, const struct agent_wire_ops *ops,
				  void *arg)
{
	struct agent_wire *w = calloc(1, sizeof(*w));

	if (!w) {
		close(fd);
		return NULL;
	}
	w->ops = ops;
	w->arg = arg;
	w->dec = proto_decoder_new();
	w->done = event_new(base, -1, 0, wire_on_done, w);
	/* Closed by us, not by libevent: it would close only once back in its
	 * loop, and a coordinator dropping peers while accepting a flood would
	 * run out of fds first. (Its epoll backend copes with an fd closed
	 * before its events are deleted.) */
	w->fd = fd;
	w->bev = bufferevent_socket_new(base, fd, 0);
	if (!w->dec || !w->done || !w->bev) {
		agent_wire_free(w);
		return NULL;
	}
	bufferevent_setcb(w->bev, wire_on_read, wire_on_write, wire_on_event, w);
	bufferevent_enable(w->bev, EV_READ | EV_WRITE);
	return w;
}

void agent_wire_free(struct agent_wire *w)
{
	if (!w)
		return;
	if (w->bev) {
		/* Its events leave the loop now, before the fd is closed. */
		bufferevent_disable(w->bev, EV_READ | EV_WRITE);
		bufferevent_free(w->bev);
	}
	close(w->fd);
	if (w->done)
		event_free(w->done);
	proto_decoder_free(w->dec);
	free(w);
}

int agent_wire_send(struct agent_wire *w, const struct json_object *msg)
{
	char *buf;
	size_t len;
	int ret;

	if (w->finishing)
		return -EPIPE;
	ret = proto_frame_encode(msg, &buf, &len);
	if (ret)
		return ret;
	ret = bufferevent_write(w->bev, buf, len) ? -ENOMEM : 0;
	free(buf);
	return ret;
}

void agent_wire_send_error(struct agent_wire *w, int code, const char *text, const char *re)
{
	struct json_object *m = proto_msg_new_error(code, text, re);

	if (!m)
		return;
	if (text)
		proto_msg_set_str(m, "reason", text);
	agent_wire_send(w, m);
	json_object_put(m);
}

void agent_wire_set_limit(struct agent_wire *w, size_t limit)
{
	w->limit = limit;
}

void agent_wire_finish(struct agent_wire *w)
{
	if (w->finishing)
		return;
	w->finishing = true;
	bufferevent_disable(w->bev, EV_READ);
	/* Nothing queued: no write callback will come, report from the loop. */
	if (evbuffer_get_length(bufferevent_get_output(w->bev)) == 0)
		event_active(w->done, 0, 0);
}
