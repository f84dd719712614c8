/* agent_dir.h - where the agent of one computation lives: its directory,
 * socket, lock and log; starting it on demand.
 *
 * A computation is named by its checkpoint directory DIR. Its agent listens
 * on DIR/agent.sock when that path fits sockaddr_un.sun_path, otherwise on a
 * short path named by a hash of the real path of DIR, under $XDG_RUNTIME_DIR
 * when that is a directory of ours that others cannot write, else under
 * /tmp/ckpt-<uid>/ (made 0700; refused when it is not exactly a 0700
 * directory of ours); the chosen path is recorded in DIR/agent.addr while
 * the agent runs. The computed path depends on the caller's environment
 * ($XDG_RUNTIME_DIR), so clients read the record first (agent_dir_locate()).
 *
 * Included by the agent, the ckpt CLI and the SPANK plugin (which links
 * agent_common_lib for agent_dir_ensure()).
 */
#ifndef CKPT_AGENT_DIR_H
#define CKPT_AGENT_DIR_H

#include <stdint.h>

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

/* Longest socket path: the size of sun_path minus its NUL (107 on Linux). */
#define AGENT_SOCK_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

struct agent_dir {
	char dir[PATH_MAX];	       /* real (canonical, absolute) path of DIR */
	char sock[AGENT_SOCK_MAX + 1]; /* socket the agent listens on */
	char lock[PATH_MAX];	       /* DIR/agent.lock, flock()ed by the agent */
	char log[PATH_MAX];	       /* DIR/agent.log, the daemon's stderr */
	char addr[PATH_MAX];	       /* DIR/agent.addr, records @sock */
	char interval[PATH_MAX];       /* DIR/interval, periodic checkpoint seconds */
};

/* The directory to use when the user named none: $CKPT_DIR, else "ckpt". */
const char *agent_dir_default(void);

/* Fills @ad for @dir. With @create, makes @dir (mode 0700 for a new one,
 * parents must exist) and, when the socket falls back to /tmp, the private
 * /tmp/ckpt-<uid>/; without, a missing @dir is -ENOENT. Returns 0,
 * -ENAMETOOLONG, -EPERM (a /tmp/ckpt-<uid> that is not ours, logged with
 * its owner and mode) or another -errno; callers word other errors. */
int agent_dir_resolve(const char *dir, bool create, struct agent_dir *ad);

/* Replaces @ad->sock with the path recorded in DIR/agent.addr by a running
 * (or dead) agent. Returns 0, or -ENOENT when there is no usable record
 * (@ad->sock keeps the computed path). */
int agent_dir_locate(struct agent_dir *ad);

/* Connects to the agent of @ad and checks with SO_PEERCRED that it runs as
 * our uid or root. Returns the connected fd, or -ENOENT / -ECONNREFUSED when
 * no agent listens, -EPERM for a foreign listener, or another -errno. */
int agent_dir_connect(const struct agent_dir *ad);

/* True when @uid may talk to an agent run by this process's uid. */
bool agent_dir_uid_allowed(uid_t uid);

/* Creates @dir and its missing parents (mode 0700) as the calling user;
 * @dir is modified while working and restored. Returns 0 or -errno. */
int agent_mkdir_parents(char *dir);

/* Makes sure an agent serves @dir (created, mode 0700, when missing) and
 * copies its socket path (at most AGENT_SOCK_MAX bytes) into @sock.
 * When none answers it starts "@agent_path --dir DIR [@extra_args...]"
 * (@extra_args NULL-terminated, may be NULL; e.g. the job-mode options)
 * double-forked in a new session, stdin/stdout /dev/null, stderr appended
 * to DIR/agent.log, no other descriptor inherited, signals reset, and waits
 * until it answers. An agent that already runs is used as it is, whatever
 * its options. Safe in a process about to execve (SPANK task_init): writes
 * nothing to stdout/stderr, reports through log.h only. Returns 0, or
 * -EIO (the agent said why it cannot start, logged with its log's path),
 * -ETIMEDOUT, -EPERM (the socket belongs to another user),
 * -ENAMETOOLONG (@sock_len too small) or another -errno. */
int agent_dir_ensure(const char *agent_path, const char *dir, const char *const *extra_args,
		     char *sock, size_t sock_len);

/* The options of a job's coordinator: the plugin starts it with them on
 * the batch host, and the coordinator records them (coord.args) so that a
 * node agent starts it again with the same (agent_respawn.h). */
struct agent_coord_opts {
	uint32_t job_id;
	int64_t margin_s;   /* --margin */
	int keep;	    /* --keep, 0: not given */
	int level;	    /* --level, 0: not given */
	int64_t interval_s; /* --interval, < 0: not given */
	int port_lo;	    /* --port LO-HI, 0: not given */
	int port_hi;
	int64_t phase_timeout_s; /* --phase-timeout (the site's), 0: not given */
};

/* Most arguments agent_coord_args() makes (seven options and values). */
#define AGENT_COORD_ARGS_MAX 14

/* The argument list agent_coord_args() fills, with room for its values. */
struct agent_coord_argv {
	char val[AGENT_COORD_ARGS_MAX / 2][24];
	const char *argv[AGENT_COORD_ARGS_MAX + 1]; /* NULL-terminated */
};

/* Fills @a with the ckpt-agent options for @o, in one order for every
 * caller. Returns a->argv. */
const char *const *agent_coord_args(const struct agent_coord_opts *o, struct agent_coord_argv *a);

#endif
