/* interpose.c - hides the quiesce signal from the application and keeps
 * sleeping calls from returning early because of a checkpoint.
 *
 * The application can neither install a handler for the reserved signal,
 * nor block it, nor wait for it, nor see it in a mask a call returns: each
 * libc entry point that takes or returns a signal set or an action is
 * wrapped. The handler the application believes installed is remembered and
 * reported back, so code that saves and restores actions keeps working.
 *
 * A checkpoint runs a signal handler in every thread. System calls that the
 * kernel restarts after a handler (SA_RESTART: read, write, futex waits,
 * wait4, ...) are unaffected. nanosleep(), clock_nanosleep(), poll(),
 * ppoll(), select() and pselect() are not restarted by the kernel once a
 * handler ran; their wrappers below resume the wait for the remaining time
 * when the only interruption was ours. epoll_wait(), sigtimedwait() and
 * friends still return EINTR (as after any signal), which callers of them
 * handle already (docs/limitations.md).
 *
 * sigaction() also keeps the application's view of SIGTERM and SIGUSR1 while
 * libckpt turns them into checkpoint requests (triggers.c).
 *
 * semget(), semop(), semtimedop(), msgget(), msgsnd() and msgrcv() note the
 * SysV ids the program uses (sysv_ipc.c), in any mode.
 *
 * inotify_add_watch() and inotify_rm_watch() keep the table of the paths
 * watches were added with (files_inotify.c): the kernel does not keep them,
 * and a restart must add each watch again by path.
 *
 * When libckpt is dormant (eng_signal == 0) every wrapper forwards as is
 * (sigaction() of SIGTERM/SIGUSR1 excepted in signals-only mode), the
 * inotify ones excepted: they record in any mode, since a watch added
 * before a checkpoint is requested must come back all the same.
 */
#define LOG_PREFIX "libckpt: "
#include "libckpt.h"
#include "triggers.h"
#include "files_inotify.h"
#include "sysv_ipc.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/inotify.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/select.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);
static int (*real_sigprocmask)(int, const sigset_t *, sigset_t *);
static int (*real_pthread_sigmask)(int, const sigset_t *, sigset_t *);
static int (*real_sigsuspend)(const sigset_t *);
static int (*real_sigwait)(const sigset_t *, int *);
static int (*real_sigwaitinfo)(const sigset_t *, siginfo_t *);
static int (*real_sigtimedwait)(const sigset_t *, siginfo_t *, const struct timespec *);
static int (*real_nanosleep)(const struct timespec *, struct timespec *);
static int (*real_clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static int (*real_ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
static int (*real_select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
static int (*real_pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *,
			   const sigset_t *);

/* The application's idea of the action of the reserved signal. */
static struct sigaction eng_app_action;

/* libc always has @name, so a failure means a broken installation: abort
 * rather than misbehave. */
void *eng_libc_next(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn)
		abort();
	return fn;
}

#define ENG_RESOLVE(var, name)                       \
	do {                                         \
		if (!(var))                          \
			(var) = eng_libc_next(name); \
	} while (0)

int eng_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	ENG_RESOLVE(real_sigaction, "sigaction");
	return real_sigaction(sig, act, old);
}

int eng_real_pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	ENG_RESOLVE(real_pthread_sigmask, "pthread_sigmask");
	return real_pthread_sigmask(how, set, old);
}

/* Copy of @set without the reserved signal, in @tmp; NULL stays NULL. */
static const sigset_t *eng_filter(const sigset_t *set, sigset_t *tmp)
{
	if (!set || !eng_signal)
		return set;
	*tmp = *set;
	sigdelset(tmp, eng_signal);
	return tmp;
}

static void eng_hide(sigset_t *set)
{
	if (set && eng_signal)
		sigdelset(set, eng_signal);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction a;
	int ret;

	ENG_RESOLVE(real_sigaction, "sigaction");
	if (eng_signal && sig == eng_signal) {
		if (old)
			*old = eng_app_action;
		if (act)
			eng_app_action = *act;
		return 0;
	}
	if (act && eng_signal && sigismember(&act->sa_mask, eng_signal)) {
		a = *act;
		sigdelset(&a.sa_mask, eng_signal);
		act = &a;
	}
	/* SIGTERM and SIGUSR1 while they are checkpoint triggers (triggers.c). */
	if (!eng_trig_sigaction(sig, act, old, &ret))
		ret = real_sigaction(sig, act, old);
	eng_hide(old ? &old->sa_mask : NULL);
	return ret;
}

