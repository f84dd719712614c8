/* cli_tree.c - the namespace of a process tree (docs/process-trees.md).
 *
 * 'ckpt run' runs the program in a user namespace that maps the user to
 * itself and a PID namespace of its own: our init is pid 1, the program
 * pid 2. 'ckpt restart' makes the same namespaces and re-creates every
 * process of the saved tree with its old pid (clone3 set_tid), its parent,
 * group, session and its unreaped children, then each process executes the
 * restorer for its image.
 *
 * set_tid needs CAP_SYS_ADMIN in the user namespace owning the PID
 * namespace. The process that made the namespaces has it, and so do its
 * forks, but not after an execve (the uid is not 0 in the namespace): the
 * whole tree is therefore made by forks of this process, and each process
 * executes the restorer only after it created its own children.
 */
#include "cli.h"
#include "cli_tree_check.h"
#include "tree_gen.h"
#include "cli_tree_shm.h"

#include "files.h"
#include "files_sock.h"
#include "img.h"
#include "layout.h"
#include "manifest.h"
#include "tree_rec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Signals ckpt run forwards, and so the init too (to pid 2 only). */
static const int cli_tree_forwarded[] = { SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT };

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	err = errno;
	close(fd);
	if (n != (ssize_t)len)
		return n < 0 ? -err : -EIO;
	return 0;
}

int cli_tree_ns_enter(void)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();
	int ret;

	if (unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS) < 0) {
		ret = -errno;
		cli_err("cannot make a user, PID and mount namespace for the program: %s (see "
			"user.max_user_namespaces, and on Ubuntu "
			"kernel.apparmor_restrict_unprivileged_userns); forked children "
			"will not be checkpointed",
			strerror(errno));
		return ret;
	}
	/* The user mapped to itself: the program sees the uid and gid it has. */
	snprintf(map, sizeof(map), "%u %u 1", (unsigned)uid, (unsigned)uid);
	ret = write_file("/proc/self/uid_map", map);
	if (!ret)
		ret = write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "%u %u 1", (unsigned)gid, (unsigned)gid);
	if (!ret)
		ret = write_file("/proc/self/gid_map", map);
	if (ret)
		cli_err("cannot write the id maps of the new user namespace: %s", strerror(-ret));
	return ret;
}

/* ---- the init (pid 1) ----------------------------------------------------- */

/* In pid 1: a /proc of the new PID namespace. libckpt lists its threads in
 * /proc/self/task and signals them with tgkill(getpid(), tid): both must be
 * numbers of the same namespace, and /proc/<pid> of a tree member must be
 * that member. Mounts stay slaves of the outer ones, so the file systems
 * the program sees are the same. Returns 0 or -errno (said). */
