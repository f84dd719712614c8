/* test_sysv.c - the sysv subsystem: a noted semaphore set or message queue
 * that still exists refuses the capture, named; once removed it no longer
 * counts; an id of another object with another key does not count; the
 * record is checked like the others. Uses the real kernel's SysV IPC. */
#include <errno.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>

#include "subsys_test.h"
#include "sysv_ipc.h"

TestSuite(sysv, .init = test_setup);

static ssize_t capture(void)
{
	unsigned char buf[64];

	test_warnings[0] = '\0';
	return ckpt_sysv_subsys.capture(buf, sizeof(buf), test_warn);
}

Test(sysv, semaphore_set_refused_until_removed)
{
	int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	char want[96];

	cr_assert_geq(id, 0);
	cr_assert_eq(capture(), 8, "an id never noted counted: %s", test_warnings);
	ckpt_sysv_note(CKPT_SYSV_SEM, id, -1);
	ckpt_sysv_note(CKPT_SYSV_SEM, id, -1); /* noted once */
	cr_assert_eq(capture(), -ENOTSUP);
	snprintf(want, sizeof(want), " uses System V semaphore set id %d (key 0), which is not",
		 id);
	cr_assert_not_null(strstr(test_warnings, want), "%s", test_warnings);
	cr_assert_not_null(strstr(test_warnings, "remove it (IPC_RMID)"));
	cr_assert_eq(semctl(id, 0, IPC_RMID), 0);
	cr_assert_eq(capture(), 8, "a removed set still counted: %s", test_warnings);
}

Test(sysv, message_queue_refused_by_key)
{
	key_t key = (key_t)(0x5eed0000 | (getpid() & 0xffff));
	int id = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	int other;

	cr_assert_geq(id, 0, "msgget: %s", strerror(errno));
	ckpt_sysv_note(CKPT_SYSV_MSG, id, (long)key);
	cr_assert_eq(capture(), -ENOTSUP);
	cr_assert_not_null(strstr(test_warnings, "System V message queue id"), "%s", test_warnings);
	cr_assert_eq(msgctl(id, IPC_RMID, NULL), 0);
	/* Another queue, under another key, may get the same id later: it is
	 * not the one this process used. */
	other = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	cr_assert_geq(other, 0);
	cr_assert_eq(capture(), 8, "queue %d (noted %d) counted: %s", other, id, test_warnings);
	cr_assert_eq(msgctl(other, IPC_RMID, NULL), 0);
}

Test(sysv, record_checked)
{
	size_t n;
	char *buf = test_capture(&ckpt_sysv_subsys, &n);

	cr_assert_eq(n, 8);
	cr_assert_eq(ckpt_sysv_subsys.capture(buf, 4, test_warn), -ENOSPC);
	cr_assert_eq(ckpt_sysv_subsys.check(buf, n), 0);
	cr_assert_eq(ckpt_sysv_subsys.restore(buf, n), 0);
	cr_assert_lt(ckpt_sysv_subsys.restore(buf, 4), 0);
	buf[0] ^= 1;
	cr_assert_lt(ckpt_sysv_subsys.check(buf, n), 0);
	free(buf);
}
