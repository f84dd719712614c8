/* agent_client.c - the checkpoint thread: the process side of the local
 * protocol with the node agent (docs/protocol.md, docs/engine.md).
 *
 *   register -> register_ok; prepare -> ready|error;
 *   [save_pipes -> pipes_saved|error]; write -> written|error;
 *   resume | abort | exit.
 *
 * Frames are the project's wire format (4-byte big-endian length, one JSON
 * object with "v" and "type"), but this file encodes and decodes them itself,
 * into static buffers, instead of through json-c: between "prepare" and the
 * release the application threads are stopped wherever they were, possibly
 * inside malloc with an arena lock held, and json-c allocates. The messages
 * this side reads are flat objects with a few scalar fields, so a small
 * field extractor is enough; anything it cannot read is refused.
 */
#define LOG_PREFIX "libckpt: "
#include "incr.h"
#include "libckpt.h"
#include "agent_replace.h"
#include "mpi_split.h"
#include "eng_json.h"

#include "files.h"
#include "frame.h"
#include "log.h"
#include "triggers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Largest frame this side accepts: its messages are a few hundred bytes;
 * 64 KiB leaves room for fields newer agents may add. */
#define ENG_FRAME_MAX (64u << 10)
/* How long threads get to reach the quiesce handler. */
#define ENG_QUIESCE_TIMEOUT_MS 10000
/* Longest the application stays stopped waiting for the agent's next
 * message (write, resume, exit): a hung agent must not hang the job for
 * good. 15 minutes leaves a coordinator time to commit thousands of images. */
#define ENG_STOPPED_MAX_MS (15 * 60 * 1000)
/* Reconnect back-off bounds. */
#define ENG_BACKOFF_MIN_MS 100
#define ENG_BACKOFF_MAX_MS 10000

struct eng_conn {
	int fd;			    /* connected socket, -1 if none */
	ino_t ino;		    /* its inode: the program may dup2() over it */
	char rx[ENG_FRAME_MAX + 1]; /* last received payload, NUL-terminated */
	char tx[ENG_FRAME_MAX];	    /* frame being sent */
};

static struct eng_conn eng_conn = { .fd = -1 };
/* A forked child's agent socket, made by the fork handler before the
 * application runs again (eng_agent_atfork_child); -1 when none. */
static int eng_conn_premade = -1;

/*
 * The exit announcement (eng_agent_exit_announce()) runs on whichever
 * thread ends the process while the checkpoint thread may be sending or
 * closing: this lock guards c->fd, c->tx and eng_registered. Held only
 * around a send or a close, by a thread that cannot be stopped meanwhile
 * (the checkpoint thread, or an exiting thread with every signal blocked).
 */
static atomic_flag eng_tx_lock = ATOMIC_FLAG_INIT;
/* The connection is registered, by this process (a fork inherits it).
 * Atomic: the exit announcement reads the pid before taking the lock. */
static bool eng_registered;
static _Atomic pid_t eng_registered_pid;

static void eng_tx_take(void)
{
	while (atomic_flag_test_and_set_explicit(&eng_tx_lock, memory_order_acquire))
		sched_yield();
}

static void eng_tx_drop(void)
{
	atomic_flag_clear_explicit(&eng_tx_lock, memory_order_release);
}
/* Generation of the last image written: the one a restored process came from. */
static int64_t eng_last_gen = -1;
/* The application's executable, read once at start (after a restore
 * /proc/self/exe names the restorer). */
static char eng_exe[4096];
/* Real path of this process's checkpoint directory ($CKPT_DIR), read once
 * at start and again after a restore: the only place a "write" may create
 * an image in. The path in the message is the coordinator's word, and the
 * coordinator is another process, maybe on another node; "" refuses every
 * write. */
static char eng_job_dir[PATH_MAX];

/* The environment the checkpoint thread needs, as the constructor found it
 * (eng_agent_env_capture); "" for a variable that was unset. */
static struct {
	char sock[PATH_MAX]; /* CKPT_AGENT_SOCKET */
	char dir[PATH_MAX];  /* CKPT_DIR */
	char step[24];	     /* CKPT_STEP */
	char rank[24];	     /* CKPT_RANK */
} eng_env;

void eng_agent_env_capture(void)
{
	static const struct {
		const char *name;
		char *copy;
		size_t size;
	} vars[] = {
		{ "CKPT_AGENT_SOCKET", eng_env.sock, sizeof(eng_env.sock) },
		{ "CKPT_DIR", eng_env.dir, sizeof(eng_env.dir) },
		{ "CKPT_STEP", eng_env.step, sizeof(eng_env.step) },
		{ "CKPT_RANK", eng_env.rank, sizeof(eng_env.rank) },
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i].name);

		snprintf(vars[i].copy, vars[i].size, "%s", v ? v : "");
	}
}

