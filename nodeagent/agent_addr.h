/* agent_addr.h - where a job's coordinator listens, and reaching it.
 * Included by the agent and the ckpt CLI.
 *
 * The coordinator records its TCP address twice while it runs, as JSON
 * {"job":J,"host":H,"port":P,"dir":D,"pid":N}, mode 0600:
 *  - DIR/coord.json, in the job's checkpoint directory, where the node
 *    agents of the job look (the directory is shared by the job's nodes);
 *  - ~owner/.slurm-ckpt/jobs/J.json, where `ckpt status JOBID` looks: the
 *    CLI knows a job id, not the directory the job chose.
 * Both are removed when it exits. A stale record is harmless: the hello is
 * bound to the job id, a coordinator of another job refuses it, and
 * whatever now listens on the port must prove it runs as the job's owner
 * (agent_addr_connect()).
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
	char host[256];	    /* host name of the coordinator's node */
	int port;	    /* its TCP port */
	char dir[PATH_MAX]; /* the job's checkpoint directory */
	int pid;	    /* the coordinator's pid */
};

/* Path of the record of @job in the home of @uid (from passwd). Returns 0,
 * -ENOENT for an unknown uid, -ENAMETOOLONG. */
int agent_addr_registry_path(uid_t uid, uint32_t job, char *out, size_t size);
/* Writes @a to @path atomically (mode 0600), creating the last directory
 * of @path (0700) if needed. Returns 0 or -errno. */
int agent_addr_write(const char *path, const struct agent_addr *a);
/* Reads @path. Returns 0, -ENOENT, -EACCES, or -EPROTO (reason logged at
 * debug level) for a record that is not ours. */
int agent_addr_read(const char *path, struct agent_addr *a);

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
