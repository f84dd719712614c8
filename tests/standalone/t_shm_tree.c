/* t_shm_tree.c - memory shared between a parent and its child in a tree of
 * 'ckpt run' (docs/process-trees.md, "Memory shared between processes").
 *
 *   t_shm_tree [anon|shmfile]     for tree_cycles.sh: 300 rounds in which the
 *                                 child writes a value and a page pattern into
 *                                 the shared region, tells the parent over a
 *                                 pipe, and the parent checks that it sees
 *                                 them, then the other way round. Region:
 *                                 MAP_SHARED|MAP_ANONYMOUS (anon, default) or
 *                                 a POSIX shm object that exists for the whole
 *                                 run (shmfile). Each check prints one line;
 *                                 a region no longer shared prints FAIL.
 *   t_shm_tree memfd              for tree_cycles.sh: 300 rounds as above
 *                                 through two regions at once, a memfd
 *                                 mapped by both (its descriptor closed) and
 *                                 an unlinked POSIX shm object (shm_open,
 *                                 mmap, shm_unlink), and a named semaphore
 *                                 (sem_open + sem_unlink, as Python's
 *                                 multiprocessing) used as a lock: the
 *                                 writer of a round holds it while the
 *                                 other checks that sem_trywait fails and
 *                                 its value is 0, then releases it, and the
 *                                 other takes it for the next round.
 *   t_shm_tree ring               for tree_cycles.sh: the same through three
 *                                 holders, parent -> child -> grandchild ->
 *                                 parent, of a shared anonymous region whose
 *                                 first page was unmapped before the forks
 *                                 (the mappings start at offset 4096 of the
 *                                 object) and of which the grandchild also
 *                                 unmapped the value's page (its mapping
 *                                 starts at 8192: it checks pages only).
 *   t_shm_tree refused KIND GATE  for tree_shm_refused.sh: a region of KIND
 *                                 (anon, sem: an unlinked sem_open semaphore,
 *                                 memfd, memfdfd: a memfd whose descriptor
 *                                 the parent keeps open, sysv: a removed SysV
 *                                 segment) mapped by both; prints "ready PARENT CHILD" (pids
 *                                 as the processes see them). When the file
 *                                 GATE appears, the child writes through the
 *                                 region, the parent prints "still shared"
 *                                 if it sees it, the child unmaps it and
 *                                 prints "unmapped"; when GATE.end appears,
 *                                 both end (status 0).
 */
#include "end_gate.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 300
#define PAGES  16
#define PAGE   4096

/* The shared region: a value and PAGES pages, each filled with the round
 * that last wrote it. */
struct region {
	volatile uint64_t val;
	char pad[PAGE - sizeof(uint64_t)];
	unsigned char page[PAGES][PAGE];
};

static void fail(const char *what)
{
	printf("FAIL: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	_exit(1);
}

static void nap_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

static void token_put(int fd)
{
	while (write(fd, "t", 1) != 1)
		if (errno != EINTR)
			fail("pipe write");
}

static void token_get(int fd)
{
	char c;
	ssize_t n;

	while ((n = read(fd, &c, 1)) != 1) {
		if (n < 0 && errno == EINTR)
			continue;
		errno = n == 0 ? EPIPE : errno;
		fail("pipe read");
	}
}

/* Whether region_put() and region_check() use the value (a holder that unmapped its page
 * checks the pages only). */
static bool check_val = true;
/* In the ring, rounds r with r % 3 == ring_noval are written by the holder
 * without the value's page: nobody checks their value. */
static int ring_noval = -1;

/* Writes round @r's value and page; the other side checks them. */
static void region_put(struct region *m, int r)
{
	if (check_val)
		m->val = (uint64_t)r * 1000003u + 17;
	memset(m->page[r % PAGES], r & 0xff, PAGE);
}

/* Checks round @r's value and page; prints the outcome as @who. */
static void region_check(const struct region *m, int r, const char *who)
{
	uint64_t want = (uint64_t)r * 1000003u + 17;
	const unsigned char *pg = m->page[r % PAGES];

	if (check_val && r % 3 != ring_noval && m->val != want) {
		printf("FAIL: %s round %d: shared value %llu, expected %llu: the region is no "
		       "longer shared\n",
		       who, r, (unsigned long long)m->val, (unsigned long long)want);
		fflush(stdout);
		_exit(1);
	}
	for (int i = 0; i < PAGE; i++)
		if (pg[i] != (unsigned char)(r & 0xff)) {
			printf("FAIL: %s round %d: page %d byte %d is %u, expected %u\n", who, r,
			       r % PAGES, i, pg[i], (unsigned)(r & 0xff));
			fflush(stdout);
			_exit(1);
		}
	printf("%s round %d: saw %llu\n", who, r, (unsigned long long)want);
	fflush(stdout);
}

/* A POSIX shm object of a unique name that lives for the run: both map it
 * by path, which comes back shared after a restart. */
static struct region *shmfile_map(char *name, size_t len)
{
	struct region *m;
	int fd = -1;

	for (int i = 0; i < 100 && fd < 0; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(name, len, "/ckpt-t-shm.%ld.%ld", (long)getpid(), ts.tv_nsec);
		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 && errno != EEXIST)
			fail("shm_open");
	}
	if (fd < 0 || ftruncate(fd, sizeof(*m)) < 0)
		fail("shm_open/ftruncate");
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		fail("mmap shm");
	close(fd);
	return m;
}

