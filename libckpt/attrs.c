/* attrs.c - the "attrs" subsystem: process attributes the memory image does
 * not hold (working directory, umask, resource limits, name, personality),
 * and the /proc/thread-self/status reader the capture functions share.
 *
 * capture() runs with the other application threads stopped in a signal
 * handler: raw syscalls and the caller's buffer only. The record layout is
 * in docs/files-and-state.md.
 */
#define LOG_PREFIX "attrs: "

#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

/* "ATR1" little-endian: first word of the record. */
#define ATTRS_REC_MAGIC 0x31525441u
/* Bumped whenever the layout below changes. */
#define ATTRS_REC_VERSION 1u
/* Slots for resource limits: Linux has had 16 (RLIM_NLIMITS) since 2.6.25. */
#define ATTRS_RLIM_SLOTS 16u
/* Length of the kernel's task name (TASK_COMM_LEN) including its NUL. */
#define ATTRS_COMM_LEN 16u
/* personality(2) argument that queries without changing. */
#define ATTRS_PERSONALITY_QUERY 0xffffffffu

/* One resource limit as prlimit64(2) reports it (files.h). */
#define attrs_rlim ckpt_rlim

/* The record; followed by cwd[cwd_len] (NUL-terminated) and zero padding to
 * a multiple of 8 bytes. */
struct attrs_rec {
	uint32_t magic;		   /* ATTRS_REC_MAGIC */
	uint32_t version;	   /* ATTRS_REC_VERSION */
	uint32_t umask;		   /* file mode creation mask, 0..0777 */
	uint32_t personality;	   /* personality(2) value */
	uint32_t rlim_count;	   /* valid slots of rlim[]: RLIM_NLIMITS at capture */
	uint32_t cwd_len;	   /* bytes of cwd with its NUL; 0: cwd not saved */
	char comm[ATTRS_COMM_LEN]; /* process name (/proc/self/comm), NUL-terminated */
	struct attrs_rlim rlim[ATTRS_RLIM_SLOTS]; /* indexed by RLIMIT_* */
};

/* Pinned in docs/files-and-state.md. */
_Static_assert(sizeof(struct attrs_rec) == 296, "attrs record layout");

/* The limits the program started with (or, after a restore by Slurm, the
 * ones that start gave), and the valid slots of it; part of the image. */
static struct attrs_rlim attrs_start[ATTRS_RLIM_SLOTS];
static uint32_t attrs_start_count;
/* This start's limits while a restore by Slurm runs, else none. */
static struct attrs_rlim attrs_fresh[ATTRS_RLIM_SLOTS];
static uint32_t attrs_fresh_count;

static const char *const attrs_rlim_names[ATTRS_RLIM_SLOTS] = {
	"CPU",	   "FSIZE", "DATA",  "STACK",	   "CORE",     "RSS",  "NPROC",	 "NOFILE",
	"MEMLOCK", "AS",    "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME",
};

static size_t attrs_align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Matches one line of /proc/thread-self/status against "@key:" while it streams by.
 * State of ckpt_proc_status_field(). */
struct attrs_scan {
	const char *key; /* wanted key, without the colon */
	size_t klen;	 /* its length */
	size_t col;	 /* column in the current line */
	bool match;	 /* the line so far equals key[0..col) */
	bool in_val;	 /* past "key:" of the wanted line */
	bool done;	 /* value complete */
	char *val;	 /* caller's buffer */
	size_t cap;	 /* its capacity */
	size_t vlen;	 /* bytes of value stored */
	bool overflow;	 /* value longer than cap - 1 */
};

static void attrs_scan_byte(struct attrs_scan *s, char ch)
{
	if (s->in_val) {
		if (ch == '\n') {
			s->done = true;
		} else if ((ch == ' ' || ch == '\t') && s->vlen == 0) {
			/* leading blanks are not part of the value */
		} else if (s->vlen + 1 < s->cap) {
			s->val[s->vlen++] = ch;
		} else {
			s->overflow = true;
		}
		return;
	}
	if (ch == '\n') {
		s->col = 0;
		s->match = true;
		return;
	}
	if (s->match) {
		if (s->col < s->klen)
			s->match = ch == s->key[s->col];
		else
			s->in_val = s->match = ch == ':';
	}
	s->col++;
}