static int init_proc_mount(void)
{
	if (mount("none", "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
		cli_err("cannot make the mounts of the new namespace slaves: %s", strerror(errno));
		return -errno;
	}
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		cli_err("cannot mount a /proc for the new PID namespace: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static void init_forward(int sig)
{
	int err = errno;

	kill(CLI_TREE_ROOT, sig);
	errno = err;
}

/* pid 1 of the namespace: forwards ckpt run's signals to pid 2, reaps
 * orphans, and exits with pid 2's status when it ends (the kernel then ends
 * whatever is left in the namespace). */
static __attribute__((noreturn)) void init_loop(void)
{
	struct sigaction sa = { .sa_handler = init_forward, .sa_flags = SA_RESTART };
	size_t i;

	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(cli_tree_forwarded) / sizeof(cli_tree_forwarded[0]); i++)
		sigaction(cli_tree_forwarded[i], &sa, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid == CLI_TREE_ROOT) {
			if (WIFSIGNALED(status))
				_exit(128 + WTERMSIG(status));
			_exit(WEXITSTATUS(status));
		}
		if (pid < 0 && errno == ECHILD) {
			cli_err("process %d of the namespace is gone, no status", CLI_TREE_ROOT);
			_exit(CLI_EXIT_FAIL);
		}
	}
}

static void init_signals_default(void)
{
	size_t i;

	for (i = 0; i < sizeof(cli_tree_forwarded) / sizeof(cli_tree_forwarded[0]); i++)
		signal(cli_tree_forwarded[i], SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
}

/* The launcher's side of init_die_with_launcher(), before the fork: a
 * pidfd of the launcher (-1 when the kernel has none). */
static int launcher_pidfd(void)
{
	return (int)syscall(SYS_pidfd_open, getpid(), 0);
}

/* In the init: the namespace (the whole tree) ends with the process that
 * made it. Without this, a `ckpt run` or `ckpt restart` killed with
 * SIGKILL left its init, reparented, and the tree running on unwatched.
 * The launcher may have died before the prctl: its pidfd then reads as
 * ready (getppid() cannot tell, the parent is outside the namespace). */
static void init_die_with_launcher(int launcher)
{
	struct pollfd gone = { .fd = launcher, .events = POLLIN };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || (launcher >= 0 && poll(&gone, 1, 0) > 0))
		_exit(CLI_EXIT_FAIL);
	if (launcher >= 0)
		close(launcher);
}

pid_t cli_tree_run(char **argv)
{
	int launcher = launcher_pidfd();
	pid_t init = fork();

	if (init != 0) {
		if (init < 0)
			cli_err("fork: %s", strerror(errno));
		if (launcher >= 0)
			close(launcher);
		return init;
	}
	/* pid 1 of the namespace. */
	init_die_with_launcher(launcher);
	if (init_proc_mount())
		_exit(CLI_EXIT_FAIL);
	pid_t pid = fork();

	if (pid < 0) {
		cli_err("fork: %s", strerror(errno));
		_exit(CLI_EXIT_FAIL);
	}
	if (pid == 0) {
		init_signals_default();
		execvp(argv[0], argv);
		cli_err("cannot run %s: %s", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	if (pid != CLI_TREE_ROOT) {
		cli_err("the program got pid %d in its new namespace, not %d", (int)pid,
			CLI_TREE_ROOT);
		kill(pid, SIGKILL);
		_exit(CLI_EXIT_FAIL);
	}
	init_loop();
}

/* ---- restart ---------------------------------------------------------------- */

struct tree_proc {
	struct tree_rec_child *children;		      /* its children, malloc'd */
	char image[PATH_MAX + PROTO_MANIFEST_NAME_SIZE];      /* its image file */
	struct ckpt_tree_pipe_ent ends[CKPT_TREE_PIPES_MAX];  /* its descriptions of
							      * pipes shared in the tree */
	size_t nends;					      /* entries of ends */
	struct ckpt_tree_sock_ent socks[CKPT_TREE_PIPES_MAX]; /* its descriptions of
							       * sockets shared in the tree */
	size_t nsocks;					      /* entries of socks */
	int fd_limit; /* its files restore uses numbers below this */
	/* The header of its tree record. Last: struct tree_rec ends in a
	 * flexible array (never used here, the children are read into
	 * @children), which C allows only at the end of a struct. */
	struct tree_rec rec;
};

/* One end of a socketpair shared in the tree, made once by the init. */
struct tree_sock {
	uint64_t ino;		   /* its inode at the checkpoint */
	struct ckpt_usock_hdr hdr; /* type, peer, state: the queue carrier's */
	const void *data;	   /* the data of the entry carrying the queue */
	uint64_t data_len;	   /* its length */
	int32_t data_pid;	   /* the process whose image carries it, 0: none */
	int32_t ref_pid;	   /* the lowest holder */
	int32_t ref_fd;		   /* and its lowest number: its flags are the socket's */
	uint32_t status;	   /* O_NONBLOCK of the socket's description */
	struct tree_sock *peer;	   /* the other end, NULL: in no image */
	int fd;			   /* the socket in the init and its forks, -1: none */
};

/* A pipe shared in the tree, made once by the init at restart. */
struct tree_pipe {
	uint64_t ino;	    /* its id at the checkpoint */
	uint32_t size;	    /* F_GETPIPE_SZ */
	const void *data;   /* its buffered bytes */
	uint64_t data_len;  /* their length */
	int32_t data_pid;   /* the process whose image holds them, 0: none */
	int32_t ref_pid[2]; /* per end (read, write): the lowest holder */
	int32_t ref_fd[2];  /* and its lowest number: its flags are the end's */
	uint32_t status[2]; /* O_NONBLOCK/O_DIRECT of each end's description */
	int fd[2];	    /* the end in the init and its forks, -1: no holder */
	const char *path;   /* a named pipe's path (a holder's copy), NULL: a pipe */
};

static struct tree_proc *tree_find(struct tree_proc *v, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].rec.pid == pid)
			return &v[i];
	return NULL;
}

/* Reads the descriptions of pipes shared in the tree from the files record
 * of @p's image (reader @r), validated as the restore will, with a copy of
 * the bytes one of them may carry. Returns 0 or -EBADMSG/-ENOMEM (said). */
static int tree_read_pipes(struct tree_proc *p, struct img_reader *r)
{
	const void *data;
	uint64_t len;
	uint32_t idx = 0;
	int n;

	p->fd_limit = 0;
	if (img_reader_record_find(r, CKPT_REC_FILES, &idx, &data, &len))
		return 0; /* no descriptors saved */
	p->fd_limit = ckpt_files_fd_limit(data, len);
	n = p->fd_limit < 0 ? p->fd_limit
			    : ckpt_files_tree_pipe_ends(data, len, p->ends, CKPT_TREE_PIPES_MAX);
	if (n < 0) {
		cli_err("%s: %s", p->image,
			n == -E2BIG ? "more than 64 descriptions of pipes shared in the tree"
				    : "invalid files record");
		return -EBADMSG;
	}
	p->nends = (size_t)n;
	n = ckpt_files_tree_sock_ends(data, len, p->socks, CKPT_TREE_PIPES_MAX);
	if (n < 0) {
		cli_err("%s: %s", p->image,
			n == -E2BIG ? "more than 64 descriptions of sockets shared in the tree"
				    : "invalid files record");
		p->nends = 0;
		return -EBADMSG;
	}
	p->nsocks = (size_t)n;
	for (size_t i = 0; i < p->nsocks; i++) {
		void *copy = malloc(p->socks[i].data_len ? p->socks[i].data_len : 1);

		if (!copy) {
			p->nsocks = i;
			p->nends = 0;
			cli_err("out of memory");
			return -ENOMEM;
		}
		memcpy(copy, p->socks[i].data, p->socks[i].data_len);
		p->socks[i].data = copy;
	}
	/* The reader goes: the bytes and paths are copied (freed with @p). */
	for (size_t i = 0; i < p->nends; i++) {
		const char *path = p->ends[i].path;
		void *copy = NULL;

		p->ends[i].path = NULL;
		if (p->ends[i].data_len) {
			copy = malloc(p->ends[i].data_len);
			if (!copy) {
				p->nends = i;
				cli_err("out of memory");
				return -ENOMEM;
			}
			memcpy(copy, p->ends[i].data, p->ends[i].data_len);
		}
		p->ends[i].data = copy;
		if (path && !(p->ends[i].path = strdup(path))) {
			p->nends = i + 1;
			cli_err("out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

/* Reads the tree record of @p->image into @p. Returns 0, -ENOENT (no
 * record: an image from before trees, or no image the reader accepts), or
 * -errno (said). */
static int tree_read_image(struct tree_proc *p)
{
	char why[PATH_MAX + 256];
	struct img_reader *r = NULL;
	const void *data;
	uint64_t len;
	uint32_t idx = 0;
	int ret;

	/* An image the reader refuses is no tree of ours: the restorer that
	 * restores it as before says what is wrong with it. */
	ret = img_reader_open(p->image, 0, &r);
	if (ret) {
		ret = -ENOENT;
		goto out;
	}
	ret = img_reader_record_find(r, CKPT_REC_TREE, &idx, &data, &len);
	if (ret)
		goto out;
	ret = tree_gen_parse(p->image, data, len, &p->rec, &p->children, why, sizeof(why));
	if (ret) {
		cli_err("%s", why);
		goto out;
	}
	ret = tree_read_pipes(p, r);
out:
	img_reader_free(r);
	return ret;
}

/* The checks of cli_tree_check.c over the records read: a record from a
 * file is the file's word. Returns 0 or -EBADMSG/-ENOMEM (said). */
static int tree_check(struct tree_proc *v, size_t n)
{
	struct tree_check_proc *c = calloc(n ? n : 1, sizeof(*c));
	char why[PATH_MAX + 256];
	int ret;

	if (!c) {
		cli_err("out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		c[i] = (struct tree_check_proc){ &v[i].rec, v[i].children, v[i].image };
	ret = cli_tree_check(c, n, CLI_TREE_ROOT, why, sizeof(why));
	if (ret)
		cli_err("%s", why);
	free(c);
	return ret;
}

static pid_t clone_pid(pid_t pid)
{
	struct clone_args args;
	pid_t want[1] = { pid };

	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uint64_t)(uintptr_t)want;
	args.set_tid_size = 1;
	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* In the process created for a zombie: ends as the saved child did. */
static __attribute__((noreturn)) void become_zombie(int status)
{
	struct rlimit none = { 0, 0 };

	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		sigset_t set;

		setrlimit(RLIMIT_CORE, &none);
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		kill(getpid(), sig);
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 0);
}

struct tree_ctx {
	struct tree_proc *v;
	size_t n;
	const char *restorer;
	const char *sock;
	struct tree_pipe *pipes;  /* pipes shared in the tree */
	size_t npipes;		  /* entries of pipes */
	struct tree_sock *socks;  /* ends of socketpairs shared in the tree */
	size_t nsocks;		  /* entries of socks */
	int pipe_base;		  /* their ends sit at this number and up */
	int hand_base;		  /* a process's own ends move here before exec */
	struct cli_tree_shm *shm; /* memfds of memory shared in the tree */
};

/* Most pipes shared in one tree: bounds what an image makes the init open. */
#define TREE_PIPES_MAX 4096

/* Gathers the pipes shared in the tree from every image and checks that the
 * images agree on each: one size, its bytes saved at most once. For each
 * end, the lowest holder's flags are the shared description's. Returns 0
 * or -EBADMSG/-ENOMEM (said). */
static int tree_pipes_collect(struct tree_ctx *t)
{
	size_t cap = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct tree_proc *p = &t->v[i];

		for (size_t k = 0; k < p->nends; k++) {
			const struct ckpt_tree_pipe_ent *e = &p->ends[k];
			int d = e->acc == O_RDONLY ? 0 : 1;
			struct tree_pipe *tp = NULL;

			for (size_t j = 0; j < t->npipes && !tp; j++)
				if (t->pipes[j].ino == e->ino)
					tp = &t->pipes[j];
			if (!tp) {
				if (t->npipes == TREE_PIPES_MAX) {
					cli_err("%s: more than %d pipes shared in the tree",
						p->image, TREE_PIPES_MAX);
					return -EBADMSG;
				}
				if (t->npipes == cap) {
					size_t nc = cap ? 2 * cap : 16;
					struct tree_pipe *g = realloc(t->pipes, nc * sizeof(*g));

					if (!g) {
						cli_err("out of memory");
						return -ENOMEM;
					}
					t->pipes = g;
					cap = nc;
				}
				tp = &t->pipes[t->npipes++];
				memset(tp, 0, sizeof(*tp));
				tp->ino = e->ino;
				tp->size = e->pipe_size;
				tp->fd[0] = tp->fd[1] = -1;
				tp->path = e->path;
			}
			if (!tp->path != !e->path || (e->path && strcmp(tp->path, e->path) != 0)) {
				cli_err("%s: pipe %llu is %s here and %s in another image",
					p->image, (unsigned long long)e->ino,
					e->path ? e->path : "a pipe",
					tp->path ? tp->path : "a pipe");
				return -EBADMSG;
			}
			if (tp->size != e->pipe_size) {
				cli_err("%s: pipe:[%llu] of %u bytes is %u bytes in another image",
					p->image, (unsigned long long)e->ino, e->pipe_size,
					tp->size);
				return -EBADMSG;
			}
			if (e->data_len && tp->data_pid) {
				cli_err("%s: the bytes of pipe:[%llu] are saved by pid %d too",
					p->image, (unsigned long long)e->ino, tp->data_pid);
				return -EBADMSG;
			}
			if (e->data_len) {
				tp->data = e->data;
				tp->data_len = e->data_len;
				tp->data_pid = p->rec.pid;
			}
			if (!tp->ref_pid[d] || p->rec.pid < tp->ref_pid[d] ||
			    (p->rec.pid == tp->ref_pid[d] && e->fd < tp->ref_fd[d])) {
				tp->ref_pid[d] = p->rec.pid;
				tp->ref_fd[d] = e->fd;
				tp->status[d] = e->status;
			}
		}
	}
	return 0;
}

static struct tree_sock *tree_sock_find(const struct tree_ctx *t, uint64_t ino)
{
	for (size_t j = 0; j < t->nsocks; j++)
		if (t->socks[j].ino == ino)
			return &t->socks[j];
	return NULL;
}

/* Adds socket description @e of process @p to t->socks. Returns 0 or
 * -EBADMSG/-ENOMEM (said). */
static int tree_socks_add(struct tree_ctx *t, size_t *cap, const struct tree_proc *p,
			  const struct ckpt_tree_sock_ent *e)
{
	struct ckpt_usock_hdr h;
	struct tree_sock *ts;

	if (ckpt_usock_data_check(e->data, e->data_len, &h) < 0) {
		cli_err("%s: fd %d: invalid description of socket:[%llu]", p->image, e->fd,
			(unsigned long long)e->ino);
		return -EBADMSG;
	}
	ts = tree_sock_find(t, e->ino);
	if (!ts) {
		if (t->nsocks == TREE_PIPES_MAX) {
			cli_err("%s: more than %d sockets shared in the tree", p->image,
				TREE_PIPES_MAX);
			return -EBADMSG;
		}
		if (t->nsocks == *cap) {
			size_t nc = *cap ? 2 * *cap : 16;
			struct tree_sock *g = realloc(t->socks, nc * sizeof(*g));

			if (!g) {
				cli_err("out of memory");
				return -ENOMEM;
			}
			t->socks = g;
			*cap = nc;
		}
		ts = &t->socks[t->nsocks++];
		memset(ts, 0, sizeof(*ts));
		ts->ino = e->ino;
		ts->hdr = h;
		ts->fd = -1;
	}
	if (ts->hdr.type != h.type || ts->hdr.peer != h.peer) {
		cli_err("%s: fd %d: socket:[%llu] is of type %u joined to socket:[%llu] here, of "
			"type %u joined to socket:[%llu] in another image",
			p->image, e->fd, (unsigned long long)e->ino, h.type,
			(unsigned long long)h.peer, ts->hdr.type, (unsigned long long)ts->hdr.peer);
		return -EBADMSG;
	}
	if ((h.flags & CKPT_USOCK_QUEUE) && ts->data_pid) {
		cli_err("%s: the queue of socket:[%llu] is saved by pid %d too", p->image,
			(unsigned long long)e->ino, ts->data_pid);
		return -EBADMSG;
	}
	if (h.flags & CKPT_USOCK_QUEUE) {
		ts->hdr = h; /* the carrier read the state last, at write time */
		ts->data = e->data;
		ts->data_len = e->data_len;
		ts->data_pid = p->rec.pid;
	}
	if (!ts->ref_pid || p->rec.pid < ts->ref_pid ||
	    (p->rec.pid == ts->ref_pid && e->fd < ts->ref_fd)) {
		ts->ref_pid = p->rec.pid;
		ts->ref_fd = e->fd;
		ts->status = e->status;
	}
	return 0;
}

/* Gathers the sockets shared in the tree from every image and joins each
 * to its peer: the images must agree on each socket's type and peer, its
 * queue must be saved exactly once, and the peer must name it back. A
 * socket whose peer was closed (peer 0) is made with that end closed; so
 * is one whose peer is in no image (its last holder closed it after the
 * checkpoint began), and said. Returns 0 or
 * -EBADMSG/-ENOMEM (said). */
static int tree_socks_collect(struct tree_ctx *t)
{
	size_t cap = 0;
	int ret;

	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < t->v[i].nsocks; k++) {
			ret = tree_socks_add(t, &cap, &t->v[i], &t->v[i].socks[k]);
			if (ret)
				return ret;
		}
	for (size_t j = 0; j < t->nsocks; j++) {
		struct tree_sock *ts = &t->socks[j];

		if (!ts->data_pid) {
			cli_err("socket:[%llu] (pid %d, fd %d): no image of the generation holds "
				"its queue",
				(unsigned long long)ts->ino, ts->ref_pid, ts->ref_fd);
			return -EBADMSG;
		}
		ts->peer = ts->hdr.peer ? tree_sock_find(t, ts->hdr.peer) : NULL;
		if (ts->peer &&
		    (ts->peer->hdr.peer != ts->ino || ts->peer->hdr.type != ts->hdr.type)) {
			cli_err("socket:[%llu] (pid %d, fd %d) and its peer socket:[%llu] do not "
				"name each other",
				(unsigned long long)ts->ino, ts->ref_pid, ts->ref_fd,
				(unsigned long long)ts->hdr.peer);
			return -EBADMSG;
		}
		if (!ts->peer && ts->hdr.peer)
			cli_err("warning: socket:[%llu] (pid %d, fd %d): its other end "
				"socket:[%llu] is in no image (closed as the checkpoint began); "
				"it is made again with that end closed",
				(unsigned long long)ts->ino, ts->ref_pid, ts->ref_fd,
				(unsigned long long)ts->hdr.peer);
	}
	return 0;
}

/* Gives a fresh socket the buffer sizes, credentials passing of @h. */
static void tree_sock_opts(int fd, const struct ckpt_usock_hdr *h, uint64_t ino)
{
	int v = 0;
	socklen_t len = sizeof(v);

	/* getsockopt() reads twice what setsockopt() set. */
	if (h->sndbuf && getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 &&
	    (uint32_t)v != h->sndbuf) {
		v = (int)(h->sndbuf / 2);
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) < 0)
			cli_err("warning: socket:[%llu]: cannot set SO_SNDBUF %d: %s",
				(unsigned long long)ino, v, strerror(errno));
	}
	len = sizeof(v);
	if (h->rcvbuf && getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0 &&
	    (uint32_t)v != h->rcvbuf) {
		v = (int)(h->rcvbuf / 2);
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0)
			cli_err("warning: socket:[%llu]: cannot set SO_RCVBUF %d: %s",
				(unsigned long long)ino, v, strerror(errno));
	}
	v = 1;
	if ((h->flags & CKPT_USOCK_PASSCRED) &&
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &v, sizeof(v)) < 0)
		cli_err("warning: socket:[%llu]: cannot set SO_PASSCRED: %s",
			(unsigned long long)ino, strerror(errno));
}