/* signal() and its variants call sigaction inside libc, out of our reach. */
static sighandler_t eng_signal_common(int sig, sighandler_t handler, int flags)
{
	struct sigaction sa;
	struct sigaction old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (!(flags & SA_NODEFER))
		sigaddset(&sa.sa_mask, sig);
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

sighandler_t signal(int sig, sighandler_t handler)
{
	return eng_signal_common(sig, handler, SA_RESTART);
}

sighandler_t bsd_signal(int sig, sighandler_t handler)
{
	return eng_signal_common(sig, handler, SA_RESTART);
}

sighandler_t sysv_signal(int sig, sighandler_t handler)
{
	return eng_signal_common(sig, handler, SA_RESETHAND | SA_NODEFER);
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t tmp;

	ENG_RESOLVE(real_sigprocmask, "sigprocmask");
	int ret = real_sigprocmask(how, eng_filter(set, &tmp), old);

	eng_hide(old);
	return ret;
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	sigset_t tmp;

	ENG_RESOLVE(real_pthread_sigmask, "pthread_sigmask");
	int ret = real_pthread_sigmask(how, eng_filter(set, &tmp), old);

	eng_hide(old);
	return ret;
}

int sigsuspend(const sigset_t *set)
{
	sigset_t tmp;

	ENG_RESOLVE(real_sigsuspend, "sigsuspend");
	return real_sigsuspend(eng_filter(set, &tmp));
}

int sigwait(const sigset_t *set, int *sig)
{
	sigset_t tmp;

	ENG_RESOLVE(real_sigwait, "sigwait");
	return real_sigwait(eng_filter(set, &tmp), sig);
}

int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	sigset_t tmp;

	ENG_RESOLVE(real_sigwaitinfo, "sigwaitinfo");
	return real_sigwaitinfo(eng_filter(set, &tmp), info);
}

int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
{
	sigset_t tmp;

	ENG_RESOLVE(real_sigtimedwait, "sigtimedwait");
	return real_sigtimedwait(eng_filter(set, &tmp), info, ts);
}

/* Whether a call that returned @ret was cut short by a checkpoint (and, as
 * far as we can tell, by nothing else) since the count was @before. */
static bool eng_cut_by_checkpoint(int ret, uint32_t before)
{
	return ret < 0 && errno == EINTR && eng_signal &&
	       __atomic_load_n(&eng_checkpoint_count, __ATOMIC_ACQUIRE) != before;
}

/* The sleeps: resume with the remaining time when a checkpoint (and, as far
 * as we can tell, nothing else) interrupted them. */
int nanosleep(const struct timespec *req, struct timespec *rem)
{
	struct timespec left = *req;
	struct timespec r;
	int ret;

	ENG_RESOLVE(real_nanosleep, "nanosleep");
	for (;;) {
		uint32_t before = __atomic_load_n(&eng_checkpoint_count, __ATOMIC_ACQUIRE);

		ret = real_nanosleep(&left, &r);
		if (!eng_cut_by_checkpoint(ret, before))
			break;
		left = r;
	}
	if (ret < 0 && rem)
		*rem = r;
	return ret;
}

int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req, struct timespec *rem)
{
	struct timespec left = *req;
	struct timespec r;
	int ret;

	ENG_RESOLVE(real_clock_nanosleep, "clock_nanosleep");
	for (;;) {
		uint32_t before = __atomic_load_n(&eng_checkpoint_count, __ATOMIC_ACQUIRE);

		ret = real_clock_nanosleep(clk, flags, &left, &r);
		if (ret != EINTR || !eng_signal ||
		    __atomic_load_n(&eng_checkpoint_count, __ATOMIC_ACQUIRE) == before)
			break;
		if (!(flags & TIMER_ABSTIME))
			left = r;
	}
	if (ret == EINTR && rem && !(flags & TIMER_ABSTIME))
		*rem = r;
	return ret;
}

/* ---- waits on descriptors: resumed like the sleeps ---------------------- */

static struct timespec eng_mono_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now;
}

/* Time left until @deadline, never negative. */
static struct timespec eng_ts_left(struct timespec deadline)
{
	struct timespec now = eng_mono_now();
	struct timespec left = { deadline.tv_sec - now.tv_sec, deadline.tv_nsec - now.tv_nsec };

