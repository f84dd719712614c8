/* sysv_ipc.c - System V semaphore sets and message queues (sysv_ipc.h).
 *
 * Their state lives in the kernel under an id no process can choose
 * outside an IPC namespace of its own, and no file or mapping shows that a
 * process uses one: the wrappers below note every id the program looks up
 * (semget, msgget) or operates on (semop, semtimedop, msgsnd, msgrcv:
 * interpose.c), and
 * the capture refuses the checkpoint while one of them still exists,
 * naming it, rather than let a restart run on with an id that means
 * nothing or another user's object. An id removed meanwhile (IPC_RMID) no
 * longer counts. A child inherits its parent's table with its memory.
 */
#include "sysv_ipc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "files_msg.h"

/* "SYV1": the record's magic. */
#define SYSV_REC_MAGIC	 0x31565953u
#define SYSV_REC_VERSION 1u

/* One noted id: kind 0 marks a free slot; written once, then read. */
struct sysv_id {
	int kind;
	int id;
	long key;
};

static struct sysv_id sysv_ids[CKPT_SYSV_IDS_MAX];
static int sysv_overflow; /* an id did not fit */

void ckpt_sysv_note(int kind, int id, long key)
{
	for (size_t i = 0; i < CKPT_SYSV_IDS_MAX; i++) {
		struct sysv_id *s = &sysv_ids[i];
		int free_kind = 0;

		if (__atomic_load_n(&s->kind, __ATOMIC_ACQUIRE) == kind && s->id == id)
			return;
		if (__atomic_load_n(&s->kind, __ATOMIC_ACQUIRE) != 0)
			continue;
		/* Claim the slot with a kind no id has (-1) while filling it. */
		if (!__atomic_compare_exchange_n(&s->kind, &free_kind, -1, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			continue;
		s->id = id;
		s->key = key;
		__atomic_store_n(&s->kind, kind, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&sysv_overflow, 1, __ATOMIC_RELAXED);
}

/* Whether @s still names an object, the same key if it was known: a
 * removed id may have been given to another object since. */
static bool sysv_exists(const struct sysv_id *s, long *key)
{
	long r;

	*key = s->key;
	if (s->kind == CKPT_SYSV_SEM) {
		struct semid_ds ds;

		r = syscall(SYS_semctl, s->id, 0, IPC_STAT, &ds);
		if (r == 0)
			*key = (long)ds.sem_perm.__key;
	} else {
		struct msqid_ds ds;

		r = syscall(SYS_msgctl, s->id, IPC_STAT, &ds);
		if (r == 0)
			*key = (long)ds.msg_perm.__key;
	}
	if (r < 0)
		return errno == EACCES && s->key < 0; /* someone's, maybe ours */
	return s->key < 0 || *key == s->key;
}

static void sysv_name(struct files_msg *m, const struct sysv_id *s, long key)
{
	msg_str(m, s->kind == CKPT_SYSV_SEM ? "System V semaphore set id "
					    : "System V message queue id ");
	msg_u64(m, (uint64_t)(unsigned int)s->id);
	msg_str(m, " (key ");
	msg_u64(m, (uint64_t)(uint32_t)key);
	msg_str(m, ")");
}

/* Refuses, naming each, while a noted id still exists; otherwise writes
 * the record (magic and version: nothing to put back). */
static ssize_t sysv_capture(void *buf, size_t cap, void (*warn)(const char *msg))
{
	ssize_t ret = 0;

	for (size_t i = 0; i < CKPT_SYSV_IDS_MAX; i++) {
		const struct sysv_id *s = &sysv_ids[i];
		char text[320];
		struct files_msg m;
		long key = -1;

		if (__atomic_load_n(&s->kind, __ATOMIC_ACQUIRE) <= 0 || !sysv_exists(s, &key))
			continue;
		msg_init(&m, text, sizeof(text));
		msg_str(&m, "pid ");
		msg_u64(&m, (uint64_t)syscall(SYS_getpid));
		msg_str(&m, " uses ");
		sysv_name(&m, s, key);
		msg_str(&m, ", which is not restored: checkpoint refused; use POSIX semaphores or "
			    "message queues (sem_open, mq_open), or remove it (IPC_RMID) before "
			    "the checkpoint");
		if (warn)
			warn(text);
		ret = -ENOTSUP;
	}
	if (__atomic_load_n(&sysv_overflow, __ATOMIC_RELAXED) && warn)
		warn("more System V semaphore sets or message queues were used than libckpt "
		     "notes (64): the ones past them are not checked");
	if (ret < 0)
		return ret;
	return ckpt_mark_write(buf, cap, SYSV_REC_MAGIC, SYSV_REC_VERSION);
}

/* The record holds nothing to put back: restoring it is checking it. */
static int sysv_restore(const void *data, size_t len)
{
	return ckpt_mark_check(data, len, SYSV_REC_MAGIC, SYSV_REC_VERSION, "sysv");
}

const struct ckpt_subsys ckpt_sysv_subsys = {
	.name = "sysv",
	.record_type = CKPT_REC_SYSV,
	.capture = sysv_capture,
	.check = sysv_restore,
	.restore = sysv_restore,
};