/* ---- the tiny codec --------------------------------------------------- */

/* Sends one frame whose JSON text is formatted from @fmt. */
static int eng_send(struct eng_conn *c, const char *fmt, ...)
{
	va_list ap;
	size_t off = 0;
	int ret = 0;
	int n;

	eng_tx_take();
	va_start(ap, fmt);
	n = vsnprintf(c->tx + PROTO_FRAME_HDR_LEN, sizeof(c->tx) - PROTO_FRAME_HDR_LEN, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(c->tx) - PROTO_FRAME_HDR_LEN) {
		ret = -EMSGSIZE;
		goto out;
	}
	c->tx[0] = (char)((uint32_t)n >> 24);
	c->tx[1] = (char)((uint32_t)n >> 16);
	c->tx[2] = (char)((uint32_t)n >> 8);
	c->tx[3] = (char)n;
	while (off < (size_t)n + PROTO_FRAME_HDR_LEN) {
		ssize_t w = send(c->fd, c->tx + off, (size_t)n + PROTO_FRAME_HDR_LEN - off,
				 MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = w < 0 ? -errno : -EPIPE;
			goto out;
		}
		off += (size_t)w;
	}
out:
	eng_tx_drop();
	return ret;
}

static int eng_read_full(int fd, char *buf, size_t len, double deadline)
{
	size_t off = 0;

	while (off < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = deadline < 0 ? -1 : (int)(deadline - eng_clock_ms());
		ssize_t r;

		if (deadline >= 0 && left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		r = read(fd, buf + off, len - off);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ECONNRESET;
		off += (size_t)r;
	}
	return 0;
}

/* Receives one frame into c->rx and checks "v" and "type". Stores the type
 * in @type. Returns 0, -ETIMEDOUT, -ECONNRESET, -EPROTO or -errno. */
static int eng_recv(struct eng_conn *c, char *type, size_t cap, int timeout_ms)
{
	double deadline = timeout_ms < 0 ? -1 : eng_clock_ms() + timeout_ms;
	unsigned char hdr[PROTO_FRAME_HDR_LEN] = { 0 };
	uint32_t len;
	int64_t v;
	int ret;

	ret = eng_read_full(c->fd, (char *)hdr, sizeof(hdr), deadline);
	if (ret < 0)
		return ret;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > ENG_FRAME_MAX) {
		log_warn("agent sent a frame of %u bytes (limit %u)", len, ENG_FRAME_MAX);
		return -EPROTO;
	}
	ret = eng_read_full(c->fd, c->rx, len, deadline);
	if (ret < 0)
		return ret;
	c->rx[len] = '\0';
	if (!eng_get_int(c->rx, "v", &v) || v != PROTO_VERSION ||
	    !eng_get_str(c->rx, "type", type, cap)) {
		log_warn("agent sent a malformed message");
		return -EPROTO;
	}
	return 0;
}

/* Records the real path of $CKPT_DIR as this process's job directory.
 * @dir: the restorer's (a restored process's environment is its old one),
 * or NULL for our own environment. */
static void eng_job_dir_set(const char *dir)
{
	const char *env = eng_env.dir;

	if (dir) {
		snprintf(eng_job_dir, sizeof(eng_job_dir), "%s", dir);
		if (!*dir)
			log_warn("the restorer named no checkpoint directory: this process will "
				 "refuse to write checkpoints");
		return;
	}
	if (!*env || !realpath(env, eng_job_dir)) {
		eng_job_dir[0] = '\0';
		log_warn("CKPT_DIR=%s is not a directory: this process will refuse to write "
			 "checkpoints",
			 *env ? env : "(unset)");
	}
}

/* ---- connection --------------------------------------------------------- */

static void eng_json_escape(const char *in, char *out, size_t cap);

/* The inode of socket @fd, 0 if it is none. */
static ino_t eng_fd_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? st.st_ino : 0;
}

/* Whether @fd is still the socket of inode @ino: a program that dup2()s
 * a file onto its number closes our socket, and closing that number then
 * would close the program's file. */
static bool eng_fd_is(int fd, ino_t ino)
{
	return ino && eng_fd_ino(fd) == ino;
}

