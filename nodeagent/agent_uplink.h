/* agent_uplink.h - a node agent's link up to its job's coordinator.
 * Included by the agent only.
 *
 * A node agent serves the processes of its node on its Unix socket
 * (agent_conn.c) and forwards them, their answers and their requests to the
 * coordinator over TCP (agent_link.h), and the coordinator's messages back
 * down. The coordinator's address is read from COORD_DIR/coord.json (written
 * by the coordinator, on the job's shared checkpoint directory) at every
 * connection attempt; a lost link is retried with back-off, and every
 * process is registered again once it is back. Processes caught in a
 * checkpoint when the link breaks are told "abort": the coordinator aborts
 * that generation on its side too.
 */
#ifndef CKPT_AGENT_UPLINK_H
#define CKPT_AGENT_UPLINK_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct agent_uplink;
struct json_object;

/* Creates the link for node @node of job @job_id whose coordinator
 * publishes itself in @coord_dir, and starts connecting. NULL on ENOMEM. */
struct agent_uplink *agent_uplink_new(struct event_base *base, const char *coord_dir,
				      uint32_t job_id, const char *node);
/* Closes the link; accepts NULL. */
void agent_uplink_free(struct agent_uplink *u);

/* The backend the node's local socket hands its processes to. */
const struct agent_backend *agent_uplink_backend(struct agent_uplink *u);

/* Sets a callback run whenever the number of local processes (passed as
 * @n) or of requests in flight changes. */
void agent_uplink_set_count_cb(struct agent_uplink *u, void (*fn)(void *arg, unsigned int n),
			       void *arg);

/* Sets a callback run after each failed attempt to reach the coordinator
 * (the next one is scheduled already): the batch host's node agent starts
 * a coordinator that died again (agent_respawn.h). */
void agent_uplink_set_lost_cb(struct agent_uplink *u, void (*fn)(void *arg), void *arg);

/* Sets a callback run before an "exit" of the coordinator is passed on to
 * a local process, only under CKPT_FAULT=agent_relay_poll_at_exit: a test makes
 * the node agent look at the job in the moment between the coordinator's
 * requeue and that exit. */
void agent_uplink_set_exit_hook(struct agent_uplink *u, void (*fn)(void *arg), void *arg);

/* True while local processes are registered or requests wait for the
 * coordinator's answer; their numbers in @nparts and @nreqs. A node agent
 * whose job ended exits only once this is false: an exit or an answer
 * still on its way must reach them. */
bool agent_uplink_busy(const struct agent_uplink *u, unsigned int *nparts, unsigned int *nreqs);

#endif
