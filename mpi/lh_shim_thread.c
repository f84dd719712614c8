/* lh_shim_thread.c - pthread_create, pthread_join and pthread_detach of the
 * lower half.
 *
 * A thread the lower half starts (UCX's async thread) gets a stack the shim
 * maps and records, so its stack, and the thread descriptor and static TLS
 * glibc puts at the top of a caller-provided stack, are lower-half memory
 * the shim knows. Its kernel tid is recorded before pthread_create returns.
 * A joined thread's stack is unmapped after pthread_join; a detached
 * thread's is kept (glibc may still run on it while the thread exits) and
 * marked exited.
 */
#include "lh_shim_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Threads the lower half has started and not joined. UCX starts one. */
#define LH_THREADS_MAX 256

struct lh_thread_slot {
	struct lh_shim_thread t; /* t.state 0: slot free */
	void *(*fn)(void *arg);	 /* the lower half's start routine */
	void *arg;
	bool detached;
};

static struct lh_thread_slot lh_threads[LH_THREADS_MAX];
static pthread_mutex_t lh_thread_lock = PTHREAD_MUTEX_INITIALIZER;
/* Signalled when a new thread has recorded its tid. */
static pthread_cond_t lh_thread_started = PTHREAD_COND_INITIALIZER;

typedef int lh_create_fn(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
typedef int lh_join_fn(pthread_t t, void **ret);
typedef int lh_detach_fn(pthread_t t);

/* The lower half's libc's function @name, next after the shim. */
static void *lh_next(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn)
		lh_die("the lower half's libc has no pthread function the shim wraps");
	return fn;
}

static void lh_thread_set_state(struct lh_thread_slot *s, int state)
{
	pthread_mutex_lock(&lh_thread_lock);
	s->t.state = state;
	pthread_mutex_unlock(&lh_thread_lock);
}

static void lh_thread_ended(void *arg)
{
	struct lh_thread_slot *s = arg;
	bool keep;

	pthread_mutex_lock(&lh_thread_lock);
	s->t.state = LH_SHIM_T_EXITED;
	keep = s->detached && s->t.stack;
	pthread_mutex_unlock(&lh_thread_lock);
	/* Nobody joins it: its stack stays mapped, recorded as an ended thread's. */
	if (keep)
		lh_region_set_flags(s->t.stack, LH_SHIM_F_EXITED);
}

static void *lh_thread_start(void *arg)
{
	struct lh_thread_slot *s = arg;
	void *ret;

	pthread_mutex_lock(&lh_thread_lock);
	s->t.tid = gettid();
	s->t.state = LH_SHIM_T_RUNNING;
	pthread_cond_broadcast(&lh_thread_started);
	pthread_mutex_unlock(&lh_thread_lock);
	/* pthread_exit and cancellation run the cleanup handler too. */
	pthread_cleanup_push(lh_thread_ended, s);
	ret = s->fn(s->arg);
	pthread_cleanup_pop(1);
	return ret;
}

/* Copies what a caller's attributes say, except the stack, into @na. */
static int lh_attr_copy(pthread_attr_t *na, const pthread_attr_t *attr, bool *detached)
{
	struct sched_param sp;
	cpu_set_t cpus;
	sigset_t mask;
	int v;

	*detached = false;
	if (!attr)
		return 0;
	if (!pthread_attr_getdetachstate(attr, &v)) {
		pthread_attr_setdetachstate(na, v);
		*detached = v == PTHREAD_CREATE_DETACHED;
	}
	if (!pthread_attr_getinheritsched(attr, &v))
		pthread_attr_setinheritsched(na, v);
	if (!pthread_attr_getschedpolicy(attr, &v))
		pthread_attr_setschedpolicy(na, v);
	if (!pthread_attr_getschedparam(attr, &sp))
		pthread_attr_setschedparam(na, &sp);
	if (!pthread_attr_getscope(attr, &v))
		pthread_attr_setscope(na, v);
	if (!pthread_attr_getaffinity_np(attr, sizeof(cpus), &cpus) && CPU_COUNT(&cpus) > 0)
		pthread_attr_setaffinity_np(na, sizeof(cpus), &cpus);
	if (pthread_attr_getsigmask_np(attr, &mask) == 0)
		pthread_attr_setsigmask_np(na, &mask);
	return 0;
}

/* Stack size and guard of a new thread: the caller's, else glibc's default. */
static void lh_stack_size(const pthread_attr_t *attr, size_t *size, size_t *guard)
{
	pthread_attr_t def;

	*size = 0;
	*guard = LH_PAGE;
	if (attr) {
		pthread_attr_getstacksize(attr, size);
		pthread_attr_getguardsize(attr, guard);
	}
	if (!*size && !pthread_getattr_default_np(&def)) {
		pthread_attr_getstacksize(&def, size);
		pthread_attr_destroy(&def);
	}
	if (*size < (size_t)PTHREAD_STACK_MIN)
		*size = 8UL << 20;
	*size = lh_round_up(*size, LH_PAGE);
	*guard = lh_round_up(*guard, LH_PAGE);
}

