/* files_evfd.c - eventfd, timerfd and signalfd descriptors: their state is
 * read from /proc/thread-self/fdinfo (and timerfd_gettime) at checkpoint,
 * and a new object with that state is made at restart.
 *
 * Capture runs while the other threads of the process are stopped in a
 * signal handler (files.c): raw system calls and stack buffers only.
 * Restore trusts nothing it did not check: ckpt_evfd_check() runs on every
 * entry before any descriptor is touched. Rules: docs/files-and-state.md.
 */
#define LOG_PREFIX "files: "

#include "files_evfd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc_read.h"

#define EVFD_NS 1000000000ll

/* <linux/timerfd.h> has it, but clashes with <fcntl.h>. */
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

/* A timer reported expired but not yet re-armed by the kernel is read
 * again this many times (see evfd_capture_timer()). */
#define EVFD_TIMER_TRIES 4

static const char *const evfd_links[] = {
	"anon_inode:[eventfd]",
	"anon_inode:[timerfd]",
	"anon_inode:[signalfd]",
};

int ckpt_evfd_kind_of(const char *link)
{
	for (int k = 0; k < 3; k++)
		if (strcmp(link, evfd_links[k]) == 0)
			return k;
	return -1;
}

const char *ckpt_evfd_kind_name(int kind)
{
	static const char *const names[] = { "eventfd", "timerfd", "signalfd" };

	return kind >= 0 && kind < 3 ? names[kind] : "?";
}

/* The value after "@key" at the start of a line of @text, blanks skipped;
 * NULL if no line starts with it. */
