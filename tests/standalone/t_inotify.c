/* t_inotify.c - inotify watches across checkpoints: every step changes
 * files in a scratch directory and checks that the events read carry
 * exactly the expected watch descriptor, mask and name
 * (docs/files-and-state.md, "inotify").
 *
 *   t_inotify          cycles (run_cycles.sh: one process)
 *   t_inotify renamed  refusal: a watched directory renamed away
 *   t_inotify raw      refusal: a watch added by a raw system call (its
 *                      path unknown to libckpt)
 *   t_inotify unread   refusal: an event not read yet
 *   t_inotify shared   refusal: a child holds the inotify it inherited
 * A refusal mode prints "ready: inotify fd F wd W in DIR" (W: the child's
 * pid in mode shared) and waits.
 *
 * Watches of the inotify in (non-blocking, close-on-exec):
 *   wd 1  the directory: IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO
 *   wd 2  removed at once (a gap)
 *   wd 3  file f, added by a relative path: IN_MODIFY, IN_ATTRIB
 *   wd 4  subdirectory sub, added through a dup of in: IN_CREATE, IN_DELETE
 *   wd 5-7 added and removed (a wider gap)
 *   wd 8  file g: IN_CLOSE_WRITE
 * and of the blocking inotify in2, read after poll():
 *   wd 1  the directory: IN_CREATE
 * The changes of a step are made and their events read at the start of
 * the step, right after the previous line was printed; the step's line
 * comes after its sleep (a checkpoint finds no unread events, which it
 * would refuse). The scratch directory's name is not printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "end_gate.h"

#define STEPS 200

static char dir[64];
static int in;
static int in_dup;
static int in2;

static void die(const char *what)
{
	printf("FAIL: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

/* @name inside the scratch directory. */
static const char *at(const char *name)
{
	static char p[4][128];
	static int n;

	n = (n + 1) % 4;
	snprintf(p[n], sizeof(p[n]), "%s/%s", dir, name);
	return p[n];
}

static void write_file(const char *name, const char *s)
{
	int fd = open(at(name), O_WRONLY | O_CREAT | O_APPEND, 0600);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		die(name);
	close(fd);
}

static int add(int fd, const char *path, uint32_t mask, int want)
{
	int wd = inotify_add_watch(fd, path, mask);

	if (wd < 0)
		die(path);
	if (want && wd != want) {
		printf("FAIL: watch on %s got wd %d, wanted %d\n", path, wd, want);
		exit(1);
	}
	return wd;
}

/* Events waiting on @fd as "wd:MASK[:name]" items separated by blanks, in
 * @out; IN_MOVED_FROM/IN_MOVED_TO pairs must share a cookie. */
static void read_events(int fd, char *out, size_t cap)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	uint32_t cookie = 0;
	size_t len = 0;
	ssize_t n;

	out[0] = '\0';
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(buf + off);

			if (ev->mask & IN_MOVED_FROM)
				cookie = ev->cookie;
			if ((ev->mask & IN_MOVED_TO) && (ev->cookie != cookie || !cookie)) {
				printf("FAIL: IN_MOVED_TO cookie %u, IN_MOVED_FROM had %u\n",
				       ev->cookie, cookie);
				exit(1);
			}
			len += (size_t)snprintf(out + len, cap - len, "%s%d:%x%s%s", len ? " " : "",
						ev->wd, ev->mask, ev->len ? ":" : "",
						ev->len ? ev->name : "");
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
		if (fd == in2)
			break; /* blocking: one read takes what poll() saw */
	}
	if (n < 0 && errno != EAGAIN)
		die("read inotify");
}

static void expect(int step, const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) != 0) {
		printf("FAIL: step %d: %s events \"%s\", wanted \"%s\"\n", step, what, got, want);
		exit(1);
	}
}

