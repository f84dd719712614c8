/* triggers.h - checkpoint requests on SIGTERM and SIGUSR1 (triggers.c).
 * Included by libckpt/ engine sources only.
 *
 * Slurm announces the end of a job with signals: SIGTERM at preemption (and
 * at scancel), SIGUSR1 from `--signal=USR1@T`. With CKPT_SIGNALS=1 libckpt
 * turns them into checkpoint requests to the node agent while the
 * application's own disposition is SIG_DFL; with CKPT_SIGNALS_ONLY=1 (the
 * batch shell) it does only that, without checkpointing the process.
 */
#ifndef CKPT_LIBCKPT_TRIGGERS_H
#define CKPT_LIBCKPT_TRIGGERS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum eng_trig_mode {
	ENG_TRIG_OFF = 0, /* no interception (the default) */
	ENG_TRIG_PROCESS, /* a checkpointed process: the agent's "exit" ends it */
	ENG_TRIG_SHELL,	  /* signals-only (batch shell): a committed request ends it */
};

/* Starts intercepting SIGTERM and SIGUSR1 where their disposition is
 * SIG_DFL; requests go to the agent at @sock. Called once by the
 * constructor, before the application runs. Returns 0 or -errno (then
 * nothing is intercepted). */
int eng_trig_init(enum eng_trig_mode mode, const char *sock);

/* Signals-only mode: removes libckpt.so from LD_PRELOAD and
 * CKPT_SIGNALS_ONLY from the environment, so that what the shell runs does
 * not inherit them. Constructor only. */
void eng_trig_env_clean(void);

/* Signals-only mode (the batch shell): the commands it runs itself, not
 * through srun, which are therefore not checkpointed, as "`CMD` (pid N), ..."
 * in @out (capacity @cap, NUL-terminated). Returns the length, 0 when there
 * are none. Async-signal-safe (script_commands.c). */
size_t eng_script_commands(char *out, size_t cap);

/* Signals-only mode: the shell's waits note each child a signal killed,
 * while it is still a zombie (shell_wait.c). Called by the constructor. */
void eng_shell_waits_enable(void);

/* The shell is about to reap child @pid, which signal @signo killed:
 * eng_script_commands() names it for a while after it is gone, as the
 * job's end may have killed it before the shell's own SIGTERM arrived.
 * Async-signal-safe (script_commands.c). */
void eng_script_note_ended(pid_t pid, int signo);

/* The sigaction() wrapper's hook: when @sig is intercepted, keeps the
 * application's view (reported in @old, stored from @act), installs an
 * application handler for real and stops intercepting, or intercepts again
 * when the application goes back to SIG_DFL. Returns false when @sig is not
 * ours (the caller forwards the call), true with the result in *@ret. */
bool eng_trig_sigaction(int sig, const struct sigaction *act, struct sigaction *old, int *ret);

/* Checkpoint thread, with every application thread quiesced: hides the
 * request connections of interrupted handlers from the files capture
 * (exclude) and undoes that afterwards (include). */
void eng_trig_fds_exclude(void);
void eng_trig_fds_include(void);

/* Checkpoint thread of a restored process, before the release: requests in
 * progress at the checkpoint are over (their handlers return quietly) and
 * new ones go to the new agent. */
void eng_trig_restored(void);

/* signals.c: a pending signal whose restored action is the handler at
 * @addr is not re-raised after a restore; it was aimed at the process that
 * was checkpointed. 0 clears it. */
void ckpt_signals_set_trigger_handler(uint64_t addr);

#endif
