/* test_agent.c - a minimal agent for the standalone engine tests: the agent
 * side of the local protocol (docs/engine.md), one process, no coordinator.
 *
 *   test-agent --sock PATH --image FILE [--preload LIB] [--delay MS]
 *              [--nonfinal N] [--interval MS] [--nthreads N] [--level L] [--drop]
 *              [--bad-path PATH] [--progress OUT --at-line K [--progress-timeout MS]]
 *              -- CMD [ARG...]
 *
 * Starts CMD with CKPT_AGENT_SOCKET=PATH (and LD_PRELOAD=LIB when given),
 * waits for its registration, and after --delay ms of its run checkpoints
 * it: --nonfinal N first takes N non-final checkpoints (prepare, write,
 * resume) --interval ms apart, then, unless --delay is negative, a final one
 * (prepare, write final, exit). The program gets CKPT_DIR=the directory of
 * FILE (and CKPT_INCREMENTAL=0 unless set: see below); images are written
 * to CKPT_DIR/gen-G.tmp/0.0.img and renamed to FILE
 * once "written" arrived, as the real agent commits a generation.
 * --bad-path makes the final checkpoint's "write" name PATH instead (the
 * agent creates nothing): the program must refuse with an "error", which is
 * printed as "test-agent: refused: REASON", then gets "abort" and must finish
 * by itself; the exit status is then the program's.
 * --drop instead hangs up right after "ready" (an agent dying while the
 * application is stopped) and waits for the program to finish by itself.
 *
 * With --progress, the times above count not from the start but from the
 * moment the file OUT (where the program's stdout goes) holds K lines: a
 * checkpoint then comes only after the program has provably got that far,
 * however slow the machine is. If OUT does not reach K lines within
 * --progress-timeout ms (default 120000), the program is killed and the
 * exit status is 3.
 *
 * Exit status: the program's own status when it ended by itself; 10 when it
 * was checkpointed and told to exit; 3 when it made no progress in time; 1 on
 * any protocol failure. One line per checkpoint on stderr:
 * "ckpt: gen G size S pause_ms P write_ms W".
 */
#include "frame.h"
#include "msg.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct ta {
	const char *sock;     /* listening socket path */
	const char *image;    /* final image path */
	const char *preload;  /* libckpt.so or NULL */
	long delay_ms;	      /* until the final checkpoint; < 0: none */
	long nonfinal;	      /* non-final checkpoints before it */
	long interval_ms;     /* between checkpoints */
	long nthreads;	      /* compression threads asked for */
	long level;	      /* zstd level asked for */
	bool drop;	      /* at --delay: prepare, then hang up */
	const char *progress; /* the program's stdout file, or NULL */
	long at_line;	      /* lines it must hold before the schedule starts */
	long progress_ms;     /* how long to wait for them */
	const char *bad;      /* --bad-path: write path that must be refused */
	char dir[4096];	      /* CKPT_DIR: real path of FILE's directory */
	char **cmd;	      /* program to run */
	pid_t pid;	      /* its pid */
	int status;	      /* its wait status once it ended */
	bool ended;	      /* it has ended */
};

static long ta_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool ta_reap(struct ta *t, bool block)
{
	if (t->ended)
		return true;
	if (waitpid(t->pid, &t->status, block ? 0 : WNOHANG) == t->pid)
		t->ended = true;
	return t->ended;
}

static int ta_exit_code(const struct ta *t)
{
	if (WIFEXITED(t->status))
		return WEXITSTATUS(t->status);
	fprintf(stderr, "test-agent: program died of signal %d\n", WTERMSIG(t->status));
	return 128 + WTERMSIG(t->status);
}

/* Waits until @fd is readable, @deadline passes (ms, -1 none), or the
 * program ends. Returns 1 readable, 0 deadline, -1 program ended. */