/* What is left once the queues are in: the shutdown state, the peek
 * offset, the description's O_NONBLOCK; then the socket moves to
 * t->pipe_base and up. Returns 0 or -errno (said). */
static int tree_sock_finish(const struct tree_ctx *t, struct tree_sock *ts, int fd)
{
	int ret = 0;

	if ((ts->hdr.shut & CKPT_USOCK_SHUT_RD) && shutdown(fd, SHUT_RD) < 0)
		ret = -errno;
	if (!ret && (ts->hdr.shut & CKPT_USOCK_SHUT_WR) && shutdown(fd, SHUT_WR) < 0)
		ret = -errno;
	if (!ret && ts->hdr.peek_off >= 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &ts->hdr.peek_off, sizeof(int)) < 0)
		ret = -errno;
	if (!ret && fcntl(fd, F_SETFL, (int)ts->status) < 0)
		ret = -errno;
	if (!ret) {
		ts->fd = fcntl(fd, F_DUPFD, t->pipe_base);
		if (ts->fd < 0)
			ret = -errno;
	}
	if (ret)
		cli_err("cannot set up socket:[%llu] again: %s", (unsigned long long)ts->ino,
			strerror(-ret));
	close(fd);
	return ret;
}

/* In the init: makes every socketpair shared in the tree once, with the
 * options, queues and shutdown state of each end. The bytes queued on one
 * end are sent again through the other; datagrams and seqpackets one
 * message each, so their boundaries are kept. Returns 0 or -errno (said). */