static struct lh_thread_slot *lh_slot_get(void)
{
	struct lh_thread_slot *s = NULL;

	pthread_mutex_lock(&lh_thread_lock);
	for (size_t i = 0; i < LH_THREADS_MAX && !s; i++) {
		if (!lh_threads[i].t.state) {
			s = &lh_threads[i];
			memset(s, 0, sizeof(*s));
			s->t.state = LH_SHIM_T_STARTING;
		}
	}
	pthread_mutex_unlock(&lh_thread_lock);
	return s;
}

LH_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
			     void *arg)
{
	static lh_create_fn *real;
	struct lh_thread_slot *s;
	pthread_attr_t na;
	void *own = NULL;
	size_t size;
	size_t guard;
	void *stack;
	int rc;

	if (!real)
		real = (lh_create_fn *)lh_next("pthread_create");
	if (lh_upper.thread_starting)
		lh_upper.thread_starting();
	s = lh_slot_get();
	if (!s)
		lh_die("more than 256 lower-half threads at once");
	s->fn = fn;
	s->arg = arg;
	if (attr && !pthread_attr_getstack(attr, &own, &size) && own) {
		/* The caller's own stack: memory it got from the shim already. */
		rc = real(t, attr, lh_thread_start, s);
		goto out;
	}
	lh_stack_size(attr, &size, &guard);
	stack = lh_sys_mmap(NULL, size + guard, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		rc = EAGAIN;
		goto out;
	}
	if (guard && lh_sys_mprotect(stack, guard, PROT_NONE)) {
		lh_sys_munmap(stack, size + guard);
		rc = EAGAIN;
		goto out;
	}
	pthread_attr_init(&na);
	lh_attr_copy(&na, attr, &s->detached);
	pthread_attr_setstack(&na, (char *)stack + guard, size);
	s->t.stack = (uintptr_t)stack;
	s->t.stack_len = size + guard;
	lh_region_add((uintptr_t)stack, size + guard, LH_SHIM_STACK, 0, PROT_READ | PROT_WRITE);
	rc = real(t, &na, lh_thread_start, s);
	pthread_attr_destroy(&na);
	if (rc)
		lh_unmap(stack, size + guard);
out:
	if (rc) {
		lh_thread_set_state(s, 0);
		return rc;
	}
	/* Return only once the thread's tid is recorded: a checkpoint right
	 * after pthread_create must find it in the list. */
	pthread_mutex_lock(&lh_thread_lock);
	s->t.pth = (unsigned long)*t;
	while (s->t.state == LH_SHIM_T_STARTING)
		pthread_cond_wait(&lh_thread_started, &lh_thread_lock);
	pthread_mutex_unlock(&lh_thread_lock);
	LH_COUNT(threads, 1);
	return 0;
}

/* The slot of thread @t, or NULL; the lock is held. */
static struct lh_thread_slot *lh_slot_of(pthread_t t)
{
	for (size_t i = 0; i < LH_THREADS_MAX; i++) {
		if (lh_threads[i].t.state && lh_threads[i].t.pth == (unsigned long)t)
			return &lh_threads[i];
	}
	return NULL;
}

LH_EXPORT int pthread_join(pthread_t t, void **ret)
{
	static lh_join_fn *real;
	struct lh_thread_slot *s;
	uintptr_t stack = 0;
	size_t len = 0;
	int rc;

	if (!real)
		real = (lh_join_fn *)lh_next("pthread_join");
	rc = real(t, ret);
	if (rc)
		return rc;
	/* Joined: glibc has released the descriptor on the stack; unmap it. */
	pthread_mutex_lock(&lh_thread_lock);
	s = lh_slot_of(t);
	if (s) {
		stack = s->t.stack;
		len = s->t.stack_len;
		s->t.state = 0;
	}
	pthread_mutex_unlock(&lh_thread_lock);
	if (stack) {
		lh_unmap(lh_ptr(stack), len);
		LH_COUNT(stacks_freed, 1);
	}
	return 0;
}

LH_EXPORT int pthread_detach(pthread_t t)
{
	static lh_detach_fn *real;
	struct lh_thread_slot *s;
	int rc;

	if (!real)
		real = (lh_detach_fn *)lh_next("pthread_detach");
	rc = real(t);
	if (rc)
		return rc;
	pthread_mutex_lock(&lh_thread_lock);
	s = lh_slot_of(t);
	if (s)
		s->detached = true;
	pthread_mutex_unlock(&lh_thread_lock);
	return 0;
}

size_t lh_thread_copy(struct lh_shim_thread *out, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&lh_thread_lock);
	for (size_t i = 0; i < LH_THREADS_MAX; i++) {
		if (!lh_threads[i].t.state)
			continue;
		if (n < cap)
			out[n] = lh_threads[i].t;
		n++;
	}
	pthread_mutex_unlock(&lh_thread_lock);
	return n;
}
