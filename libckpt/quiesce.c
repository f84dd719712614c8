/* quiesce.c - stopping every application thread in a known place and letting
 * it go again.
 *
 * The checkpoint thread lists /proc/self/task (which shows every thread,
 * however it was created: pthread_create, raw clone, a library's own
 * threads), sends each one the reserved real-time signal with tgkill(), and
 * re-lists until a pass finds no thread it has not stopped. Each thread, in
 * the handler, records what the kernel keeps outside memory (fs base, robust
 * futex list, alternate signal stack), saves its callee-saved registers with
 * eng_ctx_save() and waits on a futex. The application's full register state
 * is in the kernel's signal frame on the thread's stack; returning from the
 * handler (rt_sigreturn) restores it, both after a normal checkpoint and
 * after a restore, where the restorer re-creates the thread and jumps to the
 * saved registers, i.e. back into this handler.
 *
 * Only raw system calls and atomics in the handler: the thread may have been
 * stopped inside malloc or while holding any glibc lock.
 */
#define LOG_PREFIX "libckpt: "
#include "libckpt.h"

#include "log.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <asm/prctl.h>

/* Slot states of the thread table. */
enum eng_slot_state {
	ENG_SLOT_SIGNALED = 1, /* tgkill sent, handler not reached yet */
	ENG_SLOT_ARRIVED = 2,  /* waiting in the handler */
	ENG_SLOT_GONE = 3,     /* exited before reaching the handler */
	ENG_SLOT_DEFERRED = 4, /* was inside the MPI lower half: signalled again */
};

struct eng_slot {
	int tid;	      /* kernel thread id */
	int state;	      /* enum eng_slot_state, accessed atomically */
	struct eng_thread th; /* what the handler saved */
};

/* The thread table lives in .bss: untouched pages cost nothing, and the
 * handler must not allocate. */
static struct eng_slot eng_slots[ENG_THREADS_MAX];
/* Slots in use during the current quiesce. */
static unsigned int eng_nslots;
/* Futex: number of threads that reached the handler. */
static uint32_t eng_arrived;
/* Futex: bumped to release the waiting threads. */
static uint32_t eng_release_seq;
/* Futex: threads back in the handler after a restore. */
static uint32_t eng_restored_arrived;
uint32_t eng_checkpoint_count;
/* Between eng_quiesce() and eng_release(). */
static bool eng_is_quiesced;
/* Threads never stopped (the MPI lower half's own: they serve the drain and
 * are not saved), set by eng_quiesce_skip() for the next quiesce. */
static pid_t eng_skip_tids[ENG_QUIESCE_SKIP_MAX];
static unsigned int eng_nskip;
/* Run by eng_release() before the threads go on (the MPI layer's resume). */
static void (*eng_release_hook)(void);
/* Whether the calling thread is inside the MPI lower half; NULL without it. */
static int (*eng_busy_probe)(void);

/* setjmp-like save of the callee-saved registers; offsets match struct
 * eng_ctx. Written in assembly because the value must be taken exactly at the
 * call site the restorer jumps back to. */
__asm__(".text\n"
	".globl eng_ctx_save\n"
	".hidden eng_ctx_save\n"
	".type eng_ctx_save,@function\n"
	"eng_ctx_save:\n"
	"	movq %rbx, 0(%rdi)\n"
	"	movq %rbp, 8(%rdi)\n"
	"	movq %r12, 16(%rdi)\n"
	"	movq %r13, 24(%rdi)\n"
	"	movq %r14, 32(%rdi)\n"
	"	movq %r15, 40(%rdi)\n"
	"	leaq 8(%rsp), %rdx\n"
	"	movq %rdx, 48(%rdi)\n"
	"	movq (%rsp), %rdx\n"
	"	movq %rdx, 56(%rdi)\n"
	"	stmxcsr 64(%rdi)\n"
	"	fnstcw 68(%rdi)\n"
	"	xorl %eax, %eax\n"
	"	ret\n"
	".size eng_ctx_save, .-eng_ctx_save\n");