static int cycles(const char *kind)
{
	char name[64] = "";
	struct region *m;
	int c2p[2];
	int p2c[2];
	pid_t pid;
	int st;

	if (!strcmp(kind, "shmfile"))
		m = shmfile_map(name, sizeof(name));
	else
		m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
			 0);
	if (m == MAP_FAILED || pipe(c2p) < 0 || pipe(p2c) < 0)
		fail("set-up");
	pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		close(c2p[0]);
		close(p2c[1]);
		for (int r = 0; r < ROUNDS; r += 2) {
			region_put(m, r);
			token_put(c2p[1]);
			token_get(p2c[0]);
			region_check(m, r + 1, "child");
			nap_ms(10);
		}
		_exit(0);
	}
	close(c2p[1]);
	close(p2c[0]);
	for (int r = 0; r < ROUNDS; r += 2) {
		token_get(c2p[0]);
		region_check(m, r, "parent");
		nap_ms(10);
		region_put(m, r + 1);
		token_put(p2c[1]);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("FAIL: child status %#x\n", st);
		return 1;
	}
	end_gate();
	if (name[0])
		shm_unlink(name);
	printf("end\n");
	return 0;
}

/* The lock of the memfd mode, and the names of its objects. */
static sem_t *lock_sem;

/* Maps a memfd region (descriptor closed: only the mappings hold it) and an
 * unlinked POSIX shm region, and opens the lock, unlinked at once. */
static void objects_map(struct region **mfd, struct region **shm)
{
	char name[64];
	int fd = memfd_create("t_shm_tree", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, sizeof(**mfd)) < 0)
		fail("memfd");
	*mfd = mmap(NULL, sizeof(**mfd), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	snprintf(name, sizeof(name), "/ckpt-t-shm-obj.%ld", (long)getpid());
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, sizeof(**shm)) < 0)
		fail("shm_open");
	*shm = mmap(NULL, sizeof(**shm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	shm_unlink(name);
	snprintf(name, sizeof(name), "/ckpt-t-shm-lock.%ld", (long)getpid());
	lock_sem = sem_open(name, O_CREAT | O_EXCL, 0600, 1);
	if (*mfd == MAP_FAILED || *shm == MAP_FAILED || lock_sem == SEM_FAILED)
		fail("map the objects");
	sem_unlink(name);
}

/* Takes the lock, waiting at most 120 s (a lock nobody releases). */
static void lock_take(const char *who, int r)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 120;
	while (sem_timedwait(lock_sem, &until) < 0) {
		if (errno == EINTR)
			continue;
		printf("FAIL: %s round %d: the lock was not released in 120 s: %s\n", who, r,
		       strerror(errno));
		fflush(stdout);
		_exit(1);
	}
}

