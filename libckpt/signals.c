/* signals.c - the "signals" subsystem: signal actions, process-wide pending
 * signals and interval timers. Per-thread signal masks and per-thread
 * pending signals belong to the engine, which saves each thread.
 *
 * Actions are read and written with the raw rt_sigaction syscall and the
 * kernel's struct, so handler, flags, restorer and mask come back exactly
 * (glibc's sigaction() would substitute its own restorer). The record layout
 * is in docs/files-and-state.md.
 */
#define LOG_PREFIX "signals: "

#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "triggers.h"

/* "SIG1" little-endian: first word of the record. */
#define SIGNALS_REC_MAGIC 0x31474953u
/* Bumped whenever the layout below changes. */
#define SIGNALS_REC_VERSION 1u
/* Signals 1..64 on x86_64 (_NSIG - 1); the kernel's sigset is 64 bits. */
#define SIGNALS_NSIG 64u
/* Interval timers: ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF. */
#define SIGNALS_NTIMERS 3u
/* A timer value beyond ~31 years is refused rather than passed on. */
#define SIGNALS_TIMER_SEC_MAX (1ll << 30)

/* The kernel's struct sigaction on x86_64 (include/uapi/asm/signal.h). */
struct signals_kact {
	uint64_t handler;  /* sa_handler / sa_sigaction */
	uint64_t flags;	   /* SA_* */
	uint64_t restorer; /* sa_restorer (glibc's __restore_rt) */
	uint64_t mask;	   /* sa_mask, bit n-1 = signal n */
};

/* One signal's action as saved. */
struct signals_act {
	struct signals_kact k; /* the action */
	uint32_t signo;	       /* 1..64, equal to index + 1 */
	uint32_t saved;	       /* 1: restore it; 0: skipped (SIGKILL, SIGSTOP, reserved) */
};

/* One interval timer (struct itimerval with fixed-width fields). */
struct signals_timer {
	int64_t interval_sec;  /* reload value, seconds */
	int64_t interval_usec; /* reload value, 0..999999 */
	int64_t value_sec;     /* time left, seconds */
	int64_t value_usec;    /* time left, 0..999999 */
};

/* The record (fixed size). */
struct signals_rec {
	uint32_t magic;			      /* SIGNALS_REC_MAGIC */
	uint32_t version;		      /* SIGNALS_REC_VERSION */
	uint32_t nsig;			      /* SIGNALS_NSIG */
	uint32_t reserved_signo;	      /* engine's checkpoint signal at capture, 0 if none */
	uint64_t shared_pending;	      /* ShdPnd: bit n-1 = signal n pending process-wide */
	struct signals_act act[SIGNALS_NSIG]; /* indexed by signo - 1 */
	struct signals_timer timer[SIGNALS_NTIMERS]; /* indexed by ITIMER_* */
};

/* Pinned in docs/files-and-state.md. */
_Static_assert(sizeof(struct signals_rec) == 2680, "signals record layout");

/* The engine's checkpoint signal: never saved, restored or re-raised. */
static int signals_reserved;
/* Address of libckpt's SIGTERM/SIGUSR1 trigger handler, 0 if none: a signal
 * restored with that action is not re-raised as pending. */
static uint64_t signals_trigger_handler;

void ckpt_signals_set_trigger_handler(uint64_t addr)
{
	signals_trigger_handler = addr;
}

int ckpt_signals_set_reserved(int signo)
{
	if (signo < 0 || signo > (int)SIGNALS_NSIG)
		return -EINVAL;
	signals_reserved = signo;
	return 0;
}

/* Whether signal @s is outside what this subsystem saves. */
static bool signals_skipped(unsigned int s, int reserved)
{
	return s == SIGKILL || s == SIGSTOP || (int)s == reserved;
}

