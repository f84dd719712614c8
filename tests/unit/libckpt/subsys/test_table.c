/* test_table.c - the subsystem table: order, unique record types, and a
 * capture/restore of every subsystem through it, as the engine does. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>

#include "subsys_test.h"
#include "mpi_split.h"

/* Every subsystem writes a record: the mpi one only for an MPI rank. */
static void table_setup(void)
{
	test_setup();
	eng_mpi_rank = true;
}

TestSuite(table, .init = table_setup);

Test(table, order_and_record_types)
{
	cr_assert_eq(ckpt_subsys_count, 6);
	cr_assert_str_eq(ckpt_subsys_table[0]->name, "files");
	cr_assert_str_eq(ckpt_subsys_table[1]->name, "attrs");
	cr_assert_str_eq(ckpt_subsys_table[2]->name, "signals");
	cr_assert_str_eq(ckpt_subsys_table[3]->name, "mpi");
	cr_assert_str_eq(ckpt_subsys_table[4]->name, "tree");
	cr_assert_str_eq(ckpt_subsys_table[5]->name, "sysv");
	cr_assert_eq(ckpt_subsys_table[0]->record_type, 0x100);
	cr_assert_eq(ckpt_subsys_table[1]->record_type, 0x200);
	cr_assert_eq(ckpt_subsys_table[2]->record_type, 0x300);
	cr_assert_eq(ckpt_subsys_table[3]->record_type, 0x400);
	cr_assert_eq(ckpt_subsys_table[4]->record_type, 0x500);
	cr_assert_eq(ckpt_subsys_table[5]->record_type, 0x600);
}

/* The mpi record is empty for a process that is no MPI rank, marks an MPI
 * rank's image otherwise, and a record of another version is refused. */
Test(table, mpi_record)
{
	const struct ckpt_subsys *mpi = ckpt_subsys_table[3];
	unsigned char buf[64];
	ssize_t n;

	eng_mpi_rank = false;
	cr_assert_eq(mpi->capture(buf, sizeof(buf), NULL), 0);
	cr_assert_eq(mpi->restore(buf, 0), 0);
	eng_mpi_rank = true;
	n = mpi->capture(buf, sizeof(buf), NULL);
	/* 8 bytes: magic and version. */
	cr_assert_eq(n, 8);
	cr_assert_eq(mpi->capture(buf, 4, NULL), -ENOSPC);
	cr_assert_eq(mpi->restore(buf, (size_t)n), 0);
	cr_assert_eq(mpi->restore(buf, 4), -EBADMSG);
	buf[4] ^= 0xff;
	cr_assert_eq(mpi->restore(buf, (size_t)n), -EBADMSG);
}

Test(table, every_subsystem_round_trips)
{
	char *rec[8];
	size_t len[8];
	int fd = open("/dev/zero", O_RDONLY);

	cr_assert_eq(dup2(fd, 30), 30);
	close(fd);
	for (size_t i = 0; i < ckpt_subsys_count; i++)
		rec[i] = test_capture(ckpt_subsys_table[i], &len[i]);
	close(30);
	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		cr_assert_eq(ckpt_subsys_table[i]->restore(rec[i], len[i]), 0, "%s: %s",
			     ckpt_subsys_table[i]->name, test_logs);
		free(rec[i]);
	}
	cr_assert_eq(fcntl(30, F_GETFD), 0);
}

/* The engine checks each record right after its capture, with the restore's
 * own validation: every subsystem has a check, it accepts what its capture
 * wrote and refuses a damaged record as restore would, with no side effect
 * (the descriptors captured are still there afterwards). */
Test(table, every_subsystem_checks_its_capture)
{
	int fd = open("/dev/zero", O_RDONLY);

	cr_assert_eq(dup2(fd, 30), 30);
	close(fd);
	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		const struct ckpt_subsys *ss = ckpt_subsys_table[i];
		size_t len;
		char *rec = test_capture(ss, &len);

		cr_assert_not_null(ss->check, "%s has no check", ss->name);
		cr_assert_eq(ss->check(rec, len), 0, "%s: %s", ss->name, test_logs);
		/* Every record begins with its magic number. */
		rec[0] ^= 0x5a;
		cr_assert_lt(ss->check(rec, len), 0, "%s accepted a bad magic", ss->name);
		cr_assert_lt(ss->restore(rec, len), 0, "%s restored a bad magic", ss->name);
		rec[0] ^= 0x5a;
		cr_assert_lt(ss->check(rec, len - 1), 0, "%s accepted a short record", ss->name);
		free(rec);
	}
	cr_assert_eq(fcntl(30, F_GETFD), 0);
	close(30);
}