static int tree_socks_make(struct tree_ctx *t)
{
	for (size_t j = 0; j < t->nsocks; j++) {
		struct tree_sock *a = &t->socks[j];
		struct tree_sock *b = a->peer;
		int sv[2];
		int ret;

		if (b && b->ino < a->ino)
			continue; /* made with its peer */
		if (socketpair(AF_UNIX, (int)a->hdr.type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) <
		    0) {
			cli_err("cannot make socket:[%llu] again: %s", (unsigned long long)a->ino,
				strerror(errno));
			return -errno;
		}
		tree_sock_opts(sv[0], &a->hdr, a->ino);
		if (b)
			tree_sock_opts(sv[1], &b->hdr, b->ino);
		ret = ckpt_usock_queue_refill(sv[1], a->data, a->data_len);
		if (!ret && b)
			ret = ckpt_usock_queue_refill(sv[0], b->data, b->data_len);
		if (ret) {
			cli_err("cannot put the %llu saved bytes back into socket:[%llu] or its "
				"peer: %s",
				(unsigned long long)a->hdr.qbytes, (unsigned long long)a->ino,
				strerror(-ret));
			close(sv[0]);
			close(sv[1]);
			return ret;
		}
		ret = b ? tree_sock_finish(t, b, sv[1]) : (close(sv[1]), 0);
		if (ret) {
			close(sv[0]);
			return ret;
		}
		ret = tree_sock_finish(t, a, sv[0]);
		if (ret)
			return ret;
	}
	return 0;
}

