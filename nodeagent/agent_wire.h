/* agent_wire.h - one framed connection of the agent (Unix or TCP): reads
 * length-prefixed JSON frames from a socket on the agent's loop and writes
 * them back. Included by the agent only.
 *
 * Every transport of the agent (local processes and CLI, node agents and
 * remote CLIs at the coordinator, the node agent's link up to the
 * coordinator) sits on one of these, so reassembly, malformed frames,
 * flush-then-close and end of stream are handled in one place.
 */
#ifndef CKPT_AGENT_WIRE_H
#define CKPT_AGENT_WIRE_H

#include <stddef.h>

struct event_base;
struct json_object;
struct agent_wire;

struct agent_wire_ops {
	/* One decoded frame (borrowed). Return 0, or -errno to drop the
	 * connection: closed() follows with "protocol error" (the callee has
	 * logged or replied why). Must not free the wire. */
	int (*frame)(void *arg, const struct json_object *msg);
	/* The connection ended: @why is NULL for a clean end (peer closed
	 * between frames, or agent_wire_finish() flushed), else the reason
	 * (a malformed frame is answered with an "error" first).
	 * Called once; the owner frees the wire from here. */
	void (*closed)(void *arg, const char *why);
};

/* Serves connected socket @fd (ownership taken, also on failure). NULL
 * when out of memory. */
struct agent_wire *agent_wire_new(struct event_base *base, int fd, const struct agent_wire_ops *ops,
				  void *arg);
/* Closes the socket at once; accepts NULL. No callback. */
void agent_wire_free(struct agent_wire *w);

/* Queues @msg. Returns 0, -EPIPE once finishing, or -ENOMEM. */
int agent_wire_send(struct agent_wire *w, const struct json_object *msg);
/* Sends "error" (@code, @text, re @re) with "reason" = @text as well (the
 * local protocol's readers look for it). Best effort. */
void agent_wire_send_error(struct agent_wire *w, int code, const char *text, const char *re);
/* Bounds what one frame may buffer to @limit bytes (0: PROTO_FRAME_MAX
 * only), e.g. before a peer has authenticated. A peer past it gets an
 * "error" and the connection ends; at most @limit plus one read (4 KiB) is
 * ever held. */
void agent_wire_set_limit(struct agent_wire *w, size_t limit);
/* Stops reading; closed(NULL) once everything queued is written. */
void agent_wire_finish(struct agent_wire *w);

#endif