static void eng_disconnect(struct eng_conn *c)
{
	eng_tx_take();
	if (c->fd >= 0) {
		ckpt_files_include_fd(c->fd);
		if (eng_fd_is(c->fd, c->ino))
			close(c->fd);
		else
			log_warn("the agent socket at fd %d was replaced by the program "
				 "(dup2 onto it); leaving that descriptor alone",
				 c->fd);
	}
	c->fd = -1;
	eng_registered = false;
	eng_tx_drop();
}

void eng_agent_exit_announce(void)
{
	struct eng_conn *c = &eng_conn;
	char frame[PROTO_FRAME_HDR_LEN + 64];
	sigset_t all;
	sigset_t old;
	int n;

	/* A forked or vfork()ed child, or a process that never registered,
	 * has nothing to announce: return before blocking signals or taking
	 * the lock, which a child may have inherited held (a fork while the
	 * checkpoint thread was sending) and would wait for forever. */
	if (eng_registered_pid != getpid())
		return;
	sigfillset(&all);
	eng_real_pthread_sigmask(SIG_SETMASK, &all, &old);
	eng_tx_take();
	if (c->fd >= 0 && eng_registered && eng_registered_pid == getpid()) {
		n = snprintf(frame + PROTO_FRAME_HDR_LEN, sizeof(frame) - PROTO_FRAME_HDR_LEN,
			     "{\"v\":%d,\"type\":\"leave\"}", PROTO_VERSION);
		frame[0] = 0;
		frame[1] = 0;
		frame[2] = (char)(n >> 8);
		frame[3] = (char)n;
		/* Best effort: an agent that misses it counts the task as
		 * missing, which refuses checkpoints rather than lose it. */
		if (send(c->fd, frame, (size_t)n + PROTO_FRAME_HDR_LEN, MSG_NOSIGNAL) < 0)
			log_debug("cannot tell the agent this process exits: %s", strerror(errno));
		eng_registered = false;
	}
	eng_tx_drop();
	eng_real_pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void eng_atexit(void)
{
	eng_agent_exit_announce();
}

/* The application's _exit()/_Exit() end the process without atexit
 * handlers: announce the exit here too. exit() inside libc reaches its
 * own _exit directly, not this one. */
void _exit(int status)
{
	eng_agent_exit_announce();
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

void _Exit(int status)
{
	eng_agent_exit_announce();
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

/*
 * The agent gets our memory written wherever it says: whoever listens on
 * the socket path (a /tmp fallback another user may have bound first, a
 * stale path) must be our own user's agent, or root's. Returns 0 or -EPERM
 * (logged with the intruder's uid).
 */
static int eng_peer_check(int fd, const char *path)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("cannot check who listens on %s: %s", path, strerror(errno));
		return -EPERM;
	}
	if (cred.uid != getuid() && cred.uid != 0) {
		log_warn("refusing the agent at %s: it runs as uid %u (pid %d), not as uid %u; "
			 "remove that socket or ask its owner why it is there",
			 path, (unsigned)cred.uid, (int)cred.pid, (unsigned)getuid());
		return -EPERM;
	}
	return 0;
}

int eng_fd_above(int fd, int floor)
{
	int moved;

	if (fd < 0 || fd > floor)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, floor + 1);
	close(fd);
	return moved;
}

int eng_fd_engine(int fd)
{
	int moved;

	if (fd < 0 || fd > ENG_FD_FLOOR)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, ENG_FD_FLOOR + 1);
	if (moved < 0)
		return eng_fd_above(fd, STDERR_FILENO);
	close(fd);
	return moved;
}

