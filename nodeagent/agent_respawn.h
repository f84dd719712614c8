/* agent_respawn.h - starting a job's coordinator again after it died.
 * Included by agent_main.c only.
 *
 * The coordinator records the options it was started with in
 * DIR/coord.args (one argument a line, mode 0600). When a node agent of the
 * job's batch host loses its link to the coordinator and finds the process
 * named in DIR/coord.json gone, it starts a coordinator with those options
 * again (agent_dir_ensure(): nothing happens when one answers). The node
 * agents reconnect through DIR/coord.json as after any broken link and
 * register their processes again; the new coordinator removes the dead
 * one's gen-N.tmp and numbers on from the committed generations.
 */
#ifndef CKPT_AGENT_RESPAWN_H
#define CKPT_AGENT_RESPAWN_H

#include <stdint.h>

#include "agent_dir.h"

/* Name of the record inside the job's checkpoint directory. */
#define AGENT_RESPAWN_ARGS_FILE "coord.args"
/* Most arguments a record may hold (agent_coord_args(), agent_dir.h). */
#define AGENT_RESPAWN_ARGS_MAX AGENT_COORD_ARGS_MAX

/* Writes @args (NULL-terminated, at most AGENT_RESPAWN_ARGS_MAX) to
 * @dir/coord.args atomically. Returns 0 or -errno. */
int agent_respawn_args_write(const char *dir, const char *const *args);

/* Called by a node agent on @node whose link to the coordinator of job
 * @job in @coord_dir is down. Starts the coordinator again when this is
 * the batch host (@batch_host), the coordinator recorded in coord.json ran
 * here and its process is gone. Returns 1 when a coordinator was started
 * (or found answering), 0 when nothing was to be done, or -errno. */
int agent_respawn_coord(const char *coord_dir, uint32_t job, const char *node,
			const char *batch_host);

#endif
