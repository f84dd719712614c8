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
 *  - exec: a quiesce signal sent to a thread that is executing a program
 *    stays pending through execve(), and the new program starts with the
 *    default action for it, which ends the process (a real-time signal). A
 *    participant that executes while a checkpoint is being prepared was so
 *    killed as it started: in tree-dash an 'awk' or 'cat' of a command
 *    substitution ended silently and the substitution was empty. The
 *    exec wrappers below block the signal across the call (unblocked again
 *    if it fails); libckpt's constructor in the new program discards a
 *    pending one and unblocks it (eng_tree_exec_arrived()) before its
 *    checkpoint thread exists. A program without libckpt keeps it blocked:
 *    it never receives it.
 *  - the "tree" subsystem (tree_record.c) records where the process stands
 *    in its tree.
 */
#define LOG_PREFIX "libckpt: "
#include "incr.h"
#include "libckpt.h"
#include "tree.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* ---- exec ---------------------------------------------------------------- */

extern char **environ;

static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execv)(const char *, char *const[]);
static int (*real_execvp)(const char *, char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_fexecve)(int, char *const[], char *const[]);

/* Blocks the quiesce signal in the calling thread before an exec; @old
 * receives the mask to put back if the exec fails. */
static void tree_exec_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(old);
	if (!eng_signal)
		return;
	sigemptyset(&set);
	sigaddset(&set, eng_signal);
	eng_real_pthread_sigmask(SIG_BLOCK, &set, old);
}

/* After a failed exec: the mask as it was, errno kept. */
static void tree_exec_unblock(const sigset_t *old)
{
	int err = errno;

	if (eng_signal && !sigismember(old, eng_signal)) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, eng_signal);
		eng_real_pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	errno = err;
}

void eng_tree_exec_arrived(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, eng_signal);
	/* Raw: the libc wrappers are ours and hide the signal. A quiesce
	 * signal pending here was meant for the program before the exec. */
	while (syscall(SYS_rt_sigtimedwait, &set, NULL, &zero, _NSIG / 8) > 0)
		;
	eng_real_pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	sigset_t old;
	int ret;

	if (!real_execve)
		real_execve = eng_libc_next("execve");
	tree_exec_block(&old);
	ret = real_execve(path, argv, envp);
	tree_exec_unblock(&old);
	return ret;
}

int execv(const char *path, char *const argv[])
{
	sigset_t old;
	int ret;

	if (!real_execv)
		real_execv = eng_libc_next("execv");
	tree_exec_block(&old);
	ret = real_execv(path, argv);
	tree_exec_unblock(&old);
	return ret;
}

int execvp(const char *file, char *const argv[])
{
	sigset_t old;
	int ret;

	if (!real_execvp)
		real_execvp = eng_libc_next("execvp");
	tree_exec_block(&old);
	ret = real_execvp(file, argv);
	tree_exec_unblock(&old);
	return ret;
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
	sigset_t old;
	int ret;

	if (!real_execvpe)
		real_execvpe = eng_libc_next("execvpe");
	tree_exec_block(&old);
	ret = real_execvpe(file, argv, envp);
	tree_exec_unblock(&old);
	return ret;
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
	sigset_t old;
	int ret;

	if (!real_fexecve)
		real_fexecve = eng_libc_next("fexecve");
	tree_exec_block(&old);
	ret = real_fexecve(fd, argv, envp);
	tree_exec_unblock(&old);
	return ret;
}

/* The execl family, through the wrappers above: the arguments up to the
 * NULL, in an array on the stack (bounded as the kernel bounds them). */
#define TREE_EXECL_MAX 4096

static int tree_execl_collect(const char *arg, va_list ap, char **argv)
{
	int n = 0;

	argv[n++] = (char *)arg;
	while (arg) {
		if (n >= TREE_EXECL_MAX) {
			errno = E2BIG;
			return -1;
		}
		arg = va_arg(ap, const char *);
		argv[n++] = (char *)arg;
	}
	return n;
}

int execl(const char *path, const char *arg, ...)
{
	char *argv[TREE_EXECL_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, arg);
	n = tree_execl_collect(arg, ap, argv);
	va_end(ap);
	return n < 0 ? -1 : execve(path, argv, environ);
}

int execlp(const char *file, const char *arg, ...)
{
	char *argv[TREE_EXECL_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, arg);
	n = tree_execl_collect(arg, ap, argv);
	va_end(ap);
	return n < 0 ? -1 : execvp(file, argv);
}

int execle(const char *path, const char *arg, ...)
{
	char *argv[TREE_EXECL_MAX + 1];
	char *const *envp;
	va_list ap;
	int n;

	va_start(ap, arg);
	n = tree_execl_collect(arg, ap, argv);
	envp = n < 0 ? NULL : va_arg(ap, char *const *);
	va_end(ap);
	return n < 0 ? -1 : execve(path, argv, envp);
}