/* Opens named pipe @tp again, both ends, into @p: by path without
 * following a last symbolic link the checkpoint did not see and without
 * blocking (O_PATH first), checked to be the same FIFO (its inode) and
 * empty: bytes in it mean a process outside the tree holds it open, and
 * ours would come back twice. Returns 0 or -errno (said). */
static int tree_fifo_open(const struct tree_pipe *tp, int p[2])
{
	char proc[64];
	struct stat st;
	int avail = 0;
	int ret = 0;
	int o = open(tp->path, O_PATH | O_CLOEXEC);

	p[0] = p[1] = -1;
	if (o < 0) {
		cli_err("cannot open named pipe %s again: %s", tp->path, strerror(errno));
		return -errno;
	}
	if (fstat(o, &st) < 0 || !S_ISFIFO(st.st_mode) || (uint64_t)st.st_ino != tp->ino) {
		cli_err("named pipe %s was replaced since the checkpoint (inode %llu, was %llu)",
			tp->path, (unsigned long long)st.st_ino, (unsigned long long)tp->ino);
		ret = -ESTALE;
		goto out;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o);
	/* The read end first: a writer's open needs a reader. */
	p[0] = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	p[1] = p[0] < 0 ? -1 : open(proc, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (p[1] < 0) {
		ret = -errno;
		cli_err("cannot open named pipe %s again: %s", tp->path, strerror(errno));
	} else if (ioctl(p[0], FIONREAD, &avail) < 0 || avail) {
		cli_err("named pipe %s holds %d bytes already: a process outside the tree has it "
			"open; end it, then restart",
			tp->path, avail);
		ret = -EBUSY;
	}
out:
	if (ret) {
		if (p[0] >= 0)
			close(p[0]);
		if (p[1] >= 0)
			close(p[1]);
	}
	close(o);
	return ret;
}

/* In the init: makes every pipe shared in the tree once, at its size, with
 * its saved bytes, each end with the flags of its description, and moves
 * the ends every fork inherits to t->pipe_base and up (above any number a
 * files restore uses). An end no process holds is closed. Returns 0 or
 * -errno (said). */
static int tree_pipes_make(struct tree_ctx *t)
{
	for (size_t j = 0; j < t->npipes; j++) {
		struct tree_pipe *tp = &t->pipes[j];
		uint64_t done = 0;
		int p[2];

		if (tp->path) {
			int ret = tree_fifo_open(tp, p);

			if (ret)
				return ret;
		} else if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
			cli_err("cannot make pipe:[%llu] again: %s", (unsigned long long)tp->ino,
				strerror(errno));
			return -errno;
		}
		if (fcntl(p[0], F_SETPIPE_SZ, (int)tp->size) < 0)
			cli_err("cannot give pipe:[%llu] its %u bytes: %s; it keeps %d",
				(unsigned long long)tp->ino, tp->size, strerror(errno),
				fcntl(p[0], F_GETPIPE_SZ));
		while (done < tp->data_len) {
			ssize_t w = write(p[1], (const char *)tp->data + done, tp->data_len - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				cli_err("cannot put the %llu saved bytes back into pipe:[%llu]: %s",
					(unsigned long long)tp->data_len,
					(unsigned long long)tp->ino,
					w < 0 ? strerror(errno) : "short write");
				close(p[0]);
				close(p[1]);
				return -EIO;
			}
			done += (uint64_t)w;
		}
		for (int d = 0; d < 2; d++) {
			if (tp->ref_pid[d] && fcntl(p[d], F_SETFL, (int)tp->status[d]) == 0)
				tp->fd[d] = fcntl(p[d], F_DUPFD, t->pipe_base);
			if (tp->ref_pid[d] && tp->fd[d] < 0)
				cli_err("cannot place pipe:[%llu] at %d or above: %s",
					(unsigned long long)tp->ino, t->pipe_base, strerror(errno));
			close(p[d]);
			if (tp->ref_pid[d] && tp->fd[d] < 0)
				return -EMFILE;
		}
	}
	return 0;
}