/* Connects to @path and registers. Returns 0 or -errno. */
static int eng_connect(struct eng_conn *c, const char *path, bool restored)
{
	struct sockaddr_un sa;
	char type[32];
	const char *step = eng_env.step[0] ? eng_env.step : NULL;
	const char *rank = eng_env.rank[0] ? eng_env.rank : NULL;
	char gen[48] = "";
	char exe[sizeof(eng_exe) * 2];
	int ret;

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (eng_conn_premade >= 0) {
		c->fd = eng_conn_premade;
		eng_conn_premade = -1;
	} else {
		c->fd = eng_fd_engine(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	}
	if (c->fd < 0)
		return -errno;
	c->ino = eng_fd_ino(c->fd);
	/* Our own connection is not the application's: never saved, and a
	 * restored process connects anew to the agent of its new start. */
	ret = ckpt_files_exclude_fd(c->fd);
	if (ret < 0)
		goto out_close;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto out_close;
	}
	ret = eng_peer_check(c->fd, path);
	if (ret < 0)
		goto out_close;
	/* How to start this agent again, should it die under us. */
	eng_agent_record(c->fd);
	if (restored)
		snprintf(gen, sizeof(gen), ",\"gen\":%lld", (long long)eng_last_gen);
	eng_json_escape(eng_exe, exe, sizeof(exe));
	ret = eng_send(c,
		       "{\"v\":%d,\"type\":\"register\",\"pid\":%d,\"exe\":\"%s\",\"step\":%ld,"
		       "\"rank\":%ld,\"restored\":%s%s}",
		       PROTO_VERSION, getpid(), exe, step ? strtol(step, NULL, 10) : 0L,
		       rank ? strtol(rank, NULL, 10) : 0L, restored ? "true" : "false", gen);
	if (ret < 0)
		goto out_close;
	ret = eng_recv(c, type, sizeof(type), 10000);
	if (ret < 0)
		goto out_close;
	if (strcmp(type, "register_ok") != 0) {
		log_warn("agent refused registration (%s)", type);
		ret = -ECONNREFUSED;
		goto out_close;
	}
	eng_tx_take();
	eng_registered = true;
	eng_registered_pid = getpid();
	eng_tx_drop();
	return 0;

out_close:
	eng_disconnect(c);
	return ret;
}

/* ---- one checkpoint ------------------------------------------------------ */

/*
 * Ends the process as the agent says, after a final checkpoint. When the
 * agent names the generation, one line goes to stderr first, so a job's
 * output shows each checkpoint. Other threads may be stopped holding stdio
 * locks: format on the stack and write(2) directly.
 */
/* Seconds a held process waits for Slurm to end it before it exits itself. */
#define ENG_HOLD_MAX_S 120

/*
 * The job is being requeued: Slurm is about to signal every process of it.
 * Exiting now would end the step and let the batch script run its next
 * command before that signal reaches the shell, so stay stopped and let
 * SIGTERM end the process (its default action, whatever was intercepted),
 * with a bound in case it never comes.
 */
static void eng_exit_hold(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	struct timespec second = { .tv_sec = 1 };
	sigset_t term;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	eng_real_sigaction(SIGTERM, &dfl, NULL);
	eng_real_pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	for (int i = 0; i < ENG_HOLD_MAX_S; i++)
		syscall(SYS_nanosleep, &second, NULL);
}

static void eng_exit(struct eng_conn *c)
{
	int64_t status = 0;
	int64_t gen = 0;
	int64_t size = 0;
	int64_t ms = 0;
	char trigger[32] = "";
	char line[160];
	bool hold = false;

	eng_get_int(c->rx, "status", &status);
	eng_get_bool(c->rx, "hold", &hold);
	if (eng_get_int(c->rx, "gen", &gen) && eng_get_int(c->rx, "size", &size) &&
	    eng_get_int(c->rx, "duration_ms", &ms) &&
	    eng_get_str(c->rx, "trigger", trigger, sizeof(trigger))) {
		int n = snprintf(line, sizeof(line),
				 "slurm-ckpt: checkpoint gen-%lld, %.1f MiB in %lld ms (%s); "
				 "stopping until restart%s\n",
				 (long long)gen, (double)size / 1048576.0, (long long)ms, trigger,
				 hold ? " (job requeued)" : "");

		if (n > 0) {
			/* A failed write changes nothing: the process ends anyway. */
			ssize_t written = write(STDERR_FILENO, line, (size_t)n);

			(void)written;
		}
	}
	/* Told to exit after its final checkpoint: the task ends here. */
	eng_agent_exit_announce();
	if (hold)
		eng_exit_hold();
	syscall(SYS_exit_group, (int)(status & 0xff));
}

/* Copies @in into @out as the inside of a JSON string: quotes and
 * backslashes escaped, control characters replaced by spaces. Cut to fit. */
static void eng_json_escape(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = in; *p && n + 3 < cap; p++) {
		if (*p == '"' || *p == '\\')
			out[n++] = '\\';
		out[n++] = (*p >= 0 && *p < 0x20) ? ' ' : *p;
	}
	out[n] = '\0';
}

static int eng_send_error(struct eng_conn *c, int64_t gen, const char *reason)
{
	char clean[600];

	/* The reason is ours, but may quote a path. */
	eng_json_escape(reason, clean, sizeof(clean));
	return eng_send(c, "{\"v\":%d,\"type\":\"error\",\"gen\":%lld,\"reason\":\"%s\"}",
			PROTO_VERSION, (long long)gen, clean);
}