ssize_t ckpt_proc_status_field(const char *key, char *val, size_t cap)
{
	struct attrs_scan s = {
		.key = key,
		.klen = strlen(key),
		.match = true,
		.val = val,
		.cap = cap,
	};
	char buf[512];
	long fd;
	ssize_t ret = -ENOENT;

	if (cap == 0)
		return -ENOSPC;
	/* thread-self: a zombie main thread (after pthread_exit) has no Umask
	 * line in /proc/self/status; process-wide fields read the same. */
	fd = syscall(SYS_openat, AT_FDCWD, "/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (!s.done) {
		long n = syscall(SYS_read, (int)fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0) {
			s.done = s.in_val; /* value on a last line without '\n' */
			break;
		}
		for (long i = 0; i < n && !s.done; i++)
			attrs_scan_byte(&s, buf[i]);
	}
	syscall(SYS_close, (int)fd);
	if (!s.done)
		return ret;
	val[s.vlen] = '\0';
	return s.overflow ? -ENOSPC : (ssize_t)s.vlen;
}

/* Reads the umask without changing it: /proc/self/status has it since
 * Linux 4.7; older kernels get umask() set and put back, which is safe here
 * because every other application thread is stopped. */
static uint32_t attrs_get_umask(void)
{
	char v[16] = "";
	uint32_t m = 0;
	long old;

	if (ckpt_proc_status_field("Umask", v, sizeof(v)) > 0) {
		const char *p = v;

		for (; *p >= '0' && *p <= '7'; p++)
			m = m * 8 + (uint32_t)(*p - '0');
		if (!*p && m <= 0777)
			return m;
	}
	old = syscall(SYS_umask, 022);
	syscall(SYS_umask, old);
	return (uint32_t)old & 0777;
}

/* Reads the process name: the thread group leader's, which ps shows.
 * PR_GET_NAME would give the calling (checkpoint) thread's. */
static void attrs_get_comm(char comm[ATTRS_COMM_LEN])
{
	long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/comm", O_RDONLY | O_CLOEXEC);
	long n = 0;

	if (fd >= 0) {
		n = syscall(SYS_read, (int)fd, comm, ATTRS_COMM_LEN - 1);
		syscall(SYS_close, (int)fd);
	}
	if (n < 0)
		n = 0;
	if (n > 0 && comm[n - 1] == '\n')
		n--;
	comm[n] = '\0';
}

/* Names the process again, through the leader's comm like attrs_get_comm(). */
static void attrs_set_comm(const char *comm)
{
	long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/comm", O_WRONLY | O_CLOEXEC);
	long n = -1;

	if (fd >= 0) {
		n = syscall(SYS_write, (int)fd, comm, strlen(comm));
		syscall(SYS_close, (int)fd);
	}
	if (n < 0)
		log_warn("cannot restore the process name %s: %s", comm, strerror(errno));
}