/* Closes the pipe ends and sockets every fork of the init inherited. */
static void tree_pipes_close(const struct tree_ctx *t)
{
	for (size_t j = 0; j < t->npipes; j++)
		for (int d = 0; d < 2; d++)
			if (t->pipes[j].fd[d] >= 0)
				close(t->pipes[j].fd[d]);
	for (size_t j = 0; j < t->nsocks; j++)
		if (t->socks[j].fd >= 0)
			close(t->socks[j].fd);
}

/* In the process that becomes @p, after it made its children: keeps the
 * ends @p holds, moved to t->hand_base and up, closes every other
 * (an end left open would keep a reader from ever seeing end of file), and
 * names them for ckpt-restore in CKPT_TREE_PIPES_ENV. Returns 0 or -errno
 * (said). */
static int tree_pipes_hand(const struct tree_ctx *t, const struct tree_proc *p)
{
	char env[CKPT_TREE_PIPES_MAX * 48];
	size_t used = 0;
	size_t count = 0;
	int ret = 0;

	env[0] = '\0';
	for (size_t j = 0; j < t->npipes && !ret; j++) {
		const struct tree_pipe *tp = &t->pipes[j];

		for (int d = 0; d < 2 && !ret; d++) {
			bool held = false;
			int fd;

			for (size_t k = 0; k < p->nends && !held; k++)
				held = p->ends[k].ino == tp->ino &&
				       (p->ends[k].acc == O_RDONLY) == (d == 0);
			if (!held || tp->fd[d] < 0)
				continue;
			if (++count > CKPT_TREE_PIPES_MAX) {
				ret = -E2BIG;
				break;
			}
			fd = fcntl(tp->fd[d], F_DUPFD, t->hand_base);
			if (fd < 0) {
				ret = -errno;
				cli_err("pid %d: cannot take its end of pipe:[%llu]: %s",
					p->rec.pid, (unsigned long long)tp->ino, strerror(errno));
				break;
			}
			used += (size_t)snprintf(env + used, sizeof(env) - used, "%s%d:%llu:%c",
						 used ? "," : "", fd, (unsigned long long)tp->ino,
						 d == 0 ? 'r' : 'w');
		}
	}
	for (size_t k = 0; k < p->nsocks && !ret; k++) {
		const struct tree_sock *ts = tree_sock_find(t, p->socks[k].ino);
		int fd;

		if (!ts || ts->fd < 0)
			continue;
		if (++count > CKPT_TREE_PIPES_MAX) {
			ret = -E2BIG;
			break;
		}
		fd = fcntl(ts->fd, F_DUPFD, t->hand_base);
		if (fd < 0) {
			ret = -errno;
			cli_err("pid %d: cannot take socket:[%llu]: %s", p->rec.pid,
				(unsigned long long)ts->ino, strerror(errno));
			break;
		}
		used += (size_t)snprintf(env + used, sizeof(env) - used, "%s%d:%llu:s",
					 used ? "," : "", fd, (unsigned long long)ts->ino);
	}
	if (ret == -E2BIG)
		cli_err("pid %d holds more than %d pipe ends and sockets shared in the tree",
			p->rec.pid, CKPT_TREE_PIPES_MAX);
	tree_pipes_close(t);
	if (!ret && used && setenv(CKPT_TREE_PIPES_ENV, env, 1) < 0)
		ret = -errno;
	return ret;
}