static int ta_wait(struct ta *t, int fd, long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline < 0 ? 50 : deadline - ta_now_ms();

		if (deadline >= 0 && left <= 0)
			return 0;
		if (poll(&p, 1, left > 50 ? 50 : (int)left) > 0)
			return 1;
		if (ta_reap(t, false))
			return -1;
	}
}

/* Counts the lines of @path (0 when it cannot be read yet). */
static long ta_lines(const char *path)
{
	char buf[8192];
	long n = 0;
	size_t got;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		for (size_t i = 0; i < got; i++)
			n += buf[i] == '\n';
	fclose(f);
	return n;
}

/* Waits until the program's output holds --at-line lines. Returns 0 when it
 * does, -1 when the program ended first, -2 when it made no progress in
 * --progress-timeout ms (then it has been killed). */
static int ta_wait_progress(struct ta *t)
{
	long until = ta_now_ms() + t->progress_ms;
	long n;

	while ((n = ta_lines(t->progress)) < t->at_line) {
		if (ta_reap(t, false))
			return -1;
		if (ta_now_ms() >= until) {
			fprintf(stderr,
				"test-agent: no progress: %s holds %ld lines, line %ld not "
				"reached within %ld ms of its registration; killing the program\n",
				t->progress, n, t->at_line, t->progress_ms);
			kill(t->pid, SIGKILL);
			ta_reap(t, true);
			return -2;
		}
		poll(NULL, 0, 20);
	}
	fprintf(stderr, "progress: line %ld reached (%ld lines)\n", t->at_line, n);
	return 0;
}

static int ta_send(int fd, const char *type, struct json_object *m)
{
	int ret = proto_frame_send(fd, m);

	json_object_put(m);
	if (ret < 0)
		fprintf(stderr, "test-agent: sending %s: %s\n", type, strerror(-ret));
	return ret;
}

/* Receives a message and checks its type. Returns it or NULL. */
static struct json_object *ta_expect(int fd, const char *type)
{
	struct json_object *m = NULL;
	int ret = proto_frame_recv(fd, &m, 600000);

	if (ret < 0) {
		fprintf(stderr, "test-agent: waiting for %s: %s\n", type, strerror(-ret));
		return NULL;
	}
	if (!proto_msg_is(m, type)) {
		fprintf(stderr, "test-agent: expected %s, got %s\n", type,
			json_object_to_json_string(m));
		json_object_put(m);
		return NULL;
	}
	return m;
}

/* One checkpoint of generation @gen. Returns 0 or -1. */
static int ta_checkpoint(struct ta *t, int fd, int gen, bool final)
{
	char gdir[4200];
	char tmp[4300];
	struct json_object *m = proto_msg_new("prepare");
	const char *path = NULL;
	int64_t size = 0;
	double pause = 0;
	double wr = 0;

	proto_msg_set_int(m, "gen", gen);
	if (ta_send(fd, "prepare", m) < 0)
		return -1;
	m = ta_expect(fd, "ready");
	if (!m)
		return -1;
	json_object_put(m);
	snprintf(gdir, sizeof(gdir), "%s/gen-%d.tmp", t->dir, gen);
	snprintf(tmp, sizeof(tmp), "%s/0.0.img", gdir);
	if (t->bad) {
		snprintf(tmp, sizeof(tmp), "%s", t->bad);
	} else {
		unlink(tmp);
		rmdir(gdir);
		if (mkdir(gdir, 0700) < 0) {
			fprintf(stderr, "test-agent: mkdir %s: %s\n", gdir, strerror(errno));
			return -1;
		}
	}
	m = proto_msg_new("write");
	proto_msg_set_int(m, "gen", gen);
	proto_msg_set_str(m, "path", tmp);
	proto_msg_set_bool(m, "final", final);
	proto_msg_set_int(m, "level", t->level);
	proto_msg_set_int(m, "nthreads", t->nthreads);
	if (ta_send(fd, "write", m) < 0)
		return -1;
	if (t->bad) {
		const char *why = NULL;

		m = ta_expect(fd, "error");
		if (!m)
			return -1;
		proto_msg_get_str(m, "reason", 0, &why);
		fprintf(stderr, "test-agent: refused: %s\n", why ? why : "(no reason)");
		json_object_put(m);
		return ta_send(fd, "abort", proto_msg_new("abort"));
	}
	m = ta_expect(fd, "written");
	if (!m)
		return -1;
	proto_msg_get_str(m, "path", 0, &path);
	proto_msg_get_int(m, "size", &size);
	pause = json_object_get_double(json_object_object_get(m, "pause_ms"));
	wr = json_object_get_double(json_object_object_get(m, "write_ms"));
	fprintf(stderr, "ckpt: gen %d size %lld pause_ms %.2f write_ms %.1f\n", gen,
		(long long)size, pause, wr);
	if (!path || strcmp(path, tmp) != 0 || rename(tmp, t->image) < 0 || rmdir(gdir) < 0) {
		fprintf(stderr, "test-agent: cannot commit %s\n", tmp);
		json_object_put(m);
		return -1;
	}
	json_object_put(m);
	m = proto_msg_new(final ? "exit" : "resume");
	if (final)
		proto_msg_set_int(m, "status", 0);
	return ta_send(fd, final ? "exit" : "resume", m);
}

