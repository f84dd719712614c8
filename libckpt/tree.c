/* tree.c - the process tree (docs/process-trees.md): forked children.
 *
 *  - a child made by fork() must become a participant of its own: threads do
 *    not survive fork, so the child has no checkpoint thread, and it holds a
 *    copy of its parent's connection to the agent. The pthread_atfork child
 *    handler drops that copy and starts a checkpoint thread, which registers.
 *    (A child that execs re-runs libckpt's constructor from LD_PRELOAD.)
 *    Only in the namespace 'ckpt run' made (CKPT_PIDNS=1): elsewhere the
 *    child's pid could not be given back, and forked children stay as they
 *    were before trees existed, not checkpointed.
 *  - the "tree" subsystem (tree_record.c) records where the process stands
 *    in its tree.
 */
#define LOG_PREFIX "libckpt: "
#include "incr.h"
#include "libckpt.h"
#include "tree.h"

#include "log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- fork ---------------------------------------------------------------- */

static void tree_atfork_child(void)
{
	if (!eng_signal || !eng_tree_in_pidns)
		return;
	eng_agent_atfork_child();
	eng_incr_atfork_child(); /* its incremental state was the parent's */
	if (eng_ckpt_thread_start() < 0)
		log_warn("this forked child runs without checkpoints: its checkpoint thread "
			 "did not start");
}

void eng_tree_init(void)
{
	const char *v = getenv("CKPT_PIDNS");
	int ret;

	eng_tree_in_pidns = v && !strcmp(v, "1");
	/* Outside a namespace of ours a forked child stays what it was before
	 * trees existed: not checkpointed (its pid could not be restored). */
	if (!eng_tree_in_pidns)
		return;
	ret = pthread_atfork(NULL, NULL, tree_atfork_child);
	if (ret)
		log_warn("pthread_atfork: %s; children made by fork() will not be checkpointed",
			 strerror(ret));
}
