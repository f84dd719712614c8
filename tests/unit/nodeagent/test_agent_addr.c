/* test_agent_addr.c - the coordinator's address record (nodeagent/agent_addr.c):
 * a record of a coordinator of this host that is gone is ignored with a
 * reason, and a coordinator removes only its own record. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_addr.h"

static char dir[] = "/tmp/ckpt-addr-test.XXXXXX";
static char path[PATH_MAX];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/coord.json", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

static struct agent_addr record_of(int pid)
{
	struct agent_addr a = { .job = 42, .port = 4242, .pid = pid };

	gethostname(a.host, sizeof(a.host) - 1);
	snprintf(a.dir, sizeof(a.dir), "%s", dir);
	return a;
}

/* A pid that has just ended (reaped): nothing runs under it. */
static int dead_pid(void)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(0);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	return pid;
}

/* Writes @text as the record, raw. */
static void put(const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(agent_addr, own_record_is_read_with_its_start_time, .init = setup, .fini = teardown)
{
	struct agent_addr w = record_of(getpid());
	struct agent_addr r;
	uint64_t start = 0;

	cr_assert_eq(agent_addr_write(path, &w), 0);
	cr_assert_eq(agent_addr_read(path, &r), 0, "%s", agent_addr_why());
	cr_assert_eq(agent_addr_pid_start(getpid(), &start), 0);
	cr_assert_eq(r.pid, getpid());
	cr_assert_eq(r.start, start, "the record carries the pid's start time");
	cr_assert_gt(r.start, 0);
}

Test(agent_addr, dead_coordinator_is_stale, .init = setup, .fini = teardown)
{
	struct agent_addr w = record_of(dead_pid());
	struct agent_addr r;

	/* Written as the dead one would have: no start time known. */
	cr_assert_eq(agent_addr_write(path, &w), 0);
	cr_assert_eq(agent_addr_read(path, &r), -ESTALE);
	cr_assert_not_null(strstr(agent_addr_why(), "is gone"), "reason: %s", agent_addr_why());
	cr_assert_not_null(strstr(agent_addr_why(), path), "names the record: %s",
			   agent_addr_why());
}

/* A coordinator that listens on its NodeAddr records an address as its
 * host: the pid checks go by the machine's name, recorded beside it. */
Test(agent_addr, stale_when_listening_on_an_address, .init = setup, .fini = teardown)
{
	struct agent_addr w = record_of(dead_pid());
	struct agent_addr r;

	snprintf(w.host, sizeof(w.host), "127.0.0.1");
	cr_assert_eq(agent_addr_write(path, &w), 0);
	cr_assert_eq(agent_addr_read(path, &r), -ESTALE, "a dead coordinator's record is stale");
	cr_assert_str_eq(r.host, "127.0.0.1");
	w = record_of(getpid());
	snprintf(w.host, sizeof(w.host), "127.0.0.1");
	cr_assert_eq(agent_addr_write(path, &w), 0);
	cr_assert_eq(agent_addr_remove(path), 0, "its own record is removed");
	cr_assert_eq(access(path, F_OK), -1);
}

Test(agent_addr, zombie_coordinator_is_stale, .init = setup, .fini = teardown)
{
	pid_t pid = fork();
	struct agent_addr w;
	struct agent_addr r;
	uint64_t start = 0;

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(0);
	/* Killed, never reaped: /proc/PID/stat is still there. */
	for (int i = 0; i < 1000 && agent_addr_pid_start(pid, &start) == 0; i++)
		usleep(10000);
	w = record_of(pid);
	cr_assert_eq(agent_addr_write(path, &w), 0);
	cr_assert_eq(agent_addr_read(path, &r), -ESTALE, "%s", agent_addr_why());
	waitpid(pid, NULL, 0);
}

Test(agent_addr, reused_pid_is_stale, .init = setup, .fini = teardown)
{
	char text[PATH_MAX + 256];
	char host[256] = "";
	struct agent_addr r;
	uint64_t start = 0;

	gethostname(host, sizeof(host) - 1);
	cr_assert_eq(agent_addr_pid_start(getpid(), &start), 0);
	/* Our pid, but another start time: the coordinator died and its pid
	 * went to someone else (us). */
	snprintf(text, sizeof(text),
		 "{\"job\":42,\"host\":\"%s\",\"port\":4242,\"dir\":\"%s\",\"pid\":%d,"
		 "\"start\":%llu}\n",
		 host, dir, getpid(), (unsigned long long)start + 1);
	put(text);
	cr_assert_eq(agent_addr_read(path, &r), -ESTALE);
	cr_assert_not_null(strstr(agent_addr_why(), "another process"), "reason: %s",
			   agent_addr_why());
}

Test(agent_addr, other_host_is_not_checked_here, .init = setup, .fini = teardown)
{
	char text[PATH_MAX + 256];
	struct agent_addr r;

	/* The pid means nothing on this host: left to the authenticated hello. */
	snprintf(text, sizeof(text),
		 "{\"job\":42,\"host\":\"no-such-host.invalid\",\"port\":4242,\"dir\":\"%s\","
		 "\"pid\":%d,\"start\":1}\n",
		 dir, dead_pid());
	put(text);
	cr_assert_eq(agent_addr_read(path, &r), 0, "%s", agent_addr_why());
}

Test(agent_addr, remove_leaves_another_coordinators_record, .init = setup, .fini = teardown)
{
	struct agent_addr other = record_of(getppid());
	struct agent_addr mine = record_of(getpid());

	cr_assert_eq(agent_addr_write(path, &other), 0);
	cr_assert_eq(agent_addr_remove(path), -EPERM);
	cr_assert_eq(access(path, F_OK), 0, "another live coordinator's record stays");

	other = record_of(dead_pid());
	cr_assert_eq(agent_addr_write(path, &other), 0);
	cr_assert_eq(agent_addr_remove(path), -EPERM);
	cr_assert_eq(access(path, F_OK), 0, "a stale record is not ours either");

	cr_assert_eq(agent_addr_write(path, &mine), 0);
	cr_assert_eq(agent_addr_remove(path), 0);
	cr_assert_neq(access(path, F_OK), 0, "our own record goes");
	cr_assert_eq(agent_addr_remove(path), -ENOENT);
}

/* The owner writes the record, root's CLI may read it: a FIFO (which would
 * block the reader), a link (to /dev/zero, say) or a huge file is refused
 * at once. */
Test(agent_addr, only_small_regular_files_are_read, .init = setup, .fini = teardown, .timeout = 10)
{
	struct agent_addr w = record_of(getpid());
	struct agent_addr r;
	char real[sizeof(path) + 8];
	FILE *f;

	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(agent_addr_read(path, &r), -EPROTO, "a FIFO is not read");
	unlink(path);

	snprintf(real, sizeof(real), "%s.real", path);
	cr_assert_eq(agent_addr_write(real, &w), 0);
	cr_assert_eq(symlink(real, path), 0);
	cr_assert_eq(agent_addr_read(path, &r), -EPROTO, "a link is not followed");
	unlink(path);
	unlink(real);

	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "{\"job\":42,\"host\":\"h\",\"port\":1,\"dir\":\"/d\",\"pid\":1,\"pad\":\"");
	for (int i = 0; i < 20000; i++)
		fputc('x', f);
	fprintf(f, "\"}\n");
	fclose(f);
	cr_assert_eq(agent_addr_read(path, &r), -EPROTO, "a record of over 16 KiB is not read");
}
