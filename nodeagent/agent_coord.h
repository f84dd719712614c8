/* agent_coord.h - the coordinator: runs the two-phase checkpoint of one
 * computation over a set of participants. Included by the agent only.
 *
 * The coordinator knows nothing of sockets. A transport (agent_conn.c for
 * the local Unix socket; later the inter-node transport of cluster mode)
 * adds participants with an operations table that sends them messages, and
 * reports their answers and departures through the agent_coord_on_*()
 * calls. One generation runs at a time:
 *
 *   PREPARE  every participant quiesces and answers "ready"
 *   PIPES    only in a non-final generation whose "ready"s said so: the
 *            processes that save the bytes of pipes shared in their tree
 *            save them and answer "pipes_saved", while every participant
 *            is still stopped (docs/process-trees.md, "The pipe barrier")
 *   WRITE    every participant writes its image into gen-G.tmp/
 *   COMMIT   MANIFEST.json is written and gen-G.tmp renamed to gen-G
 *   RESUME   or EXIT for a final checkpoint
 *
 * Any error, departure or timeout aborts the generation: "abort" goes to the
 * participants still there, gen-G.tmp is deleted, the previous committed
 * generation stays the newest, and the reason is kept for the status and
 * returned to whoever asked.
 */
#ifndef CKPT_AGENT_COORD_H
#define CKPT_AGENT_COORD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct json_object;
struct agent_part;

/* How the coordinator reaches one participant. */
struct agent_part_ops {
	/* Sends @msg (borrowed) to @part. Returns 0 or -errno. A failed send
	 * needs no cleanup here: the transport later calls
	 * agent_coord_part_remove() from the one place its connection dies. */
	int (*send)(struct agent_part *part, struct json_object *msg);
	/* Short description for logs and errors, e.g. "pid 123 (/bin/prog)". */
	const char *(*name)(const struct agent_part *part);
};

/* Where a participant stands in the current generation. */
enum agent_part_state {
	AGENT_PART_IDLE = 0,  /* not part of a running generation */
	AGENT_PART_PREPARING, /* sent "prepare", waiting for "ready" */
	AGENT_PART_READY,     /* answered "ready" */
	AGENT_PART_WRITING,   /* sent "write", waiting for "written" */
	AGENT_PART_WRITTEN,   /* image written and reported */
	AGENT_PART_SAVING,    /* sent "save_pipes", waiting for "pipes_saved" */
	AGENT_PART_SAVED,     /* answered "pipes_saved" */
};

/* Longest image file name inside a generation directory. */
#define AGENT_IMAGE_NAME_MAX 64
/* Longest node name kept (Slurm's NodeName; 64 like HOST_NAME_MAX). */
#define AGENT_NODE_MAX 64

/* One checkpointed process (or, in cluster mode, a node agent standing for
 * several). Owned by the transport, linked into the coordinator while
 * registered. */
struct agent_part {
	const struct agent_part_ops *ops; /* transport callbacks */
	void *transport;		  /* the transport's connection object */
	pid_t pid;			  /* pid in this pid namespace (SO_PEERCRED) */
	pid_t ppid;			  /* its parent when it registered: orders images */
	int64_t claimed_pid;		  /* pid the process reported (may be a saved one) */
	char exe[PATH_MAX];		  /* executable the process reported */
	char node[AGENT_NODE_MAX + 1];	  /* node it runs on, "" for this one */
	int64_t step;			  /* Slurm step ordinal (0 standalone) */
	int64_t rank;			  /* global task id (0 standalone) */
	bool restored;			  /* it was restored from an image */
	bool lost;			  /* removed because its node agent's link broke,
					   * or it died without saying it exits (SIGKILL, the
					   * OOM killer): still one of the job's */
	bool exiting;			  /* it said it exits (a local "leave") */
	int64_t restored_gen;		  /* generation it was restored from, or -1 */
	uint64_t seq;			  /* registration order, for stable sorting */
	enum agent_part_state state;	  /* progress in the current generation */
	bool pipes;			  /* its "ready" said it saves the bytes of
					   * pipes shared in its tree */
	int64_t image_rank;		  /* rank its image is filed under: @rank, or a
					 * free one for a forked process sharing it */
	char image[AGENT_IMAGE_NAME_MAX]; /* its image name in this generation */
	uint64_t size;			  /* reported image size in bytes */
	char xxh64[17];			  /* reported image checksum, 16 hex digits */
	double pause_ms;		  /* time the application was stopped */
	double write_ms;		  /* time the image took to write */
	struct agent_part *next;	  /* coordinator's list, registration order */
};

/* Reads the fields of a "register" message into @p (pid, exe, step, rank,
 * restored, gen, ppid, node; @p->pid stays the caller's). Returns 0, or
 * -EPROTO with the reason in *@why. */
int agent_part_from_register(struct agent_part *p, const struct json_object *msg, const char **why);
/* The "register" a node agent forwards for @p (caller puts it); NULL on
 * ENOMEM. */
struct json_object *agent_part_to_register(const struct agent_part *p);

/* Called once with the outcome of a generation a requester waited for:
 * @err is 0 and @path the committed directory, or a protocol error code
 * (enum proto_err) and @reason. */
typedef void (*agent_waiter_fn)(void *arg, int err, int64_t gen, const char *path,
				const char *reason);