/* After a restore: put the process back together, reconnect, let go. */
static void eng_after_restore(struct eng_conn *c, uint32_t nthreads)
{
	sigset_t all;
	int ret;

	sigfillset(&all);
	eng_real_pthread_sigmask(SIG_SETMASK, &all, NULL);
	c->fd = -1;	    /* the old connection's descriptor did not survive */
	eng_agent_forget(); /* the agent recorded was the old start's */
	eng_incr_after_restore();
	eng_job_dir_set(eng_restore_info.job_dir);
	ret = eng_snapshot_restore_subsys();
	if (ret < 0)
		log_warn("a subsystem restore failed (%s); continuing", strerror(-ret));
	eng_snapshot_restore_env();
	/* The trampoline region (which also holds the subsystem records)
	 * goes once no re-created thread can still be running in it. */
	ret = eng_wait_restored_threads(nthreads - 1, 10000);
	if (ret < 0)
		log_warn("not every restored thread came back (%u expected)", nthreads - 1);
	else if (eng_restore_info.pie_len)
		munmap(eng_ptr(eng_restore_info.pie_start), eng_restore_info.pie_len);
	/* The lower half's addresses may have held the restorer's region. */
	eng_mpi_restart();
	eng_quiesce_install();
	if (eng_restore_info.agent_sock[0]) {
		ret = eng_connect(c, eng_restore_info.agent_sock, true);
		if (ret < 0)
			log_warn("cannot reach the agent at %s: %s", eng_restore_info.agent_sock,
				 strerror(-ret));
	}
	eng_trig_restored();
	/* ld.so's locks held at the checkpoint name old tids (quiesce.c). */
	eng_rtld_locks_fix();
	eng_release();
}

/*
 * An MPI program that is not under the shadow libmpich.so.12 (docs/mpi.md)
 * cannot be checkpointed: an image of MPICH's state (network endpoints,
 * shared memory with other ranks) would restore into a rank that crashes.
 * Looks for an MPI library in our maps (only MPICH's ABI is served: an Open
 * MPI rank, libmpi.so.40, is refused the same way); fills @lib. Called before the threads are
 * stopped, so stdio may allocate.
 */
