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
 * wait4, ...) are unaffected. nanosleep() and clock_nanosleep() are not
 * restarted by the kernel once a handler ran; their wrappers below resume
 * the sleep for the remaining time when the only interruption was ours.
 * poll(), select(), epoll_wait(), sigtimedwait() and friends still return
 * EINTR (as after any signal); well-written programs retry them.
 *
 * When libckpt is dormant (eng_signal == 0) every wrapper forwards as is.
 */
#define LOG_PREFIX "libckpt: "
#include "libckpt.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
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

/* The application's idea of the action of the reserved signal. */
static struct sigaction eng_app_action;

/* Looks up the next definition of @name; libc always has it, so a failure
 * means a broken installation: abort rather than misbehave. */
static void *eng_next(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn)
		abort();
	return fn;
}

#define ENG_RESOLVE(var, name)                  \
	do {                                    \
		if (!(var))                     \
			(var) = eng_next(name); \
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
	ENG_RESOLVE(real_sigaction, "sigaction");
	if (eng_signal && sig == eng_signal) {
		if (old)
			*old = eng_app_action;
		if (act)
			eng_app_action = *act;
		return 0;
	}
	if (act && eng_signal && sigismember(&act->sa_mask, eng_signal)) {
		struct sigaction a = *act;

		sigdelset(&a.sa_mask, eng_signal);
		int ret = real_sigaction(sig, &a, old);

		eng_hide(old ? &old->sa_mask : NULL);
		return ret;
	}
	int ret = real_sigaction(sig, act, old);

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
		if (ret == 0 || errno != EINTR || !eng_signal ||
		    __atomic_load_n(&eng_checkpoint_count, __ATOMIC_ACQUIRE) == before)
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