static long eng_futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static void eng_futex_wake_all(uint32_t *uaddr)
{
	eng_futex(uaddr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
}

pid_t eng_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

void eng_thread_self_fill(struct eng_thread *t)
{
	unsigned long fs = 0;
	void *head = NULL;
	size_t len = 0;
	stack_t ss;

	t->tid = eng_gettid();
	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
	t->fs_base = fs;
	if (syscall(SYS_get_robust_list, 0, &head, &len) == 0) {
		t->robust_head = (uintptr_t)head;
		t->robust_len = len;
	}
	t->altstack_flags = SS_DISABLE;
	if (syscall(SYS_sigaltstack, NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE)) {
		t->altstack_sp = (uintptr_t)ss.ss_sp;
		t->altstack_size = ss.ss_size;
		/* SS_ONSTACK is a state, not a flag sigaltstack() accepts. */
		t->altstack_flags = ss.ss_flags & ~SS_ONSTACK;
	}
	if (t->tid == getpid())
		t->flags |= ENG_THREAD_MAIN;
}

static struct eng_slot *eng_slot_find(int tid)
{
	unsigned int n = __atomic_load_n(&eng_nslots, __ATOMIC_ACQUIRE);

	for (unsigned int i = 0; i < n; i++)
		if (eng_slots[i].tid == tid)
			return &eng_slots[i];
	return NULL;
}

/* The quiesce handler. Anything but our own tgkill (a stray kill of the
 * reserved signal) is ignored. */
static void eng_handler(int sig, siginfo_t *si, void *ucv)
{
	int saved_errno = errno;
	ucontext_t *uc = ucv;
	struct eng_slot *s;
	uint32_t seq;

	(void)sig;
	if (si->si_code != SI_TKILL || si->si_pid != getpid())
		goto out;
	s = eng_slot_find(eng_gettid());
	if (!s || __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != ENG_SLOT_SIGNALED)
		goto out;
	/* Never stop a thread inside the MPI lower half: its state there is
	 * not saved. It leaves within a short call (blocking MPI calls wait
	 * outside it) and is signalled again. */
	if (eng_busy_probe && eng_busy_probe()) {
		__atomic_store_n(&s->state, ENG_SLOT_DEFERRED, __ATOMIC_RELEASE);
		goto out;
	}

	__atomic_add_fetch(&eng_checkpoint_count, 1, __ATOMIC_RELEASE);
	seq = __atomic_load_n(&eng_release_seq, __ATOMIC_ACQUIRE);
	memset(&s->th, 0, sizeof(s->th));
	eng_thread_self_fill(&s->th);
	memcpy(&s->th.sigmask, &uc->uc_sigmask, sizeof(s->th.sigmask));
	if (eng_ctx_save(&s->th.ctx)) {
		/* Restored: the restorer re-created this thread and jumped here. */
		__atomic_add_fetch(&eng_restored_arrived, 1, __ATOMIC_RELEASE);
		eng_futex_wake_all(&eng_restored_arrived);
	} else {
		__atomic_store_n(&s->state, ENG_SLOT_ARRIVED, __ATOMIC_RELEASE);
		__atomic_add_fetch(&eng_arrived, 1, __ATOMIC_RELEASE);
		eng_futex_wake_all(&eng_arrived);
	}
	while (__atomic_load_n(&eng_release_seq, __ATOMIC_ACQUIRE) == seq)
		eng_futex(&eng_release_seq, FUTEX_WAIT_PRIVATE, seq, NULL);
out:
	errno = saved_errno;
}

int eng_quiesce_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = eng_handler;
	/* SA_RESTART: read(), futex waits and the like continue transparently;
	 * all signals blocked while a thread waits so that no application
	 * handler runs between the snapshot and the release. */
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (eng_real_sigaction(eng_signal, &sa, NULL) < 0) {
		log_perror("cannot install the handler of signal %d", eng_signal);
		return -errno;
	}
	return 0;
}

