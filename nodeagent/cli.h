/* cli.h - internals of the ckpt command-line tool; included by cli_*.c only.
 *
 * Exit statuses of ckpt: 0 success, 1 the operation failed, 2 the command
 * line is wrong; 'ckpt run' and 'ckpt restart' end with the program's own
 * status instead (a signal N gives 128+N).
 */
#ifndef CKPT_CLI_H
#define CKPT_CLI_H

#include "agent_dir.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

/* Messages for the user, on stderr, prefixed "ckpt: ". Not the log API:
 * these are the tool's output, worded for people, without file:line. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* As cli_err(), only when -v was given. */
void cli_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Set by -v. */
extern bool cli_is_verbose;

/* @s made safe for a terminal: control characters (C0, DEL, C1), invalid
 * UTF-8 and '\\' as \xNN escapes. For every string that came from a record
 * or an agent. Returns one of 8 static buffers used in turn (so up to 8 in
 * one printf), cut at 4 KiB of input. */
const char *cli_safe(const char *s);

/* Prints "ckpt: ...\nTry 'ckpt CMD --help'." and returns CLI_EXIT_USAGE. */
int cli_usage_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resolves the computation directory @dir (NULL: the default). With
 * @create a missing one is created. Returns 0, or reports and returns
 * -errno. */
int cli_dir(const char *dir, bool create, struct agent_dir *ad);

/* Finds a file shipped with ckpt (@name: "libckpt.so", "ckpt-restore",
 * "ckpt-agent") into @out. @env names a variable holding a directory that
 * overrides the search. Returns 0 or reports every path tried and returns
 * -ENOENT. */
int cli_find(const char *name, const char *env, char *out, size_t size);

/* Connects to the agent of @ad (its recorded socket, see agent_dir_locate(),
 * which updates @ad->sock). Returns the fd, or reports "no agent
 * running for DIR" and returns -errno. */
int cli_agent_connect(struct agent_dir *ad);
/* Connects to the agent of @ad, starting one first if none runs. Returns
 * the fd or reports and returns -errno. */
int cli_agent_ensure(struct agent_dir *ad);
/* Sends @req to the agent of @name (a DIR, or "job N") and waits up to
 * @timeout_ms (-1: forever) for one reply. Returns 0 with a new reference in
 * *@reply, or reports (pointing at @log) and returns -errno. An "error"
 * reply is returned as such: the caller words it. */
int cli_agent_call(int fd, const char *name, const char *log, struct json_object *req,
		   struct json_object **reply, int timeout_ms);
/* Fails (reporting, with @hint) when processes of the computation are
 * registered with the agent on @fd: two programs in one DIR would be
 * checkpointed, and restored, as one. Returns 0 or -errno. */
int cli_agent_check_idle(int fd, const struct agent_dir *ad, const char *hint);
/* The text of an "error" reply ("reason", else "message"). */
const char *cli_reply_reason(const struct json_object *reply);

/* What checkpoint/status talk to: the agent of a directory, or the
 * coordinator of a running Slurm job (from any node). */
struct cli_target {
	bool is_job;		  /* a job id was given */
	uint32_t job;		  /* ... that one */
	struct agent_dir ad;	  /* otherwise the directory's agent */
	char name[PATH_MAX + 32]; /* "job N" or DIR, for messages */
	char log[PATH_MAX + 16];  /* the agent's log, for hints */
};
/* Sets @t from a --dir (may be NULL: the default) or a JOBID argument (may
 * be NULL) of command @cmd. Returns 0, -EINVAL for a wrong command line
 * (reported as a usage error), or reports and returns -errno. */
int cli_target_init(const char *cmd, const char *dir, const char *job, struct cli_target *t);
/* Connects; for a job, after checking with slurmctld that the caller owns
 * it (or is root), with a munge hello. Returns the fd or reports and
 * returns -errno. */
int cli_target_connect(struct cli_target *t);

/* The commands; each returns the process exit status. */
/* Waits for @pid (the program, or the init of its namespace), forwarding
 * ckpt's termination signals to it; returns its status as a shell reports
 * it (cli_run.c). */
int cli_run_wait(pid_t pid, const char *prog);

/* ---- cli_tree.c: the namespace of a process tree ------------------------- */

struct proto_manifest;
/* Moves this (single-threaded) process into a new user namespace mapping the
 * user to itself and makes its next fork pid 1 of a new PID namespace.
 * Returns 0 or -errno (said on stderr). */
int cli_tree_ns_enter(void);
/* After cli_tree_ns_enter(): forks our init (pid 1), which runs @argv as
 * pid 2. Returns the init's pid, -1 on failure (said). */
pid_t cli_tree_run(char **argv);
/* Restores the generation in @gen_dir (manifest @m) as the tree it was, in
 * new namespaces, each process by @restorer with the agent @sock; the
 * init's pid in *@init_out. Returns 0, -ENOENT when the images are not a
 * tree of 'ckpt run' (restore them as before), or -errno (said). */
int cli_tree_restart(const char *gen_dir, const struct proto_manifest *m, const char *restorer,
		     const char *sock, pid_t *init_out);

int cli_cmd_run(int argc, char **argv);
int cli_cmd_checkpoint(int argc, char **argv);
int cli_cmd_restart(int argc, char **argv);
int cli_cmd_status(int argc, char **argv);
int cli_cmd_list(int argc, char **argv);
int cli_cmd_inspect(int argc, char **argv);

#endif