/* A checkpoint failed: if the program ended by itself meanwhile (it may
 * exit while a non-final image is being written, or just as we ask), that
 * is its result; otherwise the failure is ours. */
static int ta_after_failure(struct ta *t)
{
	long until = ta_now_ms() + 5000;

	while (!ta_reap(t, false) && ta_now_ms() < until)
		poll(NULL, 0, 10);
	if (t->ended)
		return ta_exit_code(t);
	kill(t->pid, SIGKILL);
	return 1;
}

static int ta_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		perror("test-agent: bind");
		close(fd);
		return -1;
	}
	return fd;
}

/* The real path of the directory of --image: the program's CKPT_DIR. */
static int ta_dir(struct ta *t)
{
	char d[4096];
	char *slash;

	snprintf(d, sizeof(d), "%s", t->image);
	slash = strrchr(d, '/');
	if (!slash)
		snprintf(d, sizeof(d), ".");
	else if (slash == d)
		d[1] = '\0';
	else
		*slash = '\0';
	if (!realpath(d, t->dir)) {
		fprintf(stderr, "test-agent: %s: %s\n", d, strerror(errno));
		return -1;
	}
	return 0;
}

static int ta_parse(struct ta *t, int argc, char **argv)
{
	t->delay_ms = -1;
	t->interval_ms = 200;
	t->nthreads = 0;
	t->level = 1;
	t->progress_ms = 120000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--") && i + 1 < argc) {
			t->cmd = argv + i + 1;
			break;
		}
		if (i + 1 >= argc)
			return -1;
		if (!strcmp(a, "--sock"))
			t->sock = argv[++i];
		else if (!strcmp(a, "--image"))
			t->image = argv[++i];
		else if (!strcmp(a, "--preload"))
			t->preload = argv[++i];
		else if (!strcmp(a, "--delay"))
			t->delay_ms = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--nonfinal"))
			t->nonfinal = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--drop"))
			t->drop = true;
		else if (!strcmp(a, "--bad-path"))
			t->bad = argv[++i];
		else if (!strcmp(a, "--level"))
			t->level = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--nthreads"))
			t->nthreads = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--interval"))
			t->interval_ms = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--progress"))
			t->progress = argv[++i];
		else if (!strcmp(a, "--at-line"))
			t->at_line = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "--progress-timeout"))
			t->progress_ms = strtol(argv[++i], NULL, 10);
		else
			return -1;
	}
	return t->sock && t->image && t->cmd ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct ta t = { 0 };
	struct json_object *m;
	int lfd;
	int fd;
	int w;
	long start;

	setvbuf(stderr, NULL, _IOLBF, 0);

	if (ta_parse(&t, argc, argv) < 0) {
		fprintf(stderr,
			"usage: test-agent --sock PATH --image FILE [--preload LIB] "
			"[--delay MS] [--nonfinal N] [--interval MS] "
			"[--bad-path PATH] [--progress OUT --at-line K [--progress-timeout MS]] "
			"-- CMD...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = ta_listen(t.sock);
	if (lfd < 0)
		return 1;
	setenv("CKPT_AGENT_SOCKET", t.sock, 1);
	if (ta_dir(&t) < 0)
		return 1;
	setenv("CKPT_DIR", t.dir, 1);
	/* Every generation lands in the same FILE, not in gen-<N>/: an
	 * incremental image would name a base that is not there. Full images
	 * unless the caller asks otherwise. */
	setenv("CKPT_INCREMENTAL", "0", 0);
	if (t.preload)
		setenv("LD_PRELOAD", t.preload, 1);
	else
		unsetenv("LD_PRELOAD");
	t.pid = fork();
	if (t.pid == 0) {
		execvp(t.cmd[0], t.cmd);
		perror("test-agent: exec");
		_exit(127);
	}
	unsetenv("LD_PRELOAD");
	start = ta_now_ms();

	w = ta_wait(&t, lfd, -1);
	if (w < 0)
		return ta_exit_code(&t);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return 1;
	m = ta_expect(fd, "register");
	if (!m)
		return 1;
	bool restored = false;

	proto_msg_get_bool_opt(m, "restored", false, &restored);
	fprintf(stderr, "register: %s after %ld ms\n", restored ? "restored" : "started",
		ta_now_ms() - start);
	json_object_put(m);
	if (ta_send(fd, "register_ok", proto_msg_new("register_ok")) < 0)
		return 1;

	int gen = 1;

	if (t.progress) {
		w = ta_wait_progress(&t);
		if (w == -1)
			return ta_exit_code(&t);
		if (w == -2)
			return 3;
		start = ta_now_ms();
	}
	for (long i = 0; i < t.nonfinal; i++) {
		w = ta_wait(&t, fd, ta_now_ms() + t.interval_ms);
		if (w < 0)
			return ta_exit_code(&t);
		if (w > 0) {
			/* Readable: EOF because the program is ending. */
			struct json_object *x = NULL;

			if (proto_frame_recv(fd, &x, 1000) == 0) {
				fprintf(stderr, "test-agent: unexpected message %s\n",
					json_object_to_json_string(x));
				return 1;
			}
			ta_reap(&t, true);
			return ta_exit_code(&t);
		}
		if (ta_checkpoint(&t, fd, gen++, false) < 0)
			return ta_after_failure(&t);
	}
	if (t.delay_ms >= 0) {
		w = ta_wait(&t, fd, start + t.delay_ms);
		if (w < 0)
			return ta_exit_code(&t);
		if (t.drop) {
			/* An agent that dies while the threads are stopped:
			 * the program must go on and finish by itself. */
			m = proto_msg_new("prepare");
			proto_msg_set_int(m, "gen", gen);
			if (ta_send(fd, "prepare", m) < 0)
				return ta_after_failure(&t);
			m = ta_expect(fd, "ready");
			json_object_put(m);
			close(fd);
			ta_reap(&t, true);
			return ta_exit_code(&t);
		}
		if (ta_checkpoint(&t, fd, gen, true) < 0)
			return ta_after_failure(&t);
		if (t.bad) {
			/* Refused and aborted: the program runs on. */
			ta_reap(&t, true);
			return ta_exit_code(&t);
		}
		ta_reap(&t, true);
		if (!WIFEXITED(t.status) || WEXITSTATUS(t.status) != 0) {
			fprintf(stderr, "test-agent: program did not exit as told\n");
			return 1;
		}
		return 10;
	}
	/* No final checkpoint: let it finish. EOF from the socket is fine. */
	ta_reap(&t, true);
	return ta_exit_code(&t);
}