void eng_quiesce_skip(const pid_t *tids, unsigned int n, int (*busy_probe)(void))
{
	eng_nskip = n < ENG_QUIESCE_SKIP_MAX ? n : ENG_QUIESCE_SKIP_MAX;
	for (unsigned int i = 0; i < eng_nskip; i++)
		eng_skip_tids[i] = tids[i];
	__atomic_store_n(&eng_busy_probe, busy_probe, __ATOMIC_RELEASE);
}

static bool eng_skipped(int tid)
{
	for (unsigned int i = 0; i < eng_nskip; i++)
		if (eng_skip_tids[i] == tid)
			return true;
	return false;
}

/* Signals again the threads that were inside the MPI lower half. */
static void eng_signal_deferred(void)
{
	int pid = getpid();

	for (unsigned int i = 0; i < eng_nslots; i++) {
		struct eng_slot *s = &eng_slots[i];
		int st = ENG_SLOT_DEFERRED;

		if (__atomic_compare_exchange_n(&s->state, &st, ENG_SLOT_SIGNALED, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
		    syscall(SYS_tgkill, pid, s->tid, eng_signal) < 0)
			__atomic_store_n(&s->state, ENG_SLOT_GONE, __ATOMIC_RELEASE);
	}
}

/* Sends the quiesce signal to every thread listed in /proc/self/task that
 * is not in the table yet. Returns how many were added, or -errno. */
static int eng_signal_new_threads(int self)
{
	/* getdents64 into a stack buffer: no opendir(), it mallocs. */
	char buf[4096];
	int pid = getpid();
	int added = 0;
	int fd;
	long n;

	fd = eng_fd_above((int)syscall(SYS_openat, AT_FDCWD, "/proc/self/task",
				       O_RDONLY | O_DIRECTORY | O_CLOEXEC),
			  STDERR_FILENO);
	if (fd < 0)
		return -errno;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			int tid = atoi(d->d_name);

			off += d->d_reclen;
			if (tid <= 0 || tid == self || eng_slot_find(tid) || eng_skipped(tid))
				continue;
			if (eng_nslots >= ENG_THREADS_MAX) {
				close(fd);
				return -E2BIG;
			}
			struct eng_slot *s = &eng_slots[eng_nslots];

			s->tid = tid;
			s->state = ENG_SLOT_SIGNALED;
			__atomic_store_n(&eng_nslots, eng_nslots + 1, __ATOMIC_RELEASE);
			if (syscall(SYS_tgkill, pid, tid, eng_signal) < 0)
				s->state = ENG_SLOT_GONE;
			added++;
		}
	}
	close(fd);
	return n < 0 ? -errno : added;
}

/* Marks signalled threads that have exited meanwhile. Returns how many
 * slots are settled (arrived or gone). */
/* True when the thread group leader has exited (the main thread called
 * pthread_exit()) and lingers as a zombie until the last thread ends: it is
 * still listed and tgkill() still succeeds, but it never runs a handler.
 * Only the leader can be in that state; other threads are reaped at once. */
