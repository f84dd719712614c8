/* agent_backend.h - what a transport hands its participants and requests
 * to. Included by the agent only.
 *
 * The local socket (agent_conn.c) and the coordinator's TCP port
 * (agent_link.c) do not know whether they feed the coordinator of this
 * agent (standalone and job mode: agent_main.c wraps agent_coord and
 * agent_job) or a link up to the coordinator on another node (a node
 * agent: agent_uplink.c). They call these operations instead.
 */
#ifndef CKPT_AGENT_BACKEND_H
#define CKPT_AGENT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_part;
struct agent_waiter;
struct json_object;

/* A checkpoint request, as the CLI, an application or a signal asks it. */
struct agent_request {
	const char *trigger; /* "manual", "signal", "sigterm", ... */
	bool kill;	     /* processes exit after the commit */
	bool requeue;	     /* ... and the job is requeued (job mode only) */
};

struct agent_backend_ops {
	/* A process registered (its fields filled) / left. */
	void (*part_add)(void *ctx, struct agent_part *part);
	void (*part_remove)(void *ctx, struct agent_part *part);
	/* A message of a registered process (ready, written, error). Returns
	 * 0, or -EPROTO to drop that process's connection. */
	int (*part_message)(void *ctx, struct agent_part *part, const struct json_object *msg);
	/* Asks for a checkpoint; @w is told the outcome once. Returns 0, or a
	 * protocol error code (enum proto_err) with @why filled: @w is not
	 * queued then. */
	int (*request)(void *ctx, const struct agent_request *req, struct agent_waiter *w,
		       char *why, size_t why_size);
	/* Forgets @w (its requester went away). */
	void (*waiter_cancel)(void *ctx, struct agent_waiter *w);
	/* A "status_reply" (caller puts it), NULL on ENOMEM. */
	struct json_object *(*status)(void *ctx);
	/* True while a checkpoint runs that @part takes part in. */
	bool (*part_busy)(void *ctx, const struct agent_part *part);
};

struct agent_backend {
	const struct agent_backend_ops *ops;
	void *ctx;
};

/* Reads a "checkpoint" request (kill, requeue, trigger; @req->trigger
 * points into @msg). Returns 0, or -EPROTO with the reason in *@why. */
int agent_request_from_msg(const struct json_object *msg, struct agent_request *req,
			   const char **why);
/* The answer to a requester: "committed" (gen, path) when @err is 0, else
 * "error" (@err, @reason). Caller puts it; NULL on ENOMEM. */
struct json_object *agent_outcome_msg(int err, int64_t gen, const char *path, const char *reason);

#endif