/* The engine captures from its own checkpoint thread, not the main one. */
static void *capture_thread(void *arg)
{
	size_t *len = arg;
	char *buf = malloc(TEST_REC_CAP);
	size_t off = 0;

	pthread_setname_np(pthread_self(), "ckpt-thread");
	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		ssize_t n = ckpt_subsys_table[i]->capture(buf + off, TEST_REC_CAP - off, test_warn);

		if (n <= 0)
			return NULL;
		len[i] = (size_t)n;
		off += (size_t)n;
	}
	return buf;
}

Test(table, capture_from_another_thread)
{
	size_t len[8];
	size_t off = 0;
	pthread_t t;
	char *buf;
	char comm[16] = { 0 };
	int fd = open("/proc/self/comm", O_RDONLY);

	cr_assert_gt(read(fd, comm, sizeof(comm) - 1), 0);
	close(fd);
	cr_assert_eq(dup2(open("/dev/null", O_RDONLY), 33), 33);
	cr_assert_eq(pthread_create(&t, NULL, capture_thread, len), 0);
	cr_assert_eq(pthread_join(t, (void **)&buf), 0);
	cr_assert_not_null(buf);
	close(33);
	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		cr_assert_eq(ckpt_subsys_table[i]->restore(buf + off, len[i]), 0, "%s", test_logs);
		off += len[i];
	}
	cr_assert_eq(fcntl(33, F_GETFD), 0);
	/* The process name is the main thread's, not the capturing thread's. */
	fd = open("/proc/self/comm", O_RDONLY);
	char now[16] = { 0 };

	cr_assert_gt(read(fd, now, sizeof(now) - 1), 0);
	close(fd);
	cr_assert_str_eq(now, comm);
	free(buf);
}

#ifndef __SANITIZE_ADDRESS__
/* capture() and restore() must not allocate: count every allocation of the
 * process while they run (ASan brings its own allocator, so not there). */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);

/* Whether allocations are being counted. */
static volatile int alloc_counting;
/* Allocations seen while counting. */
static volatile int alloc_count;

void *malloc(size_t n)
{
	if (alloc_counting)
		alloc_count++;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	if (alloc_counting)
		alloc_count++;
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	if (alloc_counting)
		alloc_count++;
	return __libc_realloc(p, n);
}

Test(table, capture_and_restore_never_allocate)
{
	char path[] = "/tmp/ckpt-table-XXXXXX";
	int p[2];
	int fd = mkstemp(path);
	char *buf = malloc(TEST_REC_CAP);
	size_t len[8];
	size_t off = 0;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "unlinked", 8), 8);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write(p[1], "data", 4), 4);
	cr_assert_eq(dup2(socket(AF_INET, SOCK_DGRAM, 0), 31), 31);

	alloc_counting = 1;
	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		ssize_t n = ckpt_subsys_table[i]->capture(buf + off, TEST_REC_CAP - off, test_warn);

		cr_assert_gt(n, 0);
		len[i] = (size_t)n;
		off += (size_t)n;
	}
	off = 0;
	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		cr_assert_eq(ckpt_subsys_table[i]->check(buf + off, len[i]), 0, "%s", test_logs);
		off += len[i];
	}
	alloc_counting = 0;
	cr_assert_eq(alloc_count, 0, "capture or check allocated %d times", alloc_count);
	cr_assert(strstr(test_warnings, "fd 31: UDP socket"), "%s", test_warnings);

	close(fd);
	close(p[0]);
	close(p[1]);
	off = 0;
	alloc_counting = 1;
	for (size_t i = 0; i < ckpt_subsys_count; i++) {
		cr_assert_eq(ckpt_subsys_table[i]->restore(buf + off, len[i]), 0);
		off += len[i];
	}
	alloc_counting = 0;
	cr_assert_eq(alloc_count, 0, "restore allocated %d times", alloc_count);
	free(buf);
}
#endif
