/* agent_replace.h - starting the node agent again when it died under the
 * process (docs/architecture.md, "Lost node agents").
 *
 * At each registration the checkpoint thread records how its node agent
 * was started (program, arguments, environment, read from /proc of the
 * peer of the socket, which SO_PEERCRED showed to be our own uid); when the
 * connection drops and nobody answers on the socket any more, it starts the
 * same program again, in the job (a descendant of a task, so in its cgroup),
 * as the job's user. The agent's lock on its directory lets one of several
 * tasks of the node win; the others find it busy and connect to the winner.
 */
#ifndef CKPT_LIBCKPT_AGENT_REPLACE_H
#define CKPT_LIBCKPT_AGENT_REPLACE_H

/* Records the node agent on the other end of @fd (connected, peer already
 * checked). Forgets any earlier record first; records nothing for an agent
 * that is not a job's node agent (--relay) or not of our uid. */
void eng_agent_record(int fd);

/* Forgets the record (a restored process's is from another start). */
void eng_agent_forget(void);

/* The connection to the recorded agent failed with @err (-errno of the
 * connect): starts a replacement when no agent answers and the last
 * attempt is long enough ago. Returns 0 when an agent now serves the
 * directory (ours, or another task's that won), -EAGAIN when it is not
 * time yet, -ENOENT without a record, or -errno (logged). */
int eng_agent_replace(int err);

/* agent_client.c: tells the agent this process exits (from atexit, _exit,
 * _Exit and the agent's own "exit"), so that its task counts as ended; a
 * process whose connection drops without it is missing for the job's
 * later generations (killed, crashed). Any thread; at most once. */
void eng_agent_exit_announce(void);

#endif