static bool eng_uses_mpi(char *lib, size_t size)
{
	/* The application runs meanwhile: never on 0-2, which it may have
	 * closed and still write to. */
	int fd = eng_fd_engine(open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
	FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
	char *line = NULL;
	size_t cap = 0;
	bool found = false;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while (!found && getline(&line, &cap, f) > 0) {
		char *path = strchr(line, '/');

		/* MPICH's libmpich.so.12, Open MPI's (and Intel MPI's) libmpi.so.* */
		if (path && (strstr(path, "/libmpich.so") || strstr(path, "/libmpi.so"))) {
			path[strcspn(path, "\n")] = '\0';
			snprintf(lib, size, "%s", path);
			found = true;
		}
	}
	free(line);
	fclose(f);
	return found;
}

/* Whether this process may be checkpointed as far as MPI goes: not MPI, or
 * MPI under the shadow library (then *@split is set). */
static int eng_mpi_check(struct eng_conn *c, int64_t gen, bool *split)
{
	static bool mpi_said;
	char why[512];
	char lib[256];

	*split = eng_mpi_bind();
	if (*split || !eng_uses_mpi(lib, sizeof(lib)))
		return 1;
	/* Only MPICH programs can be put under the shadow library today. */
	snprintf(why, sizeof(why),
		 "this process uses MPI (%s) without the shadow MPI library: %s (docs/mpi.md)", lib,
		 strstr(lib, "/libmpich.so")
			 ? "run MPI steps with srun --mpi=pmi2 in a --checkpoint=auto job"
			 : "only programs built with MPICH can be checkpointed yet");
	if (!mpi_said)
		fprintf(stderr, "slurm-ckpt: %s; it runs on without checkpoints\n", why);
	mpi_said = true;
	return eng_send_error(c, gen, why);
}

/* Stops the application for a checkpoint: MPI's consistent cut first (the
 * application still runs), then every thread, then MPI's drain. Returns 0,
 * or -errno with @why (everything released again). */
static int eng_stop_all(bool split, char *why, size_t len)
{
	int ret;

	if (split) {
		ret = eng_mpi_prepare(why, len);
		if (ret < 0)
			return ret;
	}
	ret = eng_quiesce(ENG_QUIESCE_TIMEOUT_MS);
	if (ret < 0) {
		snprintf(why, len, "cannot stop the threads: %s", strerror(-ret));
		if (split)
			eng_mpi_resume();
		return ret;
	}
	if (split) {
		ret = eng_mpi_drain(why, len);
		if (ret < 0) {
			eng_release();
			return ret;
		}
	}
	return 0;
}

/* Formats a refusal into @why; cut to fit, as every reason on the wire. */
__attribute__((format(printf, 3, 4))) static void eng_why(char *why, size_t len, const char *fmt,
							  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* Whether @name is an image name the coordinator gives ("STEP.RANK.img",
 * proto_layout_image_name()): no '/', no "..", nothing else. */
static bool eng_image_name_ok(const char *name)
{
	const char *p = name;
	int dots = 0;

	for (; *p; p++) {
		if (*p == '.') {
			if (p == name || p[-1] == '.')
				return false;
			dots++;
		} else if (*p < '0' || *p > '9') {
			break;
		}
	}
	return dots == 2 && p[-1] == '.' && !strcmp(p, "img");
}

/*
 * Checks that @path, from a "write" of generation @gen, names an image in
 * this process's own <job dir>/gen-<gen>.tmp/ and builds in @out the path
 * to create, from our own record of the job directory rather than from the
 * message. The gen directory must be a real directory (not a symlink) of
 * our uid that no other user can write. Returns 0, or -EPERM/-EINVAL/-errno
 * with @why set. Runs while the application is stopped: no malloc.
 */
static int eng_image_path_check(const char *path, int64_t gen, char *out, size_t size, char *why,
				size_t why_len)
{
	char dir[PATH_MAX];
	char want[64];
	struct stat mine;
	struct stat st;
	char *name;
	char *gdir;
	int n;

	if (!eng_job_dir[0]) {
		eng_why(why, why_len,
			"refusing to write %s: this process does not know its checkpoint "
			"directory ($CKPT_DIR unset at its start)",
			path);
		return -EPERM;
	}
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) || dir[0] != '/')
		goto out_outside;
	name = strrchr(dir, '/');
	*name++ = '\0';
	gdir = strrchr(dir, '/');
	if (!gdir || !eng_image_name_ok(name))
		goto out_outside;
	*gdir++ = '\0';
	snprintf(want, sizeof(want), "gen-%lld.tmp", (long long)gen);
	if (strcmp(gdir, want) != 0)
		goto out_outside;
	/* Same directory by identity, not by spelling: the coordinator may
	 * reach the shared directory through another path. */
	if (stat(dir[0] ? dir : "/", &st) < 0 || stat(eng_job_dir, &mine) < 0 ||
	    st.st_dev != mine.st_dev || st.st_ino != mine.st_ino)
		goto out_outside;
	n = snprintf(out, size, "%s/%s", eng_job_dir, want);
	if (n < 0 || (size_t)n >= size)
		goto out_outside;
	if (lstat(out, &st) < 0) {
		int err = errno;

		eng_why(why, why_len, "refusing to write %s: %s: %s", path, out, strerror(err));
		return -err;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & S_IWOTH)) {
		eng_why(why, why_len,
			"refusing to write %s: %s is not a directory of uid %u that only its "
			"owner can write (a symlink, or another user's)",
			path, out, (unsigned)geteuid());
		return -EPERM;
	}
	n = snprintf(out, size, "%s/%s/%s", eng_job_dir, want, name);
	if (n < 0 || (size_t)n >= size)
		goto out_outside;
	return 0;

out_outside:
	eng_why(why, why_len,
		"refusing to write %s: an image goes only to %s/gen-%lld.tmp/STEP.RANK.img", path,
		eng_job_dir, (long long)gen);
	return -EPERM;
}

/*
 * "save_pipes": reads the bytes of the pipes this process saves for its
 * tree, while every process of the generation is still stopped, and says
 * so. Asked of a process that did not say it saves pipes, or once the
 * threads run again, it is refused: the cut would not hold.
 */
static int eng_save_pipes(struct eng_conn *c, int64_t gen)
{
	char why[512];
	int64_t g = -1;

	if (!eng_get_int(c->rx, "gen", &g) || g != gen)
		return eng_send_error(c, gen, "save_pipes for another generation");
	if (!eng_quiesced() || !eng_snapshot_saves_pipes())
		return eng_send_error(c, gen,
				      "save_pipes to a process that saves no pipe, or after its "
				      "threads were released");
	if (eng_snapshot_save_pipes(why, sizeof(why)) < 0)
		return eng_send_error(c, gen, why);
	return eng_send(c, "{\"v\":%d,\"type\":\"pipes_saved\",\"gen\":%lld}", PROTO_VERSION,
			(long long)gen);
}

