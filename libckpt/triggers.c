/* triggers.c - SIGTERM and SIGUSR1 as checkpoint requests (triggers.h).
 *
 * While the application leaves SIGTERM or SIGUSR1 at SIG_DFL, libckpt's
 * handler takes them. The handler, in whichever application thread the
 * kernel picked, opens a short client connection to the agent, sends
 * {"v":1,"type":"checkpoint","trigger":"sigterm"|"signal","kill":true} and
 * waits for the answer, bounded. The agent decides: a final checkpoint ends
 * the process through the checkpoint thread ("exit", status 85); otherwise
 * the handler does what the signal would have done (SIGTERM: the
 * application's disposition again, then the signal re-raised) or reports
 * the failure (SIGUSR1: one line on stderr, the process goes on).
 *
 * Everything the handler does is async-signal-safe: system calls, static
 * per-signal buffers, no malloc, no stdio, no locale. The checkpoint thread
 * is not involved and keeps serving prepare/write on its own connection.
 * The handler runs with every signal blocked; only inside its ppoll() is
 * the quiesce signal let through (and SIGTERM, while waiting for a SIGUSR1
 * request), so a checkpoint always finds the thread there, never between
 * two steps. That makes restores simple: a restored thread comes back out
 * of that ppoll(), sees that the restore epoch changed (its connection is
 * gone, the number may be reused) and returns without touching anything;
 * the request it made is what produced the image.
 *
 * The application's view of the two actions is kept here: sigaction()
 * reports what it set (SIG_DFL while intercepted, never our handler); once
 * it installs a handler or SIG_IGN, that goes to the kernel and nothing is
 * intercepted until it sets SIG_DFL again. A forked child (no checkpoint
 * thread, not registered) gets the application's actions back.
 */
#define LOG_PREFIX "libckpt: "
#include "libckpt.h"
#include "triggers.h"

#include "files.h"
#include "frame.h"
#include "log.h"
#include "msg.h" /* PROTO_E_STATE */

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* Default bound on the wait for the agent's answer to a SIGTERM request
 * (CKPT_SIGTERM_WAIT): long enough for a final checkpoint of a few GiB,
 * shorter than a typical preemption GraceTime. */
#define ENG_TRIG_WAIT_S 60
/* Largest CKPT_SIGTERM_WAIT accepted: a day. */
#define ENG_TRIG_WAIT_MAX_S 86400
/* Bound on a SIGUSR1 request: the application goes on meanwhile (only the
 * thread that took the signal waits), and a final checkpoint of a large
 * process may take minutes; a hung agent must not hold the thread forever. */
#define ENG_TRIG_USR1_WAIT_MS (10 * 60 * 1000)
/* After "committed" the agent's "exit" is already on its way; a process
 * still running this much later was not part of the checkpoint. */
#define ENG_TRIG_EXIT_GRACE_MS 10000
/* Largest answer read: an error's text is at most 1024 bytes, escaped. */
#define ENG_TRIG_RX_MAX 8192
/* Longest reason printed. */
#define ENG_TRIG_WHY_MAX 512

enum eng_trig_result {
	ENG_TRIG_COMMITTED, /* the agent committed a final generation */
	ENG_TRIG_REFUSED,   /* the agent answered "error" */
	ENG_TRIG_FAILED,    /* unreachable, hung up, timed out, garbled */
	ENG_TRIG_RESTORED,  /* the process was restored while waiting */
};

/* One intercepted signal and its request. */
struct eng_trig_slot {
	const char *trigger;	      /* "trigger" of the request */
	const char *name;	      /* for messages */
	int64_t code;		      /* "code" of an error answer, -1 if none */
	int64_t gen;		      /* "gen" of a committed answer, -1 if none */
	size_t req_len;		      /* bytes in req */
	size_t rx_len;		      /* bytes in rx */
	struct sigaction app;	      /* the application's view (under eng_trig_lock) */
	int signo;		      /* SIGTERM or SIGUSR1 */
	uint32_t busy;		      /* a handler serves a request (atomic) */
	int fd;			      /* its client connection, -1 (atomic) */
	int wait_ms;		      /* bound on the answer */
	bool intercepting;	      /* our handler is in the kernel (same lock) */
	char req[128];		      /* the request frame, built once */
	char why[ENG_TRIG_WHY_MAX];   /* reason of a failure, for the user */
	char rx[ENG_TRIG_RX_MAX + 1]; /* the answer frame, NUL after the payload */
};