	if (left.tv_nsec < 0) {
		left.tv_sec--;
		left.tv_nsec += 1000000000L;
	}
	if (left.tv_sec < 0)
		left = (struct timespec){ 0, 0 };
	return left;
}

static struct timespec eng_ts_deadline(struct timespec timeout)
{
	struct timespec d = eng_mono_now();

	d.tv_sec += timeout.tv_sec;
	d.tv_nsec += timeout.tv_nsec;
	if (d.tv_nsec >= 1000000000L) {
		d.tv_sec++;
		d.tv_nsec -= 1000000000L;
	}
	return d;
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	struct timespec deadline = { 0, 0 };
	int timeout = timeout_ms;
	int ret;

	ENG_RESOLVE(real_poll, "poll");
	if (timeout_ms > 0)
		deadline = eng_ts_deadline(
			(struct timespec){ timeout_ms / 1000, timeout_ms % 1000 * 1000000L });
	for (;;) {
		uint32_t before = __atomic_load_n(&eng_checkpoint_count, __ATOMIC_ACQUIRE);

		ret = real_poll(fds, nfds, timeout);
		if (!eng_cut_by_checkpoint(ret, before))
			return ret;
		if (timeout_ms > 0) {
			struct timespec left = eng_ts_left(deadline);

			/* Rounded up: a wait never ends before its time. */
			timeout = (int)(left.tv_sec * 1000 + (left.tv_nsec + 999999) / 1000000);
		}
	}
}

int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask)
{
	struct timespec deadline = tmo ? eng_ts_deadline(*tmo) : (struct timespec){ 0, 0 };
	struct timespec left;
	sigset_t tmp;
	int ret;

	ENG_RESOLVE(real_ppoll, "ppoll");
	if (tmo)
		left = *tmo;
	for (;;) {
		uint32_t before = __atomic_load_n(&eng_checkpoint_count, __ATOMIC_ACQUIRE);

		ret = real_ppoll(fds, nfds, tmo ? &left : NULL, eng_filter(mask, &tmp));
		if (!eng_cut_by_checkpoint(ret, before))
			return ret;
		if (tmo)
			left = eng_ts_left(deadline);
	}
}

/* The sets select() reads and overwrites, kept to retry with the same ones. */
struct eng_fdsets {
	fd_set sets[3];
	fd_set *given[3];
};

static void eng_fdsets_save(struct eng_fdsets *s, fd_set *r, fd_set *w, fd_set *e)
{
	s->given[0] = r;
	s->given[1] = w;
	s->given[2] = e;
	for (int i = 0; i < 3; i++)
		if (s->given[i])
			s->sets[i] = *s->given[i];
}

static void eng_fdsets_restore(const struct eng_fdsets *s)
{
	for (int i = 0; i < 3; i++)
		if (s->given[i])
			*s->given[i] = s->sets[i];
}

int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	struct timespec deadline =
		tv ? eng_ts_deadline((struct timespec){ tv->tv_sec, tv->tv_usec * 1000L })
		   : (struct timespec){ 0, 0 };
	struct eng_fdsets saved;
	int ret;

	ENG_RESOLVE(real_select, "select");
	eng_fdsets_save(&saved, r, w, e);
	for (;;) {
		uint32_t before = __atomic_load_n(&eng_checkpoint_count, __ATOMIC_ACQUIRE);

		ret = real_select(n, r, w, e, tv);
		if (!eng_cut_by_checkpoint(ret, before))
			return ret;
		eng_fdsets_restore(&saved);
		if (tv) {
			struct timespec left = eng_ts_left(deadline);

			tv->tv_sec = left.tv_sec;
			tv->tv_usec = (left.tv_nsec + 999) / 1000;
		}
	}
}

int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts, const sigset_t *mask)
{
	struct timespec deadline = ts ? eng_ts_deadline(*ts) : (struct timespec){ 0, 0 };
	struct timespec left;
	struct eng_fdsets saved;
	sigset_t tmp;
	int ret;

	ENG_RESOLVE(real_pselect, "pselect");
	eng_fdsets_save(&saved, r, w, e);
	if (ts)
		left = *ts;
	for (;;) {
		uint32_t before = __atomic_load_n(&eng_checkpoint_count, __ATOMIC_ACQUIRE);

		ret = real_pselect(n, r, w, e, ts ? &left : NULL, eng_filter(mask, &tmp));
		if (!eng_cut_by_checkpoint(ret, before))
			return ret;
		eng_fdsets_restore(&saved);
		if (ts)
			left = eng_ts_left(deadline);
	}
}