/* A requester waiting for a checkpoint; embedded in the requester's object,
 * which must outlive it or cancel it. */
struct agent_waiter {
	agent_waiter_fn done;	   /* outcome callback */
	void *arg;		   /* passed to @done */
	bool queued;		   /* linked into one of the coordinator's lists */
	struct agent_waiter *next; /* list link */
};

/* Tunables, read from the environment by the agent's main. */
struct agent_coord_conf {
	int phase_timeout_s; /* bound on PREPARE and PIPES, and on WRITE when set ... */
	bool phase_fixed;    /* ... by the site; else WRITE's is derived, at least it */
	int keep;	     /* committed generations kept (>= 1) */
	int exit_status;     /* status sent with "exit" after a --kill */
	int level;	     /* zstd level sent with "write", 0: $CKPT_LEVEL or 3 */
	int64_t gen_floor;   /* highest generation number on disk at start, a
			      * dead agent's gen-N.tmp included: never reused,
			      * its processes may still answer for it */
};

struct agent_coord;

/* Creates the coordinator of the computation in @dir (absolute). NULL when
 * out of memory. @conf is copied. */
struct agent_coord *agent_coord_new(struct event_base *base, const char *dir,
				    const struct agent_coord_conf *conf);
/* The bound the WRITE phase of the next generation gets: the site's phase
 * timeout when it set one, otherwise derived from the newest generation's
 * size and the bandwidth of the last write (agent_timeout.h). */
int agent_coord_write_bound(struct agent_coord *co);
/* Writes the bounds of both phases, and where the WRITE one comes from, into
 * @buf ("prepare N s, write M s (...)") for the agent's log. */
void agent_coord_describe_bounds(struct agent_coord *co, char *buf, size_t size);
/* Aborts a running generation and answers every requester, running or
 * queued, with @reason. */
void agent_coord_stop(struct agent_coord *co, const char *reason);
/* Aborts a running generation and frees; accepts NULL. Participants are not
 * freed (the transport owns them). */
void agent_coord_free(struct agent_coord *co);

/* A running step of the job: its tasks are ranks 0 .. @ntasks - 1. */
struct agent_step_tasks {
	int64_t step;	/* Slurm step id */
	int64_t ntasks; /* its task count */
};

/* Lists the job's running steps into @steps (malloc'd, caller frees) and
 * their number into @n. Returns 0, or -errno with the reason in @why. */
typedef int (*agent_coord_steps_fn)(void *arg, struct agent_step_tasks **steps, size_t *n,
				    char *why, size_t why_size);

/* Job mode: before each generation the coordinator asks @fn for the job's
 * running steps and does not start one while a (step, rank) of them is
 * neither registered nor ended (its process left by itself); steps seen
 * running once stay required for this start (a job requeued after a node
 * failed lists none, yet its lost tasks are missing): a generation
 * without it would restore an inconsistent job, and pruning would drop the
 * complete ones before it. */
void agent_coord_set_steps_fn(struct agent_coord *co, agent_coord_steps_fn fn, void *arg);

/* Links a registered participant. If a generation is running it is aborted:
 * a process that appears mid-checkpoint would be missing from the image set. */
void agent_coord_part_add(struct agent_coord *co, struct agent_part *part);
/* Unlinks @part (it left or its connection broke); aborts the running
 * generation if @part was in it. Safe for a part never added. */
void agent_coord_part_remove(struct agent_coord *co, struct agent_part *part);
/* Number of registered participants. */
unsigned int agent_coord_part_count(const struct agent_coord *co);

/* Answers from participants: the message is validated here. A message that
 * does not fit the current phase is an error of that participant: returns
 * -EPROTO after logging why, and the transport drops the connection. */
int agent_coord_on_message(struct agent_coord *co, struct agent_part *part,
			   const struct json_object *msg);

/* Asks for a checkpoint. @trigger names the cause ("manual", "interval",
 * "walltime", "preempt").
 * With @kill the processes exit after the commit. @w (may be NULL) is told
 * the outcome. A request during a running generation is served by the next
 * one, except a --kill request during a final generation: it joins that
 * one. Returns 0, or -ENOENT (no participant: @w is not queued). */
int agent_coord_request(struct agent_coord *co, const char *trigger, bool kill,
			struct agent_waiter *w);
/* Forgets @w (its requester went away). */
void agent_coord_waiter_cancel(struct agent_coord *co, struct agent_waiter *w);

/* True while a generation is running. */
bool agent_coord_busy(const struct agent_coord *co);

/* Builds the "status_reply" message (caller puts it), NULL on ENOMEM. May
 * read the newest generation on disk once, to derive the WRITE bound. */
struct json_object *agent_coord_status(struct agent_coord *co);

/* Sets a callback run when a final (--kill) generation is committed,
 * before its processes are told to exit. When it returns true (the job is
 * being requeued), "exit" says "hold": the processes stay stopped until
 * Slurm's signal ends them. */
void agent_coord_set_final_hook(struct agent_coord *co,
				bool (*fn)(void *arg, int64_t gen, const char *path), void *arg);

/* Sets a callback run whenever the participant count drops to zero
 * (the agent's idle timer) or rises above it. */
void agent_coord_set_count_cb(struct agent_coord *co, void (*fn)(void *arg, unsigned int n),
			      void *arg);

#endif