static struct eng_trig_slot eng_trig_slots[] = {
	{ .signo = SIGTERM, .trigger = "sigterm", .name = "SIGTERM", .fd = -1 },
	{ .signo = SIGUSR1, .trigger = "signal", .name = "SIGUSR1", .fd = -1 },
};
#define ENG_TRIG_NSLOTS (sizeof(eng_trig_slots) / sizeof(eng_trig_slots[0]))

static enum eng_trig_mode eng_trig_mode;
/* The agent's socket (the new agent's after a restore). */
static struct sockaddr_un eng_trig_addr;
/* Bumped in a restored process: requests of an older epoch are over. */
static uint32_t eng_trig_epoch;
/* Spin lock over intercepting/app; held with every signal blocked. */
static uint32_t eng_trig_lock_word;
/* Our action for both signals. */
static struct sigaction eng_trig_ours;
/* Descriptors hidden from the capture by eng_trig_fds_exclude(). */
static int eng_trig_excluded[ENG_TRIG_NSLOTS] = { -1, -1 };

static void eng_trig_lock(void)
{
	while (__atomic_exchange_n(&eng_trig_lock_word, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void eng_trig_unlock(void)
{
	__atomic_store_n(&eng_trig_lock_word, 0, __ATOMIC_RELEASE);
}

static struct eng_trig_slot *eng_trig_slot_of(int sig)
{
	for (size_t i = 0; i < ENG_TRIG_NSLOTS; i++)
		if (eng_trig_slots[i].signo == sig)
			return &eng_trig_slots[i];
	return NULL;
}

/* ---- async-signal-safe text ----------------------------------------- */

/* Appends @s to @buf (capacity @cap, kept NUL-terminated) at *@n. */
static void eng_trig_cat(char *buf, size_t cap, size_t *n, const char *s)
{
	while (*s && *n + 1 < cap)
		buf[(*n)++] = *s++;
	buf[*n] = '\0';
}

static void eng_trig_cat_int(char *buf, size_t cap, size_t *n, int64_t v)
{
	char digits[24];
	size_t i = sizeof(digits) - 1;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	digits[i] = '\0';
	do {
		digits[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		digits[--i] = '-';
	eng_trig_cat(buf, cap, n, digits + i);
}

/* strerror() is not async-signal-safe (locale): the errors a connection to
 * a local socket can meet, in words. */
static void eng_trig_cat_errno(char *buf, size_t cap, size_t *n, int err)
{
	switch (err) {
	case ENOENT:
		eng_trig_cat(buf, cap, n, "no such socket");
		break;
	case ECONNREFUSED:
		eng_trig_cat(buf, cap, n, "connection refused");
		break;
	case EACCES:
	case EPERM:
		eng_trig_cat(buf, cap, n, "permission denied");
		break;
	case EAGAIN:
		eng_trig_cat(buf, cap, n, "the agent's backlog is full");
		break;
	case ECONNRESET:
	case EPIPE:
		eng_trig_cat(buf, cap, n, "connection reset");
		break;
	case EMFILE:
	case ENFILE:
		eng_trig_cat(buf, cap, n, "too many open files");
		break;
	default:
		eng_trig_cat(buf, cap, n, "errno ");
		eng_trig_cat_int(buf, cap, n, err);
		break;
	}
}

static void eng_trig_fail(struct eng_trig_slot *s, const char *what, int err)
{
	size_t n = 0;

	eng_trig_cat(s->why, sizeof(s->why), &n, what);
	if (err) {
		eng_trig_cat(s->why, sizeof(s->why), &n, ": ");
		eng_trig_cat_errno(s->why, sizeof(s->why), &n, err);
	}
}

/* Whether the peer of the connected @fd runs as our uid or root; raw
 * syscalls only, from a signal handler. */
static bool eng_trig_peer_ok(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == getuid() || cred.uid == 0;
}

/* ---- the answer: a flat JSON object, read without allocating ---------- */

static const char *eng_js_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* Skips the string starting at the quote @p; NULL if unterminated. */
static const char *eng_js_skip_str(const char *p)
{
	for (p++; *p; p++) {
		if (*p == '\\') {
			if (!*++p)
				return NULL;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

/* Skips one value of any kind; NULL if malformed. */
static const char *eng_js_skip_value(const char *p)
{
	int depth = 0;

	do {
		p = eng_js_ws(p);
		if (*p == '"') {
			p = eng_js_skip_str(p);
			if (!p)
				return NULL;
		} else if (*p == '{' || *p == '[') {
			depth++;
			p++;
		} else if ((*p == '}' || *p == ']' || *p == ',' || *p == ':') && depth > 0) {
			if (*p == '}' || *p == ']')
				depth--;
			p++;
		} else {
			const char *q = p;

			while (*p && !strchr(",:{}[]\" \t\r\n", *p))
				p++;
			if (p == q)
				return NULL;
		}
	} while (depth > 0);
	return p;
}

/* The value of top-level member @key of the object @json, or NULL. */
static const char *eng_js_field(const char *json, const char *key)
{
	size_t kl = strlen(key);
	const char *p = eng_js_ws(json);

	if (*p++ != '{')
		return NULL;
	for (;;) {
		const char *k;
		const char *e;
		bool match;

		p = eng_js_ws(p);
		if (*p != '"')
			return NULL;
		k = p + 1;
		e = eng_js_skip_str(p);
		if (!e)
			return NULL;
		match = (size_t)(e - 1 - k) == kl && !memcmp(k, key, kl);
		p = eng_js_ws(e);
		if (*p++ != ':')
			return NULL;
		p = eng_js_ws(p);
		if (match)
			return p;
		p = eng_js_skip_value(p);
		if (!p)
			return NULL;
		p = eng_js_ws(p);
		if (*p++ != ',')
			return NULL;
	}
}

static int eng_js_hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Appends code point @c as UTF-8 if it fits whole; control characters
 * become spaces (the text ends up on one line of stderr). */
static bool eng_js_put(char *out, size_t cap, size_t *n, unsigned int c)
{
	char b[3];
	size_t len;

	if (c < 0x20)
		c = ' ';
	if (c < 0x80) {
		b[0] = (char)c;
		len = 1;
	} else if (c < 0x800) {
		b[0] = (char)(0xc0 | c >> 6);
		b[1] = (char)(0x80 | (c & 0x3f));
		len = 2;
	} else {
		b[0] = (char)(0xe0 | c >> 12);
		b[1] = (char)(0x80 | (c >> 6 & 0x3f));
		b[2] = (char)(0x80 | (c & 0x3f));
		len = 3;
	}
	if (*n + len >= cap)
		return false;
	memcpy(out + *n, b, len);
	*n += len;
	return true;
}

/* Copies the string member @key into @out, unescaped, cut to @cap at a
 * character boundary. False if absent or not a well-formed string. */
static bool eng_js_str(const char *json, const char *key, char *out, size_t cap)
{
	const char *p = eng_js_field(json, key);
	size_t n = 0;
	bool room = true;

	if (!p || *p != '"' || !cap)
		return false;
	for (p++; *p != '"'; p++) {
		unsigned int c = (unsigned char)*p;

		if (!c)
			return false;
		if (c == '\\') {
			switch (*++p) {
			case '"':
			case '\\':
			case '/':
				c = (unsigned char)*p;
				break;
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				c = ' ';
				break;
			case 'u': {
				int v = eng_js_hex4(p + 1);

				if (v < 0)
					return false;
				/* Surrogate halves (astral characters) as '?'. */
				c = v >= 0xd800 && v <= 0xdfff ? '?' : (unsigned int)v;
				p += 4;
				break;
			}
			default:
				return false;
			}
			if (room)
				room = eng_js_put(out, cap, &n, c);
		} else if (room) {
			/* Raw bytes, UTF-8 included, as they are. */
			room = n + 1 < cap;
			if (room)
				out[n++] = c < 0x20 ? ' ' : (char)c;
		}
	}
	if (!room) /* do not end inside a multi-byte sequence */
		while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
			n--;
	if (!room && n > 0 && (unsigned char)out[n - 1] >= 0xc0)
		n--;
	out[n] = '\0';
	return true;
}

static bool eng_js_int(const char *json, const char *key, int64_t *v)
{
	const char *p = eng_js_field(json, key);
	bool neg = false;
	int64_t x = 0;
	int digits = 0;

	if (!p)
		return false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits >= 18)
			return false;
		x = x * 10 + (*p - '0');
	}
	if (!digits)
		return false;
	*v = neg ? -x : x;
	return true;
}

/* Reads the answer received so far. Returns -1 while incomplete, else the
 * result (with code/gen/why filled in). */
static int eng_trig_parse(struct eng_trig_slot *s)
{
	const unsigned char *h = (const unsigned char *)s->rx;
	char type[32];
	char *payload = s->rx + PROTO_FRAME_HDR_LEN;
	uint32_t len;

	if (s->rx_len < PROTO_FRAME_HDR_LEN)
		return -1;
	len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	if (len == 0 || len > ENG_TRIG_RX_MAX - PROTO_FRAME_HDR_LEN) {
		eng_trig_fail(s, "the agent's answer is not a frame this side reads", 0);
		return ENG_TRIG_FAILED;
	}
	if (s->rx_len < PROTO_FRAME_HDR_LEN + len)
		return -1;
	payload[len] = '\0';
	if (!eng_js_str(payload, "type", type, sizeof(type))) {
		eng_trig_fail(s, "malformed answer from the agent", 0);
		return ENG_TRIG_FAILED;
	}
	if (!strcmp(type, "committed")) {
		eng_js_int(payload, "gen", &s->gen);
		return ENG_TRIG_COMMITTED;
	}
	if (!strcmp(type, "error")) {
		eng_js_int(payload, "code", &s->code);
		if (!eng_js_str(payload, "reason", s->why, sizeof(s->why)) &&
		    !eng_js_str(payload, "message", s->why, sizeof(s->why)))
			eng_trig_fail(s, "the agent refused without a reason", 0);
		return ENG_TRIG_REFUSED;
	}
	size_t n = 0;

	eng_trig_cat(s->why, sizeof(s->why), &n, "unexpected answer \"");
	eng_trig_cat(s->why, sizeof(s->why), &n, type);
	eng_trig_cat(s->why, sizeof(s->why), &n, "\" from the agent");
	return ENG_TRIG_FAILED;
}

/* ---- the request ----------------------------------------------------- */

static bool eng_trig_restored_since(uint32_t epoch)
{
	return __atomic_load_n(&eng_trig_epoch, __ATOMIC_ACQUIRE) != epoch;
}

/* Waits in ppoll() for @pfd (NULL: just time) until @deadline (ms of
 * eng_clock_ms()) with @mask as the signal mask. Returns 1 readable, 0 at
 * the deadline, -EINTR after any signal, -ERESTART when the process was
 * restored meanwhile, -errno. Raw ppoll: libckpt's own ppoll() wrapper
 * would resume the wait after a checkpoint, on a descriptor that a restore
 * has taken away. */
static int eng_trig_wait(struct pollfd *pfd, double deadline, const sigset_t *mask, uint32_t epoch)
{
	double left = deadline - eng_clock_ms();
	struct timespec ts;
	long r;

	if (left <= 0)
		return 0;
	ts.tv_sec = (time_t)(left / 1000);
	ts.tv_nsec = (long)((left - (double)ts.tv_sec * 1000) * 1e6);
	r = syscall(SYS_ppoll, pfd, pfd ? 1 : 0, &ts, mask, (size_t)(_NSIG / 8));
	if (eng_trig_restored_since(epoch))
		return -ERESTART;
	if (r < 0)
		return -errno;
	return r > 0 ? 1 : -EINTR; /* r == 0: the loop looks at the clock again */
}

/* Sends the request of @s and waits for the answer. */
static enum eng_trig_result eng_trig_request(struct eng_trig_slot *s, const sigset_t *mask,
					     uint32_t epoch)
{
	double deadline = eng_clock_ms() + s->wait_ms;
	enum eng_trig_result res = ENG_TRIG_FAILED;
	struct pollfd pfd;
	int fd;

	s->rx_len = 0;
	s->why[0] = '\0';
	s->code = -1;
	s->gen = -1;
	/* Never on a number the application may take meanwhile
	 * (ENG_FD_FLOOR; fcntl and close are signal-safe). */
	fd = eng_fd_engine(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
	if (fd < 0) {
		eng_trig_fail(s, "cannot create a socket", errno);
		return ENG_TRIG_FAILED;
	}
	__atomic_store_n(&s->fd, fd, __ATOMIC_RELEASE);
	if (connect(fd, (const struct sockaddr *)&eng_trig_addr, sizeof(eng_trig_addr)) < 0) {
		eng_trig_fail(s, "cannot reach the node agent", errno);
		goto out_close;
	}
	/* Whoever listens there decides whether the signal is held or
	 * delivered: it must be our own user's agent, or root's (the same rule
	 * as the checkpoint connection's, agent_client.c). */
	if (!eng_trig_peer_ok(fd)) {
		eng_trig_fail(s, "the socket of the node agent belongs to another user: refused",
			      0);
		goto out_close;
	}
	/* A hundred bytes into an empty socket buffer: all or nothing. */
	if (send(fd, s->req, s->req_len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)s->req_len) {
		eng_trig_fail(s, "cannot send the request to the node agent", errno);
		goto out_close;
	}
	for (;;) {
		ssize_t n;
		int r;

		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		r = eng_trig_wait(&pfd, deadline, mask, epoch);
		if (r == -ERESTART)
			return ENG_TRIG_RESTORED; /* fd is not ours any more */
		if (r == -EINTR)
			continue;
		if (r == 0) {
			size_t k = 0;

			eng_trig_cat(s->why, sizeof(s->why), &k,
				     "no answer from the node agent within ");
			eng_trig_cat_int(s->why, sizeof(s->why), &k, s->wait_ms / 1000);
			eng_trig_cat(s->why, sizeof(s->why), &k, " s");
			break;
		}
		if (r < 0) {
			eng_trig_fail(s, "waiting for the node agent", -r);
			break;
		}
		n = recv(fd, s->rx + s->rx_len, ENG_TRIG_RX_MAX - s->rx_len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			eng_trig_fail(s, "the node agent closed the connection without an answer",
				      n < 0 ? errno : 0);
			break;
		}
		s->rx_len += (size_t)n;
		r = eng_trig_parse(s);
		if (r >= 0) {
			res = (enum eng_trig_result)r;
			break;
		}
		if (s->rx_len == ENG_TRIG_RX_MAX) {
			eng_trig_fail(s, "the agent's answer is too long", 0);
			break;
		}
	}
out_close:
	__atomic_store_n(&s->fd, -1, __ATOMIC_RELEASE);
	close(fd);
	return res;
}

/* ---- what the signal then does ---------------------------------------- */

/* One line on stderr: "slurm-ckpt: checkpoint on SIGUSR1 failed: why". */
static void eng_trig_report(const struct eng_trig_slot *s)
{
	char line[ENG_TRIG_WHY_MAX + 64];
	size_t n = 0;

	eng_trig_cat(line, sizeof(line), &n, "slurm-ckpt: checkpoint on ");
	eng_trig_cat(line, sizeof(line), &n, s->name);
	eng_trig_cat(line, sizeof(line), &n, " failed: ");
	eng_trig_cat(line, sizeof(line), &n, s->why[0] ? s->why : "unknown error");
	if (n + 1 < sizeof(line))
		line[n++] = '\n';
	/* Nothing to do about a failed write to stderr. */
	ssize_t w = write(STDERR_FILENO, line, n);

	(void)w;
}

/* The batch script's own @commands, ended now with the job: their work is
 * lost (only srun steps are checkpointed); after a final checkpoint
 * (@requeued) the script runs again from the top. */
static void eng_trig_report_script(const char *commands, bool requeued)
{
	char line[ENG_TRIG_WHY_MAX + 320];
	size_t n = 0;

	eng_trig_cat(line, sizeof(line), &n, "slurm-ckpt: the batch script's own command(s) ");
	eng_trig_cat(line, sizeof(line), &n, commands);
	eng_trig_cat(line, sizeof(line), &n,
		     " ran outside srun and were not checkpointed: their work is lost");
	eng_trig_cat(line, sizeof(line), &n,
		     requeued ? "; the script runs again from the top when the job restarts" : "");
	eng_trig_cat(line, sizeof(line), &n,
		     ". Run long commands with srun to have them checkpointed.");
	if (n + 1 < sizeof(line))
		line[n++] = '\n';
	/* Nothing to do about a failed write to stderr. */
	ssize_t w = write(STDERR_FILENO, line, n);

	(void)w;
}

/*
 * Delivers SIGTERM as the application would have received it: its own
 * disposition goes back into the kernel (with @force_default: SIG_DFL,
 * whatever it set) and the signal is sent to the process again. With
 * SIG_DFL the caller's thread unblocks it, so that the process ends here
 * even when no other thread could take it.
 */
static void eng_trig_deliver_term(bool force_default)
{
	struct eng_trig_slot *t = eng_trig_slot_of(SIGTERM);
	bool dfl;
	sigset_t term;

	eng_trig_lock();
	if (force_default) {
		memset(&t->app, 0, sizeof(t->app));
		t->app.sa_handler = SIG_DFL;
		eng_real_sigaction(SIGTERM, &t->app, NULL);
		t->intercepting = false;
	} else if (t->intercepting) {
		eng_real_sigaction(SIGTERM, &t->app, NULL);
		t->intercepting = false;
	}
	dfl = t->app.sa_handler == SIG_DFL;
	eng_trig_unlock();
	kill(getpid(), SIGTERM);
	if (dfl) {
		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &term, NULL, (size_t)(_NSIG / 8));
	}
}

/* A SIGTERM refused for the state (not preempted: a plain scancel, or not
 * a Slurm job) is the normal end of a process: nothing to report. */
static bool eng_trig_quiet(const struct eng_trig_slot *s, enum eng_trig_result r)
{
	return s->signo == SIGTERM && r == ENG_TRIG_REFUSED && s->code == PROTO_E_STATE;
}

/* Runs the request of @s and acts on its outcome. Returns false when the
 * process was restored meanwhile: the slot belongs to the new epoch. */
static bool eng_trig_serve(struct eng_trig_slot *s, const sigset_t *mask, uint32_t epoch)
{
	/* Named before the request: they got the same SIGTERM and may be
	 * gone by its answer. */
	static char commands[ENG_TRIG_WHY_MAX];
	bool shell_term = eng_trig_mode == ENG_TRIG_SHELL && s->signo == SIGTERM &&
			  eng_script_commands(commands, sizeof(commands)) > 0;
	enum eng_trig_result r = eng_trig_request(s, mask, epoch);

	if (r == ENG_TRIG_RESTORED)
		return false;
	if (eng_trig_mode == ENG_TRIG_SHELL) {
		/* The batch shell: whatever the answer to SIGTERM, it dies of
		 * it; after a committed final checkpoint the job is being
		 * requeued and the rest of the script must not run. */
		if (r != ENG_TRIG_COMMITTED && !eng_trig_quiet(s, r))
			eng_trig_report(s);
		if (shell_term)
			eng_trig_report_script(commands, r == ENG_TRIG_COMMITTED);
		if (s->signo == SIGTERM || r == ENG_TRIG_COMMITTED)
			eng_trig_deliver_term(r == ENG_TRIG_COMMITTED);
		return true;
	}
	if (r == ENG_TRIG_COMMITTED) {
		/* The agent's "exit" ends the process through the checkpoint
		 * thread; this thread is normally stopped by then. */
		double until = eng_clock_ms() + ENG_TRIG_EXIT_GRACE_MS;
		size_t n = 0;
		int w;

		do
			w = eng_trig_wait(NULL, until, mask, epoch);
		while (w == -EINTR);
		if (w == -ERESTART)
			return false;
		eng_trig_cat(s->why, sizeof(s->why), &n, "gen-");
		eng_trig_cat_int(s->why, sizeof(s->why), &n, s->gen);
		eng_trig_cat(s->why, sizeof(s->why), &n,
			     " was committed without this process (not registered?)");
	}
	if (!eng_trig_quiet(s, r))
		eng_trig_report(s);
	if (s->signo == SIGTERM)
		eng_trig_deliver_term(false);
	return true;
}

static void eng_trig_handler(int sig, siginfo_t *info, void *ucv)
{
	const ucontext_t *uc = ucv;
	struct eng_trig_slot *s = eng_trig_slot_of(sig);
	uint32_t epoch = __atomic_load_n(&eng_trig_epoch, __ATOMIC_ACQUIRE);
	int saved_errno = errno;

	(void)info;
	/* A second signal while one is served (in another thread, or
	 * nested) changes nothing: the agent already has the request. */
	if (s && eng_trig_mode != ENG_TRIG_OFF &&
	    !__atomic_exchange_n(&s->busy, 1, __ATOMIC_ACQ_REL)) {
		sigset_t mask;

		/* Only a checkpoint may interrupt the wait, and a SIGTERM
		 * the thread did not block may interrupt a SIGUSR1's. */
		sigfillset(&mask);
		if (eng_signal)
			sigdelset(&mask, eng_signal);
		if (sig != SIGTERM && !sigismember(&uc->uc_sigmask, SIGTERM))
			sigdelset(&mask, SIGTERM);
		if (eng_trig_serve(s, &mask, epoch))
			__atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
	}
	/* The sleep and poll wrappers resume a wait this handler cut short,
	 * as after a checkpoint: SIG_DFL would not have interrupted it. */
	__atomic_add_fetch(&eng_checkpoint_count, 1, __ATOMIC_ACQ_REL);
	errno = saved_errno;
}

/* ---- the application's view of the actions ---------------------------- */

bool eng_trig_sigaction(int sig, const struct sigaction *act, struct sigaction *old, int *ret)
{
	struct eng_trig_slot *s = eng_trig_slot_of(sig);
	sigset_t all;
	sigset_t prev;
	int err = 0;

	if (!s || __atomic_load_n(&eng_trig_mode, __ATOMIC_ACQUIRE) == ENG_TRIG_OFF)
		return false;
	/* Signals blocked while holding the lock: our handler takes it too. */
	sigfillset(&all);
	eng_real_pthread_sigmask(SIG_SETMASK, &all, &prev);
	eng_trig_lock();
	if (!s->intercepting) {
		*ret = eng_real_sigaction(sig, act, old);
		if (*ret == 0 && act) {
			s->app = *act;
			/* Back to SIG_DFL: ours again. */
			if (act->sa_handler == SIG_DFL &&
			    eng_real_sigaction(sig, &eng_trig_ours, NULL) == 0)
				s->intercepting = true;
		}
		err = errno;
	} else {
		*ret = 0;
		if (old)
			*old = s->app;
		if (act && act->sa_handler == SIG_DFL) {
			s->app = *act;
		} else if (act) {
			*ret = eng_real_sigaction(sig, act, NULL);
			err = errno;
			if (*ret == 0) {
				s->app = *act;
				s->intercepting = false;
			}
		}
	}
	eng_trig_unlock();
	eng_real_pthread_sigmask(SIG_SETMASK, &prev, NULL);
	errno = err;
	return true;
}

/* In a child made by fork(): no checkpoint thread, not registered: the
 * application's actions, as if libckpt had never intercepted. */
static void eng_trig_atfork_child(void)
{
	eng_trig_lock_word = 0; /* its holder does not exist here */
	if (eng_trig_mode == ENG_TRIG_OFF)
		return;
	eng_trig_mode = ENG_TRIG_OFF;
	for (size_t i = 0; i < ENG_TRIG_NSLOTS; i++) {
		struct eng_trig_slot *s = &eng_trig_slots[i];

		if (s->intercepting)
			eng_real_sigaction(s->signo, &s->app, NULL);
		s->intercepting = false;
		s->busy = 0;
		s->fd = -1;
	}
}

/* ---- set-up ------------------------------------------------------------ */

static int eng_trig_addr_set(const char *sock)
{
	size_t len = strlen(sock);

	if (!len || len >= sizeof(eng_trig_addr.sun_path))
		return -ENAMETOOLONG;
	memset(&eng_trig_addr, 0, sizeof(eng_trig_addr));
	eng_trig_addr.sun_family = AF_UNIX;
	memcpy(eng_trig_addr.sun_path, sock, len);
	return 0;
}

static int eng_trig_wait_s(void)
{
	const char *v = getenv("CKPT_SIGTERM_WAIT");
	char *end;
	long s;

	if (!v || !*v)
		return ENG_TRIG_WAIT_S;
	errno = 0;
	s = strtol(v, &end, 10);
	if (errno || *end || s < 1 || s > ENG_TRIG_WAIT_MAX_S) {
		log_warn("CKPT_SIGTERM_WAIT=%s is not a number of seconds (1..%d); using %d", v,
			 ENG_TRIG_WAIT_MAX_S, ENG_TRIG_WAIT_S);
		return ENG_TRIG_WAIT_S;
	}
	return (int)s;
}

static int eng_trig_req_build(struct eng_trig_slot *s)
{
	size_t room = sizeof(s->req) - PROTO_FRAME_HDR_LEN;
	int n = snprintf(s->req + PROTO_FRAME_HDR_LEN, room,
			 "{\"v\":%d,\"type\":\"checkpoint\",\"trigger\":\"%s\",\"kill\":true}",
			 PROTO_VERSION, s->trigger);

	if (n < 0 || (size_t)n >= room)
		return -EMSGSIZE;
	s->req[0] = 0;
	s->req[1] = 0;
	s->req[2] = (char)(n >> 8);
	s->req[3] = (char)n;
	s->req_len = (size_t)n + PROTO_FRAME_HDR_LEN;
	return 0;
}

int eng_trig_init(enum eng_trig_mode mode, const char *sock)
{
	int wait_s = eng_trig_wait_s();
	int ret;

	if (mode == ENG_TRIG_OFF)
		return 0;
	ret = eng_trig_addr_set(sock);
	if (ret < 0) {
		log_err("agent socket path %s is too long for signal triggers", sock);
		return ret;
	}
	for (size_t i = 0; i < ENG_TRIG_NSLOTS; i++) {
		struct eng_trig_slot *s = &eng_trig_slots[i];

		ret = eng_trig_req_build(s);
		if (ret < 0)
			return ret;
		s->wait_ms = s->signo == SIGTERM ? wait_s * 1000 : ENG_TRIG_USR1_WAIT_MS;
	}
	memset(&eng_trig_ours, 0, sizeof(eng_trig_ours));
	eng_trig_ours.sa_sigaction = eng_trig_handler;
	eng_trig_ours.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&eng_trig_ours.sa_mask);
	ret = pthread_atfork(NULL, NULL, eng_trig_atfork_child);
	if (ret) {
		log_err("pthread_atfork: %s; signals are not intercepted", strerror(ret));
		return -ret;
	}
	ckpt_signals_set_trigger_handler((uint64_t)(uintptr_t)eng_trig_handler);
	__atomic_store_n(&eng_trig_mode, mode, __ATOMIC_RELEASE);
	for (size_t i = 0; i < ENG_TRIG_NSLOTS; i++) {
		struct eng_trig_slot *s = &eng_trig_slots[i];
		struct sigaction cur;

		if (eng_real_sigaction(s->signo, NULL, &cur) < 0)
			continue;
		eng_trig_lock();
		s->app = cur;
		if (cur.sa_handler == SIG_DFL &&
		    eng_real_sigaction(s->signo, &eng_trig_ours, NULL) == 0)
			s->intercepting = true;
		eng_trig_unlock();
		log_debug("%s: %s", s->name,
			  s->intercepting ? "checkpoint request" : "left to the application");
	}
	return 0;
}

/* Whether LD_PRELOAD entry @e (of length @len) is this library. */
static bool eng_trig_is_self(const char *e, size_t len, const char *self)
{
	static const char base[] = "libckpt.so";
	const char *slash = memrchr(e, '/', len);
	const char *b = slash ? slash + 1 : e;
	size_t bl = len - (size_t)(b - e);

	if (bl == sizeof(base) - 1 && !memcmp(b, base, bl))
		return true;
	return self && strlen(self) == len && !memcmp(self, e, len);
}

/* Removes every "@name=" entry from environ, in place. */
static void eng_trig_env_drop(const char *name)
{
	size_t nl = strlen(name);
	char **w = environ;

	for (char **r = environ; *r; r++)
		if (strncmp(*r, name, nl) != 0 || (*r)[nl] != '=')
			*w++ = *r;
	*w = NULL;
}

/*
 * Edits environ itself rather than calling setenv()/unsetenv(): bash
 * defines its own, which the dynamic linker binds our calls to, and before
 * its main() runs they do not touch the environment it then reads.
 */
void eng_trig_env_clean(void)
{
	static const char key[] = "LD_PRELOAD=";
	const char *pre = NULL;
	const char *self = NULL;
	Dl_info di;
	size_t n = sizeof(key) - 1;
	char *out;

	eng_trig_env_drop("CKPT_SIGNALS_ONLY");
	for (char **e = environ; *e; e++)
		if (!strncmp(*e, key, sizeof(key) - 1))
			pre = *e + sizeof(key) - 1;
	if (!pre)
		return;
	if (dladdr((void *)eng_trig_env_clean, &di) && di.dli_fname)
		self = di.dli_fname;
	/* Lives as long as the process, as environment strings do. */
	out = malloc(sizeof(key) + strlen(pre));
	if (!out) {
		log_warn("out of memory: LD_PRELOAD keeps libckpt.so");
		return;
	}
	memcpy(out, key, sizeof(key) - 1);
	/* ld.so separates entries with colons or blanks. */
	for (const char *p = pre; *p;) {
		size_t len = strcspn(p, ": \t");

		if (len && !eng_trig_is_self(p, len, self)) {
			if (n > sizeof(key) - 1)
				out[n++] = ':';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
		if (*p)
			p++;
	}
	out[n] = '\0';
	eng_trig_env_drop("LD_PRELOAD");
	if (n == sizeof(key) - 1) {
		free(out);
		return;
	}
	/* The slot the removal freed up: environ keeps its length. */
	char **e = environ;

	while (*e)
		e++;
	e[0] = out;
	e[1] = NULL;
}

/* ---- checkpoints and restores ------------------------------------------ */

void eng_trig_fds_exclude(void)
{
	for (size_t i = 0; i < ENG_TRIG_NSLOTS; i++) {
		int fd = __atomic_load_n(&eng_trig_slots[i].fd, __ATOMIC_ACQUIRE);

		eng_trig_excluded[i] = -1;
		if (fd >= 0 && !ckpt_files_fd_excluded(fd) && ckpt_files_exclude_fd(fd) == 0)
			eng_trig_excluded[i] = fd;
	}
}

void eng_trig_fds_include(void)
{
	for (size_t i = 0; i < ENG_TRIG_NSLOTS; i++) {
		if (eng_trig_excluded[i] >= 0)
			ckpt_files_include_fd(eng_trig_excluded[i]);
		eng_trig_excluded[i] = -1;
	}
}

void eng_trig_restored(void)
{
	if (eng_trig_mode == ENG_TRIG_OFF)
		return;
	/* Every application thread is still stopped: no handler runs. */
	__atomic_add_fetch(&eng_trig_epoch, 1, __ATOMIC_ACQ_REL);
	for (size_t i = 0; i < ENG_TRIG_NSLOTS; i++) {
		eng_trig_slots[i].fd = -1;
		eng_trig_slots[i].busy = 0;
		eng_trig_excluded[i] = -1;
	}
	if (eng_restore_info.agent_sock[0] && eng_trig_addr_set(eng_restore_info.agent_sock) < 0)
		log_warn("agent socket path %s is too long: SIGTERM and SIGUSR1 requests go to "
			 "the old one",
			 eng_restore_info.agent_sock);
}