static void setup(void)
{
	char cwd[256];
	int wd;

	snprintf(dir, sizeof(dir), "/tmp/t_inotify.XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp");
	write_file("f", "");
	write_file("g", "");
	write_file("tmp", "");
	if (mkdir(at("sub"), 0700) < 0)
		die("mkdir");
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	in2 = inotify_init1(0);
	if (in < 0 || in2 < 0)
		die("inotify_init1");
	in_dup = dup(in);
	if (in_dup < 0)
		die("dup");
	add(in, dir, IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR, 1);
	wd = add(in, at("tmp"), IN_MODIFY, 2);
	if (inotify_rm_watch(in, wd) < 0)
		die("inotify_rm_watch");
	/* A relative path, then another working directory: libckpt must
	 * have made it absolute when it was added. */
	if (!getcwd(cwd, sizeof(cwd)) || chdir(dir) < 0)
		die("chdir");
	add(in, "f", IN_MODIFY | IN_ATTRIB, 3);
	if (chdir("/") < 0)
		die("chdir /");
	add(in_dup, at("sub"), IN_CREATE | IN_DELETE, 4);
	for (int i = 5; i <= 7; i++)
		if (inotify_rm_watch(in, add(in, at("tmp"), IN_MODIFY, i)) < 0)
			die("inotify_rm_watch");
	add(in, at("g"), IN_CLOSE_WRITE, 8);
	add(in2, dir, IN_CREATE, 1);
	{
		char ev[256];

		/* The IN_IGNORED of the watches removed. */
		read_events(in, ev, sizeof(ev));
		expect(-1, "setup", ev, "2:8000 5:8000 6:8000 7:8000");
	}
}

/* The changes of step @i and the events they must give. */
static void step_changes(int i, char *want, size_t cap, char *want2, size_t cap2)
{
	char n[16];
	char m[16];
	size_t len;

	snprintf(n, sizeof(n), "n%d", i);
	snprintf(m, sizeof(m), "m%d", i);
	write_file("f", "x");
	write_file(n, "");
	len = (size_t)snprintf(want, cap, "3:2 1:100:%s", n);
	snprintf(want2, cap2, "1:100:%s", n);
	if (i % 3 == 0) {
		write_file("sub/s", "");
		if (unlink(at("sub/s")) < 0)
			die("unlink sub/s");
		len += (size_t)snprintf(want + len, cap - len, " 4:100:s 4:200:s");
	}
	if (rename(at(n), at(m)) < 0 || unlink(at(m)) < 0)
		die("rename");
	len += (size_t)snprintf(want + len, cap - len, " 1:40:%s 1:80:%s 1:200:%s", n, m, m);
	if (i % 4 == 1) {
		if (chmod(at("f"), (i % 8 == 1) ? 0600 : 0640) < 0)
			die("chmod");
		len += (size_t)snprintf(want + len, cap - len, " 3:4");
	}
	write_file("g", "");
	snprintf(want + len, cap - len, " 8:8");
}

int main(int argc, char **argv)
{
	char got[4096];
	char got2[512];
	char want[4096];
	char want2[512];

	setup();
	if (argc > 1) {
		/* Refusal modes: one change the checkpoint must refuse. */
		int wd = 4;

		if (strcmp(argv[1], "renamed") == 0) {
			char ev[256];

			if (rename(at("sub"), at("sub2")) < 0)
				die("rename sub");
			read_events(in, ev, sizeof(ev)); /* read: only the path is wrong */
		} else if (strcmp(argv[1], "raw") == 0) {
			wd = (int)syscall(SYS_inotify_add_watch, in, "/", IN_CREATE);
			if (wd != 9)
				die("raw inotify_add_watch");
		} else if (strcmp(argv[1], "unread") == 0) {
			write_file("unread", "");
			wd = 1;
		} else if (strcmp(argv[1], "shared") == 0) {
			/* The child inherits the inotify: "wd" is its pid. */
			wd = fork();
			if (wd < 0)
				die("fork");
			if (wd == 0)
				for (;;)
					pause();
		} else {
			printf("FAIL: unknown mode %s\n", argv[1]);
			return 2;
		}
		printf("ready: inotify fd %d wd %d in %s\n", in, wd, dir);
		fflush(stdout);
		for (;;)
			pause();
	}
	for (int i = 0; i < STEPS; i++) {
		struct timespec nap = { 0, 15 * 1000000L };
		struct pollfd p = { .fd = in2, .events = POLLIN };
		int r;

		step_changes(i, want, sizeof(want), want2, sizeof(want2));
		read_events(in_dup, got, sizeof(got));
		expect(i, "in", got, want);
		do
			r = poll(&p, 1, 10000);
		while (r < 0 && errno == EINTR);
		if (r != 1)
			die("poll in2");
		read_events(in2, got2, sizeof(got2));
		expect(i, "in2", got2, want2);
		nanosleep(&nap, NULL);
		printf("step %d: %s | %s\n", i, got, got2);
		fflush(stdout);
	}
	end_gate();
	/* The next watch gets the wd after the highest, as without restarts. */
	printf("done: a new watch gets wd %d\n", add(in, at("tmp"), IN_MODIFY, 0));
	unlink(at("f"));
	unlink(at("g"));
	unlink(at("tmp"));
	rmdir(at("sub"));
	rmdir(dir);
	return 0;
}