static bool eng_leader_is_zombie(int pid)
{
	char path[64];
	char buf[512];
	const char *p;
	long n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", pid);
	fd = eng_fd_above((int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC),
			  STDERR_FILENO);
	if (fd < 0)
		return false;
	n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static unsigned int eng_count_settled(void)
{
	unsigned int settled = 0;
	int pid = getpid();

	for (unsigned int i = 0; i < eng_nslots; i++) {
		struct eng_slot *s = &eng_slots[i];
		int st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

		if (st == ENG_SLOT_SIGNALED &&
		    ((syscall(SYS_tgkill, pid, s->tid, 0) < 0 && errno == ESRCH) ||
		     (s->tid == pid && eng_leader_is_zombie(pid))) &&
		    __atomic_compare_exchange_n(&s->state, &st, ENG_SLOT_GONE, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			st = ENG_SLOT_GONE;
		if (st != ENG_SLOT_SIGNALED && st != ENG_SLOT_DEFERRED)
			settled++;
	}
	return settled;
}

double eng_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int eng_quiesce(int timeout_ms)
{
	double deadline = eng_clock_ms() + timeout_ms;
	int self = eng_gettid();
	int ret;

	__atomic_store_n(&eng_nslots, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&eng_arrived, 0, __ATOMIC_RELEASE);
	for (;;) {
		ret = eng_signal_new_threads(self);
		if (ret < 0)
			goto out_release;
		/* Stable: a full listing found no thread we had not stopped,
		 * and every stopped one can no longer create threads. */
		if (ret == 0 && eng_count_settled() == eng_nslots)
			break;
		while (eng_count_settled() < eng_nslots) {
			/* 1 ms while a thread is on its way out of the lower half. */
			struct timespec ts = { 0, (eng_busy_probe ? 1 : 10) * 1000 * 1000 };
			uint32_t seen = __atomic_load_n(&eng_arrived, __ATOMIC_ACQUIRE);

			if (eng_clock_ms() > deadline) {
				ret = -ETIMEDOUT;
				goto out_release;
			}
			eng_futex(&eng_arrived, FUTEX_WAIT_PRIVATE, seen, &ts);
			eng_signal_deferred();
		}
	}
	eng_is_quiesced = true;
	return 0;

out_release:
	for (unsigned int i = 0; i < eng_nslots; i++)
		if (eng_slots[i].state == ENG_SLOT_SIGNALED)
			log_warn("thread %d did not stop within %d ms", eng_slots[i].tid,
				 timeout_ms);
		else if (eng_slots[i].state == ENG_SLOT_DEFERRED)
			log_warn("thread %d stayed inside the MPI library for %d ms",
				 eng_slots[i].tid, timeout_ms);
	eng_is_quiesced = true;
	eng_release();
	return ret;
}

/*
 * ld.so's own locks (dl_load_lock, dl_load_write_lock and, since glibc 2.35,
 * dl_load_tls_lock) are recursive pthread mutexes, and a recursive mutex
 * records its owner's kernel tid. A restored thread has a new tid, so a lock
 * it held at the checkpoint is no longer its own: its unlock fails with EPERM
 * and leaves the lock taken for good, and the next thread to take it waits
 * forever. pthread_create() holds dl_load_tls_lock while it sets up the new
 * thread's TLS, dl_iterate_phdr() (C++ exceptions, backtraces) holds
 * dl_load_write_lock, dlopen() dl_load_lock: a checkpoint that stops a thread
 * there gives a restored process that hangs at its next thread creation
 * (cycles-t_churn did, rarely). So the owner fields of these locks are
 * rewritten from the old tids to the new ones before the threads go on.
 * The locks are found at start-up, inside _rtld_global (exported by ld.so,
 * its layout private): dl_load_write_lock is the recursive mutex there that
 * names us as owner while dl_iterate_phdr() runs our callback, and glibc
 * declares dl_load_lock and dl_load_tls_lock right before and after it; those
 * two are taken only when they look like an unused recursive mutex.
 * Application mutexes that record tids are out of reach
 * (docs/limitations.md).
 */
#define ENG_RTLD_LOCKS_MAX 3u
static pthread_mutex_t *eng_rtld_locks[ENG_RTLD_LOCKS_MAX];
static unsigned int eng_nrtld_locks;

/* Whether @m looks like an unlocked recursive mutex nobody ever used. */
static bool eng_rtld_lock_at_rest(const pthread_mutex_t *m)
{
	const struct __pthread_mutex_s *d = &m->__data;

	return d->__kind == PTHREAD_MUTEX_RECURSIVE_NP && !d->__lock && !d->__count &&
	       !d->__owner && !d->__nusers && !d->__spins && !d->__elision && !d->__list.__prev &&
	       !d->__list.__next;
}

struct eng_rtld_scan {
	char *start;		/* _rtld_global */
	size_t size;		/* its size */
	pthread_mutex_t *write; /* dl_load_write_lock once found */
};

/* dl_iterate_phdr() callback: dl_load_write_lock is held by us now. */
static int eng_rtld_scan_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct eng_rtld_scan *sc = data;
	int self = eng_gettid();

	(void)info;
	(void)size;
	for (size_t off = 0; off + sizeof(pthread_mutex_t) <= sc->size;
	     off += _Alignof(pthread_mutex_t)) {
		pthread_mutex_t *m = (pthread_mutex_t *)(sc->start + off);

		if (m->__data.__kind == PTHREAD_MUTEX_RECURSIVE_NP && m->__data.__owner == self &&
		    m->__data.__lock && m->__data.__count == 1) {
			sc->write = m;
			break;
		}
	}
	return 1;
}

void eng_rtld_locks_find(void)
{
	const ElfW(Sym) *sym = NULL;
	struct eng_rtld_scan sc = { 0 };
	Dl_info info;

	eng_nrtld_locks = 0;
	sc.start = dlsym(RTLD_DEFAULT, "_rtld_global");
	if (!sc.start || !dladdr1(sc.start, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym)
		return;
	sc.size = sym->st_size;
	dl_iterate_phdr(eng_rtld_scan_cb, &sc);
	if (!sc.write)
		return;
	eng_rtld_locks[eng_nrtld_locks++] = sc.write;
	if ((char *)(sc.write - 1) >= sc.start && eng_rtld_lock_at_rest(sc.write - 1))
		eng_rtld_locks[eng_nrtld_locks++] = sc.write - 1;
	if ((char *)(sc.write + 2) <= sc.start + sc.size && eng_rtld_lock_at_rest(sc.write + 1))
		eng_rtld_locks[eng_nrtld_locks++] = sc.write + 1;
}

/* In a restored process, before the release: each ld.so lock held by a
 * restored thread gets that thread's new tid (which CLONE_PARENT_SETTID put
 * into its struct pthread) as its owner. */
void eng_rtld_locks_fix(void)
{
	for (unsigned int l = 0; l < eng_nrtld_locks; l++) {
		struct __pthread_mutex_s *d = &eng_rtld_locks[l]->__data;

		if (!__atomic_load_n(&d->__lock, __ATOMIC_ACQUIRE) || !d->__owner)
			continue;
		for (unsigned int i = 0; i < eng_nslots; i++) {
			const struct eng_slot *s = &eng_slots[i];

			if (s->state != ENG_SLOT_ARRIVED || s->th.tid != d->__owner)
				continue;
			d->__owner =
				*(const int32_t *)eng_ptr(s->th.fs_base + (uint64_t)eng_tid_offset);
			break;
		}
	}
}

void eng_release_hook_set(void (*hook)(void))
{
	eng_release_hook = hook;
}

void eng_release(void)
{
	void (*hook)(void) = eng_release_hook;

	if (!eng_is_quiesced)
		return;
	eng_is_quiesced = false;
	/* Once: the next checkpoint sets it again if it needs it. */
	eng_release_hook = NULL;
	if (hook)
		hook();
	/* A thread still on its way into the handler finds no SIGNALED slot
	 * once the table is cleared, and returns at once. */
	for (unsigned int i = 0; i < eng_nslots; i++)
		__atomic_store_n(&eng_slots[i].state, ENG_SLOT_GONE, __ATOMIC_RELEASE);
	__atomic_add_fetch(&eng_release_seq, 1, __ATOMIC_RELEASE);
	eng_futex_wake_all(&eng_release_seq);
}

bool eng_quiesced(void)
{
	return eng_is_quiesced;
}

unsigned int eng_threads_saved(struct eng_thread *out, unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < eng_nslots && n < max; i++)
		if (eng_slots[i].state == ENG_SLOT_ARRIVED)
			out[n++] = eng_slots[i].th;
	return n;
}

int eng_wait_restored_threads(unsigned int n, int timeout_ms)
{
	double deadline = eng_clock_ms() + timeout_ms;
	uint32_t seen;

	while ((seen = __atomic_load_n(&eng_restored_arrived, __ATOMIC_ACQUIRE)) < n) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (eng_clock_ms() > deadline)
			return -ETIMEDOUT;
		eng_futex(&eng_restored_arrived, FUTEX_WAIT_PRIVATE, seen, &ts);
	}
	__atomic_store_n(&eng_restored_arrived, 0, __ATOMIC_RELEASE);
	return 0;
}
