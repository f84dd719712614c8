/* agent_conn.h - the agent's local transport: the Unix socket that
 * checkpointed processes and the ckpt CLI connect to. Included by the agent
 * only.
 *
 * Every connection starts anonymous; its first frame decides what it is:
 * "register" makes it a participant of the coordinator, "checkpoint" and
 * "status" are CLI requests answered on the same connection. Every frame is
 * validated; a malformed one drops that connection with a logged reason and
 * the agent keeps serving the others.
 */
#ifndef CKPT_AGENT_CONN_H
#define CKPT_AGENT_CONN_H

struct event_base;
struct agent_coord;
struct agent_listener;
struct json_object;

/* Adds fields that only the agent's main knows (dir, pid, interval) to a
 * status_reply. */
typedef void (*agent_status_fn)(void *arg, struct json_object *reply);

/* Listens on the already bound and listening socket @fd (ownership taken on
 * success) and hands participants to @co. NULL on failure (logged). */
struct agent_listener *agent_listener_new(struct event_base *base, int fd, struct agent_coord *co,
					  agent_status_fn status_fn, void *status_arg);

/* Stops accepting and closes every connection; accepts NULL. */
void agent_listener_free(struct agent_listener *l);

#endif