/* The other process holds the lock: it must not be free here. */
static void lock_check_held(const char *who, int r)
{
	int v = -1;

	if (sem_trywait(lock_sem) == 0 || errno != EAGAIN) {
		printf("FAIL: %s round %d: took the lock the other process holds: the "
		       "semaphore is no longer shared\n",
		       who, r);
		fflush(stdout);
		_exit(1);
	}
	if (sem_getvalue(lock_sem, &v) < 0 || v != 0) {
		printf("FAIL: %s round %d: the held lock has value %d, expected 0\n", who, r, v);
		fflush(stdout);
		_exit(1);
	}
	printf("%s round %d: lock held by the other\n", who, r);
	fflush(stdout);
}

/* One round of the memfd mode: the holder writes @r under the lock, the
 * checker (@in/@out its pipe ends towards the holder) checks. */
static void objects_write(struct region *a, struct region *b, int r, int in, int out,
			  const char *who)
{
	lock_take(who, r);
	region_put(a, r);
	region_put(b, r);
	token_put(out);
	token_get(in); /* checked */
	if (sem_post(lock_sem) < 0)
		fail("sem_post");
}

static void objects_check(struct region *a, struct region *b, int r, int in, int out,
			  const char *who)
{
	char what[64];

	token_get(in);
	snprintf(what, sizeof(what), "%s memfd", who);
	region_check(a, r, what);
	snprintf(what, sizeof(what), "%s shm", who);
	region_check(b, r, what);
	lock_check_held(who, r);
	nap_ms(10);
	token_put(out);
}

static bool child_ok(pid_t pid);

static int objects(void)
{
	struct region *a;
	struct region *b;
	int c2p[2];
	int p2c[2];
	pid_t pid;

	objects_map(&a, &b);
	if (pipe(c2p) < 0 || pipe(p2c) < 0)
		fail("pipe");
	pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		close(c2p[0]);
		close(p2c[1]);
		for (int r = 0; r < ROUNDS; r += 2) {
			objects_write(a, b, r, p2c[0], c2p[1], "child");
			objects_check(a, b, r + 1, p2c[0], c2p[1], "child");
		}
		_exit(0);
	}
	close(c2p[1]);
	close(p2c[0]);
	for (int r = 0; r < ROUNDS; r += 2) {
		objects_check(a, b, r, c2p[0], p2c[1], "parent");
		objects_write(a, b, r + 1, c2p[0], p2c[1], "parent");
	}
	if (!child_ok(pid)) {
		printf("FAIL: the child did not end with status 0\n");
		return 1;
	}
	end_gate();
	printf("end\n");
	return 0;
}

/* One holder of the ring: writes rounds @i, @i + 3, ...; before each,
 * checks the round before, written by the previous holder. */
static void ring_role(struct region *m, int i, int in, int out, const char *who)
{
	for (int r = i; r < ROUNDS; r += 3) {
		if (r > 0) {
			token_get(in);
			region_check(m, r - 1, who);
		}
		nap_ms(10);
		region_put(m, r);
		if (r + 1 < ROUNDS)
			token_put(out);
	}
}

