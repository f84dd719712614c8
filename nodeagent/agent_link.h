/* agent_link.h - the coordinator's TCP port: node agents of the job's
 * other nodes and ckpt CLIs anywhere in the cluster connect here. Included
 * by the agent only.
 *
 * Every connection opens with "register" carrying a munge credential made
 * for "coord:<jobid>@<our address>" (proto_auth_coord_purpose()); only the job's owner (the agent's own
 * uid) and root are accepted, a replayed or foreign credential is refused
 * with E_REPLAY / E_AUTH / E_PERM and the connection closed. The
 * "register_ok" carries our "proof" (proto/auth.h): a munge credential of
 * the job's owner bound to the client's nonce and address, without which
 * clients hang up (a stale coord.json may name another user's port). Before its
 * hello a peer is anonymous: at most LINK_HELLO_CONNS_MAX of them are kept
 * (a new one drops the oldest), each for LINK_HELLO_TIMEOUT_S and with
 * frames of at most LINK_HELLO_FRAME_MAX bytes (docs/protocol.md).
 *
 *  role "agent" (a node agent, with its "node"): then forwards the
 *    processes of its node. "register" / "leave" with a "part" id add and
 *    remove one; "ready", "written" and "error" with "part" are that
 *    process's answers; what the coordinator sends a process goes down the
 *    link with its "part" id. The link breaking removes all of them, which
 *    aborts a running generation.
 *  role "client" (the CLI), and agents too: "checkpoint" and "status", each
 *    answered with the same "req" id when one was given.
 */
#ifndef CKPT_AGENT_LINK_H
#define CKPT_AGENT_LINK_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct agent_backend;
struct agent_link_server;

/* Listens on the first free TCP port of [@lo, @hi] (0: any free one) of
 * the batch host's Slurm address (NodeAddr; every address, with a warning,
 * when slurmctld cannot tell it) for job @job_id and hands everything to
 * @be (borrowed). Fills *@bound with the port. NULL on failure (logged). */
struct agent_link_server *agent_link_server_new(struct event_base *base,
						const struct agent_backend *be, uint32_t job_id,
						int lo, int hi, int *bound);
/* The address listened on ("10.0.0.5"), what clients must connect to;
 * NULL when listening on every address. */
const char *agent_link_server_host(const struct agent_link_server *s);
/* Closes every connection (their processes leave the backend); accepts NULL. */
void agent_link_server_free(struct agent_link_server *s);

#endif