/* Runs in the process that has @p's pid: its group and session, its
 * children, then the restorer for its image. Never returns. */
static __attribute__((noreturn)) void become(const struct tree_ctx *t, struct tree_proc *p)
{
	const struct tree_rec *r = &p->rec;

	if (r->sid == r->pid) {
		if (setsid() < 0)
			cli_err("pid %d: setsid: %s", r->pid, strerror(errno));
	} else if (r->pgid != getpgid(0) && setpgid(0, r->pgid) < 0) {
		cli_err("pid %d: cannot join process group %d: %s; it stays in group %d", r->pid,
			r->pgid, strerror(errno), (int)getpgid(0));
	}
	if (r->sid != getsid(0))
		cli_err("pid %d was in session %d and is in session %d now", r->pid, r->sid,
			(int)getsid(0));
	for (uint32_t k = 0; k < r->nchildren; k++) {
		const struct tree_rec_child *c = &p->children[k];
		pid_t pid = clone_pid(c->pid);

		if (pid < 0) {
			cli_err("cannot re-create pid %d (child of %d): %s", c->pid, r->pid,
				strerror(errno));
			_exit(CLI_EXIT_FAIL);
		}
		if (pid > 0)
			continue;
		if (c->state == TREE_CHILD_ZOMBIE)
			become_zombie(c->status);
		become(t, tree_find(t->v, t->n, c->pid));
	}
	if (tree_pipes_hand(t, p) < 0 || cli_tree_shm_hand(t->shm, p->rec.pid) < 0)
		_exit(CLI_EXIT_FAIL);
	execl(t->restorer, "ckpt-restore", p->image, "--agent", t->sock, (char *)NULL);
	cli_err("cannot execute %s: %s", t->restorer, strerror(errno));
	_exit(127);
}