static int eng_checkpoint(struct eng_conn *c, int64_t gen)
{
	struct eng_write_req req;
	struct eng_write_res res;
	char why[512] = "";
	char path[4096];
	char image[PATH_MAX + 64];
	char jpath[8200];
	char type[32];
	double t0 = eng_clock_ms();
	bool split;
	int ret;

	ret = eng_mpi_check(c, gen, &split);
	if (ret <= 0)
		return ret;
	ret = eng_stop_all(split, why, sizeof(why));
	if (ret < 0)
		return eng_send_error(c, gen, why);
	/* A thread waiting in a SIGTERM/SIGUSR1 handler for the answer to the
	 * request that may have caused this checkpoint holds a connection
	 * that is not the application's. */
	eng_trig_fds_exclude();
	ret = eng_snapshot_prepare(why, sizeof(why));
	eng_trig_fds_include();
	if (!ret && split) {
		ret = eng_mpi_exclude_memory(why, sizeof(why));
		if (ret < 0)
			eng_snapshot_discard();
	}
	if (ret < 0) {
		eng_release();
		return eng_send_error(c, gen, why);
	}
	/* A process that saves pipe bytes for its tree says so: in a
	 * non-final generation the coordinator then asks it to save them
	 * before it releases anyone (the pipe barrier). */
	ret = eng_send(c, "{\"v\":%d,\"type\":\"ready\",\"gen\":%lld%s}", PROTO_VERSION,
		       (long long)gen, eng_snapshot_saves_pipes() ? ",\"pipes\":true" : "");
	while (ret >= 0) {
		ret = eng_recv(c, type, sizeof(type), ENG_STOPPED_MAX_MS);
		if (ret == -ETIMEDOUT)
			log_warn(
				"agent silent for %d s while the application is stopped: resuming it",
				ENG_STOPPED_MAX_MS / 1000);
		if (ret < 0)
			break;
		if (!strcmp(type, "save_pipes")) {
			ret = eng_save_pipes(c, gen);
		} else if (!strcmp(type, "write")) {
			int64_t level = 3;
			int64_t nthr = 0;
			bool final = false;

			memset(&req, 0, sizeof(req));
			/* A second write after a non-final one would snapshot
			 * running threads. */
			if (!eng_quiesced()) {
				ret = eng_send_error(c, gen,
						     "write after the threads were released");
				continue;
			}
			if (!eng_get_str(c->rx, "path", path, sizeof(path)) || path[0] != '/') {
				ret = eng_send_error(c, gen, "write without an absolute path");
				continue;
			}
			ret = eng_image_path_check(path, gen, image, sizeof(image), why,
						   sizeof(why));
			if (ret < 0) {
				log_warn("%s", why);
				ret = eng_send_error(c, gen, why);
				continue;
			}
			eng_get_int(c->rx, "level", &level);
			eng_get_int(c->rx, "nthreads", &nthr);
			eng_get_bool(c->rx, "final", &final);
			req.path = image;
			req.level = level < 0 || level > 19 ? 3 : (int)level;
			req.nthreads = nthr < 0 || nthr > 256 ? 0 : (unsigned int)nthr;
			req.final = final;
			req.gen = gen;
			eng_last_gen = gen;
			ret = eng_snapshot_write(&req, &res);
			if (ret == 1) {
				eng_after_restore(c, eng_saved_nthreads);
				return 0;
			}
			if (ret < 0) {
				ret = eng_send_error(c, gen, res.reason);
				continue;
			}
			/* A final checkpoint keeps the application stopped: its
			 * pause so far is everything since prepare. */
			double pause_end = final ? eng_clock_ms() : res.released_ms;

			char incr[256];
			char jincr[300];

			/* How much memory this image stores and how much it
			 * refers to: the agent logs it. */
			snprintf(incr, sizeof(incr), "%s, %.1f MiB stored, %.1f MiB referred to",
				 eng_incr_last_kind(), (double)res.data_bytes / 1048576.0,
				 (double)res.ref_bytes / 1048576.0);
			eng_json_escape(incr, jincr, sizeof(jincr));
			eng_json_escape(path, jpath, sizeof(jpath));
			ret = eng_send(
				c,
				"{\"v\":%d,\"type\":\"written\",\"gen\":%lld,\"path\":\"%s\","
				"\"size\":%llu,\"xxh64\":\"%016llx\",\"pause_ms\":%.2f,"
				"\"write_ms\":%.1f,\"image\":\"%s\"}",
				PROTO_VERSION, (long long)gen, jpath, (unsigned long long)res.size,
				(unsigned long long)res.xxh64, pause_end - t0, res.write_ms, jincr);
		} else if (!strcmp(type, "resume") || !strcmp(type, "abort")) {
			/* resume follows a committed generation: it becomes the
			 * base the next one refers to. */
			if (!strcmp(type, "resume"))
				eng_incr_commit();
			else
				eng_incr_abort();
			eng_release();
			eng_snapshot_discard();
			return 0;
		} else if (!strcmp(type, "exit")) {
			eng_exit(c);
		} else {
			log_debug("ignoring message %s during a checkpoint", type);
		}
	}
	eng_incr_abort();
	eng_release();
	eng_snapshot_discard();
	return ret;
}

