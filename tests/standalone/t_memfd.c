/* t_memfd.c - shared mappings of objects that have no path to map again
 * (a memfd, a POSIX shared memory object or named semaphore after
 * shm_unlink/sem_unlink) and memfd descriptors, across checkpoints
 * (libckpt/snapshot.c, libckpt/restore.c, libckpt/files_memfd.c).
 *
 *   t_memfd map   mappings only, every descriptor closed:
 *                 - a memfd of 3 pages mapped three times: whole (rw), its
 *                   pages 1-2 (rw, offset 4096) and its page 0 (read-only);
 *                   a write through one mapping must show through the
 *                   others: one object, not three copies;
 *                 - a POSIX shm object mapped shared, then shm_unlink'ed;
 *                 - a named semaphore, then sem_unlink'ed: posted once per
 *                   step, its value is the step number.
 *   t_memfd sysv  a System V shared memory segment attached (refused at
 *                 checkpoint time, memfd_refused.sh): prints "ready: ADDR"
 *                 and waits.
 *   t_memfd deleted DIR
 *                 a file of DIR mapped shared, then unlinked (refused at
 *                 checkpoint time unless DIR is /dev/shm): prints
 *                 "ready: ADDR PATH" and waits.
 *   t_memfd tree  a memfd descriptor inherited by a child over fork (refused
 *                 at checkpoint time in a 'ckpt run' tree): prints
 *                 "ready: FD CHILD" and waits.
 *   t_memfd fd    memfd descriptors (needs the memfd files kind):
 *                 - a sealable memfd (F_SEAL_SHRINK), held through two
 *                   descriptors sharing one offset, one close-on-exec, and
 *                   mapped shared: a write through the descriptor must show
 *                   through the mapping, and back;
 *                 - a memfd sealed read-only (F_SEAL_WRITE, F_SEAL_GROW,
 *                   F_SEAL_SHRINK, F_SEAL_SEAL), not mapped;
 *                 - a memfd that grows by 1000 bytes each step (its size
 *                   and contents, its offset at the end).
 *
 * Each step checks what the previous one left. Output depends on nothing
 * but the step number; any failure prints FAIL and exits 1.
 */
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
#include <time.h>
#include <unistd.h>

#include "end_gate.h"

#define STEPS 200
#define PG    4096

static void fail(int step, const char *what)
{
	printf("FAIL: step %d: %s (%s)\n", step, what, strerror(errno));
	fflush(stdout);
	exit(1);
}

/* Byte @k of the pattern a step @i leaves. */
static unsigned char pat(int i, size_t k)
{
	return (unsigned char)(i * 31 + k * 7 + 1);
}

static void fill(unsigned char *p, size_t len, int i)
{
	for (size_t k = 0; k < len; k++)
		p[k] = pat(i, k);
}

static bool same(const unsigned char *p, size_t len, int i)
{
	for (size_t k = 0; k < len; k++)
		if (p[k] != pat(i, k))
			return false;
	return true;
}

static void *map_at(int fd, size_t len, int prot, off_t off, int step)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, off);

	if (p == MAP_FAILED)
		fail(step, "mmap");
	return p;
}

/* Linked named semaphore @sem (name @name) holds @i, as every process that
 * opens it by name sees it: a fresh mapping of its file must agree (a
 * restore that made it a private copy would not). */
static void check_linked(sem_t *sem, const char *name, int i)
{
	char path[96];
	sem_t *raw;
	int v = -1;
	int w = -1;
	int fd;

	snprintf(path, sizeof(path), "/dev/shm/sem.%s", name + 1);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail(i, "linked named semaphore: its file is gone");
	raw = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (raw == MAP_FAILED)
		fail(i, "mmap of the linked semaphore's file");
	if (sem_getvalue(sem, &v) < 0 || sem_getvalue(raw, &w) < 0 || v != i || w != i)
		fail(i, "linked named semaphore: no longer the object its name opens");
	munmap(raw, sizeof(sem_t));
}