/* Threads are found through /proc/self/task at each checkpoint, so the
 * wrapper only has to make sure a new thread can receive the quiesce
 * signal: glibc copies the creator's mask, which our sigmask wrappers keep
 * free of it; an application that created threads through a raw
 * rt_sigprocmask could still have it blocked, so unblock it here. */
struct eng_start {
	void *(*fn)(void *); /* the application's start routine */
	void *arg;	     /* and its argument */
};

static void *eng_thread_start(void *p)
{
	struct eng_start st = *(struct eng_start *)p;
	sigset_t set;

	free(p);
	sigemptyset(&set);
	sigaddset(&set, eng_signal);
	eng_real_pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	return st.fn(st.arg);
}

int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	static int (*real_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	struct eng_start *st;
	int ret;

	ENG_RESOLVE(real_create, "pthread_create");
	if (!eng_signal)
		return real_create(th, attr, fn, arg);
	st = malloc(sizeof(*st));
	if (!st)
		return EAGAIN;
	st->fn = fn;
	st->arg = arg;
	ret = real_create(th, attr, eng_thread_start, st);
	if (ret)
		free(st);
	return ret;
}

/* The path goes in the table once the kernel accepted the watch; a table
 * that cannot take it (full, path too long) leaves the watch unknown, and a
 * checkpoint names it then. errno is the kernel's answer either way. */
int inotify_add_watch(int fd, const char *path, uint32_t mask)
{
	static int (*real_add)(int, const char *, uint32_t);
	int saved;
	int wd;

	ENG_RESOLVE(real_add, "inotify_add_watch");
	wd = real_add(fd, path, mask);
	if (wd < 0)
		return wd;
	saved = errno;
	(void)ckpt_inotify_table_add(fd, wd, path, mask);
	errno = saved;
	return wd;
}

int inotify_rm_watch(int fd, int wd)
{
	static int (*real_rm)(int, int);
	int saved;
	int ret;

	ENG_RESOLVE(real_rm, "inotify_rm_watch");
	ret = real_rm(fd, wd);
	if (ret < 0)
		return ret;
	saved = errno;
	ckpt_inotify_table_remove(fd, wd);
	errno = saved;
	return ret;
}

/* SysV semaphores and message queues: each id the program looks up or
 * operates on is noted (sysv_ipc.c), so that a checkpoint can refuse while
 * one exists; the kernel's answer is returned as is. */

int semget(key_t key, int nsems, int flags)
{
	static int (*real)(key_t, int, int);
	int id;

	ENG_RESOLVE(real, "semget");
	id = real(key, nsems, flags);
	if (id >= 0)
		ckpt_sysv_note(CKPT_SYSV_SEM, id, key == IPC_PRIVATE ? -1 : (long)key);
	return id;
}

int semop(int id, struct sembuf *ops, size_t n)
{
	static int (*real)(int, struct sembuf *, size_t);

	ENG_RESOLVE(real, "semop");
	ckpt_sysv_note(CKPT_SYSV_SEM, id, -1);
	return real(id, ops, n);
}

int semtimedop(int id, struct sembuf *ops, size_t n, const struct timespec *timeout)
{
	static int (*real)(int, struct sembuf *, size_t, const struct timespec *);

	ENG_RESOLVE(real, "semtimedop");
	ckpt_sysv_note(CKPT_SYSV_SEM, id, -1);
	return real(id, ops, n, timeout);
}

int msgget(key_t key, int flags)
{
	static int (*real)(key_t, int);
	int id;

	ENG_RESOLVE(real, "msgget");
	id = real(key, flags);
	if (id >= 0)
		ckpt_sysv_note(CKPT_SYSV_MSG, id, key == IPC_PRIVATE ? -1 : (long)key);
	return id;
}

int msgsnd(int id, const void *msg, size_t size, int flags)
{
	static int (*real)(int, const void *, size_t, int);

	ENG_RESOLVE(real, "msgsnd");
	ckpt_sysv_note(CKPT_SYSV_MSG, id, -1);
	return real(id, msg, size, flags);
}

ssize_t msgrcv(int id, void *msg, size_t size, long type, int flags)
{
	static ssize_t (*real)(int, void *, size_t, long, int);

	ENG_RESOLVE(real, "msgrcv");
	ckpt_sysv_note(CKPT_SYSV_MSG, id, -1);
	return real(id, msg, size, type, flags);
}