/* The memfds of the memory two or more processes shared (cli_tree_shm.h),
 * above the numbers a process's own pipe ends move to. Returns 0 or -errno
 * (said). */
static int tree_shm_make(struct tree_ctx *t)
{
	const char **images = calloc(t->n ? t->n : 1, sizeof(*images));
	pid_t *pids = calloc(t->n ? t->n : 1, sizeof(*pids));
	int ret = -ENOMEM;

	if (!images || !pids) {
		cli_err("out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->n; i++) {
		images[i] = t->v[i].image;
		pids[i] = t->v[i].rec.pid;
	}
	ret = cli_tree_shm_make(images, pids, t->n, t->hand_base + CKPT_TREE_PIPES_MAX + 1,
				&t->shm);
out:
	free(images);
	free(pids);
	return ret;
}

int cli_tree_restart(const char *gen_dir, const struct proto_manifest *m, const char *restorer,
		     const char *sock, pid_t *init_out)
{
	struct tree_proc *v = calloc(m->n_images, sizeof(*v));
	struct tree_ctx t = { .v = v, .n = m->n_images, .restorer = restorer, .sock = sock };
	size_t with = 0;
	pid_t init;
	int launcher;
	int ret = -ENOMEM;

	if (!v) {
		cli_err("out of memory");
		return ret;
	}
	for (size_t i = 0; i < m->n_images; i++) {
		snprintf(v[i].image, sizeof(v[i].image), "%s/%s", gen_dir, m->images[i].file);
		ret = tree_read_image(&v[i]);
		if (ret == -ENOENT)
			continue;
		if (ret)
			goto out;
		with++;
	}
	ret = -ENOENT;
	if (!with || !(v[0].rec.flags & TREE_REC_IN_PIDNS))
		goto out; /* not a tree of ours: restored as before */
	ret = -EBADMSG;
	if (with != m->n_images) {
		cli_err("%s: some images have a tree record and some not: refusing the mix",
			gen_dir);
		goto out;
	}
	ret = tree_check(v, m->n_images);
	if (ret)
		goto out;
	ret = tree_pipes_collect(&t);
	if (!ret)
		ret = tree_socks_collect(&t);
	if (ret)
		goto out;
	/* Above every number a files restore places, and their scratch ones. */
	for (size_t i = 0; i < m->n_images; i++)
		if (v[i].fd_limit + 16 > t.pipe_base)
			t.pipe_base = v[i].fd_limit + 16;
	t.hand_base = t.pipe_base + 2 * (int)t.npipes + (int)t.nsocks;
	ret = tree_shm_make(&t);
	if (ret)
		goto out;
	ret = cli_tree_ns_enter();
	if (ret)
		goto out;
	fflush(NULL);
	launcher = launcher_pidfd();
	init = fork();
	if (launcher >= 0 && init != 0)
		close(launcher);
	if (init < 0) {
		ret = -errno;
		cli_err("fork: %s", strerror(errno));
		goto out;
	}
	if (init == 0) {
		/* pid 1: re-creates the processes whose parent was pid 1. */
		init_die_with_launcher(launcher);
		if (init_proc_mount() || tree_pipes_make(&t) || tree_socks_make(&t))
			_exit(CLI_EXIT_FAIL);
		for (size_t i = 0; i < m->n_images; i++) {
			pid_t pid;

			if (v[i].rec.ppid != 1)
				continue;
			pid = clone_pid(v[i].rec.pid);
			if (pid < 0) {
				cli_err("cannot re-create pid %d: %s", v[i].rec.pid,
					strerror(errno));
				_exit(CLI_EXIT_FAIL);
			}
			if (pid == 0) {
				init_signals_default();
				become(&t, &v[i]);
			}
		}
		/* The init holds no pipe of the tree, nor its memory. */
		tree_pipes_close(&t);
		cli_tree_shm_close(t.shm);
		init_loop();
	}
	*init_out = init;
	ret = 0;
out:
	for (size_t i = 0; i < m->n_images; i++) {
		free(v[i].children);
		for (size_t k = 0; k < v[i].nends; k++) {
			free((void *)v[i].ends[k].data);
			free((void *)v[i].ends[k].path);
		}
		for (size_t k = 0; k < v[i].nsocks; k++)
			free((void *)v[i].socks[k].data);
	}
	free(t.pipes);
	free(t.socks);
	cli_tree_shm_free(t.shm);
	free(v);
	return ret;
}
