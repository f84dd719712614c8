/* init.c - start-up of libckpt.so: configuration from the environment, the
 * quiesce signal, the offset of the tid in glibc's thread descriptor, and
 * the checkpoint thread.
 *
 * Without CKPT_AGENT_SOCKET nothing happens at all: no thread, no handler,
 * and every wrapper forwards unchanged, so LD_PRELOAD alone changes nothing.
 *
 * CKPT_SIGNALS=1 adds the signal triggers (triggers.c) to a checkpointed
 * process. CKPT_SIGNALS_ONLY=1 (the batch shell) gives the triggers alone:
 * no checkpoint thread, no quiesce handler, and libckpt leaves the
 * environment of what the shell starts.
 */
#define LOG_PREFIX "libckpt: "
#include "libckpt.h"

#include "env_fresh.h"
#include "files.h"
#include "log.h"
#include "tree.h"
#include "triggers.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int eng_signal;
long eng_tid_offset = -1;
struct eng_restore_info eng_restore_info;

/* How far into struct pthread we look for the tid; glibc 2.36 has it at
 * 0x2d0, 4 KiB leaves room for any layout change while staying inside the
 * descriptor (which is several KiB). */
#define ENG_TID_SCAN_MAX 4096
/* Candidate offsets seen in the main thread (tid == pid there). */
static int eng_tid_candidates[32];
static int eng_ntid_candidates;

/* Log lines go straight to fd 2 with one write(): no stdio lock, which a
 * stopped application thread may hold while we log. */
static void eng_log_backend(enum log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[1200];
	int n = snprintf(line, sizeof(line), "libckpt[%d]: %s: %s\n", getpid(), names[level], msg);

	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	if (n > 0 && write(2, line, (size_t)n) < 0)
		return;
}

/* How many bytes from @p on (up to @max) are mapped: the main thread's
 * descriptor may lie near the end of its mapping (where depends on the
 * static TLS of the libraries loaded, and on ASLR). */
static int eng_mapped_span(const char *p, int max)
{
	uintptr_t page = (uintptr_t)p & ~(uintptr_t)4095;
	unsigned char vec;

	while (page < (uintptr_t)p + (uintptr_t)max) {
		if (mincore(eng_ptr(page), 4096, &vec) < 0)
			return (int)(page - (uintptr_t)p);
		page += 4096;
	}
	return max;
}

static void eng_tid_candidates_collect(void)
{
	/* pthread_t is the descriptor's address in glibc. */
	const char *pd = eng_ptr(pthread_self());
	int tid = eng_gettid();
	int span = eng_mapped_span(pd, ENG_TID_SCAN_MAX);

	for (int off = 0; off + 4 <= span && eng_ntid_candidates < 32; off += 4) {
		int v;

		memcpy(&v, pd + off, sizeof(v));
		if (v == tid)
			eng_tid_candidates[eng_ntid_candidates++] = off;
	}
}

/* Called in the checkpoint thread: the first main-thread candidate that also
 * holds this thread's (different) tid is the field. */
static int eng_tid_offset_find(void)
{
	const char *pd = eng_ptr(pthread_self());
	int tid = eng_gettid();

	for (int i = 0; i < eng_ntid_candidates; i++) {
		int v;

		memcpy(&v, pd + eng_tid_candidates[i], sizeof(v));
		if (v == tid) {
			eng_tid_offset = eng_tid_candidates[i];
			return 0;
		}
	}
	log_err("cannot find the tid field in glibc's struct pthread");
	return -ENOENT;
}

static int eng_signal_parse(const char *s)
{
	char *end;
	long v;

	if (!s || !*s)
		return SIGRTMAX - 2;
	if (!strncmp(s, "SIGRTMAX-", 9)) {
		v = strtol(s + 9, &end, 10);
		v = SIGRTMAX - v;
	} else if (!strncmp(s, "SIGRTMIN+", 9)) {
		v = strtol(s + 9, &end, 10);
		v = SIGRTMIN + v;
	} else {
		v = strtol(s, &end, 10);
	}
	if (*end || v < SIGRTMIN || v > SIGRTMAX) {
		log_err("CKPT_SIGNAL=%s is not a real-time signal (%d..%d)", s, SIGRTMIN, SIGRTMAX);
		return -EINVAL;
	}
	return (int)v;
}

/* Whether the environment switches @name on: set, not empty, not "0". */
static bool eng_env_flag(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

static void *eng_thread_main(void *arg)
{
	if (eng_tid_offset_find() < 0)
		return NULL;
	return eng_agent_thread(arg);
}

/* Starts the checkpoint thread; at start-up, and in a child made by fork()
 * (tree.c). Returns 0 or -errno (logged). */
int eng_ckpt_thread_start(void)
{
	pthread_attr_t attr;
	sigset_t all;
	sigset_t old;
	pthread_t th;
	int ret;

	/* The checkpoint thread blocks every signal: the application's
	 * signals must go to the application's threads. */
	sigfillset(&all);
	eng_real_pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	ret = pthread_create(&th, &attr, eng_thread_main, NULL);
	pthread_attr_destroy(&attr);
	eng_real_pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		log_err("cannot start the checkpoint thread: %s", strerror(ret));
		return -ret;
	}
	return 0;
}

__attribute__((constructor)) static void eng_init(void)
{
	const char *sock = getenv("CKPT_AGENT_SOCKET");
	int sig;

	if (eng_env_flag("CKPT_SIGNALS_ONLY")) {
		eng_trig_env_clean();
		if (!sock || !*sock)
			return;
		log_set_backend(eng_log_backend);
		log_set_ident("libckpt");
		eng_trig_init(ENG_TRIG_SHELL, sock);
		eng_shell_waits_enable();
		return;
	}
	if (!sock || !*sock)
		return;
	log_set_backend(eng_log_backend);
	log_set_ident("libckpt");
	sig = eng_signal_parse(getenv("CKPT_SIGNAL"));
	if (sig < 0)
		return;
	eng_tid_candidates_collect();
	eng_rtld_locks_find();
	eng_env_start_save();
	ckpt_attrs_start_save();
	eng_signal = sig;
	/* The state savers must neither save nor re-raise our signal. */
	ckpt_signals_set_reserved(sig);
	if (eng_quiesce_install() < 0)
		goto out_dormant;
	eng_tree_exec_arrived();

	eng_agent_env_capture();
	/* Before the thread: it may register, and a checkpoint capture this
	 * process's tree record, while this constructor still runs (an awk
	 * just exec'd by a shell was recorded as outside the namespace, and
	 * 'ckpt restart' refused the generation's mix). */
	eng_tree_init();
	if (eng_ckpt_thread_start() < 0)
		goto out_dormant;
	if (eng_env_flag("CKPT_SIGNALS"))
		eng_trig_init(ENG_TRIG_PROCESS, sock);
	return;

out_dormant:
	eng_signal = 0;
}