static const char *evfd_field(const char *text, const char *key)
{
	size_t n = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, n) == 0) {
			p += n;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

/* Parses an unsigned number in @base (8, 10 or 16) at *@p; advances it. */
static bool evfd_num(const char **p, unsigned int base, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	bool any = false;

	for (;; s++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			break;
		if (d >= base || v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
		any = true;
	}
	*p = s;
	*out = v;
	return any;
}

/* Parses "(SEC, NSEC)" into nanoseconds. */
static bool evfd_time(const char *p, int64_t *ns)
{
	uint64_t s;
	uint64_t n;

	if (!p || *p++ != '(' || !evfd_num(&p, 10, &s) || *p++ != ',')
		return false;
	while (*p == ' ')
		p++;
	if (!evfd_num(&p, 10, &n) || *p != ')' || n >= EVFD_NS ||
	    s > (uint64_t)(INT64_MAX / EVFD_NS) - 1)
		return false;
	*ns = (int64_t)s * EVFD_NS + (int64_t)n;
	return true;
}

static bool evfd_key_num(const char *text, const char *key, unsigned int base, uint64_t *out)
{
	const char *p = evfd_field(text, key);

	return p && evfd_num(&p, base, out) && (*p == '\n' || *p == '\0');
}

int ckpt_evfd_parse_fdinfo(int kind, const char *text, struct ckpt_evfd_state *st, const char **why)
{
	uint64_t v;

	memset(st, 0, sizeof(*st));
	switch (kind) {
	case CKPT_EVFD_EVENTFD:
		if (!evfd_key_num(text, "eventfd-count:", 16, &st->count) ||
		    st->count > CKPT_EVFD_COUNT_MAX) {
			*why = "no eventfd-count line in its fdinfo";
			return -EINVAL;
		}
		/* Printed by recent kernels only; without it the mode is unknown. */
		if (!evfd_key_num(text, "eventfd-semaphore:", 10, &v) || v > 1) {
			*why = "no eventfd-semaphore line in its fdinfo (an older kernel)";
			return -EINVAL;
		}
		st->flags = v ? CKPT_EVFD_SEMAPHORE : 0;
		return 0;
	case CKPT_EVFD_TIMERFD:
		if (!evfd_key_num(text, "clockid:", 10, &v) || v > INT32_MAX) {
			*why = "no clockid line in its fdinfo";
			return -EINVAL;
		}
		st->clockid = (int32_t)v;
		if (!evfd_key_num(text, "ticks:", 10, &st->count)) {
			*why = "no ticks line in its fdinfo";
			return -EINVAL;
		}
		if (!evfd_key_num(text, "settime flags:", 8, &v) ||
		    (v & ~(uint64_t)CKPT_EVFD_TFD_FLAGS_KNOWN)) {
			*why = "no known settime flags in its fdinfo";
			return -EINVAL;
		}
		st->flags = (uint32_t)v;
		if (!evfd_time(evfd_field(text, "it_value:"), &st->value_ns) ||
		    !evfd_time(evfd_field(text, "it_interval:"), &st->interval_ns)) {
			*why = "no it_value or it_interval line in its fdinfo";
			return -EINVAL;
		}
		return 0;
	case CKPT_EVFD_SIGNALFD:
		if (!evfd_key_num(text, "sigmask:", 16, &st->sigmask)) {
			*why = "no sigmask line in its fdinfo";
			return -EINVAL;
		}
		return 0;
	}
	*why = "unknown kind";
	return -EINVAL;
}

/* Reads /proc/thread-self/fdinfo/@fd into @buf (NUL-terminated). */
static int evfd_read_fdinfo(int fd, char *buf, size_t cap)
{
	char path[ENG_FDINFO_PATH_MAX];
	ssize_t got;

	eng_fdinfo_path(path, fd);
	got = eng_read_small(path, buf, cap);
	if (got < 0)
		return (int)got;
	return got ? 0 : -EIO;
}

static bool evfd_realtime(int32_t clockid)
{
	return clockid == CLOCK_REALTIME || clockid == CLOCK_REALTIME_ALARM;
}

/* An absolute realtime timer keeps its wall-clock deadline (@now_ns plus
 * the time left) across the restart; other timers count what is left. */
static void evfd_set_deadline(struct ckpt_evfd_state *st, int64_t now_ns)
{
	st->abs_ns = 0;
	if ((st->flags & TFD_TIMER_ABSTIME) && evfd_realtime(st->clockid) && st->value_ns > 0)
		st->abs_ns = now_ns > INT64_MAX - st->value_ns ? INT64_MAX : now_ns + st->value_ns;
}

/* A timer: timerfd_gettime first, which makes the kernel count the
 * expirations of a periodic timer it has not re-armed yet; then its fdinfo,
 * read under the timer's lock, gives ticks and times of one instant. If the
 * timer expired in between (a periodic one then shows no time left), the
 * pair is read again. */
static int evfd_capture_timer(int fd, char *buf, size_t cap, struct ckpt_evfd_state *st,
			      const char **why)
{
	int64_t now_ns = 0;
	int ret = -EIO;

	for (int i = 0; i < EVFD_TIMER_TRIES; i++) {
		struct itimerspec its;
		struct timespec now;

		if (syscall(SYS_timerfd_gettime, fd, &its) < 0) {
			*why = "timerfd_gettime failed";
			return -errno;
		}
		if (clock_gettime(CLOCK_REALTIME, &now) < 0) {
			*why = "clock_gettime failed";
			return -errno;
		}
		ret = evfd_read_fdinfo(fd, buf, cap);
		if (ret < 0) {
			*why = "its fdinfo is unreadable";
			return ret;
		}
		ret = ckpt_evfd_parse_fdinfo(CKPT_EVFD_TIMERFD, buf, st, why);
		if (ret < 0)
			return ret;
		/* The kernel keeps TFD_TIMER_CANCEL_ON_SET whatever the clock
		 * but honours it only on an absolute realtime timer, which is
		 * all the restore can arm with it. */
		if (!((st->flags & TFD_TIMER_ABSTIME) && evfd_realtime(st->clockid)))
			st->flags &= ~(uint32_t)TFD_TIMER_CANCEL_ON_SET;
		now_ns = (int64_t)now.tv_sec * EVFD_NS + now.tv_nsec;
		if (st->value_ns == 0 && st->interval_ns > 0)
			continue;
		evfd_set_deadline(st, now_ns);
		return 0;
	}
	/* Still expiring faster than it can be read: take one period as
	 * the time left, which the next read would have found. */
	st->value_ns = st->interval_ns;
	evfd_set_deadline(st, now_ns);
	return 0;
}

int ckpt_evfd_capture(int kind, int fd, struct ckpt_evfd_state *st, const char **why)
{
	/* Zeroed: the analyzer cannot see the raw read() fill it. */
	char buf[1024] = { 0 };
	int ret;

	if (kind == CKPT_EVFD_TIMERFD)
		return evfd_capture_timer(fd, buf, sizeof(buf), st, why);
	ret = evfd_read_fdinfo(fd, buf, sizeof(buf));
	if (ret < 0) {
		*why = "its fdinfo is unreadable";
		return ret;
	}
	return ckpt_evfd_parse_fdinfo(kind, buf, st, why);
}

static bool evfd_clock_ok(int32_t c)
{
	return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC || c == CLOCK_BOOTTIME ||
	       c == CLOCK_REALTIME_ALARM || c == CLOCK_BOOTTIME_ALARM;
}

int ckpt_evfd_check(int kind, int fd, uint32_t open_flags, const void *data, uint64_t len)
{
	struct ckpt_evfd_state st;
	const char *name = ckpt_evfd_kind_name(kind);

	if (kind < 0 || kind > 2 || len != sizeof(st)) {
		log_err("fd %d: %s state of %llu bytes (expected %zu)", fd, name,
			(unsigned long long)len, sizeof(st));
		return -EINVAL;
	}
	memcpy(&st, data, sizeof(st));
	if ((open_flags & ~(uint32_t)(O_NONBLOCK | O_LARGEFILE)) != O_RDWR || st.reserved) {
		log_err("fd %d: %s with open flags 0%o or reserved bits", fd, name, open_flags);
		return -EINVAL;
	}
	switch (kind) {
	case CKPT_EVFD_EVENTFD:
		if ((st.flags & ~CKPT_EVFD_SEMAPHORE) || st.count > CKPT_EVFD_COUNT_MAX ||
		    st.clockid || st.sigmask || st.value_ns || st.interval_ns || st.abs_ns) {
			log_err("fd %d: invalid eventfd state (flags %#x, counter %llu)", fd,
				st.flags, (unsigned long long)st.count);
			return -EINVAL;
		}
		return 0;
	case CKPT_EVFD_TIMERFD:
		if (!evfd_clock_ok(st.clockid)) {
			log_err("fd %d: timerfd on unknown clock %d", fd, st.clockid);
			return -EINVAL;
		}
		if ((st.flags & ~CKPT_EVFD_TFD_FLAGS_KNOWN) ||
		    ((st.flags & TFD_TIMER_CANCEL_ON_SET) &&
		     (!(st.flags & TFD_TIMER_ABSTIME) || !evfd_realtime(st.clockid)))) {
			log_err("fd %d: timerfd with invalid settime flags %#x", fd, st.flags);
			return -EINVAL;
		}
		if (st.value_ns < 0 || st.interval_ns < 0 || st.abs_ns < 0 || st.sigmask ||
		    (st.interval_ns == 0 && st.count > 1) ||
		    ((st.abs_ns != 0) != ((st.flags & TFD_TIMER_ABSTIME) &&
					  evfd_realtime(st.clockid) && st.value_ns > 0))) {
			log_err("fd %d: invalid timerfd times (left %lld ns, period %lld ns, "
				"at %lld ns, %llu unread)",
				fd, (long long)st.value_ns, (long long)st.interval_ns,
				(long long)st.abs_ns, (unsigned long long)st.count);
			return -EINVAL;
		}
		return 0;
	case CKPT_EVFD_SIGNALFD:
		if (st.flags || st.clockid || st.count || st.value_ns || st.interval_ns ||
		    st.abs_ns) {
			log_err("fd %d: invalid signalfd state", fd);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

static void evfd_ts(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = ns / EVFD_NS;
	ts->tv_nsec = ns % EVFD_NS;
}

/* The expirations timer @t counts now (its fdinfo's ticks, after
 * timerfd_gettime made the kernel count a periodic timer's overruns), 0 if
 * unreadable (the caller then restores the saved count alone). */
static uint64_t evfd_ticks_now(int t)
{
	char buf[1024] = { 0 };
	struct itimerspec its;
	uint64_t ticks = 0;

	if (syscall(SYS_timerfd_gettime, t, &its) < 0 ||
	    evfd_read_fdinfo(t, buf, sizeof(buf)) < 0 || !evfd_key_num(buf, "ticks:", 10, &ticks))
		return 0;
	return ticks;
}

/* Arms the new timer @t as the saved @st says: a relative time left runs
 * from now; an absolute one on CLOCK_REALTIME keeps its wall-clock time (a
 * deadline in the past fires at once); an absolute one on another clock,
 * whose origin is this boot, is moved to now plus the time left. Then the
 * expirations not yet read are put back. */
static int evfd_arm_timer(int t, int fd, const struct ckpt_evfd_state *st)
{
	struct itimerspec its;
	int flags = 0;

	memset(&its, 0, sizeof(its));
	evfd_ts(st->interval_ns, &its.it_interval);
	if (st->value_ns > 0) {
		int64_t at = st->value_ns;

		if ((st->flags & TFD_TIMER_ABSTIME) && evfd_realtime(st->clockid)) {
			at = st->abs_ns;
			flags = (int)st->flags;
		} else if (st->flags & TFD_TIMER_ABSTIME) {
			struct timespec now;

			if (clock_gettime(st->clockid, &now) < 0) {
				log_perror("fd %d: cannot read clock %d", fd, st->clockid);
				return -errno;
			}
			at = (int64_t)now.tv_sec * EVFD_NS + now.tv_nsec;
			at = at > INT64_MAX - st->value_ns ? INT64_MAX : at + st->value_ns;
			flags = TFD_TIMER_ABSTIME;
		}
		evfd_ts(at, &its.it_value);
	}
	if ((st->value_ns > 0 || st->interval_ns > 0) &&
	    syscall(SYS_timerfd_settime, t, flags, &its, NULL) < 0) {
		log_perror("fd %d: cannot arm the timerfd again", fd);
		return -errno;
	}
	if (st->count) {
		/* SET_TICKS replaces the count: add what the timer, just armed,
		 * may already have expired (a deadline passed while the job was
		 * down, a period shorter than this path). */
		uint64_t ticks = st->count + evfd_ticks_now((int)t);

		if (syscall(SYS_ioctl, t, TFD_IOC_SET_TICKS, &ticks) < 0) {
			/* Needs CONFIG_CHECKPOINT_RESTORE; refusing the
			 * restart would lose more than these expirations. */
			log_perror("fd %d: cannot put back the %llu expirations of the timerfd "
				   "not yet read (TFD_IOC_SET_TICKS); they are lost",
				   fd, (unsigned long long)st->count);
		}
	}
	return 0;
}

int ckpt_evfd_restore(int kind, int fd, uint32_t open_flags, const void *data)
{
	struct ckpt_evfd_state st;
	bool nb = open_flags & O_NONBLOCK;
	long t = -1;
	int ret = 0;

	memcpy(&st, data, sizeof(st));
	switch (kind) {
	case CKPT_EVFD_EVENTFD:
		t = syscall(SYS_eventfd2, 0,
			    EFD_CLOEXEC | (nb ? EFD_NONBLOCK : 0) |
				    ((st.flags & CKPT_EVFD_SEMAPHORE) ? EFD_SEMAPHORE : 0));
		if (t < 0)
			break;
		/* The counter starts at 0: adding the saved value cannot block. */
		if (st.count &&
		    syscall(SYS_write, (int)t, &st.count, sizeof(st.count)) != sizeof(st.count)) {
			ret = -(errno ? errno : EIO);
			log_perror("fd %d: cannot set the eventfd counter to %llu", fd,
				   (unsigned long long)st.count);
			goto out_close;
		}
		return (int)t;
	case CKPT_EVFD_TIMERFD:
		t = syscall(SYS_timerfd_create, st.clockid, TFD_CLOEXEC | (nb ? TFD_NONBLOCK : 0));
		if (t < 0)
			break;
		ret = evfd_arm_timer((int)t, fd, &st);
		if (ret < 0)
			goto out_close;
		return (int)t;
	case CKPT_EVFD_SIGNALFD:
		t = syscall(SYS_signalfd4, -1, &st.sigmask, sizeof(st.sigmask),
			    O_CLOEXEC | (nb ? O_NONBLOCK : 0));
		if (t < 0)
			break;
		return (int)t;
	default:
		return -EINVAL;
	}
	ret = -errno;
	log_perror("fd %d: cannot make a new %s", fd, ckpt_evfd_kind_name(kind));
	return ret;
out_close:
	syscall(SYS_close, (int)t);
	return ret;
}

/* Looks in process @pid's descriptors for one on our @fd's description. */
static int evfd_scan_pid(int kind, int fd, long self, long pid, int *pfd)
{
	char path[48] = "/proc/";
	size_t len = eng_append_num(path, strlen(path), (unsigned long)pid);
	uint64_t dbuf[128];
	struct eng_dir dir;
	const char *name;
	long dfd;
	int ret = 0;

	memcpy(path + len, "/fd", 4);
	dfd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0; /* gone, or not ours to read: see the caller */
	eng_dir_start(&dir, (int)dfd, dbuf, sizeof(dbuf));
	while (ret == 0 && (name = eng_dir_next(&dir))) {
		char link[32];
		long l;
		long ofd;

		if (!eng_proc_num(name, &ofd))
			continue;
		l = syscall(SYS_readlinkat, (int)dfd, name, link, sizeof(link) - 1);
		if (l <= 0)
			continue;
		link[l] = '\0';
		if (ckpt_evfd_kind_of(link) != kind)
			continue;
		l = syscall(SYS_kcmp, self, pid, KCMP_FILE, fd, ofd);
		if (l != 1 && l != 2) {
			*pfd = (int)ofd;
			ret = l == 0 ? 1 : -1;
		}
	}
	syscall(SYS_close, (int)dfd);
	return ret;
}

int ckpt_evfd_tree_shared(int kind, int fd, long self, long *pid, int *pfd)
{
	uint64_t dbuf[256];
	long dfd = syscall(SYS_openat, AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct eng_dir dir;
	const char *name;
	int ret = 0;

	if (dfd < 0)
		return 0;
	eng_dir_start(&dir, (int)dfd, dbuf, sizeof(dbuf));
	while (ret == 0 && (name = eng_dir_next(&dir))) {
		long p;

		/* pid 1 is 'ckpt run''s init, re-created without
		 * descriptors of the program. */
		if (!eng_proc_num(name, &p) || p <= 1 || p == self)
			continue;
		ret = evfd_scan_pid(kind, fd, self, p, pfd);
		if (ret)
			*pid = p;
	}
	syscall(SYS_close, (int)dfd);
	return ret;
}