static ssize_t attrs_capture(void *buf, size_t cap, void (*warn)(const char *msg))
{
	struct attrs_rec r;
	char *cwd = (char *)buf + sizeof(r);
	size_t room;
	size_t len;
	long n;

	if (cap < sizeof(r) + 8)
		return -ENOSPC;
	memset(&r, 0, sizeof(r));
	r.magic = ATTRS_REC_MAGIC;
	r.version = ATTRS_REC_VERSION;
	r.umask = attrs_get_umask();
	r.personality = (uint32_t)syscall(SYS_personality, ATTRS_PERSONALITY_QUERY);
	attrs_get_comm(r.comm);

	r.rlim_count = RLIM_NLIMITS < ATTRS_RLIM_SLOTS ? RLIM_NLIMITS : ATTRS_RLIM_SLOTS;
	for (uint32_t i = 0; i < r.rlim_count; i++) {
		struct rlimit rl;

		if (syscall(SYS_prlimit64, 0, i, NULL, &rl) < 0)
			return -errno;
		r.rlim[i].cur = rl.rlim_cur;
		r.rlim[i].max = rl.rlim_max;
	}

	room = cap - sizeof(r);
	if (room > PATH_MAX)
		room = PATH_MAX;
	n = syscall(SYS_getcwd, cwd, room);
	if (n < 0 && errno == ERANGE && room < PATH_MAX)
		return -ENOSPC;
	if (n < 0 && warn)
		warn(errno == ENOENT
			     ? "the working directory was deleted; a restart keeps the launcher's"
			     : "the working directory cannot be read; a restart keeps the launcher's");
	else if (n > 0 && cwd[0] != '/' && warn)
		warn("the working directory is outside this root; a restart keeps the launcher's");
	r.cwd_len = (n > 1 && cwd[0] == '/') ? (uint32_t)n : 0;

	len = attrs_align8(sizeof(r) + r.cwd_len);
	if (len > cap)
		return -ENOSPC;
	memset(cwd + r.cwd_len, 0, len - sizeof(r) - r.cwd_len);
	memcpy(buf, &r, sizeof(r));
	return (ssize_t)len;
}

/* Checks every field of the record; logs and returns -EINVAL if one is bad. */
static int attrs_validate(const struct attrs_rec *r, const char *cwd, size_t len)
{
	if (r->magic != ATTRS_REC_MAGIC || r->version != ATTRS_REC_VERSION) {
		log_err("bad record header (magic %#x version %u)", r->magic, r->version);
		return -EINVAL;
	}
	if (r->cwd_len > PATH_MAX || len != attrs_align8(sizeof(*r) + r->cwd_len)) {
		log_err("record of %zu bytes does not hold a %u-byte directory", len, r->cwd_len);
		return -EINVAL;
	}
	if (r->cwd_len && (r->cwd_len < 2 || cwd[0] != '/' || cwd[r->cwd_len - 1] != '\0' ||
			   memchr(cwd, '\0', r->cwd_len - 1))) {
		log_err("working directory is not one absolute NUL-terminated path");
		return -EINVAL;
	}
	if (r->umask > 0777 || r->personality == ATTRS_PERSONALITY_QUERY ||
	    !memchr(r->comm, '\0', sizeof(r->comm))) {
		log_err("invalid umask %#o, personality %#x or process name", r->umask,
			r->personality);
		return -EINVAL;
	}
	if (r->rlim_count > ATTRS_RLIM_SLOTS || r->rlim_count > RLIM_NLIMITS) {
		log_err("%u resource limits, this kernel has %d", r->rlim_count, RLIM_NLIMITS);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < r->rlim_count; i++) {
		if (r->rlim[i].cur > r->rlim[i].max) {
			log_err("RLIMIT_%s: soft limit %llu above hard limit %llu",
				attrs_rlim_names[i], (unsigned long long)r->rlim[i].cur,
				(unsigned long long)r->rlim[i].max);
			return -EINVAL;
		}
	}
	return 0;
}

/* Sets one limit. A hard limit above the current one needs privilege: keep
 * the current hard limit, clamp the soft one, warn and go on. */
static void attrs_restore_rlimit(uint32_t i, const struct attrs_rlim *want)
{
	struct rlimit rl = { .rlim_cur = want->cur, .rlim_max = want->max };
	struct rlimit now;

	if (syscall(SYS_prlimit64, 0, i, &rl, NULL) == 0)
		return;
	if (errno == EPERM && syscall(SYS_prlimit64, 0, i, NULL, &now) == 0 &&
	    want->max > now.rlim_max) {
		rl.rlim_max = now.rlim_max;
		rl.rlim_cur = want->cur < now.rlim_max ? want->cur : now.rlim_max;
		if (syscall(SYS_prlimit64, 0, i, &rl, NULL) == 0) {
			log_warn("RLIMIT_%s: hard limit %llu cannot be raised back "
				 "from %llu; soft limit now %llu",
				 attrs_rlim_names[i], (unsigned long long)want->max,
				 (unsigned long long)now.rlim_max, (unsigned long long)rl.rlim_cur);
			return;
		}
	}
	log_warn("RLIMIT_%s: cannot restore %llu/%llu: %s", attrs_rlim_names[i],
		 (unsigned long long)want->cur, (unsigned long long)want->max, strerror(errno));
}