/* Parses the 16 hex digits of a SigPnd/ShdPnd line; false if malformed. */
static bool signals_parse_mask(const char *s, uint64_t *mask)
{
	uint64_t m = 0;
	int n = 0;

	for (; *s; s++, n++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else
			return false;
		if (n >= 16)
			return false;
		m = m << 4 | d;
	}
	*mask = m;
	return n > 0;
}

/* Counts the POSIX timers (timer_create) of the process, which this
 * subsystem does not restore: /proc/self/timers has one "ID:" per timer. */
static int signals_count_posix_timers(void)
{
	char buf[512];
	long fd;
	int count = 0;
	bool bol = true;

	fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/timers", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (;;) {
		long n = syscall(SYS_read, (int)fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (long i = 0; i < n; i++) {
			/* "ID:" is the first line of each timer block. */
			if (bol && buf[i] == 'I')
				count++;
			bol = buf[i] == '\n';
		}
	}
	syscall(SYS_close, (int)fd);
	return count;
}

static ssize_t signals_capture(void *buf, size_t cap, void (*warn)(const char *msg))
{
	struct signals_rec r;
	char pend[32];
	int reserved = signals_reserved;

	if (cap < sizeof(r))
		return -ENOSPC;
	memset(&r, 0, sizeof(r));
	r.magic = SIGNALS_REC_MAGIC;
	r.version = SIGNALS_REC_VERSION;
	r.nsig = SIGNALS_NSIG;
	r.reserved_signo = (uint32_t)reserved;

	for (unsigned int s = 1; s <= SIGNALS_NSIG; s++) {
		struct signals_act *a = &r.act[s - 1];

		a->signo = s;
		if (signals_skipped(s, reserved))
			continue;
		if (syscall(SYS_rt_sigaction, s, NULL, &a->k, sizeof(uint64_t)) < 0)
			return -errno;
		a->saved = 1;
	}

	if (ckpt_proc_status_field("ShdPnd", pend, sizeof(pend)) < 0 ||
	    !signals_parse_mask(pend, &r.shared_pending)) {
		if (warn)
			warn("cannot read the process-wide pending signals; they will be lost");
		r.shared_pending = 0;
	}

	for (unsigned int t = 0; t < SIGNALS_NTIMERS; t++) {
		struct itimerval itv;

		if (syscall(SYS_getitimer, t, &itv) < 0)
			return -errno;
		r.timer[t].interval_sec = itv.it_interval.tv_sec;
		r.timer[t].interval_usec = itv.it_interval.tv_usec;
		r.timer[t].value_sec = itv.it_value.tv_sec;
		r.timer[t].value_usec = itv.it_value.tv_usec;
	}

	if (signals_count_posix_timers() > 0 && warn)
		warn("POSIX timers (timer_create) cannot be restored; they will not fire "
		     "after a restart");

	memcpy(buf, &r, sizeof(r));
	return (ssize_t)sizeof(r);
}

static bool signals_timer_valid(const struct signals_timer *t)
{
	return t->interval_sec >= 0 && t->interval_sec < SIGNALS_TIMER_SEC_MAX &&
	       t->value_sec >= 0 && t->value_sec < SIGNALS_TIMER_SEC_MAX && t->interval_usec >= 0 &&
	       t->interval_usec < 1000000 && t->value_usec >= 0 && t->value_usec < 1000000;
}

/* Checks every field; logs and returns -EINVAL if one is bad. */
static int signals_validate(const struct signals_rec *r)
{
	if (r->magic != SIGNALS_REC_MAGIC || r->version != SIGNALS_REC_VERSION ||
	    r->nsig != SIGNALS_NSIG || r->reserved_signo > SIGNALS_NSIG) {
		log_err("bad record header (magic %#x version %u, %u signals)", r->magic,
			r->version, r->nsig);
		return -EINVAL;
	}
	for (unsigned int s = 1; s <= SIGNALS_NSIG; s++) {
		const struct signals_act *a = &r->act[s - 1];

		if (a->signo != s || a->saved > 1 || (a->saved && (s == SIGKILL || s == SIGSTOP))) {
			log_err("entry %u: invalid action of signal %u", s, a->signo);
			return -EINVAL;
		}
	}
	for (unsigned int t = 0; t < SIGNALS_NTIMERS; t++) {
		if (!signals_timer_valid(&r->timer[t])) {
			log_err("interval timer %u has an invalid value", t);
			return -EINVAL;
		}
	}
	return 0;
}