void eng_agent_atfork_child(void)
{
	int fd;

	/* Only the forking thread lives on in the child: a lock the parent's
	 * checkpoint thread held at the fork has no holder here. */
	eng_tx_drop();
	eng_disconnect(&eng_conn);
	eng_last_gen = -1;
	eng_restore_info.restored = 0;
	/* The child's checkpoint thread runs beside the application from now
	 * on, and a descriptor it made would take the lowest free number: a
	 * shell that then closes that number, believing it one of its own
	 * pipe ends, closes our socket, and our later close() of it closes
	 * the file the shell opened there meanwhile ("cannot duplicate fd 4
	 * to fd 0", test tree-bash-jobs). Made here, before fork() returns,
	 * and placed high, the socket takes no number the application uses.
	 * If it cannot be made, the thread makes one as before. One the
	 * parent had not used yet is the parent's: this copy is closed (if
	 * the parent's thread was taking it at the fork, the disconnect above
	 * closed it already and this close fails harmlessly: no other thread
	 * runs here). */
	if (eng_conn_premade >= 0)
		close(eng_conn_premade);
	eng_conn_premade = -1;
	/* Above ENG_FD_FLOOR, the shells' numbers: bash closes pipe ends it
	 * already closed, by number, in the child. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		eng_conn_premade = fcntl(fd, F_DUPFD_CLOEXEC, ENG_FD_FLOOR + 1);
		close(fd);
	}
}

void *eng_agent_thread(void *arg)
{
	const char *path = eng_env.sock[0] ? eng_env.sock : NULL;
	struct eng_conn *c = &eng_conn;
	int backoff = ENG_BACKOFF_MIN_MS;
	bool warned = false;
	char type[32];
	ssize_t n;

	static bool atexit_done;

	(void)arg;
	/* A fork's checkpoint thread finds it done (the list is inherited). */
	if (!atexit_done && atexit(eng_atexit) == 0)
		atexit_done = true;
	n = readlink("/proc/self/exe", eng_exe, sizeof(eng_exe) - 1);
	eng_exe[n > 0 ? n : 0] = '\0';
	eng_job_dir_set(NULL);
	for (;;) {
		int ret;

		if (c->fd < 0) {
			if (eng_restore_info.agent_sock[0])
				path = eng_restore_info.agent_sock;
			ret = eng_connect(c, path, eng_restore_info.restored);
			/* Our node agent died (kill -9, OOM): start another. */
			if (ret < 0 && eng_agent_replace(ret) == 0)
				ret = eng_connect(c, path, eng_restore_info.restored);
			if (ret < 0) {
				if (!warned)
					log_warn(
						"agent at %s unreachable (%s): running without checkpoints, retrying",
						path, strerror(-ret));
				warned = true;
				struct timespec ts = { backoff / 1000,
						       (backoff % 1000) * 1000000L };

				nanosleep(&ts, NULL);
				backoff = backoff * 2 > ENG_BACKOFF_MAX_MS ? ENG_BACKOFF_MAX_MS
									   : backoff * 2;
				continue;
			}
			backoff = ENG_BACKOFF_MIN_MS;
			warned = false;
		}
		ret = eng_recv(c, type, sizeof(type), -1);
		if (ret == 0 && !strcmp(type, "prepare")) {
			int64_t gen = -1;

			eng_get_int(c->rx, "gen", &gen);
			ret = eng_checkpoint(c, gen);
		} else if (ret == 0 && !strcmp(type, "exit")) {
			eng_exit(c);
		} else if (ret == 0) {
			log_debug("ignoring message %s", type);
		}
		if (ret < 0 && c->fd >= 0) {
			log_warn(
				"lost the agent connection (%s): running without checkpoints, reconnecting",
				strerror(-ret));
			warned = true;
			eng_disconnect(c);
		}
	}
	return NULL;
}
