/* agent_conn.h - the agent's local transport: the Unix socket that
 * checkpointed processes and the ckpt CLI connect to. Included by the agent
 * only.
 *
 * Every connection starts anonymous; its first frame decides what it is:
 * "register" makes it a participant of the backend, "checkpoint" and
 * "status" are CLI requests answered on the same connection. Every frame is
 * validated; a malformed one drops that connection with a logged reason and
 * the agent keeps serving the others.
 */
#ifndef CKPT_AGENT_CONN_H
#define CKPT_AGENT_CONN_H

struct event_base;
struct agent_backend;
struct agent_listener;

/* Listens on the already bound and listening socket @fd (ownership taken on
 * success) and hands participants and requests to @be (borrowed, must
 * outlive the listener). Processes are said to run on @node (NULL or ""
 * outside a cluster). NULL on failure (logged). */
struct agent_listener *agent_listener_new(struct event_base *base, int fd,
					  const struct agent_backend *be, const char *node);

/* Stops accepting and closes every connection; accepts NULL. */
void agent_listener_free(struct agent_listener *l);

#endif
