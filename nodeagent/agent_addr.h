/* agent_addr.h - where a job's coordinator listens, and reaching it.
 * Included by the agent and the ckpt CLI.
 *
 * The coordinator records its TCP address twice while it runs, as JSON
 * {"job":J,"host":H,"port":P,"dir":D,"pid":N,"start":S,"node":M}, mode 0600
 * (H is the address it listens on, M the host name of its machine):
 *  - DIR/coord.json, in the job's checkpoint directory, where the node
 *    agents of the job look (the directory is shared by the job's nodes);
 *  - ~owner/.slurm-ckpt/jobs/J.json, where `ckpt status JOBID` looks: the
 *    CLI knows a job id, not the directory the job chose.
 * Both are removed when it exits, by agent_addr_remove(): only when the
 * record is still its own (a coordinator of the job's next start may have
 * replaced it).
 *
 * A coordinator killed by SIGKILL or the OOM killer leaves its record, and
 * another user may then bind the port it named. A reader on the machine M
 * checks that the pid still runs and still has the start time
 * S (field 22 of /proc/PID/stat, clock ticks after boot) and ignores the
 * record otherwise (-ESTALE, reason in agent_addr_why()). A reader on
 * another host cannot see the pid: there the munge-authenticated hello in
 * both directions (agent_addr_connect(), agent_link.c) is what tells a stale port from the
 * coordinator.
 */
#ifndef CKPT_AGENT_ADDR_H
#define CKPT_AGENT_ADDR_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

/* Name of the record inside the job's checkpoint directory. */
#define AGENT_ADDR_FILE "coord.json"

struct agent_addr {
	uint32_t job;	    /* the job */
	char host[256];	    /* address the coordinator listens on (its node's NodeAddr) */
	char node[256];	    /* host name of its machine (gethostname), for the pid checks */
	int port;	    /* its TCP port */
	char dir[PATH_MAX]; /* the job's checkpoint directory */
	int pid;	    /* the coordinator's pid */
	uint64_t start;	    /* its start time (/proc/PID/stat field 22), 0: unknown */
};

/* Path of the record of @job in the home of @uid (from passwd). Returns 0,
 * -ENOENT for an unknown uid, -ENAMETOOLONG. */
int agent_addr_registry_path(uid_t uid, uint32_t job, char *out, size_t size);
/* Writes @a to @path atomically (mode 0600), creating the last directory
 * of @path (0700) if needed; the start time written is the one of @a->pid
 * now (@a->start is ignored). Returns 0 or -errno. */
int agent_addr_write(const char *path, const struct agent_addr *a);
/* Reads @path. Returns 0, -ENOENT, -EACCES, -EPROTO (reason logged at
 * debug level) for a record that is not ours, or -ESTALE for the record of
 * a coordinator of this host that is gone (its pid ended or is another
 * process now); the reason of -EPROTO/-ESTALE is in agent_addr_why(). */
int agent_addr_read(const char *path, struct agent_addr *a);
/* Why the last agent_addr_read() of this thread refused its record. */
const char *agent_addr_why(void);
/* Removes @path if it is the record of this process (same host, pid and
 * start time); leaves anyone else's. Returns 0, -ENOENT, or -EPERM when the
 * record is another coordinator's (not removed, logged at info level). */
int agent_addr_remove(const char *path);
/* Start time of @pid (clock ticks after boot, /proc/PID/stat field 22).
 * Returns 0 or -errno (-ESRCH when no such process, or a zombie). */
int agent_addr_pid_start(int pid, uint64_t *start);

/* Connects to @a and says hello as @role ("agent" with @node, or
 * "client"), with a munge credential for "coord:<job>", and accepts the
 * coordinator only if its answer proves it runs as @owner, the job's user
 * (proto/auth.h). Waits at most @timeout_ms for each step. Returns the
 * connected fd, or -errno with @why filled: -ECONNREFUSED / -ETIMEDOUT /
 * -EHOSTUNREACH (no coordinator there), -EACCES (refused, with the
 * coordinator's reason, or the coordinator could not prove itself). */
int agent_addr_connect(const struct agent_addr *a, const char *role, const char *node, uid_t owner,
		       int timeout_ms, char *why, size_t why_size);

#endif