static int run_map(void)
{
	struct timespec nap = { 0, 10 * 1000000L };
	char name[64];
	unsigned char *whole;
	unsigned char *tail;
	const unsigned char *ro;
	unsigned char *shm;
	char lname[64];
	sem_t *sem;
	sem_t *linked;
	int fd;

	fd = memfd_create("t_memfd_map", 0);
	if (fd < 0 || ftruncate(fd, 3 * PG) < 0)
		fail(-1, "memfd_create");
	whole = map_at(fd, 3 * PG, PROT_READ | PROT_WRITE, 0, -1);
	tail = map_at(fd, 2 * PG, PROT_READ | PROT_WRITE, PG, -1);
	ro = map_at(fd, PG, PROT_READ, 0, -1);
	close(fd);

	snprintf(name, sizeof(name), "/t_memfd.%d", (int)getpid());
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, 2 * PG) < 0)
		fail(-1, "shm_open");
	shm = map_at(fd, 2 * PG, PROT_READ | PROT_WRITE, 0, -1);
	if (shm_unlink(name) < 0)
		fail(-1, "shm_unlink");
	close(fd);

	snprintf(name, sizeof(name), "/t_memfd_sem.%d", (int)getpid());
	sem = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
	if (sem == SEM_FAILED || sem_unlink(name) < 0)
		fail(-1, "sem_open");
	/* A named semaphore left linked: glibc maps a temporary file it then
	 * links under the name, so maps shows it "(deleted)" though other
	 * processes open it by name. */
	snprintf(lname, sizeof(lname), "/t_memfd_named.%d", (int)getpid());
	linked = sem_open(lname, O_CREAT | O_EXCL, 0600, 0);
	if (linked == SEM_FAILED)
		fail(-1, "sem_open of the linked semaphore");

	for (int i = 0; i < STEPS; i++) {
		int v = -1;

		nanosleep(&nap, NULL);
		if (i > 0) {
			/* Page 0 and 1 written by the last step through
			 * different mappings; page 2 through the tail. */
			if (!same(whole, 2 * PG, i - 1) || !same(ro, PG, i - 1))
				fail(i, "memfd mapping: not what the last step wrote");
			if (!same(tail, PG, i - 1) || whole[2 * PG] != (unsigned char)(i - 1))
				fail(i, "memfd mapped twice: the two mappings differ");
			if (!same(shm, 2 * PG, i - 1))
				fail(i, "unlinked shm mapping: not what the last step wrote");
		}
		if (sem_getvalue(sem, &v) < 0 || v != i)
			fail(i, "unlinked named semaphore: value is not the step number");
		check_linked(linked, lname, i);

		/* State for the next step: page 0 through the whole mapping,
		 * page 1 through the tail one, one byte of page 2 through the
		 * tail; each must show through the other mappings. */
		fill(whole, PG, i);
		for (size_t k = 0; k < PG; k++)
			tail[k] = pat(i, PG + k);
		tail[PG] = (unsigned char)i;
		if (!same(whole, 2 * PG, i) || !same(ro, PG, i) ||
		    whole[2 * PG] != (unsigned char)i)
			fail(i, "memfd: a write through one mapping is not seen through another");
		fill(shm, 2 * PG, i);
		if (sem_post(sem) < 0 || sem_post(linked) < 0)
			fail(i, "sem_post");
		printf("step %d: memfd mapped 3 times, unlinked shm, unlinked semaphore %d, "
		       "linked semaphore: ok\n",
		       i, i + 1);
		fflush(stdout);
	}
	end_gate();
	sem_unlink(lname);
	printf("done\n");
	return 0;
}

/* Checks that @fd holds @len bytes of step @i's pattern. */
static void check_fd(int fd, size_t len, int i, int step, const char *what)
{
	unsigned char *buf = malloc(len + 1);
	struct stat st;

	if (!buf)
		fail(step, "malloc");
	if (fstat(fd, &st) < 0 || (size_t)st.st_size != len)
		fail(step, what);
	if (pread(fd, buf, len + 1, 0) != (ssize_t)len || !same(buf, len, i))
		fail(step, what);
	free(buf);
}