static bool child_ok(pid_t pid)
{
	int st;

	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int ring(void)
{
	char *base = mmap(NULL, sizeof(struct region) + PAGE, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct region *m = (struct region *)(base + PAGE);
	int pp[3][2]; /* 0: parent -> child, 1: child -> grandchild, 2: back */
	pid_t child;

	if (base == MAP_FAILED || munmap(base, PAGE) < 0)
		fail("set-up");
	ring_noval = 2;
	for (int k = 0; k < 3; k++)
		if (pipe(pp[k]) < 0)
			fail("pipe");
	child = fork();
	if (child < 0)
		fail("fork");
	if (child == 0) {
		pid_t grandchild = fork();

		if (grandchild < 0)
			fail("fork");
		if (grandchild == 0) {
			close(pp[0][0]), close(pp[0][1]), close(pp[1][1]), close(pp[2][0]);
			if (munmap(m, PAGE) < 0)
				fail("munmap");
			check_val = false;
			ring_role(m, 2, pp[1][0], pp[2][1], "grandchild");
			_exit(0);
		}
		close(pp[0][1]), close(pp[1][0]), close(pp[2][0]), close(pp[2][1]);
		ring_role(m, 1, pp[0][0], pp[1][1], "child");
		_exit(child_ok(grandchild) ? 0 : 1);
	}
	close(pp[0][0]), close(pp[1][0]), close(pp[1][1]), close(pp[2][1]);
	ring_role(m, 0, pp[2][0], pp[0][1], "parent");
	if (!child_ok(child)) {
		printf("FAIL: the child or the grandchild failed\n");
		return 1;
	}
	end_gate();
	printf("end\n");
	return 0;
}

/* Maps a region of @kind shared by the parent and the child to come;
 * @sem gets the semaphore of "sem". */
/* memfdfd: the memfd's descriptor, kept by the parent (the child closes
 * it), -1 for the other kinds. */
static int refused_fd = -1;

static struct region *refused_map(const char *kind, sem_t **sem)
{
	struct region *m = MAP_FAILED;

	if (!strcmp(kind, "anon")) {
		m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
			 0);
	} else if (!strcmp(kind, "sem")) {
		/* Python multiprocessing's way: sem_open, then sem_unlink. */
		char name[64];

		snprintf(name, sizeof(name), "/ckpt-t-shm-sem.%ld", (long)getpid());
		*sem = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
		if (*sem == SEM_FAILED)
			fail("sem_open");
		sem_unlink(name);
		m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
	} else if (!strcmp(kind, "memfd") || !strcmp(kind, "memfdfd")) {
		int fd = memfd_create("t_shm_tree", MFD_CLOEXEC);

		if (fd < 0 || ftruncate(fd, sizeof(*m)) < 0)
			fail("memfd");
		m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (!strcmp(kind, "memfd"))
			close(fd);
		else
			refused_fd = fd; /* the parent keeps it open */
	} else if (!strcmp(kind, "sysv")) {
		int id = shmget(IPC_PRIVATE, sizeof(*m), IPC_CREAT | 0600);

		if (id < 0)
			fail("shmget");
		void *at = shmat(id, NULL, 0);

		shmctl(id, IPC_RMID, NULL); /* gone once both detach */
		if (at != MAP_FAILED)	    /* shmat's (void *)-1 */
			m = at;
	} else {
		errno = EINVAL;
		fail(kind);
	}
	if (m == MAP_FAILED)
		fail("map the region");
	return m;
}

static void wait_file(const char *path)
{
	while (access(path, F_OK) != 0)
		nap_ms(20);
}

static int refused(const char *kind, const char *gate)
{
	char end[4096];
	sem_t *sem = NULL;
	struct region *m = refused_map(kind, &sem);
	int c2p[2];
	pid_t pid;
	int st;

	snprintf(end, sizeof(end), "%s.end", gate);
	if (pipe(c2p) < 0)
		fail("pipe");
	pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		close(c2p[0]);
		if (refused_fd >= 0)
			close(refused_fd);
		if (sem && sem_post(sem) < 0)
			fail("sem_post");
		token_put(c2p[1]);
		wait_file(gate);
		if (sem) {
			if (sem_post(sem) < 0)
				fail("sem_post");
		} else {
			region_put(m, 4242);
		}
		token_put(c2p[1]);
		if (sem)
			sem_close(sem);
		else if (!strcmp(kind, "sysv"))
			shmdt(m);
		else
			munmap(m, sizeof(*m));
		printf("unmapped\n");
		fflush(stdout);
		wait_file(end);
		_exit(0);
	}
	close(c2p[1]);
	token_get(c2p[0]);
	if (sem && sem_wait(sem) < 0)
		fail("sem_wait");
	printf("ready %ld %ld\n", (long)getpid(), (long)pid);
	fflush(stdout);
	token_get(c2p[0]);
	if (sem) {
		int v = -1;

		if (sem_getvalue(sem, &v) < 0 || v != 1) {
			printf("FAIL: semaphore value %d after the child's post, expected 1\n", v);
			return 1;
		}
		printf("still shared\n");
	} else {
		region_check(m, 4242, "still shared: parent");
	}
	fflush(stdout);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("FAIL: child status %#x\n", st);
		return 1;
	}
	printf("end\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "refused"))
		return refused(argv[2], argv[3]);
	if (argc >= 2 && !strcmp(argv[1], "memfd"))
		return objects();
	if (argc >= 2 && !strcmp(argv[1], "ring"))
		return ring();
	return cycles(argc >= 2 ? argv[1] : "anon");
}