/* Re-raises the process-wide pending signals. They stay pending only while
 * every thread blocks them: the engine's checkpoint thread runs restore with
 * all signals blocked, and the application threads get their own masks back
 * before they run. siginfo is not kept: the signal arrives as a kill() from
 * the process itself, and repeated real-time signals arrive once. Signals in
 * @dropped (handled by libckpt's trigger handler: a request for the
 * checkpoint this process was restored from, or one aimed at the process
 * that was saved) are not raised again. */
static int signals_raise_pending(uint64_t pending, uint64_t dropped, int reserved)
{
	long pid = syscall(SYS_getpid);
	uint64_t blocked = 0;

	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &blocked, sizeof(blocked));
	for (unsigned int s = 1; s <= SIGNALS_NSIG; s++) {
		if (!(pending & (1ull << (s - 1))) || signals_skipped(s, reserved))
			continue;
		if (dropped & (1ull << (s - 1))) {
			log_debug("pending signal %u dropped: it was a checkpoint request of the "
				  "process that was saved",
				  s);
			continue;
		}
		if (!(blocked & (1ull << (s - 1))))
			log_warn("pending signal %u is not blocked by the restoring thread; "
				 "it is delivered now",
				 s);
		if (syscall(SYS_kill, pid, s) < 0) {
			log_perror("cannot re-raise pending signal %u", s);
			return -errno;
		}
	}
	return 0;
}

static int signals_check(const void *rec, size_t len)
{
	struct signals_rec r;

	if (!rec || len != sizeof(r)) {
		log_err("record of %zu bytes, expected %zu", len, sizeof(r));
		return -EINVAL;
	}
	memcpy(&r, rec, sizeof(r));
	return signals_validate(&r);
}

static int signals_restore(const void *rec, size_t len)
{
	struct signals_rec r;
	int reserved = signals_reserved;
	uint64_t dropped = 0;
	int ret;

	ret = signals_check(rec, len);
	if (ret < 0)
		return ret;
	memcpy(&r, rec, sizeof(r));

	for (unsigned int s = 1; s <= SIGNALS_NSIG; s++) {
		const struct signals_act *a = &r.act[s - 1];

		if (!a->saved || signals_skipped(s, reserved))
			continue;
		if (signals_trigger_handler && a->k.handler == signals_trigger_handler)
			dropped |= 1ull << (s - 1);
		if (syscall(SYS_rt_sigaction, s, &a->k, NULL, sizeof(uint64_t)) < 0) {
			ret = -errno;
			log_perror("cannot restore the action of signal %u", s);
			return ret;
		}
	}
	/* Timers last but one: they may fire as soon as they are armed. A timer
	 * continues with the time it had left; the downtime does not count. */
	for (unsigned int t = 0; t < SIGNALS_NTIMERS; t++) {
		struct itimerval itv = {
			.it_interval = { r.timer[t].interval_sec, r.timer[t].interval_usec },
			.it_value = { r.timer[t].value_sec, r.timer[t].value_usec },
		};

		if (syscall(SYS_setitimer, t, &itv, NULL) < 0) {
			ret = -errno;
			log_perror("cannot re-arm interval timer %u", t);
			return ret;
		}
	}
	return signals_raise_pending(r.shared_pending, dropped, reserved);
}

const struct ckpt_subsys ckpt_signals_subsys = {
	.name = "signals",
	.record_type = CKPT_REC_SIGNALS,
	.capture = signals_capture,
	.check = signals_check,
	.restore = signals_restore,
};