static void write_fd(int fd, size_t len, int i, int step)
{
	unsigned char *buf = malloc(len);

	if (!buf)
		fail(step, "malloc");
	fill(buf, len, i);
	if (pwrite(fd, buf, len, 0) != (ssize_t)len)
		fail(step, "pwrite");
	free(buf);
}

static int run_fd(void)
{
	struct timespec nap = { 0, 10 * 1000000L };
	const int ro_seals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;
	const size_t mlen = 3 * PG + 100;
	unsigned char *map;
	int mfd, mdup, rofd, grow;

	mfd = memfd_create("t_memfd_fd", MFD_ALLOW_SEALING);
	if (mfd < 0 || ftruncate(mfd, (off_t)mlen) < 0)
		fail(-1, "memfd_create");
	write_fd(mfd, mlen, 0, -1);
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		fail(-1, "F_ADD_SEALS");
	mdup = fcntl(mfd, F_DUPFD_CLOEXEC, 0);
	if (mdup < 0)
		fail(-1, "dup");
	map = map_at(mfd, 4 * PG, PROT_READ | PROT_WRITE, 0, -1);

	rofd = memfd_create("t_memfd_ro", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (rofd < 0)
		fail(-1, "memfd_create ro");
	write_fd(rofd, 5000, 7, -1);
	if (fcntl(rofd, F_ADD_SEALS, ro_seals) < 0)
		fail(-1, "F_ADD_SEALS ro");

	grow = memfd_create("t_memfd_grow", 0);
	if (grow < 0)
		fail(-1, "memfd_create grow");

	for (int i = 0; i < STEPS; i++) {
		off_t off;

		nanosleep(&nap, NULL);
		if (i > 0) {
			/* The last step wrote its pattern through the mapping;
			 * the descriptor must read it. */
			check_fd(mfd, mlen, i - 1, i, "sealable memfd: contents or size");
			off = lseek(mdup, 0, SEEK_CUR);
			if (off != (off_t)i * 10 || lseek(mfd, 0, SEEK_CUR) != off)
				fail(i, "sealable memfd: offset lost or dups do not share it");
			check_fd(grow, (size_t)i * 1000, 3, i, "growing memfd: contents or size");
			if (lseek(grow, 0, SEEK_CUR) != (off_t)i * 1000)
				fail(i, "growing memfd: offset");
		}
		if (fcntl(mfd, F_GET_SEALS) != F_SEAL_SHRINK)
			fail(i, "sealable memfd: seals changed");
		if (fcntl(rofd, F_GET_SEALS) != ro_seals)
			fail(i, "read-only memfd: seals changed");
		if (fcntl(grow, F_GET_SEALS) != F_SEAL_SEAL)
			fail(i, "memfd without MFD_ALLOW_SEALING: sealing is allowed");
		check_fd(rofd, 5000, 7, i, "read-only memfd: contents or size");
		if (pwrite(rofd, "x", 1, 0) >= 0 || errno != EPERM)
			fail(i, "read-only memfd: a write went through F_SEAL_WRITE");
		if (!(fcntl(mdup, F_GETFD) & FD_CLOEXEC) || (fcntl(mfd, F_GETFD) & FD_CLOEXEC) ||
		    !(fcntl(rofd, F_GETFD) & FD_CLOEXEC))
			fail(i, "descriptor flags changed");

		/* A write through the descriptor shows through the mapping. */
		write_fd(mfd, mlen, i + 1000, i);
		if (!same(map, mlen, i + 1000))
			fail(i, "sealable memfd: a write through the fd is not in the mapping");
		/* State for the next step, through the mapping. */
		fill(map, mlen, i);
		if (lseek(mfd, ((off_t)i + 1) * 10, SEEK_SET) < 0)
			fail(i, "lseek");
		{
			unsigned char b[1000];

			/* The pattern is positional: write the next
			 * 1000 bytes of it at the end. */
			for (size_t k = 0; k < sizeof(b); k++)
				b[k] = pat(3, (size_t)i * 1000 + k);
			if (write(grow, b, sizeof(b)) != (ssize_t)sizeof(b))
				fail(i, "write grow");
		}
		printf("step %d: memfd contents, offset %d, seals, flags, fd<->map: ok\n", i,
		       (i + 1) * 10);
		fflush(stdout);
	}
	end_gate();
	printf("done\n");
	return 0;
}

/* Holds a mapping that the checkpoint must refuse until killed. */
static int run_refused(const char *mode, const char *dir)
{
	char path[4096] = "";
	void *p;

	if (!strcmp(mode, "sysv")) {
		int id = shmget(IPC_PRIVATE, 2 * PG, IPC_CREAT | 0600);

		if (id < 0)
			fail(-1, "shmget");
		p = shmat(id, NULL, 0);
		/* Gone once detached: nothing is left behind. */
		shmctl(id, IPC_RMID, NULL);
		if (p == MAP_FAILED) /* shmat returns (void *)-1, as mmap */
			fail(-1, "shmat");
	} else {
		int fd;

		snprintf(path, sizeof(path), "%s/t_memfd.%d", dir, (int)getpid());
		fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || ftruncate(fd, 2 * PG) < 0)
			fail(-1, "create the file to delete");
		p = map_at(fd, 2 * PG, PROT_READ | PROT_WRITE, 0, -1);
		close(fd);
		unlink(path);
	}
	memset(p, 1, 2 * PG);
	printf("ready: %p %s\n", p, path);
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

/* A memfd held by this process and a forked child, until killed. */
static int run_tree(void)
{
	int fd = memfd_create("t_memfd_tree", 0);
	pid_t child;

	if (fd < 0 || write(fd, "shared", 6) != 6)
		fail(-1, "memfd_create");
	child = fork();
	if (child < 0)
		fail(-1, "fork");
	if (child == 0) {
		for (;;)
			pause();
	}
	printf("ready: %d %d\n", fd, (int)child);
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

/* More unlinked shm objects mapped than the descriptor limit the test
 * gives the restorer (1024) allows open at once: a restore must not hold
 * one descriptor per object. */
#define MANY_OBJECTS 1100

static int run_many(void)
{
	struct timespec nap = { 0, 10 * 1000000L };
	unsigned char *obj[MANY_OBJECTS];
	char name[64];

	for (int k = 0; k < MANY_OBJECTS; k++) {
		int fd;

		snprintf(name, sizeof(name), "/t_memfd_many.%d.%d", (int)getpid(), k);
		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || ftruncate(fd, PG) < 0 || shm_unlink(name) < 0)
			fail(-1, "shm_open");
		obj[k] = map_at(fd, PG, PROT_READ | PROT_WRITE, 0, -1);
		close(fd);
	}
	for (int i = 0; i < STEPS; i++) {
		nanosleep(&nap, NULL);
		for (int k = 0; k < MANY_OBJECTS; k++) {
			if (i > 0 && obj[k][0] != (unsigned char)(i - 1 + k))
				fail(i, "an unlinked shm object: not what the last step wrote");
			obj[k][0] = (unsigned char)(i + k);
		}
		printf("step %d: %d unlinked shm objects: ok\n", i, MANY_OBJECTS);
		fflush(stdout);
	}
	end_gate();
	printf("done\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "tree"))
		return run_tree();
	if (argc == 2 && !strcmp(argv[1], "sysv"))
		return run_refused(argv[1], NULL);
	if (argc == 3 && !strcmp(argv[1], "deleted"))
		return run_refused(argv[1], argv[2]);
	if (argc == 2 && !strcmp(argv[1], "map"))
		return run_map();
	if (argc == 2 && !strcmp(argv[1], "fd"))
		return run_fd();
	if (argc == 2 && !strcmp(argv[1], "many"))
		return run_many();
	fprintf(stderr, "usage: t_memfd map|fd|many|tree|sysv|deleted DIR\n");
	return 2;
}