void ckpt_attrs_start_save(void)
{
	uint32_t n = RLIM_NLIMITS < ATTRS_RLIM_SLOTS ? RLIM_NLIMITS : ATTRS_RLIM_SLOTS;

	for (uint32_t i = 0; i < n; i++) {
		struct rlimit rl;

		if (syscall(SYS_prlimit64, 0, i, NULL, &rl) < 0)
			return;
		attrs_start[i].cur = rl.rlim_cur;
		attrs_start[i].max = rl.rlim_max;
	}
	attrs_start_count = n;
}

void ckpt_attrs_use_fresh_limits(const struct ckpt_rlim *fresh, size_t count)
{
	attrs_fresh_count = 0;
	if (!fresh)
		return;
	if (count > ATTRS_RLIM_SLOTS)
		count = ATTRS_RLIM_SLOTS;
	memcpy(attrs_fresh, fresh, count * sizeof(*fresh));
	attrs_fresh_count = (uint32_t)count;
}

/* The value limit @i gets at restore: the saved one, unless the process is
 * restored by Slurm and did not change the limit itself since its start;
 * then the one Slurm gave this start. */
static const struct attrs_rlim *attrs_rlim_wanted(uint32_t i, const struct attrs_rlim *saved)
{
	if (i >= attrs_fresh_count || i >= attrs_start_count)
		return saved;
	if (saved->cur != attrs_start[i].cur || saved->max != attrs_start[i].max)
		return saved;
	return &attrs_fresh[i];
}

static int attrs_check(const void *rec, size_t len)
{
	struct attrs_rec r;

	if (!rec || len < sizeof(r)) {
		log_err("record of %zu bytes is too short", len);
		return -EINVAL;
	}
	memcpy(&r, rec, sizeof(r));
	return attrs_validate(&r, (const char *)rec + sizeof(r), len);
}

static int attrs_restore(const void *rec, size_t len)
{
	struct attrs_rec r;
	const char *cwd = (const char *)rec + sizeof(r);
	int ret;

	ret = attrs_check(rec, len);
	if (ret < 0)
		return ret;
	memcpy(&r, rec, sizeof(r));

	if (r.cwd_len && syscall(SYS_chdir, cwd) < 0) {
		ret = -errno;
		log_perror("cannot return to the working directory %s", cwd);
		return ret;
	}
	if (!r.cwd_len)
		log_warn("working directory was not saved; keeping the launcher's");
	syscall(SYS_umask, r.umask);
	for (uint32_t i = 0; i < r.rlim_count; i++)
		attrs_restore_rlimit(i, attrs_rlim_wanted(i, &r.rlim[i]));
	/* What this start gave is the baseline for the next restore. */
	if (attrs_fresh_count) {
		memcpy(attrs_start, attrs_fresh, attrs_fresh_count * sizeof(*attrs_fresh));
		attrs_start_count = attrs_fresh_count;
		attrs_fresh_count = 0;
	}
	if (r.comm[0])
		attrs_set_comm(r.comm);
	if (syscall(SYS_personality, r.personality) < 0)
		log_warn("cannot restore personality %#x: %s", r.personality, strerror(errno));
	return 0;
}

const struct ckpt_subsys ckpt_attrs_subsys = {
	.name = "attrs",
	.record_type = CKPT_REC_ATTRS,
	.capture = attrs_capture,
	.check = attrs_check,
	.restore = attrs_restore,
};
